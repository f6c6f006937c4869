// Per-command cgroups: what this machine lets agentsh use (probeCgroups), one cgroup per
// governed command with the policy's limits written in (createCommandCgroup), its usage, and
// its removal with every leftover process killed; at set-up, the trees of servers that were
// killed before they could remove theirs (sweepStaleCgroups).
//
// Only cgroups agentsh creates are ever written: everything lives below
// `<parent>/agentsh/<server-pid>/<command-id>`, where <parent> is the server's own cgroup in
// that hierarchy (so every limit that already encloses the server also encloses its
// commands) or, on cgroup v2, the nearest ancestor whose cgroup.subtree_control already hands
// the needed controllers down (v2 forbids enabling controllers in a cgroup that holds
// processes, and agentsh never changes a cgroup it did not create). Controllers are enabled
// only in agentsh's own directories.
//
// Controllers are looked up one by one: cgroup v2 when it delegates the controller, else the
// cgroup v1 hierarchy that has it (pids, memory, cpu, blkio), else it is not available. A v2
// hierarchy without any controller (the "hybrid" layout: v1 controllers + an empty
// /sys/fs/cgroup/unified) is still used for tracking: cgroup.kill ends every leftover process
// atomically and cpu.stat gives the CPU time.
//
// The command joins the cgroups itself (the launcher's `cgroup PATH` directive writes "0" to
// each cgroup.procs file before Landlock and before dropping privileges), so everything it
// forks is accounted from its first instruction on.
import { closeSync, constants, mkdirSync, openSync, readFileSync, readdirSync, rmdirSync, writeSync } from 'node:fs';
import { posix } from 'node:path';

export type Controller = 'pids' | 'memory' | 'cpu' | 'io';
export const CONTROLLERS: readonly Controller[] = ['pids', 'memory', 'cpu', 'io'];
const V1_NAME: Record<Controller, string> = { pids: 'pids', memory: 'memory', cpu: 'cpu', io: 'blkio' };
const V2_LIMIT_FILE: Record<Controller, string> = { pids: 'pids.max', memory: 'memory.max', cpu: 'cpu.max', io: 'io.max' };

/** The limits a cgroup can carry (undefined = not limited). */
export interface CgroupLimits {
  memoryBytes?: number;
  /** Swap on top of memoryBytes (0 = no swap). Needs swap accounting. */
  swapBytes?: number;
  /** Percent of one CPU (150 = one and a half CPUs). */
  cpuPercent?: number;
  pidsMax?: number;
  diskReadBps?: number;
  diskWriteBps?: number;
}

export type LimitName = 'memory' | 'swap' | 'cpu' | 'pids' | 'diskRead' | 'diskWrite';
export const LIMIT_NAMES: readonly LimitName[] = ['memory', 'swap', 'cpu', 'pids', 'diskRead', 'diskWrite'];

/** What is really enforced for one limit: 'partial' says how in `via`. */
export interface LimitStatus {
  /** The requested value (bytes, percent, count, bytes/s); null = not requested. */
  requested: number | null;
  enforced: 'yes' | 'partial' | 'no';
  /** The mechanism (file or rlimit) and its caveats, or why nothing enforces it. */
  via: string;
}

export const CPU_PERIOD_US = 100_000;

// --------------------------------------------------------------------------- parsing

export interface MountEntry { fstype: string; mountPoint: string; root: string; superOptions: string[]; readOnly: boolean }

const unoctal = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The cgroup and cgroup2 mounts of a /proc/<pid>/mountinfo text. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash < 6 || f.length < dash + 4) continue;
    const fstype = f[dash + 1]!;
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const mountOpts = f[5]!.split(',');
    const superOptions = f[dash + 3]!.split(',');
    out.push({ fstype, root: unoctal(f[3]!), mountPoint: unoctal(f[4]!), superOptions, readOnly: mountOpts.includes('ro') || superOptions.includes('ro') });
  }
  return out;
}

export interface ProcCgroupEntry { id: number; controllers: string[]; path: string }

