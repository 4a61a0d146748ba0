import { type Counter, type Histogram, type Meter, metrics as otel } from '@opentelemetry/api';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import type { ClockStep } from '../decode/debezium/clock-steps.js';
import { type DriftMetrics, driftMetrics } from '../drift/metrics.js';
import type { ShadowCounters } from '../rollout/shadow-runner.js';

/** The engine's standard instruments; components never emit these themselves. */
export interface Metrics {
  recordsIn: Pick<Counter, 'add'>;
  recordsOut: Pick<Counter, 'add'>;
  deadLettered: Pick<Counter, 'add'>;
  errors: Pick<Counter, 'add'>;
  batchSize: Pick<Histogram, 'record'>;
  inferenceMs: Pick<Histogram, 'record'>;
  endToEndMs: Pick<Histogram, 'record'>;
  /** Streaming drift: the latest window's statistic, threshold, alarm, null and out-of-range rates. */
  drift?: DriftMetrics;
  sinkRetry(sink: string, err: unknown, attempt: number, delayMs: number): void;
  /** A batch's decoding waits for the schema registry (unreachable): retried without limit. */
  decodeRetry(err: unknown, attempt: number, delayMs: number): void;
  /** The source database's clock stepped backwards between two changes of a partition. */
  clockStep?(step: ClockStep): void;
  /** Changes a sink's order guard discarded though the WAL orders them after the stored row (the sink logs them). */
  clockLosses?(sink: string, count: number): void;
  /** Model rollouts: swaps, refused versions, the shadow's comparison. */
  rollout: RolloutMetrics;
  /** Audit records appended with a write, and predictions written without one (must stay 0). */
  audit(audited: number, written: number): void;
  /** Share of the last 24 h's decisions overridden by a person (from the audit log, hourly). */
  overrideRate(rate: number): void;
  /** The Kafka source's progress: lag behind the brokers and offset commits. */
  source: SourceMetrics;
}

export interface SourceMetrics {
  /** A partition's records not yet committed: its high watermark at the last fetch − its commit. */
  lag(topic: string, partition: number, records: number): void;
  /** One offset commit request acknowledged by the group coordinator. */
  committed(): void;
  /** The stall watchdog found a partition lagging without progress. */
  stalled?(topic: string, partition: number): void;
  /** The stall watchdog restarted the consumer. */
  restarted?(): void;
}

export interface RolloutMetrics {
  swapped(role: string, from: string | undefined, to: string, loadMs: number): void;
  swapFailed(role: string, version: string): void;
  shadow: ShadowCounters;
  /** Reports whether the pipeline is suspended (an observable gauge reads it). */
  watchSuspended(read: () => boolean): void;
  /** The shadow's `limits.max_flip_rate`, exported so an alert can compare the live flip rate with it. */
  shadowLimits(maxFlipRate: number): void;
}

export function createMetrics(meter: Meter, pipeline: string, logger: Logger): Metrics {
  const attrs = { pipeline };
  const counter = (name: string, description: string) => {
    const c = meter.createCounter(name, { description });
    c.add(0, attrs); // exported from the start, so rates and alerts see an idle pipeline as 0
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
  errors.add(0, attrs); // exported from the start: the dashboard's error panels show 0, not nothing
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
    drift: driftMetrics(meter, pipeline),
    rollout: rolloutMetrics(meter, attrs, ms),
    audit: auditMetrics(meter, attrs),
    overrideRate: overrideRateGauge(meter, attrs),
    source: sourceMetrics(meter, attrs),
    sinkRetry(sink, err, attempt, delayMs) {
      errors.add(1, { pipeline, stage: 'sink', sink });
      logger.warn({ sink, attempt, delayMs, error: errorMessage(err) }, 'Sink write failed; retrying.');
    },
    clockStep: clockStepReporter(meter, attrs, logger),
    clockLosses: clockLossCounter(meter, attrs),
    decodeRetry(err, attempt, delayMs) {
      errors.add(1, { pipeline, stage: 'decode', code: 'DECODE_REGISTRY' });
      logger.warn(
        { attempt, delayMs, error: errorMessage(err) },
        'Schema registry unreachable; the batch waits and decoding is retried.',
      );
    },
  };
}

