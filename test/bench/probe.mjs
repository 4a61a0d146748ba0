// Preloaded into benchmarked worker processes (node --import ./test/bench/probe.mjs): event-loop
// delay and memory, written as JSON to $BENCH_PROBE_DIR/<pid>.json every 250 ms and at exit.
// SIGUSR2 starts a new measurement window (the bench sends it when the steady state begins).
// Plain JavaScript so it loads before any TypeScript loader; it changes nothing in the worker.
import { renameSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const dir = process.env.BENCH_PROBE_DIR;
if (dir) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  let windowStart = Date.now();
  let windowStartMono = Number(process.hrtime.bigint() / 1000n);
  let windows = 0;
  const ms = (ns) => Math.round((ns / 1e6) * 1000) / 1000;
  const write = () => {
    const file = `${dir}/${process.pid}.json`;
    const data = {
      pid: process.pid,
      ppid: process.ppid,
      at: Date.now(),
      window_start: windowStart,
      window_start_mono_us: windowStartMono,
      windows,
      event_loop_delay_ms: {
        p50: ms(h.percentile(50)),
        p99: ms(h.percentile(99)),
        p999: ms(h.percentile(99.9)),
        max: ms(h.max),
        mean: ms(h.mean),
        count: h.count,
      },
      max_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      heap_used_mb: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
    };
    try {
      writeFileSync(`${file}.tmp`, JSON.stringify(data));
      renameSync(`${file}.tmp`, file);
    } catch {
      // the bench may have removed the directory
    }
  };
  setInterval(write, 250).unref();
  process.on('SIGUSR2', () => {
    h.reset();
    windowStart = Date.now();
    windowStartMono = Number(process.hrtime.bigint() / 1000n);
    windows++;
    write();
  });
  process.on('exit', write);
}