/** /proc/<pid>/cgroup: `ID:CONTROLLERS:PATH` lines (v2: `0::PATH`). */
export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const out: ProcCgroupEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (m) out.push({ id: Number(m[1]), controllers: m[2] ? m[2].split(',') : [], path: m[3]! });
  }
  return out;
}

/** Host directory of cgroup `path` in a mount whose root is `root` (null: not visible there). */
function hostDir(mount: MountEntry, path: string): string | null {
  const rel = posix.relative(mount.root, path);
  if (rel.startsWith('..') || posix.isAbsolute(rel)) return null;
  return rel ? posix.join(mount.mountPoint, rel) : mount.mountPoint;
}

// ---------------------------------------------------------------------------- files

const errCode = (e: unknown) => (e as NodeJS.ErrnoException)?.code ?? String(e);

function readText(path: string): string | null {
  try { return readFileSync(path, 'utf8'); } catch { return null; }
}

/** One write() of `text` into an existing file (cgroupfs files are never created). */
export function writeCgroupFile(path: string, text: string): void {
  const fd = openSync(path, constants.O_WRONLY);
  try { writeSync(fd, text); } finally { closeSync(fd); }
}

function listDir(path: string): string[] {
  try { return readdirSync(path); } catch { return []; }
}

function keyed(text: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

function num(text: string | null): number | undefined {
  const t = text?.trim();
  return t && /^\d+$/.test(t) ? Number(t) : undefined;
}

// ---------------------------------------------------------------------------- probe

export interface CgroupPlace {
  version: 1 | 2;
  mountPoint: string;
  /** The existing cgroup below which agentsh creates `<base>/<server-pid>/<command-id>`. */
  parent: string;
  /** Limit controllers this place gives agentsh's cgroups (may be empty: v2 tracking only). */
  controllers: Controller[];
  /** Interface files seen in a probe child: memory.swap.max, cgroup.kill, io.max ... */
  files: string[];
}

export interface CgroupProbe {
  /** Where the limit controllers come from. */
  mechanism: 'cgroup-v2' | 'cgroup-v1' | 'cgroup-v1+v2' | 'none';
  /** Which cgroup version provides each usable controller. */
  controllers: Partial<Record<Controller, 1 | 2>>;
  places: CgroupPlace[];
  /** memory.swap.max (v2) or memory.memsw.limit_in_bytes (v1) exists. */
  swapAccounting: boolean;
  /** A v2 place with cgroup.kill: leftovers are killed atomically. */
  atomicKill: boolean;
  notes: string[];
}

export interface ProbeOptions {
  /** /proc/self/mountinfo text (tests). */
  mountinfo?: string;
  /** /proc/self/cgroup text (tests). */
  selfCgroup?: string;
  /** Directory name of agentsh's subtree in each parent (default 'agentsh'). */
  base?: string;
}

let probeSeq = 0;

/** mkdir + list + rmdir of a throwaway child: is `dir` writable, and which files does a child get? */
function probeChild(dir: string): { files: string[] } | { error: string } {
  const child = posix.join(dir, `agentsh-probe-${process.pid}-${++probeSeq}`);
  try {
    mkdirSync(child);
  } catch (e) {
    return { error: errCode(e) };
  }
  const files = listDir(child);
  try { rmdirSync(child); } catch { /* a cgroup with no process can always be removed */ }
  return { files };
}

/**
 * What this machine lets agentsh use, found by reading mountinfo and /proc/self/cgroup and
 * creating (and removing) one empty probe cgroup in each candidate place.
 */
export function probeCgroups(opts: ProbeOptions = {}): CgroupProbe {
  const notes: string[] = [];
  const mounts = parseMountinfo(opts.mountinfo ?? readText('/proc/self/mountinfo') ?? '');
  const self = parseProcCgroup(opts.selfCgroup ?? readText('/proc/self/cgroup') ?? '');
  const places: CgroupPlace[] = [];
  const controllers: Partial<Record<Controller, 1 | 2>> = {};

  // cgroup v2: the deepest writable cgroup, from our own up to the mount's root, whose
  // subtree_control already delegates the most controllers.
  const own2 = self.find((e) => e.id === 0 && e.controllers.length === 0);
  const v2mounts = mounts.filter((m) => m.fstype === 'cgroup2');
  const v2 = v2mounts.filter((m) => !m.readOnly && own2 && hostDir(m, own2.path)).sort((a, b) => b.root.length - a.root.length)[0]
    ?? v2mounts.find((m) => m.mountPoint === '/sys/fs/cgroup') ?? v2mounts.find((m) => !m.readOnly) ?? v2mounts[0];
  if (v2 && v2.readOnly) notes.push(`cgroup v2 at ${v2.mountPoint} is mounted read-only`);
  else if (v2) {
    const start = (own2 && hostDir(v2, own2.path)) ?? v2.mountPoint;
    const candidates: Array<{ dir: string; ctl: Controller[]; depth: number }> = [];
    for (let dir = start, depth = 0; ; dir = posix.dirname(dir), depth++) {
      const sub = (readText(posix.join(dir, 'cgroup.subtree_control')) ?? '').split(/\s+/);
      candidates.push({ dir, depth, ctl: CONTROLLERS.filter((c) => sub.includes(c)) });
      if (dir === v2.mountPoint || !dir.startsWith(`${v2.mountPoint}/`)) break;
    }
    candidates.sort((a, b) => b.ctl.length - a.ctl.length || a.depth - b.depth);
    for (const c of candidates) {
      const r = probeChild(c.dir);
      if ('error' in r) { notes.push(`cgroup v2: cannot create below ${c.dir} (${r.error})`); continue; }
      const ctl = c.ctl.filter((x) => r.files.includes(V2_LIMIT_FILE[x]));
      places.push({ version: 2, mountPoint: v2.mountPoint, parent: c.dir, controllers: ctl, files: r.files });
      for (const x of ctl) controllers[x] = 2;
      if (ctl.length === 0) notes.push(`cgroup v2 at ${v2.mountPoint} delegates no controller (used for tracking and cgroup.kill only)`);
      break;
    }
  }

  // cgroup v1: one hierarchy per controller v2 does not give, below our own cgroup there.
  for (const c of CONTROLLERS) {
    if (controllers[c]) continue;
    const name = V1_NAME[c];
    const own = self.find((e) => e.controllers.includes(name));
    // Several mounts may show the hierarchy: a read-only view of all of it and a writable bind
    // of just our own cgroup (how a provider delegates one): the writable one that holds our
    // cgroup wins, the deepest first.
    const all = mounts.filter((m) => m.fstype === 'cgroup' && m.superOptions.includes(name));
    const mount = all.filter((m) => !m.readOnly && (!own || hostDir(m, own.path))).sort((a, b) => b.root.length - a.root.length)[0] ?? all[0];
    if (!mount) continue;
    if (mount.readOnly) { notes.push(`cgroup v1 ${name} at ${mount.mountPoint} is read-only`); continue; }
    const existing = places.find((p) => p.version === 1 && p.mountPoint === mount.mountPoint);
    if (existing) { existing.controllers.push(c); controllers[c] = 1; continue; }
    const dir = (own && hostDir(mount, own.path)) ?? mount.mountPoint;
    const r = probeChild(dir);
    if ('error' in r) { notes.push(`cgroup v1 ${name}: cannot create below ${dir} (${r.error})`); continue; }
    places.push({ version: 1, mountPoint: mount.mountPoint, parent: dir, controllers: [c], files: r.files });
    controllers[c] = 1;
  }

  const versions = new Set(Object.values(controllers));
  const mechanism = versions.size === 0 ? 'none' : versions.size === 2 ? 'cgroup-v1+v2' : versions.has(2) ? 'cgroup-v2' : 'cgroup-v1';
  const memPlace = places.find((p) => p.controllers.includes('memory'));
  const swapAccounting = !!memPlace?.files.some((f) => f === 'memory.swap.max' || f === 'memory.memsw.limit_in_bytes');
  const atomicKill = places.some((p) => p.version === 2 && p.files.includes('cgroup.kill'));
  if (mechanism === 'none' && !places.length) notes.push('no writable cgroup hierarchy');
  return { mechanism, controllers, places, swapAccounting, atomicKill, notes };
}

// -------------------------------------------------------------------------- devices

/** Whole disks (MAJ:MIN) that I/O limits are written for: /sys/block minus loop, ram, zram, cd. */
export function blockDevices(): Array<{ name: string; dev: string }> {
  const out: Array<{ name: string; dev: string }> = [];
  for (const name of listDir('/sys/block')) {
    if (/^(loop|ram|zram|sr|fd|nbd)\d*/.test(name)) continue;
    const dev = readText(`/sys/block/${name}/dev`)?.trim();
    if (dev && /^\d+:\d+$/.test(dev) && (num(readText(`/sys/block/${name}/size`)) ?? 0) > 0) out.push({ name, dev });
  }
  return out;
}

// --------------------------------------------------------------------------- handle

export interface CgroupDir { version: 1 | 2; path: string; controllers: Controller[] }

export interface CgroupUsage {
  /** Highest memory use seen (v2 memory.peak, v1 memory.max_usage_in_bytes). */
  memoryPeakBytes?: number;
  memoryCurrentBytes?: number;
  /** Times the OOM killer killed a process of the cgroup. */
  oomKills?: number;
  pidsCurrent?: number;
  pidsPeak?: number;
  /** Forks refused because pids.max was reached. */
  pidsMaxHits?: number;
  cpuUsageUsec?: number;
  /** Periods in which the CPU quota stopped the cgroup. */
  cpuThrottledPeriods?: number;
}

export interface RemoveResult {
  /** Every directory agentsh created for the command is gone. */
  removed: boolean;
  /** Processes that were still in the cgroup and got SIGKILL. */
  killed: number;
  /** What could not be removed, with the reason. */
  leftovers: string[];
}

export interface CgroupHandle {
  readonly id: string;
  readonly dirs: readonly CgroupDir[];
  /** The cgroup.procs files the command joins (launcher `cgroup PATH` directives). */
  readonly procsFiles: string[];
  /** What this cgroup really enforces (limits written and read back). */
  readonly applied: Partial<Record<LimitName, LimitStatus>>;
  /** Requested limits whose files could not be written. */
  readonly failures: string[];
  /** Pids (in this pid namespace) of the processes in the cgroup. */
  pids(): number[];
  usage(): CgroupUsage;
  /** Kills every process left in the cgroup, then removes it. Never throws. */
  remove(opts?: { timeoutMs?: number }): Promise<RemoveResult>;
}

export interface CreateOptions {
  serverPid?: number;
  /** [A-Za-z0-9._-]{1,64}, not starting with a dot; unique per server. */
  commandId: string;
  base?: string;
}

const SAFE_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

function mkdirOk(dir: string): void {
  try { mkdirSync(dir); } catch (e) { if (errCode(e) !== 'EEXIST') throw e; }
}

function enableControllers(dir: string, ctl: readonly Controller[]): void {
  const have = (readText(posix.join(dir, 'cgroup.subtree_control')) ?? '').split(/\s+/);
  for (const c of ctl) if (!have.includes(c)) writeCgroupFile(posix.join(dir, 'cgroup.subtree_control'), `+${c}`);
}

/** Creates `<parent>/<base>/<serverPid>/<commandId>`, retrying when a concurrent removal
 * took a shared parent away between two mkdirs. */
function makeLeaf(place: CgroupPlace, base: string, serverPid: number, id: string, ctl: readonly Controller[]): string {
  const top = posix.join(place.parent, base);
  const mid = posix.join(top, String(serverPid));
  const leaf = posix.join(mid, id);
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirOk(top);
      if (place.version === 2) enableControllers(top, ctl);
      mkdirOk(mid);
      if (place.version === 2) enableControllers(mid, ctl);
      mkdirSync(leaf);
      return leaf;
    } catch (e) {
      if (errCode(e) === 'EEXIST') throw new Error(`cgroup ${leaf} already exists (command id reused?)`);
      if (errCode(e) !== 'ENOENT' || attempt >= 4) throw e;
    }
  }
}

