/** A partition's next offset to read, as the group commit takes it. */
export interface PartitionOffset {
  topic: string;
  partition: number;
  /** Decimal string (offsets are 64-bit). */
  offset: string;
}

/**
 * Commits consumer-group offsets off the fetch loop: `add` records a partition's next offset
 * (the highest one wins while it waits) and returns at once; one commit request is in flight at a time and
 * carries every partition that moved meanwhile. The fetch loop no longer waits a broker round trip
 * per batch, and a burst of batches costs one request.
 *
 * A failed commit loses nothing: the records are written, and the offsets either go out with the
 * next commit or are re-read by the partition's next owner (sinks are idempotent). Failures are
 * reported to `onError` (the source logs them).
 */
export class OffsetCommitter {
  private readonly pending = new Map<string, PartitionOffset>();
  /** Called once the request carrying what was added with them is settled (error when it failed). */
  private sent: ((err?: unknown) => void)[] = [];
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly commit: (offsets: PartitionOffset[]) => Promise<void>,
    private readonly onError: (err: unknown, offsets: PartitionOffset[]) => void,
  ) {}

  /** Offsets waiting for the next commit request. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** `onSent` is called once the request carrying this offset (or a later one) settles. */
  add(o: PartitionOffset, onSent?: (err?: unknown) => void): void {
    const key = `${o.topic}\u0000${o.partition}`;
    const queued = this.pending.get(key);
    if (onSent !== undefined) this.sent.push(onSent);
    if (queued === undefined || BigInt(o.offset) > BigInt(queued.offset)) this.pending.set(key, o);
    this.kick();
  }

  /**
   * Drops the offsets waiting for the next request (a rebalance ended the generation they were
   * written in: sent now, they would be committed in the next one, maybe for a partition another
   * member owns). Returns them; a request already in flight is not recalled.
   */
  clear(): PartitionOffset[] {
    const dropped = [...this.pending.values()];
    this.pending.clear();
    const sent = this.sent;
    this.sent = [];
    for (const f of sent) f(new Error('not committed: the group rebalanced first'));
    return dropped;
  }

  /** Resolves once everything added so far has been sent (committed, or reported as failed). */
  async flush(): Promise<void> {
    while (this.inFlight !== undefined || this.pending.size > 0) {
      this.kick();
      await this.inFlight;
    }
  }

  private kick(): void {
    if (this.inFlight !== undefined || this.pending.size === 0) return;
    const offsets = [...this.pending.values()];
    this.pending.clear();
    const sent = this.sent;
    this.sent = [];
    this.inFlight = this.commit(offsets).then(
      () => {
        for (const f of sent) f();
        this.settle();
      },
      (err: unknown) => {
        this.onError(err, offsets);
        for (const f of sent) f(err);
        this.settle();
      },
    );
  }

  private settle(): void {
    this.inFlight = undefined;
    this.kick();
  }
}
