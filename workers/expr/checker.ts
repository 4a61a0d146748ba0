import { suggestion } from '../core/suggest.js';
import type { BinaryNode, CallNode, Node, TernaryNode, UnaryNode } from './ast.js';
import type { ExprDiagnostic, ExprErrorCode } from './errors.js';
import { FUNCTION_BY_NAME } from './functions/index.js';
import { arity, type FunctionSpec, kindText, type ParamKind, paramAt } from './functions/spec.js';
import { type ExprType, type FieldTypeLookup, T, typeName, unify } from './types.js';

/** What the compiler needs from the checker: a type per node and the checked literal arguments. */
export interface CheckResult {
  type: ExprType;
  types: Map<Node, ExprType>;
  /** Checked values of literal arguments, by argument node. */
  literals: Map<Node, unknown>;
  /** Distinct field paths in order of first use. */
  fields: string[][];
  diagnostics: ExprDiagnostic[];
}

const VALUE_KINDS: Readonly<Partial<Record<ParamKind, readonly ExprType['kind'][]>>> = {
  number: ['number', 'int', 'null', 'unknown'],
  string: ['string', 'null', 'unknown'],
  bool: ['bool', 'null', 'unknown'],
  timestamp: ['timestamp', 'number', 'int', 'string', 'null', 'unknown'],
  scalar: ['number', 'int', 'bool', 'string', 'timestamp', 'null', 'unknown'],
};
/** Arithmetic operands: numbers, and timestamps as their epoch milliseconds. */
const ARITHMETIC_KINDS: readonly ExprType['kind'][] = ['number', 'int', 'timestamp', 'null', 'unknown'];
const BOOL_KINDS = VALUE_KINDS.bool!;
const LARGEST_BUCKET_COUNT = 2 ** 32;

/** Types every node, resolves functions, validates literal arguments; reports all problems found. */
export function check(root: Node, source: string, lookup?: FieldTypeLookup): CheckResult {
  const checker = new Checker(source, lookup);
  const type = checker.visit(root, true);
  return {
    type,
    types: checker.types,
    literals: checker.literals,
    fields: [...checker.fields.values()],
    diagnostics: checker.diagnostics,
  };
}

class Checker {
  readonly types = new Map<Node, ExprType>();
  readonly literals = new Map<Node, unknown>();
  readonly fields = new Map<string, string[]>();
  readonly diagnostics: ExprDiagnostic[] = [];

  constructor(
    private readonly source: string,
    private readonly lookup: FieldTypeLookup | undefined,
  ) {}

  private report(at: { offset: number; length: number }, code: ExprErrorCode, message: string): void {
    this.diagnostics.push({ offset: at.offset, length: at.length, message, code });
  }

  private snippet(node: Node): string {
    const text = this.source.slice(node.offset, node.offset + node.length);
    return text.length > 30 ? `${text.slice(0, 27)}...` : text;
  }

  visit(node: Node, isRoot = false): ExprType {
    let t = this.typeOf(node);
    if (t.kind === 'vector' && !isRoot) {
      const what = node.kind === 'call' ? node.name : 'a vector';
      this.report(
        node,
        'expr_position',
        `${what} must be the whole expression (it returns a ${typeName(t)})`,
      );
      t = T.unknown;
    }
    this.types.set(node, t);
    return t;
  }

  private typeOf(node: Node): ExprType {
    switch (node.kind) {
      case 'number':
        return node.int ? T.int : T.number;
      case 'string':
        return T.string;
      case 'bool':
        return T.bool;
      case 'null':
        return T.null;
      case 'error':
        return T.unknown;
      case 'list':
        this.report(node, 'expr_position', 'a list is only allowed as a function argument');
        return T.unknown;
      case 'field': {
        const key = node.path.join('\u0000');
        if (!this.fields.has(key)) this.fields.set(key, [...node.path]);
        return this.lookup?.(node.path) ?? T.unknown;
      }
      case 'unary':
        return this.unary(node);
      case 'binary':
        return this.binary(node);
      case 'ternary':
        return this.ternary(node);
      case 'call':
        return this.call(node);
    }
  }

