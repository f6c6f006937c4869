// DLP detectors: the built-ins behind the config's `dlp.patterns` toggles, and the
// operator's `dlp.custom_patterns`.
//
// A detector is an RE2 regex (Go syntax, no flags: use inline (?i) etc.) plus an optional
// validator that vetoes a regex match (checksums, valid ranges, entropy, placeholders, token
// boundaries). Regexes are matched on bytes (UTF-8 mode over Buffers), so every pattern here
// is ASCII-only and binary data can never be mangled. RE2 guarantees time linear in the
// input for every one of them; validators are linear in the span they are given.
//
// Prefilters: almost every credential regex starts with a literal (AKIA, ghp_, xoxb-, sk-,
// -----BEGIN, ://) or a short keyword (password, secret, token, twilio …), so RE2 skips
// through text without a candidate at memchr speed, and one RE2.Set pass over a chunk tells
// the redactor which detectors have any match at all (redactor.ts). Built-in regexes
// deliberately do not start with \b: a leading \b disables the literal skip. Token
// boundaries are checked by the validators instead.
//
// What a validator may read: the span (start..end), the whole regex match (mStart..mEnd,
// wider than the span for `secretGroup` detectors), up to LOOKBEHIND bytes before the
// earlier of the two starts, and one byte after the later end. That is exactly what the
// streaming redactor keeps around a match, so streamed output stays byte-for-byte the
// one-shot output.
//
// Several table entries may share a name (one detector kind, several shapes): findings,
// `disabled_detectors` and the docs use the name.
import {
  DOCUMENTED_EXAMPLES, EXAMPLE_IBANS, TEST_CARDS, charClasses, githubChecksumValid, ibanValid, isPlaceholderValue, looksLikePlaceholder, luhnValid,
  plausiblePassword, plausibleToken, shannonEntropy, ssnValid, IBAN_LENGTHS,
} from './validators.js';

export { luhnValid } from './validators.js';

/** The built-in toggles of `dlp.patterns` in agentsh's config. */
export const BUILTIN_GROUPS = ['email', 'phone', 'credit_card', 'ssn', 'api_keys'] as const;
export type BuiltinGroup = (typeof BUILTIN_GROUPS)[number];

/** Bytes before a match (or its span) a validator may look at; the streaming redactor keeps
 *  at least this many bytes of context before everything it has not decided yet. */
export const LOOKBEHIND = 64;

/**
 * Vetoes a match. `start`/`end`: byte offsets of the span to be redacted in `buf`;
 * `mStart`/`mEnd`: the whole regex match (the same as the span unless the detector has a
 * `secretGroup`). Reads allowed: buf[min(start, mStart) - LOOKBEHIND] … buf[max(end, mEnd)].
 */
export type Validator = (buf: Buffer, start: number, end: number, mStart: number, mEnd: number) => boolean;

export type Locator = (buf: Buffer, mStart: number, mEnd: number) => readonly [number, number] | null;

export interface Detector {
  /** Stable id used in findings and audit events (custom: the config's `name`). */
  readonly name: string;
  /** Label in the output: `[REDACTED:${display}]`. */
  readonly display: string;
  /** RE2 regex, Go syntax, compiled without flags. */
  readonly regex: string;
  readonly validate?: Validator;
  /** Redact only this capture group (e.g. the value of `KEY=value`), not the whole match.
   *  A list: the first of these groups that took part in the match. */
  readonly secretGroup?: number | readonly number[];
  /**
   * The span of `secretGroup` found from the match bounds alone, without RE2 capture groups
   * (a match with captures costs ~6× one without: it matters on dense input). Built-ins
   * only; must return exactly what `secretGroup` would (tested on samples and fuzzed
   * input). Offsets are into `buf`; null: no span.
   */
  readonly locate?: Locator;
  readonly source: 'builtin' | 'custom';
  /** The `dlp.patterns` toggle that enables a built-in. */
  readonly group?: BuiltinGroup;
}

// ---------------------------------------------------------------------------------------
// byte helpers

const isDigit = (b: number | undefined): boolean => b !== undefined && b >= 0x30 && b <= 0x39;
const isAlpha = (b: number | undefined): boolean => b !== undefined && ((b | 0x20) >= 0x61 && (b | 0x20) <= 0x7a);
/** [A-Za-z0-9_] — RE2's \w. */
export const isWordByte = (b: number | undefined): boolean => isDigit(b) || isAlpha(b) || b === 0x5f;
const isAlnum = (b: number | undefined): boolean => isDigit(b) || isAlpha(b);
const isTokenByte = (b: number | undefined): boolean => isWordByte(b) || b === 0x2d; // \w and '-'

/** No word byte right before the span and none right after it. */
const wordBounded = (buf: Buffer, s: number, e: number): boolean => !isWordByte(buf[s - 1]) && !isWordByte(buf[e]);
/** As wordBounded, with '-' counting as part of a token (keys whose alphabet has '-'). */
const tokenBounded = (buf: Buffer, s: number, e: number): boolean => !isTokenByte(buf[s - 1]) && !isTokenByte(buf[e]);

const ascii = (buf: Buffer, s: number, e: number): string => buf.toString('latin1', s, e);

// ---------------------------------------------------------------------------------------
// email

const EXAMPLE_DOMAIN = /(^|\.)(example\.(com|org|net)|example|test|invalid|localhost|localdomain|local|internal)$/i;
const FILE_TLD = /^(png|jpe?g|gif|svg|webp|ico|bmp|tiff?)$/i; // icon@2x.png is a file name

/** The span starts inside the password of a URL's userinfo (`scheme://user:pa!ss@host`): the
 *  URL detectors' business, not an address. */
