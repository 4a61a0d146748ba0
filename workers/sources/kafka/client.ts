import { readFileSync } from 'node:fs';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  type ISocketFactory,
  Kafka,
  type KafkaConfig,
  logLevel,
  type Producer,
  type ProducerConfig,
  type SASLOptions,
} from 'kafkajs';
import { errorMessage, PipelineError } from '../../core/errors.js';
import type { Secret } from '../../core/secret.js';
import { isExpiredCert, isUntrustedChain } from '../../core/tls-errors.js';
import type { Logger } from '../../core/types.js';
import { FastDefaultPartitioner } from '../../sinks/kafka/partitioner.js';

export interface KafkaConnectionConfig {
  brokers: string[];
  client_id: string;
  sasl?:
    | { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: Secret }
    | undefined;
  tls?:
    | {
        enabled: boolean;
        ca_file?: string | undefined;
        cert_file?: string | undefined;
        key_file?: string | undefined;
        reject_unauthorized: boolean;
      }
    | undefined;
}

/** kafkajs' messages for UNKNOWN_TOPIC_OR_PARTITION and LEADER_NOT_AVAILABLE. */
const TOPIC_NOT_READY = new Set([
  'This server does not host this topic-partition',
  'There is no leader for this topic-partition as we are in the middle of a leadership election',
]);

/**
 * kafkajs' messages for a group that rebalances (REBALANCE_IN_PROGRESS, NOT_COORDINATOR_FOR_GROUP,
 * ILLEGAL_GENERATION): what every member sees when one joins or leaves. kafkajs re-joins by itself;
 * the source logs the new assignment.
 */
const REBALANCING = new Set([
  'The group is rebalancing, so a rejoin is needed',
  'This is not the correct coordinator for this group',
  'Specified group generation id is not valid',
]);

/** Whether a kafkajs log entry is routine (debug): a topic not there yet, or a group rebalancing. */
export function isRoutineKafkaLog(message: string, error: unknown): boolean {
  const e = String(error);
  if (message.startsWith('Response ')) {
    if (message.startsWith('Response Metadata') && TOPIC_NOT_READY.has(e)) return true;
    return REBALANCING.has(e);
  }
  return message === 'The group is rebalancing, re-joining';
}

/**
 * A producer whose partitioner places keys exactly as kafkajs' default (the Java client's murmur2,
 * so keys land where other Kafka clients put them) at a tenth of its cost per key (see
 * sinks/kafka/partitioner.ts); named explicitly, kafkajs no longer warns about its v2 change of
 * default on every start.
 */
export function createProducer(kafka: Kafka, config: ProducerConfig = {}): Producer {
  return kafka.producer({ createPartitioner: FastDefaultPartitioner, ...config });
}

/** A TLS failure of a broker connection, in words naming what to fix; undefined for other errors. */
export function kafkaTlsProblem(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  const msg = errorMessage(err);
  if (typeof code !== 'string') return undefined;
  if (isUntrustedChain(code))
    return `TLS failed: the broker certificate is not signed by a trusted CA (${msg}); tls.ca_file must name the CA that signed it`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `TLS failed: the broker certificate does not name the host connected to (${msg})`;
  if (isExpiredCert(code)) return `TLS failed: the broker certificate is not valid now (${msg})`;
  if (code.startsWith('ERR_SSL_')) return `TLS failed: ${msg}`;
  return undefined;
}

/**
 * kafkajs' sockets, whose TLS failures name the broker and say what to fix: kafkajs reports a socket
 * error as "Connection error: <its message>", which alone does not say it was Kafka's certificate.
 */
const namingSocketFactory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
  const socket: Socket = ssl
    ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...ssl }, onConnect)
    : netConnect({ host, port }, onConnect);
  socket.setKeepAlive(true, 60_000);
  // registered before kafkajs' own listener, so its error already carries the explanation
  socket.on('error', (err: Error) => {
    const problem = kafkaTlsProblem(err);
    if (problem && !err.message.startsWith('kafka ')) err.message = `kafka ${host}:${port}: ${problem}`;
  });
  return socket;
};

