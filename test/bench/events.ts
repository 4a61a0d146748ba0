/**
 * Synthetic Debezium change events for the churn pipeline's source table, shaped exactly like the
 * real PostgreSQL connector's (3.6.1.Final, pgoutput, REPLICA IDENTITY DEFAULT) as captured from the
 * local stack (see infra/local/samples/ and `npx tsx test/bench/shape-check.ts`):
 *
 * - JSON: JsonConverter with schemas: `{"schema": <Envelope struct>, "payload": {...}}`, the key
 *   `{"schema": <Key struct>, "payload": {"customer_id": N}}`;
 * - Avro: Confluent wire format (magic 0, 4-byte schema id, body) with the schemas AvroConverter
 *   derives from the Connect schemas (`connect.*` annotations included), registered in the registry;
 * - after-only updates (`before` null), deletes with `before` holding the key and the column
 *   defaults of NOT NULL columns, each followed by a tombstone; `__debezium.context.*` headers.
 */
import avro from 'avsc';
import { wire } from '../../workers/sinks/kafka/sink.js';

/** The source table behind the events (test/support/churn.ts CUSTOMERS_DDL). */
export const SOURCE_SCHEMA = 'crm';
export const SOURCE_TABLE = 'customers';

export type BenchOp = 'c' | 'u' | 'd';

export interface EventNames {
  /** Debezium topic.prefix; the topic is `<prefix>.crm.customers`. */
  prefix: string;
}

export const topicOf = (n: EventNames) => `${n.prefix}.${SOURCE_SCHEMA}.${SOURCE_TABLE}`;

// ---------------------------------------------------------------------------------------------
// Connect schemas (JsonConverter) and the Avro schemas AvroConverter derives from them
// ---------------------------------------------------------------------------------------------

const zonedTs = (optional: boolean, field: string, dflt?: string) => ({
  type: 'string',
  optional,
  name: 'io.debezium.time.ZonedTimestamp',
  version: 1,
  ...(dflt === undefined ? {} : { default: dflt }),
  field,
});

function rowFields(): unknown[] {
  return [
    { type: 'int64', optional: false, field: 'customer_id' },
    { type: 'string', optional: false, field: 'email' },
    { type: 'string', optional: true, field: 'plan' },
    { type: 'int32', optional: true, name: 'io.debezium.time.Date', version: 1, field: 'signup_date' },
    {
      type: 'bytes',
      optional: true,
      name: 'org.apache.kafka.connect.data.Decimal',
      version: 1,
      parameters: { scale: '2', 'connect.decimal.precision': '12' },
      field: 'monthly_spend',
    },
    { type: 'int32', optional: true, field: 'seats' },
    { type: 'int32', optional: true, field: 'tickets_90d' },
    zonedTs(true, 'last_login_at'),
    { type: 'boolean', optional: false, default: true, field: 'is_active' },
    {
      type: 'string',
      optional: false,
      name: 'io.debezium.data.Uuid',
      version: 1,
      default: '00000000-0000-0000-0000-000000000000',
      field: 'external_id',
    },
    zonedTs(false, 'updated_at', '1970-01-01T00:00:00.000000Z'),
  ];
}

const SOURCE_FIELDS = [
  { type: 'string', optional: false, field: 'version' },
  { type: 'string', optional: false, field: 'connector' },
  { type: 'string', optional: false, field: 'name' },
  { type: 'int64', optional: false, field: 'ts_ms' },
  {
    type: 'string',
    optional: true,
    name: 'io.debezium.data.Enum',
    version: 1,
    parameters: {
      allowed: 'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental',
    },
    default: 'false',
    field: 'snapshot',
  },
  { type: 'string', optional: false, field: 'db' },
  { type: 'string', optional: true, field: 'sequence' },
  { type: 'int64', optional: true, field: 'ts_us' },
  { type: 'int64', optional: true, field: 'ts_ns' },
  { type: 'string', optional: false, field: 'schema' },
  { type: 'string', optional: false, field: 'table' },
  { type: 'int64', optional: true, field: 'txId' },
  { type: 'int64', optional: true, field: 'lsn' },
  { type: 'int64', optional: true, field: 'xmin' },
  { type: 'string', optional: true, field: 'origin' },
  { type: 'int64', optional: true, field: 'origin_lsn' },
];