function inUrlPassword(buf: Buffer, s: number): boolean {
  const lo = Math.max(0, s - LOOKBEHIND);
  let colon = false;
  for (let i = s - 1; i >= lo; i--) {
    const b = buf[i]!;
    if (b === 0x3a) colon = true;
    else if (b === 0x2f) return colon && buf[i - 1] === 0x2f;
    else if (b <= 0x20 || b === 0x40 || b === 0x22 || b === 0x27 || b === 0x3c || b === 0x3e) return false;
  }
  return false;
}

function validEmail(buf: Buffer, s: number, e: number): boolean {
  const text = ascii(buf, s, e);
  const at = text.lastIndexOf('@');
  const local = text.slice(0, at);
  const domain = text.slice(at + 1);
  if (EXAMPLE_DOMAIN.test(domain)) return false;
  if (FILE_TLD.test(domain.slice(domain.lastIndexOf('.') + 1))) return false;
  if (/^\.|\.\.|\.$/.test(local) || local.length > 64 || !/[A-Za-z]/.test(local)) return false; // RFC 5321: ≤ 64; <1234.5678@host> is a message id
  // scheme://user@host — a URL's user name (a Sentry DSN key …), not an address
  if (buf[s - 1] === 0x2f && buf[s - 2] === 0x2f) return false;
  // git@github.com:org/repo — an SSH remote, not a person
  if (local === 'git' && buf[e] === 0x3a) return false;
  // https://user:pass@host — the password is the URL detectors' business, not an address
  if (inUrlPassword(buf, s)) return false;
  return !isWordByte(buf[e]);
}

// ---------------------------------------------------------------------------------------
// phone: NANP with separators ((415) 555-1234, 415-555-1234, 415.555.1234, +1 415 555 1234,
// +14155551234) and E.164-style international numbers with a leading '+'.

function validPhone(buf: Buffer, s: number, e: number): boolean {
  const before = buf[s - 1];
  if (isWordByte(before) || before === 0x2b /* + */ || before === 0x2e /* . */ || before === 0x2d /* - */) return false;
  if (isWordByte(buf[e])) return false;
  const digits = ascii(buf, s, e).replace(/\D/g, '');
  if (buf[s] === 0x2b && buf[s + 1] !== 0x31) return digits.length >= 8 && digits.length <= 15;
  const nanp = digits.length === 11 ? digits.slice(1) : digits;
  if (nanp.length !== 10) return false;
  if (/^(\d)\1+$/.test(nanp)) return false;
  // 555-0100 … 555-0199: reserved for fiction and documentation
  return !/^[0-9]{3}55501[0-9]{2}$/.test(nanp);
}

// ---------------------------------------------------------------------------------------
// credit cards: issuer prefix + length, consistent grouping, Luhn

function cardLengthOk(d: string): boolean {
  const n = d.length;
  const p2 = Number(d.slice(0, 2));
  const p3 = Number(d.slice(0, 3));
  const p4 = Number(d.slice(0, 4));
  if (d[0] === '4') return n === 13 || n === 16 || n === 19; // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n === 16; // Mastercard
  if (p2 === 34 || p2 === 37) return n === 15; // Amex
  if ((p3 >= 300 && p3 <= 305) || p4 === 3095 || p2 === 36 || p2 === 38 || p2 === 39) return n >= 14 && n <= 19; // Diners
  if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19; // JCB
  if (p2 === 60 || p2 === 62 || p2 === 64 || p2 === 65) return n >= 16 && n <= 19; // Discover, UnionPay
  if (p2 === 50 || (p2 >= 56 && p2 <= 58) || p2 === 63 || p2 === 67) return n >= 13 && n <= 19; // Maestro
  return false;
}

function validCard(buf: Buffer, s: number, e: number): boolean {
  const before = buf[s - 1];
  if (isWordByte(before) || before === 0x2e /* 0.4111… is a fraction */ || before === 0x2d) return false;
  const text = ascii(buf, s, e);
  const digits = text.replace(/[ -]/g, '');
  if (digits.length !== text.length) {
    const seps = new Set(text.replace(/\d/g, ''));
    if (seps.size !== 1) return false;
    const groups = text.split(/[ -]/).map((g) => g.length);
    const fours = groups.slice(0, -1).every((g) => g === 4);
    const amex = groups.length === 3 && groups[0] === 4 && groups[1] === 6;
    if (!fours && !amex) return false;
  }
  if (/^(\d)\1+$/.test(digits) || TEST_CARDS.has(digits)) return false;
  return cardLengthOk(digits) && luhnValid(digits);
}

// ---------------------------------------------------------------------------------------
// US SSN: dashed AAA-GG-SSSS anywhere; undashed only right after an "SSN" keyword

function validSsn(buf: Buffer, s: number, e: number): boolean {
  const before = buf[s - 1];
  if (isWordByte(before) || before === 0x2d || before === 0x2e) return false;
  if (isWordByte(buf[e]) || buf[e] === 0x2d) return false;
  return ssnValid(ascii(buf, s, e).replace(/\D/g, ''));
}

function validSsnKeyword(buf: Buffer, s: number, e: number, ms: number): boolean {
  return !isAlnum(buf[ms - 1]) && validSsn(buf, s, e);
}

// ---------------------------------------------------------------------------------------
// IBAN: a country code with its registered length, grouped by 4 with single spaces or not at
// all, mod-97 checksum. The regex is deliberately loose (any 2 letters, 2 digits, 2–7 groups,
// a short tail): one alternative per country length would be exact but makes RE2's DFA
// (and the redactor's one-pass prefilter) several times bigger. The locator cuts the match
// to the country's length; the validator checks grouping, boundaries and mod-97.

