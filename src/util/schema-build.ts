// What the run-time schema compiler (validate.ts) and the validators generated at build time
// (scripts/gen-validators.mjs) share, so that both decide a value the same way: Ajv's options,
// the string formats, and the hash that ties a generated validator to its schema.
import { createHash } from 'node:crypto';
import type { Options } from 'ajv';
import type { TSchema } from '@sinclair/typebox';
import { parseByteSize, parseDuration } from './duration.js';

export const AJV_OPTIONS: Options = { allErrors: true, strict: false, allowUnionTypes: true };

export const schemaFormats = {
  duration: { type: 'string' as const, validate: (s: string) => parseDuration(s) !== null },
  'byte-size': { type: 'string' as const, validate: (s: string) => parseByteSize(s) !== null },
};

/** Identifies a schema's content: a generated validator is used only for the schema it was generated from. */
export function schemaHash(schema: TSchema): string {
  return createHash('sha256').update(JSON.stringify(schema)).digest('hex');
}
