// The shell shim (native/shim.c, compiled in this run) against a fake server written here
// with node:net — not the real server: these tests pin the shim's half of
// docs/shim-protocol.md (frames, relaying, signals, failure modes, the governed check).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildShim } from '../src/shim/build.js';

const REAL_BASH = realpathSync('/bin/bash');
const UID = process.getuid?.() ?? 0;
const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-shimp-')));
const strays: number[] = [];
const live = new Set<ChildProcess>(); // shims still running: killed if a test times out
after(() => {
  for (const c of live) c.kill('SIGKILL');
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});

let shimBin = ''; // <tmp>/bin/bash: the shim, with bash.real -> the real bash
let counter = 0;
before(() => {
  // AGENTSH_TEST_SHIM: test a prebuilt shim instead of compiling native/shim.c.
  const built = process.env.AGENTSH_TEST_SHIM || buildShim();
  mkdirSync(join(tmp, 'bin'));
  shimBin = join(tmp, 'bin', 'bash');
  copyFileSync(built, shimBin);
  chmodSync(shimBin, 0o755);
  symlinkSync(REAL_BASH, `${shimBin}.real`);
});

// ------------------------------------------------------------------ fake server

interface Frame {
  type: string;
  payload: Buffer;
}

interface Hello {
  v: number;
  enc: string;
  argv: string[];
  real_shell: string;
  cwd: string;
  env: string[];
  stdin_tty: boolean;
  stdout_tty: boolean;
}

const bytes = (s: string) => Buffer.from(s, 'latin1'); // the shim's enc: latin1

function frame(type: string, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(5);
  h[0] = type.charCodeAt(0);
  h.writeUInt32BE(p.length, 1);
  return Buffer.concat([h, p]);
}

function exitFrame(code: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(code);
  return frame('X', b);
}

class Conn {
  frames: Frame[] = [];
  hello!: Hello;
  private buf = Buffer.alloc(0);
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  readonly closed: Promise<void>;
  constructor(readonly sock: Socket) {
    this.closed = new Promise((r) => sock.on('close', () => r()));
    sock.on('error', () => {});
    sock.on('data', (chunk: Buffer) => this.push(chunk));
  }
  private push(chunk: Buffer) {
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < 5 + len) break;
      const f = { type: String.fromCharCode(this.buf[0]!), payload: Buffer.from(this.buf.subarray(5, 5 + len)) };
      this.buf = this.buf.subarray(5 + len);
      if (f.type === 'H' && !this.hello) this.hello = JSON.parse(f.payload.toString('utf8')) as Hello;
      this.frames.push(f);
      for (const w of [...this.waiters]) {
        if (w.pred(f)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(f);
        }
      }
    }
  }
  /** The first frame (seen or future) matching pred. */
  next(pred: (f: Frame) => boolean): Promise<Frame> {
    const seen = this.frames.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }
  /** Writes respecting back-pressure, like a well-behaved server. */
  async send(b: Buffer): Promise<void> {
    if (!this.sock.write(b)) await new Promise((r) => this.sock.once('drain', r));
  }
}

interface Fake {
  server: Server;
  conns: Conn[];
  close(): Promise<void>;
}

function socketPath(run: string, uid = UID) {
  return join(run, `shim-${uid}.sock`);
}

async function fakeServer(run: string, onConn: (c: Conn) => void | Promise<void>, uid = UID): Promise<Fake> {
  const conns: Conn[] = [];
  const server = createServer((sock) => {
    const c = new Conn(sock);
    conns.push(c);
    void Promise.resolve(onConn(c)).catch((err) => {
      console.error('fake server handler failed', err);
      sock.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath(run, uid), resolve);
  });
  return {
    server,
    conns,
    close: () =>
      new Promise<void>((r) => {
        for (const c of conns) c.sock.destroy();
        server.close(() => r());
      }),
  };
}

/** A handler: wait for the hello, then answer. */
const answer = (fn: (c: Conn) => Promise<void> | void) => async (c: Conn) => {
  await c.next((f) => f.type === 'H');
  await fn(c);
};

function newRun(): string {
  const run = join(tmp, `run${++counter}`);
  mkdirSync(run);
  return run;
}

// ------------------------------------------------------------------ running the shim

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  ms: number;
}

