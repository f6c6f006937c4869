// agentsh side by side with Anthropic's sandbox-runtime (`@anthropic-ai/sandbox-runtime`,
// "srt": bubblewrap + a host-side proxy), in one run, interleaved:
//
//   1. Per-command overhead of the same four commands against bare `bash -c`, spawned by this
//      process: agentsh through a warm local sandbox (`sb.exec`, the seed config and policy),
//      agentsh through the shim on the host (the exec benchmark's set-up: a host server with
//      the seed policy, no session sandbox), sandbox-runtime resident (the library initialised
//      once, then wrapWithSandbox + spawn per command) and sandbox-runtime's CLI (one `srt`
//      process per command). Medians of the paired differences.
//   2. The same escape probes through both tools (and, where that is safe, bare on the host as
//      the control that shows each probe would leave its side effect): each result is decided
//      by the side effect (a file on the host, a connection or datagram a host server counted,
//      a marker in the output, a process still alive), never by the exit code alone.
//   3. docs/peers.md (written by writePeersDoc, called here) with the machine, the date, the
//      versions, both tools' exact configurations, the overhead table and the probe table.
//
// Nothing here leaves the machine: the probes aim at servers this process runs on 127.0.0.1,
// agentsh's sandbox has its own network namespace (checked: only `lo`), sandbox-runtime's
// commands have theirs (bwrap --unshare-net) and its proxy runs in this process, where every
// name lookup goes through a guard that answers `localhost` and refuses everything else
// (recording it), so a name the proxy would resolve is seen, never sent to a resolver. The bare
// control runs only the probes that stay on loopback.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dns from 'node:dns';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { createServer, isIP, type AddressInfo, type Server } from 'node:net';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';
import { buildShim } from '../src/shim/build.js';
import { installShell } from '../src/shim/install.js';
import { createSandbox, type Sandbox } from '../src/sdk/index.js';
import { engineFor, REPO, SEED_CONFIG, SEED_POLICY } from '../test/helpers.js';
import { startTestServer, type TestServer } from '../test/server-harness.js';
import { median, p90, type BenchResult } from './measure.js';

type Srt = typeof import('@anthropic-ai/sandbox-runtime');
type SrtConfig = import('@anthropic-ai/sandbox-runtime').SandboxRuntimeConfig;

export interface PeerSection {
  title: string;
  budget: string;
  results: BenchResult[];
  /** A paragraph for docs/benchmarks.md. */
  prose?: string;
}

export interface PeerBenchOptions {
  /** Interleaved rounds of the four commands through every runner (default 30). */
  rounds?: number;
  /** Where the comparison is written (default docs/peers.md; null: not written). */
  docFile?: string | null;
}

const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HOME_IN_IMAGE = '/home/daytona';
const EXEC_TIMEOUT_MS = 20_000;
const require = createRequire(import.meta.url);

const now = () => process.hrtime.bigint();
const since = (t0: bigint) => Number(now() - t0);
const ms = (ns: number) => `${(ns / 1e6).toFixed(ns >= 1e8 ? 0 : 1)} ms`;
const row = (name: string, xs: number[], note?: string): BenchResult => ({ name, medianNs: median(xs), p90Ns: p90(xs), samples: xs.length, ...(note ? { note } : {}) });
const rand = () => randomBytes(6).toString('hex');
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
const oneLine = (s: string, max = 110) => {
  const l = s.replace(/\r/g, '').split('\n').map((x) => x.trim()).filter(Boolean).join(' / ');
  return l.length > max ? `${l.slice(0, max - 1)}…` : l;
};

// ------------------------------------------------------------------------------ commands

const COMMANDS: ReadonlyArray<{ id: string; cmd: string; expect: string }> = [
  { id: 'true', cmd: 'true', expect: '' },
  { id: 'echo', cmd: 'echo hi > file && cat file', expect: 'hi' },
  { id: 'ls', cmd: 'ls /usr/bin | wc -l', expect: '' },
  { id: 'python', cmd: "python3 -c 'print(sum(range(1000)))'", expect: '499500' },
];

interface RunResult {
  exit: number | null;
  stdout: string;
  stderr: string;
  ns: number;
}

function runProcess(file: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? EXEC_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ exit: code ?? (signal ? 128 : null), stdout, stderr, ns: since(t0) });
    });
  });
}

// ------------------------------------------------------------------- the DNS guard (srt)

interface DnsGuard {
  /** Every name something in this process asked to resolve (other than localhost and IP literals). */
  asked: string[];
  restore(): void;
}

/**
 * sandbox-runtime's proxy runs in this process and resolves with `dns.lookup` (its
 * resolved-address guard imports it from node:dns; net.connect reads `dns.lookup` at call
 * time). Both are replaced (syncBuiltinESMExports updates the ESM bindings) by a resolver that
 * answers localhost, passes IP literals through (no lookup happens for them) and refuses every
 * other name with ENOTFOUND after recording it: nothing reaches the host's resolver.
 */
function installDnsGuard(): DnsGuard {
  const asked: string[] = [];
  const mod = dns as unknown as { lookup: unknown; promises: { lookup: unknown } };
  const origLookup = mod.lookup;
  const origPromise = mod.promises.lookup;
  type Cb = (err: NodeJS.ErrnoException | null, address?: unknown, family?: number) => void;
  const answer = (hostname: string, options: { all?: boolean; family?: number | string } | number | undefined): { address: string; family: number }[] | NodeJS.ErrnoException => {
    const name = String(hostname).toLowerCase().replace(/\.$/, '');
    const fam = isIP(name);
    if (fam) return [{ address: name, family: fam }];
    const family = typeof options === 'number' ? options : Number(options?.family ?? 0);
    if (name === 'localhost' || name.endsWith('.localhost')) return family === 6 ? [{ address: '::1', family: 6 }] : [{ address: '127.0.0.1', family: 4 }];
    asked.push(name);
    return Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname} (peer bench DNS guard: not resolved)`), { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname });
  };
  const guarded = (hostname: string, options: unknown, callback?: Cb) => {
    let cb = callback;
    let o = options as { all?: boolean; family?: number } | number | undefined;
    if (typeof options === 'function') {
      cb = options as Cb;
      o = undefined;
    }
    const r = answer(hostname, o);
    process.nextTick(() => {
      if (r instanceof Error) cb!(r);
      else if (typeof o === 'object' && o?.all) cb!(null, r);
      else cb!(null, r[0]!.address, r[0]!.family);
    });
    return {};
  };
  const guardedPromise = async (hostname: string, options?: { all?: boolean; family?: number } | number) => {
    const r = answer(hostname, options);
    if (r instanceof Error) throw r;
    return typeof options === 'object' && options?.all ? r : r[0];
  };
  mod.lookup = guarded;
  mod.promises.lookup = guardedPromise;
  syncBuiltinESMExports();
  return {
    asked,
    restore() {
      mod.lookup = origLookup;
      mod.promises.lookup = origPromise;
      syncBuiltinESMExports();
    },
  };
}

// ---------------------------------------------------------------------- host-side servers

interface HostServers {
  tcpPort: number;
  udpPort: number;
  /** Connections accepted / datagrams received so far. */
  tcp(): number;
  udp(): number;
  close(): Promise<void>;
}

async function startHostServers(): Promise<HostServers> {
  let tcpCount = 0;
  let udpCount = 0;
  const tcp: Server = createServer((sock) => {
    tcpCount++;
    sock.on('error', () => {});
    // Answer like an HTTP server so a client through a proxy sees a response.
    sock.once('data', () => sock.end('HTTP/1.1 200 OK\r\nContent-Length: 15\r\nConnection: close\r\n\r\nPEER-HOST-REACH'));
    sock.setTimeout(3000, () => sock.destroy());
  });
  await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
  const udp: UdpSocket = createSocket('udp4');
  udp.on('message', () => udpCount++);
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  return {
    tcpPort: (tcp.address() as AddressInfo).port,
    udpPort: udp.address().port,
    tcp: () => tcpCount,
    udp: () => udpCount,
    close: async () => {
      await new Promise<void>((r) => tcp.close(() => r()));
      await new Promise<void>((r) => udp.close(() => r()));
    },
  };
}

/** A process on the host holding a secret in its environment: the target of the /proc and kill probes. */
function startVictim(uid: number, gid: number, secret: string): ChildProcess {
  const child = spawn('/bin/sleep', ['900'], { uid, gid, env: { PATH: PATH_ENV, PEER_VICTIM_SECRET: secret }, stdio: 'ignore' });
  child.on('error', () => {});
  return child;
}
const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null && c.pid !== undefined && (() => {
  try {
    process.kill(c.pid!, 0);
    return true;
  } catch {
    return false;
  }
})();

// -------------------------------------------------------------------------------- probes

type ToolId = 'agentsh' | 'srt' | 'bare';

/** One tool as the probes see it. */
interface ProbeTarget {
  tool: ToolId;
  /** A variant of the tool's set-up, run only for `only`: shown as an extra row under those probes. */
  variant?: { key: string; label: string; only: string[] };
  /** The workspace (also HOME and the cwd) as the command sees it, and on the host. */
  wsInside: string;
  wsHost: string;
  /** The command's uid and gid on the host. */
  uid: number;
  gid: number;
  run(cmd: string): Promise<RunResult>;
  /** What the tool recorded about the last run (agentsh: audit events that are not plain allows; srt: violation lines). */
  recorded(): Promise<string[]>;
  victim: ChildProcess;
  /** The secret in the victim's environment. */
  victimSecret: string;
  /** Where agentsh's trash lives on the host (agentsh only). */
  trashHost?: string;
}

type Verdict = 'blocked' | 'not blocked' | 'quarantined' | 'n/a';

interface ProbeOutcome {
  verdict: Verdict;
  /** What was observed of the side effect. */
  evidence: string;
  /** What stopped it (or what let it through), as recorded and as the error says. */
  by: string;
  /** The command's own error output, first lines. */
  observed: string;
}

interface ProbeEnv {
  servers: HostServers;
  dnsAsked: () => string[];
  hasSudo: boolean;
  etcProbe: string;
}

interface Probe {
  id: string;
  title: string;
  /** The side effect checked. */
  check: string;
  /** Safe to run bare on the host as the control (stays on loopback, writes only in scratch). */
  control: boolean;
  setup?(t: ProbeTarget, env: ProbeEnv, tag: string): void;
  cmd(t: ProbeTarget, env: ProbeEnv, tag: string): string;
  judge(t: ProbeTarget, env: ProbeEnv, tag: string, r: RunResult, before: { tcp: number; udp: number; dns: number }): Promise<{ verdict: Verdict; evidence: string }>;
}

const SECRET_KEY = (tag: string) => `-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\npeer probe marker ssh ${tag}\n`;
const AWS_CREDENTIALS = (tag: string) => `[default]\n# peer probe marker aws ${tag}\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n`;

/** A secret file was read if its marker line came out; output redaction (agentsh's DLP) is reported beside it. */
function secretJudge(marker: string, r: RunResult): { verdict: Verdict; evidence: string } {
  const redacted = [...new Set(r.stdout.match(/\[REDACTED:[A-Z_]+\]/g) ?? [])];
  if (r.stdout.includes(marker)) {
    return { verdict: 'not blocked', evidence: redacted.length ? `the file was read (its marker line came out); DLP replaced the secret itself in the output (${redacted.join(', ')})` : 'the file was read and printed' };
  }
  return redacted.length ? { verdict: 'not blocked', evidence: `the output has ${redacted.join(', ')} but not the marker` } : { verdict: 'blocked', evidence: 'nothing of the file in the output' };
}

function writeOwned(file: string, text: string, uid: number, gid: number, mode = 0o600): void {
  writeFileSync(file, text, { mode });
  chownSync(file, uid, gid);
}

function mkdirOwned(dir: string, uid: number, gid: number): void {
  mkdirSync(dir, { recursive: true });
  chownSync(dir, uid, gid);
}

/** Files under `dir` (two levels) whose content is exactly `text`. */
function findCopies(dir: string, text: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    let entries: import('node:fs').Dirent[] = [];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory() && depth > 0) walk(p, depth - 1);
      else if (e.isFile()) {
        try {
          if (readFileSync(p, 'utf8') === text) out.push(p);
        } catch {
          // unreadable
        }
      }
    }
  };
  walk(dir, 2);
  return out;
}

