import { userInfo } from 'node:os';
import { z } from 'zod';
import { errorMessage, PipelineError } from '../core/errors.js';
import { Uuid7Source } from '../core/uuid7.js';

/**
 * The records of the control topic: alias moves and pipeline suspensions. Every record is kept
 * (retention.ms=-1, no compaction): the topic is the audit trail, and the state every worker acts on
 * is the fold of it from the beginning (`applyControlEvent`).
 */
export type ControlEvent = AliasEvent | PipelineEvent;

export interface AliasEvent {
  type: 'alias';
  action: 'promote' | 'rollback';
  model: string;
  alias: string;
  version: string;
  /** The version the alias pointed to when the move was decided; null for the first. */
  from: string | null;
  /** sha256 of the target's model.onnx, as verified by whoever moved it. */
  sha256: string;
  by: string;
  reason: string;
  /** ISO time of the move. */
  at: string;
  id: string;
}

export interface PipelineEvent {
  type: 'pipeline';
  action: 'suspend' | 'resume';
  pipeline: string;
  by: string;
  reason: string;
  at: string;
  id: string;
}

export interface AliasState {
  model: string;
  alias: string;
  /** The current target. */
  version: string;
  sha256: string;
  /** Targets in order: promote pushes, rollback pops; the last is `version`. */
  stack: string[];
  /** Every event of this alias, in topic order. */
  history: AliasEvent[];
}

export interface PipelineState {
  pipeline: string;
  suspended: boolean;
  by: string;
  reason: string;
  at: string;
  /** Every suspend and resume of this pipeline, in topic order. */
  history: PipelineEvent[];
}

export interface ControlState {
  /** `${model}/${alias}` → state. */
  aliases: Map<string, AliasState>;
  pipelines: Map<string, PipelineState>;
}

export function emptyControlState(): ControlState {
  return { aliases: new Map(), pipelines: new Map() };
}

export function aliasKey(model: string, alias: string): string {
  return `${model}/${alias}`;
}

/** The Kafka record key of an event: `alias/<model>/<alias>` or `pipeline/<name>`. */
export function controlRecordKey(e: ControlEvent): string {
  return e.type === 'alias' ? `alias/${e.model}/${e.alias}` : `pipeline/${e.pipeline}`;
}

/**
 * Folds one event into `state` (mutating it). Deterministic, so every watcher that reads the same
 * records holds the same state:
 * - promote: the alias points to `version`; pushed onto the stack unless it already is the target
 *   (a no-op promote is kept in the history, the stack is unchanged).
 * - rollback: the alias points to `version`; the top of the stack is popped, and `version` pushed
 *   unless it is the new top. A rollback to the current target (a second CLI rolling back the same
 *   move at the same time) changes nothing but the history.
 * - suspend / resume: the pipeline's flag, with who, why and when.
 */
export function applyControlEvent(state: ControlState, e: ControlEvent): void {
  if (e.type === 'pipeline') {
    const prev = state.pipelines.get(e.pipeline);
    state.pipelines.set(e.pipeline, {
      pipeline: e.pipeline,
      suspended: e.action === 'suspend',
      by: e.by,
      reason: e.reason,
      at: e.at,
      history: [...(prev?.history ?? []), e],
    });
    return;
  }
  const key = aliasKey(e.model, e.alias);
  const a = state.aliases.get(key);
  if (!a) {
    state.aliases.set(key, {
      model: e.model,
      alias: e.alias,
      version: e.version,
      sha256: e.sha256,
      stack: [e.version],
      history: [e],
    });
    return;
  }
  a.history.push(e);
  if (a.version === e.version) return;
  if (e.action === 'rollback') {
    a.stack.pop();
    if (a.stack[a.stack.length - 1] !== e.version) a.stack.push(e.version);
  } else {
    a.stack.push(e.version);
  }
  a.version = e.version;
  a.sha256 = e.sha256;
}

/** The target a rollback of `a` returns to (the one below the top of the stack), if any. */
export function previousTarget(a: AliasState): string | undefined {
  return a.stack.length >= 2 ? a.stack[a.stack.length - 2] : undefined;
}

/** The event that made the alias's current target current (its last move to `version`). */
export function currentSince(a: AliasState): AliasEvent | undefined {
  let since: AliasEvent | undefined;
  let version: string | undefined;
  for (const e of a.history) {
    if (e.version !== version) since = e;
    version = e.version;
  }
  return since;
}

const nonEmpty = z.string().min(1);
const common = {
  by: nonEmpty,
  reason: z.string(),
  at: z.iso.datetime({ offset: true }),
  id: nonEmpty,
};
const eventSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('alias'),
    action: z.enum(['promote', 'rollback']),
    model: nonEmpty,
    alias: nonEmpty,
    version: nonEmpty,
    from: nonEmpty.nullable(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits'),
    ...common,
  }),
  z.strictObject({
    type: z.literal('pipeline'),
    action: z.enum(['suspend', 'resume']),
    pipeline: nonEmpty,
    ...common,
  }),
]);

/**
 * Parses one record value. `where` (e.g. `streamscore.control/0@17`) starts the message of the
 * PipelineError (code CONTROL_RECORD_INVALID) thrown for JSON that does not parse (with its
 * position) or an object that is not an event (with the field).
 */
export function parseControlEvent(value: Buffer | string, where: string): ControlEvent {
  const invalid = (detail: string, cause?: unknown) =>
    new PipelineError(`control record ${where}: ${detail}`, {
      code: 'CONTROL_RECORD_INVALID',
      stage: 'runtime',
      position: where,
      cause,
    });
  const text = typeof value === 'string' ? value : value.toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalid(`not JSON: ${errorMessage(err)}`, err);
  }
  const parsed = eventSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(record)'}: ${i.message}`)
      .join('; ');
    throw invalid(`not a control event: ${issues}`);
  }
  return parsed.data;
}

/** Who made a move: the OS user, or `unknown` where there is none (a container without passwd entry). */
export function defaultActor(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown';
  }
}

/** A fresh event id and time. */
export function eventStamp(now = new Date()): { at: string; id: string } {
  return { at: now.toISOString(), id: new Uuid7Source().next(now.getTime()) };
}
