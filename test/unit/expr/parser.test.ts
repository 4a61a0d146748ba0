import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from '../../../workers/expr/index.js';
import { show } from './helpers.js';

function tree(source: string): string {
  const r = parse(source);
  assert.deepEqual(r.diagnostics, [], source);
  return show(r.node);
}

function syntaxErrors(source: string): [number, number, string][] {
  return parse(source).diagnostics.map((d) => {
    assert.equal(d.code, 'expr_syntax');
    return [d.offset, d.length, d.message];
  });
}

describe('parser: precedence and associativity (as in JavaScript)', () => {
  const cases: [string, string][] = [
    ['1 + 2 * 3', '(+ 1 (* 2 3))'],
    ['1 * 2 + 3', '(+ (* 1 2) 3)'],
    ['1 - 2 - 3', '(- (- 1 2) 3)'],
    ['8 / 4 / 2', '(/ (/ 8 4) 2)'],
    ['7 % 4 * 2', '(* (% 7 4) 2)'],
    ['(1 + 2) * 3', '(* (+ 1 2) 3)'],
    ['a + b < c * d', '(< (+ a b) (* c d))'],
    ['a < b == c > d', '(== (< a b) (> c d))'],
    ['a == b && c != d || e', '(|| (&& (== a b) (!= c d)) e)'],
    ['a || b && c', '(|| a (&& b c))'],
    ['a or b and c', '(|| a (&& b c))'],
    ['!a && b', '(&& (! a) b)'],
    ['not a == b', '(== (! a) b)'],
    ['not not a', '(! (! a))'],
    ['-a * b', '(* (- a) b)'],
    ['- -a', '(- (- a))'],
    ['-2 * 3', '(* -2 3)'],
    ['a - -1', '(- a -1)'],
    ['a ? b : c ? d : e', '(? a b (? c d e))'],
    ['a ? b ? c : d : e', '(? a (? b c d) e)'],
    ['a || b ? 1 : 0', '(? (|| a b) 1 0)'],
    ["after.plan == 'enterprise' ? 1 : 0", '(? (== after.plan "enterprise") 1 0)'],
    ['f(a, g(b, c), [1, 2])', 'f(a g(b c) [1 2])'],
    ['now()', 'now()'],
    ['x <= 1 != y >= 2', '(!= (<= x 1) (>= y 2))'],
  ];
  for (const [source, expected] of cases) {
    it(source, () => assert.equal(tree(source), expected));
  }
});

describe('parser: literals and fields', () => {
  it('reads numbers with fractions and exponents', () => {
    assert.equal(tree('[0, 12, 0.5, 1e3, 2.5E-2, 1e+2]'), '[0 12 0.5 1000 0.025 100]');
  });

  it('marks integer literals, not fractions or exponents', () => {
    const r = parse('[3, 3.0, 1e2, 9007199254740993]');
    assert.equal(r.node.kind, 'list');
    if (r.node.kind !== 'list') return;
    assert.deepEqual(
      r.node.items.map((n) => n.kind === 'number' && n.int),
      [true, false, false, false],
    );
  });

  it('reads both quote styles with escapes', () => {
    assert.equal(
      tree(`'it\\'s' + "say \\"hi\\"\\n\\t\\\\" + '\\u00e9\\u{1F600}'`),
      '(+ (+ "it\'s" "say \\"hi\\"\\n\\t\\\\") "é😀")',
    );
  });

  it('reads true, false, null as literals and keywords after a dot as field names', () => {
    assert.equal(tree('[true, false, null]'), '[true false null]');
    assert.equal(tree('after.null + after.not'), '(+ after.null after.not)');
  });

  it('reads dotted and bracketed field paths', () => {
    assert.equal(tree('after.customer.id'), 'after.customer.id');
    assert.equal(tree(`after["weird name"].x['y z']`), 'after.weird name.x.y z');
    assert.equal(tree('amount'), 'amount');
  });

  it('records spans for nodes and operators', () => {
    const r = parse('  log1p(a.b) * 2');
    assert.equal(r.node.kind, 'binary');
    if (r.node.kind !== 'binary') return;
    assert.deepEqual([r.node.offset, r.node.length, r.node.opOffset], [2, 14, 13]);
    assert.deepEqual([r.node.left.offset, r.node.left.length], [2, 10]);
  });

  it('skips spaces, tabs, newlines and other Unicode white space', () => {
    assert.equal(tree('\n a\t+\r\n b\u00a0\u2003'), '(+ a b)');
  });
});

