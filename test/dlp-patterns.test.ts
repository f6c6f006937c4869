// DLP detectors: every built-in on true positives and hard negatives, the seed config's
// custom patterns, and how `dlp` config turns into a Redactor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResolvedConfig } from '../src/config/load.js';
import { loadConfigFile } from '../src/config/load.js';
import {
  BUILTIN_GROUPS, DlpConfigError, Redactor, builtinDetectors, customDetectors, fromConfig, luhnValid,
  type DlpConfigLike,
} from '../src/dlp/index.js';
import { NEGATIVES, POSITIVES, withLuhn } from '../src/dlp/samples.js';
import { SEED_CONFIG } from './helpers.js';

// The resolved config's dlp section is what fromConfig takes (compile-time check).
const _typeCheck = (c: ResolvedConfig['dlp']): DlpConfigLike => c;
void _typeCheck;

const all = fromConfig({ mode: 'redact' })!;
const seedDlp = loadConfigFile(SEED_CONFIG, { env: {} }).config.dlp;

test('every built-in detector has a true positive sample', () => {
  const covered = new Set(POSITIVES.map((p) => p.detector));
  for (const d of builtinDetectors) assert.ok(covered.has(d.name), `no sample for ${d.name}`);
});

for (const p of POSITIVES) {
  test(`built-in ${p.detector} redacts ${JSON.stringify(p.secret.slice(0, 40))}`, () => {
    for (const [before, after] of [['', ''], ['value: ', '\n'], ['("', '")'], ['x=', ', next']] as const) {
      const text = `${before}${p.secret}${after}`;
      const { text: out, findings } = all.redact(text);
      assert.equal(out, `${before}${p.redacted ?? `[REDACTED:${p.display}]`}${after}`, `in ${JSON.stringify(text)}`);
      assert.equal(findings.length, 1);
      assert.equal(findings[0]!.name, p.detector);
      assert.equal(findings[0]!.display, p.display);
      // offsets point at the replaced span of the input
      const span = text.slice(findings[0]!.start, findings[0]!.end);
      assert.ok(p.secret.includes(span) && span.length > 0);
    }
  });
}

for (const n of NEGATIVES) {
  test(`hard negative stays: ${n.note}`, () => {
    const { text, findings } = all.redact(n.text);
    assert.deepEqual(findings, [], `unexpected ${findings.map((f) => `${f.name}:${n.text.slice(f.start, f.end)}`).join(', ')}`);
    assert.equal(text, n.text);
  });
}

test('credit cards: Luhn, issuer prefixes and lengths', () => {
  assert.ok(luhnValid('4111111111111111'));
  assert.ok(!luhnValid('4111111111111112'));
  const card = new Redactor(builtinDetectors.filter((d) => d.group === 'credit_card'));
  const found = (s: string) => card.redact(`n ${s} .`).findings.length === 1;
  for (const ok of [withLuhn('411111111112'), withLuhn('401288888888189'), withLuhn('37828224631001'), withLuhn('3056930902591'), withLuhn('622126000000001')]) {
    assert.ok(found(ok), `${ok} is a card`);
  }
  // published test numbers are not cards anyone owns
  for (const no of ['4111 1111 1111 1111', '4242424242424242', '4012888888881881', '5555 5555 5555 4444', '3782 822463 10005']) assert.ok(!found(no), `${no} is a test card`);
  for (const no of [
    withLuhn('41111111111111'), // Visa with 15 digits
    withLuhn('510510510510510'.slice(0, 14)), // Mastercard with 15 digits
    withLuhn('3782822463100'), // Amex with 14 digits
    withLuhn('722222222222222'), // issuer 7
    '4111 1111-1111 1111', // mixed separators
    '0.' + withLuhn('411111111111111'), // a fraction
  ]) {
    assert.ok(!found(no), `${no} is not a card`);
  }
});

test('SSN: valid ranges only; undashed only right after the word SSN', () => {
  const ssn = new Redactor(builtinDetectors.filter((d) => d.group === 'ssn'));
  const found = (s: string) => ssn.redact(`id ${s}.`).findings.length;
  assert.equal(found('001-01-0001'), 1);
  assert.equal(found('899-99-9999'), 1);
  assert.equal(found('665-12-3456'), 1);
  for (const no of ['000-12-3456', '666-12-3456', '900-12-3456', '999-12-3456', '536-00-1234', '536-22-0000', '111-11-1111', '536 22 1234', '536221234', '1536-22-1234', '536-22-12345']) {
    assert.equal(found(no), 0, no);
  }
  // with the keyword, the undashed and spaced forms count (same ranges)
  const kw = (s: string) => ssn.redact(s).text;
  assert.equal(kw('SSN: 536221234'), 'SSN: [REDACTED:US_SSN]');
  assert.equal(kw('ssn 536 22 1234.'), 'ssn [REDACTED:US_SSN].');
  assert.equal(kw('Social Security Number: 536-22-1234'), 'Social Security Number: [REDACTED:US_SSN]');
  for (const no of ['SSN: 666221234', 'SSN: 123456789', 'lessn 536221234', 'SSN: 5362212345']) assert.equal(kw(no), no, no);
});

