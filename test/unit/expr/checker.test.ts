import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileExpression, type ExprType } from '../../../workers/expr/index.js';
import { compiled, errorsOf, oneError, schema } from './helpers.js';

const fieldTypes = schema({
  'after.plan': 'string',
  'after.amount': 'number',
  'after.tickets': 'int',
  'after.active': 'bool',
  'after.signup': 'timestamp',
  'source.ts_ms': 'timestamp',
});
const typed = { fieldTypes };

function typeOf(source: string): ExprType {
  return compiled(source, typed).type;
}

describe('checker: result types', () => {
  const cases: [string, ExprType][] = [
    ['1', { kind: 'int' }],
    ['1.5', { kind: 'number' }],
    ['1 + 2', { kind: 'int' }],
    ['7 % 2', { kind: 'int' }],
    ['1 / 2', { kind: 'number' }],
    ['after.tickets * 2', { kind: 'int' }],
    ['after.tickets * 2.0', { kind: 'number' }],
    ['-after.tickets', { kind: 'int' }],
    ['source.ts_ms - after.signup', { kind: 'number' }],
    ["'a'", { kind: 'string' }],
    ['null', { kind: 'null' }],
    ['after.unknown', { kind: 'unknown' }],
    ['after.plan', { kind: 'string' }],
    ["after.plan == 'x'", { kind: 'bool' }],
    ['after.active && !after.active', { kind: 'bool' }],
    ['after.active ? 1 : 0', { kind: 'int' }],
    ['after.active ? 1 : 0.5', { kind: 'number' }],
    ['after.active ? null : 2', { kind: 'int' }],
    ['after.active ? after.x : 2', { kind: 'unknown' }],
    ['coalesce(after.tickets, 0)', { kind: 'int' }],
    ['coalesce(after.amount, 0)', { kind: 'number' }],
    ["coalesce(after.plan, 'none')", { kind: 'string' }],
    ['coalesce(after.x, 0)', { kind: 'unknown' }],
    ['abs(after.tickets)', { kind: 'int' }],
    ['abs(after.amount)', { kind: 'number' }],
    ['min(1, 2, 3)', { kind: 'int' }],
    ['max(1, 2.5)', { kind: 'number' }],
    ['clamp(after.tickets, 0, 10)', { kind: 'int' }],
    ['round(after.amount)', { kind: 'int' }],
    ['round(after.amount, 2)', { kind: 'number' }],
    ['log1p(after.amount)', { kind: 'number' }],
    ['now()', { kind: 'timestamp' }],
    ['epoch_ms(now())', { kind: 'int' }],
    ['year(after.signup)', { kind: 'int' }],
    ['months_between(after.signup, source.ts_ms)', { kind: 'number' }],
    ['len(after.plan)', { kind: 'int' }],
    ['is_null(after.plan)', { kind: 'bool' }],
    ['to_number(after.plan)', { kind: 'number' }],
    ["concat(after.plan, '-', after.tickets)", { kind: 'string' }],
    ['bucket(after.amount, [1, 2])', { kind: 'int' }],
    ['hash_bucket(after.plan, 8)', { kind: 'int' }],
    ["one_hot(after.plan, ['a', 'b', 'c'])", { kind: 'vector', width: 3 }],
    ["(one_hot(after.plan, ['a']))", { kind: 'vector', width: 1 }],
  ];
  for (const [source, type] of cases) {
    it(`${source} : ${type.kind}`, () => assert.deepEqual(typeOf(source), type));
  }

  it('reports width 1 for scalars and the vector width for one_hot', () => {
    assert.equal(compiled('after.x').width, 1);
    assert.equal(compiled("one_hot(after.x, ['a', 'b', 'c', 'd'])").width, 4);
  });

  it('lists the distinct field paths read, in order of first use', () => {
    const c = compiled('after.a + coalesce(source.ts_ms, after.a) + amount + after["b c"].d');
    assert.deepEqual(c.fields, [['after', 'a'], ['source', 'ts_ms'], ['amount'], ['after', 'b c', 'd']]);
  });

  it('allows fields the lookup does not know (unknown type, checked at run time)', () => {
    assert.equal(compileExpression('log1p(after.nope) + after.other * 2', typed).ok, true);
  });
});

