// Bounded, seeded fuzz runs for the fuzz-*.test.ts files: a fixed number of inputs AND a time
// cap per property, a seed printed for replay (AGENTSH_FUZZ_SEED) and a scale for longer runs
// (AGENTSH_FUZZ_SCALE). A failure writes the whole report to a file and fails with a digest.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';

const ENV_SEED = Number.parseInt(process.env.AGENTSH_FUZZ_SEED ?? '', 10);
export const SEED = Number.isSafeInteger(ENV_SEED) ? ENV_SEED : 0x5eed_c0f;
export const SCALE = Math.max(0.05, Number(process.env.AGENTSH_FUZZ_SCALE) || 1);

/** Prints the file's seed and scale (what a replay needs). */
export function announce(file: string): void {
  console.log(`${file}: seed ${SEED} (AGENTSH_FUZZ_SEED to replay), scale ${SCALE} (AGENTSH_FUZZ_SCALE)`);
}

type Details = fc.RunDetails<unknown>;

/** Buffers in counterexamples as latin1 text, not {type, data} arrays. */
const readable = (_: string, v: unknown) => ((v as { type?: string })?.type === 'Buffer' ? Buffer.from((v as { data: number[] }).data).toString('latin1') : v);

function failed(name: string, seed: number, r: Details): never {
  const report = fc.defaultReportMessage(r) ?? 'failed';
  const file = join(tmpdir(), `agentsh-fuzz-${name.replace(/\W+/g, '-')}-${seed}.txt`);
  writeFileSync(file, `${report}\n\ncounterexample:\n${JSON.stringify(r.counterexample, readable, 1)}\n`);
  const error = r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance);
  assert.fail(`${name} (seed ${seed}, ${r.numRuns} runs; full report in ${file}):\n${error.slice(0, 3000)}`);
}

/**
 * The time cap may end the first pass early; on a machine too busy for `minRuns` inputs in it,
 * more passes (other seeds, 4× the time each) run until there were that many: a fuzzer that
 * ran nothing proves nothing. Yields [seed, inputs, time limit] per pass; `tried` adds a pass's
 * result (and fails on a counterexample).
 */
function* schedule(name: string, salt: number, runs: number, ms: number, minRuns: number): Generator<[number, number, number], number, Details> {
  const need = Math.max(1, Math.floor(minRuns * Math.min(1, SCALE)));
  let total = 0;
  for (let i = 0; i === 0 || total < need; i++) {
    assert.ok(i < 4, `${name}: only ${total} inputs in the time allowed (need ${need})`);
    const seed = (SEED + salt * 7919 + i * 104_729) | 0;
    const r = yield [seed, i === 0 ? Math.ceil(runs * SCALE) : need - total, Math.ceil(ms * SCALE) * (i ? 4 : 1)];
    if (r.failed) failed(name, seed, r);
    total += r.numRuns;
  }
  return total;
}

const options = ([seed, numRuns, interruptAfterTimeLimit]: [number, number, number]) => ({ seed, numRuns, interruptAfterTimeLimit, markInterruptAsFailure: false, endOnFailure: true });

/** A synchronous property: at most `runs` inputs and `ms` milliseconds (both × SCALE), at least `minRuns`. Returns the inputs tried. */
export function fuzz<T>(name: string, salt: number, arb: fc.Arbitrary<T>, check: (v: T) => void, runs: number, ms: number, minRuns: number): number {
  const plan = schedule(name, salt, runs, ms, minRuns);
  let step = plan.next();
  while (!step.done) step = plan.next(fc.check(fc.property(arb, check), options(step.value)) as Details);
  return step.value;
}

/** The same for an asynchronous property. */
export async function fuzzAsync<T>(name: string, salt: number, arb: fc.Arbitrary<T>, check: (v: T) => Promise<void>, runs: number, ms: number, minRuns: number): Promise<number> {
  const plan = schedule(name, salt, runs, ms, minRuns);
  let step = plan.next();
  while (!step.done) step = plan.next((await fc.check(fc.asyncProperty(arb, check), options(step.value))) as Details);
  return step.value;
}
