/** Syntax tree of one expression. Every node knows its span in the source text. */
export interface Span {
  readonly offset: number;
  readonly length: number;
}

export type BinaryOp = '*' | '/' | '%' | '+' | '-' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '&&' | '||';

export interface NumberNode extends Span {
  readonly kind: 'number';
  readonly value: number;
  /** Written without a fraction or exponent, and a safe integer. */
  readonly int: boolean;
}
export interface StringNode extends Span {
  readonly kind: 'string';
  readonly value: string;
}
export interface BoolNode extends Span {
  readonly kind: 'bool';
  readonly value: boolean;
}
export interface NullNode extends Span {
  readonly kind: 'null';
}
export interface ListNode extends Span {
  readonly kind: 'list';
  readonly items: readonly Node[];
}
/** `after.plan`, `after["weird name"]`, `amount`: a path from the record root. */
export interface FieldNode extends Span {
  readonly kind: 'field';
  readonly path: readonly string[];
}
export interface UnaryNode extends Span {
  readonly kind: 'unary';
  readonly op: '-' | '!';
  /** As written: `-`, `!` or `not`. */
  readonly opText: string;
  readonly operand: Node;
}
export interface BinaryNode extends Span {
  readonly kind: 'binary';
  readonly op: BinaryOp;
  /** As written, e.g. `and` for `&&`. */
  readonly opText: string;
  readonly opOffset: number;
  readonly left: Node;
  readonly right: Node;
}
export interface TernaryNode extends Span {
  readonly kind: 'ternary';
  readonly test: Node;
  readonly then: Node;
  readonly otherwise: Node;
}
export interface CallNode extends Span {
  readonly kind: 'call';
  readonly name: string;
  readonly nameLength: number;
  readonly args: readonly Node[];
}
/** Stands in for a part that failed to parse (a syntax error was reported). */
export interface ErrorNode extends Span {
  readonly kind: 'error';
}

export type Node =
  | NumberNode
  | StringNode
  | BoolNode
  | NullNode
  | ListNode
  | FieldNode
  | UnaryNode
  | BinaryNode
  | TernaryNode
  | CallNode
  | ErrorNode;
