import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { PostgresAuditOptions } from '../sinks/postgres/audit.js';
import { pipelineTable } from '../sinks/shared/identifiers.js';
import type { Pipeline } from '../spec/pipeline-schema.js';

/** `ml.<pipeline name, every character but letters and digits as _>__audit` (≤ 63 characters). */
export function defaultAuditTable(pipeline: string): string {
  return pipelineTable(pipeline, '__audit');
}

/** The audit table of a pipeline with an `audit` section. */
export function auditTableOf(p: Pipeline): string | undefined {
  const a = p.spec.audit;
  return a === undefined ? undefined : (a.table ?? defaultAuditTable(p.metadata.name));
}

/** The first postgres sink's options for the pipeline's audit log, if it keeps one. */
export function auditOptions(
  file: string,
  p: Pipeline,
  onWritten: (audited: number, written: number) => void,
  onOverrideRate?: (rate: number) => void,
): PostgresAuditOptions | undefined {
  const a = p.spec.audit;
  if (a === undefined) return undefined;
  return {
    table: auditTableOf(p)!,
    retentionDays: a.retention_days,
    context: {
      pipeline: p.metadata.name,
      pipelineSha256: createHash('sha256').update(readFileSync(file)).digest('hex'),
      worker: `${hostname()}-${process.pid}`,
      policies: a.features,
      defaultPolicy: a.default_policy,
      hashKey: a.hash_key?.reveal(),
    },
    onWritten,
    ...(onOverrideRate ? { onOverrideRate } : {}),
  };
}
