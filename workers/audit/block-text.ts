import { hash } from 'node:crypto';

/**
 * A write's audit records as the block stores them — UTF-8 bytes (a decision's record is ASCII), a
 * record (JSON) per line — built straight into one Buffer, with each record's sha256 (32 bytes
 * each, in order) in another and each record's end (byte offset) in `ends`. Both buffers go to
 * Postgres as they are (binary bytea parameters): no joined string of the whole block, no second
 * UTF-8 encoding by the client, no hex text per hash; a chain's records, being adjacent, are one `substring` there. One instance
 * per write: its buffers are handed to the statement.
 */
export class BlockText {
  #bytes: Buffer;
  #length = 0;
  #hashes: Buffer;
  /** Record i's end: the offset just past its last byte (the next one starts a byte later). */
  readonly ends: number[] = [];

  /**
   * `reuse`: buffers of an earlier block whose statement has completed (the sink keeps a few),
   * used when large enough: a block of thousands of records otherwise allocates megabytes of
   * buffers on every write, and the garbage collector pays for them.
   */
  constructor(records: number, bytesPerRecord = 1024, reuse?: BlockBuffers) {
    const size = Math.max(256, records * bytesPerRecord);
    this.#bytes = reuse !== undefined && reuse.bytes.length >= size ? reuse.bytes : Buffer.allocUnsafe(size);
    this.#hashes =
      reuse !== undefined && reuse.hashes.length >= records * 32
        ? reuse.hashes
        : Buffer.allocUnsafe(records * 32);
  }

  /** The buffers (the grown ones, if the records outgrew them), for a later block to reuse. */
  get buffers(): BlockBuffers {
    return { bytes: this.#bytes, hashes: this.#hashes };
  }

  /**
   * Appends a record (JSON text: no raw newline) and its sha256. `ascii`: the caller guarantees
   * the text is ASCII alone (record.ts auditRecord), copied in as it is rather than UTF-8 encoded.
   */
  add(record: string, ascii = false): void {
    const need = this.#length + 1 + record.length * 3;
    if (need > this.#bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.#bytes.length * 2));
      this.#bytes.copy(grown, 0, 0, this.#length);
      this.#bytes = grown;
    }
    const count = this.ends.length;
    if (count > 0) this.#bytes[this.#length++] = 0x0a;
    const start = this.#length;
    this.#length += ascii ? this.#bytes.write(record, start, 'latin1') : this.#bytes.write(record, start);
    // The digest as a 32-character latin1 ("binary") string, copied in as bytes: no Buffer per record.
    if ((count + 1) * 32 > this.#hashes.length) {
      const grown = Buffer.allocUnsafe(Math.max((count + 1) * 32, this.#hashes.length * 2));
      this.#hashes.copy(grown, 0, 0, count * 32);
      this.#hashes = grown;
    }
    this.#hashes.write(
      hash('sha256', this.#bytes.subarray(start, this.#length), 'binary'),
      count * 32,
      'latin1',
    );
    this.ends.push(this.#length);
  }

  /** The records, a line each (a view of the buffer: valid until the next `add`). */
  get bytes(): Buffer {
    return this.#bytes.subarray(0, this.#length);
  }

  /** The records' sha256, 32 bytes each, in order (a view of the buffer). */
  get hashes(): Buffer {
    return this.#hashes.subarray(0, this.ends.length * 32);
  }

  get count(): number {
    return this.ends.length;
  }
}

/** A block's two buffers: its records' bytes and their sha256. */
export interface BlockBuffers {
  bytes: Buffer;
  hashes: Buffer;
}
