import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Problem } from '../spec/problems.js';
import { decodeUtf8 } from '../spec/utf8.js';
import { type LoadedYaml, loadYamlText } from './yaml-doc.js';

/** An output's expected value: exact, or a number within `abs` and/or `rel` of it. */
const toleranceSchema = z
  .strictObject({
    value: z.number().describe('The expected number.'),
    abs: z.number().nonnegative().optional().describe('Largest allowed |got - value|.'),
    rel: z.number().nonnegative().optional().describe('Largest allowed |got - value| / |value|.'),
  })
  .refine((t) => t.abs !== undefined || t.rel !== undefined, {
    message: 'a tolerance with abs or rel (or the value alone, for an exact match)',
  });

export type Tolerance = z.output<typeof toleranceSchema>;

const scalar = z.union([z.number(), z.string(), z.boolean()]);

const deadLetterSchema = z.union([
  z.string().min(1).describe('The error code (e.g. FEATURE_NULL).'),
  z
    .strictObject({
      code: z.string().min(1).optional().describe('The error code, e.g. FEATURE_NULL or DECODE_VALUE.'),
      reason: z.string().min(1).optional().describe('Text the error message must contain.'),
    })
    .refine((d) => d.code !== undefined || d.reason !== undefined, {
      message: 'dead_letter needs code or reason',
    }),
]);

export const expectationSchema = z
  .strictObject({
    key: z.unknown().optional().describe('The entity key (the features.key expression), compared exactly.'),
    features: z
      .record(z.string(), z.union([z.number(), z.boolean()]))
      .optional()
      .describe('Feature values by name, compared exactly as the float32 the model sees (true = 1).'),
    outputs: z
      .record(z.string(), z.union([scalar, toleranceSchema]))
      .optional()
      .describe('Prediction fields by name: exact, or { value, abs?, rel? }.'),
    dead_letter: deadLetterSchema.optional().describe('The event is dead-lettered: its code and/or reason.'),
    deleted: z.literal(true).optional().describe('The event is a delete the sinks receive (no scoring).'),
    skipped: z
      .literal(true)
      .optional()
      .describe('Nothing happens: a tombstone, truncate, or an op the pipeline does not score.'),
  })
  .superRefine((e, ctx) => {
    const kinds = [
      e.features !== undefined || e.outputs !== undefined ? 'features/outputs' : undefined,
      e.dead_letter !== undefined ? 'dead_letter' : undefined,
      e.deleted !== undefined ? 'deleted' : undefined,
      e.skipped !== undefined ? 'skipped' : undefined,
    ].filter((k) => k !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `expected exactly one outcome (features/outputs, dead_letter, deleted or skipped), got ${kinds.length === 0 ? 'none' : kinds.join(' and ')}`,
        input: e,
      });
    }
  });

export type Expectation = z.output<typeof expectationSchema>;

const opSchema = z.enum(['c', 'u', 'r', 'd']);
const timeSchema = z.union([z.number().int(), z.string(), z.date()]);

export const caseSchema = z
  .strictObject({
    name: z.string().min(1).describe('What the case checks (unique in the file).'),
    row: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        'A plain row: every column of the input schema, in Debezium JSON forms (dates may be written YYYY-MM-DD, decimals as numbers).',
      ),
    envelope: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('A Debezium envelope as its JSON message value: { before, after, source, op, ts_ms }.'),
    fixture: z
      .string()
      .min(1)
      .optional()
      .describe('A fixture file written by `streamscore capture` (relative to this file).'),
    events: z
      .array(z.number().int().nonnegative())
      .min(1)
      .optional()
      .describe('With fixture: which events (0-based) to replay; all by default.'),
    op: opSchema.optional().describe('With row: the change (c, u, r or d); c when absent.'),
    key: z
      .unknown()
      .optional()
      .describe(
        "The Kafka message key (Debezium's key struct); by default the key expression's columns of the row.",
      ),
    source_ts: timeSchema
      .optional()
      .describe('With row: the commit time (source.ts_ms), ISO-8601 or epoch ms.'),
    expect: z
      .union([expectationSchema, z.array(expectationSchema).min(1)])
      .optional()
      .describe('What the event becomes; a list, one per event, for a fixture. `--update` writes it.'),
  })
  .superRefine((c, ctx) => {
    const inputs = (['row', 'envelope', 'fixture'] as const).filter((k) => c[k] !== undefined);
    if (inputs.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `expected exactly one input (row, envelope or fixture), got ${inputs.length === 0 ? 'none' : inputs.join(' and ')}`,
        input: c,
      });
    }
    const only = (field: 'op' | 'source_ts' | 'events', input: 'row' | 'fixture') => {
      if (c[field] !== undefined && c[input] === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `${field} goes with ${input} only`,
          input: c[field],
        });
      }
    };
    only('op', 'row');
    only('events', 'fixture');
  });

export type TestCase = z.output<typeof caseSchema>;

export const testFileSchema = z.strictObject({
  pipeline: z.string().min(1).describe('The pipeline file under test (relative to this file).'),
  model_version: z
    .union([z.string().min(1), z.number().int().nonnegative()])
    .optional()
    .transform((v) => (v === undefined ? undefined : String(v)))
    .describe('The model version to score with; required when the pipeline follows an alias.'),
  source_ts: timeSchema.optional().describe('Commit time of row cases without their own source_ts.'),
  cases: z.array(caseSchema).min(1).describe('The cases, run in one batch through the stream’s path.'),
});

export type TestFile = z.output<typeof testFileSchema>;

/** `<name>.test.yaml`: a `streamscore test` file (by name: what `test` runs by default, `validate` checks as one). */
export const isTestFile = (file: string): boolean => file.endsWith('.test.yaml');

/** Reads and schema-checks one test file; problems carry file:line:col like pipeline problems. */
export function loadTestFile(file: string): LoadedYaml<TestFile> {
  let text: string;
  try {
    const content = decodeUtf8(readFileSync(file));
    if (!content.ok) {
      return failed(file, {
        line: content.line,
        column: content.column,
        code: 'not_utf8',
        message: 'expected a UTF-8 file',
      });
    }
    text = content.text;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    return failed(file, {
      line: 1,
      column: 1,
      code: 'unreadable_file',
      message: `cannot read the test file (${code})`,
    });
  }
  const loaded = loadYamlText(file, text, testFileSchema);
  if (loaded.value !== undefined) {
    const seen = new Map<string, number>();
    loaded.value.cases.forEach((c, i) => {
      const first = seen.get(c.name);
      if (first !== undefined) {
        const p = loaded.locate.at(['cases', i, 'name']);
        loaded.problems.push({
          file,
          ...p,
          path: `cases[${i}].name`,
          code: 'duplicate_case',
          message: `case name '${c.name}' is already used by cases[${first}]: names must be unique`,
        });
      } else seen.set(c.name, i);
    });
    if (loaded.problems.length > 0) return { ...loaded, value: undefined };
  }
  return loaded;
}

function failed(file: string, p: Omit<Problem, 'file' | 'path'>): LoadedYaml<TestFile> {
  const loaded = loadYamlText(file, '', testFileSchema);
  return { ...loaded, problems: [{ file, path: '', ...p }] };
}
