#!/usr/bin/env node
// Runs the test files of test/<suite>/**/*.test.ts, each in its own node process (through tsx),
// and prints one summary over all of them.
// Usage: node test/run.mjs unit [integration e2e] [--only PATTERN]
//
// Why not `node --test`: its parent/child report stream, with --test-force-exit, silently drops
// test verdicts (nodejs/node#64833): a CI dry run here reported 14 fewer tests, exit 0. Run
// directly, a file reports in-process to its own stdout and nothing is lost; the summary below
// adds the files' own counts, and a file that exits non-zero or prints no summary is a failure.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args.splice(onlyIdx, 2)[1] : undefined;
const suites = args.length > 0 ? args : ['unit'];

function walk(dir) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries.sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const files = suites.flatMap((s) => walk(join('test', s))).filter((f) => !only || f.includes(only));
if (files.length === 0) {
  console.error(`no test files found for suites: ${suites.join(', ')}`);
  process.exit(1);
}

// --test-force-exit: a leaked client handle of a stack test must not hang CI after a file's tests
// are done. Stack tests share one stack: one file at a time; unit files two at a time (their
// output is printed whole when each file ends, so it never interleaves).
const nodeArgs = ['--import', 'tsx', '--test-reporter=spec', '--test-force-exit', '--test-timeout=900000'];
const stackFile = (f) => !f.startsWith(join('test', 'unit'));
const COUNTS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo'];

function runFile(file, live) {
  return new Promise((resolve) => {
    const started = Date.now();
    let out = '';
    if (live) process.stdout.write(`\n── ${file}\n`);
    const child = spawn(process.execPath, [...nodeArgs, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (chunk) => {
      const text = chunk.toString();
      out += text;
      if (live) process.stdout.write(text);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', (code, signal) => {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (!live) process.stdout.write(`\n── ${file}\n${out}`);
      const counts = {};
      for (const name of COUNTS) {
        const all = [...out.matchAll(new RegExp(`^ℹ ${name} (\\d+)$`, 'gm'))];
        if (all.length > 0) counts[name] = Number(all[all.length - 1][1]);
      }
      const summarised = counts.tests !== undefined;
      const failed = code !== 0 || !summarised || (counts.fail ?? 0) > 0;
      const why = !summarised
        ? `printed no test summary (exit ${code ?? signal})`
        : code !== 0
          ? `exited with ${code ?? signal}, ${counts.fail ?? 0} failing`
          : '';
      process.stdout.write(`── ${file}: ${failed ? `FAILED, ${why}` : 'ok'} in ${seconds} s\n`);
      resolve({ file, counts, failed, why, out });
    });
  });
}

const results = [];
const unitFiles = files.filter((f) => !stackFile(f));
const stackFiles = files.filter(stackFile);
let next = 0;
async function unitLane() {
  while (next < unitFiles.length) results.push(await runFile(unitFiles[next++], false));
}
const started = Date.now();
await Promise.all([unitLane(), unitLane()]);
if (stackFiles.length > 0) {
  // The example pipelines follow model aliases: set them (if never set) before any stack test.
  const setup = spawnSync(process.execPath, ['--import', 'tsx', join('test', 'support', 'setup-stack.ts')], {
    stdio: 'inherit',
  });
  if (setup.status !== 0) {
    console.error('test/support/setup-stack.ts failed: is the stack up (make stack-up)?');
    process.exit(1);
  }
}
for (const f of stackFiles) results.push(await runFile(f, true));

const total = Object.fromEntries(COUNTS.map((n) => [n, 0]));
for (const r of results) for (const n of COUNTS) total[n] += r.counts[n] ?? 0;
// The fault-injection scenarios' rows (test/support/chaos.ts prints `chaos | …`), as one table.
const chaosRows = results.flatMap((r) => r.out.split('\n').filter((l) => l.startsWith('chaos | ')));
if (chaosRows.length > 0) {
  console.log('\n| scenario | events | lost | stale | regressions | recovery (lag < 5 s) |');
  console.log('|---|---:|---:|---:|---:|---|');
  for (const row of chaosRows) console.log(`| ${row.slice('chaos | '.length)} |`);
}
const failedFiles = results.filter((r) => r.failed);
console.log(`\n${results.length} test files`);
for (const n of COUNTS) console.log(`ℹ ${n} ${total[n]}`);
console.log(`ℹ duration_ms ${Date.now() - started}`);
if (failedFiles.length > 0) {
  console.log(`\n✖ ${failedFiles.length} failing file(s):`);
  for (const r of failedFiles) console.log(`  ${r.file}: ${r.why || 'failing tests'}`);
  process.exit(1);
}
