import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/types.js';

/** The variable naming the directory of Prometheus' file-based service discovery (set by the local stack). */
export const SCRAPE_TARGETS_ENV = 'STREAMSCORE_PROM_SD_DIR';

export interface ScrapeTarget {
  /** Removes the target file (idempotent; also done at process exit). */
  remove(): void;
  readonly file: string;
}

const PREFIX = 'streamscore-';

/**
 * Announces a process's `/metrics` to Prometheus: writes `<dir>/streamscore-<host>-<pid>-<port>.json`
 * (a file_sd target group: `127.0.0.1:<port>` with the given labels) atomically, and removes it
 * on `remove()` or when the process exits. Files of this host whose process is gone (a SIGKILLed
 * worker) are removed first, so Prometheus does not keep scraping dead ports. Without a
 * directory (the variable unset), nothing is written. Labels must not be named like a metric's
 * own (`pipeline`): Prometheus would rename those.
 */
export function announceScrapeTarget(opts: {
  dir: string | undefined;
  port: number;
  labels: Record<string, string>;
  logger: Logger;
}): ScrapeTarget | undefined {
  const { dir, port, logger } = opts;
  if (dir === undefined || dir === '' || port <= 0) return undefined;
  const host = hostname().replaceAll(/[^A-Za-z0-9_.-]/g, '_');
  const file = join(dir, `${PREFIX}${host}-${process.pid}-${port}.json`);
  try {
    mkdirSync(dir, { recursive: true });
    removeDeadTargets(dir, host);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: opts.labels }])}\n`);
    renameSync(tmp, file);
  } catch (err) {
    logger.warn({ dir, error: errorMessage(err) }, 'Could not write the Prometheus scrape target file.');
    return undefined;
  }
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    process.off('exit', remove);
    rmSync(file, { force: true });
  };
  process.on('exit', remove);
  return { file, remove };
}

/** Removes this host's target files whose process no longer runs. */
function removeDeadTargets(dir: string, host: string): void {
  const mine = new RegExp(`^${PREFIX}${host.replaceAll('.', '\\.')}-(\\d+)-\\d+\\.json$`);
  for (const name of readdirSync(dir)) {
    const m = mine.exec(name);
    if (m === null || alive(Number(m[1]))) continue;
    rmSync(join(dir, name), { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
