// Linear time on hostile output: long runs and repeated partial prefixes that would make a
// backtracking engine (or a naive rescan of the held tail) blow up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigFile } from '../src/config/load.js';
import { StreamRedactor, fromConfig, type Redactor } from '../src/dlp/index.js';
import { SEED_CONFIG } from './helpers.js';

const seed = fromConfig(loadConfigFile(SEED_CONFIG, { env: {} }).config.dlp)!;
const MB = 1 << 20;

const rep = (s: string, bytes: number): Buffer => Buffer.from(s.repeat(Math.ceil(bytes / s.length)).slice(0, bytes), 'latin1');

const CASES: [string, string][] = [
  ['a', 'a'],
  ['AKIA', 'AKIA'],
  ['sk-', 'sk-'],
  ['sk-ant-', 'sk-ant-'],
  ['a@', 'a@'],
  ['a.', 'a.'],
  ['x@y.', 'x@y.'],
  ['digits', '4'],
  ['1-', '1-'],
  ['card groups', '4111 '],
  ['phone parts', '(415) 555-'],
  ['ssn parts', '536-22-'],
  ['+1 ', '+1 '],
  ['eyJ.', 'eyJ.'],
  ['eyJa.eyJa.', 'eyJa.eyJa.'],
  ['PEM headers', '-----BEGIN '],
  ['ghp_', 'ghp_'],
  ['xoxb-1-', 'xoxb-1-'],
  ['aws_secret_access_key=', 'aws_secret_access_key='],
  ['\\n', '\\n'],
];

const DENSE = new Set(['4111 ', 'eyJ.', 'eyJa.eyJa.']);

function timeOneShot(r: Redactor, input: Buffer): number {
  const t0 = performance.now();
  r.redactBuffer(input);
  return performance.now() - t0;
}

function timeStream(r: Redactor, input: Buffer, chunk: number): number {
  const t0 = performance.now();
  const s = new StreamRedactor(r);
  let n = 0;
  for (let i = 0; i < input.length; i += chunk) n += s.push(input.subarray(i, i + chunk)).length;
  n += s.end().length;
  assert.ok(n > 0);
  return performance.now() - t0;
}

for (const [name, unit] of CASES) {
  test(`1 MB of ${JSON.stringify(unit)} (${name}) is redacted in well under a second`, () => {
    const input = rep(unit, MB);
    const one = timeOneShot(seed, input);
    const big = timeStream(seed, input, 64 * 1024);
    const small = timeStream(seed, input, 4096);
    // dense inputs (a match or a rejected candidate every few bytes) cost ~3 µs per match
    // per detector; everything else runs at hundreds of MB/s
    const limit = DENSE.has(unit) ? 1000 : 400;
    assert.ok(one < limit, `one-shot ${one.toFixed(0)} ms`);
    assert.ok(big < limit, `64 KiB chunks ${big.toFixed(0)} ms`);
    assert.ok(small < limit, `4 KiB chunks ${small.toFixed(0)} ms`);
  });
}

test('a PEM header followed by a megabyte of base64-looking lines stays linear', () => {
  const input = Buffer.concat([Buffer.from('-----BEGIN RSA PRIVATE KEY-----'), rep('\nQUJD', MB)]);
  assert.ok(timeOneShot(seed, input) < 500);
  assert.ok(timeStream(seed, input, 4096) < 900);
  // one-shot: one redaction. Streamed, a match longer than the window (16 KiB) is cut there:
  // its first window is redacted, what follows the cut passes (a documented limit).
  assert.match(seed.redactBuffer(input).buffer.toString(), /^\[REDACTED:PRIVATE_KEY\]\n?$/);
  const s = new StreamRedactor(seed);
  let out = '';
  for (let i = 0; i < input.length; i += 8192) out += s.push(input.subarray(i, i + 8192)).toString('latin1');
  out += s.end().toString('latin1');
  assert.ok(out.startsWith('[REDACTED:PRIVATE_KEY]'));
  const survived = out.split('QUJD').length - 1;
  assert.ok(survived <= (input.length - 16 * 1024) / 5, `${survived} lines survived`);
});

test('time grows linearly with input size', () => {
  for (const unit of ['a', 'AKIA', 'a.', '4111 ', 'eyJ.']) {
    const t1 = Math.min(timeOneShot(seed, rep(unit, MB / 2)), timeOneShot(seed, rep(unit, MB / 2)));
    const t4 = Math.min(timeOneShot(seed, rep(unit, 2 * MB)), timeOneShot(seed, rep(unit, 2 * MB)));
    // 4× the input in well under 16× the time (quadratic would be 16×); slack for noise
    assert.ok(t4 < Math.max(10 * t1, 50), `${unit}: 0.5 MB ${t1.toFixed(1)} ms, 2 MB ${t4.toFixed(1)} ms`);
  }
});
