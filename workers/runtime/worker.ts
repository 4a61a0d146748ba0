import type { Server } from 'node:http';
import {
  type BackfillRuntime,
  type BackfillRuntimeOptions,
  startBackfillWorkers,
} from '../backfill/runtime.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import { ModelRegistry } from '../inference/index.js';
import { createMetrics } from '../observability/metrics.js';
import {
  announceScrapeTarget,
  SCRAPE_TARGETS_ENV,
  type ScrapeTarget,
} from '../observability/scrape-target.js';
import { startObservabilityServer } from '../observability/server.js';
import { createProcessTracing, createTelemetry } from '../observability/telemetry.js';
import type { Tracing } from '../observability/tracing.js';
import { ControlWatchers } from '../rollout/open.js';
import { checkKafkaSecurity } from '../sources/kafka/client.js';
import type { ValidatedPipeline } from '../spec/validate.js';
import { type AssembledPipeline, assembleValidated } from './assemble.js';

/**
 * Worker lifecycle: INITIALIZED → RUNNING → STOPPING → STOPPED | FAILED.
 * STOPPING stops fetching, lets in-flight batches finish and commit, then closes sinks.
 */
export type WorkerState = 'INITIALIZED' | 'RUNNING' | 'STOPPING' | 'STOPPED' | 'FAILED';

export interface WorkerOptions {
  pipelines: ValidatedPipeline[];
  logger: Logger;
  /** Metrics port; 0 = off, 'auto' = any free one. Defaults to the first pipeline's monitoring.port. */
  port?: number | 'auto';
  /** Longest STOPPING may take before the process gives up. */
  drainTimeoutMs?: number;
  /** The process's model sessions (shared with `validate`); a new one by default. */
  registry?: ModelRegistry;
  /** Also process the pipelines' backfill chunks (BullMQ); with `only`, no Kafka consumers. */
  backfill?: BackfillRuntimeOptions;
}

export class Worker {
  state: WorkerState = 'INITIALIZED';
  private assembled: AssembledPipeline[] = [];
  private server: Server | undefined;
  private scrapeTarget: ScrapeTarget | undefined;
  private tracing: Tracing | undefined;
  private backfill: BackfillRuntime | undefined;
  private readonly registry: ModelRegistry;
  private readonly watchers: ControlWatchers;
  private done!: (code: number) => void;
  readonly finished: Promise<number> = new Promise((r) => {
    this.done = r;
  });

  private constructor(private readonly opts: WorkerOptions) {
    this.registry = opts.registry ?? new ModelRegistry();
    this.watchers = new ControlWatchers(opts.logger);
  }

  /**
   * Builds every pipeline, opens the sinks, connects the consumers. Rejects on terminal start-up
   * errors. A consumer whose topics do not exist yet waits for them in the background (the worker
   * is RUNNING, so it can be stopped, but not ready); its later errors end the worker like a crash.
   */
  static async create(opts: WorkerOptions): Promise<Worker> {
    const w = new Worker(opts);
    await w.start();
    return w;
  }

