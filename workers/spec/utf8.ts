const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export type Utf8Result =
  | { ok: true; text: string }
  /** Where the first ill-formed sequence starts: 1-based line, column in characters, its first byte. */
  | { ok: false; offset: number; line: number; column: number; byte: number };

/** Decodes UTF-8 strictly: bytes that are not UTF-8 are located instead of becoming U+FFFD. */
export function decodeUtf8(bytes: Uint8Array): Utf8Result {
  try {
    return { ok: true, text: strict.decode(bytes) };
  } catch {
    const offset = firstInvalidUtf8(bytes);
    const lineStart = bytes.lastIndexOf(0x0a, offset - 1) + 1;
    let line = 1;
    for (let i = 0; i < lineStart; i++) if (bytes[i] === 0x0a) line++;
    // Everything before `offset` is well-formed: count its characters as the YAML positions do.
    const column = strict.decode(bytes.subarray(lineStart, offset)).length + 1;
    return { ok: false, offset, line, column, byte: bytes[offset] ?? 0 };
  }
}

/**
 * Offset of the first byte of the first ill-formed sequence (Unicode table 3-7: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or -1 when every byte is well-formed.
 */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    // [count of continuation bytes, allowed range of the first continuation byte]
    let rule: [number, number, number] | undefined;
    if (b >= 0xc2 && b <= 0xdf) rule = [1, 0x80, 0xbf];
    else if (b === 0xe0) rule = [2, 0xa0, 0xbf];
    else if (b === 0xed) rule = [2, 0x80, 0x9f];
    else if (b >= 0xe1 && b <= 0xef) rule = [2, 0x80, 0xbf];
    else if (b === 0xf0) rule = [3, 0x90, 0xbf];
    else if (b >= 0xf1 && b <= 0xf3) rule = [3, 0x80, 0xbf];
    else if (b === 0xf4) rule = [3, 0x80, 0x8f];
    if (!rule) return i;
    const [count, low, high] = rule;
    for (let k = 1; k <= count; k++) {
      const c = bytes[i + k];
      const [lo, hi] = k === 1 ? [low, high] : [0x80, 0xbf];
      if (c === undefined || c < lo || c > hi) return i;
    }
    i += count + 1;
  }
  return -1;
}
