import { z } from 'zod';

export const jsonDecoderConfig = z
  .strictObject({
    key_field: z.string().optional().describe('Field to expose as `key` when the message key is empty.'),
  })
  .describe('Plain JSON records (not CDC): fields are reachable by name; `key` is the message key.');
export type JsonDecoderConfig = z.output<typeof jsonDecoderConfig>;
