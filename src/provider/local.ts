// The local provider: a Daytona-like sandbox on this machine, no container engine. A sandbox
// is a directory `<root>/<id>/` (its home, /tmp, run and state directories, the image's
// overlay layers, server.log, sandbox.json) and an agentsh server started through the
// launcher inside the image's namespaces (src/provider/image.ts): its own mount, pid, ipc,
// uts and network namespaces, so every sandbox's server listens on the seed config's fixed
// 127.0.0.1:18080 on its own loopback. The host reaches it through the API socket bound
// at `<dir>/run/agentsh.sock` (the server's /run/agentsh inside).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { ApiClient } from '../cli/client.js';
import { runPaths } from '../server/paths.js';
import { SandboxError, type CreateOptions, type CreateTimings, type ExecOptions, type ExecResult, type SandboxProvider } from './types.js';
import { buildLauncher, parseReport, serializePlan } from '../sandbox/launcher.js';
import { createCommandCgroup, probeCgroups } from '../sandbox/cgroups.js';
import { limitsFromPolicy } from '../sandbox/resources.js';
import { loadConfigFile } from '../config/load.js';
import { buildShim, REPO_ROOT } from '../shim/build.js';
import { APP_DIR, CONFIG_IN_IMAGE, imagePlan, layerDir, RUN_DIR_IN_IMAGE, SANDBOX_HOME, sandboxDirs, STATE_DIR_IN_IMAGE, writeLayers, type SandboxDirs } from './image.js';

export { SandboxError } from './types.js';
export type { CreateOptions, CreateTimings, ExecOptions, ExecResult, SandboxErrorCode } from './types.js';

export const SEED_CONFIG = join(REPO_ROOT, 'test', 'fixtures', 'seed', 'config.yaml');
export const SEED_POLICY = join(REPO_ROOT, 'test', 'fixtures', 'seed', 'default.yaml');
const ID_RE = /^sb-[0-9a-f]{10}$/;
const MARKER_PREFIX = 'agentsh-sandbox:';
/** sockaddr_un.sun_path holds 107 bytes and a NUL. */
const MAX_SOCKET_PATH = 107;

/** What sandbox.json records. */
export interface SandboxRecord {
  id: string;
  provider: 'local';
  createdAt: string;
  /** The launcher (outer process); its pid namespace's init is `initPid`. */
  pid: number;
  /** /proc/PID/stat start time (clock ticks since boot): a recycled pid never matches. */
  startTime: string;
  initPid?: number;
  /** The daytona user inside. */
  uid: number;
  gid: number;
  configPath: string;
  policyPath: string;
  /** The sandbox's cgroup directories on the host (removed by delete). */
  cgroups?: string[];
}

export interface SandboxInfo extends SandboxRecord {
  dir: string;
  state: 'running' | 'stopped';
}

/** AGENTSH_SANDBOX_ROOT; else /var/lib/agentsh-local/sandboxes for root; else the XDG state dir. */
export function defaultSandboxRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AGENTSH_SANDBOX_ROOT) return resolve(env.AGENTSH_SANDBOX_ROOT);
  if (process.getuid?.() === 0) return '/var/lib/agentsh-local/sandboxes';
  const state = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(env.HOME || homedir(), '.local', 'state');
  return join(state, 'agentsh', 'sandboxes');
}

// ------------------------------------------------------------------------ processes

/** Field 22 of /proc/PID/stat, or null when there is no such (live, non-zombie) process. */
export function procStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(') ') + 2).split(' '); // fields 3…
    if (rest[0] === 'Z' || rest[0] === 'X') return null;
    return rest[19] ?? null;
  } catch {
    return null;
  }
}

function procParent(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function procCmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** Whether `pid` is still this sandbox's launcher: same start time and its argv carries the sandbox's marker. */
export function isSandboxLauncher(rec: Pick<SandboxRecord, 'id' | 'pid' | 'startTime'>): boolean {
  if (!Number.isInteger(rec.pid) || rec.pid <= 1) return false;
  const st = procStartTime(rec.pid);
  return st !== null && st === rec.startTime && procCmdline(rec.pid).includes(`${MARKER_PREFIX}${rec.id}`);
}

/** The namespace's init: a child of the launcher with the same marker (a fork, not an exec). */
function isSandboxInit(rec: SandboxRecord): boolean {
  return rec.initPid !== undefined && procParent(rec.initPid) === rec.pid && procStartTime(rec.initPid) !== null && procCmdline(rec.initPid).includes(`${MARKER_PREFIX}${rec.id}`);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n').trimEnd();
  } catch {
    return '(no log)';
  }
}