const ibanSpan: Locator = (buf, ms, me) => {
  const len = IBAN_LENGTHS[ascii(buf, ms, ms + 2)];
  if (len === undefined) return null;
  let n = 0;
  for (let p = ms; p < me; p++) {
    if (buf[p] !== 0x20 && ++n === len) return [ms, p + 1];
  }
  return null;
};

function validIban(buf: Buffer, s: number, e: number): boolean {
  if (!wordBounded(buf, s, e)) return false;
  const text = ascii(buf, s, e);
  const compact = text.replace(/ /g, '');
  if (compact.length !== text.length) {
    // spaced: every group of 4 except the last
    const groups = text.split(' ');
    if (groups.slice(0, -1).some((g) => g.length !== 4) || groups[groups.length - 1]!.length > 4) return false;
  }
  return ibanValid(compact) && !EXAMPLE_IBANS.has(compact);
}

// ---------------------------------------------------------------------------------------
// credential validators

interface TokenCheck {
  /** Characters of the span that are a fixed prefix (not part of the random body). */
  prefix: number;
  /** Minimum Shannon entropy of the body, bits per character (default 3). */
  entropy?: number;
  /** Token alphabet has '-' (then '-' next to the span means it is part of a longer token). */
  dash?: boolean;
  /** Extra check on the body. */
  body?: (body: string) => boolean;
}

/** A prefixed token: bounded, not a documented example, not a placeholder, random enough. */
const token =
  ({ prefix, entropy = 3, dash = false, body }: TokenCheck): Validator =>
  (buf, s, e) => {
    if (!(dash ? tokenBounded(buf, s, e) : wordBounded(buf, s, e))) return false;
    const text = ascii(buf, s, e);
    if (DOCUMENTED_EXAMPLES.has(text)) return false;
    const b = text.slice(prefix);
    if (looksLikePlaceholder(b) || shannonEntropy(b) < entropy) return false;
    return body ? body(b) : true;
  };

/** GitHub (ghp_, gho_, ghu_, ghs_, ghr_) and npm (npm_): 30 random + 6 checksum characters. */
const checksummed = token({ prefix: 4, body: githubChecksumValid });

function validAwsKeyId(buf: Buffer, s: number, e: number): boolean {
  if (!wordBounded(buf, s, e)) return false;
  const text = ascii(buf, s, e);
  if (DOCUMENTED_EXAMPLES.has(text)) return false;
  const body = text.slice(4);
  return !looksLikePlaceholder(body) && shannonEntropy(body) >= 2.5;
}

function validAwsSecret(buf: Buffer, s: number, e: number): boolean {
  const b = buf[e];
  if (isWordByte(b) || b === 0x2f || b === 0x2b || b === 0x3d) return false; // longer than 40: not this
  const b0 = buf[s - 1];
  if (isWordByte(b0) || b0 === 0x2f || b0 === 0x2b) return false;
  const text = ascii(buf, s, e);
  if (DOCUMENTED_EXAMPLES.has(text) || looksLikePlaceholder(text)) return false;
  return shannonEntropy(text) >= 3.5 && charClasses(text) >= 3;
}

function validOpenAi(buf: Buffer, s: number, e: number): boolean {
  if (!tokenBounded(buf, s, e)) return false;
  const text = ascii(buf, s, e);
  if (text.startsWith('sk-ant-')) return false; // Anthropic's own detector
  const body = text.replace(/^sk-(proj-|svcacct-|admin-|None-)?/, '');
  if (text.includes('T3BlbkFJ')) return !looksLikePlaceholder(body); // "OpenAI" in base64: every legacy key has it
  if (body.length < 32 || !/[0-9]/.test(body) || !/[a-z]/.test(body) || !/[A-Z]/.test(body)) return false;
  return !looksLikePlaceholder(body) && shannonEntropy(body) >= 4;
}

