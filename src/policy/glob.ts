// Glob matching with agentsh's semantics (gobwas/glob): with a separator, `*` and `?` stay
// inside one segment and `**` crosses segments (and may be empty); `[abc]`, `[!a-z]`,
// `{a,b}` and `\` escapes; the whole string must match. picomatch/minimatch differ on
// exactly the cases policies depend on (`/tmp/**` matches `/tmp` there, not in agentsh),
// so this small translator is ours.
//
// Matching time. Paths (and env names, host names) come from the agent, so no glob may let
// one stall a decision. A glob is translated to a RegExp source (its meaning, and what
// `.source` shows), then matched one of two ways, decided in one place (`backtrackSafe`):
//
//  - by V8's RegExp where its backtracking provably stays linear in the input (n characters;
//    m: the glob's size):
//    (a) at most one run of `*` and at most one `{…}` (not nested): an anchored pattern with
//        one unbounded quantifier and one alternation tries at most n+1 lengths times the
//        alternatives, each checked in O(m) (`**/{.env,.npmrc,id_rsa}`, `*.{js,ts}`); or
//    (b) no `{…}` and two runs of `*`, the second being a final `**` (at the first place where
//        what precedes it matches, it takes the rest of the input and `$` holds: done), or a
//        `*` (one segment) with a literal separator between the two: the second star is tried
//        only where the fixed part F between them matches, and then only within the one
//        segment after that match; F's separator sits at a different place for each match, so
//        at most |F| matches share a segment: O(n·m²) in all.
//    That is the common case (every glob of the seed policy: `/usr/**`, `**/.env.*`,
//    `*.github.com`, `*_SECRET*`), and V8 is the fastest matcher there is for it.
//  - otherwise by a position automaton (Glushkov/Thompson NFA over UTF-16 code units, like the
//    RegExp) simulated over the set of live positions at once: one pass over the input, a
//    bounded amount of work per character (at most the automaton's size), whatever the
//    wildcards. V8's backtracking is polynomial there, the number of unfenced stars being the
//    degree (`/**a**a**a**a**b` against `/aaa…` took 0.6 s at 100 characters, 3.8 s at 200,
//    19 s at 240; `**a*b` against `aaa…` is already quadratic), and nested or successive
//    `{…}` multiply the ways to try (exponentially in the glob).
//
// Why not RE2 (linear too, and a dependency already): a native call costs ~1–1.7 µs per test
// on a short path, against V8's ~0.06 µs for the seed's `**/.env.*` set which every path that
// gets that far is tested against: the whole ≤ 2 µs decision budget. And RE2 matches UTF-8 code
// points, not UTF-16 code units as the RegExp does (`?` against a surrogate pair, lone
// surrogates), so semantics would shift. The automaton costs a few ns per input character
// (test/glob-linear.test.ts). V8's own linear engine (the `l` flag) needs a command-line flag.

export class GlobError extends Error {}

const REGEX_SPECIAL = /[.+^$(){}|\\[\]*?/]/;

/** Translates a glob into a RegExp source (anchored), or throws GlobError. */
export function globToRegexSource(glob: string, separator: '/' | '.' | null): string {
  return parseGlob(glob, separator, null).source;
}

interface ParsedGlob {
  /** The anchored RegExp source: the glob's meaning, and what `.source` shows. */
  source: string;
  /** Runs of `*` (each one unbounded quantifier), `{` groups, whether one is inside another:
   *  what decides the matcher. */
  starRuns: number;
  braces: number;
  nested: boolean;
  /** The items outside braces, as [start, end, code] triples: their span in the glob and, for
   *  a literal code unit, its code, else an ITEM_* kind. A whole `{…}` group is one item. */
  top: number[];
  /** The separator's code unit, -1 without one. */
  sep: number;
}

const ITEM_ONE = -1; // `?`, `[…]`
const ITEM_SEGMENT_STAR = -2; // `*` with a separator
const ITEM_ANY_STAR = -3; // `**`, `*` without a separator
const ITEM_GROUP = -4; // `{…}`

