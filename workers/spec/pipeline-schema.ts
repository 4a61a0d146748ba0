import { z } from 'zod';
import { components } from './components.js';
import { nameRef, nonNegativeInt, positiveInt, sqlIdentifier } from './fields.js';
import { oneOf } from './one-of.js';

export const FEATURE_TYPES = ['float', 'int', 'bool', 'one_hot'] as const;

export const featureDefinition = z.union([
  z.string().min(1).describe('An expression; the feature type is float.'),
  z
    .strictObject({
      expr: z.string().min(1).describe('The expression computing the feature.'),
      type: z
        .enum(FEATURE_TYPES)
        .default('float')
        .describe('float, int, bool (0/1) or one_hot (expands to one column per category).'),
      on_null: z
        .union([
          z.literal('reject'),
          z.strictObject({ default: z.number().describe('Value used when null.') }),
        ])
        .optional()
        .describe(
          'When the expression is null: `reject` (dead-letter the record) or `{ default: N }`. Default 0.',
        ),
      description: z.string().optional().describe('What the feature means.'),
    })
    .describe('A feature with its declared type and null policy.'),
]);

const featuresSection = z
  .strictObject({
    key: z
      .string()
      .min(1)
      .describe('Expression for the entity key, e.g. after.customer_id (see delete_key for deletes).'),
    delete_key: z
      .enum(['message_key', 'before'])
      .default('message_key')
      .describe(
        "How a Debezium delete finds its entity key. message_key: the key expression reads the delete's " +
          'Kafka message key (the table’s primary key or replica identity, exact) as `after`/`before`; a delete ' +
          'whose key expression reads a column the message key does not carry goes to the dead-letter topic, ' +
          'since under REPLICA IDENTITY DEFAULT Debezium fills such columns of `before` with zeros or empty ' +
          "values. before: the delete's `before` image, only right under REPLICA IDENTITY FULL.",
      ),
    score_ops: z
      .array(z.enum(['c', 'u', 'r']))
      .min(1)
      .default(['c', 'u', 'r'])
      .describe('Debezium ops that produce a prediction; `d` removes it per each sink’s on_delete.'),
    input_schema: z
      .string()
      .optional()
      .describe(
        'Avro schema (.avsc, relative to the pipeline file) of the row. With it, `validate` type-checks ' +
          'expressions against its column types, and a column it does not have (after.x, before.x; x for a ' +
          'plain json/avro record) is an error. Without it, fields are unknown-typed and only checked at ' +
          'run time: a missing column reads null (the feature then takes its on_null policy).',
      ),
    map: z
      .record(sqlIdentifier(), featureDefinition)
      .refine((m) => Object.keys(m).length > 0, { message: 'at least one feature' })
      .describe('Feature name → expression, in the model’s input order.'),
  })
  .describe('How a change event becomes the model’s input vector.');

const outputRef = z.string().min(1);

const modelSection = z
  .strictObject({
    name: nameRef().describe('Model name, recorded with every prediction.'),
    version: z
      .union([z.string().min(1), z.number().int()])
      .transform(String)
      .describe('Model version.'),
    path: z.string().min(1).describe('ONNX file, relative to the pipeline file.'),
    input: z.string().optional().describe('Input tensor name; defaults to the model’s only input.'),
    threads: positiveInt().default(1).describe('onnxruntime intra-op threads per session.'),
    batch: z
      .strictObject({
        max_size: positiveInt().default(512).describe('Largest micro-batch.'),
        max_wait_ms: nonNegativeInt().default(20).describe('Longest a record waits for its batch to fill.'),
      })
      .prefault({})
      .describe('Micro-batching across the partitions of a fetch.'),
    outputs: z
      .record(sqlIdentifier(), outputRef)
      .refine((m) => Object.keys(m).length > 0, { message: 'at least one output' })
      .describe(
        "Prediction field → model output: label, probabilities[1], probabilities['fraud'], value, or a raw output name.",
      ),
  })
  .describe('The ONNX model and how its outputs map to prediction fields.');

