import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The dependencies whose versions matter in a bug report: the clients and the inference runtime. */
export const KEY_DEPENDENCIES = [
  'onnxruntime-node',
  'kafkajs',
  'pg',
  'snowflake-sdk',
  'bullmq',
  'ioredis',
  'fastify',
] as const;

/** Written by `npm run build` (tools/build-info.mjs) next to the compiled workers/: the commit built. */
export const BUILD_INFO_FILE = 'build-info.json';

export interface VersionInfo {
  version: string;
  /** The git commit built (with `-dirty` when tracked files differed), or undefined when unknown. */
  commit: string | undefined;
  node: string;
  dependencies: { name: string; version: string | undefined }[];
}

/** The directory of streamscore's package.json, searched upwards from this module. */
function packageRoot(from: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (
      existsSync(file) &&
      (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'streamscore'
    )
      return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A dependency's installed version: its package.json, found upwards from its entry point when not exported. */
function dependencyVersion(require: NodeJS.Require, name: string): string | undefined {
  try {
    return String((require(`${name}/package.json`) as { version: string }).version);
  } catch {
    try {
      for (let dir = dirname(require.resolve(name)); dirname(dir) !== dir; dir = dirname(dir)) {
        const pkg = readJson(join(dir, 'package.json'));
        if (pkg?.['name'] === name) return String(pkg['version']);
      }
    } catch {
      // not installed
    }
    return undefined;
  }
}

/** The commit: the build's record (dist/build-info.json), else the checkout's HEAD when run from source. */
function commitOf(root: string | undefined): string | undefined {
  const built = readJson(fileURLToPath(new URL(`../../${BUILD_INFO_FILE}`, import.meta.url)));
  if (typeof built?.['commit'] === 'string' && built['commit'] !== '') return built['commit'];
  if (root === undefined || !existsSync(join(root, '.git'))) return undefined;
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
}

export function versionInfo(): VersionInfo {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = packageRoot(here);
  const pkg = root === undefined ? undefined : readJson(join(root, 'package.json'));
  const require = createRequire(join(root ?? here, 'package.json'));
  return {
    version: String(pkg?.['version'] ?? 'unknown'),
    commit: commitOf(root),
    node: process.versions.node,
    dependencies: KEY_DEPENDENCIES.map((name) => ({ name, version: dependencyVersion(require, name) })),
  };
}

/** `streamscore --version`: the version and commit on the first line, then one dependency per line. */
export function versionText(info: VersionInfo = versionInfo()): string {
  const width = Math.max(...info.dependencies.map((d) => d.name.length), 'node'.length);
  const lines = [`streamscore ${info.version} (commit ${info.commit ?? 'unknown'})`];
  lines.push(`  ${'node'.padEnd(width)}  ${info.node}`);
  for (const d of info.dependencies) lines.push(`  ${d.name.padEnd(width)}  ${d.version ?? 'not installed'}`);
  return `${lines.join('\n')}\n`;
}
