/** A bug in our code (TypeError, RangeError, SyntaxError) fails the same way every time: never retry it. */
export function isProgrammingError(err: unknown): boolean {
  return err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError;
}
