import { z } from 'zod';
import { components } from './components.js';
import { nameRef, nonNegativeInt, positiveInt, qualifiedName, secret, sqlIdentifier } from './fields.js';
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

const versionValue = () => z.union([z.string().min(1), z.number().int()]).transform(String);

/** A model version a pipeline uses: a fixed `version`, or whatever an `alias` points to (exactly one). */
const modelTarget = {
  version: versionValue().optional().describe('A fixed version (a folder <registry>/<name>/<version>/).'),
  alias: nameRef()
    .optional()
    .describe('Follow an alias (champion, challenger, …) set with `streamscore model promote`.'),
};

const shadowSection = z
  .strictObject({
    ...modelTarget,
    compare: z
      .strictObject({
        score: sqlIdentifier().describe('Prediction field compared as a score (e.g. churn_probability).'),
        label: sqlIdentifier().optional().describe('Prediction field compared as a label (agreement rate).'),
        threshold: z
          .number()
          .default(0.5)
          .describe(
            'Decision threshold on the score: a flip is one model at or above it and the other below.',
          ),
      })
      .describe('Which prediction fields to compare.'),
    table: qualifiedName()
      .optional()
      .describe('Comparison table (Postgres). Default: ml.<pipeline name, - as _>__shadow.'),
    postgres_url: secret()
      .optional()
      .describe('Postgres holding the comparison table (a secret). Default: the first postgres sink’s url.'),
    limits: z
      .strictObject({
        max_flip_rate: z
          .number()
          .min(0)
          .max(1)
          .default(0.02)
          .describe('Largest acceptable decision-flip rate.'),
        min_label_agreement: z
          .number()
          .min(0)
          .max(1)
          .optional()
          .describe('Smallest acceptable label agreement rate.'),
        max_abs_delta_p95: z.number().min(0).optional().describe('Largest acceptable p95 of |Δscore|.'),
        min_samples: positiveInt().default(1000).describe('Pairs needed before a verdict.'),
      })
      .prefault({})
      .describe('The verdict of `streamscore shadow report`.'),
    max_pending_batches: positiveInt()
      .default(64)
      .describe(
        'Shadow batches scored or written at once; beyond it a batch is skipped and counted, never waited for.',
      ),
  })
  .describe(
    'Score every batch with a candidate too; its outputs go only to the comparison table and metrics, never to the sinks.',
  );

const canarySection = z
  .strictObject({
    ...modelTarget,
    percent: z
      .number()
      .min(0)
      .max(100)
      .describe('Share of entity keys (a hash of the key: sticky) the candidate scores for the sinks.'),
  })
  .describe('Route a deterministic, sticky share of keys to a candidate; each row records its version.');