// --------------------------------------------------------------------------- provider

export class LocalProvider implements SandboxProvider<SandboxInfo> {
  readonly name = 'local' as const;
  readonly root: string;

  constructor(opts: { root?: string } = {}) {
    this.root = resolve(opts.root ?? defaultSandboxRoot());
  }

  private dirOf(id: string): string {
    if (!ID_RE.test(id)) throw new SandboxError('E_NOT_FOUND', `no sandbox '${id}' (ids look like sb-0123456789)`);
    return join(this.root, id);
  }

  private readRecord(id: string): { rec: SandboxRecord; dirs: SandboxDirs } {
    const dir = this.dirOf(id);
    let rec: SandboxRecord;
    try {
      rec = JSON.parse(readFileSync(join(dir, 'sandbox.json'), 'utf8')) as SandboxRecord;
    } catch {
      throw new SandboxError('E_NOT_FOUND', `no sandbox '${id}' under ${this.root}`);
    }
    if (rec.id !== id) throw new SandboxError('E_NOT_FOUND', `no sandbox '${id}' under ${this.root} (its sandbox.json names '${rec.id}')`);
    return { rec, dirs: sandboxDirs(dir) };
  }

  private info(rec: SandboxRecord, dirs: SandboxDirs): SandboxInfo {
    return { ...rec, dir: dirs.dir, state: isSandboxLauncher(rec) ? 'running' : 'stopped' };
  }

  get(id: string): SandboxInfo {
    const { rec, dirs } = this.readRecord(id);
    return this.info(rec, dirs);
  }

