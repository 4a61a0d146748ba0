/** The CRM customers table of the churn story, and an independent, hand-written churn feature builder. */
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { registerDebezium, withPg } from './stack.js';

export const CUSTOMERS_DDL = (table: string) => `
  create schema if not exists crm;
  create table ${table} (
    customer_id bigint primary key,
    email text not null,
    plan text,
    signup_date date,
    monthly_spend numeric(12,2),
    seats int,
    tickets_90d int,
    last_login_at timestamptz,
    is_active boolean not null default true,
    external_id uuid not null default gen_random_uuid(),
    updated_at timestamptz not null default now()
  );`;

/** Deterministic synthetic customers with ids [from, to]. */
export async function insertCustomers(c: pg.Client, table: string, from: number, to: number): Promise<void> {
  await c.query(
    `insert into ${table} (customer_id, email, plan, signup_date, monthly_spend, seats, tickets_90d, last_login_at)
     select g, 'customer' || g || '@example.com', (array['basic','pro','enterprise'])[1 + g % 3],
            date '2021-01-01' + (g * 7 % 1400), round((19 + (g * 37 % 500) + 0.99)::numeric, 2), 1 + g % 40,
            case when g % 11 = 0 then null else g % 9 end, now() - ((g % 120) || ' days')::interval
     from generate_series($1::int, $2::int) g`,
    [from, to],
  );
}

const MS_PER_DAY = 86_400_000;

/**
 * The select list of the columns churnFeatures reads, exactly as the product gets them. Not
 * `select *`: node-pg reads a timestamptz into a Date, which cuts last_login_at to whole ms, while
 * Debezium's ZonedTimestamp and the backfill reader (`parseTimestamptz`) keep the microseconds as a
 * fraction of a ms; and it reads a date as local midnight, where both take UTC midnight. So:
 * last_login_at as exact epoch ms in decimal text, signup_date as its text.
 */
export const CHURN_INPUT_COLUMNS = `customer_id, plan, monthly_spend, seats, tickets_90d,
  signup_date::text as signup_date, (extract(epoch from last_login_at) * 1000)::text as last_login_ms`;

/** A customer row selected with CHURN_INPUT_COLUMNS. */
export interface ChurnInputRow {
  plan: string | null;
  monthly_spend: string | number | null;
  seats: number | null;
  tickets_90d: number | null;
  /** `YYYY-MM-DD` (signup_date::text). */
  signup_date: string | null;
  /** Epoch ms to the microsecond, as decimal text (`extract(epoch from last_login_at) * 1000`). */
  last_login_ms: string | null;
}

/**
 * The two times of a row as the product holds them: signup_date as epoch ms at UTC midnight,
 * last_login_at as epoch ms with the microseconds as a fraction (null when null). Refuses a row read
 * with `select *` (a Date, or a last_login_at column), whose times are not those.
 */
export function churnInputTimes(row: ChurnInputRow): { signupMs: number; lastLoginMs: number | null } {
  const r = row as unknown as Record<string, unknown>;
  if (r['signup_date'] instanceof Date || (r['last_login_at'] !== undefined && r['last_login_at'] !== null)) {
    throw new Error(
      'churn features: select the row with CHURN_INPUT_COLUMNS (last_login_at to the microsecond, signup_date as text), not as Dates',
    );
  }
  return {
    signupMs: Date.parse(String(row.signup_date)),
    lastLoginMs: row.last_login_ms === null ? null : Number(row.last_login_ms),
  };
}

/**
 * The churn pipeline's features, written out by hand (not through the expression engine) so a
 * test can compute the expected score independently: same order as the model's input. `row` is
 * selected with CHURN_INPUT_COLUMNS; `sourceTsMs` is the record's source.ts_ms.
 */
