// Redaction engine: one implementation for one-shot text and for streams.
//
// Matching works on bytes: RE2 runs over Buffers directly (UTF-8 mode; every built-in
// pattern is ASCII), and output is assembled from slices of the input plus
// `[REDACTED:DISPLAY]`, so every byte outside a redaction passes through unchanged — invalid
// UTF-8 and arbitrary binary included.
//
// Semantics (identical for one-shot and streaming):
//  1. Each detector is matched on its own, left to right, non-overlapping (Go's FindAll):
//     the leftmost match, then the next one from where it ended. A match its validator
//     rejects is skipped as a whole (the search resumes at its end; this keeps every
//     detector linear).
//  2. Accepted spans of all detectors are merged: overlapping spans (not merely touching
//     ones) become one redaction covering their union, so no byte of any detected secret
//     survives. The label is that of the span that starts first, then the longest, then the
//     detector listed first (fromConfig lists the operator's custom patterns before the
//     built-ins, so the seed's `gho_…` keeps its GITHUB_OAUTH label).
//
// Streaming (Scanner) produces byte-for-byte the output of one-shot redaction whenever no
// match is longer than `maxMatchBytes`. Rule for what is held back: for each detector, the
// earliest position from which the bytes up to the end of the data received so far are a
// prefix of something the detector could still match (regex-prefix.ts); everything before
// the smallest such position is decided — no future byte can change a match starting
// there — and is emitted at once. A redaction that straddles that point holds back from its
// own start, and so does a UTF-8 character cut by the chunk boundary. So a line of ordinary
// text is emitted as soon as it is received, while e.g. a trailing `AKIA12` waits for the
// next bytes. Positions more than `maxMatchBytes` back are always emitted (bounded memory);
// a match longer than that may be cut (README.md, Limitations).
import RE2 from 're2';
import { type Detector, type PatternToggles, type CustomPatternConfig, customDetectors, enabledBuiltins } from './patterns.js';
import { fixedByteLength, hasLeadingAssertion, prefixRegexSource } from './regex-prefix.js';

export interface Finding {
  /** Detector name (custom patterns: the config's `name`). */
  name: string;
  display: string;
  /** Offsets of the replaced span: bytes for Buffers and streams, UTF-16 code units for
   *  `redact(string)`. Streams count from the start of the stream. */
  start: number;
  end: number;
  source: 'builtin' | 'custom';
}

/** A `dlp` config the redactor cannot use; `pattern` names the offending pattern. */
export class DlpConfigError extends Error {
  constructor(
    message: string,
    readonly pattern?: string,
  ) {
    super(message);
    this.name = 'DlpConfigError';
  }
}

type RE2Instance = RE2;
type RE2SetInstance = ReturnType<typeof RE2.Set>;

interface Compiled {
  readonly det: Detector;
  readonly re: RE2Instance;
  /** `(?:pre(R))\z`: where a match of this detector could still be in progress (null:
   *  unknown, hold back a full window). Used only when `Redactor.holdRe` is null. */
  readonly pre: RE2Instance | null;
  /** Every match is this many bytes (0: varies): its start is known from its end, so the
   *  scanner can use RE2's cheap test() instead of exec() (10× less per match). */
  readonly fixedLen: number;
  /** No assertion can look before a match: its start can be found with search() on a view
   *  (test() + search() cost a third of exec(), which builds a result object). */
  readonly cheapStart: boolean;
  readonly replacement: Buffer;
}

/** Default bound on the bytes held back by a stream (and on a match it guarantees to see
 *  whole). PEM blocks of RSA-4096 keys are ~3.3 KB, large JWTs a few KB. */
export const DEFAULT_MAX_MATCH_BYTES = 16 * 1024;
/** Bytes kept before the emit point as look-behind context (\b, validators). */
const CONTEXT_BYTES = 8;
const EMPTY = Buffer.alloc(0);

export class Redactor {
  readonly detectors: readonly Detector[];
  /** @internal */
  readonly compiled: readonly Compiled[];
  /** @internal see the constructor */
  readonly holdRe: RE2Instance | null;
  /** @internal one DFA pass that says which detectors match anywhere in a buffer. */
  readonly set: RE2SetInstance | null;

