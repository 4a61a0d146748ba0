/**
 * Maximum sustainable rate with flat lag: `streamscore run` (the e2e pipeline) fed by the bench's
 * open-loop producer at rising fractions of the catch-up maximum. A step is sustained when the
 * group's lag (end offsets − committed) does not grow over the second half of the step by more than
 * 5 % of the offered rate per second and the producer (in the bench process, on the same cores)
 * delivered at least 95 % of it. New-customer events (creates) on the same topic.
 */
import type { Kafka } from 'kafkajs';
import { uniqueId } from '../support/stack.js';
import { dropScores, pipelineEnv, scoresTable } from './e2e.js';
import { groupStable, openLoop } from './latency.js';
import type { BenchTopic } from './topic.js';
import { createTopic, deleteGroups, deleteTopics, endOffsets, setGroupOffsets } from './topic.js';
import { startWorker } from './worker.js';

export interface SustainStep {
  load_share: number;
  offered_events_per_s: number;
  /** What the bench's producer actually delivered (it shares the cores); a step counts only if ≥ 95 % of offered. */
  achieved_events_per_s: number;
  /** Lag growth over the second half of the step, messages per second (≤ 5 % of the rate = flat). */
  lag_growth_per_s: number;
  lag_at_end: number;
  flat: boolean;
}

export interface SustainResult {
  pipeline: string;
  workers: number;
  catch_up_events_per_s: number;
  sustainable_events_per_s: number | null;
  steps: SustainStep[];
}

type Admin = ReturnType<Kafka['admin']>;

async function lag(admin: Admin, group: string, topic: string): Promise<number> {
  const end = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
  const res = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  let l = 0;
  for (const p of res[0]?.partitions ?? []) {
    const e = end.get(p.partition) ?? 0n;
    const c = p.offset === '-1' ? e : BigInt(p.offset);
    l += Number(e - c);
  }
  return l;
}

export async function runSustain(o: {
  kafka: Kafka;
  topic: BenchTopic;
  pipeline: string;
  workers: number;
  catchUpEventsPerSec: number;
  shares: number[];
  seconds: number;
}): Promise<SustainResult> {
  const id = uniqueId();
  const table = scoresTable(id);
  const group = `bench-e2e-${id}`;
  const output = `bench-scores-${id}`;
  const dlq = `bench-dlq-${id}`;
  await createTopic(o.kafka, output);
  await setGroupOffsets(o.kafka, group, o.topic.topic, await endOffsets(o.kafka, o.topic.topic));
  const worker = startWorker({
    pipeline: o.pipeline,
    workers: o.workers,
    env: pipelineEnv({ topic: o.topic, group, table, output, dlq }),
    logFile: '.bench/logs/sustain.log',
  });
  const steps: SustainStep[] = [];
  const admin = o.kafka.admin();
  await admin.connect();
  try {
    if (!(await groupStable(o.kafka, group, 60000)))
      throw new Error(`worker did not join: ${worker.output().slice(-800)}`);
    let idBase = 80_000_000;
    for (const share of o.shares) {
      const rate = share * o.catchUpEventsPerSec;
      const samples: { t: number; lag: number }[] = [];
      let sampling = true;
      const t0 = performance.now();
      const sampler = (async () => {
        while (sampling) {
          samples.push({ t: (performance.now() - t0) / 1000, lag: await lag(admin, group, o.topic.topic) });
          await new Promise((r) => setTimeout(r, 500));
        }
      })();
      const sent = await openLoop({ kafka: o.kafka, topic: o.topic, rate, seconds: o.seconds, idBase });
      const achieved = sent.sent / sent.seconds;
      sampling = false;
      await sampler;
      idBase += 10_000_000;
      const half = samples.filter((s) => s.t >= o.seconds / 2);
      const span = half.length >= 2 ? half : samples;
      const a = span[0];
      const b = span[span.length - 1];
      const growth = a && b && b.t > a.t ? (b.lag - a.lag) / (b.t - a.t) : Number.NaN;
      const flat = Number.isFinite(growth) && growth <= 0.05 * rate && achieved >= 0.95 * rate;
      steps.push({
        load_share: share,
        offered_events_per_s: rate,
        achieved_events_per_s: achieved,
        lag_growth_per_s: growth,
        lag_at_end: b?.lag ?? Number.NaN,
        flat,
      });
      // Drain before the next step (bounded).
      const end = Date.now() + 30000;
      while (Date.now() < end && (await lag(admin, group, o.topic.topic)) > 0)
        await new Promise((r) => setTimeout(r, 250));
      if (!flat) break;
    }
  } finally {
    await admin.disconnect();
    await worker.stop();
  }
  await dropScores(table);
  await deleteTopics(o.kafka, [output, dlq]);
  await deleteGroups(o.kafka, [group]);
  const ok = steps.filter((s) => s.flat).map((s) => s.offered_events_per_s);
  return {
    pipeline: o.pipeline,
    workers: o.workers,
    catch_up_events_per_s: o.catchUpEventsPerSec,
    sustainable_events_per_s: ok.length ? Math.max(...ok) : null,
    steps,
  };
}
