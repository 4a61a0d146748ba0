import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import type { WindowReport } from '../../../workers/drift/evaluate.js';
import { driftMetrics } from '../../../workers/drift/metrics.js';
import { createTelemetry } from '../../../workers/observability/telemetry.js';

function report(version: string, alarm: boolean): WindowReport {
  const stat = {
    role: 'feature' as const,
    n: 100,
    m: 100,
    bins: 2,
    statistic: 0.5,
    threshold: 0.1,
    pValue: 0.0001,
    alarm,
    nullRate: 0.25,
    outOfRangeRate: 0.125,
    reference: [0.5, 0.5],
    window: [100, 0],
  };
  return {
    pipeline: 'p',
    model: 'churn',
    version,
    seq: 1,
    startedAt: '',
    endedAt: '',
    closedBy: 'events',
    events: 100,
    fdr: 0.01,
    alarms: alarm ? 1 : 0,
    stats: [{ ...stat, feature: 'plan_basic' }],
  };
}

describe('drift metrics', () => {
  test('the latest window per version, by the agreed names; a left version alarms no more', async () => {
    const t = createTelemetry('test');
    const m = driftMetrics(t.provider.getMeter('test'), 'churn-scoring');
    const text = async () =>
      new PrometheusSerializer().serialize((await t.exporter.collect()).resourceMetrics);
    m.window(report('1', true));
    const before = await text();
    const series = (name: string, version: string) =>
      new RegExp(
        `^${name}\\{pipeline="churn-scoring",model="churn",version="${version}",feature="plan_basic"[^}]*\\} (\\S+)$`,
        'm',
      );
    assert.equal(series('streamscore_feature_drift', '1').exec(before)?.[1], '0.5');
    assert.equal(series('streamscore_feature_drift_threshold', '1').exec(before)?.[1], '0.1');
    assert.equal(series('streamscore_feature_drift_alarm', '1').exec(before)?.[1], '1');
    assert.equal(series('streamscore_feature_null_rate', '1').exec(before)?.[1], '0.25');
    assert.equal(series('streamscore_feature_out_of_range_rate', '1').exec(before)?.[1], '0.125');
    assert.match(
      before,
      /^streamscore_drift_windows_total\{pipeline="churn-scoring",model="churn",version="1"[^}]*\} 1$/m,
    );
    m.retire('churn', '1');
    m.window(report('3', false));
    const after = await text();
    assert.equal(series('streamscore_feature_drift_alarm', '1').exec(after)?.[1], '0');
    assert.equal(series('streamscore_feature_drift_alarm', '3').exec(after)?.[1], '0');
    await t.provider.shutdown();
  });
});
