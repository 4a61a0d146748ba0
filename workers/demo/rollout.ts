import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { defaultActor, readControlState } from '../control/index.js';
import { setAlias } from '../control/set-alias.js';
import { readVersion, verifyVersion } from '../models/catalog.js';
import { parseShadowTableName, type ShadowSettings, shadowSettingsOf } from '../shadow/config.js';
import { DEFAULT_MIN_SAMPLES } from '../shadow/stats.js';
import { loadPipeline } from '../spec/load.js';

/** Where the demo pipeline's models and their comparison live (read from its YAML). */
export interface RolloutSettings {
  model: string;
  /** The alias the pipeline follows (champion). */
  alias: string;
  /** The shadow's alias (challenger). */
  shadowAlias: string;
  controlTopic: string;
  registry: string;
  shadow: ShadowSettings;
}

/** The aliases the demo starts from: the champion decides with 1, the challenger (3) runs in shadow. */
export const DEMO_ALIASES = { champion: '1', challenger: '3' } as const;

export function rolloutSettings(file: string): RolloutSettings {
  const loaded = loadPipeline(file);
  const p = loaded.pipeline;
  if (p === undefined) {
    throw new Error(`${file} is not a valid pipeline: ${loaded.problems.map((x) => x.message).join('; ')}`);
  }
  const m = p.spec.model;
  const shadow = shadowSettingsOf(p);
  if (m.alias === undefined || m.shadow?.alias === undefined || shadow === undefined) {
    throw new Error(`${file}: the demo needs model.alias and model.shadow.alias`);
  }
  return {
    model: m.name,
    alias: m.alias,
    shadowAlias: m.shadow.alias,
    controlTopic: m.control_topic,
    registry: resolve(dirname(file), m.registry),
    shadow,
  };
}

/**
 * Puts the pipeline's aliases where the story starts, on its control topic: an alias never set is
 * set (as `model promote` would, sha256 verified), one pointing elsewhere is moved back with a
 * promote whose reason says so (so the demo can run again after any earlier run). Returns what it
 * did, one line per alias.
 */
export async function resetAliases(kafka: Kafka, s: RolloutSettings): Promise<string[]> {
  const state = await readControlState(kafka, s.controlTopic);
  const lines: string[] = [];
  const targets: [string, string][] = [
    [s.alias, DEMO_ALIASES.champion],
    [s.shadowAlias, DEMO_ALIASES.challenger],
  ];
  for (const [alias, version] of targets) {
    const { from, appended } = await setAlias(kafka, s.controlTopic, state, {
      model: s.model,
      alias,
      version,
      sha256: verifyVersion(readVersion(s.registry, s.model, version)),
      by: defaultActor(),
      reason: 'demo reset: example alias',
      moveReason: `demo reset: ${alias} back to ${version}`,
    });
    lines.push(
      `${s.model}@${alias} → ${version}${appended ? ` (${from === null ? 'set now' : `moved back from ${from}`})` : ''}`,
    );
  }
  return lines;
}

/** The comparison table's name, quoted for SQL. */
function shadowTableSql(s: RolloutSettings): string {
  const { schema, table } = parseShadowTableName(s.shadow.table);
  return `${schema ? `"${schema}".` : ''}"${table}"`;
}

/** Drops the comparison table (the workers create it again), so the report covers this run only. */
export async function dropShadowTable(db: pg.Client, s: RolloutSettings): Promise<void> {
  await db.query(`drop table if exists ${shadowTableSql(s)}`);
}

export interface StoryDeps {
  settings: RolloutSettings;
  pipelineFile: string;
  /** A connection of its own: polled every 50 ms. */
  db: pg.Client;
  scores: string;
  /** The demo's start, for `shadow report --since`. */
  since: Date;
  /**
   * Streaming started then, for `seconds`: the report waits for `min_samples` pairs until the end of
   * it at most, the promote for a third of it, the rollback for two thirds.
   */
  startedAt: number;
  seconds: number;
  cli: { node: string; args: string[] };
  out: (line: string) => void;
}

/** A measured move: from the control event's time to the first row the new version wrote. */
export interface MoveTiming {
  version: string;
  at: Date;
  /** The first such row's scored_at, after the move. */
  scoredMs: number;
  /** When the poll first saw it in the scores table, after the move. */
  seenMs: number;
  /** How long the CLI command took (start-up, checks, the append). */
  commandMs: number;
}

export interface StoryResult {
  verdict: string;
  promote: MoveTiming;
  rollback: MoveTiming;
}

const POLL_MS = 50;
const ROW_TIMEOUT_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The rollout told while traffic flows: the shadow report once the comparison table holds
 * `min_samples` pairs (or at the end of the traffic), then the challenger promoted to champion and
 * rolled back, each timed from its control event to the first row its version wrote.
 */