/** The JsonConverter value schema of the envelope (field order as the connector writes it). */
export function connectValueSchema(n: EventNames): unknown {
  const base = `${n.prefix}.${SOURCE_SCHEMA}.${SOURCE_TABLE}`;
  const row = (field: string) => ({
    type: 'struct',
    fields: rowFields(),
    optional: true,
    name: `${base}.Value`,
    field,
  });
  return {
    type: 'struct',
    fields: [
      row('before'),
      row('after'),
      {
        type: 'struct',
        fields: SOURCE_FIELDS,
        optional: false,
        name: 'io.debezium.connector.postgresql.Source',
        version: 1,
        field: 'source',
      },
      {
        type: 'struct',
        fields: [
          { type: 'string', optional: false, field: 'id' },
          { type: 'int64', optional: false, field: 'total_order' },
          { type: 'int64', optional: false, field: 'data_collection_order' },
        ],
        optional: true,
        name: 'event.block',
        version: 1,
        field: 'transaction',
      },
      { type: 'string', optional: false, field: 'op' },
      { type: 'int64', optional: true, field: 'ts_ms' },
      { type: 'int64', optional: true, field: 'ts_us' },
      { type: 'int64', optional: true, field: 'ts_ns' },
    ],
    optional: false,
    name: `${base}.Envelope`,
    version: 2,
  };
}

export function connectKeySchema(n: EventNames): unknown {
  return {
    type: 'struct',
    fields: [{ type: 'int64', optional: false, field: 'customer_id' }],
    optional: false,
    name: `${n.prefix}.${SOURCE_SCHEMA}.${SOURCE_TABLE}.Key`,
  };
}

const optional = (t: unknown) => ({ type: ['null', t], default: null });
const dbzTs = (name: string) => ({ type: 'string', 'connect.version': 1, 'connect.name': name });

