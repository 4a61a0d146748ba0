import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { type Env, interpolate } from './interpolate.js';
import { type Pipeline, pipelineSchema } from './pipeline-schema.js';
import { locator, type SourceLocator } from './positions.js';
import { formatPath, type Problem, sortProblems } from './problems.js';
import { decodeUtf8, type Utf8Result } from './utf8.js';
import { type AliasBomb, findAliasBomb, locateYamlError, MAX_ALIAS_EXPANSION } from './yaml-errors.js';
import { explainIssues } from './zod-issues.js';

export interface LoadOptions {
  env?: Env;
  readFile?: (path: string) => string;
}

export interface LoadedPipeline {
  file: string;
  /** Present only when the document passed the schema. */
  pipeline: Pipeline | undefined;
  /** The interpolated plain data, even when invalid (for partial checks). */
  data: unknown;
  problems: Problem[];
  secrets: Set<string>;
  locate: SourceLocator;
  /** Text of the file, for expression positions. */
  text: string;
}

/** Reads, parses (keeping positions), interpolates and schema-checks one pipeline file. */
export function loadPipeline(file: string, options: LoadOptions = {}): LoadedPipeline {
  let content: Utf8Result;
  try {
    content = options.readFile ? { ok: true, text: options.readFile(file) } : decodeUtf8(readFileSync(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return emptyResult(file, '', {
      file,
      line: 1,
      column: 1,
      path: '',
      code: 'unreadable_file',
      message: `cannot read the pipeline file (${code})`,
    });
  }
  if (!content.ok) {
    // Read leniently, such a byte would silently become U+FFFD inside a value ('Köln' → 'K�ln').
    const byte = content.byte.toString(16).toUpperCase().padStart(2, '0');
    return emptyResult(file, '', {
      file,
      line: content.line,
      column: content.column,
      path: '',
      code: 'not_utf8',
      message: `expected a UTF-8 file, got the byte 0x${byte}, which is not valid UTF-8 (is the file Latin-1 or Windows-1252? convert it, e.g. iconv -f latin1 -t utf-8)`,
    });
  }
  return loadPipelineText(file, content.text, options);
}

export function loadPipelineText(file: string, text: string, options: LoadOptions = {}): LoadedPipeline {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    merge: true,
  });
  const locate = locator(doc, lines);
  const problems: Problem[] = [];
  const at = (offset: number) => locate.offset(offset);

  // The first syntax error, plus every duplicate key: later syntax errors are mostly its echo.
  const syntax = doc.errors.filter((e) => e.code !== 'DUPLICATE_KEY').slice(0, 1);
  const duplicates = doc.errors.filter((e) => e.code === 'DUPLICATE_KEY');
  for (const e of [...syntax, ...duplicates]) {
    const located = locateYamlError(e, doc.errors, text);
    const p = at(located.offset);
    const keyText = /^\s*["']?([^:"'\n]+)/.exec(text.slice(e.pos[0]))?.[1]?.trim() ?? '?';
    const message =
      e.code === 'DUPLICATE_KEY'
        ? `duplicate key '${keyText}': each key may appear once in a map`
        : `YAML syntax: ${located.message}`;
    problems.push({
      file,
      line: p.line,
      column: p.column,
      path: '',
      code: e.code === 'DUPLICATE_KEY' ? 'duplicate_key' : 'yaml_syntax',
      message,
    });
  }
  if (doc.errors.length > 0) return { ...emptyResult(file, text), problems: sortProblems(problems), locate };

  const interp = interpolate(doc, options.env ?? process.env, options.readFile);
  for (const ip of interp.problems) {
    const p = at(ip.offset);
    problems.push({
      file,
      line: p.line,
      column: p.column,
      path: formatPath(ip.path),
      code: ip.code,
      message: ip.message,
    });
  }

  let data: unknown;
  try {
    const bomb = findAliasBomb(doc);
    if (bomb) throw new AliasBombError(bomb);
    // findAliasBomb bounds what aliases copy; the library's own (coarser) count is not needed.
    data = doc.toJS({ maxAliasCount: -1 });
  } catch (err) {
    // An alias bomb, or e.g. a merge key (<<) whose value is not a map.
    const bomb = err instanceof AliasBombError ? err.bomb : undefined;
    const p = locate.offset(bomb?.alias.range?.[0] ?? Math.max(text.indexOf('<<'), 0));
    problems.push({
      file,
      line: p.line,
      column: p.column,
      path: '',
      code: bomb ? 'yaml_alias_expansion' : 'yaml_syntax',
      message: `YAML: ${(err as Error).message}`,
    });
    return {
      file,
      pipeline: undefined,
      data: undefined,
      problems: sortProblems(problems),
      secrets: interp.secrets,
      locate,
      text,
    };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    problems.push({
      file,
      line: 1,
      column: 1,
      path: '',
      code: 'invalid_type',
      message: `expected a pipeline document (a map with apiVersion, kind, metadata, spec), got ${data === null ? 'an empty file' : Array.isArray(data) ? 'a list' : typeof data}`,
    });
    return {
      file,
      pipeline: undefined,
      data,
      problems: sortProblems(problems),
      secrets: interp.secrets,
      locate,
      text,
    };
  }

  const parsed = pipelineSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) {
    const explained = explainIssues(pipelineSchema, data, parsed.error.issues);
    const unknownAt = new Set(
      explained.filter((m) => m.code === 'unknown_key').map((m) => formatPath(m.path.slice(0, -1))),
    );
    for (const m of explained) {
      // "exactly one sink type, got none" adds nothing when the type's name was misspelt.
      if (m.code === 'custom' && unknownAt.has(formatPath(m.path))) continue;
      // Interpolation already reported missing variables at this path: don't repeat it as a type error.
      const pathText = formatPath(m.path);
      if (interp.problems.some((ip) => formatPath(ip.path) === pathText)) continue;
      const p = locate.at(m.path, { key: m.atKey === true });
      problems.push({
        file,
        line: p.line,
        column: p.column,
        path: pathText,
        code: m.code,
        message: m.message,
      });
    }
  }
  return {
    file,
    pipeline: parsed.success && problems.length === 0 ? parsed.data : undefined,
    data,
    problems: sortProblems(problems),
    secrets: interp.secrets,
    locate,
    text,
  };
}

function emptyResult(file: string, text: string, problem?: Problem): LoadedPipeline {
  return {
    file,
    pipeline: undefined,
    data: undefined,
    problems: problem ? [problem] : [],
    secrets: new Set(),
    locate: {
      at: () => ({ line: 1, column: 1 }),
      offset: () => ({ line: 1, column: 1 }),
      inside: () => ({ line: 1, column: 1 }),
    },
    text,
  };
}

class AliasBombError extends Error {
  constructor(readonly bomb: AliasBomb) {
    super(
      `alias *${bomb.alias.source} copies ${bomb.size} values, taking the values copied by aliases in this document past ${MAX_ALIAS_EXPANSION} (an alias bomb?)`,
    );
  }
}
