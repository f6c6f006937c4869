// The FUSE workspace daemon: one process per session, started by workspace-view.ts. It mounts a
// passthrough of the real workspace at a mountpoint in the server's hidden run area; the
// launcher binds that mountpoint over the workspace's real path inside each command's mount
// namespace, so every path a command uses for the workspace (relative or absolute) comes here.
// Each operation is decided by the session's own policy (compiled here from the same file and
// variables as the server's engine): deny → EACCES, soft_delete → moved to the trash, audit →
// allowed and reported.
//
// Why a separate process: fuse-native runs every callback on the JS main thread, so a server
// that touched the mount synchronously would deadlock itself; and a crashed daemon fails
// closed (the kernel answers ENOTCONN on the mount) instead of taking the server down.
//
// Protocol: one JSON config line on stdin (stdin then stays open: EOF means the server is gone,
// and the daemon unmounts and exits). JSON lines on stdout: {"t":"ready"}, {"t":"audit",
// "event":…}, {"t":"trashed",…}, {"t":"error","message"}. SIGTERM: unmount, exit 0.
//
// The daemon runs as root and acts on the real files, so it must never be steered outside the
// workspace by a symlink. libfuse hands over paths whose components the kernel looked up as
// directories in the command's view, but another writer of the real tree (a second session
// whose workspace contains this one, a process on the host) can swap a component for a symlink
// between that lookup and our call. Node has no openat2, so directories are reached from a
// descriptor pinned on the workspace root (`/proc/self/fd/N/...`, O_PATH) and accepted only if
// the kernel's own name for what was opened (readlink of /proc/self/fd/M) is exactly the
// expected path: a symlink on the way changes it and the operation is refused. The final
// component is never followed (O_NOFOLLOW, l* calls, or calls that don't follow by
// definition: unlink, rename, mkdir, link, symlink), and it is named relative to the checked
// directory (see Tree), never re-resolved from the root.
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync, constants as FS, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, lchownSync, linkSync, lstatSync,
  lutimesSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, realpathSync, renameSync, rmdirSync,
  chmodSync, chownSync, fchownSync, statfsSync, utimesSync, statSync, symlinkSync, unlinkSync, writeSync, type Stats,
} from 'node:fs';
import { createRequire } from 'node:module';
import { constants as OS } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compilePolicy } from '../policy/compile.js';
import { stricter, type PolicyDecision } from '../policy/decision.js';
import { PolicyEngine } from '../policy/engine.js';
import { loadPolicyFile } from '../policy/load.js';
import { trashFull as defaultTrashFull } from '../trash/space.js';
import { newTrashToken } from '../trash/token.js';

/** agentsh's sandbox.fuse.audit.mode: what happens to destructive operations the policy allows. */
export type FuseAuditMode = 'monitor' | 'soft_block' | 'soft_delete' | 'strict';

export interface DaemonConfig {
  /** The real workspace directory (what is served). */
  source: string;
  /** Where the view is mounted (the server's hidden run area). */
  mountpoint: string;
  /** The workspace as commands see it: policy paths are workspace + the path in the view. */
  workspace: string;
  policyFile: string;
  /** Session variables the policy is compiled with (the server's session.engine.policy.vars). */
  vars: Record<string, string>;
  /** Where soft-deleted files go (same filesystem as the workspace); null: soft delete refuses. */
  trashDir: string | null;
  auditMode?: FuseAuditMode;
  /** sandbox.fuse.audit.enabled: events for allowed writes/creates/deletes (denials are always reported). */
  auditAllowed?: boolean;
  /** approvals.when_unavailable: the daemon has no approver, so `approve` rules resolve this way. */
  whenUnavailable?: 'deny' | 'allow';
  /** Owner given to created files; default: the owner of the directory they are created in. */
  owner?: { uid: number; gid: number } | null;
}

export interface FuseAuditEvent {
  type: string;
  decision: string;
  policy_decision?: string;
  rule: string;
  message?: string;
  fields: Record<string, unknown>;
}

export type DaemonLine =
  | { t: 'ready' }
  | { t: 'audit'; event: FuseAuditEvent }
  | { t: 'trashed'; token: string; path: string; rule: string; parentMtimeNs?: string }
  | { t: 'error'; message: string };

// ------------------------------------------------------------------------------ fuse-native

type Cb = (...args: unknown[]) => void;
interface FuseInstance {
  mount(cb: (err?: Error | null) => void): void;
}
type FuseCtor = new (mnt: string, ops: Record<string, Cb>, opts: Record<string, unknown>) => FuseInstance;

const O_PATH = 0o10000000;
const { O_NOFOLLOW, O_DIRECTORY, O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_APPEND, O_NONBLOCK, O_SYNC, O_DSYNC } = FS;
const O_ACCMODE = 3;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFIFO = 0o010000;
/** libfuse's name for a file unlinked while open (it renames it instead: no hard_remove, see mountOptions). */
const HIDDEN_RE = /^\.fuse_hidden[0-9a-f]{16}$/;

const errno = (name: keyof typeof OS.errno) => -OS.errno[name];
const ENOENT = errno('ENOENT');
const EACCES = errno('EACCES');
const EPERM = errno('EPERM');
const EIO = errno('EIO');
const EINVAL = errno('EINVAL');
const EISDIR = errno('EISDIR');
const ENOTDIR = errno('ENOTDIR');
const ENOTEMPTY = errno('ENOTEMPTY');
const ELOOP = errno('ELOOP');
const ENOSPC = errno('ENOSPC');

class Errno extends Error {
  constructor(readonly code: number, message = '') {
    super(message);
  }
}

/** The negative errno fuse-native expects for an error thrown by an operation. */
export function toErrno(e: unknown): number {
  if (e instanceof Errno) return e.code;
  const code = (e as NodeJS.ErrnoException)?.code;
  const n = code && (OS.errno as Record<string, number>)[code];
  return n ? -n : EIO;
}

// --------------------------------------------------------------------------- the real tree

