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
import { type Detector, type PatternToggles, type CustomPatternConfig, LOOKBEHIND, customDetectors, enabledBuiltins, isWordByte } from './patterns.js';
import { endAssertions, fixedByteLength, hasLeadingAssertion, prefixRegexSource, windowPatternOf } from './regex-prefix.js';

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
   *  unknown, hold back a full window). Used when the detector is in no hold group. */
  readonly pre: RE2Instance | null;
  /** Every match is this many bytes (0: varies): its start is known from its end, so the
   *  scanner can use RE2's cheap test() instead of exec() (10× less per match). */
  readonly fixedLen: number;
  /** No assertion can look before a match: its start can be found with search() on a view
   *  (test() + search() cost a third of exec(), which builds a result object). */
  readonly cheapStart: boolean;
  /** `(?:R)\z` when a match's start can be found from its end (regex-prefix.ts
   *  `endAssertions`): a reverse search over the match instead of a forward one over
   *  everything since the previous match. null: search() from where the scan was; undefined:
   *  not compiled yet (on first use: most detectors never match). */
  startFromEnd: RE2Instance | null | undefined;
  /** startFromEnd is exact only when the byte after the match is not a word byte (\b). */
  readonly endWord: boolean;
  readonly replacement: Buffer;
}

/** The span comes from RE2's capture indices (a secretGroup without a locator). */
const captures = (det: Detector): boolean => det.secretGroup !== undefined && det.secretGroup !== 0 && !det.locate;

/** Default bound on the bytes held back by a stream (and on a match it guarantees to see
 *  whole). PEM blocks of RSA-4096 keys are ~3.3 KB, large JWTs a few KB. */
export const DEFAULT_MAX_MATCH_BYTES = 16 * 1024;
/** Bytes kept before the emit point as look-behind context (\b, validators: LOOKBEHIND). */
const CONTEXT_BYTES = Math.max(8, LOOKBEHIND);
const EMPTY = Buffer.alloc(0);

/** What callers do with findings (`dlp.mode`, minus `disabled`, for which there is no
 *  Redactor at all):
 *  - `redact`: replace each finding with `[REDACTED:DISPLAY]`;
 *  - `block`: the same redaction here — a caller that can refuse the content as a whole (the
 *    LLM proxy refuses the request) does so when there is any finding; one that cannot
 *    (command output already produced) redacts and reports;
 *  - `audit`: find and report only; `redact()`, `redactBuffer()` and streams return the
 *    input unchanged (findings still carry offsets). */
export type DlpMode = 'redact' | 'block' | 'audit';
export const REDACTOR_MODES: readonly DlpMode[] = ['redact', 'block', 'audit'];

export interface RedactorOptions {
  /** Default `redact`. */
  mode?: DlpMode;
  /** Findings whose redacted span (or whole regex match) is one of these strings, or fully
   *  matches one of these `re:`-prefixed RE2 regexes, are dropped (`dlp.allowlist`). */
  allowlist?: readonly string[];
}

/** Compiled `dlp.allowlist`: exact strings and anchored RE2 regexes. */
class Allowlist {
  private readonly exact: Set<string>;
  private readonly res: RE2Instance[];
  constructor(entries: readonly string[]) {
    this.exact = new Set();
    this.res = [];
    for (const [i, entry] of entries.entries()) {
      if (entry.startsWith('re:')) {
        try {
          this.res.push(new RE2(`^(?:${entry.slice(3)})$`));
        } catch (err) {
          throw new DlpConfigError(`dlp.allowlist[${i}]: invalid RE2 regex ${JSON.stringify(entry.slice(3))}: ${(err as Error).message}`, `allowlist[${i}]`);
        }
      } else this.exact.add(entry);
    }
  }
  get empty(): boolean {
    return this.exact.size === 0 && this.res.length === 0;
  }
  allows(buf: Buffer, s: number, e: number): boolean {
    if (this.exact.size && this.exact.has(buf.toString('utf8', s, e))) return true;
    if (this.res.length) {
      const span = buf.subarray(s, e);
      for (const re of this.res) if (re.test(span)) return true;
    }
    return false;
  }
}

interface Shared {
  detectors: readonly Detector[];
  compiled: readonly Compiled[];
  holdGroups: readonly HoldGroup[];
  holdGroupOf: Int32Array;
  sets: readonly PrefilterSet[] | null;
  prefilter: Prefilter | null;
}

