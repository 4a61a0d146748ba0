// Preloaded into benchmarked worker processes (node --import ./test/bench/probe.mjs): event-loop
// delay and memory, written as JSON to $BENCH_PROBE_DIR/<pid>.json every 250 ms and at exit.
// SIGUSR2 starts a new measurement window (the bench sends it when the steady state begins).
// Plain JavaScript so it loads before any TypeScript loader; it changes nothing in the worker.
import { renameSync, writeFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const dir = process.env.BENCH_PROBE_DIR;
if (dir) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  let windowStart = Date.now();
  let windowStartMono = Number(process.hrtime.bigint() / 1000n);
  let windows = 0;
  const ms = (ns) => Math.round((ns / 1e6) * 1000) / 1000;
  // Peaks of what V8 and Node account for (MiB), to tell what an RSS peak is made of: the JS heap
  // (reserved, and used at its most), memory outside it (Buffers and other ArrayBuffers, native
  // objects that report it).
  const peak = { heap_total: 0, heap_used: 0, external: 0, array_buffers: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak.heap_total = Math.max(peak.heap_total, m.heapTotal);
    peak.heap_used = Math.max(peak.heap_used, m.heapUsed);
    peak.external = Math.max(peak.external, m.external);
    peak.array_buffers = Math.max(peak.array_buffers, m.arrayBuffers);
    return m;
  };
  const snapshot = () => {
    const m = sample();
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
      heap_used_mb: Math.round(m.heapUsed / 2 ** 20),
      memory_peak_mb: Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, Math.round(v / 2 ** 20)])),
    };
    return JSON.stringify(data);
  };
  const file = `${dir}/${process.pid}.json`;
  // At exit and on SIGUSR2: synchronously (the process is ending, or the bench waits for the file).
  const write = () => {
    try {
      writeFileSync(`${file}.tmp`, snapshot());
      renameSync(`${file}.tmp`, file);
    } catch {
      // the bench may have removed the directory
    }
  };
  // Every 250 ms: off the event loop. A synchronous rename blocked the measured worker's thread
  // (6.7 % of its profile samples while Postgres and Kafka kept the disk busy) and counted in the
  // very event-loop delay this probe reports.
  let pending = false;
  const tick = () => {
    if (pending) return;
    pending = true;
    // its own temporary file: a synchronous write may run meanwhile
    writeFile(`${file}.async.tmp`, snapshot())
      .then(() => rename(`${file}.async.tmp`, file))
      .catch(() => {})
      .finally(() => {
        pending = false;
      });
  };
  setInterval(tick, 250).unref();
  process.on('SIGUSR2', () => {
    h.reset();
    windowStart = Date.now();
    windowStartMono = Number(process.hrtime.bigint() / 1000n);
    windows++;
    write();
  });
  process.on('exit', write);
}
