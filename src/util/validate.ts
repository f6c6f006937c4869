// Schema validation that speaks in file:line:column. The schemas are TypeBox objects, i.e.
// plain JSON Schema, validated by Ajv; unknown keys (additionalProperties: false) are
// reported as warnings by default and errors with --strict, never silently dropped.
import { createRequire } from 'node:module';
import type { Ajv as AjvClass, ErrorObject, ValidateFunction } from 'ajv';
import type { TSchema } from '@sinclair/typebox';
import type { Diagnostic } from './diagnostics.js';
import { AJV_OPTIONS, schemaFormats, schemaHash } from './schema-build.js';
import { validators as generated } from './validators.generated.js';
import type { SourcePath, YamlSource } from './yaml-source.js';

// Ajv itself is loaded only when a schema has no up-to-date generated validator (the CLI's
// test-case files; a build whose generated code is older than its schemas).
let ajv: AjvClass | null = null;
function runtimeAjv(): AjvClass {
  if (!ajv) {
    const { Ajv } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
    ajv = new Ajv(AJV_OPTIONS);
    for (const [name, def] of Object.entries(schemaFormats)) ajv.addFormat(name, def);
  }
  return ajv;
}

/** The schema compiled by Ajv now, never a generated validator (test/schema-validators compares the two). */
export function compileAtRunTime(schema: TSchema): ValidateFunction {
  return runtimeAjv().compile(schema);
}

const compiled = new WeakMap<TSchema, ValidateFunction>();

function validatorFor(schema: TSchema): ValidateFunction {
  let fn = compiled.get(schema);
  if (!fn) {
    const hash = schemaHash(schema);
    fn = Object.values(generated).find((g) => g.schemaHash === hash)?.validate ?? compileAtRunTime(schema);
    compiled.set(schema, fn);
  }
  return fn;
}

export interface ValidateOptions {
  strict?: boolean;
  /** Extra words for the unknown-key message, per path prefix (e.g. agentsh ignores this key). */
}

export function validateAgainst(schema: TSchema, src: YamlSource, opts: ValidateOptions = {}): Diagnostic[] {
  const fn = validatorFor(schema);
  if (fn(src.data)) return [];
  return dedupe(collapseUnions(fn.errors ?? [])).map((e) => toDiagnostic(e, src, opts.strict ?? false));
}

// anyOf/oneOf failures make Ajv report every branch's complaint; keep the union's own
// error and drop the branch noise beneath the same instance path.
function collapseUnions(errors: ErrorObject[]): ErrorObject[] {
  const unionPaths = new Set(errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => e.instancePath));
  return errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf' || !unionPaths.has(e.instancePath));
}

function dedupe(errors: ErrorObject[]): ErrorObject[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

function pointerToPath(pointer: string): SourcePath {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function valueAt(data: unknown, path: SourcePath): unknown {
  let v: unknown = data;
  for (const seg of path) v = v == null ? undefined : (v as Record<string | number, unknown>)[seg];
  return v;
}

function toDiagnostic(e: ErrorObject, src: YamlSource, strict: boolean): Diagnostic {
  const path = pointerToPath(e.instancePath);
  const value = valueAt(src.data, path);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      return src.diag(strict ? 'error' : 'warning', 'unknown-key', `unknown key '${key}'`, [...path, key], true);
    }
    case 'required':
      return src.diag('error', 'missing-key', `missing required key '${String(p.missingProperty)}'`, path);
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map(String).join(', ');
      return src.diag('error', 'invalid-value', `${JSON.stringify(value)} is not one of: ${allowed}`, path);
    }
    case 'type':
      return src.diag('error', 'wrong-type', `expected ${String(p.type).replace(',', ' or ')}, got ${describeType(value)}`, path);
    case 'format':
      return src.diag('error', 'invalid-value', formatMessage(String(p.format), value), path);
    case 'anyOf':
    case 'oneOf':
      return src.diag('error', 'wrong-type', `${describeType(value)} is not a valid value here`, path);
    default:
      return src.diag('error', 'invalid-value', `${e.message ?? 'invalid value'}${value === undefined ? '' : `: ${JSON.stringify(value)}`}`, path);
  }
}

function formatMessage(format: string, value: unknown): string {
  if (format === 'duration') return `invalid duration ${JSON.stringify(value)} (expected e.g. 500ms, 30s, 5m, 1h)`;
  if (format === 'byte-size') return `invalid size ${JSON.stringify(value)} (expected e.g. 512KB, 10MB)`;
  return `invalid ${format}: ${JSON.stringify(value)}`;
}
