// Fuzzing the shell shim's argument handling (native/shim.c, issue 10): random argv (options
// like -c -s -i -l --, bytes that are not UTF-8, very long and very many arguments, argc 0)
// with AGENTSH_SHIM_FORCE=1 and no server reachable. The shim must fail closed: exit 126 with
// an `agentsh: … command refused` message, never run the real shell ungoverned. The "real
// shell" here is a sentinel script next to the shim copy (<shim>.real): if it ever runs it
// leaves a marker file, which must never appear.
//
// (Without AGENTSH_SHIM_FORCE=1 and with stdin not a terminal the shim runs the real shell
// by design — the pass-through for scripts and services; that path is not fuzzed here.)
//
// Bounded: a fixed number of runs AND a time cap; deterministic seed, printed.
// AGENTSH_FUZZ_SEED=<n> replays another seed, AGENTSH_FUZZ_SCALE=<x> scales runs and time.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { buildShim } from '../src/shim/build.js';
import { announce, fuzz, SCALE, SEED } from './fuzz-harness.js';

announce('fuzz-shim');

// Runs a program with an exact argv of bytes (argc 0 included), read from a file: NUL-
// terminated strings after a first line with their count. Node's spawn can pass neither.
const EXECBYTES_C = `
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc != 3) return 125;
    FILE *f = fopen(argv[2], "rb");
    if (!f) return 125;
    static char buf[4 << 20];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    char *p = strchr(buf, '\\n');
    if (!p) return 125;
    long n = strtol(buf, NULL, 10);
    char **av = calloc((size_t)n + 1, sizeof *av);
    if (!av) return 125;
    p++;
    for (long i = 0; i < n; i++) {
        if (p >= buf + len) return 125;
        av[i] = p;
        p += strlen(p) + 1;
    }
    execv(argv[1], av);
    fprintf(stderr, "execbytes: %s\\n", strerror(errno));
    return errno == E2BIG ? 124 : 125;
}
`;

let root = '';
let shim = '';
let execbytes = '';
let marker = '';
let runDir = '';
let argvFile = '';

before(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-fuzz-shim-')));
  chmodSync(root, 0o755);
  mkdirSync(join(root, 'bin'), { mode: 0o755 });
  shim = join(root, 'bin', 'bash');
  copyFileSync(process.env.AGENTSH_TEST_SHIM || buildShim(), shim);
  chmodSync(shim, 0o755);
  marker = join(root, 'REAL-SHELL-RAN');
  // the sentinel "real shell": leaves the marker (with its arguments) and exits 99
  writeFileSync(`${shim}.real`, `#!/bin/sh\nprintf '%s\\n' "$0" "$@" >> '${marker}'\nexit 99\n`, { mode: 0o755 });
  runDir = join(root, 'run');
  mkdirSync(runDir, { mode: 0o755 }); // trusted (root's, not writable by others) and empty: no server
  writeFileSync(join(root, 'execbytes.c'), EXECBYTES_C);
  execbytes = join(root, 'execbytes');
  const cc = spawnSync(process.env.CC || 'cc', ['-O2', '-Wall', '-o', execbytes, join(root, 'execbytes.c')], { encoding: 'utf8' });
  assert.equal(cc.status, 0, `cannot build the exec helper: ${cc.stderr}`);
  argvFile = join(root, 'argv');
});

after(() => {
  assert.equal(existsSync(marker), false, 'the real shell ran');
  if (root) rmSync(root, { recursive: true, force: true });
});

const BASE_ENV = (): NodeJS.ProcessEnv => ({
  PATH: '/usr/bin:/bin', HOME: root, AGENTSH_SHIM_FORCE: '1', AGENTSH_RUN_DIR: runDir, AGENTSH_BIN: '/nonexistent/agentsh',
});

function runShim(argv: Buffer[], env: NodeJS.ProcessEnv, stdio: 'pipe' | 'extra-socket' = 'pipe') {
  writeFileSync(argvFile, Buffer.concat([Buffer.from(`${argv.length}\n`), ...argv.flatMap((a) => [a, Buffer.from([0])])]));
  return spawnSync(execbytes, [shim, argvFile], {
    env, input: '', timeout: 10_000, maxBuffer: 16 << 20,
    stdio: stdio === 'pipe' ? 'pipe' : ['pipe', 'pipe', 'pipe', 'pipe'],
  });
}

