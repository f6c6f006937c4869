// HMAC chain over audit events, byte-compatible with agentsh's (format_version 2).
//
// Facts taken from agentsh (repository canyonroad/agentsh), which this file matches:
//
// internal/audit/integrity.go
//   - Each chained line carries `integrity: {format_version, sequence, prev_hash, entry_hash}`
//     (struct IntegrityMetadata, in that field order). IntegrityFormatVersion = 2.
//   - A new chain starts with sequence = -1 and prevHash = "" internally, so the FIRST entry
//     has sequence 0 and prev_hash "" (the genesis prev_hash is the empty string).
//   - entry_hash = lower-case hex( HMAC(key, "<format_version>|<sequence>|<prev_hash>|" +
//     canonical_payload) ), decimal numbers, "|" separators (computeIntegrityHash).
//     Algorithm "hmac-sha256" (default, 64 hex chars) or "hmac-sha512" (128 hex chars).
//   - canonical_payload = json.Marshal of the event decoded into map[string]any with
//     UseNumber(), WITHOUT the "integrity" key (Wrap hashes before adding it; VerifyHash /
//     ParseIntegrityEntry delete it). prev_hash is NOT inside the payload: it enters the
//     HMAC through the "fv|seq|prev|" prefix. Go's json.Marshal of a map sorts keys and
//     HTML-escapes <, >, & — see canonical.ts for the exact rules we reproduce.
//   - The written line is json.Marshal(map + integrity), i.e. keys sorted, "integrity"
//     among them; chain state advances to (sequence, entry_hash).
//   - MinKeyLength = 32 bytes; shorter → "key too short: got N bytes, need at least 32".
//   - LoadKey(keyFile, keyEnv): key_file wins over key_env; the file's content is used as raw
//     bytes after strings.TrimSpace (NOT hex-decoded: a 64-hex-char file is a 64-byte key);
//     an empty file → error; the env var's value is used raw; empty/unset → error; neither
//     → "no key source specified: provide key_file or key_env".
//   - KeyFingerprint = "sha256:" + hex(sha256(key)[:16]).
// internal/config (AuditIntegrityConfig): `audit.integrity.{enabled, algorithm, key_source
//   (file|env|aws_kms|azure_keyvault|hashicorp_vault|gcp_kms; inferred from which field is
//   set when empty), key_file, key_env}`. We support file and env.
// internal/audit/logset.go (ParseIntegrityEntry): a line is trimmed (bytes.TrimSpace),
//   parsed with UseNumber; a present-but-malformed integrity object is an error
//   ("parse payload: invalid integrity metadata").
// internal/cli/audit_verify.go (`agentsh audit verify <log-file>`):
//   - lines numbered from 1; blank lines are skipped (but counted);
//   - checks in this order, stopping at the first failure:
//       malformed JSON        → "malformed JSON at FILE:LINE: <err>"
//       no integrity          → "unsigned line at FILE:LINE" (unless --tolerate-unsigned)
//       format_version < 2    → "legacy-format entry at FILE:LINE"
//       format_version > 2    → "unsupported audit integrity format_version N at FILE:LINE"
//       sequence ≠ expected   → "sequence mismatch at FILE:LINE: expected X, got Y"
//       prev_hash ≠ expected  → "chain broken at FILE:LINE: expected prev_hash \"A\", got \"B\""
//       HMAC differs          → "hash mismatch at FILE:LINE"
//     expected starts at (0, ""); after each line it is (sequence+1, entry_hash);
//   - a line of type "integrity_chain_rotated" with sequence 0 and prev_hash "" restarts the
//     chain; its fields.prior_chain_summary.{last_sequence_seen_in_log,
//     last_entry_hash_seen_in_log} must name the entry before it;
//   - --tolerate-truncation accepts an unparseable final line without newline;
//   - success prints "verified N entries across F files", then "first: seq=S (FILE:LINE)"
//     and "last:  seq=S (FILE:LINE)" when N > 0.
// internal/audit/sidecar.go: agentsh also keeps "<log>.chain" with the last (sequence,
//   prev_hash, key_fingerprint) as a restart anchor. We resume from the log's last line
//   instead and use the SQLite index as the anchor that detects a truncated JSONL tail.
//
// Checked against Go itself: test/audit-go-compat.test.ts runs a Go program doing what the
// code above does (when a Go toolchain is installed); Go verifies our logs, and our sealing of
// Go-sealed payloads (HTML characters, U+2028, astral keys, number literals like 1.0 and
// 30-digit integers, duplicate keys, lone surrogates) is byte-identical.
//
// What the chain can and cannot show: a changed byte, a deleted, inserted, duplicated or
// reordered line all break the chain at a definite line. Removing lines from the END (a
// truncated tail) leaves a valid shorter chain: it is NOT detectable from the file alone.
// It takes an anchor kept elsewhere (the last sequence/entry_hash, e.g. from SQLite, a
// sidecar, or shipped off the machine): pass it as `anchor` to the verifier.

