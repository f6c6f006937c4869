// A real agentsh server for fault tests, like server-harness.ts's but with the layout under the
// test's control: where the audit log and the workspace live, and optionally inside a mount
// namespace the test created (holding a small tmpfs to fill up). Nothing is mounted on the
// host: `mountNamespace()` runs `unshare --mount --propagation private`, mounts the tmpfs in
// that namespace only, and keeps it alive with a holder process (`cat`, which exits when the
// test process goes away and its stdin closes); servers join it with `nsenter --mount`.
// The test reads files inside it through /proc/<holder>/root.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, SEED_DIR } from './helpers.js';
import { freePort, writeConfig } from './server-harness.js';

export interface MountNamespace {
  /** The holder's pid: the namespace lives while it does. */
  pid: number;
  /** A host path inside the namespace's view (via /proc/<pid>/root). */
  view(p: string): string;
  /** argv prefix that runs a program in the namespace. */
  enter: string[];
  close(): Promise<void>;
}

/** A private mount namespace with a tmpfs of `size` (e.g. "512k") at each of `dirs` (which must exist). */
export async function mountNamespace(dirs: string[], size: string): Promise<MountNamespace> {
  const mounts = dirs.map((d) => `mount -t tmpfs -o size=${size},mode=0755 agentsh-fault ${shq(d)}`).join(' && ');
  const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `${mounts} && echo ready && exec cat`], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  holder.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    holder.once('exit', (code) => reject(new Error(`mount namespace: exited ${code}: ${err}`)));
    holder.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('ready\n')) resolve();
    });
  });
  const pid = holder.pid!;
  return {
    pid,
    view: (p) => `/proc/${pid}/root${p}`,
    enter: ['nsenter', `--mount=/proc/${pid}/ns/mnt`, '--'],
    close: async () => {
      if (holder.exitCode !== null || holder.signalCode !== null) return;
      const gone = new Promise<void>((r) => holder.once('exit', () => r()));
      holder.kill('SIGKILL');
      await gone;
    },
  };
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export interface FaultServer {
  dir: string;
  runDir: string;
  workspace: string;
  auditDir: string;
  configFile: string;
  readonly proc: ChildProcess;
  token(): string;
  stderr(): string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Starts the server (again) on the same config and state; resolves once ready, rejects if it exits first. */
  start(): Promise<void>;
  /** Starts it and resolves when it exits (a server that refuses to start): its exit code and stderr. */
  startExpectingExit(ms?: number): Promise<{ code: number | null; stderr: string }>;
  kill(signal: NodeJS.Signals): Promise<void>;
  stop(): Promise<void>;
}

export interface FaultServerOptions {
  policy?: string;
  sandbox?: boolean;
  /** Where events.jsonl and audit.key go (default: the server's dir). */
  auditDir?: string;
  /** Where the SQLite index events.db goes (default: auditDir). */
  indexDir?: string;
  /** The workspace (default: <dir>/ws, created). */
  workspace?: string;
  /** Lines appended under `sandbox:`. */
  sandboxExtra?: string;
  /** Top-level YAML appended. */
  extra?: string;
  /** Run the server inside this mount namespace. */
  ns?: MountNamespace;
  dir?: string;
}

export async function faultServer(opts: FaultServerOptions = {}): Promise<FaultServer> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'agentsh-fault_'));
  mkdirSync(join(dir, 'policies'), { recursive: true });
  const workspace = opts.workspace ?? join(dir, 'ws');
  mkdirSync(workspace, { recursive: true });
  const auditDir = opts.auditDir ?? dir;
  const runDir = join(dir, 'run');
  const port = await freePort();
  writeFileSync(join(dir, 'policies', 'default.yaml'), opts.policy ?? readFileSync(join(SEED_DIR, 'default.yaml'), 'utf8'));
  const { configFile } = writeConfig(dir, port, `${opts.sandboxExtra ?? ''}${opts.extra ?? ''}`, '1m', opts.sandbox ?? true, { dir: auditDir, ...(opts.indexDir ? { indexDir: opts.indexDir } : {}) });
  let stderr = '';
  let proc: ChildProcess | null = null;
  const spawnServer = () => {
    const argv = [...(opts.ns?.enter ?? []), process.execPath, join(REPO, 'bin/agentsh'), 'server', '-c', configFile];
    const p = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    proc = p;
    return p;
  };
  const token = () => readFileSync(join(runDir, 'api.token'), 'utf8').trim();
  const api = (method: string, path: string, body?: unknown) =>
    new Promise<{ status: number; body: any }>((resolveReq, rejectReq) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request({ socketPath: join(runDir, 'agentsh.sock'), method, path, headers: { authorization: `Bearer ${token()}`, ...(payload ? { 'content-type': 'application/json' } : {}) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // keep text
          }
          resolveReq({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.on('error', rejectReq);
      req.end(payload);
    });
  const alive = () => proc !== null && proc.exitCode === null && proc.signalCode === null;
  const start = async () => {
    const p = spawnServer();
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`server exited ${p.exitCode ?? p.signalCode}: ${stderr}`);
      const ok = await new Promise<boolean>((r) => {
        const req = request({ socketPath: join(runDir, 'agentsh.sock'), path: '/ready' }, (res) => {
          res.resume();
          r(res.statusCode === 200);
        });
        req.on('error', () => r(false));
        req.end();
      });
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`server not ready: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const startExpectingExit = async (ms = 30_000) => {
    const before = stderr.length;
    const p = spawnServer();
    const code = await new Promise<number | null>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`server did not exit within ${ms} ms: ${stderr.slice(before)}`)), ms);
      p.once('exit', (c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
    return { code, stderr: stderr.slice(before) };
  };
  const kill = async (signal: NodeJS.Signals) => {
    if (!alive()) return;
    const p = proc!;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    await gone;
  };
  const stop = async () => {
    if (alive()) {
      const p = proc!;
      const gone = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
  };
  return {
    dir, runDir, workspace, auditDir, configFile, token, api, start, startExpectingExit, kill, stop,
    get proc() {
      return proc!;
    },
    stderr: () => stderr,
  };
}

/** Removes a fault server's scratch directory (after stop()). */
export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
