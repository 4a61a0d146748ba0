/**
 * The transport baseline: Kafka Connect with the Debezium JDBC sink connector upserting the same
 * Debezium events into Postgres (no inference). The stack's shared Connect worker does not carry
 * the JDBC sink, and adding a plugin means restarting it under other users, so the bench starts a
 * private standalone worker from the stack's Kafka jars (.stack/lib/kafka) with its own plugin path:
 * the connector fetched by Maven (pom.xml here) into .stack/bench/plugins, plus a copy of the stack's
 * Apicurio Avro converter. Completion is measured like every other run: committed offsets of the
 * connector's group (`connect-<name>`) reaching the end.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import { env, uniqueId, withPg } from '../../support/stack.js';
import type { CatchUpResult } from '../catchup.js';
import { spawnLogged } from '../spawned.js';
import { type BenchTopic, deleteGroups, endOffsets } from '../topic.js';
import { measurePeer, type PeerResult } from './quixstreams.js';

const HERE = 'test/bench/peers/kafka-connect-jdbc';
const KAFKA_LIB = resolve('.stack/lib/kafka');
const PLUGINS = resolve('.stack/bench/plugins');
const JDBC_DIR = `${PLUGINS}/debezium-connector-jdbc`;
const CONVERTER_DIR = resolve('.stack/plugins/apicurio-converter');
const PORT = 18093;

/** Fetches the connector with Maven (offline first) and writes Connect's plugin manifests. */
export function ensurePlugin(): string | undefined {
  if (!existsSync(KAFKA_LIB)) return `no Kafka jars at ${KAFKA_LIB} (the stack's Kafka is external?)`;
  if (!existsSync(CONVERTER_DIR)) return `no Apicurio converter at ${CONVERTER_DIR}`;
  const pom = `${HERE}/pom.xml`;
  const sha = createHash('sha256').update(readFileSync(pom)).digest('hex').slice(0, 16);
  const stamp = `${JDBC_DIR}/.bench-stamp`;
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === sha) return undefined;
  const tmp = `${JDBC_DIR}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  const args = ['-B', '-q', '-f', pom, 'dependency:copy-dependencies', `-Dbench.plugin.dir=${tmp}`];
  let mvn = spawnSync('mvn', ['-o', ...args], { encoding: 'utf8', timeout: 600000 });
  if (mvn.status !== 0) mvn = spawnSync('mvn', args, { encoding: 'utf8', timeout: 600000 });
  if (mvn.error || mvn.status !== 0) {
    return `mvn could not fetch io.debezium:debezium-connector-jdbc: ${(mvn.stdout + mvn.stderr).split('\n').find((l) => l.includes('ERROR')) ?? mvn.error}`;
  }
  rmSync(JDBC_DIR, { recursive: true, force: true });
  mkdirSync(PLUGINS, { recursive: true });
  renameSync(tmp, JDBC_DIR);
  // A copy of the stack's Avro converter: plugin.path lists parents of plugin directories, and the
  // manifest sync below must not write into the stack's own plugin directory.
  rmSync(`${PLUGINS}/apicurio-converter`, { recursive: true, force: true });
  cpSync(CONVERTER_DIR, `${PLUGINS}/apicurio-converter`, { recursive: true });
  const sync = spawnSync(
    'java',
    ['-Xmx256m', '-cp', `${KAFKA_LIB}/*`, 'org.apache.kafka.tools.ConnectPluginPath', 'sync-manifests', '--plugin-path', PLUGINS],
    { encoding: 'utf8', timeout: 300000 },
  );
  if (sync.status !== 0) return `connect-plugin-path sync-manifests failed: ${(sync.stderr || sync.stdout).slice(-300)}`;
  writeFileSync(stamp, sha);
  return undefined;
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\$\{(\w+)\}/g, (_m, k: string) => values[k] ?? '');
}

export async function runKafkaConnectJdbc(o: {
  kafka: Kafka;
  topic: BenchTopic;
  capSeconds: number;
  tasks: number;
}): Promise<{ result: PeerResult; reason?: string }> {
  if (o.topic.format !== 'avro') return { result: null, reason: 'configured for the Avro topic' };
  const why = ensurePlugin();
  if (why) return { result: null, reason: why };
  const id = uniqueId();
  const name = `bench_jdbc_${id}`;
  const table = `bench_jdbc_${id}`;
  const dir = resolve(`.stack/bench/connect-${id}`);
  mkdirSync(dir, { recursive: true });
  const db = new URL(env.databaseUrl);
  writeFileSync(
    `${dir}/worker.properties`,
    fill(readFileSync(`${HERE}/worker.properties`, 'utf8'), {
      BROKERS: env.kafkaBrokers,
      PORT: String(PORT),
      PLUGIN_PATH: PLUGINS,
      OFFSETS_FILE: `${dir}/offsets`,
    }),
  );
  writeFileSync(
    `${dir}/connector.properties`,
    fill(readFileSync(`${HERE}/connector.properties`, 'utf8'), {
      NAME: name,
      TASKS: String(o.tasks),
      TOPIC: o.topic.topic,
      JDBC_URL: `jdbc:postgresql://${db.hostname}:${db.port || '5432'}${db.pathname}`,
      PG_USER: decodeURIComponent(db.username || 'postgres'),
      PG_PASSWORD: decodeURIComponent(db.password),
      TABLE: table,
      APICURIO_URL: env.registryUrl.replace(/\/apis\/ccompat\/v7\/?$/, '/apis/registry/v2'),
    }),
  );
  writeFileSync(
    `${dir}/log4j2.properties`,
    [
      'status = warn',
      'appender.out.type = Console',
      'appender.out.name = STDOUT',
      'appender.out.layout.type = PatternLayout',
      'appender.out.layout.pattern = [%d] %p %m (%c)%n',
      'rootLogger.level = WARN',
      'rootLogger.appenderRef.out.ref = STDOUT',
    ].join('\n'),
  );
  const end = await endOffsets(o.kafka, o.topic.topic);
  const proc = spawnLogged(
    'java',
    [
      '-Xms256m',
      '-Xmx512m',
      '-XX:+UseG1GC',
      `-Dlog4j2.configurationFile=${dir}/log4j2.properties`,
      '-cp',
      `${KAFKA_LIB}/*`,
      'org.apache.kafka.connect.cli.ConnectStandalone',
      `${dir}/worker.properties`,
      `${dir}/connector.properties`,
    ],
    { logFile: '.bench/logs/kafka-connect-jdbc.log', keepChars: 40000 },
  );
  let taskFailure: string | undefined;
  const watch = setInterval(() => {
    void fetch(`http://127.0.0.1:${PORT}/connectors/${name}/status`)
      .then((r) => r.json() as Promise<{ tasks?: { state: string; trace?: string }[] }>)
      .then((s) => {
        const failed = s.tasks?.find((t) => t.state === 'FAILED');
        if (failed) taskFailure = `task FAILED: ${failed.trace?.split('\n').slice(0, 2).join(' ')}`;
      })
      .catch(() => undefined);
  }, 1000);
  let result: CatchUpResult;
  try {
    result = await measurePeer(proc, {
      kafka: o.kafka,
      groupId: `connect-${name}`,
      topic: o.topic.topic,
      end,
      capSeconds: o.capSeconds,
      failed: () => taskFailure,
    });
  } finally {
    clearInterval(watch);
    await proc.stop(30000);
  }
  const rows = await withPg(async (c) => {
    const r = await c.query('select to_regclass($1) as t', [table]);
    if (r.rows[0].t === null) return null;
    const n = Number((await c.query(`select count(*)::int as n from ${table}`)).rows[0].n);
    await c.query(`drop table ${table}`);
    return n;
  }).catch(() => null);
  await deleteGroups(o.kafka, [`connect-${name}`]);
  rmSync(dir, { recursive: true, force: true });
  if (result.events_per_s === null) return { result: null, reason: result.error ?? 'no progress measured' };
  return {
    result: {
      ...result,
      rss_mb_peak: proc.peakRssMb(),
      rows_in_table: rows,
      connector: 'io.debezium:debezium-connector-jdbc:3.5.0.Final',
      tasks: o.tasks,
    },
  };
}
