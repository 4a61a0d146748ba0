/**
 * The fault scenarios of issue 19, each a ScenarioOptions for test/support/chaos.ts; `make chaos`
 * runs their long variants (test/chaos/*.test.ts), `make test` the short ones
 * (test/e2e/chaos-faults.test.ts). Every fault is a real one on the stack's own processes, and the
 * service is restarted by the stack's launcher, so the stack is up again when a scenario ends.
 */
import { type ChaosContext, type ScenarioOptions, sleep } from '../support/chaos.js';
import { fleetWorkerPids } from '../support/fleet.js';
import { waitFor, withPg } from '../support/stack.js';
import { killService, serviceUp, stopStackPostgresImmediate } from '../support/stack-services.js';

/** The load every scenario runs under: the issue's 5,000 change events a second. */
export const RATE = Number(process.env['CHAOS_RATE'] ?? 5000);

/**
 * The Kafka broker (the stack's single node: broker and controller) SIGKILLed `kills` times, `gapS`
 * apart, each time restarted by the launcher after `downS`; with `outageS`, once more, down that long.
 */
export function brokerScenario(o: {
  kills: number;
  gapS: number;
  downS: number;
  outageS?: number;
  seconds: number;
}): ScenarioOptions {
  return {
    name: `Kafka broker SIGKILL ×${o.kills}${o.outageS ? ` + down ${o.outageS} s` : ''}`,
    rate: RATE,
    seconds: o.seconds,
    async faults(ctx) {
      const bounce = async (downS: number, what: string) => {
        const at = ctx.at();
        const pid = killService('kafka');
        await sleep(downS * 1000);
        const took = await serviceUp('kafka');
        ctx.note(
          `${what}: broker pid ${pid} SIGKILLed at ${at}, restarted after ${downS} s, answering ${took.toFixed(1)} s later`,
        );
        ctx.healed(what);
        await ctx.recovered();
      };
      for (let k = 1; k <= o.kills; k++) {
        await sleep(o.gapS * 1000);
        await bounce(o.downS, `broker kill ${k}`);
      }
      if (o.outageS) {
        await sleep(o.gapS * 1000);
        await bounce(o.outageS, `broker down ${o.outageS} s`);
      }
    },
  };
}

/**
 * The stack's Postgres — the sink's, the audit log's and Debezium's source — stopped with `pg_ctl
 * stop -m immediate` `stops` times and started again by the launcher: an immediate restart, with
 * crash recovery. A CRM table captured by Debezium changes through it (Debezium reconnects).
 */
export function postgresScenario(o: {
  stops: number;
  gapS: number;
  downS: number;
  seconds: number;
}): ScenarioOptions {
  return {
    name: `Postgres restart -m immediate ×${o.stops}`,
    rate: RATE,
    seconds: o.seconds,
    cdc: { customers: 2000, perRound: { updates: 40, deletes: 3, inserts: 3 }, roundMs: 200 },
    async faults(ctx) {
      for (let k = 1; k <= o.stops; k++) {
        await sleep(o.gapS * 1000);
        const pid = await stopStackPostgresImmediate();
        await sleep(o.downS * 1000);
        const took = await serviceUp('postgres');
        ctx.note(
          `Postgres (postmaster ${pid}) stopped -m immediate, started again after ${o.downS} s, answering ${took.toFixed(1)} s later`,
        );
        ctx.healed(`Postgres restart ${k}`);
        await ctx.recovered();
      }
    },
  };
}

/**
 * The schema registry (Apicurio) SIGKILLed under load and started again by the launcher after
 * `downS`, while new versions of the value schema appear: two versions registered just before the
 * kill (as a producer that registered them, and caches their ids, keeps producing), the load
 * switching to the first at the kill and to the second halfway through the outage. The workers have
 * seen neither id: each one's decode waits for the registry (a retryable error), and nothing may be
 * lost, skipped or sent to the dead-letter topic. The registry keeps its schemas across the restart
 * (infra/local: an H2 file), as a production registry does.
 */
