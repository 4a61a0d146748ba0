import { didYouMean, suggestion } from '../core/suggest.js';
import { type ExprType, type Node, parse } from '../expr/index.js';
import type { RowTypes } from './avro-types.js';

/**
 * What a field path of an expression reads from a decoded record's root. A Debezium root is the
 * envelope `{ before, after, source, op, ts_ms, key }`: row columns are `after.<col>` /
 * `before.<col>`. A plain (json, avro) root is the row itself plus `key`.
 */
export type FieldRef =
  /** A row column: `column` must be a field of the input schema; `rest` reads inside it. */
  | { kind: 'column'; prefix: string; column: string; rest: readonly string[] }
  /** Envelope metadata or the message key: not described by the input schema. */
  | { kind: 'meta'; type: ExprType | undefined }
  /** A root name a Debezium envelope does not have: always null. */
  | { kind: 'not_in_envelope'; name: string };

const ENVELOPE_ROOTS = ['after', 'before', 'source', 'op', 'ts_ms', 'key'] as const;

export function resolveField(path: readonly string[], envelope: boolean): FieldRef {
  const [head, next, ...rest] = path;
  if (head === undefined || head === 'key') return { kind: 'meta', type: undefined };
  if (!envelope) return { kind: 'column', prefix: '', column: head, rest: path.slice(1) };
  if (head === 'after' || head === 'before') {
    return next === undefined
      ? { kind: 'meta', type: undefined }
      : { kind: 'column', prefix: `${head}.`, column: next, rest };
  }
  if (head === 'source') {
    return { kind: 'meta', type: next === 'ts_ms' && rest.length === 0 ? { kind: 'timestamp' } : undefined };
  }
  if (head === 'op') return { kind: 'meta', type: path.length === 1 ? { kind: 'string' } : undefined };
  if (head === 'ts_ms') return { kind: 'meta', type: undefined };
  return { kind: 'not_in_envelope', name: head };
}

/** A field-type lookup for expressions, from the input schema's columns. */
export function rowFieldTypes(
  row: RowTypes | undefined,
  envelope: boolean,
): (path: readonly string[]) => ExprType | undefined {
  return (path) => {
    const ref = resolveField(path, envelope);
    if (ref.kind === 'meta') return ref.type;
    if (ref.kind === 'column' && row && ref.rest.length === 0) return row.fields.get(ref.column);
    return undefined;
  };
}

export interface UnknownField {
  /** Offset of the field reference in the expression. */
  offset: number;
  code: 'unknown_column';
  message: string;
}

/**
 * References of `source` to columns the input schema does not have (each reported once, at its
 * first use): without the check such a field reads null on every record.
 */
export function unknownFields(
  source: string,
  row: RowTypes,
  envelope: boolean,
  schemaFile: string,
): UnknownField[] {
  const out: UnknownField[] = [];
  const seen = new Set<string>();
  const columns = [...row.fields.keys()];
  for (const node of fieldNodes(parse(source).node)) {
    const written = source.slice(node.offset, node.offset + node.length);
    const ref = resolveField(node.path, envelope);
    if (ref.kind === 'meta' || seen.has(written)) continue;
    if (ref.kind === 'column' && row.fields.has(ref.column)) continue;
    seen.add(written);
    let message: string;
    if (ref.kind === 'column') {
      const near = didYouMean(ref.column, columns);
      const hint =
        near === undefined
          ? ` (its columns: ${columns.join(', ')})`
          : ` (did you mean '${ref.prefix}${near}'?)`;
      message = `unknown column '${written}': input_schema ${schemaFile} has no column '${ref.column}'${hint}`;
    } else {
      const hint = row.fields.has(ref.name)
        ? ` (did you mean 'after.${ref.name}'?)`
        : suggestion(ref.name, ENVELOPE_ROOTS);
      message = `unknown field '${written}': a Debezium change event has ${ENVELOPE_ROOTS.join(', ')}; row columns are after.<column> and before.<column>${hint}`;
    }
    out.push({ offset: node.offset, code: 'unknown_column', message });
  }
  return out;
}

type FieldNode = Extract<Node, { kind: 'field' }>;

/** Every field node of a syntax tree, in source order. */
function fieldNodes(node: Node): FieldNode[] {
  switch (node.kind) {
    case 'field':
      return [node];
    case 'list':
      return node.items.flatMap(fieldNodes);
    case 'call':
      return node.args.flatMap(fieldNodes);
    case 'unary':
      return fieldNodes(node.operand);
    case 'binary':
      return [...fieldNodes(node.left), ...fieldNodes(node.right)];
    case 'ternary':
      return [...fieldNodes(node.test), ...fieldNodes(node.then), ...fieldNodes(node.otherwise)];
    default:
      return [];
  }
}