describe('parser: syntax errors name the offending token', () => {
  const cases: [string, [number, number, string][]][] = [
    ['', [[0, 0, 'expected an expression, got end of input']]],
    ['1 +', [[3, 0, 'expected an expression, got end of input']]],
    ['a b', [[2, 1, "expected an operator or end of input, got 'b'"]]],
    ['(1 + 2', [[6, 0, "expected ')', got end of input"]]],
    ['1 + 2)', [[5, 1, "expected an operator or end of input, got ')'"]]],
    ['a ? b', [[5, 0, "expected ':', got end of input"]]],
    ['f(1 2)', [[4, 1, "expected ',' or ')', got '2'"]]],
    ['f(1, 2', [[6, 0, "expected ',' or ')', got end of input"]]],
    ['[1, 2', [[5, 0, "expected ',' or ']', got end of input"]]],
    ['after.', [[6, 0, "expected a field name after '.', got end of input"]]],
    ['after.3', [[6, 1, "expected a field name after '.', got '3'"]]],
    ['after[1]', [[6, 1, "expected a quoted field name in [...], got '1'"]]],
    ["after['x'", [[9, 0, "expected ']', got end of input"]]],
    ['after.lower(x)', [[11, 1, "expected a function name, got 'after.lower'"]]],
    ['* 2', [[0, 1, "expected an expression, got '*'"]]],
    ['a and', [[5, 0, 'expected an expression, got end of input']]],
    ['a = 1', [[2, 1, "unexpected '=' (did you mean '=='?)"]]],
    [
      'a & b | c',
      [
        [2, 1, "unexpected '&' (did you mean '&&'?)"],
        [6, 1, "unexpected '|' (did you mean '||'?)"],
      ],
    ],
    ['a # b', [[2, 1, "unexpected character '#'"]]],
    [
      'after.prénom',
      [[8, 1, 'unexpected character \'é\' (quote names with other characters: after["name"])']],
    ],
    ['a + 😀', [[4, 2, "unexpected character '😀'"]]],
    ["'abc", [[0, 4, 'unterminated string']]],
    ["'a\\qb'", [[2, 2, "invalid escape '\\q'"]]],
    ['12abc', [[0, 5, "invalid number '12abc'"]]],
    ['1e', [[0, 2, "invalid number '1e'"]]],
    [
      'a == 9007199254740993',
      [
        [
          5,
          16,
          "integer literal 9007199254740993 is beyond 2^53 - 1 and would not be exact; compare its text instead: to_string(x) == '9007199254740993'",
        ],
      ],
    ],
    ['a == 9007199254740991 + 9.007199254740993e15', []],
    ['1.2.3', [[3, 1, "expected an operator or end of input, got '.'"]]],
    [
      'f(a # b, c $)',
      [
        [4, 1, "unexpected character '#'"],
        [11, 1, "unexpected character '$'"],
      ],
    ],
  ];
  for (const [source, expected] of cases) {
    it(JSON.stringify(source), () => assert.deepEqual(syntaxErrors(source), expected));
  }

  it('resumes after a broken argument and reports the next one too', () => {
    assert.deepEqual(syntaxErrors('f(1 +, g(2 3), [4,, 5])'), [
      [5, 1, "expected an expression, got ','"],
      [11, 1, "expected ',' or ')', got '3'"],
      [18, 1, "expected an expression, got ','"],
    ]);
  });

  it('does not cascade after an error outside any argument list', () => {
    assert.deepEqual(syntaxErrors('(1 + ) * * )'), [[5, 1, "expected an expression, got ')'"]]);
  });
});
