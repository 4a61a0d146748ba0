import { type Pipeline, SERVE_MIN_TOKEN_LENGTH } from './pipeline-schema.js';

type Add = (path: (string | number)[], code: string, message: string) => void;

/**
 * `spec.serve`: an input schema to check requests against (and to document them), tokens long
 * enough and each listed once, a batch that fits in the queue.
 */
export function checkServeSection(p: Pipeline, add: Add): void {
  const s = p.spec.serve;
  if (s === undefined) return;
  if (p.spec.features.input_schema === undefined) {
    add(
      ['spec', 'serve'],
      'serve_without_input_schema',
      'expected features.input_schema (the API checks every request against the row schema and documents it), got none',
    );
  }
  const maxBatch = s.max_batch ?? p.spec.model.batch.max_size;
  if (maxBatch > s.max_queue) {
    add(
      ['spec', 'serve', s.max_batch === undefined ? 'max_queue' : 'max_batch'],
      'serve_batch_over_queue',
      `expected max_batch (${maxBatch}) at most max_queue (${s.max_queue}), got a batch that can never fill`,
    );
  }
  if (s.auth === undefined || s.auth === 'none') return;
  const seen = new Set<string>();
  s.auth.tokens.forEach((t, i) => {
    const value = t.reveal();
    if (value.length < SERVE_MIN_TOKEN_LENGTH) {
      add(
        ['spec', 'serve', 'auth', 'tokens', i],
        'serve_weak_token',
        `expected a token of at least ${SERVE_MIN_TOKEN_LENGTH} characters, got one of ${value.length}`,
      );
    }
    if (seen.has(value)) {
      add(
        ['spec', 'serve', 'auth', 'tokens', i],
        'serve_duplicate_token',
        'expected each token once, got this one twice',
      );
    }
    seen.add(value);
  });
}
