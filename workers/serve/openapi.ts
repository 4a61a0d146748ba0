import type { FieldType } from '../core/types.js';
import type { ConnectSchema } from '../decode/connect-schema.js';
import { CONNECT_DECIMAL } from '../decode/logical.js';
import { expectedOf, inputColumns } from '../scoring/input.js';
import type { ScorerInfo } from '../scoring/open.js';

type JsonSchema = Record<string, unknown>;

const INT_BOUNDS: Record<string, [number, number]> = {
  int8: [-128, 127],
  int16: [-32768, 32767],
  int32: [-2147483648, 2147483647],
};

/** The JSON Schema (2020-12, as OpenAPI 3.1 uses it) of a value the scorer accepts for a Connect schema. */
export function jsonSchemaOf(s: ConnectSchema, nullable: boolean): JsonSchema {
  const base = baseSchema(s);
  const out: JsonSchema = { ...base, description: expectedOf(s) };
  if (!nullable) return out;
  if (typeof base['type'] === 'string') return { ...out, type: [base['type'], 'null'] };
  return { anyOf: [base, { type: 'null' }], description: `${expectedOf(s)}, or null` };
}

function baseSchema(s: ConnectSchema): JsonSchema {
  if (s.type === 'bytes' && s.name === CONNECT_DECIMAL) {
    return { anyOf: [{ type: 'number' }, { type: 'string', contentEncoding: 'base64' }] };
  }
  switch (s.name) {
    case 'io.debezium.time.ZonedTimestamp':
      return { type: 'string', format: 'date-time' };
    case 'io.debezium.data.Uuid':
      return { type: 'string', format: 'uuid' };
    default:
      break;
  }
  switch (s.type) {
    case 'int8':
    case 'int16':
    case 'int32': {
      const [minimum, maximum] = INT_BOUNDS[s.type]!;
      return { type: 'integer', minimum, maximum };
    }
    case 'int64':
      return { type: 'integer', format: 'int64' };
    case 'float32':
    case 'float64':
      return { type: 'number' };
    case 'boolean':
      return { type: 'boolean' };
    case 'string':
      return { type: 'string' };
    case 'bytes':
      return { type: 'string', contentEncoding: 'base64' };
    case 'array':
      return {
        type: 'array',
        ...(s.items ? { items: jsonSchemaOf(s.items, s.items.optional === true) } : {}),
      };
    case 'map':
      return {
        type: 'object',
        ...(s.values ? { additionalProperties: jsonSchemaOf(s.values, s.values.optional === true) } : {}),
      };
    case 'struct':
      return structSchema(s.fields ?? []);
    default:
      return {};
  }
}

function structSchema(fields: readonly ConnectSchema[]): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const f of fields) properties[f.field!] = jsonSchemaOf(f, f.optional === true);
  return { type: 'object', properties, required: Object.keys(properties), additionalProperties: false };
}

const OUTPUT_TYPES: Record<FieldType, JsonSchema> = {
  float: { type: 'number' },
  int: { type: 'integer' },
  string: { type: 'string' },
  bool: { type: 'boolean' },
};

