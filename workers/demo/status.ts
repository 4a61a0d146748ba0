import type { Admin } from 'kafkajs';
import type pg from 'pg';

export interface DemoStatus {
  lag: number;
  predictions: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  deadLetters: number;
}

async function topicEnd(admin: Admin, topic: string): Promise<Map<number, number>> {
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));
  } catch {
    return new Map();
  }
}

/**
 * What the demo's status line and summary show, measured from outside the workers: consumer lag
 * from the group's committed offsets, predictions and commit→score latency from the tables
 * (scored_at minus the row's updated_at, which the CRM sets in the changing transaction), dead
 * letters from the DLQ topic's offsets.
 */
export async function readStatus(
  db: pg.Client,
  admin: Admin,
  o: { topic: string; group: string; dlq: string; scores: string; since: Date },
): Promise<DemoStatus> {
  const end = await topicEnd(admin, o.topic);
  const committed = await admin.fetchOffsets({ groupId: o.group, topics: [o.topic] }).catch(() => []);
  let lag = 0;
  for (const [partition, high] of end) {
    const c = committed[0]?.partitions.find((p) => p.partition === partition);
    const at = c && Number(c.offset) >= 0 ? Number(c.offset) : 0;
    lag += Math.max(0, high - at);
  }
  const dead = [...(await topicEnd(admin, o.dlq)).values()].reduce((a, b) => a + b, 0);
  const r = await db.query(
    `select count(*)::int as n,
            percentile_cont(0.5) within group (order by ms) as p50,
            percentile_cont(0.95) within group (order by ms) as p95,
            percentile_cont(0.99) within group (order by ms) as p99
     from (select s.scored_at, extract(epoch from (s.scored_at - c.updated_at)) * 1000 as ms
           from ${o.scores} s left join crm.customers c using (customer_id)
           where s.scored_at >= $1 and (c.updated_at is null or c.updated_at >= $1)) x`,
    [o.since],
  );
  const row = r.rows[0] as { n: number; p50: number | null; p95: number | null; p99: number | null };
  return { lag, predictions: row.n, p50Ms: row.p50, p95Ms: row.p95, p99Ms: row.p99, deadLetters: dead };
}

export function statusLine(s: DemoStatus, eventsPerS: number, elapsedS: number): string {
  const ms = (v: number | null) => (v === null ? '–' : `${Math.round(v)} ms`);
  return `  ${elapsedS.toFixed(0).padStart(3)} s │ ${eventsPerS.toFixed(0).padStart(4)} changes/s │ lag ${String(s.lag).padStart(5)} │ predictions ${String(s.predictions).padStart(6)} │ p99 ${ms(s.p99Ms).padStart(7)} │ dead letters ${s.deadLetters}`;
}
