// The "could a match still be in progress?" regexes behind the streaming boundary rule:
// pre(R) must accept every prefix of every match of R (else a split secret could escape).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import RE2 from 're2';
import { loadConfigFile } from '../src/config/load.js';
import { builtinDetectors, customDetectors, Redactor, StreamRedactor, type Detector } from '../src/dlp/index.js';
import { Scanner, type Finding } from '../src/dlp/redactor.js';
import { endAssertions, fixedByteLength, hasLeadingAssertion, leadingRegexSource, prefixRegexSource, reserializeForTest, windowPatternOf } from '../src/dlp/regex-prefix.js';
import { POSITIVES } from '../src/dlp/samples.js';
import { SEED_CONFIG } from './helpers.js';

/** DLP_FUZZ_RUNS=20000 for a longer fuzzing run. */
const RUNS = Number(process.env.DLP_FUZZ_RUNS) || 400;

const anchoredPre = (regex: string): RE2 => {
  const src = prefixRegexSource(regex);
  assert.ok(src !== null, `no prefix regex for ${regex}`);
  return new RE2(`^(?:${src})$`);
};

function allMatches(regex: string, text: string): string[] {
  const re = new RE2(regex, 'g');
  const out: string[] = [];
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[0] === '') {
      re.lastIndex++;
      if (re.lastIndex > text.length) break;
    } else out.push(m[0]);
  }
  return out;
}

function assertPrefixesAccepted(regex: string, match: string): void {
  const pre = anchoredPre(regex);
  for (let j = 0; j <= match.length; j++) {
    assert.ok(pre.test(match.slice(0, j)), `prefix ${JSON.stringify(match.slice(0, j))} of a match of /${regex}/ rejected`);
  }
}

const seedCustom = customDetectors(loadConfigFile(SEED_CONFIG, { env: {} }).config.dlp.custom_patterns);

test('every built-in and seed pattern has a prefix regex', () => {
  for (const d of [...builtinDetectors, ...seedCustom]) assert.notEqual(prefixRegexSource(d.regex), null, d.name);
});

test('every prefix of every sample secret is a possible match in progress', () => {
  const detectors = [...builtinDetectors, ...seedCustom];
  for (const p of POSITIVES) {
    for (const d of detectors) {
      for (const m of allMatches(d.regex, p.secret)) assertPrefixesAccepted(d.regex, m);
    }
  }
});

test('text that cannot become a match is not held', () => {
  const email = anchoredPre(builtinDetectors.find((d) => d.name === 'email')!.regex);
  assert.ok(email.test('john.doe@acme'));
  assert.ok(!email.test('john doe'));
  const aws = anchoredPre('AKIA[0-9A-Z]{16}');
  assert.ok(aws.test('AKI'));
  assert.ok(aws.test('AKIA0123456789ABCDEF'));
  assert.ok(!aws.test('AKIA0123456789ABCDEFG'), 'longer than any match');
  assert.ok(!aws.test('AKIB'));
  const pem = anchoredPre(builtinDetectors.find((d) => d.name === 'private_key')!.regex);
  assert.ok(pem.test('-----BEGIN RSA PRIVATE KEY-----\nMIIE'));
  assert.ok(!pem.test('-- not a key'));
});

