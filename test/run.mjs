#!/usr/bin/env node
// Runs node's built-in test runner (through tsx) over test/<suite>/**/*.test.ts.
// Usage: node test/run.mjs unit [integration e2e] [--only PATTERN]
import { spawnSync } from 'node:child_process';
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
// Integration and e2e tests share one stack: run files one at a time there; unit tests in parallel.
const serial = suites.some((s) => s !== 'unit');
const nodeArgs = ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=900000'];
// --test-force-exit: a leaked client handle of a stack test must not hang CI after a file's tests
// are done. Only with one file at a time: with concurrent files it silently drops test verdicts
// from the report, exit code 0 (nodejs/node#64833; seen here as 14 unit tests missing from a run).
// Unit tests hold no clients and exit by themselves.
if (serial) nodeArgs.push('--test-concurrency=1', '--test-force-exit');
const res = spawnSync(process.execPath, [...nodeArgs, ...files], { stdio: 'inherit' });
process.exit(res.status ?? 1);