export function avroValueSchema(n: EventNames): Record<string, unknown> {
  const ns = `${n.prefix}.${SOURCE_SCHEMA}.${SOURCE_TABLE}`;
  const value = {
    type: 'record',
    name: 'Value',
    fields: [
      { name: 'customer_id', type: 'long' },
      { name: 'email', type: 'string' },
      { name: 'plan', ...optional('string') },
      {
        name: 'signup_date',
        ...optional({ type: 'int', 'connect.version': 1, 'connect.name': 'io.debezium.time.Date' }),
      },
      {
        name: 'monthly_spend',
        ...optional({
          type: 'bytes',
          scale: 2,
          precision: 12,
          'connect.version': 1,
          'connect.parameters': { scale: '2', 'connect.decimal.precision': '12' },
          'connect.name': 'org.apache.kafka.connect.data.Decimal',
          logicalType: 'decimal',
        }),
      },
      { name: 'seats', ...optional('int') },
      { name: 'tickets_90d', ...optional('int') },
      { name: 'last_login_at', ...optional(dbzTs('io.debezium.time.ZonedTimestamp')) },
      { name: 'is_active', type: { type: 'boolean', 'connect.default': true }, default: true },
      {
        name: 'external_id',
        type: {
          type: 'string',
          'connect.version': 1,
          'connect.default': '00000000-0000-0000-0000-000000000000',
          'connect.name': 'io.debezium.data.Uuid',
        },
        default: '00000000-0000-0000-0000-000000000000',
      },
      {
        name: 'updated_at',
        type: {
          type: 'string',
          'connect.version': 1,
          'connect.default': '1970-01-01T00:00:00.000000Z',
          'connect.name': 'io.debezium.time.ZonedTimestamp',
        },
        default: '1970-01-01T00:00:00.000000Z',
      },
    ],
    'connect.name': `${ns}.Value`,
  };
  const long = optional('long');
  return {
    type: 'record',
    name: 'Envelope',
    namespace: ns,
    fields: [
      { name: 'before', ...optional(value) },
      { name: 'after', ...optional('Value') },
      {
        name: 'source',
        type: {
          type: 'record',
          name: 'Source',
          namespace: 'io.debezium.connector.postgresql',
          fields: [
            { name: 'version', type: 'string' },
            { name: 'connector', type: 'string' },
            { name: 'name', type: 'string' },
            { name: 'ts_ms', type: 'long' },
            {
              name: 'snapshot',
              type: [
                {
                  type: 'string',
                  'connect.version': 1,
                  'connect.parameters': {
                    allowed:
                      'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental',
                  },
                  'connect.default': 'false',
                  'connect.name': 'io.debezium.data.Enum',
                },
                'null',
              ],
              default: 'false',
            },
            { name: 'db', type: 'string' },
            { name: 'sequence', ...optional('string') },
            { name: 'ts_us', ...long },
            { name: 'ts_ns', ...long },
            { name: 'schema', type: 'string' },
            { name: 'table', type: 'string' },
            { name: 'txId', ...long },
            { name: 'lsn', ...long },
            { name: 'xmin', ...long },
            { name: 'origin', ...optional('string') },
            { name: 'origin_lsn', ...long },
          ],
          'connect.version': 1,
          'connect.name': 'io.debezium.connector.postgresql.Source',
        },
      },
      {
        name: 'transaction',
        ...optional({
          type: 'record',
          name: 'block',
          namespace: 'event',
          fields: [
            { name: 'id', type: 'string' },
            { name: 'total_order', type: 'long' },
            { name: 'data_collection_order', type: 'long' },
          ],
          'connect.version': 1,
          'connect.name': 'event.block',
        }),
      },
      { name: 'op', type: 'string' },
      { name: 'ts_ms', ...long },
      { name: 'ts_us', ...long },
      { name: 'ts_ns', ...long },
    ],
    'connect.version': 2,
    'connect.name': `${ns}.Envelope`,
  };
}

export function avroKeySchema(n: EventNames): Record<string, unknown> {
  const ns = `${n.prefix}.${SOURCE_SCHEMA}.${SOURCE_TABLE}`;
  return {
    type: 'record',
    name: 'Key',
    namespace: ns,
    fields: [{ name: 'customer_id', type: 'long' }],
    'connect.name': `${ns}.Key`,
  };
}

/** avsc long type that takes numbers or bigints (ts_ns is beyond 2^53). */
const LongType = (avro.types.LongType as unknown as { __with(o: Record<string, unknown>): unknown }).__with({
  fromBuffer: (b: Buffer) => b.readBigInt64LE(0),
  toBuffer: (n: number | bigint) => {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64LE(BigInt(n));
    return b;
  },
  fromJSON: (n: number) => BigInt(n),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint' || typeof n === 'number',
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
});

export function avroType(schema: unknown): avro.Type {
  return avro.Type.forSchema(
    schema as avro.Schema,
    {
      registry: { long: LongType },
    } as unknown as avro.ForSchemaOptions,
  );
}

// ---------------------------------------------------------------------------------------------
// The change stream
// ---------------------------------------------------------------------------------------------

export interface ChangeMix {
  /** Entities that exist before the first event (ids 1..entities); updates and deletes pick among live ones. */
  entities: number;
  /** Shares of creates and deletes; the rest are updates. */
  createShare: number;
  deleteShare: number;
  seed: number;
}

export const DEFAULT_MIX: ChangeMix = {
  entities: 1_000_000,
  createShare: 0.2,
  deleteShare: 0.1,
  seed: 20251124,
};

export interface Change {
  op: BenchOp;
  id: number;
  /** How many times this entity changed before (varies its attributes). */
  version: number;
  /** Source commit time (µs since epoch) and WAL position. */
  tsUs: number;
  lsn: number;
  txId: number;
}

/**
 * A deterministic keyed mix of creates, updates and deletes over `entities` live rows: creates add
 * new ids, updates and deletes pick a live id uniformly (xorshift32).
 */
