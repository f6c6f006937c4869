// Streaming redaction: secrets split across chunks at every possible point are redacted,
// streamed output equals one-shot output, binary passes byte-exact, memory stays bounded,
// and ordinary text is not held back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { loadConfigFile } from '../src/config/load.js';
import { DEFAULT_MAX_MATCH_BYTES, Redactor, StreamRedactor, createRedactStream, fromConfig } from '../src/dlp/index.js';
import { POSITIVES, prng, syntheticOutput } from '../src/dlp/samples.js';
import { streamed } from './dlp-streamed.js';
import { SEED_CONFIG } from './helpers.js';

const RUNS = Number(process.env.DLP_FUZZ_RUNS) || 300;
const seed = fromConfig(loadConfigFile(SEED_CONFIG, { env: {} }).config.dlp)!;


/** The secret bytes that must not survive redaction. */
const secretCore = (p: (typeof POSITIVES)[number]): string => p.value ?? p.secret;

test('a secret split at every possible point is redacted, and equals one-shot', () => {
  for (const p of POSITIVES) {
    const input = Buffer.from(`log: ${p.secret}\nnext line\n`);
    const oneShot = seed.redactBuffer(input).buffer;
    assert.ok(!oneShot.includes(secretCore(p)), `${p.detector} not redacted one-shot`);
    for (let i = 1; i < input.length; i++) {
      const { out } = streamed(seed, input, [i]);
      assert.ok(out.equals(oneShot), `${p.detector} split at ${i}: ${JSON.stringify(out.toString())}`);
    }
    // byte by byte
    const { out } = streamed(seed, input, Array.from({ length: input.length - 1 }, (_, i) => i + 1));
    assert.ok(out.equals(oneShot), `${p.detector} byte by byte`);
  }
});

test('a secret split into three chunks at every pair of points (short secrets)', () => {
  for (const p of POSITIVES.filter((x) => x.secret.length <= 48)) {
    const input = Buffer.from(`> ${p.secret}.`);
    const oneShot = seed.redactBuffer(input).buffer;
    for (let i = 1; i < input.length; i++) {
      for (let j = i + 1; j < input.length; j++) assert.ok(streamed(seed, input, [i, j]).out.equals(oneShot), `${p.detector} at ${i},${j}`);
    }
  }
});

// Random text: fillers that tend to start or extend matches, and embedded secrets.
const fillers = ['hello ', 'world\n', 'a', '@', '-', '.', ' ', '1', '4', 'AKIA', 'sk-', 'eyJ', 'é', '\u0000', 'ghp_', '555-', '\n', 'x@y', '.com', '-----BEGIN ', '\r\n', '=', '/'];
const piece = fc.oneof(
  fc.constantFrom(...fillers),
  fc.constantFrom(...POSITIVES.map((p) => p.secret)).map((s) => ` ${s}\n`),
  fc.uint8Array({ maxLength: 6 }).map((a) => Buffer.from(a).toString('latin1')),
);
const inputArb = fc.array(piece, { maxLength: 14 }).map((ps) => Buffer.from(ps.join(''), 'latin1'));
const withCuts = inputArb.chain((input) =>
  fc.tuple(fc.constant(input), fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, input.length - 1) }), { maxLength: 12 }).map((c) => c.filter((x) => x < input.length).sort((a, b) => a - b))),
);

test('property: streamed output == one-shot output, for any text and any chunking', () => {
  fc.assert(
    fc.property(withCuts, ([input, cuts]) => {
      const one = seed.redactBuffer(input);
      const st = streamed(seed, input, cuts);
      assert.ok(st.out.equals(one.buffer), `${JSON.stringify(input.toString('latin1'))} cut at ${cuts}`);
      assert.deepEqual(st.findings, one.findings);
    }),
    { numRuns: RUNS },
  );
});

