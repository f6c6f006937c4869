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
// own start. So a line of ordinary text is emitted as soon as it is received, while e.g. a
// trailing `AKIA12` waits for the next bytes. Positions more than `maxMatchBytes` back are
// always emitted (bounded memory); a match longer than that may be cut, see the docs.
import RE2 from 're2';
import { type Detector, type PatternToggles, type CustomPatternConfig, customDetectors, enabledBuiltins } from './patterns.js';
import { prefixRegexSource } from './regex-prefix.js';

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

export class DlpPatternError extends Error {
  constructor(
    message: string,
    readonly detector: string,
  ) {
    super(message);
    this.name = 'DlpPatternError';
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
        throw new DlpPatternError(`${where}: invalid RE2 regex ${JSON.stringify(det.regex)}: ${(err as Error).message}`, det.name);
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
      return { det, re, pre, replacement: Buffer.from(`[REDACTED:${det.display}]`, 'utf8') };
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
    const sc = new Scanner(this, { onFinding: (f) => findings.push(f) });
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
 * A custom pattern that RE2 rejects throws a DlpPatternError naming it.
 */
export function fromConfig(dlp: DlpConfigLike | undefined): Redactor | null {
  const mode = dlp?.mode ?? 'redact';
  if (mode === 'disabled') return null;
  if (mode !== 'redact') throw new DlpPatternError(`dlp.mode ${JSON.stringify(mode)} is not supported (redact | disabled)`, '');
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
  /** Bound on held-back bytes, see DEFAULT_MAX_MATCH_BYTES. */
  maxMatchBytes?: number;
  /** Called for every redaction as it is emitted (offsets from the start of the stream). */
  onFinding?: (f: Finding) => void;
}

const byHit = (a: Hit, b: Hit): number => a.start - b.start || b.end - b.start - (a.end - a.start) || a.det - b.det;

/** Incremental redaction state over a byte stream (see the header comment). */
export class Scanner {
  private buf: Buffer = EMPTY; // context + undecided bytes; buf[0] is at absolute `base`
  private base = 0;
  private emitted = 0; // absolute offset up to which output was produced
  private readonly resume: number[]; // per detector: where its FindAll continues (absolute)
  private pending: Hit[] = [];
  private readonly window: number;
  private readonly onFinding: ((f: Finding) => void) | undefined;
  private done = false;
  /** Number of redactions emitted so far. */
  findings = 0;

  constructor(
    private readonly red: Redactor,
    opts: ScannerOptions = {},
  ) {
    this.resume = red.compiled.map(() => 0);
    this.window = Math.max(64, opts.maxMatchBytes ?? DEFAULT_MAX_MATCH_BYTES);
    this.onFinding = opts.onFinding;
  }

  /** Bytes received and not yet emitted (held back, or context). */
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
    this.append(chunk);
    return this.step('normal');
  }

  /** Emits everything held back now, as if the data ended here (a secret split across this
   *  point may escape). Later chunks continue the stream. */
  flush(): Buffer {
    if (this.done || this.heldBytes === 0) return EMPTY;
    return this.step('force');
  }

  /** Ends the stream (optionally with a last chunk) and returns the remaining output. */
  end(chunk?: Buffer): Buffer {
    if (this.done) return EMPTY;
    if (chunk && chunk.length) this.append(chunk);
    const out = this.step('final');
    this.done = true;
    this.buf = EMPTY;
    return out;
  }

  private append(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
  }

  private step(mode: 'normal' | 'force' | 'final'): Buffer {
    const P = this.buf;
    const base = this.base;
    const absEnd = base + P.length;
    const compiled = this.red.compiled;
    const n = compiled.length;

    let flagged: Uint8Array | null = null;
    const set = this.red.set;
    if (set) {
      try {
        flagged = new Uint8Array(n);
        for (const i of set.match(P)) flagged[i] = 1;
      } catch {
        flagged = null; // DFA out of memory: run every detector
      }
    }

    // Everything before `decided` is final: no detector can be in the middle of a match there.
    let decided = absEnd;
    const resume = this.resume;
    if (mode === 'normal') {
      const winLo = absEnd - this.window;
      const holdRe = this.red.holdRe;
      let minResume = absEnd;
      for (let i = 0; i < n; i++) {
        const c = compiled[i]!;
        const lo = Math.max(resume[i]!, winLo);
        if (!c.pre) {
          if (lo < decided) decided = lo;
        } else if (holdRe) {
          if (lo < minResume) minResume = lo;
        } else {
          c.pre.lastIndex = lo - base;
          const m = c.pre.exec(P);
          const hold = m ? base + m.index : lo;
          if (hold < decided) decided = hold;
        }
      }
      if (holdRe && minResume < decided) {
        holdRe.lastIndex = minResume - base;
        const m = holdRe.exec(P);
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

    const keepFrom = Math.max(base, decided - CONTEXT_BYTES);
    // a copy: `P` may be the caller's chunk (whose memory they may reuse), and the output
    // handed out is a view of `P` that overlaps the context bytes
    this.buf = keepFrom - base < P.length ? Buffer.from(P.subarray(keepFrom - base)) : EMPTY;
    this.base = keepFrom;

    return parts.length === 1 ? parts[0]! : parts.length === 0 ? EMPTY : Buffer.concat(parts);
  }

  private scanDetector(i: number, c: Compiled, P: Buffer, base: number, hold: number): void {
    const re = c.re;
    const det = c.det;
    const group = det.secretGroup;
    let from = this.resume[i]!;
    re.lastIndex = from - base;
    for (;;) {
      const m = re.exec(P);
      if (m === null) break;
      const s = base + m.index;
      if (s >= hold) break; // may still change with the next bytes
      const e = s + m[0].length;
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
