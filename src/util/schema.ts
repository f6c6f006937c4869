// Schema builders shared by the policy and config schemas.
import { Type as T, type TSchema } from '@sinclair/typebox';

/** An object that reports keys it does not define (warnings, or errors with --strict). */
export const strictObject = <P extends Record<string, TSchema>>(props: P, description?: string) =>
  T.Object(props, { additionalProperties: false, ...(description ? { description } : {}) });

// A plain JSON Schema enum rather than a union of literals, so that a bad value is reported
// as "x is not one of: …" instead of a generic union failure.
export const StringEnum = <const V extends string>(values: readonly V[], description?: string) =>
  T.Unsafe<V>({ type: 'string', enum: [...values], ...(description ? { description } : {}) });
