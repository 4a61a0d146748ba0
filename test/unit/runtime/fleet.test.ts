import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../workers/core/silent-logger.js';
import type { Logger } from '../../../workers/core/types.js';
import {
  DEFAULT_RESTART_POLICY,
  type RestartPolicy,
  restartPolicyFromEnv,
  runFleet,
} from '../../../workers/runtime/fleet.js';

// The fleet supervisor's restart policy (README "Scaling out"), with fake worker processes: how
// each one behaves is up to the test, and every start and signal is recorded.

/** A worker process: exits by itself as `behave` says, and 0 on SIGTERM (a clean drain). */
class FakeWorker extends EventEmitter {
  static nextPid = 1000;
  readonly pid = FakeWorker.nextPid++;
  readonly signals: string[] = [];
  exited = false;
  constructor(readonly slot: number) {
    super();
  }
  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    if (this.exited) return;
    this.exited = true;
    setImmediate(() => this.emit('exit', code, signal));
  }
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(signal);
    this.exit(signal === 'SIGTERM' ? 0 : null, signal === 'SIGTERM' ? null : signal);
    return true;
  }
}

interface Started {
  slot: number;
  at: number;
  worker: FakeWorker;
}

/** A fork that records each start and lets `behave` decide what the new worker does. */
function fakeFork(behave: (w: FakeWorker, startsOfSlot: number) => void) {
  const started: Started[] = [];
  const t0 = Date.now();
  const fork = (_module: string, _args: string[], options: { env: NodeJS.ProcessEnv }) => {
    const slot = Number(options.env['STREAMSCORE_WORKER_ID']);
    const worker = new FakeWorker(slot);
    started.push({ slot, at: Date.now() - t0, worker });
    behave(worker, started.filter((s) => s.slot === slot).length);
    return worker as unknown as ChildProcess;
  };
  return { fork, started, ofSlot: (slot: number) => started.filter((s) => s.slot === slot) };
}

const policy = (p: Partial<RestartPolicy>): RestartPolicy => ({
  maxFailures: 3,
  windowMs: 10_000,
  initialBackoffMs: 20,
  maxBackoffMs: 1000,
  ...p,
});

