// Compiles a policy's file and command rules into a Landlock allow-list (the "fs plan") that
// makes the hard denies kernel-enforced. Pure apart from reading the file tree at plan time
// (lstat/readdir/readlink under `fsRoot`; nothing is written, no symlink is followed).
//
// Landlock can only ALLOW, and a right granted on a directory covers its whole hierarchy
// (files created later included) and can't be narrowed below. So a directory is granted as a
// whole only when every path that can ever exist below it gets the same answer from the
// policy; otherwise its children are granted one by one (read from the real tree), leaving out
// the denied ones, and the walk recurses only into the directories that are still mixed.
//
// Whether a whole hierarchy is uniform is decided from the rules themselves (first match wins,
// so only the rules whose globs can reach below the directory, up to the first one that covers
// all of it, can decide there); single files are decided by asking the engine. Decisions are
// the engine's: `approve`, `soft_delete`, `redirect` are not grants (the kernel can't ask a
// human or move a file), only `allow`/`audit` are.
//
// Globs that match at any depth (`**/.env`, `/home/**/.netrc`: pattern after a `**`) would make
// every directory below them mixed, and the plan one grant per file of the tree (20 MB for the
// seed with its credential rules first, against the launcher's 1 MiB). Below their literal
// prefix they are compiled against the tree as it is (deepGlobBase, resolveDeep): a hierarchy
// without an existing match is uniform; every existing match is left out (hidden by a mount
// with maskFiles, else per-child grants along its path). What the kernel then cannot refuse —
// a matching file created after the plan, and creating such a name at all (Landlock's create
// right is per directory, not per name) — is listed in `notKernelEnforced` and the warnings.
import { lstatSync, readdirSync, readlinkSync, type Dirent, type Stats } from 'node:fs';
import { posix } from 'node:path';
import type { CompiledFileRule, CompiledPolicy } from '../policy/compile.js';
import type { PolicyDecision } from '../policy/decision.js';
import { PolicyEngine, READ_OPERATIONS } from '../policy/engine.js';
import { compileGlob, compileGlobSet } from '../policy/glob.js';

export type FsRight = 'read' | 'read_dir' | 'write' | 'create' | 'remove' | 'exec' | 'truncate' | 'refer';

export interface FsGrant {
  path: string;
  rights: FsRight[];
}

export interface FsDenial {
  path: string;
  /** 'deny', 'approve' (no approver can be asked by the kernel), 'soft_delete', 'redirect', 'command' (command_rules), 'alias' (another name of the same file is denied). */
  reason: string;
  rule: string;
  /** The right that was withheld. */
  right: FsRight;
}

/**
 * A rule the kernel does not fully enforce: it names files by a glob matching at any depth (a
 * `.env` anywhere), which Landlock (rights per file or per directory hierarchy) can only apply
 * to the files that exist when the plan is compiled.
 */
export interface FsUnenforced {
  rule: string;
  /** The rule's decision (deny, approve, soft_delete, redirect). */
  decision: string;
  /** The rule's globs that match at any depth. */
  globs: string[];
  /**
   * 'created-later': a matching file or directory created after the plan was compiled, below a
   * directory granted as a whole, gets that directory's `rights`; 'new-names': creating a file
   * or directory of a matching name where `rights` (create) is granted is not refused.
   */
  gap: 'created-later' | 'new-names';
  /** Every right concerned (the union of `under`'s). */
  rights: FsRight[];
  /** The directories granted as a whole where the gap exists, with the rights it concerns there (outermost only, sorted). */
  under: FsGrant[];
  /** What refuses it instead, if anything (null: nothing after the pre-check). */
  userSpace: string | null;
}

/** How the warnings about each notKernelEnforced entry begin (the server surfaces exactly those). */
export const NOT_KERNEL_ENFORCED = 'not kernel-enforced: ';

export interface FsPlan {
  grants: FsGrant[];
  denied: FsDenial[];
  warnings: string[];
  /** With maskFiles: files the sandbox must hide (they are inside granted directories). */
  masked: string[];
  /** Rules whose denial the kernel cannot apply everywhere (also in `warnings`). */
  notKernelEnforced: FsUnenforced[];
}

export interface FsPlanOptions {
  workspace: string;
  /** Where the sandbox's `/` is read from at plan time (default '/'). Plan paths are sandbox paths. */
  fsRoot?: string;
  /** Directories whose binaries may be executed (default: the seed config's landlock.allow_execute). */
  execDirs?: string[];
  /** Extra command names or paths to leave out of execute and read grants. */
  deniedCommands?: string[];
  /** The engine to ask (default: a new one with default approval settings). */
  engine?: PolicyEngine;
  /**
   * Grant `remove` where the policy says soft_delete: the seccomp user-notify layer sees every
   * unlink/rmdir/rename first and moves the file to the trash, so Landlock must not refuse the
   * operation it would otherwise never see (and `mv` needs REMOVE on its source directory).
   */
  softDeleteRemovable?: boolean | { within: string };
  /**
   * The sandbox can hide single files (a bind mount of an empty, unreadable, non-executable
   * file over them): denied binaries and read-denied files that can never be re-created
   * (the policy denies creating them) are listed in `masked` instead of splitting their
   * directory into per-file grants. Thousands of Landlock rules become a handful of mounts.
   */
  maskFiles?: boolean;
}

