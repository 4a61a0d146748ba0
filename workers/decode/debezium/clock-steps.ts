/**
 * Keeps the order guard's positions in WAL order when the source database's clock steps backwards,
 * and finds such steps, from the change events themselves.
 *
 * The order guard's position is commit time first (`core/position.ts`): if the source's clock
 * steps back between two changes of one key, the second would get the smaller position and the
 * sinks would keep the first one's prediction. Debezium emits a partition's changes in commit
 * order, so the watch holds, per partition and source database, the latest commit time seen (`held`),
 * and a change whose LSN is above the partition's last one — a change never seen before, in the
 * order the WAL committed it — is given no earlier time than that (`observe` returns the time its
 * position takes): it outranks every change committed before it, whatever the clock said. A change
 * at or below the mark (a replay after a seek, or an early change of a long transaction, which
 * cannot share a key with a change committed between: the row lock) keeps its own time, so a replay
 * never outranks what it was first given.
 *
 * A change whose commit time lies more than `toleranceUs` before the previous change's (commit times
 * of concurrent commits interleave by far less) is a clock that went back: reported once per step
 * (the mark moves to the new change), so the pipeline logs it and counts it.
 *
 * Changes of several databases routed into one topic are held per database (`source.name`).
 * Limits: the marks live in this worker's memory; after a restart, or with a partition handed to
 * another worker, changes take their own commit time again (and a step then is neither seen nor
 * corrected) until the clock is past the times held before. Snapshot reads (`op: r`) carry the
 * snapshot's LSN and start time, not a commit's: they are not compared. Events without an LSN
 * (other connectors) neither.
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
  /** The time its position takes (the latest commit time seen in the partition), until the clock passes it. */
  heldUs: number;
}

interface Mark {
  /** The source database (Debezium's `source.name`): LSNs of two databases are not comparable. */
  server: unknown;
  lsn: number | bigint;
  commitUs: number;
  /** The latest commit time seen, in the partition's order: no later change is given an earlier one. */
  heldUs: number;
  /** The mark of another database whose changes share the partition (a topic routed from several). */
  other: Mark | undefined;
}

/** How far back a commit time may lie behind a lower LSN's before it counts as a step: 1 s. */
export const CLOCK_STEP_TOLERANCE_US = 1_000_000;

export class ClockStepWatch {
  /** By topic, then by partition (no key string built per event). */
  readonly #marks = new Map<string, (Mark | undefined)[]>();
  readonly #report: ((step: ClockStep) => void) | undefined;
  readonly #toleranceUs: number;

  constructor(report: ((step: ClockStep) => void) | undefined, toleranceUs = CLOCK_STEP_TOLERANCE_US) {
    this.#report = report;
    this.#toleranceUs = toleranceUs;
  }

  /**
   * One streamed change (not a snapshot read) of the database `server` (`source.name`), with its
   * LSN and commit time, in its partition's order. Returns the time (µs) its position takes: its
   * commit time, or the latest one held when the change is new and the clock said earlier.
   */
  observe(
    topic: string,
    partition: number,
    offset: string,
    server: unknown,
    lsn: number | bigint,
    commitUs: number,
  ): number {
    let marks = this.#marks.get(topic);
    if (marks === undefined) {
      marks = [];
      this.#marks.set(topic, marks);
    }
    let mark = marks[partition];
    while (mark !== undefined && mark.server !== server) mark = mark.other;
    if (mark === undefined) {
      marks[partition] = { server, lsn, commitUs, heldUs: commitUs, other: marks[partition] };
      return commitUs;
    }
    if (commitUs > mark.heldUs) mark.heldUs = commitUs;
    // A lower or equal LSN is a replay (a rebalance, a restart) or a change of one transaction:
    // its own time (a replay must not outrank what it was given the first time).
    if (lsn <= mark.lsn) return commitUs;
    if (this.#report !== undefined && commitUs < mark.commitUs - this.#toleranceUs) {
      this.#report({
        topic,
        partition,
        offset,
        lsn,
        commitUs,
        previousLsn: mark.lsn,
        previousCommitUs: mark.commitUs,
        heldUs: mark.heldUs,
      });
    }
    mark.lsn = lsn;
    mark.commitUs = commitUs;
    return mark.heldUs;
  }
}