  constructor(detectors: readonly Detector[]) {
    this.detectors = [...detectors];
    const preSources: (string | null)[] = [];
    this.compiled = this.detectors.map((det) => {
      let re: RE2Instance;
      try {
        re = new RE2(det.regex, det.secretGroup ? 'gd' : 'g');
      } catch (err) {
        const where = det.source === 'custom' ? `dlp.custom_patterns '${det.name}'` : `built-in DLP pattern '${det.name}'`;
        throw new DlpConfigError(`${where}: invalid RE2 regex ${JSON.stringify(det.regex)}: ${(err as Error).message}`, det.name);
      }
      const src = prefixRegexSource(det.regex);
      preSources.push(src);
      let pre: RE2Instance | null = null;
      if (src !== null) {
        try {
          pre = new RE2(`(?:${src})\\z`, 'g');
        } catch {
          pre = null; // too big for RE2: hold back a full window for this detector instead
        }
      }
      const fixedLen = !det.secretGroup ? (fixedByteLength(det.regex) ?? 0) : 0;
      const cheapStart = !det.secretGroup && !hasLeadingAssertion(det.regex);
      return { det, re, pre, fixedLen, cheapStart, replacement: Buffer.from(`[REDACTED:${det.display}]`, 'utf8') };
    });
    // One end-anchored regex for all detectors: the earliest position any of them could
    // still be matching from, in one reverse-DFA pass over the tail.
    let holdRe: RE2Instance | null = null;
    const withPre = preSources.filter((x, i): x is string => x !== null && this.compiled[i]!.pre !== null);
    if (withPre.length > 1) {
      try {
        holdRe = new RE2(`(?:${withPre.map((x) => `(?:${x})`).join('|')})\\z`, 'g');
      } catch {
        holdRe = null;
      }
    }
    this.holdRe = holdRe;
    let set: RE2SetInstance | null = null;
    if (this.compiled.length > 1) {
      try {
        set = new RE2.Set(this.detectors.map((d) => d.regex));
      } catch {
        set = null;
      }
    }
    this.set = set;
  }

  /** Redacts a buffer; findings carry byte offsets. Returns the input itself when nothing
   *  was found. */
  redactBuffer(input: Buffer): { buffer: Buffer; findings: Finding[] } {
    const findings: Finding[] = [];
    const sc = new Scanner(this, { maxMatchBytes: Infinity, onFinding: (f) => findings.push(f) });
    const out = sc.end(input);
    return { buffer: findings.length ? out : input, findings };
  }

  /** Redacts a string (matched as UTF-8); findings carry UTF-16 offsets into `text`. */
  redact(text: string): { text: string; findings: Finding[] } {
    const buf = Buffer.from(text, 'utf8');
    const { findings } = this.redactBuffer(buf);
    if (!findings.length) return { text, findings };
    const ascii = buf.length === text.length;
    // byte offset → UTF-16 offset, walking forward once (findings are in order)
    let bytePos = 0;
    let charPos = 0;
    const toChar = (b: number, roundUp: boolean): number => {
      if (ascii) return b;
      // a boundary inside a multi-byte character (only a custom \C pattern can do that)
      // is moved outward to the character's edge
      if (roundUp) while (b < buf.length && (buf[b]! & 0xc0) === 0x80) b++;
      else while (b > 0 && (buf[b]! & 0xc0) === 0x80) b--;
      if (b < bytePos) return charPos; // cannot happen with ordered, disjoint findings
      charPos += buf.toString('utf8', bytePos, b).length;
      bytePos = b;
      return charPos;
    };
    const parts: string[] = [];
    let last = 0;
    const out: Finding[] = [];
    for (const f of findings) {
      const start = toChar(f.start, false);
      const end = toChar(f.end, true);
      parts.push(text.slice(last, start), `[REDACTED:${f.display}]`);
      last = end;
      out.push({ ...f, start, end });
    }
    parts.push(text.slice(last));
    return { text: parts.join(''), findings: out };
  }

  /** Findings only (byte offsets). */
  scanBuffer(input: Buffer): Finding[] {
    return this.redactBuffer(input).findings;
  }
}

export interface DlpConfigLike {
  mode?: string;
  patterns?: PatternToggles;
  custom_patterns?: readonly CustomPatternConfig[];
}

/**
 * The redactor for a config's `dlp` section, or null when DLP is off.
 *
 * - `mode: redact` (agentsh's default, and the seed's): output is redacted with the
 *   `custom_patterns` (in config order; they win ties) and the enabled built-ins
 *   (`patterns`, with agentsh's rule that none on means all on).
 * - `mode: disabled`: null — no detector is compiled, output passes through untouched and no
 *   finding is recorded anywhere.
 *
 * A custom pattern that RE2 rejects throws a DlpConfigError naming it.
 */
