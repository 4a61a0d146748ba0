import type { Kafka, Producer } from 'kafkajs';
import { errorMessage } from '../core/errors.js';
import type { Logger, ModelInfo } from '../core/types.js';
import { manifestBeside } from '../models/catalog.js';
import { modelFile } from '../rollout/targets.js';
import { ensureTopics } from '../sources/kafka/topics.js';
import type { Pipeline } from '../spec/pipeline-schema.js';
import { alarmReporter } from './alarm.js';
import type { DriftMetrics } from './metrics.js';
import { DriftMonitor, type DriftSnapshot } from './monitor.js';
import type { Distributions } from './reference.js';

/** A pipeline's drift monitor with its timer and alarm producer; `open` before use, `close` after. */
export interface PipelineDrift {
  monitor: DriftMonitor;
  snapshot(): DriftSnapshot;
  open(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The drift monitor of a pipeline (`spec.monitoring`), or undefined when drift is off. Each
 * primary version's reference is read from the manifest next to its model file, once.
 */
export function openPipelineDrift(args: {
  file: string;
  pipeline: Pipeline;
  featureNames: readonly string[];
  outputFields: readonly string[];
  kafka: Kafka;
  logger: Logger;
  metrics: DriftMetrics | undefined;
}): PipelineDrift | undefined {
  const { pipeline: p, logger } = args;
  const mon = p.spec.monitoring;
  if (!mon.drift.enabled) return undefined;
  const name = p.metadata.name;
  const topic = mon.drift.alarm_topic;
  let producer: Producer | undefined;
  const report = alarmReporter({ logger, producer: () => producer, topic });
  const monitor = new DriftMonitor({
    pipeline: name,
    featureNames: args.featureNames,
    outputFields: args.outputFields,
    outputRefs: p.spec.model.outputs,
    window: {
      events: mon.window.events,
      maxSeconds: mon.window.max_seconds,
      minEvents: mon.window.min_events,
    },
    fdr: mon.drift.fdr,
    distributions: (info) => distributionsOf(args.file, p, info, logger),
    onWindow(w) {
      args.metrics?.window(w);
      report(w);
      logger.debug(
        { pipeline: name, version: w.version, seq: w.seq, events: w.events, alarms: w.alarms },
        'Drift window closed.',
      );
    },
    onError(err) {
      logger.error(
        { pipeline: name, error: errorMessage(err) },
        'Drift monitor failed; drift is no longer watched by this worker (scoring continues).',
      );
    },
    onVersion(info, state, unmonitored) {
      if (state === 'retired') args.metrics?.retire(info.name, info.version);
      else if (state === 'no-reference')
        logger.warn(
          { pipeline: name, model: info.name, version: info.version },
          'Drift not watched for this model version: its manifest has no distributions.',
        );
      else if (unmonitored.length > 0)
        logger.warn(
          { pipeline: name, model: info.name, version: info.version, unmonitored },
          'Drift not watched for features or outputs the manifest has no distribution of.',
        );
    },
  });
  let timer: NodeJS.Timeout | undefined;
  return {
    monitor,
    snapshot: () => monitor.snapshot(),
    async open() {
      timer = setInterval(() => monitor.tick(), 1000);
      timer.unref();
      if (topic === undefined) return;
      await ensureTopics(args.kafka, [topic]);
      const pr = args.kafka.producer();
      await pr.connect();
      producer = pr;
    },
    async close() {
      if (timer) clearInterval(timer);
      const pr = producer;
      producer = undefined;
      await pr?.disconnect().catch(() => undefined);
    },
  };
}

function distributionsOf(
  file: string,
  p: Pipeline,
  info: ModelInfo,
  logger: Logger,
): Distributions | undefined {
  try {
    return manifestBeside(modelFile(file, p, info.version, 'primary'))?.distributions;
  } catch (err) {
    logger.warn(
      { pipeline: p.metadata.name, model: info.name, version: info.version, error: errorMessage(err) },
      'Drift not watched: cannot read the manifest.',
    );
    return undefined;
  }
}