/**
 * The one translator: RegExp source, shape, and (when `nfa` is given) the automaton, all from
 * the same scan, so the two matchers cannot disagree on what a glob means.
 */
function parseGlob(glob: string, separator: '/' | '.' | null, nfa: NfaBuilder | null): ParsedGlob {
  const sep = separator === null ? null : escapeChar(separator);
  const notSep = sep === null ? '[\\s\\S]' : `[^${sep}]`;
  let out = '^';
  let braceDepth = 0;
  let starRuns = 0;
  let braces = 0;
  let nested = false;
  const top: number[] = [];
  let groupStart = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    const itemStart = i;
    let lit = ITEM_ONE;
    switch (c) {
      case '*':
        starRuns++;
        if (glob[i + 1] === '*') {
          out += '[\\s\\S]*';
          while (glob[i + 1] === '*') i++;
          nfa?.star(ANY);
          lit = ITEM_ANY_STAR;
        } else {
          lit = separator === null ? ITEM_ANY_STAR : ITEM_SEGMENT_STAR;
          out += `${notSep}*`;
          nfa?.star(separator === null ? ANY : NOT_SEP);
        }
        break;
      case '?':
        out += notSep;
        nfa?.one(separator === null ? ANY : NOT_SEP);
        break;
      case '[': {
        const end = classEnd(glob, i);
        if (end < 0) throw new GlobError(`unterminated character class in '${glob}'`);
        let body = glob.slice(i + 1, end);
        const negate = body.startsWith('!') || body.startsWith('^');
        if (negate) body = body.slice(1);
        if (!body) throw new GlobError(`empty character class in '${glob}'`);
        body = body.replace(/\\(.)/g, '$1').replace(/[\\\]^]/g, '\\$&');
        if (/(.)-(.)/.test(body)) {
          for (const m of body.matchAll(/(.)-(.)/g)) if (m[1]! > m[2]!) throw new GlobError(`invalid range '${m[0]}' in '${glob}'`);
        }
        const inner = negate ? `${body}${sep ?? ''}` : body;
        out += negate ? `[^${inner}]` : `[${inner}]`;
        nfa?.oneOf(classRanges(inner), negate);
        i = end;
        break;
      }
      case '{':
        braces++;
        if (braceDepth === 0) groupStart = i;
        else nested = true;
        braceDepth++;
        out += '(?:';
        nfa?.open();
        break;
      case '}':
        if (braceDepth === 0) {
          out += '\\}';
          lit = 0x7d;
          nfa?.one(LIT, lit);
          break;
        }
        braceDepth--;
        out += ')';
        nfa?.close();
        if (braceDepth === 0) top.push(groupStart, i + 1, ITEM_GROUP);
        continue;
      case ',':
        if (braceDepth > 0) {
          out += '|';
          nfa?.alternative();
        } else {
          out += ',';
          lit = 0x2c;
          nfa?.one(LIT, lit);
        }
        break;
      case '\\':
        if (i + 1 >= glob.length) throw new GlobError(`trailing backslash in '${glob}'`);
        out += escapeChar(glob[++i]!);
        lit = glob.charCodeAt(i);
        nfa?.one(LIT, lit);
        break;
      default:
        out += escapeChar(c);
        lit = glob.charCodeAt(i);
        nfa?.one(LIT, lit);
    }
    if (braceDepth === 0) top.push(itemStart, i + 1, lit);
  }
  if (braceDepth > 0) throw new GlobError(`unterminated '{' in '${glob}'`);
  return { source: out + '$', starRuns, braces, nested, top, sep: separator === null ? -1 : separator.charCodeAt(0) };
}

function classEnd(glob: string, start: number): number {
  for (let j = start + 1; j < glob.length; j++) {
    if (glob[j] === '\\') j++;
    else if (glob[j] === ']' && j > start + 1) return j;
  }
  return -1;
}

function escapeChar(c: string): string {
  return REGEX_SPECIAL.test(c) ? `\\${c}` : c;
}

