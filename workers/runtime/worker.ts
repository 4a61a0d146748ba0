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
import { startObservabilityServer } from '../observability/server.js';
import { createTelemetry } from '../observability/telemetry.js';
import { ControlWatchers } from '../rollout/open.js';
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
  /** Metrics port; 0 = off. Defaults to the first pipeline's monitoring.port. */
  port?: number;
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
    const port = this.opts.port ?? this.opts.pipelines[0]?.pipeline?.spec.monitoring.port ?? 0;
    if (port > 0) {
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
    }
    for (const v of this.opts.pipelines) {
      const p = v.pipeline!;
      this.assembled.push(
        await assembleValidated(v, {
          metrics: createMetrics(meter, p.metadata.name, logger),
          logger,
          registry: this.registry,
          watchers: this.watchers,
        }),
      );
    }
    for (const a of this.assembled) await a.open();
    for (const a of this.opts.backfill?.only ? [] : this.assembled) {
      if (this.state !== 'INITIALIZED') return; // an earlier source failed in the background
      await a.source.start(
        (messages, heartbeat) => a.processor.process(messages, heartbeat).then(() => undefined),
        (err) => this.fail(a.name, err),
      );
    }
    if (this.opts.backfill) {
      this.backfill = await startBackfillWorkers({
        pipelines: this.assembled.map((a, i) => ({
          name: a.name,
          spec: this.opts.pipelines[i]!.pipeline!.spec.backfill,
          path: a.processor,
        })),
        options: this.opts.backfill,
        logger,
      });
    }
    // A source fails in the background (after waiting for its topics): it may have failed already.
    if (this.state !== 'INITIALIZED') return;
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
    // Batches held by a suspension give up uncommitted rather than hold the drain.
    for (const a of this.assembled) a.models.models.gate.abandonWaiting();
    for (const a of this.assembled) await a.source.stop().catch(() => undefined);
    await this.backfill?.close().catch(() => undefined);
    for (const a of this.assembled) await a.close();
    await this.watchers.close();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    clearTimeout(timer);
    if (this.state !== 'FAILED') this.state = 'STOPPED';
    this.done(code);
  }
}
