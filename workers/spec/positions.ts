import { type Document, isMap, isPair, isScalar, isSeq, type LineCounter, type Node, Scalar } from 'yaml';

export interface Position {
  line: number;
  column: number;
}

export interface SourceLocator {
  /** Where the value at `path` starts; for a missing key, where its parent starts. */
  at(path: readonly (string | number)[], opts?: { key?: boolean }): Position;
  offset(offset: number): Position;
  /** Position of character `index` inside the string scalar at `path` (expressions). */
  inside(path: readonly (string | number)[], index: number): Position;
}

function child(node: unknown, seg: string | number): { value: unknown; key: unknown } | undefined {
  if (isMap(node)) {
    for (const item of node.items) {
      if (isPair(item) && isScalar(item.key) && String(item.key.value) === String(seg)) {
        return { value: item.value, key: item.key };
      }
    }
    return undefined;
  }
  if (isSeq(node) && typeof seg === 'number') {
    const v = node.items[seg];
    return v === undefined ? undefined : { value: v, key: v };
  }
  return undefined;
}

export function locator(doc: Document, lines: LineCounter): SourceLocator {
  const offset = (o: number): Position => {
    const p = lines.linePos(o);
    return { line: p.line, column: p.col };
  };
  const nodeAt = (path: readonly (string | number)[]): unknown => {
    let node: unknown = doc.contents;
    for (const seg of path) {
      const next = child(node, seg);
      if (!next) return undefined;
      node = next.value;
    }
    return node;
  };
  return {
    offset,
    inside(path, index) {
      const node = nodeAt(path);
      if (!isScalar(node) || !node.range) return this.at(path);
      const quoted = node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE;
      const plain = node.type === Scalar.PLAIN;
      if (!quoted && !plain) return offset(node.range[0]);
      return offset(node.range[0] + (quoted ? 1 : 0) + index);
    },
    at(path, opts) {
      let node: unknown = doc.contents;
      let best = (node as Node | null)?.range?.[0] ?? 0;
      for (let i = 0; i < path.length; i++) {
        const next = child(node, path[i]!);
        if (!next) break;
        const last = i === path.length - 1;
        const target = last && opts?.key ? next.key : next.value;
        const range = (target as Node | null)?.range;
        if (range) best = range[0];
        node = next.value;
      }
      return offset(best);
    },
  };
}
