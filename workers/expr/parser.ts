import type { BinaryOp, FieldNode, Node } from './ast.js';
import type { ExprDiagnostic } from './errors.js';
import { type Token, tokenize } from './lexer.js';

/** Binding strength of binary operators, as in JavaScript (higher binds tighter). */
const BINARY: Readonly<Record<string, { op: BinaryOp; prec: number }>> = {
  '||': { op: '||', prec: 1 },
  or: { op: '||', prec: 1 },
  '&&': { op: '&&', prec: 2 },
  and: { op: '&&', prec: 2 },
  '==': { op: '==', prec: 3 },
  '!=': { op: '!=', prec: 3 },
  '<': { op: '<', prec: 4 },
  '<=': { op: '<=', prec: 4 },
  '>': { op: '>', prec: 4 },
  '>=': { op: '>=', prec: 4 },
  '+': { op: '+', prec: 5 },
  '-': { op: '-', prec: 5 },
  '*': { op: '*', prec: 6 },
  '/': { op: '/', prec: 6 },
  '%': { op: '%', prec: 6 },
};
const WORD_OPERATORS = new Set(['and', 'or', 'not']);

export interface ParseResult {
  node: Node;
  diagnostics: ExprDiagnostic[];
}

/**
 * Parses one expression. Never throws: syntax errors are reported with the offending token's
 * position, and parsing resumes at the next argument or list item so that one pass finds them all.
 */
export function parse(source: string): ParseResult {
  const diagnostics: ExprDiagnostic[] = [];
  const parser = new Parser(tokenize(source, diagnostics), diagnostics);
  return { node: parser.parseAll(), diagnostics };
}

function describe(t: Token): string {
  if (t.kind === 'eof') return 'end of input';
  return `'${t.text.length > 30 ? `${t.text.slice(0, 27)}...` : t.text}'`;
}

