// DLP detectors: the built-ins behind the config's `dlp.patterns` toggles, and the
// operator's `dlp.custom_patterns`.
//
// A detector is an RE2 regex (Go syntax, no flags: use inline (?i) etc.) plus an optional
// validator that vetoes a regex match (checksums, valid ranges, placeholders, token
// boundaries). Regexes are matched on bytes (UTF-8 mode over Buffers), so every pattern here
// is ASCII-only and binary data can never be mangled.
//
// Built-in regexes deliberately do not start with \b: a leading literal ("AKIA", "ghp_")
// lets RE2 skip through text with memchr (tens of GB/s), a leading \b disables that. Token
// boundaries are checked by the validators instead, which may look at one byte on each side
// of the match (buf[start - 1] and buf[end]) and no further: that is what the streaming
// redactor keeps around a match.
//
// Precision over agentsh's built-ins (which match any 9-digit number as an SSN and any
// 10-digit number as a phone): cards must be Luhn-valid with a known issuer prefix and
// length, SSNs must be dashed and in valid ranges, phones need separators or a + prefix,
// documented example values (AKIAIOSFODNN7EXAMPLE, 123-45-6789, user@example.com) are not
// secrets.

/** The built-in toggles of `dlp.patterns` in agentsh's config. */
export const BUILTIN_GROUPS = ['email', 'phone', 'credit_card', 'ssn', 'api_keys'] as const;
export type BuiltinGroup = (typeof BUILTIN_GROUPS)[number];

/** Vetoes a match: `start`/`end` are byte offsets of the span to be redacted in `buf`;
 *  only buf[start - 1] and buf[end] (when they exist) may be read outside it. */
export type Validator = (buf: Buffer, start: number, end: number) => boolean;

