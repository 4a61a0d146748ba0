import { civilPart, MS_PER_DAY } from '../runtime.js';
import { T } from '../types.js';
import { returnsFixed, timestamp1, timestamp2 } from './helpers.js';
import type { FunctionSpec } from './spec.js';

/** Length of the average Gregorian month: 365.2425 / 12 days. */
export const DAYS_PER_MONTH = 30.436875;
const MS_PER_MONTH = DAYS_PER_MONTH * MS_PER_DAY;
const MS_PER_HOUR = 3_600_000;

const TS = [{ name: 't', kind: 'timestamp' }] as const;
const SPAN = [
  { name: 'from', kind: 'timestamp' },
  { name: 'to', kind: 'timestamp' },
] as const;
const int = returnsFixed(T.int);
const number = returnsFixed(T.number);

const dayNumber = (ms: number): number => Math.floor(ms / MS_PER_DAY);

export const TIME: readonly FunctionSpec[] = [
  {
    name: 'now',
    theme: 'time',
    params: [],
    returns: returnsFixed(T.timestamp),
    pure: false,
    description:
      'The current time from the pipeline’s clock (read per record). As a whole expression it gives epoch ms.',
    example: 'now()',
    result: '1710504000000',
    compile: (_args, ctx) => {
      const now = ctx.now;
      return () => now();
    },
  },
  {
    name: 'epoch_ms',
    theme: 'time',
    params: TS,
    returns: int,
    description: 'Milliseconds since 1970-01-01T00:00:00Z.',
    example: "epoch_ms('1970-01-02')",
    result: '86400000',
    compile: timestamp1((ms) => ms),
  },
  {
    name: 'year',
    theme: 'time',
    params: TS,
    returns: int,
    description: 'Year (UTC).',
    example: "year('2024-03-15T12:00:00Z')",
    result: '2024',
    compile: timestamp1((ms) => civilPart(dayNumber(ms), 'year')),
  },
  {
    name: 'month',
    theme: 'time',
    params: TS,
    returns: int,
    description: 'Month, 1-12 (UTC).',
    example: "month('2024-03-15T12:00:00Z')",
    result: '3',
    compile: timestamp1((ms) => civilPart(dayNumber(ms), 'month')),
  },
  {
    name: 'day_of_month',
    theme: 'time',
    params: TS,
    returns: int,
    description: 'Day of the month, 1-31 (UTC).',
    example: "day_of_month('2024-03-15T12:00:00Z')",
    result: '15',
    compile: timestamp1((ms) => civilPart(dayNumber(ms), 'day')),
  },
  {
    name: 'day_of_week',
    theme: 'time',
    params: TS,
    returns: int,
    description: 'ISO day of the week, Monday = 1 ... Sunday = 7 (UTC).',
    example: "day_of_week('2024-03-15T12:00:00Z')",
    result: '5',
    compile: timestamp1((ms) => ((((dayNumber(ms) + 3) % 7) + 7) % 7) + 1),
  },
  {
    name: 'hour',
    theme: 'time',
    params: TS,
    returns: int,
    description: 'Hour of the day, 0-23 (UTC).',
    example: "hour('2024-03-15T12:00:00Z')",
    result: '12',
    compile: timestamp1((ms) => Math.floor((ms - dayNumber(ms) * MS_PER_DAY) / MS_PER_HOUR)),
  },
  {
    name: 'days_between',
    theme: 'time',
    params: SPAN,
    returns: number,
    description: '(to - from) in days of 86,400,000 ms, as a fraction; negative when to is earlier.',
    example: "days_between('2024-01-01', '2024-03-01T12:00:00Z')",
    result: '60.5',
    compile: timestamp2((from, to) => (to - from) / MS_PER_DAY),
  },
  {
    name: 'months_between',
    theme: 'time',
    params: SPAN,
    returns: number,
    description: `(to - from) in average Gregorian months of ${DAYS_PER_MONTH} days (365.2425 / 12), as a fraction: not calendar-aware, so the same span always gives the same number.`,
    example: "months_between('2023-01-01', '2024-01-01')",
    result: '11.992032690609664',
    compile: timestamp2((from, to) => (to - from) / MS_PER_MONTH),
  },
];