/**
 * Safe access to the real workspace: every directory is entered by a path checked to contain
 * no symlink (see the top), and single-path operations then use a bare name relative to the
 * process's working directory: the kernel resolves it from that directory's inode, exactly as
 * the *at() calls Node lacks would, and without walking /proc for each call (≈ 5 µs a walk).
 * Consecutive operations in one directory (creating, listing and stat-ing its entries) enter
 * it once. A directory renamed or removed through the view drops the cache; one moved by
 * another writer of the real tree keeps being used by inode, i.e. never via a symlink.
 */
/** The working directory is the process's: which tree and directory it was last set to. */
let cwd: { tree: Tree; rel: string } | null = null;

class Tree {
  readonly rootFd: number;
  readonly rootProc: string;
  readonly rootReal: string;

  constructor(source: string) {
    this.rootFd = openSync(source, O_PATH | O_DIRECTORY);
    this.rootProc = `/proc/self/fd/${this.rootFd}`;
    this.rootReal = readlinkSync(this.rootProc);
    if (this.rootReal !== realpathSync(source)) throw new Error(`/proc/self/fd does not name ${source} (${this.rootReal}): the daemon needs the /proc of its own pid namespace`);
  }

  real(rel: string): string {
    return rel === '/' ? this.rootReal : this.rootReal === '/' ? rel : this.rootReal + rel;
  }

  private verify(fd: number, rel: string): void {
    if (readlinkSync(`/proc/self/fd/${fd}`) !== this.real(rel)) throw new Errno(ELOOP, `${rel}: a component is not the directory the view looked up`);
  }

  /** After a rename or a directory removal through the view: the cached directory may have moved. */
  invalidate(): void {
    if (cwd?.tree === this) cwd = null;
  }

  /** Makes `dirRel` the working directory, opened without following any symlink on the way. */
  private enter(dirRel: string): void {
    if (cwd?.tree === this && cwd.rel === dirRel) return;
    cwd = null;
    if (dirRel === '/') {
      process.chdir(this.rootProc);
    } else {
      const fd = openSync(this.rootProc + dirRel, O_PATH | O_DIRECTORY);
      try {
        this.verify(fd, dirRel);
        process.chdir(`/proc/self/fd/${fd}`);
      } finally {
        closeSync(fd);
      }
    }
    cwd = { tree: this, rel: dirRel };
  }

  /** The directory holding `rel` as '.', and the final name: `${dir}/${name}` is relative to it. */
  parent<T>(rel: string, fn: (dir: string, name: string) => T): T {
    const i = rel.lastIndexOf('/');
    const name = rel.slice(i + 1);
    if (!name) throw new Errno(EINVAL);
    this.enter(rel.slice(0, i) || '/');
    return fn('.', name);
  }

  /** As parent(), but as a /proc path that stays valid while another path is in use (rename, link). */
  parentProc<T>(rel: string, fn: (dir: string, name: string) => T): T {
    const i = rel.lastIndexOf('/');
    const dirRel = rel.slice(0, i) || '/';
    const name = rel.slice(i + 1);
    if (!name) throw new Errno(EINVAL);
    if (dirRel === '/') return fn(this.rootProc, name);
    const fd = openSync(this.rootProc + dirRel, O_PATH | O_DIRECTORY);
    try {
      this.verify(fd, dirRel);
      return fn(`/proc/self/fd/${fd}`, name);
    } finally {
      closeSync(fd);
    }
  }

  /** Opens `rel` itself (O_PATH, never following it); fn gets a /proc path pinned to it. */
  node<T>(rel: string, fn: (proc: string, st: Stats) => T): T {
    if (rel === '/') return fn(this.rootProc, fstatSync(this.rootFd));
    const fd = this.parent(rel, (dir, name) => openSync(`${dir}/${name}`, O_PATH | O_NOFOLLOW));
    try {
      return fn(`/proc/self/fd/${fd}`, fstatSync(fd));
    } finally {
      closeSync(fd);
    }
  }

  /** A directory itself as '.' (listing). */
  dir<T>(rel: string, fn: (dir: string) => T): T {
    this.enter(rel);
    return fn('.');
  }
}

// ------------------------------------------------------------------------------ reporting

type Emit = (line: DaemonLine) => void;

/**
 * Audit events: every denial, audit decision and soft delete; allowed mutations (creates,
 * writes, deletes, renames …) too, but through a token bucket whose overflow becomes one
 * summary per second, and identical events within a second are reported once (a `ls -l` over
 * a denied directory, a build rewriting the same file).
 */
const EVENT_RATE = 500;
const EVENT_BURST = 1000;

class Reporter {
  private tokens = EVENT_BURST;
  private last = Date.now();
  private suppressed = new Map<string, number>();
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly emit: Emit,
    private readonly allowedEvents: boolean,
  ) {
    setInterval(() => this.flush(), 1000).unref();
  }

  event(kind: 'security' | 'allowed', operation: string, path: string, d: Pick<PolicyDecision, 'decision' | 'policyDecision' | 'rule' | 'message'>, extra: Record<string, unknown> = {}, type = 'file'): void {
    if (kind === 'allowed' && !this.allowedEvents) return;
    const now = Date.now();
    const key = `${type}\0${operation}\0${path}\0${d.decision}\0${d.rule}`;
    const seen = this.recent.get(key);
    if (seen !== undefined && now - seen < 1000) return;
    if (this.recent.size >= 4096) this.recent.clear();
    this.recent.set(key, now);
    if (kind === 'allowed') {
      this.tokens = Math.min(EVENT_BURST, this.tokens + ((now - this.last) * EVENT_RATE) / 1000);
      this.last = now;
      if (this.tokens < 1) {
        this.suppressed.set(operation, (this.suppressed.get(operation) ?? 0) + 1);
        return;
      }
      this.tokens -= 1;
    }
    this.emit({
      t: 'audit',
      event: { type, decision: d.decision, policy_decision: d.policyDecision, rule: d.rule, message: d.message, fields: { operation, path, backend: 'fuse', ...extra } },
    });
  }

  private flush(): void {
    if (this.suppressed.size === 0) return;
    const counts = Object.fromEntries(this.suppressed);
    const total = [...this.suppressed.values()].reduce((a, b) => a + b, 0);
    this.suppressed = new Map();
    this.emit({
      t: 'audit',
      event: { type: 'file_events_suppressed', decision: 'allow', rule: '', message: `${total} allowed file operation(s) in the workspace view were not reported one by one (rate limit)`, fields: { counts, backend: 'fuse' } },
    });
  }
}

