import type { z } from 'zod';

/**
 * One implementation of a component kind (source, decoder, sink, backfill reader).
 * The config schema is the single source of truth: validation, defaults, the generated JSON Schema
 * and the reference docs all come from it. Its examples are parsed in tests.
 */
export interface ComponentSpec<T extends string = string, S extends z.ZodType = z.ZodType> {
  readonly type: T;
  readonly summary: string;
  readonly config: S;
  readonly examples: readonly unknown[];
}

export function defineComponent<T extends string, S extends z.ZodType>(
  spec: ComponentSpec<T, S>,
): ComponentSpec<T, S> {
  return spec;
}
