import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDocument } from 'yaml';

/**
 * A copy of pipelines/churn-scoring.yaml for one test, in a temporary directory (model registry and
 * input schema paths made absolute). `warehouse: false` drops the Snowflake sinks for tests whose
 * subject is elsewhere (chaos, backfill volume): the emulator's MERGE throughput is not what they
 * measure. The shadow is dropped unless `shadow: true`, the audit log unless `audit: true` (its
 * table then follows CHURN_AUDIT_TABLE: such a test sets one of its own). Its champion follows the
 * `champion` alias (set by test/support/setup-stack.ts before stack tests run).
 */
export function churnPipelineCopy(
  id: string,
  opts: {
    warehouse?: boolean;
    shadow?: boolean;
    audit?: boolean;
    edit?: (doc: ReturnType<typeof parseDocument>) => void;
  } = {},
): string {
  const doc = parseDocument(readFileSync('pipelines/churn-scoring.yaml', 'utf8'), { merge: true });
  doc.setIn(['spec', 'model', 'registry'], resolve('pipelines/models'));
  if (opts.shadow !== true) doc.deleteIn(['spec', 'model', 'shadow']);
  if (opts.audit !== true) doc.deleteIn(['spec', 'audit']);
  doc.setIn(['spec', 'features', 'input_schema'], resolve('schemas/crm.customers.avsc'));
  if (opts.warehouse === false) {
    const sinks = doc.getIn(['spec', 'sinks']) as { items: { get(k: string): unknown }[] };
    sinks.items = sinks.items.filter((s) => s.get('snowflake') === undefined);
  }
  opts.edit?.(doc);
  const dir = join(tmpdir(), `streamscore-test-${id}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'churn-scoring.yaml');
  writeFileSync(file, doc.toString());
  return file;
}

/**
 * A copy of pipelines/fraud-scoring.yaml for one test, in a temporary directory (model, registry and
 * input schema paths made absolute), without its audit log; `edit` changes it further (e.g. its
 * `serve` section). Returns the file's path.
 */
export function fraudPipelineCopy(
  id: string,
  name: string,
  edit?: (doc: ReturnType<typeof parseDocument>) => void,
): string {
  const doc = parseDocument(readFileSync('pipelines/fraud-scoring.yaml', 'utf8'));
  doc.setIn(['metadata', 'name'], name);
  doc.setIn(['spec', 'model', 'registry'], resolve('pipelines/models'));
  doc.setIn(['spec', 'model', 'path'], resolve('pipelines/models/fraud/1/model.onnx'));
  doc.setIn(['spec', 'features', 'input_schema'], resolve('schemas/payments.transactions.avsc'));
  doc.deleteIn(['spec', 'audit']);
  edit?.(doc);
  const dir = join(tmpdir(), `streamscore-test-${id}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, doc.toString());
  return file;
}