// ------------------------------------------------------------------------------ the view

interface Handle {
  fd: number;
  rel: string;
  /** Opened by create: flags unknown (fuse-native does not pass them), writes checked lazily. */
  created: boolean;
  /** For a created handle: the write decision once taken (errno or 0). */
  writeErr?: number;
  wroteReported: boolean;
  /** Released; still named by a hidden name until libfuse unlinks it (right after the release). */
  closed?: boolean;
}

type Decided = { ok: true; d: PolicyDecision } | { ok: false; err: number };

const MODE_RULE = (mode: string) => `fuse-audit-mode:${mode}`;

export class WorkspaceView {
  readonly tree: Tree;
  private readonly engine: PolicyEngine;
  private readonly handles = new Map<number, Handle>();
  /** libfuse's hidden names for files unlinked while open → a handle on them. */
  private readonly hidden = new Map<string, Handle>();
  private readonly trashReal: string | null;
  /** The trash directory's path in the view when it lies inside the workspace: hidden. */
  private readonly trashRel: string | null;
  private readonly mode: FuseAuditMode;
  private readonly reporter: Reporter;

  constructor(
    private readonly cfg: DaemonConfig,
    private readonly emit: Emit,
    /** Why the trash can't take a file now, or null (the supervisor's check; tests inject it). */
    private readonly trashFull: (dir: string) => string | null = defaultTrashFull,
  ) {
    this.tree = new Tree(cfg.source);
    const loaded = loadPolicyFile(cfg.policyFile);
    this.engine = new PolicyEngine(compilePolicy(loaded, { vars: cfg.vars, env: {} }), {
      approvals: { enabled: false, whenUnavailable: cfg.whenUnavailable ?? 'deny' },
    });
    this.mode = cfg.auditMode ?? 'monitor';
    this.reporter = new Reporter(emit, cfg.auditAllowed ?? true);
    if (cfg.trashDir) {
      mkdirSync(cfg.trashDir, { recursive: true, mode: 0o700 });
      this.trashReal = realpathSync(cfg.trashDir);
      const root = this.tree.rootReal;
      if (within(root, this.trashReal)) throw new Error(`the trash ${this.trashReal} must not be or contain the workspace ${root}`);
      this.trashRel = within(this.trashReal, root) ? this.trashReal.slice(root === '/' ? 0 : root.length) : null;
    } else {
      this.trashReal = null;
      this.trashRel = null;
    }
  }

  /** The path a command uses for `rel`: what the policy is asked about. */
  private abs(rel: string): string {
    const ws = this.cfg.workspace;
    return rel === '/' ? ws : ws === '/' ? rel : ws + rel;
  }

  /** The trash (when it lies in the workspace) or something in it. */
  private isHidden(rel: string): boolean {
    const t = this.trashRel;
    return t !== null && (rel === t || rel.startsWith(`${t}/`));
  }

  /**
   * An operation on an existing node of the trash: the trash itself shows as an empty
   * directory nobody may change (what the empty read-only tmpfs over it shows in other
   * modes, and a mount point the launcher can still cover), what is in it does not exist.
   */
  private refuseHidden(rel: string): void {
    if (!this.isHidden(rel)) return;
    throw new Errno(rel === this.trashRel ? EACCES : ENOENT);
  }

  /** Policy for `ops` on `rel` (strictest wins); denials are reported and become EACCES. */
  private decide(ops: readonly string[], rel: string, operation = ops[0]!, reportAudit = true): Decided {
    const abs = this.abs(rel);
    let d = this.engine.checkFile(ops[0]!, abs);
    for (let i = 1; i < ops.length; i++) d = stricter(d, this.engine.checkFile(ops[i]!, abs));
    if (d.decision === 'allow' || d.decision === 'soft_delete') return { ok: true, d };
    if (d.decision === 'audit') {
      if (reportAudit) this.reporter.event('security', operation, abs, d);
      return { ok: true, d };
    }
    // deny, approve without an approver here, redirect (not supported by this backend)
    const msg = d.decision === 'redirect' ? `redirect is not supported by the FUSE view: refused (${d.message})` : d.message;
    this.reporter.event('security', operation, abs, { ...d, decision: 'deny', message: msg });
    return { ok: false, err: EACCES };
  }

  private allowed(operation: string, rel: string, d: PolicyDecision, extra?: Record<string, unknown>): void {
    if (d.decision === 'audit') return; // already reported by decide()
    this.reporter.event('allowed', operation, this.abs(rel), d, extra);
  }

  /** soft_block refuses destructive operations the policy allows. */
  private softBlocked(operation: string, rel: string, d: PolicyDecision): boolean {
    if (this.mode !== 'soft_block') return false;
    this.reporter.event('security', operation, this.abs(rel), { decision: 'deny', policyDecision: d.policyDecision, rule: MODE_RULE('soft_block'), message: `refused by sandbox.fuse.audit.mode soft_block (the policy's ${d.rule} allows it)` });
    return true;
  }

  private checkName(rel: string): void {
    if (rel !== '/' && (!rel.startsWith('/') || rel.includes('//') || /\/\.\.?(\/|$)/.test(rel))) throw new Errno(EINVAL, `unexpected path ${JSON.stringify(rel)}`);
  }

  /** The trash's own attributes, shown as an empty directory no one may write (root, 0555). */
  private trashStat(): Stats {
    const st = lstatSync(this.trashReal!);
    return Object.assign(st, { mode: 0o40555, uid: 0, gid: 0, nlink: 2, size: 0 });
  }

  /** Created nodes belong to the configured owner, else to the directory's owner (see docs/fuse.md). */
  private ownerFor(dir: string): { uid: number; gid: number } {
    if (this.cfg.owner) return this.cfg.owner;
    const st = statSync(dir);
    return { uid: st.uid, gid: st.gid };
  }