test('property: embedded secrets never survive, whatever the chunking', () => {
  const arb = fc.tuple(fc.array(fc.constantFrom(...POSITIVES), { minLength: 1, maxLength: 4 }), fc.array(fc.constantFrom(...fillers), { maxLength: 6 }), fc.integer({ min: 1, max: 64 }));
  fc.assert(
    fc.property(arb, ([secrets, noise, chunk]) => {
      const text = secrets.map((p, i) => `${noise[i] ?? ''} ${p.secret}\n`).join('');
      const input = Buffer.from(text);
      const cuts: number[] = [];
      for (let c = chunk; c < input.length; c += chunk) cuts.push(c);
      const out = streamed(seed, input, cuts).out.toString();
      for (const p of secrets) assert.ok(!out.includes(secretCore(p)), `${p.detector} survived in ${JSON.stringify(out)}`);
    }),
    { numRuns: RUNS },
  );
});

test('property: the same holds for custom patterns with assertions, flags and \\s', () => {
  const tricky = new Redactor(
    [
      '(?i)password\\s*[:=]\\s*\\S+',
      '\\bkey-\\d+\\b',
      '^start',
      '(?m)^#[^\\n]*$',
      'end$',
      'a*',
      'x{2,5}?y',
      '(?s)<<.*?>>',
      '\\Bin\\B',
      'tok_[a-z]{3,}(?:_[0-9]+)?',
    ].map((regex, i) => ({ name: `p${i}`, display: `P${i}`, regex, source: 'custom' as const })),
  );
  const bits = fc.oneof(
    fc.constantFrom('password', 'PassWord', ':', '=', ' ', '\n', 'key-', '12', 'start', '#', 'end', 'a', 'x', 'y', '<<', '>>', 'in', 'tok_', 'abc', '_9', '\t', 'é', '€').map((t) => Buffer.from(t)),
    fc.constantFrom(0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xff, 0x00).map((b) => Buffer.from([b])), // bits of UTF-8, invalid bytes
  );
  const arb = fc.array(bits, { maxLength: 30 }).chain((ps) => {
    const input = Buffer.concat(ps);
    return fc.tuple(fc.constant(input), fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, input.length - 1) }), { maxLength: 10 }).map((c) => c.filter((x) => x < input.length).sort((a, b) => a - b)));
  });
  fc.assert(
    fc.property(arb, ([input, cuts]) => {
      const one = tricky.redactBuffer(input);
      const st = streamed(tricky, input, cuts);
      assert.ok(st.out.equals(one.buffer), `${JSON.stringify(input.toString())} cut at ${cuts}: ${JSON.stringify(st.out.toString())} vs ${JSON.stringify(one.buffer.toString())}`);
    }),
    { numRuns: RUNS * 3 },
  );
});

test('random binary (8 MB, random chunks) streams exactly as one-shot; non-ASCII binary is byte-exact', () => {
  const rand = prng(42);
  const input = randomBytes(8 << 20);
  const cuts: number[] = [];
  for (let c = 0; c < input.length; ) {
    c += 1 + Math.floor(rand() * 100_000);
    if (c < input.length) cuts.push(c);
  }
  const one = seed.redactBuffer(input);
  const st = streamed(seed, input, cuts);
  assert.ok(st.out.equals(one.buffer));
  if (one.findings.length === 0) assert.ok(st.out.equals(input));

  // bytes no pattern can match (no ASCII letters, digits or punctuation): untouched
  const bin = randomBytes(4 << 20);
  for (let i = 0; i < bin.length; i++) if (bin[i]! >= 0x20 && bin[i]! < 0x80) bin[i] = bin[i]! | 0x80;
  const out = streamed(seed, bin, cuts.filter((c) => c < bin.length)).out;
  assert.ok(out.equals(bin), 'binary mangled');
  assert.ok(seed.redactBuffer(bin).buffer.equals(bin));

  // a secret inside binary: redacted, every other byte unchanged
  const key = 'AKIAQ3WZ7RX2MLP9TB4N';
  const blob = Buffer.concat([bin.subarray(0, 1000), Buffer.from(` ${key} `), bin.subarray(1000, 2000)]);
  const red = streamed(seed, blob, [500, 1003, 1010, 1500]).out;
  assert.ok(red.equals(Buffer.concat([bin.subarray(0, 1000), Buffer.from(' [REDACTED:AWS_KEY] '), bin.subarray(1000, 2000)])));
});

