/**
 * Noticing that the process which started this one is gone.
 *
 * `npx streamscore run …` (npm exec, `npm run`, and the same in yarn and pnpm scripts) runs the bin
 * through `sh -c`, and npm forwards SIGTERM/SIGINT only to that shell, which dies without passing
 * them on. A supervisor that signals the npx process, not its whole process group, would leave the
 * worker consuming, an orphan. A fleet worker whose supervisor was killed is in the same place.
 */

export interface ParentWatch {
  stop(): void;
}

/**
 * Calls `onGone` once when the parent process goes away: the parent PID changes (the process was
 * reparented to init or a subreaper), or the IPC channel of a `fork`ed process disconnects.
 * Polls every `intervalMs` (500) on an unref'd timer; never keeps the process alive by itself.
 */
export function watchParent(onGone: (why: string) => void, opts: { intervalMs?: number } = {}): ParentWatch {
  const parent = process.ppid;
  const ipc = process.channel !== undefined;
  let watching = true;
  const stop = () => {
    watching = false;
    clearInterval(timer);
    if (ipc) process.removeListener('disconnect', onDisconnect);
  };
  const gone = (why: string) => {
    if (!watching) return;
    stop();
    onGone(why);
  };
  const onDisconnect = () => gone(`the supervisor's IPC channel closed (parent process ${parent})`);
  const timer = setInterval(() => {
    if (process.ppid !== parent) gone(`parent process ${parent} exited`);
  }, opts.intervalMs ?? 500);
  timer.unref();
  if (ipc) {
    process.once('disconnect', onDisconnect);
    // A 'disconnect' listener refs the channel: it must not keep the process alive either.
    process.channel?.unref();
  }
  return { stop };
}

/**
 * Whether a `run` process should stop with its parent. `explicit` is `--[no-]exit-with-parent`;
 * left out, yes when a package manager started it (npm sets `npm_lifecycle_event` for npx, npm
 * exec and npm run; yarn and pnpm scripts too) or when it is a fleet worker (`fork`ed, with an
 * IPC channel), and no otherwise, so `nohup node dist/workers/cli/main.js run … &` outlives its shell.
 */
export function shouldExitWithParent(
  explicit: boolean | undefined,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (explicit !== undefined) return explicit;
  return process.channel !== undefined || env['npm_lifecycle_event'] !== undefined;
}
