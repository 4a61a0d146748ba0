import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineError } from '../../../workers/core/errors.js';
import { exactKeyText } from '../../../workers/core/int64.js';
import { Secret } from '../../../workers/core/secret.js';
import {
  defaultShadowTable,
  parseShadowTableName,
  shadowSettingsOf,
} from '../../../workers/shadow/config.js';
import { type ShadowPairBatch, shadowInsert, shadowTableSql } from '../../../workers/shadow/table.js';

const compare = { score: 'p', label: 'label', threshold: 0.5 };

function batch(n: number, over: Partial<ShadowPairBatch> = {}): ShadowPairBatch {
  return {
    pipeline: 'churn',
    champion: { name: 'churn', version: '1', sha256: 'aa', ms: 2.5 },
    shadow: { name: 'churn', version: '2', ms: 3.25 },
    scoredAt: new Date('2026-03-10T12:00:00.123Z'),
    keys: Array.from({ length: n }, (_, i) => i),
    positions: Array.from({ length: n }, (_, i) => String(1000 + i)),
    fields: ['p', 'label'],
    championColumns: { p: new Float32Array(n).fill(0.1), label: new Array(n).fill(1) },
    shadowColumns: { p: new Float32Array(n).fill(0.7), label: new Array(n).fill(0) },
    ...over,
  };
}

