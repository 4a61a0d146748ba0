/**
 * Finds the source database's clock stepping backwards, from the change events themselves.
 *
 * The order guard's position is commit time first (`core/position.ts`): if the source's clock
 * steps back between two changes of one key, the second gets the smaller position and the sinks
 * keep the first one's prediction. That cannot be seen per key without the sink's row, but it can be
 * seen per partition: Debezium emits a partition's changes in WAL order, so a change whose LSN is
 * above the partition's last one while its commit time lies well before that change's is a clock
 * that went back (commit times of concurrent commits interleave by far less than `toleranceUs`).
 * Each step is reported once (the partition's mark moves to the new change), so the pipeline can log
 * it and count it: loud, where the guard alone would be silent.
 *
 * Changes of several databases routed into one topic are compared per database (`source.name`).
 * Limits: a partition's mark lives in this worker's memory; a step across a restart or a partition
 * handed to another worker is not seen. Snapshot reads (`op: r`) carry the snapshot's LSN and start
 * time, not a commit's: they are not compared. Events without an LSN (other connectors) neither.
 */
export interface ClockStep {
  topic: string;
  partition: number;
  offset: string;
  /** The change that committed "before" its predecessor: its LSN and commit time (µs). */
  lsn: number | bigint;
  commitUs: number;
  /** The partition's previous change (highest LSN seen). */
  previousLsn: number | bigint;
  previousCommitUs: number;
}

interface Mark {
  /** The source database (Debezium's `source.name`): LSNs of two databases are not comparable. */
  server: unknown;
  lsn: number | bigint;
  commitUs: number;
  /** The mark of another database whose changes share the partition (a topic routed from several). */
  other: Mark | undefined;
}

/** How far back a commit time may lie behind a lower LSN's before it counts as a step: 1 s. */
export const CLOCK_STEP_TOLERANCE_US = 1_000_000;

export class ClockStepWatch {
  /** By topic, then by partition (no key string built per event). */
  readonly #marks = new Map<string, (Mark | undefined)[]>();
  readonly #report: (step: ClockStep) => void;
  readonly #toleranceUs: number;

  constructor(report: (step: ClockStep) => void, toleranceUs = CLOCK_STEP_TOLERANCE_US) {
    this.#report = report;
    this.#toleranceUs = toleranceUs;
  }

  /**
   * One streamed change (not a snapshot read) of the database `server` (`source.name`), with its
   * LSN and commit time, in its partition's order.
   */
  observe(
    topic: string,
    partition: number,
    offset: string,
    server: unknown,
    lsn: number | bigint,
    commitUs: number,
  ): void {
    let marks = this.#marks.get(topic);
    if (marks === undefined) {
      marks = [];
      this.#marks.set(topic, marks);
    }
    let mark = marks[partition];
    while (mark !== undefined && mark.server !== server) mark = mark.other;
    if (mark === undefined) {
      marks[partition] = { server, lsn, commitUs, other: marks[partition] };
      return;
    }
    // A lower or equal LSN is a replay (a rebalance, a restart) or a change of one transaction.
    if (lsn <= mark.lsn) return;
    if (commitUs < mark.commitUs - this.#toleranceUs) {
      this.#report({
        topic,
        partition,
        offset,
        lsn,
        commitUs,
        previousLsn: mark.lsn,
        previousCommitUs: mark.commitUs,
      });
    }
    mark.lsn = lsn;
    mark.commitUs = commitUs;
  }
}
