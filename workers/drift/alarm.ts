import type { Producer } from 'kafkajs';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import type { WindowReport } from './evaluate.js';

/** The JSON event written to `monitoring.drift.alarm_topic` for a window that alarmed. */
export function alarmEvent(w: WindowReport): Record<string, unknown> {
  return {
    type: 'streamscore.drift.alarm',
    pipeline: w.pipeline,
    model: w.model,
    version: w.version,
    sha256: w.sha256,
    window: {
      seq: w.seq,
      started_at: w.startedAt,
      ended_at: w.endedAt,
      events: w.events,
      closed_by: w.closedBy,
    },
    fdr: w.fdr,
    features: w.stats
      .filter((s) => s.alarm)
      .map((s) => ({
        feature: s.feature,
        role: s.role,
        statistic: s.statistic,
        threshold: s.threshold,
        p_value: s.pValue,
        n: s.n,
        m: s.m,
        bins: s.bins,
        null_rate: s.nullRate,
        out_of_range_rate: s.outOfRangeRate,
      })),
  };
}

/**
 * What happens when a window alarms: one structured warning per alarming feature, and (with an
 * alarm topic) one event on it, keyed by the pipeline. Sending is not awaited: the batch path never
 * waits for it; a failed send is logged.
 */
export function alarmReporter(args: {
  logger: Logger;
  /** The alarm topic's producer, once connected. */
  producer?: () => Producer | undefined;
  topic?: string | undefined;
}): (w: WindowReport) => void {
  const { logger, topic } = args;
  return (w) => {
    if (w.alarms === 0) return;
    for (const s of w.stats) {
      if (!s.alarm) continue;
      logger.warn(
        {
          pipeline: w.pipeline,
          model: w.model,
          version: w.version,
          feature: s.feature,
          statistic: s.statistic,
          threshold: s.threshold,
          p_value: s.pValue,
          window_events: w.events,
          window_seq: w.seq,
          null_rate: s.nullRate,
          out_of_range_rate: s.outOfRangeRate,
        },
        'Feature drift alarm.',
      );
    }
    const producer = args.producer?.();
    if (producer === undefined || topic === undefined) return;
    producer
      .send({ topic, messages: [{ key: w.pipeline, value: JSON.stringify(alarmEvent(w)) }] })
      .catch((err: unknown) =>
        logger.warn(
          { pipeline: w.pipeline, topic, error: errorMessage(err) },
          'Drift alarm event not written.',
        ),
      );
  };
}