const MIB = 1024 * 1024;
const fmtBytes = (n: number) => (n % MIB === 0 ? `${n / MIB} MiB` : `${n} bytes`);

/**
 * Creates the command's cgroup in every usable place and writes the limits. A limit the
 * probe said is available but whose file refuses the value is recorded in `failures` (the
 * caller decides whether that is fatal). Throws only when a directory can't be created
 * (after removing what it created).
 */
export function createCommandCgroup(probe: CgroupProbe, limits: CgroupLimits, opts: CreateOptions): CgroupHandle {
  if (!SAFE_ID.test(opts.commandId)) throw new Error(`cgroup: invalid command id ${JSON.stringify(opts.commandId)}`);
  const base = opts.base ?? 'agentsh';
  if (!SAFE_ID.test(base)) throw new Error(`cgroup: invalid base ${JSON.stringify(base)}`);
  const serverPid = opts.serverPid ?? process.pid;
  const wanted = new Set<Controller>();
  if (limits.pidsMax !== undefined) wanted.add('pids');
  if (limits.memoryBytes !== undefined || limits.swapBytes !== undefined) wanted.add('memory');
  if (limits.cpuPercent !== undefined) wanted.add('cpu');
  if (limits.diskReadBps !== undefined || limits.diskWriteBps !== undefined) wanted.add('io');

  const dirs: CgroupDir[] = [];
  const handle = new Handle(opts.commandId, dirs, base, serverPid);
  try {
    for (const place of probe.places) {
      const ctl = place.controllers.filter((c) => wanted.has(c));
      // A v1 hierarchy is joined only for a limit it carries; a v2 one always (tracking, kill).
      if (place.version === 1 && ctl.length === 0) continue;
      const leaf = makeLeaf(place, base, serverPid, opts.commandId, ctl);
      dirs.push({ version: place.version, path: leaf, controllers: ctl });
    }
  } catch (e) {
    handle.removeEmptySync();
    throw new Error(`cgroup: cannot create the command's cgroup: ${(e as Error).message}`);
  }
  handle.applyLimits(limits);
  return handle;
}

