import { z } from 'zod';
import { nonNegativeInt, positiveInt, secret } from '../../spec/fields.js';

const brokers = z
  .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
  .transform((b) => (typeof b === 'string' ? b.split(',').map((s) => s.trim()) : b))
  .describe('Bootstrap brokers, as a list or a comma-separated string.');

export const saslConfig = z
  .strictObject({
    mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).describe('SASL mechanism.'),
    username: z.string().min(1).describe('SASL user name.'),
    password: secret(),
  })
  .describe('SASL authentication.');

export const tlsConfig = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Use TLS.'),
    ca_file: z.string().optional().describe('PEM file with the CA certificates to trust.'),
    cert_file: z.string().optional().describe('PEM client certificate (mutual TLS).'),
    key_file: z.string().optional().describe('PEM client key (mutual TLS).'),
    reject_unauthorized: z.boolean().default(true).describe('Verify the broker certificate.'),
  })
  .describe('TLS settings.');

export const kafkaConnection = {
  brokers,
  client_id: z.string().default('streamscore').describe('Kafka client id.'),
  sasl: saslConfig.optional(),
  tls: tlsConfig.optional(),
};

export const kafkaSourceConfig = z
  .strictObject({
    ...kafkaConnection,
    topics: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .transform((t) => (typeof t === 'string' ? [t] : t))
      .describe('Topic or topics to consume (Debezium: <prefix>.<schema>.<table>).'),
    group_id: z.string().min(1).describe('Consumer group; workers of one pipeline share it.'),
    from_beginning: z
      .boolean()
      .default(true)
      .describe('Start at the earliest offset when the group has none.'),
    session_timeout_ms: positiveInt().default(30000).describe('Group session timeout.'),
    heartbeat_interval_ms: positiveInt().default(3000).describe('Heartbeat interval.'),
    max_bytes_per_partition: positiveInt()
      .default(1048576)
      .describe(
        "Fetch size per partition: each fetched batch is decoded, scored and written as one unit, so with two batches in flight per partition it sets most of a worker's memory (the bench's 6-partition worker: ~450 MB peak RSS at 1 MiB, ~335 MB at 262144) and how long one batch keeps the event loop busy; smaller fetches cost CPU per event (+5 to +20 % at 262144 in the bench).",
      ),
    max_records_in_flight: nonNegativeInt()
      .default(0)
      .describe(
        'Records of one partition fetched ahead of their writes: two batches may always be in flight, more while they hold at most this many records. Lets fast sinks run ahead of a slow one (a warehouse flushing once a second) with bounded memory. 0 (default): two batches, best for latency without such a sink.',
      ),
    max_bytes_in_flight: nonNegativeInt()
      .default(16777216)
      .describe(
        "Bytes of fetched records (keys + values) one worker holds for this pipeline across all its partitions, fetched and not yet written by every sink, before it fetches again. Bounds a worker's memory whatever the number of partitions it owns (decoded, a record takes several times its bytes in the heap; the V8 heap then grows to ~3× what is live); one fetch may add up to max_bytes_per_partition × the worker's partitions (at most 10 MiB, kafkajs' fetch limit) on top. 16 MiB: above the two 1 MiB batches per partition of a worker owning 6 partitions, so such a worker never waits on it. 0: no bound beyond the partitions' windows.",
      ),
    partitions_consumed_concurrently: positiveInt()
      .default(8)
      .describe(
        'Partitions whose batches are processed at once; their rows share micro-batches and sink flushes.',
      ),
    stall_timeout_ms: nonNegativeInt()
      .default(120000)
      .describe(
        'Stall watchdog: a partition of this worker that lags (records not committed) without progress (no batch fetched, no commit) for this long is logged, counted (streamscore_consumer_stalls_total) and the consumer is restarted; it re-reads from the last commit. Not counted: while the group rebalances, while the pipeline is suspended or waits for its schema registry, or while the lag cannot be read. 0 turns the watchdog off.',
      ),
  })
  .describe('Consume change events from Kafka topics as a consumer group.');

export type KafkaSourceConfig = z.output<typeof kafkaSourceConfig>;
