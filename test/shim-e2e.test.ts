// The real shim in a scratch root, talking to the real server: what an agent's toolbox sees
// when it runs `bash -c …`. Never touches the machine's own /bin.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildShim } from '../src/shim/build.js';
import { installShell } from '../src/shim/install.js';
import { isGone } from './helpers.js';
import { startTestServer, type TestServer } from './server-harness.js';

let srv: TestServer;
let root: string;
let bash: string;

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'agentsh-root-'));
  mkdirSync(join(root, 'bin'));
  copyFileSync('/bin/bash', join(root, 'bin/bash'));
  spawnSync('chmod', ['755', join(root, 'bin/bash')]);
  installShell({ root, shimPath: buildShim(join(root, 'build')), shells: ['bash'] });
  bash = join(root, 'bin/bash');
  srv = await startTestServer();
});
after(async () => {
  await srv?.stop();
  rmSync(root, { recursive: true, force: true });
});

function shimEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: '/root', AGENTSH_SHIM_FORCE: '1', AGENTSH_RUN_DIR: srv.runDir, AGENTSH_BIN: '/nonexistent/agentsh', ...extra };
}
function run(args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<Buffer> {
  return spawnSync(bash, args, { input: opts.input ?? '', env: shimEnv(opts.env), timeout: 60_000, maxBuffer: 256 * 1024 * 1024 });
}
const text = (r: SpawnSyncReturns<Buffer>) => ({ code: r.status, out: r.stdout.toString(), err: r.stderr.toString() });

describe('shim → server', () => {
  it('bash -c "sudo whoami" → 126 with the rule, nothing runs', () => {
    const marker = join(root, 'marker');
    const r = text(run(['-c', `touch ${marker}; sudo whoami`]));
    assert.equal(r.code, 126);
    assert.equal(r.out, '');
    assert.equal(r.err, 'agentsh: command denied by policy (rule=block-shell-escape)\n');
    assert.equal(existsSync(marker), false);
  });
  it('echo hi → hi, exit 0; exit codes and stderr pass through separately', () => {
    assert.deepEqual(text(run(['-c', 'echo hi'])), { code: 0, out: 'hi\n', err: '' });
    assert.deepEqual(text(run(['-c', 'echo o; echo e >&2; exit 7'])), { code: 7, out: 'o\n', err: 'e\n' });
  });
  it('stdin-fed scripts are checked as a whole', () => {
    assert.deepEqual(text(run([], { input: 'echo from-stdin\necho two\n' })), { code: 0, out: 'from-stdin\ntwo\n', err: '' });
    const denied = text(run([], { input: 'echo first\nsudo id\n' }));
    assert.equal(denied.code, 126);
    assert.equal(denied.out, ''); // not even the first line ran
  });
  it('stdin reaches the command', () => {
    assert.deepEqual(text(run(['-c', 'cat; echo'], { input: 'abc' })), { code: 0, out: 'abc\n', err: '' });
  });
  it('100 MB and binary output arrive byte-exact', () => {
    const big = run(['-c', 'head -c 100000000 /dev/zero | tr "\\0" "b"']);
    assert.equal(big.status, 0);
    assert.equal(big.stdout.length, 100_000_000);
    assert.equal(createHash('sha256').update(big.stdout).digest('hex'), createHash('sha256').update(Buffer.alloc(100_000_000, 'b')).digest('hex'));
    const bin = run(['-c', 'printf "\\x00\\xff\\xfe\\x80abc\\n\\x01"']);
    assert.deepEqual([...bin.stdout], [0, 0xff, 0xfe, 0x80, 0x61, 0x62, 0x63, 0x0a, 0x01]);
  });
  it('forwards signals to the command and reports its death', async () => {
    const pidFile = join(root, 'sig.pid');
    const p = spawn(bash, ['-c', `echo $$ > ${pidFile}; sleep 30`], { env: shimEnv(), stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
    const inner = Number(readFileSync(pidFile, 'utf8'));
    p.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    assert.equal(code, 143);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(isGone(inner));
  });
  it('concurrent shim commands', async () => {
    const runs = Array.from({ length: 8 }, (_, i) => new Promise<string>((res) => {
      const p = spawn(bash, ['-c', `sleep 0.3; echo ${i}`], { env: shimEnv() });
      let out = '';
      p.stdout.on('data', (c: Buffer) => (out += c));
      p.on('exit', () => res(out));
    }));
    assert.deepEqual(await Promise.all(runs), Array.from({ length: 8 }, (_, i) => `${i}\n`));
  });
  it('shells inside a governed command run directly, once governed', async () => {
    const before = (await srv.api('GET', '/api/v1/events?type=command_policy&limit=100000')).body.length as number;
    const r = text(run(['-c', `${bash} -c 'echo inner'`]));
    assert.deepEqual(r, { code: 0, out: 'inner\n', err: '' });
    await new Promise((res) => setTimeout(res, 300));
    const afterCount = (await srv.api('GET', '/api/v1/events?type=command_policy&limit=100000')).body.length as number;
    assert.equal(afterCount - before, 1, 'only the outer command was a separate governed command');
  });
  it('a forged governed marker does not bypass the server', () => {
    // AGENTSH_GOVERNED_FD=0 points at our own stdin pipe, whose peer is not the server.
    const r = text(run(['-c', 'sudo id'], { env: { AGENTSH_GOVERNED_FD: '0' } }));
    assert.equal(r.code, 126);
    assert.match(r.err, /rule=block-shell-escape/);
  });
});

describe('fail closed', () => {
  it('no server and no way to start one → 126 and nothing runs', () => {
    const marker = join(root, 'ungoverned');
    const r = text(run(['-c', `touch ${marker}`], { env: { AGENTSH_RUN_DIR: join(root, 'no-server') } }));
    assert.equal(r.code, 126);
    assert.match(r.err, /cannot reach the agentsh server/);
    assert.equal(existsSync(marker), false);
  });
  it('an AGENTSH_BIN the caller could have written is never started', () => {
    const evil = join(root, 'evil-dir');
    mkdirSync(evil, { recursive: true });
    chmodSync(evil, 0o777); // anyone could have put this "server" here
    const marker = join(root, 'evil-ran');
    writeFileSync(join(evil, 'agentsh'), `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
    const r = text(run(['-c', 'true'], { env: { AGENTSH_RUN_DIR: join(root, 'no-server-2'), AGENTSH_BIN: join(evil, 'agentsh') } }));
    assert.equal(r.code, 126);
    assert.match(r.err, /not starting .* writable by others/);
    assert.equal(existsSync(marker), false);
  });
  it('another user without a socket of its own is refused', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
    const marker = join(tmpdir(), `agentsh-nobody-${process.pid}`);
    chmodSync(root, 0o755); // nobody may run the scratch shim
    const r = spawnSync(bash, ['-c', `touch ${marker}`], { env: shimEnv(), uid: 65534, gid: 65534, encoding: 'utf8' });
    assert.equal(r.status, 126);
    assert.match(r.stderr, /cannot reach the agentsh server/);
    assert.equal(existsSync(marker), false);
  });
  it('the server killed mid-command → the shim reports 126 and the command dies with it', async () => {
    const other = await startTestServer();
    const pidFile = join(root, 'killed.pid');
    try {
      const p = spawn(bash, ['-c', `echo $$ > ${pidFile}; exec sleep 30`], { env: shimEnv({ AGENTSH_RUN_DIR: other.runDir }) });
      let out = '';
      let err = '';
      p.stdout.on('data', (c: Buffer) => (out += c));
      p.stderr.on('data', (c: Buffer) => (err += c));
      for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
      const commandPid = Number(readFileSync(pidFile, 'utf8'));
      other.proc.kill('SIGKILL');
      const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
      assert.equal(code, 126);
      assert.match(err, /lost connection to the agentsh server/);
      assert.equal(out, '');
      for (let i = 0; i < 40 && !isGone(commandPid); i++) await new Promise((r) => setTimeout(r, 50));
      assert.ok(isGone(commandPid), 'the command does not outlive the server');
    } finally {
      await other.stop();
    }
  });

});