// ── inputs ─────────────────────────────────────────────────────────────────────────────────

const OPTIONS = ['-c', '-s', '-i', '-l', '--', '-', '--login', '--norc', '--noprofile', '--rcfile', '/dev/null', '-o', 'posix', '+o', '-x', '-e', '-ic', '-lc', '-c--', '-cx', '-O', 'extglob', '--version', '--help', '--posix', '-r', '--restricted', '-D', '-v', '-n', '+', '-+', '---', '--init-file'];
const SCRIPTS = ['echo hi', `touch ${'/tmp/agentsh-fuzz-shim-should-not-exist'}`, 'exec /bin/sh', '$(id)', 'true', '', ' ', '\n', 'exit 0', 'cat /etc/passwd', "'", '"', '\\', ';;', 'a=b'];
const utf8 = (s: string) => Buffer.from(s, 'utf8');
const arg = fc.oneof(
  { arbitrary: fc.constantFrom(...OPTIONS).map(utf8), weight: 5 },
  { arbitrary: fc.constantFrom(...SCRIPTS).map(utf8), weight: 3 },
  // any bytes but NUL (execve cannot carry it): invalid UTF-8, controls, escapes
  { arbitrary: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a.map((b) => b || 1))), weight: 2 },
  { arbitrary: fc.constantFrom('\\', '"', '\\u0000', '\\n', '%s%n', '${IFS}', '\u00ff', '\u202e', 'é', '日本').map(utf8), weight: 1 },
  { arbitrary: fc.integer({ min: 1000, max: 120_000 }).map((n) => Buffer.alloc(n, 0x80 + (n % 0x7f))), weight: 1 }, // long; each byte ≥ 0x80 is escaped 6×
);
const argvArb = fc.oneof(
  { arbitrary: fc.array(arg, { maxLength: 8 }), weight: 8 },
  { arbitrary: fc.integer({ min: 100, max: 8000 }).map((n) => Array.from({ length: n }, (_, i) => utf8(i % 2 ? '-c' : `a${i}`))), weight: 1 }, // many
  { arbitrary: fc.constant([] as Buffer[]), weight: 1 }, // argc 0
).chain((rest) => fc.tuple(fc.constantFrom('bash', '-bash', 'sh', '', 'x'.repeat(4096), 'bash.real', '/bin/bash', '\u00ff\u00fe').map(utf8), fc.constant(rest), fc.boolean()))
  .map(([argv0, rest, withArgv0]) => (rest.length === 0 && !withArgv0 ? [] : [argv0, ...rest]));

const envArb = fc.record({
  governed: fc.option(fc.constantFrom('0', '1', '2', '3', '4', '1023', '1024', '-1', '3x', '', ' 3', '99999999999999999999', '+3'), { freq: 3 }),
  // never '' (the default /usr/local/bin/agentsh could be a real server on some machine)
  bin: fc.constantFrom('/nonexistent/agentsh', '/bin/true', '/tmp', '/', '/nonexistent/dir/'),
  runDir: fc.constantFrom('run', 'missing', 'x'.repeat(200), 'long'),
  startTimeout: fc.constantFrom(undefined, '0', '30', 'abc', '-1', '9999999999'),
  extraSocket: fc.boolean(),
});

const stats = { runs: 0, tooBig: 0, codes: new Map<number | null, number>() };

