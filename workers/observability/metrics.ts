import { type Counter, type Histogram, type Meter, metrics as otel } from '@opentelemetry/api';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/types.js';

/** The engine's standard instruments; components never emit these themselves. */
export interface Metrics {
  recordsIn: Pick<Counter, 'add'>;
  recordsOut: Pick<Counter, 'add'>;
  deadLettered: Pick<Counter, 'add'>;
  errors: Pick<Counter, 'add'>;
  batchSize: Pick<Histogram, 'record'>;
  inferenceMs: Pick<Histogram, 'record'>;
  endToEndMs: Pick<Histogram, 'record'>;
  sinkRetry(sink: string, err: unknown, attempt: number, delayMs: number): void;
}

export function createMetrics(meter: Meter, pipeline: string, logger: Logger): Metrics {
  const attrs = { pipeline };
  const counter = (name: string, description: string) => {
    const c = meter.createCounter(name, { description });
    return { add: (n: number) => c.add(n, attrs) };
  };
  const histogram = (name: string, description: string, unit: string, boundaries: number[]) => {
    const h = meter.createHistogram(name, {
      description,
      unit,
      advice: { explicitBucketBoundaries: boundaries },
    });
    return { record: (v: number) => h.record(v, attrs) };
  };
  const errors = meter.createCounter('streamscore_errors', { description: 'Errors by stage and code.' });
  const ms = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000];
  return {
    recordsIn: counter('streamscore_records_in', 'Messages received from the source.'),
    recordsOut: counter('streamscore_records_out', 'Predictions and deletes written to every sink.'),
    deadLettered: counter('streamscore_dead_lettered', 'Records sent to the dead-letter topic.'),
    errors: { add: (n: number) => errors.add(n, attrs) },
    batchSize: histogram(
      'streamscore_batch_size',
      'Rows per inference batch.',
      '{rows}',
      [1, 8, 32, 64, 128, 256, 512, 1024, 4096],
    ),
    inferenceMs: histogram('streamscore_inference_duration', 'ONNX run time per batch.', 'ms', ms),
    endToEndMs: histogram('streamscore_end_to_end_latency', 'Source commit time to sink write.', 'ms', ms),
    sinkRetry(sink, err, attempt, delayMs) {
      errors.add(1, { pipeline, stage: 'sink', sink });
      logger.warn({ sink, attempt, delayMs, error: errorMessage(err) }, 'Sink write failed; retrying.');
    },
  };
}

/** A meter that records nothing (tests, `plan`). */
export function noopMeter(): Meter {
  return otel.getMeterProvider().getMeter('noop');
}
