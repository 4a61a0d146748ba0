import { hash } from 'node:crypto';

/**
 * A write's audit records as the block stores them — UTF-8 text, a record per line — built straight
 * into one Buffer, with each record's sha256 (32 bytes each, in order) in another. Both go to
 * Postgres as they are (text and bytea parameters): no joined string of the whole block, no second
 * UTF-8 encoding by the client, no hex text per hash (the big joined strings were old-generation
 * garbage on every write). One instance per write: its buffers are handed to the statement.
 */
export class BlockText {
  #text: Buffer;
  #length = 0;
  readonly hashes: Buffer;
  #count = 0;

  constructor(records: number, bytesPerRecord = 1024) {
    this.#text = Buffer.allocUnsafe(Math.max(256, records * bytesPerRecord));
    this.hashes = Buffer.allocUnsafe(records * 32);
  }

  /** Appends a record (JSON text: no raw newline) and its sha256. */
  add(record: string): void {
    const need = this.#length + 1 + record.length * 3;
    if (need > this.#text.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.#text.length * 2));
      this.#text.copy(grown, 0, 0, this.#length);
      this.#text = grown;
    }
    if (this.#count > 0) this.#text[this.#length++] = 0x0a;
    const start = this.#length;
    this.#length += this.#text.write(record, start);
    const digest = hash('sha256', this.#text.subarray(start, this.#length), 'buffer') as unknown as Buffer;
    digest.copy(this.hashes, this.#count * 32);
    this.#count++;
  }

  /** The records, a line each (a view of the buffer: valid until the next `add`). */
  get text(): Buffer {
    return this.#text.subarray(0, this.#length);
  }

  get count(): number {
    return this.#count;
  }
}
