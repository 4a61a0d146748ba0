import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { suggestion } from '../core/suggest.js';
import { type CompiledExpression, compileExpression, type ExprType } from '../expr/index.js';
import { backfillsTo, METADATA_REFS } from '../sinks/columns.js';
import { checkAuditSection } from './audit-checks.js';
import { type RowTypes, rowTypesFromAvsc } from './avro-types.js';
import { rowFieldTypes, unknownFields } from './field-refs.js';
import type { LoadedPipeline } from './load.js';
import { checkModelSection } from './model-checks.js';
import { only } from './one-of.js';
import type { FeatureDefinition, Pipeline } from './pipeline-schema.js';
import { formatPath, type Problem } from './problems.js';
import { checkServeSection } from './serve-checks.js';

type Path = (string | number)[];

export interface CompiledFeature {
  name: string;
  type: 'float' | 'int' | 'bool' | 'one_hot';
  expr: CompiledExpression;
  width: number;
  onNull: 'reject' | number;
}

export interface CheckedSpec {
  key: CompiledExpression | undefined;
  features: CompiledFeature[];
  rowTypes: RowTypes | undefined;
}

function describeType(t: ExprType): string {
  return t.kind === 'vector' ? `a one-hot vector of width ${t.width}` : t.kind;
}

const ACCEPTS: Record<CompiledFeature['type'], readonly ExprType['kind'][]> = {
  float: ['number', 'int', 'bool', 'unknown', 'null'],
  int: ['int', 'bool', 'unknown', 'null'],
  bool: ['bool', 'unknown', 'null'],
  one_hot: ['vector', 'unknown'],
};

/** Checks that need more than the schema: expressions, their types, references between sections. */
export function checkPipeline(
  loaded: LoadedPipeline,
  p: Pipeline,
): { problems: Problem[]; checked: CheckedSpec } {
  const problems: Problem[] = [];
  const add = (path: Path, code: string, message: string, index?: number) => {
    const pos = index === undefined ? loaded.locate.at(path) : loaded.locate.inside(path, index);
    problems.push({
      file: loaded.file,
      line: pos.line,
      column: pos.column,
      path: formatPath(path),
      code,
      message,
    });
  };
  const baseDir = dirname(resolve(loaded.file));

  let rowTypes: RowTypes | undefined;
  const schemaFile = p.spec.features.input_schema;
  if (schemaFile !== undefined) {
    const full = resolve(baseDir, schemaFile);
    try {
      rowTypes = rowTypesFromAvsc(JSON.parse(readFileSync(full, 'utf8')));
    } catch (err) {
      const got = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no file' : (err as Error).message;
      add(
        ['spec', 'features', 'input_schema'],
        'bad_input_schema',
        `expected a readable Avro schema (.avsc) at ${schemaFile} (relative to the pipeline file: ${full}), got ${got}`,
      );
    }
  }
  const envelope = only(p.spec.decode)[0] === 'debezium';
  const fieldTypes = rowFieldTypes(rowTypes, envelope);

  const compile = (path: Path, source: string): CompiledExpression | undefined => {
    const r = compileExpression(source, { fieldTypes });
    const unknown =
      rowTypes && schemaFile !== undefined ? unknownFields(source, rowTypes, envelope, schemaFile) : [];
    const errors = [...(r.ok ? [] : r.errors), ...unknown].sort((a, b) => a.offset - b.offset);
    for (const e of errors)
      add(path, e.code, `${e.message} (at offset ${e.offset} of the expression)`, e.offset);
    return r.ok && unknown.length === 0 ? r.value : undefined;
  };

  const key = compile(['spec', 'features', 'key'], p.spec.features.key);
  const features: CompiledFeature[] = [];
  for (const [name, def] of Object.entries(p.spec.features.map) as [string, FeatureDefinition][]) {
    const isObj = typeof def === 'object';
    const path: Path = isObj ? ['spec', 'features', 'map', name, 'expr'] : ['spec', 'features', 'map', name];
    const source = isObj ? def.expr : def;
    const type = isObj ? def.type : 'float';
    const expr = compile(path, source);
    if (!expr) continue;
    if (!ACCEPTS[type].includes(expr.type.kind)) {
      add(
        path,
        'feature_type',
        `expected an expression of feature type ${type}, got ${describeType(expr.type)}`,
      );
      continue;
    }
    const onNull =
      isObj && def.on_null !== undefined ? (def.on_null === 'reject' ? 'reject' : def.on_null.default) : 0;
    features.push({ name, type, expr, width: expr.width, onNull });
  }

  checkReferences(p, add);
  const dbz = (p.spec.decode as { debezium?: { unavailable_value?: string } }).debezium;
  if (dbz?.unavailable_value === 'lookup' && p.spec.backfill?.source.postgres === undefined) {
    add(
      ['spec', 'decode', 'debezium', 'unavailable_value'],
      'lookup_without_table',
      'expected spec.backfill.source.postgres (the table the events come from) for unavailable_value: lookup, got none',
    );
  }
  if (p.spec.backfill !== undefined && p.spec.sinks.every((e) => !backfillsTo(e))) {
    add(
      ['spec', 'backfill'],
      'backfill_without_sinks',
      'expected at least one sink with backfill: true (the default) for spec.backfill, got every sink set to backfill: false',
    );
  }
  checkModelSection(loaded.file, p, add);
  checkAuditSection(p, add);
  checkServeSection(p, add);
  return { problems, checked: { key, features, rowTypes } };
}

function checkReferences(p: Pipeline, add: (path: Path, code: string, message: string) => void): void {
  const [decoderType, decoder] = only(p.spec.decode);
  const dec = decoder as { encoding?: string; schema_registry?: unknown };
  if ((decoderType === 'debezium' && dec.encoding === 'avro') || decoderType === 'avro') {
    if (dec.schema_registry === undefined) {
      add(
        ['spec', 'decode', decoderType],
        'missing_registry',
        'expected schema_registry for Avro, got nothing',
      );
    }
  }
  const outputs = Object.keys(p.spec.model.outputs);
  const featureNames = Object.keys(p.spec.features.map);
  const valid = [...outputs, 'key', ...METADATA_REFS, ...featureNames.map((f) => `feature.${f}`)];
  p.spec.sinks.forEach((sink, i) => {
    const [type, cfg] = only(sink);
    const c = cfg as {
      columns?: Record<string, string>;
      key?: string[];
      format?: string;
      schema_registry?: unknown;
    };
    if (type === 'kafka' && c.format === 'avro' && c.schema_registry === undefined) {
      add(
        ['spec', 'sinks', i, type, 'format'],
        'missing_registry',
        "expected schema_registry with format 'avro', got nothing",
      );
    }
    for (const [col, ref] of Object.entries(c.columns ?? {})) {
      if (valid.includes(ref) || /^key\.[A-Za-z_][A-Za-z0-9_]*$/.test(ref)) continue;
      add(
        ['spec', 'sinks', i, type, 'columns', col],
        'unknown_column_source',
        `expected a model output (${outputs.join(', ')}), key, feature.<name> or ${METADATA_REFS.join(', ')}, got '${ref}'${suggestion(ref, valid)}`,
      );
    }
    for (const [k, col] of (c.key ?? []).entries()) {
      if (c.columns && !(col in c.columns)) {
        add(
          ['spec', 'sinks', i, type, 'key', k],
          'key_not_mapped',
          `expected a column listed in columns (${Object.keys(c.columns).join(', ')}), got '${col}'`,
        );
      }
    }
  });
}
