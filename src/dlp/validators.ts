// Small, pure checks the DLP detectors use to veto regex matches: checksums (Luhn, IBAN
// mod-97, the CRC32 of GitHub and npm tokens), valid ranges (US SSNs), Shannon entropy,
// character classes, and stop-lists of placeholders and documented example keys.
//
// Everything here works on plain strings (the span as latin1/ASCII: every built-in pattern is
// ASCII) and is O(length of the span).

// ---------------------------------------------------------------------------------------
// checksums

/** Luhn checksum over a string of ASCII digits (payment cards). */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let dbl = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return digits.length > 0 && sum % 10 === 0;
}

let CRC_TABLE: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3, the zlib/PNG one) of the bytes of a latin1 string, unsigned. */
export function crc32(s: string): number {
  let table = CRC_TABLE;
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    CRC_TABLE = table;
  }
  let crc = 0xffffffff;
  for (let i = 0; i < s.length; i++) crc = (crc >>> 8) ^ table[(crc ^ s.charCodeAt(i)) & 0xff]!;
  return (crc ^ 0xffffffff) >>> 0;
}

export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `n` in base62 (digits, then A–Z, then a–z), left-padded with '0' to `width`. */
export function base62(n: number, width: number): string {
  let out = '';
  let v = Math.floor(n);
  while (v > 0) {
    out = BASE62[v % 62]! + out;
    v = Math.floor(v / 62);
  }
  return out.padStart(width, '0');
}

/**
 * GitHub's token format (April 2021: ghp_, gho_, ghu_, ghs_, ghr_) and npm's (npm_), which
 * copies it: PREFIX + 30 random base62 characters + 6 characters of checksum, where the
 * checksum is base62(CRC32(the 30 random characters)) — the prefix is NOT hashed — with the
 * alphabet 0-9A-Za-z, left-padded with '0' to 6 characters. `body` is the token without its
 * 4-character prefix (36 characters).
 */
export function githubChecksumValid(body: string): boolean {
  if (body.length !== 36) return false;
  return base62(crc32(body.slice(0, 30)), 6) === body.slice(30);
}

/** Builds a checksum-valid token from a prefix and 30 random characters (tests, samples). */
export function withGithubChecksum(prefix: string, random30: string): string {
  return prefix + random30 + base62(crc32(random30), 6);
}

/** IBAN lengths per country (SWIFT IBAN registry). */
export const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BI: 27, BR: 29, BY: 28,
  CH: 21, CR: 22, CY: 28, CZ: 24, DE: 22, DJ: 27, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18,
  FK: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27, GT: 28, HR: 21, HU: 28, IE: 22,
  IL: 23, IQ: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LC: 32, LI: 21, LT: 20, LU: 20,
  LV: 21, LY: 25, MC: 27, MD: 24, ME: 22, MK: 19, MN: 20, MR: 27, MT: 31, MU: 30, NI: 28, NL: 18,
  NO: 15, OM: 23, PK: 24, PL: 28, PS: 29, PT: 25, QA: 29, RO: 24, RS: 22, RU: 33, SA: 24, SC: 31,
  SD: 18, SE: 24, SI: 19, SK: 24, SM: 27, SO: 23, ST: 25, SV: 28, TL: 23, TN: 24, TR: 26, UA: 29,
  VA: 22, VG: 24, XK: 20, YE: 30,
};

/** ISO 13616 check: the country's length, then mod-97 of the rearranged number is 1. `iban`
 *  is compact (no spaces), upper case. */
export function ibanValid(iban: string): boolean {
  if (IBAN_LENGTHS[iban.slice(0, 2)] !== iban.length) return false;
  const s = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97;
    else return false;
  }
  return rem === 1;
}

const SSN_EXAMPLES = new Set(['123456789', '078051120', '219099999', '987654321']);

/** US SSN AAAGGSSSS (9 digits): area not 000, 666 or 9xx; group not 00; serial not 0000;
 *  not a famous example number (the Woolworth wallet card, 123-45-6789 …) or one digit
 *  repeated. */
