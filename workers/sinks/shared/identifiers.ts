/**
 * SQL identifier quoting. Names are validated by the pipeline schema (letters, digits, `_`, `$`),
 * but every identifier is quoted anyway, with embedded `"` doubled, so that a name can never be
 * read as SQL and keeps its exact case.
 */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A table name, optionally schema- (and database-) qualified. */
export interface TableName {
  /** Every part, outermost first: `['ml', 'customer_churn_scores']`. */
  readonly parts: readonly string[];
  /** The unqualified table name. */
  readonly table: string;
  /** The schema, when the name is qualified. */
  readonly schema: string | undefined;
}

export function parseTableName(qualified: string): TableName {
  const parts = qualified.split('.');
  const table = parts[parts.length - 1] ?? qualified;
  return { parts, table, schema: parts.length >= 2 ? parts[parts.length - 2] : undefined };
}

/** `ml.customer_churn_scores` → `"ml"."customer_churn_scores"`. */
export function quoteQualified(name: string | TableName): string {
  const parts = typeof name === 'string' ? name.split('.') : name.parts;
  return parts.map(quoteIdent).join('.');
}

/** Quotes a string as a SQL literal (for DDL text and comments only; data always goes as parameters). */
export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * A derived identifier `<base><suffix>` that stays within `max` characters (Postgres: 63): when too
 * long, the base is cut and a short stable hash keeps distinct bases distinct.
 */
export function derivedIdent(base: string, suffix: string, max = 63): string {
  const full = base + suffix;
  if (full.length <= max) return full;
  const hash = fnv1a(base).toString(16).padStart(8, '0');
  return `${base.slice(0, max - suffix.length - hash.length - 1)}_${hash}${suffix}`;
}

/**
 * A table of a pipeline's own in schema `ml`: `ml.<pipeline name, every character but letters and
 * digits as _><suffix>`, kept within Postgres' 63 characters (e.g. `__shadow`, `__audit`).
 */
export function pipelineTable(pipeline: string, suffix: string): string {
  return `ml.${derivedIdent(pipeline.replace(/[^A-Za-z0-9]/g, '_'), suffix)}`;
}

/** 32-bit FNV-1a of a string's UTF-16 code units: stable names, not security. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
