// The audit log: every event goes to an append-only JSONL file (the record of truth, HMAC
// chained) and to a SQLite index (queries), in batches.
//
// Write path: enqueue() validates and seals the event at once (the chain order is the call
// order) and queues its line. A batch is taken on the next turn of the event loop (and,
// while a batch is being written, the next one collects: group commit). Per batch: one
// append write of all lines, fdatasync, then one SQLite transaction, then the events are
// acknowledged (append() promises resolve) and handed to subscribers. So:
//   - nothing acknowledged is lost: an event is acknowledged only after its line is on disk;
//   - SQLite never holds an event the JSONL lacks; if a crash (or a SQLite error) leaves
//     SQLite behind, the next open() backfills it from the JSONL;
//   - SQLite ahead of the JSONL means the JSONL lost lines (a truncated tail, the one thing
//     the chain alone cannot show): open() refuses;
//   - a crash can leave at most one partial last line (no newline): open() removes it with a
//     warning (it was never acknowledged). Any other damage — a last line that is not valid
//     JSON or fails its HMAC, unsigned lines in a chained log — makes open() refuse: it never
//     starts a new chain in the same file.
//   - an index SQLite says is corrupt (when opened, or marked `<index>.rebuild` when a query or
//     insert found it so) is moved aside (`<index>.corrupt-<time>`, kept for investigation)
//     and rebuilt from the JSONL on open, with a warning: the index is never the record.
//   - a write or fsync error latches the log failed (the partial batch is truncated away if
//     possible) and every later append rejects: callers decide whether to fail closed.
// One writer per file: a lock file (<log>.lock, holding the pid) keeps a second AuditLog,
// in this or another process, from forking the chain.

import Database from 'better-sqlite3';
import { closeSync, constants as fsc, existsSync, fdatasync, fdatasyncSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, unlinkSync, write, writeFileSync, writeSync } from 'node:fs';
import { createReadStream } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { canonicalJson, JsonSyntaxError, parseJsonObject } from './canonical.js';
import { HmacChain, integrityOf, keyFingerprint, verifyEntryHash, verifyFile, type ChainAlgorithm, type IntegrityMetadata } from './chain.js';
import { makeEvent, matchesFilter, normalizeTs, type AuditEvent, type AuditEventInput, type EventFilter } from './event.js';

const fdatasyncP = promisify(fdatasync);

export class AuditLogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditLogError';
  }
}

/** The log on disk is damaged or inconsistent: refusing to append (never silently repaired). */
export class AuditLogCorruptError extends AuditLogError {
  constructor(
    message: string,
    readonly path: string,
    readonly line?: number,
  ) {
    super(message);
    this.name = 'AuditLogCorruptError';
  }
}

export class AuditLogLockedError extends AuditLogError {
  constructor(
    message: string,
    readonly pid?: number,
  ) {
    super(message);
    this.name = 'AuditLogLockedError';
  }
}

export interface AuditLogOptions {
  /** The JSONL file. Created (mode 0600, parent directories 0700) if missing. */
  path: string;
  /** The SQLite index. Default `<path>.db`; null: no index (query() then throws). */
  sqlitePath?: string | null;
  /** HMAC key (≥ 32 bytes); null/undefined: no chain (lines carry no integrity). */
  key?: Buffer | null;
  algorithm?: ChainAlgorithm;
  /** fdatasync the JSONL before acknowledging a batch. Default true. */
  fsync?: boolean;
  /** Most events per batch. Default 10000. */
  maxBatch?: number;
  /** Wait this long before taking a batch (0: next event-loop turn). Default 0. */
  flushDelayMs?: number;
  /** On open, verify the whole chain ('full') or only the last line ('tail', default). */
  verifyOnOpen?: 'tail' | 'full';
  /** Where warnings go (partial line removed, SQLite backfilled, subscriber threw …). */
  onWarning?: (message: string) => void;
  /** Called once when the log latches failed (a write or fsync error): the owner fails closed. */
  onFailure?: (err: AuditLogError) => void;
  /** Mode for files created. Default 0o600. */
  fileMode?: number;
  /**
   * Write the SQLite index from a worker thread (default true), so a large transaction never
   * blocks the caller's event loop and the work runs beside the sealing. false: inline.
   */
  indexInWorker?: boolean;
}

export interface AuditQuery extends EventFilter {
  /** Events at or after this time (RFC 3339 or Date). */
  since?: string | Date;
  /** Events at or before this time. */
  until?: string | Date;
  /** Events with seq greater than this (resuming a stream). */
  after_seq?: number;
  limit?: number;
  order?: 'asc' | 'desc';
}

export type Subscriber = (event: AuditEvent, seq: number) => void;

interface Pending {
  ev: AuditEvent;
  line: string;
  seq: number;
}