const PROBES: Probe[] = [
  {
    id: 'secret-read',
    title: 'read `~/.ssh/id_rsa` (fake key, random marker) with `cat`',
    check: 'the marker in the output',
    control: true,
    setup: (t, _e, tag) => {
      mkdirOwned(join(t.wsHost, '.ssh'), t.uid, t.gid);
      writeOwned(join(t.wsHost, '.ssh', 'id_rsa'), SECRET_KEY(tag), t.uid, t.gid);
    },
    cmd: () => 'cat ~/.ssh/id_rsa',
    judge: async (_t, _e, tag, r) => secretJudge(`marker ssh ${tag}`, r),
  },
  {
    id: 'secret-copy',
    title: 'copy `~/.ssh/id_rsa` into the workspace (`cp`), where output redaction does not look',
    check: 'the key in the copy on the host',
    control: true,
    setup: (t, _e, tag) => writeOwned(join(t.wsHost, '.ssh', 'id_rsa'), SECRET_KEY(tag), t.uid, t.gid),
    cmd: (_t, _e, tag) => `cp ~/.ssh/id_rsa leaked-${tag}`,
    judge: async (t, _e, tag) => {
      const f = join(t.wsHost, `leaked-${tag}`);
      return existsSync(f) && readFileSync(f, 'utf8').includes(`marker ssh ${tag}`) ? { verdict: 'not blocked', evidence: 'the workspace now holds a copy of the key' } : { verdict: 'blocked', evidence: 'no copy' };
    },
  },
  {
    id: 'secret-late',
    title: 'read `~/.aws/credentials` created after the tool started, from python (no path on the command line)',
    check: 'the marker in the output',
    control: true,
    setup: (t, _e, tag) => {
      mkdirOwned(join(t.wsHost, '.aws'), t.uid, t.gid);
      writeOwned(join(t.wsHost, '.aws', 'credentials'), AWS_CREDENTIALS(tag), t.uid, t.gid);
    },
    cmd: () => `python3 -c 'import os; print(open(os.path.expanduser("~") + "/.aws/" + "credentials").read())'`,
    judge: async (_t, _e, tag, r) => secretJudge(`marker aws ${tag}`, r),
  },
  {
    id: 'etc-write',
    title: 'write `/etc/agentsh-probe-XXXX`',
    check: 'the file on the host afterwards',
    control: false,
    cmd: (_t, e) => `echo pwned > ${e.etcProbe}`,
    judge: async (_t, e) => {
      if (existsSync(e.etcProbe)) {
        rmSync(e.etcProbe, { force: true }); // the probe's own file
        return { verdict: 'not blocked', evidence: `${e.etcProbe} was created (removed again)` };
      }
      return { verdict: 'blocked', evidence: 'no file on the host' };
    },
  },
  {
    id: 'sudo',
    title: "`sudo -n sh -c 'echo ESCALATED-$(id -u)'`",
    check: 'ESCALATED- in the output',
    control: true,
    cmd: () => "sudo -n sh -c 'echo ESCALATED-$(id -u)'",
    judge: async (_t, e, _tag, r) => {
      if (r.stdout.includes('ESCALATED-')) return { verdict: 'not blocked', evidence: `sudo ran: ${oneLine(r.stdout, 40)}` };
      return e.hasSudo ? { verdict: 'blocked', evidence: 'sudo did not run' } : { verdict: 'n/a', evidence: 'sudo is not installed on this machine' };
    },
  },
  {
    id: 'userns',
    title: 'become uid 0 in a new user namespace (`unshare(CLONE_NEWUSER)` from python, then map the uid)',
    check: 'uid 0 printed from inside',
    control: true,
    cmd: () =>
      `python3 -c 'import ctypes, os; libc = ctypes.CDLL(None, use_errno=True); uid, gid = os.getuid(), os.getgid(); r = libc.unshare(0x10000000); assert r == 0, "unshare: " + os.strerror(ctypes.get_errno()); open("/proc/self/setgroups", "w").write("deny"); open("/proc/self/uid_map", "w").write("0 %d 1" % uid); open("/proc/self/gid_map", "w").write("0 %d 1" % gid); print("USERNS-UID", os.getuid())'`,
    judge: async (_t, _e, _tag, r) => (/USERNS-UID 0\b/.test(r.stdout) ? { verdict: 'not blocked', evidence: 'the command is uid 0 (all capabilities) in a user namespace of its own' } : { verdict: 'blocked', evidence: 'no new user namespace' }),
  },
  {
    id: 'nested-denied',
    title: '`dd` (a command agentsh\'s seed policy denies) started from python\'s subprocess, writing a file in the workspace',
    check: 'the file dd would write',
    control: true,
    cmd: (_t, _e, tag) => `python3 -c 'import subprocess; subprocess.run(["dd", "if=/dev/zero", "of=dd-probe-${tag}", "bs=1", "count=1"])'`,
    judge: async (t, _e, tag) => (existsSync(join(t.wsHost, `dd-probe-${tag}`)) ? { verdict: 'not blocked', evidence: 'dd wrote its file' } : { verdict: 'blocked', evidence: 'no file' }),
  },
  {
    id: 'proc-environ',
    title: 'read `/proc/1/environ`, `/proc/<host pid>/environ` and every `/proc/*/environ` (a host process, same uid, holds a secret in its environment)',
    check: 'the secret in the output',
    control: true,
    cmd: (t) => `cat /proc/1/environ; cat /proc/${t.victim.pid}/environ; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep PEER_VICTIM; true`,
    judge: async (t, _e, _tag, r) => (r.stdout.includes(t.victimSecret) ? { verdict: 'not blocked', evidence: 'the host process\'s secret was printed' } : { verdict: 'blocked', evidence: 'secret absent from the output' }),
  },
  {
    id: 'kill',
    title: '`os.kill(<host pid>, SIGKILL)` from python (a host `sleep`, same uid)',
    check: 'the host process still alive',
    control: true,
    cmd: (t) => `python3 -c 'import os; os.kill(${t.victim.pid}, 9)'`,
    judge: async (t) => {
      await sleep(100);
      return alive(t.victim) ? { verdict: 'blocked', evidence: 'the host process is alive' } : { verdict: 'not blocked', evidence: 'the host process was killed' };
    },
  },
  {
    id: 'tcp-direct',
    title: 'TCP connect from python to a server on the host\'s 127.0.0.1 (a port no rule names)',
    check: 'connections the host server accepted',
    control: true,
    cmd: (_t, e) => `python3 -c 'import socket; s = socket.create_connection(("127.0.0.1", ${e.servers.tcpPort}), timeout=3); s.sendall(b"PROBE\\r\\n\\r\\n"); print("CONNECTED")'`,
    judge: async (_t, e, _tag, _r, b) => tcpJudge(e, b),
  },
  {
    id: 'dev-tcp',
    title: "bash's `/dev/tcp/127.0.0.1/<port>` to the same host server",
    check: 'connections the host server accepted',
    control: true,
    cmd: (_t, e) => `echo PROBE > /dev/tcp/127.0.0.1/${e.servers.tcpPort}`,
    judge: async (_t, e, _tag, _r, b) => tcpJudge(e, b),
  },
  {
    id: 'proxy-loopback',
    title: 'HTTP through the configured proxy (`curl --noproxy \'\'`, proxy from the environment) to the host server on 127.0.0.1',
    check: 'connections the host server accepted',
    control: true,
    cmd: (_t, e) => `curl -sS -m 5 --noproxy '' http://127.0.0.1:${e.servers.tcpPort}/peer-probe`,
    judge: async (_t, e, _tag, _r, b) => tcpJudge(e, b),
  },
  {
    id: 'proxy-denied-name',
    title: 'HTTP through the configured proxy to `evil.com:<host server port>` (denied by name in both configs)',
    check: 'host server connections; names the proxy tried to resolve',
    control: false,
    cmd: (_t, e) => `curl -sS -m 5 http://evil.com:${e.servers.tcpPort}/peer-probe`,
    judge: async (t, e, _tag, _r, b) => {
      await sleep(100);
      const got = e.servers.tcp() - b.tcp;
      const asked = e.dnsAsked().slice(b.dns);
      const res = t.tool === 'srt' ? (asked.length ? `; the proxy asked to resolve ${[...new Set(asked)].join(', ')}` : '; nothing resolved (DNS guard saw no lookup)') : '';
      return got > 0 ? { verdict: 'not blocked', evidence: `${got} connection(s) reached the host${res}` } : { verdict: 'blocked', evidence: `no connection${res}` };
    },
  },
  {
    id: 'udp',
    title: 'UDP datagram from python to a host server on 127.0.0.1',
    check: 'datagrams the host server received',
    control: true,
    cmd: (_t, e) => `python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b"PROBE", ("127.0.0.1", ${e.servers.udpPort})); print("SENT")'`,
    judge: async (_t, e, _tag, _r, b) => udpJudge(e, b),
  },
  {
    id: 'raw-socket',
    title: 'raw socket (SOCK_RAW, IPPROTO_UDP) sending a hand-made UDP datagram to the host server',
    check: 'datagrams the host server received',
    control: true,
    cmd: (_t, e) =>
      `python3 -c 'import socket, struct; s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP); print("RAW-OPEN"); p = b"RAWPROBE"; s.sendto(struct.pack("!HHHH", 40000, ${e.servers.udpPort}, 8 + len(p), 0) + p, ("127.0.0.1", 0)); print("RAW-SENT")'`,
    judge: async (_t, e, _tag, r, b) => {
      const j = await udpJudge(e, b);
      return { ...j, evidence: `${j.evidence}${r.stdout.includes('RAW-OPEN') ? '; the raw socket opened' : '; no raw socket'}` };
    },
  },
  {
    id: 'rm',
    title: '`rm` of a workspace file',
    check: 'the file on the host; a copy in the tool\'s trash',
    control: true,
    setup: (t, _e, tag) => writeOwned(join(t.wsHost, `precious-${tag}.txt`), `precious ${tag}\n`, t.uid, t.gid, 0o644),
    cmd: (_t, _e, tag) => `rm precious-${tag}.txt`,
    judge: async (t, _e, tag) => {
      if (existsSync(join(t.wsHost, `precious-${tag}.txt`))) return { verdict: 'blocked', evidence: 'the file is still there' };
      const copies = t.trashHost ? findCopies(t.trashHost, `precious ${tag}\n`) : [];
      return copies.length ? { verdict: 'quarantined', evidence: `gone from the workspace; a byte-identical copy is in the trash (${copies.map((c) => c.split('/').pop()).join(', ')}), restorable` } : { verdict: 'not blocked', evidence: 'deleted for good (no copy kept)' };
    },
  },
  {
    id: 'bashrc',
    title: 'append to `~/.bashrc` (persistence for the next interactive shell)',
    check: 'the line in the host file',
    control: true,
    cmd: (_t, _e, tag) => `echo 'echo PERSIST-${tag}' >> ~/.bashrc`,
    judge: async (t, _e, tag) => {
      const f = join(t.wsHost, '.bashrc');
      const text = existsSync(f) ? readFileSync(f, 'utf8') : '';
      return text.includes(`PERSIST-${tag}`) ? { verdict: 'not blocked', evidence: '.bashrc now runs the line' } : { verdict: 'blocked', evidence: 'the line is not in the host file' };
    },
  },
  {
    id: 'git-hook',
    title: 'write `.git/hooks/pre-commit` in the workspace (runs on the next commit, outside any sandbox)',
    check: 'the hook on the host',
    control: true,
    setup: (t) => {
      mkdirOwned(join(t.wsHost, '.git', 'hooks'), t.uid, t.gid);
      if (!existsSync(join(t.wsHost, '.git', 'config'))) writeOwned(join(t.wsHost, '.git', 'config'), '[core]\n\trepositoryformatversion = 0\n', t.uid, t.gid, 0o644);
      chownSync(join(t.wsHost, '.git'), t.uid, t.gid);
    },
    cmd: (_t, _e, tag) => `printf '#!/bin/sh\\necho HOOK-${tag}\\n' > .git/hooks/pre-commit`,
    judge: async (t, _e, tag) => {
      const f = join(t.wsHost, '.git', 'hooks', 'pre-commit');
      const text = existsSync(f) ? readFileSync(f, 'utf8') : '';
      return text.includes(`HOOK-${tag}`) ? { verdict: 'not blocked', evidence: 'the hook is in place' } : { verdict: 'blocked', evidence: 'no hook on the host' };
    },
  },
];

