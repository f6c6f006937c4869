// The HMAC chain: agentsh's format, canonical JSON, verification naming the bad line, keys.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { canonicalJson, JsonNumber, parseJson, parseJsonObject } from '../src/audit/canonical.js';
import {
  AuditKeyError,
  computeEntryHash,
  ensureKeyFile,
  formatVerifyResult,
  HmacChain,
  keyFingerprint,
  loadKey,
  MIN_KEY_LENGTH,
  splitLines,
  verifyEntryHash,
  verifyFile,
  verifyLines,
} from '../src/audit/chain.js';

const KEY = Buffer.from('test-secret-key-32-bytes-long!!!'); // agentsh's own test key
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'agentsh-audit-chain-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function makeLines(n: number, key = KEY): string[] {
  const chain = new HmacChain(key);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(chain.sealLine({ id: `id-${i}`, ts: `2026-01-01T00:00:0${i % 10}.000Z`, type: 'command_policy', session_id: 's1', decision: i % 3 ? 'allow' : 'deny', rule: `r${i}`, fields: { command: `echo ${i} <&>`, pid: 1000 + i } }).line);
  }
  return lines;
}

function expectFail(r: ReturnType<typeof verifyLines>, line: number, kind?: string): void {
  assert.equal(r.ok, false, 'verification should fail');
  if (r.ok) return;
  assert.equal(r.line, line, `expected failure at line ${line}, got line ${r.line}: ${r.reason}`);
  if (kind) assert.equal(r.kind, kind, r.reason);
}

describe('canonical JSON (Go encoding/json of map[string]any)', () => {
  test('sorts keys at every level and has no whitespace', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
  });
  test('escapes like Go: HTML characters, U+2028/9, control characters; keeps non-ASCII raw', () => {
    assert.equal(canonicalJson({ s: '<a href="x">&</a>' }), '{"s":"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e"}');
    assert.equal(canonicalJson('\u2028\u2029'), '"\\u2028\\u2029"');
    assert.equal(canonicalJson('\n\r\t\u0001\u001f\u007f'), '"\\n\\r\\t\\u0001\\u001f\u007f"');
    assert.equal(canonicalJson('héllo ✓ 😀'), '"héllo ✓ 😀"');
    assert.equal(canonicalJson('a\ud800b'), '"a\ufffdb"', 'lone surrogate → U+FFFD');
  });
  test('numeric-looking keys sort as strings (byte order), not numerically', () => {
    assert.equal(canonicalJson({ 10: 'a', 2: 'b', a: 1 }), '{"10":"a","2":"b","a":1}');
  });
  test('byte-wise order for astral vs high-BMP keys', () => {
    // U+FF61 (EF BD A1) sorts before U+1F600 (F0 9F 98 80) in UTF-8, after it in UTF-16.
    assert.equal(canonicalJson({ '😀': 1, '｡': 2 }), '{"｡":2,"😀":1}');
  });
  test('drops undefined members, non-finite numbers are null', () => {
    assert.equal(canonicalJson({ a: undefined, b: NaN, c: [undefined] }), '{"b":null,"c":[null]}');
  });
  test('the parser keeps number literals exactly (json.Number)', () => {
    const v = parseJsonObject('{"a":1.0,"b":12345678901234567890,"c":-0,"d":1E5}');
    assert.ok(v.a instanceof JsonNumber);
    assert.equal(canonicalJson(v), '{"a":1.0,"b":12345678901234567890,"c":-0,"d":1E5}');
  });
  test('the parser re-escapes strings canonically and treats __proto__ as a key', () => {
    assert.equal(canonicalJson(parseJson('{"b":"\\u0041\\/\\u003c","__proto__":{"x":1}}')), '{"__proto__":{"x":1},"b":"A/\\u003c"}');
  });
  test('the parser is strict', () => {
    for (const bad of ['{"a":1,}', "{'a':1}", '{"a":01}', '{"a":"\u0001"}', '{"a":1} x', '{"a":tru}', '{"a":"\\x"}', '', '{"a":1']) {
      assert.throws(() => parseJson(bad), `should reject ${JSON.stringify(bad)}`);
    }
  });
});

