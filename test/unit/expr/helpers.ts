import assert from 'node:assert/strict';
import {
  type CompiledExpression,
  type CompileOptions,
  compileExpression,
  type ExprDiagnostic,
  type ExprType,
  type Node,
  type Row,
} from '../../../workers/expr/index.js';

/** 2024-03-15T12:00:00Z, a Friday. */
export const NOW = Date.UTC(2024, 2, 15, 12);

export function compiled(source: string, options: CompileOptions = {}): CompiledExpression {
  const r = compileExpression(source, { now: () => NOW, ...options });
  if (!r.ok) assert.fail(`expected ${source} to compile, got ${JSON.stringify(r.errors)}`);
  return r.value;
}

export function run(source: string, row: Row = {}, options: CompileOptions = {}): unknown {
  return compiled(source, options).evaluate(row);
}

export function errorsOf(source: string, options: CompileOptions = {}): ExprDiagnostic[] {
  const r = compileExpression(source, options);
  if (r.ok) assert.fail(`expected ${source} not to compile, got type ${r.value.type.kind}`);
  return r.errors;
}

/** The single diagnostic of `source`, as [offset, length, code, message]. */
export function oneError(source: string, options: CompileOptions = {}): [number, number, string, string] {
  const errors = errorsOf(source, options);
  assert.equal(errors.length, 1, JSON.stringify(errors));
  const e = errors[0]!;
  return [e.offset, e.length, e.code, e.message];
}

/** A field-type lookup from dotted paths. */
export function schema(types: Record<string, ExprType['kind']>): CompileOptions['fieldTypes'] {
  return (path) => {
    const kind = types[path.join('.')];
    return kind === undefined ? undefined : ({ kind } as ExprType);
  };
}

/** Fully parenthesised rendering of a syntax tree, to assert precedence. */
export function show(node: Node): string {
  switch (node.kind) {
    case 'number':
    case 'bool':
      return String(node.value);
    case 'string':
      return JSON.stringify(node.value);
    case 'null':
      return 'null';
    case 'error':
      return '<error>';
    case 'list':
      return `[${node.items.map(show).join(' ')}]`;
    case 'field':
      return node.path.join('.');
    case 'unary':
      return `(${node.op} ${show(node.operand)})`;
    case 'binary':
      return `(${node.op} ${show(node.left)} ${show(node.right)})`;
    case 'ternary':
      return `(? ${show(node.test)} ${show(node.then)} ${show(node.otherwise)})`;
    case 'call':
      return `${node.name}(${node.args.map(show).join(' ')})`;
  }
}