const errorsSection = z
  .strictObject({
    dead_letter_topic: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Topic for records that fail decoding or features, and for those whose prediction a sink rejects for its values (a constraint, an encoding); without it such a record stops the worker.',
      ),
    max_retries: nonNegativeInt()
      .default(8)
      .describe('Retries of a transient sink error before the worker exits.'),
    retry_backoff_ms: positiveInt().default(200).describe('First back-off; doubles up to 30 s.'),
  })
  .prefault({})
  .describe('Error handling.');

const backfillSection = z
  .strictObject({
    source: oneOf('table source', components.table_source),
    where: z
      .string()
      .optional()
      .describe('SQL filter on the source table (trusted, written by the pipeline owner).'),
    chunk_size: positiveInt().default(10000).describe('Rows per chunk (a BullMQ job).'),
    fetch_rows: positiveInt()
      .default(500)
      .describe(
        'Rows a chunk reads, scores and writes at a time (a cursor fetch; one write per sink); bounds ' +
          'memory per chunk and the size of each sink write (a Kafka produce request must stay under ' +
          'the broker’s message.max.bytes).',
      ),
    concurrency: positiveInt().default(2).describe('Chunks processed at once per worker.'),
    attempts: positiveInt().default(5).describe('Attempts per chunk before it fails.'),
    backoff_ms: positiveInt()
      .default(1000)
      .describe('Delay before a failed chunk is retried; doubles with every attempt.'),
    lock_ms: positiveInt()
      .min(1000)
      .default(30000)
      .describe(
        'How long a worker holds a chunk between lock renewals; a chunk of a killed worker is retried ' +
          'after one to two of these (stalled-job recovery).',
      ),
    schedule: z
      .strictObject({
        cron: z
          .string()
          .min(1)
          .refine((c) => [5, 6].includes(c.trim().split(/\s+/).length), {
            message: 'a cron expression of 5 fields (or 6, with seconds first)',
          })
          .describe('Cron expression, e.g. "0 3 * * *" (a leading sixth field is seconds).'),
        tz: z
          .string()
          .default('UTC')
          .refine(isTimeZone, { message: 'an IANA time zone, e.g. Europe/Berlin' })
          .describe('IANA time zone.'),
      })
      .optional()
      .describe('Run the backfill on a schedule (registered by `streamscore run`).'),
  })
  .describe('Score every row of a source table with the same features, model and sinks.');

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const monitoringSection = z
  .strictObject({
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(9464)
      .describe('Port of /metrics, /healthz, /readyz (0 = off).'),
    log_level: z.enum(['debug', 'info', 'warn', 'error']).default('info').describe('Log level.'),
  })
  .prefault({})
  .describe('Metrics, health and logs.');

export const pipelineSchema = z
  .strictObject({
    apiVersion: z.literal('streamscore/v1').describe('Format version.'),
    kind: z.literal('Pipeline').describe('Document kind.'),
    metadata: z
      .strictObject({
        name: nameRef().describe('Pipeline name: metrics label, consumer group default, BullMQ queue.'),
        owner: z.string().optional().describe('Owning team.'),
        description: z.string().optional().describe('What the pipeline is for.'),
        labels: z.record(z.string(), z.string()).optional().describe('Free-form labels.'),
      })
      .describe('Identity of the pipeline.'),
    spec: z
      .strictObject({
        source: oneOf('source', components.source),
        decode: oneOf('decoder', components.decoder),
        features: featuresSection,
        model: modelSection,
        sinks: z.array(oneOf('sink', components.sink)).min(1).describe('Where predictions are written.'),
        errors: errorsSection,
        backfill: backfillSection.optional(),
        monitoring: monitoringSection,
      })
      .describe('Stages of the pipeline.'),
  })
  .describe('A streamscore pipeline.');

export type Pipeline = z.output<typeof pipelineSchema>;
export type FeatureDefinition = z.output<typeof featureDefinition>;
