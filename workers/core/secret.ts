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

/** Replaces every known secret value inside a text with `***` (longest first). */
export function redactText(text: string, secrets: Iterable<string>): string {
  let out = text;
  const values = [...secrets].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
  for (const s of values) out = out.split(s).join('***');
  return out;
}