interface Waiter {
  upTo: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

const MAX_PARTIAL_LINE = 64 << 20;
const MAX_INFLIGHT = 4; // batches written to the JSONL but not yet indexed
const CHUNK = 64 << 10;

function defaultWarn(message: string): void {
  process.stderr.write(`agentsh: audit: ${message}\n`);
}

// ---------------------------------------------------------------------------------------
// Small file helpers (synchronous: used on open only)

function readAt(fd: number, pos: number, len: number): Buffer {
  const buf = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** Position of the last '\n' strictly before `end`, or -1. */
function lastNewlineBefore(fd: number, end: number): number {
  let hi = end;
  while (hi > 0) {
    const lo = Math.max(0, hi - CHUNK);
    const buf = readAt(fd, lo, hi - lo);
    const i = buf.lastIndexOf(0x0a);
    if (i >= 0) return lo + i;
    hi = lo;
  }
  return -1;
}

/** 1-based line number of the line starting at byte `pos` (counts newlines before it). */
function lineNumberAt(fd: number, pos: number): number {
  let n = 1;
  for (let off = 0; off < pos; off += CHUNK) {
    const buf = readAt(fd, off, Math.min(CHUNK, pos - off));
    for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, i + 1)) n++;
  }
  return n;
}

function isPartialLine(seg: Buffer): boolean {
  let end = seg.length;
  while (end > 0 && seg[end - 1] === 0) end--; // a crash can leave NUL-filled blocks
  return end === 0 || seg[0] === 0x7b; // '{': the start of a line we (or agentsh) write
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A process's start time (Linux /proc, clock ticks since boot): tells a reused pid apart. */
function procStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** Lock files held by AuditLogs open in this process. */
const heldLocks = new Set<string>();

/**
 * Take `<log>.lock` (O_EXCL, holding "pid starttime"). A lock whose process is gone, or whose
 * pid now belongs to a different process (a restarted container's server is often pid 1
 * again), is stale and taken over.
 */
function acquireLock(lockPath: string, mode: number): void {
  const me = `${process.pid} ${procStart(process.pid) ?? ''}`.trim();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockPath, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode);
      try {
        writeSync(fd, `${me}\n`);
      } finally {
        closeSync(fd);
      }
      heldLocks.add(lockPath);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let pid = NaN;
    let start = '';
    try {
      const [p, st] = readFileSync(lockPath, 'utf8').trim().split(/\s+/);
      pid = Number.parseInt(p ?? '', 10);
      start = st ?? '';
    } catch {
      /* vanished or unreadable: retry */
    }
    let holder: string | null = null;
    if (Number.isInteger(pid) && pid > 0) {
      if (pid === process.pid) {
        if (heldLocks.has(lockPath)) holder = 'another AuditLog in this process';
      } else if (pidAlive(pid)) {
        const now = procStart(pid);
        if (!(start && now && now !== start)) holder = `process ${pid}`;
      }
    }
    if (holder) throw new AuditLogLockedError(`audit log is in use by ${holder} (lock ${lockPath}); two writers would fork the chain`, pid);
    try {
      unlinkSync(lockPath); // stale: its process is gone (or the pid was reused)
    } catch {
      /* raced with someone else: retry */
    }
  }
  throw new AuditLogLockedError(`could not take the audit log lock ${lockPath}`);
}

function releaseLock(lockPath: string): void {
  heldLocks.delete(lockPath);
  try {
    unlinkSync(lockPath);
  } catch {
    /* already gone */
  }
}

// ---------------------------------------------------------------------------------------
// SQLite index

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  ts TEXT NOT NULL,
  type TEXT NOT NULL,
  session_id TEXT,
  command_id TEXT,
  decision TEXT,
  rule TEXT,
  json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_session ON events(session_id, seq);