describe('HMAC chain format (agentsh format_version 2)', () => {
  test('known answer: HMAC-SHA256 over "2|0||" + canonical payload, hex; genesis prev_hash ""', () => {
    const chain = new HmacChain(KEY);
    const { event, line } = chain.sealLine({ event: 'first' });
    const expected = createHmac('sha256', KEY).update('2|0||{"event":"first"}').digest('hex');
    assert.deepEqual(event.integrity, { format_version: 2, sequence: 0, prev_hash: '', entry_hash: expected });
    assert.equal(line, `{"event":"first","integrity":{"format_version":2,"sequence":0,"prev_hash":"","entry_hash":"${expected}"}}`);
    const second = chain.sealLine({ b: 2, a: 1 });
    const expected2 = createHmac('sha256', KEY).update(`2|1|${expected}|{"a":1,"b":2}`).digest('hex');
    assert.equal(second.event.integrity.entry_hash, expected2);
    assert.equal(second.event.integrity.prev_hash, expected);
    assert.match(second.line, /^\{"a":1,"b":2,"integrity":/);
    assert.deepEqual(chain.state, { sequence: 1, prevHash: expected2 });
  });
  test('integrity goes in its sorted place; an existing integrity field is replaced', () => {
    const chain = new HmacChain(KEY);
    const { line } = chain.sealLine({ type: 'x', id: '1', integrity: { bogus: true } });
    assert.match(line, /^\{"id":"1","integrity":\{"format_version":2,"sequence":0,/);
    assert.ok(line.endsWith('"type":"x"}'));
    assert.ok(!line.includes('bogus'));
  });
  test('hmac-sha512 gives 128 hex characters', () => {
    const chain = new HmacChain(KEY, undefined, 'hmac-sha512');
    const { event } = chain.sealLine({ a: 1 });
    assert.equal(event.integrity.entry_hash.length, 128);
    assert.equal(verifyLines([chain.sealLine({ a: 2 }).line], KEY, { algorithm: 'hmac-sha512' }).ok, false, 'a chain must start at seq 0');
  });
  test('a restored chain continues the sequence', () => {
    const chain = new HmacChain(KEY, { sequence: 41, prevHash: 'ab'.repeat(32) });
    assert.equal(chain.seal({ e: 1 }).integrity.sequence, 42);
  });
  test('verifyEntryHash checks one parsed line', () => {
    const [line] = makeLines(1);
    assert.ok(verifyEntryHash(KEY, parseJsonObject(line!)));
    assert.ok(!verifyEntryHash(KEY, parseJsonObject(line!.replace('echo 0', 'echo 1'))));
  });
  test('key fingerprint is sha256: + 16 bytes hex', () => {
    assert.match(keyFingerprint(KEY), /^sha256:[0-9a-f]{32}$/);
  });
});

describe('verification names the first bad line', () => {
  test('round trip: a sealed log verifies', () => {
    const lines = makeLines(20);
    const r = verifyLines(lines, KEY);
    assert.ok(r.ok);
    assert.equal(r.count, 20);
    assert.deepEqual([r.first?.sequence, r.first?.line, r.last?.sequence, r.last?.line], [0, 1, 19, 20]);
    assert.ok(verifyLines([], KEY).ok);
  });
  test('every single changed byte of line 3 is caught at line 3', () => {
    const lines = makeLines(5);
    const target = lines[2]!;
    for (let i = 0; i < target.length; i++) {
      const repl = target[i] === 'X' ? 'Y' : 'X';
      const bad = [...lines];
      bad[2] = target.slice(0, i) + repl + target.slice(i + 1);
      const r = verifyLines(bad, KEY);
      expectFail(r, 3);
    }
  });
  test('a changed byte in the hashed content is a hash mismatch', () => {
    const lines = makeLines(5);
    assert.ok(lines[4]!.includes('"decision":"allow"'));
    lines[4] = lines[4]!.replace('"decision":"allow"', '"decision":"alloW"');
    expectFail(verifyLines(lines, KEY), 5, 'hash mismatch');
  });
  test('a deleted line is caught at its position', () => {
    const lines = makeLines(6);
    lines.splice(2, 1);
    const r = verifyLines(lines, KEY);
    expectFail(r, 3, 'sequence mismatch');
    assert.ok(!r.ok && r.reason === 'sequence mismatch: expected 2, got 3');
    assert.ok(!r.ok && /missing/.test(r.hint ?? ''));
  });
  test('two reordered lines are caught at the first of them', () => {
    const lines = makeLines(6);
    [lines[3], lines[4]] = [lines[4]!, lines[3]!];
    expectFail(verifyLines(lines, KEY), 4, 'sequence mismatch');
  });
  test('a duplicated line is caught at the copy', () => {
    const lines = makeLines(6);
    lines.splice(3, 0, lines[2]!);
    const r = verifyLines(lines, KEY);
    expectFail(r, 4, 'sequence mismatch');
    assert.ok(!r.ok && /duplicated/.test(r.hint ?? ''));
  });
  test('a line replaced by one from another log breaks the chain', () => {
    const lines = makeLines(4);
    const other = makeLines(4, Buffer.from('another-key-that-is-32-bytes-long!!'));
    lines[2] = other[2]!;
    expectFail(verifyLines(lines, KEY), 3, 'chain broken');
  });
  test('a wrong key fails at line 1', () => {
    expectFail(verifyLines(makeLines(3), Buffer.alloc(32, 7)), 1, 'hash mismatch');
  });
  test('an unsigned line is refused (or skipped when tolerated)', () => {
    const lines = makeLines(3);
    lines.splice(1, 0, '{"type":"forged"}');
    expectFail(verifyLines(lines, KEY), 2, 'unsigned line');
    assert.ok(verifyLines(lines, KEY, { tolerateUnsigned: true }).ok);
  });
  test('format versions: legacy and future refused', () => {
    const [l] = makeLines(1);
    expectFail(verifyLines([l!.replace('"format_version":2', '"format_version":1')], KEY), 1, 'legacy-format entry');
    expectFail(verifyLines([l!.replace('"format_version":2', '"format_version":3')], KEY), 1, 'unsupported audit integrity format_version 3');
  });
  test('blank lines are skipped but counted', () => {
    const lines = makeLines(3);
    lines.splice(1, 0, '', '   ');
    const r = verifyLines(lines, KEY);
    assert.ok(r.ok);
    assert.equal(r.last?.line, 5);
  });
  test('a truncated tail is NOT detectable without an anchor; with one it is', () => {
    const lines = makeLines(10);
    const cut = lines.slice(0, 7);
    assert.ok(verifyLines(cut, KEY).ok, 'a shorter chain is still a valid chain');
    const anchorFull = verifyLines(lines, KEY);
    assert.ok(anchorFull.ok && anchorFull.last);
    const anchor = { sequence: anchorFull.last.sequence, entryHash: anchorFull.last.entryHash };
    assert.ok(verifyLines(lines, KEY, { anchor }).ok);
    const r = verifyLines(cut, KEY, { anchor });
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.kind === 'truncated log');
  });
  test('a rotation boundary restarts the chain when it names the entry before it', () => {
    const lines = makeLines(3);
    const last = verifyLines(lines, KEY);
    assert.ok(last.ok && last.last);
    const rot = new HmacChain(KEY);
    const boundary = rot.sealLine({ type: 'integrity_chain_rotated', fields: { reason_code: 'key_rotated', prior_chain_summary: { last_sequence_seen_in_log: 2, last_entry_hash_seen_in_log: last.last.entryHash } } }).line;
    const next = rot.sealLine({ type: 'x' }).line;
    assert.ok(verifyLines([...lines, boundary, next], KEY).ok);
    const badRot = new HmacChain(KEY).sealLine({ type: 'integrity_chain_rotated', fields: { prior_chain_summary: { last_sequence_seen_in_log: 1, last_entry_hash_seen_in_log: 'x' } } }).line;
    expectFail(verifyLines([...lines, badRot], KEY), 4, 'rotation boundary');
  });
  test('verifyFile streams a file; a partial last line fails unless truncation is tolerated', async () => {
    const d = tmp();
    const lines = makeLines(50);
    writeFileSync(join(d, 'ok.jsonl'), lines.join('\n') + '\n');
    const r = await verifyFile(join(d, 'ok.jsonl'), KEY);
    assert.ok(r.ok && r.count === 50);
    writeFileSync(join(d, 'part.jsonl'), lines.join('\n') + '\n' + lines[0]!.slice(0, 30));
    const p = await verifyFile(join(d, 'part.jsonl'), KEY);
    assert.ok(!p.ok && p.line === 51 && p.kind === 'malformed JSON');
    const t = await verifyFile(join(d, 'part.jsonl'), KEY, { tolerateTruncation: true });
    assert.ok(t.ok && t.count === 50 && t.warnings.length === 1);
    const bad = [...lines];
    bad[40] = bad[40]!.replace('echo 40', 'echo 41');
    writeFileSync(join(d, 'bad.jsonl'), bad.join('\n') + '\n');
    const b = await verifyFile(join(d, 'bad.jsonl'), KEY);
    assert.ok(!b.ok && b.line === 41 && b.kind === 'hash mismatch');
  });
  test('formatVerifyResult prints what agentsh prints', () => {
    const lines = makeLines(3);
    const ok = formatVerifyResult('log.jsonl', verifyLines(lines, KEY));
    assert.equal(ok.stdout, 'verified 3 entries across 1 files\nfirst: seq=0 (log.jsonl:1)\nlast:  seq=2 (log.jsonl:3)\n');
    lines.splice(1, 1);
    const bad = formatVerifyResult('log.jsonl', verifyLines(lines, KEY));
    assert.equal(bad.ok, false);
    assert.match(bad.stderr, /^sequence mismatch at log\.jsonl:2: expected 1, got 2\n/);
  });
  test('splitLines numbers lines like the verifier', () => {
    assert.deepEqual(splitLines('a\nb\n'), { lines: ['a', 'b'], endsWithNewline: true });
    assert.deepEqual(splitLines('a\nb'), { lines: ['a', 'b'], endsWithNewline: false });
  });
});

describe('keys', () => {
  test('a key shorter than 32 bytes is refused with a clear error', () => {
    assert.equal(MIN_KEY_LENGTH, 32);
    assert.throws(() => new HmacChain(Buffer.alloc(31)), /key too short: got 31 bytes, need at least 32/);
    assert.throws(() => loadKey({ key_env: 'K' }, { K: 'short' }), (e: unknown) => e instanceof AuditKeyError && /key too short: got 5 bytes.*environment variable K/.test(e.message));
    assert.throws(() => verifyLines([], Buffer.alloc(8)), /key too short/);
  });
  test('key from an environment variable (raw value)', () => {
    const v = 'k'.repeat(40);
    assert.deepEqual(loadKey({ key_source: 'env', key_env: 'AUDIT_KEY' }, { AUDIT_KEY: v }), Buffer.from(v));
    assert.throws(() => loadKey({ key_env: 'AUDIT_KEY' }, {}), /environment variable "AUDIT_KEY" is empty or not set/);
  });
  test('key from a file: trimmed, raw bytes; file wins over env; mode checked', () => {
    const d = tmp();
    const f = join(d, 'audit.key');
    const hex = 'ab'.repeat(32);
    writeFileSync(f, hex + '\n', { mode: 0o600 });
    const k = loadKey({ key_file: f, key_env: 'AUDIT_KEY' }, { AUDIT_KEY: 'e'.repeat(40) });
    assert.equal(k.toString(), hex, 'the 64 hex characters are the key (agentsh does not hex-decode)');
    assert.equal(k.length, 64);
    chmodSync(f, 0o644);
    assert.throws(() => loadKey({ key_file: f }), /mode 0644.*chmod 600/);
    assert.deepEqual(loadKey({ key_file: f }, {}, { allowInsecurePermissions: true }), k);
    chmodSync(f, 0o640);
    const warnings: string[] = [];
    loadKey({ key_file: f }, {}, { onWarning: (m) => warnings.push(m) });
    assert.equal(warnings.length, 1);
    chmodSync(f, 0o600);
    const link = join(d, 'link.key');
    symlinkSync(f, link);
    assert.throws(() => loadKey({ key_file: link }), /symlink/);
    assert.throws(() => loadKey({ key_file: join(d, 'missing') }), /no such file/);
    writeFileSync(join(d, 'empty.key'), '  \n', { mode: 0o600 });
    assert.throws(() => loadKey({ key_file: join(d, 'empty.key') }), /is empty/);
    writeFileSync(join(d, 'short.key'), 'abc\n', { mode: 0o600 });
    assert.throws(() => loadKey({ key_file: join(d, 'short.key') }), /key too short: got 3 bytes/);
  });
  test('no source, unknown and unsupported sources are errors', () => {
    assert.throws(() => loadKey({}), /no key source specified/);
    assert.throws(() => loadKey({ key_source: 'aws_kms' }), /not supported/);
    assert.throws(() => loadKey({ key_source: 'nope' }), /unknown/);
    assert.throws(() => loadKey({ key_source: 'file' }), /key_file is not set/);
  });
  test('ensureKeyFile creates a 0600 key once and reuses it', () => {
    const d = tmp();
    const f = join(d, 'k');
    const k1 = ensureKeyFile(f);
    const k2 = ensureKeyFile(f);
    assert.deepEqual(k1, k2);
    assert.equal(k1.length, 64);
  });
  test('computeEntryHash matches a plain HMAC', () => {
    assert.equal(computeEntryHash(KEY, 'hmac-sha256', 2, 5, 'ff', '{}'), createHmac('sha256', KEY).update('2|5|ff|{}').digest('hex'));
  });
});