test('flags and syntax: case folding, dot-all, \\Q…\\E, classes, counted repeats', () => {
  const cases: [string, string, boolean][] = [
    ['(?i)secret=\\w+', 'SeCrEt=', true],
    ['(?i)secret=\\w+', 'SeCrEx', false],
    ['a(?i:b)c', 'aB', true],
    ['a(?i:b)c', 'aBC', false], // c is outside the (?i:…) group
    ['x(?i)y|z', 'Z', true], // (?i) reaches into later alternatives, as in RE2
    ['a.b', 'a\n', false],
    ['(?s)a.b', 'a\n', true],
    ['\\Qa.b\\E+', 'a.bbb', true],
    ['\\Qa.b\\E+', 'axb', false],
    ['[]a]+z', ']a]', true],
    ['[^\\n]{3}', 'ab\n', false],
    ['[[:digit:]x]{2}', '9x', true],
    ['a{2}{3}', 'aaaaa', true],
    ['a{2}{3}', 'aaaaaaa', false],
    ['a{,2}', 'a{,', true], // not a repetition in RE2: literal text
    ['\\x{41}\\x42\\101', 'ABA', true],
    ['(?P<name>ab)(?<other>cd)', 'abc', true],
    ['\\bfoo\\b$', 'foo', true],
    ['\\pL+\\d', 'é', true],
    ['\\pL+\\d', 'é-', false],
  ];
  for (const [regex, text, expected] of cases) assert.equal(anchoredPre(regex).test(text), expected, `/${regex}/ on ${JSON.stringify(text)}`);
});

test('syntax the analyser does not know falls back to holding a window, still exact', () => {
  const deep = `${'('.repeat(250)}k${')'.repeat(250)}ey=\\d+`;
  assert.equal(prefixRegexSource(deep), null);
  const r = new Redactor([{ name: 'deep', display: 'DEEP', regex: deep, source: 'custom' }]);
  const s = new StreamRedactor(r, { maxMatchBytes: 1024 });
  const text = Buffer.from(`${'plain text '.repeat(400)} key=123 ${'more '.repeat(100)}`);
  const out: Buffer[] = [];
  for (let i = 0; i < text.length; i += 100) out.push(s.push(text.subarray(i, i + 100)));
  out.push(s.end());
  assert.equal(Buffer.concat(out).toString(), r.redact(text.toString()).text);
  assert.match(Buffer.concat(out).toString(), /\[REDACTED:DEEP\]/);
});

// Random regexes: pre(R) accepts every prefix of every match, and the analyser's reading of
// R (assertions dropped) accepts exactly R's language.
const atom = fc.constantFrom('a', 'b', 'c', 'k', '-', '.', '[ab]', '[^a]', '\\d', '\\.', '[a-c-]', 'K', '\\x{41}', '\\Qa.\\E', '[[:upper:]]', '\\pL');
const assertion = fc.constantFrom('\\b', '^', '$', '\\B', '\\A', '\\z');
const quant = fc.constantFrom('*', '+', '?', '{2}', '{1,3}', '{2,}', '*?', '+?', '??', '{0,2}?');
const { regex: regexArb } = fc.letrec<{ regex: string }>((tie) => ({
  regex: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    atom,
    fc.tuple(tie('regex'), tie('regex')).map(([a, b]) => a + b),
    fc.tuple(tie('regex'), tie('regex')).map(([a, b]) => `(?:${a}|${b})`),
    fc.tuple(tie('regex'), quant).map(([a, q]) => `(?:${a})${q}`),
    tie('regex').map((a) => `(${a})`),
    tie('regex').map((a) => `(?i:${a})`),
    tie('regex').map((a) => `(?s:${a})`),
    tie('regex').map((a) => `(?i)${a}`),
    fc.tuple(assertion, tie('regex')).map(([s, a]) => s + a),
  ),
}));
const textArb = fc.array(fc.constantFrom('a', 'b', 'c', 'k', 'K', 'A', '-', '.', '1', '\n', ' ', '\u212a', 'é'), { maxLength: 40 }).map((a) => a.join(''));

test('property: every prefix of every match of a random regex is accepted', () => {
  fc.assert(
    fc.property(regexArb, textArb, (regex, text) => {
      for (const m of allMatches(regex, text)) assertPrefixesAccepted(regex, m);
    }),
    { numRuns: RUNS },
  );
});

