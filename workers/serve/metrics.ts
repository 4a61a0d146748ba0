import type { Meter } from '@opentelemetry/api';

/**
 * The API's instruments, next to each pipeline's standard ones (`observability/metrics.ts`:
 * `streamscore_batch_size` and `streamscore_inference_duration` per inference call). Labels are
 * bounded: a pipeline this server serves (else `unknown`) and the status code or error code.
 */
export interface ApiMetrics {
  /** One finished request: its pipeline, status and duration. */
  request(pipeline: string, status: number, ms: number): void;
  /** Records scored (answered 200). */
  records(pipeline: string, n: number): void;
  /** A request answered with an error, by its stable code (bad_input, overloaded, timeout, …). */
  error(pipeline: string, code: string): void;
  /** Reports the rows a pipeline has admitted (an observable gauge reads it). */
  watchQueue(pipeline: string, read: () => number): void;
}

const MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

export function createApiMetrics(meter: Meter): ApiMetrics {
  const requests = meter.createCounter('streamscore_api_requests', {
    description: 'HTTP requests to the scoring API, by pipeline and status.',
  });
  const duration = meter.createHistogram('streamscore_api_request_duration', {
    description: 'Time from a request received to its response, by pipeline.',
    unit: 'ms',
    advice: { explicitBucketBoundaries: MS },
  });
  const records = meter.createCounter('streamscore_api_records', {
    description: 'Records scored through the API.',
  });
  const errors = meter.createCounter('streamscore_api_errors', {
    description: 'API requests answered with an error, by code.',
  });
  const queue = meter.createObservableGauge('streamscore_api_queue_rows', {
    description: 'Rows admitted and not yet scored, by pipeline (429 beyond serve.max_queue).',
  });
  return {
    request(pipeline, status, ms) {
      requests.add(1, { pipeline, status: String(status) });
      duration.record(ms, { pipeline });
    },
    records: (pipeline, n) => records.add(n, { pipeline }),
    error: (pipeline, code) => errors.add(1, { pipeline, code }),
    watchQueue(pipeline, read) {
      queue.addCallback((r) => r.observe(read(), { pipeline }));
    },
  };
}
