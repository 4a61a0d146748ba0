import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { z } from 'zod';
import { errorMessage } from '../core/errors.js';
import { type ModelRegistry, OnnxModel } from '../inference/index.js';
import { manifestBeside } from '../models/catalog.js';

/** `golden.json` next to a model: rows the training tool scored with onnxruntime, and what it got. */
const goldenSchema = z.object({
  sha256: z.string(),
  features: z.array(z.string()),
  rows: z.array(z.array(z.number())).min(1),
  classes: z.array(z.union([z.number(), z.string()])).optional(),
  label: z.array(z.union([z.number(), z.string()])).optional(),
  probabilities: z.array(z.array(z.number())).optional(),
  value: z.array(z.number()).optional(),
});

/** Largest difference accepted between this runtime's and the training tool's onnxruntime outputs. */
export const GOLDEN_ABS = 1e-5;

export interface GoldenResult {
  file: string;
  rows: number;
  /** Each disagreement: `row 3 probabilities[1]: expected …, got …`. */
  problems: string[];
}

/**
 * Scores a model version's golden rows in this process (onnxruntime-node) and compares with the
 * outputs recorded at training: labels exactly, probabilities and values within GOLDEN_ABS; the
 * golden file must name the manifest's sha256. Undefined when the version has no golden.json.
 */
export async function verifyGolden(
  onnxPath: string,
  registry: ModelRegistry,
): Promise<GoldenResult | undefined> {
  const path = join(dirname(onnxPath), 'golden.json');
  if (!existsSync(path)) return undefined;
  const file = relative(process.cwd(), path) || path;
  const problems: string[] = [];
  let g: z.output<typeof goldenSchema>;
  try {
    const parsed = goldenSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      return { file, rows: 0, problems: [`${i.path.join('.') || '(top)'}: ${i.message}`] };
    }
    g = parsed.data;
  } catch (err) {
    return { file, rows: 0, problems: [`not JSON: ${errorMessage(err)}`] };
  }
  const manifest = manifestBeside(onnxPath);
  if (manifest !== undefined && manifest.sha256 !== g.sha256) {
    problems.push(`sha256: the manifest says ${manifest.sha256}, golden.json was made from ${g.sha256}`);
  }
  const outputs: Record<string, string> = {};
  if (g.label !== undefined) outputs['label'] = 'label';
  (g.classes ?? []).forEach((_, i) => {
    if (g.probabilities !== undefined) outputs[`p${i}`] = `probabilities[${i}]`;
  });
  if (g.value !== undefined) outputs['value'] = 'value';
  let model: OnnxModel;
  try {
    model = await OnnxModel.load(onnxPath, {
      registry,
      inputWidth: g.features.length,
      featureNames: g.features,
      outputs,
      ...(manifest ? { expectedSha256: manifest.sha256 } : {}),
    });
  } catch (err) {
    return { file, rows: g.rows.length, problems: [...problems, errorMessage(err)] };
  }
  try {
    const width = g.features.length;
    const data = new Float32Array(g.rows.length * width);
    g.rows.forEach((r, i) => {
      data.set(r, i * width);
    });
    const p = await model.predict(data, g.rows.length, width);
    const col = (name: string) => p.columns[name]!;
    for (let r = 0; r < g.rows.length; r++) {
      if (g.label !== undefined) {
        const got = col('label')[r];
        const want = g.label[r];
        if (String(got) !== String(want))
          problems.push(`row ${r} label: expected ${want}, got ${String(got)}`);
      }
      (g.classes ?? []).forEach((cls, c) => {
        const want = g.probabilities?.[r]?.[c];
        if (want === undefined) return;
        const got = Number(col(`p${c}`)[r]);
        if (!(Math.abs(got - want) <= GOLDEN_ABS)) {
          problems.push(
            `row ${r} probabilities[${c}] (class ${cls}): expected ${want}, got ${got} (|diff| > ${GOLDEN_ABS})`,
          );
        }
      });
      if (g.value !== undefined) {
        const want = g.value[r]!;
        const got = Number(col('value')[r]);
        if (!(Math.abs(got - want) <= GOLDEN_ABS * Math.max(1, Math.abs(want)))) {
          problems.push(`row ${r} value: expected ${want}, got ${got}`);
        }
      }
    }
  } finally {
    await model.close();
  }
  return { file, rows: g.rows.length, problems };
}

/**
 * The golden checks of every version in a model registry folder (`<registry>/<name>/<version>/`)
 * not in `done` (by model file): what `streamscore test` runs after its files, so every model's
 * golden.json is verified, not only the versions the test files score with.
 */
export async function verifyRegistryGoldens(
  registryDir: string,
  registry: ModelRegistry,
  done: Map<string, GoldenResult | undefined>,
): Promise<GoldenResult[]> {
  const out: GoldenResult[] = [];
  const dirs = (p: string) =>
    existsSync(p)
      ? readdirSync(p, { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => d.name)
          .sort()
      : [];
  for (const name of dirs(registryDir)) {
    for (const version of dirs(join(registryDir, name))) {
      const onnx = join(registryDir, name, version, 'model.onnx');
      if (!existsSync(onnx) || done.has(onnx)) continue;
      const g = await verifyGolden(onnx, registry);
      done.set(onnx, g);
      if (g !== undefined) out.push(g);
    }
  }
  return out;
}
