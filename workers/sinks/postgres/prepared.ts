import { hash } from 'node:crypto';
import type { Knex } from 'knex';
import type { Statement } from './statements.js';

/** Statement names kept by SQL text (a sink issues a handful of shapes). */
const MAX_NAMES = 64;

/**
 * Runs the sink's statements. Those of a fixed shape (their SQL text does not depend on the
 * write's size: the `unnest` and COPY upserts, the deletes, the audit-wrapped upserts) run as
 * named, server-side prepared statements when `prepared` (`prepared_statements`, the default):
 * node-postgres sends a name's text once per connection, and Postgres parses it once and, after a
 * few executions, plans it once (its generic plan: parameters are arrays, so the plan does not
 * depend on their values). Measured at the sink (`test/bench/audit-sink.ts`): −0.3 µs per row
 * without the audit, −1.5 µs with it (its statement is large to parse and plan).
 *
 * A name is `ss_` and a hash of the text, so that a connection never holds one name for two texts.
 * Behind a transaction-pooling proxy that does not track prepared statements (PgBouncer before
 * 1.21, or without `max_prepared_statements`), a name parsed on one server connection is missing
 * on the next: Postgres refuses the statement (`prepared statement … does not exist`) and the
 * write fails loudly; `prepared_statements: false` sends every statement unnamed.
 */
export class StatementRunner {
  readonly #names = new Map<string, string>();

  constructor(private readonly prepared: boolean) {}

  /** Runs `st`; `fixedShape`: its text is one of a few the sink reuses (may be prepared). */
  run<T = unknown>(db: Knex | Knex.Transaction, st: Statement, fixedShape: boolean): Promise<T> {
    const q = db.raw(st.sql, st.bindings as Knex.RawBinding[]);
    if (!this.prepared || !fixedShape) return q as unknown as Promise<T>;
    return q.options({ name: this.nameOf(st.sql) }) as unknown as Promise<T>;
  }

  nameOf(sql: string): string {
    let name = this.#names.get(sql);
    if (name === undefined) {
      name = `ss_${hash('sha256', sql, 'hex').slice(0, 32)}`;
      if (this.#names.size >= MAX_NAMES) this.#names.clear();
      this.#names.set(sql, name);
    }
    return name;
  }
}
