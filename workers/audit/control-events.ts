import type { ControlEvent } from '../control/events.js';
import { errorMessage } from '../core/errors.js';
import { createPostgresKnex } from '../sinks/postgres/client.js';
import { loadPipeline } from '../spec/load.js';
import type { Pipeline } from '../spec/pipeline-schema.js';
import { firstPostgres } from '../spec/postgres-url.js';
import { appendAuditRecords } from './append.js';
import { auditTableOf } from './config.js';

/** The chain of a pipeline's audit log that holds its rollout events (alias moves, suspensions). */
export const CONTROL_CHAIN = 'control';

/** Valid pipelines (with an audit section) among `files`, or under a folder, matching `wanted`. */
export function auditedPipelines(
  files: readonly string[],
  wanted: (p: Pipeline) => boolean,
): { file: string; pipeline: Pipeline }[] {
  const out: { file: string; pipeline: Pipeline }[] = [];
  for (const file of files) {
    const p = loadPipeline(file).pipeline;
    if (p?.spec.audit !== undefined && wanted(p)) out.push({ file, pipeline: p });
  }
  return out;
}

/**
 * Records a control event (an alias move, a suspension) in the audit log of each pipeline it
 * concerns, in the log's `control` chain, so a decision's record can be read against the rollout
 * state it was made under. The control topic stays the primary record: a log that cannot be
 * reached is reported (returned), never a reason to undo the move.
 */
export async function recordControlEvent(
  pipelines: readonly { file: string; pipeline: Pipeline }[],
  e: ControlEvent,
): Promise<{ recorded: string[]; failed: { file: string; error: string }[] }> {
  const recorded: string[] = [];
  const failed: { file: string; error: string }[] = [];
  for (const { file, pipeline } of pipelines) {
    const conn = firstPostgres(pipeline);
    if (conn === undefined) continue;
    const db = createPostgresKnex({ ...conn, pool_size: 1 }, { applicationName: 'streamscore-cli' });
    try {
      await appendAuditRecords(db, auditTableOf(pipeline)!, CONTROL_CHAIN, [
        {
          key: e.type === 'alias' ? `${e.model}@${e.alias}` : e.pipeline,
          record: { type: 'rollout', decision_id: e.id, pipeline: pipeline.metadata.name, event: e },
        },
      ]);
      recorded.push(file);
    } catch (err) {
      failed.push({ file, error: errorMessage(err) });
    } finally {
      await db.destroy();
    }
  }
  return { recorded, failed };
}