export const DEFAULT_EXEC_DIRS = ['/usr/bin', '/bin', '/usr/local/bin', '/usr/sbin', '/sbin', '/usr/lib', '/lib'];

/** Order in which rights are listed in a grant (Landlock's own order, roughly). */
export const FS_RIGHTS: readonly FsRight[] = ['exec', 'write', 'read', 'read_dir', 'remove', 'create', 'refer', 'truncate'];

/** The policy operations that must all be allowed for a right. `exec` is handled separately. */
export const RIGHT_OPS: Record<Exclude<FsRight, 'exec'>, readonly string[]> = {
  read: ['read'],
  read_dir: ['list'],
  write: ['write'],
  truncate: ['write'],
  create: ['create', 'mkdir'],
  remove: ['delete', 'rmdir'],
  refer: ['rename'],
};

/** Rights that Landlock applies to directories only (MAKE_*, REMOVE_*, READ_DIR, REFER). */
const DIR_ONLY = new Set<FsRight>(['read_dir', 'create', 'remove', 'refer']);

/** Rights checked on the directory itself as well as below it (others concern only what is inside). */
const SELF_CHECKED = new Set<FsRight>(['read_dir']);

interface Outcome {
  ok: boolean;
  reason: string;
  rule: string;
}

/** A rule's outcome when only globs matching at any depth (ids into Planner.deep) reach below the directory. */
interface DeepOutcome extends Outcome {
  deep?: { ids: number[]; decision: string; create: boolean };
}

/** Operations that name an entry that does not exist yet: no existing match can stand for them. */
const CREATE_OPS = new Set(['create', 'mkdir']);

/** Plan bytes (grants and mounts) past which a warning is given: the launcher refuses plans of 1 MiB (E2BIG). */
const PLAN_WARN_BYTES = 768 << 10;

const GRANTABLE = new Set(['allow', 'audit']);

const REMOVE_OPS = new Set(['delete', 'rmdir']);

function grantable(decision: string, op: string, softDelete: boolean): boolean {
  return GRANTABLE.has(decision) || (softDelete && decision === 'soft_delete' && REMOVE_OPS.has(op));
}

function outcomeOf(d: PolicyDecision, op: string, softDelete: boolean): Outcome {
  return { ok: grantable(d.decision, op, softDelete) && grantable(d.policyDecision, op, softDelete), reason: d.policyDecision, rule: d.rule };
}

function ruleOutcome(r: CompiledFileRule, op: string, softDelete: boolean): Outcome {
  return { ok: grantable(r.decision, op, softDelete), reason: r.decision, rule: r.name };
}

/** True when `p` is strictly below `dir`. */
export function isBelow(p: string, dir: string): boolean {
  if (dir === '/') return p !== '/' && p.startsWith('/');
  return p.startsWith(`${dir}/`);
}