test('property: the analyser reads a random regex as RE2 does', () => {
  fc.assert(
    fc.property(regexArb.filter((r) => !/\\b|\\B|\^|\$|\\A|\\z/.test(r)), textArb, (regex, text) => {
      const ser = reserializeForTest(regex);
      assert.ok(ser !== null);
      const a = new RE2(`^(?:${regex})$`).test(text);
      const b = new RE2(`^(?:${ser})$`).test(text);
      assert.equal(b, a, `/${regex}/ read as /${ser}/ differs on ${JSON.stringify(text)}`);
    }),
    { numRuns: RUNS },
  );
});

test('fixed match lengths are recognised only when every match has that many bytes', () => {
  assert.equal(fixedByteLength('AKIA[0-9A-Z]{16}'), 20);
  assert.equal(fixedByteLength('dtn_[a-zA-Z0-9]{64}'), 68);
  assert.equal(fixedByteLength('\\d{3}-\\d{2}-\\d{4}\\b'), 11);
  assert.equal(fixedByteLength('(?:ab|cd)e'), 3);
  for (const varies of ['a+', 'ab|c', 'a.b', '[^x]', '(?i)k', '\\pL', 'é', '\\W', '[\\x{80}-\\x{10FFFF}]', '(?:ab){2,3}']) {
    assert.equal(fixedByteLength(varies), null, varies);
  }
});

test('property: a regex said to have a fixed length only ever matches that many bytes', () => {
  fc.assert(
    fc.property(regexArb, textArb, (regex, text) => {
      const len = fixedByteLength(regex);
      if (len === null) return;
      for (const m of allMatches(regex, text)) assert.equal(Buffer.byteLength(m), len, `/${regex}/ matched ${JSON.stringify(m)}`);
    }),
    { numRuns: RUNS },
  );
});

test('leading assertions are recognised', () => {
  for (const yes of ['\\bfoo', '^a', '(?m)^#', 'a?\\Bb', '(?:x*|\\A)y', '$', '(?:\\b)+k']) assert.ok(hasLeadingAssertion(yes), yes);
  for (const no of ['foo\\b', 'a\\bb', '[0-9]{3}-[0-9]{2}\\b', 'x+$', 'AKIA[A-Z]{16}', '(?:ab|c)\\z']) assert.ok(!hasLeadingAssertion(no), no);
});

test('property: without a leading assertion, a search on a view finds what a search from that offset finds', () => {
  fc.assert(
    fc.property(regexArb, textArb, fc.nat(40), (regex, text, at) => {
      if (hasLeadingAssertion(regex)) return;
      const buf = Buffer.from(text);
      const from = Math.min(at, buf.length);
      const re = new RE2(regex, 'g');
      re.lastIndex = from;
      const m = re.exec(buf);
      const s = re.search(buf.subarray(from));
      assert.equal(s < 0 ? -1 : from + s, m ? m.index : -1, `/${regex}/ on ${JSON.stringify(text)} from ${from}`);
    }),
    { numRuns: RUNS },
  );
});