  /** Checks `node` against allowed kinds; a mismatch is reported as `<op> expects <what> <where>, got <type>`. */
  private expect(
    node: Node,
    kinds: readonly ExprType['kind'][],
    op: string,
    what: string,
    where: string,
  ): ExprType {
    const t = this.visit(node);
    if (!kinds.includes(t.kind)) {
      this.report(
        node,
        'expr_type',
        `${op} expects ${what}${where === '' ? '' : ` ${where}`}, got ${typeName(t)}`,
      );
    }
    return t;
  }

  private unary(node: UnaryNode): ExprType {
    const op = `'${node.opText}'`;
    if (node.op === '!') {
      this.expect(node.operand, BOOL_KINDS, op, 'bool', '');
      return T.bool;
    }
    const t = this.expect(node.operand, VALUE_KINDS.number!, op, 'number', '');
    return t.kind === 'int' ? T.int : T.number;
  }

  private binary(node: BinaryNode): ExprType {
    const op = `'${node.opText}'`;
    switch (node.op) {
      case '&&':
      case '||':
        this.expect(node.left, BOOL_KINDS, op, 'bool', 'on the left');
        this.expect(node.right, BOOL_KINDS, op, 'bool', 'on the right');
        return T.bool;
      case '==':
      case '!=':
      case '<':
      case '<=':
      case '>':
      case '>=': {
        const ordering = node.op !== '==' && node.op !== '!=';
        const a = this.visit(node.left);
        const b = this.visit(node.right);
        if (!comparable(a, b, ordering)) {
          this.report(node, 'expr_type', `${op} cannot compare ${typeName(a)} with ${typeName(b)}`);
        }
        return T.bool;
      }
      default: {
        const a = this.expect(node.left, ARITHMETIC_KINDS, op, 'number', 'on the left');
        const b = this.expect(node.right, ARITHMETIC_KINDS, op, 'number', 'on the right');
        return node.op !== '/' && a.kind === 'int' && b.kind === 'int' ? T.int : T.number;
      }
    }
  }

  private ternary(node: TernaryNode): ExprType {
    this.expect(node.test, BOOL_KINDS, "'?:'", 'bool', 'for the condition');
    const a = this.visit(node.then);
    const b = this.visit(node.otherwise);
    const t = unify(a, b);
    if (t !== undefined) return t;
    this.report(
      node.otherwise,
      'expr_type',
      `'?:' branches have different types: ${typeName(a)} and ${typeName(b)}`,
    );
    return T.unknown;
  }

  private call(node: CallNode): ExprType {
    const nameSpan = { offset: node.offset, length: node.nameLength };
    const spec = FUNCTION_BY_NAME.get(node.name);
    if (spec === undefined) {
      this.report(
        nameSpan,
        'expr_unknown_function',
        `unknown function '${node.name}'${suggestion(node.name, FUNCTION_BY_NAME.keys())}`,
      );
      for (const arg of node.args) if (arg.kind !== 'list') this.visit(arg);
      return T.unknown;
    }
    const { min, max } = arity(spec);
    if (node.args.length < min || node.args.length > max) {
      this.report(node, 'expr_arity', `${spec.name} expects ${arityText(min, max)}, got ${node.args.length}`);
      for (const arg of node.args) if (arg.kind !== 'list') this.visit(arg);
      return T.unknown;
    }
    const types: ExprType[] = [];
    const literals: unknown[] = [];
    let complete = true;
    node.args.forEach((arg, i) => {
      const kind = paramAt(spec, i)!.kind;
      const where = `for argument ${i + 1}`;
      if (VALUE_KINDS[kind] === undefined) {
        const value = this.literal(spec, kind, arg, i + 1);
        if (value === undefined) complete = false;
        else this.literals.set(arg, value);
        types.push(T.unknown);
        literals.push(value);
      } else if (arg.kind === 'list') {
        this.report(arg, 'expr_type', `${spec.name} expects ${kindText(kind)} ${where}, got list`);
        types.push(T.unknown);
        literals.push(undefined);
      } else {
        types.push(this.expect(arg, VALUE_KINDS[kind], spec.name, kindText(kind), where));
        literals.push(undefined);
      }
    });
    if (spec.sameType && !this.sameType(spec, node, types)) return T.unknown;
    return complete ? spec.returns(types, literals) : T.unknown;
  }