import { createHmac, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, constants as fsc, createReadStream, fstatSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { canonicalJson, canonicalSplit, JsonNumber, JsonSyntaxError, parseJsonObject } from './canonical.js';

export const INTEGRITY_FORMAT_VERSION = 2;
export const MIN_KEY_LENGTH = 32;
export const ROTATION_EVENT_TYPE = 'integrity_chain_rotated';

export type ChainAlgorithm = 'hmac-sha256' | 'hmac-sha512';

export interface IntegrityMetadata {
  format_version: number;
  sequence: number;
  prev_hash: string;
  entry_hash: string;
}

/** The last written entry: `sequence` -1 and `prevHash` "" for a new chain. */
export interface ChainState {
  sequence: number;
  prevHash: string;
}

export type Sealed<T> = Omit<T, 'integrity'> & { integrity: IntegrityMetadata };

export class AuditKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditKeyError';
  }
}

function nodeHash(alg: ChainAlgorithm): 'sha256' | 'sha512' {
  if (alg === 'hmac-sha256') return 'sha256';
  if (alg === 'hmac-sha512') return 'sha512';
  throw new AuditKeyError(`unsupported algorithm ${JSON.stringify(alg)}: use hmac-sha256 or hmac-sha512`);
}

function checkKey(key: Buffer): void {
  if (!Buffer.isBuffer(key)) throw new AuditKeyError('audit integrity key must be a Buffer');
  if (key.length < MIN_KEY_LENGTH) throw new AuditKeyError(`key too short: got ${key.length} bytes, need at least ${MIN_KEY_LENGTH}`);
}

/** HMAC of "fv|seq|prev|" + payload, lower-case hex (agentsh computeIntegrityHash). */
export function computeEntryHash(key: Buffer, algorithm: ChainAlgorithm, formatVersion: number | string, sequence: number | string, prevHash: string, canonicalPayload: string): string {
  const h = createHmac(nodeHash(algorithm), key);
  h.update(`${formatVersion}|${sequence}|${prevHash}|`);
  h.update(canonicalPayload);
  return h.digest('hex');
}

/** "sha256:" + first 16 bytes of sha256(key), hex (agentsh KeyFingerprint). */
export function keyFingerprint(key: Buffer): string {
  return 'sha256:' + createHash('sha256').update(key).digest().subarray(0, 16).toString('hex');
}

function hashEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const HEX_RE = /^[0-9a-f]*$/;

export class HmacChain {
  readonly algorithm: ChainAlgorithm;
  private readonly key: Buffer;
  private sequence: number;
  private prevHash: string;

  constructor(key: Buffer, state?: ChainState, algorithm: ChainAlgorithm = 'hmac-sha256') {
    checkKey(key);
    nodeHash(algorithm);
    this.key = Buffer.from(key);
    this.algorithm = algorithm;
    this.sequence = state?.sequence ?? -1;
    this.prevHash = state?.prevHash ?? '';
    if (!Number.isSafeInteger(this.sequence) || this.sequence < -1) throw new RangeError(`invalid chain sequence ${this.sequence}`);
    if (this.sequence === -1 && this.prevHash !== '') throw new RangeError('a new chain (sequence -1) must have an empty prev_hash');
    if (!HEX_RE.test(this.prevHash)) throw new RangeError('prev_hash must be lower-case hex');
  }

  /** The last sealed entry (sequence -1 before the first). */
  get state(): ChainState {
    return { sequence: this.sequence, prevHash: this.prevHash };
  }

  get fingerprint(): string {
    return keyFingerprint(this.key);
  }

