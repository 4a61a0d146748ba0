import { createHash, timingSafeEqual } from 'node:crypto';
import type { Secret } from '../core/secret.js';

/**
 * Who may call a pipeline: bearer tokens (several at once, so one can be rotated while the old
 * one still works), or anyone (`auth: none`, spelled out). Tokens are kept only as their sha256,
 * and compared in constant time whatever the presented token's length.
 */
export class TokenSet {
  readonly #digests: Buffer[];

  private constructor(
    readonly open: boolean,
    digests: Buffer[],
  ) {
    this.#digests = digests;
  }

  /** Every caller is allowed. */
  static none(): TokenSet {
    return new TokenSet(true, []);
  }

  static of(tokens: readonly Secret[]): TokenSet {
    if (tokens.length === 0) throw new Error('a token set needs at least one token (or use TokenSet.none())');
    return new TokenSet(
      false,
      tokens.map((t) => digest(t.reveal())),
    );
  }

  /** Whether an `Authorization` header value grants access. */
  allows(header: string | undefined): boolean {
    if (this.open) return true;
    const token = bearerToken(header);
    if (token === undefined) return false;
    const d = digest(token);
    let ok = false;
    // Every token is compared, so the time does not say which one matched.
    for (const known of this.#digests) ok = timingSafeEqual(known, d) || ok;
    return ok;
  }
}

/** The token of `Bearer <token>` (scheme case-insensitive), or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(header);
  return m?.[1];
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
