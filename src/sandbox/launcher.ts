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
import type { Duplex, Readable, Writable } from 'node:stream';
import { REPO_ROOT, SHIM_CFLAGS } from '../shim/build.js';
import type { FsRight } from './fs-plan.js';

export const LAUNCHER_SOURCE = join(REPO_ROOT, 'native', 'launcher.c');
export const LAUNCHER_BINARY_NAME = 'agentsh-launcher';
/** Exit status of the launcher when a mandatory step failed (nothing was exec'd). */
export const LAUNCHER_EXIT_FAILED = 126;

/**
 * Compiles one native helper with the project's fixed flags (the shim's, see
 * src/shim/build.ts, whose buildShim() is specific to the shim) when the binary is missing
 * or older than any of its sources (headers included). Compiles next to the target and
 * renames, so concurrent builds never expose a half-written binary.
 */
export function buildNative(sources: string | readonly string[], out: string): string {
  const files = typeof sources === 'string' ? [sources] : [...sources];
  for (const f of files) if (!existsSync(f)) throw new Error(`buildNative: source not found at ${f}`);
  if (existsSync(out) && files.every((f) => statSync(out).mtimeMs >= statSync(f).mtimeMs)) return out;
  mkdirSync(join(out, '..'), { recursive: true });
  const cc = process.env.CC || 'cc';
  const tmp = `${out}.${process.pid}.${Date.now()}.tmp`;
  const units = files.filter((f) => f.endsWith('.c'));
  const r = spawnSync(cc, [...SHIM_CFLAGS, '-o', tmp, ...units], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    const code = (r.error as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT') throw new Error(`buildNative: C compiler \`${cc}\` not found; install a C toolchain or set CC`);
    throw new Error(`buildNative: \`${cc} ${SHIM_CFLAGS.join(' ')} -o ${out} ${units.join(' ')}\` failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`}):\n${r.stderr ?? ''}`);
  }
  chmodSync(tmp, 0o755);
  renameSync(tmp, out);
  return out;
}

/** The launcher's sources: the main file, the network relay and the ptrace backend, their headers. */
export const LAUNCHER_SOURCES = [LAUNCHER_SOURCE, ...['relay.c', 'relay.h', 'tracer.c', 'tracer.h'].map((f) => join(REPO_ROOT, 'native', f))] as const;

/** Builds `<outDir>/agentsh-launcher` (default dist/native) if needed; returns its path. */
export function buildLauncher(outDir: string = join(REPO_ROOT, 'dist', 'native')): string {
  return buildNative(LAUNCHER_SOURCES, join(outDir, LAUNCHER_BINARY_NAME));
}

// ------------------------------------------------------------------------------- plan

export type Namespace = 'mount' | 'pid' | 'ipc' | 'uts' | 'net' | 'user' | 'cgroup';
export type RlimitName = 'AS' | 'CORE' | 'CPU' | 'DATA' | 'FSIZE' | 'MEMLOCK' | 'NOFILE' | 'NPROC' | 'STACK';
export type RlimitValue = number | 'unlimited';

export type MountStep =
  /**
   * The host's `source` (default: PATH itself) at PATH inside, recursively; always
   * nosuid,nodev. A file source is bound over a file (created empty if missing). A
   * `source` that is a symlink is refused (a symlink at its own path is recreated).
   */
  | { kind: 'bind'; path: string; mode: 'ro' | 'rw'; noexec?: boolean; optional?: boolean; source?: string }
  /**
   * Read-only overlayfs of host directories at PATH, `layers` topmost first (at least two;
   * no ':', ',' or '\\' in them): adds entries to a host directory without touching it.
   */
  | { kind: 'overlay'; path: string; layers: string[]; noexec?: boolean }
  /** A symlink PATH -> target in the new root (e.g. /dev/fd -> /proc/self/fd). */
  | { kind: 'symlink'; path: string; target: string }
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
   * cgroup.procs files (host paths, at most 8) the command joins right after its rlimits,
   * before Landlock and the privilege drop; opened when the plan is read, so they need not
   * be visible inside the sandbox. See src/sandbox/cgroups.ts (ResourceManager).
   */
  cgroups?: string[];
  /**
   * Once present, everything not granted is denied. `exec` implies `ro`. A path that does
   * not exist is reported as skipped. Deny-exec/deny-read = not granting; note that
   * Landlock does not check mmap(PROT_EXEC), so a readable non-exec file must also be on a
   * noexec mount to stop the dynamic loader.
   */
  landlock?: {
    ro?: string[]; rw?: string[]; exec?: string[];
    /**
     * Fine-grained grants (fs-plan's FsGrant). A path with a symlink anywhere in it is
     * skipped (ELOOP): grant resolved paths.
     */
    rules?: Array<{ path: string; rights: FsRight[] }>;
    scope?: Array<'signal' | 'abstract_unix'>;
    /**
     * Landlock ABI >= 4 TCP rules: with `connect`, TCP connects are denied except to those
     * ports (any address); likewise `bind`. UDP is not covered by Landlock.
     */
    tcp?: { connect?: number[]; bind?: number[] };
  };
  gid?: number;
  uid?: number;
  dropCaps?: boolean;
  noNewPrivs?: boolean;
  seccomp?: 'deny-list';
  /**
   * seccomp user-notify (requires `unshare: ['pid']` and runInSandbox's `onNotify`): the
   * listed syscall groups stop in the kernel until the server's verdict (exec: execve,
   * execveat; signal: kill, tkill, tgkill, rt_(tg)sigqueueinfo, pidfd_send_signal; delete:
   * unlink(at), rmdir, rename(at/at2)). A CONTINUE verdict is not a security boundary
   * (the caller's memory can change after the check): hard denies belong in Landlock and
   * the deny-list. Protocol: native/launcher.c.
   */
  notify?: NotifyGroup[];
  /**
   * How notified calls reach the supervisor: seccomp user-notify (default), or ptrace where a
   * listener can't be installed (the filter returns SECCOMP_RET_TRACE and the supervisor, the
   * command tree's tracer, answers the same requests: native/tracer.c).
   */
  notifyVia?: 'seccomp' | 'ptrace';
  /**
   * With notify exec: the programs the server decides (lower-case basenames and absolute
   * paths). Other execs run at once and are reported as `notice` lines (audit only). The
   * server must list every name a rule could refuse or condition; absent = ask for all.
   */
  notifyAsk?: string[];
  pdeathsig?: boolean;
  /**
   * vm.memfd_noexec=2 inside the new pid namespace (requires `unshare: ['pid']`): memfds
   * can't be executed. Landlock does not govern memfds, so this closes the "write bytes to
   * a memfd and exec it" route around the exec grants.
   */
  memfdNoexec?: boolean;
  /** Inherited descriptors (>= 3) that stay open in the command; all others are closed on exec. */
  keepFds?: number[];
  /**
   * With `unshare: ['user']`: 'root' (default) maps the caller to uid/gid 0 inside,
   * 'identity' keeps the caller's own uid/gid (an unprivileged caller stays itself).
   */
  userMap?: 'root' | 'identity';
  /** Bring `lo` up in the new network namespace (requires `unshare: ['net']`). */
  netLo?: boolean;
  /**
   * Listeners on 127.0.0.1 inside the new network namespace (requires `unshare: ['net',
   * 'pid']` and netLo) whose traffic the outer launcher carries to the unix socket
   * `socket`, preceded by the line `hello` (tcp: a stream; udp: each datagram as one
   * length-framed message, the first framed answer goes back). See native/relay.c.
   */
  relays?: Array<{ proto: 'tcp' | 'udp'; port: number; socket: string; hello: string }>;
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
const FS_RIGHT_NAMES: ReadonlySet<string> = new Set<FsRight>(['read', 'read_dir', 'write', 'create', 'remove', 'exec', 'truncate', 'refer']);

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
  if (plan.userMap) line('user_map', plan.userMap);
  if (plan.netLo) line('net_lo');
  if ((plan.relays?.length ?? 0) > 8) throw new Error(`plan: at most 8 relays, got ${plan.relays!.length}`);
  for (const r of plan.relays ?? []) {
    if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535) throw new Error(`plan: relay port must be 1..65535, got ${r.port}`);
    if (!r.hello || /[\n]/.test(r.hello)) throw new Error(`plan: relay hello must be one non-empty line`);
    lines.push(['relay', `${r.proto}:${r.port}`, escapePlanValue(absolute('relay socket', r.socket)), escapePlanValue(r.hello)].join('\t'));
  }
  if (plan.hostname !== undefined) line('hostname', plan.hostname);
  const mounts = (plan.mounts ?? []).map((m, i) => ({ m, i }))
    .sort((a, b) => depth(mountPath(a.m)) - depth(mountPath(b.m)) || a.i - b.i).map((x) => x.m);
  for (const m of mounts) {
    if (m.kind === 'bind') {
      const opts = [m.noexec ? 'noexec' : '', m.optional ? 'optional' : ''].filter(Boolean).join(',');
      const key = m.mode === 'ro' ? 'bind_ro' : 'bind_rw';
      absolute('bind path', m.path);
      if (m.source !== undefined && m.source !== m.path) // 4th field; OPTS may then be empty
        lines.push([key, m.path, opts, absolute('bind source', m.source)].map((v, i) => (i ? escapePlanValue(v) : v)).join('\t'));
      else line(key, m.path, opts || undefined);
    } else if (m.kind === 'overlay') {
      if (m.layers.length < 2) throw new Error(`plan: overlay ${m.path} needs at least two layers (overlayfs without an upper layer)`);
      for (const l of m.layers) if (/[:,\\]/.test(absolute('overlay layer', l))) throw new Error(`plan: overlay layer ${JSON.stringify(l)} contains ':', ',' or '\\'`);
      lines.push(['overlay', escapePlanValue(absolute('overlay path', m.path)), m.noexec ? 'noexec' : '', escapePlanValue(m.layers.join(':'))].join('\t'));
    } else if (m.kind === 'symlink') {
      if (!m.target) throw new Error(`plan: symlink ${m.path} needs a target`);
      line('symlink', absolute('symlink path', m.path), m.target);
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
  if ((plan.cgroups?.length ?? 0) > 8) throw new Error(`plan: at most 8 cgroups, got ${plan.cgroups!.length}`);
  for (const p of plan.cgroups ?? []) line('cgroup', absolute('cgroup path', p));
  const ll = plan.landlock;
  if (ll) {
    for (const p of ll.ro ?? []) line('landlock_ro', absolute('landlock path', p));
    for (const p of ll.rw ?? []) line('landlock_rw', absolute('landlock path', p));
    for (const p of ll.exec ?? []) line('landlock_exec', absolute('landlock path', p));
    for (const r of ll.rules ?? []) {
      const bad = r.rights.find((x) => !FS_RIGHT_NAMES.has(x));
      if (!r.rights.length || bad !== undefined) throw new Error(`plan: landlock rule ${r.path}: rights must be a non-empty list of ${[...FS_RIGHT_NAMES].join(', ')}, got ${JSON.stringify(r.rights)}`);
      line('landlock', absolute('landlock path', r.path), [...new Set(r.rights)].join(','));
    }
    if (ll.scope?.length) line('landlock_scope', ll.scope.join(','));
    for (const what of ['connect', 'bind'] as const) {
      const ports = ll.tcp?.[what];
      if (!ports) continue;
      for (const p of ports) if (!Number.isInteger(p) || p < 0 || p > 65535) throw new Error(`plan: landlock tcp ${what} port must be 0..65535, got ${p}`);
      line('landlock_tcp', what, ports.join(',') || undefined);
    }
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
  if (plan.notify?.length) {
    const bad = plan.notify.find((g) => !NOTIFY_GROUPS.includes(g));
    if (bad !== undefined) throw new Error(`plan: notify groups are ${NOTIFY_GROUPS.join(', ')}, got ${JSON.stringify(bad)}`);
    line('notify', [...new Set(plan.notify)].join(','));
    if (plan.notifyVia === 'ptrace') line('notify_via', 'ptrace');
    if (plan.notifyAsk) {
      const bad = plan.notifyAsk.find((n) => !n || n.includes(',') || /[^\x21-\x7e]/.test(n));
      if (bad !== undefined) throw new Error(`plan: notifyAsk names must be printable ASCII without ',' or spaces, got ${JSON.stringify(bad)}`);
      line('notify_ask', plan.notifyAsk.length ? plan.notifyAsk.join(',') : '/');
    }
  }
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

// ----------------------------------------------------------------------------- notify
// seccomp user-notify (plan `notify`): the launcher writes one `notify ID ...` request line
// per stopped syscall on the report descriptor and waits for one `verdict ID ...` line back
// on the same socket. Wire format: native/launcher.c (authoritative).

export type NotifyGroup = 'exec' | 'signal' | 'delete';
export const NOTIFY_GROUPS: readonly NotifyGroup[] = ['exec', 'signal', 'delete'];

/**
 * One stopped syscall. `id` is the kernel's 64-bit notification id (decimal). pids are as
 * the launcher (outside the sandbox) sees them, except a signal's `target`, which is the
 * value the caller passed (a pid of the sandbox's namespace; for tgkill the tid; for
 * pidfd_send_signal the pidfd's process in the caller's namespace, 0 if not visible, -1 if
 * gone). `pid` is the calling thread. Paths are absolute in the sandbox's view (relative
 * ones joined to the cwd or the dirfd, not normalised: `..` and symlinks stay). Strings are
 * decoded as UTF-8 (a non-UTF-8 byte becomes U+FFFD).
 */
export type Notification =
  | { kind: 'exec'; id: string; pid: number; ancestors: number[]; path: string; cwd: string; argv: string[] }
  | { kind: 'signal'; id: string; pid: number; syscall: string; target: number; signal: number }
  | { kind: 'unlink' | 'rmdir'; id: string; pid: number; path: string }
  | { kind: 'rename'; id: string; pid: number; src: string; dst: string; flags: number };

/**
 * The server's answer. `trash` (delete requests only) renames `src` into `dir` as `name`
 * (RENAME_NOREPLACE, no symlink followed in either path, in the server's mount namespace:
 * `dir` may be hidden from the sandbox but must be on the same mount as `src`; `src` is
 * moved only when its parent is the same directory in the sandbox's view and writable
 * there, else `trash-failed ... EXDEV/EROFS`) and then answers 0 (`value0`: unlink/rmdir)
 * or lets the call run (`continue`: a rename whose existing destination was just moved
 * away). The move has the launcher's privileges (no Landlock): answer it only where the
 * policy grants the delete. A failed move refuses the call (EPERM; EISDIR, ENOTDIR or
 * ENOTEMPTY where the kernel would have said so).
 */
export type Verdict =
  | { kind: 'continue' }
  | { kind: 'errno'; errno: number }
  | { kind: 'value'; value: number | bigint }
  | { kind: 'trash'; src: string; dir: string; name: string; then: 'value0' | 'continue' };

/** The launcher's notify facts (they are also kept in the report's `lines`). */
export type NotifyFact =
  | { kind: 'notify-refused'; id: string; reason: string }
  | { kind: 'trashed'; id: string }
  | { kind: 'trash-failed'; id: string; errno: string }
  | { kind: 'notify-error'; words: string[] };

export const VERDICT_EPERM: Verdict = { kind: 'errno', errno: 1 };

/** A report word: the plan escaping plus the space as `\x20`. */
export function escapeReportWord(s: string): string {
  return escapePlanValue(s).replace(/ /g, '\\x20');
}

const INT = /^-?\d+$/;
const intOf = (s: string | undefined): number => {
  if (s === undefined || !INT.test(s)) throw new Error(`not an integer: ${JSON.stringify(s)}`);
  return Number(s);
};

/** Parses one `notify ...` request line (without its newline); undefined if malformed. */
export function parseNotification(line: string): Notification | undefined {
  const w = line.split(' ').map(unescapeReportValue);
  if (w[0] !== 'notify' || !/^\d+$/.test(w[1] ?? '')) return undefined;
  const id = w[1]!;
  try {
    switch (w[2]) {
      case 'exec':
        if (w.length < 7) return undefined;
        return { kind: 'exec', id, pid: intOf(w[3]), ancestors: w[4] ? w[4].split(',').map(intOf) : [], path: w[5]!, cwd: w[6]!, argv: w.slice(7) };
      case 'signal':
        if (w.length !== 7) return undefined;
        return { kind: 'signal', id, pid: intOf(w[3]), syscall: w[4]!, target: intOf(w[5]), signal: intOf(w[6]) };
      case 'unlink':
      case 'rmdir':
        if (w.length !== 5) return undefined;
        return { kind: w[2], id, pid: intOf(w[3]), path: w[4]! };
      case 'rename':
        if (w.length !== 7) return undefined;
        return { kind: 'rename', id, pid: intOf(w[3]), src: w[4]!, dst: w[5]!, flags: intOf(w[6]) };
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

/** Parses a notify fact line (`notify-refused`, `trashed`, `trash-failed`, `notify-error`). */
export function parseNotifyFact(line: string): NotifyFact | undefined {
  const w = line.split(' ').map(unescapeReportValue);
  switch (w[0]) {
    case 'notify-refused': return { kind: 'notify-refused', id: w[1] ?? '', reason: w[2] ?? '' };
    case 'trashed': return { kind: 'trashed', id: w[1] ?? '' };
    case 'trash-failed': return { kind: 'trash-failed', id: w[1] ?? '', errno: w[2] ?? '' };
    case 'notify-error': return { kind: 'notify-error', words: w.slice(1) };
    default: return undefined;
  }
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The verdict line for request `id` (with its newline). Throws on an invalid verdict. */
export function serializeVerdict(id: string, v: Verdict): string {
  if (!/^\d+$/.test(id)) throw new Error(`verdict: bad id ${JSON.stringify(id)}`);
  const words = ['verdict', id];
  switch (v.kind) {
    case 'continue': words.push('continue'); break;
    case 'errno':
      if (!Number.isInteger(v.errno) || v.errno < 1 || v.errno > 4095) throw new Error(`verdict: errno must be 1..4095, got ${v.errno}`);
      words.push('errno', String(v.errno));
      break;
    case 'value': {
      const b = typeof v.value === 'bigint' ? v.value : Number.isSafeInteger(v.value) ? BigInt(v.value) : undefined;
      if (b === undefined || b < INT64_MIN || b > INT64_MAX) throw new Error(`verdict: value must be a 64-bit integer, got ${v.value}`);
      words.push('value', b.toString());
      break;
    }
    case 'trash':
      if (!v.src.startsWith('/') || !v.dir.startsWith('/')) throw new Error('verdict: trash src and dir must be absolute');
      if (!v.name || v.name.includes('/') || v.name === '.' || v.name === '..') throw new Error(`verdict: bad trash name ${JSON.stringify(v.name)}`);
      if (v.then !== 'value0' && v.then !== 'continue') throw new Error(`verdict: trash then must be value0 or continue`);
      words.push('trash', escapeReportWord(v.src), escapeReportWord(v.dir), escapeReportWord(v.name), v.then);
      break;
    default:
      throw new Error(`verdict: unknown kind ${JSON.stringify((v as { kind?: unknown }).kind)}`);
  }
  return words.join(' ') + '\n';
}

export interface NotifyHandlers {
  onNotify: (n: Notification) => Promise<Verdict> | Verdict;
  /** An exec that ran without asking (not on the plan's `notifyAsk` list): no answer expected. */
  onNotice?: (n: Notification) => void;
  onNotifyFact?: (f: NotifyFact) => void;
  /** A handler slower than this is answered EPERM (default: no limit). */
  notifyTimeoutMs?: number;
}

/**
 * Reads the launcher's report from the (bidirectional) report socket, answering requests
 * with `h.onNotify`, strictly one at a time in arrival order. A handler that throws,
 * rejects, times out or returns an invalid verdict is answered EPERM (errno 1). The
 * request and notice lines are not kept in the report (they go to the handlers); every
 * other line, including the notify facts, is.
 */
export function readReportWithNotify(sock: Duplex, h: NotifyHandlers): Promise<LauncherReport> {
  return new Promise<LauncherReport>((resolve) => {
    const kept: Buffer[] = [];
    let partial: Buffer = Buffer.alloc(0);
    let chain: Promise<void> = Promise.resolve();
    const answer = (id: string, decide: () => Promise<Verdict> | Verdict) => {
      chain = chain.then(async () => {
        let line: string;
        let timer: NodeJS.Timeout | undefined;
        try {
          const decision = Promise.resolve().then(decide);
          const v = h.notifyTimeoutMs === undefined ? await decision : await Promise.race([
            decision,
            new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error('notify handler timed out')), h.notifyTimeoutMs); }),
          ]);
          line = serializeVerdict(id, v);
        } catch {
          line = serializeVerdict(id, VERDICT_EPERM);
        } finally {
          if (timer) clearTimeout(timer);
        }
        if (!sock.destroyed && sock.writable) sock.write(line, () => { /* a gone launcher: its report says so */ });
      });
    };
    const onLine = (line: Buffer) => {
      if (line.length >= 7 && line.toString('latin1', 0, 7) === 'notify ') {
        const text = line.toString('utf8');
        const n = parseNotification(text);
        const id = text.split(' ')[1] ?? '';
        if (n) answer(n.id, () => h.onNotify(n));
        else if (/^\d+$/.test(id)) answer(id, () => VERDICT_EPERM); // unparseable: refused
        return;
      }
      if (line.length >= 7 && line.toString('latin1', 0, 7) === 'notice ') {
        // Same words as a request; the call already continued.
        const n = parseNotification(`notify ${line.toString('utf8', 7)}`);
        if (n && h.onNotice) try { h.onNotice(n); } catch { /* audit callbacks never block the command */ }
        return;
      }
      kept.push(line, Buffer.from('\n'));
      if (h.onNotifyFact) {
        const f = parseNotifyFact(line.toString('utf8'));
        if (f) try { h.onNotifyFact(f); } catch { /* audit callbacks never block the command */ }
      }
    };
    sock.on('data', (c: Buffer) => {
      const buf = partial.length ? Buffer.concat([partial, c]) : c;
      let start = 0;
      for (let nl = buf.indexOf(10, start); nl >= 0; nl = buf.indexOf(10, start)) {
        onLine(buf.subarray(start, nl));
        start = nl + 1;
      }
      partial = Buffer.from(buf.subarray(start));
    });
    const done = () => resolve(parseReport(Buffer.concat([...kept, partial]).toString('utf8')));
    sock.on('error', done);
    sock.on('close', done);
  });
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
  /**
   * Decides each syscall stopped by the plan's `notify` (required with it), one at a time;
   * a throw or rejection answers EPERM. The report then omits the `notify` request lines.
   */
  onNotify?: NotifyHandlers['onNotify'];
  /** `trashed`, `trash-failed`, `notify-refused`, `notify-error` as they happen (audit). */
  onNotifyFact?: NotifyHandlers['onNotifyFact'];
  /** Answer EPERM when onNotify takes longer than this (default: no limit). */
  notifyTimeoutMs?: number;
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
  if (plan.notify?.length && !opts.onNotify) throw new Error('runInSandbox: plan.notify needs opts.onNotify (the server decides every notified syscall)');
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
  const onNotify = opts.onNotify;
  if (onNotify && reportPipe) {
    child.report = readReportWithNotify(reportPipe as Duplex, {
      onNotify,
      ...(opts.onNotifyFact ? { onNotifyFact: opts.onNotifyFact } : {}),
      ...(opts.notifyTimeoutMs !== undefined ? { notifyTimeoutMs: opts.notifyTimeoutMs } : {}),
    });
    return child;
  }
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
