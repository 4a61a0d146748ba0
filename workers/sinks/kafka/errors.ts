import { errorMessage, PipelineError } from '../../core/errors.js';

/**
 * Retry classification of kafkajs and schema-registry errors.
 *
 * kafkajs marks each error `retriable`; after its own retries it throws a non-retriable
 * KafkaJSNumberOfRetriesExceeded whose cause tells what kept failing, so the cause decides (a broker
 * that is down now may be back later). Authentication, authorization and message-too-large
 * errors are terminal. Registry answers 4xx (incompatible or invalid schema, auth) are terminal;
 * 5xx and network errors are retried.
 *
 * Stable codes: SINK_UNAVAILABLE, SINK_AUTH, SINK_REJECTED (the broker refuses the messages),
 * SINK_SCHEMA_INCOMPATIBLE (the registry refuses the schema), SINK_ERROR.
 */
export type KafkaErrorCode =
  | 'SINK_UNAVAILABLE'
  | 'SINK_AUTH'
  | 'SINK_REJECTED'
  | 'SINK_SCHEMA_INCOMPATIBLE'
  | 'SINK_ERROR';

interface KafkaishError {
  name?: unknown;
  retriable?: unknown;
  type?: unknown;
  status?: unknown;
  cause?: unknown;
  originalError?: unknown;
}

const AUTH_TYPES = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'ILLEGAL_SASL_STATE',
  'UNSUPPORTED_SASL_MECHANISM',
]);

export function classifyKafkaError(err: unknown): { code: KafkaErrorCode; retryable: boolean } {
  let e = (typeof err === 'object' && err !== null ? err : {}) as KafkaishError;
  if (e.name === 'KafkaJSNumberOfRetriesExceeded') {
    const inner = (e.cause ?? e.originalError) as KafkaishError | undefined;
    if (inner && typeof inner === 'object') e = inner;
    else return { code: 'SINK_UNAVAILABLE', retryable: true };
  }
  if (e.name === 'KafkaJSSASLAuthenticationError' || (typeof e.type === 'string' && AUTH_TYPES.has(e.type))) {
    return { code: 'SINK_AUTH', retryable: false };
  }
  if (e.name === 'ConfluentSchemaRegistryError' || typeof e.status === 'number') {
    const status = typeof e.status === 'number' ? e.status : 0;
    if (status === 401 || status === 403) return { code: 'SINK_AUTH', retryable: false };
    if (status >= 400 && status < 500) return { code: 'SINK_SCHEMA_INCOMPATIBLE', retryable: false };
    return { code: 'SINK_UNAVAILABLE', retryable: true };
  }
  if (typeof e.name === 'string' && e.name.startsWith('KafkaJS')) {
    if (e.name === 'KafkaJSTimeout' || e.name === 'KafkaJSLockTimeout')
      return { code: 'SINK_UNAVAILABLE', retryable: true };
    if (e.retriable === false) return { code: 'SINK_REJECTED', retryable: false };
    return { code: 'SINK_UNAVAILABLE', retryable: true };
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^E[A-Z]+/.test(code)) return { code: 'SINK_UNAVAILABLE', retryable: true };
  if (err instanceof TypeError || err instanceof RangeError) return { code: 'SINK_ERROR', retryable: false };
  return { code: 'SINK_ERROR', retryable: true };
}

export function kafkaPipelineError(
  err: unknown,
  where: { what: string; action: string; pipeline?: string; context?: Record<string, unknown> },
): PipelineError {
  if (PipelineError.is(err)) return err;
  const k = classifyKafkaError(err);
  const status = (err as { status?: unknown } | null)?.status;
  const http = typeof status === 'number' ? ` (HTTP ${status})` : '';
  return new PipelineError(`${where.what}: ${where.action} failed${http}: ${errorMessage(err)}`, {
    code: k.code,
    stage: 'sink',
    retryable: k.retryable,
    ...(where.pipeline === undefined ? {} : { pipeline: where.pipeline }),
    context: where.context ?? {},
    cause: err,
  });
}