/** Some detectors' patterns in one RE2.Set: one DFA pass says which of them match anywhere.
 *  `members[k]`: the detector of the Set's k-th pattern (a detector may have several). */
interface PrefilterSet {
  readonly set: RE2SetInstance;
  readonly members: readonly number[];
}

/** The prefilter (see below). */
interface Prefilter {
  /** Run window by window: the window patterns of the detectors that have one. */
  readonly windowed: readonly PrefilterSet[];
  /** Run over the whole buffer: the full regexes of the others (syntax the prefix parser does
   *  not understand). */
  readonly whole: readonly PrefilterSet[];
  /** Bytes each window's input reaches past the window (≥ every bounded member's length - 1). */
  readonly overlap: number;
  /** Per detector: the bytes a match may have before its window pattern's occurrence (one
   *  flag per byte value), or null (the occurrence starts the match). */
  readonly back: readonly (Uint8Array | null)[];
}

/**
 * The prefilter: an RE2.Set whose one DFA pass over a buffer, window by window, says where
 * each detector can match. Its patterns are the detectors' window patterns (regex-prefix.ts
 * `windowPatternOf`): the leading few bytes of each regex (4 for credentials and custom
 * patterns: AKIA, ghp_, sk-a, "pri, pass; 8 for the PII built-ins: 4 digits are any year),
 * cut to a bounded length, with what may precede them in a match (the local part of an
 * e-mail address) left to a class of bytes. Every match contains an occurrence of one of its
 * detector's patterns, which fits in a window's input (the window plus `overlap` bytes): a
 * detector is scanned only from the windows where one occurred (stepping back over that
 * class), and each such run of windows is searched on its own (see scanDetector). Short
 * patterns keep the combined DFA small: with the full regexes of ~60 detectors in one Set,
 * text dense with near-matches (assignments, digits, URLs — the labelled corpus) overflows
 * RE2's DFA cache, which is then rebuilt all the time (measured: 20 MB/s against 500 MB/s
 * for the leading parts, and against ~220 MB/s for three Sets of full regexes split by
 * kind). A flag the full regex would not give only costs that detector a look at a window.
 * Regexes the prefix parser does not understand go whole in Sets run over the whole buffer
 * (such a detector scans everything when its Set says it matches somewhere).
 */
const PREFILTER_MAX = 96;
const PREFILTER_FULL_MAX = 16;
const leadBytes = (d: Detector): number => (d.source === 'builtin' && d.group !== 'api_keys' ? 8 : 4);
/** Window patterns are cut to this many bytes … */
const WINDOW_PATTERN_BYTES = 40;
/** … and a window's input reaches at least this far past it. */
const WINDOW_OVERLAP = 64;
/** Window sizes: small after a window where something was flagged (where to scan is then
 *  known to within this much), doubling while nothing is (fewer Set calls on clean text). */
const WINDOW_MIN = 1024;
const WINDOW_MAX = 16 * 1024;
/** A buffer up to this size is one window (measured on the corpus's small files: ~9 % faster
 *  than windows of WINDOW_MIN; the search localised to 1 KiB saves less than the calls it
 *  costs there). */
const WINDOW_WHOLE = 8 * 1024;
/** A run of flagged windows is searched with this much more of the buffer after it, so that
 *  a match starting near its end is usually seen whole. */
const VIEW_MARGIN = 128;

/** Which bytes the atoms (regex sources from windowPatternOf) can match: ASCII tested one by
 *  one; every byte ≥ 0x80 when one of them may match more than ASCII. */
function byteClass(atoms: readonly string[], nonAscii: boolean): Uint8Array {
  const t = new Uint8Array(256);
  if (nonAscii) t.fill(1, 0x80);
  for (const a of atoms) {
    const re = new RE2(`^(?:${a})$`);
    for (let b = 0; b < 0x80; b++) if (!t[b] && re.test(Buffer.from([b]))) t[b] = 1;
  }
  return t;
}

