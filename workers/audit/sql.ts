import { hash } from 'node:crypto';
import { derivedIdent, quoteIdent } from '../sinks/shared/identifiers.js';

/** Names of an audit log's objects: the view of its records, its day-partitioned blocks, its chain heads, its functions. */
export interface AuditObjects {
  schema: string;
  /** Unquoted name the pipeline gives (`audit.table`): the view of the records, one row each. */
  table: string;
  /** `"ml"."churn_scoring__audit"`: the view (decision_id, chain, seq, key, position, record, …). */
  quoted: string;
  /** The blocks: one row per chain per write, holding that write's records (see auditDdl). */
  blocks: string;
  /** Unquoted name of the blocks table (its partitions are named after `table`). */
  blocksTable: string;
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
  const blocksTable = derivedIdent(table, '__blocks');
  return {
    schema,
    table,
    quoted: q(table),
    blocks: q(blocksTable),
    blocksTable,
    heads: q(derivedIdent(table, '__heads')),
    contexts: q(derivedIdent(table, '__contexts')),
    hashFn: q(derivedIdent(table, '__hash')),
    appendFn: q(derivedIdent(table, '__append')),
    maintainFn: q(derivedIdent(table, '__maintain')),
  };
}

/**
 * A block's hash, over the previous block's hash, the write time (µs since the epoch: independent
 * of the session's time zone), the seq of its last record, its kind, its keys and decision ids (as
 * Postgres' array text: quoted, unambiguous) and the sha256 of each record (32 bytes each, in
 * order). The SQL text is shared by the table's `__hash` function and `audit verify`, which writes
 * it out rather than calling the function: a function replaced in the database cannot make verify
 * agree.
 */
export function blockHashSql(p: {
  prev: string;
  at: string;
  seq: string;
  kind: string;
  keys: string;
  ids: string;
  hashes: string;
}): string {
  return (
    `encode(sha256(convert_to(${p.prev} || '|' || (extract(epoch FROM ${p.at}) * 1000000)::bigint::text || '|' || ` +
    `${p.seq}::text || '|' || ${p.kind} || '|' || ${p.keys}::text || '|' || ${p.ids}::text || '|', 'UTF8') || ${p.hashes}), 'hex')`
  );
}

/**
 * The audit log's DDL, run (idempotently, under the sink's DDL lock) when the sink opens:
 *
 * - `__blocks`, partitioned by UTC day of `written_at` (retention drops whole days): one row per
 *   chain per write, holding that write's records as UTF-8 bytes, a record (JSON) per line, the
 *   sha256 of each (`record_hashes`, 32 bytes each), the entity keys (GIN-indexed: `explain` and
 *   `audit override` find a key's block by them) and decision ids (with their least and greatest,
 *   btree-indexed: a decision's block is found by its id's range). A block numbers its records:
 *   they are seq `seq - n + 1` … `seq` of their chain. One row per write rather than per record:
 *   fewer index entries and no jsonb parsing (issue 15's cost);
 * - the view named by `audit.table`: the records, one row each (decision_id, chain, seq, key,
 *   position, record jsonb, kind, written_at, written_day), for people and tools;
 * - the decision contexts (what many records share: pipeline, worker, model, shadow), each once,
 *   under the sha256 of its text;
 * - one head row per chain (its last seq and hash), locked by each append: a chain's blocks are
 *   appended by one writer at a time, in order;
 * - `__hash(…)`: the block hash (blockHashSql);
 * - `__append(chain, kind, keys, ids, records, record_hashes)`: appends one block to a chain;
 * - `__maintain(retention_days)`: creates the partitions of yesterday to the day after tomorrow and
 *   drops those whose whole day is older than the retention.
 */