// The prefilter (redactor.ts) runs the leading part of every regex in one RE2.Set: a
// detector it does not flag is not scanned, so every match of a regex must begin with a
// match of its leading part.
test('leading parts: every match of a regex begins with a match of its leading part', () => {
  // [regex, bytes, texts the leading part matches at their start, texts it does not]
  const cases: [string, number, string[], string[]][] = [
    ['AKIA[A-Z0-9]{16}', 4, ['AKIA', 'AKIAx'], ['AKI', 'akia']],
    ['ghp_[A-Za-z0-9]{36}', 4, ['ghp_'], ['ghp']],
    // a literal run goes on past the 4 bytes
    ['https://hooks\\.slack\\.com/(?:services|workflows)/[A-Z]{20,}', 4, ['https://hooks.slack.com/'], ['https://example.com/']],
    // a counted repeat is cut to what is needed
    ['[2-6][0-9]{3}(?:[ -]?[0-9]){9,15}\\b', 8, ['4111 1111 1111 1', '4111111111111'], ['4111 1111 1111', '1111 1111 1111 1']],
    ['\\bkey-\\d+\\b', 5, ['key-1'], ['key-', 'xkey']],
    ['(?i)pass(?:w(?:or)?d)?[:=]x', 4, ['pass', 'PASS'], ['pas']],
    ['(?:ab|cdef)gh', 3, ['abgh', 'cdefgh'], ['abg', 'cdgh']],
    ['^$', 4, [''], []],
  ];
  for (const [regex, need, yes, no] of cases) {
    const lead = leadingRegexSource(regex, need)!;
    const re = new RE2(`^(?:${lead})`);
    for (const t of yes) assert.ok(re.test(t), `${regex} → ${lead} should match ${JSON.stringify(t)}`);
    for (const t of no) assert.ok(!re.test(t), `${regex} → ${lead} should not match ${JSON.stringify(t)}`);
  }
  const detectors = [...builtinDetectors, ...seedCustom];
  const leads = detectors.map((d) => new RE2(`^(?:${leadingRegexSource(d.regex, d.group && d.group !== 'api_keys' ? 8 : 4) ?? d.regex})`));
  // every sample's matches
  for (const p of POSITIVES) {
    detectors.forEach((d, i) => {
      for (const m of allMatches(d.regex, p.secret)) assert.ok(leads[i]!.test(m), `${d.name}: match ${JSON.stringify(m.slice(0, 40))} does not begin with its leading part`);
    });
  }
  // and fuzzed text made of bits of secrets and separators
  const bits = fc.constantFrom(...POSITIVES.map((p) => p.secret.slice(0, 12)), ...POSITIVES.map((p) => p.secret.slice(-10)), ' ', '\n', '=', ':', '@', '.', '-', '_', '1', 'a', 'A', '"', '//');
  fc.assert(
    fc.property(fc.array(bits, { maxLength: 20 }), (parts) => {
      const text = parts.join('');
      detectors.forEach((d, i) => {
        for (const m of allMatches(d.regex, text)) assert.ok(leads[i]!.test(m), `${d.name} on ${JSON.stringify(text)}`);
      });
    }),
    { numRuns: RUNS },
  );
});

test('the prefilter flags every detector that matches (whole redactor, fuzzed text)', () => {
  const r = new Redactor([...seedCustom, ...builtinDetectors]);
  assert.ok(r.sets && r.sets.length >= 1);
  const exact = r.detectors.map((d) => new RE2(d.regex));
  const bits = fc.constantFrom(...POSITIVES.map((p) => p.secret), ' ', '\n', 'password=', 'x', '@', '4111 ', '-', 'DE89 ');
  fc.assert(
    fc.property(fc.array(bits, { maxLength: 8 }), (parts) => {
      const buf = Buffer.from(parts.join(' '));
      const flagged = new Set<number>();
      for (const { set, members } of r.sets!) for (const h of set.match(buf)) flagged.add(members[h]!);
      exact.forEach((re, i) => {
        if (re.test(buf)) assert.ok(flagged.has(i), `${r.detectors[i]!.name} matches but is not flagged`);
      });
    }),
    { numRuns: RUNS },
  );
});

// A match's start found from its end (redactor.ts startFromEnd): `(?:R)\z` searched on the
// bytes from where the search began to the match's end finds the forward search's start.
test('end assertions are classified', () => {
  for (const [regex, want] of [
    ['abc', 'none'], ['a\\b', 'word'], ['\\Bx', 'word'], ['(?m)^a', 'none'], ['a\\Ab', 'none'],
    ['a$', null], ['(?m:a$)', null], ['a\\z', null], [`${'('.repeat(250)}a${')'.repeat(250)}`, null],
  ] as const) assert.equal(endAssertions(regex), want, regex);
});

