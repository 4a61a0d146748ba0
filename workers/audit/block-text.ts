import { hash } from 'node:crypto';

/**
 * A write's audit records as the block stores them — UTF-8 bytes, a record (JSON) per line — built
 * straight into one Buffer, with each record's sha256 (32 bytes each, in order) in another and each
 * record's end (byte offset) in `ends`. Both buffers go to Postgres as they are (binary bytea
 * parameters): no joined string of the whole block, no second UTF-8 encoding by the client, no
 * hex text per hash; a chain's records, being adjacent, are one `substring` there. One instance
 * per write: its buffers are handed to the statement.
 */
export class BlockText {
  #bytes: Buffer;
  #length = 0;
  readonly hashes: Buffer;
  /** Record i's end: the offset just past its last byte (the next one starts a byte later). */
  readonly ends: number[] = [];

  constructor(records: number, bytesPerRecord = 1024) {
    this.#bytes = Buffer.allocUnsafe(Math.max(256, records * bytesPerRecord));
    this.hashes = Buffer.allocUnsafe(records * 32);
  }

  /** Appends a record (JSON text: no raw newline) and its sha256. */
  add(record: string): void {
    const need = this.#length + 1 + record.length * 3;
    if (need > this.#bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.#bytes.length * 2));
      this.#bytes.copy(grown, 0, 0, this.#length);
      this.#bytes = grown;
    }
    const count = this.ends.length;
    if (count > 0) this.#bytes[this.#length++] = 0x0a;
    const start = this.#length;
    this.#length += this.#bytes.write(record, start);
    const digest = hash('sha256', this.#bytes.subarray(start, this.#length), 'buffer') as unknown as Buffer;
    digest.copy(this.hashes, count * 32);
    this.ends.push(this.#length);
  }

  /** The records, a line each (a view of the buffer: valid until the next `add`). */
  get bytes(): Buffer {
    return this.#bytes.subarray(0, this.#length);
  }

  get count(): number {
    return this.ends.length;
  }
}
