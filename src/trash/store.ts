// The soft-delete trash. The supervisor moves a deleted file or directory to <dir>/<TOKEN>
// (renameat2 RENAME_NOREPLACE, TOKEN chosen by the server); the server then calls record(),
// which hashes the payload and writes <dir>/.meta/<TOKEN>.json. list / restore / purge
// read the directory itself, so they work with or without a running server.
//
// Layout (dir and .meta 0700, metadata 0600, written to a temp file and renamed):
//   <dir>/<TOKEN>                         the payload, moved there as it was
//   <dir>/.meta/<TOKEN>.json              TrashMeta: where it came from, hashes, modes, mtimes
//   <dir>/.meta/sessions/<KEY>/<TOKEN>    empty marker: KEY = sha256(session id)[:32], so one
//                                         session's entries are listed without reading others'
//
// Why hashes: between deletion and restore the payload sits in a directory the agent must
// not reach; the hash (file) or manifest digest (directory) proves on restore that what goes
// back is what was deleted, and a mismatch refuses the restore and leaves everything in place.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, unlinkSync, utimesSync, writeSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { TrashError } from './errors.js';
import { isTrashToken, tokenTime } from './token.js';
import {
  applyAttributes, contentMismatch, copyTree, describe, lstatBig, nodeType, openDirNoPlantedSymlinks, removeTree, treeSize,
  type Description, type NodeType,
} from './tree.js';

export { TrashError } from './errors.js';
export { newTrashToken, isTrashToken, tokenTime } from './token.js';

export interface RecordInfo {
  /** Absolute path the payload was deleted from. */
  originalPath: string;
  sessionId: string;
  command?: string;
  rule?: string;
  /** Default: now. */
  deletedAt?: Date;
  /** The mtime (ns) of the directory it was deleted from, just before: a directory emptied one
   *  file at a time gets its own mtime back from its first deleted child (absorbChildren). */
  parentMtimeNs?: string;
}

/** The metadata file: the payload's description plus where it came from. */
export interface TrashMeta extends Description {
  version: 1;
  token: string;
  originalPath: string;
  sessionId: string;
  command?: string;
  rule?: string;
  deletedAt: string;
  parentMtimeNs?: string;
}

/** One entry as listed. */
export interface TrashEntry {
  token: string;
  /** Null for an orphan (payload without metadata). */
  originalPath: string | null;
  sessionId: string | null;
  command?: string;
  rule?: string;
  /** From the metadata; for an orphan, the time in its token. */
  deletedAt: Date;
  kind: NodeType | null;
  /** Bytes (a directory: the sum of its regular files). */
  size: number;
  mode: number | null;
  mtime: Date | null;
  sha256?: string;
  digest?: string;
  target?: string;
  /** A payload without (readable) metadata, e.g. the server died between move and record. */
  orphan: boolean;
  /** Metadata whose payload is gone. */
  payloadMissing: boolean;
  /** What is wrong with the entry, for a human. */
  problem?: string;
}

export interface RestoreOptions {
  /** Where to restore (default: the original path). The full target path, not a directory to put it in. */
  dest?: string;
  /** Replace an existing file, symlink or empty directory. A non-empty directory is never replaced. */
  force?: boolean;
}

export interface PurgeOptions {
  /** Remove entries at least this old. */
  ttlMs?: number;
  /** Then remove the oldest until the payloads total at most this many bytes. */
  quotaBytes?: number;
  now?: Date;
}

const META = '.meta';
const SESSIONS = 'sessions';
const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException)?.code;

export function sessionKey(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('hex').slice(0, 32);
}

export class TrashStore {
  readonly dir: string;
  private readonly metaDir: string;

  /** Touches nothing on disk: init() (or the first record()) creates the directory, 0700. */
  constructor(dir: string) {
    this.dir = resolve(dir);
    this.metaDir = join(this.dir, META);
  }

  payloadPath(token: string): string {
    return join(this.dir, checkToken(token));
  }

  private metaPath(token: string): string {
    return join(this.metaDir, `${checkToken(token)}.json`);
  }

  private markerDir(sessionId: string): string {
    return join(this.metaDir, SESSIONS, sessionKey(sessionId));
  }

