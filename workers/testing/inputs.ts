import { dirname, resolve } from 'node:path';
import type { RawMessage } from '../core/types.js';
import { type InputColumn, InputError, InputReader } from '../scoring/input.js';
import type { Problem } from '../spec/problems.js';
import { formatPath } from '../spec/problems.js';
import { type Fixture, messageOf, readFixture, stringifyExact } from './fixture.js';
import type { TestCase, TestFile } from './test-file.js';
import type { LoadedYaml } from './yaml-doc.js';

/** One Kafka message a case feeds the pipeline, and where it came from (for reports). */
export interface CaseEvent {
  caseIndex: number;
  /** Index of the event in its fixture, or 0. */
  eventIndex: number;
  encoding: 'json' | 'avro';
  message: RawMessage;
}

export interface InputContext {
  test: LoadedYaml<TestFile>;
  /** Topic of inline events (the pipeline's first). */
  topic: string;
  /** Parsed `features.input_schema`, when the pipeline has one. */
  inputSchema: unknown;
  /** Row columns the key expression reads (`after.x`): a row's default message key. */
  keyColumns: readonly string[];
  /** `spec.decode` type: debezium envelopes, or plain json records. */
  decoder: 'debezium' | 'json' | 'avro';
}

const DAY_MS = 86_400_000;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** ms since the epoch of an ISO-8601 timestamp with a zone, or undefined. */
function isoMs(s: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(s)) return undefined;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * Friendly forms a test may use for a column, turned into what Debezium's JsonConverter writes:
 * `YYYY-MM-DD` for a date (days since the epoch), ISO-8601 text for Timestamp (ms),
 * MicroTimestamp (µs) and NanoTimestamp (ns). Other values are left as written.
 */
function debeziumForm(col: InputColumn, v: unknown): unknown {
  if (typeof v !== 'string') return v;
  switch (col.schema.name) {
    case 'io.debezium.time.Date':
    case 'org.apache.kafka.connect.data.Date':
      return ISO_DATE.test(v) && !Number.isNaN(Date.parse(v)) ? Date.parse(v) / DAY_MS : v;
    case 'io.debezium.time.Timestamp':
    case 'org.apache.kafka.connect.data.Timestamp': {
      const ms = isoMs(v);
      return ms === undefined ? v : ms;
    }
    case 'io.debezium.time.MicroTimestamp': {
      const ms = isoMs(v);
      return ms === undefined ? v : ms * 1000;
    }
    case 'io.debezium.time.NanoTimestamp': {
      const ms = isoMs(v);
      return ms === undefined ? v : BigInt(ms) * 1_000_000n;
    }
    default:
      return v;
  }
}

/** Thrown with the problem's position; collected by `caseEvents`. */
class CaseProblem extends Error {
  constructor(
    readonly path: (string | number)[],
    message: string,
    readonly code = 'invalid_input',
  ) {
    super(message);
  }
}

/** Messages of every case, in order, with a problem (file:line:col) for each case that cannot be built. */
export function caseEvents(ctx: InputContext): {
  events: CaseEvent[];
  problems: Problem[];
  schemas: Map<number, string>;
} {
  const test = ctx.test.value!;
  const events: CaseEvent[] = [];
  const problems: Problem[] = [];
  const schemas = new Map<number, string>();
  const reader = ctx.inputSchema === undefined ? undefined : new InputReader(ctx.inputSchema);
  const baseDir = dirname(resolve(ctx.test.file));
  test.cases.forEach((c, i) => {
    try {
      if (c.fixture !== undefined) {
        fixtureEvents(resolve(baseDir, c.fixture), c, i, events, schemas);
      } else {
        const message = inlineMessage(ctx, reader, c, i, test, String(events.length));
        events.push({ caseIndex: i, eventIndex: 0, encoding: 'json', message });
      }
    } catch (err) {
      if (!(err instanceof CaseProblem)) throw err;
      const pos = ctx.test.locate.at(err.path);
      problems.push({
        file: ctx.test.file,
        ...pos,
        path: formatPath(err.path),
        code: err.code,
        message: err.message,
      });
    }
  });
  return { events, problems, schemas };
}

function fixtureEvents(
  file: string,
  c: TestCase,
  i: number,
  out: CaseEvent[],
  schemas: Map<number, string>,
): void {
  let fixture: Fixture;
  try {
    fixture = readFixture(file);
  } catch (err) {
    throw new CaseProblem(['cases', i, 'fixture'], (err as Error).message, 'bad_fixture');
  }
  for (const [id, text] of Object.entries(fixture.schemas)) schemas.set(Number(id), text);
  const picked = c.events ?? fixture.events.map((_, j) => j);
  picked.forEach((j, k) => {
    const e = fixture.events[j];
    if (e === undefined) {
      throw new CaseProblem(
        ['cases', i, 'events', k],
        `expected an event index below ${fixture.events.length} (the fixture's events), got ${j}`,
      );
    }
    out.push({
      caseIndex: i,
      eventIndex: j,
      encoding: e.encoding,
      message: messageOf(fixture, e, String(out.length)),
    });
  });
}

