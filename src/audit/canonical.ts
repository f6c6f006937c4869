// Canonical JSON exactly as agentsh's Go code produces it for its HMAC chain.
//
// agentsh hashes `json.Marshal(map[string]any)` of the event (see chain.ts for the facts
// and sources). Go's encoding/json, for a generic map, means:
//   - object keys sorted by byte-wise comparison of their UTF-8 encoding, at every level;
//   - no whitespace;
//   - strings escaped as Go 1.22+ does: `\"` `\\` `\b` `\f` `\n` `\r` `\t`, other control
//     characters as `\u00xx` (lower-case hex), and — HTML-safe by default — `<` `>` `&` as
//     `\u003c` `\u003e` `\u0026`, U+2028/U+2029 as `\u2028`/`\u2029`; invalid UTF-16/UTF-8
//     (lone surrogates) becomes U+FFFD; everything else (including DEL and non-ASCII) raw;
//   - numbers: the verifier decodes with `UseNumber()`, so a number is re-emitted with the
//     exact literal text it had in the line (`1.0` stays `1.0`, big integers keep all digits).
//
// `canonicalJson(value)` serialises a JS value that way (our writer); `parseJson(text)` parses
// a line keeping number literals (class JsonNumber) so that `canonicalJson(parseJson(line))`
// reproduces what Go computes when it verifies the line.

/** A JSON number kept as its literal text (what Go's json.Number does). */
export class JsonNumber {
  constructor(readonly literal: string) {}
  toJSON(): number {
    return Number(this.literal);
  }
}

const GO_ESCAPE_TEST = /[<>&\u2028\u2029]/;
const GO_ESCAPE_ALL = /[<>&\u2028\u2029]/g;
const GO_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};
const SURROGATE = /[\ud800-\udfff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Replace lone surrogates with U+FFFD (what Go does with invalid UTF-8/UTF-16). */
export function wellFormed(s: string): string {
  if (!SURROGATE.test(s)) return s;
  return s.replace(LONE_SURROGATE, '\ufffd');
}

/** Escape the characters Go escapes and JSON.stringify does not (only ever inside strings). */
function goEscape(json: string): string {
  return GO_ESCAPE_TEST.test(json) ? json.replace(GO_ESCAPE_ALL, (c) => GO_ESCAPES[c]!) : json;
}

/** A string as Go's encoding/json writes it. */
export function goString(s: string): string {
  return goEscape(JSON.stringify(wellFormed(s)));
}

const NEEDS_BYTE_ORDER = /[\ud800-\uffff]/;

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Object keys in Go's order (byte-wise UTF-8). JS compares UTF-16 code units, which agrees
 * except for astral characters against U+E000–U+FFFF; only then do we pay for byte compares.
 */
export function sortedKeys(obj: object): string[] {
  const keys = Object.keys(obj);
  if (keys.length < 2) return keys;
  keys.sort();
  return NEEDS_BYTE_ORDER.test(keys.join('')) ? keys.sort(byteOrder) : keys;
}

const MAX_DEPTH = 1000;

// Lone surrogates: JSON.stringify writes them as "\udXXX"; Go writes U+FFFD. The fast path
// serialises without looking, and only if the output contains "\ud" (rare) redoes the work
// with every string made well-formed first.
let strict = false;

function ser(v: unknown, depth: number): string | undefined {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(strict ? wellFormed(v) : v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    default:
      break;
  }
  if (v === null) return 'null';
  if (depth > MAX_DEPTH) throw new RangeError('canonical JSON: nesting too deep (cycle?)');
  if (v instanceof JsonNumber) return v.literal;
  if (Array.isArray(v)) {
    let out = '[';
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out += ',';
      out += ser(v[i], depth + 1) ?? 'null';
    }
    return out + ']';
  }
  const toJSON = (v as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return ser((toJSON as () => unknown).call(v), depth + 1);
  const obj = v as Record<string, unknown>;
  let out = '{';
  let first = true;
  for (const k of sortedKeys(obj)) {
    const s = ser(obj[k], depth + 1);
    if (s === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += JSON.stringify(strict ? wellFormed(k) : k) + ':' + s;
  }
  return out + '}';
}

function serStrict(v: unknown): string | undefined {
  strict = true;
  try {
    return ser(v, 0);
  } finally {
    strict = false;
  }
}

/** Go-compatible canonical JSON of a value (undefined members are dropped, like JSON.stringify). */
export function canonicalJson(value: unknown): string {
  let out = ser(value, 0) ?? 'null';
  if (out.includes('\\ud')) out = serStrict(value) ?? 'null';
  return goEscape(out);
}

/**
 * A top-level object as canonical JSON, split where `splitKey` would go in sorted order
 * (`splitKey` itself is left out): `before` is "{" plus the members before it, `after` the
 * members after it plus "}" (each side without the joining comma). Lets the chain hash the
 * payload (before + after, with a comma when both have members) and write the line (with
 * the integrity member spliced in) from one serialisation.
 */
export function canonicalSplit(obj: Record<string, unknown>, splitKey: string): { before: string; after: string } {
  const r = splitOnce(obj, splitKey);
  if ((r.before + r.after).includes('\\ud')) {
    strict = true;
    try {
      const s = splitOnce(obj, splitKey);
      return { before: goEscape(s.before), after: goEscape(s.after) };
    } finally {
      strict = false;
    }
  }
  return { before: goEscape(r.before), after: goEscape(r.after) };
}

function splitOnce(obj: Record<string, unknown>, splitKey: string): { before: string; after: string } {
  let before = '{';
  let after = '';
  let passed = false;
  for (const k of sortedKeys(obj)) {
    if (k === splitKey) continue;
    const s = ser(obj[k], 1);
    if (s === undefined) continue;
    const member = JSON.stringify(strict ? wellFormed(k) : k) + ':' + s;
    if (!passed && k > splitKey) passed = true; // splitKey is ASCII: UTF-16 order = byte order here
    if (passed) after += (after === '' ? '' : ',') + member;
    else before += (before === '{' ? '' : ',') + member;
  }
  return { before, after: after + '}' };
}

// ---------------------------------------------------------------------------------------
// Parser keeping number literals. Strict RFC 8259 (what Go's decoder accepts); objects are
// null-prototype so `__proto__` is an ordinary key; duplicate keys: the last one wins (Go map).

export class JsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly unexpectedEnd: boolean,
  ) {
    super(message);
    this.name = 'JsonSyntaxError';
  }
}

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

