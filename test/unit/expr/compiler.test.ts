import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PipelineError } from '../../../workers/core/errors.js';
import { compileExpression, ExprRuntimeError, type Row } from '../../../workers/expr/index.js';
import { compiled, NOW, run, schema } from './helpers.js';

/** The ExprRuntimeError thrown by evaluating `source` on `row`. */
function runtimeError(source: string, row: Row, options = {}): ExprRuntimeError {
  const c = compiled(source, options);
  try {
    c.evaluate(row);
  } catch (err) {
    assert.ok(err instanceof ExprRuntimeError, String(err));
    return err;
  }
  return assert.fail(`expected ${source} to throw on ${JSON.stringify(row)}`);
}

describe('compiler: field access', () => {
  const row = {
    op: 'u',
    amount: 12.5,
    before: null,
    after: { plan: 'pro', nested: { deep: { x: 7 } }, 'weird name': 3, zero: 0, empty: '', flag: false },
    source: { ts_ms: 1_700_000_000_000 },
  };

  it('reads paths of every depth from the root', () => {
    assert.equal(run('op', row), 'u');
    assert.equal(run('amount', row), 12.5);
    assert.equal(run('after.plan', row), 'pro');
    assert.equal(run('after.nested.deep.x', row), 7);
    assert.equal(run('after["weird name"]', row), 3);
    assert.deepEqual(run('after.nested.deep', row), { x: 7 });
  });

  it('keeps falsy values', () => {
    assert.equal(run('after.zero', row), 0);
    assert.equal(run('after.empty', row), '');
    assert.equal(run('after.flag', row), false);
  });

  it('gives null for missing fields and for paths through null or non-objects', () => {
    for (const path of [
      'missing',
      'after.missing',
      'before.plan',
      'after.plan.length',
      'after.nested.nope.x',
      'x.y.z.w.v',
    ]) {
      assert.equal(run(path, row), null, path);
    }
  });

  it('reads deep paths (more than three steps)', () => {
    assert.equal(run('a.b.c.d.e', { a: { b: { c: { d: { e: 'deep' } } } } }), 'deep');
    assert.equal(run('a.b.c.d.e', { a: { b: { c: null } } }), null);
  });

  it('does not see inherited properties such as constructor or toString', () => {
    assert.equal(run('constructor', {}), null);
    assert.equal(run('after.toString', { after: {} }), null);
    assert.equal(run('after.constructor', { after: { constructor: 'own' } }), 'own');
    assert.equal(run('after["__proto__"]', { after: {} }), null);
  });
});

describe('compiler: arithmetic', () => {
  const cases: [string, unknown][] = [
    ['1 + 2 * 3', 7],
    ['(1 + 2) * 3', 9],
    ['7 / 2', 3.5],
    ['7 % 4', 3],
    ['-7 % 4', -3],
    ['2 - 5', -3],
    ['-(2 - 5)', 3],
    ['1 / 0', null],
    ['0 / 0', null],
    ['5 % 0', null],
    ['1e308 * 10', null],
    ['0.1 + 0.2', 0.30000000000000004],
    ['null + 1', null],
    ['1 - null', null],
    ['-null', null],
  ];
  for (const [source, expected] of cases) {
    it(`${source} = ${String(expected)}`, () => assert.equal(run(source), expected));
  }

  it('propagates null from fields and treats bigints as numbers', () => {
    assert.equal(run('a * 2', { a: null }), null);
    assert.equal(run('a * 2', {}), null);
    assert.equal(run('a * 2', { a: 21n }), 42);
  });

  it('never returns negative zero from negation', () => {
    assert.ok(Object.is(run('-a', { a: 0 }), 0));
  });

  it('counts timestamps as epoch ms', () => {
    const options = { fieldTypes: schema({ 'after.at': 'timestamp' }) };
    assert.equal(run('now() - after.at', { after: { at: '2024-03-15T11:00:00Z' } }, options), 3_600_000);
    assert.equal(run('after.at + 1', { after: { at: new Date(1000) } }, options), 1001);
  });
});