function compilePrefilter(detectors: readonly Detector[]): Prefilter | null {
  const windowed: { source: string; det: number }[] = [];
  const whole: number[] = [];
  const back: (Uint8Array | null)[] = [];
  let overlap = WINDOW_OVERLAP;
  detectors.forEach((d, i) => {
    const w = windowPatternOf(d.regex, leadBytes(d), WINDOW_PATTERN_BYTES, WINDOW_OVERLAP);
    if (w === null) {
      whole.push(i);
      back.push(null);
      return;
    }
    for (const m of w.members) {
      windowed.push({ source: m.source, det: i });
      if (m.maxBytes !== Infinity) overlap = Math.max(overlap, m.maxBytes - 1);
    }
    back.push(w.back ? byteClass(w.back.atoms, w.back.nonAscii) : null);
  });
  try {
    const sets = (members: readonly { source: string; det: number }[], max: number): PrefilterSet[] => {
      const out: PrefilterSet[] = [];
      for (let j = 0; j < members.length; j += max) {
        const part = members.slice(j, j + max);
        out.push({ set: new RE2.Set(part.map((m) => m.source)), members: part.map((m) => m.det) });
      }
      return out;
    };
    return {
      windowed: sets(windowed, PREFILTER_MAX),
      whole: sets(whole.map((i) => ({ source: detectors[i]!.regex, det: i })), PREFILTER_FULL_MAX),
      overlap,
      back,
    };
  } catch {
    return null; // no prefilter: every detector scans
  }
}

/** Several detectors' prefix regexes in one end-anchored alternation (one reverse-DFA pass
 *  over the tail answers for all of them). */
interface HoldGroup {
  readonly re: RE2Instance;
  readonly members: readonly number[];
}

/** Size (regex source characters) of one hold group. One alternation for everything would
 *  be a single pass, but past a few thousand characters RE2's DFA no longer fits its memory
 *  budget and falls back to the NFA, 100× slower on long tails (measured: 30 ms vs 0.7 ms
 *  per 20 KiB tail with the 50 built-ins + the seed's patterns); groups of this size stay
 *  DFA-fast and cost ~20–40 µs per call each on a 20 KiB tail. */
const HOLD_GROUP_CHARS = 2500;

export class Redactor {
  readonly detectors: readonly Detector[];
  /** See DlpMode. */
  readonly mode: DlpMode;
  /** @internal */
  readonly compiled: readonly Compiled[];
  /** @internal see HoldGroup */
  readonly holdGroups: readonly HoldGroup[];
  /** @internal per detector: index into holdGroups, or -1 (its own `pre`, or none) */
  readonly holdGroupOf: Int32Array;
  /** @internal the prefilter's Sets, windowed and whole (null: no prefilter, every detector
   *  scans everything). */
  readonly sets: readonly PrefilterSet[] | null;
  /** @internal see Prefilter */
  readonly prefilter: Prefilter | null;
  /** @internal null: no allowlist */
  readonly allow: Allowlist | null;

