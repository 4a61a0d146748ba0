import { type ColumnKind, columnKind, type SourceColumn } from './columns.js';

/** How init maps one model feature: an expression it is sure of, or a TODO saying what to decide. */
export type FeatureMatch =
  | {
      feature: string;
      kind: 'column';
      column: SourceColumn;
      /** The pipeline's definition (expression, or { expr, type }). */
      definition: string | { expr: string; type: 'int' | 'bool' };
      /** How the column was found: `exact`, `case/underscore-insensitive`, `enum value`. */
      how: string;
      /** Set when the column can be null: the definition contains a TODO to replace by the null value. */
      nullTodo?: string;
    }
  | { feature: string; kind: 'todo'; reason: string };

/** Lower case without underscores: `TicketCount_90d` and `ticket_count90D` meet. */
const loose = (s: string) => s.toLowerCase().replace(/_/g, '');

const DIRECT: ReadonlySet<ColumnKind> = new Set(['int', 'number', 'bool']);

function direct(feature: string, c: SourceColumn, how: string): FeatureMatch {
  const kind = columnKind(c);
  const ref = `after.${c.name}`;
  const type = kind === 'int' ? 'int' : kind === 'bool' ? 'bool' : undefined;
  if (!c.nullable) {
    return { feature, kind: 'column', column: c, how, definition: type ? { expr: ref, type } : ref };
  }
  const expr = `coalesce(${ref}, TODO)`;
  return {
    feature,
    kind: 'column',
    column: c,
    how,
    definition: type ? { expr, type } : expr,
    nullTodo: `${c.name} can be null: replace TODO by the value the model should see then (or write { expr: ${ref}, on_null: reject } to dead-letter such changes)`,
  };
}

function hint(feature: string): string {
  return `no column is named ${feature}: write its expression from the columns listed above the features`;
}

/**
 * Matches each model feature (in the model's order) to the row's columns: a column of the same name,
 * else the one equal ignoring case and underscores; a number or boolean column is read directly, a
 * nullable one with a TODO for its null value. A feature named `<column>_<value>` of an enum column is
 * that value's indicator. Anything else — no column, a timestamp or text column, several candidates —
 * is a TODO saying why and what is there.
 */
export function matchFeatures(features: readonly string[], columns: readonly SourceColumn[]): FeatureMatch[] {
  return features.map((feature): FeatureMatch => {
    const exact = columns.find((c) => c.name === feature);
    const candidates = exact ? [exact] : columns.filter((c) => loose(c.name) === loose(feature));
    if (candidates.length > 1) {
      return {
        feature,
        kind: 'todo',
        reason: `several columns match ${feature} ignoring case and underscores (${candidates.map((c) => c.name).join(', ')}): pick one`,
      };
    }
    const c = candidates[0];
    if (c !== undefined) {
      const how = exact ? 'exact name' : `column ${c.name} (case/underscore-insensitive)`;
      const kind = columnKind(c);
      if (DIRECT.has(kind)) return direct(feature, c, how);
      const what =
        kind === 'timestamp'
          ? `a timestamp (epoch ms): e.g. days_between(after.${c.name}, source.ts_ms)`
          : kind === 'string'
            ? `text${c.enumValues ? ` (${c.enumValues.join('|')})` : ''}: e.g. { expr: "after.${c.name} == '${c.enumValues?.[0] ?? 'x'}'", type: bool }`
            : `${c.dbType}, not a number`;
      return { feature, kind: 'todo', reason: `column ${c.name} matches by name but is ${what}` };
    }
    for (const col of columns) {
      const value = col.enumValues?.find((v) => loose(`${col.name}_${v}`) === loose(feature));
      if (value !== undefined) {
        return {
          feature,
          kind: 'column',
          column: col,
          how: `value '${value}' of enum column ${col.name}`,
          definition: { expr: `after.${col.name} == '${value.replace(/'/g, "\\'")}'`, type: 'bool' },
        };
      }
    }
    return { feature, kind: 'todo', reason: hint(feature) };
  });
}