function sourceTsMs(c: TestCase, i: number, test: TestFile): number {
  const ts = c.source_ts ?? test.source_ts;
  const path = c.source_ts !== undefined ? ['cases', i, 'source_ts'] : ['source_ts'];
  if (ts === undefined) {
    throw new CaseProblem(
      ['cases', i, 'row'],
      'a row case needs source_ts (the commit time features read as source.ts_ms): set it on the case or at the top of the file',
      'missing_source_ts',
    );
  }
  if (typeof ts === 'number') return ts;
  const ms = ts instanceof Date ? ts.getTime() : isoMs(ts);
  if (ms === undefined || Number.isNaN(ms)) {
    throw new CaseProblem(
      path,
      `expected an ISO-8601 timestamp with a zone (2025-01-15T10:00:00Z) or epoch ms, got '${String(ts)}'`,
    );
  }
  return ms;
}

/** The row in Debezium JSON forms, checked against the input schema (every column, right types). */
function checkedRow(
  reader: InputReader | undefined,
  row: Record<string, unknown>,
  path: (string | number)[],
): Record<string, unknown> {
  if (reader === undefined) return row;
  const out: Record<string, unknown> = { ...row };
  for (const col of reader.columns)
    if (Object.hasOwn(out, col.name)) out[col.name] = debeziumForm(col, out[col.name]);
  try {
    reader.read({ after: structuredClone(out) }, '');
  } catch (err) {
    if (!InputError.is(err)) throw err;
    // `.after.col…`: the column under the case's row.
    const rest = err.path.replace(/^\.after\.?/, '');
    const segs = rest === '' ? [] : rest.split('.').map((s) => s.replace(/\[.*$/, ''));
    throw new CaseProblem([...path, ...segs], err.detail);
  }
  return out;
}

function inlineMessage(
  ctx: InputContext,
  reader: InputReader | undefined,
  c: TestCase,
  i: number,
  test: TestFile,
  offset: string,
): RawMessage {
  let value: Record<string, unknown>;
  let keyRow: Record<string, unknown> | undefined;
  let ts: number;
  if (c.row !== undefined) {
    const row = checkedRow(reader, c.row, ['cases', i, 'row']);
    keyRow = row;
    ts = sourceTsMs(c, i, test);
    if (ctx.decoder !== 'debezium') value = row;
    else {
      const op = c.op ?? 'c';
      value = {
        before: op === 'd' ? row : null,
        after: op === 'd' ? null : row,
        source: { connector: 'streamscore-test', name: 'streamscore-test', ts_ms: ts, lsn: Number(offset) },
        op,
        ts_ms: ts,
      };
    }
  } else {
    if (ctx.decoder !== 'debezium') {
      throw new CaseProblem(
        ['cases', i, 'envelope'],
        `envelope cases need a debezium decoder; this pipeline decodes ${ctx.decoder}: give a row`,
      );
    }
    value = { ...c.envelope! };
    for (const side of ['before', 'after'] as const) {
      const r = value[side];
      if (r !== null && r !== undefined) {
        if (typeof r !== 'object' || Array.isArray(r)) {
          throw new CaseProblem(
            ['cases', i, 'envelope', side],
            `expected the row's columns (a map) or null, got ${typeof r}`,
          );
        }
        value[side] = checkedRow(reader, r as Record<string, unknown>, ['cases', i, 'envelope', side]);
      }
    }
    keyRow = (value['after'] ?? value['before'] ?? undefined) as Record<string, unknown> | undefined;
    const source = value['source'] as { ts_ms?: unknown } | undefined;
    ts = typeof source?.ts_ms === 'number' ? source.ts_ms : 0;
  }
  if (ctx.decoder === 'avro') {
    throw new CaseProblem(
      ['cases', i],
      'this pipeline decodes plain Avro: only captured fixtures can be replayed offline',
    );
  }
  const key =
    c.key !== undefined
      ? c.key
      : keyRow !== undefined && ctx.keyColumns.length > 0 && ctx.decoder === 'debezium'
        ? Object.fromEntries(ctx.keyColumns.map((k) => [k, keyRow![k] ?? null]))
        : null;
  return {
    topic: ctx.topic,
    partition: 0,
    offset,
    key: key === null ? null : Buffer.from(stringifyExact(key)),
    value: Buffer.from(stringifyExact(value)),
    headers: {},
    timestamp: String(ts),
  };
}
