import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { assertDistFresh, runDist, startDist } from '../support/dist-cli.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import {
  deleteGroups,
  deleteTopics,
  dropPgTables,
  freePort,
  env as stack,
  uniqueId,
  waitFor,
  withPg,
} from '../support/stack.js';
import { churnEnv, createCustomers, testQueues } from './backfill-support.js';

// The README's CLI as processes: `node dist/workers/cli/main.js <command>` (what supervisors run),
// with exit codes, stdout/stderr and `--format json` checked. Built by `npm run build`; a source
// newer than dist/ fails every test here at once.
const EXAMPLES = [
  'pipelines/churn-scoring.yaml',
  'pipelines/fraud-scoring.yaml',
  'pipelines/demand-forecast.yaml',
];
const INVALID_DIR = 'test/unit/spec/invalid';
const invalid = readdirSync(INVALID_DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => join(INVALID_DIR, f));
/** The exact problems of each invalid file, one per line (`<repo>` is the working directory). */
const expected = (file: string) =>
  readFileSync(file.replace(/\.yaml$/, '.expected'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.replaceAll('<repo>', process.cwd()));

const id = uniqueId();
const e = churnEnv(id, { CHURN_SOURCE_TABLE: `crm.cli_${id}`, CHURN_SCORES_TABLE: `ml.cli_${id}` });
const queues = testQueues(id);

before(async () => {
  assertDistFresh();
  await createCustomers(e['CHURN_SOURCE_TABLE']!, 30);
});

after(async () => {
  await queues.close();
  await dropPgTables(e['CHURN_SOURCE_TABLE']!, e['CHURN_SCORES_TABLE']!);
  await deleteTopics([e['CHURN_TOPIC']!, e['CHURN_OUTPUT_TOPIC']!, e['CHURN_DLQ']!]);
  await deleteGroups([e['CHURN_GROUP']!]);
});

test('validate: the example pipelines are valid, exit 0 (text and --format json), with no variable set', async () => {
  const text = await runDist(['validate', ...EXAMPLES], { bareEnv: true });
  assert.deepEqual(text, { code: 0, stdout: '3 pipeline file(s) valid\n', stderr: '' });
  const json = await runDist(['validate', '--format', 'json', ...EXAMPLES], { bareEnv: true });
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), { valid: true, problems: [] });
});

test('validate: every invalid pipeline of the corpus, through one process, prints its expected problems and exits 1', async () => {
  assert.ok(invalid.length >= 60, `${invalid.length} invalid pipelines`);
  // The corpus's missing-variable cases expect an empty environment.
  const text = await runDist(['validate', ...invalid], { bareEnv: true });
  assert.equal(text.code, 1);
  assert.equal(text.stdout, '');
  const lines = text.stderr.trimEnd().split('\n');
  const total = invalid.reduce((n, f) => n + expected(f).length, 0);
  assert.equal(lines.pop(), `${total} problem(s) in ${invalid.length} file(s)`);
  for (const file of invalid) {
    assert.deepEqual(
      lines.filter((l) => l.startsWith(`${file}:`)),
      expected(file),
      `${file}: validate's lines vs ${file.replace(/\.yaml$/, '.expected')}`,
    );
  }
  assert.equal(lines.length, total, 'every line names its file');

  const json = await runDist(['validate', '--format', 'json', ...invalid], { bareEnv: true });
  assert.equal(json.code, 1);
  assert.equal(json.stderr, '');
  const report = JSON.parse(json.stdout) as { valid: unknown; problems: Record<string, unknown>[] };
  assert.deepEqual(Object.keys(report), ['valid', 'problems']);
  assert.equal(report.valid, false);
  assert.equal(report.problems.length, total);
  for (const p of report.problems) {
    assert.deepEqual(
      Object.keys(p).sort(),
      ['code', 'column', 'file', 'line', 'message', 'path'],
      JSON.stringify(p),
    );
    assert.ok(Number.isInteger(p['line']) && Number(p['line']) >= 1, JSON.stringify(p));
    assert.ok(Number.isInteger(p['column']) && Number(p['column']) >= 1, JSON.stringify(p));
    assert.equal(typeof p['path'], 'string');
    assert.equal(typeof p['message'], 'string');
    assert.match(String(p['code']), /^[a-z][a-z0-9_]*$/, JSON.stringify(p));
  }
  for (const file of invalid) {
    const located = report.problems
      .filter((p) => p['file'] === file)
      .map(
        (p) =>
          `${p['file']}:${p['line']}:${p['column']}: ${p['path'] === '' ? '' : `${p['path']}: `}${p['message']}`,
      );
    assert.deepEqual(located, expected(file), `${file}: --format json vs its .expected`);
  }
});

