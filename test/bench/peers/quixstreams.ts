/**
 * The Quix Streams peer (test/bench/peers/quixstreams/app.py) on the same topic: its venv is
 * .stack/venv-bench (created from requirements.txt when missing), its catch-up is measured exactly
 * like streamscore's (committed offsets of its group reaching the end).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import { env, uniqueId } from '../../support/stack.js';
import { type CatchUpResult, measureCatchUp } from '../catchup.js';
import { dropScores, scoresTable } from '../e2e.js';
import { stackPids } from '../procstat.js';
import { type Spawned, spawnLogged } from '../spawned.js';
import { type BenchTopic, createTopic, deleteGroups, deleteTopics, endOffsets } from '../topic.js';

const VENV = resolve('.stack/venv-bench');
const PY = `${VENV}/bin/python`;
const REQUIREMENTS = 'test/bench/peers/quixstreams/requirements.txt';

export type PeerResult = (CatchUpResult & { rss_mb_peak: number | null; [k: string]: unknown }) | null;

/** A peer's catch-up, measured exactly like streamscore's: its group's commits, its process tree's CPU. */
export function measurePeer(
  proc: Spawned,
  o: { kafka: Kafka; groupId: string; topic: string; end: Map<number, bigint>; capSeconds: number; failed?: () => string | undefined },
): Promise<CatchUpResult> {
  const pids = stackPids();
  return measureCatchUp({
    kafka: o.kafka,
    groupId: o.groupId,
    topic: o.topic,
    end: o.end,
    cpuRoots: () => ({ worker: proc.pid, postgres: pids.postgres, kafka: pids.kafka }),
    capSeconds: o.capSeconds,
    startTimeoutSeconds: 150,
    failed: () => {
      const f = o.failed?.();
      if (f) return f;
      const c = proc.exitCode();
      return c === undefined ? undefined : `exited with ${c}: ${proc.output().slice(-1500)}`;
    },
  });
}

/** Creates the venv when missing; returns a reason when it cannot. */
export function ensureVenv(): string | undefined {
  if (existsSync(PY)) {
    const ok = spawnSync(PY, ['-c', 'import quixstreams, onnxruntime, psycopg'], { encoding: 'utf8' });
    if (ok.status === 0) return undefined;
  }
  const mk = spawnSync('python3', ['-m', 'venv', VENV], { encoding: 'utf8' });
  if (mk.status !== 0) return `python3 -m venv failed: ${mk.stderr.slice(0, 300)}`;
  const pip = spawnSync(`${VENV}/bin/pip`, ['install', '-q', '-r', REQUIREMENTS], { encoding: 'utf8', timeout: 600000 });
  if (pip.status !== 0) return `pip install -r ${REQUIREMENTS} failed: ${(pip.stderr || pip.stdout).slice(-400)}`;
  return undefined;
}

export async function runQuixStreams(o: {
  kafka: Kafka;
  topic: BenchTopic;
  capSeconds: number;
}): Promise<{ result: PeerResult; reason?: string }> {
  if (o.topic.format !== 'avro') return { result: null, reason: 'the Quix Streams app reads the Avro topic' };
  const why = ensureVenv();
  if (why) return { result: null, reason: why };
  const id = uniqueId();
  const table = scoresTable(`quix_${id}`);
  const group = `bench-quix-${id}`;
  const output = `bench-quix-out-${id}`;
  await createTopic(o.kafka, output);
  const end = await endOffsets(o.kafka, o.topic.topic);
  const proc = spawnLogged(PY, ['test/bench/peers/quixstreams/app.py'], {
    env: {
      ...process.env,
      KAFKA_BROKERS: env.kafkaBrokers,
      SCHEMA_REGISTRY_URL: env.registryUrl,
      DATABASE_URL: env.databaseUrl,
      QUIX_TOPIC: o.topic.topic,
      QUIX_GROUP: group,
      QUIX_OUTPUT_TOPIC: output,
      QUIX_TABLE: table,
      QUIX_MODEL: resolve('pipelines/models/churn/1/model.onnx'),
      QUIX_COMMIT_INTERVAL: '1',
    },
    logFile: '.bench/logs/quixstreams.log',
  });
  let result: CatchUpResult;
  try {
    result = await measurePeer(proc, { kafka: o.kafka, groupId: group, topic: o.topic.topic, end, capSeconds: o.capSeconds });
  } finally {
    await proc.stop(20000);
  }
  await dropScores(table);
  await deleteTopics(o.kafka, [output]);
  await deleteGroups(o.kafka, [group]);
  if (result.events_per_s === null) return { result: null, reason: result.error ?? 'no progress measured' };
  return { result: { ...result, rss_mb_peak: proc.peakRssMb(), commit_interval_s: 1, inference: 'per record' } };
}
