import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { readVersion } from '../../workers/models/catalog.js';
import { type ChurnInputRow, churnFeatures } from '../support/churn.js';
import { referenceSession, runReference } from '../support/onnx-reference.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import { uniqueId } from '../support/stack.js';

// Embedded scoring (issue 16, part 5) as a user gets it: the package packed by `npm pack` (dist
// compiled from workers/ now, with its .d.ts), installed from the tarball into a fresh package, and
// a TypeScript program there — type-checked against the package's declarations — that does
// `import { openScorer } from 'streamscore'` and scores churn rows. Its decisions must be what the
// churn pipeline computes: features written out by hand (test/support/churn.ts) and onnxruntime run
// directly on churn/1 give the same probabilities within 1e-6 and the same labels; a row the
// pipeline rejects (no signup date: tenure_months is on_null reject) comes back as a failure in place.

const REPO = resolve('.');
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');
const NOW = Date.parse('2026-11-20T10:00:00.000Z');
const MS_PER_DAY = 86_400_000;
const CHURN1_SHA256 = readVersion('pipelines/models', 'churn', '1').sha256;
const id = uniqueId();
let root: string;

before(() => {
  root = mkdtempSync(join(tmpdir(), `streamscore-embedded-${id}-`));
});
after(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(join(tmpdir(), `streamscore-test-${id}`), { recursive: true, force: true });
});