describe('compiler: comparisons', () => {
  const cases: [string, unknown][] = [
    ['1 < 2', true],
    ['2 <= 2', true],
    ['3 > 4', false],
    ['3 >= 4', false],
    ["'apple' < 'banana'", true],
    ["'b' >= 'a'", true],
    ['1 == 1.0', true],
    ["'a' != 'b'", true],
    ['true == true', true],
    ['null == null', true],
    ['null != null', false],
    ['1 == null', false],
    ['null != 1', true],
    ['null < 1', null],
    ['1 >= null', null],
  ];
  for (const [source, expected] of cases) {
    it(`${source} is ${String(expected)}`, () => assert.equal(run(source), expected));
  }

  it('compares field values of unknown type by their run-time kind', () => {
    assert.equal(run("x == 'enterprise'", { x: 'enterprise' }), true);
    assert.equal(run("x == 'enterprise'", { x: null }), false);
    assert.equal(run("x == 'enterprise'", {}), false);
    assert.equal(run('x < y', { x: 1n, y: 2 }), true);
    assert.equal(run('x == y', { x: new Date(5), y: new Date(5) }), true);
    assert.equal(run('x == y', { x: Number.NaN, y: Number.NaN }), false);
    assert.equal(run('x < y', { x: Number.NaN, y: 1 }), false);
  });

  it('reads a Date or ISO-8601 string facing a number as a timestamp, without a schema', () => {
    assert.equal(run('x == 0', { x: new Date(0) }), true);
    assert.equal(run('x < y', { x: '1970-01-01T00:00:01Z', y: 1001 }), true);
    assert.equal(run('y <= x', { x: '1970-01-01T00:00:01Z', y: 1001n }), false);
    assert.equal(run('x == y', { x: '1970-01-01', y: '1970-01-01T00:00:00Z' }), false);
  });

  it('compares timestamps of any representation when one side is a known timestamp', () => {
    const options = { fieldTypes: schema({ 'after.at': 'timestamp' }) };
    const earlier = { after: { at: '2024-03-01T00:00:00+02:00' } };
    assert.equal(run('after.at < now()', earlier, options), true);
    assert.equal(run("after.at == '2024-02-29T22:00:00Z'", earlier, options), true);
    assert.equal(run('after.at > 1709244000000', earlier, options), false);
    assert.equal(run('after.at >= 1709244000000', earlier, options), true);
  });

  it('throws when values of different kinds meet', () => {
    const e = runtimeError("x == 'a'", { x: 1 });
    assert.equal(e.message, "'==' cannot compare number 1 with string 'a' in `x == 'a'`");
    assert.equal(
      runtimeError('x < y', { x: true, y: false }).detail,
      "'<' cannot compare bool true with bool false",
    );
    assert.equal(runtimeError('x < 1', { x: 'a' }).detail, "'<' cannot compare string 'a' with number 1");
    assert.equal(
      runtimeError('x == y', { x: new Date(0), y: 'a' }).detail,
      "'==' cannot compare Date 1970-01-01T00:00:00.000Z with string 'a'",
    );
    assert.equal(
      runtimeError('x < 1', { x: '2024-13-01' }).detail,
      "'<' cannot compare string '2024-13-01' with number 1",
    );
  });
});

describe('compiler: logic and the conditional', () => {
  const truth: [string, unknown][] = [
    ['true && true', true],
    ['true && false', false],
    ['false && null', false],
    ['null && false', false],
    ['true && null', null],
    ['null && null', null],
    ['false || false', false],
    ['true || null', true],
    ['null || true', true],
    ['false || null', null],
    ['!true', false],
    ['not false', true],
    ['!null', null],
    ['true ? 1 : 2', 1],
    ['false ? 1 : 2', 2],
    ['null ? 1 : 2', 2],
    ['1 > 2 ? 1 : null', null],
  ];
  for (const [source, expected] of truth) {
    it(`${source} is ${String(expected)}`, () => assert.equal(run(source), expected));
  }

  it('short-circuits: the other side is not evaluated', () => {
    assert.equal(run('false && x > 1', { x: 'not a number' }), false);
    assert.equal(run('true || x > 1', { x: 'not a number' }), true);
    assert.equal(run('true ? 1 : x * 2', { x: 'not a number' }), 1);
    assert.equal(run('false ? x * 2 : 1', { x: 'not a number' }), 1);
  });

  it('maps a null field in a condition to the else branch', () => {
    assert.equal(run("after.plan == 'enterprise' ? 1 : 0", { after: { plan: null } }), 0);
    assert.equal(run('after.vip ? 1 : 0', { after: {} }), 0);
  });

  it('throws when a condition or logical operand is not a bool', () => {
    assert.equal(
      runtimeError('x ? 1 : 0', { x: 1 }).detail,
      "'?:' expects bool for the condition, got number 1",
    );
    assert.equal(
      runtimeError('x && true', { x: 'yes' }).detail,
      "'&&' expects bool on the left, got string 'yes'",
    );
    assert.equal(
      runtimeError('true and x', { x: 0 }).detail,
      "'and' expects bool on the right, got number 0",
    );
    assert.equal(runtimeError('!x', { x: 1 }).detail, "'!' expects bool, got number 1");
  });
});

