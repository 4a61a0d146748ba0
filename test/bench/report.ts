/** The printed table of a bench run (from the same object that is written as JSON). */
import { apiReportLines } from './api.js';

type Obj = Record<string, unknown>;
const get = (o: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((a, k) => (a && typeof a === 'object' ? (a as Obj)[k] : undefined), o);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function fmt(v: number | null, digits = 0): string {
  if (v === null) return '—';
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function row(cells: string[], widths: number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

export function printReport(r: Obj): void {
  const w = [40, 11, 19, 9, 9, 9, 8, 8];
  const lines: string[] = [];
  const m = r['machine'] as Obj;
  lines.push(
    `streamscore bench (${r['mode']}) · ${m['cores']} cores, ${m['memory_gb']} GB · node ${get(m, 'versions.node')} · kafka ${get(m, 'versions.kafka')} · load avg at start ${(m['load_avg_at_start'] as number[]).join(' ')} · CLI from ${r['cli']}`,
  );
  const pgs = get(r, 'postgres.settings') as Record<string, string> | undefined;
  if (pgs) {
    lines.push(
      `postgres (${get(r, 'postgres.instance') === 'own' ? "the bench's own instance" : 'BENCH_DATABASE_URL'}): ${['fsync', 'synchronous_commit', 'full_page_writes'].map((k) => `${k}=${pgs[k] ?? '?'}`).join(' ')}`,
    );
  }
  for (const t of (r['topics'] as Obj[] | undefined) ?? []) {
    lines.push(
      `topic ${t['format']}: ${fmt(num(t['messages']))} messages (c/u/d ${get(t, 'events.c')}/${get(t, 'events.u')}/${get(t, 'events.d')} + tombstones), mean value ${t['mean_value_bytes']} B, 6 partitions`,
    );
  }
  lines.push('');
  lines.push(
    row(
      ['scenario', 'events/s', 'spread (min–max)', 'worker µs', 'pg µs', 'kafka µs', 'RSS MB', 'ELD p99'],
      w,
    ),
  );
  lines.push(row(['', '', '', 'CPU/event', 'CPU/ev', 'CPU/ev', 'peak', 'ms'], w));
  const stage = (label: string, key: string, cpuKey = 'bench') => {
    const s = get(r, `floors.${key}`) as Obj | undefined;
    if (!s) return;
    if ('error' in s) {
      lines.push(row([label, 'error', String(s['error']).slice(0, 19), '', '', '', '', ''], w));
      return;
    }
    lines.push(
      row(
        [
          label,
          fmt(num(s['events_per_s'])),
          '',
          fmt(num(get(s, `cpu_us_per_event.${cpuKey}`)), 1),
          fmt(num(get(s, 'cpu_us_per_event.postgres')), 1),
          fmt(num(get(s, 'cpu_us_per_event.kafka')), 1),
          '',
          fmt(num(s['event_loop_delay_p99_ms']), 1),
        ],
        w,
      ),
    );
  };
  stage('kcat consume-only (avro)', 'kcat_avro', 'kcat');
  stage('kcat consume-only (json)', 'kcat_json', 'kcat');
  stage('kafkajs consume-only (avro)', 'kafkajs_avro');
  stage('kafkajs consume-only (json)', 'kafkajs_json');
  stage('decode+features alone (avro)', 'decode_features_avro');
  stage('decode+features alone (json)', 'decode_features_json');
  stage(`onnx alone @${get(r, 'floors.onnx.batch_size') ?? '?'} (rows/s)`, 'onnx');
  stage('postgres sink alone (avro rows)', 'postgres_sink');
  stage('kafka output leg alone', 'kafka_sink');
  const e2e = (label: string, key: string) => {
    const s = get(r, `e2e.${key}`) as Obj | undefined;
    if (!s) return;
    const ev = s['events_per_s'] as Obj;
    const spread =
      num(ev['runs']) && (ev['runs'] as number) > 1
        ? `${fmt(num(ev['min']))}–${fmt(num(ev['max']))} (n=${ev['runs']})`
        : `n=${ev['runs']}`;
    lines.push(
      row(
        [
          label,
          fmt(num(ev['median'])),
          spread,
          fmt(num(get(s, 'worker_cpu_us_per_event.median')), 1),
          fmt(num(get(s, 'postgres_cpu_us_per_event.median')), 1),
          fmt(num(get(s, 'kafka_cpu_us_per_event.median')), 1),
          fmt(num(get(s, 'rss_mb_peak.max'))),
          fmt(num(get(s, 'event_loop_delay_p99_ms.median')), 1),
        ],
        w,
      ),
    );
  };
  e2e('e2e streamscore run, avro, 1 worker', 'avro_1w');
  e2e('e2e streamscore run, avro, 2 workers', 'avro_2w');
  e2e('e2e streamscore run, json, 1 worker', 'json_1w');
  e2e('e2e streamscore run, json, 2 workers', 'json_2w');
  const ll = r['low_latency_max'] as Obj | undefined;
  if (ll && !('error' in ll)) {
    lines.push(
      row(
        [
          'e2e low-latency settings, avro, 1 worker',
          fmt(num(ll['events_per_s'])),
          '',
          fmt(num(get(ll, 'cpu_us_per_event.worker')), 1),
          fmt(num(get(ll, 'cpu_us_per_event.postgres')), 1),
          fmt(num(get(ll, 'cpu_us_per_event.kafka')), 1),
          fmt(num(ll['rss_mb_peak'])),
          fmt(num(ll['event_loop_delay_p99_ms']), 1),
        ],
        w,
      ),
    );
  }
  for (const [name, label] of [
    ['quixstreams', 'peer: Quix Streams (avro)'],
    ['kafka_connect_jdbc', 'peer: Connect + Debezium JDBC sink'],
  ] as const) {
    const p = get(r, `peers.${name}`) as Obj | undefined;
    if (!p) continue;
    if (num(p['events_per_s']) === null) {
      lines.push(row([label, 'null', String(p['reason'] ?? '').slice(0, 60), '', '', '', '', ''], w));
      continue;
    }
    lines.push(
      row(
        [
          label,
          fmt(num(p['events_per_s'])),
          '',
          fmt(num(get(p, 'cpu_us_per_event.worker')), 1),
          fmt(num(get(p, 'cpu_us_per_event.postgres')), 1),
          fmt(num(get(p, 'cpu_us_per_event.kafka')), 1),
          fmt(num(p['rss_mb_peak'])),
          '',
        ],
        w,
      ),
    );
  }
  const sus = r['sustainable'] as Obj | undefined;
  if (sus && !('error' in sus)) {
    const steps = ((sus['steps'] as Obj[]) ?? [])
      .map(
        (s) =>
          `${Math.round((s['load_share'] as number) * 100)} % ${fmt(num(s['offered_events_per_s']))}/s (sent ${fmt(num(s['achieved_events_per_s']))}/s) ${s['flat'] ? 'flat' : `lag +${fmt(num(s['lag_growth_per_s']))}/s`}`,
      )
      .join(' · ');
    lines.push(
      `max sustainable rate with flat lag (avro, ${sus['workers']} workers): ${fmt(num(sus['sustainable_events_per_s']))} events/s  [${steps}]`,
    );
  } else if (sus) lines.push(`max sustainable rate: error ${String(sus['error']).slice(0, 200)}`);
  const lat = r['latency'] as Obj | undefined;
  if (lat && !('error' in lat)) {
    lines.push('');
    lines.push(
      `latency (event scheduled → row written), low-latency settings, 1 worker; max ${fmt(num(lat['max_events_per_s']))} events/s:`,
    );
    lines.push(
      row(
        ['offered load', 'events/s', 'rows/sent', 'p50 ms', 'p95 ms', 'p99 ms', 'p99.9 ms', 'max ms'],
        [40, 11, 19, 9, 9, 9, 8, 8],
      ),
    );
    for (const l of (lat['levels'] as Obj[]) ?? []) {
      lines.push(
        row(
          [
            `${Math.round((l['load_share'] as number) * 100)} %`,
            fmt(num(l['offered_events_per_s'])),
            `${l['rows']}/${l['sent']}`,
            fmt(num(get(l, 'latency_ms.p50')), 1),
            fmt(num(get(l, 'latency_ms.p95')), 1),
            fmt(num(get(l, 'latency_ms.p99')), 1),
            fmt(num(get(l, 'latency_ms.p999')), 1),
            fmt(num(get(l, 'latency_ms.max')), 1),
          ],
          [40, 11, 19, 9, 9, 9, 8, 8],
        ),
      );
      lines.push(
        row(
          [
            '   from the producer call (bench lag out)',
            '',
            `lag max ${fmt(num(l['producer_lag_max_ms']))} ms`,
            fmt(num(get(l, 'latency_from_send_ms.p50')), 1),
            fmt(num(get(l, 'latency_from_send_ms.p95')), 1),
            fmt(num(get(l, 'latency_from_send_ms.p99')), 1),
            fmt(num(get(l, 'latency_from_send_ms.p999')), 1),
            fmt(num(get(l, 'latency_from_send_ms.max')), 1),
          ],
          [40, 11, 19, 9, 9, 9, 8, 8],
        ),
      );
    }
    const idle = lat['idle_process_event_loop_delay_ms'] as Obj | null;
    if (idle) {
      lines.push(
        `   an idle Node process meanwhile: event-loop delay p50 ${fmt(num(idle['p50']), 1)} ms, p99 ${fmt(num(idle['p99']), 1)} ms, max ${fmt(num(idle['max']), 1)} ms (scheduler noise from other load)`,
      );
    }
  } else if (lat) lines.push(`latency: error ${String(lat['error']).slice(0, 200)}`);
  auditLines(r, lines);
  backfillLines(r, lines);
  rolloutLines(r, lines);
  lines.push(...apiReportLines(r['api'] as Parameters<typeof apiReportLines>[0]));
  lines.push('');
  lines.push('ratios:');
  for (const k of [
    'ratio_e2e_to_consume_only',
    'ratio_consume_only_to_kcat',
    'ratio_e2e_to_postgres_sink_alone',
    'ratio_e2e_to_quixstreams',
    'ratio_e2e_to_kafka_connect_jdbc',
    'inference_share_of_worker_cpu',
  ]) {
    lines.push(`  ${k.padEnd(36)} ${fmt(num(r[k]), 3)}`);
  }
  lines.push(
    `headline: e2e_events_per_s ${fmt(num(r['e2e_events_per_s']))} · latency_ms.p99 @50 % ${fmt(num(get(r, 'latency_ms.p99')), 1)} · cpu_us_per_event ${fmt(num(r['cpu_us_per_event']), 1)} · rss_mb_peak ${fmt(num(r['rss_mb_peak']))} · backfill_rows_per_s ${fmt(num(r['backfill_rows_per_s']))} · ${r['duration_s']} s`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** The decision audit log's cost (audit.ts): catch-up with the audit on vs off. */
function auditLines(r: Obj, lines: string[]): void {
  const a = r['audit'] as Obj | undefined;
  if (!a) return;
  lines.push('');
  if ('error' in a) {
    lines.push(`audit log: error ${String(a['error']).slice(0, 200)}`);
    return;
  }
  const cost = num(a['audit_cost']);
  lines.push(
    `audit log: catch-up, ${a['workers']} workers, audit off / on (features ${a['policy']}): ${fmt(num(get(a, 'off.events_per_s.median')))} / ${fmt(num(get(a, 'on.events_per_s.median')))} events/s (n=${get(a, 'off.events_per_s.runs')}/${get(a, 'on.events_per_s.runs')}) → the audit costs ${cost === null ? '—' : `${fmt(cost * 100, 1)} %`} of throughput (target ≤ 20 %); worker CPU ${fmt(num(get(a, 'off.worker_cpu_us_per_event.median')), 1)} → ${fmt(num(get(a, 'on.worker_cpu_us_per_event.median')), 1)} µs/event, Postgres CPU ${fmt(num(get(a, 'off.postgres_cpu_us_per_event.median')), 1)} → ${fmt(num(get(a, 'on.postgres_cpu_us_per_event.median')), 1)} µs/event; ${fmt(num(get(a, 'on.records_per_event.median')), 3)} records per message`,
  );
}

/** Backfills (backfill.ts): rows/s and CPU per row, 1 and 2 workers, with and without the Kafka sink. */
function backfillLines(r: Obj, lines: string[]): void {
  const b = r['backfill'] as Obj | undefined;
  if (!b) return;
  lines.push('');
  if ('error' in b) {
    lines.push(`backfill: error ${String(b['error']).slice(0, 200)}`);
    return;
  }
  lines.push(`backfill (${fmt(num(b['rows']))} rows; worker and Postgres-backend CPU per row):`);
  const widths = [34, 9, 14, 16, 8, 13];
  lines.push(
    row(['variant', 'rows/s', 'worker µs/row', 'postgres µs/row', 'seconds', 'worker RSS MB'], widths),
  );
  for (const x of (b['results'] as Obj[] | undefined) ?? []) {
    lines.push(
      row(
        [
          `${String(x['variant'])}${x['state'] === 'completed' ? '' : ` (${String(x['state'])})`}`,
          fmt(num(x['rows_per_s'])),
          fmt(num(x['worker_cpu_us_per_row']), 1),
          fmt(num(x['postgres_cpu_us_per_row']), 1),
          fmt(num(x['seconds']), 1),
          fmt(num(x['rss_mb_peak'])),
        ],
        widths,
      ),
    );
  }
}

/** Model rollouts (rollout.ts): swap time, shadow on vs off, RSS over swaps. */
function rolloutLines(r: Obj, lines: string[]): void {
  const ro = r['rollout'] as Obj | undefined;
  if (!ro) return;
  const err = (v: unknown) =>
    v && typeof v === 'object' && 'error' in v ? String((v as Obj)['error']).slice(0, 200) : undefined;
  lines.push('');
  lines.push('model rollouts:');
  const st = ro['swap_time'] as Obj | undefined;
  if (err(st)) lines.push(`  swap time: error ${err(st)}`);
  else if (st) {
    lines.push(
      `  swap time (alias move appended → first row of the new version from every worker), ${st['workers']} workers at ${fmt(num(st['offered_events_per_s']))} events/s, ${(st['moves'] as unknown[]).length} moves (${st['missed']} missed): p50 ${fmt(num(get(st, 'swap_ms.p50')))} ms, p95 ${fmt(num(get(st, 'swap_ms.p95')))} ms, p99 ${fmt(num(get(st, 'swap_ms.p99')))} ms, max ${fmt(num(get(st, 'swap_ms.max')))} ms`,
    );
  }
  const so = ro['shadow_overhead'] as Obj | undefined;
  if (err(so)) lines.push(`  shadow overhead: error ${err(so)}`);
  else if (so) {
    const cost = num(so['shadow_cost']);
    lines.push(
      `  catch-up, ${so['workers']} workers, shadow off / on: ${fmt(num(get(so, 'off.events_per_s.median')))} / ${fmt(num(get(so, 'on.events_per_s.median')))} events/s (n=${get(so, 'off.events_per_s.runs')}/${get(so, 'on.events_per_s.runs')}) → shadow costs ${cost === null ? '—' : `${fmt(cost * 100, 1)} %`} of throughput; worker CPU ${fmt(num(get(so, 'off.worker_cpu_us_per_event.median')), 1)} → ${fmt(num(get(so, 'on.worker_cpu_us_per_event.median')), 1)} µs/event; pairs compared ${fmt((num(get(so, 'on.shadow_coverage.median')) ?? Number.NaN) * 100, 1)} % of scored rows`,
    );
  }
  const rs = ro['swap_rss'] as Obj | undefined;
  if (err(rs)) lines.push(`  RSS over swaps: error ${err(rs)}`);
  else if (rs) {
    const mb = rs['rss_mb'] as Record<string, number>;
    const at = ['0', '10', '50', String(rs['swaps'])].filter((k, i, a) => k in mb && a.indexOf(k) === i);
    const growth = num(rs['growth_pct']);
    lines.push(
      `  RSS over ${rs['swaps']} swaps (churn/1 ↔ churn/3, one process, ${rs['gc'] ? 'after forced GC' : 'no forced GC'}): ${at.map((k) => `${k}: ${fmt(mb[k] ?? null, 1)} MB`).join(' · ')} → ${growth === null ? '—' : `${growth >= 0 ? '+' : ''}${fmt(growth, 1)} %`} (${growth !== null && growth > 5 ? 'above 5 %' : 'within 5 %: workers swap in place'})`,
    );
  }
}
