const hidden = new WeakMap<Secret, string>();

/**
 * A credential read from the environment or a mounted file. It prints as `***` everywhere
 * (toString, JSON, util.inspect) and only `reveal()` hands out the value, at the client boundary.
 */
export class Secret {
  constructor(value: string) {
    hidden.set(this, value);
  }
  reveal(): string {
    return hidden.get(this) ?? '';
  }
  toString(): string {
    return '***';
  }
  toJSON(): string {
    return '***';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '***';
  }
}

/** `postgres://user:pw@host/db` → `postgres://user:***@host/db`; non-URLs come back unchanged. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === '') return url;
    u.password = '***';
    return u.toString().replace('%2A%2A%2A', '***');
  } catch {
    return url;
  }
}

/**
 * The texts a secret can appear as in a message: itself, and the number it reads as when a pipeline
 * writes it unquoted (`password: ${PIN}` is re-read as YAML, and a problem then prints the number:
 * `0x1F` as 31, twenty digits as seventeen and zeros).
 */
function shownAs(secret: string): string[] {
  const trimmed = secret.trim();
  const n = Number(trimmed);
  return trimmed !== '' && Number.isFinite(n) && String(n) !== secret ? [secret, String(n)] : [secret];
}

/** Shortest start of a secret redacted when a message cuts the value off (`'first 57 chars...'`). */
const MIN_TRUNCATED = 8;

/** Redacts the start of a secret (at least MIN_TRUNCATED chars) that an ellipsis cuts off. */
function redactTruncated(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const ellipsis of ['...', '…']) {
    for (let at = out.indexOf(ellipsis); at >= 0; at = out.indexOf(ellipsis, at + ellipsis.length)) {
      let cut = 0;
      for (const s of secrets) {
        for (let n = Math.min(s.length - 1, at); n >= MIN_TRUNCATED && n > cut; n--) {
          if (out.startsWith(s.slice(0, n), at - n)) {
            cut = n;
            break;
          }
        }
      }
      if (cut > 0) {
        out = `${out.slice(0, at - cut)}***${out.slice(at)}`;
        at += 3 - cut;
      }
    }
  }
  return out;
}

/** The password of a URL's user info (`scheme://user:password@`), wherever a URL is in a text. */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@'"]*:)([^\s/?#@'"]+)@/gi;

/**
 * Replaces every known secret value inside a text with `***` (longest first), also where it is
 * shown as a number or cut off by an ellipsis, and the password of every URL in it.
 */
export function redactText(text: string, secrets: Iterable<string>): string {
  let out = text;
  const values = [...new Set([...secrets].flatMap(shownAs))]
    .filter((s) => s.length >= 3)
    .sort((a, b) => b.length - a.length);
  for (const s of values) out = out.split(s).join('***');
  out = redactTruncated(out, values);
  return out.replace(URL_PASSWORD, (match, head: string, password: string) =>
    password === '***' ? match : `${head}***@`,
  );
}