test('property: a match found forward is found again backward from its end', () => {
  const isWord = (b: number | undefined) => b !== undefined && /\w/.test(String.fromCharCode(b));
  fc.assert(
    fc.property(regexArb, textArb, fc.nat(40), (regex, text, at) => {
      const ends = endAssertions(regex);
      if (ends === null || hasLeadingAssertion(regex)) return;
      const buf = Buffer.from(text);
      const re = new RE2(regex, 'g');
      const rev = new RE2(`(?:${regex})\\z`);
      let from = Math.min(at, buf.length);
      re.lastIndex = from;
      for (let m = re.exec(buf); m !== null; m = re.exec(buf)) {
        const e = m.index + m[0].length;
        if (ends === 'none' || !isWord(buf[e])) {
          const s = rev.search(buf.subarray(from, e));
          assert.equal(from + s, m.index, `/${regex}/ on ${JSON.stringify(text)}: match at ${m.index}..${e} searched from ${from}`);
        }
        if (e === m.index) re.lastIndex = e + 1;
        if (re.lastIndex > buf.length) break;
        from = re.lastIndex;
      }
    }),
    { numRuns: RUNS },
  );
});

// The windowed prefilter (redactor.ts): a detector is searched only from the windows where
// one of its window patterns occurs (stepping back over its `back` bytes), run by run, on
// views of the buffer. None of that may change a finding: compared with the same detectors
// searched everywhere (no prefilter), on long text, with windows down to one byte.
const bytesOf = (back: { atoms: readonly string[]; nonAscii: boolean }): ((b: number) => boolean) => {
  const res = back.atoms.map((a) => new RE2(`^(?:${a})$`));
  return (b) => (b >= 0x80 && back.nonAscii) || res.some((re) => re.test(Buffer.from([b])));
};

test('window patterns: every match holds an occurrence, preceded only by back bytes', () => {
  const email = windowPatternOf(builtinDetectors.find((d) => d.name === 'email')!.regex, 8, 40, 64)!;
  // @domain. (the local part is left to `back`), and @ + 64 domain characters for longer ones
  assert.deepEqual(email.members.map((m) => m.maxBytes), [Infinity, 65]);
  assert.ok(new RE2(email.members[0]!.source).test('@mail.acme') && !new RE2(email.members[0]!.source).test('@babel/core'));
  assert.ok(email.back && bytesOf(email.back)(0x2e) && !bytesOf(email.back)(0x40) && !email.back.nonAscii, 'the local part steps back, not the @');
  // an unbounded run inside: the member keeps it, and a bounded partner covers long runs
  const pw = windowPatternOf('(?i)(?:pass|pwd)[ \\t]*[:=][ \\t]*\\S{6,}', 8, 40, 64)!;
  assert.equal(pw.members.length, 2);
  assert.equal(pw.members[0]!.maxBytes, Infinity);
  assert.ok(pw.members[1]!.maxBytes <= 65);
  assert.ok(new RE2(pw.members[1]!.source).test(`pass${' '.repeat(70)}=`));
  assert.equal(windowPatternOf('a*', 4, 40, 64), null, 'a member matching the empty string would flag everything');
  fc.assert(
    fc.property(regexArb, textArb, (regex, text) => {
      const w = windowPatternOf(regex, 4, 40, 64);
      if (w === null) return;
      const members = w.members.map((m) => ({ re: new RE2(`^(?:${m.source})`), max: m.maxBytes }));
      const back = w.back ? bytesOf(w.back) : () => false;
      const buf = Buffer.from(text);
      const re = new RE2(regex, 'g');
      for (let m = re.exec(buf); m !== null; m = re.exec(buf)) {
        const s = m.index;
        const e = s + m[0].length;
        let ok = false;
        for (let q = s; q <= e && !ok; q++) {
          for (const mem of members) {
            const o = mem.re.exec(buf.subarray(q, e));
            if (o) {
              assert.ok(o[0].length <= mem.max, `/${regex}/: an occurrence longer than its bound`);
              ok = true;
            }
          }
          if (!ok && !back(buf[q]!)) break;
        }
        assert.ok(ok, `/${regex}/ on ${JSON.stringify(text)}: no window pattern occurrence in the match at ${s}..${e}`);
        if (e === s) re.lastIndex = e + 1;
        if (re.lastIndex > buf.length) break;
      }
    }),
    { numRuns: RUNS },
  );
});

