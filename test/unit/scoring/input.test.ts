import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { debeziumDecoderConfig } from '../../../workers/decode/debezium/config.js';
import { createDebeziumDecoder } from '../../../workers/decode/debezium/decoder.js';
import { parseJsonExact } from '../../../workers/decode/exact-json.js';
import { InputError, InputReader } from '../../../workers/scoring/input.js';

const customers = JSON.parse(readFileSync('schemas/crm.customers.avsc', 'utf8'));
const payments = JSON.parse(readFileSync('schemas/payments.transactions.avsc', 'utf8'));

/** A CRM row in Debezium's JSON forms (JsonConverter): decimal as base64, date as days, timestamps as ISO text. */
const customer = () => ({
  customer_id: 42,
  email: 'a@example.com',
  plan: 'pro',
  signup_date: 19000,
  monthly_spend: 'MDk=', // 123.45 at scale 2
  seats: 3,
  tickets_90d: null,
  last_login_at: '2024-05-01T12:30:00.123456Z',
  is_active: true,
  external_id: '6f1c0a4e-8a0e-4c36-9a52-2d4b1f7b1e10',
  updated_at: '2024-05-02T00:00:00Z',
});

function readerError(reader: InputReader, input: unknown): InputError {
  try {
    reader.read(input, '[0]');
  } catch (err) {
    if (InputError.is(err)) return err;
    throw err;
  }
  assert.fail('expected an InputError');
}

test('a row converts to exactly what the stream’s JSON decoder makes of the same after', async () => {
  const reader = new InputReader(customers);
  const ours = reader.read({ after: customer(), key: { customer_id: 42 } }, '[0]');
  const decoder = createDebeziumDecoder(debeziumDecoderConfig.parse({ encoding: 'json' }), {
    rowSchema: customers,
  });
  const envelope = { before: null, after: customer(), source: { ts_ms: 1, lsn: 1 }, op: 'c', ts_ms: 1 };
  const decoded = await decoder.decodeBatch([
    {
      topic: 't',
      partition: 0,
      offset: '0',
      key: null,
      value: Buffer.from(JSON.stringify(envelope)),
      headers: {},
      timestamp: '0',
    },
  ]);
  assert.deepEqual(decoded.failures, []);
  assert.deepStrictEqual(ours.after, decoded.records[0]!.root['after']);
  assert.equal(ours.after['monthly_spend'], 123.45);
  assert.equal(ours.after['signup_date'], 19000 * 86_400_000);
  assert.equal(ours.after['last_login_at'], Date.UTC(2024, 4, 1, 12, 30) + 0.123456 * 1000);
  assert.deepEqual(ours.key, { customer_id: 42 });
});

test("the caller's record is left as it was", () => {
  const reader = new InputReader(customers);
  const input = { after: customer() };
  reader.read(input, '[0]');
  assert.deepEqual(input, { after: customer() });
});

test('a decimal may be given as a number; an int64 beyond 2^53 stays exact', () => {
  const reader = new InputReader(customers);
  const body = parseJsonExact(
    JSON.stringify({ after: { ...customer(), monthly_spend: 123.45 } }).replace(
      '"customer_id":42',
      '"customer_id":9007199254740993',
    ),
  );
  const r = reader.read(body, '[0]');
  assert.equal(r.after['monthly_spend'], 123.45);
  assert.equal(r.after['customer_id'], 9007199254740993n);
  assert.equal(r.key, null);
});

test('bad input names the value’s path, what was expected and what was found', () => {
  const reader = new InputReader(customers);
  const { seats: _s, ...noSeats } = customer();
  const cases: [unknown, string, string][] = [
    [
      { after: noSeats },
      '[0].after.seats',
      'expected an integer (int32) or null (a column of the row), found nothing',
    ],
    [
      { after: { ...customer(), seats: '3' } },
      '[0].after.seats',
      'expected an integer (int32) or null, found "3"',
    ],
    [
      { after: { ...customer(), seats: 2 ** 31 } },
      '[0].after.seats',
      'expected an integer (int32) or null, found number 2147483648',
    ],
    [
      { after: { ...customer(), customer_id: null } },
      '[0].after.customer_id',
      'expected an integer (int64), found null',
    ],
    [
      { after: { ...customer(), customer_id: 1.5 } },
      '[0].after.customer_id',
      'expected an integer (int64), found number 1.5',
    ],
    [
      { after: { ...customer(), segment: 'x' } },
      '[0].after.segment',
      'expected only columns of the row (customer_id, email, plan, signup_date, monthly_spend, seats, tickets_90d, last_login_at, is_active, external_id, updated_at), found an unknown field',
    ],
    [
      { after: customer(), op: 'c' },
      '[0].op',
      'expected only "after" and "key" in a record, found an unknown field',
    ],
    [{ key: 1 }, '[0].after', 'expected an object of the row’s columns, found nothing'],
    [[customer()], '[0]', 'expected a record {"after": {…columns}, "key"?: …}, found an array'],
    [
      { after: { ...customer(), last_login_at: 'yesterday' } },
      '[0].after.last_login_at',
      'expected an ISO timestamp with offset, found "yesterday"',
    ],
    [
      { after: { ...customer(), monthly_spend: 'not base64!' } },
      '[0].after.monthly_spend',
      'invalid base64 in a decimal: "not base64!"',
    ],
    [
      { after: { ...customer(), monthly_spend: true } },
      '[0].after.monthly_spend',
      'expected a decimal (a number, or base64 of the unscaled bytes at scale 2) or null, found boolean true',
    ],
  ];
  for (const [input, path, detail] of cases) {
    const e = readerError(reader, input);
    assert.deepEqual({ path: e.path, detail: e.detail }, { path, detail }, JSON.stringify(input));
    assert.equal(e.message, `${path}: ${detail}`);
  }
});

test('a column that is not nullable must not be null; a nullable one may be', () => {
  const reader = new InputReader(payments);
  const row = {
    transaction_id: '6f1c0a4e-8a0e-4c36-9a52-2d4b1f7b1e10',
    card_id: 1,
    amount: 10,
    currency: 'EUR',
    merchant_country: null,
    card_country: null,
    merchant_risk: null,
    velocity_1h: null,
    card_issued_on: null,
    created_at: '2024-05-01T12:30:00Z',
  };
  assert.equal(reader.read({ after: row }, '[0]').after['merchant_country'], null);
  const e = readerError(reader, { after: { ...row, currency: null } });
  assert.equal(e.message, '[0].after.currency: expected a string, found null');
});