export async function rolloutStory(d: StoryDeps): Promise<StoryResult> {
  const { settings: s, out } = d;
  const need = s.shadow.limits.min_samples ?? DEFAULT_MIN_SAMPLES;
  let pairs = await shadowPairs(d.db, s);
  while (pairs < need && Date.now() < d.startedAt + d.seconds * 1000) {
    await sleep(500);
    pairs = await shadowPairs(d.db, s);
  }
  out(
    `   shadow: ${pairs} pairs of ${s.model}@${s.alias} (${DEMO_ALIASES.champion}) vs ${s.model}@${s.shadowAlias} (${DEMO_ALIASES.challenger}) in ${s.shadow.table}${pairs < need ? ` (fewer than min_samples ${need})` : ''}`,
  );
  const report = await captureCli(d, ['shadow', 'report', d.pipelineFile, '--since', d.since.toISOString()]);
  if (report.code !== 0 && report.code !== 1 && report.code !== 3) {
    throw new Error(`shadow report exited ${report.code}`);
  }
  const verdict = /^verdict: (\S+)/m.exec(report.stdout)?.[1] ?? '?';
  const champion = DEMO_ALIASES.champion;
  const challenger = DEMO_ALIASES.challenger;

  await sleep(d.startedAt + (d.seconds * 1000) / 3 - Date.now());
  const promote = await timedMove(d, challenger, [
    'model',
    'promote',
    s.model,
    challenger,
    '--alias',
    s.alias,
    '--reason',
    `demo: promote ${challenger} while traffic flows (shadow verdict ${verdict})`,
  ]);
  out(
    `   promote → first row with model_version ${challenger} in ${d.scores}: ${promote.seenMs} ms (scored ${promote.scoredMs} ms after the move; the command took ${promote.commandMs} ms)`,
  );

  await sleep(d.startedAt + (d.seconds * 2000) / 3 - Date.now());
  const rollback = await timedMove(d, champion, [
    'model',
    'rollback',
    s.model,
    '--alias',
    s.alias,
    '--reason',
    `demo: back to ${champion}`,
  ]);
  out(
    `   rollback → first row with model_version ${champion} in ${d.scores}: ${rollback.seenMs} ms (scored ${rollback.scoredMs} ms after the move; the command took ${rollback.commandMs} ms)`,
  );
  return { verdict, promote, rollback };
}

/** `model history` of this run's moves (earlier ones counted, not shown). */
export async function printHistory(d: StoryDeps): Promise<void> {
  const r = await captureCli(d, ['model', 'history', d.settings.model], { quiet: true });
  if (r.code !== 0) throw new Error(`model history exited ${r.code}`);
  const [head, ...rows] = r.stdout.trimEnd().split('\n');
  const since = d.since.toISOString();
  const recent = rows.filter((l) => l.slice(0, 24) >= since);
  d.out(`   $ streamscore model history ${d.settings.model}`);
  if (rows.length > recent.length) d.out(`   (${rows.length - recent.length} earlier moves not shown)`);
  for (const l of [head ?? '', ...recent]) d.out(`   ${l}`);
}

/**
 * Runs a `model promote|rollback` and polls the scores table every 50 ms for the first row with
 * `version` scored after the move (the control event's `at`, printed by the command).
 */
async function timedMove(d: StoryDeps, version: string, args: string[]): Promise<MoveTiming> {
  const started = new Date();
  let done: { code: number | null; stdout: string; ms: number } | undefined;
  const command = captureCli(d, args).then((r) => {
    done = { ...r, ms: Date.now() - started.getTime() };
  });
  let after = started;
  let at: Date | undefined;
  let found: { seen: number; scored: Date } | undefined;
  const deadline = Date.now() + ROW_TIMEOUT_MS;
  for (;;) {
    if (done !== undefined && at === undefined) {
      if (done.code !== 0) throw new Error(`streamscore ${args.slice(0, 3).join(' ')} exited ${done.code}`);
      const text = /(?:promoted|rolled back) at (\S+) by /.exec(done.stdout)?.[1];
      at = text ? new Date(text) : started;
      after = at;
    }
    if (found === undefined) {
      const r = await d.db.query(
        `select min(scored_at) as t from ${d.scores} where model_version = $1 and scored_at >= $2`,
        [version, after],
      );
      const t = r.rows[0]?.t as Date | null;
      if (t) found = { seen: Date.now(), scored: t };
    }
    if (found !== undefined && at !== undefined) {
      if (found.scored >= at) break;
      found = undefined; // scored before the move was appended: not this move's
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `no row with model_version ${version} in ${d.scores} within ${ROW_TIMEOUT_MS / 1000} s of streamscore ${args.slice(0, 3).join(' ')}`,
      );
    }
    await sleep(POLL_MS);
  }
  await command;
  return {
    version,
    at: at!,
    scoredMs: found.scored.getTime() - at!.getTime(),
    seenMs: found.seen - at!.getTime(),
    commandMs: done!.ms,
  };
}

async function shadowPairs(db: pg.Client, s: RolloutSettings): Promise<number> {
  const name = shadowTableSql(s);
  const exists = await db.query('select to_regclass($1) is not null as e', [name]);
  if (!exists.rows[0].e) return 0;
  const r = await db.query(`select count(*)::int as n from ${name}`);
  return Number(r.rows[0].n);
}

/**
 * Runs `streamscore <args>` (the demo's own CLI) and prints it with its output, indented, in one
 * piece once it exits (the status lines of the traffic never cut through it).
 */
function captureCli(
  d: { cli: { node: string; args: string[] }; out: (line: string) => void },
  args: string[],
  o: { quiet?: boolean } = {},
): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(d.cli.node, [...d.cli.args, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => {
      if (!o.quiet) {
        d.out(`   $ streamscore ${args.map((a) => (/[\s"]/.test(a) ? JSON.stringify(a) : a)).join(' ')}`);
        for (const l of stdout.trimEnd().split('\n')) d.out(`   ${l}`.trimEnd());
      }
      resolvePromise({ code, stdout });
    });
  });
}
