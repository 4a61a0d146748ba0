/**
 * The batches of one partition that are fetched but not yet written by every sink, oldest first.
 *
 * Two batches may always be in flight (the next fetch overlaps the previous batch's writes); more
 * while they hold at most `maxRecords` records together. So a fast sink (the CRM table) keeps
 * receiving small batches while a slow one (a warehouse flushing once a second) gathers them,
 * and memory stays bounded: under load batches are large and the window is two batches.
 */
export class InFlightWindow {
  private readonly batches: { done: Promise<void>; records: number }[] = [];
  private records = 0;

  constructor(private readonly maxRecords: number) {}

  /** Completion of the newest batch in flight (a new batch's commit waits for it). */
  get newest(): Promise<void> | undefined {
    return this.batches[this.batches.length - 1]?.done;
  }

  get size(): number {
    return this.batches.length;
  }

  /** Registers a batch; it leaves the window when `done` settles (batches settle in order). */
  add(done: Promise<void>, records: number): void {
    const entry = { done, records };
    this.batches.push(entry);
    this.records += records;
    const leave = () => {
      const i = this.batches.indexOf(entry);
      if (i >= 0) this.batches.splice(i, 1);
      this.records -= records;
    };
    done.then(leave, leave);
  }

  /** Resolves when the partition may fetch again. */
  async ready(): Promise<void> {
    while (this.batches.length >= 2 && this.records > this.maxRecords) {
      await this.batches[0]!.done.catch(() => undefined);
    }
  }
}
