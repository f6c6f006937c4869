// Filesystem work for the trash: describing a payload (hashes, directory manifest, modes,
// mtimes), putting modes/mtimes back, copying across filesystems, and opening a restore
// destination's parent without following symlinks an agent could have planted.
//
// Payloads are agent-made: nothing here follows a symlink inside a payload, opens a
// non-regular file for reading, or trusts a name it has not checked.
import { createHash } from 'node:crypto';
import {
  closeSync, constants, existsSync, fstatSync, lchownSync, lstatSync, lutimesSync,
  mkdirSync, openSync, readdirSync, readlinkSync, readSync, rmSync, symlinkSync, writeSync, chmodSync,
  type BigIntStats,
} from 'node:fs';
import { join } from 'node:path';
import { TrashError } from './errors.js';

export type NodeType = 'file' | 'dir' | 'symlink' | 'other';

/** One entry inside a directory payload (paths relative to it, '/'-separated). */
export interface ManifestEntry {
  path: string;
  type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  /** Nanoseconds since the epoch, as a decimal string (exact). */
  mtimeNs: string;
  /** Bytes for regular files, 0 otherwise. */
  size: number;
  sha256?: string;
  target?: string;
}

/** What a payload is: the root's own attributes, and its content in hashable form. */
export interface Description {
  kind: NodeType;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: string;
  /** Bytes: the file's, or the sum of the regular files in a directory. */
  size: number;
  sha256?: string;
  target?: string;
  digest?: string;
  manifest?: ManifestEntry[];
}

const CHUNK = 1 << 20;
const euid = (): number => process.geteuid?.() ?? -1;

export function nodeType(st: BigIntStats): NodeType {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

const TYPE_NAMES: Array<[keyof BigIntStats, string]> = [['isFIFO', 'fifo'], ['isSocket', 'socket'], ['isCharacterDevice', 'character device'], ['isBlockDevice', 'block device']];
export function typeName(st: BigIntStats): string {
  for (const [k, name] of TYPE_NAMES) if ((st[k] as () => boolean).call(st)) return name;
  return nodeType(st);
}

export const lstatBig = (p: string): BigIntStats | undefined => lstatSync(p, { bigint: true, throwIfNoEntry: false });

/** Retries once after adding the owner's permission bits `need` (e.g. a 0000 file when not
 *  root): the recorded mode is put back on restore, so only the trash copy changes. */
function withAccess<T>(path: string, need: number, body: () => T): T {
  try {
    return body();
  } catch (err) {
    const st = (err as NodeJS.ErrnoException).code === 'EACCES' ? lstatBig(path) : undefined;
    if (!st || st.isSymbolicLink() || Number(st.uid) !== euid()) throw err;
    chmodSync(path, (Number(st.mode) & 0o7777) | need);
    return body();
  }
}

/** sha256 and size of a regular file, opened without following a symlink or blocking. */
export function hashFile(path: string): { sha256: string; size: number } {
  const fd = withAccess(path, 0o400, () => openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK));
  try {
    if (!fstatSync(fd).isFile()) throw new TrashError(`${path} is not a regular file`);
    return hashFd(fd);
  } finally {
    closeSync(fd);
  }
}

function hashFd(fd: number): { sha256: string; size: number } {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  let size = 0;
  for (;;) {
    const n = readSync(fd, buf, 0, CHUNK, size);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
    size += n;
  }
  return { sha256: h.digest('hex'), size };
}

function attrs(st: BigIntStats) {
  return { mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs.toString() };
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Names of a directory, byte-sorted. Names that are not valid UTF-8 can't be stored and
 *  reopened faithfully as strings, so they are refused. */
function readNames(dir: string): string[] {
  const raw = withAccess(dir, 0o500, () => readdirSync(dir, { encoding: 'buffer' }));
  const names = raw.map((b) => {
    const s = b.toString('utf8');
    if (!Buffer.from(s, 'utf8').equals(b)) throw new TrashError(`${dir} holds a file name that is not valid UTF-8 (${JSON.stringify(s)}); handle this entry by hand`);
    return s;
  });
  return names.sort(byteOrder);
}

/** Every entry under a directory (not the directory itself), parents before children. */
export function scanTree(root: string): ManifestEntry[] {
  const out: ManifestEntry[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readNames(dir)) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatBig(p);
      if (!st) throw new TrashError(`${p} vanished while being read`);
      const type = nodeType(st);
      const e: ManifestEntry = { path: r, type, ...attrs(st), size: 0 };
      if (type === 'file') Object.assign(e, hashFile(p));
      else if (type === 'symlink') e.target = readlinkSync(p);
      out.push(e);
      if (type === 'dir') walk(p, r);
    }
  };
  walk(root, '');
  return out;
}

/** The digest of a directory's content: paths, types, sizes, file hashes, symlink targets.
 *  Modes and mtimes are left out: they are recorded separately and put back on restore. */
