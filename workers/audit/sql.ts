import { derivedIdent, quoteIdent } from '../sinks/shared/identifiers.js';

/** Names of an audit table's objects: the day-partitioned log, its chain heads, its functions. */
export interface AuditObjects {
  schema: string;
  /** Unquoted base name (the parent table). */
  table: string;
  /** `"ml"."churn_scoring__audit"` */
  quoted: string;
  heads: string;
  /** The decision contexts records name (`record.ts` decisionContext), by the sha256 of their text. */
  contexts: string;
  hashFn: string;
  appendFn: string;
  maintainFn: string;
}

/** Namespace of the advisory lock that serialises an audit log's DDL and maintenance ("au"). */
export const AUDIT_DDL_LOCK = 0x6175;

export function auditObjects(name: string): AuditObjects {
  const [schema, table] = name.includes('.') ? (name.split('.') as [string, string]) : ['public', name];
  const q = (t: string) => `${quoteIdent(schema)}.${quoteIdent(t)}`;
  return {
    schema,
    table,
    quoted: q(table),
    heads: q(derivedIdent(table, '__heads')),
    contexts: q(derivedIdent(table, '__contexts')),
    hashFn: q(derivedIdent(table, '__hash')),
    appendFn: q(derivedIdent(table, '__append')),
    maintainFn: q(derivedIdent(table, '__maintain')),
  };
}

/**
 * The audit log's DDL, run (idempotently, under the sink's DDL lock) when the sink opens:
 *
 * - the log, partitioned by UTC day of `written_at` (retention drops whole days);
 * - the decision contexts (what many records share: pipeline, worker, model, shadow), each once,
 *   under the sha256 of its text;
 * - one head row per chain (its last seq and hash), locked by each append: a chain's records are
 *   appended by one writer at a time, in order;
 * - `__hash(prev, record, written_at)`: sha256 over the previous hash, the write time (µs since the
 *   epoch: independent of the session's time zone) and the record's jsonb text (canonical: jsonb
 *   orders keys and normalises spacing). `audit verify` recomputes it with the same function;
 * - `__append(chains, keys, positions, records)`: appends rows sorted by chain (so concurrent
 *   writers lock heads in one order and never deadlock), numbering and chaining each;
 * - `__maintain(retention_days)`: creates the partitions of yesterday to the day after tomorrow and
 *   drops those whose whole day is older than the retention.
 */