/** Builds a kafkajs client; secrets are revealed only here, at the client boundary. */
export function createKafkaClient(
  cfg: KafkaConnectionConfig,
  logger: Logger,
  tuning: { retries?: number; connectionTimeoutMs?: number } = {},
): Kafka {
  const options: KafkaConfig = {
    socketFactory: namingSocketFactory,
    ...(tuning.connectionTimeoutMs === undefined ? {} : { connectionTimeout: tuning.connectionTimeoutMs }),
    clientId: cfg.client_id,
    brokers: cfg.brokers,
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      const { message, ...rest } = entry.log;
      const fields = { kafka: entry.namespace, ...rest };
      // A metadata answer for a topic that does not exist (yet) is an error to kafkajs, once per
      // request; its callers handle it (the source waits for the topic and says so once per step).
      // A rebalance is an error answer to every member's heartbeat, and kafkajs re-joins.
      if (isRoutineKafkaLog(message, rest['error'])) {
        logger.debug(fields, message);
      } else if (entry.level <= logLevel.ERROR) logger.error(fields, message);
      else if (entry.level === logLevel.WARN) logger.warn(fields, message);
    },
    retry: { retries: tuning.retries ?? 8, initialRetryTime: 200 },
  };
  if (cfg.sasl) {
    options.sasl = {
      mechanism: cfg.sasl.mechanism,
      username: cfg.sasl.username,
      password: cfg.sasl.password.reveal(),
    } as SASLOptions;
  }
  if (cfg.tls?.enabled) {
    const read = (f: string | undefined) => (f ? readFileSync(f, 'utf8') : undefined);
    options.ssl = {
      rejectUnauthorized: cfg.tls.reject_unauthorized,
      ...(cfg.tls.ca_file ? { ca: [read(cfg.tls.ca_file)!] } : {}),
      ...(cfg.tls.cert_file ? { cert: read(cfg.tls.cert_file)! } : {}),
      ...(cfg.tls.key_file ? { key: read(cfg.tls.key_file)! } : {}),
    };
  }
  return new Kafka(options);
}

/** Does a TCP port complete a TLS handshake (any certificate)? Tells a TLS listener from a dead one. */
function speaksTls(host: string, port: number, timeoutMs = 3000): Promise<boolean> {
  return new Promise((done) => {
    const socket = tlsConnect({
      host,
      port,
      rejectUnauthorized: false,
      ...(isIP(host) ? {} : { servername: host }),
    });
    const finish = (v: boolean) => {
      socket.destroy();
      done(v);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('secureConnect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/**
 * One connection to the brokers, with this config and no retries: ok, or a PipelineError naming
 * Kafka and what to fix. KAFKA_TLS: the certificate is untrusted, names another host or expired, or
 * the listener speaks TLS to a client without `tls`; KAFKA_AUTH: SASL refused the user or password;
 * KAFKA_UNAVAILABLE: anything else (no broker answered). A check for `streamscore` commands and tests;
 * a worker's source meets the same errors (worded the same) after kafkajs' retries.
 */
export async function checkKafkaConnection(
  cfg: KafkaConnectionConfig,
  logger: Logger,
  timeoutMs = 10_000,
): Promise<void> {
  const admin = createKafkaClient(cfg, logger, { retries: 0, connectionTimeoutMs: timeoutMs }).admin();
  const where = `kafka ${cfg.brokers.join(',')}`;
  const fail = (code: string, message: string, cause: unknown) =>
    new PipelineError(`${where}: ${message}`, { code, stage: 'source', retryable: false, cause });
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (err) {
    const msg = errorMessage(err);
    const tls = msg.match(/kafka \S+: (TLS failed: .*)$/s)?.[1];
    if (tls) throw fail('KAFKA_TLS', tls, err);
    if (
      (err as { name?: unknown }).name === 'KafkaJSSASLAuthenticationError' ||
      /SASL .*authentication failed/i.test(msg)
    )
      throw fail('KAFKA_AUTH', `SASL authentication failed: ${msg} (sasl.username, sasl.password)`, err);
    if (!cfg.tls?.enabled) {
      const [host, port] = splitHostPort(cfg.brokers[0] ?? '');
      if (host && port && (await speaksTls(host, port)))
        throw fail(
          'KAFKA_TLS',
          `the listener requires TLS and this client connects without: set tls (${msg})`,
          err,
        );
    }
    throw fail('KAFKA_UNAVAILABLE', msg, err);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * For a source with `sasl` or `tls`: one unretried connection, failing on what retries cannot fix
 * (KAFKA_TLS, KAFKA_AUTH); a broker that does not answer is left to the client's own retries.
 */
export async function checkKafkaSecurity(cfg: KafkaConnectionConfig, logger: Logger): Promise<void> {
  if (!cfg.sasl && !cfg.tls?.enabled) return;
  try {
    await checkKafkaConnection(cfg, logger);
  } catch (err) {
    if (PipelineError.is(err) && err.code !== 'KAFKA_UNAVAILABLE') throw err;
  }
}

function splitHostPort(broker: string): [string, number] {
  const at = broker.lastIndexOf(':');
  return [broker.slice(0, at), Number(broker.slice(at + 1))];
}