  /**
   * Seal an event: returns it with `integrity` and its canonical line (no newline). The
   * event is copied unless `inPlace` (for callers that own a fresh object: saves garbage).
   */
  sealLine<T extends object>(event: T, opts: { inPlace?: boolean } = {}): { event: Sealed<T>; line: string } {
    const { before, after } = canonicalSplit(event as Record<string, unknown>, 'integrity');
    const hasBefore = before !== '{';
    const hasAfter = after !== '}';
    const payload = hasBefore && hasAfter ? before + ',' + after : before + after;
    const sequence = this.sequence + 1;
    if (!Number.isSafeInteger(sequence)) throw new RangeError('integrity sequence overflow');
    const prev = this.prevHash;
    const entryHash = computeEntryHash(this.key, this.algorithm, INTEGRITY_FORMAT_VERSION, sequence, prev, payload);
    const integrity: IntegrityMetadata = { format_version: INTEGRITY_FORMAT_VERSION, sequence, prev_hash: prev, entry_hash: entryHash };
    const integrityText = `"integrity":{"format_version":${INTEGRITY_FORMAT_VERSION},"sequence":${sequence},"prev_hash":"${prev}","entry_hash":"${entryHash}"}`;
    const line = before + (hasBefore ? ',' : '') + integrityText + (hasAfter ? ',' : '') + after;
    this.sequence = sequence;
    this.prevHash = entryHash;
    let out: Record<string, unknown>;
    if (opts.inPlace) {
      out = event as Record<string, unknown>;
      out.integrity = integrity;
    } else {
      out = Object.assign({}, event as Record<string, unknown>, { integrity });
    }
    return { event: out as Sealed<T>, line };
  }

  /** Seal an event (see sealLine). */
  seal<T extends object>(event: T): Sealed<T> {
    return this.sealLine(event).event;
  }
}

// ---------------------------------------------------------------------------------------
// Verification

export interface VerifyOptions {
  algorithm?: ChainAlgorithm;
  /** Skip lines without `integrity` instead of failing (agentsh --tolerate-unsigned). */
  tolerateUnsigned?: boolean;
  /** Accept an unparseable final line without newline (agentsh --tolerate-truncation). */
  tolerateTruncation?: boolean;
  /** The chain must end exactly here (detects a truncated tail). */
  anchor?: { sequence: number; entryHash?: string };
}

export interface VerifiedEnd {
  sequence: number;
  line: number;
  entryHash: string;
}

export type VerifyResult =
  | { ok: true; count: number; first?: VerifiedEnd; last?: VerifiedEnd; warnings: string[] }
  | { ok: false; line: number; reason: string; kind: string; detail?: string; hint?: string; count: number; last?: VerifiedEnd };

type Failure = { kind: string; detail?: string; hint?: string };

