import type { FieldType } from '../core/types.js';
import type { CheckedSpec } from '../spec/checks.js';
import { only } from '../spec/one-of.js';
import type { Pipeline } from '../spec/pipeline-schema.js';

/** What each sink will write: the table DDL (or topic and format). */
export async function describeSinks(
  p: Pipeline,
  _checked: CheckedSpec,
  fields: readonly { name: string; type: FieldType }[],
): Promise<string[]> {
  const out: string[] = [];
  for (const sink of p.spec.sinks) {
    const [type, cfg] = only(sink);
    const c = cfg as {
      table?: string;
      topic?: string;
      format?: string;
      columns?: Record<string, string>;
      key?: string[];
    };
    if (c.topic)
      out.push(
        `${type}: topic ${c.topic} as ${c.format}, keyed by the entity key; fields ${fields.map((f) => f.name).join(', ')}`,
      );
    else
      out.push(
        `${type}: ${c.table} key (${c.key?.join(', ')}) columns ${Object.entries(c.columns ?? {})
          .map(([k, v]) => `${k}←${v}`)
          .join(', ')}`,
      );
  }
  return out;
}