// ---------------------------------------------------------------------------- sweep

export interface SweepOptions {
  /** agentsh's directory in each parent (default 'agentsh'). */
  base?: string;
  /** This server (default process.pid): its own tree is never touched. */
  serverPid?: number;
  /** Whether a pid names a process now (default kill(pid, 0)); tests inject it. */
  pidExists?: (pid: number) => boolean;
  log?: (line: string) => void;
}

export interface SweepResult {
  /** `<parent>/<base>/<pid>` directories removed with everything below them. */
  removed: string[];
  /** Cgroups of dead servers that could not go, with the reason (EBUSY: processes still in them). */
  left: string[];
}

/** kill(pid, 0): ESRCH is the only proof that no process (a zombie included) has the pid. */
function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errCode(e) !== 'ESRCH';
  }
}

/** rmdir of `dir`, its children first. Never unlinks a file or kills anything: a cgroup that
 * still holds a process refuses rmdir (EBUSY) and stays, listed in `left`. */
function rmdirTree(dir: string, left: string[], depth = 0): void {
  let kids: string[];
  try {
    kids = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => posix.join(dir, e.name));
  } catch (e) {
    if (errCode(e) !== 'ENOENT') left.push(`${dir}: ${errCode(e)}`);
    return;
  }
  if (depth < 8) for (const k of kids) rmdirTree(k, left, depth + 1);
  try {
    rmdirSync(dir);
  } catch (e) {
    const code = errCode(e);
    if (code === 'ENOENT') return; // another server's sweep got there first
    const pids = (readText(posix.join(dir, 'cgroup.procs')) ?? '').split('\n').filter((l) => /^\d+$/.test(l));
    left.push(`${dir}: ${code}${pids.length ? ` (pids ${pids.join(' ')})` : ''}`);
  }
}