test('validate: an unreadable file is a located problem (exit 1); a missing argument or command is a usage error', async () => {
  const missing = await runDist(['validate', `no-such-${id}.yaml`]);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    new RegExp(`^no-such-${id}\\.yaml:1:1: cannot read the pipeline file \\(ENOENT\\)\n1 problem`),
  );
  const noArgs = await runDist(['validate']);
  assert.equal(noArgs.code, 1);
  assert.match(noArgs.stderr, /missing required argument 'files'[\s\S]*run with --help for usage/);
  const unknown = await runDist(['valdate', EXAMPLES[0]!]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unknown command 'valdate'/);
});

test('plan: each example prints its resolved stages, model check and DDL (exit 0); an invalid file exits 1', async () => {
  const churn = await runDist(['plan', EXAMPLES[0]!]);
  assert.equal(churn.code, 0, churn.stderr);
  assert.match(churn.stdout, /^pipeline churn-scoring \(owner data-eng\) — pipelines\/churn-scoring\.yaml\n/);
  assert.match(
    churn.stdout,
    /\n {2}\[0\] +tenure_months +float +null → reject +months_between\(after\.signup_date, source\.ts_ms\)\n/,
  );
  assert.match(churn.stdout, /\n {2}width 8\n/);
  assert.match(churn.stdout, /inputs: {2}features float32 \[\?, 8\] {2}✓ width 8 matches the features/);
  assert.match(churn.stdout, /CREATE TABLE IF NOT EXISTS "ml"\."customer_churn_scores" \(/);
  const fraud = await runDist(['plan', EXAMPLES[1]!]);
  assert.equal(fraud.code, 0, fraud.stderr);
  assert.match(fraud.stdout, /\n {2}fraud_probability +float +← probabilities\['fraud'\]\n/);
  assert.match(fraud.stdout, /micro-batch max 64 rows \/ 2 ms/);
  const demand = await runDist(['plan', EXAMPLES[2]!]);
  assert.equal(demand.code, 0, demand.stderr);
  assert.match(
    demand.stdout,
    /postgres:erp\.replenishment_forecasts \(on delete: mark; created when missing\)/,
  );
  assert.match(demand.stdout, /"deleted_at" timestamp with time zone,/);

  const bad = join(INVALID_DIR, 'bad-backfill.yaml');
  const r = await runDist(['plan', bad], { bareEnv: true });
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.equal(
    r.stderr,
    `${expected(bad).join('\n')}\n${expected(bad).length} problem(s); fix them and run plan again\n`,
  );
});

test('schema prints schemas/pipeline.schema.json; docs prints the reference, docs --write writes both docs', async () => {
  const schema = await runDist(['schema']);
  assert.equal(schema.code, 0, schema.stderr);
  assert.equal(schema.stdout, readFileSync('schemas/pipeline.schema.json', 'utf8'));
  assert.equal((JSON.parse(schema.stdout) as { type?: unknown }).type, 'object');
  const docs = await runDist(['docs']);
  assert.equal(docs.code, 0, docs.stderr);
  assert.equal(docs.stdout, readFileSync('docs/pipeline-reference.md', 'utf8'));
  // --write writes relative to the working directory: a scratch one, not the repository.
  const dir = join(tmpdir(), `streamscore-docs-${id}`);
  mkdirSync(join(dir, 'docs'), { recursive: true });
  mkdirSync(join(dir, 'workers', 'expr'), { recursive: true });
  try {
    const write = await runDist(['docs', '--write'], { cwd: dir });
    assert.deepEqual(write, { code: 0, stdout: '', stderr: '' });
    assert.equal(readFileSync(join(dir, 'docs/pipeline-reference.md'), 'utf8'), docs.stdout);
    assert.equal(
      readFileSync(join(dir, 'workers/expr/FUNCTIONS.md'), 'utf8'),
      readFileSync('workers/expr/FUNCTIONS.md', 'utf8'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--help of every command shows its usage and examples; --version', async () => {
  for (const command of ['validate', 'plan', 'run', 'backfill', 'schema', 'docs']) {
    const help = await runDist([command, '--help']);
    assert.equal(help.code, 0, `${command} --help: ${help.stderr}`);
    assert.match(help.stdout, new RegExp(`^Usage: streamscore ${command} `), command);
    assert.match(help.stdout, /\nExamples?:\n/, command);
  }
  const version = await runDist(['--version']);
  assert.deepEqual({ code: version.code, stderr: version.stderr }, { code: 0, stderr: '' });
  assert.match(version.stdout, /^streamscore 0\.1\.0 \(commit [0-9a-f]{12}(-dirty)?\)\n/);
  assert.match(version.stdout, /^ {2}kafkajs +2\.2\.4$/m);
});

test('run: exit 1 on an invalid pipeline or a terminal error at start-up; exit 2 on a bad option', async () => {
  const bad = join(INVALID_DIR, 'bad-backfill.yaml');
  const invalidRun = await runDist(['run', bad], { bareEnv: true });
  assert.equal(invalidRun.code, 1);
  assert.equal(invalidRun.stderr, `${expected(bad).join('\n')}\n`);

  const file = churnPipelineCopy(`cli-${id}`, { warehouse: false });
  const db = new URL(stack.databaseUrl);
  db.pathname = `/no_such_db_${id}`;
  const terminal = await runDist(['run', '--no-backfill', '--port', '0', file], {
    env: { ...e, DATABASE_URL: db.toString() },
  });
  assert.equal(terminal.code, 1, terminal.stderr);
  assert.match(terminal.stderr, new RegExp(`streamscore run: .*database "no_such_db_${id}" does not exist`));

  const workers = await runDist(['run', '--workers', 'two', file], { env: e });
  assert.equal(workers.code, 2);
  assert.match(workers.stderr, /--workers: expected a positive integer, got 'two'/);
});

test('run: a worker logs JSON lines, serves health and metrics on --port, and exits 0 after a SIGTERM drain', async () => {
  const file = churnPipelineCopy(`cli-${id}`, { warehouse: false });
  const port = await freePort();
  const worker = startDist(['run', '--no-backfill', '--port', String(port), '--log-level', 'info', file], {
    env: e,
  });
  try {
    await waitFor(
      'Worker running.',
      async () => worker.stdout().includes('"msg":"Worker running."') || worker.child.exitCode !== null,
      60_000,
    );
    assert.equal(worker.child.exitCode, null, worker.output());
    const base = `http://127.0.0.1:${port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
  } finally {
    assert.equal(await worker.stop('SIGTERM'), 0, worker.output());
  }
  for (const line of worker.stdout().trimEnd().split('\n')) {
    const entry = JSON.parse(line) as { level?: unknown; msg?: unknown };
    assert.equal(typeof entry.level, 'number', line);
    assert.equal(typeof entry.msg, 'string', line);
  }
});

test('backfill: --work scores the source table and exits 0; status shows the run; errors exit 1', async () => {
  const file = churnPipelineCopy(`cli-${id}`, { warehouse: false });
  const runId = `cli-${id}`;
  const r = await runDist(['backfill', file, '--work', '--run-id', runId], { env: e });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^run ${runId}: 1 chunks, 30 rows of ${e['CHURN_SOURCE_TABLE']}\n`));
  const scored = await withPg(
    async (c) => (await c.query(`select count(*)::int as n from ${e['CHURN_SCORES_TABLE']}`)).rows[0].n,
  );
  assert.equal(scored, 30);

  const status = await runDist(['backfill', 'status', runId], { env: e });
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /completed/);
  assert.match(status.stdout, /30/);
  const recent = await runDist(['backfill', 'status'], { env: e });
  assert.equal(recent.code, 0, recent.stderr);
  assert.match(recent.stdout, new RegExp(runId));
  const again = await runDist(['backfill', file, '--run-id', runId], { env: e });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`^run ${runId} already exists \\(1 chunks\\); nothing added\n`));

  const unknown = await runDist(['backfill', 'status', `nope-${id}`], { env: e });
  assert.deepEqual(unknown, {
    code: 1,
    stdout: '',
    stderr: `streamscore backfill: no backfill run 'nope-${id}'\n`,
  });
  const none = await runDist(['backfill', EXAMPLES[1]!], { env: e });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /pipelines\/fraud-scoring\.yaml: the pipeline has no spec\.backfill section/);
});
