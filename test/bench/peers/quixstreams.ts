/**
 * The Quix Streams peer (test/bench/peers/quixstreams/app.py) on the same topic: its venv is
 * .stack/venv-bench (created from requirements.txt when missing), its catch-up is measured exactly
 * like streamscore's (committed offsets of its group reaching the end).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import { env, uniqueId } from '../../support/stack.js';
import { type CatchUpResult, measureCatchUp } from '../catchup.js';
import { dropScores, scoresTable } from '../e2e.js';
import { memoryMb, processTree, stackPids } from '../procstat.js';
import { type BenchTopic, createTopic, deleteGroups, deleteTopics, endOffsets } from '../topic.js';

const VENV = resolve('.stack/venv-bench');
const PY = `${VENV}/bin/python`;
const REQUIREMENTS = 'test/bench/peers/quixstreams/requirements.txt';

export type PeerResult = (CatchUpResult & { rss_mb_peak: number | null; [k: string]: unknown }) | null;

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
  const log = createWriteStream('.bench/logs/quixstreams.log');
  const child = spawn(PY, ['test/bench/peers/quixstreams/app.py'], {
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
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let code: number | null | undefined;
  const exited = new Promise<void>((r) =>
    child.once('exit', (c) => {
      code = c;
      r();
    }),
  );
  for (const s of [child.stdout, child.stderr]) {
    s?.on('data', (d: Buffer) => {
      log.write(d);
      if (out.length < 20000) out += d.toString();
    });
  }
  const pids = stackPids();
  let peak = 0;
  const sampler = setInterval(() => {
    for (const p of processTree(child.pid!)) peak = Math.max(peak, memoryMb(p)?.peak ?? 0);
  }, 1000);
  let result: CatchUpResult;
  try {
    result = await measureCatchUp({
      kafka: o.kafka,
      groupId: group,
      topic: o.topic.topic,
      end,
      cpuRoots: () => ({ worker: child.pid, postgres: pids.postgres, kafka: pids.kafka }),
      capSeconds: o.capSeconds,
      startTimeoutSeconds: 120,
      failed: () => (code === undefined ? undefined : `quixstreams exited with ${code}: ${out.slice(-1500)}`),
    });
    for (const p of processTree(child.pid!)) peak = Math.max(peak, memoryMb(p)?.peak ?? 0);
  } finally {
    clearInterval(sampler);
    if (code === undefined) child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 20000);
    await exited;
    clearTimeout(t);
    log.end();
  }
  await dropScores(table);
  await deleteTopics(o.kafka, [output]);
  await deleteGroups(o.kafka, [group]);
  if (result.events_per_s === null) return { result: null, reason: result.error ?? 'no progress measured' };
  return { result: { ...result, rss_mb_peak: Math.round(peak), commit_interval_s: 1, inference: 'per record' } };
}
