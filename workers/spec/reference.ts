import { pipelineJsonSchema } from './json-schema.js';

type Json = Record<string, unknown>;

function typeOf(s: Json): string {
  if (s['const'] !== undefined) return `\`${JSON.stringify(s['const'])}\``;
  if (Array.isArray(s['enum']))
    return (s['enum'] as unknown[]).map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  const alts = (s['anyOf'] ?? s['oneOf']) as Json[] | undefined;
  if (alts) return alts.map(typeOf).join(' or ');
  const t = s['type'];
  if (t === 'array') return `list of ${typeOf((s['items'] as Json) ?? {})}`;
  if (t === 'object' && s['properties'] === undefined && s['additionalProperties'])
    return `map of ${typeOf(s['additionalProperties'] as Json)}`;
  if (t === 'object') return 'map';
  if (t === 'integer') return 'integer';
  return typeof t === 'string' ? t : 'any';
}

function walk(s: Json, path: string, required: boolean, rows: string[], self = true): void {
  const desc =
    typeof s['description'] === 'string'
      ? (s['description'] as string).replace(/\|/g, '\\|').replace(/\n/g, ' ')
      : '';
  const def =
    s['default'] !== undefined ? `\`${JSON.stringify(s['default'])}\`` : required ? '**required**' : '';
  if (self && path !== '') rows.push(`| \`${path}\` | ${typeOf(s)} | ${def} | ${desc} |`);
  const props = s['properties'] as Record<string, Json> | undefined;
  if (props) {
    const req = new Set((s['required'] as string[] | undefined) ?? []);
    for (const [k, v] of Object.entries(props)) walk(v, path === '' ? k : `${path}.${k}`, req.has(k), rows);
  }
  // Containers: describe what is inside without repeating the container's own row.
  if (s['type'] === 'array' && s['items']) walk(s['items'] as Json, `${path}[]`, false, rows, false);
  const alts = (s['anyOf'] ?? s['oneOf']) as Json[] | undefined;
  for (const a of alts ?? []) if (a['properties'] || a['items']) walk(a, path, false, rows, false);
  const ap = s['additionalProperties'];
  if (ap && typeof ap === 'object') walk(ap as Json, `${path}.<name>`, false, rows, false);
}

/** The pipeline reference (docs/pipeline-reference.md): every field, generated from the schema. */
export function renderReference(): string {
  const rows: string[] = [];
  walk(pipelineJsonSchema() as Json, '', true, rows);
  const unique = [...new Set(rows)];
  return [
    '# Pipeline reference',
    '',
    'Generated from the schema by `streamscore docs`; a test keeps it in sync. Every key is snake_case;',
    'unknown keys are errors. `<name>` stands for a name you choose.',
    '',
    '| field | type | default | description |',
    '|---|---|---|---|',
    ...unique,
    '',
  ].join('\n');
}
