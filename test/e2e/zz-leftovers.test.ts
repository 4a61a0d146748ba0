import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeLeftovers, findLeftovers, isClean, type Leftovers } from '../support/leftovers.js';
import { waitFor } from '../support/stack.js';

// Runs last (test/run.mjs runs the files of a suite in name order, e2e after integration): every
// test before it removed what it created. What counts as test-created, and what the stack and the
// demo may keep, is defined in test/support/leftovers.ts. A suite running beside this one on the
// same stack (another checkout) makes its live objects count here too.
test('the suite left no replication slot, connector, topic, group, schema, table or key behind', async () => {
  let last: Leftovers | undefined;
  // Deletions the last files asked for (a connector's slot, a topic) may take a moment to show.
  const clean = await waitFor(
    'the stack to hold nothing test-created',
    async () => {
      last = await findLeftovers();
      return isClean(last);
    },
    30000,
  ).catch(() => false);
  assert.ok(
    clean,
    `left behind (remove with \`npx tsx test/support/leftovers.ts --remove\` once no test runs):\n${describeLeftovers(last!)}`,
  );
});