CREATE INDEX IF NOT EXISTS events_type ON events(type, seq);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
`;

type Row = [number, string, string, string, string | null, string | null, string | null, string | null, string];

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function buildQuery(q: AuditQuery, countOnly: boolean): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.session_id !== undefined) {
    where.push('session_id = ?');
    params.push(q.session_id);
  }
  if (q.command_id !== undefined) {
    where.push('command_id = ?');
    params.push(q.command_id);
  }
  if (q.decision !== undefined) {
    where.push('decision = ?');
    params.push(q.decision);
  }
  if (q.types && q.types.length > 0) {
    where.push(`type IN (${q.types.map(() => '?').join(',')})`);
    params.push(...q.types);
  }
  if (q.since !== undefined) {
    where.push('ts >= ?');
    params.push(normalizeTs(q.since));
  }
  if (q.until !== undefined) {
    where.push('ts <= ?');
    params.push(normalizeTs(q.until));
  }
  if (q.after_seq !== undefined) {
    where.push('seq > ?');
    params.push(q.after_seq);
  }
  const w = where.length ? ` WHERE ${where.join(' AND ')}` : '';
  if (countOnly) return { sql: `SELECT count(*) AS n FROM events${w}`, params };
  let sql = `SELECT json FROM events${w} ORDER BY seq ${q.order === 'desc' ? 'DESC' : 'ASC'}`;
  if (q.limit !== undefined) {
    if (!Number.isInteger(q.limit) || q.limit < 0) throw new RangeError('query limit must be a non-negative integer');
    sql += ' LIMIT ?';
    params.push(q.limit);
  }
  return { sql, params };
}

/** Queries over an index database (shared by AuditLog and the read-only reader). */
class IndexQueries {
  private readonly stmts = new Map<string, Database.Statement>();
  constructor(private readonly db: Database.Database) {}

  private stmt(sql: string): Database.Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  query(q: AuditQuery): AuditEvent[] {
    const { sql, params } = buildQuery(q, false);
    const rows = this.stmt(sql).all(...params) as { json: string }[];
    return rows.map((r) => JSON.parse(r.json) as AuditEvent);
  }

  count(q: AuditQuery): number {
    const { sql, params } = buildQuery(q, true);
    return (this.stmt(sql).get(...params) as { n: number }).n;
  }

  sessions(): { session_id: string; events: number; first_ts: string; last_ts: string }[] {
    return this.stmt('SELECT session_id, count(*) AS events, min(ts) AS first_ts, max(ts) AS last_ts FROM events WHERE session_id IS NOT NULL GROUP BY session_id ORDER BY min(seq)').all() as {
      session_id: string;
      events: number;
      first_ts: string;
      last_ts: string;
    }[];
  }
}

/** Read-only access to an index database (e.g. `agentsh events` while the server is down). */
export class AuditIndexReader {
  private readonly db: Database.Database;
  private readonly q: IndexQueries;
  constructor(sqlitePath: string) {
    this.db = new Database(sqlitePath, { readonly: true, fileMustExist: true });
    this.q = new IndexQueries(this.db);
  }
  query(q: AuditQuery = {}): AuditEvent[] {
    return this.q.query(q);
  }
  count(q: AuditQuery = {}): number {
    return this.q.count(q);
  }
  sessions(): { session_id: string; events: number; first_ts: string; last_ts: string }[] {
    return this.q.sessions();
  }
  close(): void {
    this.db.close();
  }
}

// ---------------------------------------------------------------------------------------
// Index writers: inline (a transaction on this thread) or in a worker thread.

interface IndexWriter {
  /** Insert a batch (consecutive sequences from firstSeq); settles when committed. */
  insert(firstSeq: number, batch: Pending[], text: string): Promise<void>;
  close(): Promise<void>;
}

class InlineIndexWriter implements IndexWriter {
  private readonly tx: (batch: Pending[]) => void;
  constructor(db: Database.Database) {
    const ins = db.prepare('INSERT INTO events (seq, id, ts, type, session_id, command_id, decision, rule, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.tx = db.transaction((batch: Pending[]) => {
      for (const p of batch) {
        const ev = p.ev;
        ins.run(p.seq, ev.id, ev.ts, ev.type, ev.session_id ?? null, ev.command_id ?? null, ev.decision ?? null, ev.rule ?? null, p.line);
      }
    });
  }
  insert(_firstSeq: number, batch: Pending[]): Promise<void> {
    try {
      this.tx(batch);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

class WorkerIndexWriter implements IndexWriter {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private dead: Error | null = null;
  private closed: Promise<void> | null = null;

  constructor(sqlitePath: string) {
    this.worker = new Worker(new URL('./index-worker.js', import.meta.url), { workerData: { sqlitePath } });
    this.worker.unref();
    this.worker.on('message', (m: { id?: number; ok?: boolean; error?: string; code?: string }) => {
      if (m.id === undefined) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.worker.unref();
      if (m.ok) p.resolve();
      else p.reject(Object.assign(new Error(m.error ?? 'index insert failed'), m.code ? { code: m.code } : {}));
    });
    const die = (e: Error) => {
      this.dead ??= e;
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
    };
    this.worker.on('error', die);
    this.worker.on('exit', (code) => die(new Error(`index worker exited (code ${code})`)));
  }

  insert(firstSeq: number, _batch: Pending[], text: string): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref(); // keep the process alive until committed
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ op: 'insert', id, firstSeq, text });
    });
  }

  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      if (this.dead) return resolve();
      this.worker.ref();
      this.worker.once('exit', () => resolve());
      this.worker.postMessage({ op: 'close' });
    });
    return this.closed;
  }
}

// ---------------------------------------------------------------------------------------

export interface AuditLogStats {
  enqueued: number;
  durable: number;
  queued: number;
  batches: number;
  lastSeq: number;
  chained: boolean;
  failed?: string;
  sqliteError?: string;
}

export class AuditLog {
  readonly path: string;
  readonly sqlitePath: string | null;
  private readonly chain: HmacChain | null;
  private readonly fd: number;
  private size: number;
  private readonly db: Database.Database | null;
  private readonly idx: IndexQueries | null;
  private readonly indexer: IndexWriter | null;
  private readonly lockPath: string;
  private readonly fsync: boolean;
  private readonly maxBatch: number;
  private readonly flushDelayMs: number;
  private readonly warn: (m: string) => void;
  private readonly onFailure: ((err: AuditLogError) => void) | undefined;

  private queue: Pending[] = [];
  private waiters: Waiter[] = [];
  /** Events written to the JSONL (before fdatasync and the index), and who waits for that. */
  private inFile = 0;
  private fileWaiters: Waiter[] = [];
  private readonly subs = new Set<{ filter: EventFilter | undefined; cb: Subscriber }>();
  private enqueued = 0;
  private written = 0; // events whose JSONL write + fsync succeeded
  private durable = 0; // ... and whose index insert settled: acknowledged
  private completion: Promise<void> = Promise.resolve();
  private readonly inflight: Promise<void>[] = [];
  private batches = 0;
  private nextSeq: number;
  private lastDurable: { seq: number; entryHash: string };
  private scheduled = false;
  private running = false;
  private failure: AuditLogError | null = null;
  private sqliteError: Error | null = null;
  private closing = false;
  private closed = false;

  private constructor(init: {
    opts: AuditLogOptions;
    chain: HmacChain | null;
    fd: number;
    size: number;
    db: Database.Database | null;
    lockPath: string;
    lastSeq: number;
    lastEntryHash: string;
    warn: (m: string) => void;
  }) {
    const { opts } = init;
    this.path = opts.path;
    this.sqlitePath = init.db ? (opts.sqlitePath ?? `${opts.path}.db`) : null;
    this.chain = init.chain;
    this.fd = init.fd;
    this.size = init.size;
    this.db = init.db;
    this.lockPath = init.lockPath;
    this.fsync = opts.fsync ?? true;
    this.maxBatch = Math.max(1, opts.maxBatch ?? 10000);
    this.flushDelayMs = Math.max(0, opts.flushDelayMs ?? 0);
    this.warn = init.warn;
    this.onFailure = opts.onFailure;
    this.nextSeq = init.lastSeq + 1;
    this.lastDurable = { seq: init.lastSeq, entryHash: init.lastEntryHash };
    if (this.db) {
      this.idx = new IndexQueries(this.db);
      this.indexer = (opts.indexInWorker ?? true) ? new WorkerIndexWriter(this.sqlitePath!) : new InlineIndexWriter(this.db);
    } else {
      this.idx = null;
      this.indexer = null;
    }
  }

  /** Open (or create) a log; resumes the chain from the last line. See the file comment. */
  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    const warn = opts.onWarning ?? defaultWarn;
    const mode = opts.fileMode ?? 0o600;
    const path = opts.path;
    const chain0 = opts.key ? new HmacChain(opts.key, undefined, opts.algorithm) : null; // checks the key early
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const lockPath = resolve(`${path}.lock`);
    acquireLock(lockPath, mode);
    let fd = -1;
    let db: Database.Database | null = null;
    try {
      fd = openSync(path, fsc.O_RDWR | fsc.O_APPEND | fsc.O_CREAT | fsc.O_NOFOLLOW, mode);
      const tail = AuditLog.recoverTail(fd, path, warn);
      let lastSeq = -1;
      let lastEntryHash = '';
      let chain: HmacChain | null = null;
      if (chain0 && opts.key) {
        if (opts.verifyOnOpen === 'full' && tail.size > 0) {
          const r = await verifyFile(path, opts.key, opts.algorithm ? { algorithm: opts.algorithm } : {});
          if (!r.ok) throw new AuditLogCorruptError(`audit log ${path} fails verification at line ${r.line}: ${r.reason}; refusing to append (inspect it with: agentsh audit verify ${path})`, path, r.line);
        }
        if (tail.last) {
          const { obj } = tail.last;
          const lineNo = () => tail.last!.line();
          const meta = integrityOf(obj);
          if (meta === undefined) throw new AuditLogCorruptError(`audit log ${path}: line ${lineNo()} has no integrity field — the file was written without the HMAC chain; refusing to start a chain in it (use a new file)`, path, lineNo());
          if (meta === null) throw new AuditLogCorruptError(`audit log ${path}: line ${lineNo()} has malformed integrity metadata; refusing to append`, path, lineNo());
          if (meta.format_version !== 2) throw new AuditLogCorruptError(`audit log ${path}: line ${lineNo()} has integrity format_version ${meta.format_version} (expected 2); refusing to append`, path, lineNo());
          if (!verifyEntryHash(opts.key, obj, opts.algorithm)) {
            throw new AuditLogCorruptError(
              `audit log ${path}: the last line (${lineNo()}) fails its HMAC — the file was modified, or this key (${keyFingerprint(opts.key)}) is not the one that wrote it; refusing to append (inspect it with: agentsh audit verify ${path})`,
              path,
              lineNo(),
            );
          }
          lastSeq = meta.sequence;
          lastEntryHash = meta.entry_hash;
        }
        chain = new HmacChain(opts.key, { sequence: lastSeq, prevHash: lastEntryHash }, opts.algorithm);
      } else if (tail.last) {
        const meta = integrityOf(tail.last.obj);
        if (meta !== undefined) throw new AuditLogCorruptError(`audit log ${path} is HMAC-chained but no key is configured; refusing to append unsigned lines to it (configure audit.integrity, or use a new file)`, path, tail.last.line());
        lastSeq = countNonBlankLines(fd, tail.size) - 1;
      }

      if (opts.sqlitePath !== null) {
        const sqlitePath = opts.sqlitePath ?? `${path}.db`;
        db = await AuditLog.openReconciledIndex(sqlitePath, mode, path, lastSeq, tail.last?.text, chain !== null, warn);
      }
      return new AuditLog({ opts, chain, fd, size: tail.size, db, lockPath, lastSeq, lastEntryHash, warn });
    } catch (e) {
      try {
        db?.close();
      } catch {
        /* ignore */
      }
      if (fd >= 0) closeSync(fd);
      releaseLock(lockPath);
      throw e;
    }
  }

  /**
   * Remove a crash's partial last line; return the last non-blank line, parsed.
   * Refuses (throws) on anything that is not exactly "one incomplete final line".
   */
  private static recoverTail(fd: number, path: string, warn: (m: string) => void): { size: number; last?: { obj: Record<string, unknown>; text: string; line: () => number } } {
    let size = fstatSync(fd).size;
    if (size === 0) return { size };
    const lastByte = readAt(fd, size - 1, 1)[0];
    if (lastByte !== 0x0a) {
      const nl = lastNewlineBefore(fd, size);
      const start = nl + 1;
      const len = size - start;
      const lineNo = lineNumberAt(fd, start);
      if (len > MAX_PARTIAL_LINE) throw new AuditLogCorruptError(`audit log ${path}: line ${lineNo} is ${len} bytes with no newline — not a crash artifact; refusing to append`, path, lineNo);
      const seg = readAt(fd, start, len);
      if (!isPartialLine(seg)) {
        throw new AuditLogCorruptError(`audit log ${path}: the final line ${lineNo} has no newline and does not look like a partially written event (${JSON.stringify(seg.subarray(0, 40).toString('utf8'))}…); refusing to append`, path, lineNo);
      }
      ftruncateSync(fd, start);
      fdatasyncSync(fd);
      warn(`audit log ${path}: removed an incomplete final line ${lineNo} (${len} bytes, no newline) left by a crash; that event was never acknowledged`);
      size = start;
    }
    // The last non-blank line (agentsh skips blank lines too).
    let end = size; // the byte after a '\n'
    while (end > 0) {
      const nl = lastNewlineBefore(fd, end - 1);
      const text = readAt(fd, nl + 1, end - 1 - (nl + 1)).toString('utf8');
      if (text.trim() === '') {
        end = nl + 1;
        continue;
      }
      const line = () => lineNumberAt(fd, nl + 1); // O(file): only for messages
      let obj: Record<string, unknown>;
      try {
        obj = parseJsonObject(text.trim());
      } catch (e) {
        const why = e instanceof JsonSyntaxError ? e.message : String(e);
        const lineNo = line();
        throw new AuditLogCorruptError(`audit log ${path}: the last line (${lineNo}) is not a valid JSON event (${why}); refusing to append (inspect it with: agentsh audit verify ${path})`, path, lineNo);
      }
      return { size, last: { obj, text: text.trim(), line } };
    }
    return { size };
  }

  /** The index, reconciled with the JSONL; a corrupt one is moved aside and rebuilt from the JSONL. */
  private static async openReconciledIndex(sqlitePath: string, mode: number, path: string, lastSeq: number, lastLine: string | undefined, chained: boolean, warn: (m: string) => void): Promise<Database.Database> {
    const marker = rebuildMarker(sqlitePath);
    let why: string | null = null;
    if (existsSync(marker)) why = readFileSync(marker, 'utf8').trim() || 'marked for rebuilding';
    else {
      let db: Database.Database | null = null;
      try {
        db = AuditLog.openIndex(sqlitePath, mode);
        await AuditLog.reconcileIndex(db, path, sqlitePath, lastSeq, lastLine, chained, warn);
        return db;
      } catch (e) {
        try {
          db?.close();
        } catch {
          /* ignore */
        }
        if (!isSqliteCorruption(e)) throw e; // the JSONL's problems (a lost tail …) are never "repaired" here
        why = (e as Error).message;
      }
    }
    const aside = `${sqlitePath}.corrupt-${new Date().toISOString().replace(/[-:.]/g, '')}`;
    for (const suffix of ['', '-wal', '-shm']) {
      try {
        renameSync(sqlitePath + suffix, aside + suffix);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    warn(`audit index ${sqlitePath} is corrupt (${why}): moved aside to ${aside}; rebuilding it from ${path}`);
    const db = AuditLog.openIndex(sqlitePath, mode);
    try {
      await AuditLog.reconcileIndex(db, path, sqlitePath, lastSeq, lastLine, chained, warn);
    } catch (e) {
      db.close();
      throw e;
    }
    rmSync(marker, { force: true });
    return db;
  }

  private static openIndex(sqlitePath: string, mode: number): Database.Database {
    mkdirSync(dirname(sqlitePath), { recursive: true, mode: 0o700 });
    closeSync(openSync(sqlitePath, fsc.O_RDWR | fsc.O_CREAT | fsc.O_NOFOLLOW, mode)); // create with our mode first
    const db = new Database(sqlitePath);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL'); // the JSONL is fsynced; a lost SQLite tail is backfilled
      db.pragma('busy_timeout = 5000');
      db.pragma('cache_size = -16384'); // 16 MB: a 10k-event batch fits without spilling mid-transaction
      db.pragma('wal_autocheckpoint = 8192'); // checkpoint every ~32 MB of WAL rather than 4 MB
      db.exec(SCHEMA);
      db.pragma('user_version = 1');
    } catch (e) {
      db.close();
      throw e;
    }
    return db;
  }

  /** Make the index agree with the JSONL: backfill what it lacks, refuse if it has more. */
  private static async reconcileIndex(db: Database.Database, path: string, sqlitePath: string, lastSeq: number, lastLine: string | undefined, chained: boolean, warn: (m: string) => void): Promise<void> {
    const maxRow = db.prepare('SELECT max(seq) AS m FROM events').get() as { m: number | null };
    const maxSeq = maxRow.m ?? -1;
    if (maxSeq > lastSeq) {
      throw new AuditLogCorruptError(
        `audit log ${path} ends at seq ${lastSeq} but its index ${sqlitePath} holds events up to seq ${maxSeq}: the JSONL lost its tail (truncated or replaced); refusing to append (keep both files for investigation; move them aside to start fresh)`,
        path,
      );
    }
    if (maxSeq === lastSeq) {
      if (lastSeq >= 0) {
        const row = db.prepare('SELECT json FROM events WHERE seq = ?').get(lastSeq) as { json: string } | undefined;
        if (row && lastLine !== undefined && row.json !== lastLine) {
          throw new AuditLogCorruptError(`audit log ${path}: its last line (seq ${lastSeq}) differs from the index ${sqlitePath} at the same seq; refusing to append`, path);
        }
      }
      return;
    }
    // Backfill events with seq > maxSeq from the JSONL.
    const ins = db.prepare('INSERT OR REPLACE INTO events (seq, id, ts, type, session_id, command_id, decision, rule, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const insertMany = db.transaction((rows: Row[]) => {
      for (const r of rows) ins.run(...r);
    });
    let rows: Row[] = [];
    let added = 0;
    let index = -1;
    let lineNo = 0;
    let carry = '';
    const handle = (raw: string): void => {
      lineNo++;
      const text = raw.trim();
      if (text === '') return;
      index++;
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new AuditLogCorruptError(`audit log ${path}: line ${lineNo} is not valid JSON (found while rebuilding the index); refusing to append`, path, lineNo);
      }
      const seq = chained ? (obj.integrity as IntegrityMetadata | undefined)?.sequence : index;
      if (typeof seq !== 'number') throw new AuditLogCorruptError(`audit log ${path}: line ${lineNo} has no integrity.sequence (found while rebuilding the index)`, path, lineNo);
      if (seq <= maxSeq) return;
      rows.push([seq, String(obj.id ?? ''), String(obj.ts ?? ''), String(obj.type ?? ''), str(obj.session_id), str(obj.command_id), str(obj.decision), str(obj.rule), text]);
      if (rows.length >= 10000) {
        insertMany(rows);
        added += rows.length;
        rows = [];
      }
    };
    const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
    try {
      for await (const chunk of stream as AsyncIterable<string>) {
        const text = carry + chunk;
        let start = 0;
        for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
          handle(text.slice(start, nl));
          start = nl + 1;
        }
        carry = text.slice(start);
      }
    } finally {
      stream.destroy();
    }
    if (carry !== '') handle(carry);
    if (rows.length) insertMany(rows);
    added += rows.length;
    warn(`audit index ${sqlitePath} was behind the JSONL (index at seq ${maxSeq}, log at seq ${lastSeq}): backfilled ${added} events`);
  }

  // -------------------------------------------------------------------------------------
  // Writing

  get chained(): boolean {
    return this.chain !== null;
  }

  private assertWritable(): void {
    if (this.failure) throw this.failure;
    if (this.closing || this.closed) throw new AuditLogError('audit log is closed');
  }

  /**
   * Seal and queue an event; returns it (with `integrity`) at once. It becomes durable with
   * its batch: await flush() — or use append() — before treating it as recorded.
   */
  enqueue(input: AuditEventInput): AuditEvent {
    this.assertWritable();
    const ev = makeEvent(input);
    let sealed: AuditEvent;
    let line: string;
    let seq: number;
    if (this.chain) {
      const r = this.chain.sealLine(ev, { inPlace: true }); // ev is our fresh object
      sealed = r.event as AuditEvent;
      line = r.line;
      seq = r.event.integrity.sequence;
      this.nextSeq = seq + 1;
    } else {
      sealed = ev;
      line = canonicalJson(ev);
      seq = this.nextSeq++;
    }
    this.queue.push({ ev: sealed, line, seq });
    this.enqueued++;
    this.schedule();
    return sealed;
  }

  /** Seal, queue, and resolve once the event is on disk (JSONL fsynced, SQLite written). */
  append(input: AuditEventInput): Promise<AuditEvent> {
    let ev: AuditEvent;
    try {
      ev = this.enqueue(input);
    } catch (e) {
      return Promise.reject(e as Error);
    }
    return this.waitDurable(this.enqueued).then(() => ev);
  }

  /** Resolves when every event enqueued so far is durable; rejects if the log failed. */
  flush(): Promise<void> {
    return this.waitDurable(this.enqueued);
  }

  /**
   * Resolves when every event enqueued so far is in the JSONL file: written to the kernel (no
   * crash of this process can lose it; its batch's fdatasync follows), before the SQLite index
   * has it. What a command waits for before it starts: a decision that can't be written
   * (ENOSPC, EIO) rejects here, without paying for the fsync and the index on every command.
   */
  flushToFile(): Promise<void> {
    const upTo = this.enqueued;
    if (this.inFile >= upTo) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.fileWaiters.push({ upTo, resolve, reject });
    });
  }

  private waitDurable(upTo: number): Promise<void> {
    if (this.durable >= upTo) return Promise.resolve();
    if (this.failure && upTo > this.written) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiters.push({ upTo, resolve, reject });
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      void this.run();
    };
    if (this.flushDelayMs > 0) setTimeout(go, this.flushDelayMs);
    else setImmediate(go);
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.failure) {
        let batch: Pending[];
        if (this.queue.length <= this.maxBatch) {
          batch = this.queue;
          this.queue = [];
        } else {
          batch = this.queue.slice(0, this.maxBatch);
          this.queue = this.queue.slice(this.maxBatch);
        }
        await this.writeBatch(batch);
        // Bound the batches written but not yet indexed (memory, and SQLite lag).
        while (this.inflight.length > MAX_INFLIGHT) await this.inflight.shift();
      }
    } finally {
      this.running = false;
    }
  }

  /** JSONL write + fdatasync now; index insert handed off; acknowledged in order when both are done. */
  private async writeBatch(batch: Pending[]): Promise<void> {
    let text = '';
    for (const p of batch) text += p.line + '\n';
    const buf = Buffer.from(text, 'utf8');
    const before = this.size;
    try {
      await writeAll(this.fd, buf);
      this.inFile += batch.length;
      let k = 0;
      while (k < this.fileWaiters.length && this.fileWaiters[k]!.upTo <= this.inFile) this.fileWaiters[k++]!.resolve();
      if (k > 0) this.fileWaiters.splice(0, k);
      if (this.fsync) await fdatasyncP(this.fd);
    } catch (e) {
      this.fail(e as Error, before);
      return;
    }
    this.size += buf.length;
    this.written += batch.length;
    this.batches++;
    let indexed: Promise<void> = Promise.resolve();
    if (this.indexer && !this.sqliteError) {
      indexed = this.indexer.insert(batch[0]!.seq, batch, text).catch((e: Error) => {
        if (!this.sqliteError) {
          this.sqliteError = e;
          if (isSqliteCorruption(e)) this.markIndexCorrupt(e);
          this.warn(`audit index ${this.sqlitePath}: insert failed (${e.message}); the JSONL still has every event and the index is rebuilt from it on the next open`);
        }
      });
    }
    const done = (this.completion = this.completion.then(() => indexed).then(() => this.complete(batch)));
    this.inflight.push(done);
    if (this.inflight.length > MAX_INFLIGHT * 2) this.inflight.splice(0, this.inflight.length - MAX_INFLIGHT * 2);
  }

  /** A batch is on disk and indexed: acknowledge it and stream it, in log order. */
  private complete(batch: Pending[]): void {
    const last = batch[batch.length - 1]!;
    this.lastDurable = { seq: last.seq, entryHash: last.ev.integrity?.entry_hash ?? '' };
    this.durable += batch.length;
    let k = 0;
    while (k < this.waiters.length && this.waiters[k]!.upTo <= this.durable) this.waiters[k++]!.resolve();
    if (k > 0) this.waiters.splice(0, k);
    if (this.subs.size > 0) this.notify(batch);
  }

  private fail(err: Error, truncateTo: number): void {
    let note = '';
    try {
      ftruncateSync(this.fd, truncateTo);
      fdatasyncSync(this.fd);
    } catch (e) {
      note = `; could not remove the partial batch (${(e as Error).message}): the next open will refuse or trim it`;
    }
    this.failure = new AuditLogError(`audit log ${this.path}: write failed (${err.message}); the log accepts no more events${note}`);
    this.warn(this.failure.message);
    try {
      this.onFailure?.(this.failure);
    } catch (e) {
      this.warn(`audit log ${this.path}: the failure handler threw: ${(e as Error).message}`);
    }
    // Events already written stay acknowledged (their batches complete); the rest are not.
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.upTo <= this.written) keep.push(w);
      else w.reject(this.failure);
    }
    this.waiters = keep;
    for (const w of this.fileWaiters) w.reject(this.failure);
    this.fileWaiters = [];
    this.queue = [];
  }

  // -------------------------------------------------------------------------------------
  // Reading and streaming

  /** Live events (after they are durable), in log order. Returns the unsubscribe function. */
  subscribe(filter: EventFilter | undefined, cb: Subscriber): () => void {
    const sub = { filter, cb };
    this.subs.add(sub);
    return () => {
      this.subs.delete(sub);
    };
  }

  private notify(batch: Pending[]): void {
    for (const sub of [...this.subs]) {
      for (const p of batch) {
        if (!matchesFilter(p.ev, sub.filter)) continue;
        try {
          sub.cb(p.ev, p.seq);
        } catch (e) {
          this.warn(`audit subscriber threw: ${(e as Error).message}`);
        }
      }
    }
  }

  private index(): IndexQueries {
    if (!this.idx) throw new AuditLogError('audit log has no SQLite index (sqlitePath: null)');
    if (this.sqliteError) throw new AuditLogError(isSqliteCorruption(this.sqliteError) ? this.corruptText(this.sqliteError) : `audit index ${this.sqlitePath} is behind the log since an insert failed (${this.sqliteError.message}); reopen the log to rebuild it`);
    return this.idx;
  }

  /** Durable events from the SQLite index (call flush() first to include queued ones). */
  query(q: AuditQuery = {}): AuditEvent[] {
    return this.reading(() => this.index().query(q));
  }

  count(q: AuditQuery = {}): number {
    return this.reading(() => this.index().count(q));
  }

  sessions(): { session_id: string; events: number; first_ts: string; last_ts: string }[] {
    return this.reading(() => this.index().sessions());
  }

  /** A read that finds the index corrupt marks it for rebuilding and says so. */
  private reading<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (!isSqliteCorruption(e)) throw e;
      this.markIndexCorrupt(e as Error);
      throw new AuditLogError(this.corruptText(e as Error));
    }
  }

  /** Whichever path finds the index corrupt (a query, an insert), the operator reads the same. */
  private corruptText(e: Error): string {
    return `audit index ${this.sqlitePath} is corrupt (${e.message}); the JSONL log ${this.path} has every event and the index is rebuilt from it when the log is next opened (restart the server)`;
  }

  private markIndexCorrupt(e: Error): void {
    if (!this.sqlitePath) return;
    const marker = rebuildMarker(this.sqlitePath);
    if (existsSync(marker)) return;
    try {
      writeFileSync(marker, `${e.message}\n`, { mode: 0o600 });
      this.warn(`audit index ${this.sqlitePath} is corrupt (${e.message}): marked ${marker}; it is rebuilt from the JSONL when the log is next opened`);
    } catch (w) {
      this.warn(`audit index ${this.sqlitePath} is corrupt (${e.message}) and could not be marked for rebuilding (${(w as Error).message}): move it aside before the next start`);
    }
  }

  /** The last durable entry: an anchor to keep elsewhere (detects a truncated tail). */
  head(): { sequence: number; entryHash: string } {
    return { sequence: this.lastDurable.seq, entryHash: this.lastDurable.entryHash };
  }

  stats(): AuditLogStats {
    const s: AuditLogStats = {
      enqueued: this.enqueued,
      durable: this.durable,
      queued: this.enqueued - this.durable,
      batches: this.batches,
      lastSeq: this.nextSeq - 1,
      chained: this.chain !== null,
    };
    if (this.failure) s.failed = this.failure.message;
    if (this.sqliteError) s.sqliteError = this.sqliteError.message;
    return s;
  }

  /** Flush everything, then release the file, the index and the lock. */
  async close(): Promise<void> {
    if (this.closed || this.closing) return;
    this.closing = true;
    let err: unknown = null;
    try {
      await this.flush();
    } catch (e) {
      err = e;
    }
    while (this.running) await new Promise((r) => setImmediate(r));
    await this.completion;
    this.subs.clear();
    try {
      await this.indexer?.close();
    } catch (e) {
      err ??= e;
    }
    try {
      this.db?.close();
    } catch (e) {
      err ??= e;
    }
    try {
      closeSync(this.fd);
    } catch (e) {
      err ??= e;
    }
    releaseLock(this.lockPath);
    this.closed = true;
    if (err) throw err;
  }
}

/** SQLite's own word that an index file is damaged (not a busy or full disk). */
function isSqliteCorruption(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT'));
}

/** Present: the index was found corrupt while in use; the next open rebuilds it. */
function rebuildMarker(sqlitePath: string): string {
  return `${sqlitePath}.rebuild`;
}

function countNonBlankLines(fd: number, size: number): number {
  let n = 0;
  let nonBlank = false;
  for (let off = 0; off < size; off += CHUNK) {
    const buf = readAt(fd, off, Math.min(CHUNK, size - off));
    for (let i = 0; i < buf.length; i++) {
      const b = buf[i]!;
      if (b === 0x0a) {
        if (nonBlank) n++;
        nonBlank = false;
      } else if (b !== 0x20 && b !== 0x09 && b !== 0x0d) nonBlank = true;
    }
  }
  return nonBlank ? n + 1 : n;
}

function writeAll(fd: number, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let off = 0;
    const step = (): void => {
      write(fd, buf, off, buf.length - off, null, (err, n) => {
        if (err) return reject(err);
        if (n === 0) return reject(new Error('short write (0 bytes)'));
        off += n;
        if (off < buf.length) step();
        else resolve();
      });
    };
    step();
  });
}
