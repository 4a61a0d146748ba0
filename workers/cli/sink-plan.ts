import { silentLogger } from '../core/silent-logger.js';
import type { Logger, Sink } from '../core/types.js';
import { FeatureMapper } from '../features/mapper.js';
import type { OnnxModel } from '../inference/index.js';
import { predictionSchemaOf } from '../runtime/assemble.js';
import { createSinks } from '../sinks/create.js';
import { createKafkaClient } from '../sources/kafka/client.js';
import type { CheckedSpec } from '../spec/checks.js';
import { only } from '../spec/one-of.js';
import type { Pipeline } from '../spec/pipeline-schema.js';

const quiet: Logger = silentLogger;

/** What each sink will write: the table DDL, or the topic and format. Nothing is connected. */
export async function describeSinks(p: Pipeline, checked: CheckedSpec, model: OnnxModel): Promise<string[]> {
  const names = new FeatureMapper({
    pipeline: p.metadata.name,
    key: checked.key!,
    features: checked.features,
    scoreOps: p.spec.features.score_ops,
  }).names;
  const schema = predictionSchemaOf(checked, model, names);
  const kafka = createKafkaClient(p.spec.source.kafka!, quiet);
  const out: string[] = [];
  let sinks: Sink[] = [];
  try {
    sinks = createSinks(p.spec.sinks, { pipeline: p.metadata.name, schema, kafka, logger: quiet });
  } catch (err) {
    return [`(cannot build the sinks: ${err instanceof Error ? err.message : String(err)})`];
  }
  for (const [i, sink] of sinks.entries()) {
    const [type, cfg] = only(p.spec.sinks[i]!);
    const c = cfg as { on_delete?: string; format?: string; topic?: string; create_table?: boolean };
    const ddl = (sink as Partial<{ ddl(): string }>).ddl?.();
    if (ddl) {
      out.push(
        `${sink.name} (on delete: ${c.on_delete}; ${c.create_table ? 'created when missing' : 'verified at start-up'})`,
      );
      for (const line of ddl.split('\n')) out.push(`  ${line}`);
      const grants = (sink as Partial<{ grants(): string[] }>).grants?.();
      if (grants) {
        out.push('  -- least privilege: what the role of the url needs (README: Least privilege)');
        for (const g of grants) out.push(`  ${g}`);
      }
    } else {
      out.push(
        `${type}: topic ${c.topic} as ${c.format}, keyed by the entity key; fields ${schema.fields.map((f) => f.name).join(', ')}`,
      );
    }
  }
  for (const s of sinks) await s.close().catch(() => undefined);
  return out;
}