  list(): SandboxInfo[] {
    let names: string[];
    try {
      names = readdirSync(this.root);
    } catch {
      return [];
    }
    const out: SandboxInfo[] = [];
    for (const n of names.filter((x) => ID_RE.test(x)).sort()) {
      try {
        out.push(this.get(n));
      } catch {
        // a half-created or foreign directory: not a sandbox
      }
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  private checkRoot(): void {
    // The plan carries paths escaped, but overlayfs's own option syntax cannot carry these.
    if (/[:,\\\n]/.test(this.root)) throw new SandboxError('E_INVALID', `sandbox root ${this.root}: the path may not contain ':', ',', '\\' or a newline (overlayfs layers)`);
    for (const d of ['/etc', '/usr/bin', '/usr/lib', '/proc', '/sys', '/dev']) {
      if (this.root === d || this.root.startsWith(`${d}/`)) throw new SandboxError('E_INVALID', `sandbox root ${this.root}: may not be under ${d} (the image overlays or replaces it)`);
    }
    const sock = join(this.root, 'sb-0123456789', 'run', 'agentsh.sock');
    if (Buffer.byteLength(sock) > MAX_SOCKET_PATH) throw new SandboxError('E_INVALID', `sandbox root ${this.root} is too long: the API socket path ${sock} would exceed ${MAX_SOCKET_PATH} bytes`);
  }

  async create(opts: CreateOptions = {}): Promise<{ info: SandboxInfo; timings: CreateTimings }> {
    const t0 = performance.now();
    this.checkRoot();
    const configFile = resolve(opts.config ?? SEED_CONFIG);
    const policyFile = resolve(opts.policy ?? SEED_POLICY);
    for (const [what, f] of [['config', configFile], ['policy', policyFile]] as const) {
      if (!existsSync(f)) throw new SandboxError('E_INVALID', `${what} file ${f} not found`);
    }
    const isRoot = process.getuid?.() === 0;
    const identity = isRoot ? { uid: 1000, gid: 1000 } : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

    mkdirSync(this.root, { recursive: true, mode: 0o700 });
    const root = realpathSync(this.root);
    let id = '';
    let dir = '';
    for (let tries = 0; ; tries++) {
      id = `sb-${randomBytes(5).toString('hex')}`;
      dir = join(root, id);
      try {
        mkdirSync(dir, { mode: 0o700 });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || tries > 5) throw err;
      }
    }
    const dirs = sandboxDirs(dir);
    let launcherPid: number | undefined;
    let cgroupDirs: string[] = [];
    try {
      mkdirSync(dirs.home, { mode: 0o755 });
      if (isRoot) chownSync(dirs.home, identity.uid, identity.gid);
      for (const d of [dirs.tmp, dirs.varTmp]) {
        mkdirSync(d);
        chmodSync(d, 0o1777);
      }
      mkdirSync(dirs.run, { mode: 0o755 });
      mkdirSync(dirs.state, { mode: 0o700 });
      mkdirSync(dirs.layers, { mode: 0o755 });
      const shimBinary = buildShim();
      const launcher = buildLauncher();
      const inputs = { id, dirs, identity, repoRoot: REPO_ROOT.replace(/\/+$/, ''), nodePath: process.execPath, shimBinary, configFile, policyFile, sandboxRoot: root, rootless: !isRoot };
      writeLayers(inputs);
      // The sandbox's own cgroup (config sandbox.limits, like a container's), created in a
      // hierarchy agentsh owns and bound writable into the image, so that the server inside
      // finds its own cgroup writable and puts each command in a child of it (resource_limits).
      const cgroup = sandboxCgroup(id, configFile);
      cgroupDirs = cgroup.dirs;
      const image = imagePlan(inputs);
      image.mounts = [...(image.mounts ?? []), ...cgroup.dirs.map((path) => ({ kind: 'bind' as const, path, mode: 'rw' as const }))];
      if (cgroup.procsFiles.length) image.cgroups = cgroup.procsFiles;
      const plan = serializePlan(image);
      writeFileSync(join(dir, 'plan.txt'), plan, { mode: 0o600 });

      // Detached (own session), no pdeathsig: the server outlives `create`. Its output goes
      // to server.log, the launcher's facts to launcher.report.
      const log = openSync(dirs.log, 'a', 0o600);
      const report = openSync(dirs.report, 'w', 0o600);
      const tSpawn = performance.now();
      const child = spawn(launcher, ['--plan-fd', '3', '--report-fd', '4', '--', process.execPath, `${MARKER_PREFIX}${id}`, `${APP_DIR}/bin/agentsh`, 'server', '--config', CONFIG_IN_IMAGE], {
        stdio: ['ignore', log, log, 'pipe', report],
        detached: true,
        cwd: '/',
        env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8', AGENTSH_TOOLBOX_USER: 'daytona' },
      });
      closeSync(log);
      closeSync(report);
      let exited: string | null = null;
      child.on('exit', (code, sig) => (exited = sig ? `signal ${sig}` : `exit ${code}`));
      child.on('error', (err) => (exited = `spawn error: ${err.message}`));
      const planPipe = child.stdio[3] as NodeJS.WritableStream & { on(e: 'error', cb: () => void): void };
      planPipe.on('error', () => { /* the launcher exited before reading it: its report says why */ });
      planPipe.end(plan);
      child.unref();
      if (child.pid === undefined) throw new SandboxError('E_START', `cannot start the launcher ${launcher}`);
      launcherPid = child.pid;
      const startTime = procStartTime(child.pid) ?? '';
      const rec: SandboxRecord = { id, provider: 'local', createdAt: new Date().toISOString(), pid: child.pid, startTime, uid: identity.uid, gid: identity.gid, configPath: configFile, policyPath: policyFile, cgroups: cgroupDirs };
      writeFileSync(dirs.meta, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o644 });

      // Wait: the launcher's `exec` fact (namespaces and mounts done), then the server's /ready.
      const client = new ApiClient(runPaths(dirs.run), null);
      const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
      let tExec: number | null = null;
      for (let i = 0; ; i++) {
        const facts = parseReport(readFileSync(dirs.report, 'utf8'));
        if (facts.failed) throw new SandboxError('E_START', `the launcher could not set up sandbox ${id}: ${facts.failed.key} ${facts.failed.value ?? ''} ${facts.failed.errno ?? ''}`.trimEnd());
        if (facts.initPid !== undefined) rec.initPid = facts.initPid;
        if (tExec === null && facts.execPid !== undefined) tExec = performance.now();
        if (tExec !== null && existsSync(client.paths.apiSocket)) {
          try {
            const r = await client.raw('GET', '/ready', undefined, undefined, false);
            if (r.status === 200) break;
          } catch {
            // not listening yet
          }
        }
        if (exited) throw new SandboxError('E_START', `the server of sandbox ${id} exited during start-up (${exited})`);
        if (Date.now() > deadline) throw new SandboxError('E_START', `the server of sandbox ${id} did not answer within ${opts.timeoutMs ?? 20_000} ms`);
        await sleep(tExec === null ? 1 : 5);
      }
      const tReady = performance.now();
      writeFileSync(dirs.meta, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o644 });
      return {
        info: this.info(rec, dirs),
        timings: { prepareMs: tSpawn - t0, launcherMs: (tExec ?? tReady) - tSpawn, serverMs: tReady - (tExec ?? tSpawn), totalMs: tReady - t0 },
      };
    } catch (err) {
      const why = err instanceof SandboxError ? err.message : `cannot create sandbox ${id}: ${(err as Error).message}`;
      const logTail = tail(dirs.log);
      const reportTail = tail(dirs.report, 10);
      if (launcherPid !== undefined) {
        try {
          await this.stop(this.readRecord(id).rec);
        } catch {
          // nothing recorded: nothing of ours to stop
        }
      }
      this.removeDir(id);
      throw new SandboxError('E_START', `${why}\n--- server.log (last lines) ---\n${logTail}\n--- launcher report ---\n${reportTail}`);
    }
  }

  /** Daytona's toolbox exec: `/bin/bash -c COMMAND` as the daytona user inside. */
  async exec(id: string, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const { rec, dirs } = this.readRecord(id);
    if (!isSandboxLauncher(rec)) throw new SandboxError('E_EXEC', `sandbox ${id} is not running (its server is gone; see ${dirs.log})`);
    const client = new ApiClient(runPaths(dirs.run), null);
    let r;
    try {
      r = await client.raw('POST', '/api/toolbox/exec', { command, ...opts });
    } catch (err) {
      throw new SandboxError('E_EXEC', `sandbox ${id}: cannot reach its server at ${client.paths.apiSocket}: ${(err as Error).message}`);
    }
    if (r.status !== 200) {
      const e = (r.body as { error?: { message?: string } } | null)?.error;
      throw new SandboxError('E_EXEC', `sandbox ${id}: toolbox exec failed (${r.status}): ${e?.message ?? JSON.stringify(r.body)}`);
    }
    return r.body as ExecResult;
  }

  /**
   * Where a path inside the sandbox lives on the host: its writable places are directories of
   * the sandbox (a command's private /tmp is not among them); what the image adds is a layer;
   * everything else is the host's own file, seen read-only inside. With each candidate, the
   * directory it must stay in once symlinks are resolved (null: a host path as it is).
   */
  hostPath(id: string, inside: string): Array<{ path: string; within: string | null }> {
    const { dirs } = this.readRecord(id);
    const p = resolve('/', inside);
    const places: Array<[string, string]> = [[SANDBOX_HOME, dirs.home], ['/tmp', dirs.tmp], ['/var/tmp', dirs.varTmp], [RUN_DIR_IN_IMAGE, dirs.run], [STATE_DIR_IN_IMAGE, dirs.state]];
    for (const [at, host] of places) if (p === at || p.startsWith(`${at}/`)) return [{ path: join(host, p.slice(at.length)), within: host }];
    const out: Array<{ path: string; within: string | null }> = [];
    for (const o of ['/etc', '/usr/bin', '/usr/lib', '/var/lib']) if (p.startsWith(`${o}/`)) out.push({ path: join(layerDir(dirs, o), p.slice(o.length)), within: layerDir(dirs, o) });
    return [...out, { path: p, within: null }];
  }

  async fileExists(id: string, path: string): Promise<boolean> {
    return this.hostPath(id, path).some(({ path: h }) => {
      try {
        lstatSync(h);
        return true;
      } catch {
        return false;
      }
    });
  }

  /** Read from outside the sandbox: a symlink the agent planted in its own places never leads out of them. */
  async readFile(id: string, path: string): Promise<string | null> {
    for (const { path: h, within } of this.hostPath(id, path)) {
      try {
        if (within !== null) {
          const real = realpathSync(h);
          const base = realpathSync(within);
          if (real !== base && !real.startsWith(`${base}/`)) continue;
          return readFileSync(real, 'utf8');
        }
        return readFileSync(h, 'utf8');
      } catch {
        // not this one
      }
    }
    return null;
  }

  /** The sandbox's audit log (its config's audit output, in the sandbox's state directory). */
  async auditLog(id: string): Promise<string | null> {
    const { dirs } = this.readRecord(id);
    let inside = join(STATE_DIR_IN_IMAGE, 'events.jsonl');
    try {
      const audit = loadConfigFile(join(layerDir(dirs, '/etc'), 'agentsh', 'config.yaml')).config.audit;
      inside = audit.output && audit.output.startsWith('/') ? audit.output : join(dirname(audit.storage.sqlite_path), 'events.jsonl');
    } catch {
      // unreadable: the seed's location
    }
    return this.readFile(id, inside);
  }

  /** Stops the server (SIGTERM, then SIGKILL after `graceMs`) and removes `<root>/<id>/`. */
  async delete(id: string, opts: { graceMs?: number } = {}): Promise<void> {
    const { rec } = this.readRecord(id);
    await this.stop(rec, opts.graceMs);
    removeCgroupTree(rec.cgroups ?? []);
    this.removeDir(id);
  }

  private async stop(rec: SandboxRecord, graceMs = 5000): Promise<void> {
    if (!isSandboxLauncher(rec)) return;
    // SIGTERM to the launcher: forwarded to the namespace's init, then to the server.
    signal(rec.pid, 'SIGTERM');
    const until = async (ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        if (!isSandboxLauncher(rec)) return true;
        await sleep(10);
      }
      return !isSandboxLauncher(rec);
    };
    if (await until(graceMs)) return;
    // SIGKILL to init ends the whole pid namespace; then the launcher (its parent) exits.
    if (isSandboxInit(rec)) signal(rec.initPid!, 'SIGKILL');
    if (isSandboxLauncher(rec)) signal(rec.pid, 'SIGKILL');
    if (!(await until(5000))) throw new SandboxError('E_STOP', `sandbox ${rec.id}: launcher ${rec.pid} did not exit after SIGKILL`);
  }

  private removeDir(id: string): void {
    const dir = this.dirOf(id);
    let real: string;
    let root: string;
    try {
      real = realpathSync(dir);
      root = realpathSync(this.root);
    } catch {
      return; // already gone
    }
    // Nothing is mounted on the host (mounts live in the sandbox's namespace), so rm is
    // safe — as long as it stays inside the root.
    if (!real.startsWith(root + sep) || real.slice(root.length + 1) !== id) throw new SandboxError('E_INVALID', `refusing to remove ${real}: not ${id} directly under the sandbox root ${root}`);
    rmSync(real, { recursive: true, force: true, maxRetries: 3 });
  }
}