function b64urlJson(seg: string): unknown {
  try {
    return JSON.parse(Buffer.from(seg, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

function validJwt(buf: Buffer, s: number, e: number): boolean {
  if (isTokenByte(buf[s - 1]) || isTokenByte(buf[e])) return false;
  const text = ascii(buf, s, e);
  if (DOCUMENTED_EXAMPLES.has(text)) return false;
  // a JOSE header is a JSON object naming its algorithm (RFC 7515 §4.1.1)
  const header = b64urlJson(text.slice(0, text.indexOf('.')));
  return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
}

function validPrivateKey(buf: Buffer, s: number, e: number): boolean {
  // the header alone (a string constant in code, a grep pattern) is not a key: it needs a
  // body line or an armor header, or its END line
  const text = ascii(buf, s, e);
  const rest = text.slice(text.indexOf('-----', 10) + 5);
  if (rest.includes('-----END') || rest.includes('Proc-Type:')) return true;
  let n = 0;
  for (let i = 0; i < rest.length && n < 16; i++) {
    const c = rest.charCodeAt(i);
    if (c === 0x5c) i++; // a JSON escape (\n, \r)
    else if (isAlnum(c) || c === 0x2b || c === 0x2f) n++;
  }
  return n >= 16; // some key material, not just the header
}

/** A password in a URL's userinfo: not a placeholder, not a port number. */
function validUrlPassword(buf: Buffer, s: number, e: number): boolean {
  const v = ascii(buf, s, e);
  if (/^[0-9]{1,5}$/.test(v)) return false; // host:port@… is no password
  return !isPlaceholderValue(v);
}

/** The keyword in front of an assignment: short ones (pass, pwd, token) must not be the end of
 *  a longer word (bypass, OLDPWD, csrftoken). */
function keywordStart(buf: Buffer, ms: number): boolean {
  if (buf[ms - 1] === 0x3a) return false; // arn:aws:secretsmanager:…:secret:name — a path segment
  if (!isAlpha(buf[ms - 1])) return true;
  let n = 0;
  while (isAlpha(buf[ms + n]) && n < 8) n++;
  return n >= 6;
}

/** `scheme://` right before the user part that starts at `ms`: the keyword is a URL's user
 *  name (https://x-access-token:…@host), the URL detectors have the password. */
function isUrlUser(buf: Buffer, ms: number): boolean {
  const lo = Math.max(0, ms - LOOKBEHIND);
  for (let i = ms - 1; i >= lo; i--) {
    const b = buf[i]!;
    if (b === 0x2f) return buf[i - 1] === 0x2f && buf[i - 2] === 0x3a;
    if (b <= 0x20 || b === 0x40 || b === 0x3a || b === 0x22 || b === 0x27) return false;
  }
  return false;
}

function validPasswordValue(buf: Buffer, s: number, e: number, ms: number): boolean {
  if (!keywordStart(buf, ms) || buf[e] === 0x28 /* ( — a call */ || isUrlUser(buf, ms)) return false;
  return plausiblePassword(ascii(buf, s, e));
}

function validTokenValue(buf: Buffer, s: number, e: number, ms: number): boolean {
  if (!keywordStart(buf, ms) || buf[e] === 0x28 || isUrlUser(buf, ms)) return false;
  const v = ascii(buf, s, e);
  return !DOCUMENTED_EXAMPLES.has(v) && plausibleToken(v);
}

function validAuthHeader(buf: Buffer, s: number, e: number): boolean {
  const v = ascii(buf, s, e);
  return v.length >= 12 && !DOCUMENTED_EXAMPLES.has(v) && !isPlaceholderValue(v) && shannonEntropy(v) >= 3;
}

function validKeywordKey(buf: Buffer, s: number, e: number): boolean {
  if (!wordBounded(buf, s, e)) return false;
  const v = ascii(buf, s, e);
  return !looksLikePlaceholder(v) && shannonEntropy(v) >= 2.8;
}

// ---------------------------------------------------------------------------------------
// locators: the secret group's span from the match bounds (see Detector.locate)

const isSpace = (b: number | undefined): boolean => b === 0x20 || (b !== undefined && b >= 0x09 && b <= 0x0d);

/** The last `n` bytes of the match. */
const lastN =
  (n: number): Locator =>
  (_buf, ms, me) => [me - n, me];

/** From the end of a literal at the start of the match to its end. */
const after =
  (literal: string): Locator =>
  (_buf, ms, me) => [ms + literal.length, me];

/** "private_key": "-----BEGIN …-----END …-----\n" — from -----BEGIN to the closing quote
 *  (or the backslash escaping it). */
const pemInJson: Locator = (buf, ms, me) => {
  const b = buf.indexOf('-----BEGIN', ms, 'latin1');
  let e = me - 1;
  if (buf[e - 1] === 0x5c) e--;
  return b >= 0 && b < e ? [b, e] : null;
};

/** scheme://user:PASSWORD@ — the user part has no ':', the match ends with '@'. */
const urlPassword: Locator = (buf, ms, me) => {
  const sep = buf.indexOf('://', ms, 'latin1');
  if (sep < 0 || sep >= me) return null;
  const colon = buf.indexOf(0x3a, sep + 3);
  return colon >= 0 && colon < me - 1 ? [colon + 1, me - 1] : null;
};

/** NAME ["']? \s* (:=|=>|:|=) \s* VALUE: skip the name ([A-Za-z0-9_-]), a quote, blanks, the
 *  operator, blanks; a quoted value loses its quotes. */
const assignmentValue: Locator = (buf, ms, me) => {
  let p = ms;
  while (p < me && (isAlnum(buf[p]) || buf[p] === 0x5f || buf[p] === 0x2d)) p++; // (password_b64)
  if (buf[p] === 0x22 || buf[p] === 0x27) p++;
  while (p < me && isSpace(buf[p])) p++;
  const op = buf[p];
  const next = buf[p + 1];
  p += (op === 0x3a && next === 0x3d) || (op === 0x3d && next === 0x3e) ? 2 : 1;
  while (p < me && isSpace(buf[p])) p++;
  if (buf[p] === 0x22 || buf[p] === 0x27) p++, me--;
  return p < me ? [p, me] : null;
};

/** NAME VALUE (a command-line flag): skip the name and the blanks; a quoted value loses its
 *  quotes. */
const spacedValue: Locator = (buf, ms, me) => {
  let p = ms;
  while (p < me && (isAlnum(buf[p]) || buf[p] === 0x5f || buf[p] === 0x2d)) p++;
  if (buf[p] === 0x22 || buf[p] === 0x27) {
    // "--flag", "value" (a JSON array): the quote closing the flag, blanks, the comma
    p++;
    while (p < me && (buf[p] === 0x20 || buf[p] === 0x09)) p++;
    p++; // ,
  }
  while (p < me && (buf[p] === 0x20 || buf[p] === 0x09)) p++;
  if (buf[p] === 0x22 || buf[p] === 0x27) p++, me--;
  return p < me ? [p, me] : null;
};

/** … "VALUE" at the end of the match: between the last two quotes. */
const lastQuoted: Locator = (buf, ms, me) => {
  const q = buf[me - 1];
  const p = q === 0x22 || q === 0x27 ? buf.lastIndexOf(q, me - 2) : -1;
  return p >= ms && p + 1 < me - 1 ? [p + 1, me - 1] : null;
};

/** … SCHEME VALUE: the value is after the last blank. */
const afterLastBlank: Locator = (buf, ms, me) => {
  let p = me;
  while (p > ms && !isSpace(buf[p - 1])) p--;
  return p < me ? [p, me] : null;
};

/** … 536 22 1234: the digits (and single spaces between them) at the end. */
const trailingDigits: Locator = (buf, ms, me) => {
  let p = me;
  while (p > ms && (isDigit(buf[p - 1]) || buf[p - 1] === 0x20)) p--;
  while (p < me && !isDigit(buf[p])) p++;
  return p < me ? [p, me] : null;
};

// ---------------------------------------------------------------------------------------
// the built-in table (order breaks ties between equally long spans at the same offset)

// real newlines, JSON-escaped ones (once or twice) or spaces (echo $KEY), each with the '+' of
// a diff line after it (or the first base64 character: it is in the span either way)
const SEP = String.raw`(?:(?:\r?\n|\\{1,2}r\\{1,2}n|\\{1,2}n| )\+?)`;
/** ` = `, `: `, `":"`, `:=`, `=>` between a name and its value (quotes around the name). */
const ASSIGN = String.raw`["']?[ \t]*(?::=|=>|[:=])[ \t]*`;
/** A value: "double-quoted", 'single-quoted' or bare (groups 1, 2, 3). */
// (A bare value stops at '=' except for base64 padding at its end, so `a=b=c=…` is a chain of
// short candidates, not one that grows for as long as the input does.)
const VALUE = String.raw`(?:"([^"\s]{4,})"|'([^'\s]{4,})'|([^\s"'\x60,;(){}<>\[\]|&=]{4,}={0,2}))`;
const VALUE_GROUPS = [1, 2, 3] as const;
const UUID = String.raw`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`;

type Def = Omit<Detector, 'source' | 'display' | 'group'> & { display?: string; group?: BuiltinGroup };

/** Suffixes a password name may have: DB_PASSWORD_HASH, password-plain … */
const PASSWORD_SUFFIX = String.raw`(?:[_-](?:hash|value|str|string|plain|plaintext|raw|b64|base64|enc|encrypted))?`;
/** … and a key name: SECRET_KEY_BASE, api_key_value … */
const KEY_SUFFIX = String.raw`(?:[_-](?:key|base|value|str|string|b64|base64|hex|raw|plain|text|data)){0,2}`;

/** A generic_secret entry: `(?i)(?:KEYWORDS) SUFFIX = VALUE`, the value redacted. (One
 *  entry per keyword family, each starting with a literal, scans faster alone but costs more
 *  in all: more prefilter members and scans; measured on the corpus.) */
const assignment = (keywords: string, suffix: string, validate: Validator): Def => ({
  name: 'generic_secret',
  regex: String.raw`(?i)(?:${keywords})${suffix}${ASSIGN}${VALUE}`,
  secretGroup: VALUE_GROUPS,
  locate: assignmentValue,
  validate,
});

const DEFS: readonly Def[] = [
  // --- key material (long spans first: they win ties) -------------------------------------
  {
    name: 'gcp_service_account',
    // the private key of a service-account JSON key file (newlines JSON-escaped)
    // (also inside another JSON string: \"private_key\":\"-----BEGIN…\\n…\")
    regex: String.raw`\\?"private_key\\?"[ \t]*:[ \t]*\\?"(-----BEGIN (?:RSA )?PRIVATE KEY-----(?:\\{1,2}n|[A-Za-z0-9+/=])+-----END (?:RSA )?PRIVATE KEY-----(?:\\{1,2}n)?)\\?"`,
    secretGroup: 1,
    locate: pemInJson,
  },
  {
    name: 'private_key',
    // The whole PEM block: header, base64 body (and armor headers such as Proc-Type), footer.
    regex:
      String.raw`-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----` +
      // (a body line does not start with '+': SEP takes it, so that a diff's "+-----END" still
      // ends the block)
      String.raw`(?:${SEP}+(?:[A-Za-z][A-Za-z-]*: [^\r\n\\]*|[A-Za-z0-9/=][A-Za-z0-9+/=]*))*` +
      String.raw`(?:${SEP}+-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----)?`,
    validate: validPrivateKey,
  },
  // --- cloud providers ---------------------------------------------------------------------
  {
    name: 'aws_access_key_id',
    regex: String.raw`(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}`,
    validate: validAwsKeyId,
  },
  {
    name: 'aws_secret_access_key',
    // After its name (a bare 40-character base64 string is anything at all) …
    regex: String.raw`(?i)(?:aws[_-]?secret[_-]?(?:access[_-]?)?key|secret[_-]?access[_-]?key)["']?(?:[ \t]*[:=][ \t]*|[ \t]+)["']?([A-Za-z0-9/+]{40})`,
    secretGroup: 1,
    locate: lastN(40),
    validate: validAwsSecret,
  },
  {
    name: 'aws_secret_access_key',
    // … or right after its key id (credentials CSV, `aws configure list`, key pairs in a line)
    regex: String.raw`(?:AKIA|ASIA)[A-Z0-9]{16}["']?(?:[ \t]*[,;:|=\t][ \t]*|[ \t]+)["']?([A-Za-z0-9/+]{40})`,
    secretGroup: 1,
    locate: lastN(40),
    validate: validAwsSecret,
  },
  { name: 'google_api_key', regex: String.raw`AIza[0-9A-Za-z_-]{35}`, validate: token({ prefix: 4, dash: true }) },
  {
    name: 'azure_connection_string',
    // Service Bus, Event Hubs, IoT Hub, Relay: …;SharedAccessKey=<base64 of 32 bytes>
    regex: String.raw`SharedAccessKey=([A-Za-z0-9+/]{42,43}=)`,
    secretGroup: 1,
    locate: after('SharedAccessKey='),
    validate: (buf, s, e) => !isWordByte(buf[e]) && buf[e] !== 0x2b && buf[e] !== 0x2f && !looksLikePlaceholder(ascii(buf, s, e)) && shannonEntropy(ascii(buf, s, e)) >= 4,
  },
  {
    name: 'azure_storage_key',
    // AccountKey=… (alone or in a DefaultEndpointsProtocol=… connection string), account_key:,
    // az … --account-key …
    regex: String.raw`(?i:account[_-]?key)["']?(?:[ \t]*[=:][ \t]*|[ \t]+)["']?([A-Za-z0-9+/]{86}==)`,
    secretGroup: 1,
    locate: lastN(88),
    validate: token({ prefix: 0, entropy: 4 }),
  },
  { name: 'digitalocean_token', regex: String.raw`do[opr]_v1_[a-f0-9]{64}`, validate: token({ prefix: 6, entropy: 3 }) },
  {
    name: 'heroku_api_key',
    // new format …
    regex: String.raw`HRKU-[A-Za-z0-9_-]{20,}`,
    validate: token({ prefix: 5, dash: true }),
  },
  {
    name: 'heroku_api_key',
    // … and the legacy UUID, only after a heroku key name (a bare UUID is an id)
    regex: String.raw`(?i:heroku)[A-Za-z0-9_.-]*(?i:api[_-]?key|token|auth[_-]?token|password|key)["']?[ \t]*[:=][ \t]*["']?(${UUID})`,
    secretGroup: 1,
    locate: lastN(36),
    validate: (buf, s, e) => wordBounded(buf, s, e) && !looksLikePlaceholder(ascii(buf, s, e)),
  },
  {
    name: 'heroku_api_key',
    // … and in the .netrc the Heroku CLI writes (machine api.heroku.com / login / password)
    regex: String.raw`(?i:heroku\.com)[^\r\n]*\r?\n(?:[^\r\n]*\r?\n)?[ \t]*password[ \t]+(${UUID})`,
    secretGroup: 1,
    locate: lastN(36),
    validate: (buf, s, e) => wordBounded(buf, s, e) && !looksLikePlaceholder(ascii(buf, s, e)),
  },
  { name: 'databricks_token', regex: String.raw`dapi[0-9a-f]{32}(?:-[0-9]{1,2})?`, validate: token({ prefix: 4, entropy: 2.8, dash: true }) },
  // --- source hosting, registries ------------------------------------------------------------
  { name: 'github_pat_classic', regex: String.raw`ghp_[A-Za-z0-9]{36}`, validate: checksummed },
  { name: 'github_oauth', regex: String.raw`gho_[A-Za-z0-9]{36}`, validate: checksummed },
  { name: 'github_app_token', regex: String.raw`gh[su]_[A-Za-z0-9]{36}`, validate: checksummed },
  { name: 'github_refresh_token', regex: String.raw`ghr_[A-Za-z0-9]{36}`, validate: checksummed },
  {
    name: 'github_pat_fine_grained',
    regex: String.raw`github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}`,
    validate: token({ prefix: 11, entropy: 4 }),
  },
  {
    name: 'gitlab_token',
    // personal/deploy/runner/pipeline-trigger/CI-build/feed/… tokens, incl. the routable
    // format's .01.xxxxxxxxx suffix; legacy runner registration tokens
    regex:
      String.raw`(?:gl(?:pat|dt|rt|ptt|cbt|imt|agent|oas|soat|ffct|ft|fdt)-[0-9A-Za-z_-]{20,}(?:\.[0-9a-z]{2}\.[0-9a-z]{7,9})?` +
      String.raw`|GR1348941[0-9A-Za-z_-]{20})`,
    validate: (buf, s, e) => token({ prefix: ascii(buf, s, s + 9) === 'GR1348941' ? 9 : ascii(buf, s, e).indexOf('-') + 1, dash: true })(buf, s, e, s, e),
  },
  { name: 'npm_token', regex: String.raw`npm_[A-Za-z0-9]{36}`, validate: checksummed },
  {
    name: 'pypi_token',
    // a macaroon for pypi.org or test.pypi.org (base64 of its fixed header)
    regex: String.raw`pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,}`,
    validate: token({ prefix: 19, entropy: 4, dash: true }),
  },
  { name: 'dockerhub_token', regex: String.raw`dckr_(?:pat|oat)_[A-Za-z0-9_-]{24,}`, validate: token({ prefix: 9, dash: true }) },
  {
    name: 'huggingface_token',
    regex: String.raw`(?:hf_|api_org_)[A-Za-z0-9]{34}`,
    validate: token({ prefix: 3, entropy: 3.5, body: (b) => /[a-z]/.test(b) && /[A-Z]/.test(b) }),
  },
  // --- chat, mail, payments -------------------------------------------------------------------
  { name: 'slack_bot_token', regex: String.raw`xoxb-[0-9]{6,16}-[A-Za-z0-9-]{16,}`, validate: token({ prefix: 5, dash: true }) },
  {
    name: 'slack_user_token',
    // user (xoxp), legacy/workspace (xoxs, xoxa, xoxo), refresh (xoxr, xoxe), rotating (xoxe.xoxp)
    regex: String.raw`xox(?:[pasor]|e(?:\.xox[pb])?)-[0-9]{1,16}-[A-Za-z0-9-]{16,}`,
    validate: token({ prefix: 5, dash: true }),
  },
  { name: 'slack_app_token', regex: String.raw`xapp-[0-9]-[A-Z0-9]{8,16}-[0-9]{8,16}-[A-Za-z0-9]{32,}`, validate: token({ prefix: 5, dash: true }) },
  {
    name: 'slack_webhook',
    regex: String.raw`https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{20,}`,
    validate: (buf, s, e) => !isTokenByte(buf[e]) && !looksLikePlaceholder(ascii(buf, s + 29, e)),
  },
  {
    name: 'stripe_key',
    regex: String.raw`[rs]k_(?:live|test)_[A-Za-z0-9]{20,}`,
    validate: token({ prefix: 8 }),
  },
  {
    name: 'square_token',
    regex: String.raw`(?:EAAA[A-Za-z0-9_-]{60}|sq0atp-[A-Za-z0-9_-]{22}|sq0csp-[A-Za-z0-9_-]{43})`,
    validate: (buf, s, e) => token({ prefix: buf[s] === 0x45 ? 4 : 7, dash: true })(buf, s, e, s, e),
  },
  { name: 'shopify_token', regex: String.raw`shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}`, validate: token({ prefix: 6, entropy: 2.8 }) },
  { name: 'sendgrid_api_key', regex: String.raw`SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}`, validate: token({ prefix: 3, dash: true }) },
  {
    name: 'mailgun_api_key',
    // the classic private key (its own prefix) …
    regex: String.raw`key-[0-9a-f]{32}`,
    validate: token({ prefix: 4, entropy: 2.8, dash: true }),
  },
  {
    name: 'mailgun_api_key',
    // … and the current format, only near the word mailgun (elsewhere it is just hex)
    regex: String.raw`(?i:mailgun)[^\r\n]{0,60}?([0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8})`,
    secretGroup: 1,
    locate: lastN(50),
    validate: (buf, s, e) => tokenBounded(buf, s, e) && !looksLikePlaceholder(ascii(buf, s, e)),
  },
  {
    name: 'twilio_api_key',
    // SK + 32 hex is any hex string with an S and a K in front: only near the word twilio
    regex: String.raw`(?i:twilio)[^\r\n]{0,60}?(SK[0-9a-fA-F]{32})`,
    secretGroup: 1,
    locate: lastN(34),
    validate: validKeywordKey,
  },
  {
    name: 'twilio_api_key',
    // … or as the "sid" of a Twilio API response (every Twilio SID is 2 letters + 32 hex; SK:
    // an API key) …
    regex: String.raw`"sid"[ \t]*:[ \t]*"(SK[0-9a-fA-F]{32})"`,
    secretGroup: 1,
    locate: (_buf, _ms, me) => [me - 35, me - 1],
    validate: validKeywordKey,
  },
  {
    name: 'twilio_api_key',
    // … or as the user name of a basic-auth pair whose password is a $TWILIO_… variable
    // (curl -u SK…:$TWILIO_API_SECRET). (Not "the word anywhere after it on the line": a stream
    // would have to hold every line with an SK-hex run in it.)
    regex: String.raw`(SK[0-9a-fA-F]{32}):["']{0,2}\$\{?(?i:twilio)`,
    secretGroup: 1,
    locate: (_buf, ms) => [ms, ms + 34],
    validate: validKeywordKey,
  },
  // --- AI providers, Daytona --------------------------------------------------------------------
  { name: 'anthropic_api_key', regex: String.raw`sk-ant-[a-z]{2,10}[0-9]{2}-[A-Za-z0-9_-]{32,}`, validate: token({ prefix: 13, dash: true }) },
  { name: 'openai_api_key', regex: String.raw`sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}`, validate: validOpenAi },
  { name: 'daytona_api_key', regex: String.raw`dtn_[A-Za-z0-9]{64}`, validate: token({ prefix: 4 }) },
  // --- generic shapes ---------------------------------------------------------------------------
  { name: 'jwt', regex: String.raw`eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`, validate: validJwt },
  {
    name: 'database_url',
    // the password in scheme://user:password@host for database and queue URLs
    regex:
      String.raw`(?i:postgres(?:ql)?|postgis|mysql2?|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|oracle|cockroachdb|clickhouse|couchbase|couchdb|cassandra|neo4j(?:\+s)?|nats|memcached)` +
      String.raw`(?:\+[A-Za-z0-9]+)?://[^\s:/?#@'"<>]*:([^\s/?#@'"<>]+)@`,
    secretGroup: 1,
    locate: urlPassword,
    validate: validUrlPassword,
  },
  {
    name: 'basic_auth_url',
    // the password in any other scheme://user:password@host (database_url is listed first and
    // wins ties)
    regex: String.raw`://[^\s:/?#@'"<>]*:([^\s/?#@'"<>]+)@`,
    secretGroup: 1,
    locate: urlPassword,
    validate: validUrlPassword,
  },
  // generic_secret: NAME=VALUE assignments, the value redacted
  assignment('passw(?:or)?d|passphrase|pass|pwd', PASSWORD_SUFFIX, validPasswordValue),
  assignment(
    'secret|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|(?:auth|access|refresh|bearer|session|api|bot|app)[_-]?token|token|private[_-]?key|signing[_-]?key|encryption[_-]?key|master[_-]?key',
    KEY_SUFFIX,
    validTokenValue,
  ),
  {
    name: 'generic_secret',
    // a literal default for a secret in code: process.env.JWT_SECRET ?? '…', os.getenv("API_TOKEN") or "…",
    // os.getenv("DB_PASSWORD", "…"), ENV.fetch("SECRET_KEY_BASE", "…")
    regex:
      String.raw`(?i)(?:secret|token|passw(?:or)?d|api[_-]?key|private[_-]?key)[A-Za-z0-9_]*(?:["'][ \t]*\)?|\]|\))?[ \t]*(?:\?\?|\|\||or)[ \t]*` +
      String.raw`(?:"([^"\s]{4,})"|'([^'\s]{4,})')`,
    secretGroup: [1, 2],
    locate: lastQuoted,
    validate: (buf, s, e, ms) => keywordStart(buf, ms) && plausiblePassword(ascii(buf, s, e)),
  },
  {
    name: 'generic_secret',
    // … and the second argument of an environment lookup: getenv("DB_PASSWORD", "…")
    regex:
      String.raw`(?i)(?:getenv|environ\.get|env\.get|env\.fetch)\([ \t]*["'][A-Za-z0-9_]*(?:secret|token|passw(?:or)?d|api_?key|private_?key)[A-Za-z0-9_]*["'][ \t]*,[ \t]*` +
      String.raw`(?:"([^"\s]{4,})"|'([^'\s]{4,})')`,
    secretGroup: [1, 2],
    locate: lastQuoted,
    validate: (buf, s, e) => plausiblePassword(ascii(buf, s, e)),
  },
  {
    name: 'generic_secret',
    // command-line flags with the value after a space: --password X, --requirepass "X"
    regex: String.raw`(?i)--(?:password|passwd|pass|requirepass|token|secret|api[_-]?key|auth[_-]?token|access[_-]?token|client[_-]?secret)(?:[ \t]+|["'][ \t]*,[ \t]*)(?:"([^"\s]{4,})"|'([^'\s]{4,})'|([^\s"'\x60,;(){}<>\[\]|&=-][^\s"'\x60,;(){}<>\[\]|&=]{3,}))`,
    secretGroup: VALUE_GROUPS,
    locate: spacedValue,
    validate: (buf, s, e, ms) => (/^--pass|^--requirepass/i.test(ascii(buf, ms, ms + 13)) ? plausiblePassword(ascii(buf, s, e)) : plausibleToken(ascii(buf, s, e))),
  },
  {
    name: 'generic_secret',
    // .netrc: machine H login U password P (on one line or one per line)
    // ((?m:^), not \n: a stream would hold every line's newline for the next line's first bytes)
    regex: String.raw`(?i)(?:login[ \t]+[^\s]+[ \t]+|(?m:^)[ \t]*)password[ \t]+([^\s"']{4,})`,
    secretGroup: 1,
    locate: afterLastBlank,
    validate: (buf, s, e) => plausiblePassword(ascii(buf, s, e)),
  },
  {
    name: 'generic_secret',
    // Authorization: Bearer …, Basic …, Token …, Bot … (HTTP headers, curl -H)
    regex: String.raw`(?i)authorization["']?[ \t]*[:=][ \t]*["']?(?:bearer|basic|token|bot)[ \t]+([A-Za-z0-9._~+/=-]{8,})`,
    secretGroup: 1,
    locate: afterLastBlank,
    validate: validAuthHeader,
  },
  // --- PII -------------------------------------------------------------------------------------
  {
    name: 'credit_card',
    group: 'credit_card',
    regex: String.raw`[2-6][0-9]{3}(?:[ -]?[0-9]){9,15}\b`,
    validate: validCard,
  },
  {
    name: 'iban',
    group: 'credit_card',
    regex: String.raw`[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?`,
    locate: ibanSpan,
    validate: validIban,
  },
  { name: 'us_ssn', group: 'ssn', regex: String.raw`[0-8][0-9]{2}-[0-9]{2}-[0-9]{4}\b`, validate: validSsn },
  {
    name: 'us_ssn',
    group: 'ssn',
    // undashed (or spaced) only right after the word SSN
    regex: String.raw`(?i:ssn|social security(?: number| no\.?)?)["']?[ \t]*[:=#]?[ \t]*["']?([0-8][0-9]{2}[ ]?[0-9]{2}[ ]?[0-9]{4})`,
    secretGroup: 1,
    locate: trailingDigits,
    validate: validSsnKeyword,
  },
  {
    name: 'phone',
    group: 'phone',
    regex:
      String.raw`\+1 ?[2-9][0-9]{2} ?[2-9][0-9]{2} ?[0-9]{4}\b` +
      String.raw`|(?:\+?1[-. ])?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[-.])[2-9][0-9]{2}[-.][0-9]{4}\b` +
      String.raw`|\+[2-9][0-9]{0,2}(?:[ .-]?[0-9]){6,12}\b`,
    validate: validPhone,
  },
  {
    name: 'email',
    group: 'email',
    regex: String.raw`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`,
    validate: validEmail,
  },
];

const BUILTINS: readonly Detector[] = DEFS.map((d) => ({
  ...d,
  display: d.display ?? d.name.toUpperCase(),
  group: d.group ?? 'api_keys',
  source: 'builtin' as const,
}));

/** Every built-in detector (table entry), in priority order. */
export const builtinDetectors: readonly Detector[] = BUILTINS;

/** The names of the built-in detectors, each once, in table order. */
export const BUILTIN_DETECTOR_NAMES: readonly string[] = [...new Set(BUILTINS.map((d) => d.name))];

export type PatternToggles = Partial<Record<BuiltinGroup, boolean>>;

/** The built-ins enabled by `dlp.patterns`, with agentsh's rule: when no toggle is on, all
 *  of them are (the config loader applies it too; applying it twice changes nothing).
 *  `disabled` names detectors to leave out. */
export function enabledBuiltins(toggles: PatternToggles | undefined, disabled: readonly string[] = []): Detector[] {
  const on = BUILTIN_GROUPS.filter((g) => toggles?.[g] === true);
  const groups = new Set<BuiltinGroup>(on.length ? on : BUILTIN_GROUPS);
  const off = new Set(disabled);
  return BUILTINS.filter((d) => d.group !== undefined && groups.has(d.group) && !off.has(d.name));
}

export interface CustomPatternConfig {
  name: string;
  display?: string;
  regex: string;
}

/** `dlp.custom_patterns` as detectors (display defaults to name, as agentsh). Compilation
 *  errors are reported by the Redactor, naming the pattern. */
export function customDetectors(patterns: readonly CustomPatternConfig[] | undefined): Detector[] {
  return (patterns ?? []).map((p) => ({ name: p.name, display: p.display || p.name, regex: p.regex, source: 'custom' as const }));
}
