import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { ScorerInfo } from '../../../workers/scoring/open.js';
import { DOCS_PAGE } from '../../../workers/serve/docs-page.js';
import { openApiDocument } from '../../../workers/serve/openapi.js';

const payments = JSON.parse(readFileSync('schemas/payments.transactions.avsc', 'utf8'));

const fraud: ScorerInfo = {
  name: 'fraud-scoring',
  file: 'pipelines/fraud-scoring.yaml',
  description: 'Scores payments.',
  owner: 'risk',
  key: 'after.transaction_id',
  features: [{ name: 'amount_log', type: 'float', expr: 'log1p(after.amount)', on_null: 0, width: 1 }],
  outputs: { fraud_probability: "probabilities['fraud']", fraud_label: 'label' },
  outputTypes: [
    { name: 'fraud_probability', type: 'float' },
    { name: 'fraud_label', type: 'string' },
  ],
  model: { name: 'fraud', version: '1' },
  inputSchema: payments,
  batching: { maxSize: 64, maxWaitMs: 1 },
  write: false,
};

// biome-ignore lint/suspicious/noExplicitAny: reading a generated JSON document
type Obj = Record<string, any>;

test('OpenAPI 3.1: one predict operation per pipeline, its body from the input schema', () => {
  const doc = openApiDocument([fraud], { auth: true }) as Obj;
  assert.equal(doc['openapi'], '3.1.0');
  assert.deepEqual(doc['security'], [{ bearer: [] }]);
  assert.deepEqual(doc['components'].securitySchemes, { bearer: { type: 'http', scheme: 'bearer' } });
  const op = doc['paths']['/v1/pipelines/fraud-scoring/predict'].post;
  assert.deepEqual(op.requestBody.content['application/json'].schema.oneOf[0], {
    $ref: '#/components/schemas/FraudScoringRecord',
  });
  assert.deepEqual(Object.keys(op.responses).sort(), [
    '200',
    '400',
    '401',
    '404',
    '413',
    '415',
    '429',
    '503',
  ]);
  const row = doc['components'].schemas.FraudScoringRow as Obj;
  assert.equal(row['additionalProperties'], false, 'unknown fields are refused');
  assert.deepEqual(row['required'], [
    'transaction_id',
    'card_id',
    'amount',
    'currency',
    'merchant_country',
    'card_country',
    'merchant_risk',
    'velocity_1h',
    'card_issued_on',
    'created_at',
  ]);
  const p = row['properties'];
  assert.deepEqual(p.card_id.type, 'integer');
  assert.deepEqual(p.card_id.format, 'int64');
  assert.deepEqual(p.velocity_1h.type, ['integer', 'null']);
  assert.deepEqual(p.velocity_1h.maximum, 2147483647);
  assert.deepEqual(p.merchant_risk.type, ['number', 'null']);
  assert.deepEqual(p.transaction_id, { type: 'string', format: 'uuid', description: 'a UUID as text' });
  assert.deepEqual(p.created_at.format, 'date-time');
  assert.deepEqual(p.amount.anyOf, [{ type: 'number' }, { type: 'string', contentEncoding: 'base64' }]);
  assert.match(p.card_issued_on.description, /days since 1970-01-01/);
  assert.deepEqual(p.card_issued_on.type, ['integer', 'null']);
  const prediction = doc['components'].schemas.FraudScoringPrediction as Obj;
  assert.deepEqual(prediction['properties'].outputs.properties, {
    fraud_probability: { type: 'number' },
    fraud_label: { type: 'string' },
  });
});

test('without any token set, the document declares no security', () => {
  const doc = openApiDocument([fraud], { auth: false }) as Obj;
  assert.equal(doc['security'], undefined);
  assert.equal(doc['components'].securitySchemes, undefined);
});

test('the docs page is self-contained: no external script, style or font', () => {
  assert.doesNotMatch(DOCS_PAGE, /(src|href)="(https?:)?\/\//);
  assert.doesNotMatch(DOCS_PAGE, /@import|url\(/);
  const script = /<script>([\s\S]*)<\/script>/.exec(DOCS_PAGE)![1]!;
  assert.doesNotThrow(() => new Function(script), 'its script parses');
});
