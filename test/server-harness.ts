// A real agentsh server in a scratch directory, started as its own process through the CLI,
// and stopped (by its pid) when the test ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, SEED_DIR } from './helpers.js';

export interface TestServer {
  dir: string;
  runDir: string;
  workspace: string;
  configFile: string;
  port: number;
  proc: ChildProcess;
  token(): string;
  /** Stops the server with `signal` (SIGKILL: a crash) and starts a new one on the same config and state. */
  restart(signal: NodeJS.Signals): Promise<void>;
  /** What the server wrote on stderr so far. */
  stderr(): string;
  api(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; body: any; raw: Buffer }>;
  stop(): Promise<void>;
}

function chownTree(p: string, uid: number, gid: number): void {
  chownSync(p, uid, gid);
  for (const e of readdirSync(p, { withFileTypes: true })) {
    const c = join(p, e.name);
    if (e.isDirectory()) chownTree(c, uid, gid);
    else chownSync(c, uid, gid);
  }
}

/** A loopback port that was free a moment ago (test files run in parallel processes). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, rejectPort) => {
    const s = createServer();
    s.once('error', rejectPort);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolvePort(port));
    });
  });
}

/** `audit`: where the JSONL log and the SQLite index live (default: `dir`; the fault tests put them on small disks). */
export function writeConfig(dir: string, port: number, extra = '', cleanupInterval = '1m', sandbox = false, audit: { dir?: string; indexDir?: string } = {}): { configFile: string; runDir: string; port: number } {
  const runDir = join(dir, 'run');
  const auditDir = audit.dir ?? dir;
  const configFile = join(dir, 'config.yaml');
  writeFileSync(
    configFile,
    `server:
  http: { addr: "127.0.0.1:${port}" }
  shim: { run_dir: ${runDir} }
policies: { dir: ${join(dir, 'policies')}, default: default }
sessions: { base_dir: ${join(dir, 'sessions')}, cleanup_interval: ${cleanupInterval} }
audit: { output: ${join(auditDir, 'events.jsonl')}, storage: { sqlite_path: ${join(audit.indexDir ?? auditDir, 'events.db')} } }
sandbox:
  enabled: ${sandbox}
  env_inject:
    AGENTSH_INJECTED: "from-operator"
    BASH_ENV: ${join(REPO, 'share/bash_startup.sh')}
${extra}`,
  );
  return { configFile, runDir, port };
}

export async function startTestServer(opts: {
  policy?: string;
  extraConfig?: string;
  env?: NodeJS.ProcessEnv;
  cleanupInterval?: string;
  sandbox?: boolean;
  /** A program (and its arguments) the server runs under, e.g. a simulated restricted runtime. */
  wrap?: string[];
  /** Run the server as this user (root only): its directory is given to it. */
  uid?: number;
  gid?: number;
} = {}): Promise<TestServer> {
  // No '-' before the random part: the seed's block-rm-recursive is the regex "-r" over rm's
  // arguments, so a directory named agentsh-srv-rXXXXX made `rm <workspace>/f` a denied command.
  const dir = mkdtempSync(join(tmpdir(), 'agentsh-srv_'));
  mkdirSync(join(dir, 'policies'));
  mkdirSync(join(dir, 'ws'));
  writeFileSync(join(dir, 'policies', 'default.yaml'), opts.policy ?? readFileSync(join(SEED_DIR, 'default.yaml'), 'utf8'));
  const { configFile, runDir, port } = writeConfig(dir, await freePort(), opts.extraConfig, opts.cleanupInterval, opts.sandbox ?? false);
  if (opts.uid !== undefined) chownTree(dir, opts.uid, opts.gid ?? opts.uid);
  let stderr = '';
  const spawnServer = () => {
    const argv = [...(opts.wrap ?? []), process.execPath, join(REPO, 'bin/agentsh'), 'server', '-c', configFile];
    const p = spawn(argv[0]!, argv.slice(1), {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...opts.env },
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid ?? opts.uid } : {}),
    });
    p.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    return p;
  };
  let proc = spawnServer();
  const token = () => readFileSync(join(runDir, 'api.token'), 'utf8').trim();
  const api = (method: string, path: string, body?: unknown, tok: string | null = token()) =>
    new Promise<{ status: number; body: any; raw: Buffer }>((resolveReq, rejectReq) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request({ socketPath: join(runDir, 'agentsh.sock'), method, path, headers: { ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...(payload ? { 'content-type': 'application/json' } : {}) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = Buffer.concat(chunks);
          let parsed: unknown = raw.toString('utf8');
          try {
            parsed = JSON.parse(parsed as string);
          } catch {
            // keep text
          }
          resolveReq({ status: res.statusCode ?? 0, body: parsed, raw });
        });
      });
      req.on('error', rejectReq);
      req.end(payload);
    });
  const ready = async () => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`server exited ${proc.exitCode}: ${stderr}`);
      try {
        if ((await api('GET', '/ready', undefined, null)).status === 200) break;
      } catch {
        // not yet
      }
      if (Date.now() > deadline) throw new Error(`server not ready: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await ready();
  const restart = async (signal: NodeJS.Signals) => {
    const old = proc;
    if (old.exitCode === null && old.signalCode === null) {
      old.kill(signal);
      await new Promise<void>((r) => old.once('exit', () => r()));
    }
    proc = spawnServer();
    await ready();
  };
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          proc.kill('SIGKILL');
          r();
        }, 5000);
        proc.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    dir, runDir, workspace: join(dir, 'ws'), configFile, port, token, api, stop, restart,
    get proc() {
      return proc;
    },
    stderr: () => stderr,
  };
}

/** The events of a type as JSON text, once `want` matches it (the audit index is written asynchronously) or after 5 s. */
export async function eventsOf(srv: TestServer, type: string, want: RegExp): Promise<string> {
  let text = '';
  for (let i = 0; i < 100; i++) {
    text = JSON.stringify((await srv.api('GET', `/api/v1/events?type=${type}`)).body);
    if (want.test(text)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return text;
}
