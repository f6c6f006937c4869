// The session sandbox launcher (native/launcher.c) seen from TypeScript: building it, the
// typed PLAN it executes (the server's decisions, compiled), and spawning a command through
// it with the plan on an extra pipe and the launcher's report parsed.
//
// The launcher makes no decision: everything it does is in the plan. The plan's wire format
// and the fixed order in which the launcher applies the directives are documented at the
// top of native/launcher.c (authoritative).
import { spawn, spawnSync, type ChildProcess, type StdioNull, type StdioPipe } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { REPO_ROOT, SHIM_CFLAGS } from '../shim/build.js';

export const LAUNCHER_SOURCE = join(REPO_ROOT, 'native', 'launcher.c');
export const LAUNCHER_BINARY_NAME = 'agentsh-launcher';
/** Exit status of the launcher when a mandatory step failed (nothing was exec'd). */
export const LAUNCHER_EXIT_FAILED = 126;

/**
 * Compiles one native helper with the project's fixed flags (the shim's, see
 * src/shim/build.ts, whose buildShim() is specific to the shim) when the binary is missing
 * or older than its source. Compiles next to the target and renames, so concurrent builds
 * never expose a half-written binary.
 */
export function buildNative(source: string, out: string): string {
  if (!existsSync(source)) throw new Error(`buildNative: source not found at ${source}`);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(source).mtimeMs) return out;
  mkdirSync(join(out, '..'), { recursive: true });
  const cc = process.env.CC || 'cc';
  const tmp = `${out}.${process.pid}.${Date.now()}.tmp`;
  const r = spawnSync(cc, [...SHIM_CFLAGS, '-o', tmp, source], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT') throw new Error(`buildNative: C compiler \`${cc}\` not found; install a C toolchain or set CC`);
    throw new Error(`buildNative: \`${cc} ${SHIM_CFLAGS.join(' ')} -o ${out} ${source}\` failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}):\n${r.stderr ?? ''}`);
  }
  chmodSync(tmp, 0o755);
  renameSync(tmp, out);
  return out;
}

/** Builds `<outDir>/agentsh-launcher` (default dist/native) if needed; returns its path. */
export function buildLauncher(outDir: string = join(REPO_ROOT, 'dist', 'native')): string {
  return buildNative(LAUNCHER_SOURCE, join(outDir, LAUNCHER_BINARY_NAME));
}

// ------------------------------------------------------------------------------- plan

export type Namespace = 'mount' | 'pid' | 'ipc' | 'uts' | 'net' | 'user' | 'cgroup';
export type RlimitName = 'AS' | 'CORE' | 'CPU' | 'DATA' | 'FSIZE' | 'MEMLOCK' | 'NOFILE' | 'NPROC' | 'STACK';
export type RlimitValue = number | 'unlimited';

export type MountStep =
  /** The host's PATH at the same path inside (recursively; always nosuid,nodev). */
  | { kind: 'bind'; path: string; mode: 'ro' | 'rw'; noexec?: boolean; optional?: boolean }
  | { kind: 'tmpfs'; path: string; mode?: number; sizeBytes?: number; noexec?: boolean; readOnly?: boolean }
  /** A fresh /proc for the session's pid namespace. */
  | { kind: 'proc'; hidepid?: 0 | 1 | 2 };

export interface Plan {
  unshare?: Namespace[];
  hostname?: string;
  /** Applied parents first (serializePlan orders them by path depth, stably). */
  mounts?: MountStep[];
  chdir?: string;
  rlimits?: Partial<Record<RlimitName, RlimitValue | [RlimitValue, RlimitValue]>>;
  /**
   * Once present, everything not granted is denied. `exec` implies `ro`. A path that does
   * not exist is reported as skipped. Deny-exec/deny-read = not granting; note that
   * Landlock does not check mmap(PROT_EXEC), so a readable non-exec file must also be on a
   * noexec mount to stop the dynamic loader.
   */
  landlock?: { ro?: string[]; rw?: string[]; exec?: string[]; scope?: Array<'signal' | 'abstract_unix'> };
  gid?: number;
  uid?: number;
  dropCaps?: boolean;
  noNewPrivs?: boolean;
  seccomp?: 'deny-list';
  pdeathsig?: boolean;
  /**
   * vm.memfd_noexec=2 inside the new pid namespace (requires `unshare: ['pid']`): memfds
   * can't be executed. Landlock does not govern memfds, so this closes the "write bytes to
   * a memfd and exec it" route around the exec grants.
   */
  memfdNoexec?: boolean;
  /** Inherited descriptors (>= 3) that stay open in the command; all others are closed on exec. */
  keepFds?: number[];
}

