import type { FieldType } from '../core/types.js';
import { stringifyExact } from './fixture.js';
import type { Outcome } from './offline.js';
import type { Expectation, Tolerance } from './test-file.js';

/** One difference between what a case expects and what the pipeline did. */
export interface Mismatch {
  /** `feature tenure_months`, `output churn_probability`, `key`, `outcome`. */
  what: string;
  expected: string;
  got: string;
}

const text = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : stringifyExact(v));

function describeOutcome(o: Outcome): string {
  switch (o.kind) {
    case 'scored':
      return 'scored';
    case 'dead_letter':
      return `dead-lettered ${o.code}: ${o.reason}`;
    case 'deleted':
      return `deleted (key ${text(o.key)})`;
    case 'skipped':
      return 'skipped (nothing written)';
  }
}

function expectedKind(e: Expectation): Outcome['kind'] {
  if (e.dead_letter !== undefined) return 'dead_letter';
  if (e.deleted !== undefined) return 'deleted';
  if (e.skipped !== undefined) return 'skipped';
  return 'scored';
}

function sameValue(expected: unknown, got: unknown): boolean {
  if (typeof expected === 'number' && (typeof got === 'number' || typeof got === 'bigint')) {
    const g = Number(got);
    return g === expected || g === Math.fround(expected);
  }
  if (typeof expected === 'boolean' && typeof got === 'number') return got === (expected ? 1 : 0);
  return text(expected) === text(got);
}

function within(t: Tolerance, got: unknown): boolean {
  if (typeof got !== 'number' && typeof got !== 'bigint') return false;
  const diff = Math.abs(Number(got) - t.value);
  return diff <= (t.abs ?? 0) + (t.rel ?? 0) * Math.abs(t.value);
}

function toleranceText(t: Tolerance): string {
  const parts = [t.abs === undefined ? '' : `abs ${t.abs}`, t.rel === undefined ? '' : `rel ${t.rel}`].filter(
    Boolean,
  );
  return `${t.value} ± (${parts.join(', ')})`;
}

/** Every way `got` differs from `e`; empty when the case passes. Features compare as float32. */
export function compareOutcome(e: Expectation, got: Outcome): Mismatch[] {
  const kind = expectedKind(e);
  if (kind !== got.kind) {
    const want =
      kind === 'dead_letter'
        ? `dead-lettered${typeof e.dead_letter === 'string' ? ` ${e.dead_letter}` : ''}`
        : kind === 'skipped'
          ? 'skipped'
          : kind;
    return [{ what: 'outcome', expected: want, got: describeOutcome(got) }];
  }
  const out: Mismatch[] = [];
  if (got.kind === 'dead_letter') {
    const d = typeof e.dead_letter === 'string' ? { code: e.dead_letter } : e.dead_letter!;
    if (d.code !== undefined && d.code !== got.code)
      out.push({ what: 'dead-letter code', expected: d.code, got: got.code });
    if (d.reason !== undefined && !got.reason.includes(d.reason)) {
      out.push({
        what: 'dead-letter reason',
        expected: `containing ${JSON.stringify(d.reason)}`,
        got: JSON.stringify(got.reason),
      });
    }
    return out;
  }
  if (
    (got.kind === 'scored' || got.kind === 'deleted') &&
    e.key !== undefined &&
    !sameValue(e.key, got.key)
  ) {
    out.push({ what: 'key', expected: text(e.key), got: text(got.key) });
  }
  if (got.kind !== 'scored') return out;
  /** An expected name the pipeline does not have: a mismatch naming what it has. */
  const unknown = (kind: 'feature' | 'output', name: string, want: unknown, has: object): boolean => {
    if (Object.hasOwn(has, name)) return false;
    const names = Object.keys(has).join(', ');
    out.push({
      what: `${kind} ${name}`,
      expected: text(want),
      got: `no such ${kind} (the pipeline has ${names})`,
    });
    return true;
  };
  for (const [name, want] of Object.entries(e.features ?? {})) {
    if (unknown('feature', name, want, got.features)) continue;
    if (!sameValue(want, got.features[name])) {
      out.push({ what: `feature ${name}`, expected: text(want), got: text(got.features[name]) });
    }
  }
  for (const [name, want] of Object.entries(e.outputs ?? {})) {
    if (unknown('output', name, want, got.outputs)) continue;
    const g = got.outputs[name];
    const tol = typeof want === 'object' ? want : undefined;
    const ok = tol !== undefined ? within(tol, g) : sameValue(want, g);
    if (!ok) {
      const diff = tol !== undefined && typeof g === 'number' ? ` (off by ${Math.abs(g - tol.value)})` : '';
      out.push({
        what: `output ${name}`,
        expected: tol ? toleranceText(tol) : text(want),
        got: `${text(g)}${diff}`,
      });
    }
  }
  return out;
}

/** Absolute tolerance `--update` gives float outputs (ONNX kernels may differ in the last bits across CPUs). */
export const SNAPSHOT_ABS = 1e-6;

/** The expectation `--update` records for an outcome: every feature exact, float outputs within SNAPSHOT_ABS. */
export function snapshotOf(got: Outcome, outputTypes: ReadonlyMap<string, FieldType>): Expectation {
  switch (got.kind) {
    case 'dead_letter':
      return { dead_letter: { code: got.code } };
    case 'deleted':
      return { deleted: true, key: got.key };
    case 'skipped':
      return { skipped: true };
    case 'scored': {
      const outputs: Expectation['outputs'] = {};
      for (const [name, v] of Object.entries(got.outputs)) {
        const value = typeof v === 'bigint' ? Number(v) : v;
        outputs[name] =
          outputTypes.get(name) === 'float' && typeof value === 'number'
            ? { value, abs: SNAPSHOT_ABS }
            : (value as number | string | boolean);
      }
      return { key: got.key, features: { ...got.features }, outputs };
    }
  }
}