function scanned(red: Redactor, buf: Buffer, opts: { windowBytes?: number; viewMargin?: number; chunk?: number } = {}): string {
  const found: Finding[] = [];
  const sc = new Scanner(red, { maxMatchBytes: opts.chunk ? 1 << 20 : Infinity, onFinding: (f) => found.push(f), ...opts });
  const out: Buffer[] = [];
  if (opts.chunk) for (let i = 0; i < buf.length; i += opts.chunk) out.push(sc.push(buf.subarray(i, i + opts.chunk)));
  out.push(opts.chunk ? sc.end() : sc.end(buf));
  return `${Buffer.concat(out).toString('latin1')}\n${JSON.stringify(found)}`;
}

/** The same detectors with the prefilter turned off: every detector searches everything. */
function unfiltered(dets: readonly Detector[]): Redactor {
  const r = new Redactor(dets);
  (r as unknown as { prefilter: null }).prefilter = null;
  return r;
}

const runsArb = fc
  .array(
    fc.oneof(
      fc.constantFrom('a', 'b', 'c', 'k', 'K', 'A', '-', '.', '1', '\n', ' ', '\u212a', 'é', '=', ':'),
      fc.tuple(fc.constantFrom('a', 'ab', '1', ' ', 'k-', '.a'), fc.integer({ min: 1, max: 150 })).map(([c, n]) => c.repeat(n)),
    ),
    { maxLength: 30 },
  )
  .map((a) => a.join(''));

test('property: the windowed prefilter changes no finding (random regexes, any window size)', () => {
  fc.assert(
    fc.property(fc.array(regexArb, { minLength: 2, maxLength: 3 }), runsArb, fc.integer({ min: 1, max: 80 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 200 }), (regexes, text, win, margin, chunk) => {
      const dets: Detector[] = regexes.map((regex, i) => ({ name: `r${i}`, display: `R${i}`, regex, source: 'custom' }));
      const buf = Buffer.from(text);
      const want = scanned(unfiltered(dets), buf);
      const red = new Redactor(dets);
      assert.equal(scanned(red, buf, { windowBytes: win, viewMargin: margin }), want, `${JSON.stringify(regexes)} on ${JSON.stringify(text)}, windows of ${win}`);
      assert.equal(scanned(red, buf, { windowBytes: win, viewMargin: margin, chunk }), want, `streamed in ${chunk}-byte chunks`);
    }),
    { numRuns: RUNS },
  );
});

test('property: the windowed prefilter changes no finding (built-ins and the seed patterns, fuzzed text)', () => {
  const dets = [...seedCustom, ...builtinDetectors];
  const red = new Redactor(dets);
  const plain = unfiltered(dets);
  const bits = fc.oneof(
    fc.constantFrom(...POSITIVES.map((p) => p.secret), ' ', '\n', '=', ': ', '"', '@', '.', '-', '_', 'password', 'token', '://', 'x'),
    fc.constantFrom(...POSITIVES.map((p) => p.secret)).map((s) => s.slice(0, Math.ceil(s.length / 2))),
    fc.tuple(fc.constantFrom('a', '4', ' ', 'x.', 'A1', '\\n'), fc.integer({ min: 1, max: 120 })).map(([c, n]) => c.repeat(n)),
  );
  fc.assert(
    fc.property(fc.array(bits, { maxLength: 24 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 500 }), (parts, win, chunk) => {
      const buf = Buffer.from(parts.join(''));
      const want = scanned(plain, buf);
      assert.equal(scanned(red, buf, { windowBytes: win }), want, `windows of ${win}`);
      assert.equal(scanned(red, buf, { windowBytes: win, chunk }), want, `windows of ${win}, ${chunk}-byte chunks`);
    }),
    { numRuns: Math.max(50, RUNS >> 2) },
  );
});