test('phones: NANP needs separators or +1; international needs +', () => {
  const phone = new Redactor(builtinDetectors.filter((d) => d.group === 'phone'));
  const found = (s: string) => phone.redact(`tel ${s} ok`).findings.length;
  for (const ok of ['(212) 555-0300', '(212)555-0300', '212-555-0300', '+1-212-555-0300', '+1.212.555.0300', '+49 30 901820', '+33 1 42 68 53 00']) assert.equal(found(ok), 1, ok);
  for (const no of ['2125550300', '212 555 0300', '112-555-0300', '212-055-0300', '212-555-03000', '12.212.555.0300', '+1234', 'x212-555-0300']) assert.equal(found(no), 0, no);
  // 555-0100 … 555-0199 are reserved for fiction and documentation
  for (const no of ['(212) 555-0100', '212-555-0199', '+1 415 555 0142']) assert.equal(found(no), 0, no);
});

test('emails: real addresses, not documentation or file names', () => {
  const email = new Redactor(builtinDetectors.filter((d) => d.group === 'email'));
  const redact = (s: string) => email.redact(s).text;
  assert.equal(redact('From: Ann <ann@acme.com>'), 'From: Ann <[REDACTED:EMAIL]>');
  assert.equal(redact('to bob.smith@mail.example.org.'), 'to bob.smith@mail.example.org.'); // *.example.org
  assert.equal(redact('x@sub.corp.net, y@corp.io'), '[REDACTED:EMAIL], [REDACTED:EMAIL]');
  assert.equal(redact('root@localhost admin@box.local'), 'root@localhost admin@box.local');
  // the password of a URL is no address (the URL detectors redact just the password)
  assert.equal(redact('https://user:Hunt3r-22@db.acme.io/x'), 'https://user:Hunt3r-22@db.acme.io/x');
  assert.equal(redact('mailto:ann@acme.com'), 'mailto:[REDACTED:EMAIL]');
  assert.equal(all.redact('https://user:Hunt3r-22@db.acme.io/x').text, 'https://user:[REDACTED:BASIC_AUTH_URL]@db.acme.io/x');
  // a URL's user name (a Sentry DSN's key), a message id, a token in a URL: not addresses
  assert.equal(redact('https://3a1046dce24df0a2@o212245.ingest.sentry.io/6214709'), 'https://3a1046dce24df0a2@o212245.ingest.sentry.io/6214709');
  assert.equal(redact('<15349299781970.4322810304528547@mg.acme-corp.io>'), '<15349299781970.4322810304528547@mg.acme-corp.io>');
  assert.equal(redact(`${'a'.repeat(65)}@acme.com`), `${'a'.repeat(65)}@acme.com`);
});

test('overlapping matches become one redaction: earliest start, then longest', () => {
  const r = new Redactor([
    { name: 'short', display: 'SHORT', regex: 'abc', source: 'custom' },
    { name: 'long', display: 'LONG', regex: 'abcdef', source: 'custom' },
    { name: 'later', display: 'LATER', regex: 'defgh', source: 'custom' },
    { name: 'same', display: 'SAME', regex: 'abcdef', source: 'custom' },
  ]);
  const { text, findings } = r.redact('xx abcdefghij yy');
  // abc, abcdef (twice) and defgh overlap: one redaction covering abcdefgh, labelled by the
  // longest span starting first, first-listed among equals
  assert.equal(text, 'xx [REDACTED:LONG]ij yy');
  assert.deepEqual(findings, [{ name: 'long', display: 'LONG', start: 3, end: 11, source: 'custom' }]);
  // touching spans stay separate
  assert.equal(r.redact('abcabc').text, '[REDACTED:SHORT][REDACTED:SHORT]');
});