export function churnFeatures(row: ChurnInputRow, sourceTsMs: number): number[] {
  const { signupMs, lastLoginMs } = churnInputTimes(row);
  const plan = row.plan;
  return [
    (sourceTsMs - signupMs) / (30.436875 * MS_PER_DAY),
    row.monthly_spend === null ? 0 : Number(row.monthly_spend),
    plan === 'enterprise' ? 1 : 0,
    row.tickets_90d === null ? 0 : Number(row.tickets_90d),
    row.seats === null ? 1 : Number(row.seats),
    lastLoginMs === null ? 365 : (sourceTsMs - lastLoginMs) / MS_PER_DAY,
    plan === 'basic' ? 1 : 0,
    plan === 'pro' ? 1 : 0,
  ];
}

/**
 * A churn CDC source for one test: the topic with 6 partitions (so a fleet can share it), the
 * customers table with `customers` rows, and a Debezium JSON connector capturing it.
 */
export async function startChurnSource(o: {
  kafka: Kafka;
  table: string;
  topic: string;
  connector: string;
  topicPrefix: string;
  customers: number;
}): Promise<void> {
  const admin = o.kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: o.topic, numPartitions: 6 }], waitForLeaders: true });
  await admin.disconnect();
  await withPg(async (c) => {
    await c.query(CUSTOMERS_DDL(o.table));
    await insertCustomers(c, o.table, 1, o.customers);
  });
  await registerDebezium({
    name: o.connector,
    topicPrefix: o.topicPrefix,
    tables: [o.table],
    converter: 'json',
  });
}

/**
 * CRM changes under a test: per round, `perRound.updates` updates, `deletes` deletes and `inserts`
 * inserts of new customers (ids after `first + customers - 1`), and now and then a re-insert of a
 * deleted customer (a delete's tombstone must not hide it), one round every `roundMs` until
 * `done`. Updates and deletes pick ids in [first, first + keySpace). Each round is one session with
 * `synchronous_commit = on`, so what it committed survives an immediate stop of the server; with
 * `tolerateErrors`, a round that fails (the server away) is counted and the next one goes on.
 * Returns the rounds run and the rounds that failed.
 */
export async function churnChanges(
  o: {
    table: string;
    first: number;
    customers: number;
    keySpace: number;
    perRound: { updates: number; deletes: number; inserts: number };
    roundMs: number;
    tolerateErrors?: boolean;
  },
  done: () => boolean,
): Promise<{ rounds: number; failed: number }> {
  const deleted: number[] = [];
  let next = o.first + o.customers;
  let i = 0;
  let failed = 0;
  const pick = (a: number, b: number, n: number) =>
    `select (${o.first} + (g::bigint * ${a} + $1::bigint * ${b}) % ${o.keySpace})::bigint from generate_series(1, ${n}) g`;
  for (; !done(); i++) {
    try {
      await withPg(async (c) => {
        await c.query('set synchronous_commit = on');
        await c.query(
          `update ${o.table} set tickets_90d = coalesce(tickets_90d, 0) + 1, updated_at = now()
           where customer_id in (${pick(7919, 104729, o.perRound.updates)})`,
          [i],
        );
        const gone = await c.query(
          `delete from ${o.table} where customer_id in (${pick(15485863, 32452843, o.perRound.deletes)})
           returning customer_id`,
          [i],
        );
        deleted.push(...gone.rows.map((r) => Number(r.customer_id)));
        const from = next;
        next += o.perRound.inserts; // not reused after a round that failed
        await insertCustomers(c, o.table, from, next - 1);
        // Back from the dead: a delete's tombstone must not hide a later insert of the same key.
        for (const again of deleted.splice(0, i % 3 === 0 ? 1 : 0)) {
          const there = await c.query(`select 1 from ${o.table} where customer_id = $1`, [again]);
          if (there.rowCount === 0) await insertCustomers(c, o.table, again, again);
        }
      });
    } catch (err) {
      if (!o.tolerateErrors) throw err;
      failed++;
    }
    await new Promise((r) => setTimeout(r, o.roundMs));
  }
  return { rounds: i, failed };
}