function fleet(
  fork: ReturnType<typeof fakeFork>['fork'],
  restart: RestartPolicy,
  extra: { workers?: number; signal?: AbortSignal; logger?: Logger } = {},
) {
  return runFleet({
    workers: extra.workers ?? 2,
    module: 'worker.js',
    args: [],
    logger: extra.logger ?? silentLogger,
    restart,
    fork,
    ...(extra.signal ? { signal: extra.signal } : {}),
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `cond()` holds (a fleet that hangs fails by the test's timeout instead). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await sleep(5);
}

/** Every test is bounded: a supervisor that never gives up must fail, not hang the suite. */
const bounded = { timeout: 10_000 };

describe('fleet supervisor: restart policy', () => {
  it(
    'restarts a failing worker with doubling back-off, then gives up after maxFailures within the window: drains the others, exits 1',
    bounded,
    async () => {
      // Worker 0 fails at start every time (a pipeline that cannot run); worker 1 is healthy.
      const f = fakeFork((w) => {
        if (w.slot === 0) w.exit(1);
      });
      const delays: unknown[] = [];
      const logger = { ...silentLogger, warn: (o: Record<string, unknown>) => delays.push(o['restartInMs']) };
      const code = await fleet(f.fork, policy({ maxFailures: 3 }), { logger });
      assert.equal(code, 1, 'the supervisor reports the crash loop');
      const zero = f.ofSlot(0);
      assert.equal(zero.length, 3, 'started, restarted twice, then given up on');
      assert.deepEqual(delays, [20, 40], 'the back-off starts at initialBackoffMs and doubles');
      // And the restarts wait for it. Node's timers count from the event loop's cached time, which
      // can be a few ms behind Date.now() on a loaded machine (seen: 19 ms for a 20 ms back-off).
      const gaps = zero.slice(1).map((s, i) => s.at - zero[i]!.at);
      assert.ok(gaps[0]! >= 15 && gaps[1]! >= 35, `each restart waits for its back-off: gaps ${gaps} ms`);
      const one = f.ofSlot(1);
      assert.equal(one.length, 1, 'the healthy worker is not restarted');
      assert.deepEqual(one[0]!.worker.signals, ['SIGTERM'], 'and is drained when the fleet gives up');
    },
  );

  it(
    'counts failures of every worker together (a poison record kills whichever worker owns its partition)',
    bounded,
    async () => {
      const f = fakeFork((w, n) => {
        if (n <= 2) setTimeout(() => w.exit(1), 5);
      });
      const code = await fleet(f.fork, policy({ maxFailures: 4 }), { workers: 2 });
      assert.equal(code, 1);
      assert.equal(f.started.length, 4, 'four failures in all: two per worker');
    },
  );

  it('counts a worker killed by a signal (OOM killer) as a failure', bounded, async () => {
    const f = fakeFork((w) => w.exit(null, 'SIGKILL'));
    assert.equal(await fleet(f.fork, policy({ maxFailures: 2 }), { workers: 1 }), 1);
    assert.equal(f.started.length, 2);
  });

  it(
    'forgets failures older than the window: a worker failing now and then is restarted for as long as it takes',
    bounded,
    async () => {
      const stop = new AbortController();
      // Each run lasts 60 ms before failing; the window is 40 ms: never two failures in it.
      const f = fakeFork((w) => setTimeout(() => w.exit(1), 60));
      const run = fleet(f.fork, policy({ maxFailures: 2, windowMs: 40, initialBackoffMs: 1 }), {
        workers: 1,
        signal: stop.signal,
      });
      await until(() => f.started.length >= 5);
      stop.abort();
      assert.equal(await run, 0, 'drained on request, not given up');
      assert.ok(f.started.length >= 5, `restarted again and again: ${f.started.length} starts`);
    },
  );

  it('restarts a worker that exited 0 without being asked, without counting it', bounded, async () => {
    const stop = new AbortController();
    const f = fakeFork((w, n) => {
      if (n <= 3) w.exit(0);
    });
    const run = fleet(f.fork, policy({ maxFailures: 1 }), { workers: 1, signal: stop.signal });
    await until(() => f.started.length >= 4);
    await sleep(50);
    stop.abort();
    assert.equal(await run, 0);
    assert.equal(f.started.length, 4, 'restarted three times, never given up on');
  });

  it('with maxFailures 0 never gives up', bounded, async () => {
    const stop = new AbortController();
    const f = fakeFork((w) => w.exit(1));
    const run = fleet(f.fork, policy({ maxFailures: 0, initialBackoffMs: 1, maxBackoffMs: 2 }), {
      workers: 1,
      signal: stop.signal,
    });
    await until(() => f.started.length > 10);
    stop.abort();
    assert.equal(await run, 0);
  });

  it('a drain (SIGTERM) stops every worker, cancels pending restarts and exits 0', bounded, async () => {
    const stop = new AbortController();
    const f = fakeFork((w) => {
      if (w.slot === 1) w.exit(1); // waiting for its restart when the drain begins
    });
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    await sleep(100); // earlier tests' timers have run out
    const before = timers();
    const run = fleet(f.fork, policy({ initialBackoffMs: 10_000 }), { workers: 2, signal: stop.signal });
    await sleep(50);
    const started = Date.now();
    stop.abort();
    assert.equal(await run, 0);
    assert.ok(Date.now() - started < 1000, 'the pending restart does not hold the drain');
    assert.equal(timers(), before, 'nor keeps the process alive afterwards (its timer is cleared)');
    assert.deepEqual(f.ofSlot(0)[0]!.worker.signals, ['SIGTERM']);
    assert.equal(f.ofSlot(1).length, 1, 'not restarted after the drain began');
  });
});

describe('fleet supervisor: restart policy from the environment', () => {
  it('defaults to 5 failures in 5 minutes', () => {
    assert.deepEqual(restartPolicyFromEnv({}), DEFAULT_RESTART_POLICY);
    assert.equal(DEFAULT_RESTART_POLICY.maxFailures, 5);
    assert.equal(DEFAULT_RESTART_POLICY.windowMs, 300_000);
  });

  it('reads STREAMSCORE_FLEET_MAX_FAILURES and STREAMSCORE_FLEET_FAILURE_WINDOW_MS, and rejects nonsense', () => {
    const p = restartPolicyFromEnv({
      STREAMSCORE_FLEET_MAX_FAILURES: '0',
      STREAMSCORE_FLEET_FAILURE_WINDOW_MS: '60000',
    });
    assert.equal(p.maxFailures, 0);
    assert.equal(p.windowMs, 60000);
    assert.throws(
      () => restartPolicyFromEnv({ STREAMSCORE_FLEET_MAX_FAILURES: 'many' }),
      /STREAMSCORE_FLEET_MAX_FAILURES: expected an integer of at least 0, got 'many'/,
    );
    assert.throws(() => restartPolicyFromEnv({ STREAMSCORE_FLEET_FAILURE_WINDOW_MS: '0' }), /at least 1/);
  });
});