export function manifestDigest(entries: ManifestEntry[]): string {
  const canon = entries.map((e) => [e.path, e.type, e.size, e.sha256 ?? e.target ?? null]);
  return createHash('sha256').update(JSON.stringify(canon)).digest('hex');
}

export function describe(path: string): Description {
  const st = lstatBig(path);
  if (!st) throw new TrashError(`${path} does not exist`);
  const kind = nodeType(st);
  const d: Description = { kind, ...attrs(st), size: 0 };
  if (kind === 'file') Object.assign(d, hashFile(path));
  else if (kind === 'symlink') d.target = readlinkSync(path);
  else if (kind === 'dir') {
    d.manifest = scanTree(path);
    d.digest = manifestDigest(d.manifest);
    d.size = d.manifest.reduce((n, e) => n + e.size, 0);
  } else throw new TrashError(`${path} is a ${typeName(st)}: only files, directories and symlinks are kept in the trash`);
  return d;
}

/** Null when `actual` has the content `recorded` says, else what differs. */
export function contentMismatch(recorded: Description, actual: Description): string | null {
  if (recorded.kind !== actual.kind) return `it was a ${recorded.kind}, it is now a ${actual.kind}`;
  if (recorded.kind === 'file') return recorded.sha256 === actual.sha256 && recorded.size === actual.size ? null : `sha256 ${actual.sha256} (${actual.size} bytes), recorded ${recorded.sha256} (${recorded.size} bytes)`;
  if (recorded.kind === 'symlink') return recorded.target === actual.target ? null : `symlink target '${actual.target}', recorded '${recorded.target}'`;
  if (recorded.digest === actual.digest) return null;
  const was = new Map((recorded.manifest ?? []).map((e) => [e.path, e]));
  const now = new Map((actual.manifest ?? []).map((e) => [e.path, e]));
  for (const [p, e] of now) {
    const r = was.get(p);
    if (!r) return `${p} was added`;
    if (r.type !== e.type || r.size !== e.size || (r.sha256 ?? r.target) !== (e.sha256 ?? e.target)) return `${p} differs`;
  }
  for (const p of was.keys()) if (!now.has(p)) return `${p} was removed`;
  return 'the directory manifest differs';
}

const toSeconds = (ns: bigint): number => Number(ns / 1000n) / 1e6;

function applyOne(path: string, want: { type: NodeType; mode: number; uid: number; gid: number; mtimeNs: string }): void {
  const st = lstatBig(path);
  if (!st || nodeType(st) !== want.type) throw new TrashError(`${path} changed while being restored`);
  if (euid() === 0 && (Number(st.uid) !== want.uid || Number(st.gid) !== want.gid)) lchownSync(path, want.uid, want.gid);
  // chown clears set-id bits, so the mode comes after it; a symlink has no mode of its own.
  if (want.type !== 'symlink') {
    const cur = lstatBig(path)!;
    if ((Number(cur.mode) & 0o7777) !== want.mode) chmodSync(path, want.mode);
  }
  if (st.mtimeNs.toString() !== want.mtimeNs) lutimesSync(path, toSeconds(st.atimeNs), toSeconds(BigInt(want.mtimeNs)));
}

/** Puts recorded owners (when root), modes and mtimes back on a verified tree: children
 *  before their directory (a directory's mtime last, a read-only directory's mode last). */
export function applyAttributes(root: string, d: Description): void {
  for (const e of [...(d.manifest ?? [])].reverse()) applyOne(join(root, e.path), e);
  applyOne(root, { type: d.kind, mode: d.mode, uid: d.uid, gid: d.gid, mtimeNs: d.mtimeNs });
}

/** Copies a payload to `dst` (which must not exist), created private (0600/0700): the
 *  caller verifies the copy, then applies the recorded attributes. Only on EXDEV. */
export function copyTree(src: string, dst: string): void {
  const st = lstatBig(src);
  if (!st) throw new TrashError(`${src} vanished while being copied`);
  const type = nodeType(st);
  if (type === 'file') copyFile(src, dst);
  else if (type === 'symlink') symlinkSync(readlinkSync(src), dst);
  else if (type === 'dir') {
    mkdirSync(dst, 0o700);
    const dir = openDirHandle(dst);
    try {
      for (const name of readNames(src)) copyTree(join(src, name), dir.child(name));
    } finally {
      dir.close();
    }
  } else throw new TrashError(`${src} is a ${typeName(st)}: it can't be copied across filesystems; move it by hand`);
}

function copyFile(src: string, dst: string): void {
  const inFd = withAccess(src, 0o400, () => openSync(src, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK));
  try {
    if (!fstatSync(inFd).isFile()) throw new TrashError(`${src} is not a regular file`);
    const outFd = openSync(dst, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      const buf = Buffer.allocUnsafe(CHUNK);
      let pos = 0;
      for (;;) {
        const n = readSync(inFd, buf, 0, CHUNK, pos);
        if (n === 0) break;
        for (let off = 0; off < n; ) off += writeSync(outFd, buf, off, n - off, pos + off);
        pos += n;
      }
    } finally {
      closeSync(outFd);
    }
  } finally {
    closeSync(inFd);
  }
}