class Parser {
  i = 0;
  constructor(readonly s: string) {}

  fail(what: string): never {
    const end = this.i >= this.s.length;
    throw new JsonSyntaxError(end ? `unexpected end of JSON input (${what})` : `invalid character ${JSON.stringify(this.s[this.i])} at offset ${this.i} (${what})`, this.i, end);
  }

  ws(): void {
    const s = this.s;
    let i = this.i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else break;
    }
    this.i = i;
  }

  value(depth: number): unknown {
    if (depth > 10000) this.fail('exceeded max depth');
    this.ws();
    const c = this.s.charCodeAt(this.i);
    if (c === 0x7b) return this.object(depth);
    if (c === 0x5b) return this.array(depth);
    if (c === 0x22) return this.string();
    if (c === 0x74) return this.literal('true', true);
    if (c === 0x66) return this.literal('false', false);
    if (c === 0x6e) return this.literal('null', null);
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      NUMBER_RE.lastIndex = this.i;
      const m = NUMBER_RE.exec(this.s);
      if (!m) this.fail('in numeric literal');
      this.i += m[0].length;
      return new JsonNumber(m[0]);
    }
    return this.fail('looking for beginning of value');
  }

  literal(word: string, v: unknown): unknown {
    if (this.s.startsWith(word, this.i)) {
      this.i += word.length;
      return v;
    }
    return this.fail(`in literal ${word}`);
  }

  string(): string {
    const s = this.s;
    const start = this.i + 1;
    let i = start;
    let escaped = false;
    for (;;) {
      if (i >= s.length) {
        this.i = i;
        this.fail('in string literal');
      }
      const c = s.charCodeAt(i);
      if (c === 0x22) break;
      if (c === 0x5c) {
        escaped = true;
        i += 2;
        continue;
      }
      if (c < 0x20) {
        this.i = i;
        this.fail('in string literal');
      }
      i++;
    }
    this.i = i + 1;
    if (!escaped) return s.slice(start, i);
    try {
      return JSON.parse(s.slice(start - 1, i + 1)) as string;
    } catch {
      this.i = start;
      return this.fail('invalid escape in string literal');
    }
  }

  array(depth: number): unknown[] {
    this.i++;
    const out: unknown[] = [];
    this.ws();
    if (this.s.charCodeAt(this.i) === 0x5d) {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s.charCodeAt(this.i);
      if (c === 0x2c) {
        this.i++;
        continue;
      }
      if (c === 0x5d) {
        this.i++;
        return out;
      }
      this.fail('after array element');
    }
  }

  object(depth: number): Record<string, unknown> {
    this.i++;
    const out = Object.create(null) as Record<string, unknown>;
    this.ws();
    if (this.s.charCodeAt(this.i) === 0x7d) {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s.charCodeAt(this.i) !== 0x22) this.fail('looking for beginning of object key string');
      const key = this.string();
      this.ws();
      if (this.s.charCodeAt(this.i) !== 0x3a) this.fail('after object key');
      this.i++;
      out[key] = this.value(depth + 1);
      this.ws();
      const c = this.s.charCodeAt(this.i);
      if (c === 0x2c) {
        this.i++;
        continue;
      }
      if (c === 0x7d) {
        this.i++;
        return out;
      }
      this.fail('after object key:value pair');
    }
  }
}

/** Parse JSON text, keeping numbers as JsonNumber literals. Throws JsonSyntaxError. */
export function parseJson(text: string): unknown {
  const p = new Parser(text);
  const v = p.value(0);
  p.ws();
  if (p.i < text.length) p.fail('after top-level value');
  return v;
}

/** Parse a JSON object (an audit line). Throws JsonSyntaxError if it is not one. */
export function parseJsonObject(text: string): Record<string, unknown> {
  const v = parseJson(text);
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof JsonNumber) {
    throw new JsonSyntaxError('cannot unmarshal non-object into map[string]interface {}', 0, false);
  }
  return v as Record<string, unknown>;
}
