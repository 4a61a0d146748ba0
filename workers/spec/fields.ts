import { z } from 'zod';
import { Secret } from '../core/secret.js';

/** Unquoted SQL identifier: letters, digits, `_`, `$`; 1–63 chars; always quoted when used. */
export const IDENT_PATTERN = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

export const sqlIdentifier = () =>
  z
    .string()
    .regex(IDENT_PATTERN, {
      message: 'a SQL identifier (letters, digits, _ or $, starting with a letter or _, at most 63 chars)',
    })
    .describe('A SQL identifier; quoted when used.');

/** `table` or `schema.table` (Snowflake: `database.schema.table` too), every part an identifier. */
export const qualifiedName = (maxParts = 2) =>
  z
    .string()
    .refine(
      (s) => {
        const parts = s.split('.');
        return parts.length >= 1 && parts.length <= maxParts && parts.every((p) => IDENT_PATTERN.test(p));
      },
      {
        message: `a table name like ${maxParts === 3 ? '[database.]' : ''}schema.table whose parts are SQL identifiers`,
      },
    )
    .describe('A table name, optionally schema-qualified; every part is a SQL identifier.');

export const splitQualified = (name: string): string[] => name.split('.');

/** A credential: write it as `${VAR}` or `${file:/run/secrets/x}`; it prints as `***`. */
export const secret = () =>
  z
    .string()
    .min(1)
    .transform((s) => new Secret(s))
    .describe('A secret. Reference it as ${ENV_VAR} or ${file:/path}; it is never printed.');

export const positiveInt = () => z.number().int().positive();
export const nonNegativeInt = () => z.number().int().nonnegative();

export const nameRef = () =>
  z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, { message: 'a lower-case name of letters, digits, _ or -' });
