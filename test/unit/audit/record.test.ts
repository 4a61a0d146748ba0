import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type AuditContext,
  auditLayout,
  auditRecord,
  decisionContext,
  type HashCache,
  hashedValue,
} from '../../../workers/audit/record.js';
import type { PredictionRow } from '../../../workers/core/types.js';

const ctx: AuditContext = {
  pipeline: 'p',
  pipelineSha256: '0'.repeat(64),
  worker: 'w',
  policies: { seats: 'full', note: 'omit' },
  defaultPolicy: 'hash',
  hashKey: 'unit-test-hash-key-0123',
};
const fields = ['score', 'feature.plan', 'feature.spend', 'feature.seats', 'feature.note'];

function rows(n: number, salt: number): PredictionRow[] {
  const at = new Date(1_765_000_000_000 + salt);
  return Array.from({ length: n }, (_, i) => ({
    key: i,
    op: 'u' as const,
    values: [0.5, i % 3, (i * salt) % 7919, i, 'secret'],
    position: BigInt(i + 1),
    scoredAt: at,
    sourceTsMs: 1_765_000_000_000 + (i >> 2),
  }));
}

test('records built with the sink’s hash cache equal records built without, across batches, cache resets and features dropped from it', () => {
  const cache: HashCache = new Map();
  const c = decisionContext(ctx, { name: 'm', version: '1' }, undefined);
  for (const salt of [1, 2, 3]) {
    // 5,000 rows: the spend feature's distinct values pass the cache's size, which then restarts.
    const batch = rows(5000, salt);
    const cached = auditLayout(ctx, fields, cache);
    const plain = auditLayout(ctx, fields);
    for (const [i, r] of batch.entries()) {
      const a = auditRecord(ctx, cached, r, c, `id-${i}`);
      const b = auditRecord(ctx, plain, r, c, `id-${i}`);
      assert.equal(a, b);
      const rec = JSON.parse(a) as { features: Record<string, unknown>; event_at: string; scored_at: string };
      assert.deepEqual(rec.features, {
        plan: hashedValue(r.values[1], ctx.hashKey!),
        spend: hashedValue(r.values[2], ctx.hashKey!),
        seats: r.values[3],
      });
      assert.equal(rec.event_at, new Date(r.sourceTsMs).toISOString());
      assert.equal(rec.scored_at, r.scoredAt.toISOString());
    }
  }
  const one = JSON.parse(auditRecord(ctx, auditLayout(ctx, fields, cache), rows(2, 9)[1]!, c, 'x')) as {
    features: Record<string, unknown>;
    event_at: string;
    scored_at: string;
  };
  assert.deepEqual(one.features, {
    plan: hashedValue(1, ctx.hashKey!),
    spend: hashedValue(9, ctx.hashKey!),
    seats: 1,
  });
  assert.equal(one.event_at, new Date(1_765_000_000_000).toISOString());
  assert.equal(one.scored_at, new Date(1_765_000_000_009).toISOString());
  // Per feature: the same value under two features is looked up in each feature's own map.
  assert.ok((cache.get('plan')?.values.size ?? 0) <= 3);
  // A feature whose values rarely repeat (spend: thousands of distinct values) is no longer kept
  // after a whole fill of the cache; one with few values (plan) is.
  assert.equal(cache.get('plan')?.keep, true);
  assert.equal(cache.get('spend')?.keep, false);
  assert.equal(cache.get('spend')?.values.size, 0);
  assert.equal(cache.has('seats'), false, 'full-policy features are not cached');
});

test('a record is ASCII text whatever its names and values hold, and parses back to the same values', () => {
  const c = decisionContext(ctx, { name: 'm', version: '1' }, undefined);
  const names = ['score', 'feature.città', 'feature.seats', 'feature.plan'];
  const layout = auditLayout({ ...ctx, policies: { città: 'full', seats: 'full' } }, names);
  const row: PredictionRow = {
    key: 'Zoë 😀',
    op: 'u',
    values: [0.25, 'naïve\u2028 «x»', 12345678901234567890n, 'pro'],
    position: 7n,
    scoredAt: new Date(0),
    sourceTsMs: 0,
    origin: { topic: 'crm.clientèle', partition: 2, offset: '41' },
  };
  const text = auditRecord(ctx, layout, row, c, 'id-1');
  assert.doesNotMatch(text, /[^ -~]/, 'only ASCII: the block copies it in byte for byte');
  const rec = JSON.parse(text) as {
    key: unknown;
    features: Record<string, unknown>;
    source: { topic: unknown };
  };
  assert.equal(rec.key, 'Zoë 😀');
  assert.equal(rec.source.topic, 'crm.clientèle');
  assert.deepEqual(rec.features, {
    città: 'naïve\u2028 «x»',
    seats: '12345678901234567890',
    plan: hashedValue('pro', ctx.hashKey!),
  });
});
