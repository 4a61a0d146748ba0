import { readFileSync } from 'node:fs';
import { type Document, isMap, isPair, isScalar, isSeq, parse, Scalar } from 'yaml';

export interface InterpolationProblem {
  path: (string | number)[];
  /** Offset in the file where the `${...}` reference starts. */
  offset: number;
  message: string;
  code: 'missing_variable' | 'unreadable_secret_file' | 'bad_reference';
}

export interface InterpolationResult {
  problems: InterpolationProblem[];
  /** Values read from `${file:…}` and from variables used in secret-looking keys; redacted in all output. */
  secrets: Set<string>;
}

const REF = /\$\$\{|\$\{([^}]*)\}/g;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SECRET_KEY = /pass(word)?|secret|token|passphrase|credential/i;

export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Replaces `${VAR}`, `${VAR:-default}` and `${file:/path}` in every string scalar of the document,
 * in place. `$${` is a literal `${`. A scalar that was entirely one reference and unquoted is
 * re-read as YAML, so `port: ${PORT}` becomes a number. When VAR is unset and `VAR_FILE` names a
 * file (a Kubernetes or Docker secret mounted as a file), `${VAR}` is that file's content, a secret:
 * the same pipeline runs from the environment locally and from secret files in a cluster.
 */
export function interpolate(
  doc: Document,
  env: Env,
  readFile: (p: string) => string = defaultRead,
): InterpolationResult {
  const result: InterpolationResult = { problems: [], secrets: new Set() };
  const walk = (node: unknown, path: (string | number)[], keyName: string): void => {
    if (isMap(node)) {
      for (const item of node.items) {
        if (!isPair(item)) continue;
        const k = isScalar(item.key) ? String(item.key.value) : '?';
        walk(item.value, [...path, k], k);
      }
    } else if (isSeq(node)) {
      for (const [i, v] of node.items.entries()) walk(v, [...path, i], keyName);
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
      resolveScalar(node, path, keyName, env, readFile, result);
    }
  };
  walk(doc.contents, [], '');
  return result;
}

function resolveScalar(
  node: Scalar,
  path: (string | number)[],
  keyName: string,
  env: Env,
  readFile: (p: string) => string,
  result: InterpolationResult,
): void {
  const text = node.value as string;
  const start =
    (node.range?.[0] ?? 0) + (node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE ? 1 : 0);
  let whole = false;
  const secretKey = SECRET_KEY.test(keyName);
  // Only values from the environment or files are secret; a default written in the file is not.
  let fromSecret = false;
  const out = text.replace(REF, (match, inner: string | undefined, at: number) => {
    if (match === '$${') return '${';
    whole = match.length === text.length;
    const ref = (inner ?? '').trim();
    const fail = (code: InterpolationProblem['code'], message: string): string => {
      result.problems.push({ path, offset: start + at, message, code });
      return '';
    };
    /** A secret file's content without its final newline; `via` says where its name came from. */
    const secretFile = (file: string, via = ''): string => {
      try {
        const value = readFile(file).replace(/\r?\n$/, '');
        fromSecret = true;
        return value;
      } catch (err) {
        return fail(
          'unreadable_secret_file',
          `cannot read secret file '${file}'${via}: ${(err as NodeJS.ErrnoException).code ?? err}`,
        );
      }
    };
    if (ref.startsWith('file:')) return secretFile(ref.slice(5));
    const sep = ref.indexOf(':-');
    const name = sep >= 0 ? ref.slice(0, sep) : ref;
    if (!VAR_NAME.test(name)) {
      return fail('bad_reference', `expected \${VAR}, \${VAR:-default} or \${file:/path}, got '${match}'`);
    }
    const value = env[name];
    if (value !== undefined && value !== '') {
      if (secretKey) fromSecret = true;
      return value;
    }
    const fromFile = env[`${name}_FILE`];
    if (fromFile !== undefined && fromFile !== '') return secretFile(fromFile, ` (from ${name}_FILE)`);
    if (sep >= 0) return ref.slice(sep + 2);
    return fail(
      'missing_variable',
      `environment variable ${name} is not set (use \${${name}:-default} for a default)`,
    );
  });
  if (fromSecret && out !== '') result.secrets.add(out);
  if (whole && node.type === Scalar.PLAIN) {
    const reread: unknown = safeParse(out);
    node.value = typeof reread === 'number' || typeof reread === 'boolean' ? reread : out;
  } else {
    node.value = out;
  }
}

function safeParse(text: string): unknown {
  try {
    return parse(text);
  } catch {
    return text;
  }
}

function defaultRead(p: string): string {
  return readFileSync(p, 'utf8');
}