const META = /[*?[{\\]/;

/** How a glob relates to the hierarchy strictly below `dir`: it matches all of it, maybe some of it, or none. */
export function globReach(glob: string, dir: string): 'all' | 'some' | 'none' {
  if (glob === '**' || glob === '/**') return 'all';
  const m = /^(.*)\/\*\*$/.exec(glob);
  if (m && !META.test(m[1]!) && m[1]!.startsWith('/') && (m[1] === dir || isBelow(dir, m[1]!))) return 'all';
  const meta = glob.search(META);
  if (meta < 0) return isBelow(glob, dir) ? 'some' : 'none';
  const prefix = glob.slice(0, meta);
  if (!prefix.startsWith('/')) return 'some'; // `**/.env` and the like can match anywhere
  const below = dir === '/' ? '/' : `${dir}/`;
  return prefix.startsWith(below) || below.startsWith(prefix) ? 'some' : 'none';
}

// For a glob that can match at any depth below its literal prefix with more pattern after a
// `**` (`**/.env`, `/home/**/.netrc`, `**/credentials*`): the directory that prefix names
// ('' when it can match anywhere). Null for other globs (`/x/**`, `/x/*/y`, literals).
export function deepGlobBase(glob: string): string | null {
  const i = glob.indexOf('**');
  if (i < 0 || /^\**$/.test(glob.slice(i))) return null;
  const prefix = glob.slice(0, glob.search(META));
  if (!prefix.startsWith('/')) return '';
  return prefix.slice(0, prefix.lastIndexOf('/')) || '/';
}

interface Entry {
  name: string;
  path: string; // sandbox path
  type: 'dir' | 'file' | 'link' | 'other';
}

function direntType(d: Dirent | Stats): Entry['type'] | null {
  if (d.isDirectory()) return 'dir';
  if (d.isSymbolicLink()) return 'link';
  if (d.isFile()) return 'file';
  if (d.isBlockDevice() || d.isCharacterDevice() || d.isFIFO() || d.isSocket()) return 'other';
  return null; // DT_UNKNOWN: ask lstat
}

export function compileFsPlan(policy: CompiledPolicy, opts: FsPlanOptions): FsPlan {
  return new Planner(policy, opts).run();
}

class Planner {
  private readonly engine: PolicyEngine;
  private readonly root: string;
  private readonly warnings: string[] = [];
  private readonly denied: FsDenial[] = [];
  private readonly grants = new Map<string, Set<FsRight>>();
  /** Real directory → the other sandbox paths that name it (top-level symlinks: /bin → /usr/bin). */
  private readonly aliases = new Map<string, string[]>();
  /** Files left out of exec and read grants because command rules deny them (real paths). */
  private readonly execDenied = new Map<string, Outcome>();
  private readonly symlinks = new Set<string>();
  /** Directories that the policy lets list but whose hierarchy is mixed (READ_DIR can't be granted to the directory alone). */
  private readonly readDirWithheld: string[] = [];
  private readonly extraDenied: Set<string>;
  /** Whether a soft_delete decision grants the delete right at a path (something turns the delete into a move there). */
  private readonly softDeleteAt: (path: string) => boolean;
  /** softDeleteRemovable's `within`: soft-delete areas are removable only there. */
  private readonly softDeleteWithin: string | null;
  private readonly mask: boolean;
  /** Literal read-denied files left to masking (with maskFiles). */
  private readonly maskedFiles = new Set<string>();
  /** Rules left out of READ_DIR decisions because they name one final component (see subtreeOutcomes). */
  private readonly nameOnlyRules = new Set<string>();
  /** Globs matching at any depth (deepGlobBase), compiled to test existing paths; by id. */
  private readonly deep: Array<{ glob: string; base: string; re: RegExp }> = [];
  private readonly deepIds = new Map<string, number>();
  /** Real directory → ids of deep globs matching something strictly below it that must be left out of grants (`any`; masked files excepted), or a directory (`dirs`). */
  private readonly deepIndex = new Map<string, { any: Set<number>; dirs: Set<number> }>();
  /** Existing files matched by a deep glob and hidden by a mount (with maskFiles). */
  private deepMasked = 0;
  /** What the kernel does not refuse, by rule and gap. */
  private readonly gaps = new Map<string, { rule: string; decision: string; globs: Set<string>; gap: FsUnenforced['gap']; under: Map<string, Set<FsRight>> }>();

  constructor(
    private readonly policy: CompiledPolicy,
    private readonly opts: FsPlanOptions,
  ) {
    this.engine = opts.engine ?? new PolicyEngine(policy);
    this.root = posix.resolve(opts.fsRoot ?? '/');
    this.extraDenied = new Set((opts.deniedCommands ?? []).map((c) => c.trim().toLowerCase()));
    const sd = opts.softDeleteRemovable ?? false;
    this.softDeleteWithin = typeof sd === 'object' ? posix.resolve('/', sd.within) : null;
    this.softDeleteAt = typeof sd === 'object' ? (p) => p === this.softDeleteWithin || isBelow(p, this.softDeleteWithin!) : () => sd;
    this.mask = opts.maskFiles ?? false;
    // Every deep glob is known before the first walk: the index of a directory covers them all.
    for (const r of policy.fileRules) {
      for (const g of r.paths) {
        const base = deepGlobBase(g);
        if (base === null || this.deepIds.has(g)) continue;
        this.deepIds.set(g, this.deep.push({ glob: g, base, re: compileGlob(g, '/') }) - 1);
      }
    }
  }

  run(): FsPlan {
    this.findAliases();
    const execRoots = this.execRoots();
    for (const dir of execRoots) this.scanExec(dir);
    for (const dir of execRoots) this.walk(dir, 'exec', true);
    for (const right of ['read', 'read_dir', 'write', 'truncate', 'create', 'remove', 'refer'] as const) this.walk('/', right, false);
    this.workspaceWarnings();
    if (this.symlinks.size) {
      this.warnings.push(`${this.symlinks.size} symlink(s) met on the way get no grant of their own: an access through a symlink is decided on its target's hierarchy (the launcher must open grant paths with O_PATH|O_NOFOLLOW and refuse symlinks)`);
    }
    this.warnings.push('the plan reflects the tree at plan time: files created later inherit their directory\'s grants only (a directory granted per child gives nothing to new children)');
    const grants = [...this.grants]
      .map(([path, rights]) => ({ path, rights: FS_RIGHTS.filter((r) => rights.has(r)) }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    // Real paths only: a mount lands on the file, whatever name (/bin/su → /usr/bin/su) the rule used.
    const masked = this.mask ? [...new Set([...this.execDenied.keys(), ...this.maskedFiles].map((p) => this.realPath(p) ?? p))].filter((p) => this.lstat(p)?.isFile()).sort() : [];
    if (masked.length) this.warnings.push(`${masked.length} file(s) hidden by a mount instead of per-file grants around them: ${masked.join(', ')}`);
    const notKernelEnforced = this.gapReport();
    const bytes = grants.reduce((n, g) => n + g.path.length + g.rights.join(',').length + 11, 0) + masked.reduce((n, p) => n + p.length + 64, 0);
    if (bytes > PLAN_WARN_BYTES) {
      this.warnings.push(`the plan is large: ${grants.length} Landlock grant(s) and ${masked.length} mask mount(s), ~${Math.round(bytes / 1024)} KiB; the launcher refuses plans of 1 MiB (E2BIG: the command fails closed). A rule splitting a big tree file by file is the usual cause`);
    }
    return { grants, denied: this.denied, warnings: this.warnings, masked, notKernelEnforced };
  }

  // ---- file tree --------------------------------------------------------------------------

  private host(p: string): string {
    return p === '/' ? this.root : posix.join(this.root, p);
  }

  private lstat(p: string): Stats | null {
    try {
      return lstatSync(this.host(p));
    } catch {
      return null;
    }
  }

  private list(dir: string): Entry[] {
    const out = this.tryList(dir);
    if (out instanceof Error) {
      this.warnings.push(`cannot list ${dir} (${(out as NodeJS.ErrnoException).code ?? out}): nothing below it is granted`);
      return [];
    }
    return out;
  }

  private tryList(dir: string): Entry[] | Error {
    let ents: Dirent[];
    try {
      ents = readdirSync(this.host(dir), { withFileTypes: true });
    } catch (err) {
      return err as Error;
    }
    const out: Entry[] = [];
    for (const d of ents) {
      const path = dir === '/' ? `/${d.name}` : `${dir}/${d.name}`;
      let type = direntType(d);
      if (type === null) {
        const st = this.lstat(path);
        if (!st) continue;
        type = direntType(st) ?? 'other';
      }
      out.push({ name: d.name, path, type });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Resolves symlinks inside the sandbox tree (absolute targets are relative to fsRoot). */
  realPath(p: string): string | null {
    const parts = p.split('/').filter(Boolean);
    let cur = '/';
    let hops = 0;
    while (parts.length) {
      const part = parts.shift()!;
      if (part === '.') continue;
      if (part === '..') {
        cur = posix.dirname(cur);
        continue;
      }
      const next = cur === '/' ? `/${part}` : `${cur}/${part}`;
      const st = this.lstat(next);
      if (!st) return null;
      if (st.isSymbolicLink()) {
        if (++hops > 40) return null;
        const target = readlinkSync(this.host(next));
        parts.unshift(...target.split('/').filter(Boolean));
        if (target.startsWith('/')) cur = '/';
        continue;
      }
      cur = next;
    }
    return cur;
  }

  private findAliases(): void {
    for (const e of this.list('/')) {
      if (e.type !== 'link') continue;
      const real = this.realPath(e.path);
      if (!real || real === e.path || !this.lstat(real)?.isDirectory()) continue;
      this.aliases.set(real, [...(this.aliases.get(real) ?? []), e.path]);
    }
  }

  /** Every sandbox path naming `p` (itself and through top-level directory symlinks). */
  namesOf(p: string): string[] {
    const out = [p];
    for (const [real, names] of this.aliases) {
      if (p === real) out.push(...names);
      else if (isBelow(p, real)) for (const n of names) out.push(n + p.slice(real.length));
    }
    return out;
  }

  // ---- policy questions -------------------------------------------------------------------

  /** The engine's answer for a concrete path and right (all of the right's operations, all names of the file). */
  fileOutcome(p: string, right: Exclude<FsRight, 'exec'>): Outcome {
    for (const name of this.namesOf(p)) {
      for (const op of RIGHT_OPS[right]) {
        const o = outcomeOf(this.engine.checkFile(op, name), op, this.softDeleteAt(p));
        if (!o.ok) return name === p ? o : { ...o, reason: o.reason === 'deny' ? 'alias' : o.reason };
      }
    }
    return { ok: true, reason: 'allow', rule: '' };
  }

  /**
   * Every outcome the rules can give strictly below `dir` for `op` (first match wins). A rule
   * that reaches below only through globs matching at any depth is marked `deep`: whether it
   * stands depends on the existing tree (resolveDeep).
   */
  private subtreeOutcomes(dir: string, op: string, dirsOnly: boolean): DeepOutcome[] {
    const out: DeepOutcome[] = [];
    for (const r of this.policy.fileRules) {
      if (r.ops !== null && !r.ops.has(op)) continue;
      let reach: 'all' | 'some' | 'none' = 'none';
      const deepIds: number[] = [];
      for (const g of r.paths) {
        let x = globReach(g, dir);
        // READ_DIR concerns directories only: a literal path that is not a directory and can't
        // become one (the policy denies creating it) can't change who lists what.
        if (x === 'some' && dirsOnly && !META.test(g) && !this.mayBeDir(g)) x = 'none';
        // A literal file the rule keeps from being read, which can't be created again (so
        // hiding it is final): masked by the sandbox instead of splitting its directory.
        if (x === 'some' && this.mask && op === 'read' && !META.test(g) && !ruleOutcome(r, op, this.softDeleteAt(dir)).ok && this.cannotCreate(g)) {
          x = 'none';
          if (this.lstat(g)?.isFile()) this.maskedFiles.add(g);
        }
        // `**/.env`: only a directory with exactly that name could be listed against the rule.
        // Withholding READ_DIR everywhere for it would make `ls` fail on the whole tree; a
        // listing shows names, not content (reading the files stays governed).
        if (x === 'some' && dirsOnly && META.test(g) && !META.test(g.slice(g.lastIndexOf('/') + 1))) {
          x = 'none';
          this.nameOnlyRules.add(r.name);
        }
        // `**/.env` below its prefix: decided by what exists (resolveDeep), not by splitting every directory.
        if (x === 'some') {
          const id = this.deepId(g, dir);
          if (id >= 0) {
            deepIds.push(id);
            continue;
          }
        }
        if (x === 'all') {
          reach = 'all';
          break;
        }
        if (x === 'some') reach = 'some';
      }
      if (reach === 'none') {
        if (deepIds.length) out.push({ ...ruleOutcome(r, op, this.softDeleteAt(dir)), deep: { ids: deepIds, decision: r.decision, create: CREATE_OPS.has(op) } });
        continue;
      }
      out.push(ruleOutcome(r, op, this.softDeleteAt(dir)));
      if (reach === 'all') return out;
    }
    const dflt = READ_OPERATIONS.has(op);
    out.push({ ok: dflt, reason: dflt ? 'allow' : 'deny', rule: dflt ? 'default-allow-reads' : 'default-deny-files' });
    return out;
  }

  /** The id of a glob matching at any depth whose literal prefix does not narrow it at `dir` (-1: not such a glob there). */
  private deepId(g: string, dir: string): number {
    const id = this.deepIds.get(g);
    if (id === undefined) return -1;
    const base = this.deep[id]!.base;
    return base === '' || dir === base || isBelow(dir, base) ? id : -1;
  }

  /**
   * Which deep-glob outcomes stand for the hierarchy below the real directory `dir`: one that
   * agrees with every other outcome (or meets a hierarchy mixed anyway) changes nothing and is
   * dropped unexamined; otherwise it stands when an existing path below matches one of its
   * globs (a directory, for READ_DIR), and is dropped when none does — or always, for create
   * and mkdir, which no existing path can stand for. Dropped denials are what the kernel will
   * not refuse if the hierarchy is granted (recordGaps).
   */
  private resolveDeep(dir: string, outcomes: DeepOutcome[], dirsOnly: boolean): { kept: DeepOutcome[]; dropped: DeepOutcome[] } {
    if (!outcomes.some((o) => o.deep)) return { kept: outcomes, dropped: [] };
    const fixed = outcomes.filter((o) => !o.deep);
    const fixedOk = fixed.some((o) => o.ok);
    const fixedNo = fixed.some((o) => !o.ok);
    const kept: DeepOutcome[] = [];
    const dropped: DeepOutcome[] = [];
    for (const o of outcomes) {
      if (!o.deep) kept.push(o);
      else if ((fixedOk && fixedNo) || (o.ok ? fixedOk : fixedNo)) continue;
      else if (o.deep.create) dropped.push(o);
      else {
        const below = this.deepBelow(dir);
        const ids = dirsOnly ? below.dirs : below.any;
        (o.deep.ids.some((id) => ids.has(id)) ? kept : dropped).push(o);
      }
    }
    return { kept, dropped };
  }

  /**
   * The deep globs matching an existing path strictly below the real directory `dir` (by any of
   * its names), one walk per directory for all of them. With maskFiles, a matching regular file
   * the engine keeps from being read, written, deleted and renamed is hidden by a mount instead
   * (the mount refuses all of those, and unlink/rename of a mount point fail with EBUSY).
   */
  private deepBelow(dir: string): { any: Set<number>; dirs: Set<number> } {
    const memo = this.deepIndex.get(dir);
    if (memo) return memo;
    const out = { any: new Set<number>(), dirs: new Set<number>() };
    this.deepIndex.set(dir, out); // a directory is listed once (no cycles: symlinks are not followed)
    const entries = this.tryList(dir);
    if (entries instanceof Error) {
      // Unknown content may hold a match: the walk splits down to here (and says it can't list it).
      for (let id = 0; id < this.deep.length; id++) {
        out.any.add(id);
        out.dirs.add(id);
      }
      return out;
    }
    for (const e of entries) {
      const names = this.namesOf(e.path);
      let masked: boolean | undefined;
      for (let id = 0; id < this.deep.length; id++) {
        if (!names.some((n) => this.deep[id]!.re.test(n))) continue;
        if (e.type === 'dir') out.dirs.add(id);
        else if (e.type === 'file' && (masked ??= this.maskDeep(e.path))) continue;
        out.any.add(id);
      }
      if (e.type === 'dir') {
        const sub = this.deepBelow(e.path);
        sub.any.forEach((id) => out.any.add(id));
        sub.dirs.forEach((id) => out.dirs.add(id));
      }
    }
    return out;
  }

  private maskDeep(p: string): boolean {
    if (!this.mask) return false;
    const hidden = (['read', 'write', 'remove', 'refer'] as const).every((r) => !this.fileOutcome(p, r).ok);
    if (hidden && !this.maskedFiles.has(p)) {
      this.maskedFiles.add(p);
      this.deepMasked++;
    }
    return hidden;
  }

  /** The hierarchy below `dir` is granted `right` as a whole: each denial dropped by resolveDeep is a gap there. */
  private recordGaps(dir: string, right: FsRight, dropped: DeepOutcome[]): void {
    for (const o of dropped) {
      if (o.ok || !o.deep) continue;
      const gap: FsUnenforced['gap'] = o.deep.create ? 'new-names' : 'created-later';
      const key = `${o.rule}\0${gap}`;
      let g = this.gaps.get(key);
      if (!g) this.gaps.set(key, (g = { rule: o.rule, decision: o.deep.decision, globs: new Set(), gap, under: new Map() }));
      o.deep.ids.forEach((id) => g!.globs.add(this.deep[id]!.glob));
      let rights = g.under.get(dir);
      if (!rights) g.under.set(dir, (rights = new Set()));
      rights.add(right);
    }
  }

  private gapReport(): FsUnenforced[] {
    const ws = posix.resolve('/', this.opts.workspace);
    const inWs = (d: string) => d === ws || isBelow(d, ws) || isBelow(ws, d);
    const out: FsUnenforced[] = [];
    for (const g of this.gaps.values()) {
      // Per right, the outermost directories only (a grant below another is covered by it).
      const under: FsGrant[] = [];
      for (const [dir, set] of [...g.under].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
        const own = FS_RIGHTS.filter((r) => set.has(r) && ![...g.under].some(([o, os]) => o !== dir && isBelow(dir, o) && os.has(r)));
        if (own.length) under.push({ path: dir, rights: own });
      }
      const rights = FS_RIGHTS.filter((r) => under.some((u) => u.rights.includes(r)));
      const layers: string[] = [];
      if (this.softDeleteWithin && under.some((u) => inWs(u.path))) layers.push(`the FUSE workspace view refuses it inside ${this.softDeleteWithin}`);
      if (g.gap === 'created-later' && rights.includes('remove') && this.opts.softDeleteRemovable === true) layers.push('deletes are checked by the exec/delete interception (seccomp user-notify or ptrace)');
      out.push({ rule: g.rule, decision: g.decision, globs: [...g.globs].sort(), gap: g.gap, rights, under, userSpace: layers.length ? layers.join('; ') : null });
      const globs = out[out.length - 1]!.globs.join(', ');
      const where = `${under.slice(0, 6).map((u) => u.path).join(', ')}${under.length > 6 ? ` (+${under.length - 6} more)` : ''}`;
      const what = g.gap === 'new-names'
        ? `creating (or renaming to) a name matching ${globs} under ${where} is not refused by the kernel: Landlock's create right is per directory, not per name, and withholding it would leave those trees without new files`
        : `a path matching ${globs} that appears under ${where} after the plan was compiled gets its directory's rights (${rights.join(', ')}): the rule is compiled against the tree as it is (every existing match is left out of the grants${this.deepMasked ? `, ${this.deepMasked} hidden by mounts` : ''})`;
      this.warnings.push(`${NOT_KERNEL_ENFORCED}${g.rule} (${g.decision}): ${what}; ${layers.length ? layers.join('; ') : 'nothing in user space refuses it in this mode'}`);
    }
    return out;
  }

  private cannotCreate(p: string): boolean {
    return !this.lstat(p)?.isDirectory() && ['create', 'write', 'rename'].every((op) => !grantable(this.engine.checkFile(op, p).decision, op, false));
  }

  private mayBeDir(p: string): boolean {
    if (this.lstat(p)?.isDirectory()) return true;
    return this.engine.checkFile('mkdir', p).decision === 'allow' || this.engine.checkFile('create', p).decision === 'allow';
  }

  /** Whether a whole directory hierarchy is uniformly granted, uniformly denied, or mixed. */
  private classifyDir(dir: string, right: FsRight): { kind: 'allow' | 'deny' | 'mixed'; deny?: Outcome; attribute?: boolean; selfOk?: boolean; dropped?: DeepOutcome[] } {
    if (right === 'exec') {
      if (!this.mask) for (const p of this.execDenied.keys()) if (isBelow(p, dir)) return { kind: 'mixed' };
      return { kind: 'allow' };
    }
    // Binaries that command rules deny lose their read grant too (ld.so, copies, interpreters);
    // with masking they are hidden by mounts instead.
    if (right === 'read' && !this.mask) for (const p of this.execDenied.keys()) if (isBelow(p, dir)) return { kind: 'mixed' };
    const all: DeepOutcome[] = [];
    // Listing a directory is decided on its own path: `/bin/**` does not cover `/bin` itself, and
    // requiring every alias to be listable would refuse `ls /usr/bin` because of `/bin`.
    if (SELF_CHECKED.has(right)) all.push(outcomeOf(this.engine.checkFile('list', dir), 'list', this.softDeleteAt(dir)));
    for (const name of this.namesOf(dir)) for (const op of RIGHT_OPS[right]) all.push(...this.subtreeOutcomes(name, op, right === 'read_dir'));
    const { kept: outcomes, dropped } = this.resolveDeep(dir, all, right === 'read_dir');
    const anyOk = outcomes.some((o) => o.ok);
    const anyNo = outcomes.find((o) => !o.ok);
    if (anyOk && anyNo) return { kind: 'mixed', selfOk: outcomes[0]!.ok };
    if (anyOk) return { kind: 'allow', dropped };
    // Uniformly denied: name the rule that covers the hierarchy (the last outcome); when a
    // soft_delete rule is among the reasons, the children are visited to say where it applies.
    const deny = outcomes[outcomes.length - 1]!;
    // Removable soft-delete areas start below: visit the children to reach them.
    if (this.softDeleteWithin && isBelow(this.softDeleteWithin, dir) && outcomes.some((o) => o.reason === 'soft_delete')) return { kind: 'mixed' };
    return { kind: 'deny', deny, attribute: deny.reason !== 'soft_delete' && outcomes.some((o) => o.reason === 'soft_delete') };
  }

  // ---- exec ---------------------------------------------------------------------------------

  private execRoots(): string[] {
    const out: string[] = [];
    for (const d of this.opts.execDirs ?? DEFAULT_EXEC_DIRS) {
      const real = this.realPath(posix.resolve('/', d));
      if (!real || !this.lstat(real)?.isDirectory()) continue;
      if (real !== d) this.warnings.push(`exec dir ${d} is a symlink to ${real}: granted on the real path`);
      if (!out.some((o) => o === real || isBelow(real, o))) out.push(real);
    }
    // Drop roots nested in others (e.g. /usr/lib/x under /usr/lib).
    return out.filter((d) => !out.some((o) => o !== d && isBelow(d, o)));
  }

  /** Whether command rules deny this binary outright (at depth 0 and 1, with no arguments). */
  private commandOutcome(p: string): Outcome {
    const fast = this.commandCandidates();
    for (const name of this.namesOf(p)) {
      const lower = name.toLowerCase();
      let base = lower.slice(lower.lastIndexOf('/') + 1);
      if (base.endsWith('.real')) base = base.slice(0, -5);
      if (fast && !fast.bases.has(base) && !fast.paths.has(lower)) continue;
      if (this.extraDenied.has(base) || this.extraDenied.has(name.toLowerCase())) return { ok: false, reason: 'command', rule: 'deniedCommands' };
      const d0 = this.engine.checkCommand(name, [], 0);
      const d1 = this.engine.checkCommand(name, [], 1);
      if (d0.decision === 'deny' && d1.decision === 'deny') return { ok: false, reason: 'command', rule: d0.rule };
      if (d0.decision !== d1.decision) {
        this.depthNotes.add(`${d0.rule}/${d1.rule}`);
      }
    }
    return { ok: true, reason: 'allow', rule: '' };
  }

  private readonly depthNotes = new Set<string>();

  /** Finds the binaries to leave out: denied by command or file rules, by any of their names (symlinks, hard links). */
  private scanExec(root: string): void {
    const files: string[] = [];
    const links: string[] = [];
    const visit = (dir: string): void => {
      const readUniform = this.readUniform(dir);
      for (const e of this.list(dir)) {
        if (e.type === 'dir') visit(e.path);
        else if (e.type === 'link') links.push(e.path);
        else if (e.type === 'file') {
          files.push(e.path);
          const o = this.execOutcome(e.path, readUniform);
          if (!o.ok) this.execDenied.set(e.path, o);
        }
      }
    };
    visit(root);
    // A denied name that is a symlink (nc → /etc/alternatives/nc → nc.openbsd) denies its target.
    for (const l of links) {
      const o = this.execOutcome(l, false);
      if (o.ok) continue;
      const target = this.realPath(l);
      if (target && !this.execDenied.has(target) && this.lstat(target)?.isFile()) {
        this.execDenied.set(target, { ...o, reason: `${o.reason} (via symlink ${l})` });
      }
    }
    // Hard links: one inode, several names; if one name is denied, all are (inodes are read
    // only when a denied file has more than one link).
    if (![...this.execDenied.keys()].some((p) => (this.lstat(p)?.nlink ?? 1) > 1)) return;
    const byInode = new Map<string, string[]>();
    for (const f of files) {
      const st = this.lstat(f);
      if (!st || st.nlink < 2) continue;
      const key = `${st.dev}:${st.ino}`;
      byInode.set(key, [...(byInode.get(key) ?? []), f]);
    }
    for (const names of byInode.values()) {
      if (names.length < 2) continue;
      const bad = names.find((n) => this.execDenied.has(n));
      if (!bad) continue;
      const o = this.execDenied.get(bad)!;
      for (const n of names) if (!this.execDenied.has(n)) this.execDenied.set(n, { ...o, reason: `${o.reason} (hard link of ${bad})` });
    }
  }

  private execOutcome(p: string, readUniform: boolean): Outcome {
    const c = this.commandOutcome(p);
    if (!c.ok) return c;
    return readUniform ? c : this.fileOutcome(p, 'read');
  }

  /** True when every path below `dir` (by all its names) is readable per the rules. */
  private readUniform(dir: string): boolean {
    return this.resolveDeep(dir, this.namesOf(dir).flatMap((n) => this.subtreeOutcomes(n, 'read', false)), false).kept.every((o) => o.ok);
  }

  /**
   * Fast path for command rules: when every rule that can deny names its commands literally and
   * a catch-all rule allows the rest at depths 0 and 1, only the literal names need asking.
   */
  private commandCandidates(): { bases: Set<string>; paths: Set<string> } | null {
    if (this.candidates !== undefined) return this.candidates;
    const star = compileGlobSet(['*'], null).source;
    const bases = new Set<string>(this.extraDenied);
    const paths = new Set<string>();
    let ok = true;
    for (const r of this.policy.commandRules) {
      if (r.decision === 'allow' || r.decision === 'audit') continue;
      if (r.any || r.baseGlob || r.pathGlob) ok = false;
      r.basenames.forEach((b) => bases.add(b));
      r.exactPaths.forEach((p) => paths.add(p));
    }
    for (const depth of [0, 1]) {
      const d = this.engine.checkCommand('/nonexistent/agentsh-fs-plan-probe', [], depth);
      const r = this.policy.commandRules[d.ruleIndex];
      if (d.decision === 'deny' || !r || !(r.any || r.baseGlob?.source === star)) ok = false;
    }
    this.candidates = ok ? { bases, paths } : null;
    return this.candidates;
  }

  private candidates: { bases: Set<string>; paths: Set<string> } | null | undefined;

  // ---- the walk -----------------------------------------------------------------------------

  private grant(path: string, right: FsRight): void {
    let s = this.grants.get(path);
    if (!s) this.grants.set(path, (s = new Set()));
    s.add(right);
  }

  private deny(path: string, right: FsRight, o: Outcome): void {
    // Record what matters to a reader: unreadable paths, unexecutable binaries, non-grants that
    // are not plain denies (approve, soft_delete, redirect), skip the sea of plain write denies.
    if (right === 'read' || right === 'exec' || (o.reason !== 'deny' && o.reason !== 'alias' && right !== 'truncate' && right !== 'read_dir')) {
      this.denied.push({ path, reason: o.reason, rule: o.rule, right });
    }
  }

  private walk(dir: string, right: FsRight, execRoot: boolean, attributeOnly = false): void {
    const st = this.lstat(dir);
    if (!st || st.isSymbolicLink()) return;
    const c = this.classifyDir(dir, right);
    if (c.kind === 'allow') {
      if (!attributeOnly) {
        this.grant(dir, right);
        if (c.dropped?.length) this.recordGaps(dir, right, c.dropped);
      }
      return;
    }
    if (c.kind === 'deny') {
      if (c.attribute) {
        for (const e of this.list(dir)) if (e.type === 'dir') this.walk(e.path, right, execRoot, true);
      } else this.deny(dir, right, c.deny!);
      return;
    }
    if (right === 'read_dir' && c.selfOk && !attributeOnly) this.readDirWithheld.push(dir);
    for (const e of this.list(dir)) {
      if (e.type === 'link') {
        if (!execRoot && right === 'read') this.symlinks.add(e.path);
        continue;
      }
      if (e.type === 'dir') {
        this.walk(e.path, right, execRoot);
        continue;
      }
      if (DIR_ONLY.has(right)) continue;
      let o: Outcome;
      if (right === 'exec') o = this.execDenied.get(e.path) ?? { ok: true, reason: 'allow', rule: '' };
      else {
        o = this.fileOutcome(e.path, right);
        if (o.ok && right === 'read' && this.execDenied.has(e.path)) o = this.execDenied.get(e.path)!;
      }
      if (o.ok && !attributeOnly) this.grant(e.path, right);
      else if (o.ok) continue;
      else this.deny(e.path, right, o);
    }
  }

  // ---- notes --------------------------------------------------------------------------------

  private workspaceWarnings(): void {
    const ws = posix.resolve('/', this.opts.workspace);
    const exists = this.lstat(ws) !== null;
    if (!exists) this.warnings.push(`workspace ${ws} does not exist under the fs root at plan time: nothing is granted for it`);
    for (const right of exists ? (['read', 'write', 'create', 'remove'] as const) : []) {
      if (planAllows({ grants: this.plannedGrants() }, ws + '/x', right)) continue;
      const probe = this.fileOutcome(`${ws}/x`, right);
      if (right === 'remove' && probe.reason === 'soft_delete') {
        this.warnings.push(`remove is not granted in the workspace ${ws}: the policy soft-deletes there (${probe.rule}); the seccomp user-notify layer moves deleted files to the trash. Landlock also needs REMOVE_* on the source directory of a rename, so mv inside soft-delete areas must go through that layer too`);
      } else {
        this.warnings.push(`the workspace ${ws} is not granted '${right}' (${probe.reason} by ${probe.rule || 'per-child grants'})`);
      }
    }
    const soft = new Set(this.denied.filter((d) => d.right === 'remove' && d.reason === 'soft_delete').map((d) => d.path));
    if (soft.size) this.warnings.push(`remove withheld (soft_delete, handled by user-notify → trash) under: ${[...soft].join(', ')}`);
    const approve = this.denied.filter((d) => d.reason === 'approve');
    if (approve.length) this.warnings.push(`${approve.length} path(s) where the policy says approve are not granted: the kernel cannot ask an approver (${[...new Set(approve.map((d) => d.rule))].join(', ')})`);
    const cmd = [...this.execDenied].filter(([p]) => this.fileOutcome(p, 'read').ok).map(([p]) => p);
    if (cmd.length) this.warnings.push(`over-restriction on purpose: read withheld from ${cmd.length} binar${cmd.length === 1 ? 'y' : 'ies'} that command rules deny (so they cannot run via ld.so, a copy or a script interpreter) although file rules allow reading them: ${cmd.join(', ')}`);
    if (this.readDirWithheld.length) this.warnings.push(`over-restriction: read_dir withheld from ${this.readDirWithheld.length} director${this.readDirWithheld.length === 1 ? 'y' : 'ies'} the policy lets list, because a rule may deny listing some directory below (READ_DIR on a directory covers its subdirectories; granted per child instead): ${this.readDirWithheld.join(', ')}`);
    if (this.nameOnlyRules.size) this.warnings.push(`listing a directory whose own name matches ${[...this.nameOnlyRules].join(', ')} is not refused by the kernel (those rules name a final component anywhere in the tree; READ_DIR is granted per hierarchy)`);
    if (this.depthNotes.size) this.warnings.push(`depth-dependent command rules are left to seccomp user-notify (not expressible in Landlock): ${[...this.depthNotes].join(', ')}`);
    for (const g of this.grants) {
      if (g[1].has('create') && g[1].has('exec')) this.warnings.push(`${g[0]} is both writable and executable: a copy of a denied binary placed there could run`);
    }
  }

  private plannedGrants(): FsGrant[] {
    return [...this.grants].map(([path, rights]) => ({ path, rights: [...rights] }));
  }
}

/** Whether the plan lets `right` on `path` (a sandbox path, already resolved: no symlinks); a masked file allows nothing. */
export function planAllows(plan: { grants: FsGrant[]; masked?: string[] }, path: string, right: FsRight): boolean {
  if (plan.masked?.includes(path)) return false;
  return plan.grants.some((g) => (g.path === path || isBelow(path, g.path)) && g.rights.includes(right));
}