interface RunOpts {
  env?: Record<string, string | undefined>;
  input?: Buffer | string | null; // null: stdin stays open until the test ends it
  stdio?: StdioOptions;
  argv0?: string;
  cwd?: string;
  onSpawn?: (c: ChildProcess) => void;
  file?: string;
}

function baseEnv(run: string): Record<string, string> {
  // AGENTSH_BIN never names a real agentsh: nothing here may start a real server.
  // HOME without rc files: Debian's bash sources ~/.bashrc when its stdin is a socket, and
  // Node's stdio pipes are socketpairs.
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp, AGENTSH_RUN_DIR: run, AGENTSH_BIN: join(tmp, 'no-such-agentsh'), AGENTSH_SHIM_FORCE: '1' };
}

function run(args: string[], run: string, opts: RunOpts = {}): Promise<Result> {
  const env: Record<string, string> = { ...baseEnv(run) };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const t0 = process.hrtime.bigint();
  const child = spawn(opts.file ?? shimBin, args, { env, stdio: opts.stdio ?? ['pipe', 'pipe', 'pipe'], ...(opts.argv0 ? { argv0: opts.argv0 } : {}), ...(opts.cwd ? { cwd: opts.cwd } : {}) });
  live.add(child);
  child.on('exit', () => live.delete(child));
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (d: Buffer) => out.push(d));
  child.stderr?.on('data', (d: Buffer) => err.push(d));
  child.stdin?.on('error', () => {});
  if (opts.input !== null && child.stdin) child.stdin.end(opts.input ?? '');
  opts.onSpawn?.(child);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err), ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
  });
}

