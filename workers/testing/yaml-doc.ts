import { type Document, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { locator, type SourceLocator } from '../spec/positions.js';
import { formatPath, type Problem, sortProblems } from '../spec/problems.js';
import { findAliasBomb, locateYamlError } from '../spec/yaml-errors.js';
import { explainIssues } from '../spec/zod-issues.js';

/** A YAML file checked against a zod schema, its nodes still located (line:col) for later checks. */
export interface LoadedYaml<T> {
  file: string;
  text: string;
  /** Present only when the document passed the schema. */
  value: T | undefined;
  /** The parsed document (comments kept): `--update` edits it and writes it back. */
  doc: Document;
  locate: SourceLocator;
  problems: Problem[];
}

/**
 * Parses `text` (keeping positions and comments) and checks it against `schema`, with the same
 * messages and positions as pipeline files: the first syntax error, duplicate keys, then every
 * schema issue at the node it concerns (`file:line:col: path: expected …, got …`).
 */
export function loadYamlText<S extends z.ZodType>(
  file: string,
  text: string,
  schema: S,
): LoadedYaml<z.output<S>> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const locate = locator(doc, lines);
  const problems: Problem[] = [];
  const problem = (line: number, column: number, path: string, code: string, message: string) =>
    problems.push({ file, line, column, path, code, message });
  const result = { file, text, value: undefined, doc, locate, problems };
  const syntax = doc.errors.filter((e) => e.code !== 'DUPLICATE_KEY').slice(0, 1);
  const duplicates = doc.errors.filter((e) => e.code === 'DUPLICATE_KEY');
  for (const e of [...syntax, ...duplicates]) {
    const located = locateYamlError(e, doc.errors, text);
    const p = locate.offset(located.offset);
    const dup = e.code === 'DUPLICATE_KEY';
    const keyText = /^\s*["']?([^:"'\n]+)/.exec(text.slice(e.pos[0]))?.[1]?.trim() ?? '?';
    problem(
      p.line,
      p.column,
      '',
      dup ? 'duplicate_key' : 'yaml_syntax',
      dup
        ? `duplicate key '${keyText}': each key may appear once in a map`
        : `YAML syntax: ${located.message}`,
    );
  }
  if (problems.length > 0) return { ...result, problems: sortProblems(problems) };
  const bomb = findAliasBomb(doc);
  if (bomb) {
    const p = locate.offset(bomb.alias.range?.[0] ?? 0);
    problem(
      p.line,
      p.column,
      '',
      'yaml_alias_expansion',
      `YAML: alias *${bomb.alias.source} copies too much`,
    );
    return result;
  }
  const data: unknown = doc.toJS({ maxAliasCount: -1 });
  const parsed = schema.safeParse(data, { reportInput: true });
  if (!parsed.success) {
    for (const m of explainIssues(schema, data, parsed.error.issues)) {
      const p = locate.at(m.path, { key: m.atKey === true });
      problem(p.line, p.column, formatPath(m.path), m.code, m.message);
    }
    return { ...result, problems: sortProblems(problems) };
  }
  return { ...result, value: parsed.data };
}