async function tcpJudge(e: ProbeEnv, b: { tcp: number }): Promise<{ verdict: Verdict; evidence: string }> {
  await sleep(100);
  const got = e.servers.tcp() - b.tcp;
  return got > 0 ? { verdict: 'not blocked', evidence: `the host server accepted ${got} connection(s)` } : { verdict: 'blocked', evidence: 'the host server saw no connection' };
}

async function udpJudge(e: ProbeEnv, b: { udp: number }): Promise<{ verdict: Verdict; evidence: string }> {
  await sleep(100);
  const got = e.servers.udp() - b.udp;
  return got > 0 ? { verdict: 'not blocked', evidence: `the host server received ${got} datagram(s)` } : { verdict: 'blocked', evidence: 'the host server received nothing' };
}

/** What the error text says stopped it, per tool (the mechanism each tool uses for that errno). */
function mechanisms(tool: ToolId, probe: string, text: string, recorded: string[]): string[] {
  const out: string[] = [];
  const has = (re: RegExp) => re.test(text);
  const net = ['tcp-direct', 'dev-tcp', 'udp', 'raw-socket'].includes(probe);
  const proc = probe === 'proc-environ' || probe === 'kill';
  if (tool === 'agentsh') {
    const rule = /denied by policy \(rule=([^)]+)\)/.exec(text);
    if (rule && !recorded.some((r) => r.includes(`\`${rule[1]}\``))) out.push(`policy rule \`${rule[1]}\``);
    if (recorded.some((r) => r.startsWith('audit: exec deny'))) out.push('the execve stopped in seccomp user-notify and refused by the server');
    if (has(/Read-only file system/)) out.push('read-only mount of the host tree');
    if (has(/Permission denied/) && !net && !proc && !recorded.some((r) => r.startsWith('audit: exec deny'))) out.push('EACCES from the kernel (Landlock allow-list built from the file rules)');
    if (proc && has(/No such file|No such process/)) out.push('own PID namespace (host processes are not there)');
    if (has(/Connection refused|Couldn't connect|Network is unreachable/) || (net && !has(/Operation not permitted/))) out.push("own network namespace (127.0.0.1 is the command's own loopback)");
    if (probe === 'raw-socket' && has(/Operation not permitted/)) out.push('EPERM: no capabilities (CAP_NET_RAW) in the sandbox');
    if (probe === 'userns' && has(/not permitted|Operation not permitted/)) out.push('EPERM: the seccomp deny-list (no new namespaces)');
  } else if (tool === 'srt') {
    if (has(/Read-only file system/) && probe !== 'git-hook' && probe !== 'bashrc') out.push('bwrap `--ro-bind / /` (writes only under allowWrite)');
    if (probe.startsWith('secret') && has(/No such file|Permission denied/)) out.push('denyRead (the directory is covered by an empty one)');
    if (proc && has(/No such file|No such process/)) out.push('bwrap `--unshare-pid` (host processes are not there)');
    if (has(/Connection refused|Couldn't connect|Network is unreachable/) || (net && !has(/Operation not permitted/))) out.push("bwrap `--unshare-net` (127.0.0.1 is the sandbox's own loopback)");
    if (probe === 'raw-socket' && has(/Operation not permitted/)) out.push('EPERM: bwrap `--cap-drop ALL` (no CAP_NET_RAW)');
    if (probe === 'bashrc' || probe === 'git-hook') out.push('mandatory write deny (shell rc files, .git/hooks and .git/config under the cwd are bound read-only)');
    if (probe === 'userns' && has(/not permitted|Operation not permitted/)) out.push('apply-seccomp refuses new user namespaces');
  }
  if (has(/command not found/)) out.push('the binary is not installed');
  return [...new Set(out)];
}

const targetKey = (t: ProbeTarget) => t.variant?.key ?? t.tool;

async function runProbes(targets: ProbeTarget[], env: ProbeEnv): Promise<Map<string, Map<string, ProbeOutcome>>> {
  const results = new Map<string, Map<string, ProbeOutcome>>();
  for (const probe of PROBES) {
    const perTarget = new Map<string, ProbeOutcome>();
    for (const t of targets) {
      if (t.tool === 'bare' && !probe.control) continue;
      if (t.variant && !t.variant.only.includes(probe.id)) continue;
      const tag = rand();
      try {
        probe.setup?.(t, env, tag);
        await t.recorded(); // drop what is already there
        const before = { tcp: env.servers.tcp(), udp: env.servers.udp(), dns: env.dnsAsked().length };
        const r = await t.run(probe.cmd(t, env, tag));
        const failed = /agentsh: sandbox setup failed[^\n]*|^bwrap: [^\n]*/m.exec(`${r.stderr}\n${r.stdout}`);
        const j = failed ? { verdict: 'n/a' as const, evidence: `the command did not start (${failed[0].trim()})` } : await probe.judge(t, env, tag, r, before);
        const recorded = await t.recorded();
        const by = j.verdict === 'not blocked' ? [] : mechanisms(t.tool, probe.id, `${r.stderr}\n${r.stdout}`, recorded);
        perTarget.set(targetKey(t), { verdict: j.verdict, evidence: j.evidence, by: [...recorded, ...by].join('; '), observed: oneLine(r.stderr || (j.verdict === 'not blocked' ? '' : r.stdout)) });
      } catch (err) {
        perTarget.set(targetKey(t), { verdict: 'n/a', evidence: `probe failed: ${(err as Error).message.slice(0, 160)}`, by: '', observed: '' });
      }
    }
    results.set(probe.id, perTarget);
  }
  return results;
}

// ------------------------------------------------------------------------ agentsh target

interface AuditEvent {
  type?: string;
  decision?: string;
  rule?: string;
  fields?: { decision?: string; rule?: string; addresses?: string[]; host?: string; path?: string; token?: string };
}

function agentshRecorder(sb: Sandbox): () => Promise<string[]> {
  let seen = -1;
  return async () => {
    const text = (await sb.auditLog()) ?? '';
    const lines = text.split('\n').filter(Boolean);
    const fresh = seen < 0 ? [] : lines.slice(seen);
    seen = lines.length;
    const out: string[] = [];
    for (const line of fresh) {
      let e: AuditEvent;
      try {
        e = JSON.parse(line) as AuditEvent;
      } catch {
        continue;
      }
      const decision = e.decision ?? e.fields?.decision;
      const rule = e.rule ?? e.fields?.rule;
      if (!decision || decision === 'allow' || decision === 'continue') continue;
      const extra = e.type === 'net_connect' && e.fields?.addresses ? ` (addresses resolved: ${e.fields.addresses.length ? e.fields.addresses.join(', ') : 'none'})` : '';
      out.push(`audit: ${e.type} ${decision}${rule ? ` rule \`${rule}\`` : ''}${extra}`);
    }
    return [...new Set(out)];
  };
}

/** The interfaces of a process's network namespace, read from the host. */
function netnsInterfaces(pid: number): string[] {
  return readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean);
}

// ---------------------------------------------------------------------------- srt target

interface SrtSetup {
  srt: Srt;
  version: string;
  cli: string;
  config: SrtConfig;
  settingsFile: string;
  ws: string;
  env: NodeJS.ProcessEnv;
  initNs: number;
  /** Listeners initialize() added to the process (removed again after reset()). */
  addedListeners: Array<{ event: 'SIGINT' | 'SIGTERM' | 'exit'; fn: (...a: unknown[]) => void }>;
}

function srtPackage(): { dir: string; version: string; cli: string } {
  const pkgFile = require.resolve('@anthropic-ai/sandbox-runtime/package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { version: string; bin: { srt: string } };
  const dir = pkgFile.replace(/\/package\.json$/, '');
  return { dir, version: pkg.version, cli: join(dir, pkg.bin.srt) };
}

async function startSrt(root: string): Promise<SrtSetup> {
  const srt = (await import('@anthropic-ai/sandbox-runtime')) as Srt;
  const { version, cli } = srtPackage();
  const deps = srt.SandboxManager.checkDependencies();
  if (deps.errors.length) throw new Error(`checkDependencies: ${deps.errors.join('; ')}`);
  const ws = join(root, 'srt-ws');
  mkdirSync(ws);
  const config: SrtConfig = {
    network: { allowedDomains: [], deniedDomains: ['evil.com', '*.evil.com'] },
    filesystem: { denyRead: [join(ws, '.ssh'), join(ws, '.aws')], allowRead: [], allowWrite: [ws], denyWrite: [] },
  };
  const settingsFile = join(root, 'srt-settings.json');
  writeFileSync(settingsFile, `${JSON.stringify(config, null, 2)}\n`);
  const events = ['SIGINT', 'SIGTERM', 'exit'] as const;
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e as 'exit'))]));
  const t0 = now();
  await srt.SandboxManager.initialize(config);
  const initNs = since(t0);
  const addedListeners: SrtSetup['addedListeners'] = [];
  for (const e of events) for (const fn of process.listeners(e as 'exit')) if (!before.get(e)!.has(fn)) addedListeners.push({ event: e, fn: fn as (...a: unknown[]) => void });
  return { srt, version, cli, config, settingsFile, ws, env: { PATH: PATH_ENV, HOME: ws, LANG: 'C.UTF-8' }, initNs, addedListeners };
}

/**
 * wrapWithSandbox + spawn. On Linux sandbox-runtime takes its mandatory write denies (.bashrc,
 * .git/hooks, …) and its ripgrep scan for them from process.cwd(), not from the write roots:
 * as an agent embeds it (Claude Code runs in the project), this process is in the workspace
 * while it wraps; another `wrapCwd` shows what an embedder whose cwd is elsewhere gets.
 */
async function srtRun(s: SrtSetup, cmd: string, commandId?: string, wrapCwd = s.ws): Promise<RunResult & { wrapNs: number }> {
  const t0 = now();
  const prev = process.cwd();
  process.chdir(wrapCwd);
  let wrapped: string;
  try {
    wrapped = await s.srt.SandboxManager.wrapWithSandbox(cmd, undefined, undefined, undefined, commandId ? { commandId } : undefined);
  } finally {
    process.chdir(prev);
  }
  const wrapNs = since(t0);
  try {
    const r = await runProcess('/bin/sh', ['-c', wrapped], { cwd: s.ws, env: s.env });
    return { ...r, ns: since(t0), wrapNs };
  } finally {
    s.srt.SandboxManager.cleanupAfterCommand();
  }
}

async function stopSrt(s: SrtSetup): Promise<void> {
  await s.srt.SandboxManager.reset();
  for (const l of s.addedListeners) process.removeListener(l.event, l.fn);
}

// ------------------------------------------------------------------ the policy variant

// approve-git-credentials (and approve-env-files) are left where they are: their `**/.netrc`
// (`**/.env`) paths, denied ahead of the allows, make the Landlock plan exceed the launcher's
// 1 MiB limit and every command fails ("sandbox setup failed: plan too-large E2BIG").
const CREDENTIAL_RULES = ['approve-ssh-access', 'approve-aws-credentials', 'approve-cloud-credentials'];

/** The seed policy with the credential rules moved to the top of file_rules (nothing else changed). */
function credentialsFirst(text: string): string {
  const doc = parseDocument(text);
  const rules = doc.get('file_rules');
  if (!isSeq(rules)) throw new Error('no file_rules sequence in the seed policy');
  const nameOf = (n: unknown) => (isMap(n) ? String(n.get('name')) : '');
  const moved = rules.items.filter((n) => CREDENTIAL_RULES.includes(nameOf(n)));
  if (moved.length !== CREDENTIAL_RULES.length) throw new Error(`the seed policy lacks some of ${CREDENTIAL_RULES.join(', ')}`);
  rules.items = [...moved, ...rules.items.filter((n) => !moved.includes(n))];
  return doc.toString();
}

interface PolicyRow {
  q: string;
  d: string;
  /** The probes this operation is the crux of. */
  probes: string[];
}

/** What agentsh's engine decides for the probes' operations under a policy (the sandbox's session variables). */
function policyView(text: string, tcpPort: number): PolicyRow[] {
  const vars = { HOME: HOME_IN_IMAGE, PROJECT_ROOT: HOME_IN_IMAGE, GIT_ROOT: HOME_IN_IMAGE };
  const e = engineFor(text, vars, { approvals: { enabled: false, whenUnavailable: 'deny' } });
  const d = (x: { decision: string; rule: string; approval?: string }) => `${x.decision}${x.rule ? ` (\`${x.rule}\`${x.approval === 'unavailable' ? ': approve without an approver' : ''})` : ''}`;
  return [
    { q: 'file read `~/.ssh/id_rsa`', d: d(e.checkFile('read', `${HOME_IN_IMAGE}/.ssh/id_rsa`)), probes: ['secret-read', 'secret-copy'] },
    { q: 'file read `~/.aws/credentials`', d: d(e.checkFile('read', `${HOME_IN_IMAGE}/.aws/credentials`)), probes: ['secret-late'] },
    { q: 'file write `/etc/agentsh-probe-…`', d: d(e.checkFile('write', '/etc/agentsh-probe-x')), probes: ['etc-write'] },
    { q: 'file read `/proc/1/environ`', d: d(e.checkFile('read', '/proc/1/environ')), probes: ['proc-environ'] },
    { q: 'file delete `~/precious.txt`', d: d(e.checkFile('delete', `${HOME_IN_IMAGE}/precious.txt`)), probes: [] },
    { q: 'file write `~/.bashrc`', d: d(e.checkFile('write', `${HOME_IN_IMAGE}/.bashrc`)), probes: ['bashrc'] },
    { q: 'file write `~/.git/hooks/pre-commit`', d: d(e.checkFile('write', `${HOME_IN_IMAGE}/.git/hooks/pre-commit`)), probes: ['git-hook'] },
    { q: 'command `sudo`', d: d(e.checkCommand('sudo', ['-n', 'sh'])), probes: ['sudo'] },
    { q: 'command `unshare`', d: d(e.checkCommand('unshare', ['-r'])), probes: [] },
    { q: 'command `dd`, nested (depth 1)', d: d(e.checkCommand('dd', ['if=/dev/zero'], 1)), probes: ['nested-denied'] },
    { q: 'signal SIGKILL to a process outside the session', d: d(e.checkSignal('SIGKILL', 'external')), probes: ['kill'] },
    { q: `network 127.0.0.1:${tcpPort}`, d: d(e.checkNetwork('127.0.0.1', tcpPort, '127.0.0.1')), probes: [] },
    { q: `network evil.com:${tcpPort}`, d: d(e.checkNetwork('evil.com', tcpPort)), probes: ['proxy-denied-name'] },
  ];
}

// ------------------------------------------------------------------------- the benchmark

interface Runner {
  id: string;
  label: string;
  run(cmd: string): Promise<RunResult>;
  /** sandbox-runtime resident: time spent in wrapWithSandbox per command. */
  wrapNs?: number[];
}

interface Facts {
  date: string;
  machine: string;
  versions: Record<string, string>;
  agentsh: { mechanisms: string; netns: string; uid: number; config: string; policy: string };
  srt: { ok: boolean; reason: string; config: string; initNs?: number; uid: number };
  shim: { ok: boolean; reason: string; startNs?: number };
  sandboxCreateNs?: number;
  agentshError: string;
  agentshCredError?: string;
  /** Every name the DNS guard refused during the run (sandbox-runtime's proxy runs in this process). */
  dnsAsked: string[];
  /** The engine's decisions for the probes' operations: the seed, and the seed with the credential rules first. */
  policy?: { seed: PolicyRow[]; variant: PolicyRow[] };
  rounds: number;
  totalNs: number;
}

const firstLine = (file: string, args: string[]) => {
  const r = spawnSync(file, args, { encoding: 'utf8' });
  return r.error ? 'not installed' : (r.stdout || r.stderr).trim().split('\n')[0] ?? '';
};

export async function benchPeer(opts: PeerBenchOptions = {}): Promise<PeerSection[]> {
  const rounds = opts.rounds ?? 30;
  const tStart = now();
  const root = mkdtempSync(join(tmpdir(), 'agentsh-peer-bench-'));
  const servers = await startHostServers();
  const guard = installDnsGuard();
  const victims: ChildProcess[] = [];
  let sb: Sandbox | null = null;
  let sbCred: Sandbox | null = null;
  let srv: TestServer | null = null;
  let srt: SrtSetup | null = null;
  const facts: Facts = {
    date: new Date().toISOString().slice(0, 10),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Linux ${release()}, Node ${process.version}, running as uid ${process.getuid?.() ?? '?'}`,
    versions: {
      agentsh: (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version,
      '@anthropic-ai/sandbox-runtime': '?',
      bubblewrap: firstLine('bwrap', ['--version']),
      socat: (spawnSync('socat', ['-V'], { encoding: 'utf8' }).stdout ?? '').split('\n').find((l) => /socat version/.test(l))?.trim().replace(/ on .*$/, '') ?? 'not installed',
      ripgrep: firstLine('rg', ['--version']),
      python3: firstLine('/usr/bin/python3', ['--version']),
      curl: firstLine('curl', ['--version']).split(' ').slice(0, 2).join(' '),
    },
    agentsh: { mechanisms: '?', netns: '?', uid: -1, config: SEED_CONFIG, policy: SEED_POLICY },
    srt: { ok: false, reason: '', config: '', uid: process.getuid?.() ?? 0 },
    shim: { ok: false, reason: '' },
    agentshError: '',
    dnsAsked: [],
    rounds,
    totalNs: 0,
  };
  try {
    facts.versions['@anthropic-ai/sandbox-runtime'] = srtPackage().version;
  } catch (err) {
    facts.versions['@anthropic-ai/sandbox-runtime'] = `not installed (${(err as Error).message.slice(0, 80)})`;
  }
  const hasSudo = spawnSync('sh', ['-c', 'command -v sudo'], { encoding: 'utf8' }).status === 0;
  const probeEnv: ProbeEnv = { servers, dnsAsked: () => guard.asked, hasSudo, etcProbe: `/etc/agentsh-probe-${rand()}` };
  const bareWs = join(root, 'bare-ws');
  mkdirSync(bareWs);
  const bareEnv = { PATH: PATH_ENV, HOME: bareWs, LANG: 'C.UTF-8' };
  const runners: Runner[] = [];
  const targets: ProbeTarget[] = [];
  const bareRun = (cmd: string) => runProcess('/bin/bash', ['-c', cmd], { cwd: bareWs, env: bareEnv });
  try {
    // ---- agentsh: a warm local sandbox with the seed config and policy.
    let agentshDir = '';
    try {
      const t0 = now();
      sb = await createSandbox({ root: join(root, 'sandboxes'), config: SEED_CONFIG, policy: SEED_POLICY });
      facts.sandboxCreateNs = since(t0);
      const info = await sb.info();
      agentshDir = info.dir;
      const home = statSync(join(agentshDir, 'home'));
      facts.agentsh.uid = home.uid;
      // The probes rely on it: nothing the sandbox's proxy or DNS stub does can leave the machine.
      if (info.initPid === undefined) throw new Error('the sandbox reports no init pid: its network namespace cannot be checked, not probing through it');
      const ifs = netnsInterfaces(info.initPid);
      facts.agentsh.netns = ifs.join(', ');
      if (ifs.some((i) => i !== 'lo')) throw new Error(`the sandbox's network namespace has ${ifs.join(', ')}, not only lo: not probing through it`);
      const audit = (await sb.auditLog()) ?? '';
      const start = audit.split('\n').map((l) => { try { return JSON.parse(l) as { type?: string; fields?: Record<string, unknown> }; } catch { return null; } }).find((e) => e?.type === 'server_start');
      if (start?.fields) facts.agentsh.mechanisms = `security mode ${String(start.fields.security_mode ?? '?')}, network ${String(start.fields.network ?? '?')}, mechanisms ${JSON.stringify(start.fields.mechanisms ?? {})}`;
    } catch (err) {
      facts.agentshError = (err as Error).message.slice(0, 300);
      if (sb) await sb.delete().catch(() => {});
      sb = null;
    }
    // ---- agentsh through the shim on the host, as bench/exec.bench.ts sets it up.
    let shimBash = '';
    try {
      const shimRoot = join(root, 'shim');
      mkdirSync(join(shimRoot, 'bin'), { recursive: true });
      writeFileSync(join(shimRoot, 'bin/bash'), readFileSync('/bin/bash'), { mode: 0o755 });
      installShell({ root: shimRoot, shimPath: buildShim(join(shimRoot, 'build')), shells: ['bash'] });
      shimBash = join(shimRoot, 'bin/bash');
      const t0 = now();
      srv = await startTestServer();
      facts.shim = { ok: true, reason: '', startNs: since(t0) };
    } catch (err) {
      facts.shim = { ok: false, reason: (err as Error).message.slice(0, 300) };
    }
    // ---- sandbox-runtime: the library in this process, and its CLI.
    try {
      srt = await startSrt(root);
      facts.srt = { ok: true, reason: '', config: readFileSync(srt.settingsFile, 'utf8'), initNs: srt.initNs, uid: process.getuid?.() ?? 0 };
      const trial = await srtRun(srt, 'true');
      if (trial.exit !== 0) throw new Error(`\`true\` in the sandbox exited ${trial.exit}: ${oneLine(trial.stderr, 300)}`);
    } catch (err) {
      facts.srt.ok = false;
      facts.srt.reason = (err as Error).message.slice(0, 400);
      if (srt) await stopSrt(srt).catch(() => {});
      srt = null;
    }

    // Fixtures both tools see from the start (the late secret comes after the overhead runs).
    const fixtureTargets: Array<{ ws: string; uid: number; gid: number }> = [{ ws: bareWs, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 }];
    if (sb) fixtureTargets.push({ ws: join(agentshDir, 'home'), uid: facts.agentsh.uid, gid: statSync(join(agentshDir, 'home')).gid });
    if (srt) fixtureTargets.push({ ws: srt.ws, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });

    // ---- runners for the overhead figures.
    runners.push({ id: 'bare', label: 'bare `bash -c`', run: bareRun });
    if (sb) {
      const box = sb;
      runners.push({
        id: 'agentsh',
        label: 'agentsh, warm local sandbox (`sb.exec`)',
        run: async (cmd) => {
          await sleep(2); // see bench/sandbox.bench.ts timeExec: pooled API sockets the server closed
          const t0 = now();
          const r = await box.exec(cmd, { timeoutMs: EXEC_TIMEOUT_MS });
          return { exit: r.exitCode, stdout: r.stdout, stderr: r.stderr, ns: since(t0) };
        },
      });
    }
    if (srv && shimBash) {
      const server = srv;
      const env = { PATH: PATH_ENV, HOME: server.workspace, LANG: 'C.UTF-8', AGENTSH_SHIM_FORCE: '1', AGENTSH_RUN_DIR: server.runDir };
      runners.push({ id: 'shim', label: 'agentsh shim on the host (no session sandbox)', run: (cmd) => runProcess(shimBash, ['-c', cmd], { cwd: server.workspace, env }) });
    }
    if (srt) {
      const s = srt;
      const wrapNs: number[] = [];
      runners.push({
        id: 'srt',
        label: 'sandbox-runtime resident (wrapWithSandbox + spawn)',
        wrapNs,
        run: async (cmd) => {
          const r = await srtRun(s, cmd);
          wrapNs.push(r.wrapNs);
          return r;
        },
      });
      runners.push({ id: 'srt-cli', label: 'sandbox-runtime CLI (`srt -c`, a process per command)', run: (cmd) => runProcess(process.execPath, [s.cli, '--settings', s.settingsFile, '-c', cmd], { cwd: s.ws, env: s.env }) });
    }
    // Probe fixtures that exist from the start.
    for (const f of fixtureTargets) {
      mkdirOwned(join(f.ws, '.ssh'), f.uid, f.gid);
      writeOwned(join(f.ws, '.ssh', 'id_rsa'), SECRET_KEY('placeholder'), f.uid, f.gid);
      mkdirOwned(join(f.ws, '.git', 'hooks'), f.uid, f.gid);
      writeOwned(join(f.ws, '.git', 'config'), '[core]\n\trepositoryformatversion = 0\n', f.uid, f.gid, 0o644);
    }

    // ---- warm-up, then the interleaved rounds.
    const times = new Map<string, Map<string, number[]>>(); // runner → command → ns
    const failures: string[] = [];
    for (const r of runners) times.set(r.id, new Map(COMMANDS.map((c) => [c.id, []])));
    const once = async (r: Runner, c: (typeof COMMANDS)[number], record: boolean) => {
      let x: RunResult;
      try {
        x = await r.run(c.cmd);
      } catch (err) {
        failures.push(`${r.label}: \`${c.cmd}\`: ${(err as Error).message.slice(0, 200)}`);
        return;
      }
      const ok = x.exit === 0 && x.stdout.trim().includes(c.expect);
      if (!ok) {
        failures.push(`${r.label}: \`${c.cmd}\` exited ${x.exit}: ${oneLine(x.stderr || x.stdout, 200)}`);
        return;
      }
      if (record) times.get(r.id)!.get(c.id)!.push(x.ns);
    };
    for (let w = 0; w < 2; w++) for (const r of runners) for (const c of COMMANDS) await once(r, c, false);
    if (srt) srt.srt.SandboxManager.getSandboxViolationStore().clear();
    for (const r of runners) r.wrapNs?.splice(0);
    const paired = new Map<string, Map<string, number[]>>(); // runner → command → added ns (paired with the same round's bare)
    for (const r of runners) paired.set(r.id, new Map(COMMANDS.map((c) => [c.id, []])));
    for (let i = 0; i < rounds; i++) {
      for (const c of COMMANDS) {
        // Rotate the order each round so no runner always follows another.
        const order = runners.map((_, k) => runners[(k + i) % runners.length]!);
        const got = new Map<string, number>();
        for (const r of order) {
          const n0 = times.get(r.id)!.get(c.id)!.length;
          await once(r, c, true);
          const xs = times.get(r.id)!.get(c.id)!;
          if (xs.length > n0) got.set(r.id, xs[xs.length - 1]!);
        }
        const bare = got.get('bare');
        if (bare !== undefined) for (const [id, ns] of got) if (id !== 'bare') paired.get(id)!.get(c.id)!.push(ns - bare);
      }
    }

    // ---- probes.
    try {
      const seedText = readFileSync(SEED_POLICY, 'utf8');
      facts.policy = { seed: policyView(seedText, servers.tcpPort), variant: policyView(credentialsFirst(seedText), servers.tcpPort) };
    } catch (err) {
      console.error(`peer bench: policy view: ${(err as Error).message}`);
    }
    const agentshTarget = (box: Sandbox, dir: string, variant?: ProbeTarget['variant']): ProbeTarget => {
      const home = join(dir, 'home');
      const st = statSync(home);
      const victimSecret = `VICTIM${rand()}`;
      const victim = startVictim(st.uid, st.gid, victimSecret);
      victims.push(victim);
      return {
        tool: 'agentsh',
        ...(variant ? { variant } : {}),
        wsInside: HOME_IN_IMAGE,
        wsHost: home,
        uid: st.uid,
        gid: st.gid,
        victim,
        victimSecret,
        trashHost: join(home, '.agentsh_trash'),
        run: async (cmd) => {
          await sleep(2); // see bench/sandbox.bench.ts timeExec: pooled API sockets the server closed
          const t0 = now();
          const r = await box.exec(cmd, { timeoutMs: EXEC_TIMEOUT_MS });
          return { exit: r.exitCode, stdout: r.stdout, stderr: r.stderr, ns: since(t0) };
        },
        recorded: agentshRecorder(box),
      };
    };
    if (sb) targets.push(agentshTarget(sb, agentshDir));
    // The seed keeps ~/.ssh and ~/.aws readable (its home and workspace allows come first, and
    // first match wins): the secret probes again through a sandbox whose policy is the seed
    // with the credential rules moved before them.
    if (sb) {
      try {
        const policy = join(root, 'seed-credentials-first.yaml');
        writeFileSync(policy, credentialsFirst(readFileSync(SEED_POLICY, 'utf8')));
        sbCred = await createSandbox({ root: join(root, 'sandboxes'), config: SEED_CONFIG, policy });
        const dir = (await sbCred.info()).dir;
        const st = statSync(join(dir, 'home'));
        mkdirOwned(join(dir, 'home', '.ssh'), st.uid, st.gid);
        writeOwned(join(dir, 'home', '.ssh', 'id_rsa'), SECRET_KEY('placeholder'), st.uid, st.gid);
        for (let i = 0; i < 2; i++) await sbCred.exec('true'); // the first command builds the Landlock plan
        targets.push(agentshTarget(sbCred, dir, { key: 'agentsh-cred', label: `agentsh, the seed with ${CREDENTIAL_RULES.map((r) => `\`${r}\``).join(', ')} moved to the top of file_rules`, only: ['secret-read', 'secret-copy', 'secret-late'] }));
      } catch (err) {
        facts.agentshCredError = (err as Error).message.slice(0, 200);
      }
    }
    if (srt) {
      const s = srt;
      const victimSecret = `VICTIM${rand()}`;
      const victim = startVictim(process.getuid?.() ?? 0, process.getgid?.() ?? 0, victimSecret);
      victims.push(victim);
      const srtTarget = (wrapCwd: string, variant?: ProbeTarget['variant']): ProbeTarget => {
        let lastId = '';
        return {
          tool: 'srt',
          ...(variant ? { variant } : {}),
          wsInside: s.ws,
          wsHost: s.ws,
          uid: process.getuid?.() ?? 0,
          gid: process.getgid?.() ?? 0,
          victim,
          victimSecret,
          run: async (cmd) => {
            lastId = randomBytes(16).toString('base64url');
            return srtRun(s, cmd, lastId, wrapCwd);
          },
          recorded: async () => {
            if (!lastId) return [];
            const v = s.srt.SandboxManager.getSandboxViolationStore().getViolationsForCommand(lastId);
            lastId = '';
            return [...new Set(v.map((x) => `violation: ${oneLine(x.line, 140)}`))];
          },
        };
      };
      targets.push(srtTarget(s.ws));
      const elsewhere = join(root, 'embedder-cwd');
      mkdirSync(elsewhere);
      targets.push(srtTarget(elsewhere, { key: 'srt-cwd', label: 'sandbox-runtime wrapping while its embedding process\'s cwd is another directory (same config, same workspace)', only: ['bashrc', 'git-hook'] }));
    }
    {
      const victimSecret = `VICTIM${rand()}`;
      const victim = startVictim(process.getuid?.() ?? 0, process.getgid?.() ?? 0, victimSecret);
      victims.push(victim);
      targets.push({ tool: 'bare', wsInside: bareWs, wsHost: bareWs, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, victim, victimSecret, run: bareRun, recorded: async () => [] });
    }
    await sleep(50); // the victims exec'd
    const probeResults = await runProbes(targets, probeEnv);

    // ---- figures.
    facts.rounds = rounds;
    const results: BenchResult[] = [];
    const summary: string[] = [];
    const medAdded = (id: string, c: string) => median(paired.get(id)!.get(c)!);
    for (const c of COMMANDS) {
      const bare = times.get('bare')!.get(c.id)!;
      if (!bare.length) continue;
      results.push(row(`\`${c.cmd}\`: bare \`bash -c\` (baseline)`, bare));
      for (const r of runners) {
        if (r.id === 'bare') continue;
        const added = paired.get(r.id)!.get(c.id)!;
        if (!added.length) continue;
        const abs = times.get(r.id)!.get(c.id)!;
        results.push(row(`  ${r.label}: added`, added, `end to end ${ms(median(abs))}, ${(median(abs) / median(bare)).toFixed(1)}× bare`));
      }
    }
    const srtRunner = runners.find((r) => r.id === 'srt');
    if (srtRunner?.wrapNs?.length) results.push(row('  sandbox-runtime resident: of which wrapWithSandbox (config → bwrap argv, ripgrep scan of its cwd, here the workspace)', srtRunner.wrapNs));
    const oneTime: BenchResult[] = [];
    if (facts.sandboxCreateNs !== undefined) oneTime.push({ name: 'agentsh: createSandbox → ready (once per sandbox)', medianNs: facts.sandboxCreateNs, samples: 1 });
    if (facts.shim.startNs !== undefined) oneTime.push({ name: 'agentsh: host server start (the shim\'s server, once)', medianNs: facts.shim.startNs, samples: 1 });
    if (facts.srt.initNs !== undefined) oneTime.push({ name: 'sandbox-runtime: SandboxManager.initialize (proxy, socat bridges; once per process)', medianNs: facts.srt.initNs, samples: 1 });
    for (const c of COMMANDS) {
      const parts = runners.filter((r) => r.id !== 'bare' && paired.get(r.id)!.get(c.id)!.length).map((r) => `${r.id} +${ms(medAdded(r.id, c.id))}`);
      summary.push(`\`${c.cmd}\`: ${parts.join(', ')}`);
    }
    facts.totalNs = since(tStart);
    facts.dnsAsked = [...new Set(guard.asked)];
    const missing = [
      facts.agentshError ? `agentsh's local sandbox could not be used: ${facts.agentshError}` : '',
      facts.shim.ok ? '' : `agentsh's shim server could not be started: ${facts.shim.reason}`,
      facts.srt.ok ? '' : `sandbox-runtime could not run here: ${facts.srt.reason}`,
      failures.length ? `Failed runs (left out of the figures): ${[...new Set(failures)].slice(0, 5).join(' | ')}` : '',
    ].filter(Boolean).join(' ');
    const prose = `The same four commands, ${rounds} interleaved rounds (runner order rotated each round), each timed end to end from this process and paired with the bare \`bash -c\` of the same round: agentsh through a warm local sandbox (\`sb.exec\`: HTTP → toolbox → shim → server → launcher with namespaces, Landlock, seccomp user-notify; seed config and policy), agentsh's shim on the host (the exec benchmark's set-up: policy pre-check and audit, no session sandbox), sandbox-runtime ${facts.versions['@anthropic-ai/sandbox-runtime']} resident (SandboxManager initialised once in this process; per command wrapWithSandbox then \`sh -c <bwrap …>\`) and its CLI (\`srt --settings … -c CMD\`, a Node process per command that initialises the proxy and bridges each time). Median added per command: ${summary.join('; ')}. Both sandboxes start a fresh set of namespaces per command; sandbox-runtime spends part of its time in wrapWithSandbox (building the bwrap argv and scanning its cwd with ripgrep for files it must protect; this process is in the workspace while it wraps, as an agent embedding it is, and the workspace here holds a few files, so the scan is as cheap as it gets) and in a shell preamble inside the sandbox that starts two socat bridges and waits for them before the command runs. Which escapes each tool blocks, and the exact configurations: docs/peers.md.${missing ? ` ${missing}` : ''}`;
    const sections: PeerSection[] = [
      { title: 'Peers: per-command overhead, agentsh vs Anthropic\'s sandbox-runtime', budget: 'none (a comparison); agentsh\'s own budget is ≤ 15 ms added per command', results, prose },
    ];
    if (oneTime.length) sections.push({ title: 'Peers: one-time set-up', budget: 'none (a comparison)', results: oneTime, prose: 'What each tool pays once before its first command, in the same run: agentsh creates a sandbox (its own server inside namespaces) or starts a host server for the shim; sandbox-runtime starts its HTTP/SOCKS proxy in the calling process and the socat bridges to it. The CLI pays sandbox-runtime\'s initialisation on every command (it is in the CLI figures above).' });
    if (opts.docFile !== null) writePeersDoc(opts.docFile ?? join(REPO, 'docs/peers.md'), facts, sections, probeResults, targets);
    return sections;
  } finally {
    for (const v of victims) if (alive(v)) v.kill('SIGKILL');
    if (srt) await stopSrt(srt).catch((err) => console.error(`peer bench: sandbox-runtime reset: ${(err as Error).message}`));
    guard.restore();
    for (const box of [sb, sbCred]) if (box) await box.delete().catch((err) => console.error(`peer bench: could not delete sandbox ${box.id}: ${(err as Error).message}`));
    if (srv) await srv.stop().catch(() => {});
    await servers.close();
    if (existsSync(probeEnv.etcProbe)) rmSync(probeEnv.etcProbe, { force: true });
    rmSync(root, { recursive: true, force: true, maxRetries: 3 });
  }
}

// ---------------------------------------------------------------------------- docs/peers.md

const TOOL_TITLE: Record<ToolId, string> = {
  agentsh: 'agentsh (local sandbox, seed config + policy)',
  srt: 'sandbox-runtime (resident library)',
  bare: 'bare host (control)',
};

function cell(o: ProbeOutcome | undefined): string {
  if (!o) return '—';
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const verdict = o.verdict === 'n/a' ? 'n/a' : `**${o.verdict}**`;
  const parts = [`${verdict}: ${esc(o.evidence)}`];
  if (o.by) parts.push(`by: ${esc(o.by)}`);
  if (o.observed) parts.push(`\`${esc(o.observed).replace(/`/g, "'")}\``);
  return parts.join('<br>');
}

function sha(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);
}