describe('checker: errors name the function or operator, what it expected and what it got', () => {
  const cases: [string, [number, number, string, string]][] = [
    [
      'lg1p(after.amount)',
      [0, 4, 'expr_unknown_function', "unknown function 'lg1p' (did you mean 'log1p'?)"],
    ],
    [
      'hash_buckets(after.plan, 8)',
      [0, 12, 'expr_unknown_function', "unknown function 'hash_buckets' (did you mean 'hash_bucket'?)"],
    ],
    ['frobnicate(1)', [0, 10, 'expr_unknown_function', "unknown function 'frobnicate'"]],
    ['hash_bucket(after.plan)', [0, 23, 'expr_arity', 'hash_bucket expects 2 arguments, got 1']],
    ['abs(1, 2)', [0, 9, 'expr_arity', 'abs expects 1 argument, got 2']],
    ['now(1)', [0, 6, 'expr_arity', 'now expects 0 arguments, got 1']],
    ['min(1)', [0, 6, 'expr_arity', 'min expects at least 2 arguments, got 1']],
    ['round(1, 2, 3)', [0, 14, 'expr_arity', 'round expects 1 to 2 arguments, got 3']],
    ['log1p(after.plan)', [6, 10, 'expr_type', 'log1p expects number for argument 1, got string']],
    ['clamp(1, 0, after.plan)', [12, 10, 'expr_type', 'clamp expects number for argument 3, got string']],
    ['lower(after.amount)', [6, 12, 'expr_type', 'lower expects string for argument 1, got number']],
    ['year(after.active)', [5, 12, 'expr_type', 'year expects timestamp for argument 1, got bool']],
    ['log1p([1, 2])', [6, 6, 'expr_type', 'log1p expects number for argument 1, got list']],
    ['after.plan * 2', [0, 10, 'expr_type', "'*' expects number on the left, got string"]],
    ['2 - after.active', [4, 12, 'expr_type', "'-' expects number on the right, got bool"]],
    ['-after.plan', [1, 10, 'expr_type', "'-' expects number, got string"]],
    ['!after.amount', [1, 12, 'expr_type', "'!' expects bool, got number"]],
    ['not after.amount', [4, 12, 'expr_type', "'not' expects bool, got number"]],
    ['after.amount and true', [0, 12, 'expr_type', "'and' expects bool on the left, got number"]],
    ["true || 'x'", [8, 3, 'expr_type', "'||' expects bool on the right, got string"]],
    ['after.amount ? 1 : 0', [0, 12, 'expr_type', "'?:' expects bool for the condition, got number"]],
    ["after.active ? 1 : 'a'", [19, 3, 'expr_type', "'?:' branches have different types: int and string"]],
    ['after.plan == 1', [0, 15, 'expr_type', "'==' cannot compare string with int"]],
    ['after.active < true', [0, 19, 'expr_type', "'<' cannot compare bool with bool"]],
    ['after.signup > true', [0, 19, 'expr_type', "'>' cannot compare timestamp with bool"]],
    [
      "coalesce(after.amount, 'none')",
      [23, 6, 'expr_type', 'coalesce expects arguments of one type, got number and string'],
    ],
    [
      'bucket(after.amount, 3)',
      [21, 1, 'expr_literal', 'bucket expects a list of number literals for argument 2, got 3'],
    ],
    ['bucket(after.amount, [])', [21, 2, 'expr_literal', 'bucket expects at least one value in argument 2']],
    [
      'bucket(after.amount, [1, after.x])',
      [25, 7, 'expr_literal', 'bucket expects number literals in argument 2, got after.x'],
    ],
    [
      'bucket(after.amount, [18, 45, 30])',
      [30, 2, 'expr_literal', 'bucket expects ascending values in argument 2, got 30 after 45'],
    ],
    [
      'bucket(after.amount, [1, 1])',
      [25, 1, 'expr_literal', 'bucket expects ascending values in argument 2, got 1 after 1'],
    ],
    [
      "one_hot(after.plan, 'a')",
      [20, 3, 'expr_literal', "one_hot expects a list of string literals for argument 2, got 'a'"],
    ],
    [
      "one_hot(after.plan, ['a', 2])",
      [26, 1, 'expr_literal', 'one_hot expects string literals in argument 2, got 2'],
    ],
    [
      "one_hot(after.plan, ['a', 'b', 'a'])",
      [31, 3, 'expr_literal', "one_hot expects distinct values in argument 2, got 'a' twice"],
    ],
    [
      'hash_bucket(after.plan, 0)',
      [24, 1, 'expr_literal', 'hash_bucket expects a positive integer literal for argument 2, got 0'],
    ],
    [
      'hash_bucket(after.plan, 2.5)',
      [24, 3, 'expr_literal', 'hash_bucket expects a positive integer literal for argument 2, got 2.5'],
    ],
    [
      'hash_bucket(after.plan, after.n)',
      [24, 7, 'expr_literal', 'hash_bucket expects a positive integer literal for argument 2, got after.n'],
    ],
    [
      'hash_bucket(after.plan, 8589934592)',
      [24, 10, 'expr_literal', 'hash_bucket expects at most 4294967296 for argument 2, got 8589934592'],
    ],
    [
      "1 + one_hot(after.plan, ['a'])",
      [4, 26, 'expr_position', 'one_hot must be the whole expression (it returns a vector of width 1)'],
    ],
    ['[1, 2]', [0, 6, 'expr_position', 'a list is only allowed as a function argument']],
    [
      "epoch_ms('yesterday')",
      [
        0,
        21,
        'expr_constant',
        "epoch_ms expects a timestamp (epoch ms, Date or ISO-8601 string) for argument 1, got string 'yesterday'",
      ],
    ],
    [
      "year('2024-02-30')",
      [
        0,
        18,
        'expr_constant',
        "year expects a timestamp (epoch ms, Date or ISO-8601 string) for argument 1, got string '2024-02-30'",
      ],
    ],
  ];
  for (const [source, expected] of cases) {
    it(source, () => assert.deepEqual(oneError(source, typed), expected));
  }

  it('reports every problem at once, sorted by offset', () => {
    const errors = errorsOf(
      'lg1p(after.plan) + hash_bucket(x) + log1p(after.plan) + bucket(x, [2, 1]) + (',
      typed,
    );
    assert.deepEqual(
      errors.map((e) => [e.offset, e.code]),
      [
        [0, 'expr_unknown_function'],
        [19, 'expr_arity'],
        [42, 'expr_type'],
        [70, 'expr_literal'],
        [77, 'expr_syntax'],
      ],
    );
  });

  it('checks the arguments of unknown functions and wrong-arity calls', () => {
    const errors = errorsOf('frob(log1p(after.plan)) + abs(1, -after.plan)', typed);
    assert.deepEqual(
      errors.map((e) => e.message),
      [
        "unknown function 'frob'",
        'log1p expects number for argument 1, got string',
        'abs expects 1 argument, got 2',
        "'-' expects number, got string",
      ],
    );
  });

  it('accepts epoch-ms numbers and ISO strings where a timestamp is expected', () => {
    assert.equal(compileExpression("days_between('2024-01-01', after.amount)", typed).ok, true);
    assert.equal(compileExpression('after.signup < now() && after.signup > 0', typed).ok, true);
  });

  it('accepts null wherever a value is expected', () => {
    assert.equal(
      compileExpression('log1p(null) + len(null) + (null ? 1 : 2) + (null && true ? 1 : 0)').ok,
      true,
    );
  });
});
