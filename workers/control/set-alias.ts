import type { Kafka } from 'kafkajs';
import { aliasKey, type ControlState, eventStamp } from './events.js';
import { appendControlEvent } from './topic.js';

export interface AliasTarget {
  model: string;
  alias: string;
  version: string;
  /** The target's sha256, verified by the caller. */
  sha256: string;
  by: string;
  /** The reason recorded for a first setting; `moveReason` for moving it from another version. */
  reason: string;
  moveReason?: string;
}

/**
 * Points an alias at a version with a `promote` event, as `streamscore model promote` would, unless
 * it already points there. With `ifUnset`, an alias set to another version is left alone. Returns
 * the version it pointed to before (`null`: never set) and whether an event was appended.
 */
export async function setAlias(
  kafka: Kafka,
  topic: string,
  state: ControlState,
  t: AliasTarget,
  opts: { ifUnset?: boolean } = {},
): Promise<{ from: string | null; appended: boolean }> {
  const from = state.aliases.get(aliasKey(t.model, t.alias))?.version ?? null;
  if (from === t.version || (opts.ifUnset === true && from !== null)) return { from, appended: false };
  await appendControlEvent(kafka, topic, {
    type: 'alias',
    action: 'promote',
    model: t.model,
    alias: t.alias,
    version: t.version,
    from,
    sha256: t.sha256,
    by: t.by,
    reason: from === null ? t.reason : (t.moveReason ?? t.reason),
    ...eventStamp(),
  });
  return { from, appended: true };
}
