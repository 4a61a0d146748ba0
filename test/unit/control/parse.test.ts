import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseControlEvent } from '../../../workers/control/events.js';
import { PipelineError } from '../../../workers/core/errors.js';

const promote = {
  type: 'alias',
  action: 'promote',
  model: 'churn',
  alias: 'champion',
  version: '2',
  from: '1',
  sha256: 'a'.repeat(64),
  by: 'ops',
  reason: 'shadow passed',
  at: '2026-01-01T10:00:00.000Z',
  id: 'a1',
};

function error(value: string | Buffer): PipelineError {
  try {
    parseControlEvent(value, 'streamscore.control/0@7');
  } catch (err) {
    assert.ok(PipelineError.is(err));
    return err as PipelineError;
  }
  assert.fail('expected parseControlEvent to throw');
}

describe('parseControlEvent', () => {
  it('parses an alias move and a suspension, from a Buffer or a string', () => {
    assert.deepEqual(parseControlEvent(Buffer.from(JSON.stringify(promote)), 'w'), promote);
    const suspend = {
      type: 'pipeline',
      action: 'suspend',
      pipeline: 'churn-scoring',
      by: 'risk',
      reason: 'drift',
      at: '2026-01-01T10:00:00+01:00',
      id: 'b',
    };
    assert.deepEqual(parseControlEvent(JSON.stringify(suspend), 'w'), suspend);
    assert.equal(parseControlEvent(JSON.stringify({ ...promote, from: null }), 'w').type, 'alias');
  });

  it('bad JSON: the record position and the JSON position', () => {
    const e = error('{"type":"alias",');
    assert.equal(e.code, 'CONTROL_RECORD_INVALID');
    assert.equal(e.position, 'streamscore.control/0@7');
    assert.match(e.message, /^control record streamscore\.control\/0@7: not JSON: .*position 16/);
  });

  it('an unknown type or action names the field', () => {
    assert.match(
      error(JSON.stringify({ ...promote, type: 'model' })).message,
      /@7: not a control event: type: /,
    );
    assert.match(
      error(JSON.stringify({ ...promote, action: 'demote' })).message,
      /action: .*promote.*rollback/,
    );
  });

  it('missing, mistyped and extra fields are named', () => {
    const { version: _v, ...noVersion } = promote;
    assert.match(error(JSON.stringify(noVersion)).message, /version: /);
    assert.match(error(JSON.stringify({ ...promote, version: 2 })).message, /version: .*string/);
    assert.match(
      error(JSON.stringify({ ...promote, sha256: 'abc' })).message,
      /sha256: expected 64 lower-case hex digits/,
    );
    assert.match(error(JSON.stringify({ ...promote, at: 'yesterday' })).message, /at: /);
    assert.match(error(JSON.stringify({ ...promote, colour: 'red' })).message, /colour/);
  });

  it('JSON that is not an object', () => {
    assert.match(error('null').message, /not a control event: \(record\): /);
    assert.match(error('[1]').message, /not a control event/);
  });
});