  private async start(): Promise<void> {
    const { logger } = this.opts;
    const telemetry = createTelemetry('streamscore');
    const meter = telemetry.provider.getMeter('streamscore');
    const wanted = this.opts.port ?? this.opts.pipelines[0]?.pipeline?.spec.monitoring.port ?? 0;
    let port = wanted === 'auto' ? 0 : wanted;
    if (wanted === 'auto' || port > 0) {
      this.server = await startObservabilityServer(
        port,
        telemetry.exporter,
        {
          live: () => this.state !== 'FAILED',
          // Not ready while a source waits for its topics to be created, or a pipeline is suspended.
          ready: () =>
            this.state === 'RUNNING' &&
            !this.assembled.some((a) => a.source.waiting || a.models.models.gate.suspended !== undefined),
        },
        // `streamscore drift` reads each pipeline's latest windows here.
        () => ({ pipelines: this.assembled.flatMap((a) => (a.drift ? [a.drift.snapshot()] : [])) }),
      );
      const address = this.server.address();
      if (address !== null && typeof address === 'object') port = address.port;
    }
    this.tracing = createProcessTracing('streamscore', logger);
    for (const v of this.opts.pipelines) {
      const p = v.pipeline!;
      // A wrong CA or password fails the start now, not after kafkajs' retries (about 40 s).
      if (p.spec.source.kafka) await checkKafkaSecurity(p.spec.source.kafka, logger);
      const metrics = createMetrics(meter, p.metadata.name, logger);
      const maxFlipRate = p.spec.model.shadow?.limits.max_flip_rate;
      if (maxFlipRate !== undefined) metrics.rollout.shadowLimits(maxFlipRate);
      this.assembled.push(
        await assembleValidated(v, {
          metrics,
          logger,
          registry: this.registry,
          watchers: this.watchers,
          tracer: this.tracing?.forPipeline(p.metadata.name),
        }),
      );
    }
    for (const a of this.assembled) await a.open();
    for (const a of this.opts.backfill?.only ? [] : this.assembled) {
      if (this.state !== 'INITIALIZED') return; // an earlier source failed in the background
      await a.source.start(
        (messages, heartbeat, trace) => a.processor.process(messages, heartbeat, trace).then(() => undefined),
        (err) => this.fail(a.name, err),
      );
    }
    if (this.opts.backfill) {
      this.backfill = await startBackfillWorkers({
        pipelines: this.assembled.map((a, i) => ({
          name: a.name,
          spec: this.opts.pipelines[i]!.pipeline!.spec.backfill,
          path: a.processor.backfill,
        })),
        options: this.opts.backfill,
        logger,
      });
    }
    // A source fails in the background (after waiting for its topics): it may have failed already.
    if (this.state !== 'INITIALIZED') return;
    // Announced once running (stoppable): a worker that fails to start leaves no target behind.
    if (this.server !== undefined)
      this.scrapeTarget = announceScrapeTarget({
        dir: process.env[SCRAPE_TARGETS_ENV],
        port,
        labels: {
          role: 'worker',
          worker: process.env['STREAMSCORE_WORKER_ID'] ?? '0',
          pipelines: this.opts.pipelines.map((v) => v.pipeline!.metadata.name).join(','),
        },
        logger,
      });
    this.state = 'RUNNING';
    logger.info({ pipelines: this.assembled.map((a) => a.name), port }, 'Worker running.');
  }

  private fail(pipeline: string, err: unknown): void {
    if (this.state === 'FAILED') return;
    this.opts.logger.error(
      { pipeline, error: errorMessage(err) },
      'Pipeline failed; the worker stops without committing past unwritten records.',
    );
    this.state = 'FAILED';
    void this.shutdown(1);
  }

  /** Graceful stop: stop fetching, finish and commit in-flight batches, close sinks. */
  async stop(): Promise<void> {
    if (this.state !== 'RUNNING') return;
    this.state = 'STOPPING';
    await this.shutdown(0);
  }

  private async shutdown(code: number): Promise<void> {
    const timer = setTimeout(() => {
      this.opts.logger.error({}, 'Drain timed out; exiting.');
      this.done(code || 1);
    }, this.opts.drainTimeoutMs ?? 30000);
    timer.unref();
    // Batches held by a suspension or waiting for the schema registry give up uncommitted rather
    // than hold the drain.
    for (const a of this.assembled) {
      a.models.models.gate.abandonWaiting();
      a.processor.abandonWaiting();
    }
    for (const a of this.assembled) await a.source.stop().catch(() => undefined);
    await this.backfill?.close().catch(() => undefined);
    for (const a of this.assembled) await a.close();
    await this.watchers.close();
    await this.tracing?.shutdown();
    this.scrapeTarget?.remove();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    clearTimeout(timer);
    if (this.state !== 'FAILED') this.state = 'STOPPED';
    this.done(code);
  }
}