/** Counts each clock step (`streamscore_source_clock_steps`) and logs it with what to do about it. */
function clockStepReporter(
  meter: Meter,
  attrs: { pipeline: string },
  logger: Logger,
): (step: ClockStep) => void {
  const steps = meter.createCounter('streamscore_source_clock_steps', {
    description:
      "Changes whose commit time lies more than 1 s before the previous change's of their partition while their LSN is higher: the source database's clock stepped backwards.",
  });
  steps.add(0, attrs); // exported from the start: an alert on its increase needs a series
  return (s) => {
    steps.add(1, { ...attrs, topic: s.topic, partition: String(s.partition) });
    const iso = (us: number) => new Date(Math.floor(us / 1000)).toISOString();
    logger.warn(
      {
        topic: s.topic,
        partition: s.partition,
        offset: s.offset,
        lsn: String(s.lsn),
        commit_time: iso(s.commitUs),
        previous_lsn: String(s.previousLsn),
        previous_commit_time: iso(s.previousCommitUs),
        step_ms: Math.round((s.previousCommitUs - s.commitUs) / 1000),
        held_until: iso(s.heldUs),
      },
      "The source database's clock stepped backwards: this change's commit time lies before the previous change's though the WAL orders it after. " +
        "This worker keeps the WAL's order: the partition's new changes take the time held (held_until) until the source's clock passes it. " +
        'If this partition restarts or moves to another worker before then, its changes take their own times again and lose to the rows written meanwhile (the order guard keeps the greater position) until they change again: ' +
        "once the source's clock is past held_until (a backfill stamps its rows with the source's time), re-score the rows changed since the step: streamscore backfill <pipeline> --since <commit_time>.",
    );
  };
}

/** Counts `streamscore_order_guard_clock_losses` per sink (the sink logs each write's losses). */
function clockLossCounter(meter: Meter, attrs: { pipeline: string }): (sink: string, count: number) => void {
  const losses = meter.createCounter('streamscore_order_guard_clock_losses', {
    description:
      "Changes a sink's order guard discarded though their LSN is above the stored row's: the source's clock stepped backwards across a restart or rebalance of the partition's worker.",
  });
  losses.add(0, attrs); // exported from the start: an alert on its increase needs a series
  return (sink, count) => losses.add(count, { ...attrs, sink });
}

function sourceMetrics(meter: Meter, attrs: { pipeline: string }): SourceMetrics {
  const lag = meter.createGauge('streamscore_consumer_lag', {
    description:
      'Records of a partition not yet committed: its high watermark at the last fetch minus the committed offset.',
  });
  const commits = meter.createCounter('streamscore_offset_commits', {
    description: 'Offset commit requests acknowledged (each covers every partition written since the last).',
  });
  commits.add(0, attrs); // exported from the start: "no commits for 10 minutes" needs a series
  const stalls = meter.createCounter('streamscore_consumer_stalls', {
    description:
      'Partitions the stall watchdog found lagging without progress for source.kafka.stall_timeout_ms.',
  });
  const restarts = meter.createCounter('streamscore_consumer_restarts', {
    description: 'Consumers the stall watchdog restarted (each re-reads from the last commit).',
  });
  restarts.add(0, attrs); // exported from the start: an alert on its increase needs a series
  return {
    lag: (topic, partition, records) =>
      lag.record(records, { ...attrs, topic, partition: String(partition) }),
    committed: () => commits.add(1, attrs),
    stalled: (topic, partition) => stalls.add(1, { ...attrs, topic, partition: String(partition) }),
    restarted: () => restarts.add(1, attrs),
  };
}