/**
 * Removes the `<parent>/<base>/<pid>` trees of servers that are gone: a SIGKILLed server never
 * runs its clean-up, and its command cgroups (emptied by pdeathsig) stayed forever. Run when a
 * server sets up its cgroups, before it creates any.
 *
 * Only pids that name no process at all are swept. A live pid keeps its tree even if it may
 * have been reused by something that is not a server: telling a server apart by its command
 * line is a guess, and a wrong guess would rmdir a live server's fresh command cgroup between
 * its mkdir and the command joining it. A reused pid only delays the sweep to a later start.
 * The pids are those of the servers' pid namespace: servers sharing a parent cgroup must share
 * it (as `<base>/<pid>` already assumes: two namespaces could both have a server 7).
 */
export function sweepStaleCgroups(probe: CgroupProbe, opts: SweepOptions = {}): SweepResult {
  const base = opts.base ?? 'agentsh';
  if (!SAFE_ID.test(base)) throw new Error(`cgroup: invalid base ${JSON.stringify(base)}`);
  const self = opts.serverPid ?? process.pid;
  const exists = opts.pidExists ?? pidExists;
  const out: SweepResult = { removed: [], left: [] };
  for (const place of probe.places) {
    const top = posix.join(place.parent, base);
    let entries: string[];
    try {
      // Directories only (never a symlink), named like a pid: cgroupfs's own files all have a dot.
      entries = readdirSync(top, { withFileTypes: true }).filter((e) => e.isDirectory() && /^[1-9]\d{0,9}$/.test(e.name)).map((e) => e.name);
    } catch {
      continue; // no agentsh tree in this place yet
    }
    for (const name of entries) {
      const pid = Number(name);
      if (pid === self || exists(pid)) continue;
      const dir = posix.join(top, name);
      const left: string[] = [];
      rmdirTree(dir, left);
      if (left.length === 0) {
        out.removed.push(dir);
        opts.log?.(`agentsh: removed ${dir}: the cgroups of server ${pid}, which is gone (killed before it could remove them)`);
      } else {
        out.left.push(...left);
        opts.log?.(`agentsh: cgroups of server ${pid}, which is gone, could not all be removed: ${left.join('; ')}`);
      }
    }
  }
  return out;
}

