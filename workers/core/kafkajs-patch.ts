/**
 * Puts a function in place of one of kafkajs' internal modules, in Node's module cache, before the
 * kafkajs module that requires it loads (so that module takes the replacement as its own). Used for
 * drop-in replacements that give identical results (`kafkajs-grouping.ts`, `kafkajs-crc32c.ts`,
`kafkajs-encoder.ts`, which builds its replacement from the original class).
 *
 * Nothing is replaced — and false returned — when kafkajs is not where it is expected, the
 * requiring module was loaded already (too late: it holds kafkajs' own function), or the original
 * is not a function of the expected arity (another kafkajs version).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function replaceKafkajsModule(p: {
  /** The module replaced, e.g. `kafkajs/src/producer/groupMessagesPerPartition.js`. */
  target: string;
  /** The module that requires it. */
  requiredBy: string;
  /** The original function's arity (`fn.length`). */
  arity: number;
  /** The replacement, or a function making it from kafkajs' original (e.g. a subclass). */
  replacement: ((...args: never[]) => unknown) | { from(original: never): unknown };
}): boolean {
  let target: string;
  let requiredBy: string;
  try {
    target = require.resolve(p.target);
    requiredBy = require.resolve(p.requiredBy);
  } catch {
    return false;
  }
  if (require.cache[requiredBy] !== undefined) return false;
  const original = require(target) as unknown;
  if (typeof original !== 'function' || original.length !== p.arity) return false;
  const entry = require.cache[target];
  if (entry === undefined) return false;
  entry.exports = typeof p.replacement === 'function' ? p.replacement : p.replacement.from(original as never);
  return true;
}
