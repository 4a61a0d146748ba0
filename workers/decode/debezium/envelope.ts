import { makePosition } from '../../core/position.js';
import type { ChangeRecord, Op, RawMessage } from '../../core/types.js';
import { decodeError } from '../failure.js';
import { originOf, type RecordResult } from '../payload.js';
import { type DecodeState, type Placeholder, UNAVAILABLE } from '../unavailable.js';
import type { ClockStepWatch } from './clock-steps.js';
import type { DebeziumDecoderConfig } from './config.js';

type Row = Record<string, unknown>;

/** Ops that carry a row to score; Debezium's 't' (truncate) and 'm' (message) carry none. */
const ROW_OPS: Record<string, Op | undefined> = { c: 'c', u: 'u', d: 'd', r: 'r' };

/**
 * Turns a decoded Debezium envelope (logical types already converted) into a ChangeRecord:
 * checks its shape, resolves unavailable (unchanged TOASTed) values by the configured policy,
 * and computes the ordering position from the source block (commit µs, then LSN; with `clock`, a
 * streamed change's time held in its partition's commit order: clock-steps.ts).
 */
export function envelopeToRecord(
  envelope: unknown,
  key: unknown,
  msg: RawMessage,
  state: DecodeState,
  policy: DebeziumDecoderConfig['unavailable_value'],
  clock?: ClockStepWatch,
): RecordResult {
  if (envelope === null) return 'skip';
  if (typeof envelope !== 'object' || Array.isArray(envelope)) {
    return decodeError('DECODE_ENVELOPE', msg, 'expected a Debezium envelope object in the value');
  }
  const env = envelope as Row;
  const rawOp = env['op'];
  if (typeof rawOp !== 'string') {
    return decodeError('DECODE_ENVELOPE', msg, 'the Debezium envelope has no `op` (expected c, u, d or r)', {
      context: { fields: Object.keys(env).slice(0, 20) },
    });
  }
  const op = ROW_OPS[rawOp];
  if (op === undefined) {
    if (rawOp === 't' || rawOp === 'm') return 'skip';
    return decodeError(
      'DECODE_ENVELOPE',
      msg,
      `unknown Debezium op ${JSON.stringify(rawOp)} (expected c, u, d or r)`,
    );
  }
  const after = env['after'];
  if (op !== 'd' && (typeof after !== 'object' || after === null)) {
    return decodeError('DECODE_ENVELOPE', msg, `the Debezium envelope of op '${op}' has no \`after\` row`);
  }
  const source = env['source'];
  if (typeof source !== 'object' || source === null) {
    return decodeError('DECODE_ENVELOPE', msg, 'the Debezium envelope has no `source` block');
  }
  const src = source as Row;
  const before = (env['before'] ?? null) as Row | null;
  let pending: string[] | undefined;
  if (state.unavailable && policy === 'lookup') {
    pending = unavailableColumns(before, (after ?? null) as Row | null);
  } else if (state.unavailable) {
    const rejected = resolveUnavailable(before, (after ?? null) as Row | null, policy);
    if (rejected !== undefined) {
      return decodeError(
        'DECODE_UNAVAILABLE_VALUE',
        msg,
        `unchanged TOASTed column(s) ${rejected.join(', ')} arrived as Debezium's unavailable-value placeholder ` +
          "(unavailable_value: reject; set it to 'before' with REPLICA IDENTITY FULL, or 'null')",
        { context: { columns: rejected } },
      );
    }
  }
  const tsMs = src['ts_ms'];
  const tsUs = src['ts_us'];
  const lsn = src['lsn'];
  if (typeof tsMs !== 'number' || !Number.isSafeInteger(tsMs)) {
    return decodeError('DECODE_ENVELOPE', msg, 'the Debezium source block has no integer `ts_ms`');
  }
  const commitUs = typeof tsUs === 'number' && Number.isSafeInteger(tsUs) ? tsUs : tsMs * 1000;
  // An LSN is a uint64: beyond 2^53 it arrives as a bigint (exact), and still orders the change.
  const tiebreak =
    (typeof lsn === 'number' && Number.isSafeInteger(lsn) && lsn >= 0) ||
    (typeof lsn === 'bigint' && lsn >= 0n)
      ? lsn
      : 0;
  // In a partition's order, a new change's time is no earlier than any before it (clock-steps.ts).
  const positionUs =
    clock !== undefined && op !== 'r' && tiebreak !== 0
      ? clock.observe(msg.topic, msg.partition, msg.offset, src['name'], tiebreak, commitUs)
      : commitUs;
  const record: ChangeRecord = {
    op,
    root: { before, after: after ?? null, source: src, op, ts_ms: env['ts_ms'] ?? null, key },
    position: makePosition(positionUs, tiebreak),
    sourceTsMs: tsMs,
    origin: originOf(msg),
  };
  if (pending !== undefined && pending.length > 0) record.unavailable = pending;
  return record;
}

/** `before`'s markers become null; `after`'s stay, and their columns are returned (lookup policy). */
function unavailableColumns(before: Row | null, after: Row | null): string[] {
  if (before !== null) {
    for (const k in before) if (before[k] === UNAVAILABLE) before[k] = null;
  }
  const out: string[] = [];
  if (after !== null) for (const k in after) if (after[k] === UNAVAILABLE) out.push(k);
  return out;
}

/**
 * Replaces UNAVAILABLE markers: in `after` by the policy, in `before` by null. Returns the
 * affected columns of `after` when the policy rejects.
 */
function resolveUnavailable(
  before: Row | null,
  after: Row | null,
  policy: DebeziumDecoderConfig['unavailable_value'],
): string[] | undefined {
  if (before !== null) {
    for (const k in before) if (before[k] === UNAVAILABLE) before[k] = null;
  }
  if (after === null) return undefined;
  const rejected: string[] = [];
  for (const k in after) {
    if (after[k] !== UNAVAILABLE) continue;
    if (policy === 'reject') rejected.push(k);
    else if (policy === 'before' && before !== null && before[k] !== undefined) after[k] = before[k];
    else after[k] = null;
  }
  return rejected.length > 0 ? rejected : undefined;
}

/**
 * For JSON without schemas (field types unknown): marks top-level values of `before`/`after` that
 * are the placeholder as text, as base64 bytes, or as a one-element array of either.
 */
export function markUnavailable(envelope: unknown, p: Placeholder, state: DecodeState): void {
  if (typeof envelope !== 'object' || envelope === null) return;
  const env = envelope as Row;
  markRow(env['after'], p, state);
  markRow(env['before'], p, state);
}

function markRow(row: unknown, p: Placeholder, state: DecodeState): void {
  if (typeof row !== 'object' || row === null) return;
  const r = row as Row;
  for (const k in r) {
    const v = r[k];
    if (typeof v === 'string') {
      if (v !== p.text && v !== p.base64) continue;
    } else if (!Array.isArray(v) || v.length !== 1 || (v[0] !== p.text && v[0] !== p.base64)) {
      continue;
    }
    r[k] = UNAVAILABLE;
    state.unavailable = true;
  }
}