class Handle implements CgroupHandle {
  readonly applied: Partial<Record<LimitName, LimitStatus>> = {};
  readonly failures: string[] = [];
  constructor(readonly id: string, readonly dirs: CgroupDir[], private readonly base: string, private readonly serverPid: number) {}

  get procsFiles(): string[] {
    return this.dirs.map((d) => posix.join(d.path, 'cgroup.procs'));
  }

  private dirFor(c: Controller): CgroupDir | undefined {
    return this.dirs.find((d) => d.controllers.includes(c));
  }

  private set(name: LimitName, requested: number, dir: CgroupDir, writes: Array<[string, string]>, via: string, partial?: string): void {
    try {
      for (const [file, value] of writes) writeCgroupFile(posix.join(dir.path, file), value);
      this.applied[name] = { requested, enforced: partial ? 'partial' : 'yes', via: `cgroup v${dir.version} ${via}${partial ? ` (${partial})` : ''}` };
    } catch (e) {
      this.failures.push(`${name}: ${writes.map(([f, v]) => `${f}=${v.trim()}`).join(', ')}: ${errCode(e)}`);
      this.applied[name] = { requested, enforced: 'no', via: `cgroup v${dir.version} ${via} refused (${errCode(e)})` };
    }
  }

  applyLimits(l: CgroupLimits): void {
    const pids = this.dirFor('pids');
    if (l.pidsMax !== undefined && pids) this.set('pids', l.pidsMax, pids, [['pids.max', `${l.pidsMax}\n`]], `pids.max=${l.pidsMax}`);

    const mem = this.dirFor('memory');
    if (mem && mem.version === 2) {
      if (l.memoryBytes !== undefined) this.set('memory', l.memoryBytes, mem, [['memory.max', `${l.memoryBytes}\n`]], `memory.max=${fmtBytes(l.memoryBytes)}`);
      if (l.swapBytes !== undefined) {
        if (listDir(mem.path).includes('memory.swap.max')) this.set('swap', l.swapBytes, mem, [['memory.swap.max', `${l.swapBytes}\n`]], `memory.swap.max=${fmtBytes(l.swapBytes)}`);
        else this.applied.swap = { requested: l.swapBytes, enforced: 'no', via: 'memory.swap.max missing (swap accounting off)' };
      }
    } else if (mem) {
      if (l.memoryBytes !== undefined) this.set('memory', l.memoryBytes, mem, [['memory.limit_in_bytes', `${l.memoryBytes}\n`]], `memory.limit_in_bytes=${fmtBytes(l.memoryBytes)}`);
      if (l.swapBytes !== undefined) {
        const memsw = listDir(mem.path).includes('memory.memsw.limit_in_bytes');
        if (!memsw) this.applied.swap = { requested: l.swapBytes, enforced: 'no', via: 'memory.memsw.limit_in_bytes missing (swap accounting off)' };
        else if (l.memoryBytes === undefined) this.applied.swap = { requested: l.swapBytes, enforced: 'no', via: 'cgroup v1 limits swap only together with a memory limit' };
        else {
          const total = l.memoryBytes + l.swapBytes;
          this.set('swap', l.swapBytes, mem, [['memory.memsw.limit_in_bytes', `${total}\n`]], `memory.memsw.limit_in_bytes=${fmtBytes(total)} (memory + swap)`);
        }
      }
    }

    const cpu = this.dirFor('cpu');
    if (l.cpuPercent !== undefined && cpu) {
      const quota = Math.max(1000, Math.round((l.cpuPercent * CPU_PERIOD_US) / 100));
      if (cpu.version === 2) this.set('cpu', l.cpuPercent, cpu, [['cpu.max', `${quota} ${CPU_PERIOD_US}\n`]], `cpu.max="${quota} ${CPU_PERIOD_US}"`);
      else this.set('cpu', l.cpuPercent, cpu, [['cpu.cfs_period_us', `${CPU_PERIOD_US}\n`], ['cpu.cfs_quota_us', `${quota}\n`]], `cpu.cfs_quota_us=${quota}/cfs_period_us=${CPU_PERIOD_US}`);
    }

    const io = this.dirFor('io');
    if (io && (l.diskReadBps !== undefined || l.diskWriteBps !== undefined)) {
      const devs = blockDevices();
      const names = devs.map((d) => `${d.name}(${d.dev})`).join(',');
      for (const [name, bps] of [['diskRead', l.diskReadBps], ['diskWrite', l.diskWriteBps]] as const) {
        if (bps === undefined) continue;
        if (!devs.length) { this.applied[name] = { requested: bps, enforced: 'no', via: 'no block device found in /sys/block' }; continue; }
        if (io.version === 2) {
          const key = name === 'diskRead' ? 'rbps' : 'wbps';
          // Buffered writes are attributed at writeback only when memory is on v2 too.
          const partial = name === 'diskWrite' && this.dirFor('memory')?.version !== 2 ? 'buffered writeback is not attributed without the v2 memory controller' : undefined;
          this.set(name, bps, io, devs.map((d) => ['io.max', `${d.dev} ${key}=${bps}\n`]), `io.max ${key}=${bps} on ${names}`, partial);
        } else {
          const file = name === 'diskRead' ? 'blkio.throttle.read_bps_device' : 'blkio.throttle.write_bps_device';
          const partial = name === 'diskWrite' ? 'cgroup v1 throttles direct I/O only: buffered writes reach the disk through writeback, which v1 does not attribute' : undefined;
          this.set(name, bps, io, devs.map((d) => [file, `${d.dev} ${bps}\n`]), `${file}=${bps} on ${names}`, partial);
        }
      }
    }
  }

