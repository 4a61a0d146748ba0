import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { RunningServer } from '../../../workers/serve/server.js';
import { paymentRow } from '../../support/payments.js';
import { fraudPipelineCopy } from '../../support/pipelines.js';
import { seededRandom } from '../../support/random.js';
import { serveForTest } from '../../support/serve.js';
import { uniqueId, waitFor } from '../../support/stack.js';

// The scoring API on the real stack (its pipelines follow the control topic on Kafka): every error
// class with its exact status and message, auth with two rotated tokens from ${file:…} secrets,
// and random JSON that must never crash the server nor get a 5xx.
const id = uniqueId();
const dir = join(tmpdir(), `streamscore-test-${id}`);
const OLD = `old-token-${id}-0123456789`;
const NEW = `new-token-${id}-9876543210`;
const BODY_LIMIT = 8192;
let server: RunningServer;
/** Every response body the tests saw: none may carry a stack trace. */
const bodies: string[] = [];

function tokens(doc: { setIn(path: unknown[], v: unknown): void }) {
  doc.setIn(
    ['spec', 'serve', 'auth', 'tokens'],
    [`\${file:${join(dir, 'old')}}`, `\${file:${join(dir, 'new')}}`],
  );
  // The example's 50 ms budget is for production; on a busy test machine a request could time out.
  doc.setIn(['spec', 'serve', 'timeout_ms'], 10_000);
}

before(async () => {
  const fast = fraudPipelineCopy(id, 'fraud-scoring', tokens);
  writeFileSync(join(dir, 'old'), `${OLD}\n`);
  writeFileSync(join(dir, 'new'), NEW);
  // A batch of 4 rows that waits a minute to fill: rows stay admitted, so the queue bound (4) is reached.
  const slow = fraudPipelineCopy(id, 'fraud-slow', (doc) => {
    tokens(doc);
    doc.setIn(['spec', 'serve', 'max_wait_ms'], 60_000);
    doc.setIn(['spec', 'serve', 'max_batch'], 4);
    doc.setIn(['spec', 'serve', 'max_queue'], 4);
    doc.setIn(['spec', 'serve', 'timeout_ms'], 3000);
  });
  server = await serveForTest([fast, slow], { bodyLimit: BODY_LIMIT });
});

after(async () => {
  await server?.close();
});

const row = paymentRow;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

