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
    assert.ok(one < 500, `one-shot ${one.toFixed(0)} ms`);
    assert.ok(big < 500, `64 KiB chunks ${big.toFixed(0)} ms`);
    assert.ok(small < 900, `4 KiB chunks ${small.toFixed(0)} ms`);
  });
}

test('a PEM header followed by a megabyte of base64-looking lines stays linear', () => {
  const input = Buffer.concat([Buffer.from('-----BEGIN RSA PRIVATE KEY-----'), rep('\nQUJD', MB)]);
  assert.ok(timeOneShot(seed, input) < 500);
  assert.ok(timeStream(seed, input, 4096) < 900);
  // the whole body is one redaction one-shot; streamed, it is cut at the window, and still
  // no base64 line survives
  const s = new StreamRedactor(seed);
  let out = '';
  for (let i = 0; i < input.length; i += 8192) out += s.push(input.subarray(i, i + 8192)).toString('latin1');
  out += s.end().toString('latin1');
  assert.doesNotMatch(out, /QUJD/);
});

test('time grows linearly with input size', () => {
  for (const unit of ['a', 'AKIA', 'a.', '4111 ']) {
    const t1 = Math.min(timeOneShot(seed, rep(unit, MB)), timeOneShot(seed, rep(unit, MB)));
    const t4 = Math.min(timeOneShot(seed, rep(unit, 4 * MB)), timeOneShot(seed, rep(unit, 4 * MB)));
    // 4× the input in well under 16× the time (quadratic would be 16×); slack for noise
    assert.ok(t4 < Math.max(10 * t1, 50), `${unit}: 1 MB ${t1.toFixed(1)} ms, 4 MB ${t4.toFixed(1)} ms`);
  }
});