describe('compiler: runtime errors', () => {
  it('throw ExprRuntimeError naming the expression and the operator', () => {
    const e = runtimeError('log1p(after.amount) * 2', { after: { amount: 'abc' } });
    assert.equal(
      e.message,
      "log1p expects number for argument 1, got string 'abc' in `log1p(after.amount) * 2`",
    );
    assert.equal(e.detail, "log1p expects number for argument 1, got string 'abc'");
    assert.equal(e.expression, 'log1p(after.amount) * 2');
    assert.equal(e.operator, 'log1p');
    assert.equal(e.offset, 0);
    assert.equal(e.code, 'expr_runtime');
    assert.equal(e.stage, 'features');
    assert.equal(e.retryable, false);
    assert.ok(PipelineError.is(e));
    assert.ok(ExprRuntimeError.is(e));
    assert.ok(!ExprRuntimeError.is(new PipelineError('x', { code: 'other', stage: 'features' })));
  });

  it('name the operator with its position and side', () => {
    const e = runtimeError('1 + x * 2', { x: true });
    assert.equal(e.detail, "'*' expects number on the left, got bool true");
    assert.equal(e.offset, 6);
    assert.equal(runtimeError('-x', { x: 's' }).detail, "'-' expects number, got string 's'");
  });

  it('describe objects, lists and long strings briefly', () => {
    assert.equal(
      runtimeError('x + 1', { x: [1, 2] }).detail,
      "'+' expects number on the left, got list of 2",
    );
    assert.equal(runtimeError('x + 1', { x: { a: 1 } }).detail, "'+' expects number on the left, got object");
    assert.equal(
      runtimeError('x + 1', { x: 'y'.repeat(50) }).detail,
      `'+' expects number on the left, got string '${'y'.repeat(37)}...'`,
    );
  });

  it('for a timestamp result, a malformed value fails the record', () => {
    const options = { fieldTypes: schema({ at: 'timestamp' }) };
    assert.equal(run('at', { at: '2024-01-02' }, options), Date.UTC(2024, 0, 2));
    assert.equal(
      runtimeError('at', { at: 'soon' }, options).detail,
      "result expects a timestamp (epoch ms, Date or ISO-8601 string), got string 'soon'",
    );
  });
});

describe('compiler: results', () => {
  it('returns a timestamp-typed expression as epoch ms', () => {
    assert.equal(run('now()'), NOW);
    assert.equal(run('at', { at: new Date(42) }, { fieldTypes: schema({ at: 'timestamp' }) }), 42);
  });

  it('reads the injected clock on every evaluation', () => {
    let t = 1000;
    const r = compileExpression('now()', { now: () => t++ });
    assert.ok(r.ok);
    assert.deepEqual([r.value.evaluate({}), r.value.evaluate({})], [1000, 1001]);
  });

  it('returns a fresh vector for one_hot on every evaluation', () => {
    const c = compiled("one_hot(x, ['a', 'b'])");
    const first = c.evaluate({ x: 'a' }) as number[];
    first[0] = 99;
    assert.deepEqual(c.evaluate({ x: 'a' }), [1, 0]);
  });

  it('keeps the source', () => {
    assert.equal(compiled(' a + 1 ').source, ' a + 1 ');
  });

  it('folds constant parts and gives the same results', () => {
    assert.equal(run('x * (60 * 60 * 24)', { x: 2 }), 172_800);
    assert.equal(
      run("hash_bucket(lower('US'), 32) + x", { x: 1 }),
      1 + (run("hash_bucket('us', 32)") as number),
    );
  });
});

describe('compiler: int64 beyond 2^53', () => {
  const MAX = 2n ** 63n - 1n;
  const row = { after: { id: MAX, next: MAX - 1n, small: 9007199254740991, big: 2n ** 53n } };

  it('compares bigints with each other and with numbers exactly', () => {
    assert.equal(run('after.id == after.next', row), false);
    assert.equal(run('after.id > after.next', row), true);
    assert.equal(run('after.big > after.small', row), true);
    assert.equal(run('after.big == after.small', row), false);
    assert.equal(run('after.big >= 9007199254740991', row), true);
    assert.equal(run("to_string(after.id) == '9223372036854775807'", row), true);
  });

  it('hashes the exact digits (FNV-1a of the decimal text)', () => {
    assert.equal(
      run('hash_bucket(after.id, 1000)', row),
      run("hash_bucket('9223372036854775807', 1000)", row),
    );
    assert.notEqual(run('hash_bucket(after.id, 1000000)', row), run('hash_bucket(after.next, 1000000)', row));
  });
});