describe('comparison table SQL', () => {
  it('quotes the table, creates schema, table, pair constraint and index if missing', () => {
    const { quoted, ddl } = shadowTableSql('ml.churn_scoring__shadow');
    assert.equal(quoted, '"ml"."churn_scoring__shadow"');
    assert.equal(ddl[0], 'CREATE SCHEMA IF NOT EXISTS "ml"');
    assert.match(ddl[1]!, /^CREATE TABLE IF NOT EXISTS "ml"."churn_scoring__shadow" \(/);
    assert.match(
      ddl[1]!,
      /CONSTRAINT "churn_scoring__shadow__pair" UNIQUE \("key", "position", "champion_version", "shadow_version"\)/,
    );
    assert.match(ddl[1]!, /"champion_score" double precision,/);
    assert.match(ddl[1]!, /"written_at" timestamptz NOT NULL DEFAULT now\(\)/);
    assert.match(
      ddl[2]!,
      /^CREATE INDEX IF NOT EXISTS "churn_scoring__shadow__scored_at_brin" ON .* USING brin \("scored_at"\)$/,
    );
    assert.equal(shadowTableSql('pairs').ddl.length, 2);
  });

  it('refuses a table name that is not schema.table of identifiers', () => {
    for (const bad of ['a.b.c', 'ml.x"; drop table y; --', 'ml.', '1ml.x', 'ml.x y', '']) {
      assert.throws(
        () => shadowTableSql(bad),
        (e: unknown) => PipelineError.is(e) && e.code === 'SHADOW_TABLE_INVALID',
        bad,
      );
    }
    assert.deepEqual(parseShadowTableName('ml.x'), { schema: 'ml', table: 'x' });
  });

  it('names the default table after the pipeline, within 63 characters', () => {
    assert.equal(defaultShadowTable('churn-scoring'), 'ml.churn_scoring__shadow');
    const long = defaultShadowTable('x'.repeat(80));
    assert.ok(long.length <= 'ml.'.length + 63);
    assert.match(long, /__shadow$/);
    assert.doesNotThrow(() => parseShadowTableName(long));
  });
});

describe('exactKeyText', () => {
  it('writes keys exactly: bigint digits, strings as they are, composite keys as JSON', () => {
    assert.equal(exactKeyText(42), '42');
    assert.equal(exactKeyText(9007199254740993n), '9007199254740993');
    assert.equal(exactKeyText(-9223372036854775808n), '-9223372036854775808');
    assert.equal(exactKeyText('c-17'), 'c-17');
    assert.equal(
      exactKeyText({ region: 'eu', id: 9007199254740993n }),
      '{"region":"eu","id":"9007199254740993"}',
    );
  });
});

describe('shadowInsert', () => {
  it('is one INSERT … ON CONFLICT DO NOTHING with the same parameters whatever the batch size', () => {
    const small = shadowInsert('"ml"."s"', compare, batch(2));
    const large = shadowInsert('"ml"."s"', compare, batch(5000));
    assert.equal(small.sql, large.sql);
    assert.equal(small.bindings.length, large.bindings.length);
    assert.match(
      small.sql,
      /^INSERT INTO "ml"."s" .* FROM unnest\(.*\) .*ON CONFLICT \("key", "position", "champion_version", "shadow_version"\) DO NOTHING$/,
    );
    assert.equal((small.sql.match(/\?/g) ?? []).length, small.bindings.length);
  });

  it('binds float32 scores widened exactly, labels and outputs as exact text', () => {
    const f32 = Float32Array.of(0.1, 0.7);
    const st = shadowInsert(
      '"s"',
      compare,
      batch(2, {
        keys: [9007199254740993n, 7],
        fields: ['p', 'label', 'rank'],
        championColumns: { p: f32, label: [9007199254740993n, 3], rank: [9007199254740995n, f32[1]] },
        shadowColumns: {
          p: Float64Array.of(0.25, Number.NaN),
          label: ['a', null] as unknown as string[],
          rank: [1, null] as unknown as number[],
        },
      }),
    );
    const [cv, sv, csha, ssha, cms, sms, at, keys, positions, cScore, sScore, cLabel, sLabel, cOut, sOut] =
      st.bindings;
    assert.deepEqual(
      [cv, sv, csha, ssha, cms, sms, at],
      ['1', '2', 'aa', null, 2.5, 3.25, '2026-03-10T12:00:00.123Z'],
    );
    assert.deepEqual(keys, ['9007199254740993', '7']);
    assert.deepEqual(positions, ['1000', '1001']);
    // The float32 0.1 is 0.100000001490116…, not the double 0.1.
    assert.deepEqual(cScore, [f32[0], f32[1]]);
    assert.notEqual((cScore as number[])[0], 0.1);
    assert.equal(String((cScore as number[])[0]), '0.10000000149011612');
    assert.deepEqual(sScore, [0.25, Number.NaN]);
    assert.deepEqual(cLabel, ['9007199254740993', '3']);
    assert.deepEqual(sLabel, ['a', null]);
    // The outputs beyond the compared score and label: exact bigint digits, float32 widened.
    assert.deepEqual(cOut, ['{"rank":"9007199254740995"}', '{"rank":0.699999988079071}']);
    assert.deepEqual(sOut, ['{"rank":1}', '{"rank":null}']);
  });

  it('keeps no outputs when every field is compared (score and label)', () => {
    const st = shadowInsert('"s"', compare, batch(2));
    assert.deepEqual(st.bindings.slice(13), [
      [null, null],
      [null, null],
    ]);
  });

  it('leaves labels NULL without compare.label', () => {
    const st = shadowInsert('"s"', { score: 'p', threshold: 0.5 }, batch(1));
    assert.deepEqual([st.bindings[11], st.bindings[12]], [[null], [null]]);
  });

  it('refuses a batch whose columns do not line up, or without the compared fields', () => {
    const invalid = (e: unknown) => PipelineError.is(e) && e.code === 'SHADOW_BATCH_INVALID';
    assert.throws(() => shadowInsert('"s"', compare, batch(2, { positions: ['1'] })), invalid);
    assert.throws(
      () => shadowInsert('"s"', compare, batch(2, { shadowColumns: { label: [0, 0] } })),
      (e: unknown) => invalid(e) && /shadow's outputs have no field 'p'/.test((e as Error).message),
    );
    assert.throws(
      () =>
        shadowInsert(
          '"s"',
          compare,
          batch(2, { championColumns: { p: new Float32Array(3), label: [1, 1] } }),
        ),
      /champion column 'p' has 3 values for 2 keys/,
    );
  });
});

describe('shadowSettingsOf', () => {
  const doc = (
    shadow: unknown,
    sinks: unknown[] = [{ postgres: { url: 'postgres://h/db', table: 'ml.t' } }],
  ) => ({
    metadata: { name: 'churn-scoring' },
    spec: { model: { name: 'churn', shadow }, sinks },
  });

  it('reads compare, limits (with the schema defaults), table and the first postgres sink url', () => {
    const s = shadowSettingsOf(doc({ alias: 'challenger', compare: { score: 'churn_probability' } }));
    assert.deepEqual(s, {
      compare: { score: 'churn_probability', label: undefined, threshold: 0.5 },
      table: 'ml.churn_scoring__shadow',
      url: 'postgres://h/db',
      limits: { max_flip_rate: 0.02, min_samples: 1000 },
    });
  });

  it('prefers postgres_url and table; accepts a Secret url (a parsed pipeline)', () => {
    const s = shadowSettingsOf(
      doc(
        {
          compare: { score: 's', label: 'l', threshold: 0.3 },
          table: 'audit.pairs',
          postgres_url: 'postgres://other/db',
          limits: { max_flip_rate: 0.05, min_samples: 10, max_abs_delta_p95: 0.1 },
        },
        [{ kafka: {} }, { postgres: { url: new Secret('postgres://secret/db') } }],
      ),
    );
    assert.equal(s?.url, 'postgres://other/db');
    assert.equal(s?.table, 'audit.pairs');
    assert.deepEqual(s?.limits, { max_flip_rate: 0.05, min_samples: 10, max_abs_delta_p95: 0.1 });
    const fromSecret = shadowSettingsOf(
      doc({ compare: { score: 's' } }, [
        { kafka: {} },
        { postgres: { url: new Secret('postgres://secret/db') } },
      ]),
    );
    assert.equal(fromSecret?.url, 'postgres://secret/db');
    assert.equal(shadowSettingsOf(doc({ compare: { score: 's' } }, [{ kafka: {} }]))?.url, undefined);
  });

  it('is undefined without a shadow, and a SHADOW_CONFIG_INVALID error for a malformed one', () => {
    assert.equal(shadowSettingsOf(doc(undefined)), undefined);
    assert.equal(shadowSettingsOf({}), undefined);
    assert.throws(
      () => shadowSettingsOf(doc({ alias: 'challenger' })),
      (e: unknown) =>
        PipelineError.is(e) &&
        e.code === 'SHADOW_CONFIG_INVALID' &&
        /spec\.model\.shadow\.compare/.test(e.message),
    );
    assert.throws(
      () => shadowSettingsOf(doc({ compare: { score: 's' }, table: 'a.b.c' })),
      /shadow table 'a.b.c'/,
    );
  });
});