export function registryScenario(o: { downS: number; seconds: number }): ScenarioOptions {
  return {
    name: `schema registry SIGKILL, down ${o.downS} s, new schema versions meanwhile`,
    rate: RATE,
    seconds: o.seconds,
    noDeadLetters: true,
    // Waiting for the registry is no stall: restarting the consumer would not bring it back.
    noStalls: true,
    async faults(ctx) {
      await sleep(15_000);
      const v2 = await ctx.registerValueVersion(2);
      const v3 = await ctx.registerValueVersion(3);
      const pid = killService('apicurio');
      const killedAt = Date.now();
      const until = (ms: number) => sleep(Math.max(0, killedAt + ms - Date.now()));
      ctx.frameValuesWith(v2);
      ctx.note(`registry pid ${pid} SIGKILLed; values framed with schema id ${v2} from now`);
      // A worker stopped while its batches wait for the registry drains at once (leaving them
      // uncommitted), not at the end of its 30 s drain timeout; the fleet starts it again.
      await sleep(4000);
      const [worker] = fleetWorkerPids(ctx.fleet.child.pid!);
      if (worker !== undefined) {
        const t0 = Date.now();
        process.kill(worker, 'SIGTERM');
        await waitFor('the SIGTERMed worker gone', async () => !isAlive(worker), 20_000).catch(
          () => undefined,
        );
        const took = (Date.now() - t0) / 1000;
        ctx.note(
          `fleet worker ${worker} SIGTERMed while waiting for the registry: gone ${took.toFixed(1)} s later`,
        );
        if (isAlive(worker) || took > 10)
          throw new Error(
            `a worker SIGTERMed while waiting for the registry took ${took.toFixed(1)} s to drain`,
          );
      }
      await until((o.downS * 1000) / 2);
      ctx.frameValuesWith(v3);
      ctx.note(`values framed with schema id ${v3} from now`);
      await until(o.downS * 1000);
      // The workers cannot have decoded what the new ids frame: the lag grew through the outage.
      const held = ctx.maxLag();
      const took = await serviceUp('apicurio');
      ctx.note(
        `registry started again after ${o.downS} s, answering ${took.toFixed(1)} s later; lag reached ${held.toFixed(1)} s meanwhile`,
      );
      if (held < o.downS / 2)
        throw new Error(
          `the lag reached only ${held.toFixed(1)} s while the registry was down: the workers decoded messages framed with schema ids they could not fetch`,
        );
      ctx.healed('the registry outage');
      await ctx.recovered();
    },
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until the backfill has done at least `done` chunks and has one in progress; notes it when
 * that does not come within 45 s (the run lost, or stuck) and goes on: the checker reports the run.
 */
async function midBackfill(ctx: ChaosContext, done: number): Promise<void> {
  await waitFor(
    `backfill: ${done} chunks done, one in progress`,
    async () => {
      const p = await ctx.backfillProgress();
      return p !== undefined && p.done >= done && p.active > 0;
    },
    45_000,
  ).catch(async (err: Error) => {
    ctx.note(
      `${err.message}; progress ${JSON.stringify(await ctx.backfillProgress().catch(() => undefined))}`,
    );
  });
}

/**
 * Redis (BullMQ's store) SIGKILLed `kills` times while the fleet backfills a `rows`-row table,
 * each time mid-chunk, restarted by the launcher after `downS`; the run must complete exactly.
 */
export function redisBackfillScenario(o: {
  kills: number;
  rows: number;
  downS: number;
  seconds: number;
}): ScenarioOptions {
  const chunkSize = 2000;
  const chunks = Math.ceil(o.rows / chunkSize);
  return {
    name: `Redis SIGKILL ×${o.kills} during a ${o.rows.toLocaleString('en-US')}-row backfill`,
    rate: RATE,
    seconds: o.seconds,
    backfill: { rows: o.rows, chunkSize, lockMs: 2000 },
    async faults(ctx) {
      for (let k = 1; k <= o.kills; k++) {
        // The first kill a few chunks in, each next one at least 2 chunks and 2 s after the last.
        const before = (await ctx.backfillProgress().catch(() => undefined))?.done ?? 0;
        if (k > 1) await sleep(2000);
        await midBackfill(ctx, Math.max(Math.floor(chunks / (o.kills + 3)), before + 2));
        const pid = killService('redis');
        await sleep(o.downS * 1000);
        const took = await serviceUp('redis');
        ctx.note(
          `Redis pid ${pid} SIGKILLed mid-chunk, restarted after ${o.downS} s, answering ${took.toFixed(1)} s later`,
        );
        ctx.healed(`Redis kill ${k}`);
      }
    },
  };
}

/**
 * A rebalance storm: the fleet's 2 workers joined by 2 more (one at a time), then those two
 * stopped with rolling SIGTERMs and one fleet worker SIGKILLed (its supervisor restarts it):
 * 2 → 4 → 2 members, a rebalance at every step.
 */
export function rebalanceScenario(o: { stepS: number; seconds: number }): ScenarioOptions {
  return {
    name: 'rebalance storm 2 → 4 → 2 (rolling SIGTERM, one SIGKILL)',
    rate: RATE,
    seconds: o.seconds,
    async faults(ctx) {
      const step = () => sleep(o.stepS * 1000);
      await step();
      const extra = [ctx.startWorker()];
      await step();
      extra.push(ctx.startWorker());
      ctx.note('2 workers joined the fleet’s 2');
      await step();
      for (const w of extra) {
        await w.stop('SIGTERM');
        ctx.note(`a joined worker stopped with SIGTERM (exit ${w.child.exitCode})`);
        await step();
      }
      const [victim] = fleetWorkerPids(ctx.fleet.child.pid!);
      if (victim !== undefined) {
        process.kill(victim, 'SIGKILL');
        ctx.note(`fleet worker ${victim} SIGKILLed`);
      }
      await waitFor(
        'the fleet back at 2 workers',
        async () => fleetWorkerPids(ctx.fleet.child.pid!).length === 2,
        60_000,
      );
      ctx.healed('the storm');
    },
  };
}

/**
 * A slow sink: the scores table locked (ACCESS EXCLUSIVE, in a transaction held open) for
 * `stallS`, twice the group's 10 s session timeout: every write waits, the workers' batches hang,
 * members may be dropped from the group and their partitions re-read elsewhere; no commit may pass
 * a record that was not written.
 */
export function slowSinkScenario(o: { stallS: number; seconds: number }): ScenarioOptions {
  return {
    name: `slow sink (scores table locked ${o.stallS} s)`,
    rate: RATE,
    seconds: o.seconds,
    async faults(ctx) {
      await sleep(15_000);
      await withPg(async (c) => {
        await c.query('begin');
        await c.query(`lock table ${ctx.scores} in access exclusive mode`);
        await sleep(o.stallS * 1000);
        await c.query('commit');
      });
      ctx.note(`scores table locked for ${o.stallS} s`);
      ctx.healed('the stalled sink');
    },
  };
}
