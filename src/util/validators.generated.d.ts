// Written at build time by scripts/gen-validators.mjs into dist/src/util/validators.generated.js:
// Ajv's standalone code for the config and policy schemas (no schema compilation at start-up).
import type { ValidateFunction } from 'ajv';

/** Validators by name, each with the SHA-256 of the schema (JSON) it was generated from. */
export const validators: Record<string, { validate: ValidateFunction; schemaHash: string }>;
