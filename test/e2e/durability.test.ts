import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CompressionTypes, Kafka, logLevel, type Message } from 'kafkajs';
import pg from 'pg';
import { makePosition } from '../../workers/core/position.js';
import { type Change, ChangeStream, EnvelopeEncoder, topicOf } from '../bench/events.js';
import { createTopic, deleteGroups, deleteSubjects, deleteTopics, registerSchemas } from '../bench/topic.js';
import { type RunningCli, startCli } from '../support/cli.js';
import { churnPipelineCopy } from '../support/pipelines.js';
import { type PrivatePostgres, postgresLogTail, privatePostgres } from '../support/private-postgres.js';
import { env, uniqueId, waitFor } from '../support/stack.js';

// Durable before committed: a --workers 2 fleet scores a stream of Debezium change events into a
// Postgres of this test's own that runs with the stack's test-speed settings (fsync,
// synchronous_commit and full_page_writes off) and is stopped with `pg_ctl stop -m immediate` four
// times under load, then restarted by the launcher. The fleet commits offsets only after the sink
// acknowledged a write; a commit the server had acknowledged but not written to its WAL is gone
// after the restart, and nothing replays it. So the sink must make its own commits durable: at the
// end every key's row must be the one of the last event for that key.
const id = uniqueId();
const names = { prefix: `durab${id}` };
const topic = topicOf(names);
const group = `durability-${id}`;
const scores = `ml.durability_${id}`;
const output = `durability-scores-${id}`;
const dlq = `durability-${id}.dlq`;
const ENTITIES = 4000;
const RATE = 1200; // events/s
const SECONDS = 30;
const STOPS_AT = [5, 11, 17, 23]; // s after the first event
const DOWN_MS = 1500;

const kafka = new Kafka({
  brokers: env.kafkaBrokers.split(','),
  clientId: `durability-${id}`,
  logLevel: logLevel.NOTHING,
});
let pgi: PrivatePostgres;
let fleet: RunningCli | undefined;

before(async () => {
  pgi = await privatePostgres(`durability-${id}`, { durability: 'fast' });
  const up = pgi.up();
  assert.equal(up.status, 0, up.output);
  await createTopic(kafka, topic, 6);
});

after(async () => {
  await fleet?.stop();
  await deleteTopics(kafka, [topic, output, dlq]).catch(() => undefined);
  await deleteGroups(kafka, [group]);
  await deleteSubjects(env.registryUrl, [`${topic}-key`, `${topic}-value`]).catch(() => undefined);
  pgi?.remove();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Produces RATE events/s for SECONDS (tombstones after deletes); returns the last change per key. */
async function produce(ids: { key: number; value: number }, started: number): Promise<Map<number, Change>> {
  const enc = new EnvelopeEncoder(names, 'avro', ids);
  const stream = new ChangeStream(
    { entities: ENTITIES, createShare: 0.15, deleteShare: 0.1, seed: Number.parseInt(id, 16) >>> 0 || 7 },
    RATE * SECONDS,
  );
  const last = new Map<number, Change>();
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  try {
    const tick = 100;
    const perTick = (RATE * tick) / 1000;
    const t0Us = (Date.now() - 60_000) * 1000;
    for (let i = 0, n = 0; n < RATE * SECONDS; i++) {
      const messages: Message[] = [];
      for (let k = 0; k < perTick && n < RATE * SECONDS; k++, n++) {
        const ch = stream.next(t0Us + n * 50);
        last.set(ch.id, ch);
        for (const r of enc.encode(ch)) messages.push({ key: r.key, value: r.value, headers: r.headers });
      }
      await producer.send({ topic, messages, acks: -1, compression: CompressionTypes.None });
      const wait = started + (i + 1) * tick - Date.now();
      if (wait > 0) await sleep(wait);
    }
  } finally {
    await producer.disconnect();
  }
  return last;
}

/** Stops the sink's Postgres with `-m immediate` at each of STOPS_AT, restarting it DOWN_MS later. */
async function crashes(started: number): Promise<string[]> {
  const log: string[] = [];
  for (const at of STOPS_AT) {
    const wait = started + at * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
    pgi.stopImmediate();
    await sleep(DOWN_MS);
    const up = pgi.up();
    assert.equal(
      up.status,
      0,
      `restart after the stop at ${at} s failed:\n${up.output}\n${postgresLogTail(pgi)}`,
    );
    log.push(`stopped at ${at} s, up again after ${(DOWN_MS / 1000 + up.seconds).toFixed(1)} s`);
  }
  return log;
}

async function committedToEnd(): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const end = await admin.fetchTopicOffsets(topic);
    const committed = (await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0]?.partitions ?? [];
    return end.every((p) => committed.find((c) => c.partition === p.partition)?.offset === p.high);
  } finally {
    await admin.disconnect();
  }
}

test(`a --workers 2 fleet under load, its Postgres stopped with -m immediate ${STOPS_AT.length} times: every key ends at its last event`, async () => {
  const ids = await registerSchemas(env.registryUrl, names);
  const pipeline = churnPipelineCopy(`durability-${id}`, { warehouse: false });
  fleet = startCli(['run', '--no-backfill', '--workers', '2', pipeline], {
    CHURN_TOPIC: topic,
    CHURN_GROUP: group,
    CHURN_ENCODING: 'avro',
    CHURN_SCORES_TABLE: scores,
    CHURN_OUTPUT_TOPIC: output,
    CHURN_DLQ: dlq,
    METRICS_PORT: '0',
    DATABASE_URL: pgi.url,
  });
  const started = Date.now();
  const [last, stops] = await Promise.all([produce(ids, started), crashes(started)]);

  await waitFor('the group committed to the end of the topic', committedToEnd, 90_000).catch((err: Error) => {
    throw new Error(`${err.message}\n--- fleet output (tail) ---\n${fleet!.output().slice(-4000)}`);
  });
  const c = new pg.Client({ connectionString: pgi.url });
  await c.connect();
  let rows: Map<number, string>;
  try {
    const r = await c.query(`select customer_id::text as k, source_position::text as p from ${scores}`);
    rows = new Map(r.rows.map((x) => [Number(x.k), String(x.p)]));
  } finally {
    await c.end();
  }
  const wrong: string[] = [];
  let deleted = 0;
  for (const [key, ch] of last) {
    const want = makePosition(ch.tsUs, ch.lsn).toString();
    const have = rows.get(key);
    if (ch.op === 'd') {
      deleted++;
      if (have !== undefined) wrong.push(`${key}: deleted at ${want}, row at ${have}`);
    } else if (have !== want) {
      wrong.push(`${key}: last event at ${want}, row ${have === undefined ? 'missing' : `at ${have}`}`);
    }
  }
  const summary =
    `${RATE * SECONDS} events over ${last.size} keys (${deleted} deleted last), ${stops.length} immediate stops ` +
    `(${stops.join('; ')}): ${wrong.length} wrong keys`;
  process.stdout.write(`${summary}\n`);
  assert.equal(
    wrong.length,
    0,
    `${summary}\n${wrong.slice(0, 10).join('\n')}\n--- fleet output (tail) ---\n${fleet.output().slice(-2000)}`,
  );
});
