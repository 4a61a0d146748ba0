/**
 * What a fleet's stall watchdogs logged (workers/sources/kafka/watchdog.ts): partitions found
 * stalled (each restarts its consumer), and outages of its lag probe (one warning each).
 */
export function watchdogEvents(output: string): { stalls: number; unreadable: number } {
  const count = (re: RegExp) => output.match(re)?.length ?? 0;
  return {
    stalls: count(/stalled: \d+ records behind and no progress/g),
    unreadable: count(/Stall watchdog cannot read the lag/g),
  };
}