export function fromConfig(dlp: DlpConfigLike | undefined): Redactor | null {
  const mode = dlp?.mode ?? 'redact';
  if (mode === 'disabled') return null;
  if (mode !== 'redact') throw new DlpConfigError(`dlp.mode ${JSON.stringify(mode)} is not supported (redact | disabled)`);
  const detectors = [...customDetectors(dlp?.custom_patterns), ...enabledBuiltins(dlp?.patterns)];
  return new Redactor(detectors);
}

// ---------------------------------------------------------------------------------------
// The engine

interface Hit {
  start: number; // absolute byte offsets of the span to replace
  end: number;
  det: number;
}

export interface ScannerOptions {
  /** Bound on held-back bytes, see DEFAULT_MAX_MATCH_BYTES (Infinity: no bound, for
   *  one-shot redaction where all the data is in memory anyway). */
  maxMatchBytes?: number;
  /** Called for every redaction as it is emitted (offsets from the start of the stream). */
  onFinding?: (f: Finding) => void;
}

/** Bytes at the end of `b` that are an incomplete UTF-8 character (0–3). */
export function partialUtf8Tail(b: Buffer): number {
  const n = b.length;
  for (let k = 1; k <= 3 && k <= n; k++) {
    const c = b[n - k]!;
    if ((c & 0xc0) === 0x80) continue; // continuation byte: the lead is further back
    const need = c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf8 ? 4 : 1;
    return need > k ? k : 0;
  }
  return 0;
}

const byHit = (a: Hit, b: Hit): number => a.start - b.start || b.end - b.start - (a.end - a.start) || a.det - b.det;

/** Detectors with a match somewhere in a buffer (1 = yes); null: unknown, run them all. */
type Flagged = (Uint8Array & { count: number }) | null;

/** Slice size when a chunk holds matches of many detectors (see feed()). */
const SLICE = 8 * 1024;
/** More detectors than this matching somewhere in a chunk: decide it slice by slice. */
const SLICE_WHEN_FLAGGED = 4;
/** No slicing while this much is held back (each slice would rescan it). */
const SLICE_MAX_HELD = 64 * 1024;

/** Incremental redaction state over a byte stream (see the header comment). */
export class Scanner {
  private buf: Buffer = EMPTY; // context + undecided bytes (+ bytes not yet stepped); buf[0] is at absolute `base`
  private base = 0;
  private emitted = 0; // absolute offset up to which output was produced
  private readonly resume: number[]; // per detector: where its FindAll continues (absolute)
  private pending: Hit[] = [];
  private readonly window: number;
  private readonly onFinding: ((f: Finding) => void) | undefined;
  private done = false;
  private dense = false; // the last big chunk had matches of many detectors
  private lastFlagged: Flagged = null; // what the last step scanned
  /** Number of redactions emitted so far. */
  findings = 0;

  constructor(
    private readonly red: Redactor,
    opts: ScannerOptions = {},
  ) {
    this.resume = red.compiled.map(() => 0);
    const w = opts.maxMatchBytes ?? DEFAULT_MAX_MATCH_BYTES;
    this.window = w === Infinity ? Infinity : Math.max(64, Math.floor(w));
    this.onFinding = opts.onFinding;
  }

  /** Bytes received and not yet emitted (held back as a possible secret in progress). */
  get heldBytes(): number {
    return this.base + this.buf.length - this.emitted;
  }

  /** Total bytes received. */
  get bytesIn(): number {
    return this.base + this.buf.length;
  }

  /** Feeds a chunk; returns the output that is decided now (possibly empty). */
  push(chunk: Buffer): Buffer {
    if (this.done) throw new Error('DLP scanner: push after end');
    if (chunk.length === 0) return EMPTY;
    return this.feed(chunk, false);
  }

  /** Emits everything held back now, as if the data ended here (a secret split across this
   *  point may escape). Later chunks continue the stream. */
  flush(): Buffer {
    if (this.done || this.heldBytes === 0) return EMPTY;
    const out = this.step('force', this.base + this.buf.length, undefined);
    this.own();
    return out;
  }

