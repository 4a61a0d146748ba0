/**
 * Helpers of the monitoring tests (issue 17, traces and Prometheus): a small plain-JSON pipeline
 * with a shadow and a dead-letter topic, messages produced with headers, a worker's /metrics, and
 * the metric names the alert rules and the Grafana dashboard query.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, parseDocument } from 'yaml';
import { cleanUp, type SmallPipeline, smallPipeline } from '../e2e/commit-support.js';
import { deleteTopics, dropPgTables } from './stack.js';

export interface MonitoredPipeline extends SmallPipeline {
  /** metadata.name (`<name>-<id>`, as the topic and the group). */
  name: string;
  dlq: string;
}

/**
 * The commit tests' small pipeline (one-partition JSON topic → churn v1 → one Postgres table) with
 * churn v2 as its shadow, a dead-letter topic and drift windows of 10 rows. Every name carries `id`.
 */
export function monitoredPipeline(name: string, id: string): MonitoredPipeline {
  const dlq = `${name}-${id}.dlq`;
  const p = smallPipeline(name, id, {
    errors: { dead_letter_topic: dlq },
    model: {
      registry: resolve('pipelines/models'),
      outputs: { p: 'probabilities[1]', label: 'label' },
      shadow: {
        version: 2,
        compare: { score: 'p', label: 'label', threshold: 0.5 },
        table: `ml.${name.replaceAll('-', '_')}_${id}__shadow`,
        limits: { max_flip_rate: 0.05 },
      },
    },
  });
  // Drift windows of 10 rows: the features (f1…f8) are not the reference's, the outputs are, and
  // this traffic is nothing like the training population: the outputs alarm in the first windows.
  const doc = parseDocument(readFileSync(p.file, 'utf8'));
  doc.setIn(['spec', 'monitoring', 'window'], { events: 10, max_seconds: 1, min_events: 5 });
  writeFileSync(p.file, doc.toString());
  return { ...p, name: `${name}-${id}`, dlq };
}

/** Drops what a test created: tables (the shadow's too), topics, group, the pipeline file. */
export async function cleanUpMonitored(p: MonitoredPipeline): Promise<void> {
  await dropPgTables(`${p.table}__shadow`);
  await cleanUp(p);
  await deleteTopics([p.dlq]);
}

/** A worker's /metrics text; undefined while it does not answer. */
export async function scrape(port: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

/** The series names of a Prometheus text exposition (`streamscore_x_total`, `…_bucket`, …). */
export function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(line);
    if (m) names.add(m[0]);
  }
  return names;
}

/** The value of the first series of `name` whose labels include every one given. */
export function seriesValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

/**
 * Metrics Prometheus makes itself rather than scraping them from a worker: `up` (whether the
 * target answered). The rules may use it; it is never looked for in /metrics.
 */
export const PROMETHEUS_OWN = new Set(['up']);

/** The metric names a PromQL expression selects (streamscore's, and Prometheus' own `up`). */
export function promqlMetrics(expr: string): string[] {
  // Strings ("…", '…') and label matchers ({…}) hold no metric name.
  const bare = expr.replaceAll(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""').replaceAll(/\{[^}]*\}/g, '{}');
  const out = new Set<string>();
  for (const m of bare.matchAll(/\b(streamscore_[a-z0-9_]+|up)\b(?!\s*\()/g)) out.add(m[1]!);
  return [...out];
}

const RULES_DIR = 'infra/prometheus';
const DASHBOARD_DIR = 'infra/grafana';

/** Every alert rule: its name and expression, from infra/prometheus/*.rules.yml. */
export function alertRules(): { alert: string; expr: string; file: string }[] {
  const out: { alert: string; expr: string; file: string }[] = [];
  for (const f of readdirSync(RULES_DIR).filter((n) => n.endsWith('.rules.yml'))) {
    const doc = parse(readFileSync(join(RULES_DIR, f), 'utf8')) as {
      groups: { rules: { alert?: string; record?: string; expr: string }[] }[];
    };
    for (const g of doc.groups)
      for (const r of g.rules) out.push({ alert: r.alert ?? r.record ?? '?', expr: String(r.expr), file: f });
  }
  return out;
}

interface Panel {
  title?: string;
  type?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Every query of the dashboards in infra/grafana/: panel targets and template variable queries. */
export function dashboardQueries(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const f of readdirSync(DASHBOARD_DIR).filter((n) => n.endsWith('.json'))) {
    const d = JSON.parse(readFileSync(join(DASHBOARD_DIR, f), 'utf8')) as {
      panels?: Panel[];
      templating?: { list?: { name: string; query?: string | { query?: string } }[] };
    };
    const walk = (panels: Panel[] | undefined) => {
      for (const p of panels ?? []) {
        for (const t of p.targets ?? []) if (t.expr) out.push({ where: `${f}: ${p.title}`, expr: t.expr });
        walk(p.panels);
      }
    };
    walk(d.panels);
    for (const v of d.templating?.list ?? []) {
      const q = typeof v.query === 'string' ? v.query : v.query?.query;
      if (q) out.push({ where: `${f}: variable ${v.name}`, expr: q });
    }
  }
  return out;
}

/** The drift monitor's metrics (issue 17 parts 1–3, workers/drift/metrics.ts). */
export const DRIFT_METRICS = [
  'streamscore_feature_drift',
  'streamscore_feature_drift_threshold',
  'streamscore_feature_drift_alarm',
  'streamscore_feature_null_rate',
  'streamscore_feature_out_of_range_rate',
  'streamscore_drift_windows_total',
];