  constructor(detectors: readonly Detector[], opts: RedactorOptions = {}, shared?: Shared) {
    const mode = opts.mode ?? 'redact';
    if (!REDACTOR_MODES.includes(mode)) throw new DlpConfigError(`DLP mode ${JSON.stringify(mode)} is not one of: ${REDACTOR_MODES.join(', ')}`);
    this.mode = mode;
    const allow = new Allowlist(opts.allowlist ?? []);
    this.allow = allow.empty ? null : allow;
    if (shared) {
      this.detectors = shared.detectors;
      this.compiled = shared.compiled;
      this.holdGroups = shared.holdGroups;
      this.holdGroupOf = shared.holdGroupOf;
      this.sets = shared.sets;
      this.prefilter = shared.prefilter;
      return;
    }
    this.detectors = [...detectors];
    const preSources: (string | null)[] = [];
    this.compiled = this.detectors.map((det) => {
      let re: RE2Instance;
      try {
        re = new RE2(det.regex, captures(det) ? 'gd' : 'g');
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
      const grouped = captures(det);
      const fixedLen = !grouped ? (fixedByteLength(det.regex) ?? 0) : 0;
      const cheapStart = !grouped && !hasLeadingAssertion(det.regex);
      const ends = cheapStart && !fixedLen ? endAssertions(det.regex) : null;
      const startFromEnd = ends === null ? null : undefined;
      return { det, re, pre, fixedLen, cheapStart, startFromEnd, endWord: ends === 'word', replacement: Buffer.from(`[REDACTED:${det.display}]`, 'utf8') };
    });
    // End-anchored alternations of several detectors' prefix regexes: the earliest position
    // any of them could still be matching from, in one reverse-DFA pass over the tail per group.
    const groups: HoldGroup[] = [];
    const groupOf = new Int32Array(this.compiled.length).fill(-1);
    let cur: number[] = [];
    let chars = 0;
    const close = () => {
      if (cur.length > 1) {
        try {
          const re = new RE2(`(?:${cur.map((i) => `(?:${preSources[i]})`).join('|')})\\z`, 'g');
          for (const i of cur) groupOf[i] = groups.length;
          groups.push({ re, members: cur });
        } catch {
          // too big for RE2: these detectors use their own prefix regexes
        }
      }
      cur = [];
      chars = 0;
    };
    this.compiled.forEach((c, i) => {
      const src = preSources[i];
      if (!c.pre || src === null || src === undefined) return;
      if (cur.length && chars + src.length > HOLD_GROUP_CHARS) close();
      cur.push(i);
      chars += src.length;
    });
    close();
    this.holdGroups = groups;
    this.holdGroupOf = groupOf;
    this.prefilter = this.compiled.length > 1 ? compilePrefilter(this.detectors) : null;
    this.sets = this.prefilter ? [...this.prefilter.windowed, ...this.prefilter.whole] : null;
  }

  /** The same detectors (nothing recompiled) with another mode; the allowlist is kept. */
  withMode(mode: DlpMode): Redactor {
    if (mode === this.mode) return this;
    const r = new Redactor([], { mode }, this);
    (r as { allow: Allowlist | null }).allow = this.allow;
    return r;
  }

  /** Redacts a buffer; findings carry byte offsets. Returns the input itself when nothing
   *  was found (and always in `audit` mode). */
  redactBuffer(input: Buffer): { buffer: Buffer; findings: Finding[] } {
    const findings: Finding[] = [];
    const sc = new Scanner(this, { maxMatchBytes: Infinity, onFinding: (f) => findings.push(f) });
    const out = sc.end(input);
    return { buffer: findings.length && this.mode !== 'audit' ? out : input, findings };
  }

  /** Redacts a string (matched as UTF-8); findings carry UTF-16 offsets into `text`. In
   *  `audit` mode the text comes back unchanged. */
  redact(text: string): { text: string; findings: Finding[] } {
    const buf = Buffer.from(text, 'utf8');
    const { findings } = this.redactBuffer(buf);
    if (!findings.length) return { text, findings };
    const audit = this.mode === 'audit';
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
      if (!audit) parts.push(text.slice(last, start), `[REDACTED:${f.display}]`);
      last = end;
      out.push({ ...f, start, end });
    }
    if (audit) return { text, findings: out };
    parts.push(text.slice(last));
    return { text: parts.join(''), findings: out };
  }

  /** Findings only (byte offsets), whatever the mode. */
  scanBuffer(input: Buffer): Finding[] {
    return this.redactBuffer(input).findings;
  }

  /** Findings only (UTF-16 offsets into `text`), whatever the mode. */
  scan(text: string): Finding[] {
    return this.redact(text).findings;
  }
}

export interface DlpConfigLike {
  mode?: string;
  patterns?: PatternToggles;
  custom_patterns?: readonly CustomPatternConfig[];
  /** agentsh extension: exact strings, or `re:`-prefixed RE2 regexes, never redacted. */
  allowlist?: readonly string[];
  /** agentsh extension: built-in detector names to leave out. */
  disabled_detectors?: readonly string[];
}

/**
 * The redactor for a config's `dlp` section, or null when DLP is off.
 *
 * Detectors: the `custom_patterns` (in config order; they win ties) and the enabled
 * built-ins (`patterns`, with agentsh's rule that none on means all on; minus
 * `disabled_detectors`); `allowlist` drops matching findings.
 *
 * - `mode: redact` (agentsh's default, and the seed's), `block`, `audit`: a Redactor whose
 *   `mode` says what callers do with findings (see DlpMode).
 * - `mode: disabled`: null — no detector is compiled, output passes through untouched and no
 *   finding is recorded anywhere.
 *
 * A custom pattern or allowlist regex that RE2 rejects throws a DlpConfigError naming it.
 */