export interface Detector {
  /** Stable id used in findings and audit events (custom: the config's `name`). */
  readonly name: string;
  /** Label in the output: `[REDACTED:${display}]`. */
  readonly display: string;
  /** RE2 regex, Go syntax, compiled without flags. */
  readonly regex: string;
  readonly validate?: Validator;
  /** Redact only this capture group (e.g. the value of `KEY=value`), not the whole match. */
  readonly secretGroup?: number;
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
const isTokenByte = (b: number | undefined): boolean => isWordByte(b) || b === 0x2d; // \w and '-'

/** No word byte right before the span and none right after it. */
const wordBounded = (buf: Buffer, s: number, e: number): boolean => !isWordByte(buf[s - 1]) && !isWordByte(buf[e]);
/** As wordBounded, with '-' counting as part of a token (keys whose alphabet has '-'). */
const tokenBounded = (buf: Buffer, s: number, e: number): boolean => !isTokenByte(buf[s - 1]) && !isTokenByte(buf[e]);

const ascii = (buf: Buffer, s: number, e: number): string => buf.toString('latin1', s, e);

/** Obvious placeholders in a token body: a long run of one character, or filler words. */
function looksLikePlaceholder(body: string): boolean {
  if (/(.)\1{7,}/.test(body)) return true; // xxxxxxxx, 00000000, ********
  return /example|placeholder|your[_-]?(api[_-]?)?(key|token|secret)|redacted|dummy|sample/i.test(body);
}

/** Luhn checksum over a string of ASCII digits. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let dbl = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 === 0;
}

// ---------------------------------------------------------------------------------------
// email

const EXAMPLE_DOMAIN = /(^|\.)(example\.(com|org|net)|example|test|invalid|localhost|localdomain|local|internal)$/i;
const FILE_TLD = /^(png|jpe?g|gif|svg|webp|ico|bmp|tiff?)$/i; // icon@2x.png is a file name

function validEmail(buf: Buffer, s: number, e: number): boolean {
  const text = ascii(buf, s, e);
  const at = text.lastIndexOf('@');
  const local = text.slice(0, at);
  const domain = text.slice(at + 1);
  if (EXAMPLE_DOMAIN.test(domain)) return false;
  if (FILE_TLD.test(domain.slice(domain.lastIndexOf('.') + 1))) return false;
  if (/^\.|\.\.|\.$/.test(local)) return false;
  // git@github.com:org/repo — an SSH remote, not a person
  if (local === 'git' && buf[e] === 0x3a) return false;
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
  return true;
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
  if (/^(\d)\1+$/.test(digits)) return false;
  return cardLengthOk(digits) && luhnValid(digits);
}

// ---------------------------------------------------------------------------------------
// US SSN: AAA-GG-SSSS; area not 000, 666 or 9xx; group not 00; serial not 0000

const SSN_PLACEHOLDERS = new Set(['123456789', '078051120', '219099999', '987654321']);

function validSsn(buf: Buffer, s: number, e: number): boolean {
  const before = buf[s - 1];
  if (isWordByte(before) || before === 0x2d || before === 0x2e) return false;
  if (isWordByte(buf[e])) return false;
  const d = ascii(buf, s, e).replace(/\D/g, '');
  const area = Number(d.slice(0, 3));
  const group = Number(d.slice(3, 5));
  const serial = Number(d.slice(5));
  if (area === 0 || area === 666 || area >= 900 || group === 0 || serial === 0) return false;
  if (SSN_PLACEHOLDERS.has(d) || /^(\d)\1+$/.test(d)) return false;
  return true;
}

// ---------------------------------------------------------------------------------------
// API keys and credentials

function validAwsKeyId(buf: Buffer, s: number, e: number): boolean {
  return wordBounded(buf, s, e) && !looksLikePlaceholder(ascii(buf, s + 4, e));
}

function validAwsSecret(buf: Buffer, s: number, e: number): boolean {
  const b = buf[e];
  if (isWordByte(b) || b === 0x2f || b === 0x2b || b === 0x3d) return false; // longer than 40: not this
  return !looksLikePlaceholder(ascii(buf, s, e));
}

const tokenValidator = (prefixLen: number) => (buf: Buffer, s: number, e: number): boolean =>
  tokenBounded(buf, s, e) && !looksLikePlaceholder(ascii(buf, s + prefixLen, e));

function validOpenAi(buf: Buffer, s: number, e: number): boolean {
  if (!tokenBounded(buf, s, e)) return false;
  const text = ascii(buf, s, e);
  if (text.startsWith('sk-ant-')) return false; // Anthropic's own detector
  const body = text.replace(/^sk-(proj-|svcacct-|admin-)?/, '');
  if (body.length < 32 || !/[0-9]/.test(body) || !/[a-z]/.test(body) || !/[A-Z]/.test(body)) return false;
  return !looksLikePlaceholder(body);
}

function validJwt(buf: Buffer, s: number, e: number): boolean {
  return !isTokenByte(buf[s - 1]);
}

function validSlack(buf: Buffer, s: number, e: number): boolean {
  return tokenBounded(buf, s, e) && !looksLikePlaceholder(ascii(buf, s + 5, e));
}

// ---------------------------------------------------------------------------------------
// the built-in table (order breaks ties between equally long matches at the same offset)

const SEP = String.raw`(?:\r?\n|\\r\\n|\\n| )`; // real newlines, JSON-escaped ones, or spaces (echo $KEY)

const BUILTINS: readonly Detector[] = [
  {
    name: 'private_key',
    display: 'PRIVATE_KEY',
    group: 'api_keys',
    source: 'builtin',
    // The whole PEM block: header, base64 body (and armor headers such as Proc-Type), footer.
    regex:
      String.raw`-----BEGIN[A-Z0-9 ]{0,64}PRIVATE KEY(?: BLOCK)?-----` +
      String.raw`(?:${SEP}+(?:[A-Za-z][A-Za-z-]*: [^\r\n\\]*|[A-Za-z0-9+/=]{1,128}))*` +
      String.raw`(?:${SEP}+-----END[A-Z0-9 ]{0,64}PRIVATE KEY(?: BLOCK)?-----)?`,
  },
  {
    name: 'aws_access_key',
    display: 'AWS_KEY',
    group: 'api_keys',
    source: 'builtin',
    regex: String.raw`(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}`,
    validate: validAwsKeyId,
  },
  {
    name: 'aws_secret_key',
    display: 'AWS_SECRET_KEY',
    group: 'api_keys',
    source: 'builtin',
    // Only with its name in front (a bare 40-char base64 string is anything at all).
    regex: String.raw`(?i)(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)["']?\s{0,4}[:=]\s{0,4}["']?([A-Za-z0-9/+]{40})`,
    secretGroup: 1,
    validate: validAwsSecret,
  },
  {
    name: 'github_token',
    display: 'GITHUB_TOKEN',
    group: 'api_keys',
    source: 'builtin',
    regex: String.raw`g(?:h[pousr]_[A-Za-z0-9]{36}|ithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})`,
    validate: tokenValidator(4),
  },
  {
    name: 'slack_token',
    display: 'SLACK_TOKEN',
    group: 'api_keys',
    source: 'builtin',
    regex: String.raw`xox[abposre]-[0-9]{1,16}-[A-Za-z0-9-]{8,}`,
    validate: validSlack,
  },
  {
    name: 'slack_webhook',
    display: 'SLACK_WEBHOOK',
    group: 'api_keys',
    source: 'builtin',
    regex: String.raw`https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{20,}`,
  },
  {
    name: 'anthropic_key',
    display: 'ANTHROPIC_KEY',
    group: 'api_keys',
    source: 'builtin',
    regex: String.raw`sk-ant-[a-z]{2,10}[0-9]{2}-[A-Za-z0-9_-]{32,}`,
    validate: tokenValidator(7),
  },
  {
    name: 'openai_key',
    display: 'OPENAI_KEY',
    group: 'api_keys',
    source: 'builtin',
    regex: String.raw`sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}`,
    validate: validOpenAi,
  },
  {
    name: 'google_api_key',
    display: 'GOOGLE_KEY',
    group: 'api_keys',
    source: 'builtin',
    regex: String.raw`AIza[0-9A-Za-z_-]{35}`,
    validate: tokenValidator(4),
  },
  {
    name: 'stripe_key',
    display: 'STRIPE_KEY',
    group: 'api_keys',
    source: 'builtin',
    regex: String.raw`[rs]k_live_[A-Za-z0-9]{20,}`,
    validate: tokenValidator(8),
  },
  {
    name: 'jwt',
    display: 'JWT',
    group: 'api_keys',
    source: 'builtin',
    regex: String.raw`eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`,
    validate: validJwt,
  },
  {
    name: 'credit_card',
    display: 'CREDIT_CARD',
    group: 'credit_card',
    source: 'builtin',
    regex: String.raw`[2-6][0-9]{3}(?:[ -]?[0-9]){9,15}\b`,
    validate: validCard,
  },
  {
    name: 'ssn',
    display: 'SSN',
    group: 'ssn',
    source: 'builtin',
    regex: String.raw`[0-8][0-9]{2}-[0-9]{2}-[0-9]{4}\b`,
    validate: validSsn,
  },
  {
    name: 'phone',
    display: 'PHONE',
    group: 'phone',
    source: 'builtin',
    regex:
      String.raw`\+1 ?[2-9][0-9]{2} ?[2-9][0-9]{2} ?[0-9]{4}\b` +
      String.raw`|(?:\+?1[-. ])?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[-.])[2-9][0-9]{2}[-.][0-9]{4}\b` +
      String.raw`|\+[2-9][0-9]{0,2}(?:[ .-]?[0-9]){6,12}\b`,
    validate: validPhone,
  },
  {
    name: 'email',
    display: 'EMAIL',
    group: 'email',
    source: 'builtin',
    regex: String.raw`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`,
    validate: validEmail,
  },
];

/** Every built-in detector, in priority order. */
export const builtinDetectors: readonly Detector[] = BUILTINS;

export type PatternToggles = Partial<Record<BuiltinGroup, boolean>>;

/** The built-ins enabled by `dlp.patterns`, with agentsh's rule: when no toggle is on, all
 *  of them are (the config loader applies it too; applying it twice changes nothing). */
export function enabledBuiltins(toggles: PatternToggles | undefined): Detector[] {
  const on = BUILTIN_GROUPS.filter((g) => toggles?.[g] === true);
  const groups = new Set<BuiltinGroup>(on.length ? on : BUILTIN_GROUPS);
  return BUILTINS.filter((d) => d.group !== undefined && groups.has(d.group));
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