function check([argv, e]: [Buffer[], typeof envArb extends fc.Arbitrary<infer E> ? E : never]): void {
  const env = BASE_ENV();
  if (e.governed !== null) env.AGENTSH_GOVERNED_FD = e.governed;
  env.AGENTSH_BIN = e.bin;
  env.AGENTSH_RUN_DIR = e.runDir === 'run' ? runDir : e.runDir === 'missing' ? join(root, 'missing') : e.runDir === 'long' ? join(root, 'l'.repeat(120)) : join(root, e.runDir);
  // a program that exists but never makes the socket: the shim waits for it (bounded here)
  env.AGENTSH_SHIM_START_TIMEOUT_MS = e.bin === '/bin/true' ? '30' : e.startTimeout;
  if (env.AGENTSH_SHIM_START_TIMEOUT_MS === undefined) delete env.AGENTSH_SHIM_START_TIMEOUT_MS;
  const t0 = performance.now();
  const r = runShim(argv, env, e.extraSocket ? 'extra-socket' : 'pipe');
  const ms = performance.now() - t0;
  stats.runs++;
  stats.codes.set(r.status, (stats.codes.get(r.status) ?? 0) + 1);
  const what = `argv ${JSON.stringify(argv.map((a) => a.toString('latin1').slice(0, 60)))} (${argv.length} args, ${argv.reduce((n, a) => n + a.length, 0)} bytes), env ${JSON.stringify(e)}`;
  assert.equal(existsSync(marker), false, `the real shell ran ungoverned for ${what}`);
  if (r.status === 124) {
    stats.tooBig++; // the kernel refused the argv (E2BIG) before the shim ran
    return;
  }
  assert.equal(r.error, undefined, `${what}: ${r.error}`);
  const stderr = r.stderr.toString('latin1');
  assert.equal(r.status, 126, `exit ${r.status ?? r.signal} for ${what}; stderr ${JSON.stringify(stderr.slice(0, 300))}`);
  assert.equal(r.stdout.length, 0, `stdout ${JSON.stringify(r.stdout.toString('latin1').slice(0, 100))}`);
  assert.match(stderr, /^agentsh: [^\n]*command refused\n$/, `unclear refusal for ${what}: ${JSON.stringify(stderr.slice(0, 300))}`);
  assert.ok(ms < 5000, `${ms.toFixed(0)} ms for ${what}`);
}

/** Server → shim frames, well-formed or not. */
const frame = (type: number, payload: Buffer, len = payload.length) => Buffer.concat([Buffer.from([type, len >>> 24, (len >>> 16) & 255, (len >>> 8) & 255, len & 255]), payload]);
const serverBytes = fc.array(fc.oneof(
  fc.tuple(fc.constantFrom(0x4f, 0x45), fc.uint8Array({ maxLength: 64 })).map(([t, p]) => frame(t, Buffer.from(p))), // O / E
  fc.integer({ min: 0, max: 300 }).map((st) => frame(0x58, Buffer.from([st >>> 24, (st >>> 16) & 255, (st >>> 8) & 255, st & 255]))), // X (status > 255: a protocol error)
  fc.uint8Array({ maxLength: 8 }).map((p) => frame(0x58, Buffer.from(p))), // X with a wrong length
  fc.constant(frame(0x4f, Buffer.alloc(0), 0xffff_ffff)), // oversized
  fc.constant(frame(0x4f, Buffer.alloc(3), 1 << 20)), // announced 1 MiB, 3 bytes sent
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 16 })).map(([t, p]) => frame(t, Buffer.from(p))), // unknown types
  fc.uint8Array({ minLength: 1, maxLength: 7 }).map((b) => Buffer.from(b)), // raw garbage, partial headers
), { maxLength: 5 });

/** The status the shim must end with: that of the first complete, valid X frame (null when
 *  there is none: then 126 with a message). */
function exitFrame(bytes: Buffer): number | null {
  let off = 0;
  while (bytes.length - off >= 5) {
    const len = bytes.readUInt32BE(off + 1);
    if (len > 1 << 20) return null;
    if (bytes.length - off - 5 < len) return null;
    if (bytes[off] === 0x58) {
      if (len !== 4) return null;
      const st = bytes.readUInt32BE(off + 5);
      return st > 255 ? null : st;
    }
    off += 5 + len;
  }
  return null;
}