export class ChangeStream {
  private s: number;
  private live: Int32Array;
  private liveCount: number;
  private nextId: number;
  private versions: Uint16Array;
  private lsn = 0x6c000000;
  private txId = 200_000;

  constructor(
    private readonly mix: ChangeMix,
    capacity: number,
  ) {
    this.s = mix.seed >>> 0 || 1;
    this.live = new Int32Array(mix.entities + capacity);
    for (let i = 0; i < mix.entities; i++) this.live[i] = i + 1;
    this.liveCount = mix.entities;
    this.nextId = mix.entities + 1;
    this.versions = new Uint16Array(mix.entities + capacity + 1);
  }

  private rand(): number {
    let s = this.s;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    this.s = s >>> 0;
    return this.s / 4294967296;
  }

  next(tsUs: number): Change {
    const r = this.rand();
    let op: BenchOp;
    let id: number;
    if (r < this.mix.createShare || this.liveCount === 0) {
      op = 'c';
      id = this.nextId++;
      this.live[this.liveCount++] = id;
    } else {
      const at = Math.floor(this.rand() * this.liveCount);
      id = this.live[at]!;
      if (r < this.mix.createShare + this.mix.deleteShare) {
        op = 'd';
        this.live[at] = this.live[--this.liveCount]!;
      } else op = 'u';
    }
    const version = this.versions[id]!;
    this.versions[id] = (version + 1) & 0xffff;
    this.lsn += 296;
    this.txId += 1;
    return { op, id, version, tsUs, lsn: this.lsn, txId: this.txId };
  }
}

// ---------------------------------------------------------------------------------------------
// Rows and envelopes
// ---------------------------------------------------------------------------------------------

const DAY_MS = 86_400_000;
const PLANS = ['basic', 'pro', 'enterprise'] as const;