/** `fraud-scoring` → `FraudScoring`: a component name prefix. */
function pascal(name: string): string {
  return name
    .split(/[-_]/)
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const ERROR_RESPONSE = (description: string) => ({
  description,
  content: { 'application/json': { schema: ref('Error') } },
});

/** OpenAPI 3.1 of the served pipelines: one predict operation each, its request body from the input schema. */
export function openApiDocument(pipelines: readonly ScorerInfo[], options: { auth: boolean }): JsonSchema {
  const schemas: Record<string, JsonSchema> = {
    Error: {
      type: 'object',
      required: ['error', 'message'],
      properties: {
        error: { type: 'string', description: 'Stable error code, e.g. bad_input, not_found, overloaded.' },
        message: { type: 'string', description: 'What was expected and what was found.' },
        path: { type: 'string', description: 'The bad value, e.g. [0].after.seats.' },
        errors: { type: 'array', items: { type: 'object' }, description: 'Every failed record (bad input).' },
      },
    },
    ModelInfo: {
      type: 'object',
      required: ['name', 'version'],
      properties: {
        name: { type: 'string' },
        version: { type: 'string' },
        alias: { type: 'string' },
        sha256: { type: 'string', description: 'sha256 of the ONNX file that scored.' },
      },
    },
  };
  const paths: Record<string, unknown> = {
    '/v1/pipelines': {
      get: {
        summary: 'The pipelines this server scores (those the token may call).',
        responses: {
          '200': { description: 'Pipelines.' },
          '401': { description: 'Missing or wrong token.' },
        },
      },
    },
    '/v1/pipelines/{name}': {
      get: {
        summary: 'A pipeline: its features with their expressions, model, input schema.',
        parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': { description: 'The pipeline.' },
          '401': { description: 'Missing or wrong token.' },
          '404': ERROR_RESPONSE('No such pipeline.'),
        },
      },
    },
  };
  for (const p of pipelines) {
    const n = pascal(p.name);
    const row =
      p.inputSchema === undefined
        ? { type: 'object' }
        : structSchema(inputColumns(p.inputSchema).map((c) => c.schema));
    schemas[`${n}Row`] = {
      ...row,
      description: `A row of the source table, as Debezium's \`after\` (${p.name}).`,
    };
    schemas[`${n}Record`] = {
      type: 'object',
      required: ['after'],
      additionalProperties: false,
      properties: {
        after: ref(`${n}Row`),
        key: { description: 'The Kafka message key the stream would see (read by key expressions).' },
      },
    };
    const outputs: Record<string, JsonSchema> = {};
    for (const o of p.outputTypes) outputs[o.name] = OUTPUT_TYPES[o.type];
    schemas[`${n}Prediction`] = {
      type: 'object',
      required: ['decision_id', 'key', 'outputs', 'model'],
      properties: {
        decision_id: { type: 'string', format: 'uuid' },
        key: { description: `The entity key (${p.key}); an integer beyond 2^53 as its digits in a string.` },
        outputs: { type: 'object', properties: outputs, required: Object.keys(outputs) },
        model: ref('ModelInfo'),
        shadow: {
          ...ref('ModelInfo'),
          description: 'The shadow that also scored it (outputs not returned).',
        },
        features: {
          type: 'object',
          additionalProperties: { type: 'number' },
          description: 'The feature vector, with ?features=true.',
        },
      },
    };
    paths[`/v1/pipelines/${p.name}/predict`] = {
      post: {
        summary: `Score one record or a list with ${p.name}${p.description ? `: ${p.description}` : ''}`,
        description: p.write
          ? "Each prediction is written to the pipeline's sinks before the answer, like a streamed one."
          : 'Predictions are returned only (not written).',
        parameters: [
          {
            name: 'features',
            in: 'query',
            required: false,
            schema: { type: 'boolean' },
            description: 'Also return the feature vectors.',
          },
        ],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                oneOf: [ref(`${n}Record`), { type: 'array', minItems: 1, items: ref(`${n}Record`) }],
              },
            },
          },
        },
        responses: {
          '200': {
            description: 'A prediction (for one record) or `predictions` (for a list), with the request id.',
            content: {
              'application/json': {
                schema: {
                  oneOf: [
                    { allOf: [ref(`${n}Prediction`), { properties: { request_id: { type: 'string' } } }] },
                    {
                      type: 'object',
                      properties: {
                        request_id: { type: 'string' },
                        predictions: { type: 'array', items: ref(`${n}Prediction`) },
                      },
                    },
                  ],
                },
              },
            },
          },
          '400': ERROR_RESPONSE('Bad input: the value at `path` is not what the row schema says.'),
          '401': { description: 'Missing or wrong token (no body).' },
          '404': ERROR_RESPONSE('No such pipeline.'),
          '413': ERROR_RESPONSE('Body or record count over the limit.'),
          '415': ERROR_RESPONSE('Not application/json.'),
          '429': ERROR_RESPONSE('Overloaded: retry after Retry-After seconds.'),
          '503': ERROR_RESPONSE('Timed out, suspended, shutting down, or the write-through failed.'),
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'streamscore online scoring',
      version: '1',
      description:
        'Scores records with the same compiled features and model versions as the streaming and backfill paths.',
    },
    paths,
    components: {
      schemas,
      ...(options.auth ? { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } } : {}),
    },
    ...(options.auth ? { security: [{ bearer: [] }] } : {}),
  };
}
