/**
 * kafkajs 2.2.4 groups a send's messages by partition with a reduce that copies the partition's
 * array for every message (`[...current, message]` in `producer/groupMessagesPerPartition.js`):
 * about 3–4 µs per message at 512 a send, quadratic in a partition's share (50,000 messages: 0.5 s).
 * The same grouping in one pass replaces it in Node's module cache before kafkajs loads its
 * producer (this module is imported first by the CLI and the library entry), so the result is
 * identical: same partitions, same messages, same order.
 *
 * If kafkajs was loaded before, or its file is not where 2.2.4 keeps it, nothing is replaced
 * (`kafkajsGroupingPatched()` says so; a test checks the CLI's path) and kafkajs' own runs.
 */
import { replaceKafkajsModule } from './kafkajs-patch.js';

interface GroupArgs {
  topic: string;
  partitionMetadata: readonly unknown[];
  messages: readonly unknown[];
  partitioner: (args: { topic: string; partitionMetadata: readonly unknown[]; message: unknown }) => number;
}

/** kafkajs' grouping, in one pass: `{ [partition]: messages in their order }`. */
export function groupMessagesPerPartition(args: GroupArgs): Record<number, unknown[]> {
  const { topic, partitionMetadata, messages, partitioner } = args;
  const result: Record<number, unknown[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    const list = result[partition];
    if (list === undefined) result[partition] = [message];
    else list.push(message);
  }
  return result;
}

const patched = replaceKafkajsModule({
  target: 'kafkajs/src/producer/groupMessagesPerPartition.js',
  requiredBy: 'kafkajs/src/producer/sendMessages.js',
  arity: 1,
  replacement: groupMessagesPerPartition,
});

/** Whether kafkajs' producer groups messages with `groupMessagesPerPartition` above. */
export function kafkajsGroupingPatched(): boolean {
  return patched;
}