  record(token: string, info: RecordInfo): TrashEntry {
    checkToken(token);
    if (!isAbsolute(info.originalPath)) throw new TrashError(`original path must be absolute, got '${info.originalPath}'`);
    if (!info.sessionId) throw new TrashError('a session id is required');
    const payload = this.payloadPath(token);
    if (!lstatBig(payload)) throw new TrashError(`no payload ${token} in ${this.dir}`);
    if (lstatBig(this.metaPath(token))) throw new TrashError(`${token} is already recorded`);
    const d = describe(payload);
    const meta: TrashMeta = {
      version: 1,
      token,
      originalPath: info.originalPath,
      sessionId: info.sessionId,
      ...(info.command !== undefined ? { command: info.command } : {}),
      ...(info.rule !== undefined ? { rule: info.rule } : {}),
      deletedAt: (info.deletedAt ?? new Date()).toISOString(),
      ...(info.parentMtimeNs !== undefined ? { parentMtimeNs: info.parentMtimeNs } : {}),
      ...d,
    };
    // The marker first: a marker without metadata is ignored (and swept by purge); metadata
    // without a marker would be missing from its session's listing.
    this.init();
    const marker = this.markerDir(info.sessionId);
    for (let attempt = 0; ; attempt++) {
      try {
        mkdirSync(marker, { recursive: true, mode: 0o700 });
        closeSync(openSync(join(marker, token), 'w', 0o600));
        break;
      } catch (err) {
        if (errno(err) !== 'ENOENT' || attempt > 2) throw err; // raced with purge removing an empty marker dir
      }
    }
    writeAtomic(this.metaPath(token), `${JSON.stringify(meta, null, 1)}\n`);
    return toEntry(meta, false);
  }

  /**
   * A directory just moved here (rmdir of `originalPath`) takes back its children: the entries
   * this session trashed from directly inside it (`rm -r`, `find -delete` and shutil.rmtree
   * empty a directory one file at a time before removing it). Their payloads move into the
   * directory's payload and their own entries go, so the directory restores whole. The
   * directory keeps its mtime. Returns the tokens absorbed. Call before record(token).
   */
  absorbChildren(token: string, originalPath: string, sessionId: string, candidates?: readonly string[]): string[] {
    const payload = this.payloadPath(token);
    const st = lstatBig(payload);
    if (!st?.isDirectory()) return [];
    const prefix = originalPath.endsWith('/') ? originalPath : `${originalPath}/`;
    // Newest first: a name deleted twice restores as it was last. `candidates` (tokens the
    // caller knows were trashed from this directory) spares reading the session's whole list.
    const pool = candidates ? candidates.map((t) => this.entry(t)).filter((e): e is TrashEntry => e !== null && e.sessionId === sessionId) : this.list({ sessionId });
    const children = pool
      .filter((e) => !e.orphan && !e.payloadMissing && e.originalPath?.startsWith(prefix) && !e.originalPath.slice(prefix.length).includes('/'))
      .sort((a, b) => b.deletedAt.getTime() - a.deletedAt.getTime());
    const absorbed: string[] = [];
    const taken = new Set<string>();
    let mtimeNs = st.mtimeNs;
    for (const c of children) {
      const name = c.originalPath!.slice(prefix.length);
      if (taken.has(name)) continue;
      const before = this.meta(c.token)?.parentMtimeNs;
      if (before !== undefined && BigInt(before) < mtimeNs) mtimeNs = BigInt(before);
      try {
        renameSync(this.payloadPath(c.token), join(payload, name));
      } catch {
        continue; // stays a separate entry
      }
      taken.add(name);
      this.forget(c.token, sessionId);
      absorbed.push(c.token);
    }
    // The directory's mtime as it was before its first child went (each deletion changed it).
    if (absorbed.length) utimesSync(payload, Number(st.atimeNs) / 1e9, Number(mtimeNs) / 1e9);
    return absorbed;
  }

  /** The metadata of a token: null when there is none; TrashError when it is unreadable. */
  meta(token: string): TrashMeta | null {
    let text: string;
    try {
      text = readFileSync(this.metaPath(token), 'utf8');
    } catch (err) {
      if (errno(err) === 'ENOENT') return null;
      throw new TrashError(`metadata of ${token} unreadable: ${(err as Error).message}`);
    }
    let m: TrashMeta;
    try {
      m = JSON.parse(text) as TrashMeta;
    } catch (err) {
      throw new TrashError(`metadata of ${token} is not valid JSON: ${(err as Error).message}`);
    }
    const valid =
      m?.version === 1 && m.token === token && typeof m.originalPath === 'string' && typeof m.sessionId === 'string' && ['file', 'dir', 'symlink'].includes(m.kind) &&
      typeof m.deletedAt === 'string' && !Number.isNaN(Date.parse(m.deletedAt)) && typeof m.mtimeNs === 'string' && /^-?\d+$/.test(m.mtimeNs) &&
      Number.isSafeInteger(m.size) && Number.isInteger(m.mode) && (m.kind !== 'dir' || (Array.isArray(m.manifest) && typeof m.digest === 'string'));
    if (!valid) {
      throw new TrashError(`metadata of ${token} is not a trash record`);
    }
    return m;
  }

