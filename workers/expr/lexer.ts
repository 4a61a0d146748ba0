import type { ExprDiagnostic } from './errors.js';

/** `invalid` is a character the lexer already reported: the parser stays quiet about it. */
export type TokenKind = 'number' | 'string' | 'ident' | 'punct' | 'invalid' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** Source text of the token; for punctuation, the operator (after repair of `=`, `&`, `|`). */
  readonly text: string;
  readonly offset: number;
  readonly length: number;
  /** Decoded value of number and string literals. */
  readonly value: number | string | undefined;
}

const TWO_CHAR = new Set(['==', '!=', '<=', '>=', '&&', '||']);
const ONE_CHAR = new Set(['(', ')', '[', ']', ',', '.', '?', ':', '+', '-', '*', '/', '%', '!', '<', '>']);
/** Single characters people type for a two-character operator: reported, then read as meant. */
const REPAIRED: Readonly<Record<string, string>> = { '=': '==', '&': '&&', '|': '||' };
const ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  n: '\n',
  r: '\r',
  t: '\t',
  '0': '\0',
};

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isIdentStart = (c: string | undefined): boolean =>
  c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_');
const isIdentPart = (c: string | undefined): boolean => isIdentStart(c) || isDigit(c);

/** Splits an expression into tokens, ending with `eof`. Problems are added to `diagnostics`. */
export function tokenize(source: string, diagnostics: ExprDiagnostic[]): Token[] {
  const tokens: Token[] = [];
  const syntax = (offset: number, length: number, message: string) =>
    diagnostics.push({ offset, length, message, code: 'expr_syntax' });
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || (c > '\x7f' && /\s/.test(c))) {
      i++;
    } else if (isDigit(c)) {
      i = readNumber(source, i, tokens, syntax);
    } else if (isIdentStart(c)) {
      const start = i;
      while (isIdentPart(source[i])) i++;
      const text = source.slice(start, i);
      tokens.push({ kind: 'ident', text, offset: start, length: i - start, value: text });
    } else if (c === "'" || c === '"') {
      i = readString(source, i, tokens, syntax);
    } else {
      const two = source.slice(i, i + 2);
      if (TWO_CHAR.has(two)) {
        tokens.push({ kind: 'punct', text: two, offset: i, length: 2, value: undefined });
        i += 2;
      } else if (ONE_CHAR.has(c)) {
        tokens.push({ kind: 'punct', text: c, offset: i, length: 1, value: undefined });
        i++;
      } else if (REPAIRED[c] !== undefined) {
        syntax(i, 1, `unexpected '${c}' (did you mean '${REPAIRED[c]}'?)`);
        tokens.push({ kind: 'punct', text: REPAIRED[c], offset: i, length: 1, value: undefined });
        i++;
      } else {
        const cp = String.fromCodePoint(source.codePointAt(i)!);
        const hint = /\p{L}/u.test(cp) ? ` (quote names with other characters: after["name"])` : '';
        syntax(i, cp.length, `unexpected character '${cp}'${hint}`);
        tokens.push({ kind: 'invalid', text: cp, offset: i, length: cp.length, value: undefined });
        i += cp.length;
      }
    }
  }
  tokens.push({ kind: 'eof', text: '', offset: source.length, length: 0, value: undefined });
  return tokens;
}

type Report = (offset: number, length: number, message: string) => void;

/** Digits, an optional fraction, an optional exponent: `12`, `0.5`, `1e-3`, `2.5E6`. */
function readNumber(source: string, start: number, tokens: Token[], syntax: Report): number {
  let i = start;
  while (isDigit(source[i])) i++;
  if (source[i] === '.' && isDigit(source[i + 1])) {
    i++;
    while (isDigit(source[i])) i++;
  }
  let valid = true;
  if (source[i] === 'e' || source[i] === 'E') {
    const signed = source[i + 1] === '+' || source[i + 1] === '-';
    if (isDigit(source[i + (signed ? 2 : 1)])) {
      i += signed ? 2 : 1;
      while (isDigit(source[i])) i++;
    } else valid = false;
  }
  if (!valid || isIdentPart(source[i])) {
    while (isIdentPart(source[i])) i++;
    valid = false;
  }
  const text = source.slice(start, i);
  if (!valid) syntax(start, i - start, `invalid number '${text}'`);
  else if (!/[.eE]/.test(text) && !Number.isSafeInteger(Number(text))) {
    // Columns keep int64 exact (bigints); a literal would be rounded to a double, so it is refused.
    syntax(
      start,
      i - start,
      `integer literal ${text} is beyond 2^53 - 1 and would not be exact; compare its text instead: to_string(x) == '${text}'`,
    );
  }
  tokens.push({ kind: 'number', text, offset: start, length: i - start, value: valid ? Number(text) : 0 });
  return i;
}

/** A 'single' or "double" quoted string with backslash escapes, including \uXXXX and \u{X…}. */
function readString(source: string, start: number, tokens: Token[], syntax: Report): number {
  const quote = source[start];
  let i = start + 1;
  let value = '';
  for (;;) {
    const c = source[i];
    if (c === undefined) {
      syntax(start, i - start, 'unterminated string');
      break;
    }
    if (c === quote) {
      i++;
      break;
    }
    if (c !== '\\') {
      value += c;
      i++;
      continue;
    }
    const e = source[i + 1];
    const simple = e === undefined ? undefined : ESCAPES[e];
    if (simple !== undefined) {
      value += simple;
      i += 2;
      continue;
    }
    const unicode = e === 'u' ? readUnicodeEscape(source, i) : undefined;
    if (unicode !== undefined) {
      value += String.fromCodePoint(unicode.codePoint);
      i = unicode.end;
      continue;
    }
    const length = e === undefined ? 1 : 2;
    syntax(i, length, `invalid escape '${source.slice(i, i + length)}'`);
    i += length;
  }
  tokens.push({ kind: 'string', text: source.slice(start, i), offset: start, length: i - start, value });
  return i;
}

function readUnicodeEscape(source: string, at: number): { codePoint: number; end: number } | undefined {
  const braced = /^\\u\{([0-9a-fA-F]{1,6})\}/.exec(source.slice(at, at + 11));
  const plain = braced ? null : /^\\u([0-9a-fA-F]{4})/.exec(source.slice(at, at + 6));
  const m = braced ?? plain;
  if (!m) return undefined;
  const codePoint = Number.parseInt(m[1]!, 16);
  return codePoint > 0x10ffff ? undefined : { codePoint, end: at + m[0].length };
}
