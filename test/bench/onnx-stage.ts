/**
 * Throughput of the inference stage alone: OnnxModel.predict (one session.run + output extraction)
 * at several batch sizes, single-threaded onnxruntime. Measures; asserts nothing.
 *
 *   npx tsx test/bench/onnx-stage.ts [--model churn/1] [--seconds 2] [--threads 1] [--sizes 1,64,512,4096] [--json]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type InferenceSession, Tensor } from 'onnxruntime-node';
import { OnnxModel } from '../../workers/inference/model.js';
import { ModelRegistry } from '../../workers/inference/session.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'churn/1' },
    seconds: { type: 'string', default: '2' },
    threads: { type: 'string', default: '1' },
    sizes: { type: 'string', default: '1,64,512,4096' },
    json: { type: 'boolean', default: false },
  },
});

const seconds = Number(args.seconds);
const threads = Number(args.threads);
const sizes = args.sizes.split(',').map(Number);
const path = `pipelines/models/${args.model}/model.onnx`;

/**
 * `n` rows whose every cell is drawn (xorshift32, fixed seed) from the same column of the model's
 * golden.json rows: realistic per-feature values (binary features stay 0/1), varied combinations.
 */
function rows(n: number, width: number): Float32Array {
  const golden = JSON.parse(readFileSync(path.replace(/model\.onnx$/, 'golden.json'), 'utf8')) as {
    rows: number[][];
  };
  let s = 0x9e3779b9;
  const out = new Float32Array(n * width);
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = golden.rows[(s >>> 0) % golden.rows.length]![i % width]!;
  }
  return out;
}

interface Result {
  batch: number;
  calls: number;
  /** Rows over total time (mean). */
  rowsPerSec: number;
  /** batch / p50 latency: steadier than the mean on a shared machine. */
  p50RowsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  ortOnlyRowsPerSec: number;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

async function timeLoop(run: () => Promise<unknown>, budgetMs: number): Promise<number[]> {
  for (let i = 0; i < 20; i++) await run(); // warm-up
  const lat: number[] = [];
  const end = performance.now() + budgetMs;
  while (performance.now() < end) {
    const t = performance.now();
    await run();
    lat.push(performance.now() - t);
  }
  return lat;
}

const registry = new ModelRegistry({ session: { intraOpNumThreads: threads } });
const model = await OnnxModel.load(path, { registry });
const width = model.width;
const loaded = await registry.acquire(path);
const session: InferenceSession = loaded.session;
const fetches = [...new Set(model.outputs.map((o) => o.output))];
const results: Result[] = [];
for (const batch of sizes) {
  const x = rows(batch, width);
  const lat = await timeLoop(() => model.predict(x, batch, width), seconds * 1000);
  const tensor = new Tensor('float32', x, [batch, width]);
  const raw = await timeLoop(
    () => session.run({ [model.input.name]: tensor }, fetches),
    (seconds * 1000) / 2,
  );
  const total = lat.reduce((a, b) => a + b, 0);
  const rawTotal = raw.reduce((a, b) => a + b, 0);
  lat.sort((a, b) => a - b);
  results.push({
    batch,
    calls: lat.length,
    rowsPerSec: Math.round((lat.length * batch) / (total / 1000)),
    p50RowsPerSec: Math.round(batch / (quantile(lat, 0.5) / 1000)),
    p50Ms: quantile(lat, 0.5),
    p99Ms: quantile(lat, 0.99),
    ortOnlyRowsPerSec: Math.round((raw.length * batch) / (rawTotal / 1000)),
  });
}
await registry.close();

if (args.json) {
  console.log(JSON.stringify({ model: path, threads, outputs: model.outputFields, results }, null, 2));
} else {
  console.log(`${path}  intraOpNumThreads=${threads}  fields: ${model.outputFields.join(', ')}`);
  console.log('batch  rows/s mean  rows/s @p50    p50 ms    p99 ms  session.run only rows/s');
  for (const r of results) {
    const cells = [
      String(r.batch).padStart(5),
      String(r.rowsPerSec).padStart(12),
      String(r.p50RowsPerSec).padStart(12),
      r.p50Ms.toFixed(3).padStart(9),
      r.p99Ms.toFixed(3).padStart(9),
      String(r.ortOnlyRowsPerSec).padStart(24),
    ];
    console.log(cells.join(' '));
  }
}