export function auditDdl(o: AuditObjects): string[] {
  const heads = o.heads;
  return [
    `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(o.schema)}`,
    // A log written by the one-row-per-record layout (before blocks) has a table where the view goes.
    `DO $d$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = ${literal(o.schema)} AND c.relname = ${literal(o.table)} AND c.relkind <> 'v') THEN
    RAISE EXCEPTION 'audit: % is a table, not the view of an audit log in blocks: it was written by an older streamscore (one row per record). Rename it (ALTER TABLE … RENAME) to keep it, or give audit.table a new name', ${literal(`${o.schema}.${o.table}`)};
  END IF;
  -- A log whose blocks keep their records as text (before they were bytes).
  IF EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = ${literal(o.schema)} AND c.relname = ${literal(o.blocksTable)} AND a.attname = 'records'
               AND a.atttypid = 'text'::regtype) THEN
    RAISE EXCEPTION 'audit: % keeps its records as text: it was written by an older streamscore (blocks of text). Give audit.table a new name (the old log stays as it is, readable through its view)', ${literal(`${o.schema}.${o.blocksTable}`)};
  END IF;
END $d$`,
    `CREATE TABLE IF NOT EXISTS ${o.blocks} (
  chain text NOT NULL,
  seq bigint NOT NULL,
  n int NOT NULL,
  kind text NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  keys text[] NOT NULL,
  decision_ids uuid[] NOT NULL,
  id_min uuid NOT NULL,
  id_max uuid NOT NULL,
  records bytea NOT NULL,
  record_hashes bytea NOT NULL,
  written_at timestamptz NOT NULL,
  written_day date NOT NULL,
  PRIMARY KEY (chain, seq, written_day)
) PARTITION BY RANGE (written_day)`,
    // lz4 where the server has it: compressing a block's records, keys and ids (a block is TOASTed)
    // costs about half of pglz's time. Its record hashes are random bytes: never compressed. Only
    // when not set yet: these ALTERs lock the table and every partition exclusively, and each
    // worker runs this DDL when its sink opens.
    `DO $d$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = ${literal(o.blocks)}::regclass
             AND attname IN ('records', 'keys', 'decision_ids') AND attcompression <> 'l') THEN
    BEGIN
      ALTER TABLE ${o.blocks} ALTER COLUMN records SET COMPRESSION lz4, ALTER COLUMN keys SET COMPRESSION lz4,
        ALTER COLUMN decision_ids SET COMPRESSION lz4;
    EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN NULL;
    END;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = ${literal(o.blocks)}::regclass
             AND attname = 'record_hashes' AND attstorage <> 'e') THEN
    ALTER TABLE ${o.blocks} ALTER COLUMN record_hashes SET STORAGE EXTERNAL;
  END IF;
END $d$`,
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(derivedIdent(o.table, '__keys'))} ON ${o.blocks} USING gin (keys)`,
    // A decision's block by its id: blocks whose [id_min, id_max] holds it (ids are UUIDv7, so a
    // block's ids span a few milliseconds), then its ids array. One btree entry per block where a
    // GIN index took one per record (≈ 1.4 µs of Postgres CPU per record).
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(derivedIdent(o.table, '__ids'))} ON ${o.blocks} (id_min)`,
    `CREATE TABLE IF NOT EXISTS ${heads} (chain text PRIMARY KEY, seq bigint NOT NULL, hash text NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS ${o.contexts} (id text PRIMARY KEY, context text NOT NULL, first_at timestamptz NOT NULL DEFAULT now())`,
    // The view is replaced only when its definition changed (a comment names the definition's
    // hash): CREATE OR REPLACE VIEW locks it exclusively, waiting for whoever reads it.
    replaceViewDdl(
      o.quoted,
      `SELECT b.decision_ids[x.i] AS decision_id, b.chain, b.seq - b.n + x.i AS seq, b.keys[x.i] AS key,
  (r.j->'source'->>'position')::numeric AS position, r.j AS record, b.kind, b.written_at, b.written_day
FROM ${o.blocks} AS b
CROSS JOIN LATERAL unnest(string_to_array(convert_from(b.records, 'UTF8'), E'\\n')) WITH ORDINALITY AS x(line, i)
CROSS JOIN LATERAL (SELECT x.line::jsonb AS j) AS r`,
    ),
    `CREATE OR REPLACE FUNCTION ${o.hashFn}(prev text, at timestamptz, seq bigint, kind text, keys text[], ids uuid[], hashes bytea) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $f$
  SELECT ${blockHashSql({ prev: 'prev', at: 'at', seq: 'seq', kind: 'kind', keys: 'keys', ids: 'ids', hashes: 'hashes' })}
$f$`,
    `CREATE OR REPLACE FUNCTION ${o.appendFn}(c text, kind text, keys text[], ids uuid[], records bytea, hashes bytea) RETURNS int
LANGUAGE plpgsql AS $f$
DECLARE
  n int := coalesce(array_length(keys, 1), 0);
  s bigint;
  h text;
  next_h text;
  at timestamptz;
  lo uuid;
  hi uuid;
BEGIN
  IF n = 0 THEN RETURN 0; END IF;
  INSERT INTO ${heads} (chain, seq, hash) VALUES (c, 0, 'genesis') ON CONFLICT (chain) DO NOTHING;
  SELECT hd.seq, hd.hash INTO s, h FROM ${heads} AS hd WHERE hd.chain = c FOR UPDATE;
  -- Read once the head is ours: later than every block of the chain before it.
  at := clock_timestamp();
  next_h := ${o.hashFn}(h, at, s + n, kind, keys, ids, hashes);
  -- (Postgres 15 has no min/max of uuid: the top of each order instead.)
  SELECT i INTO lo FROM unnest(ids) AS i ORDER BY i LIMIT 1;
  SELECT i INTO hi FROM unnest(ids) AS i ORDER BY i DESC LIMIT 1;
  INSERT INTO ${o.blocks} (chain, seq, n, kind, prev_hash, hash, keys, decision_ids, id_min, id_max, records, record_hashes, written_at, written_day)
    VALUES (c, s + n, n, kind, h, next_h, keys, ids, lo, hi, records, hashes, at, (at AT TIME ZONE 'UTC')::date);
  UPDATE ${heads} SET seq = s + n, hash = next_h WHERE chain = c;
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
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF ${o.blocks.replaceAll('%', '%%')} FOR VALUES FROM (%L) TO (%L)',
      ${literal(o.schema)}, left(${literal(o.table)}, 52) || '_p' || to_char(d, 'YYYYMMDD'), d, d + 1);
  END LOOP;
  FOR p IN
    SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = ${literal(o.blocks)}::regclass
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

/**
 * Drops an audit log whole: view, blocks (with their partitions), heads, contexts, functions — of
 * any earlier layout too (the records' table where the view now is; every overload of the functions).
 */
export function dropAuditSql(o: AuditObjects): string[] {
  const fns = ['__append', '__maintain', '__hash'].map((f) => literal(derivedIdent(o.table, f)));
  return [
    `DO $d$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = ${literal(o.schema)} AND c.relname = ${literal(o.table)} AND c.relkind = 'v') THEN
    EXECUTE 'DROP VIEW ${o.quoted.replaceAll("'", "''")}';
  ELSE
    EXECUTE 'DROP TABLE IF EXISTS ${o.quoted.replaceAll("'", "''")} CASCADE';
  END IF;
