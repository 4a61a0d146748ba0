import { writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { type Document, isMap, isSeq } from 'yaml';
import { errorMessage } from '../core/errors.js';
import type { FieldType } from '../core/types.js';
import { ModelRegistry } from '../inference/index.js';
import { registryDir } from '../rollout/targets.js';
import { registryVersions } from '../spec/model-checks.js';
import { only } from '../spec/one-of.js';
import { formatPath, type Problem } from '../spec/problems.js';
import { validatePipelineFile } from '../spec/validate.js';
import { compareOutcome, type Mismatch, snapshotOf } from './compare.js';
import { fixtureRegistry } from './fixture.js';
import { type GoldenResult, verifyGolden } from './golden.js';
import { type CaseEvent, caseEvents } from './inputs.js';
import { OfflinePipeline, type Outcome } from './offline.js';
import type { Expectation } from './test-file.js';
import { loadTestFile } from './test-file.js';

export interface CaseResult {
  name: string;
  /** Where the case starts in the test file. */
  line: number;
  column: number;
  /** Mismatches, each prefixed by its event when the case has several (`event 3: …`). */
  mismatches: (Mismatch & { event?: number })[];
  /** No expectation was written (a failure unless `--update`). */
  missing: boolean;
  /** `--update` wrote its expectation. */
  updated: boolean;
  outcomes: Outcome[];
}

export interface FileResult {
  file: string;
  pipeline?: string;
  /** The file or its pipeline cannot be run: every problem with file:line:col. */
  problems: Problem[];
  cases: CaseResult[];
  /** The model version's golden check (`golden.json`), when it has one. */
  golden?: { file: string; rows: number; problems: string[] };
  model?: { name: string; version: string; sha256?: string | undefined };
  /** The pipeline's model registry folder (absolute), once the pipeline validated. */
  registryDir?: string;
  /** Golden checks of other versions (a registry's entry of `streamscore test`). */
  goldens?: GoldenResult[];
  /** Time spent scoring the cases (decode → features → model), ms. */
  ms: number;
}

export interface RunOptions {
  update?: boolean;
  registry?: ModelRegistry;
  /** Golden checks already done in this run, by model file (each version is checked once). */
  goldenDone?: Map<string, FileResult['golden']>;
}

/** Runs one test file offline: every case through the stream's decoder, features and model. */
export async function runTestFile(file: string, options: RunOptions = {}): Promise<FileResult> {
  const loaded = loadTestFile(file);
  const result: FileResult = { file, problems: loaded.problems, cases: [], ms: 0 };
  const test = loaded.value;
  if (test === undefined) return result;
  const pipelineFile = resolve(dirname(resolve(file)), test.pipeline);
  result.pipeline = relative(process.cwd(), pipelineFile) || pipelineFile;
  const v = await validatePipelineFile(pipelineFile);
  if (v.problems.length > 0 || v.pipeline === undefined || v.checked === undefined) {
    const at = loaded.locate.at(['pipeline']);
    result.problems.push({
      file,
      ...at,
      path: 'pipeline',
      code: 'invalid_pipeline',
      message: `the pipeline ${result.pipeline} does not validate (run streamscore validate ${result.pipeline}):`,
    });
    result.problems.push(...v.problems);
    return result;
  }
  const p = v.pipeline;
  result.registryDir = registryDir(pipelineFile, p);
  const fixed = p.spec.model.version;
  const pinned = test.model_version;
  const problemAt = (path: (string | number)[], code: string, message: string) => {
    result.problems.push({ file, ...loaded.locate.at(path), path: formatPath(path), code, message });
    return result;
  };
  if (fixed === undefined && pinned === undefined) {
    const versions = registryVersions(registryDir(pipelineFile, p), p.spec.model.name);
    return problemAt(
      ['pipeline'],
      'missing_model_version',
      `the pipeline follows alias ${p.spec.model.alias ?? '?'}, which only the control topic resolves: pin the version to test with model_version (versions: ${versions.join(', ')})`,
    );
  }
  if (fixed !== undefined && pinned !== undefined && fixed !== pinned) {
    return problemAt(
      ['model_version'],
      'model_version_mismatch',
      `expected ${fixed} (the pipeline fixes version ${fixed}), got ${pinned}`,
    );
  }
  const version = (fixed ?? pinned)!;
  const registry = options.registry ?? new ModelRegistry();
  let offline: OfflinePipeline;
  try {
    offline = await OfflinePipeline.open({
      file: pipelineFile,
      pipeline: p,
      checked: v.checked,
      version,
      registry,
    });
  } catch (err) {
    return problemAt(
      fixed === undefined ? ['model_version'] : ['pipeline'],
      'model_load_failed',
      errorMessage(err),
    );
  }
  try {
    result.model = offline.modelInfo;
    const onnx = offline.model.path;
    const done = options.goldenDone;
    if (done?.has(onnx)) result.golden = done.get(onnx);
    else {
      result.golden = await verifyGolden(onnx, registry);
      done?.set(onnx, result.golden);
    }
    const topics = p.spec.source.kafka?.topics ?? [p.metadata.name];
    const key = v.checked.key;
    const keyColumns = [
      ...new Set(
        (key?.fields ?? [])
          .filter((f) => (f[0] === 'after' || f[0] === 'before') && f[1] !== undefined)
          .map((f) => f[1]!),
      ),
    ];
    const built = caseEvents({
      test: loaded,
      topic: topics[0]!,
      inputSchema: offline.rowSchema,
      keyColumns,
      decoder: only(p.spec.decode)[0] as 'debezium' | 'json' | 'avro',
    });
    if (built.problems.length > 0) {
      result.problems.push(...built.problems);
      return result;
    }
    const started = performance.now();
    const outcomes = await offline.run(built.events, fixtureRegistry(built.schemas));
    result.ms = performance.now() - started;
    const types = new Map<string, FieldType>(offline.model.fieldTypes.map((f) => [f.name, f.type]));
    result.cases = judge(
      loaded.doc,
      loaded.locate,
      test.cases,
      built.events,
      outcomes,
      types,
      options.update === true,
    );
    if (result.cases.some((c) => c.updated)) writeFileSync(file, loaded.doc.toString({ lineWidth: 0 }));
    return result;
  } finally {
    await offline.close();
  }
}

function judge(
  doc: Document,
  locate: { at(path: (string | number)[]): { line: number; column: number } },
  cases: readonly { name: string; expect?: Expectation | Expectation[] | undefined }[],
  events: readonly CaseEvent[],
  outcomes: readonly Outcome[],
  types: ReadonlyMap<string, FieldType>,
  update: boolean,
): CaseResult[] {
  const byCase = new Map<number, Outcome[]>();
  events.forEach((e, i) => {
    const list = byCase.get(e.caseIndex) ?? [];
    list.push(outcomes[i]!);
    byCase.set(e.caseIndex, list);
  });
  return cases.map((c, i) => {
    const got = byCase.get(i) ?? [];
    const pos = locate.at(['cases', i]);
    const r: CaseResult = {
      name: c.name,
      ...pos,
      mismatches: [],
      missing: false,
      updated: false,
      outcomes: got,
    };
    const expect = c.expect;
    if (expect === undefined) r.missing = true;
    else if (Array.isArray(expect)) {
      if (expect.length !== got.length) {
        r.mismatches.push({
          what: 'events',
          expected: `${expect.length} result(s) in expect`,
          got: `${got.length} event(s)`,
        });
      } else {
        expect.forEach((e, k) => {
          for (const m of compareOutcome(e, got[k]!)) r.mismatches.push({ ...m, event: k });
        });
      }
    } else if (got.length !== 1) {
      r.mismatches.push({
        what: 'events',
        expected: '1 event (expect is a single result)',
        got: `${got.length} event(s): write expect as a list`,
      });
    } else r.mismatches.push(...compareOutcome(expect, got[0]!));
    if (update && (r.missing || r.mismatches.length > 0)) {
      const snaps = got.map((o) => snapshotOf(o, types));
      const node = doc.createNode(snaps.length === 1 && !Array.isArray(expect) ? snaps[0] : snaps);
      compact(node);
      doc.setIn(['cases', i, 'expect'], node);
      r.updated = true;
      r.missing = false;
      r.mismatches = [];
    }
    return r;
  });
}

/** Feature, output and tolerance maps in flow style: one line each in the written file. */
function compact(node: unknown): void {
  if (isSeq(node)) for (const item of node.items) compact(item);
  if (!isMap(node)) return;
  for (const pair of node.items) {
    const k = String((pair.key as { value?: unknown })?.value);
    if ((k === 'features' || k === 'outputs' || k === 'dead_letter') && isMap(pair.value))
      pair.value.flow = true;
  }
}
