// The "could a match still be in progress here?" question for streaming redaction.
//
// For a detector regex R, prefixRegexSource(R) builds a regex P whose language is (a superset
// of) every prefix of every string R can match: pre(L(R)). A position s of the data seen so
// far can only be the start of a match that is not finished yet if the bytes from s to the
// end are in pre(L(R)); `(?:P)\z` searched from the earliest position of interest finds the
// leftmost such s (RE2 runs an end-anchored regex as a reverse DFA from the end, so this costs
// about the length of the candidate tail). Everything before it is decided for R and can be
// emitted.
//
// Superset, not exact: zero-width assertions (^ $ \b \B \A \z) are dropped, because at the
// end of the data seen so far their truth depends on bytes not yet seen. Dropping them only
// widens the language, i.e. holds back more, never less.
//
// The parser reads RE2/Go syntax as node-re2 accepts it. Atoms are copied verbatim (so
// node-re2's own translation applies to them exactly as to the original) with their flags
// made explicit: (?i:…) for case folding, (?s:.) for dot-all. Anything it does not
// understand makes it return null, and the caller falls back to holding a full window.

type Node =
  // assert: a zero-width assertion (^ $ \b \B \A \z); at: what it looks at — 'start' (^ \A, a
  // position's left side only), 'end' ($ \z: its right side), 'word' (\b \B: both sides)
  | { t: 'empty'; assert?: boolean; at?: 'start' | 'end' | 'word' }
  | { t: 'atom'; src: string; one?: boolean } // one: always exactly one byte
  | { t: 'cat'; items: Node[] }
  | { t: 'alt'; items: Node[] }
  | { t: 'rep'; node: Node; min: number; max: number };

interface Flags {
  i: boolean;
  s: boolean;
}

const EMPTY: Node = { t: 'empty' };
const ASSERT_START: Node = { t: 'empty', assert: true, at: 'start' };
const ASSERT_END: Node = { t: 'empty', assert: true, at: 'end' };
const ASSERT_WORD: Node = { t: 'empty', assert: true, at: 'word' };

class Unsupported extends Error {}

class Parser {
  private pos = 0;
  private flags: Flags = { i: false, s: false };
  private depth = 0;

  constructor(private readonly src: string) {}

  parse(): Node {
    const n = this.alt();
    if (this.pos !== this.src.length) throw new Unsupported(`unexpected ${this.src[this.pos]} at ${this.pos}`);
    return n;
  }

  private peek(): string | undefined {
    return this.src[this.pos];
  }

  private alt(): Node {
    const branches = [this.cat()];
    while (this.peek() === '|') {
      this.pos++;
      branches.push(this.cat());
    }
    return branches.length === 1 ? branches[0]! : { t: 'alt', items: branches };
  }

