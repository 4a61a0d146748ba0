import { PipelineError } from '../core/errors.js';

/** Stable codes of compile-time problems; tests and the pipeline validator key on them. */
export type ExprErrorCode =
  | 'expr_syntax'
  | 'expr_unknown_function'
  | 'expr_arity'
  | 'expr_type'
  | 'expr_literal'
  | 'expr_position'
  | 'expr_constant';

/** One compile-time problem; `offset`/`length` are character positions in the expression text. */
export interface ExprDiagnostic {
  offset: number;
  length: number;
  message: string;
  code: ExprErrorCode;
}

/** Where a runtime check sits, captured once at compile time so the hot path allocates nothing. */
export interface Site {
  readonly source: string;
  /** Function or operator name as written, e.g. `log1p`, `'-'`. */
  readonly op: string;
  /** How the checked value relates to `op`, e.g. `for argument 1`, `on the left`; may be empty. */
  readonly where: string;
  readonly offset: number;
}

/**
 * A record's value does not fit the expression (a string where a number is needed, a malformed
 * timestamp). Terminal for that record: the engine sends it to the dead-letter topic.
 * It is a `PipelineError` (code `expr_runtime`, stage `features`), so `PipelineError.is` holds.
 */
export class ExprRuntimeError extends PipelineError {
  /** The whole expression source. */
  readonly expression: string;
  /** The function or operator that rejected the value. */
  readonly operator: string;
  /** Offset of that function or operator in the expression. */
  readonly offset: number;
  /** The message without the expression, e.g. `log1p expects number for argument 1, got string 'x'`. */
  readonly detail: string;

  constructor(detail: string, site: Site) {
    super(`${detail} in \`${site.source}\``, {
      code: 'expr_runtime',
      stage: 'features',
      retryable: false,
      context: { expression: site.source, operator: site.op, offset: site.offset },
    });
    this.expression = site.source;
    this.operator = site.op;
    this.offset = site.offset;
    this.detail = detail;
  }

  /** Works across duplicated module copies, unlike `instanceof`. */
  static override is(err: unknown): err is ExprRuntimeError {
    return PipelineError.is(err) && err.code === 'expr_runtime';
  }
}
