import { z } from 'zod';
import { PipelineError } from '../core/errors.js';
import { pipelineTable } from '../sinks/shared/identifiers.js';
import { IDENT_PATTERN } from '../spec/fields.js';
import { DEFAULT_MIN_SAMPLES, type ShadowLimits } from './stats.js';

/** Which prediction fields a shadow compares (`model.shadow.compare`). */
export interface ShadowCompare {
  score: string;
  label?: string | undefined;
  threshold: number;
}

/**
 * `ml.<pipeline name, every character but letters and digits as _>__shadow`, kept within Postgres'
 * 63 characters (a long name is cut and keeps a short hash).
 */
export function defaultShadowTable(pipeline: string): string {
  return pipelineTable(pipeline, '__shadow');
}

/** `table` or `schema.table`, each part a SQL identifier; else a `SHADOW_TABLE_INVALID` error. */
export function parseShadowTableName(name: string): { schema: string | undefined; table: string } {
  const parts = name.split('.');
  if (parts.length > 2 || !parts.every((p) => IDENT_PATTERN.test(p))) {
    throw new PipelineError(
      `shadow table '${name}': expected table or schema.table, each part a SQL identifier (letters, digits, _ or $, starting with a letter or _, at most 63 chars)`,
      { code: 'SHADOW_TABLE_INVALID', stage: 'spec', context: { table: name } },
    );
  }
  return parts.length === 2
    ? { schema: parts[0], table: parts[1]! }
    : { schema: undefined, table: parts[0]! };
}

/**
 * What `shadow report` reads from `spec.model.shadow`. Deliberately loose (unknown keys pass): the
 * pipeline schema validates the section; this only picks the settings out, whether the document
 * went through that schema (defaults applied) or not.
 */
const shadowSettings = z.object({
  compare: z.object({
    score: z.string().min(1),
    label: z.string().min(1).optional(),
    threshold: z.number().finite().default(0.5),
  }),
  table: z.string().min(1).optional(),
  postgres_url: z.unknown().optional(),
  limits: z
    .object({
      max_flip_rate: z.number().min(0).max(1).default(0.02),
      min_label_agreement: z.number().min(0).max(1).optional(),
      max_abs_delta_p95: z.number().min(0).optional(),
      min_samples: z.number().int().positive().default(DEFAULT_MIN_SAMPLES),
    })
    .prefault({}),
});

export interface ShadowSettings {
  compare: ShadowCompare;
  /** Validated `schema.table`. */
  table: string;
  /** Explicit `postgres_url`, or the first postgres sink's url; undefined when neither exists. */
  url: string | undefined;
  limits: ShadowLimits;
}

/**
 * The report's settings from a pipeline document (parsed `Pipeline` or plain interpolated data):
 * undefined when it has no `spec.model.shadow`; a `SHADOW_CONFIG_INVALID` error when the section is
 * malformed.
 */
export function shadowSettingsOf(doc: unknown): ShadowSettings | undefined {
  const spec = field(doc, 'spec');
  const raw = field(field(spec, 'model'), 'shadow');
  if (raw === undefined || raw === null) return undefined;
  const parsed = shadowSettings.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PipelineError(
      `spec.model.shadow.${issue.path.join('.')}: ${issue.message}`.replace('shadow.: ', 'shadow: '),
      { code: 'SHADOW_CONFIG_INVALID', stage: 'spec' },
    );
  }
  const s = parsed.data;
  const name = field(field(doc, 'metadata'), 'name');
  const table = s.table ?? defaultShadowTable(typeof name === 'string' ? name : 'pipeline');
  parseShadowTableName(table);
  return {
    compare: { score: s.compare.score, label: s.compare.label, threshold: s.compare.threshold },
    table,
    url: urlText(s.postgres_url) ?? firstPostgresSinkUrl(field(spec, 'sinks')),
    limits: s.limits,
  };
}

function field(obj: unknown, key: string): unknown {
  return typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[key] : undefined;
}

/** A url as written (string) or as the schema makes it (a Secret). */
function urlText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  const reveal = field(v, 'reveal');
  if (typeof reveal === 'function') return String(reveal.call(v));
  return undefined;
}

function firstPostgresSinkUrl(sinks: unknown): string | undefined {
  if (!Array.isArray(sinks)) return undefined;
  for (const s of sinks) {
    const url = urlText(field(field(s, 'postgres'), 'url'));
    if (url !== undefined) return url;
  }
  return undefined;
}
