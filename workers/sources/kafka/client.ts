import { readFileSync } from 'node:fs';
import {
  Kafka,
  type KafkaConfig,
  logLevel,
  type Producer,
  type ProducerConfig,
  type SASLOptions,
} from 'kafkajs';
import type { Secret } from '../../core/secret.js';
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

/** Builds a kafkajs client; secrets are revealed only here, at the client boundary. */
export function createKafkaClient(cfg: KafkaConnectionConfig, logger: Logger): Kafka {
  const options: KafkaConfig = {
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
    retry: { retries: 8, initialRetryTime: 200 },
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
