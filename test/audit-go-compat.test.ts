// Cross-check against Go: a small Go program doing what agentsh's Go code does (decode with
// UseNumber into map[string]any, drop "integrity", json.Marshal, HMAC "fv|seq|prev|payload")
// verifies our lines, and seals payloads that we must verify and reproduce byte for byte.
// Skipped when no `go` toolchain is installed (CI machines do not have one).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseJsonObject } from '../src/audit/canonical.js';
import { HmacChain, verifyLines } from '../src/audit/chain.js';
import { AuditLog } from '../src/audit/log.js';

const KEY = 'test-secret-key-32-bytes-long!!!';

const goVersion = spawnSync('go', ['version'], { encoding: 'utf8' });
const haveGo = goVersion.status === 0;
// Go < 1.22 escapes \b and \f as \u0008 / \u000c; agentsh is built with Go ≥ 1.22.
const goMinor = Number(/go1\.(\d+)/.exec(goVersion.stdout ?? '')?.[1] ?? 0);

const GO_PROGRAM = String.raw`package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
)

func decode(line []byte) map[string]any {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		fmt.Println("fail parse", err)
		os.Exit(1)
	}
	return m
}

func mac(key []byte, fv int, seq int64, prev string, payload []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(strconv.Itoa(fv) + "|" + strconv.FormatInt(seq, 10) + "|" + prev + "|"))
	h.Write(payload)
	return hex.EncodeToString(h.Sum(nil))
}

type meta struct {
	FormatVersion int    ` + '`json:"format_version"`' + String.raw`
	Sequence      int64  ` + '`json:"sequence"`' + String.raw`
	PrevHash      string ` + '`json:"prev_hash"`' + String.raw`
	EntryHash     string ` + '`json:"entry_hash"`' + String.raw`
}

func main() {
	key := []byte(os.Args[2])
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<26)
	seq := int64(0)
	prev := ""
	n := 0
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		n++
		m := decode(line)
		switch os.Args[1] {
		case "verify":
			raw, _ := json.Marshal(m["integrity"])
			var im meta
			json.Unmarshal(raw, &im)
			delete(m, "integrity")
			payload, _ := json.Marshal(m)
			if im.Sequence != seq || im.PrevHash != prev || mac(key, im.FormatVersion, im.Sequence, im.PrevHash, payload) != im.EntryHash {
				fmt.Println("fail", n)
				os.Exit(1)
			}
			prev = im.EntryHash
		case "seal":
			delete(m, "integrity")
			payload, _ := json.Marshal(m)
			h := mac(key, 2, seq, prev, payload)
			m["integrity"] = meta{2, seq, prev, h}
			out, _ := json.Marshal(m)
			fmt.Println(string(out))
			prev = h
		}
		seq++
	}
	if os.Args[1] == "verify" {
		fmt.Println("ok", n)
	}
}
`;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function runGo(dir: string, mode: 'verify' | 'seal', input: string): string {
  const r = spawnSync('go', ['run', join(dir, 'chain.go'), mode, KEY], { input, encoding: 'utf8', timeout: 300_000, env: { ...process.env, GO111MODULE: 'off' } });
  assert.equal(r.status, 0, `go ${mode} failed: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

const tricky = (bf: boolean) => ({
  html: '<script>alert("x")</script> & more',
  unicode: 'héllo ✓ 😀 \u2028\u2029 tab\tnl\n cr\r nul\u0000 del\u007f esc\u001b' + (bf ? ' bs\b ff\f' : ''),
  nested: { z: [1, 2.5, -3, 1e21, 0.1], a: null, m: { '10': 1, '2': 2, '-': 3, b: true } },
  '｡': 'high BMP key',
  '😀': 'astral key',
  big: 9007199254740991,
});

test('Go (agentsh algorithm) verifies a log we wrote', { skip: haveGo ? false : 'no go toolchain' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentsh-audit-go-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'chain.go'), GO_PROGRAM);
  const log = await AuditLog.open({ path: join(dir, 'audit.jsonl'), key: Buffer.from(KEY), onWarning: () => {} });
  for (let i = 0; i < 20; i++) log.enqueue({ type: 'command_policy', session_id: 's', decision: 'allow', rule: 'r<1>', message: `m & ${i}`, fields: { i, ...tricky(goMinor >= 22) } });
  await log.close();
  const out = runGo(dir, 'verify', readFileSync(join(dir, 'audit.jsonl'), 'utf8'));
  assert.equal(out.trim(), 'ok 20');
});

test('we verify, and reproduce byte for byte, lines sealed by Go', { skip: haveGo ? false : 'no go toolchain' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentsh-audit-go-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'chain.go'), GO_PROGRAM);
  const payloads = [
    '{"event":"first"}',
    '{"b":2,"a":1}',
    '{"n":1.0,"e":1E5,"big":123456789012345678901234567890,"neg":-0.5e-7}',
    JSON.stringify({ type: 'x', fields: tricky(goMinor >= 22) }),
    '{"esc":"\\u0041\\/\\u00e9 \\ud83d\\ude00","dup":1,"dup":2}',
    '{"lone":"a\\ud800b","__proto__":{"x":[]}}',
  ];
  const sealed = runGo(dir, 'seal', payloads.join('\n') + '\n').trim().split('\n');
  assert.equal(sealed.length, payloads.length);
  const r = verifyLines(sealed, Buffer.from(KEY));
  assert.ok(r.ok, JSON.stringify(r));
  const chain = new HmacChain(Buffer.from(KEY));
  for (let i = 0; i < payloads.length; i++) {
    assert.equal(chain.sealLine(parseJsonObject(payloads[i]!)).line, sealed[i], `payload ${i}`);
  }
});
