#!/usr/bin/env node
// Records the commit being built in dist/build-info.json, read by `streamscore --version`.
// STREAMSCORE_GIT_COMMIT wins (a container build has no .git); otherwise git, when there is a checkout.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';

function git(args) {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function commit() {
  const given = process.env.STREAMSCORE_GIT_COMMIT;
  if (given) return given;
  const head = git(['rev-parse', '--short=12', 'HEAD']);
  if (head === undefined) return '';
  // Tracked files that differ from HEAD: the build is not exactly that commit.
  const dirty = git(['status', '--porcelain', '--untracked-files=no']);
  return dirty ? `${head}-dirty` : head;
}

mkdirSync('dist', { recursive: true });
writeFileSync('dist/build-info.json', `${JSON.stringify({ commit: commit() })}\n`);
