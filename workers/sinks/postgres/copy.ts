import type { Connection, Submittable } from 'pg';
import type { ColumnType } from '../shared/column-map.js';

/**
 * `COPY … FROM STDIN` on a pg client without extra dependencies: a Submittable that answers the
 * server's CopyInResponse with the prepared text-format chunks. pg's client queues it like any query,
 * so it runs on the transaction's connection in order.
 */
interface CopyConnection extends Connection {
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

interface QueryClient {
  query<T extends Submittable>(submittable: T): T;
}

class CopyFromStdin implements Submittable {
  private settled = false;
  private rowCount = 0;

  constructor(
    private readonly text: string,
    private readonly chunks: readonly Buffer[],
    private readonly done: (err: Error | undefined, rows: number) => void,
  ) {}

  submit(connection: Connection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: CopyConnection): void {
    for (const chunk of this.chunks) connection.sendCopyFromChunk(chunk);
    connection.endCopyFrom();
  }

  handleCommandComplete(msg: { text?: string }): void {
    const n = Number(/(\d+)$/.exec(msg.text ?? '')?.[1]);
    if (Number.isFinite(n)) this.rowCount = n;
  }

  handleError(err: Error): void {
    this.settle(err);
  }

  handleReadyForQuery(): void {
    this.settle(undefined);
  }

  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}

  private settle(err: Error | undefined): void {
    if (this.settled) return;
    this.settled = true;
    this.done(err, this.rowCount);
  }
}

/** Runs `COPY <target> FROM STDIN` (text format) on `client` with the given data; resolves to the row count. */
export function copyFromStdin(
  client: unknown,
  statement: string,
  chunks: readonly Buffer[],
): Promise<number> {
  return new Promise((resolve, reject) => {
    (client as QueryClient).query(
      new CopyFromStdin(statement, chunks, (err, rows) => (err ? reject(err) : resolve(rows))),
    );
  });
}

function escapeText(s: string): string {
  // Only backslash, tab, newline and carriage return are special in COPY text format.
  return /[\\\t\n\r]/.test(s)
    ? s.replaceAll('\\', '\\\\').replaceAll('\t', '\\t').replaceAll('\n', '\\n').replaceAll('\r', '\\r')
    : s;
}

function cell(type: ColumnType, v: unknown): string {
  if (v === null || v === undefined) return '\\N';
  if (type === 'bool') return v ? 't' : 'f';
  if (typeof v === 'string') return escapeText(v);
  return escapeText(String(v));
}

const CHUNK_BYTES = 1 << 16;

/**
 * COPY text-format data for column arrays already converted with `toSqlParam`, split into chunks of
 * about 64 KiB (one CopyData message each).
 */
export function copyTextChunks(
  types: readonly ColumnType[],
  arrays: readonly unknown[][],
  rows: number,
): Buffer[] {
  const chunks: Buffer[] = [];
  let lines: string[] = [];
  let size = 0;
  const width = types.length;
  const cells = new Array<string>(width);
  for (let i = 0; i < rows; i++) {
    for (let c = 0; c < width; c++) cells[c] = cell(types[c]!, arrays[c]![i]);
    const line = cells.join('\t');
    lines.push(line);
    size += line.length + 1;
    if (size >= CHUNK_BYTES) {
      chunks.push(Buffer.from(`${lines.join('\n')}\n`, 'utf8'));
      lines = [];
      size = 0;
    }
  }
  if (lines.length > 0) chunks.push(Buffer.from(`${lines.join('\n')}\n`, 'utf8'));
  return chunks;
}
