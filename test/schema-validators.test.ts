// The config and policy validators generated at build time (scripts/gen-validators.mjs) are the
// ones the loaders use, and they judge every document exactly as Ajv compiling the schemas at
// run time does (same errors, same order): the build step changes start-up time, nothing else.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ConfigSchema } from '../src/config/schema.js';
import { PolicySchema } from '../src/policy/schema.js';
import { schemaHash } from '../src/util/schema-build.js';
import { compileAtRunTime } from '../src/util/validate.js';
import { validators } from '../src/util/validators.generated.js';
import { SEED_DIR } from './helpers.js';

/** A deterministic stream of small changes to a document: wrong types, unknown keys, bad enums and formats, removed keys. */
function* mutations(doc: unknown, seed: number, n: number): Generator<unknown> {
  let x = seed;
  const rnd = (k: number) => ((x = (x * 1103515245 + 12345) & 0x7fffffff), x % k);
  const junk: unknown[] = [42, 'x', true, null, [], {}, [1, 'a'], { bogus: 1 }, '5 fortnights', '12 parsecs', -1, 'deny', 'allow'];
  for (let i = 0; i < n; i++) {
    const copy = structuredClone(doc) as Record<string, unknown>;
    for (let m = 0, edits = 1 + rnd(3); m < edits; m++) {
      // walk to a random container
      let node: unknown = copy;
      for (let depth = 0; depth < 4; depth++) {
        const keys = node && typeof node === 'object' ? Object.keys(node) : [];
        if (!keys.length || rnd(4) === 0) break;
        const next = (node as Record<string, unknown>)[keys[rnd(keys.length)]!];
        if (!next || typeof next !== 'object') break;
        node = next;
      }
      if (!node || typeof node !== 'object') continue;
      const rec = node as Record<string, unknown>;
      const keys = Object.keys(rec);
      const k = keys.length ? keys[rnd(keys.length)]! : 'k';
      switch (rnd(3)) {
        case 0: rec[k] = junk[rnd(junk.length)]; break;
        case 1: rec[`unknown_${rnd(100)}`] = junk[rnd(junk.length)]; break;
        default: delete rec[k];
      }
    }
    yield copy;
  }
}

describe('generated schema validators', () => {
  for (const [name, schema, file] of [['config', ConfigSchema, 'config.yaml'], ['policy', PolicySchema, 'default.yaml']] as const) {
    it(`${name}: generated from the current schema, so the loader uses it`, () => {
      assert.equal(validators[name]?.schemaHash, schemaHash(schema), 'dist/src/util/validators.generated.js is older than the schema: run npm run build');
    });
    it(`${name}: the same errors as Ajv compiling the schema at run time, on the seed and 400 mutations of it`, () => {
      const gen = validators[name]!.validate;
      const rt = compileAtRunTime(schema);
      const seed = parse(readFileSync(join(SEED_DIR, file), 'utf8'));
      let invalid = 0;
      for (const doc of [seed, ...mutations(seed, name.length, 400)]) {
        const a = gen(doc);
        const aErrors = structuredClone(gen.errors ?? null);
        const b = rt(doc);
        assert.equal(a, b, JSON.stringify(doc).slice(0, 400));
        assert.deepEqual(aErrors, structuredClone(rt.errors ?? null));
        if (!a) invalid++;
      }
      assert.ok(invalid > 100, `only ${invalid} of the mutations were invalid: the comparison proves little`);
    });
  }
});