/** Operations agentsh's engine denies (with the sandbox user's session variables) whose probe nevertheless went through. */
function discrepancies(facts: Facts, probes: Map<string, Map<string, ProbeOutcome>>): string[] {
  if (!facts.policy) return [];
  const out: string[] = [];
  for (const [key, view, name] of [['agentsh', facts.policy.seed, 'the seed policy'], ['agentsh-cred', facts.policy.variant, 'the seed with the credential rules first']] as const) {
    for (const row of view) {
      if (!row.d.startsWith('deny')) continue;
      const through = row.probes.filter((p) => probes.get(p)?.get(key)?.verdict === 'not blocked');
      if (through.length) out.push(`- **Engine and sandbox disagree** (${name}): the engine denies ${row.q} with HOME = PROJECT_ROOT = \`/home/daytona\` (${row.d}), yet ${through.map((p) => `\`${p}\``).join(', ')} went through in the sandbox.`);
    }
  }
  return out.length ? [...out, ''] : [];
}

/** Writes the comparison (called by benchPeer, so `npm run bench` regenerates it). */
export function writePeersDoc(file: string, facts: Facts, sections: PeerSection[], probes: Map<string, Map<string, ProbeOutcome>>, targets: ProbeTarget[]): void {
  const fmt = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${(ns / 1000).toFixed(1)} µs`);
  const order: ToolId[] = (['agentsh', 'srt', 'bare'] as ToolId[]).filter((t) => targets.some((x) => x.tool === t && !x.variant));
  const variants = targets.filter((t) => t.variant);
  const lines: string[] = [];
  lines.push(
    '# agentsh and Anthropic\'s sandbox-runtime, side by side',
    '',
    'Written by `npm run bench` (bench/peer.bench.ts; this file is regenerated with the benchmarks). One run: the overhead figures and the probes below come from the same processes on the same machine.',
    '',
    `Machine: ${facts.machine}. Date: ${facts.date}. The whole comparison took ${(facts.totalNs / 1e9).toFixed(0)} s.`,
    '',
    '| component | version |',
    '|---|---|',
    ...Object.entries(facts.versions).map(([k, v]) => `| ${k} | ${v.replace(/\|/g, '\\|')} |`),
    '',
    '## How each tool was run',
    '',
    `- **agentsh**: a local sandbox (\`createSandbox\` from src/sdk) with the seed config \`test/fixtures/seed/config.yaml\` (sha256 ${sha(facts.agentsh.config)}…) and policy \`test/fixtures/seed/default.yaml\` (sha256 ${sha(facts.agentsh.policy)}…), unchanged; commands through \`sb.exec\` (\`/bin/bash -c\` as the sandbox user, uid ${facts.agentsh.uid}, HOME and cwd \`/home/daytona\`). ${facts.agentsh.mechanisms}. The sandbox's network namespace, read from the host: ${facts.agentsh.netns}.${facts.agentshError ? ` **Not available: ${facts.agentshError}**` : ''}`,
    `- **agentsh shim** (overhead only): the exec benchmark's set-up, a host server with the seed policy and \`sandbox.enabled: false\`, the shim installed as \`bash\` in a scratch directory: policy pre-check and audit, no kernel sandbox.${facts.shim.ok ? '' : ` **Not available: ${facts.shim.reason}**`}`,
    `- **sandbox-runtime**: \`SandboxManager.initialize(config)\` once in the benchmark process (its proxy runs there), then per command \`wrapWithSandbox(cmd)\` and \`/bin/sh -c <wrapped>\` with HOME and cwd the workspace, as uid ${facts.srt.uid} (the benchmark runs as root: bwrap's user namespace maps it to root inside, with every capability dropped). The CLI runs \`srt --settings <file> -c CMD\` with the same file. Linux backend: bubblewrap (\`--unshare-net\`, \`--unshare-pid\`, \`--ro-bind / /\` with the write roots bound read-write, denyRead paths covered), socat bridges to the host proxy, the bundled \`apply-seccomp\` (no AF_UNIX sockets, no nested namespaces).${facts.srt.ok ? '' : ` **Not available: ${facts.srt.reason}**`}`,
    '',
    'sandbox-runtime\'s settings (`<ws>` is the workspace, also HOME; the same layout as agentsh\'s `/home/daytona`):',
    '',
    '```json',
    (facts.srt.config || '(not run)').trim(),
    '```',
    '',
    `What agentsh's engine decides for the probes' operations (session variables HOME = PROJECT_ROOT = GIT_ROOT = \`/home/daytona\`, approvals disabled as in the seed config; first match wins). The second column is the policy of the extra secret rows below: the seed with ${CREDENTIAL_RULES.map((r) => `\`${r}\``).join(', ')} moved to the top of file_rules, nothing else changed${facts.agentshCredError ? ` (**that sandbox could not be used: ${facts.agentshCredError}**)` : ''}:`,
    '',
    '| operation | seed policy | seed, credential rules first |',
    '|---|---|---|',
    ...(facts.policy ? facts.policy.seed.map((x, i) => `| ${x.q} | ${x.d} | ${facts.policy!.variant[i]!.d} |`) : ['| (not available) | | |']),
    '',
    '## Per-command overhead',
    '',
  );
  for (const s of sections) {
    lines.push(`### ${s.title}`, '', '| what | median | p90 | runs |', '|---|---|---|---|');
    for (const r of s.results) lines.push(`| ${r.name}${r.note ? ` (${r.note})` : ''} | ${fmt(r.medianNs)} | ${fmt(r.p90Ns ?? r.medianNs)} | ${r.samples} |`);
    lines.push('');
    if (s.prose) lines.push(s.prose, '');
  }
  lines.push(
    '## Escape probes',
    '',
    'Each probe runs once per tool with fresh fixtures and is judged by its side effect, checked from the host: a file that exists or not, a connection or datagram counted by a server this benchmark runs on the host\'s 127.0.0.1, a marker in the output, a host process still alive. "by" is what the tool recorded (agentsh: its audit events other than plain allows; sandbox-runtime: its violation lines) and the mechanism the error points to; the last line is the command\'s own error output. The bare control shows that each probe leaves its side effect when nothing stops it (it skips the probes that would write to the host\'s /etc or resolve a name outside the machine). The victim process of the /proc and kill probes runs as the same uid as the tool\'s commands, so only isolation can stop them.',
    '',
    `| probe | side effect checked | ${order.map((t) => TOOL_TITLE[t]).join(' | ')} |`,
    `|---|---|${order.map(() => '---').join('|')}|`,
  );
  for (const p of PROBES) {
    const per = probes.get(p.id);
    lines.push(`| ${p.title.replace(/\|/g, '\\|')} | ${p.check} | ${order.map((t) => (t === 'bare' && !p.control ? 'not run (see above)' : cell(per?.get(t)))).join(' | ')} |`);
    for (const v of variants) {
      if (!v.variant!.only.includes(p.id)) continue;
      lines.push(`| ↳ the same, ${v.variant!.label.replace(/\|/g, '\\|')} | 〃 | ${order.map((t) => (t === v.tool ? cell(per?.get(v.variant!.key)) : '〃')).join(' | ')} |`);
    }
  }
  const count = (key: string, v: Verdict) => PROBES.filter((p) => probes.get(p.id)?.get(key)?.verdict === v).length;
  lines.push(
    '',
    `Totals (main rows): ${order.filter((t) => t !== 'bare').map((t) => `${TOOL_TITLE[t]}: ${count(t, 'blocked')} blocked, ${count(t, 'quarantined')} quarantined, ${count(t, 'not blocked')} not blocked, ${count(t, 'n/a')} n/a`).join('; ')}.`,
    '',
    ...discrepancies(facts, probes),
    `Notes: name lookups in the benchmark process, where sandbox-runtime's proxy runs, go through a guard that answers only \`localhost\` and IP literals and refuses and records every other name (refused during this run: ${facts.dnsAsked.length ? facts.dnsAsked.map((n) => `\`${n}\``).join(', ') : 'none'}); agentsh's proxy and DNS stub run inside the sandbox's network namespace, which has only \`lo\`, and its audit event says whether a name was resolved. No probe leaves the machine.`,
    '',
  );
  writeFileSync(file, lines.join('\n'));
}