test('seed config: each of the 10 custom patterns redacts its kind', () => {
  assert.equal(seedDlp.mode, 'redact');
  assert.equal(seedDlp.custom_patterns?.length, 10);
  const seed = fromConfig(seedDlp)!;
  const only = new Redactor(customDetectors(seedDlp.custom_patterns));
  const b62 = 'aZ3kQ9mW2xR7pL5vB8nT4yH6jC1dF0gS';
  const cases: [string, string, string][] = [
    ['openai_key', 'OPENAI_KEY', `sk-${b62}${b62.slice(0, 16)}`],
    ['anthropic_key', 'ANTHROPIC_KEY', `sk-ant-api03-${b62}${b62}${b62.slice(0, 30)}AA`],
    ['aws_access_key', 'AWS_KEY', 'AKIAQ3WZ7RX2MLP9TB4N'],
    ['github_pat', 'GITHUB_TOKEN', `ghp_${b62}${b62.slice(0, 4)}`],
    ['github_oauth', 'GITHUB_OAUTH', `gho_${b62}${b62.slice(0, 4)}`],
    ['jwt_token', 'JWT', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U'],
    ['private_key', 'PRIVATE_KEY', '-----BEGIN RSA PRIVATE KEY-----'],
    ['slack_token', 'SLACK_TOKEN', `xoxb-1234567890-9876543210123-${b62.slice(0, 24)}`],
    ['daytona_api_key', 'DAYTONA_KEY', `dtn_${b62}${b62}`],
    ['google_api_key', 'GOOGLE_KEY', `AIza${b62}Xy-`],
  ];
  assert.deepEqual(cases.map((c) => c[0]).sort(), seedDlp.custom_patterns!.map((p) => p.name).sort());
  for (const [name, display, secret] of cases) {
    const text = `line: ${secret}\n`;
    const alone = only.redact(text);
    assert.equal(alone.text, `line: [REDACTED:${display}]\n`, name);
    assert.equal(alone.findings[0]!.name, name);
    // with the built-ins on too (the seed turns them all on) the label is the seed's
    assert.equal(seed.redact(text).text, `line: [REDACTED:${display}]\n`, `${name} with built-ins`);
  }
  // the brief's example: AKIA + 16 upper-case letters/digits
  assert.equal(seed.redact('key=AKIA0123456789ABCDEF;').text, 'key=[REDACTED:AWS_KEY];');
});

test('fromConfig: modes and toggles', () => {
  assert.equal(fromConfig({ mode: 'disabled', custom_patterns: [{ name: 'bad', regex: '(' }] }), null, 'disabled compiles nothing');
  assert.throws(() => fromConfig({ mode: 'tokenize' }), /dlp\.mode "tokenize" is not supported/);
  // agentsh's rule: none on means all on
  const none = fromConfig({ mode: 'redact', patterns: {} })!;
  assert.deepEqual(none.detectors.map((d) => d.name).sort(), builtinDetectors.map((d) => d.name).sort());
  const emailOnly = fromConfig({ mode: 'redact', patterns: { email: true } })!;
  assert.deepEqual(emailOnly.detectors.map((d) => d.name), ['email']);
  assert.equal(emailOnly.redact('a@corp.io 415-555-2671').text, '[REDACTED:EMAIL] 415-555-2671');
  const keys = fromConfig({ mode: 'redact', patterns: { api_keys: true } })!;
  assert.ok(keys.detectors.every((d) => d.group === 'api_keys'));
  assert.deepEqual([...BUILTIN_GROUPS].sort(), ['api_keys', 'credit_card', 'email', 'phone', 'ssn']);
  // custom patterns first (they win ties), display defaults to the name
  const custom = fromConfig({ mode: 'redact', patterns: { email: true }, custom_patterns: [{ name: 'ticket', regex: 'TICKET-[0-9]+' }] })!;
  assert.equal(custom.detectors[0]!.name, 'ticket');
  assert.equal(custom.redact('see TICKET-42').text, 'see [REDACTED:ticket]');
});

test('a custom pattern RE2 rejects is an error naming it', () => {
  const bad = (regex: string) => () => fromConfig({ mode: 'redact', custom_patterns: [{ name: 'ok', regex: 'x' }, { name: 'broken_one', regex }] });
  for (const regex of ['(unclosed', 'a(?=b)', '(a)\\1', '[z-a]']) {
    assert.throws(bad(regex), (err: unknown) => {
      assert.ok(err instanceof DlpConfigError);
      assert.equal(err.pattern, 'broken_one');
      assert.match(err.message, /dlp\.custom_patterns 'broken_one': invalid RE2 regex/);
      return true;
    });
  }
});

test('custom patterns that can match the empty string redact nothing empty', () => {
  const r = new Redactor([{ name: 'stars', display: 'S', regex: 'a*', source: 'custom' }]);
  assert.equal(r.redact('baab').text, 'b[REDACTED:S]b');
  assert.equal(r.redact('').text, '');
});

test('string offsets are UTF-16, buffer offsets are bytes', () => {
  const text = 'größe → ann@acme.com ✓';
  const { text: out, findings } = all.redact(text);
  assert.equal(out, 'größe → [REDACTED:EMAIL] ✓');
  assert.equal(text.slice(findings[0]!.start, findings[0]!.end), 'ann@acme.com');
  const buf = Buffer.from(text);
  const b = all.redactBuffer(buf);
  assert.equal(buf.subarray(b.findings[0]!.start, b.findings[0]!.end).toString(), 'ann@acme.com');
  assert.equal(b.buffer.toString(), out);
  // nothing found: the very same buffer comes back
  const clean = Buffer.from('nothing here\n');
  assert.equal(all.redactBuffer(clean).buffer, clean);
});