  private cat(): Node {
    const items: Node[] = [];
    while (this.pos < this.src.length) {
      const c = this.peek();
      if (c === '|' || c === ')') break;
      let atom: Node | null;
      if (this.src.startsWith('\\Q', this.pos)) {
        // \Q…\E is a run of literals; a quantifier after it applies to the last one only
        const lits = this.quoted();
        if (lits.length === 0) continue;
        items.push(...lits.slice(0, -1));
        atom = lits[lits.length - 1]!;
      } else atom = this.atom();
      if (atom === null) continue; // a flags-only group such as (?i)
      for (;;) {
        const q = this.peek();
        let min: number;
        let max: number;
        if (q === '*' || q === '+' || q === '?') {
          this.pos++;
          [min, max] = q === '*' ? [0, Infinity] : q === '+' ? [1, Infinity] : [0, 1];
        } else if (q === '{') {
          const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.pos, this.pos + 16));
          if (!m) break; // not a repetition: a literal '{' comes next
          this.pos += m[0].length;
          min = Number(m[1]);
          max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
        } else break;
        if (this.peek() === '?') this.pos++; // non-greedy: same language
        atom = { t: 'rep', node: atom, min, max };
      }
      items.push(atom);
    }
    return items.length === 1 ? items[0]! : items.length === 0 ? EMPTY : { t: 'cat', items };
  }

  private wrap(src: string, foldable: boolean, one = false): Node {
    const fold = this.flags.i && foldable;
    // under (?i), k and s also match U+212A and U+017F (multi-byte): not one byte
    return { t: 'atom', src: fold ? `(?i:${src})` : src, one: one && !fold };
  }

  private literal(cp: number): Node {
    const ch = String.fromCodePoint(cp);
    const src = /^[A-Za-z0-9]$/.test(ch) ? ch : `\\x{${cp.toString(16)}}`;
    return this.wrap(src, cp > 0x7f || /^[A-Za-z]$/.test(ch), cp < 0x80);
  }

  private atom(): Node | null {
    const src = this.src;
    const c = src[this.pos]!;
    switch (c) {
      case '(':
        return this.group();
      case '[':
        return this.charClass();
      case '.':
        this.pos++;
        return { t: 'atom', src: this.flags.s ? '(?s:.)' : '.' };
      case '^':
        this.pos++;
        return ASSERT_START;
      case '$':
        this.pos++;
        return ASSERT_END;
      case '\\':
        return this.escape();
      case '*':
      case '+':
      case '?':
        throw new Unsupported(`missing argument to repetition operator at ${this.pos}`);
      default: {
        const cp = src.codePointAt(this.pos)!;
        this.pos += cp > 0xffff ? 2 : 1;
        return this.literal(cp);
      }
    }
  }

  private group(): Node | null {
    const src = this.src;
    this.pos++; // (
    const saved = { ...this.flags };
    if (src[this.pos] === '?') {
      const rest = src.slice(this.pos);
      let m: RegExpExecArray | null;
      if (rest.startsWith('?:')) {
        this.pos += 2;
      } else if ((m = /^\?P?<[A-Za-z0-9_]+>/.exec(rest))) {
        this.pos += m[0].length;
      } else if ((m = /^\?([imsU]*(?:-[imsU]*)?)([:)])/.exec(rest))) {
        this.pos += m[0].length;
        let on = true;
        for (const f of m[1]!) {
          if (f === '-') on = false;
          else if (f === 'i') this.flags.i = on;
          else if (f === 's') this.flags.s = on;
          // m only changes ^/$ (dropped); U only changes greediness (same language).
        }
        if (m[2] === ')') return null; // flags apply to the rest of the enclosing group
      } else {
        throw new Unsupported(`unsupported group syntax at ${this.pos}`);
      }
    }
    if (++this.depth > 200) throw new Unsupported('nesting too deep');
    const inner = this.alt();
    this.depth--;
    if (src[this.pos] !== ')') throw new Unsupported(`missing ) at ${this.pos}`);
    this.pos++;
    this.flags = saved;
    return inner;
  }

  private charClass(): Node {
    const src = this.src;
    const start = this.pos;
    let i = this.pos + 1;
    if (src[i] === '^') i++;
    if (src[i] === ']') i++; // a leading ] is literal
    for (;;) {
      if (i >= src.length) throw new Unsupported('unterminated character class');
      const ch = src[i];
      if (ch === ']') break;
      if (ch === '[' && src[i + 1] === ':') {
        const end = src.indexOf(':]', i + 2);
        if (end < 0) throw new Unsupported('bad POSIX class');
        i = end + 2;
        continue;
      }
      if (ch === '\\') {
        const e = src[i + 1];
        if ((e === 'x' || e === 'p' || e === 'P' || e === 'u') && src[i + 2] === '{') {
          const end = src.indexOf('}', i + 3);
          if (end < 0) throw new Unsupported('bad escape in class');
          i = end + 1;
        } else if (e === 'Q') {
          throw new Unsupported('\\Q in class');
        } else {
          i += 2;
        }
        continue;
      }
      i++;
    }
    this.pos = i + 1;
    const cls = src.slice(start, i + 1);
    const ascii = !cls.startsWith('[^') && /^[\x20-\x7e]*$/.test(cls) && !/\\[pPxuWSDC0-7]|\[:\^/.test(cls);
    return this.wrap(cls, true, ascii);
  }

  private quoted(): Node[] {
    const src = this.src;
    this.pos += 2; // \Q
    let end = src.indexOf('\\E', this.pos);
    if (end < 0) end = src.length;
    const text = src.slice(this.pos, end);
    this.pos = Math.min(src.length, end + 2);
    return [...text].map((ch) => this.literal(ch.codePointAt(0)!));
  }

  private escape(): Node {
    const src = this.src;
    const start = this.pos;
    const e = src[this.pos + 1];
    if (e === undefined) throw new Unsupported('trailing backslash');
    this.pos += 2;
    switch (e) {
      case 'b':
      case 'B':
        return ASSERT_WORD;
      case 'A':
        return ASSERT_START;
      case 'z':
        return ASSERT_END;
      case 'd':
      case 'D':
      case 's':
      case 'S':
      case 'w':
      case 'W':
      case 'C':
      case 'a':
      case 'f':
      case 't':
      case 'n':
      case 'r':
      case 'v':
        return { t: 'atom', src: src.slice(start, this.pos), one: !'DSW'.includes(e) };
      case 'p':
      case 'P':
      case 'x':
      case 'u': {
        if (src[this.pos] === '{') {
          const end = src.indexOf('}', this.pos);
          if (end < 0) throw new Unsupported('bad escape');
          this.pos = end + 1;
        } else if (e === 'x') {
          this.pos += 2;
        } else if (e === 'u') {
          this.pos += 4;
        } else {
          this.pos += 1;
        }
        return this.wrap(src.slice(start, this.pos), true);
      }
      case 'c':
        this.pos += 1;
        return { t: 'atom', src: src.slice(start, this.pos), one: true };
      default:
        if (e >= '0' && e <= '7') {
          let n = 1;
          while (n < 3 && /[0-7]/.test(src[this.pos] ?? '')) {
            this.pos++;
            n++;
          }
          return this.wrap(src.slice(start, this.pos), true);
        }
        if (/[!-/:-@[-`{-~]/.test(e)) return this.literal(e.codePointAt(0)!);
        throw new Unsupported(`unsupported escape \\${e}`);
    }
  }
}

const opt = (n: Node): Node => ({ t: 'rep', node: n, min: 0, max: 1 });

function pre(n: Node): Node {
  switch (n.t) {
    case 'empty':
      return EMPTY;
    case 'atom':
      return opt(n);
    case 'alt':
      return { t: 'alt', items: n.items.map(pre) };
    case 'rep':
      if (n.max === 0) return EMPTY;
      return n.max === 1 ? pre(n.node) : { t: 'cat', items: [{ t: 'rep', node: n.node, min: 0, max: n.max - 1 }, pre(n.node)] };
    case 'cat':
      return preCat(n.items, 0);
  }
}

// pre(x1 x2 … xn) = pre(x1) | x1 pre(x2 … xn), nested to the right so the size stays linear.
function preCat(items: Node[], i: number): Node {
  if (i >= items.length) return EMPTY;
  const x = items[i]!;
  if (i === items.length - 1) return pre(x);
  const rest = preCat(items, i + 1);
  if (x.t === 'empty') return rest;
  // An atom's only proper prefix is the empty string, which x·pre(rest) ∪ ε already covers.
  if (x.t === 'atom') return opt({ t: 'cat', items: [x, rest] });
  return { t: 'alt', items: [pre(x), { t: 'cat', items: [x, rest] }] };
}

function quant(min: number, max: number): string {
  if (min === 0 && max === 1) return '?';
  if (min === 0 && max === Infinity) return '*';
  if (min === 1 && max === Infinity) return '+';
  if (max === Infinity) return `{${min},}`;
  return min === max ? `{${min}}` : `{${min},${max}}`;
}

function ser(n: Node): string {
  switch (n.t) {
    case 'empty':
      return '(?:)';
    case 'atom':
      return n.src;
    case 'cat':
      return `(?:${n.items.map(ser).join('')})`;
    case 'alt':
      return `(?:${n.items.map(ser).join('|')})`;
    case 'rep':
      return `(?:${ser(n.node)}${quant(n.min, n.max)})`;
  }
}

/** The regex source of pre(L(R)) (see above), or null when R uses syntax this parser does
 *  not understand. The caller appends `\z` and compiles it with RE2. */
export function prefixRegexSource(source: string): string | null {
  try {
    return ser(pre(new Parser(source).parse()));
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
}

function byteLength(n: Node): [number, number] | null {
  switch (n.t) {
    case 'empty':
      return [0, 0];
    case 'atom':
      return n.one ? [1, 1] : null;
    case 'cat':
    case 'alt': {
      let acc: [number, number] | null = null;
      for (const x of n.items) {
        const l = byteLength(x);
        if (!l) return null;
        acc = !acc ? l : n.t === 'cat' ? [acc[0] + l[0], acc[1] + l[1]] : [Math.min(acc[0], l[0]), Math.max(acc[1], l[1])];
      }
      return acc ?? [0, 0];
    }
    case 'rep': {
      const l = byteLength(n.node);
      return l && [l[0] * n.min, l[1] === 0 ? 0 : l[1] * n.max];
    }
  }
}

function nullable(n: Node): boolean {
  switch (n.t) {
    case 'empty':
      return true;
    case 'atom':
      return false;
    case 'cat':
      return n.items.every(nullable);
    case 'alt':
      return n.items.some(nullable);
    case 'rep':
      return n.min === 0 || nullable(n.node);
  }
}

/** Can an assertion be evaluated before the first byte of a match is consumed? */
function leadAssert(n: Node): boolean {
  switch (n.t) {
    case 'empty':
      return n.assert === true;
    case 'atom':
      return false;
    case 'cat':
      for (const x of n.items) {
        if (leadAssert(x)) return true;
        if (!nullable(x)) return false;
      }
      return false;
    case 'alt':
      return n.items.some(leadAssert);
    case 'rep':
      return n.max > 0 && leadAssert(n.node);
  }
}

/** False when no assertion (\b, ^, (?m)^ …) can look at the byte before a match: then a
 *  search started on a view beginning at position p finds exactly what a search from p
 *  in the whole buffer finds. True when unsure. */
export function hasLeadingAssertion(source: string): boolean {
  try {
    return leadAssert(new Parser(source).parse());
  } catch (err) {
    if (err instanceof Unsupported) return true;
    throw err;
  }
}

function assertions(n: Node, out: Set<string>): Set<string> {
  if (n.t === 'empty') {
    if (n.assert) out.add(n.at ?? 'end');
  } else if (n.t === 'cat' || n.t === 'alt') for (const x of n.items) assertions(x, out);
  else if (n.t === 'rep') assertions(n.node, out);
  return out;
}

/**
 * Whether a match's start can be found from its end alone, by `(?:R)\z` searched on the bytes
 * from where the search began (`from`) to the match's end `e` (a reverse DFA over about the
 * match: a forward search again from `from` costs the whole distance). Such a view hides the
 * bytes before `from` and after `e`, so it finds the leftmost start s ≥ from of a match ending
 * at e — the forward search's own start (any earlier one would have been found first) — as
 * long as no assertion reads outside the view differently:
 *  - none at the match's start (hasLeadingAssertion false), the caller's business;
 *  - 'none': no assertion at its end either (no $ or \z; ^ and \A never hold there);
 *  - 'word': \b or \B may be tested at e: the same in the view only when the byte after e is
 *    not a word byte (or there is none), which the caller checks per match;
 *  - null: $ or \z, or syntax this parser does not know: not usable.
 */
export function endAssertions(source: string): 'none' | 'word' | null {
  try {
    const kinds = assertions(new Parser(source).parse(), new Set());
    return kinds.has('end') ? null : kinds.has('word') ? 'word' : 'none';
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
}

/** The length in bytes of every match of `source` when it is always the same (e.g.
 *  `AKIA[0-9A-Z]{16}` → 20), else null. Lets the scanner find a match's start from its end. */
export function fixedByteLength(source: string): number | null {
  try {
    const l = byteLength(new Parser(source).parse());
    return l && l[0] === l[1] && Number.isFinite(l[0]) ? l[0] : null;
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
}

/** The regex as this parser understood it, assertions dropped (for tests: it must match
 *  what the original matches, modulo the assertions). */
export function reserializeForTest(source: string): string | null {
  try {
    return ser(new Parser(source).parse());
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
}

/** Fewest bytes a node can match (0 for assertions; atoms: 1 — a multi-byte atom only
 *  makes this an under-estimate, which is what a lower bound needs). */
function minBytes(n: Node): number {
  switch (n.t) {
    case 'empty':
      return 0;
    case 'atom':
      return 1;
    case 'cat':
      return n.items.reduce((a, x) => a + minBytes(x), 0);
    case 'alt':
      return Math.min(...n.items.map(minBytes));
    case 'rep':
      return n.min * minBytes(n.node);
  }
}

/** One literal character (as the parser writes them: a letter or digit, \x{…}, or
 *  either case-folded). */
const isLiteral = (n: Node): boolean =>
  n.t === 'atom' && /^(?:[A-Za-z0-9]|\\x\{[0-9a-f]+\}|\(\?i:(?:[A-Za-z0-9]|\\x\{[0-9a-f]+\})\))$/.test(n.src);

/** Literal characters a leading part may keep past `need` (they cost a DFA little). */
const LITERAL_RUN_MAX = 32;

/** The first items of a concatenation until they match at least `need` bytes (and any
 *  literal characters right after, up to LITERAL_RUN_MAX); branches of an alternation each
 *  the same way. Every match of `n` begins with a match of the result (assertions are
 *  dropped: a superset). An item is only ever cut as the last one kept. */
function leading(n: Node, need: number): Node {
  if (n.t === 'alt') return { t: 'alt', items: n.items.map((x) => leading(x, need)) };
  if (n.t === 'rep') {
    // x{min,max} → x{min}: every match starts with min copies. (Not fewer, even when fewer
    // would reach `need`: `[0-9]{3}(?:[ -]?[0-9]){9,15}` cut to 4 more digits would flag every
    // date in a log.)
    return n.max > n.min && need > 0 && minBytes(n) >= need ? { t: 'rep', node: n.node, min: n.min, max: n.min } : n;
  }
  if (n.t !== 'cat') return n.t === 'empty' ? EMPTY : n;
  const items: Node[] = [];
  let got = 0;
  for (const x of n.items) {
    if (x.t === 'empty') continue; // assertions: dropped
    if (got >= need && !(isLiteral(x) && got < LITERAL_RUN_MAX)) break;
    const m = minBytes(x);
    if (got < need && got + m >= need && (x.t === 'alt' || x.t === 'cat' || x.t === 'rep')) {
      items.push(leading(x, need - got)); // the rest of x and everything after it: not needed
      break;
    }
    items.push(x);
    got += m;
  }
  return items.length === 1 ? items[0]! : items.length === 0 ? EMPTY : { t: 'cat', items };
}

/**
 * A regex every match of `source` contains a match of (at its start): the leading part of
 * the pattern, about `need` bytes long, assertions dropped. A prefilter needs no more: it
 * only says where a detector could match, and a short pattern keeps a combined DFA small.
 * null when the syntax is not understood (use the full regex then).
 */
export function leadingRegexSource(source: string, need: number): string | null {
  try {
    return ser(leading(new Parser(source).parse(), need));
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------
// Window patterns: where in a buffer a detector can match, window by window
//
// The redactor's prefilter runs one RE2.Set over a buffer in windows, each window's input
// extended by a fixed overlap, and then scans a detector only in the windows its Set members
// matched (redactor.ts). That is exact when every match of the detector's regex R contains,
// at a position q, an occurrence of one of its members that is at most overlap + 1 bytes long,
// and every byte between the match's start s and q is in a known class (`back`): then the
// window holding q is flagged, and a scan that jumps to a flagged window only has to step
// back over bytes of that class to find every start. Members are built from the leading part
// of R (leadingRegexSource): items that can be empty or are unbounded at its start are moved
// to `back` (email: `[A-Za-z0-9._%+-]+` before the @), and what is left is cut to a bounded
// length. An unbounded run of one atom inside it (`password[ \t]*=`) is kept in a member of
// its own, and a second, bounded member (`password[ \t]{K}`) covers the occurrences too long
// to fit in a window's overlap.

/** Most bytes an atom can match: 1 for single-byte atoms; an ASCII letter or class under
 *  (?i) can also match K (U+212A, 3 bytes) or ſ (U+017F, 2 bytes); anything else up to 4. */
function atomMaxBytes(n: Node & { t: 'atom' }): number {
  if (n.one) return 1;
  const inner = n.src.startsWith('(?i:') && n.src.endsWith(')') ? n.src.slice(4, -1) : n.src;
  if (/^[A-Za-z0-9]$/.test(inner)) return /^[ks]$/i.test(inner) ? 3 : 1;
  const hex = /^\\x\{([0-9a-f]+)\}$/.exec(inner);
  if (hex) return parseInt(hex[1]!, 16) < 0x80 ? 1 : 4;
  if (asciiClass(inner)) return classHasKS(inner) ? 3 : 1;
  return 4;
}

/** Whether an ASCII bracket class (see asciiClass) contains k, K, s or S (which (?i) extends
 *  to multi-byte characters), or may: \w, a POSIX class, an escape it does not know. */
function classHasKS(cls: string): boolean {
  const body = cls.slice(1, -1);
  const ks = [0x4b, 0x53, 0x6b, 0x73];
  let prev = -1;
  for (let i = 0; i < body.length; i++) {
    let c = body.charCodeAt(i);
    if (body[i] === '[' && body[i + 1] === ':') return true;
    if (body[i] === '\\') {
      const e = body[++i];
      if (e === undefined || /[A-Za-z]/.test(e) && !'tnrfv'.includes(e)) {
        if (e === 'd' || e === 's') {
          prev = -1;
          continue;
        }
        return true; // \w or something this does not know
      }
      c = e === 't' ? 9 : e === 'n' ? 10 : e === 'r' ? 13 : e === 'f' ? 12 : e === 'v' ? 11 : e.charCodeAt(0);
    } else if (body[i] === '-' && prev >= 0 && i + 1 < body.length) {
      let hi = body.charCodeAt(++i);
      if (body[i] === '\\') {
        const e = body[++i];
        if (e === undefined || /[A-Za-z]/.test(e)) return true;
        hi = e.charCodeAt(0);
      }
      if (ks.some((k) => k >= prev && k <= hi)) return true;
      prev = -1;
      continue;
    }
    if (ks.includes(c)) return true;
    prev = c;
  }
  return false;
}

/** A bracket class of printable ASCII characters, not negated, without escapes that reach
 *  past ASCII (its matches are ASCII, or K/ſ under (?i)). */
const asciiClass = (src: string): boolean => src.startsWith('[') && !src.startsWith('[^') && /^[\x20-\x7e]*$/.test(src) && !/\\[pPxuWSDC0-7]|\[:\^/.test(src);

/** Most bytes a node can match (Infinity: unbounded). */
function maxBytes(n: Node): number {
  switch (n.t) {
    case 'empty':
      return 0;
    case 'atom':
      return atomMaxBytes(n);
    case 'cat':
      return n.items.reduce((a, x) => a + maxBytes(x), 0);
    case 'alt':
      return Math.max(0, ...n.items.map(maxBytes));
    case 'rep': {
      const m = maxBytes(n.node);
      return m === 0 || n.max === 0 ? 0 : n.max === Infinity ? Infinity : m * n.max;
    }
  }
}

const cat = (items: Node[]): Node => (items.length === 1 ? items[0]! : items.length === 0 ? EMPTY : { t: 'cat', items });

/** A prefix pattern of `n` (every match of `n` begins with a match of it) of at most `cap`
 *  bytes. */
function bound(n: Node, cap: number): Node {
  switch (n.t) {
    case 'empty':
      return EMPTY;
    case 'atom':
      return atomMaxBytes(n) <= cap ? n : EMPTY;
    case 'alt':
      return { t: 'alt', items: n.items.map((x) => bound(x, cap)) };
    case 'rep': {
      if (maxBytes(n) <= cap) return n;
      if (n.min === 0) return EMPTY;
      const per = maxBytes(n.node);
      const k = per > 0 && per !== Infinity ? Math.min(n.min, Math.floor(cap / per)) : 0;
      return k >= 1 ? { t: 'rep', node: n.node, min: k, max: k } : bound(n.node, cap);
    }
    case 'cat': {
      const items: Node[] = [];
      let len = 0;
      for (const x of n.items) {
        const m = maxBytes(x);
        if (len + m <= cap) {
          items.push(x);
          len += m;
          continue;
        }
        items.push(bound(x, cap - len));
        break;
      }
      return cat(items);
    }
  }
}

/** How much further than `need` a leading part may go to reach past such a run. */
const EXTEND_BYTES = 4;

/** What a member keeps after an unbounded run (`=` after `password[ \t]*`). */
const REST_BYTES = 16;

/** The members for one leading part (see above): itself cut to `cap` bytes, or, when the cut
 *  falls on an unbounded run of one atom with something after it, the part with the run
 *  plus a member for runs too long for the overlap. */
function members(lead: Node, cap: number, overlap: number): Node[] {
  if (lead.t !== 'cat') return [bound(lead, cap)];
  const acc: Node[] = [];
  let len = 0;
  for (let i = 0; i < lead.items.length; i++) {
    const x = lead.items[i]!;
    const m = maxBytes(x);
    if (len + m <= cap) {
      acc.push(x);
      len += m;
      continue;
    }
    if (len > 0 && x.t === 'rep' && x.max === Infinity && x.node.t === 'atom') {
      const after = cat(lead.items.slice(i + 1));
      let rest = bound(after, REST_BYTES);
      if (minBytes(rest) === 0 && !nullable(after)) {
        // the bounded part can be empty (`(?:\.x+)*\.` …): what comes next starts with one of
        // a few atoms at least
        const first = firstAtoms(after, new Map());
        if (first.size) rest = first.size === 1 ? [...first.values()][0]! : { t: 'alt', items: [...first.values()] };
      }
      const r = maxBytes(rest);
      if (r > 0 && minBytes(rest) > 0) {
        // An occurrence of acc·x·rest longer than overlap + 1 has at least n copies of the atom.
        // (Only one such run per member, of one atom: several runs, or runs of several kinds of
        // byte, multiply the states of the Set's DFA — measured: 7× slower on the corpus.)
        const per = atomMaxBytes(x.node);
        const n = Math.max(x.min, Math.ceil(Math.max(0, overlap + 2 - len - r) / per));
        return [cat([...acc, x, rest]), cat([...acc, { t: 'rep', node: x.node, min: n, max: n }])];
      }
    }
    acc.push(bound(x, cap - len));
    break;
  }
  return [cat(acc)];
}

/** The atoms a non-empty match of `n` can begin with. */
function firstAtoms(n: Node, out: Map<string, Node & { t: 'atom' }>): Map<string, Node & { t: 'atom' }> {
  switch (n.t) {
    case 'atom':
      out.set(n.src, n);
      break;
    case 'alt':
      for (const x of n.items) firstAtoms(x, out);
      break;
    case 'rep':
      if (n.max > 0) firstAtoms(n.node, out);
      break;
    case 'cat':
      for (const x of n.items) {
        firstAtoms(x, out);
        if (!nullable(x)) break;
      }
      break;
  }
  return out;
}

/** The atoms `n` is made of. */
function atomsOf(n: Node, out: Map<string, Node & { t: 'atom' }>): void {
  if (n.t === 'atom') out.set(n.src, n);
  else if (n.t === 'cat' || n.t === 'alt') for (const x of n.items) atomsOf(x, out);
  else if (n.t === 'rep') atomsOf(n.node, out);
}

export interface WindowPattern {
  /** RE2 sources: a window is flagged when one of them matches in it. */
  members: { source: string; maxBytes: number }[];
  /** What can come before a member's occurrence in a match: the atoms (regex sources; the
   *  bytes they match form the class to step back over), and whether one of them may match
   *  more than one byte (then every byte ≥ 0x80 is in the class). null: the occurrence
   *  starts the match. */
  back: { atoms: string[]; nonAscii: boolean } | null;
}

/**
 * Members for the windowed prefilter (see above) for `source`: every match contains an
 * occurrence of one of them, preceded in the match only by bytes the `back` atoms match.
 * Members whose `maxBytes` is Infinity come with a bounded partner covering their long
 * occurrences; the bounded ones are at most max(cap, overlap + 1) bytes. `need`: how much of
 * the pattern to keep, as for leadingRegexSource. null when the syntax is not understood,
 * or when a member could match the empty string (it would flag every window).
 */
export function windowPatternOf(source: string, need: number, cap: number, overlap: number): WindowPattern | null {
  let root: Node;
  try {
    root = new Parser(source).parse();
  } catch (err) {
    if (err instanceof Unsupported) return null;
    throw err;
  }
  const out: Node[] = [];
  const back = new Map<string, Node & { t: 'atom' }>();
  for (const branch of root.t === 'alt' ? root.items : [root]) {
    const items = (branch.t === 'cat' ? branch.items : [branch]).filter((x) => x.t !== 'empty');
    let j = 0;
    while (j < items.length - 1 && j < 3 && (nullable(items[j]!) || maxBytes(items[j]!) === Infinity)) j++;
    for (let k = 0; k < j; k++) atomsOf(items[k]!, back);
    const rest = cat(items.slice(j));
    let ms = members(leading(rest, need), cap, overlap);
    // A few more bytes may reach past a run of blanks to what makes the pattern selective
    // (`api_key` → `api_key[ \t]*=`): then take them.
    for (let more = 1; more <= EXTEND_BYTES && ms.length === 1; more++) {
      const longer = members(leading(rest, need + more), cap, overlap);
      if (longer.length > 1) ms = longer;
    }
    out.push(...ms);
  }
  if (out.some(nullable)) return null;
  const atoms = [...back.values()];
  return {
    members: out.map((n) => ({ source: ser(n), maxBytes: maxBytes(n) })),
    back: atoms.length ? { atoms: atoms.map((a) => a.src), nonAscii: atoms.some((a) => atomMaxBytes(a) > 1) } : null,
  };
}