  pids(): number[] {
    const out = new Set<number>();
    for (const f of this.procsFiles) for (const l of (readText(f) ?? '').split('\n')) if (/^\d+$/.test(l)) out.add(Number(l));
    return [...out];
  }

  usage(): CgroupUsage {
    const u: CgroupUsage = {};
    const read = (d: CgroupDir | undefined, f: string) => (d ? readText(posix.join(d.path, f)) : null);
    const mem = this.dirFor('memory');
    if (mem?.version === 2) {
      u.memoryPeakBytes = num(read(mem, 'memory.peak'));
      u.memoryCurrentBytes = num(read(mem, 'memory.current'));
      u.oomKills = keyed(read(mem, 'memory.events')).oom_kill;
    } else if (mem) {
      u.memoryPeakBytes = num(read(mem, 'memory.max_usage_in_bytes'));
      u.memoryCurrentBytes = num(read(mem, 'memory.usage_in_bytes'));
      u.oomKills = keyed(read(mem, 'memory.oom_control')).oom_kill;
    }
    const pids = this.dirFor('pids');
    if (pids) {
      u.pidsCurrent = num(read(pids, 'pids.current'));
      u.pidsPeak = num(read(pids, 'pids.peak'));
      u.pidsMaxHits = keyed(read(pids, 'pids.events')).max;
    }
    const v2 = this.dirs.find((d) => d.version === 2);
    if (v2) u.cpuUsageUsec = keyed(read(v2, 'cpu.stat')).usage_usec;
    const cpu = this.dirFor('cpu');
    if (cpu) u.cpuThrottledPeriods = keyed(read(cpu, 'cpu.stat')).nr_throttled;
    for (const k of Object.keys(u) as Array<keyof CgroupUsage>) if (u[k] === undefined) delete u[k];
    return u;
  }