const modelSection = z
  .strictObject({
    name: nameRef().describe('Model name, recorded with every prediction.'),
    ...modelTarget,
    path: z
      .string()
      .min(1)
      .optional()
      .describe(
        'ONNX file, relative to the pipeline file (only with a fixed version). Default: <registry>/<name>/<version>/model.onnx.',
      ),
    registry: z
      .string()
      .min(1)
      .default('models')
      .describe(
        'Model registry folder, relative to the pipeline file: <name>/<version>/{model.onnx, manifest.yaml}.',
      ),
    control_topic: z
      .string()
      .min(1)
      .default('streamscore.control')
      .describe(
        'Kafka topic (on the source cluster) holding alias moves and suspensions; every worker follows it.',
      ),
    input: z.string().optional().describe('Input tensor name; defaults to the model’s only input.'),
    threads: positiveInt().default(1).describe('onnxruntime intra-op threads per session.'),
    batch: z
      .strictObject({
        max_size: positiveInt()
          .default(512)
          .describe(
            'Largest micro-batch: rows per inference call. A worker starts up to 4 calls without waiting for the one before (further full batches wait for a free slot), so under load the batches of a fetch are scored in one turn of the event loop rather than one turn each.',
          ),
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
    shadow: shadowSection.optional(),
    canary: canarySection.optional(),
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
      .describe(
        'Retries of a transient sink error before the worker exits. (An unreachable schema registry is waited for without limit, retried every 5 s at most: the batch holds, nothing is committed past it.)',
      ),
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
      .default(5000)
      .describe(
        'Rows a chunk reads, scores and writes at a time (a cursor fetch; one write per sink, which a ' +
          'Kafka sink splits by max_request_bytes); bounds memory per chunk. The default sizes writes ' +
          'for bulk: a Postgres sink in write_mode auto writes 4,000 rows or more with COPY (measured: ' +
          '500-row writes cost the worker 15.5 and Postgres 7.3 µs per row, 5,000-row ones 12 and 5).',
      ),
    concurrency: positiveInt()
      .default(4)
      .describe(
        'Chunks processed at once per worker: while one waits for its read or its sinks’ commit, ' +
          'another is scored. Each holds a source connection.',
      ),
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

/** Tokens shorter than this are refused: a bearer token must not be guessable. */
export const SERVE_MIN_TOKEN_LENGTH = 16;

const serveSection = z
  .strictObject({
    max_batch: positiveInt()
      .optional()
      .describe(
        'Largest inference batch: rows of concurrent requests gathered into one model call. Default: model.batch.max_size.',
      ),
    max_wait_ms: nonNegativeInt()
      .optional()
      .describe(
        'Longest the first row of a batch waits for more requests to join it. Default: model.batch.max_wait_ms.',
      ),
    max_queue: positiveInt()
      .default(1024)
      .describe(
        'Rows waiting or being scored at once, per process; a request that would exceed it gets 429 with Retry-After, and one with more records than this 413.',
      ),
    timeout_ms: positiveInt()
      .default(1000)
      .describe(
        'Longest a request may take (scoring and any write-through); beyond, it gets 503. A timed-out write-through may still be stored (the order guard keeps that safe).',
      ),
    write: z
      .boolean()
      .default(false)
      .describe(
        "Write each API prediction to the pipeline's sinks (and audit log) before answering, positioned at the request time, like a streamed one.",
      ),
    auth: z
      .union(
        [
          z.literal('none').describe('No authentication: every client may score (spell it out to mean it).'),
          z
            .strictObject({
              tokens: z
                .array(secret())
                .min(1)
                .describe(
                  `Accepted bearer tokens, each a secret (\${file:/run/secrets/…}) of at least ${SERVE_MIN_TOKEN_LENGTH} characters; list the old and the new one while rotating.`,
                ),
            })
            .describe('Bearer-token authentication.'),
        ],
        { error: 'auth: none, or auth: { tokens: [ … ] }' },
      )
      .optional()
      .describe(
        'Who may call this pipeline: bearer tokens, or none. Without it `streamscore serve` refuses to start (unless --no-auth).',
      ),
  })
  .describe('The online scoring API (`streamscore serve`): micro-batching, limits, write-through, auth.');

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const AUDIT_MIN_RETENTION_DAYS = 180;
export const AUDIT_MIN_HASH_KEY_LENGTH = 16;

const auditSection = z
  .strictObject({
    table: qualifiedName()
      .optional()
      .describe(
        'Audit table (partitioned by day), in the database of the first postgres sink. Default: ml.<pipeline name, - as _>__audit.',
      ),
    features: z
      .record(sqlIdentifier(), z.enum(['full', 'hash', 'omit']))
      .default({})
      .describe(
        'Per-feature policy: full (the value), hash (a keyed sha256 of the value, with hash_key: keeps personal data out, equal values still compare equal), omit. Unlisted features: default_policy.',
      ),
    default_policy: z.enum(['full', 'hash', 'omit']).default('full').describe('Policy of unlisted features.'),
    hash_key: secret()
      .optional()
      .describe(
        `Secret key of the hash policy (at least ${AUDIT_MIN_HASH_KEY_LENGTH} characters; write it as \${file:/run/secrets/…}). Required when a feature is hashed: an unkeyed hash of a small value set is reversed by trying every value.`,
      ),
    retention_days: positiveInt()
      .default(AUDIT_MIN_RETENTION_DAYS)
      .describe(
        `Whole days kept; older day partitions are dropped. At least ${AUDIT_MIN_RETENTION_DAYS} (EU AI Act Art. 19, 26(6)) unless allow_short_retention.`,
      ),
    allow_short_retention: z
      .boolean()
      .default(false)
      .describe(`Accept retention_days below ${AUDIT_MIN_RETENTION_DAYS} (tests, non-regulated uses).`),
  })
  .describe(
    'One tamper-evident audit record per prediction the first postgres sink writes, in the same statement as the prediction.',
  );

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
    window: z
      .strictObject({
        events: positiveInt()
          .default(10000)
          .describe('A drift window closes after this many scored rows (n in the threshold).'),
        max_seconds: positiveInt()
          .default(300)
          .describe('…or this many seconds after it opened, once it holds min_events rows.'),
        min_events: positiveInt()
          .default(500)
          .describe(
            'Fewest rows a window closes with on time; a quieter window stays open (small windows make weak tests).',
          ),
      })
      .prefault({})
      .describe(
        "Drift windows: the primary model version's rows, each feature and output compared with the version's reference distributions (its manifest's) when a window closes.",
      ),
    drift: z
      .strictObject({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            'Watch drift (needs a manifest with distributions; a version without them is not watched).',
          ),
        fdr: z
          .number()
          .gt(0)
          .lt(1)
          .default(0.01)
          .describe(
            "Benjamini–Hochberg false-discovery rate across a window's features and outputs: with no drift, a window alarms at most this often.",
          ),
        alarm_topic: z
          .string()
          .regex(/^[A-Za-z0-9._-]{1,249}$/, 'expected a Kafka topic name')
          .optional()
          .describe(
            "Kafka topic (the source's cluster) that receives one JSON event per window that alarms.",
          ),
      })
      .prefault({})
      .describe('Streaming drift detection (PSI against the reference, thresholds from n, m and the bins).'),
  })
  .prefault({})
  .describe('Metrics, health, logs and drift.');

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
        serve: serveSection.optional(),
        audit: auditSection.optional(),
        monitoring: monitoringSection,
      })
      .describe('Stages of the pipeline.'),
  })
  .describe('A streamscore pipeline.');

export type Pipeline = z.output<typeof pipelineSchema>;
export type FeatureDefinition = z.output<typeof featureDefinition>;
