import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PipelineError } from '../../../workers/core/errors.js';
import { SuspendGate } from '../../../workers/rollout/gate.js';

const who = { by: 'ops', reason: 'risk review', at: '2026-12-06T00:00:00Z' };

test('an open gate lets batches through at once', async () => {
  const g = new SuspendGate();
  await g.waitOpen();
  assert.equal(g.suspended, undefined);
});

test('a suspended gate holds batches (heartbeating) until resumed', async () => {
  const g = new SuspendGate();
  g.suspend(who);
  let beats = 0;
  let passed = false;
  const waiting = g
    .waitOpen(async () => void beats++, 10)
    .then(() => {
      passed = true;
    });
  await sleep(60);
  assert.equal(passed, false);
  assert.ok(beats >= 2, `heartbeats while held: ${beats}`);
  g.resume();
  await waiting;
  assert.equal(passed, true);
  assert.equal(g.suspended, undefined);
});

test('stopping while suspended abandons the held batches (uncommitted), never lets them write', async () => {
  const g = new SuspendGate();
  g.suspend(who);
  const waiting = g.waitOpen(undefined, 10);
  g.abandonWaiting();
  await assert.rejects(waiting, (e: unknown) => PipelineError.is(e) && e.code === 'BATCH_ABANDONED');
  assert.deepEqual(g.suspended, who);
});

test('batches held by a suspension pass in the order they arrived (a key’s newer prediction never lands first)', async () => {
  const g = new SuspendGate();
  g.suspend(who);
  const passed: number[] = [];
  // Each waiter heartbeats on its own timer; without the turn order they would leave by timer.
  const waiting = [30, 5, 20, 1].map((every, i) => g.waitOpen(undefined, every).then(() => passed.push(i)));
  await sleep(40);
  g.resume();
  await Promise.all(waiting);
  assert.deepEqual(passed, [0, 1, 2, 3]);
});
