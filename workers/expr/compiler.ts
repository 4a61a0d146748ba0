import type { BinaryNode, CallNode, Node } from './ast.js';
import { check } from './checker.js';
import { type ExprDiagnostic, ExprRuntimeError, type Site } from './errors.js';
import { FUNCTION_BY_NAME } from './functions/index.js';
import type { Arg, CallContext } from './functions/spec.js';
import { arithmetic, asEpochMs, conditional, equality, logical, negate, not, ordering } from './operators.js';
import { parse } from './parser.js';
import type { Evaluator, ExprType, FieldTypeLookup, Row } from './types.js';

export interface CompileOptions {
  /** Types of fields by path; without it (or when it returns undefined) fields are `unknown`. */
  fieldTypes?: FieldTypeLookup;
  /** The clock behind now(), epoch ms; defaults to Date.now. */
  now?: () => number;
}

export interface CompiledExpression {
  readonly source: string;
  readonly type: ExprType;
  /** Distinct field paths the expression reads, in order of first use: check them against a schema. */
  readonly fields: readonly (readonly string[])[];
  /** Never throws except `ExprRuntimeError` (the record does not fit the expression). */
  readonly evaluate: Evaluator;
  /** 1, or the width of a vector. */
  readonly width: number;
}

export type CompileResult = { ok: true; value: CompiledExpression } | { ok: false; errors: ExprDiagnostic[] };

/**
 * Parses, type-checks and compiles an expression to a tree of closures. Reports every problem it
 * can find in one pass, sorted by offset. The source is never evaluated as code.
 */
export function compileExpression(source: string, options: CompileOptions = {}): CompileResult {
  const parsed = parse(source);
  const checked = check(parsed.node, source, options.fieldTypes);
  const errors = [...parsed.diagnostics, ...checked.diagnostics];
  if (errors.length === 0) {
    const compiler = new Compiler(source, checked.types, checked.literals, options.now ?? Date.now, errors);
    let evaluate = compiler.compile(parsed.node).ev;
    if (checked.type.kind === 'timestamp') evaluate = asEpochMs(evaluate, compiler.site('result', '', 0));
    if (errors.length === 0) {
      const width = checked.type.kind === 'vector' ? checked.type.width : 1;
      return { ok: true, value: { source, type: checked.type, fields: checked.fields, evaluate, width } };
    }
  }
  return { ok: false, errors: errors.sort((a, b) => a.offset - b.offset) };
}

interface Compiled {
  readonly ev: Evaluator;
  /** Same value for every record: no field, no clock. */
  readonly constant: boolean;
}

const EMPTY_ROW: Row = Object.freeze({});

class Compiler {
  constructor(
    private readonly source: string,
    private readonly types: ReadonlyMap<Node, ExprType>,
    private readonly literals: ReadonlyMap<Node, unknown>,
    private readonly now: () => number,
    private readonly errors: ExprDiagnostic[],
  ) {}

  site(op: string, where: string, offset: number): Site {
    return { source: this.source, op, where, offset };
  }

  private isTimestamp(node: Node): boolean {
    return this.types.get(node)?.kind === 'timestamp';
  }

  compile(node: Node): Compiled {
    switch (node.kind) {
      case 'number':
      case 'string':
      case 'bool':
        return constant(node.value);
      case 'null':
        return constant(null);
      case 'field':
        return { ev: fieldReader(node.path), constant: false };
      case 'unary': {
        const operand = this.compile(node.operand);
        const site = this.site(`'${node.opText}'`, '', node.offset);
        return this.fold(node, node.op === '-' ? negate(operand.ev, site) : not(operand.ev, site), [operand]);
      }
      case 'binary':
        return this.binary(node);
      case 'ternary': {
        const parts = [
          this.compile(node.test),
          this.compile(node.then),
          this.compile(node.otherwise),
        ] as const;
        const site = this.site("'?:'", 'for the condition', node.offset);
        return this.fold(node, conditional(parts[0].ev, parts[1].ev, parts[2].ev, site), parts);
      }
      case 'call':
        return this.call(node);
      case 'list':
      case 'error':
        throw new Error(`unreachable: a ${node.kind} node passed the checker`);
    }
  }

