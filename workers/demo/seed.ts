import type pg from 'pg';

/** The demo CRM: plans, customers and support tickets, with realistic synthetic data. */
export const CRM_DDL = `
create schema if not exists crm;
create table crm.plans (
  plan text primary key,
  list_price numeric(12,2) not null,
  max_seats int not null
);
insert into crm.plans values ('basic', 29.00, 5), ('pro', 99.00, 50), ('enterprise', 499.00, 5000);
create table crm.customers (
  customer_id bigint primary key,
  email text not null,
  company text not null,
  plan text not null references crm.plans(plan),
  signup_date date not null,
  monthly_spend numeric(12,2),
  seats int,
  tickets_90d int,
  last_login_at timestamptz,
  is_active boolean not null default true,
  external_id uuid not null default gen_random_uuid(),
  updated_at timestamptz not null default now()
);
create table crm.support_tickets (
  ticket_id bigserial primary key,
  customer_id bigint not null references crm.customers(customer_id) on delete cascade,
  opened_at timestamptz not null default now(),
  severity text not null check (severity in ('low','normal','high','urgent')),
  subject text not null
);`;

const COMPANY_WORDS = [
  'Acme',
  'Globex',
  'Initech',
  'Umbrella',
  'Hooli',
  'Vandelay',
  'Stark',
  'Wayne',
  'Wonka',
  'Tyrell',
  'Cyberdyne',
  'Soylent',
];
const SUFFIXES = ['GmbH', 'Ltd', 'Inc', 'AG', 'SAS', 'BV'];

/** Inserts `count` customers (ids 1..count) and a few tickets each, in set-based SQL. */
export async function seedCrm(db: pg.Client, count: number): Promise<void> {
  await db.query(CRM_DDL);
  await db.query(
    `insert into crm.customers (customer_id, email, company, plan, signup_date, monthly_spend, seats, tickets_90d, last_login_at)
     select g,
            'ops' || g || '@' || lower(w) || g % 97 || '.example',
            w || ' ' || s || ' #' || g,
            p.plan,
            date '2019-01-01' + ((g * 2654435761) % 2400)::int,
            round((p.list_price * (1 + (g % 40)) * (0.8 + ((g * 7) % 40) / 100.0))::numeric, 2),
            1 + (g % 40),
            null,
            now() - (((g * 13) % 150) || ' days')::interval - (((g * 7) % 24) || ' hours')::interval
     from generate_series(1, $1::int) g
     cross join lateral (select (array['basic','basic','pro','pro','enterprise'])[1 + (g * 31) % 5] as plan) pick
     join crm.plans p on p.plan = pick.plan
     cross join lateral (select ($2::text[])[1 + g % $3::int] as w, ($4::text[])[1 + g % $5::int] as s) n`,
    [count, COMPANY_WORDS, COMPANY_WORDS.length, SUFFIXES, SUFFIXES.length],
  );
  await db.query(
    `insert into crm.support_tickets (customer_id, opened_at, severity, subject)
     select c.customer_id, now() - ((t * 11 + c.customer_id) % 89 || ' days')::interval,
            (array['low','normal','high','urgent'])[1 + (c.customer_id + t) % 4], 'Ticket ' || t
     from crm.customers c cross join generate_series(1, 6) t
     where (c.customer_id * 7 + t * 3) % 10 < (case c.plan when 'basic' then 5 when 'pro' then 3 else 2 end)`,
  );
  await db.query(
    `update crm.customers c set tickets_90d = coalesce(t.n, 0)
     from (select customer_id, count(*)::int n from crm.support_tickets
           where opened_at > now() - interval '90 days' group by customer_id) t
     where t.customer_id = c.customer_id`,
  );
  await db.query('update crm.customers set tickets_90d = 0 where tickets_90d is null');
  await db.query('analyze crm.customers');
}

/** Removes the demo's CRM schema (a second `make demo` starts from scratch). */
export async function dropCrm(db: pg.Client): Promise<void> {
  await db.query('drop table if exists crm.support_tickets, crm.customers, crm.plans cascade');
}