  /** Oldest first. With a session id only that session's recorded entries (orphans have no
   *  session); without, every entry, orphans and entries whose payload is gone included. */
  list(filter: { sessionId?: string } = {}): TrashEntry[] {
    const tokens = filter.sessionId !== undefined ? tokensIn(this.markerDir(filter.sessionId)) : this.allTokens();
    const out: TrashEntry[] = [];
    for (const token of tokens) {
      const e = this.entry(token);
      if (!e) continue;
      if (filter.sessionId !== undefined && e.sessionId !== filter.sessionId) continue;
      out.push(e);
    }
    return out.sort((a, b) => a.deletedAt.getTime() - b.deletedAt.getTime() || (a.token < b.token ? -1 : a.token > b.token ? 1 : 0));
  }

  private allTokens(): Set<string> {
    const tokens = new Set(tokensIn(this.dir));
    for (const name of namesIn(this.metaDir)) {
      if (name.endsWith('.json') && isTrashToken(name.slice(0, -5))) tokens.add(name.slice(0, -5));
    }
    return tokens;
  }

  /** One entry, or null when the token has neither payload nor metadata. */
  entry(token: string): TrashEntry | null {
    const st = lstatBig(this.payloadPath(token));
    let meta: TrashMeta | null = null;
    let problem: string | undefined;
    try {
      meta = this.meta(token);
    } catch (err) {
      problem = (err as Error).message;
    }
    if (meta) return toEntry(meta, !st);
    if (!st) {
      if (!problem) return null;
      return { token, originalPath: null, sessionId: null, deletedAt: tokenTime(token) ?? new Date(0), kind: null, size: 0, mode: null, mtime: null, orphan: true, payloadMissing: true, problem };
    }
    return {
      token,
      originalPath: null,
      sessionId: null,
      deletedAt: tokenTime(token) ?? new Date(0),
      kind: nodeType(st),
      size: treeSize(this.payloadPath(token)),
      mode: Number(st.mode) & 0o7777,
      mtime: new Date(Number(st.mtimeMs)),
      orphan: true,
      payloadMissing: false,
      problem: problem ?? 'no metadata (recorded neither original path nor hashes)',
    };
  }

  restore(token: string, opts: RestoreOptions = {}): { path: string } {
    checkToken(token);
    const payload = this.payloadPath(token);
    const meta = this.meta(token);
    const present = lstatBig(payload);
    if (!meta) {
      if (present) throw new TrashError(`${token} has no metadata: its original path is unknown and its content can't be verified; the payload is ${payload}, move it by hand`);
      throw new TrashError(`no trash entry ${token} in ${this.dir}`);
    }
    if (!present) throw new TrashError(`the payload of ${token} is missing from ${this.dir} (only its metadata is left)`);
    const why = contentMismatch(meta, describe(payload));
    if (why) throw new TrashError(`content changed in the trash: ${token} (${why}); not restored`);

    const dest = resolve(opts.dest ?? meta.originalPath);
    if (dest === this.dir || dest.startsWith(this.dir + sep)) throw new TrashError(`refusing to restore into the trash directory itself (${dest})`);
    const name = basename(dest);
    if (!name || dest === sep) throw new TrashError(`not a restore destination: ${dest}`);
    const parent = openDirNoPlantedSymlinks(dirname(dest));
    try {
      const target = parent.child(name);
      const existing = lstatBig(target);
      if (existing) {
        if (existing.isDirectory() && readdirSync(target).length > 0) throw new TrashError(`${dest} exists and is a non-empty directory: not replaced, even with --force`);
        if (!opts.force) throw new TrashError(`${dest} exists; use --force to replace it`);
      }
      applyAttributes(payload, meta);
      if (existing && existing.isDirectory() !== (meta.kind === 'dir')) {
        if (existing.isDirectory()) rmdirSync(target);
        else unlinkSync(target);
      }
      try {
        renameSync(payload, target);
      } catch (err) {
        if (errno(err) !== 'EXDEV') throw err;
        this.copyBack(token, meta, payload, parent.child(`.agentsh-restore-${token}-${randomBytes(4).toString('hex')}`), target);
      }
    } finally {
      parent.close();
    }
    this.forget(token, meta.sessionId);
    return { path: dest };
  }

