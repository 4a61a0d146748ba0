import type { Admin } from 'kafkajs';

/**
 * Waits until the consumer group is Stable with at least `members` members (a fleet has joined
 * and its partitions are assigned). Resolves false after `timeoutMs`, or as soon as `gaveUp()`
 * says to stop waiting (e.g. the fleet exited).
 */
export async function waitForGroup(
  admin: Admin,
  group: string,
  o: { members: number; timeoutMs: number; gaveUp?: () => boolean },
): Promise<boolean> {
  const end = Date.now() + o.timeoutMs;
  while (Date.now() < end && !o.gaveUp?.()) {
    const g = (await admin.describeGroups([group]).catch(() => undefined))?.groups[0];
    if (g && g.state === 'Stable' && g.members.length >= o.members) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}