async function call(
  path: string,
  init: { body?: unknown; raw?: string; token?: string | null; type?: string; method?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  const token = init.token === undefined ? OLD : init.token;
  if (token !== null) headers['authorization'] = `Bearer ${token}`;
  const body = init.raw ?? (init.body === undefined ? undefined : JSON.stringify(init.body));
  if (body !== undefined) headers['content-type'] = init.type ?? 'application/json';
  const res = await fetch(`${server.url}${path}`, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await res.text();
  bodies.push(text);
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

const PREDICT = '/v1/pipelines/fraud-scoring/predict';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test('one record: outputs, the model that decided (version, sha256), decision and request ids', async () => {
  const r = await call(`${PREDICT}?features=true`, { body: { after: row() } });
  assert.equal(r.status, 200, r.text);
  assert.match(String(r.json['request_id']), UUID);
  assert.equal(r.headers.get('x-request-id'), r.json['request_id']);
  assert.match(String(r.json['decision_id']), UUID);
  assert.equal(r.json['key'], '6f1c0a4e-8a0e-4c36-9a52-2d4b1f7b1e10');
  assert.deepEqual(r.json['model'], {
    name: 'fraud',
    version: '1',
    sha256: '33390f24750f186de479179e4406284bfab7c3399fe424ab400843b0cb753e53',
  });
  const outputs = r.json['outputs'] as Record<string, unknown>;
  assert.deepEqual(Object.keys(outputs), ['fraud_probability', 'fraud_label']);
  assert.ok(typeof outputs['fraud_probability'] === 'number');
  assert.ok(['fraud', 'legit'].includes(String(outputs['fraud_label'])));
  const f = r.json['features'] as Record<string, number>;
  assert.equal(f['amount_log'], Math.fround(Math.log1p(129.5)));
  assert.equal(f['hour'], 12);
  assert.equal(f['is_foreign'], 1);
  assert.equal(
    f['card_age_days'],
    Math.fround((Date.UTC(2024, 4, 1, 12, 30) - 19000 * 86_400_000) / 86_400_000),
  );
});

test('a list: one prediction per record, in order, each with its own decision id', async () => {
  const ids = ['a', 'b', 'c'].map((c) => `6f1c0a4e-8a0e-4c36-9a52-2d4b1f7b1e1${c}`);
  const r = await call(PREDICT, { body: ids.map((transaction_id) => ({ after: row({ transaction_id }) })) });
  assert.equal(r.status, 200, r.text);
  const predictions = r.json['predictions'] as Record<string, unknown>[];
  assert.deepEqual(
    predictions.map((p) => p['key']),
    ids,
  );
  assert.equal(new Set(predictions.map((p) => p['decision_id'])).size, 3);
  assert.equal(predictions[0]!['features'], undefined, 'features only when asked');
});

test('auth: a missing or wrong token is 401 with no body; both rotated tokens work', async () => {
  for (const token of [null, 'wrong-token-0123456789', `${OLD}x`]) {
    const r = await call(PREDICT, { body: { after: row() }, token });
    assert.equal(r.status, 401);
    assert.equal(r.text, '');
    assert.equal(r.headers.get('www-authenticate'), 'Bearer');
  }
  for (const token of [OLD, NEW])
    assert.equal((await call(PREDICT, { body: { after: row() }, token })).status, 200);
  // Without a token, even an unknown pipeline is 401: the API does not say which pipelines exist.
  const unknown = await call('/v1/pipelines/nope/predict', { body: { after: row() }, token: null });
  assert.deepEqual([unknown.status, unknown.text], [401, '']);
  assert.deepEqual([(await call('/v1/pipelines', { token: null })).status], [401]);
});

test('400 with the field path: missing column, wrong type, unknown field, in a list, unscorable', async () => {
  const { velocity_1h: _v, ...missing } = row();
  const cases: [unknown, string, string, string][] = [
    [
      { after: missing },
      'bad_input',
      'after.velocity_1h',
      'after.velocity_1h: expected an integer (int32) or null (a column of the row), found nothing',
    ],
    [
      { after: row({ card_id: 'x' }) },
      'bad_input',
      'after.card_id',
      'after.card_id: expected an integer (int64), found "x"',
    ],
    [
      { after: row({ cvv: '123' }) },
      'bad_input',
      'after.cvv',
      'after.cvv: expected only columns of the row (transaction_id, card_id, amount, currency, merchant_country, card_country, merchant_risk, velocity_1h, card_issued_on, created_at), found an unknown field',
    ],
    [
      [{ after: row() }, { after: row({ created_at: 'now' }) }],
      'bad_input',
      '[1].after.created_at',
      '[1].after.created_at: expected an ISO timestamp with offset, found "now"',
    ],
    [
      { after: row(), op: 'd' },
      'bad_input',
      'op',
      'op: expected only "after" and "key" in a record, found an unknown field',
    ],
    [
      { after: row({ velocity_1h: null }) },
      'unscorable',
      '',
      'feature velocity_1h is null and its on_null policy is reject',
    ],
  ];
  for (const [body, error, path, message] of cases) {
    const r = await call(PREDICT, { body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.deepEqual(
      { error: r.json['error'], path: r.json['path'], message: r.json['message'] },
      { error, path, message },
    );
  }
});

test('400 for what is not a record: invalid JSON, null, a number, an empty list', async () => {
  const bad = await call(PREDICT, { raw: '{"after": ' });
  assert.equal(bad.status, 400);
  assert.equal(bad.json['error'], 'bad_json');
  assert.match(String(bad.json['message']), /^expected a JSON body, got invalid JSON: /);
  const empty = await call(PREDICT, { raw: '' });
  assert.deepEqual([empty.status, empty.json['error']], [400, 'bad_json']);
  const cases: [string, string][] = [
    ['null', 'expected a record {"after": {…}} or a list of them, got null'],
    ['42', 'expected a record {"after": {…}} or a list of them, got number'],
    ['[]', 'expected at least one record, got an empty list'],
  ];
  for (const [raw, message] of cases) {
    const r = await call(PREDICT, { raw });
    assert.deepEqual([r.status, r.json['error'], r.json['message']], [400, 'bad_input', message], raw);
  }
});

test('404 for an unknown pipeline (with a valid token) and an unknown route', async () => {
  const r = await call('/v1/pipelines/nope/predict', { body: { after: row() } });
  assert.equal(r.status, 404);
  assert.deepEqual(r.json, {
    error: 'not_found',
    message: "expected a served pipeline (fraud-scoring, fraud-slow), got 'nope'",
  });
  const route = await call('/v2/anything');
  assert.deepEqual(
    [route.status, route.json['message']],
    [404, 'expected a route of the scoring API (see /docs), got GET /v2/anything'],
  );
});

test('413 for a body over the limit and for more records than the queue holds; 415 for other media types', async () => {
  const big = await call(PREDICT, {
    raw: JSON.stringify({ after: row({ currency: 'x'.repeat(BODY_LIMIT) }) }),
  });
  assert.deepEqual(big.json, {
    error: 'body_too_large',
    message: `expected a body of at most ${BODY_LIMIT} bytes, got more`,
  });
  assert.equal(big.status, 413);
  const many = await call('/v1/pipelines/fraud-slow/predict', {
    body: [1, 2, 3, 4, 5].map(() => ({ after: row() })),
  });
  assert.equal(many.status, 413);
  assert.deepEqual(many.json, {
    error: 'too_many_records',
    message: 'expected at most 4 records in a request (serve.max_queue), got 5',
  });
  const text = await call(PREDICT, { raw: 'after', type: 'text/plain' });
  assert.equal(text.status, 415);
  assert.deepEqual(text.json, {
    error: 'unsupported_media_type',
    message: 'expected Content-Type: application/json, got text/plain',
  });
});

test('429 with Retry-After when the queue is full; 503 when a request outlives serve.timeout_ms', async () => {
  // Three rows wait in a batch of four that fills only with a fourth row, or after a minute.
  const held = call('/v1/pipelines/fraud-slow/predict', { body: [1, 2, 3].map(() => ({ after: row() })) });
  await waitFor('three rows admitted', async () =>
    /streamscore_api_queue_rows\{pipeline="fraud-slow"[^}]*\} 3\b/.test(
      (await call('/metrics', { token: null })).text,
    ),
  );
  const r = await call('/v1/pipelines/fraud-slow/predict', { body: [{ after: row() }, { after: row() }] });
  assert.equal(r.status, 429);
  assert.equal(r.headers.get('retry-after'), '1');
  assert.deepEqual(r.json, {
    error: 'overloaded',
    message: 'pipeline fraud-slow has 3 rows waiting or being scored (serve.max_queue 4); retry after 1 s',
  });
  const h = await held;
  assert.equal(h.status, 503);
  assert.equal(h.headers.get('retry-after'), '1');
  assert.deepEqual(h.json, {
    error: 'timeout',
    message: 'pipeline fraud-slow did not answer within 3000 ms (serve.timeout_ms); retry',
  });
  // A fourth row fills the batch: it is scored, and the timed-out rows leave the queue with it.
  assert.equal((await call('/v1/pipelines/fraud-slow/predict', { body: { after: row() } })).status, 200);
  await waitFor('the queue empty', async () =>
    /streamscore_api_queue_rows\{pipeline="fraud-slow"[^}]*\} 0\b/.test(
      (await call('/metrics', { token: null })).text,
    ),
  );
});

test('listing, description, OpenAPI, docs, health, readiness and metrics', async () => {
  const list = await call('/v1/pipelines');
  assert.deepEqual(
    (list.json['pipelines'] as { name: string }[]).map((p) => p.name),
    ['fraud-scoring', 'fraud-slow'],
  );
  const one = await call('/v1/pipelines/fraud-scoring');
  assert.equal(one.status, 200);
  const features = one.json['features'] as { name: string; expr: string }[];
  assert.deepEqual(features[0], {
    name: 'amount_log',
    type: 'float',
    expr: 'log1p(after.amount)',
    on_null: 0,
    width: 1,
  });
  assert.equal((one.json['input_schema'] as { name: string }).name, 'Value');
  assert.equal((one.json['current'] as { primary: { version: string } }).primary.version, '1');
  const openapi = await call('/openapi.json', { token: null });
  assert.equal(openapi.json['openapi'], '3.1.0');
  assert.ok((openapi.json['paths'] as object)['/v1/pipelines/fraud-slow/predict' as never]);
  const docs = await fetch(`${server.url}/docs`);
  assert.match(docs.headers.get('content-type') ?? '', /text\/html/);
  assert.equal((await call('/healthz', { token: null })).text, 'ok\n');
  assert.equal((await call('/readyz', { token: null })).status, 200);
  const metrics = (await call('/metrics', { token: null })).text;
  for (const name of [
    'streamscore_api_requests_total{pipeline="fraud-scoring",status="200"',
    'streamscore_api_requests_total{pipeline="fraud-scoring",status="401"',
    'streamscore_api_request_duration_bucket{pipeline="fraud-scoring"',
    'streamscore_batch_size_bucket{pipeline="fraud-scoring"',
    'streamscore_api_errors_total{pipeline="fraud-scoring",code="bad_input"',
    'streamscore_api_errors_total{pipeline="fraud-slow",code="overloaded"',
  ]) {
    assert.ok(metrics.includes(name), name);
  }
});

test('fuzz: random JSON never crashes the server and never gets a 5xx', async () => {
  const rnd = seededRandom(0x5eed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const keys = [...Object.keys(row()), 'after', 'key', '__proto__', 'constructor', '', 'x'.repeat(50), 'ü'];
  const scalar = (): unknown =>
    pick([
      () => null,
      () => rnd() < 0.5,
      () => Math.floor(rnd() * 2 ** 31) - 2 ** 30,
      () => rnd() * 1e300,
      () => -0,
      () => 2 ** 53 + 1,
      () =>
        String.fromCharCode(
          ...Array.from({ length: Math.floor(rnd() * 12) }, () => Math.floor(rnd() * 0xffff)),
        ),
      () => pick(['2024-05-01T12:30:00Z', '99999-01-01T00:00:00Z', 'MDk=', '', 'NaN', 'infinity']),
    ])();
  const value = (depth: number): unknown => {
    if (depth <= 0 || rnd() < 0.4) return scalar();
    if (rnd() < 0.5) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth - 1));
    const o: Record<string, unknown> = {};
    for (let i = Math.floor(rnd() * 5); i > 0; i--) o[pick(keys)] = value(depth - 1);
    return o;
  };
  const mutated = (): unknown => {
    const r: Record<string, unknown> = row();
    const k = pick(Object.keys(r));
    const how = rnd();
    if (how < 0.4) r[k] = value(2);
    else if (how < 0.6) delete r[k];
    else r[pick(keys)] = value(1);
    return rnd() < 0.7 ? { after: r } : [{ after: row() }, { after: r, key: value(1) }];
  };
  const bodyText = (): string => {
    const kind = rnd();
    if (kind < 0.5) return JSON.stringify(mutated());
    if (kind < 0.85) return JSON.stringify(value(4)) ?? 'null';
    // Not quite JSON: cut, doubled, or a deep nest.
    const t = JSON.stringify(mutated());
    if (kind < 0.9) return t.slice(0, Math.floor(rnd() * t.length));
    if (kind < 0.95) return `${t}${t}`;
    return `${'['.repeat(3000)}${2 ** 60}${']'.repeat(3000)}`;
  };
  const seen = new Map<number, number>();
  for (let round = 0; round < 25; round++) {
    const answers = await Promise.all(Array.from({ length: 20 }, () => call(PREDICT, { raw: bodyText() })));
    for (const a of answers) {
      seen.set(a.status, (seen.get(a.status) ?? 0) + 1);
      assert.ok([200, 400, 413].includes(a.status), `status ${a.status}: ${a.text.slice(0, 300)}`);
      if (a.status !== 200)
        assert.ok(typeof a.json['error'] === 'string' && typeof a.json['message'] === 'string', a.text);
    }
  }
  assert.ok((seen.get(200) ?? 0) > 0 && (seen.get(400) ?? 0) > 0, JSON.stringify([...seen]));
  assert.equal((await call('/healthz', { token: null })).status, 200);
  assert.equal((await call(PREDICT, { body: { after: row() } })).status, 200);
});

test('no answer carries a stack trace', () => {
  assert.ok(bodies.length > 500);
  for (const b of bodies) {
    assert.doesNotMatch(b, /\n\s+at |\.ts:\d+|node:internal|Error:/, b.slice(0, 300));
  }
});
