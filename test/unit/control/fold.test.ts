import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type AliasEvent,
  applyControlEvent,
  type ControlEvent,
  controlRecordKey,
  currentSince,
  emptyControlState,
  type PipelineEvent,
  previousTarget,
} from '../../../workers/control/events.js';

const sha = (v: string) => v.repeat(64).slice(0, 64);
let clock = Date.parse('2026-01-01T00:00:00Z');

function move(
  action: 'promote' | 'rollback',
  version: string,
  from: string | null,
  alias = 'champion',
): AliasEvent {
  clock += 1000;
  return {
    type: 'alias',
    action,
    model: 'churn',
    alias,
    version,
    from,
    sha256: sha(version),
    by: 'ops',
    reason: `${action} ${version}`,
    at: new Date(clock).toISOString(),
    id: `e${clock}`,
  };
}

function pipeline(action: 'suspend' | 'resume', reason: string): PipelineEvent {
  clock += 1000;
  return {
    type: 'pipeline',
    action,
    pipeline: 'churn-scoring',
    by: 'risk',
    reason,
    at: new Date(clock).toISOString(),
    id: `p${clock}`,
  };
}

function fold(events: ControlEvent[]) {
  const s = emptyControlState();
  for (const e of events) applyControlEvent(s, e);
  return s;
}

describe('control fold', () => {
  it('promote pushes: the alias points to the last promoted version, with its sha256', () => {
    const s = fold([move('promote', '1', null), move('promote', '2', '1'), move('promote', '3', '2')]);
    const a = s.aliases.get('churn/champion')!;
    assert.equal(a.version, '3');
    assert.equal(a.sha256, sha('3'));
    assert.deepEqual(a.stack, ['1', '2', '3']);
    assert.equal(a.history.length, 3);
    assert.equal(previousTarget(a), '2');
  });

  it('rollback pops back to the previous target, twice in a row too', () => {
    const s = fold([move('promote', '1', null), move('promote', '2', '1'), move('promote', '3', '2')]);
    applyControlEvent(s, move('rollback', '2', '3'));
    const a = s.aliases.get('churn/champion')!;
    assert.deepEqual([a.version, a.sha256, a.stack], ['2', sha('2'), ['1', '2']]);
    applyControlEvent(s, move('rollback', '1', '2'));
    assert.deepEqual([a.version, a.stack], ['1', ['1']]);
    assert.equal(previousTarget(a), undefined, 'nothing earlier after rolling back to the first');
    assert.deepEqual(
      a.history.map((e) => `${e.action} ${e.from ?? '-'}→${e.version}`),
      ['promote -→1', 'promote 1→2', 'promote 2→3', 'rollback 3→2', 'rollback 2→1'],
    );
  });

  it('an alias set once has nothing earlier to roll back to', () => {
    const a = fold([move('promote', '1', null)]).aliases.get('churn/champion')!;
    assert.equal(previousTarget(a), undefined);
    assert.deepEqual(a.stack, ['1']);
  });

  it('a rollback record with nothing earlier still leaves the alias on the version it names', () => {
    const s = fold([move('promote', '2', null), move('rollback', '1', '2')]);
    const a = s.aliases.get('churn/champion')!;
    assert.deepEqual([a.version, a.stack], ['1', ['1']]);
  });

  it('two CLIs rolling back the same move at once pop once', () => {
    const s = fold([move('promote', '1', null), move('promote', '2', '1'), move('promote', '3', '2')]);
    applyControlEvent(s, move('rollback', '2', '3'));
    applyControlEvent(s, move('rollback', '2', '3'));
    const a = s.aliases.get('churn/champion')!;
    assert.deepEqual([a.version, a.stack], ['2', ['1', '2']]);
  });

  it('promoting the current target is a no-op on the stack, kept in the history', () => {
    const s = fold([move('promote', '1', null), move('promote', '2', '1'), move('promote', '2', '2')]);
    const a = s.aliases.get('churn/champion')!;
    assert.deepEqual(a.stack, ['1', '2']);
    assert.equal(a.history.length, 3);
    assert.equal(previousTarget(a), '1');
    assert.equal(currentSince(a)?.reason, 'promote 2', 'current since the first move to 2');
  });

  it('re-promoting an earlier version pushes it: rollback returns to the one in between', () => {
    const s = fold([move('promote', '1', null), move('promote', '2', '1'), move('promote', '1', '2')]);
    const a = s.aliases.get('churn/champion')!;
    assert.deepEqual(a.stack, ['1', '2', '1']);
    assert.equal(previousTarget(a), '2');
  });

  it('aliases are independent', () => {
    const s = fold([
      move('promote', '1', null),
      move('promote', '2', null, 'challenger'),
      move('promote', '3', '1'),
    ]);
    assert.equal(s.aliases.get('churn/champion')?.version, '3');
    assert.equal(s.aliases.get('churn/challenger')?.version, '2');
    assert.deepEqual(s.aliases.get('churn/challenger')?.stack, ['2']);
  });

  it('suspend and resume set the pipeline flag with who, why and when, and keep the history', () => {
    const s = fold([pipeline('suspend', 'drift')]);
    const p = s.pipelines.get('churn-scoring')!;
    assert.equal(p.suspended, true);
    assert.equal(p.reason, 'drift');
    assert.equal(p.by, 'risk');
    applyControlEvent(s, pipeline('resume', 'review closed'));
    const q = s.pipelines.get('churn-scoring')!;
    assert.equal(q.suspended, false);
    assert.equal(q.reason, 'review closed');
    assert.deepEqual(
      q.history.map((e) => e.action),
      ['suspend', 'resume'],
    );
    assert.equal(s.aliases.size, 0);
  });

  it('record keys: alias/<model>/<alias> and pipeline/<name>', () => {
    assert.equal(controlRecordKey(move('promote', '1', null)), 'alias/churn/champion');
    assert.equal(controlRecordKey(pipeline('suspend', 'x')), 'pipeline/churn-scoring');
  });
});