  // ------------------------------------------------------------------ metadata and listing

  getattr(rel: string): Stats {
    this.checkName(rel);
    const h = this.hidden.get(rel);
    if (h) {
      if (h.closed) throw new Errno(ENOENT);
      return fstatSync(h.fd);
    }
    if (rel === this.trashRel) return this.trashStat();
    if (this.isHidden(rel)) throw new Errno(ENOENT);
    // An audited stat is reported only for what exists: lookups of missing names (PATH
    // searches, imports) would otherwise flood the log.
    const g = this.decide(['stat'], rel, 'stat', false);
    if (!g.ok) throw new Errno(g.err);
    const st = rel === '/' ? fstatSync(this.tree.rootFd) : this.tree.parent(rel, (dir, name) => lstatSync(`${dir}/${name}`));
    if (g.d.decision === 'audit') this.reporter.event('security', 'stat', this.abs(rel), g.d);
    return st;
  }

  readdir(rel: string): string[] {
    this.checkName(rel);
    if (rel === this.trashRel) return [];
    if (this.isHidden(rel)) throw new Errno(ENOENT);
    const g = this.decide(['list'], rel);
    if (!g.ok) throw new Errno(g.err);
    const names = this.tree.dir(rel, (dir) => readdirSync(dir, { encoding: 'buffer' }));
    const out: string[] = [];
    for (const b of names) {
      const s = b.toString('utf8');
      // A name that is not UTF-8 cannot be named back through fuse-native (it passes paths as
      // JS strings): listing its replacement-character spelling would only mislead.
      if (Buffer.from(s, 'utf8').equals(b)) out.push(s);
    }
    return out;
  }

  readlink(rel: string): string {
    this.checkName(rel);
    this.refuseHidden(rel);
    const g = this.decide(['readlink'], rel);
    if (!g.ok) throw new Errno(g.err);
    return this.tree.parent(rel, (dir, name) => readlinkSync(`${dir}/${name}`));
  }

  access(rel: string): void {
    this.checkName(rel);
    if (rel === this.trashRel) return;
    this.refuseHidden(rel);
    const g = this.decide(['access'], rel);
    if (!g.ok) throw new Errno(g.err);
    this.tree.parent(rel, (dir, name) => lstatSync(`${dir}/${name}`));
  }

  statfs(): ReturnType<typeof statfsSync> {
    return statfsSync(this.tree.rootProc);
  }

  // ---------------------------------------------------------------------------- file I/O

  open(rel: string, flags: number): number {
    this.checkName(rel);
    this.refuseHidden(rel);
    const acc = flags & O_ACCMODE;
    const ops = acc === O_RDONLY ? ['read', 'open'] : acc === O_WRONLY ? ['write', 'open'] : ['write', 'read', 'open'];
    const g = this.decide(ops, rel, acc === O_RDONLY ? 'read' : 'write');
    if (!g.ok) throw new Errno(g.err);
    // The access mode and the flags that change how writes land; O_DIRECT would impose buffer
    // alignment on our side, O_CREAT/O_EXCL/O_TRUNC never reach open (the kernel handles them).
    const keep = acc | (flags & (O_APPEND | O_SYNC | O_DSYNC));
    const fd = this.tree.node(rel, (proc, st) => {
      if (st.isSymbolicLink()) throw new Errno(ELOOP);
      if (!st.isFile()) throw new Errno(EACCES);
      // proc is /proc/self/fd/N, a magic link to the file checked above: followed, not re-resolved.
      return openSync(proc, keep);
    });
    this.handles.set(fd, { fd, rel, created: false, wroteReported: false });
    return fd;
  }

  create(rel: string, mode: number): number {
    this.checkName(rel);
    if (this.isHidden(rel) || HIDDEN_RE.test(basename(rel))) throw new Errno(EACCES);
    const g = this.decide(['create'], rel);
    if (!g.ok) throw new Errno(g.err);
    const fd = this.tree.parent(rel, (dir, name) => {
      const fd = openSync(`${dir}/${name}`, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW, mode & 0o7777);
      try {
        const o = this.ownerFor(dir);
        fchownSync(fd, o.uid, o.gid);
      } catch (e) {
        closeSync(fd);
        throw e;
      }
      return fd;
    });
    this.allowed('create', rel, g.d);
    this.handles.set(fd, { fd, rel, created: true, wroteReported: true });
    return fd;
  }

  private handle(fd: number): Handle {
    const h = this.handles.get(fd);
    if (!h) throw new Errno(errno('EBADF'));
    return h;
  }

  /** A handle from create was opened read-write without the caller's flags: its writes are decided here. */
  private mayWrite(h: Handle): void {
    if (!h.created) {
      if (!h.wroteReported) {
        h.wroteReported = true;
        const d = this.engine.checkFile('write', this.abs(h.rel));
        this.allowed('write', h.rel, d);
      }
      return;
    }
    if (h.writeErr === undefined) {
      const g = this.decide(['write'], h.rel);
      h.writeErr = g.ok ? 0 : g.err;
    }
    if (h.writeErr) throw new Errno(h.writeErr);
  }

  read(fd: number, buf: Buffer, len: number, pos: number): number {
    return readSync(this.handle(fd).fd, buf, 0, len, pos);
  }

  write(fd: number, buf: Buffer, len: number, pos: number): number {
    const h = this.handle(fd);
    this.mayWrite(h);
    return writeSync(h.fd, buf, 0, len, pos);
  }

  ftruncate(fd: number, size: number): void {
    const h = this.handle(fd);
    this.mayWrite(h);
    ftruncateSync(h.fd, size);
  }

  fsync(fd: number, datasync: boolean): void {
    const h = this.handles.get(fd);
    if (!h) return;
    if (datasync) fdatasyncSync(h.fd);
    else fsyncSync(h.fd);
  }

  release(fd: number): void {
    const h = this.handles.get(fd);
    if (!h) return;
    this.handles.delete(fd);
    h.closed = true;
    closeSync(h.fd);
  }

  // ----------------------------------------------------------------------- metadata writes