test('big chunks full of different secrets (decided in slices) match small chunks and one-shot', () => {
  const input = syntheticOutput(2 << 20, 11, 300); // a secret every ~300 bytes, all kinds
  const one = seed.redactBuffer(input);
  assert.ok(one.findings.length > 5000);
  const rand = prng(9);
  for (const maxChunk of [1000, 40_000, 300_000, 3 << 20]) {
    const cuts: number[] = [];
    for (let c = 0; ; ) {
      c += 1 + Math.floor(rand() * maxChunk);
      if (c >= input.length) break;
      cuts.push(c);
    }
    const st = streamed(seed, input, cuts);
    assert.ok(st.out.equals(one.buffer), `chunks up to ${maxChunk}`);
    assert.equal(st.findings.length, one.findings.length);
  }
});

test('ordinary text streams without delay; only a possible secret prefix is held', () => {
  const s = new StreamRedactor(seed);
  assert.equal(s.push(Buffer.from('Compiling 42 files…\n')).toString(), 'Compiling 42 files…\n');
  assert.equal(s.heldBytes, 0);
  // `Password: ` may be followed by one (generic_secret redacts the value of an assignment):
  // held until the rest of the line says
  assert.equal(s.push(Buffer.from('Password: ')).toString(), '');
  assert.equal(s.heldBytes, 10);
  assert.equal(s.push(Buffer.from('\n')).toString(), 'Password: \n');
  assert.equal(s.heldBytes, 0);
  // `AKIA12` could be the start of a key: held, and released once it cannot be
  assert.equal(s.push(Buffer.from('key AKIA12')).toString(), 'key ');
  assert.equal(s.heldBytes, 6);
  assert.equal(s.push(Buffer.from('34 ok\n')).toString(), 'AKIA1234 ok\n');
  assert.equal(s.push(Buffer.from('AKIAQ3WZ7RX2ML')).toString(), '');
  assert.equal(s.push(Buffer.from('P9TB4N\n')).toString(), '[REDACTED:AWS_KEY]\n');
  assert.equal(s.end().length, 0);
  assert.equal(s.findings, 1);
});

test('held bytes never exceed the window; a long run cannot pin memory', () => {
  const window = 4096;
  const s = new StreamRedactor(seed, { maxMatchBytes: window });
  const chunk = Buffer.alloc(1000, 'a'); // every prefix of a run of letters could become an e-mail address
  let out = 0;
  for (let i = 0; i < 2000; i++) {
    out += s.push(chunk).length;
    assert.ok(s.heldBytes <= window, `held ${s.heldBytes}`);
  }
  out += s.end().length;
  assert.equal(out, 2000 * 1000);
  assert.equal(DEFAULT_MAX_MATCH_BYTES, 16 * 1024);
});

test('chains of overlapping matches longer than the window are cut, not held', () => {
  const r = new Redactor([
    { name: 'ten', display: 'TEN', regex: '[a-z]{10}', source: 'custom' },
    { name: 'seven', display: 'SEVEN', regex: '[a-z]{7}', source: 'custom' },
  ]);
  const s = new StreamRedactor(r, { maxMatchBytes: 256 });
  const parts: Buffer[] = [];
  for (let i = 0; i < 100; i++) {
    parts.push(s.push(Buffer.alloc(100, 'q')));
    assert.ok(s.heldBytes <= 256 + 100, `held ${s.heldBytes}`);
  }
  parts.push(s.end());
  const text = Buffer.concat(parts).toString();
  assert.match(text, /^(\[REDACTED:(TEN|SEVEN)\])+$/, 'every byte of the chain is redacted');
});

