import type pg from 'pg';

export interface TrafficStats {
  inserts: number;
  updates: number;
  deletes: number;
  tickets: number;
  /** How long the traffic ran (longer than asked while `extendWhile` held). */
  seconds: number;
}

/**
 * A drift to inject (`streamscore demo --shift`): the CRM renames the basic plan to 'starter' (every
 * basic customer at once, and signups and plan changes after), so the churn model's plan_basic is 0;
 * or support tickets count double (every customer's tickets_90d doubled at once, each ticket adds 2).
 */
export type TrafficShift = 'plan-renamed' | 'tickets-doubled';
export const TRAFFIC_SHIFTS: readonly TrafficShift[] = ['plan-renamed', 'tickets-doubled'];

/**
 * CRM activity for `seconds`: new signups, plan changes and logins, support tickets (bumping
 * tickets_90d in the same transaction, as the CRM would) and churned accounts deleted.
 * About `ratePerSecond` changes per second, in small transactions. After `seconds`, it keeps going
 * while `extendWhile` returns true (something that needs traffic is not done yet).
 */
export async function generateTraffic(
  db: pg.Client,
  opts: {
    seconds: number;
    ratePerSecond: number;
    firstNewId: number;
    maxId: number;
    onTick?: (s: TrafficStats) => void;
    extendWhile?: () => boolean;
    shift?: TrafficShift | undefined;
  },
): Promise<TrafficStats> {
  const basic = opts.shift === 'plan-renamed' ? 'starter' : 'basic';
  const ticketStep = opts.shift === 'tickets-doubled' ? 2 : 1;
  if (opts.shift === 'plan-renamed') {
    await db.query(`update crm.customers set plan = 'starter', updated_at = now() where plan = 'basic'`);
  } else if (opts.shift === 'tickets-doubled') {
    await db.query(
      'update crm.customers set tickets_90d = tickets_90d * 2, updated_at = now() where tickets_90d > 0',
    );
  }
  const stats: TrafficStats = { inserts: 0, updates: 0, deletes: 0, tickets: 0, seconds: 0 };
  const startedAt = Date.now();
  const end = startedAt + opts.seconds * 1000;
  let nextId = opts.firstNewId;
  let tick = 0;
  const perTick = Math.max(1, Math.round(opts.ratePerSecond / 10));
  while (Date.now() < end || opts.extendWhile?.()) {
    const started = Date.now();
    for (let i = 0; i < perTick; i++) {
      const r = Math.random();
      const id = 1 + Math.floor(Math.random() * opts.maxId);
      if (r < 0.15) {
        await db.query(
          `insert into crm.customers (customer_id, email, company, plan, signup_date, monthly_spend, seats, tickets_90d, last_login_at)
           values ($1::bigint, 'new' || $1::text || '@signup.example', 'New Co #' || $1::text, $2::text, current_date, 29.00, 1, 0, now())`,
          [nextId++, basic],
        );
        stats.inserts++;
      } else if (r < 0.45) {
        await db.query('begin');
        await db.query(
          `insert into crm.support_tickets (customer_id, severity, subject) select $1::bigint, 'high', 'Cannot log in' where exists (select 1 from crm.customers where customer_id = $1::bigint)`,
          [id],
        );
        await db.query(
          'update crm.customers set tickets_90d = coalesce(tickets_90d, 0) + $2::int, updated_at = now() where customer_id = $1',
          [id, ticketStep],
        );
        await db.query('commit');
        stats.tickets++;
        stats.updates++;
      } else if (r < 0.95) {
        await db.query(
          `update crm.customers set last_login_at = now() - (random() * 60 || ' days')::interval,
                  plan = case when random() < 0.1 then (array[$2::text,'pro','enterprise'])[1 + floor(random() * 3)::int] else plan end,
                  seats = greatest(1, seats + (floor(random() * 5) - 2)::int), updated_at = now()
           where customer_id = $1`,
          [id, basic],
        );
        stats.updates++;
      } else {
        await db.query('delete from crm.customers where customer_id = $1', [id]);
        stats.deletes++;
      }
    }
    tick++;
    if (tick % 10 === 0) opts.onTick?.(stats);
    const wait = 100 - (Date.now() - started);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  stats.seconds = (Date.now() - startedAt) / 1000;
  return stats;
}