/**
 * The contents of a RegExp character class as emitted above (plain code units and the
 * identity escapes `\\` `\]` `\^` `\/` `\.`), read as a non-Unicode RegExp reads it: `x-y` is a
 * range, a `-` first, last or right after a range is itself. Pairs [lo, hi, lo, hi, …].
 * (So a negated class ending in `-` takes the separator as a range's end, `[!+-]` → `[^+-\/]`,
 * exactly as the RegExp does.)
 */
function classRanges(inner: string): number[] {
  const ranges: number[] = [];
  let i = 0;
  const atom = (): number => (inner[i] === '\\' ? ((i += 2), inner.charCodeAt(i - 1)) : inner.charCodeAt(i++));
  while (i < inner.length) {
    const lo = atom();
    if (inner[i] === '-' && i + 1 < inner.length) {
      i++;
      ranges.push(lo, atom());
    } else ranges.push(lo, lo);
  }
  return ranges;
}

export function hasGlobMeta(s: string): boolean {
  return /[*?[{]/.test(s);
}

/**
 * Whether V8's backtracking RegExp matches this glob in time linear in the input: the one place
 * that decides between the two matchers (the argument is at the top of this file).
 */
function backtrackSafe(g: ParsedGlob): boolean {
  if (g.starRuns <= 1) return g.braces <= 1 && !g.nested;
  if (g.braces > 0 || g.starRuns > 2) return false;
  const kinds: number[] = [];
  for (let k = 2; k < g.top.length; k += 3) kinds.push(g.top[k]!);
  const first = kinds.findIndex((c) => c === ITEM_SEGMENT_STAR || c === ITEM_ANY_STAR);
  const second = kinds.findIndex((c, k) => k > first && (c === ITEM_SEGMENT_STAR || c === ITEM_ANY_STAR));
  if (kinds[second] === ITEM_ANY_STAR) return second === kinds.length - 1;
  return g.sep >= 0 && kinds.slice(first + 1, second).includes(g.sep);
}

export function compileGlob(glob: string, separator: '/' | '.' | null, flags = ''): RegExp {
  return compile([glob], separator, flags, (sources) => sources[0]!);
}

/**
 * One RegExp that matches when any of the globs does (one test per rule on the hot path).
 * Its `.source` is the set's RegExp source; where some glob could make V8 backtrack
 * polynomially, it is a GlobSetRegExp whose `test`/`exec` run in time linear in the input.
 */
export function compileGlobSet(globs: string[], separator: '/' | '.' | null, flags = ''): RegExp {
  return compile(globs, separator, flags, setSource);
}

function setSource(sources: string[]): string {
  return `^(?:${sources.map((s) => s.slice(1, -1)).join('|')})$`;
}

function compile(globs: string[], separator: '/' | '.' | null, flags: string, join: (sources: string[]) => string): RegExp {
  const parsed = globs.map((g) => parseGlob(g, separator, null));
  const source = join(parsed.map((p) => p.source));
  // The automaton implements the default flags only; no caller passes any other.
  const safe = flags === '' ? parsed.filter(backtrackSafe) : parsed;
  try {
    if (safe.length === parsed.length) return compiled(new RegExp(source, flags));
    // V8 parses the whole set (its syntax errors, such as a range out of order, are the glob's)
    // but compiles only what it will run: running the rest, even on '', can backtrack for
    // seconds (`{a,}` 400 times: 1.5 s), and its size limit does not bind the automaton.
    const fast = safe.length ? compiled(new RegExp(setSource(safe.map((p) => p.source)))) : null;
    return new GlobSetRegExp(source, fast, linearGlobMatcher(globs.filter((_, i) => !backtrackSafe(parsed[i]!)), separator));
  } catch (err) {
    if (err instanceof GlobError) throw err;
    throw new GlobError(`glob${globs.length > 1 ? 's' : ''} cannot be compiled (${source.length} characters as a regular expression): ${String((err as Error).message).slice(-40)}`);
  }
}

/**
 * V8 compiles a RegExp when it is first used (once for one-byte and once for two-byte
 * strings): a pattern too large for it (a glob of ~32,000 characters) would throw on the hot
 * path, at the first decision. Compile both now.
 */
function compiled(re: RegExp): RegExp {
  re.test('');
  re.test('\u0100');
  return re;
}

/**
 * A RegExp (same `.source`, `.flags`, instanceof) whose matching is `fast` (V8, for the globs
 * that cannot backtrack) or the linear automaton. `exec` is overridden as well, so `match`,
 * `replace`, `search` (which go through it) are linear too; no groups, the match is the input.
 */
export class GlobSetRegExp extends RegExp {
  readonly #fast: RegExp | null;
  readonly #linear: (s: string) => boolean;

  constructor(source: string, fast: RegExp | null, linear: (s: string) => boolean) {
    super(source);
    this.#fast = fast;
    this.#linear = linear;
  }

  // `split`/`matchAll` construct a new RegExp from this one's source and flags.
  static override get [Symbol.species](): RegExpConstructor {
    return RegExp;
  }

  override test(s: string): boolean {
    s = String(s);
    return (this.#fast !== null && this.#fast.test(s)) || this.#linear(s);
  }

  override exec(s: string): RegExpExecArray | null {
    s = String(s);
    if (!this.test(s)) return null;
    const m = [s] as unknown as RegExpExecArray;
    m.index = 0;
    m.input = s;
    m.groups = undefined;
    return m;
  }
}

// ── the linear matcher ───────────────────────────────────────────────────────────────────────

// What one position of the automaton consumes: one code unit that is…
const LIT = 0; // …`code`
const ANY = 1; // …anything (`**`, and `*`/`?` without a separator)
const NOT_SEP = 2; // …not the separator (`*`, `?`)
const CLASS = 3; // …in (or, negated, not in) the class's ranges

/**
 * Builds the automaton while parseGlob scans, left to right: positions consume one code unit
 * each; "glue" nodes are ε-nodes whose edges lead to positions, other glue nodes or ACCEPT.
 * `tail` is the open glue node where the next item attaches. A star is a position whose exit
 * glue leads back to itself. A `{…}` is an entry glue with one edge per alternative and a join
 * glue that every alternative ends in: no recursion, O(glob) nodes and edges, so even a
 * 5,000-deep nesting builds in linear time.
 */
class NfaBuilder {
  readonly kind: number[] = [];
  readonly code: number[] = [];
  readonly ranges: (number[] | null)[] = [];
  readonly negated: boolean[] = [];
  /** out[p]: the glue node a position leads to. */
  readonly out: number[] = [];
  /** Edges of glue node g; a target t ≥ 0 is position t, t < 0 is glue ~t; ACCEPT_EDGE accepts. */
  readonly glue: number[][] = [];
  readonly start: number;
  private tail: number;
  private readonly frames: { entry: number; join: number }[] = [];

  constructor() {
    this.start = this.newGlue();
    this.tail = this.start;
  }

  private newGlue(): number {
    this.glue.push([]);
    return this.glue.length - 1;
  }

  private position(kind: number, code: number, ranges: number[] | null, negated: boolean): number {
    this.kind.push(kind);
    this.code.push(code);
    this.ranges.push(ranges);
    this.negated.push(negated);
    this.out.push(-1);
    return this.kind.length - 1;
  }

  /** One code unit: a literal (LIT and its code) or `?` (ANY, NOT_SEP). */
  one(kind: number, code = 0): void {
    this.attach(this.position(kind, code, null, false));
  }

  /** One code unit of a class. */
  oneOf(ranges: number[], negated: boolean): void {
    this.attach(this.position(CLASS, 0, ranges, negated));
  }

  private attach(p: number): void {
    this.glue[this.tail]!.push(p);
    const next = this.newGlue();
    this.out[p] = next;
    this.tail = next;
  }

  star(kind: number): void {
    const p = this.position(kind, 0, null, false);
    const loop = this.newGlue();
    this.glue[loop]!.push(p);
    this.out[p] = loop;
    this.glue[this.tail]!.push(~loop);
    this.tail = loop;
  }

  open(): void {
    const frame = { entry: this.tail, join: this.newGlue() };
    this.frames.push(frame);
    this.alternative(frame, true);
  }

  alternative(frame = this.frames[this.frames.length - 1]!, first = false): void {
    if (!first) this.glue[this.tail]!.push(~frame.join);
    const branch = this.newGlue();
    this.glue[frame.entry]!.push(~branch);
    this.tail = branch;
  }

  close(): void {
    const frame = this.frames.pop()!;
    this.glue[this.tail]!.push(~frame.join);
    this.tail = frame.join;
  }

  /** Ends the glob: its tail accepts. */
  finish(): void {
    this.glue[this.tail]!.push(ACCEPT_EDGE);
  }
}

const ACCEPT_EDGE = 0x7fffffff;

/** The precomputed follow sets of an automaton may hold this many entries in all (4 MB); past
 *  that (a quadratic glob such as `{a,}` repeated thousands of times) the ε-closures are walked
 *  as the input is read instead, in O(glob) per character. */
const FOLLOW_BUDGET = 1 << 20;

/**
 * A function telling whether any of the globs matches, in time linear in the input (times the
 * glob's size in the worst case); the same meaning as compileGlobSet's RegExp. Throws GlobError
 * for a malformed glob (compileGlobSet also refuses what V8 cannot parse, such as a range out of
 * order). `mode` forces one simulation (for tests).
 */
export function linearGlobMatcher(globs: string[], separator: '/' | '.' | null, mode?: 'bitset' | 'closure'): (s: string) => boolean {
  const each = globs.map((g) => oneGlobMatcher(g, separator, mode));
  if (each.length === 1) return each[0]!;
  return (s) => {
    for (const m of each) if (m(s)) return true;
    return false;
  };
}

type Simulation = (s: string, from: number, to: number) => boolean;

/**
 * One glob: its literal prefix and suffix (outside braces) are compared as strings, the longest
 * literal run between them is searched for (`/x/{a,b}*c*.log`: `/x/`, `.log`, then `c`; most
 * inputs stop there), and only then does the middle run through the automaton.
 */
function oneGlobMatcher(glob: string, separator: '/' | '.' | null, mode: 'bitset' | 'closure' | undefined): (s: string) => boolean {
  const { top } = parseGlob(glob, separator, null);
  const items = top.length / 3;
  const code = (k: number) => top[3 * k + 2]!;
  let head = 0;
  while (head < items && code(head) >= 0) head++;
  let tail = items;
  while (tail > head && code(tail - 1) >= 0) tail--;
  const text = (from: number, to: number) => {
    let t = '';
    for (let k = from; k < to; k++) t += String.fromCharCode(code(k));
    return t;
  };
  const prefix = text(0, head);
  const suffix = text(tail, items);
  let needed = '';
  for (let k = head, run = head; k <= tail; k++) {
    if (k === tail || code(k) < 0) {
      if (k - run > needed.length) needed = text(run, k);
      run = k + 1;
    }
  }
  const middle = head < tail ? glob.slice(top[3 * head]!, top[3 * (tail - 1) + 1]!) : '';
  const b = new NfaBuilder();
  parseGlob(middle, separator, b);
  b.finish();
  const sepCode = separator === null ? -1 : separator.charCodeAt(0);
  const sim = (mode !== 'closure' && bitsetMatcher(b, sepCode, mode === 'bitset' ? Infinity : FOLLOW_BUDGET)) || closureMatcher(b, sepCode);
  if (!prefix && !suffix && !needed) return (s: string) => sim(s, 0, s.length);
  return (s: string) => {
    const to = s.length - suffix.length;
    if (to < prefix.length || !s.startsWith(prefix) || !s.endsWith(suffix)) return false;
    if (needed) {
      const at = s.indexOf(needed, prefix.length);
      if (at < 0 || at + needed.length > to) return false;
    }
    return sim(s, prefix.length, to);
  };
}

function accepts(b: NfaBuilder, p: number, c: number, sepCode: number): boolean {
  switch (b.kind[p]) {
    case LIT:
      return b.code[p] === c;
    case ANY:
      return true;
    case NOT_SEP:
      return c !== sepCode;
    default: {
      const r = b.ranges[p]!;
      let inside = false;
      for (let k = 0; k < r.length && !inside; k += 2) inside = c >= r[k]! && c <= r[k + 1]!;
      return inside !== b.negated[p];
    }
  }
}

/**
 * Positions reachable from glue `g` through ε-edges, each passed to `add` (ACCEPT as m).
 * Returns the number of edges walked.
 */
function closure(b: NfaBuilder, g: number, seen: Int32Array, stamp: number, stack: number[], add: (p: number) => void): number {
  const m = b.kind.length;
  let walked = 0;
  stack.length = 0;
  stack.push(g);
  seen[g] = stamp;
  while (stack.length) {
    for (const t of b.glue[stack.pop()!]!) {
      walked++;
      if (t === ACCEPT_EDGE) add(m);
      else if (t >= 0) add(t);
      else if (seen[~t] !== stamp) {
        seen[~t] = stamp;
        stack.push(~t);
      }
    }
  }
  return walked;
}

function addBit(set: Int32Array, at: number, p: number): void {
  set[at + (p >>> 5)] = set[at + (p >>> 5)]! | (1 << (p & 31));
}

/**
 * Bit-parallel simulation: the live positions are a bitset (bit m is ACCEPT); one step is
 * `live & consumes[c]`, then the union of the follow sets of the survivors (one word each when
 * the automaton fits in 32 bits, else lists). Null when the follow sets exceed `budget`.
 */
function bitsetMatcher(b: NfaBuilder, sepCode: number, budget: number): Simulation | null {
  const m = b.kind.length;
  const W = (m + 1 + 31) >>> 5;
  const seen = new Int32Array(b.glue.length);
  const stack: number[] = [];
  let stamp = 0;
  const first = new Int32Array(W);
  closure(b, b.start, seen, ++stamp, stack, (p) => addBit(first, 0, p));
  // follow(p) = the ε-closure of where p leads: flattened lists, p's at [fo[p], fo[p + 1]).
  const fo = new Int32Array(m + 1);
  const list: number[] = [];
  let walked = 0;
  for (let p = 0; p < m; p++) {
    walked += closure(b, b.out[p]!, seen, ++stamp, stack, (q) => list.push(q));
    if (walked + list.length > budget) return null;
    fo[p + 1] = list.length;
  }
  const fl = Int32Array.from(list);
  // consumes[c * W …]: positions taking code unit c < 128; row 128 is scratch for the rest.
  const consumes = new Int32Array(129 * W);
  // Outside ASCII only these depend on c: literals ≥ 128 (by code), stars and `?` (all take
  // it: no separator is ≥ 128), classes (evaluated).
  const wide = new Map<number, Int32Array>();
  const anyMask = new Int32Array(W);
  const classPositions: number[] = [];
  for (let p = 0; p < m; p++) {
    const k = b.kind[p]!;
    const code = b.code[p]!;
    if (k === LIT && code < 128) addBit(consumes, code * W, p);
    else if (k === LIT) {
      let row = wide.get(code);
      if (!row) wide.set(code, (row = new Int32Array(W)));
      addBit(row, 0, p);
    } else {
      for (let c = 0; c < 128; c++) if (accepts(b, p, c, sepCode)) addBit(consumes, c * W, p);
      if (k === CLASS) classPositions.push(p);
      else addBit(anyMask, 0, p);
    }
  }
  const wideRow = (c: number): number => {
    const at = 128 * W;
    const lit = wide.get(c);
    for (let w = 0; w < W; w++) consumes[at + w] = anyMask[w]! | (lit ? lit[w]! : 0);
    for (const p of classPositions) if (accepts(b, p, c, sepCode)) addBit(consumes, at, p);
    return at;
  };
  const acceptWord = m >>> 5;
  const acceptBit = 1 << (m & 31);

  if (W === 1) {
    // Most automata: one 32-bit word, follow sets as words, no arrays on the hot path.
    const follow = new Int32Array(m);
    for (let p = 0; p < m; p++) for (let k = fo[p]!; k < fo[p + 1]!; k++) follow[p] = follow[p]! | (1 << fl[k]!);
    const first0 = first[0]!;
    return (s, from, to) => {
      let live = first0;
      for (let i = from; i < to; i++) {
        const c = s.charCodeAt(i);
        let bits = live & consumes[c < 128 ? c : wideRow(c)]!;
        if (bits === 0) return false;
        live = 0;
        do {
          const low = bits & -bits;
          live |= follow[31 - Math.clz32(low)]!;
          bits ^= low;
        } while (bits !== 0);
      }
      return (live & acceptBit) !== 0;
    };
  }
  let live = new Int32Array(W);
  let next = new Int32Array(W);
  return (s, from, to) => {
    live.set(first);
    for (let i = from; i < to; i++) {
      const c = s.charCodeAt(i);
      const row = c < 128 ? c * W : wideRow(c);
      next.fill(0);
      let any = 0;
      for (let w = 0; w < W; w++) {
        let bits = live[w]! & consumes[row + w]!;
        any |= bits;
        while (bits !== 0) {
          const low = bits & -bits;
          const p = (w << 5) + 31 - Math.clz32(low);
          for (let k = fo[p]!, end = fo[p + 1]!; k < end; k++) addBit(next, 0, fl[k]!);
          bits ^= low;
        }
      }
      if (any === 0) return false;
      const t = live;
      live = next;
      next = t;
    }
    return (live[acceptWord]! & acceptBit) !== 0;
  };
}

/**
 * Thompson simulation for automata whose follow sets would be too large: the live positions
 * as a list, ε-closures walked per step (O(automaton) per input character, no quadratic table).
 */
function closureMatcher(b: NfaBuilder, sepCode: number): Simulation {
  const m = b.kind.length;
  const G = b.glue.length;
  // Glue g's edges at [eo[g], eo[g + 1]) of et.
  const eo = new Int32Array(G + 1);
  for (let g = 0; g < G; g++) eo[g + 1] = eo[g]! + b.glue[g]!.length;
  const et = Int32Array.from(b.glue.flat());
  const kind = Int8Array.from(b.kind);
  const code = Int32Array.from(b.code);
  const out = Int32Array.from(b.out);
  const seen = new Int32Array(G);
  const mark = new Int32Array(m);
  const stack = new Int32Array(G); // a glue node is pushed at most once per step
  let live = new Int32Array(m);
  let next = new Int32Array(m);
  let nNext = 0;
  let stamp = 0;
  /** Adds the positions in the ε-closure of glue g to next; true if it reaches ACCEPT. */
  const walk = (g: number): boolean => {
    let accepting = false;
    if (seen[g] === stamp) return false; // walked already this step (its ACCEPT too)
    seen[g] = stamp;
    let sp = 0;
    stack[sp++] = g;
    while (sp > 0) {
      const h = stack[--sp]!;
      for (let k = eo[h]!, end = eo[h + 1]!; k < end; k++) {
        const t = et[k]!;
        if (t === ACCEPT_EDGE) accepting = true;
        else if (t >= 0) {
          if (mark[t] !== stamp) {
            mark[t] = stamp;
            next[nNext++] = t;
          }
        } else if (seen[~t] !== stamp) {
          seen[~t] = stamp;
          stack[sp++] = ~t;
        }
      }
    }
    return accepting;
  };
  return (s, from, to) => {
    stamp++;
    nNext = 0;
    let accepting = walk(b.start);
    for (let i = from; i < to; i++) {
      const t = live;
      live = next;
      next = t;
      const nLive = nNext;
      nNext = 0;
      accepting = false;
      stamp++;
      const c = s.charCodeAt(i);
      for (let j = 0; j < nLive; j++) {
        const p = live[j]!;
        const k = kind[p]!;
        if (k === LIT ? code[p] === c : k === ANY || (k === NOT_SEP ? c !== sepCode : accepts(b, p, c, sepCode))) {
          if (walk(out[p]!)) accepting = true;
        }
      }
      if (nNext === 0 && !accepting) return false;
    }
    return accepting;
  };
}