class Parser {
  private pos = 0;
  /** End offset of the last consumed token. */
  private prevEnd = 0;
  /** After an error, further errors are cascades: stay quiet until the next resynchronisation. */
  private panic = false;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly diagnostics: ExprDiagnostic[],
  ) {}

  parseAll(): Node {
    const node = this.parseExpression();
    const t = this.peek();
    if (t.kind !== 'eof') this.error(t, `expected an operator or end of input, got ${describe(t)}`);
    return node;
  }

  private peek(): Token {
    return this.tokens[this.pos]!;
  }

  private advance(): Token {
    const t = this.tokens[this.pos]!;
    if (t.kind !== 'eof') this.pos++;
    this.prevEnd = t.offset + t.length;
    return t;
  }

  private isPunct(text: string): boolean {
    const t = this.peek();
    return t.kind === 'punct' && t.text === text;
  }

  private error(t: Token, message: string): void {
    if (!this.panic && t.kind !== 'invalid')
      this.diagnostics.push({ offset: t.offset, length: t.length, message, code: 'expr_syntax' });
    this.panic = true;
  }

  private expect(text: string): boolean {
    if (this.isPunct(text)) {
      this.advance();
      return true;
    }
    this.error(this.peek(), `expected '${text}', got ${describe(this.peek())}`);
    return false;
  }

  private errorNode(start: number): Node {
    const t = this.peek();
    const end = Math.max(this.prevEnd, t.offset + t.length);
    return { kind: 'error', offset: start, length: end - start };
  }

  private parseExpression(): Node {
    const test = this.parseBinary(1);
    if (!this.isPunct('?')) return test;
    this.advance();
    const then = this.parseExpression();
    const otherwise = this.expect(':') ? this.parseExpression() : this.errorNode(this.peek().offset);
    const end = otherwise.offset + otherwise.length;
    return { kind: 'ternary', test, then, otherwise, offset: test.offset, length: end - test.offset };
  }

  private parseBinary(minPrec: number): Node {
    let left = this.parseUnary();
    for (;;) {
      const t = this.peek();
      const info = t.kind === 'punct' || t.kind === 'ident' ? BINARY[t.text] : undefined;
      if (info === undefined || info.prec < minPrec) return left;
      this.advance();
      const right = this.parseBinary(info.prec + 1);
      left = {
        kind: 'binary',
        op: info.op,
        opText: t.text,
        opOffset: t.offset,
        left,
        right,
        offset: left.offset,
        length: right.offset + right.length - left.offset,
      };
    }
  }

  private parseUnary(): Node {
    const t = this.peek();
    const isMinus = t.kind === 'punct' && t.text === '-';
    if (!isMinus && !(t.kind === 'punct' && t.text === '!') && !(t.kind === 'ident' && t.text === 'not')) {
      return this.parsePrimary();
    }
    this.advance();
    const operand = this.parseUnary();
    const length = operand.offset + operand.length - t.offset;
    if (isMinus && operand.kind === 'number') {
      // A negative literal, so that `[-10, 0, 10]` is a list of number literals.
      return {
        kind: 'number',
        value: operand.value === 0 ? 0 : -operand.value,
        int: operand.int,
        offset: t.offset,
        length,
      };
    }
    return { kind: 'unary', op: isMinus ? '-' : '!', opText: t.text, operand, offset: t.offset, length };
  }

  private parsePrimary(): Node {
    const t = this.peek();
    if (t.kind === 'number') {
      this.advance();
      const value = t.value as number;
      const int = !/[.eE]/.test(t.text) && Number.isSafeInteger(value);
      return { kind: 'number', value, int, offset: t.offset, length: t.length };
    }
    if (t.kind === 'string') {
      this.advance();
      return { kind: 'string', value: t.value as string, offset: t.offset, length: t.length };
    }
    if (t.kind === 'ident' && !WORD_OPERATORS.has(t.text)) return this.parseName(t);
    if (this.isPunct('(')) {
      this.advance();
      const inner = this.parseExpression();
      this.expect(')');
      return inner;
    }
    if (this.isPunct('[')) {
      this.advance();
      const items = this.parseSequence(']');
      return { kind: 'list', items, offset: t.offset, length: this.prevEnd - t.offset };
    }
    this.error(t, `expected an expression, got ${describe(t)}`);
    return this.errorNode(t.offset);
  }

  /** A literal keyword, a function call, or a field path with `.name` and `["name"]` steps. */
  private parseName(t: Token): Node {
    this.advance();
    const span = { offset: t.offset, length: t.length };
    if (t.text === 'true' || t.text === 'false') return { kind: 'bool', value: t.text === 'true', ...span };
    if (t.text === 'null') return { kind: 'null', ...span };
    if (this.isPunct('(')) {
      this.advance();
      const args = this.parseSequence(')');
      return {
        kind: 'call',
        name: t.text,
        nameLength: t.length,
        args,
        offset: t.offset,
        length: this.prevEnd - t.offset,
      };
    }
    const path = [t.text];
    for (;;) {
      if (this.isPunct('.')) {
        this.advance();
        const name = this.peek();
        if (name.kind !== 'ident') {
          this.error(name, `expected a field name after '.', got ${describe(name)}`);
          return this.errorNode(t.offset);
        }
        path.push(this.advance().text);
      } else if (this.isPunct('[')) {
        this.advance();
        const name = this.peek();
        if (name.kind !== 'string') {
          this.error(name, `expected a quoted field name in [...], got ${describe(name)}`);
          return this.errorNode(t.offset);
        }
        path.push(this.advance().value as string);
        if (!this.expect(']')) return this.errorNode(t.offset);
      } else break;
    }
    const field: FieldNode = { kind: 'field', path, offset: t.offset, length: this.prevEnd - t.offset };
    if (this.isPunct('(')) {
      const dotted = this.tokens
        .slice(this.tokens.indexOf(t), this.pos)
        .map((x) => x.text)
        .join('');
      this.error(this.peek(), `expected a function name, got '${dotted}'`);
      return this.errorNode(t.offset);
    }
    return field;
  }

  /** Comma-separated expressions up to `close`; after a broken item, resumes at the next one. */
  private parseSequence(close: ')' | ']'): Node[] {
    const items: Node[] = [];
    if (this.isPunct(close)) {
      this.advance();
      return items;
    }
    for (;;) {
      items.push(this.parseExpression());
      if (!this.panic && !this.isPunct(',') && !this.isPunct(close)) {
        this.error(this.peek(), `expected ',' or '${close}', got ${describe(this.peek())}`);
      }
      if (this.panic) this.resync(close);
      if (this.isPunct(',')) {
        this.advance();
      } else {
        if (this.isPunct(close)) this.advance();
        return items;
      }
    }
  }

  /** Skips to the next `,` or `close` at this nesting depth; errors after it are reported again. */
  private resync(close: string): void {
    let depth = 0;
    for (let t = this.peek(); t.kind !== 'eof'; t = this.peek()) {
      if (t.kind === 'punct') {
        if (depth === 0 && (t.text === ',' || t.text === close)) {
          this.panic = false;
          return;
        }
        if (t.text === '(' || t.text === '[') depth++;
        else if ((t.text === ')' || t.text === ']') && depth > 0) depth--;
      }
      this.advance();
    }
  }
}