  truncate(rel: string, size: number): void {
    this.checkName(rel);
    const hid = this.hidden.get(rel);
    if (hid) {
      if (hid.closed) throw new Errno(ENOENT);
      return ftruncateSync(hid.fd, size);
    }
    this.refuseHidden(rel);
    const g = this.decide(['write'], rel);
    if (!g.ok) throw new Errno(g.err);
    this.tree.node(rel, (proc, st) => {
      if (st.isDirectory()) throw new Errno(EISDIR);
      if (!st.isFile()) throw new Errno(EINVAL);
      const fd = openSync(proc, O_WRONLY | O_NONBLOCK);
      try {
        ftruncateSync(fd, size);
      } finally {
        closeSync(fd);
      }
    });
    this.allowed('write', rel, g.d, { truncate: size });
  }

  utimens(rel: string, atimeMs: number, mtimeMs: number): void {
    this.checkName(rel);
    if (this.hidden.has(rel)) return;
    this.refuseHidden(rel);
    const g = this.decide(['write'], rel);
    if (!g.ok) throw new Errno(g.err);
    // The root through its pinned descriptor's magic link (followed: it is the workspace itself).
    if (rel === '/') return utimesSync(this.tree.rootProc, atimeMs / 1000, mtimeMs / 1000);
    this.tree.parent(rel, (dir, name) => lutimesSync(`${dir}/${name}`, atimeMs / 1000, mtimeMs / 1000));
  }

  chmod(rel: string, mode: number): void {
    this.checkName(rel);
    this.refuseHidden(rel);
    if (this.hidden.has(rel)) throw new Errno(ENOENT);
    const g = this.decide(['chmod'], rel);
    if (!g.ok) throw new Errno(g.err);
    this.tree.node(rel, (proc, st) => {
      // Linux has no chmod of a symlink: one here means the node was swapped after the lookup.
      if (st.isSymbolicLink()) throw new Errno(ELOOP);
      chmodSync(proc, mode & 0o7777);
    });
    this.allowed('chmod', rel, g.d, { mode: (mode & 0o7777).toString(8) });
  }

  chown(rel: string, uid: number, gid: number): void {
    this.checkName(rel);
    this.refuseHidden(rel);
    if (this.hidden.has(rel)) throw new Errno(ENOENT);
    const g = this.decide(['chown'], rel);
    if (!g.ok) throw new Errno(g.err);
    if (rel === '/') chownSync(this.tree.rootProc, uid, gid);
    else this.tree.parent(rel, (dir, name) => lchownSync(`${dir}/${name}`, uid, gid));
    this.allowed('chown', rel, g.d, { uid: uid === 0xffffffff ? -1 : uid, gid: gid === 0xffffffff ? -1 : gid });
  }

  // ------------------------------------------------------------------------ namespace ops

  mkdir(rel: string, mode: number): void {
    this.checkName(rel);
    if (this.isHidden(rel) || HIDDEN_RE.test(basename(rel))) throw new Errno(EACCES);
    const g = this.decide(['mkdir'], rel);
    if (!g.ok) throw new Errno(g.err);
    this.tree.parent(rel, (dir, name) => {
      const p = `${dir}/${name}`;
      mkdirSync(p, mode & 0o7777);
      const o = this.ownerFor(dir);
      lchownSync(p, o.uid, o.gid);
    });
    this.allowed('mkdir', rel, g.d);
  }

  symlink(target: string, rel: string): void {
    this.checkName(rel);
    if (this.isHidden(rel) || HIDDEN_RE.test(basename(rel))) throw new Errno(EACCES);
    const g = this.decide(['symlink'], rel);
    if (!g.ok) throw new Errno(g.err);
    this.tree.parent(rel, (dir, name) => {
      const p = `${dir}/${name}`;
      // Stored as written: the kernel resolves it in the command's view; the daemon never follows it.
      symlinkSync(target, p);
      const o = this.ownerFor(dir);
      lchownSync(p, o.uid, o.gid);
    });
    this.allowed('symlink', rel, g.d, { target });
  }

  link(srcRel: string, dstRel: string): void {
    this.checkName(srcRel);
    this.checkName(dstRel);
    if (this.isHidden(srcRel) || this.isHidden(dstRel) || HIDDEN_RE.test(basename(dstRel)) || this.hidden.has(srcRel)) throw new Errno(EACCES);
    const g = this.decide(['link'], dstRel);
    if (!g.ok) throw new Errno(g.err);
    const s = this.decide(['link'], srcRel);
    if (!s.ok) throw new Errno(s.err);
    // A second name must not carry more rights than the first: a hard link out of a
    // write-protected directory would make the protected file writable under the new name.
    for (const op of ['write', 'read', 'delete'] as const) {
      const before = this.engine.checkFile(op, this.abs(srcRel));
      const after = this.engine.checkFile(op, this.abs(dstRel));
      if (before.decision === 'deny' && after.decision !== 'deny') {
        this.reporter.event('security', 'link', this.abs(dstRel), { decision: 'deny', policyDecision: before.policyDecision, rule: before.rule, message: `a hard link would give ${this.abs(srcRel)} ${op} access its own path is denied (${before.message})` }, { source: this.abs(srcRel) });
        throw new Errno(EACCES);
      }
    }
    this.tree.parentProc(srcRel, (sdir, sname) => this.tree.parentProc(dstRel, (ddir, dname) => linkSync(`${sdir}/${sname}`, `${ddir}/${dname}`)));
    this.allowed('link', dstRel, g.d, { source: this.abs(srcRel) });
  }