  private sameType(spec: FunctionSpec, node: CallNode, types: readonly ExprType[]): boolean {
    let acc: ExprType = T.null;
    for (const [i, t] of types.entries()) {
      const next = unify(acc, t);
      if (next === undefined) {
        const message = `${spec.name} expects arguments of one type, got ${typeName(acc)} and ${typeName(t)}`;
        this.report(node.args[i]!, 'expr_type', message);
        return false;
      }
      acc = next;
    }
    return true;
  }

  /** Validates a literal argument; its value, or undefined after reporting why not. */
  private literal(spec: FunctionSpec, kind: ParamKind, node: Node, n: number): unknown {
    const name = spec.name;
    if (kind === 'positive_int') {
      const ok = node.kind === 'number' && node.int && node.value > 0;
      if (!ok) {
        this.report(
          node,
          'expr_literal',
          `${name} expects a positive integer literal for argument ${n}, got ${this.snippet(node)}`,
        );
        return undefined;
      }
      if (node.value > LARGEST_BUCKET_COUNT) {
        this.report(
          node,
          'expr_literal',
          `${name} expects at most ${LARGEST_BUCKET_COUNT} for argument ${n}, got ${node.value}`,
        );
        return undefined;
      }
      return node.value;
    }
    const itemKind = kind === 'number_list' ? 'number' : 'string';
    if (node.kind !== 'list') {
      this.report(
        node,
        'expr_literal',
        `${name} expects a list of ${itemKind} literals for argument ${n}, got ${this.snippet(node)}`,
      );
      return undefined;
    }
    if (node.items.length === 0) {
      this.report(node, 'expr_literal', `${name} expects at least one value in argument ${n}`);
      return undefined;
    }
    const values: (number | string)[] = [];
    for (const item of node.items) {
      if (item.kind !== itemKind) {
        this.report(
          item,
          'expr_literal',
          `${name} expects ${itemKind} literals in argument ${n}, got ${this.snippet(item)}`,
        );
        return undefined;
      }
      const value = (item as { value: number | string }).value;
      const previous = values[values.length - 1];
      if (kind === 'number_list' && previous !== undefined && value <= previous) {
        const text = this.snippet(item);
        this.report(
          item,
          'expr_literal',
          `${name} expects ascending values in argument ${n}, got ${text} after ${previous}`,
        );
        return undefined;
      }
      if (kind === 'string_list' && values.includes(value)) {
        this.report(
          item,
          'expr_literal',
          `${name} expects distinct values in argument ${n}, got ${this.snippet(item)} twice`,
        );
        return undefined;
      }
      values.push(value);
    }
    return values;
  }
}

function arityText(min: number, max: number): string {
  const plural = (n: number) => `${n} argument${n === 1 ? '' : 's'}`;
  if (min === max) return plural(min);
  if (max === Number.POSITIVE_INFINITY) return `at least ${plural(min)}`;
  return `${min} to ${plural(max)}`;
}

/** Whether values of these types can meet in `==` (or, with `ordering`, in `<`). */
function comparable(a: ExprType, b: ExprType, ordering: boolean): boolean {
  const orderable = (t: ExprType) => t.kind !== 'bool' && t.kind !== 'vector' && t.kind !== 'list';
  if (ordering && (!orderable(a) || !orderable(b))) return false;
  if (a.kind === 'null' || b.kind === 'null' || a.kind === 'unknown' || b.kind === 'unknown') return true;
  if (a.kind === 'timestamp' || b.kind === 'timestamp') {
    return VALUE_KINDS.timestamp!.includes(a.kind) && VALUE_KINDS.timestamp!.includes(b.kind);
  }
  return unify(a, b) !== undefined;
}
