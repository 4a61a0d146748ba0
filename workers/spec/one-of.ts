import { z } from 'zod';
import type { ComponentSpec } from '../core/component.js';

type Shape<C extends readonly ComponentSpec[]> = {
  [K in C[number] as K['type']]: z.ZodOptional<K['config']>;
};
export type OneOfOutput<C extends readonly ComponentSpec[]> = {
  [K in C[number] as K['type']]?: z.output<K['config']>;
};

/**
 * `{ <type>: <config> }` with exactly one key, e.g. `{ postgres: {...} }`. A strict object (not a
 * zod union) so an unknown type is reported as an unknown key with a suggestion, and errors inside
 * the chosen component's config keep their exact path.
 */
export function oneOf<C extends readonly ComponentSpec[]>(kind: string, specs: C) {
  const shape = Object.fromEntries(specs.map((s) => [s.type, s.config.optional()])) as Shape<C>;
  const names = specs.map((s) => s.type);
  return z
    .strictObject(shape)
    .superRefine((value, ctx) => {
      const present = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined);
      if (present.length !== 1) {
        ctx.addIssue({
          code: 'custom',
          message: `exactly one ${kind} type (${names.join(', ')}), got ${present.length === 0 ? 'none' : present.join(' and ')}`,
        });
      }
    })
    .describe(
      `One ${kind}: ${specs.map((s) => `\`${s.type}\` — ${s.summary}`).join('; ')}`,
    ) as unknown as z.ZodType<OneOfOutput<C>, unknown>;
}

/** The single `[type, config]` entry of a validated oneOf value. */
export function only<T extends object>(value: T): [string, unknown] {
  const entry = Object.entries(value).find(([, v]) => v !== undefined);
  if (!entry) throw new Error('component value has no type');
  return entry;
}
