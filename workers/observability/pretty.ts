/**
 * A small pino destination for people: each JSON log line becomes
 * `12:03:04.512 WARN  Message. key=value key="two words"`, coloured when the terminal takes colour.
 * Redaction happened before (at the logger); this only reshapes what pino wrote.
 */

const LEVELS: Record<number, { name: string; colour: string }> = {
  10: { name: 'TRACE', colour: '\u001b[90m' },
  20: { name: 'DEBUG', colour: '\u001b[36m' },
  30: { name: 'INFO', colour: '\u001b[32m' },
  40: { name: 'WARN', colour: '\u001b[33m' },
  50: { name: 'ERROR', colour: '\u001b[31m' },
  60: { name: 'FATAL', colour: '\u001b[35m' },
};
const RESET = '\u001b[0m';
const DIM = '\u001b[2m';
/** pino's own fields, shown in the prefix or not at all. */
const OMITTED = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

export interface PrettyOptions {
  colour: boolean;
  /** Show an error's stack (debug level); otherwise its message only. */
  stacks: boolean;
}

function clock(time: unknown): string {
  const d = typeof time === 'number' ? new Date(time) : new Date();
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function valueText(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number')) return v.join(',');
  return JSON.stringify(v) ?? String(v);
}

/** One pino JSON line as a human-readable line (without the newline); unparsable text as it is. */
export function prettyLine(json: string, opts: PrettyOptions): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  if (entry === null || typeof entry !== 'object') return json.trimEnd();
  const level = LEVELS[Number(entry['level'])] ?? { name: String(entry['level']), colour: '' };
  const paint = (colour: string, text: string) => (opts.colour && colour ? `${colour}${text}${RESET}` : text);
  const parts = [paint(DIM, clock(entry['time'])), paint(level.colour, level.name.padEnd(5))];
  if (typeof entry['msg'] === 'string') parts.push(entry['msg']);
  let stack: string | undefined;
  for (const [k, v] of Object.entries(entry)) {
    if (OMITTED.has(k) || v === undefined) continue;
    if ((k === 'err' || k === 'error') && v !== null && typeof v === 'object') {
      const e = v as { message?: unknown; stack?: unknown };
      parts.push(`${paint(DIM, `${k}=`)}${valueText(String(e.message ?? JSON.stringify(v)))}`);
      if (opts.stacks && typeof e.stack === 'string') stack = e.stack;
      continue;
    }
    parts.push(`${paint(DIM, `${k}=`)}${valueText(v)}`);
  }
  return stack === undefined ? parts.join(' ') : `${parts.join(' ')}\n${stack}`;
}

/** A pino destination writing pretty lines to `out` (one `write` per pino line). */
export function prettyDestination(
  out: { write(text: string): unknown },
  opts: PrettyOptions,
): { write(line: string): void } {
  return {
    write(line: string) {
      out.write(`${prettyLine(line, opts)}\n`);
    },
  };
}
