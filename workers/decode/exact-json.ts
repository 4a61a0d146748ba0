import { int64FromText } from '../core/int64.js';

/**
 * `JSON.parse` that keeps integers exact: an integer literal beyond ±(2^53 − 1) becomes a bigint
 * (see `core/int64.ts`) instead of the nearest double, so a bigint key written by JsonConverter is
 * read as the entity it names. Fractions and exponents stay doubles.
 *
 * Cost: a text with no run of 16 digits (no unsafe integer can hide in it) is one regex test plus
 * `JSON.parse`. Otherwise each such literal outside a string is rewritten as a marker string
 * (`"\u0001<digits>"`, with an escape the text itself does not use, so no real string can be
 * mistaken for one), the text is parsed, and the markers are turned into bigints in one walk.
 * Debezium 2+ events always carry `ts_ns` (19 digits), so they take that second path.
 */
export function parseJsonExact(text: string): unknown {
  const quick = markByProbing(text);
  if (quick === undefined) return JSON.parse(text);
  let parsed: unknown;
  try {
    parsed = JSON.parse(quick.text);
  } catch {
    // A digit run inside a string was taken for a number: the inserted quotes broke the text.
    // (Always a syntax error: right after the inserted `"` closes the string comes a `\`.)
    const careful = markUnsafeIntegers(text);
    if (careful === undefined) return JSON.parse(text);
    return revive(JSON.parse(careful.text), careful.marker);
  }
  return revive(parsed, quick.marker);
}

/**
 * The fast scan: a run of 16 or more digits covers a position that is a multiple of 16, so only
 * those positions are probed, and a run found there is widened to its token. A token counts as a
 * number when the character before it is `:`, `,` or `[` — which a digit run inside a string may
 * also satisfy; `parseJsonExact` then falls back to the careful scan.
 */
export function markByProbing(text: string): { text: string; marker: string } | undefined {
  let out = '';
  let copied = 0;
  let markerEscape: string | undefined;
  const len = text.length;
  for (let p = 15; p < len; p += 16) {
    const c = text.charCodeAt(p);
    if (c < 48 || c > 57) continue;
    let start = p;
    while (start > 0 && isNumberChar(text.charCodeAt(start - 1))) start--;
    let end = p + 1;
    while (end < len && isNumberChar(text.charCodeAt(end))) end++;
    p = end - (end % 16) - 1; // the next probe is past this token
    if (end - start < 16 || !startsValue(text, start)) continue;
    const literal = text.slice(start, end);
    if (!INTEGER.test(literal) || Number.isSafeInteger(Number(literal))) continue;
    markerEscape ??= freeMarker(text);
    out += `${text.slice(copied, start)}"${markerEscape}${literal}"`;
    copied = end;
  }
  if (markerEscape === undefined) return undefined;
  return { text: out + text.slice(copied), marker: JSON.parse(`"${markerEscape}"`) as string };
}

/** Digits, sign, decimal point and exponent: the characters of a JSON number token. */
function isNumberChar(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 101 || c === 69 || c === 43;
}

/** A number token starts here: the last non-blank character before it is `:`, `,`, `[` or none. */
function startsValue(text: string, at: number): boolean {
  for (let i = at - 1; i >= 0; i--) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) continue;
    return c === 58 /* : */ || c === 44 /* , */ || c === 91 /* [ */;
  }
  return true;
}

function freeMarker(text: string): string {
  const found = MARKERS.find((e) => !text.includes(e));
  if (found === undefined) {
    throw new SyntaxError('cannot read an integer beyond 2^53 exactly in this text (no free marker)');
  }
  return found;
}

/** Escapes for the marker's first character; digits only, so their case cannot vary. */
const MARKERS = ['\\u0001', '\\u0002', '\\u0003', '\\u0004', '\\u0005', '\\u0006', '\\u0007'];

/**
 * The careful scan: walks the text outside strings (strings are skipped with `indexOf`, so long text values cost
 * little) and rewrites each integer literal beyond 2^53 as a marker string.
 */
export function markUnsafeIntegers(text: string): { text: string; marker: string } | undefined {
  let out = '';
  let copied = 0;
  let markerEscape: string | undefined;
  const len = text.length;
  let pos = 0;
  while (pos < len) {
    const quote = text.indexOf('"', pos);
    const stop = quote === -1 ? len : quote;
    // Numbers between `pos` and the next string.
    for (let i = pos; i < stop; i++) {
      let c = text.charCodeAt(i);
      if (c !== 45 /* - */ && (c < 48 || c > 57)) continue;
      const start = i;
      do c = text.charCodeAt(++i);
      while (i < stop && ((c >= 48 && c <= 57) || c === 46 || c === 101 || c === 69 || c === 43 || c === 45));
      if (i - start < 16) continue;
      const literal = text.slice(start, i);
      if (!INTEGER.test(literal) || Number.isSafeInteger(Number(literal))) continue;
      markerEscape ??= freeMarker(text);
      out += `${text.slice(copied, start)}"${markerEscape}${literal}"`;
      copied = i;
    }
    if (quote === -1) break;
    pos = endOfString(text, quote + 1);
  }
  if (markerEscape === undefined) return undefined;
  return { text: out + text.slice(copied), marker: JSON.parse(`"${markerEscape}"`) as string };
}

const INTEGER = /^-?\d+$/;

/** The index after the closing quote of the string whose content starts at `from`. */
function endOfString(text: string, from: number): number {
  for (let q = text.indexOf('"', from); q !== -1; q = text.indexOf('"', q + 1)) {
    let backslashes = 0;
    for (let i = q - 1; i >= from && text.charCodeAt(i) === 92 /* \ */; i--) backslashes++;
    if (backslashes % 2 === 0) return q + 1;
  }
  return text.length;
}

export function revive(value: unknown, marker: string): unknown {
  if (typeof value === 'string') {
    return value.length > 1 && value[0] === marker ? int64FromText(value.slice(1)) : value;
  }
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i], marker);
    return value;
  }
  const o = value as Record<string, unknown>;
  for (const k in o) {
    const v = o[k];
    if (typeof v === 'string' && !(v.length > 1 && v[0] === marker)) continue;
    if (typeof v !== 'object' && typeof v !== 'string') continue;
    const r = revive(v, marker);
    if (r === v) continue;
    if (k === '__proto__') Object.defineProperty(o, k, { value: r, enumerable: true, writable: true });
    else o[k] = r;
  }
  return o;
}