describe('shell shim fuzzing: fails closed with no server', () => {
  it('random argv and environment → exit 126 with a clear message, the real shell never runs', () => {
    // sanity: the sentinel does run when called directly (so a marker would show an escape)
    const direct = spawnSync(`${shim}.real`, ['probe'], { encoding: 'utf8' });
    assert.equal(direct.status, 99);
    assert.ok(existsSync(marker));
    rmSync(marker);
    const n = fuzz('shim argv', 1, fc.tuple(argvArb, envArb), check, 400, 2000, 60);
    console.log(`shim argv: ${n} runs (${stats.tooBig} refused by the kernel as too big); exit codes ${JSON.stringify(Object.fromEntries(stats.codes))}`);
    assert.ok((stats.codes.get(126) ?? 0) >= n * 0.8, 'most runs reached the shim and were refused by it');
    assert.equal(readdirSync(runDir).length, 0, 'nothing was created in the run directory');
  });

  it('a server that answers garbage, too much, too little or nothing → 126 (or the status of a valid exit frame); the real shell never runs', async () => {
    const dir = join(root, 'run-bad');
    mkdirSync(dir, { mode: 0o755 });
    const sockPath = join(dir, `shim-${process.getuid?.() ?? 0}.sock`);
    let reply = Buffer.alloc(0);
    let hellos = 0;
    let notHello = 0;
    const server = net.createServer((c) => {
      c.on('error', () => {});
      let got = Buffer.alloc(0);
      let answered = false;
      c.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        // answer once the hello frame is in (H + length + JSON)
        if (!answered && got.length >= 5 && got.length >= 5 + got.readUInt32BE(1)) {
          answered = true;
          hellos++;
          if (got[0] !== 0x48) notHello++; // the first frame must be H
          c.end(reply);
        }
      });
    });
    await new Promise<void>((r) => server.listen(sockPath, r));
    const runs = { n: 0 };
    try {
      const shortArg = arg.filter((a) => a.length < 2000);
      const property = fc.asyncProperty(serverBytes, fc.array(shortArg, { maxLength: 4 }), async (frames, argv) => {
        reply = Buffer.concat(frames);
        const env = { ...BASE_ENV(), AGENTSH_RUN_DIR: dir };
        writeFileSync(argvFile, Buffer.concat([Buffer.from(`${argv.length + 1}\nbash\0`), ...argv.flatMap((a) => [a, Buffer.from([0])])]));
        const p = spawn(execbytes, [shim, argvFile], { env, stdio: ['pipe', 'pipe', 'pipe'] });
        p.stdin.end();
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        p.stdout.on('data', (d: Buffer) => out.push(d));
        p.stderr.on('data', (d: Buffer) => err.push(d));
        const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
        const code = await new Promise<number | null>((res) => p.once('close', (c) => res(c)));
        clearTimeout(timer);
        runs.n++;
        assert.equal(existsSync(marker), false, 'the real shell ran');
        const x = exitFrame(reply);
        const want = x ?? 126;
        assert.equal(code, want, `exit ${code} (want ${want}) for server bytes ${reply.toString('hex').slice(0, 200)}; stderr ${Buffer.concat(err).toString('latin1').slice(0, 300)}`);
        if (x === null) assert.match(Buffer.concat(err).toString('latin1'), /agentsh: [^\n]*(command refused|command outcome unknown)\n$/);
      });
      const need = Math.max(1, Math.floor(30 * Math.min(1, SCALE)));
      let total = 0;
      for (let pass = 0; pass === 0 || total < need; pass++) {
        assert.ok(pass < 4, `only ${total} runs in the time allowed (need ${need})`);
        const seed = (SEED + 2 * 7919 + pass * 104_729) | 0;
        const r = await fc.check(property, { seed, numRuns: pass === 0 ? Math.ceil(150 * SCALE) : need - total, interruptAfterTimeLimit: Math.ceil(1500 * SCALE) * (pass ? 4 : 1), markInterruptAsFailure: false, endOnFailure: true });
        if (r.failed) assert.fail(`bad server (seed ${seed}): ${r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance)}\ncounterexample: ${JSON.stringify(r.counterexample).slice(0, 2000)}`);
        total += r.numRuns;
      }
      assert.ok(hellos >= runs.n * 0.9, `the fake server saw ${hellos} hellos for ${runs.n} runs`);
      assert.equal(notHello, 0, 'a first frame was not the hello');
      console.log(`bad server: ${total} runs`);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