  mknod(rel: string, mode: number): void {
    this.checkName(rel);
    if (this.isHidden(rel) || HIDDEN_RE.test(basename(rel))) throw new Errno(EACCES);
    const type = mode & S_IFMT;
    // Devices never; sockets can't be made without mknod(2), which Node lacks.
    if (type !== S_IFIFO && type !== S_IFREG) throw new Errno(EPERM);
    const g = this.decide(['mknod'], rel);
    if (!g.ok) throw new Errno(g.err);
    this.tree.parent(rel, (dir, name) => {
      const p = `${dir}/${name}`;
      if (type === S_IFREG) closeSync(openSync(p, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, mode & 0o7777));
      else {
        // mkfifo(1) inherits the working directory, i.e. the directory checked above.
        const r = spawnSync('mkfifo', ['-m', (mode & 0o7777).toString(8), '--', p], { stdio: 'ignore', timeout: 5000 });
        if (r.status !== 0) throw new Errno(EIO);
      }
      const o = this.ownerFor(dir);
      lchownSync(p, o.uid, o.gid);
    });
    this.allowed('mknod', rel, g.d);
  }

  unlink(rel: string): void {
    this.checkName(rel);
    const hid = this.hidden.get(rel);
    if (hid) {
      // libfuse drops its hidden name once the last descriptor closed: the delete itself was
      // decided and done when the file was hidden.
      this.hidden.delete(rel);
      return;
    }
    this.refuseHidden(rel);
    this.remove('delete', rel);
  }

  rmdir(rel: string): void {
    this.checkName(rel);
    this.refuseHidden(rel);
    this.remove('rmdir', rel);
  }

  /** unlink/rmdir: the policy, the mode, then delete or trash. */
  private remove(op: 'delete' | 'rmdir', rel: string): void {
    const d = this.removal(op, rel, op);
    if (!d) return;
    this.tree.parent(rel, (dir, name) => (op === 'delete' ? unlinkSync(`${dir}/${name}`) : rmdirSync(`${dir}/${name}`)));
    if (op === 'rmdir') this.tree.invalidate();
    this.allowed(op, rel, d);
  }

  /**
   * The decision for removing `rel` (an unlink, an rmdir, or what a rename destroys): a denial
   * or soft_block throws EACCES; a soft delete (the rule's, or sandbox.fuse.audit.mode
   * soft_delete) moves it to the trash here and returns null; else the decision, and the
   * caller removes it (and reports it once done).
   */
  private removal(op: 'delete' | 'rmdir', rel: string, operation: string): PolicyDecision | null {
    const g = this.decide([op], rel, operation);
    if (!g.ok) throw new Errno(g.err);
    if (g.d.decision === 'soft_delete' || this.mode === 'soft_delete') {
      this.toTrash(op, rel, g.d.decision === 'soft_delete' ? g.d.rule : MODE_RULE('soft_delete'), operation);
      return null;
    }
    if (this.softBlocked(operation, rel, g.d)) throw new Errno(EACCES);
    return g.d;
  }

  /**
   * Soft delete: the node is moved to <trash>/<TOKEN> (same filesystem: a rename) and reported;
   * the server records it (hash, metadata) as for the supervisor's moves. What the caller's
   * own call would have refused stays refused (EISDIR, ENOTDIR, ENOTEMPTY); a trash without
   * room (ENOSPC) or a failed move keeps the file and refuses the call.
   */
  private toTrash(op: 'delete' | 'rmdir', rel: string, rule: string, operation: string): void {
    if (!this.trashReal) {
      this.reporter.event('security', operation, this.abs(rel), { decision: 'deny', policyDecision: 'soft_delete', rule, message: 'soft delete configured but no trash directory is available' }, {}, 'file_delete_refused');
      throw new Errno(EPERM);
    }
    const trashReal = this.trashReal;
    const moved = this.tree.parent(rel, (dir, name) => {
      const p = `${dir}/${name}`;
      const st = lstatSync(p);
      if (op === 'delete' && st.isDirectory()) throw new Errno(EISDIR);
      if (op === 'rmdir' && !st.isDirectory()) throw new Errno(ENOTDIR);
      if (st.isDirectory() && readdirSync(p).length > 0) throw new Errno(ENOTEMPTY);
      // As the supervisor: a move the server then can't record would leave an orphan nobody
      // can restore, so a trash without room refuses the delete and the file stays.
      const full = this.trashFull(trashReal);
      if (full) {
        this.reporter.event('security', operation, this.abs(rel), { decision: 'deny', policyDecision: 'soft_delete', rule, message: `soft delete refused: ${full}: the file was kept` }, {}, 'file_delete_refused');
        throw new Errno(ENOSPC);
      }
      const parentMtimeNs = String(statSync(dir, { bigint: true }).mtimeNs);
      let tfd = -1;
      try {
        tfd = openSync(trashReal, O_PATH | O_DIRECTORY);
        // The trash is the server's, but when it lies in the workspace it must not be a path
        // anything could have redirected.
        if (readlinkSync(`/proc/self/fd/${tfd}`) !== trashReal) throw new Errno(ELOOP, 'the trash directory moved');
        let token = newTrashToken();
        if (lstatSync(`/proc/self/fd/${tfd}/${token}`, { throwIfNoEntry: false })) token = newTrashToken();
        renameSync(p, `/proc/self/fd/${tfd}/${token}`);
        return { token, parentMtimeNs };
      } catch (e) {
        // As the supervisor does: nothing moved, the delete refused (EXDEV: the trash is on
        // another file system than this file).
        const why = e instanceof Errno ? e.message : ((e as NodeJS.ErrnoException).code ?? String(e));
        this.reporter.event('security', operation, this.abs(rel), { decision: 'deny', policyDecision: 'soft_delete', rule, message: `soft delete failed (${why}): the file was kept and the delete refused` }, {}, 'file_delete_refused');
        throw new Errno(EPERM);
      } finally {
        if (tfd >= 0) closeSync(tfd);
      }
    });
    this.tree.invalidate();
    this.emit({ t: 'trashed', token: moved.token, path: this.tree.real(rel), rule, parentMtimeNs: moved.parentMtimeNs });
  }