export function fromConfig(dlp: DlpConfigLike | undefined): Redactor | null {
  const mode = dlp?.mode ?? 'redact';
  if (mode === 'disabled') return null;
  if (!(REDACTOR_MODES as readonly string[]).includes(mode)) {
    throw new DlpConfigError(`dlp.mode ${JSON.stringify(mode)} is not supported (${[...REDACTOR_MODES, 'disabled'].join(' | ')})`);
  }
  const detectors = [...customDetectors(dlp?.custom_patterns), ...enabledBuiltins(dlp?.patterns, dlp?.disabled_detectors)];
  return new Redactor(detectors, { mode: mode as DlpMode, allowlist: dlp?.allowlist ?? [] });
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
  /** @internal tests: the prefilter's windows all this size (default: WINDOW_MIN …
   *  WINDOW_MAX), and runs searched with this margin (default VIEW_MARGIN). */
  windowBytes?: number;
  viewMargin?: number;
}

/** Compiles a detector's startFromEnd (see Compiled). */
function startFromEnd(c: Compiled): RE2Instance | null {
  try {
    c.startFromEnd = new RE2(`(?:${c.det.regex})\\z`);
  } catch {
    c.startFromEnd = null; // too big for RE2: search() from where the scan was
  }
  return c.startFromEnd;
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

/**
 * Where a prefix regex `(?:pre)\z` first matches in Q from `from` on (absolute; `from`
 * itself when it cannot tell). search() on a view: the prefix regexes have no assertion but
 * \z, so a view finds what a search from `from` finds, and search() builds no result object
 * (a fifth of exec()'s cost, and this runs for every hold group on every chunk).
 */
function holdFrom(re: RE2Instance, Q: Buffer, from: number, base: number): number {
  const i = re.search(from === 0 ? Q : Q.subarray(from));
  return base + from + (i < 0 ? 0 : i);
}

const byHit = (a: Hit, b: Hit): number => a.start - b.start || b.end - b.start - (a.end - a.start) || a.det - b.det;

/** What the prefilter says about a buffer: which detectors can match in it (null: unknown,
 *  run them all) and, per detector, the runs of windows where (start, end pairs relative to
 *  the buffer; null: anywhere). */
interface Flagged {
  readonly any: Uint8Array;
  readonly runs: (number[] | null)[];
}

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
  private windowSize: number; // the prefilter's next window size (see WINDOW_MIN)
  private readonly windowMin: number;
  private readonly windowMax: number;
  private readonly viewMargin: number;
  private readonly windowWhole: number;
  private readonly passthrough: boolean; // audit mode: output is the input
  private readonly groupLo: Float64Array; // per hold group: earliest position of interest (scratch)
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
    this.passthrough = red.mode === 'audit';
    this.groupLo = new Float64Array(red.holdGroups.length);
    const fixed = opts.windowBytes !== undefined ? Math.max(1, Math.floor(opts.windowBytes)) : 0;
    this.windowMin = fixed || WINDOW_MIN;
    this.windowMax = fixed || WINDOW_MAX;
    this.windowSize = this.windowMin;
    this.viewMargin = opts.viewMargin ?? VIEW_MARGIN;
    this.windowWhole = fixed ? 0 : WINDOW_WHOLE;
  }

  /** Bytes received and not yet emitted (held back as a possible secret in progress; always
   *  0 in `audit` mode, where every chunk is passed on at once). */
  get heldBytes(): number {
    return this.passthrough ? 0 : this.base + this.buf.length - this.emitted;
  }

  /** Total bytes received. */
  get bytesIn(): number {
    return this.base + this.buf.length;
  }

  /** Feeds a chunk; returns the output that is decided now (possibly empty). In `audit`
   *  mode the chunk itself, at once (findings are still reported as they are decided). */
  push(chunk: Buffer): Buffer {
    if (this.done) throw new Error('DLP scanner: push after end');
    if (chunk.length === 0) return EMPTY;
    const out = this.feed(chunk, false);
    return this.passthrough ? chunk : out;
  }

  /** Emits everything held back now, as if the data ended here (a secret split across this
   *  point may escape). Later chunks continue the stream. */
  flush(): Buffer {
    if (this.done || this.base + this.buf.length === this.emitted) return EMPTY;
    const out = this.step('force', this.base + this.buf.length);
    this.own();
    return this.passthrough ? EMPTY : out;
  }

  /** Ends the stream (optionally with a last chunk) and returns the remaining output. */
  end(chunk?: Buffer): Buffer {
    if (this.done) return EMPTY;
    const out = this.feed(chunk ?? EMPTY, true);
    this.done = true;
    this.buf = EMPTY;
    return this.passthrough ? (chunk ?? EMPTY) : out;
  }

  private feed(chunk: Buffer, final: boolean): Buffer {
    this.buf = this.buf.length === 0 ? chunk : chunk.length === 0 ? this.buf : Buffer.concat([this.buf, chunk]);
    const out = this.step(final ? 'final' : 'normal', this.base + this.buf.length);
    this.own();
    return out;
  }

  /** Keeps a copy of the retained bytes: they may be a view of the caller's chunk (whose
   *  memory they may reuse) or of output handed out (which overlaps the context bytes). */
  private own(): void {
    if (this.buf.length) this.buf = Buffer.from(this.buf);
  }

  /** Where in `P` each detector can match (see Prefilter): the whole-buffer Sets once, the
   *  windowed ones window by window. null: no prefilter, every detector scans everything. */
  private flag(P: Buffer): Flagged | null {
    const pf = this.red.prefilter;
    if (!pf) return null;
    const n = this.red.compiled.length;
    const any = new Uint8Array(n);
    const runs: (number[] | null)[] = new Array<number[] | null>(n).fill(null);
    try {
      for (const { set, members } of pf.whole) for (const h of set.match(P)) any[members[h]!] = 1;
      if (pf.windowed.length === 0) return { any, runs };
      const len = P.length;
      const overlap = pf.overlap;
      // (a small buffer is one window: fewer calls, and every run is searched whole)
      let size = len <= this.windowWhole ? len : this.windowSize;
      for (let ws = 0; ws < len; ) {
        const we = Math.min(len, ws + size);
        const input = we + overlap >= len ? (ws === 0 ? P : P.subarray(ws)) : P.subarray(ws, we + overlap);
        let hit = false;
        for (const { set, members } of pf.windowed) {
          for (const h of set.match(input)) {
            const i = members[h]!;
            hit = true;
            const r = runs[i];
            if (r === null || r === undefined) {
              any[i] = 1;
              runs[i] = [ws, we];
            } else if (r[r.length - 1] === ws) r[r.length - 1] = we;
            else if (r[r.length - 1] !== we) r.push(ws, we);
          }
        }
        size = hit ? this.windowMin : Math.min(this.windowMax, size * 2);
        ws = we;
      }
      this.windowSize = size;
      return { any, runs };
    } catch {
      return null; // DFA out of memory: run every detector everywhere
    }
  }



  /** Decides the data received up to `limit` (absolute). */
  private step(mode: 'normal' | 'force' | 'final', limit: number): Buffer {
    const full = this.buf;
    const base = this.base;
    const P = limit - base === full.length ? full : full.subarray(0, limit - base);
    const absEnd = limit;
    const compiled = this.red.compiled;
    const n = compiled.length;
    const flagged = this.flag(P);

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
      const groups = this.red.holdGroups;
      const groupOf = this.red.holdGroupOf;
      const minResume = this.groupLo;
      minResume.fill(cut);
      for (let i = 0; i < n; i++) {
        const c = compiled[i]!;
        const lo = Math.max(resume[i]!, winLo);
        if (lo >= cut) continue;
        const g = groupOf[i]!;
        if (!c.pre) {
          if (lo < decided) decided = lo;
        } else if (g >= 0) {
          if (lo < minResume[g]!) minResume[g] = lo;
        } else {
          const hold = holdFrom(c.pre, Q, lo - base, base);
          if (hold < decided) decided = hold;
        }
      }
      for (let g = 0; g < groups.length; g++) {
        const lo = minResume[g]!;
        if (lo >= decided) continue; // a hold found here is never before lo
        const hold = holdFrom(groups[g]!.re, Q, lo - base, base);
        if (hold < decided) decided = hold;
      }
    }
    for (let i = 0; i < n; i++) {
      if (flagged === null) this.scanDetector(i, compiled[i]!, P, base, decided, null);
      else if (flagged.any[i]) this.scanDetector(i, compiled[i]!, P, base, decided, flagged.runs[i]!);
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

  /**
   * Detector i's matches (Go's FindAll: the leftmost, then on from its end) that start
   * before `hold`, from where its search stopped; each accepted one goes to `pending`.
   *
   * `runs`: the windows where the prefilter says it can match (null: anywhere). Nothing can
   * start between them (a match has an occurrence of a window pattern in a flagged window,
   * preceded in the match only by `back` bytes), so the search jumps to the next run,
   * stepping back over such bytes. A run is searched on a view of the buffer that ends
   * VIEW_MARGIN after it (a search of the whole buffer would go on to the next match or its
   * end). The view's answer is the whole buffer's unless a match could still be in progress
   * at the view's end: the detector's prefix regex (`pre`, a reverse search from the view's
   * end) gives the leftmost position from which that could be, `open`; nothing the view did
   * not find starts before it, and a match the view found before it is found whole. Past
   * that, the whole buffer is searched.
   */
  private scanDetector(i: number, c: Compiled, P: Buffer, base: number, hold: number, runs: readonly number[] | null): void {
    const re = c.re;
    const det = c.det;
    const locate = det.locate;
    const group = locate ? undefined : det.secretGroup || undefined; // 0: the whole match
    const allow = this.red.allow;
    const fixed = c.fixedLen;
    const len = P.length;
    const back = runs === null ? null : this.red.prefilter!.back[i]!;
    const pre = c.pre;
    let x = this.resume[i]! - base; // where the search goes on (offsets relative to P)
    let r = 0; // the current run: runs[r] … runs[r + 1]
    let open = -1; // for the current view: see above (-1: not known yet)
    let whole = false; // search the whole buffer this time (the view could not tell)
    for (;;) {
      let viewEnd = len;
      if (runs !== null && !whole) {
        while (r < runs.length && runs[r + 1]! <= x) {
          r += 2;
          open = -1;
        }
        if (r >= runs.length) break; // no flagged window from here on: no match starts here
        const ws = runs[r]!;
        if (ws > x) {
          let t = ws;
          if (back !== null) while (t > x && back[P[t - 1]!]) t--;
          x = t;
        }
        if (pre !== null && runs[r + 1]! + this.viewMargin < len) {
          // (never inside a UTF-8 character: its first bytes alone match nothing)
          viewEnd = runs[r + 1]! + this.viewMargin;
          while (viewEnd < len && (P[viewEnd]! & 0xc0) === 0x80) viewEnd++;
        }
      }
      const V = viewEnd === len ? P : P.subarray(0, viewEnd);
      re.lastIndex = x;
      let s = -1;
      let e = -1;
      let m: { index: number; 0: Buffer } | null = null;
      if (fixed) {
        if (re.test(V)) {
          e = re.lastIndex;
          s = e - fixed;
        }
      } else if (c.cheapStart) {
        if (re.test(V)) {
          e = re.lastIndex;
          const rev = c.startFromEnd === undefined ? startFromEnd(c) : c.startFromEnd;
          const b = rev !== null && (!c.endWord || !isWordByte(V[e])) ? rev.search(V.subarray(x, e)) : -1;
          s = x + (b >= 0 ? b : re.search(x === 0 ? V : V.subarray(x)));
        }
      } else {
        m = re.exec(V);
        if (m !== null) {
          s = m.index;
          e = s + m[0].length;
        }
      }
      if (viewEnd < len) {
        if (open < x) {
          const h = pre!.search(P.subarray(x, viewEnd));
          open = h < 0 ? x : x + h;
        }
        if (s < 0 || s >= open) {
          // nothing starts in [x, open); from there on only the whole buffer can tell
          x = open;
          if (s >= 0 || open < runs![r + 1]!) whole = true;
          continue;
        }
      }
      whole = false;
      if (s < 0) break;
      if (base + s >= hold) break; // may still change with the next bytes
      if (e === s) {
        // empty match: nothing to redact; step over one byte (Go's FindAll does the same)
        x = s + 1;
        this.resume[i] = base + x;
        if (x > len) break;
        continue;
      }
      this.resume[i] = base + e;
      x = e;
      let gs = s;
      let ge = e;
      if (locate) {
        const span = locate(P, s, e);
        if (!span) continue;
        gs = span[0];
        ge = span[1];
        if (ge <= gs) continue;
      } else if (group !== undefined) {
        const indices = (m as unknown as { indices?: ([number, number] | undefined)[] }).indices;
        let idx: [number, number] | undefined;
        if (typeof group === 'number') idx = indices?.[group];
        else for (const g of group) if ((idx = indices?.[g])) break;
        if (!idx) continue;
        gs = idx[0];
        ge = idx[1];
        if (ge === gs) continue;
      }
      if (det.validate && !det.validate(P, gs, ge, s, e)) continue;
      if (allow && (allow.allows(P, gs, ge) || ((gs !== s || ge !== e) && allow.allows(P, s, e)))) continue;
      this.pending.push({ start: base + gs, end: base + ge, det: i });
    }
  }
}
