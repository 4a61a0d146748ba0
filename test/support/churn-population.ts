/**
 * The churn models' training population (tools/models/train.py, churn_data) drawn again in
 * TypeScript with a seeded generator: the same distributions, not numpy's numbers. Drift tests
 * replay it as "no drift" and inject shifts into it.
 */
import { resolve } from 'node:path';
import { readVersion } from '../../workers/models/catalog.js';

/** The churn models' feature names, in input order (from churn/1's manifest). */
export const CHURN_FEATURES: readonly string[] = readVersion(resolve('pipelines/models'), 'churn', '1')
  .features!;

/** A deterministic uniform generator on (0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
}

export class Sampler {
  readonly #u: () => number;
  #spare: number | undefined;
  constructor(seed: number) {
    this.#u = seededRandom(seed);
  }
  uniform(): number {
    return this.#u();
  }
  normal(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(this.#u()));
    const t = 2 * Math.PI * this.#u();
    this.#spare = r * Math.sin(t);
    return r * Math.cos(t);
  }
  /** Gamma(shape ≥ 1, scale): Marsaglia–Tsang. */
  gamma(shape: number, scale: number): number {
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.#u();
      if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v * scale;
    }
  }
  /** Poisson(λ) for small λ (Knuth). */
  poisson(lambda: number): number {
    const l = Math.exp(-lambda);
    let k = 0;
    let p = 1;
    do {
      k++;
      p *= this.#u();
    } while (p > l);
    return k - 1;
  }
  exponential(mean: number): number {
    return -Math.log(this.#u()) * mean;
  }
  /** An integer in [lo, hi). */
  integer(lo: number, hi: number): number {
    return lo + Math.floor(this.#u() * (hi - lo));
  }
}

export interface ChurnShift {
  /** The CRM renamed the basic plan: plan_basic is 0 for everyone. */
  planBasicZero?: boolean;
  /** Support tickets multiplied (2: doubled). */
  ticketsFactor?: number;
}

/** One CRM customer as the churn model sees it, plus the CRM columns it came from. */
export interface ChurnCustomer {
  plan: 'basic' | 'pro' | 'enterprise';
  tenureMonths: number;
  monthlySpend: number;
  seats: number;
  tickets90d: number;
  daysSinceLogin: number;
}

const clip = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** A customer drawn like train.py's churn_data. */
export function churnCustomer(s: Sampler, shift: ChurnShift = {}): ChurnCustomer {
  const u = s.uniform();
  const plan = u < 0.45 ? 'basic' : u < 0.8 ? 'pro' : 'enterprise';
  const tenureMonths = Math.round(clip(s.gamma(2, 12), 0, 120));
  const seats = plan === 'enterprise' ? s.integer(20, 500) : s.integer(1, 40);
  const base = plan === 'basic' ? 19 : plan === 'pro' ? 49 : 199;
  const monthlySpend = Math.round(base * Math.sqrt(seats) * Math.exp(0.15 * s.normal()) * 100) / 100;
  const tickets = s.poisson(tenureMonths < 6 ? 2.5 : 1.0) * (shift.ticketsFactor ?? 1);
  const daysSinceLogin = Math.round(clip(s.exponential(9), 0, 365));
  return { plan, tenureMonths, monthlySpend, seats, tickets90d: tickets, daysSinceLogin };
}

/** Features in the model's order (float32 row-major), `rows` customers. */
export function churnFeatures(s: Sampler, rows: number, shift: ChurnShift = {}): Float32Array {
  const out = new Float32Array(rows * CHURN_FEATURES.length);
  for (let i = 0; i < rows; i++) {
    const c = churnCustomer(s, shift);
    out.set(
      [
        c.tenureMonths,
        c.monthlySpend,
        c.plan === 'enterprise' ? 1 : 0,
        c.tickets90d,
        c.seats,
        c.daysSinceLogin,
        c.plan === 'basic' && !shift.planBasicZero ? 1 : 0,
        c.plan === 'pro' ? 1 : 0,
      ],
      i * CHURN_FEATURES.length,
    );
  }
  return out;
}

const DAY_MS = 86_400_000;
const MONTH_MS = 30.436875 * DAY_MS;

/**
 * Inserts `count` customers drawn from the population into a CUSTOMERS_DDL table, ids from
 * `firstId`, so that the churn pipeline computes the drawn features: the pipeline's tenure and
 * days since login are fractional (months_between, days_between from the commit time) where the
 * training rows hold whole numbers, so the dates are set for each to land in (k − 1, k], the
 * reference bin of k. `shift.planBasicZero` renames the plan: basic customers get plan 'starter'.
 */
export async function insertPopulation(
  c: { query(sql: string, params: unknown[]): Promise<unknown> },
  table: string,
  firstId: number,
  count: number,
  s: Sampler,
  shift: ChurnShift = {},
): Promise<void> {
  const now = Date.now() + 3_600_000; // an hour ahead: commit times come after this
  const cols: unknown[][] = [[], [], [], [], [], [], []];
  for (let i = 0; i < count; i++) {
    const c = churnCustomer(s, shift);
    // The first UTC midnight at or after now − k months: months_between ≤ k, > k − 1/30.
    const signup = new Date(Math.ceil((now - c.tenureMonths * MONTH_MS) / DAY_MS) * DAY_MS);
    const plan = c.plan === 'basic' && shift.planBasicZero ? 'starter' : c.plan;
    cols[0]!.push(firstId + i);
    cols[1]!.push(plan);
    cols[2]!.push(signup.toISOString().slice(0, 10));
    cols[3]!.push(c.monthlySpend.toFixed(2));
    cols[4]!.push(c.seats);
    cols[5]!.push(c.tickets90d);
    cols[6]!.push(c.daysSinceLogin);
  }
  // Last login d days back plus a minute (d − 0.0007 days at commit), or now for d = 0.
  await c.query(
    `insert into ${table} (customer_id, email, plan, signup_date, monthly_spend, seats, tickets_90d, last_login_at)
     select id, 'p' || id || '@example.com', plan, signup::date, spend::numeric, seats, tickets,
            now() - (d || ' days')::interval + case when d > 0 then interval '60 seconds' else interval '0' end
     from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $7::int[])
          as t(id, plan, signup, spend, seats, tickets, d)`,
    cols,
  );
}