  rename(srcRel: string, dstRel: string): void {
    this.checkName(srcRel);
    this.checkName(dstRel);
    if (this.isHidden(srcRel) || this.isHidden(dstRel)) throw new Errno(EACCES);
    const dstName = basename(dstRel);
    if (HIDDEN_RE.test(dstName) && dirOf(dstRel) === dirOf(srcRel) && !this.hidden.has(srcRel)) {
      const st = this.tree.parent(srcRel, (dir, name) => lstatSync(`${dir}/${name}`));
      if (!st.isDirectory()) return this.hide(srcRel, dstRel);
    }
    const g = this.decide(['rename'], srcRel);
    if (!g.ok) throw new Errno(g.err);
    const gd = this.decide(['rename'], dstRel);
    if (!gd.ok) throw new Errno(gd.err);
    if (this.softBlocked('rename', srcRel, g.d)) throw new Errno(EACCES);
    const hid = this.hidden.get(srcRel);
    if (hid) throw new Errno(ENOENT);
    // Only when the rename can happen: trashing the destination of a rename that then fails
    // would lose it from its place for nothing.
    const srcSt = this.tree.parent(srcRel, (dir, name) => lstatSync(`${dir}/${name}`));
    const dstSt = this.tree.parent(dstRel, (dir, name) => lstatSync(`${dir}/${name}`, { throwIfNoEntry: false }));
    let replaced: PolicyDecision | null = null;
    if (dstSt && !(srcSt.ino === dstSt.ino && srcSt.dev === dstSt.dev)) {
      if (dstSt.isDirectory() !== srcSt.isDirectory()) throw new Errno(dstSt.isDirectory() ? EISDIR : ENOTDIR);
      // What the rename destroys is a delete of the destination; a plain one is left to the
      // rename itself, which replaces it atomically.
      replaced = this.removal(dstSt.isDirectory() ? 'rmdir' : 'delete', dstRel, 'rename_over');
    }
    this.tree.parentProc(srcRel, (sdir, sname) => this.tree.parentProc(dstRel, (ddir, dname) => renameSync(`${sdir}/${sname}`, `${ddir}/${dname}`)));
    this.tree.invalidate();
    this.moveHandles(srcRel, dstRel);
    this.allowed('rename', srcRel, g.d, { to: this.abs(dstRel) });
    if (replaced) this.allowed('rename_over', dstRel, replaced);
  }

  /**
   * libfuse renames a file that is unlinked (or renamed over) while open to .fuse_hiddenXXXX
   * and unlinks that name when the last descriptor closes. For the policy this is the delete
   * of the file: it is decided and done now (trash or unlink; descriptors keep reading the
   * inode wherever it is), and the hidden name only maps to an open descriptor.
   */
  private hide(srcRel: string, hiddenRel: string): void {
    const open = [...this.handles.values()].find((h) => h.rel === srcRel);
    this.remove('delete', srcRel);
    this.moveHandles(srcRel, hiddenRel);
    if (open) this.hidden.set(hiddenRel, open);
  }

  private moveHandles(from: string, to: string): void {
    const moved = (p: string) => (p === from ? to : p.startsWith(`${from}/`) ? to + p.slice(from.length) : null);
    for (const h of this.handles.values()) h.rel = moved(h.rel) ?? h.rel;
    for (const [name, h] of [...this.hidden]) {
      const m = moved(name);
      if (m === null) continue;
      this.hidden.delete(name);
      this.hidden.set(m, h);
    }
  }
}

/** `a` is `b` or lies below it. */
function within(a: string, b: string): boolean {
  return a === b || a.startsWith(b === '/' ? '/' : `${b}/`);
}

function basename(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

function dirOf(rel: string): string {
  return rel.slice(0, rel.lastIndexOf('/')) || '/';
}

// -------------------------------------------------------------------------- fuse callbacks

function statObject(st: Stats) {
  return {
    mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, dev: st.dev, nlink: st.nlink, ino: st.ino, rdev: st.rdev,
    blksize: st.blksize, blocks: st.blocks, atime: st.atimeMs, mtime: st.mtimeMs, ctime: st.ctimeMs,
  };
}

/** fuse-native's operations over the view: each runs synchronously (see the top: one JS turn per operation). */
export function fuseOps(view: WorkspaceView, onUnexpected: (op: string, e: unknown) => void): Record<string, Cb> {
  const run = (op: string, cb: Cb, fn: () => unknown, shape: (v: unknown) => unknown[] = () => [0]) => {
    let v: unknown;
    try {
      v = fn();
    } catch (e) {
      const n = toErrno(e);
      if (n === EIO && !(e instanceof Errno)) onUnexpected(op, e);
      return cb(n);
    }
    return cb(...shape(v));
  };
  return {
    getattr: (p, cb) => run('getattr', cb as Cb, () => view.getattr(p as string), (st) => [0, statObject(st as Stats)]),
    readdir: (p, cb) => run('readdir', cb as Cb, () => view.readdir(p as string), (names) => [0, names]),
    readlink: (p, cb) => run('readlink', cb as Cb, () => view.readlink(p as string), (t) => [0, t]),
    access: (p, _mode, cb) => run('access', cb as Cb, () => view.access(p as string)),
    statfs: (_p, cb) =>
      run('statfs', cb as Cb, () => view.statfs(), (v) => {
        const s = v as ReturnType<typeof statfsSync>;
        return [0, { bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, favail: s.ffree, fsid: 0, flag: 0, namemax: 255 }];
      }),
    open: (p, flags, cb) => run('open', cb as Cb, () => view.open(p as string, flags as number), (fd) => [0, fd]),
    create: (p, mode, cb) => run('create', cb as Cb, () => view.create(p as string, mode as number), (fd) => [0, fd]),
    read: (_p, fd, buf, len, pos, cb) => {
      try {
        (cb as Cb)(view.read(fd as number, buf as Buffer, len as number, pos as number));
      } catch (e) {
        (cb as Cb)(toErrno(e));
      }
    },
    write: (_p, fd, buf, len, pos, cb) => {
      try {
        (cb as Cb)(view.write(fd as number, buf as Buffer, len as number, pos as number));
      } catch (e) {
        (cb as Cb)(toErrno(e));
      }
    },
    ftruncate: (_p, fd, size, cb) => run('ftruncate', cb as Cb, () => view.ftruncate(fd as number, size as number)),
    truncate: (p, size, cb) => run('truncate', cb as Cb, () => view.truncate(p as string, size as number)),
    fsync: (_p, datasync, fd, cb) => run('fsync', cb as Cb, () => view.fsync(fd as number, Boolean(datasync))),
    flush: (_p, _fd, cb) => (cb as Cb)(0),
    release: (_p, fd, cb) => run('release', cb as Cb, () => view.release(fd as number)),
    utimens: (p, atime, mtime, cb) => run('utimens', cb as Cb, () => view.utimens(p as string, atime as number, mtime as number)),
    chmod: (p, mode, cb) => run('chmod', cb as Cb, () => view.chmod(p as string, mode as number)),
    chown: (p, uid, gid, cb) => run('chown', cb as Cb, () => view.chown(p as string, uid as number, gid as number)),
    mkdir: (p, mode, cb) => run('mkdir', cb as Cb, () => view.mkdir(p as string, mode as number)),
    rmdir: (p, cb) => run('rmdir', cb as Cb, () => view.rmdir(p as string)),
    unlink: (p, cb) => run('unlink', cb as Cb, () => view.unlink(p as string)),
    rename: (a, b, cb) => run('rename', cb as Cb, () => view.rename(a as string, b as string)),
    symlink: (target, p, cb) => run('symlink', cb as Cb, () => view.symlink(target as string, p as string)),
    link: (a, b, cb) => run('link', cb as Cb, () => view.link(a as string, b as string)),
    mknod: (p, mode, _dev, cb) => run('mknod', cb as Cb, () => view.mknod(p as string, mode as number)),
  };
}

/**
 * fuse-native accepts only a fixed list of options and joins them unescaped after `-o`, so the
 * libfuse options it lacks ride on `fsname`: big_writes + max_write (128 KiB write requests
 * instead of 4 KiB: ≈ 10× the write throughput). Not hard_remove: with it libfuse refuses every
 * operation on a file unlinked while open (fuse-native does not set nullpath_ok), so reads of
 * an open, deleted file would fail; the .fuse_hidden rename it does instead is handled above.
 */
export function mountOptions(): Record<string, unknown> {
  return { timeout: false, allowOther: true, defaultPermissions: true, fsname: 'agentsh,big_writes,max_write=131072', subtype: 'agentsh' };
}

// ------------------------------------------------------------------------------ main

function writeLine(line: DaemonLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function readConfigLine(): Promise<DaemonConfig> {
  const fromArgv = process.argv[2];
  if (fromArgv) return Promise.resolve(JSON.parse(fromArgv) as DaemonConfig);
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (c: Buffer) => {
      buf += c.toString('utf8');
      const i = buf.indexOf('\n');
      if (i < 0) return;
      process.stdin.off('data', onData);
      try {
        resolve(JSON.parse(buf.slice(0, i)) as DaemonConfig);
      } catch (e) {
        reject(e);
      }
    };
    process.stdin.on('data', onData);
    process.stdin.once('end', () => reject(new Error('stdin closed before the config line')));
  });
}