export function ssnValid(d: string): boolean {
  if (!/^[0-9]{9}$/.test(d)) return false;
  const area = Number(d.slice(0, 3));
  const group = Number(d.slice(3, 5));
  const serial = Number(d.slice(5));
  if (area === 0 || area === 666 || area >= 900 || group === 0 || serial === 0) return false;
  return !SSN_EXAMPLES.has(d) && !/^(\d)\1+$/.test(d);
}

// ---------------------------------------------------------------------------------------
// entropy and shape

/** Shannon entropy of the characters of `s`, in bits per character. */
const COUNTS = new Uint32Array(256);
/** p·log2(p) for p = c/n, by n (≤ TERMS_MAX_N) then c: the same values, computed once (NaN:
 *  not yet). Summed in the same order, the entropy is the same number to the last bit. */
const TERMS: (Float64Array | undefined)[] = [];
const TERMS_MAX_N = 256;

export function shannonEntropy(s: string): number {
  const n = s.length;
  if (n === 0) return 0;
  const counts = COUNTS;
  for (let i = 0; i < n; i++) counts[s.charCodeAt(i) & 0xff]!++;
  let terms: Float64Array | undefined;
  if (n <= TERMS_MAX_N) terms = TERMS[n] ??= new Float64Array(n + 1).fill(NaN);
  let h = 0;
  for (let i = 0; i < n; i++) {
    const k = s.charCodeAt(i) & 0xff;
    const c = counts[k]!;
    if (c === 0) continue; // counted already
    let t = terms ? terms[c]! : NaN;
    if (t !== t) {
      const p = c / n;
      t = p * Math.log2(p);
      if (terms) terms[c] = t;
    }
    h -= t;
    counts[k] = 0;
  }
  return h;
}

/** How many of: lower-case letters, upper-case letters, digits, other characters. */
export function charClasses(s: string): number {
  let lower = 0;
  let upper = 0;
  let digit = 0;
  let other = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 97 && c <= 122) lower = 1;
    else if (c >= 65 && c <= 90) upper = 1;
    else if (c >= 48 && c <= 57) digit = 1;
    else other = 1;
  }
  return lower + upper + digit + other;
}

/** `s` is a short unit repeated (abcabcabc, AKIAAKIA…, 0101…): period ≤ 4. */
export function isPeriodic(s: string): boolean {
  if (s.length < 8) return false;
  for (let p = 1; p <= 4; p++) {
    let ok = true;
    for (let i = p; i < s.length && ok; i++) if (s.charCodeAt(i) !== s.charCodeAt(i - p)) ok = false;
    if (ok) return true;
  }
  return false;
}

/** A run of `n` or more of the same character. */
function hasRun(s: string, n: number): boolean {
  let run = 1;
  for (let i = 1; i < s.length; i++) {
    if (s.charCodeAt(i) === s.charCodeAt(i - 1)) {
      if (++run >= n) return true;
    } else run = 1;
  }
  return false;
}

/** A run of `n` characters each one more than the last (0123456, abcdefg). */
function hasAscendingRun(s: string, n: number): boolean {
  let run = 1;
  for (let i = 1; i < s.length; i++) {
    if (s.charCodeAt(i) === s.charCodeAt(i - 1) + 1) {
      if (++run >= n) return true;
    } else run = 1;
  }
  return false;
}

// Substring checks (String.includes) instead of one big regex: an alternation of many words
// costs irregexp a try per word at every position (~20 µs on an 800-character value).
const FILLERS = [
  'example', 'placeholder', 'redacted', 'dummy', 'sample', 'fake', 'insert', 'changeme', 'change_me', 'change-me', 'replaceme',
  'replace_me', 'replace-me', 'xxxx', '***', '${', '{{',
];
const SEQUENCES = ['0123456', '1234567', '2345678', '3456789', 'abcdefg', 'bcdefgh', 'cdefghi', 'defghij', 'hijklmn', 'qrstuvw', 'tuvwxyz'];
/** Two adjacent characters in each filler word, uncommon in keys: a body without any of them
 *  has none of the words (most bodies: the 17 substring searches are then skipped). */