/** The plan's value escaping: `\\`, `\t`, `\n`, `\xHH` for other control bytes. */
export function escapePlanValue(s: string): string {
  if (s.includes('\0')) throw new Error(`plan value contains a NUL byte: ${JSON.stringify(s)}`);
  return s.replace(/[\\\x01-\x1f\x7f]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function unescapeReportValue(s: string): string {
  return s.replace(/\\(\\|t|n|x[0-9a-fA-F]{2})/g, (_m, e: string) =>
    e === '\\' ? '\\' : e === 't' ? '\t' : e === 'n' ? '\n' : String.fromCharCode(parseInt(e.slice(1), 16)));
}

const depth = (p: string) => p.split('/').filter(Boolean).length;
const mountPath = (m: MountStep) => (m.kind === 'proc' ? '/proc' : m.path);

function absolute(what: string, p: string): string {
  if (!p.startsWith('/')) throw new Error(`plan: ${what} must be an absolute path, got ${JSON.stringify(p)}`);
  return p;
}

function uint(what: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`plan: ${what} must be a non-negative integer, got ${n}`);
  return n;
}

/** The wire form of a plan (documented in native/launcher.c). Throws on invalid values. */
export function serializePlan(plan: Plan): string {
  const lines: string[] = [];
  const line = (key: string, value?: string, opts?: string) =>
    lines.push([key, ...(value === undefined ? [] : [escapePlanValue(value)]), ...(opts ? [escapePlanValue(opts)] : [])].join('\t'));
  if (plan.pdeathsig) line('pdeathsig');
  if (plan.unshare?.length) line('unshare', [...new Set(plan.unshare)].join(','));
  if (plan.memfdNoexec) line('memfd_noexec');
  if (plan.hostname !== undefined) line('hostname', plan.hostname);
  const mounts = (plan.mounts ?? []).map((m, i) => ({ m, i }))
    .sort((a, b) => depth(mountPath(a.m)) - depth(mountPath(b.m)) || a.i - b.i).map((x) => x.m);
  for (const m of mounts) {
    if (m.kind === 'bind') {
      const opts = [m.noexec ? 'noexec' : '', m.optional ? 'optional' : ''].filter(Boolean).join(',');
      line(m.mode === 'ro' ? 'bind_ro' : 'bind_rw', absolute('bind path', m.path), opts || undefined);
    } else if (m.kind === 'tmpfs') {
      const opts = [
        `mode=${uint('tmpfs mode', m.mode ?? 0o755).toString(8).padStart(4, '0')}`,
        m.sizeBytes !== undefined ? `size=${uint('tmpfs size', m.sizeBytes)}` : '',
        m.noexec ? 'noexec' : '', m.readOnly ? 'ro' : ''].filter(Boolean).join(',');
      line('tmpfs', absolute('tmpfs path', m.path), opts);
    } else line('proc', m.hidepid !== undefined ? `hidepid=${m.hidepid}` : undefined);
  }
  if (plan.chdir !== undefined) line('chdir', absolute('chdir', plan.chdir));
  for (const [name, v] of Object.entries(plan.rlimits ?? {})) {
    if (v === undefined) continue;
    const [soft, hard] = Array.isArray(v) ? v : [v, v];
    const f = (x: RlimitValue) => (x === 'unlimited' ? x : String(uint(`rlimit ${name}`, x)));
    line('rlimit', `${name} ${f(soft)} ${f(hard)}`);
  }
  const ll = plan.landlock;
  if (ll) {
    for (const p of ll.ro ?? []) line('landlock_ro', absolute('landlock path', p));
    for (const p of ll.rw ?? []) line('landlock_rw', absolute('landlock path', p));
    for (const p of ll.exec ?? []) line('landlock_exec', absolute('landlock path', p));
    if (ll.scope?.length) line('landlock_scope', ll.scope.join(','));
  }
  if (plan.gid !== undefined) line('gid', String(uint('gid', plan.gid)));
  if (plan.uid !== undefined) line('uid', String(uint('uid', plan.uid)));
  for (const fd of plan.keepFds ?? []) {
    if (!Number.isInteger(fd) || fd < 3) throw new Error(`plan: keepFds entries must be integers >= 3, got ${fd}`);
    line('keep_fd', String(fd));
  }
  if (plan.dropCaps) line('drop_caps');
  if (plan.noNewPrivs) line('no_new_privs');
  if (plan.seccomp) line('seccomp', plan.seccomp);
  return lines.join('\n') + '\n';
}

// ----------------------------------------------------------------------------- report

export interface ReportStep { key: string; value?: string; errno?: string }

export interface LauncherReport {
  /** Raw lines, in order. */
  lines: string[];
  ok: ReportStep[];
  skipped: ReportStep[];
  /** The mandatory step that failed (exit 126, nothing exec'd), or the exec failure. */
  failed?: ReportStep;
  landlockAbi?: number;
  /** pid of the namespace's pid 1, in the launcher's caller's pid namespace. */
  initPid?: number;
  /** pid of the command as seen inside the sandbox (set just before exec). */
  execPid?: number;
  /** The command's end, as reported by the process that waited for it. */
  exit?: { code: number } | { signal: number };
}

export function parseReport(text: string): LauncherReport {
  const r: LauncherReport = { lines: [], ok: [], skipped: [] };
  for (const raw of text.split('\n')) {
    if (!raw) continue;
    r.lines.push(raw);
    const [word, ...rest] = raw.split(' ').map(unescapeReportValue);
    const step = (): ReportStep => ({ key: rest[0] ?? '', ...(rest[1] !== undefined ? { value: rest[1] } : {}), ...(rest[2] !== undefined ? { errno: rest[2] } : {}) });
    const num = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);
    switch (word) {
      case 'ok': r.ok.push({ key: rest[0] ?? '', ...(rest.length > 1 ? { value: rest.slice(1).join(' ') } : {}) }); break;
      case 'skip': r.skipped.push(step()); break;
      case 'fail': r.failed ??= step(); break;
      case 'landlock': if (rest[0] === 'abi') r.landlockAbi = num(rest[1]); break;
      case 'init': r.initPid = num(rest[0]); break;
      case 'exec': r.execPid = num(rest[0]); break;
      case 'exit': r.exit = { code: num(rest[0]) ?? -1 }; break;
      case 'signal': r.exit = { signal: num(rest[0]) ?? -1 }; break;
      default: break; // unknown facts are kept in `lines`
    }
  }
  return r;
}

