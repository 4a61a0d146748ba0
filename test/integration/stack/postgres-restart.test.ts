import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { type PrivatePostgres, postgresLogTail, privatePostgres } from '../../support/private-postgres.js';
import { uniqueId } from '../../support/stack.js';

// `infra/local/stack up` right after the stack's Postgres died must start it on the first try.
// Exercised through the launcher itself, on an instance of this test's own (its own STACK_DIR
// and port), never on the shared one.
let pgi: PrivatePostgres;

before(async () => {
  pgi = await privatePostgres(`restart-${uniqueId()}`);
  const r = pgi.up();
  assert.equal(r.status, 0, r.output);
});

after(() => pgi?.remove());

async function query(sql: string): Promise<unknown> {
  // the instance runs with the stack's test-speed settings: make this test's own commits durable
  const c = new pg.Client({ connectionString: pgi.url, options: '-c synchronous_commit=on' });
  await c.connect();
  try {
    return (await c.query(sql)).rows[0];
  } finally {
    await c.end();
  }
}

/** Each test starts from a running instance, whatever the one before left (a failure included). */
async function running(): Promise<void> {
  for (let i = 0; i < 20 && pgi.up().status !== 0; i++) await sleep(500);
  await query('select 1');
}

function upAtOnce(what: string): void {
  const r = pgi.up();
  assert.equal(
    r.status,
    0,
    `${what}: stack up failed\n${r.output}\n--- server log ---\n${postgresLogTail(pgi)}`,
  );
  assert.ok(r.seconds < 30, `${what}: stack up took ${r.seconds.toFixed(1)} s\n${r.output}`);
}

test('up right after `pg_ctl stop -m immediate` starts Postgres again (the exited postmaster may still be a zombie)', async () => {
  await running();
  await query('create table if not exists t (id int primary key)');
  for (let i = 0; i < 3; i++) {
    const old = pgi.pid();
    pgi.stopImmediate();
    upAtOnce(`immediate stop ${i + 1}`);
    assert.notEqual(pgi.pid(), old, 'a new postmaster');
    await query(`insert into t values (${i})`);
  }
  assert.deepEqual(await query('select count(*)::int as n from t'), { n: 3 });
});

test('up right after the postmaster was SIGKILLed: stale postmaster.pid and socket lock are cleared', async () => {
  await running();
  for (let i = 0; i < 2; i++) {
    process.kill(pgi.pid()!, 'SIGKILL');
    upAtOnce(`SIGKILL ${i + 1}`);
    assert.deepEqual(await query('select 1 as one'), { one: 1 });
  }
});

test('up when the pid files name an unrelated live process (pid reused): starts Postgres, leaves that process alone', async () => {
  await running();
  const other = spawn('sleep', ['120'], { stdio: 'ignore' });
  try {
    const postmaster = pgi.pid()!;
    process.kill(postmaster, 'SIGKILL');
    // wait until it is gone (or a zombie) and its backends have exited
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !/^Z|^$/.test(procState(postmaster))) await sleep(100);
    const lock = join(pgi.dataDir, 'postmaster.pid');
    const lines = readFileSync(lock, 'utf8').split('\n');
    lines[0] = String(other.pid);
    writeFileSync(lock, lines.join('\n'));
    writeFileSync(join(pgi.stackDir, 'run', 'postgres.pid'), String(other.pid));
    upAtOnce('pid reused');
    assert.deepEqual(await query('select 1 as one'), { one: 1 });
    assert.notEqual(pgi.pid(), other.pid);
    assert.equal(other.exitCode, null, 'the unrelated process still runs');
    assert.equal(procState(other.pid!).startsWith('S') || procState(other.pid!).startsWith('R'), true);
  } finally {
    other.kill();
  }
});

function procState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return '';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
