import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { shouldExitWithParent } from '../../../workers/runtime/parent-watch.js';

// A process that watches its parent, says so in $ARMED, and reports through stdout (which
// outlives the parent). KEEP_ALIVE=0: nothing else to do, so it should end by itself.
const WATCHER = `
import { writeFileSync } from 'node:fs';
import { watchParent } from './workers/runtime/parent-watch.ts';
const started = Date.now();
watchParent((why) => { console.log('gone after', Date.now() - started, 'ms:', why); process.exit(0); }, { intervalMs: 50 });
if (process.env.ARMED) writeFileSync(process.env.ARMED, '');
if (process.env.KEEP_ALIVE !== '0') setTimeout(() => { console.log('still running'); process.exit(1); }, 10000);
`;
const dir = mkdtempSync(join(tmpdir(), 'parent-watch-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function watcher(stdio: 'ipc' | 'no-ipc', env: Record<string, string> = {}) {
  return spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', WATCHER], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit', ...(stdio === 'ipc' ? (['ipc'] as const) : [])],
  });
}

function collect(stream: NodeJS.ReadableStream | null): Promise<string> {
  return new Promise((resolve) => {
    let out = '';
    stream?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    stream?.on('end', () => resolve(out));
  });
}

test('a process left behind by `sh -c` (as npx runs a bin) notices that its parent exited', async () => {
  // The shell starts the watcher in the background and exits once it watches: it is reparented.
  const armed = join(dir, 'sh-armed');
  const script = `"${process.execPath}" --import tsx --input-type=module -e "$WATCHER" &
    while [ ! -e "$ARMED" ]; do sleep 0.05; done`;
  const sh = spawn('sh', ['-c', script], {
    env: { ...process.env, WATCHER, ARMED: armed },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  assert.match(await collect(sh.stdout), /gone after \d+ ms: parent process \d+ exited/);
});

test('a forked worker notices that its supervisor went away (its IPC channel closed)', async () => {
  const armed = join(dir, 'ipc-armed');
  const child = watcher('ipc', { ARMED: armed });
  const out = collect(child.stdout);
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      try {
        rmSync(armed);
        clearInterval(poll);
        resolve();
      } catch {
        // not yet
      }
    }, 50);
  });
  assert.equal(child.exitCode, null, 'the watcher runs while its supervisor is there');
  child.disconnect();
  assert.match(await out, /gone after \d+ ms: the supervisor's IPC channel closed/);
});

test('the watch alone keeps no process alive, IPC channel included', async () => {
  for (const stdio of ['ipc', 'no-ipc'] as const) {
    const child = watcher(stdio, { KEEP_ALIVE: '0' });
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    const code = await new Promise((r) => child.once('exit', r));
    clearTimeout(kill);
    assert.equal(code, 0, `${stdio}: the watcher should end by itself, not be killed after 5 s`);
  }
});

test('by default only processes started by a package manager or forked by a fleet stop with their parent', () => {
  assert.equal(shouldExitWithParent(true, {}), true);
  assert.equal(shouldExitWithParent(false, { npm_lifecycle_event: 'npx' }), false);
  assert.equal(shouldExitWithParent(undefined, { npm_lifecycle_event: 'npx' }), true);
  assert.equal(shouldExitWithParent(undefined, {}), process.channel !== undefined);
});