// ------------------------------------------------------------------------------ spawn

export interface RunInSandboxOptions {
  /** The launcher binary (default: buildLauncher()). */
  launcher?: string;
  /** PROGRAM to exec (default argv[0]); argv[0] is what the command sees as its name. */
  program?: string;
  /** The command's environment (the launcher's too). Default: empty, never the server's. */
  env?: NodeJS.ProcessEnv;
  /** Where the launcher starts (the plan's `chdir` decides the command's cwd). */
  cwd?: string;
  /** stdin, stdout, stderr of the command (fds 3 and 4 are the launcher's). */
  stdio?: [StdioPipe | StdioNull | number, StdioPipe | StdioNull | number, StdioPipe | StdioNull | number];
  detached?: boolean;
}

export type SandboxProcess = ChildProcess & {
  /** Resolves when the launcher's report stream ends (all launcher processes exited). */
  report: Promise<LauncherReport>;
};

/**
 * Spawns `argv` through the launcher: the plan goes on fd 3, the report comes back on
 * fd 4. The returned ChildProcess is the launcher; its exit status is the command's
 * (126 and `report.failed` when a mandatory step failed and nothing ran).
 */
export function runInSandbox(plan: Plan, argv: readonly string[], opts: RunInSandboxOptions = {}): SandboxProcess {
  if (argv.length === 0) throw new Error('runInSandbox: empty argv');
  const text = serializePlan(plan);
  const launcher = opts.launcher ?? buildLauncher();
  const program = opts.program ?? argv[0]!;
  const stdio = opts.stdio ?? ['pipe', 'pipe', 'pipe'];
  const child = spawn(launcher, ['--plan-fd', '3', '--report-fd', '4', '--', program, ...argv], {
    stdio: [...stdio, 'pipe', 'pipe'],
    env: opts.env ?? {},
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
    ...(opts.detached !== undefined ? { detached: opts.detached } : {}),
  }) as SandboxProcess;
  const planPipe = child.stdio[3] as Writable | null;
  const reportPipe = child.stdio[4] as Readable | null;
  planPipe?.on('error', () => { /* the launcher exited before reading it: its report says why */ });
  planPipe?.end(text);
  child.report = new Promise<LauncherReport>((resolve) => {
    if (!reportPipe) return resolve(parseReport(''));
    const chunks: Buffer[] = [];
    reportPipe.on('data', (c: Buffer) => chunks.push(c));
    reportPipe.on('error', () => resolve(parseReport(Buffer.concat(chunks).toString('utf8'))));
    reportPipe.on('close', () => resolve(parseReport(Buffer.concat(chunks).toString('utf8'))));
  });
  return child;
}

/** `agentsh-launcher --probe`: facts about this kernel, one `name value` line each. */
export function probeLauncher(launcher: string = buildLauncher()): string[] {
  const r = spawnSync(launcher, ['--probe'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`agentsh-launcher --probe failed: ${r.stderr || r.error?.message}`);
  return r.stdout.split('\n').filter(Boolean);
}