END $d$`,
    `DROP TABLE IF EXISTS ${o.blocks} CASCADE`,
    `DROP TABLE IF EXISTS ${o.heads}`,
    `DROP TABLE IF EXISTS ${o.contexts}`,
    `DO $d$ DECLARE f regprocedure; BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = ${literal(o.schema)} AND p.proname IN (${fns.join(', ')}) LOOP
    EXECUTE 'DROP FUNCTION ' || f::text;
  END LOOP;
END $d$`,
  ];
}

function literal(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * Wraps an upsert (a data-modifying statement without RETURNING) so that the rows it actually
 * writes — the order guard may skip older ones — get their audit records in the same statement,
 * appended as one block per chain. The audit input follows the upsert's bindings:
 *
 * - the batch's decision contexts: ids, texts;
 * - one array per key column, then the key texts (`text[]`), the decision ids (one text, a line
 *   each): one entry per upserted row, in audit order — grouped by chain (chains in name order),
 *   by position within a chain;
 * - the records (bytea: UTF-8, a record per line, in that order), each record's end offset
 *   (`int[]`) and their sha256 (bytea, 32 bytes each);
 * - the chains (`text[]`) and where each one's rows end (`int[]`, exclusive).
 *
 * When the upsert writes every row (the usual case), each chain's block is a slice of those
 * inputs: one `substring` of the records and of the hashes, no record handled one by one. When
 * the order guard skipped rows, the written ones are found by their key columns and their records
 * cut out one by one; that path only runs then (its gating condition is a one-time filter).
 */
export function withAudit(
  o: AuditObjects,
  upsertSql: string,
  keyColumns: readonly { name: string; cast: string }[],
): { sql: string } {
  const q = quoteIdent;
  const returning = keyColumns.map((k) => q(k.name)).join(', ');
  const keyCols = keyColumns.map((_, i) => `k${i}`);
  const match = keyColumns.map((k, i) => `a.k${i} = w.${q(k.name)}`).join(' AND ');
  // The upsert may already start with its own WITH (tombstones): append ours to that list.
  const body = upsertSql.startsWith('WITH ') ? upsertSql.slice(5) : undefined;
  const written = `written AS (${body === undefined ? upsertSql : lastStatement(body)} RETURNING ${returning})`;
  const ctes = body === undefined ? written : `${leadingCtes(body)}, ${written}`;
  // The batch's decision contexts, stored once (a data-modifying CTE runs whether read or not).
  const contexts = `ctx AS (INSERT INTO ${o.contexts} (id, context) SELECT * FROM unnest(?::text[], ?::text[]) ON CONFLICT (id) DO NOTHING)`;
  const keyInput = `a AS (SELECT * FROM unnest(${keyColumns.map((k) => `?::${k.cast}[]`).join(', ')}) WITH ORDINALITY AS a(${keyCols.join(', ')}, j))`;
  const input =
    "p AS (SELECT ?::text[] AS keys, string_to_array(?::text, E'\\n')::uuid[] AS ids, ?::bytea AS recs, " +
    '?::int[] AS ends, ?::bytea AS hashes, ?::text[] AS chains, ?::int[] AS group_ends)';
  const n = 'n AS (SELECT count(*)::int AS written FROM written)';
  // Rows lo+1 … hi of the input are chain `chain`'s.
  const groups =
    'g AS (SELECT c.chain, coalesce(p.group_ends[c.i - 1], 0) AS lo, p.group_ends[c.i] AS hi ' +
    'FROM p CROSS JOIN LATERAL unnest(p.chains) WITH ORDINALITY AS c(chain, i))';
  // The input's columns as uncorrelated scalar subqueries: each is evaluated once (an InitPlan)
  // and read per row as a parameter. Joining `p` to the rows instead would copy its whole bytes
  // into every joined row (and, past work_mem, to temp files).
  const P = (column: string) => `(SELECT ${column} FROM p)`;
  // Where row j's record starts in the records (0-based; records are separated by one newline byte).
  const startOf = (j: string) => `CASE WHEN ${j} = 1 THEN 0 ELSE ${P('ends')}[${j} - 1] + 1 END`;
  const recordsOf = (from: string, to: string) =>
    `substring(${P('recs')} FROM ${startOf(from)} + 1 FOR ${P('ends')}[${to}] - ${startOf(from)})`;
  const fast =
    `fast AS (SELECT g.chain, ${P('keys')}[g.lo + 1 : g.hi] AS keys, ${P('ids')}[g.lo + 1 : g.hi] AS ids, ` +
    `${recordsOf('g.lo + 1', 'g.hi')} AS recs, substring(${P('hashes')} FROM g.lo * 32 + 1 FOR (g.hi - g.lo) * 32) AS hashes ` +
    `FROM g WHERE (SELECT written FROM n) = cardinality(${P('keys')}))`;
  // The written rows' pieces, cut out before they are grouped (materialised: the rows carried
  // into the grouping's sort hold these small values).
  const cut =
    `cut AS MATERIALIZED (SELECT s.j, k.key, ${P('ids')}[s.j] AS id, ${recordsOf('s.j', 's.j')} AS rec, ` +
    `substring(${P('hashes')} FROM (s.j - 1) * 32 + 1 FOR 32) AS hash ` +
    `FROM (SELECT a.j::int AS j FROM a JOIN written AS w ON ${match} WHERE (SELECT written FROM n) < cardinality(${P('keys')})) AS s ` +
    // The key texts by unnesting, not `keys[j]`: subscripting an array of text walks it from the start.
    `JOIN unnest(${P('keys')}) WITH ORDINALITY AS k(key, j) ON k.j = s.j)`;
  const slow =
    'slow AS (SELECT g.chain, array_agg(c.key ORDER BY c.j) AS keys, array_agg(c.id ORDER BY c.j) AS ids, ' +
    "string_agg(c.rec, '\\x0a'::bytea ORDER BY c.j) AS recs, string_agg(c.hash, ''::bytea ORDER BY c.j) AS hashes " +
    'FROM cut AS c JOIN g ON c.j > g.lo AND c.j <= g.hi GROUP BY g.chain)';
  // Chains appended in name order, so that concurrent writers lock heads in one order and never deadlock.
  const sql =
    `WITH ${ctes}, ${contexts}, ${keyInput}, ${input}, ${n}, ${groups}, ${fast}, ${cut}, ${slow} ` +
    `SELECT coalesce((SELECT sum(${o.appendFn}(b.chain, 'decision', b.keys, b.ids, b.recs, b.hashes)) ` +
    'FROM (SELECT * FROM fast UNION ALL SELECT * FROM slow ORDER BY chain) AS b), 0) AS audited, ' +
    '(SELECT written FROM n) AS written';
  return { sql };
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

/**
 * `CREATE OR REPLACE VIEW name AS body`, run only when the view is missing or its comment does
 * not name this body's sha256 (then it is commented so).
 */
function replaceViewDdl(name: string, body: string): string {
  const marker = `streamscore audit view ${hash('sha256', body, 'hex').slice(0, 16)}`;
  return `DO $d$ BEGIN
  IF coalesce(obj_description(to_regclass(${literal(name)}), 'pg_class'), '') <> ${literal(marker)} THEN
    EXECUTE ${literal(`CREATE OR REPLACE VIEW ${name} AS\n${body}`)};
    EXECUTE ${literal(`COMMENT ON VIEW ${name} IS ${literal(marker)}`)};
  END IF;
END $d$`;
}