/** A bash -c string that passes `b` as one argument, byte for byte (printf octal escapes). */
function oct(b: Buffer): string {
  return `"$(printf '${[...b].map((x) => `\\${x.toString(8).padStart(3, '0')}`).join('')}')"`;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const REFUSED = /^agentsh: cannot reach the agentsh server \((.*)\): (.*); command refused\n$/;
const LOST = 'agentsh: lost connection to the agentsh server; command outcome unknown\n';

// ------------------------------------------------------------------ tests

describe('shell shim protocol (fake server)', { timeout: 60_000 }, () => {
  it('sends H with argv (argv[0] included), env, cwd byte-exact as latin1, then relays O/E and the X status', async () => {
    const r0 = newRun();
    const fake = await fakeServer(
      r0,
      answer(async (c) => {
        await c.send(frame('O', 'out1 '));
        await c.send(frame('E', 'err1'));
        await c.send(frame('O', 'out2'));
        await c.send(exitFrame(3));
      }),
    );
    try {
      const argv0 = bytes('my\xffshell');
      const every = Buffer.from(Array.from({ length: 255 }, (_, i) => i + 1)); // bytes 1..255
      const args = [bytes('-c'), bytes('echo \xff "q" \\ \t\x01\x7f end'), Buffer.from('é ☃'), Buffer.alloc(0), bytes('{"json":true}'), every];
      const wval = Buffer.concat([bytes('w\xff\x01"\\\nz'), every]);
      const cwdName = bytes('dir "q" \\ \xfe é');
      mkdirSync(Buffer.concat([bytes(`${tmp}/`), cwdName]));
      // The outer shell is the real bash (not the shim): it can pass bytes Node's spawn cannot.
      const script = `cd ${oct(cwdName)} && export W=${oct(wval)} && exec -a ${oct(argv0)} "$SHIM" ${args.map(oct).join(' ')}`;
      const r = await run(['-c', script], r0, { file: REAL_BASH, env: { SHIM: shimBin }, cwd: tmp });
      assert.equal(r.stderr.toString(), 'err1');
      assert.equal(r.stdout.toString(), 'out1 out2');
      assert.equal(r.code, 3);

      const h = fake.conns[0]!.hello;
      assert.equal(h.v, 1);
      assert.equal(h.enc, 'latin1');
      assert.deepEqual(h.argv.map(bytes), [argv0, ...args]);
      assert.ok(h.env.map(bytes).some((e) => e.equals(Buffer.concat([bytes('W='), wval]))), 'W with its raw bytes');
      assert.ok(h.env.includes(`SHIM=${shimBin}`));
      assert.ok(h.env.includes(`AGENTSH_RUN_DIR=${r0}`));
      assert.ok(bytes(h.cwd).equals(Buffer.concat([bytes(`${tmp}/`), cwdName])), `cwd ${JSON.stringify(h.cwd)}`);
      assert.equal(h.real_shell, `${shimBin}.real`);
      assert.equal(h.stdin_tty, false);
      assert.equal(h.stdout_tty, false);
      // Decoding per the doc gives back UTF-8 text unchanged.
      assert.equal(Buffer.from(h.argv[3]!, 'latin1').toString('utf8'), 'é ☃');
    } finally {
      await fake.close();
    }
  });

  it('a hello far above 1 MiB (argv near ARG_MAX, all non-ASCII) arrives intact', async () => {
    const r0 = newRun();
    const fake = await fakeServer(r0, answer((c) => void c.sock.end(exitFrame(0))));
    try {
      const big = Array.from({ length: 12 }, (_, i) => `${i}${'é'.repeat(60_000)}`); // 12 × 120 KB, each byte escaped
      const r = await run(['-c', 'x', ...big], r0);
      assert.equal(r.code, 0, r.stderr.toString());
      const hf = fake.conns[0]!.frames[0]!;
      assert.ok(hf.payload.length > 8 * 1024 * 1024, `${hf.payload.length} bytes`);
      assert.deepEqual(fake.conns[0]!.hello.argv.slice(3).map((a) => Buffer.from(a, 'latin1').toString('utf8')), big);
    } finally {
      await fake.close();
    }
  });

  it('relays stdin (`printf abc | shim -c …`): I frames, then one i frame, nothing after it', async () => {
    const r0 = newRun();
    const fake = await fakeServer(
      r0,
      answer(async (c) => {
        await c.next((f) => f.type === 'i');
        const data = Buffer.concat(c.frames.filter((f) => f.type === 'I').map((f) => f.payload));
        await c.send(frame('O', data));
        await c.send(exitFrame(0));
      }),
    );
    try {
      const r = await run(['-c', `printf abc | "$SHIM" -c 'cat'`], r0, { file: REAL_BASH, env: { SHIM: shimBin } });
      assert.equal(r.stderr.toString(), '');
      assert.equal(r.stdout.toString(), 'abc');
      assert.equal(r.code, 0);
      const types = fake.conns[0]!.frames.map((f) => f.type).join('');
      assert.match(types, /^HI+i$/);
      // stdin at EOF from the start (/dev/null): just H and i.
      const r2 = await run(['-c', 'cat'], r0, { stdio: ['ignore', 'pipe', 'pipe'] });
      assert.equal(r2.code, 0);
      assert.equal(fake.conns[1]!.frames.map((f) => f.type).join(''), 'Hi');
    } finally {
      await fake.close();
    }
  });

  it('streams large binary stdin and output byte-exact through a back-pressuring server (no deadlock)', { timeout: 20_000 }, async () => {
    const r0 = newRun();
    const input = randomBytes(12 * 1024 * 1024);
    const output = randomBytes(8 * 1024 * 1024 + 5);
    const tail = randomBytes(3 * 1024 * 1024 + 17);
    let received = Buffer.alloc(0);
    // Like a server running `cat big; cat`: it first produces 8 MiB of output without
    // reading any stdin (the command does not read yet, so the server stops reading the
    // socket), honouring back-pressure; only then it reads stdin to EOF. A shim that blocked
    // writing stdin to the socket instead of reading its output would deadlock here.
    const server = createServer((sock) => {
      sock.on('error', () => {});
      sock.pause();
      void (async () => {
        for (let off = 0; off < output.length; off += 65536) {
          if (!sock.write(frame('O', output.subarray(off, off + 65536)))) await new Promise((r) => sock.once('drain', r));
        }
        const chunks: Buffer[] = [];
        let buf = Buffer.alloc(0);
        sock.on('data', (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk]);
          while (buf.length >= 5) {
            const len = buf.readUInt32BE(1);
            if (buf.length < 5 + len) break;
            const type = String.fromCharCode(buf[0]!);
            const payload = Buffer.from(buf.subarray(5, 5 + len));
            buf = buf.subarray(5 + len);
            if (type === 'I') chunks.push(payload);
            else if (type === 'i') {
              received = Buffer.concat(chunks);
              for (let off = 0; off < tail.length; off += 65536) sock.write(frame('E', tail.subarray(off, off + 65536)));
              sock.end(exitFrame(0));
            }
          }
        });
        sock.resume();
      })();
    });
    await new Promise<void>((resolve) => server.listen(socketPath(r0), resolve));
    try {
      const r = await run(['-c', 'cat big; cat'], r0, { input });
      assert.equal(r.code, 0, r.stderr.subarray(0, 300).toString());
      assert.equal(r.stdout.length, output.length);
      assert.equal(sha(r.stdout), sha(output));
      assert.equal(sha(r.stderr), sha(tail));
      assert.equal(received.length, input.length);
      assert.equal(sha(received), sha(input));
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('keeps stdout and stderr apart across interleaved frames', async () => {
    const r0 = newRun();
    const fake = await fakeServer(
      r0,
      answer(async (c) => {
        for (let i = 0; i < 50; i++) {
          await c.send(frame('O', `o${i};`));
          await c.send(frame('E', `e${i};`));
        }
        await c.send(exitFrame(0));
      }),
    );
    try {
      const r = await run(['-c', 'x'], r0);
      assert.equal(r.stdout.toString(), Array.from({ length: 50 }, (_, i) => `o${i};`).join(''));
      assert.equal(r.stderr.toString(), Array.from({ length: 50 }, (_, i) => `e${i};`).join(''));
      assert.equal(r.code, 0);
    } finally {
      await fake.close();
    }
  });

  it('a denial (E message + X 126) reaches the caller as bash would show it', async () => {
    const r0 = newRun();
    const msg = 'agentsh: command denied by policy (rule=block-shell-escape): sudo is not allowed\n';
    const fake = await fakeServer(
      r0,
      answer(async (c) => {
        await c.send(frame('E', msg));
        await c.send(exitFrame(126));
      }),
    );
    try {
      const r = await run(['-c', 'sudo whoami'], r0);
      assert.equal(r.code, 126);
      assert.equal(r.stderr.toString(), msg);
      assert.equal(r.stdout.length, 0);
    } finally {
      await fake.close();
    }
  });

  it('server absent and AGENTSH_BIN missing: 126 with the message at once, and the command never runs', async () => {
    const r0 = newRun();
    const marker = join(tmp, 'ran-absent');
    const r = await run(['-c', `touch ${marker}`], r0);
    assert.equal(r.code, 126);
    const m = REFUSED.exec(r.stderr.toString());
    assert.ok(m, r.stderr.toString());
    assert.equal(m[1], socketPath(r0));
    assert.match(m[2]!, /No such file or directory; starting `.*no-such-agentsh server` failed: No such file or directory/);
    assert.ok(r.ms < 2000, `failed fast (${r.ms} ms), not after the start timeout`);
    assert.equal(existsSync(marker), false, 'the command must not have run');
    assert.equal(r.stdout.length, 0);
  });

  it('server started but never listening: 126 after AGENTSH_SHIM_START_TIMEOUT_MS, command never runs', async () => {
    const r0 = newRun();
    const marker = join(tmp, 'ran-timeout');
    const r = await run(['-c', `touch ${marker}`], r0, { env: { AGENTSH_BIN: '/bin/true', AGENTSH_SHIM_START_TIMEOUT_MS: '300' } });
    assert.equal(r.code, 126);
    assert.match(r.stderr.toString(), REFUSED);
    assert.match(r.stderr.toString(), /started `\/bin\/true server` but it was not reachable within 300 ms/);
    assert.ok(r.ms >= 290 && r.ms < 3000, `${r.ms} ms`);
    assert.equal(existsSync(marker), false);
  });

  it('auto-starts `$AGENTSH_BIN server` detached (new session, stdio on /dev/null, no inherited pipes) and retries until it listens', async () => {
    const r0 = newRun();
    const report = join(tmp, 'autostart-report');
    const script = join(tmp, 'fake-agentsh');
    // Reports, then becomes `sleep`: the test inspects that process's descriptors, session
    // and cwd, which are what the server would have had.
    writeFileSync(script, `#!/bin/sh\nprintf 'args:%s\\npid:%s\\n' "$*" "$$" > "$AGENTSH_TEST_REPORT.tmp"\nmv "$AGENTSH_TEST_REPORT.tmp" "$AGENTSH_TEST_REPORT"\nexec sleep 30\n`);
    chmodSync(script, 0o755);
    let fake: Fake | undefined;
    const poll = setInterval(() => {
      if (fake || !existsSync(report)) return;
      fake = {} as Fake; // claim
      void fakeServer(
        r0,
        answer(async (c) => {
          await c.send(frame('O', 'started\n'));
          await c.send(exitFrame(0));
        }),
      ).then((f) => (fake = f));
    }, 5);
    try {
      // An extra descriptor (fd 3, a socketpair end) that the server must not inherit.
      const r = await run(['-c', 'echo x'], r0, { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env: { AGENTSH_BIN: script, AGENTSH_TEST_REPORT: report } });
      clearInterval(poll);
      const rep = readFileSync(report, 'utf8');
      const pid = Number(/^pid:(\d+)$/m.exec(rep)![1]);
      strays.push(pid);
      assert.equal(r.stderr.toString(), '');
      assert.equal(r.stdout.toString(), 'started\n');
      assert.equal(r.code, 0);
      assert.match(rep, /^args:server$/m);
      for (let i = 0; i < 200 && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'sleep'; i++) await new Promise((res) => setTimeout(res, 10));
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
      const ownSid = Number(readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /s, '').split(' ')[3]);
      assert.notEqual(Number(stat[3]), ownSid, 'the server is in a session of its own (setsid)');
      assert.equal(Number(stat[1]) === process.pid, false, 'not our child');
      assert.equal(readlinkSync(`/proc/${pid}/cwd`), '/');
      const fds = Object.fromEntries(readdirSync(`/proc/${pid}/fd`).map((fd) => [fd, readlinkSync(`/proc/${pid}/fd/${fd}`)]));
      // Only /dev/null on 0-2 and nothing else of the caller's (its stdio pipes): otherwise
      // the caller would wait for the server to exit before seeing EOF (the sleep is 30 s).
      assert.deepEqual(fds, { 0: '/dev/null', 1: '/dev/null', 2: '/dev/null' });
      assert.ok(r.ms < 10_000, `${r.ms} ms`);
    } finally {
      clearInterval(poll);
      if (fake?.close) await fake.close();
    }
  });

  it('connection dropped mid-command: what arrived is relayed, then 126 and the message', async () => {
    const r0 = newRun();
    const fake = await fakeServer(
      r0,
      answer(async (c) => {
        await c.send(frame('O', 'partial'));
        await new Promise((r) => setTimeout(r, 50));
        c.sock.destroy();
      }),
    );
    try {
      const r = await run(['-c', 'sleep 100'], r0, { input: null });
      assert.equal(r.stdout.toString(), 'partial');
      assert.equal(r.stderr.toString(), LOST);
      assert.equal(r.code, 126);
    } finally {
      await fake.close();
    }
    // A server that ends the stream in the middle of a frame.
    const r1 = newRun();
    const f1 = await fakeServer(
      r1,
      answer((c) => {
        c.sock.end(frame('O', 'abc').subarray(0, 6));
      }),
    );
    try {
      const r = await run(['-c', 'x'], r1);
      assert.equal(r.code, 126);
      assert.equal(r.stderr.toString(), LOST);
    } finally {
      await f1.close();
    }
  });

  it('forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 as K frames and exits with the X status', async () => {
    const r0 = newRun();
    let child: ChildProcess | undefined;
    const got: number[] = [];
    const order: [NodeJS.Signals, number][] = [
      ['SIGTERM', 15],
      ['SIGINT', 2],
      ['SIGHUP', 1],
      ['SIGQUIT', 3],
      ['SIGUSR1', 10],
      ['SIGUSR2', 12],
    ];
    const fake = await fakeServer(
      r0,
      answer(async (c) => {
        for (const [name, num] of order) {
          child!.kill(name);
          const f = await c.next((fr) => fr.type === 'K' && fr.payload[0] === num);
          got.push(f.payload[0]!);
        }
        await c.send(exitFrame(143));
      }),
    );
    try {
      const r = await run(['-c', 'sleep 100'], r0, { input: null, onSpawn: (c) => (child = c) });
      assert.deepEqual(got, [15, 2, 1, 3, 10, 12]);
      for (const f of fake.conns[0]!.frames.filter((fr) => fr.type === 'K')) assert.equal(f.payload.length, 1);
      assert.equal(r.code, 143);
      assert.equal(r.signal, null, 'the shim survived every forwarded signal');
    } finally {
      await fake.close();
    }
  });

  it('stdout closed by the reader: the shim keeps draining the socket and still exits with the status', async () => {
    const r0 = newRun();
    const fake = await fakeServer(
      r0,
      answer(async (c) => {
        await new Promise((r) => setTimeout(r, 50));
        const chunk = Buffer.alloc(65536, 0x61);
        for (let i = 0; i < 64; i++) await c.send(frame('O', chunk)); // 4 MiB, far beyond a pipe buffer
        await c.send(frame('E', 'done\n'));
        await c.send(exitFrame(7));
      }),
    );
    try {
      const r = await run(['-c', 'yes'], r0, { onSpawn: (c) => c.stdout!.destroy() });
      assert.equal(r.stderr.toString(), 'done\n');
      assert.equal(r.code, 7);
      assert.equal(r.signal, null, 'no SIGPIPE death');
    } finally {
      await fake.close();
    }
  });

  describe('already governed (AGENTSH_GOVERNED_FD + SO_PEERCRED against server.pid)', () => {
    // Node creates stdio 'pipe' entries as socketpairs in this process: fd 3 of the child is
    // a unix socket whose peer pid is process.pid, exactly what the server hands its commands.
    const stdio4: StdioOptions = ['pipe', 'pipe', 'pipe', 'pipe'];
    const noConnection = (c: Conn) => {
      c.sock.end(Buffer.concat([frame('E', 'fake server reached\n'), exitFrame(99)]));
    };

    it('a socketpair end made by the pid in server.pid: the real shell runs directly, no connection', async () => {
      const r0 = newRun();
      writeFileSync(join(r0, 'server.pid'), `${process.pid}\n`);
      const fake = await fakeServer(r0, noConnection);
      try {
        const r = await run(['-c', 'echo governed $0; readlink /proc/$$/fd/3; exit 5'], r0, { stdio: stdio4, argv0: 'sh', env: { AGENTSH_GOVERNED_FD: '3' } });
        assert.equal(r.stderr.toString(), '');
        assert.match(r.stdout.toString(), /^governed sh\nsocket:\[\d+\]\n$/, 'the real shell ran, with the descriptor still open for its children');
        assert.equal(r.code, 5);
        assert.equal(fake.conns.length, 0);
      } finally {
        await fake.close();
      }
    });

    const negatives: [string, (run: string) => RunOpts][] = [
      ['server.pid names another process', (r) => (writeFileSync(join(r, 'server.pid'), `${process.ppid}\n`), { stdio: stdio4, env: { AGENTSH_GOVERNED_FD: '3' } })],
      ['server.pid is missing', () => ({ stdio: stdio4, env: { AGENTSH_GOVERNED_FD: '3' } })],
      ['server.pid is garbage', (r) => (writeFileSync(join(r, 'server.pid'), `${process.pid}x\n`), { stdio: stdio4, env: { AGENTSH_GOVERNED_FD: '3' } })],
      ['the descriptor is not open', (r) => (writeFileSync(join(r, 'server.pid'), `${process.pid}\n`), { env: { AGENTSH_GOVERNED_FD: '3' } })],
      [
        'the descriptor is a file, not a socket',
        (r) => {
          writeFileSync(join(r, 'server.pid'), `${process.pid}\n`);
          const fd = openSync(join(r, 'server.pid'), 'r');
          setTimeout(() => closeSync(fd), 5000).unref();
          return { stdio: ['pipe', 'pipe', 'pipe', fd], env: { AGENTSH_GOVERNED_FD: '3' } };
        },
      ],
      ['the descriptor is below 3 (stdout is such a socketpair too)', (r) => (writeFileSync(join(r, 'server.pid'), `${process.pid}\n`), { stdio: stdio4, env: { AGENTSH_GOVERNED_FD: '1' } })],
      ['the variable is not a plain number', (r) => (writeFileSync(join(r, 'server.pid'), `${process.pid}\n`), { stdio: stdio4, env: { AGENTSH_GOVERNED_FD: '3 ' } })],
    ];
    it('not governed when the descriptor is a connection to a listening socket of the server (its peer is the server too)', async () => {
      const r0 = newRun();
      writeFileSync(join(r0, 'server.pid'), `${process.pid}\n`);
      const fake = await fakeServer(
        r0,
        answer((c) => {
          c.sock.end(exitFrame(42));
        }),
      );
      // Anyone allowed to use the shim socket can connect to it: SO_PEERCRED on that
      // connection names the server's pid, exactly like the server's socketpairs.
      const forged = await new Promise<Socket>((resolve, reject) => {
        const s = createConnection(socketPath(r0), () => resolve(s));
        s.once('error', reject);
      });
      try {
        const r = await run(['-c', 'echo ran-directly'], r0, { stdio: ['pipe', 'pipe', 'pipe', forged], env: { AGENTSH_GOVERNED_FD: '3' } });
        assert.equal(r.stdout.toString(), '', 'the real shell must not have run');
        assert.equal(r.code, 42);
        assert.equal(fake.conns.length, 2, 'the forged connection and the shim');
        assert.equal(fake.conns.filter((c) => c.hello).length, 1);
      } finally {
        forged.destroy();
        await fake.close();
      }
    });

    for (const [name, setup] of negatives) {
      it(`not governed when ${name}: the command goes to the server`, async () => {
        const r0 = newRun();
        const opts = setup(r0);
        const fake = await fakeServer(
          r0,
          answer((c) => {
            c.sock.end(exitFrame(42));
          }),
        );
        try {
          const r = await run(['-c', 'echo ran-directly'], r0, opts);
          assert.equal(r.stdout.toString(), '', 'the real shell must not have run');
          assert.equal(r.code, 42);
          assert.equal(fake.conns.length, 1);
        } finally {
          await fake.close();
        }
      });
    }
  });

  it('passes through to the real shell when AGENTSH_SHIM_FORCE is not 1 and stdin is not a tty', async () => {
    const r0 = newRun();
    const fake = await fakeServer(r0, (c) => void c.sock.end(exitFrame(99)));
    try {
      for (const force of [undefined, '0', 'yes', '11', '']) {
        const r = await run(['-c', 'echo pass $0; exit 7'], r0, { argv0: 'sh', env: { AGENTSH_SHIM_FORCE: force } });
        assert.equal(r.stdout.toString(), 'pass sh\n', `FORCE=${force}`);
        assert.equal(r.code, 7);
      }
      // The shim leaves no trace on what it execs: same signal dispositions, mask and
      // descriptors as running the program directly (here `.real` is grep, then ls, so the
      // probe reads the exec'd process itself).
      for (const [prog, args] of [['/usr/bin/grep', ['-E', '^Sig(Ign|Blk|Cgt)', '/proc/self/status']], ['/usr/bin/ls', ['-l', '/proc/self/fd']]] as const) {
        const dir = join(tmp, `probe-${prog.split('/').pop()}`);
        mkdirSync(dir);
        copyFileSync(shimBin, join(dir, 'bash'));
        chmodSync(join(dir, 'bash'), 0o755);
        symlinkSync(prog, join(dir, 'bash.real'));
        const viaShim = await run([...args], r0, { file: join(dir, 'bash'), env: { AGENTSH_SHIM_FORCE: undefined } });
        const direct = await run([...args], r0, { file: prog });
        const norm = (b: Buffer) => b.toString().replace(/^total.*\n/m, '').replace(/^.* (\d+ -> .*)$/gm, '$1').replace(/\[\d+\]|\/proc\/\d+/g, '[N]');
        assert.equal(norm(viaShim.stdout), norm(direct.stdout), prog);
        assert.notEqual(viaShim.stdout.length, 0);
      }
      // stdin-fed script, passed through
      const fed = await run([], r0, { env: { AGENTSH_SHIM_FORCE: undefined }, input: 'echo from-stdin\n' });
      assert.equal(fed.stdout.toString(), 'from-stdin\n');
      assert.equal(fake.conns.length, 0);
    } finally {
      await fake.close();
    }
  });

  it('refuses with 126 when the real shell (<self>.real) is missing, forced or not', async () => {
    const r0 = newRun();
    const dir = join(tmp, 'noreal');
    mkdirSync(dir);
    const lone = join(dir, 'bash');
    copyFileSync(shimBin, lone);
    chmodSync(lone, 0o755);
    const marker = join(tmp, 'ran-noreal');
    for (const force of ['1', undefined]) {
      const r = await run(['-c', `touch ${marker}`], r0, { file: lone, env: { AGENTSH_SHIM_FORCE: force } });
      assert.equal(r.code, 126);
      assert.equal(r.stderr.toString(), `agentsh: real shell ${lone}.real not found; command refused\n`);
    }
    assert.equal(existsSync(marker), false);
  });

  it('a socket it may not connect to (owner-only, another user): 126 at once, no server start', { skip: UID !== 0 && 'needs root to run the shim as another user' }, async () => {
    const r0 = newRun();
    chmodSync(tmp, 0o755);
    chmodSync(r0, 0o755);
    chmodSync(join(tmp, 'bin'), 0o755);
    const nobody = 65534;
    const fake = await fakeServer(r0, (c) => void c.sock.end(exitFrame(0)), nobody);
    chmodSync(socketPath(r0, nobody), 0o600); // owned by root: nobody cannot connect
    try {
      const r = await new Promise<Result>((resolve, reject) => {
        const t0 = process.hrtime.bigint();
        const child = spawn(shimBin, ['-c', 'true'], { uid: nobody, gid: nobody, env: baseEnv(r0), stdio: ['pipe', 'pipe', 'pipe'] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on('data', (d: Buffer) => out.push(d));
        child.stderr.on('data', (d: Buffer) => err.push(d));
        child.stdin.end();
        child.on('error', reject);
        child.on('close', (code, signal) => resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err), ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
      });
      assert.equal(r.code, 126);
      assert.equal(r.stderr.toString(), `agentsh: cannot reach the agentsh server (${socketPath(r0, nobody)}): Permission denied; command refused\n`);
      assert.equal(fake.conns.length, 0);
    } finally {
      await fake.close();
    }
  });
});
