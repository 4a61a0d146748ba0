import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatDrift, sparkline } from '../../../workers/drift/format.js';
import { DriftMonitor } from '../../../workers/drift/monitor.js';
import { readVersion } from '../../../workers/models/catalog.js';
import { CHURN_FEATURES, churnFeatures, Sampler } from '../../support/churn-population.js';

describe('streamscore drift text', () => {
  test('sparklines share a scale; empty bins are blank', () => {
    assert.equal(sparkline([0.5, 0.25, 0], 0.5), '█▄ ');
  });

  test('a shifted window: reference and window side by side, PSI, threshold, alarm, history', () => {
    const v = readVersion('pipelines/models', 'churn', '1');
    const m = new DriftMonitor({
      pipeline: 'churn-scoring',
      featureNames: CHURN_FEATURES,
      outputFields: [],
      window: { events: 5000, maxSeconds: 300, minEvents: 500 },
      fdr: 0.01,
      distributions: () => v.distributions,
      onWindow: () => undefined,
    });
    const s = new Sampler(11);
    for (let w = 0; w < 3; w++) {
      const f = churnFeatures(s, 5000, w === 2 ? { planBasicZero: true } : {});
      m.observe(f, 5000, CHURN_FEATURES.length, [], { name: 'churn', version: '1', sha256: v.sha256 });
    }
    const text = formatDrift('127.0.0.1:9464', m.snapshot(), 6);
    assert.match(text, /^pipeline {3}churn-scoring {3}\(worker 127\.0\.0\.1:9464\)$/m);
    assert.match(text, /^model {6}churn\/1 sha256 7f918d97fb5b$/m);
    assert.match(text, /^latest {5}window 3: .*, 5000 rows \(closed by events\), 1 alarm$/m);
    assert.match(
      text,
      /^feature +reference +window +PSI +threshold +alarm +null +out of range +history +bins$/m,
    );
    const line = text.split('\n').find((l) => l.startsWith('plan_basic'))!;
    assert.match(
      line,
      /^plan_basic +▅▄ {2,}█ {2} +\d+\.\d{4} +0\.\d{4} +ALARM +0\.0 % +0\.0 % +··! +0 \| 1 \| other$/,
    );
    const tenure = text.split('\n').find((l) => l.startsWith('tenure_months'))!;
    assert.match(tenure, / no +0\.0 % .* ··· +≤7 … >47 \(10 quantile bins\)$/);
  });
});