export function auditDdl(o: AuditObjects): string[] {
  const heads = o.heads;
  return [
    `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(o.schema)}`,
    `CREATE TABLE IF NOT EXISTS ${o.quoted} (
  decision_id uuid NOT NULL,
  chain text NOT NULL,
  seq bigint NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  key text NOT NULL,
  position numeric(38,0) NOT NULL,
  record jsonb NOT NULL,
  written_at timestamptz NOT NULL,
  written_day date NOT NULL,
  PRIMARY KEY (chain, seq, written_day)
) PARTITION BY RANGE (written_day)`,
    // `explain` and `audit override` look decisions up by key (the newest first).
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(derivedIdent(o.table, '__key'))} ON ${o.quoted} (key, written_at)`,
    `CREATE TABLE IF NOT EXISTS ${heads} (chain text PRIMARY KEY, seq bigint NOT NULL, hash text NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS ${o.contexts} (id text PRIMARY KEY, context text NOT NULL, first_at timestamptz NOT NULL DEFAULT now())`,
    `CREATE OR REPLACE FUNCTION ${o.hashFn}(prev text, rec jsonb, at timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $f$
  SELECT encode(sha256(convert_to(prev || '|' || (extract(epoch FROM at) * 1000000)::bigint::text || '|' || rec::text, 'UTF8')), 'hex')
$f$`,
    `CREATE OR REPLACE FUNCTION ${o.appendFn}(chains text[], keys text[], positions numeric[], records jsonb[]) RETURNS bigint
LANGUAGE plpgsql AS $f$
DECLARE
  n int := coalesce(array_length(chains, 1), 0);
  i int;
  c text;
  s bigint;
  h text;
  next_h text;
  seqs bigint[] := '{}';
  prevs text[] := '{}';
  hashes text[] := '{}';
  ats timestamptz[] := '{}';
  at timestamptz;
BEGIN
  FOR i IN 1 .. n LOOP
    IF c IS DISTINCT FROM chains[i] THEN
      IF c IS NOT NULL THEN
        UPDATE ${heads} SET seq = s, hash = h WHERE chain = c;
      END IF;
      c := chains[i];
      INSERT INTO ${heads} (chain, seq, hash) VALUES (c, 0, 'genesis') ON CONFLICT (chain) DO NOTHING;
      SELECT hd.seq, hd.hash INTO s, h FROM ${heads} AS hd WHERE hd.chain = c FOR UPDATE;
      -- Read once the head is ours: later than every record of the chain before it.
      at := clock_timestamp();
    END IF;
    s := s + 1;
    next_h := ${o.hashFn}(h, records[i], at);
    seqs[i] := s;
    prevs[i] := h;
    hashes[i] := next_h;
    ats[i] := at;
    h := next_h;
  END LOOP;
  IF c IS NOT NULL THEN
    UPDATE ${heads} SET seq = s, hash = h WHERE chain = c;
  END IF;
  -- One INSERT for the whole call: a row-by-row INSERT costs an executor start each.
  INSERT INTO ${o.quoted} (decision_id, chain, seq, prev_hash, hash, key, position, record, written_at, written_day)
    SELECT (u.r->>'decision_id')::uuid, u.c, u.sq, u.pv, u.hs, u.k, u.p, u.r, u.a, (u.a AT TIME ZONE 'UTC')::date
    FROM unnest(chains, seqs, prevs, hashes, keys, positions, records, ats) AS u(c, sq, pv, hs, k, p, r, a);
  RETURN n;
END
$f$`,
    `CREATE OR REPLACE FUNCTION ${o.maintainFn}(retention_days int) RETURNS void
LANGUAGE plpgsql AS $f$
DECLARE
  today date := (clock_timestamp() AT TIME ZONE 'UTC')::date;
  d date;
  p record;
  upper_day date;
BEGIN
  FOR d IN SELECT generate_series(today - 1, today + 2, interval '1 day')::date LOOP
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF ${o.quoted.replaceAll('%', '%%')} FOR VALUES FROM (%L) TO (%L)',
      ${literal(o.schema)}, left(${literal(o.table)}, 52) || '_p' || to_char(d, 'YYYYMMDD'), d, d + 1);
  END LOOP;
  FOR p IN
    SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = ${literal(o.quoted)}::regclass
  LOOP
    upper_day := substring(p.bound FROM 'TO \\(''([0-9-]+)''\\)')::date;
    IF upper_day IS NOT NULL AND upper_day <= today - retention_days THEN
      EXECUTE format('DROP TABLE %I.%I', ${literal(o.schema)}, p.name);
    END IF;
  END LOOP;
END
$f$`,
  ];
}

function literal(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * Wraps an upsert (a data-modifying statement without RETURNING) so that the rows it actually
 * writes — the order guard may skip older ones — get their audit records in the same statement:
 * `keyColumns` and `source_position` of each written row are matched with the audit input (one
 * entry per upserted row: key columns, position, chain, key text; the records as one text, a
 * record per line), after the batch's decision contexts (ids, texts).
 */
export function withAudit(
  o: AuditObjects,
  upsertSql: string,
  keyColumns: readonly { name: string; cast: string }[],
  positionColumn: string,
): { sql: string; bindingsAfter: number } {
  const q = quoteIdent;
  const returning = [...keyColumns.map((k) => q(k.name)), q(positionColumn)].join(', ');
  const inputCols = [...keyColumns.map((_, i) => `k${i}`), 'pos', 'chain', 'key_text', 'rec'];
  const inputCasts = [
    ...keyColumns.map((k) => `?::${k.cast}[]`),
    '?::numeric[]',
    '?::text[]',
    '?::text[]',
    // The records as one text, a line each (JSON text has no raw newline): no array quoting and
    // escaping of every record by the client, and one string to send.
    "string_to_array(?::text, E'\\n')::jsonb[]",
  ];
  const match = [
    ...keyColumns.map((k, i) => `a.k${i} = w.${q(k.name)}`),
    `a.pos = w.${q(positionColumn)}`,
  ].join(' AND ');
  // The upsert may already start with its own WITH (tombstones): append ours to that list.
  const body = upsertSql.startsWith('WITH ') ? upsertSql.slice(5) : undefined;
  const written = `written AS (${body === undefined ? upsertSql : lastStatement(body)} RETURNING ${returning})`;
  const ctes = body === undefined ? written : `${leadingCtes(body)}, ${written}`;
  // The batch's decision contexts, stored once (a data-modifying CTE runs whether read or not).
  const contexts = `ctx AS (INSERT INTO ${o.contexts} (id, context) SELECT * FROM unnest(?::text[], ?::text[]) ON CONFLICT (id) DO NOTHING)`;
  const sql =
    `WITH ${ctes}, ${contexts}, a AS (SELECT * FROM unnest(${inputCasts.join(', ')}) AS a(${inputCols.join(', ')})) ` +
    `SELECT ${o.appendFn}(` +
    `coalesce(array_agg(a.chain ORDER BY a.chain, a.pos), '{}'), ` +
    `coalesce(array_agg(a.key_text ORDER BY a.chain, a.pos), '{}'), ` +
    `coalesce(array_agg(a.pos ORDER BY a.chain, a.pos), '{}'), ` +
    `coalesce(array_agg(a.rec ORDER BY a.chain, a.pos), '{}')) AS audited, ` +
    `(SELECT count(*) FROM written) AS written ` +
    `FROM a JOIN written AS w ON ${match}`;
  return { sql, bindingsAfter: 2 + inputCols.length };
}

/** `WITH a AS (…), b AS (…) INSERT …`: the CTE list and the final statement of a WITH body. */
function splitWith(body: string): { ctes: string; last: string } {
  let depth = 0;
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (depth === 0 && body.startsWith(' INSERT INTO ', i)) {
      return { ctes: body.slice(0, i), last: body.slice(i + 1) };
    }
  }
  throw new Error('audit: cannot find the INSERT of the upsert');
}

function leadingCtes(body: string): string {
  return splitWith(body).ctes;
}

function lastStatement(body: string): string {
  return splitWith(body).last;
}