function asInt(v: unknown): number | undefined {
  if (v instanceof JsonNumber) {
    if (!/^-?[0-9]+$/.test(v.literal)) return undefined;
    const n = Number(v.literal);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined;
}

/** Read `integrity` from a parsed line: undefined if absent, null if malformed. */
export function integrityOf(obj: Record<string, unknown>): IntegrityMetadata | undefined | null {
  if (!Object.prototype.hasOwnProperty.call(obj, 'integrity')) return undefined;
  const raw = obj.integrity;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const r = raw as Record<string, unknown>;
  const fv = asInt(r.format_version);
  const seq = asInt(r.sequence);
  if (fv === undefined || seq === undefined || typeof r.prev_hash !== 'string' || typeof r.entry_hash !== 'string') return null;
  return { format_version: fv, sequence: seq, prev_hash: r.prev_hash, entry_hash: r.entry_hash };
}

/** Check one parsed line's own HMAC (agentsh VerifyWrapped); ignores its place in the chain. */
export function verifyEntryHash(key: Buffer, obj: Record<string, unknown>, algorithm: ChainAlgorithm = 'hmac-sha256'): boolean {
  const meta = integrityOf(obj);
  if (!meta) return false;
  const copy: Record<string, unknown> = Object.assign(Object.create(null), obj);
  delete copy.integrity;
  const payload = canonicalJson(copy);
  return hashEqual(computeEntryHash(key, algorithm, meta.format_version, meta.sequence, meta.prev_hash, payload), meta.entry_hash);
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Streaming chain verifier: feed lines in order with push(), then finish(). */
export class ChainVerifier {
  private readonly key: Buffer;
  private readonly algorithm: ChainAlgorithm;
  private expectedSequence = 0;
  private expectedPrev = '';
  count = 0;
  first: VerifiedEnd | undefined;
  last: VerifiedEnd | undefined;
  readonly warnings: string[] = [];

  constructor(
    key: Buffer,
    private readonly opts: VerifyOptions = {},
  ) {
    checkKey(key);
    this.key = key;
    this.algorithm = opts.algorithm ?? 'hmac-sha256';
    nodeHash(this.algorithm);
  }

  /** Returns a failure for this line, or null. `final` + `hadNewline` matter for truncation. */
  push(rawLine: string, lineNo: number, info: { final?: boolean; hadNewline?: boolean } = {}): Failure | null {
    const line = rawLine.trim();
    if (line === '') return null;
    let obj: Record<string, unknown>;
    try {
      obj = parseJsonObject(line);
    } catch (e) {
      if (this.opts.tolerateTruncation && info.final && info.hadNewline === false && e instanceof JsonSyntaxError && e.unexpectedEnd) {
        this.warnings.push(`line ${lineNo}: truncated final line accepted as end of chain`);
        return null;
      }
      return { kind: 'malformed JSON', detail: (e as Error).message };
    }
    const meta = integrityOf(obj);
    if (meta === null) return { kind: 'malformed JSON', detail: 'parse payload: invalid integrity metadata' };
    if (meta === undefined) {
      if (this.opts.tolerateUnsigned) {
        this.warnings.push(`line ${lineNo}: unsigned line skipped`);
        return null;
      }
      return { kind: 'unsigned line', hint: 'the line has no integrity field: written without the chain, or inserted' };
    }
    if (meta.format_version < INTEGRITY_FORMAT_VERSION) return { kind: 'legacy-format entry' };
    if (meta.format_version > INTEGRITY_FORMAT_VERSION) return { kind: `unsupported audit integrity format_version ${meta.format_version}` };

    const rotation = obj.type === ROTATION_EVENT_TYPE && meta.sequence === 0 && meta.prev_hash === '';
    if (rotation) {
      if (this.count > 0) {
        const f = obj.fields as Record<string, unknown> | undefined;
        const summary = f && typeof f === 'object' ? (f.prior_chain_summary as Record<string, unknown> | undefined) : undefined;
        if (!summary || typeof summary !== 'object') return { kind: 'rotation boundary', detail: 'missing prior_chain_summary' };
        const lastSeq = asInt(summary.last_sequence_seen_in_log);
        if (lastSeq !== this.expectedSequence - 1) return { kind: 'rotation boundary', detail: `prior_chain_summary.last_sequence_seen_in_log = ${lastSeq}, want ${this.expectedSequence - 1}` };
        if (summary.last_entry_hash_seen_in_log !== this.expectedPrev) return { kind: 'rotation boundary', detail: `prior_chain_summary.last_entry_hash_seen_in_log = ${JSON.stringify(summary.last_entry_hash_seen_in_log)}, want ${JSON.stringify(this.expectedPrev)}` };
      }
    } else {
      if (meta.sequence !== this.expectedSequence) {
        const gap = meta.sequence - this.expectedSequence;
        const hint =
          gap > 0
            ? `${plural(gap, 'entry is', 'entries are')} missing before this line (deleted lines?)`
            : meta.sequence === this.expectedSequence - 1
              ? 'this line repeats the sequence of the line before it (duplicated line?)'
              : 'the sequence goes backwards (lines reordered or duplicated?)';
        return { kind: 'sequence mismatch', detail: `expected ${this.expectedSequence}, got ${meta.sequence}`, hint };
      }
      if (meta.prev_hash !== this.expectedPrev) {
        return { kind: 'chain broken', detail: `expected prev_hash ${JSON.stringify(this.expectedPrev)}, got ${JSON.stringify(meta.prev_hash)}`, hint: 'this line does not follow the line before it (lines replaced or spliced from another log?)' };
      }
    }
    delete obj.integrity;
    const actual = computeEntryHash(this.key, this.algorithm, meta.format_version, meta.sequence, meta.prev_hash, canonicalJson(obj));
    if (!hashEqual(actual, meta.entry_hash)) return { kind: 'hash mismatch', hint: 'the line was modified after it was written, or the key is wrong' };

    const end: VerifiedEnd = { sequence: meta.sequence, line: lineNo, entryHash: meta.entry_hash };
    if (this.count === 0) this.first = end;
    this.last = end;
    this.count++;
    this.expectedSequence = meta.sequence + 1;
    this.expectedPrev = meta.entry_hash;
    return null;
  }

  /** After the last line: checks the anchor, if one was given. */
  finish(): Failure | null {
    const a = this.opts.anchor;
    if (!a) return null;
    const lastSeq = this.last?.sequence ?? -1;
    if (lastSeq < a.sequence) return { kind: 'truncated log', detail: `the chain ends at seq=${lastSeq} but the anchor says seq=${a.sequence}`, hint: `${plural(a.sequence - lastSeq, 'entry is', 'entries are')} missing from the end` };
    if (lastSeq > a.sequence) return { kind: 'anchor mismatch', detail: `the chain ends at seq=${lastSeq}, past the anchor seq=${a.sequence}` };
    if (a.entryHash !== undefined && this.last && !hashEqual(a.entryHash, this.last.entryHash)) return { kind: 'anchor mismatch', detail: `last entry_hash differs from the anchor's` };
    return null;
  }
}

function failed(v: ChainVerifier, line: number, f: Failure): VerifyResult {
  const r: VerifyResult = { ok: false, line, kind: f.kind, reason: f.detail ? `${f.kind}: ${f.detail}` : f.kind, count: v.count };
  if (f.detail !== undefined) r.detail = f.detail;
  if (f.hint !== undefined) r.hint = f.hint;
  if (v.last) r.last = v.last;
  return r;
}

function succeeded(v: ChainVerifier): VerifyResult {
  const r: VerifyResult = { ok: true, count: v.count, warnings: v.warnings };
  if (v.first) r.first = v.first;
  if (v.last) r.last = v.last;
  return r;
}

/**
 * Verify a chained log given as lines (1-based numbering, blank lines skipped but counted).
 * Fails naming the first bad line. A truncated tail passes unless `opts.anchor` is given.
 */
export function verifyLines(lines: Iterable<string>, key: Buffer, opts: VerifyOptions = {}): VerifyResult {
  const v = new ChainVerifier(key, opts);
  let n = 0;
  for (const line of lines) {
    n++;
    const f = v.push(line, n);
    if (f) return failed(v, n, f);
  }
  const f = v.finish();
  if (f) return failed(v, n, f);
  return succeeded(v);
}

/** Split text into lines the way the verifier numbers them. */
export function splitLines(text: string): { lines: string[]; endsWithNewline: boolean } {
  const lines = text.split('\n');
  const endsWithNewline = text.endsWith('\n');
  if (endsWithNewline || text === '') lines.pop();
  return { lines, endsWithNewline };
}

/** Verify a log file, streaming (constant memory). */
export async function verifyFile(path: string, key: Buffer, opts: VerifyOptions = {}): Promise<VerifyResult> {
  const v = new ChainVerifier(key, opts);
  let lineNo = 0;
  let carry = '';
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      let text = carry + chunk;
      let start = 0;
      for (;;) {
        const nl = text.indexOf('\n', start);
        if (nl < 0) break;
        lineNo++;
        const f = v.push(text.slice(start, nl), lineNo);
        if (f) return failed(v, lineNo, f);
        start = nl + 1;
      }
      carry = text.slice(start);
      text = '';
    }
  } finally {
    stream.destroy();
  }
  if (carry !== '') {
    lineNo++;
    const f = v.push(carry, lineNo, { final: true, hadNewline: false });
    if (f) return failed(v, lineNo, f);
  }
  const f = v.finish();
  if (f) return failed(v, lineNo, f);
  return succeeded(v);
}