  private removing: Promise<RemoveResult> | null = null;

  remove(opts: { timeoutMs?: number } = {}): Promise<RemoveResult> {
    this.removing ??= this.doRemove(opts.timeoutMs ?? 5000).catch((e) => ({ removed: false, killed: 0, leftovers: [`remove: ${String(e)}`] }));
    return this.removing;
  }

  /** Before any process joined (creation failed half-way). */
  removeEmptySync(): void {
    for (const d of [...this.dirs].reverse()) {
      try { rmdirSync(d.path); } catch { /* reported by the caller's error */ }
      this.removeParents(d.path);
    }
  }

  /** `<base>/<server-pid>` and `<base>` go when empty (another command's cgroup keeps them: EBUSY). */
  private removeParents(leaf: string): void {
    const mid = posix.dirname(leaf);
    const top = posix.dirname(mid);
    if (posix.basename(mid) !== String(this.serverPid) || posix.basename(top) !== this.base) return;
    try { rmdirSync(mid); rmdirSync(top); } catch { /* in use or already gone */ }
  }

  /** SIGKILL for everything in the cgroup: cgroup.kill on v2, each listed pid otherwise. */
  private killAll(seen: Set<number>): void {
    for (const d of this.dirs) {
      if (d.version !== 2) continue;
      try { writeCgroupFile(posix.join(d.path, 'cgroup.kill'), '1'); } catch { /* no cgroup.kill (< 5.14) or already gone */ }
    }
    for (const pid of this.pids()) {
      if (pid === process.pid || pid <= 1) continue; // never the server itself
      seen.add(pid);
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  }

  private async doRemove(timeoutMs: number): Promise<RemoveResult> {
    const deadline = Date.now() + timeoutMs;
    const seen = new Set(this.pids().filter((p) => p !== process.pid));
    const leftovers: string[] = [];
    for (const d of [...this.dirs].reverse()) {
      for (;;) {
        this.killAll(seen);
        try {
          rmdirSync(d.path);
          break;
        } catch (e) {
          const code = errCode(e);
          if (code === 'ENOENT') break;
          if ((code === 'EBUSY' || code === 'ENOTEMPTY') && Date.now() < deadline) { await new Promise((r) => setTimeout(r, 10)); continue; }
          const left = this.pids();
          leftovers.push(`${d.path}: ${code}${left.length ? ` (pids ${left.join(' ')})` : ''}`);
          break;
        }
      }
      this.removeParents(d.path);
    }
    return { removed: leftovers.length === 0, killed: seen.size, leftovers };
  }
}