  /** Ends the stream (optionally with a last chunk) and returns the remaining output. */
  end(chunk?: Buffer): Buffer {
    if (this.done) return EMPTY;
    const out = this.feed(chunk ?? EMPTY, true);
    this.done = true;
    this.buf = EMPTY;
    return out;
  }

  private feed(chunk: Buffer, final: boolean): Buffer {
    const chunkStart = this.base + this.buf.length;
    this.buf = this.buf.length === 0 ? chunk : chunk.length === 0 ? this.buf : Buffer.concat([this.buf, chunk]);
    const endAbs = this.base + this.buf.length;
    const sliceable = chunk.length >= 2 * SLICE;
    // after a dense chunk, go straight to slices (saves a Set pass over the whole chunk)
    let flagged: Flagged | undefined = sliceable && this.dense ? undefined : this.flag(this.buf);
    const parts: Buffer[] = [];
    if (sliceable && (flagged === undefined || flagged === null || flagged.count > SLICE_WHEN_FLAGGED)) {
      // Matches of many detectors somewhere in this chunk: every one of them would scan the
      // whole chunk. Deciding it in slices instead lets each detector scan only the slices
      // where it matches (the streaming rule makes the result the same, whatever the slicing).
      const seen = new Uint8Array(this.red.compiled.length);
      let kinds = 0;
      const note = () => {
        const f = this.lastFlagged;
        if (f === null) kinds = Infinity;
        else for (let i = 0; i < f.length; i++) if (f[i] && !seen[i]) (seen[i] = 1), kinds++;
      };
      for (let lim = chunkStart + SLICE; lim <= endAbs - SLICE / 2 && lim - SLICE - this.emitted <= SLICE_MAX_HELD; lim += SLICE) {
        parts.push(this.step('normal', lim, undefined));
        note();
      }
      parts.push(this.step(final ? 'final' : 'normal', endAbs, undefined));
      note();
      this.dense = kinds > SLICE_WHEN_FLAGGED;
    } else {
      if (sliceable) this.dense = false;
      parts.push(this.step(final ? 'final' : 'normal', endAbs, flagged));
    }
    this.own();
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Keeps a copy of the retained bytes: they may be a view of the caller's chunk (whose
   *  memory they may reuse) or of output handed out (which overlaps the context bytes). */
  private own(): void {
    if (this.buf.length) this.buf = Buffer.from(this.buf);
  }

  /** Which detectors match anywhere in `P` (one DFA pass); null: assume all. */
  private flag(P: Buffer): Flagged {
    const set = this.red.set;
    if (!set) return null;
    try {
      const hits = set.match(P);
      const f = Object.assign(new Uint8Array(this.red.compiled.length), { count: hits.length });
      for (const i of hits) f[i] = 1;
      return f;
    } catch {
      return null; // DFA out of memory: run every detector
    }
  }