/** Debezium's ZonedTimestamp text: always UTC, 6 fractional digits. */
function zoned(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000Z`;
}

function uuidOf(id: number): string {
  const h = (id * 2654435761) >>> 0;
  const hex = h.toString(16).padStart(8, '0');
  const tail = id.toString(16).padStart(12, '0');
  return `${hex}-9c0b-4ef8-bb6d-${tail}`;
}

/** Connect Decimal bytes: big-endian two's complement of the unscaled value. */
function decimalBytes(unscaled: number): Buffer {
  let hex = unscaled.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  return Buffer.from(hex, 'hex');
}

interface Row {
  customer_id: number;
  email: string;
  plan: string | null;
  signup_date: number | null;
  monthly_spend: Buffer | null;
  seats: number | null;
  tickets_90d: number | null;
  last_login_at: string | null;
  is_active: boolean;
  external_id: string;
  updated_at: string;
}

/** The row of entity `id` after its `version`-th change (attributes drift with the version). */
function rowOf(id: number, version: number, tsMs: number): Row {
  const g = id + version * 7;
  return {
    customer_id: id,
    email: `customer${id}@example.com`,
    plan: PLANS[g % 3]!,
    signup_date: 18_628 + ((id * 7) % 1400),
    monthly_spend: decimalBytes((19 + ((g * 37) % 500)) * 100 + 99),
    seats: 1 + (g % 40),
    tickets_90d: g % 11 === 0 ? null : g % 9,
    last_login_at: zoned(tsMs - (g % 120) * DAY_MS - (id % 86_400) * 1000),
    is_active: true,
    external_id: uuidOf(id),
    updated_at: zoned(tsMs),
  };
}

/** `before` of a delete under REPLICA IDENTITY DEFAULT: the key, column defaults for NOT NULL columns. */
function deletedRow(id: number): Row {
  return {
    customer_id: id,
    email: '',
    plan: null,
    signup_date: null,
    monthly_spend: null,
    seats: null,
    tickets_90d: null,
    last_login_at: null,
    is_active: true,
    external_id: '00000000-0000-0000-0000-000000000000',
    updated_at: '1970-01-01T00:00:00.000000Z',
  };
}

export interface KafkaRecord {
  key: Buffer;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** Encodes changes as the connector would, in one format; tombstones follow deletes. */
export class EnvelopeEncoder {
  private readonly jsonPrefix: string;
  private readonly keyPrefix: string;
  private readonly headers: Record<string, string>;
  private valueType: avro.Type | undefined;
  private keyType: avro.Type | undefined;

  constructor(
    private readonly names: EventNames,
    readonly format: 'json' | 'avro',
    private readonly ids?: { key: number; value: number },
  ) {
    this.jsonPrefix = `{"schema":${JSON.stringify(connectValueSchema(names))},"payload":`;
    this.keyPrefix = `{"schema":${JSON.stringify(connectKeySchema(names))},"payload":{"customer_id":`;
    this.headers = {
      '__debezium.context.connectorLogicalName': names.prefix,
      '__debezium.context.taskId': '0',
      '__debezium.context.connectorName': 'postgresql',
      '__debezium.context.runId': '01a20e1c-f350-789b-a9fc-333f2826a570',
    };
    if (format === 'avro') {
      if (!ids) throw new Error('Avro events need the registered schema ids');
      this.valueType = avroType(avroValueSchema(names));
      this.keyType = avroType(avroKeySchema(names));
    }
  }

  /** The message(s) of one change: one, or two for a delete (the event, then its tombstone). */
  encode(ch: Change): KafkaRecord[] {
    const key = this.key(ch.id);
    const value = this.value(ch);
    const out: KafkaRecord[] = [{ key, value, headers: this.headers }];
    if (ch.op === 'd') out.push({ key, value: null, headers: this.headers });
    return out;
  }

  private key(id: number): Buffer {
    if (this.format === 'json') return Buffer.from(`${this.keyPrefix}${id}}}`, 'utf8');
    return wire(this.ids!.key, this.keyType!.toBuffer({ customer_id: id }));
  }

  private envelope(ch: Change): Record<string, unknown> {
    const tsMs = Math.floor(ch.tsUs / 1000);
    const row = ch.op === 'd' ? deletedRow(ch.id) : rowOf(ch.id, ch.version, tsMs);
    // Kafka Connect sees the change about 0.5 s after the commit.
    const seenUs = ch.tsUs + 500_000 + (ch.lsn % 1000);
    const source = {
      version: '3.6.1.Final',
      connector: 'postgresql',
      name: this.names.prefix,
      ts_ms: tsMs,
      snapshot: 'false',
      db: 'streamscore',
      sequence: ch.op === 'c' ? `[null,"${ch.lsn}"]` : `["${ch.lsn}","${ch.lsn}"]`,
      ts_us: ch.tsUs,
      ts_ns: BigInt(ch.tsUs) * 1000n,
      schema: SOURCE_SCHEMA,
      table: SOURCE_TABLE,
      txId: ch.txId,
      lsn: ch.lsn,
      xmin: null,
      origin: null,
      origin_lsn: null,
    };
    return {
      before: ch.op === 'd' ? row : null,
      after: ch.op === 'd' ? null : row,
      source,
      transaction: null,
      op: ch.op,
      ts_ms: Math.floor(seenUs / 1000),
      ts_us: seenUs,
      ts_ns: BigInt(seenUs) * 1000n + 730n,
    };
  }

  private value(ch: Change): Buffer {
    const env = this.envelope(ch);
    if (this.format === 'avro') return wire(this.ids!.value, this.valueType!.toBuffer(env));
    const text = JSON.stringify(env, jsonReplacer).replace(BIG_MARK, '$1');
    return Buffer.from(`${this.jsonPrefix}${text}}`, 'utf8');
  }
}

/** int64 beyond 2^53 (ts_ns) is written with all its digits, as JsonConverter does. */
const BIG_MARK = /"@big@(-?\d+)"/g;

function jsonReplacer(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return `@big@${v}`;
  if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer') {
    return Buffer.from((v as { data: number[] }).data).toString('base64');
  }
  return v;
}