function run(cmd: string, args: string[], cwd: string): string {
  try {
    return execFileSync(cmd, args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${cmd} ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`,
    );
  }
}

/** A churn row in Debezium's JSON forms (schemas/crm.customers.avsc), every column present. */
interface CustomerRow {
  customer_id: number;
  email: string | null;
  plan: string | null;
  signup_date: number | null;
  monthly_spend: number | null;
  seats: number | null;
  tickets_90d: number | null;
  last_login_at: string | null;
  is_active: boolean | null;
  external_id: string | null;
  updated_at: string | null;
}

function customers(n: number): CustomerRow[] {
  return Array.from({ length: n }, (_, i) => {
    const g = i + 1;
    const loginUs = NOW * 1000 - (g % 120) * MS_PER_DAY * 1000 - ((g * 7919) % 86_400_000_000);
    const login = new Date(Math.floor(loginUs / 1000))
      .toISOString()
      .replace('Z', `${String(loginUs % 1000).padStart(3, '0')}Z`);
    return {
      customer_id: 10_000 + g,
      email: `customer${g}@example.com`,
      plan: g % 13 === 0 ? null : ['basic', 'pro', 'enterprise'][g % 3]!,
      // Every 17th has no signup date: the pipeline cannot score it (tenure_months: on_null reject).
      signup_date: g % 17 === 0 ? null : 18_628 + ((g * 7) % 1400),
      monthly_spend: g % 19 === 0 ? null : Math.round((19 + ((g * 37) % 500) + 0.99) * 100) / 100,
      seats: g % 23 === 0 ? null : 1 + (g % 40),
      tickets_90d: g % 11 === 0 ? null : g % 9,
      last_login_at: g % 29 === 0 ? null : login,
      is_active: true,
      external_id: `00000000-0000-4000-8000-${String(g).padStart(12, '0')}`,
      updated_at: new Date(NOW - 1000).toISOString(),
    };
  });
}

/** The row as test/support/churn.ts's hand-written features read it. */
function inputRow(r: CustomerRow): ChurnInputRow {
  let lastLoginMs: string | null = null;
  if (r.last_login_at !== null) {
    const us = Number(r.last_login_at.slice(23, 26));
    lastLoginMs = String(Date.parse(r.last_login_at) + us / 1000);
  }
  return {
    plan: r.plan,
    monthly_spend: r.monthly_spend,
    seats: r.seats,
    tickets_90d: r.tickets_90d,
    signup_date:
      r.signup_date === null ? null : new Date(r.signup_date * MS_PER_DAY).toISOString().slice(0, 10),
    last_login_ms: lastLoginMs,
  };
}

/** The embedding application: compiled with tsc against the installed package's declarations. */
const APP = `import { readFileSync, writeFileSync } from 'node:fs';
import { type InputRecord, openScorer, type ScoredResult } from 'streamscore';

const [pipeline, rowsFile, outFile, now] = process.argv.slice(2) as [string, string, string, string];
const records: InputRecord[] = (JSON.parse(readFileSync(rowsFile, 'utf8')) as Record<string, unknown>[]).map(
  (after) => ({ after }),
);
const scorer = await openScorer(pipeline, { now: () => new Date(Number(now)) });
try {
  const results: ScoredResult[] = await scorer.score(records);
  const out = results.map((r) =>
    r.ok
      ? { ok: true, key: r.key, outputs: r.outputs, features: r.features, model: r.model }
      : { ok: false, code: r.code, path: r.path, message: r.message },
  );
  writeFileSync(outFile, JSON.stringify({ info: { name: scorer.info.name, features: scorer.info.features.map((f) => f.name) }, out }));
} finally {
  await scorer.close();
}
`;

test('npm pack → npm install <tgz> in a fresh package → import { openScorer } from "streamscore" scores churn rows as the pipeline does', {
  timeout: 240_000,
}, async () => {
  // 1. The package as `npm pack` publishes it, from a build of the current sources.
  const pkg = join(root, 'pkg');
  mkdirSync(pkg);
  run(process.execPath, [TSC, '-p', join(REPO, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], REPO);
  for (const f of ['package.json', 'README.md', 'schemas'])
    cpSync(join(REPO, f), join(pkg, f), { recursive: true });
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', root], pkg)) as {
    filename: string;
    files: { path: string }[];
  }[];
  const files = new Set(packed[0]!.files.map((f) => f.path));
  for (const f of ['dist/workers/index.js', 'dist/workers/index.d.ts', 'dist/workers/cli/main.js']) {
    assert.ok(files.has(f), `the tarball holds ${f}`);
  }
  const tgz = join(root, packed[0]!.filename);

  // 2. A fresh package installs it (install scripts off: onnxruntime-node's fetches GPU libraries;
  //    its CPU binaries are in the package).
  const app = join(root, 'app');
  mkdirSync(app);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'embedding-app', private: true, type: 'module' }),
  );
  run(
    'npm',
    ['install', tgz, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
    app,
  );
  writeFileSync(join(app, 'score.ts'), APP);
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(REPO, 'node_modules/@types')],
        outDir: 'out',
      },
      files: ['score.ts'],
    }),
  );
  run(process.execPath, [TSC, '-p', join(app, 'tsconfig.json')], app);

  // 3. It scores 300 churn rows with the churn pipeline (a copy pinned to churn/1, sinks unused).
  const pipeline = churnPipelineCopy(id, {
    warehouse: false,
    edit: (doc) => {
      doc.setIn(['metadata', 'name'], `churn-embedded-${id}`);
      doc.deleteIn(['spec', 'model', 'alias']);
      doc.setIn(['spec', 'model', 'version'], '1');
    },
  });
  const rows = customers(300);
  writeFileSync(join(root, 'rows.json'), JSON.stringify(rows));
  run(
    process.execPath,
    [join(app, 'out/score.js'), pipeline, join(root, 'rows.json'), join(root, 'out.json'), String(NOW)],
    app,
  );
  const got = JSON.parse(readFileSync(join(root, 'out.json'), 'utf8')) as {
    info: { name: string; features: string[] };
    out: (
      | {
          ok: true;
          key: number;
          outputs: { churn_probability: number; churn_label: number };
          features: Record<string, number>;
          model: { name: string; version: string; sha256?: string };
        }
      | { ok: false; code: string; path: string; message: string }
    )[];
  };
  assert.equal(got.info.name, `churn-embedded-${id}`);
  assert.equal(got.out.length, rows.length);

  // 4. What the pipeline computes: hand-written features, onnxruntime on churn/1 directly.
  const scorable = rows.filter((r) => r.signup_date !== null);
  const expected = scorable.map((r) => churnFeatures(inputRow(r), NOW));
  const session = await referenceSession('pipelines/models/churn/1/model.onnx', ['proba_output']);
  const ref = await runReference(session, expected, ['output_label', 'proba_output']);
  await session.release();
  const proba = ref['proba_output']!.data as Float32Array;
  const labels = ref['output_label']!.data as BigInt64Array;
  let k = 0;
  rows.forEach((r, i) => {
    const o = got.out[i]!;
    if (r.signup_date === null) {
      assert.equal(o.ok, false, `row ${i} (no signup date) is not scored`);
      if (!o.ok) {
        assert.equal(o.code, 'unscorable');
        assert.match(o.path, new RegExp(`^\\[${i}\\]`));
      }
      return;
    }
    assert.ok(o.ok, `row ${i}: ${JSON.stringify(o)}`);
    if (!o.ok) return;
    assert.equal(o.key, r.customer_id);
    assert.deepEqual(o.model, { name: 'churn', version: '1', sha256: CHURN1_SHA256 });
    assert.deepEqual(
      got.info.features.map((f) => o.features[f]),
      expected[k]!.map(Math.fround),
      `row ${i}: features`,
    );
    assert.ok(
      Math.abs(o.outputs.churn_probability - proba[k * 2 + 1]!) <= 1e-6,
      `row ${i}: churn_probability ${o.outputs.churn_probability} vs onnxruntime ${proba[k * 2 + 1]}`,
    );
    assert.equal(Number(o.outputs.churn_label), Number(labels[k]), `row ${i}: label`);
    k++;
  });
  assert.equal(k, scorable.length);
  assert.ok(scorable.length < rows.length, 'some rows are unscorable');
});
