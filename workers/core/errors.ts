/**
 * The one error class every stage throws for a record or a batch it cannot process.
 * `code` is stable (tests and dashboards key on it); `retryable` tells the engine whether to retry
 * with back-off (transient) or to fail / dead-letter (terminal).
 */
export type Stage = 'spec' | 'source' | 'decode' | 'features' | 'inference' | 'sink' | 'backfill' | 'runtime';

export interface PipelineErrorOptions {
  code: string;
  stage: Stage;
  retryable?: boolean;
  pipeline?: string;
  /** Where the record came from, e.g. `topic/partition@offset` or `crm.customers#42`. */
  position?: string;
  context?: Readonly<Record<string, unknown>>;
  cause?: unknown;
}

export class PipelineError extends Error {
  readonly code: string;
  readonly stage: Stage;
  readonly retryable: boolean;
  readonly pipeline: string | undefined;
  readonly position: string | undefined;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(message: string, options: PipelineErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PipelineError';
    this.code = options.code;
    this.stage = options.stage;
    this.retryable = options.retryable ?? false;
    this.pipeline = options.pipeline;
    this.position = options.position;
    this.context = options.context ?? {};
  }

  /** Works across duplicated module copies, unlike `instanceof`. */
  static is(err: unknown): err is PipelineError {
    return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'PipelineError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
