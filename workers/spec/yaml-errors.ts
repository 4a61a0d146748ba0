import {
  type Alias,
  type Document,
  isAlias,
  isCollection,
  isPair,
  type Node,
  visit,
  type YAMLError,
} from 'yaml';

/** Where the YAML library reports an error, and where the offending text really is. */
export interface LocatedYamlError {
  offset: number;
  message: string;
}

/**
 * Moves the yaml library's error offsets to the offending token. A key indented deeper than its
 * siblings, after a key with a scalar value, is reported at that value (the line before) as a
 * compact nested map: point at the key instead. A key indented less than its siblings is reported
 * at the whitespace (or the blank and comment lines) before it: point past them.
 */
export function locateYamlError(e: YAMLError, all: readonly YAMLError[], text: string): LocatedYamlError {
  const firstLine = e.message.split('\n')[0] ?? e.message;
  if (e.code === 'BLOCK_AS_IMPLICIT_KEY') {
    // The value of the line above and the over-indented key read as one multi-line implicit key.
    const multi = all.find((m) => m.code === 'MULTILINE_IMPLICIT_KEY' && m.pos[0] === e.pos[0]);
    const span = multi ? text.slice(multi.pos[0], multi.pos[1]) : '';
    const newline = span.lastIndexOf('\n');
    if (multi && newline >= 0) {
      const offset = skipBlank(text, multi.pos[0] + newline);
      const key = /^[^:\s]+/.exec(text.slice(offset))?.[0] ?? '?';
      return {
        offset,
        message: `bad indentation: '${key}' is indented deeper than the line above it, whose key already has a value (keys of one map start at the same column)`,
      };
    }
  }
  if (e.code === 'BAD_INDENT' || e.code === 'MISSING_CHAR') {
    return { offset: skipBlank(text, e.pos[0]), message: firstLine };
  }
  return { offset: e.pos[0], message: firstLine };
}

/** The first offset at or after `from` that is not whitespace, a line break or a comment line. */
function skipBlank(text: string, from: number): number {
  let i = from;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') i++;
    else if (c === '#') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end;
    } else break;
  }
  return Math.min(i, text.length);
}

/** More values than a pipeline needs by far; `toJS` never builds more than this from aliases. */
export const MAX_ALIAS_EXPANSION = 10_000;

export interface AliasBomb {
  alias: Alias;
  /** Values the alias copies. */
  size: number;
}

/**
 * The alias at which the values copied by aliases, in document order, pass `limit`
 * (billion-laughs documents), or undefined. Linear in the document: sizes are memoised per anchor.
 */
export function findAliasBomb(doc: Document, limit = MAX_ALIAS_EXPANSION): AliasBomb | undefined {
  // An alias refers to the last node with its anchor before it in document order.
  const anchors = new Map<string, Node>();
  const targets: [Alias, Node | undefined][] = [];
  visit(doc, {
    Node(_key, node) {
      if (isAlias(node)) targets.push([node, anchors.get(node.source)]);
      else if (node.anchor) anchors.set(node.anchor, node);
    },
  });
  const targetOf = new Map(targets);
  const sizes = new Map<unknown, number>();
  const sizeOf = (node: unknown): number => {
    if (isAlias(node)) {
      const target = targetOf.get(node);
      return target === undefined ? 1 : sizeOf(target);
    }
    if (!isCollection(node)) return 1;
    const known = sizes.get(node);
    if (known !== undefined) return known;
    sizes.set(node, 1); // an alias inside its own anchor makes a cycle (a reference), not a copy
    let size = 1;
    for (const item of node.items)
      size += isPair(item) ? sizeOf(item.key) + sizeOf(item.value) : sizeOf(item);
    sizes.set(node, size);
    return size;
  };
  let copied = 0;
  for (const [alias] of targets) {
    const size = sizeOf(alias);
    copied += size;
    if (copied > limit) return { alias, size };
  }
  return undefined;
}