  /** Decides the data received up to `limit` (absolute). */
  private step(mode: 'normal' | 'force' | 'final', limit: number, flaggedIn: Flagged | undefined): Buffer {
    const full = this.buf;
    const base = this.base;
    const P = limit - base === full.length ? full : full.subarray(0, limit - base);
    const absEnd = limit;
    const compiled = this.red.compiled;
    const n = compiled.length;
    const flagged = flaggedIn === undefined ? this.flag(P) : flaggedIn;
    this.lastFlagged = flagged;

    // Everything before `decided` is final: no detector can be in the middle of a match there.
    let decided = absEnd;
    const resume = this.resume;
    if (mode === 'normal') {
      // A UTF-8 character cut by the chunk boundary is not decided: completed, it may match
      // (\S, ., \pL) where its first bytes alone do not.
      const cut = absEnd - partialUtf8Tail(P);
      const Q = cut === absEnd ? P : P.subarray(0, cut - base);
      decided = cut;
      const winLo = absEnd - this.window;
      const holdRe = this.red.holdRe;
      let minResume = cut;
      for (let i = 0; i < n; i++) {
        const c = compiled[i]!;
        const lo = Math.max(resume[i]!, winLo);
        if (lo >= cut) continue;
        if (!c.pre) {
          if (lo < decided) decided = lo;
        } else if (holdRe) {
          if (lo < minResume) minResume = lo;
        } else {
          c.pre.lastIndex = lo - base;
          const m = c.pre.exec(Q);
          const hold = m ? base + m.index : lo;
          if (hold < decided) decided = hold;
        }
      }
      if (holdRe && minResume < decided) {
        holdRe.lastIndex = minResume - base;
        const m = holdRe.exec(Q);
        const hold = m ? base + m.index : minResume;
        if (hold < decided) decided = hold;
      }
    }
    for (let i = 0; i < n; i++) {
      if (flagged === null || flagged[i]) this.scanDetector(i, compiled[i]!, P, base, decided);
      if (resume[i]! < decided) resume[i] = decided;
    }

    // Merge overlapping spans into redactions. One that straddles `decided` is held back
    // from its start — unless that start is more than a window back (a chain of overlapping
    // matches could otherwise grow without bound): then it is cut at `decided`, and the part
    // after the cut becomes a redaction of its own.
    const pending = this.pending;
    if (pending.length > 1) pending.sort(byHit);
    let regionStart = -1;
    let regionEnd = -1;
    for (const h of pending) {
      if (h.start >= decided) break;
      if (h.start < regionEnd) {
        if (h.end > regionEnd) regionEnd = h.end;
      } else {
        regionStart = h.start;
        regionEnd = h.end;
      }
      if (regionEnd > decided) {
        if (regionStart >= absEnd - this.window) decided = regionStart;
        break;
      }
    }

    const parts: Buffer[] = [];
    let cursor = this.emitted;
    let k = 0;
    const carried: Hit[] = [];
    while (k < pending.length && pending[k]!.start < decided) {
      const first = pending[k]!;
      const from = k;
      let end = first.end;
      k++;
      while (k < pending.length && pending[k]!.start < end) {
        if (pending[k]!.end > end) end = pending[k]!.end;
        k++;
      }
      if (end > decided) {
        for (let j = from; j < k; j++) {
          const h = pending[j]!;
          if (h.end > decided) carried.push({ start: decided, end: h.end, det: h.det });
        }
        end = decided;
      }
      if (first.start > cursor) parts.push(P.subarray(cursor - base, first.start - base));
      const c = compiled[first.det]!;
      parts.push(c.replacement);
      cursor = end;
      this.findings++;
      this.onFinding?.({ name: c.det.name, display: c.det.display, start: first.start, end, source: c.det.source });
    }
    if (decided > cursor) parts.push(P.subarray(cursor - base, decided - base));
    this.pending = carried.length ? carried.concat(pending.slice(k)) : k ? pending.slice(k) : pending;
    this.emitted = decided;

    // keep look-behind context, the undecided bytes and any bytes not stepped yet
    const keepFrom = Math.max(base, decided - CONTEXT_BYTES);
    this.buf = full.subarray(keepFrom - base);
    this.base = keepFrom;

    return parts.length === 1 ? parts[0]! : parts.length === 0 ? EMPTY : Buffer.concat(parts);
  }

  private scanDetector(i: number, c: Compiled, P: Buffer, base: number, hold: number): void {
    const re = c.re;
    const det = c.det;
    const group = det.secretGroup || undefined; // 0: the whole match
    const fixed = c.fixedLen;
    let from = this.resume[i]!;
    re.lastIndex = from - base;
    for (;;) {
      let s: number;
      let e: number;
      let m: { index: number; 0: Buffer } | null = null;
      if (fixed) {
        if (!re.test(P)) break;
        e = base + re.lastIndex;
        s = e - fixed;
      } else if (c.cheapStart) {
        const at = re.lastIndex;
        if (!re.test(P)) break;
        e = base + re.lastIndex;
        s = base + at + re.search(at === 0 ? P : P.subarray(at));
      } else {
        m = re.exec(P);
        if (m === null) break;
        s = base + m.index;
        e = s + m[0].length;
      }
      if (s >= hold) break; // may still change with the next bytes
      if (e === s) {
        // empty match: nothing to redact; step over one byte (Go's FindAll does the same)
        from = s + 1;
        this.resume[i] = from;
        if (from > base + P.length) break;
        re.lastIndex = from - base;
        continue;
      }
      this.resume[i] = e;
      let gs = s;
      let ge = e;
      if (group !== undefined) {
        const idx = (m as unknown as { indices?: ([number, number] | undefined)[] }).indices?.[group];
        if (!idx) continue;
        gs = base + idx[0];
        ge = base + idx[1];
        if (ge === gs) continue;
      }
      if (det.validate && !det.validate(P, gs - base, ge - base)) continue;
      this.pending.push({ start: gs, end: ge, det: i });
    }
  }
}