  /** Across filesystems: copy next to the destination, verify the copy, put attributes back,
   *  rename it into place, and only then remove the payload. */
  private copyBack(token: string, meta: TrashMeta, payload: string, tmp: string, target: string): void {
    try {
      copyTree(payload, tmp);
      const why = contentMismatch(meta, describe(tmp));
      if (why) throw new TrashError(`the copy of ${token} does not match its record (${why}); not restored`);
      applyAttributes(tmp, meta);
      renameSync(tmp, target);
    } catch (err) {
      removeTree(tmp);
      throw err;
    }
    removeTree(payload);
  }

  purge(opts: PurgeOptions = {}): { removed: TrashEntry[]; freedBytes: number } {
    const now = (opts.now ?? new Date()).getTime();
    const removed: TrashEntry[] = [];
    let freedBytes = 0;
    const drop = (e: TrashEntry) => {
      removeTree(this.payloadPath(e.token));
      if (!e.payloadMissing) freedBytes += e.size;
      this.forget(e.token, e.sessionId);
      removed.push(e);
    };
    let keep = this.list();
    if (opts.ttlMs !== undefined) {
      const ttl = opts.ttlMs;
      for (const e of keep) if (now - e.deletedAt.getTime() >= ttl) drop(e);
      keep = keep.filter((e) => !removed.includes(e));
    }
    if (opts.quotaBytes !== undefined) {
      let total = keep.reduce((n, e) => n + (e.payloadMissing ? 0 : e.size), 0);
      for (const e of keep) {
        if (total <= opts.quotaBytes) break;
        if (e.payloadMissing) continue;
        drop(e);
        total -= e.size;
      }
    }
    this.sweep(now);
    return { removed, freedBytes };
  }

  /** Metadata and marker of a token (the payload is gone or moved back). */
  private forget(token: string, sessionId: string | null): void {
    for (const p of [this.metaPath(token), ...(sessionId !== null ? [join(this.markerDir(sessionId), token)] : [])]) {
      try {
        unlinkSync(p);
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw err;
      }
    }
  }

  /** Markers without metadata, empty marker directories, temp files of crashed writes. */
  private sweep(now: number): void {
    const sessions = join(this.metaDir, SESSIONS);
    for (const key of namesIn(sessions)) {
      const d = join(sessions, key);
      for (const token of namesIn(d)) {
        if (isTrashToken(token) && lstatBig(this.metaPath(token))) continue;
        if (isTrashToken(token) && now - (tokenTime(token)?.getTime() ?? 0) < 3_600_000) continue; // maybe being recorded
        tryUnlink(join(d, token));
      }
      try {
        rmdirSync(d);
      } catch {
        /* not empty */
      }
    }
    for (const name of namesIn(this.metaDir)) {
      if (!name.includes('.tmp-')) continue;
      const st = lstatBig(join(this.metaDir, name));
      if (st && now - Number(st.mtimeMs) > 3_600_000) tryUnlink(join(this.metaDir, name));
    }
  }

  /** Creates the directory and .meta (0700) if missing: before the supervisor moves there. */
  init(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    mkdirSync(this.metaDir, { recursive: true, mode: 0o700 });
  }
}

function checkToken(token: string): string {
  if (!isTrashToken(token)) throw new TrashError(`not a trash token: ${JSON.stringify(token)}`);
  return token;
}

function toEntry(m: TrashMeta, payloadMissing: boolean): TrashEntry {
  return {
    token: m.token,
    originalPath: m.originalPath,
    sessionId: m.sessionId,
    ...(m.command !== undefined ? { command: m.command } : {}),
    ...(m.rule !== undefined ? { rule: m.rule } : {}),
    deletedAt: new Date(m.deletedAt),
    kind: m.kind,
    size: m.size,
    mode: m.mode,
    mtime: new Date(Number(BigInt(m.mtimeNs) / 1_000_000n)),
    ...(m.sha256 !== undefined ? { sha256: m.sha256 } : {}),
    ...(m.digest !== undefined ? { digest: m.digest } : {}),
    ...(m.target !== undefined ? { target: m.target } : {}),
    orphan: false,
    payloadMissing,
    ...(payloadMissing ? { problem: 'payload missing from the trash (metadata only)' } : {}),
  };
}

function namesIn(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if (errno(err) === 'ENOENT' || errno(err) === 'ENOTDIR') return [];
    throw err;
  }
}

const tokensIn = (dir: string): string[] => namesIn(dir).filter(isTrashToken);

function tryUnlink(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    /* gone already */
  }
}

function writeAtomic(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    const buf = Buffer.from(text);
    for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off);
    // No fsync: after a crash a payload whose metadata was lost is listed as an orphan (never
    // dropped), and the fsync cost ~0.5 ms on every soft delete, on the path of the next one.
  } catch (err) {
    closeSync(fd);
    tryUnlink(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    tryUnlink(tmp);
    throw err;
  }
}