/**
 * What `agentsh audit verify LOG` prints, agentsh's wording: on success stdout
 * "verified N entries across 1 files" + first/last; on failure the message names FILE:LINE.
 */
export function formatVerifyResult(path: string, r: VerifyResult): { ok: boolean; stdout: string; stderr: string } {
  if (r.ok) {
    let out = `verified ${r.count} entries across 1 files\n`;
    if (r.count > 0 && r.first && r.last) {
      out += `first: seq=${r.first.sequence} (${path}:${r.first.line})\n`;
      out += `last:  seq=${r.last.sequence} (${path}:${r.last.line})\n`;
    }
    const warn = r.warnings.map((w) => `warning: ${w}\n`).join('');
    return { ok: true, stdout: out, stderr: warn };
  }
  let msg = `${r.kind} at ${path}:${r.line}${r.detail ? `: ${r.detail}` : ''}\n`;
  if (r.hint) msg += `  hint: ${r.hint}\n`;
  if (r.count > 0 && r.last) msg += `  ${r.count} entries verified before it (last good: seq=${r.last.sequence} at ${path}:${r.last.line})\n`;
  return { ok: false, stdout: '', stderr: msg };
}

// ---------------------------------------------------------------------------------------
// Keys

export interface KeyConfig {
  key_source?: string;
  key_file?: string;
  key_env?: string;
}

