/**
 * Null replay and shift injection through the drift monitor, with the committed churn/1 manifest's
 * reference distributions and churn/1 itself (onnxruntime) for the outputs: rows drawn from the
 * training population (test/support/churn-population.ts, seeded) must rarely alarm; a shifted
 * feature must alarm within two windows, the other features not.
 */
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { WindowReport } from '../../../workers/drift/evaluate.js';
import { DriftMonitor } from '../../../workers/drift/monitor.js';
import { ModelRegistry, OnnxModel } from '../../../workers/inference/index.js';
import { readVersion } from '../../../workers/models/catalog.js';
import { CHURN_FEATURES, type ChurnShift, churnFeatures, Sampler } from '../../support/churn-population.js';

const MODELS = resolve('pipelines/models');
const CHURN1 = readVersion(MODELS, 'churn', '1');
const OUTPUTS = { churn_probability: 'probabilities[1]', churn_label: 'label' };
const FIELDS = Object.keys(OUTPUTS);
const INFO = { name: 'churn', version: '1', sha256: CHURN1.sha256 };
const WINDOW = 10_000;
const BATCH = 500;
const FDR = 0.01;

let model: OnnxModel;
const registry = new ModelRegistry();

before(async () => {
  model = await OnnxModel.load(join(CHURN1.dir, 'model.onnx'), {
    registry,
    featureNames: [...CHURN_FEATURES],
    outputs: OUTPUTS,
    expectedSha256: CHURN1.sha256,
  });
});
after(async () => {
  await model.close();
});

function monitor(reports: WindowReport[]): DriftMonitor {
  return new DriftMonitor({
    pipeline: 'churn-test',
    featureNames: CHURN_FEATURES,
    outputFields: FIELDS,
    outputRefs: OUTPUTS,
    window: { events: WINDOW, maxSeconds: 1e9, minEvents: 1 },
    fdr: FDR,
    distributions: () => CHURN1.distributions,
    onWindow: (r) => reports.push(r),
  });
}

/** `windows` windows of traffic, scored by churn/1 in batches of BATCH rows, through one monitor. */
async function replay(m: DriftMonitor, s: Sampler, windows: number, shift: ChurnShift = {}): Promise<void> {
  const width = CHURN_FEATURES.length;
  for (let b = 0; b < (windows * WINDOW) / BATCH; b++) {
    const features = churnFeatures(s, BATCH, shift);
    const p = await model.predict(features, BATCH, width);
    const prob = p.columns['churn_probability']!;
    const label = p.columns['churn_label']!;
    const rows = Array.from({ length: BATCH }, (_, i) => ({ values: [prob[i], label[i]] }));
    m.observe(features, BATCH, width, rows, INFO);
  }
}

const alarmsOf = (r: WindowReport) => r.stats.filter((s) => s.alarm).map((s) => s.feature);

describe('drift on the churn population', () => {
  test('null replay: 200 windows of 10,000 rows alarm at most 1 % of the time per feature', async () => {
    assert.ok(CHURN1.distributions, 'churn/1 manifest has distributions');
    const reports: WindowReport[] = [];
    await replay(monitor(reports), new Sampler(20261206), 200);
    assert.equal(reports.length, 200);
    const names = [...CHURN_FEATURES, ...FIELDS];
    assert.deepEqual(
      reports[0]!.stats.map((s) => s.feature),
      names,
    );
    const shares = Object.fromEntries(
      names.map((n) => [n, reports.filter((r) => alarmsOf(r).includes(n)).length / reports.length]),
    );
    const anyAlarm = reports.filter((r) => r.alarms > 0).length / reports.length;
    process.stdout.write(
      `# null replay: alarm share per feature ${JSON.stringify(shares)}; any ${anyAlarm}\n`,
    );
    for (const [name, share] of Object.entries(shares)) assert.ok(share <= 0.01, `${name}: ${share}`);
    // The correction across features: the share of windows with any alarm stays near fdr (0.01),
    // where 10 uncorrected tests at 1 % each would alarm in about 10 % of the windows.
    assert.ok(anyAlarm <= 0.02, `windows with any alarm: ${anyAlarm}`);
  });

  for (const [what, shift, feature] of [
    ['plan_basic always 0 (plan renamed)', { planBasicZero: true }, 'plan_basic'],
    ['support tickets doubled', { ticketsFactor: 2 }, 'tickets_90d'],
  ] as const) {
    test(`shift: ${what} alarms on ${feature} within 2 windows, on no other feature`, async () => {
      const reports: WindowReport[] = [];
      const m = monitor(reports);
      const s = new Sampler(7);
      await replay(m, s, 2);
      assert.deepEqual(reports.map(alarmsOf), [[], []], 'no alarm before the shift');
      await replay(m, s, 2, shift);
      const shifted = reports.slice(2);
      assert.ok(
        shifted.some((r) => alarmsOf(r).includes(feature)),
        `${feature} alarms: ${JSON.stringify(shifted.map(alarmsOf))}`,
      );
      for (const r of shifted) {
        const others = alarmsOf(r).filter((f) => f !== feature && !FIELDS.includes(f));
        assert.deepEqual(others, [], `no other feature alarms (window ${r.seq})`);
      }
      process.stdout.write(`# ${what}: alarms per shifted window ${JSON.stringify(shifted.map(alarmsOf))}\n`);
    });
  }
});