  /** Evaluates a node with constant inputs once; a value that can never work becomes a compile error. */
  private fold(node: Node, ev: Evaluator, parts: readonly Compiled[], pure = true): Compiled {
    if (!pure || !parts.every((p) => p.constant)) return { ev, constant: false };
    try {
      const value = ev(EMPTY_ROW);
      return typeof value === 'object' && value !== null ? { ev, constant: true } : constant(value);
    } catch (err) {
      if (!ExprRuntimeError.is(err)) throw err;
      this.errors.push({
        offset: node.offset,
        length: node.length,
        message: err.detail,
        code: 'expr_constant',
      });
      return { ev, constant: false };
    }
  }

  private binary(node: BinaryNode): Compiled {
    const timestamps = this.isTimestamp(node.left) || this.isTimestamp(node.right);
    const left = this.compile(node.left);
    const right = this.compile(node.right);
    const op = `'${node.opText}'`;
    const sites: [Site, Site] = [
      this.site(op, 'on the left', node.opOffset),
      this.site(op, 'on the right', node.opOffset),
    ];
    let l = left.ev;
    let r = right.ev;
    if (timestamps && node.op !== '&&' && node.op !== '||') {
      l = asEpochMs(l, sites[0]);
      r = asEpochMs(r, sites[1]);
    }
    const site = this.site(op, '', node.opOffset);
    let ev: Evaluator;
    switch (node.op) {
      case '&&':
      case '||':
        ev = logical(node.op, l, r, sites);
        break;
      case '==':
      case '!=':
        ev = equality(node.op === '!=', l, r, site);
        break;
      case '<':
      case '<=':
      case '>':
      case '>=':
        ev = ordering(node.op, l, r, site);
        break;
      default:
        ev = arithmetic(node.op, l, r, sites);
    }
    return this.fold(node, ev, [left, right]);
  }

  private call(node: CallNode): Compiled {
    const spec = FUNCTION_BY_NAME.get(node.name)!;
    const parts: Compiled[] = [];
    const args: Arg[] = node.args.map((argNode) => {
      const type = this.types.get(argNode) ?? { kind: 'unknown' };
      if (this.literals.has(argNode)) {
        const literal = this.literals.get(argNode);
        parts.push({ ev: () => literal, constant: true });
        return { ev: () => literal, type, literal };
      }
      const part = this.compile(argNode);
      parts.push(part);
      return { ev: part.ev, type, literal: undefined };
    });
    const sites: Site[] = [];
    const ctx: CallContext = {
      name: spec.name,
      now: this.now,
      site: (i) => {
        sites[i] ??= this.site(spec.name, `for argument ${i + 1}`, node.offset);
        return sites[i];
      },
    };
    return this.fold(node, spec.compile(args, ctx), parts, spec.pure !== false);
  }
}

function constant(value: unknown): Compiled {
  return { ev: () => value, constant: true };
}

/**
 * Reads a path from the root: missing fields and paths through null or non-objects give null.
 * Keys that exist on Object.prototype (`constructor`, `toString`) are read as own properties only.
 */
export function fieldReader(path: readonly string[]): Evaluator {
  if (path.some((k) => k in Object.prototype)) return (root) => readPath(root, path, true);
  const [a, b, c] = path;
  if (path.length === 1) {
    const k = a!;
    return (root) => {
      const v = root[k];
      return v === undefined ? null : v;
    };
  }
  if (path.length === 2) {
    const k0 = a!;
    const k1 = b!;
    return (root) => {
      const o = root[k0];
      if (typeof o !== 'object' || o === null) return null;
      const v = (o as Row)[k1];
      return v === undefined ? null : v;
    };
  }
  if (path.length === 3) {
    const k0 = a!;
    const k1 = b!;
    const k2 = c!;
    return (root) => {
      const o = root[k0];
      if (typeof o !== 'object' || o === null) return null;
      const p = (o as Row)[k1];
      if (typeof p !== 'object' || p === null) return null;
      const v = (p as Row)[k2];
      return v === undefined ? null : v;
    };
  }
  return (root) => readPath(root, path);
}

function readPath(root: Row, path: readonly string[], ownOnly = false): unknown {
  let v: unknown = root;
  for (const k of path) {
    if (typeof v !== 'object' || v === null || (ownOnly && !Object.hasOwn(v, k))) return null;
    v = (v as Row)[k];
  }
  return v === undefined ? null : v;
}
