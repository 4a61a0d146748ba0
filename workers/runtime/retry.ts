import { PipelineError } from '../core/errors.js';

export interface RetryPolicy {
  maxRetries: number;
  initialBackoffMs: number;
  maxBackoffMs?: number;
}

/**
 * Runs `fn` until it succeeds; a retryable PipelineError (or an unclassified error, a bounded
 * number of times) is retried with exponential back-off, calling `onWait` while waiting so the
 * source can keep heartbeating. A terminal error, or exhausted retries, rethrows.
 */
export async function withRetry<T>(
  fn: () => Promise<T>,
  policy: RetryPolicy,
  hooks: {
    onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
    onWait?: () => Promise<void>;
    /** Which errors to retry (default: retryable PipelineErrors and unclassified errors). */
    retryIf?: (err: unknown) => boolean;
  } = {},
  signal?: AbortSignal,
): Promise<T> {
  let attempt = 0;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const retryable = hooks.retryIf ? hooks.retryIf(err) : PipelineError.is(err) ? err.retryable : true;
      if (!retryable || attempt >= policy.maxRetries || signal?.aborted) throw err;
      const delay = Math.min(policy.initialBackoffMs * 2 ** attempt, policy.maxBackoffMs ?? 30000);
      attempt += 1;
      hooks.onRetry?.(err, attempt, delay);
      await sleepWhile(delay, hooks.onWait, signal);
    }
  }
}

async function sleepWhile(
  ms: number,
  onWait: (() => Promise<void>) | undefined,
  signal?: AbortSignal,
): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !signal?.aborted) {
    await new Promise((r) => setTimeout(r, Math.min(1000, end - Date.now())));
    if (onWait) await onWait().catch(() => undefined);
  }
}