/** Creates the sandbox's cgroup (empty when no cgroup hierarchy is writable: rootless). */
function sandboxCgroup(id: string, configFile: string): { dirs: string[]; procsFiles: string[] } {
  try {
    const limits = limitsFromPolicy(undefined, loadConfigFile(configFile).config.sandbox.limits ?? {});
    const h = createCommandCgroup(probeCgroups(), limits, { commandId: id, base: 'agentsh-sandboxes' });
    return { dirs: h.dirs.map((d) => d.path), procsFiles: h.procsFiles };
  } catch {
    return { dirs: [], procsFiles: [] };
  }
}

/** rmdir of the sandbox's cgroups, children first (the commands' own cgroups left by a killed server). */
function removeCgroupTree(dirs: string[]): void {
  const rm = (d: string): void => {
    let kids: string[] = [];
    try {
      kids = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(d, e.name));
    } catch {
      return;
    }
    for (const k of kids) rm(k);
    try {
      rmdirSync(d);
    } catch {
      // busy or gone: a later delete or the operator
    }
  };
  for (const d of dirs) {
    rm(d);
    // The shared parents (`agentsh-sandboxes/<pid>`), when now empty.
    for (const up of [dirname(d), dirname(dirname(d))]) {
      try {
        rmdirSync(up);
      } catch {
        break;
      }
    }
  }
}