/** Removes a payload, also when it holds directories without write permission. */
export function removeTree(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EPERM') throw err;
    const open = (p: string) => {
      const st = lstatBig(p);
      if (!st?.isDirectory()) return;
      chmodSync(p, 0o700);
      for (const n of readdirSync(p)) open(join(p, n));
    };
    open(path);
    rmSync(path, { recursive: true, force: true });
  }
}

// ---- Opening a directory without following planted symlinks --------------------------

const HAVE_PROC_FD = existsSync('/proc/self/fd');
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** An open directory; `child(name)` names an entry in *that* directory, whatever happens to
 *  its path afterwards (through /proc/self/fd when available). */
export interface DirHandle {
  readonly path: string;
  child(name: string): string;
  fstat(): BigIntStats;
  close(): void;
}

function fdHandle(fd: number, path: string): DirHandle {
  return {
    path,
    child: (name) => `/proc/self/fd/${fd}/${name}`,
    fstat: () => fstatSync(fd, { bigint: true }),
    close: () => closeSync(fd),
  };
}

function openDirHandle(path: string): DirHandle {
  if (!HAVE_PROC_FD) return { path, child: (n) => join(path, n), fstat: () => lstatSync(path, { bigint: true }), close: () => {} };
  return fdHandle(openSync(path, DIR_FLAGS), path);
}

/**
 * Opens an absolute directory path component by component. A symlink on the way is followed
 * only when owned by root or by the caller: a restore run as root must not land in /etc
 * because the agent replaced a directory of the original path with a symlink. Errors name
 * the component that is missing, not a directory, or an untrusted symlink.
 */
export function openDirNoPlantedSymlinks(abs: string): DirHandle {
  const what = `parent directory ${abs}`;
  if (!HAVE_PROC_FD) {
    // Without /proc: the same checks on paths (racy, but still refuses a planted symlink).
    let cur = '';
    for (const comp of abs.split('/').filter(Boolean)) {
      cur += `/${comp}`;
      const st = lstatBig(cur);
      if (!st) throw new TrashError(`${what} does not exist (missing: ${cur})`);
      if (st.isSymbolicLink() && Number(st.uid) !== 0 && Number(st.uid) !== euid()) throw untrusted(cur, st);
    }
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (!st?.isDirectory()) throw new TrashError(`${what} is not a directory`);
    return openDirHandle(abs);
  }
  let fd = openSync('/', DIR_FLAGS);
  const pending = abs.split('/').filter(Boolean);
  let shown = '';
  let hops = 0;
  try {
    while (pending.length) {
      const comp = pending.shift()!;
      if (comp === '.') continue;
      const here = `/proc/self/fd/${fd}/${comp}`;
      const at = `${shown}/${comp}`;
      let next: number;
      try {
        next = openSync(here, DIR_FLAGS);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') throw new TrashError(`${what} does not exist (missing: ${at}); restore or create it first, or pass --dest`);
        if (code === 'EACCES') throw new TrashError(`${what}: permission denied at ${at}`);
        if (code !== 'ENOTDIR' && code !== 'ELOOP') throw err;
        const st = lstatBig(here);
        if (!st?.isSymbolicLink()) throw new TrashError(`${what} is not a directory (${at} is not one)`);
        if (Number(st.uid) !== 0 && Number(st.uid) !== euid()) throw untrusted(at, st);
        if (++hops > 40) throw new TrashError(`${what}: too many symlinks`);
        const target = readlinkSync(here);
        const again = lstatBig(here);
        if (!again || again.ino !== st.ino || again.dev !== st.dev) throw new TrashError(`${what}: ${at} changed while being resolved; try again`);
        if (target.startsWith('/')) {
          closeSync(fd);
          fd = -1;
          fd = openSync('/', DIR_FLAGS);
          shown = '';
        }
        pending.unshift(...target.split('/').filter(Boolean));
        continue;
      }
      closeSync(fd);
      fd = next;
      shown = at;
    }
    return fdHandle(fd, abs);
  } catch (err) {
    if (fd >= 0) closeSync(fd);
    throw err;
  }
}

function untrusted(at: string, st: BigIntStats): TrashError {
  return new TrashError(`refusing to restore through ${at}: it is a symlink owned by uid ${st.uid} (only symlinks owned by root or by you are followed); pass --dest with the real path`);
}

/** Bytes in the regular files of a payload (no hashing; for entries without metadata). */
export function treeSize(path: string): number {
  const st = lstatBig(path);
  if (!st) return 0;
  if (st.isFile()) return Number(st.size);
  if (!st.isDirectory()) return 0;
  let names: string[];
  try {
    names = readdirSync(path);
  } catch {
    return 0;
  }
  return names.reduce((n, name) => n + treeSize(join(path, name)), 0);
}