const FILLER_PAIRS = new Uint8Array(1 << 16);
for (const [word, pair] of [
  ['example', 'xa'], ['placeholder', 'eh'], ['redacted', 'ac'], ['dummy', 'mm'], ['sample', 'mp'], ['fake', 'ak'], ['insert', 'ns'],
  ['changeme', 'ng'], ['change_me', 'ng'], ['change-me', 'ng'], ['replaceme', 'pl'], ['replace_me', 'pl'], ['replace-me', 'pl'],
  ['xxxx', 'xx'], ['***', '**'], ['${', '${'], ['{{', '{{'],
] as const) {
  if (!word.includes(pair) || !FILLERS.includes(word)) throw new Error(`FILLER_PAIRS: ${word}/${pair}`);
  FILLER_PAIRS[(pair.charCodeAt(0) << 8) | pair.charCodeAt(1)] = 1;
}
if (FILLERS.length !== 17) throw new Error('FILLER_PAIRS: a filler word without its pair');

/** Whether `l` has one of FILLER_PAIRS. */
function hasFillerPair(l: string): boolean {
  for (let i = 1; i < l.length; i++) {
    const a = l.charCodeAt(i - 1);
    const b = l.charCodeAt(i);
    if (a < 0x100 && b < 0x100 && FILLER_PAIRS[(a << 8) | b]) return true;
  }
  return false;
}
const YOUR_THING = /your[_-]?(?:own[_-]?)?(?:api[_-]?|access[_-]?|secret[_-]?|auth[_-]?)?(?:key|token|secret|password|pass)/;

/**
 * Obvious placeholders in a token body: a run of one character (6+), a periodic string, an
 * ascending sequence (1234567, abcdefg), filler words (example, your_token, dummy,
 * changeme, redacted, xxxx, ***), template syntax (${…}, {{…}}, <…>).
 */
export function looksLikePlaceholder(body: string): boolean {
  return placeholderShape(body, body.toLowerCase());
}

/** looksLikePlaceholder, with `body` in lower case already at hand (`l`). */
function placeholderShape(body: string, l: string): boolean {
  if (isPeriodic(body)) return true;
  // one pass for what the checks below need to know (when lower-casing kept every character
  // in its place, as it does for ASCII): a run of 6 (in `body`), an ascending run of 7, a
  // filler pair, a '<'
  let run6: boolean;
  let ascending7: boolean;
  let pair: boolean;
  if (l.length === body.length) {
    run6 = ascending7 = pair = false;
    let run = 1;
    let asc = 1;
    for (let i = 1; i < l.length; i++) {
      if (body.charCodeAt(i) === body.charCodeAt(i - 1)) {
        if (++run >= 6) run6 = true;
      } else run = 1;
      const a = l.charCodeAt(i - 1);
      const b = l.charCodeAt(i);
      if (b === a + 1) {
        if (++asc >= 7) ascending7 = true;
      } else asc = 1;
      if (!pair && a < 0x100 && b < 0x100 && FILLER_PAIRS[(a << 8) | b]) pair = true;
    }
  } else {
    run6 = hasRun(body, 6);
    ascending7 = hasAscendingRun(l, 7);
    pair = hasFillerPair(l);
  }
  if (run6) return true;
  if (pair) for (const w of FILLERS) if (l.includes(w)) return true;
  // every listed sequence is an ascending run of 7: look for them only where there is one
  if (ascending7) for (const w of SEQUENCES) if (l.includes(w)) return true;
  if (l.includes('your') && YOUR_THING.test(l)) return true;
  return l.includes('<') && /<[a-z_ -]+>/.test(l);
}

// ---------------------------------------------------------------------------------------
// stop-lists

/** Documented example credentials (vendor docs, RFCs, tutorials): never redacted. */
export const DOCUMENTED_EXAMPLES: ReadonlySet<string> = new Set([
  // AWS (IAM and CLI docs)
  'AKIAIOSFODNN7EXAMPLE',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'AKIAI44QH8DHBEXAMPLE',
  'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY',
  // Stripe's API reference test keys
  'sk_test_4eC39HqLyjWDarjtT1zdp7dc',
  'sk_test_BQokikJOvBiI2HlWgH4olfQ2',
  'rk_test_4eC39HqLyjWDarjtT1zdp7dc',
  // Slack's API docs
  'xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy',
  'xoxp-23984754863-2348975623103',
  // jwt.io's default token (HS256, "your-256-bit-secret")
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
  // GitHub's docs
  'gho_16C7e42F292c6912E7710c838347Ae178B4a',
  // Mailgun's docs
  'key-3ax6xnjp29jd6fds4gc373sgvjxteol0',
]);