function validate(cfg: DaemonConfig): void {
  for (const k of ['source', 'mountpoint', 'workspace', 'policyFile'] as const) {
    if (typeof cfg[k] !== 'string' || !cfg[k].startsWith('/')) throw new Error(`config.${k} must be an absolute path`);
  }
  const src = realpathSync(cfg.source);
  const mnt = realpathSync(cfg.mountpoint);
  // The daemon must never reach its own mount: a lookup through it would wait for itself.
  if (within(mnt, src) || within(src, mnt)) throw new Error(`the mountpoint ${mnt} and the workspace ${src} must not contain each other`);
  if (cfg.trashDir && within(resolve(cfg.trashDir), mnt)) throw new Error(`the trash ${cfg.trashDir} must not lie under the mountpoint ${mnt}`);
}

async function main(): Promise<void> {
  let fuse: FuseInstance | null = null;
  let mountpoint = '';
  let mounted = false;
  let stopping = false;
  const shutdown = (code: number) => {
    if (stopping) return;
    stopping = true;
    const done = (c: number) => process.exit(c);
    setTimeout(() => done(code || 1), 5000);
    if (!fuse || !mounted) return done(code);
    // Not fuse.unmount(): it runs `fusermount -uz "<mountpoint>"` through a shell, and a
    // mountpoint named after a session id could carry `$(…)`. Asynchronously: both helpers
    // look the path up, which goes through this very process.
    const detach = (cmd: string, args: string[], next: () => void) => {
      const u = spawn(cmd, args, { stdio: 'ignore' });
      u.on('close', (c) => (c === 0 ? done(code) : next()));
      u.on('error', next);
    };
    detach('fusermount', ['-uz', '--', mountpoint], () => detach('umount', ['-l', '--', mountpoint], () => done(1)));
  };
  process.on('SIGTERM', () => shutdown(0));
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGHUP', () => shutdown(0));
  process.stdout.on('error', () => shutdown(1));
  process.on('uncaughtException', (e) => {
    try {
      writeLine({ t: 'error', message: `daemon: ${(e as Error).stack ?? String(e)}` });
    } catch {
      // stdout gone too
    }
    shutdown(1);
  });
  try {
    const cfg = await readConfigLine();
    validate(cfg);
    mountpoint = cfg.mountpoint;
    // Modes arrive already masked by the kernel with the caller's umask.
    process.umask(0);
    const view = new WorkspaceView(cfg, writeLine);
    const require = createRequire(import.meta.url);
    const Fuse = require('fuse-native') as FuseCtor;
    const ops = fuseOps(view, (op, e) => writeLine({ t: 'error', message: `${op}: ${(e as Error).message}` }));
    fuse = new Fuse(cfg.mountpoint, ops, mountOptions());
    process.stdin.on('end', () => shutdown(0));
    process.stdin.on('error', () => shutdown(0));
    process.stdin.resume();
    fuse.mount((err) => {
      if (err) {
        writeLine({ t: 'error', message: `mount ${cfg.mountpoint}: ${err.message}` });
        return shutdown(1);
      }
      mounted = true;
      writeLine({ t: 'ready' });
    });
  } catch (e) {
    writeLine({ t: 'error', message: (e as Error).message });
    shutdown(1);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) void main();
