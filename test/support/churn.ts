/** The CRM customers table of the churn story, and an independent, hand-written churn feature builder. */
import type pg from 'pg';

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
 * The churn pipeline's features, written out by hand (not through the expression engine) so a
 * test can compute the expected score independently: same order as the model's input.
 */
export function churnFeatures(row: Record<string, unknown>, sourceTsMs: number): number[] {
  const signup =
    row['signup_date'] instanceof Date
      ? row['signup_date'].getTime()
      : Date.parse(String(row['signup_date']));
  const lastLogin = row['last_login_at'] === null ? null : new Date(row['last_login_at'] as string).getTime();
  const plan = row['plan'];
  return [
    (sourceTsMs - signup) / (30.436875 * MS_PER_DAY),
    row['monthly_spend'] === null ? 0 : Number(row['monthly_spend']),
    plan === 'enterprise' ? 1 : 0,
    row['tickets_90d'] === null ? 0 : Number(row['tickets_90d']),
    row['seats'] === null ? 1 : Number(row['seats']),
    lastLogin === null ? 365 : (sourceTsMs - lastLogin) / MS_PER_DAY,
    plan === 'basic' ? 1 : 0,
    plan === 'pro' ? 1 : 0,
  ];
}