/** Payment card numbers published as test numbers (Stripe, Adyen, Braintree, PayPal, the
 *  card schemes' docs): never redacted. */
export const TEST_CARDS: ReadonlySet<string> = new Set([
  '4111111111111111', '4242424242424242', '4012888888881881', '4000056655665556', '4000000000000002', '4000000000000077',
  '4000000000009995', '4000000000009987', '4000000000009979', '4000000000000069', '4000000000000127', '4000000000000119',
  '4000000000000341', '4000000000003220', '4000002500003155', '4000000000003063', '4000000760000002', '4444333322221111',
  '4917610000000000', '4988438843884305', '4462030000000000', '5555555555554444', '5105105105105100', '5200828282828210',
  '5500000000000004', '5454545454545454', '2223003122003222', '2223000048400011', '378282246310005', '371449635398431',
  '378734493671000', '6011111111111117', '6011000990139424', '6011000400000000', '3530111333300000', '3566002020360505',
  '30569309025904', '38520000023237', '36227206271667', '6200000000000005', '6250941006528599',
]);

/** IBANs from the SWIFT registry and bank documentation examples: never redacted. */
export const EXAMPLE_IBANS: ReadonlySet<string> = new Set([
  'DE89370400440532013000', 'GB82WEST12345698765432', 'GB29NWBK60161331926819', 'GB33BUKB20201555555555', 'FR1420041010050500013M02606',
  'FR7630006000011234567890189', 'NL91ABNA0417164300', 'NL02ABNA0123456789', 'CH9300762011623852957', 'CH5604835012345678009',
  'BE68539007547034', 'BE71096123456769', 'ES9121000418450200051332', 'IT60X0542811101000000123456', 'AT611904300234573201',
  'DK5000400440116243', 'FI2112345600000785', 'SE4550000000058398257466', 'NO9386011117947', 'PL61109010140000071219812874',
  'PT50000201231234567890154', 'IE29AIBK93115212345678', 'LU280019400644750000', 'CZ6508000000192000145399',
]);

/** Values of `password=` / `secret:` / `token=` assignments that are not secrets (compared
 *  in lower case, trailing digits ignored: `changeme123`, `password1`). */
const VALUE_STOP_WORDS = new Set([
  'password', 'passwd', 'pass', 'pwd', 'secret', 'secrets', 'token', 'apikey', 'api_key', 'key', 'changeme', 'change_me', 'changeit',
  'example', 'sample', 'dummy', 'test', 'testing', 'tests', 'fake', 'mock', 'foo', 'bar', 'baz', 'foobar', 'qwerty', 'letmein', 'admin', 'root', 'user', 'guest',
  'null', 'nil', 'none', 'true', 'false', 'yes', 'no', 'undefined', 'empty', 'blank', 'required', 'optional', 'string', 'str', 'int', 'number', 'boolean', 'bool',
  'hidden', 'masked', 'redacted', 'removed', 'omitted', 'secret_value', 'placeholder', 'default', 'value', 'todo', 'tbd', 'fixme', 'unset', 'notset', 'not_set',
  'mypassword', 'yourpassword', 'your_password', 'your-password', 'mysecret', 'yoursecret', 'your_secret', 'your-secret', 'mytoken', 'yourtoken', 'your_token',
  'your-token', 'your_api_key', 'your-api-key', 'yourapikey', 'myapikey', 'bearer', 'basic', 'oauth', 'jwt', 'env', 'environ', 'getenv', 'config', 'settings',
  'hunter2', 'password123', 'passw0rd', 'p@ssw0rd', 'p@ssword', 'secret123', 'abc123', 'welcome', 'welcome1', 'iloveyou', 'opensesame', 's3cr3t',
]);

