// The session sandbox for one governed command: the server's decisions compiled into the
// launcher's PLAN (native/launcher.c applies it, deciding nothing).
//
// The view: every top-level directory of the server's `/` bound read-only at its own path
// (so absolute and relative paths name the same files as outside), the areas the policy lets
// the agent write bound read-write at their real paths (the workspace among them), a
// per-session /tmp, a minimal /dev, a fresh /proc of the command's own pid namespace, and the
// server's own state (run dir, audit log, trash, session dirs) covered by empty read-only
// tmpfs — whatever the policy says about those paths, the agent cannot reach the control
// plane. On top: Landlock from the policy's file and command rules (compileFsPlan), the
// seccomp deny-list, user-notify for exec/signals/deletes, no_new_privs, no capabilities.
import { lstatSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { posix } from 'node:path';
import type { FsPlan, FsRight } from './fs-plan.js';
import { isBelow } from './fs-plan.js';
import type { MountStep, Plan } from './launcher.js';

export interface SessionPlanInput {
  fs: FsPlan;
  workspace: string;
  cwd: string;
  /** Host directory bound at /tmp (per session, so files survive between commands); null: a fresh tmpfs. */
  tmpDir: string | null;
  /** Directories covered by an empty read-only tmpfs (the control plane's files). */
  hidden: string[];
  /** Files inside hidden directories bound back at their own path (the shim socket, the server's pid-namespace id). */
  exposed: string[];
  uid?: number;
  gid?: number;
  /** The server is not root: a user namespace keeps its uid (identity map) and gives the mount rights. */
  userns: boolean;
  /** seccomp user-notify groups (the supervisor asks the server). */
  notify: Array<'exec' | 'signal' | 'delete'>;
  /** How notified calls reach the supervisor (ptrace where a seccomp listener can't be had). */
  notifyVia?: 'seccomp' | 'ptrace';
  /**
   * The directory bound at the workspace's real path instead of the workspace itself: the FUSE
   * view (src/fuse), which applies file_rules per operation where nothing intercepts deletes.
   */
  workspaceSource?: string;
  /** Descriptors the command keeps (the governed marker). */
  keepFds: number[];
  /** An empty file with mode 0000 bound (read-only, noexec) over every `fs.masked` path. */
  maskSource: string;
  /**
   * The session network: a network namespace of its own with loopback and these relays (the
   * proxy, the DNS stub) as the only ways out, and /etc/resolv.conf replaced by `resolvConf`.
   * Absent: the command shares the server's network.
   */
  network?: { relays: NonNullable<Plan['relays']>; resolvConf: string };
  /** Merged last (resource limits). */
  extra?: Partial<Plan>;
  /** The server's root (tests); default '/'. */
  root?: string;
}

/** Devices a command may open; everything else in /dev does not exist inside. */
export const SANDBOX_DEVICES = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty'];
const DEV_LINKS: Array<[string, string]> = [
  ['/dev/fd', '/proc/self/fd'],
  ['/dev/stdin', '/proc/self/fd/0'],
  ['/dev/stdout', '/proc/self/fd/1'],
  ['/dev/stderr', '/proc/self/fd/2'],
];
/** Top-level directories the plan builds itself instead of binding the server's. */
const OWN_TOP = new Set(['proc', 'dev', 'tmp']);
const WRITE_RIGHTS: readonly FsRight[] = ['write', 'create', 'remove', 'truncate', 'refer'];

const under = (p: string, dir: string) => p === dir || isBelow(p, dir);

export function buildSessionPlan(input: SessionPlanInput): Plan {
  const root = input.root ?? '/';
  const hidden = [...new Set(input.hidden.map((p) => posix.resolve(p)))].filter((p) => exists(root, p, 'dir'));
  const mounts: MountStep[] = [];

  for (const name of readdirSync(root).sort()) {
    if (OWN_TOP.has(name)) continue;
    mounts.push({ kind: 'bind', path: `/${name}`, mode: 'ro', optional: true });
  }
  // Writable areas: where the policy grants a write-type right, the mount must be writable
  // too (Landlock then decides file by file). Areas below others are covered by them.
  // Areas under /tmp, /dev, /proc are the sandbox's own — except the workspace, which is
  // always the real one, at its real path, wherever it lies (a workspace under /tmp gets
  // its mount point inside the session's /tmp).
  const ws = posix.resolve(input.workspace);
  const writable = writableAreas(input.fs, input.workspace).filter(
    (p) => !under(p, '/tmp') && !under(p, '/dev') && !under(p, '/proc') && !hidden.some((h) => under(p, h)),
  );
  if (!writable.some((p) => under(ws, p))) writable.push(ws);
  for (const p of writable) if (exists(root, p)) mounts.push({ kind: 'bind', path: p, mode: 'rw' });
  // After every area above it (a workspace below a writable area is bound again, over it).
  if (input.workspaceSource) mounts.push({ kind: 'bind', path: ws, source: input.workspaceSource, mode: 'rw' });

  mounts.push({ kind: 'tmpfs', path: '/dev', mode: 0o755, sizeBytes: 1 << 20 });
  for (const d of SANDBOX_DEVICES) mounts.push({ kind: 'bind', path: d, mode: 'rw', optional: true });
  for (const [path, target] of DEV_LINKS) mounts.push({ kind: 'symlink', path, target });
  mounts.push({ kind: 'tmpfs', path: '/dev/shm', mode: 0o1777 });
  mounts.push(input.tmpDir ? { kind: 'bind', path: '/tmp', source: input.tmpDir, mode: 'rw' } : { kind: 'tmpfs', path: '/tmp', mode: 0o1777 });
  mounts.push({ kind: 'proc' });
  if (input.network) mounts.push({ kind: 'bind', path: '/etc/resolv.conf', source: input.network.resolvConf, mode: 'ro' });
  // Denied binaries and read-denied files inside granted directories: hidden by an empty,
  // unreadable, non-executable file (what Landlock would otherwise need per-file grants for).
  for (const m of input.fs.masked) mounts.push({ kind: 'bind', path: m, source: input.maskSource, mode: 'ro', noexec: true, optional: true });
  for (const h of hidden) mounts.push({ kind: 'tmpfs', path: h, mode: 0o555, sizeBytes: 64 << 10 });
  for (const e of input.exposed) if (hidden.some((h) => isBelow(e, h)) && exists(root, e)) mounts.push({ kind: 'bind', path: e, mode: 'rw' });

  const plan: Plan = {
    pdeathsig: true,
    unshare: [...(input.userns ? ['user' as const] : []), 'mount', 'pid', 'ipc', 'uts', ...(input.network ? ['net' as const] : [])],
    ...(input.network ? { netLo: true, relays: input.network.relays } : {}),
    ...(input.userns ? { userMap: 'identity' as const } : {}),
    // The sysctl is writable only with real privileges: an unprivileged server can't set it
    // (memfd exec then stays possible; every exec is still checked by user-notify).
    ...(input.userns ? {} : { memfdNoexec: true }),
    // The server's own name: inside a provider's image that is the sandbox id, as in Daytona.
    hostname: hostname(),
    mounts,
    chdir: input.cwd,
    landlock: { rules: landlockRules(input.fs, hidden), scope: ['signal', 'abstract_unix'] },
    ...(input.gid !== undefined ? { gid: input.gid } : {}),
    ...(input.uid !== undefined ? { uid: input.uid } : {}),
    dropCaps: true,
    noNewPrivs: true,
    seccomp: 'deny-list',
    ...(input.notify.length ? { notify: input.notify, ...(input.notifyVia === 'ptrace' ? { notifyVia: 'ptrace' as const } : {}) } : {}),
    keepFds: input.keepFds,
    ...input.extra,
  };
  return plan;
}

/** The Landlock rules: the fs plan's grants, minus what the sandbox replaced (devices it does not provide, hidden state). */
function landlockRules(fs: FsPlan, hidden: string[]): Array<{ path: string; rights: FsRight[] }> {
  const rules: Array<{ path: string; rights: FsRight[] }> = [];
  for (const g of fs.grants) {
    if (under(g.path, '/dev') && g.path !== '/dev' && ![...SANDBOX_DEVICES, '/dev/shm'].some((d) => under(d, g.path) || under(g.path, d))) continue;
    // A grant on a hidden directory (or below it) would name the empty tmpfs: harmless, but noise.
    if (hidden.some((h) => under(g.path, h))) continue;
    rules.push({ path: g.path, rights: g.rights });
  }
  return rules;
}

/** The smallest set of paths that must be on writable mounts for the plan's write grants to mean anything. */
export function writableAreas(fs: FsPlan, workspace: string): string[] {
  const paths = fs.grants.filter((g) => g.rights.some((r) => WRITE_RIGHTS.includes(r))).map((g) => g.path);
  paths.push(posix.resolve(workspace));
  const sorted = [...new Set(paths)].sort((a, b) => a.length - b.length);
  const out: string[] = [];
  for (const p of sorted) if (!out.some((o) => under(p, o))) out.push(p);
  return out.sort();
}

function exists(root: string, p: string, type?: 'dir'): boolean {
  try {
    const st = lstatSync(root === '/' ? p : posix.join(root, p));
    return type === 'dir' ? st.isDirectory() : true;
  } catch {
    return false;
  }
}