export interface LoadKeyOptions {
  /** Called with non-fatal problems (a group-readable key file). Default: ignored. */
  onWarning?: (message: string) => void;
  /** Accept a key file other users can read or write (tests, or an operator's explicit choice). */
  allowInsecurePermissions?: boolean;
}

const isAsciiSpace = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d);

/** strings.TrimSpace for the ASCII whitespace Go trims (a key file is text, usually hex). */
function trimAsciiSpace(b: Buffer): Buffer {
  let s = 0;
  let e = b.length;
  while (s < e && isAsciiSpace(b[s]!)) s++;
  while (e > s && isAsciiSpace(b[e - 1]!)) e--;
  return Buffer.from(b.subarray(s, e));
}

function describeMode(mode: number): string {
  return '0' + (mode & 0o777).toString(8).padStart(3, '0');
}

/**
 * Load the HMAC key as agentsh does (file content trimmed, used as raw bytes; or the env
 * var's raw value), then require ≥ 32 bytes. A key file that other users can read or write
 * is refused (the agent could forge or hide entries with it); group-readable only warns.
 */
export function loadKey(cfg: KeyConfig, env: NodeJS.ProcessEnv = process.env, opts: LoadKeyOptions = {}): Buffer {
  let source = cfg.key_source ?? '';
  if (source === '') source = cfg.key_file ? 'file' : cfg.key_env ? 'env' : '';
  let key: Buffer;
  let where: string;
  if (source === 'file') {
    const file = cfg.key_file;
    if (!file) throw new AuditKeyError('audit.integrity.key_source is "file" but audit.integrity.key_file is not set');
    where = `key file ${file}`;
    let data: Buffer;
    let fd: number;
    try {
      fd = openSync(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ELOOP') throw new AuditKeyError(`read key file ${JSON.stringify(file)}: is a symlink; point key_file at the real file`);
      throw new AuditKeyError(`read key file ${JSON.stringify(file)}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new AuditKeyError(`read key file ${JSON.stringify(file)}: not a regular file`);
      const mode = st.mode & 0o777;
      if (!opts.allowInsecurePermissions && mode & 0o027) {
        throw new AuditKeyError(`key file ${file} has mode ${describeMode(mode)}: other users could read or replace the audit key (and forge the log); run: chmod 600 ${file}`);
      }
      if (mode & 0o040) opts.onWarning?.(`key file ${file} is group-readable (mode ${describeMode(mode)}); chmod 600 is recommended`);
      data = readFileSync(fd);
    } finally {
      closeSync(fd);
    }
    key = trimAsciiSpace(data);
    if (key.length === 0) throw new AuditKeyError(`key file ${JSON.stringify(file)} is empty`);
  } else if (source === 'env') {
    const name = cfg.key_env;
    if (!name) throw new AuditKeyError('audit.integrity.key_source is "env" but audit.integrity.key_env is not set');
    where = `environment variable ${name}`;
    const value = env[name];
    if (value === undefined || value === '') throw new AuditKeyError(`environment variable ${JSON.stringify(name)} is empty or not set`);
    key = Buffer.from(value, 'utf8');
  } else if (source === '') {
    throw new AuditKeyError('no key source specified: provide key_file or key_env');
  } else if (['aws_kms', 'azure_keyvault', 'hashicorp_vault', 'gcp_kms'].includes(source)) {
    throw new AuditKeyError(`audit.integrity.key_source "${source}" is not supported by this build; use "file" or "env"`);
  } else {
    throw new AuditKeyError(`unknown audit.integrity.key_source ${JSON.stringify(source)}: use "file" or "env"`);
  }
  if (key.length < MIN_KEY_LENGTH) {
    throw new AuditKeyError(`key too short: got ${key.length} bytes, need at least ${MIN_KEY_LENGTH} (from ${where}); generate one with: head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > KEYFILE`);
  }
  return key;
}

/** A fresh key as agentsh would read it from a file: 64 hex characters (64 key bytes). */
export function generateKeyText(): string {
  return randomBytes(32).toString('hex');
}

/**
 * Create a key file (mode 0600, exclusive) if it does not exist; return the key either way.
 * For the server's first start; never overwrites.
 */
export function ensureKeyFile(path: string, opts: LoadKeyOptions = {}): Buffer {
  try {
    statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    try {
      const fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
      try {
        writeSync(fd, generateKeyText() + '\n');
      } finally {
        closeSync(fd);
      }
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code !== 'EEXIST') throw e2;
    }
  }
  return loadKey({ key_source: 'file', key_file: path }, {}, opts);
}