/** Shapes of assignment values that reference a secret rather than contain one (the whole
 *  value; after the cheap tests in isReference). */
const REFERENCE_SHAPES = new RegExp(
  '^(?:' +
    [
      String.raw`[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+`, // dotted identifiers: self.password, config.db.secret, process.env.X
      String.raw`[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+`, // CONSTANT_NAME (an env var name)
      String.raw`[a-z]+(?:[-_][a-z]+)+`, // words-in-a-slug: not-a-real-secret, bert-base-uncased
      String.raw`[a-z]+(?:[A-Z][a-z]+)+|(?:[A-Z][a-z]+)+`, // camelCase / PascalCase identifiers
      String.raw`[\w.-]+\.(?:json|ya?ml|pem|key|crt|cer|der|p12|pfx|jks|txt|env|ini|conf|cfg|toml|properties|secret)`, // file names
      String.raw`\*+|[xX]+|\.+|-+|_+|#+|\?+`,
    ].join('|') +
    ')$',
);

function isReference(v: string): boolean {
  const c = v[0];
  if (c === '$' || c === '%' || c === '&' || c === '@' || c === '<') return true; // $VAR, ${VAR}, $(cmd), %VAR%, %(name)s, &anchor, @var, <token>
  if (v.startsWith('{{') || v.endsWith('}}') || (c === '{' && v.endsWith('}')) || (c === '[' && v.endsWith(']'))) return true; // templates
  if (c === '/' || v.startsWith('./') || v.startsWith('../') || v.startsWith('~/')) return true; // paths
  if (v.startsWith('--')) return true; // the next command-line flag
  if (v.includes('://')) return true; // URLs (the URL detectors handle credentials in them)
  return mayBeReferenceShape(v) && REFERENCE_SHAPES.test(v);
}

/** False when REFERENCE_SHAPES cannot match `v`: every shape but two needs a '.', '_' or '-',
 *  the identifiers are letters only, and the runs are of one of `*xX.-_#?`. (The regex, an
 *  alternation tried from the start, costs ~0.5 µs on a 40-character token.) */
function mayBeReferenceShape(v: string): boolean {
  const c0 = v.charCodeAt(0);
  if (c0 === 0x2a || c0 === 0x23 || c0 === 0x3f) return true; // * # ?
  let letters = true;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x2e || c === 0x5f || c === 0x2d) return true; // . _ -
    if (letters && !((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a))) letters = false;
  }
  return letters;
}

/** True when an assignment value is a placeholder, a reference or a stop word. */
export function isPlaceholderValue(v: string): boolean {
  const lower = v.toLowerCase();
  if (VALUE_STOP_WORDS.has(lower)) return true;
  const last = lower.charCodeAt(lower.length - 1);
  if (((last >= 0x30 && last <= 0x39) || last === 0x3d) && VALUE_STOP_WORDS.has(lower.replace(/[0-9=]+$/, ''))) return true;
  return isReference(v) || placeholderShape(v, lower);
}

/** A password-like value: not a placeholder, at least 6 characters, and either two classes
 *  of characters (letters + digits/symbols …) or long and varied. */
export function plausiblePassword(v: string): boolean {
  if (v.length < 6 || isPlaceholderValue(v)) return false;
  if (/^[0-9]+$/.test(v)) return v.length >= 12 && shannonEntropy(v) >= 3; // not a number or a port
  if (/^[A-Za-z]+$/.test(v)) return v.length >= 12 && shannonEntropy(v) >= 3.2; // not a word
  return charClasses(v) >= 2 && shannonEntropy(v) >= 2.2;
}

/** A token/key-like value: not a placeholder, at least 12 characters, high entropy. */
export function plausibleToken(v: string): boolean {
  if (v.length < 12 || isPlaceholderValue(v)) return false;
  if (/^[0-9]+$/.test(v)) return false; // ids, timestamps, counts
  const h = shannonEntropy(v);
  if (/^[0-9a-f]+$/i.test(v)) return v.length >= 16 && h >= 3; // hex keys
  return charClasses(v) >= 2 && h >= 3;
}