function auditMetrics(meter: Meter, attrs: { pipeline: string }): Metrics['audit'] {
  const records = meter.createCounter('streamscore_audit_records', {
    description: 'Audit records appended, in the same statement as their predictions.',
  });
  const dropped = meter.createCounter('streamscore_audit_records_dropped', {
    description: 'Predictions written without an audit record (must stay 0).',
  });
  // Both exported from the start, so a dashboard shows 0 rather than nothing.
  records.add(0, attrs);
  dropped.add(0, attrs);
  return (audited, written) => {
    records.add(audited, attrs);
    if (written > audited) dropped.add(written - audited, attrs);
  };
}

function overrideRateGauge(meter: Meter, attrs: { pipeline: string }): Metrics['overrideRate'] {
  let rate: number | undefined;
  meter
    .createObservableGauge('streamscore_audit_override_rate', {
      description: 'Share of the last 24 h of decisions a person overrode (streamscore audit override).',
    })
    .addCallback((r) => {
      if (rate !== undefined) r.observe(rate, attrs);
    });
  return (v) => {
    rate = v;
  };
}

function rolloutMetrics(meter: Meter, attrs: { pipeline: string }, ms: number[]): RolloutMetrics {
  const swaps = meter.createCounter('streamscore_model_swaps', {
    description: 'Model versions swapped in, by role.',
  });
  const refused = meter.createCounter('streamscore_model_swap_failures', {
    description:
      'Alias moves refused by this worker (cannot load, sha mismatch, does not fit); it kept its version.',
  });
  const loadMs = meter.createHistogram('streamscore_model_swap_load_duration', {
    description: 'Time to load and check a new version before swapping.',
    unit: 'ms',
    advice: { explicitBucketBoundaries: ms },
  });
  const pairs = meter.createCounter('streamscore_shadow_pairs', {
    description: 'Rows scored by both the primary and the shadow.',
  });
  const agreements = meter.createCounter('streamscore_shadow_label_agreements', {
    description: 'Pairs whose labels agree (compare.label).',
  });
  const flips = meter.createCounter('streamscore_shadow_decision_flips', {
    description: 'Pairs on opposite sides of compare.threshold.',
  });
  const delta = meter.createHistogram('streamscore_shadow_abs_delta', {
    description: '|shadow score − primary score| per pair.',
    advice: { explicitBucketBoundaries: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1] },
  });
  const shadowMs = meter.createHistogram('streamscore_shadow_inference_duration', {
    description: 'Shadow model run time per batch.',
    unit: 'ms',
    advice: { explicitBucketBoundaries: ms },
  });
  const skipped = meter.createCounter('streamscore_shadow_skipped', {
    description:
      'Rows the shadow did not score or record (reason: backlog, failed); the primary is never affected.',
  });
  const suspended = meter.createObservableGauge('streamscore_pipeline_suspended', {
    description: '1 while the pipeline is suspended (no prediction is written).',
  });
  const maxFlipRate = meter.createGauge('streamscore_shadow_max_flip_rate', {
    description: "The shadow's limits.max_flip_rate (the flip-rate alert compares with it).",
  });
  return {
    swapped(role, from, to, ms) {
      swaps.add(1, { ...attrs, role, from: from ?? '', to });
      loadMs.record(ms, { ...attrs, role });
    },
    swapFailed(role, version) {
      refused.add(1, { ...attrs, role, version });
    },
    shadow: {
      pairs(n, agree, flip) {
        pairs.add(n, attrs);
        if (agree !== undefined) agreements.add(agree, attrs);
        flips.add(flip, attrs);
      },
      absDelta: (v) => delta.record(v, attrs),
      inferenceMs: (v) => shadowMs.record(v, attrs),
      skipped: (n, reason) => skipped.add(n, { ...attrs, reason }),
    },
    watchSuspended(read) {
      suspended.addCallback((r) => r.observe(read() ? 1 : 0, attrs));
    },
    shadowLimits(rate) {
      maxFlipRate.record(rate, attrs);
    },
  };
}

/** A meter that records nothing (tests, `plan`). */
export function noopMeter(): Meter {
  return otel.getMeterProvider().getMeter('noop');
}