test('flush() forces the held tail out; the stream continues', () => {
  const s = new StreamRedactor(seed);
  assert.equal(s.push(Buffer.from('id AKIA12')).toString(), 'id ');
  assert.equal(s.flush().toString(), 'AKIA12');
  assert.equal(s.flush().length, 0);
  assert.equal(s.push(Buffer.from(' then ghp_aZ3kQ9mW2xR7pL5vB8nT4yH6jC1dF0gSaZ3k done\n')).toString(), ' then [REDACTED:GITHUB_TOKEN] done\n');
  assert.throws(() => {
    s.end();
    s.push(Buffer.from('x'));
  }, /push after end/);
});

test('Transform: pipes, idle flush on request, PassThrough when DLP is off', async () => {
  const collect = async (stream: NodeJS.ReadWriteStream, chunks: string[]) => {
    const out: Buffer[] = [];
    await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), stream, new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }));
    return Buffer.concat(out).toString();
  };
  assert.equal(await collect(createRedactStream(seed), ['mail me: ann@ac', 'me.com now\n', 'AKIAQ3WZ7RX2', 'MLP9TB4N']), 'mail me: [REDACTED:EMAIL] now\n[REDACTED:AWS_KEY]');
  assert.equal(await collect(createRedactStream(null), ['ann@acme.com']), 'ann@acme.com');

  // idle flush: the held tail comes out after the pause
  const t = createRedactStream(seed, { idleFlushMs: 20 });
  const got: string[] = [];
  t.on('data', (c: Buffer) => got.push(c.toString()));
  t.write('token AKIA12');
  await sleep(5);
  assert.deepEqual(got, ['token ']);
  await sleep(60);
  assert.deepEqual(got, ['token ', 'AKIA12']);
  t.end();

  // without it, the tail waits for more bytes or the end
  const u = createRedactStream(seed);
  const got2: string[] = [];
  u.on('data', (c: Buffer) => got2.push(c.toString()));
  u.write('token AKIA12');
  await sleep(40);
  assert.deepEqual(got2, ['token ']);
  u.end();
  await new Promise((res) => u.on('end', res));
  assert.deepEqual(got2, ['token ', 'AKIA12']);
});

test('100 MB through the Transform: correct output, bounded memory', async () => {
  // one unit of output with secrets, ending at a line break, repeated 100 times; chunk
  // boundaries (a prime size) fall at different places in every repetition
  let unit = syntheticOutput(1 << 20, 7, 20_000);
  unit = unit.subarray(0, unit.lastIndexOf(0x0a) + 1);
  const expectedUnit = seed.redactBuffer(unit).buffer;
  const secretsPerUnit = seed.redactBuffer(unit).findings.length;
  assert.ok(secretsPerUnit >= 40);
  const reps = Math.ceil((100 << 20) / unit.length);
  const CHUNK = 65521;
  async function* source() {
    let off = 0;
    const total = unit.length * reps;
    while (off < total) {
      const u = off % unit.length;
      const n = Math.min(CHUNK, unit.length - u, total - off);
      yield unit.subarray(u, u + n);
      off += n;
    }
  }
  const before = process.memoryUsage();
  let peakExternal = 0;
  let pos = 0; // position in the expected (repeated) output
  let mismatch = -1;
  const t = createRedactStream(seed);
  let findings = 0;
  await pipeline(
    Readable.from(source()),
    t,
    new Writable({
      write(c: Buffer, _e, cb) {
        for (let i = 0; i < c.length; i++) {
          if (mismatch < 0 && c[i] !== expectedUnit[(pos + i) % expectedUnit.length]) mismatch = pos + i;
        }
        pos += c.length;
        const m = process.memoryUsage();
        peakExternal = Math.max(peakExternal, m.arrayBuffers + m.heapUsed);
        cb();
      },
    }),
  );
  findings = (t as unknown as { scanner: StreamRedactor }).scanner.findings;
  assert.equal(mismatch, -1, `output differs at byte ${mismatch}`);
  assert.equal(pos, expectedUnit.length * reps);
  assert.equal(findings, secretsPerUnit * reps);
  const grown = peakExternal - (before.arrayBuffers + before.heapUsed);
  assert.ok(grown < 96 << 20, `memory grew by ${(grown / 1048576).toFixed(0)} MB`);
});
