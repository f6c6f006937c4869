// Primitives of the labelled DLP corpus generator (bench/dlp-corpus.ts): a seeded PRNG, the
// checksums real credentials carry (CRC32/base62 for GitHub and npm tokens, Luhn, IBAN
// mod-97), one maker per secret type, and `Doc`, which assembles a document from text and
// labelled spans so every label's byte offsets come from the same concatenation as the text
// (no offset is ever counted by hand).
//
// Everything here is synthetic: bodies are random from a fixed seed. Token prefixes are
// assembled from parts (`j('gh', 'p_')`) so this source holds nothing a secret scanner
// takes for a live credential.

/** The detector names the corpus labels (the `name` of the DLP findings). */
export const SECRET_TYPES = [
  'aws_access_key_id', 'aws_secret_access_key',
  'github_pat_classic', 'github_pat_fine_grained', 'github_oauth', 'github_app_token', 'github_refresh_token',
  'gitlab_token', 'slack_bot_token', 'slack_user_token', 'slack_app_token', 'slack_webhook',
  'stripe_key', 'openai_api_key', 'anthropic_api_key', 'google_api_key', 'gcp_service_account',
  'azure_storage_key', 'azure_connection_string', 'twilio_api_key', 'sendgrid_api_key', 'mailgun_api_key',
  'npm_token', 'pypi_token', 'dockerhub_token', 'huggingface_token', 'databricks_token', 'shopify_token',
  'square_token', 'digitalocean_token', 'heroku_api_key', 'jwt', 'private_key', 'database_url',
  'basic_auth_url', 'generic_secret', 'daytona_api_key', 'credit_card', 'us_ssn', 'email', 'phone', 'iban',
] as const;
export type SecretType = (typeof SECRET_TYPES)[number];

/** Kinds of hard negatives recorded in the labels (informational: any finding that is not on
 *  a label is a false positive; the kind tells the detector author what was hit). */
export const NEGATIVE_KINDS = [
  'git_sha', 'uuid', 'hex_digest', 'integrity_hash', 'base64_blob', 'ssh_public_key', 'ssh_fingerprint',
  'x509_certificate', 'aws_documented_example', 'placeholder', 'env_reference', 'masked_secret',
  'documented_example', 'publishable_key', 'public_id', 'card_luhn_invalid', 'ssn_invalid', 'iban_bad_checksum',
  'version_string', 'build_number', 'timestamp', 'hex_color', 'ip_address', 'mac_address', 'docker_digest',
  'password_hash', 'reserved_email', 'not_an_email', 'sentry_dsn', 'checksum_invalid_token', 'config_key',
] as const;
export type NegativeKind = (typeof NEGATIVE_KINDS)[number];

// ---------------------------------------------------------------------------------------
// PRNG

export const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
export const LOWER = 'abcdefghijklmnopqrstuvwxyz';
export const DIGITS = '0123456789';
export const HEX = '0123456789abcdef';
export const ALNUM = UPPER + LOWER + DIGITS;
export const B64 = ALNUM + '+/';
export const B64URL = ALNUM + '-_';
const B32 = UPPER + '234567';

/** FNV-1a over a string: per-file seeds, so editing one template leaves the others alone. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/** mulberry32, with helpers. Deterministic across platforms and Node versions. */
export class Rng {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  str(alphabet: string, n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(this.next() * alphabet.length)];
    return s;
  }
  /** Random over `alphabet` as real keys look: every class the alphabet has (upper, lower,
   *  digit) present once n ≥ 8, and no run of 4 equal characters (placeholder filters). */
  tok(alphabet: string, n: number): string {
    const need = [UPPER, LOWER, DIGITS].filter((set) => [...set].some((c) => alphabet.includes(c)));
    for (;;) {
      const s = this.str(alphabet, n);
      if (/(.)\1{3}/.test(s)) continue;
      if (n < 8 || need.every((set) => [...s].some((c) => set.includes(c)))) return s;
    }
  }
  hex(n: number): string {
    return this.tok(HEX, n);
  }
  digits(n: number): string {
    return this.str(DIGITS, n);
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256);
    return b;
  }
  uuid(): string {
    const h = this.str(HEX, 32);
    const v = '89ab'[this.int(0, 3)]!;
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${v}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const k = Math.floor(this.next() * (i + 1));
      [xs[i], xs[k]] = [xs[k]!, xs[i]!];
    }
    return xs;
  }
}

// ---------------------------------------------------------------------------------------
// checksums

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, zlib's) of the ASCII bytes of `s`. */
export function crc32(s: string): number {
  let c = 0xffffffff;
  for (let i = 0; i < s.length; i++) c = CRC_TABLE[(c ^ s.charCodeAt(i)) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `n` in base 62 (alphabet 0-9A-Za-z, most significant first), left-padded with '0'. */
export function base62(n: number, width: number): string {
  let s = '';
  do {
    s = BASE62[n % 62]! + s;
    n = Math.floor(n / 62);
  } while (n > 0);
  return s.padStart(width, '0');
}

/** The checksum rule used for GitHub classic/OAuth/app/refresh tokens and npm tokens. */
export const CHECKSUM_RULE =
  'token = prefix + 30 random [A-Za-z0-9] + 6-char checksum; checksum = base62(CRC32(the 30 random characters, prefix NOT included)), ' +
  'alphabet 0-9A-Za-z, most significant digit first, left-padded with "0" to 6 characters';

/** The one place the checksum rule lives (see CHECKSUM_RULE); `prefix` is passed so a
 *  rule that includes it is a one-line change. */
export function tokenChecksum(_prefix: string, random: string): string {
  return base62(crc32(random), 6);
}

/** A checksummed token: prefix + 30 random characters + checksum. */
export function checksummedToken(r: Rng, prefix: string): string {
  const random = r.tok(ALNUM, 30);
  return prefix + random + tokenChecksum(prefix, random);
}

/** True when `token` (prefix + 36 characters) carries a valid checksum under the rule. */
export function checksumValid(prefix: string, token: string): boolean {
  const body = token.slice(prefix.length);
  return body.length === 36 && tokenChecksum(prefix, body.slice(0, 30)) === body.slice(30);
}

/** Luhn check digit for `body`. */
export function luhnDigit(body: string): string {
  for (let d = 0; d <= 9; d++) if (luhnOk(body + d)) return String(d);
  throw new Error('unreachable');
}

export function luhnOk(digits: string): boolean {
  let sum = 0;
  for (let i = digits.length - 1, dbl = false; i >= 0; i--, dbl = !dbl) {
    let v = digits.charCodeAt(i) - 48;
    if (dbl) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
    sum += v;
  }
  return sum % 10 === 0;
}

/** ISO 13616 mod-97 of an IBAN (spaces ignored): 1 means valid. */
export function ibanMod97(iban: string): number {
  const s = iban.replace(/ /g, '').toUpperCase();
  const moved = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const v = ch >= 'A' && ch <= 'Z' ? String(ch.charCodeAt(0) - 55) : ch;
    for (const d of v) rem = (rem * 10 + (d.charCodeAt(0) - 48)) % 97;
  }
  return rem;
}

/** A valid IBAN for country + BBAN (the check digits computed). */
export function makeIban(country: string, bban: string): string {
  const rem = ibanMod97(country + '00' + bban);
  return country + String(98 - rem).padStart(2, '0') + bban;
}

// ---------------------------------------------------------------------------------------
// prefixes, assembled from parts

export const j = (...parts: string[]): string => parts.join('');
export const PFX = {
  akia: j('AK', 'IA'),
  asia: j('AS', 'IA'),
  ghp: j('gh', 'p_'),
  gho: j('gh', 'o_'),
  ghs: j('gh', 's_'),
  ghu: j('gh', 'u_'),
  ghr: j('gh', 'r_'),
  ghPat: j('github', '_pat_'),
  glpat: j('gl', 'pat-'),
  xoxb: j('xo', 'xb-'),
  xoxp: j('xo', 'xp-'),
  xapp: j('xa', 'pp-'),
  slackHook: j('https://hooks.', 'slack.com/services/'),
  skLive: j('sk', '_live_'),
  skTest: j('sk', '_test_'),
  rkLive: j('rk', '_live_'),
  pkLive: j('pk', '_live_'),
  pkTest: j('pk', '_test_'),
  skProj: j('sk', '-proj-'),
  oaiMark: j('T3Blbk', 'FJ'),
  skAnt: j('sk-ant', '-api03-'),
  aiza: j('AI', 'za'),
  sg: j('S', 'G.'),
  mgKey: j('ke', 'y-'),
  npm: j('np', 'm_'),
  pypi: j('pypi-', 'AgEIcHlwaS5vcmc'),
  dckr: j('dckr', '_pat_'),
  hf: j('h', 'f_'),
  dapi: j('da', 'pi'),
  shopify: [j('shp', 'at_'), j('shp', 'ca_'), j('shp', 'pa_'), j('shp', 'ss_')],
  eaaa: j('EA', 'AA'),
  sq0atp: j('sq0', 'atp-'),
  sq0csp: j('sq0', 'csp-'),
  digitalocean: [j('dop', '_v1_'), j('doo', '_v1_'), j('dor', '_v1_')],
  hrku: j('HR', 'KU-AA'),
  dtn: j('dt', 'n_'),
  twilioSk: j('S', 'K'),
} as const;

const PRIV = j('PRIV', 'ATE KEY');
/** `-----BEGIN <label>-----` / `-----END <label>-----`. */
export const pemHead = (label: string): string => `-----${j('BEG', 'IN')} ${label}-----`;
export const pemTail = (label: string): string => `-----END ${label}-----`;

// ---------------------------------------------------------------------------------------
// secret makers

function b64Lines(buf: Buffer, width: number): string {
  const s = buf.toString('base64');
  const out: string[] = [];
  for (let i = 0; i < s.length; i += width) out.push(s.slice(i, i + width));
  return out.join('\n');
}

const concatBytes = (...parts: (Buffer | number[])[]): Buffer => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
const sshString = (s: Buffer | string): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
};

/** A private key block of the given kind (newline '\n', base64 body with DER-like prefixes). */
export function privateKeyPem(r: Rng, kind: 'rsa' | 'pkcs8' | 'ec' | 'openssh' | 'encrypted' | 'rsa-legacy-encrypted'): string {
  switch (kind) {
    case 'rsa': {
      const der = concatBytes([0x30, 0x82, 0x04, 0xa4, 0x02, 0x01, 0x00, 0x02, 0x82, 0x01, 0x01, 0x00], r.bytes(1180));
      const label = j('RSA ', PRIV);
      return `${pemHead(label)}\n${b64Lines(der, 64)}\n${pemTail(label)}`;
    }
    case 'pkcs8': {
      const der = concatBytes(
        [0x30, 0x82, 0x04, 0xbd, 0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00, 0x04, 0x82, 0x04, 0xa7],
        r.bytes(1190),
      );
      return `${pemHead(PRIV)}\n${b64Lines(der, 64)}\n${pemTail(PRIV)}`;
    }
    case 'ec': {
      const der = concatBytes(
        [0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20],
        r.bytes(32),
        [0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0xa1, 0x44, 0x03, 0x42, 0x00, 0x04],
        r.bytes(64),
      );
      const label = j('EC ', PRIV);
      return `${pemHead(label)}\n${b64Lines(der, 64)}\n${pemTail(label)}`;
    }
    case 'openssh': {
      const pub = r.bytes(32);
      const pubBlob = concatBytes(sshString('ssh-ed25519'), sshString(pub));
      const check = r.bytes(4);
      const priv = concatBytes(check, check, sshString('ssh-ed25519'), sshString(pub), sshString(concatBytes(r.bytes(32), pub)), sshString('dev@workstation'), [1, 2, 3, 4, 5]);
      const body = concatBytes(Buffer.from('openssh-key-v1\0', 'latin1'), sshString('none'), sshString('none'), sshString(''), [0, 0, 0, 1], sshString(pubBlob), sshString(priv));
      const label = j('OPENSSH ', PRIV);
      return `${pemHead(label)}\n${b64Lines(body, 70)}\n${pemTail(label)}`;
    }
    case 'encrypted': {
      const der = concatBytes([0x30, 0x82, 0x05, 0x24, 0x30, 0x56, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d], r.bytes(1300));
      const label = j('ENCRYPTED ', PRIV);
      return `${pemHead(label)}\n${b64Lines(der, 64)}\n${pemTail(label)}`;
    }
    case 'rsa-legacy-encrypted': {
      const label = j('RSA ', PRIV);
      const iv = r.str('0123456789ABCDEF', 32);
      return `${pemHead(label)}\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,${iv}\n\n${b64Lines(r.bytes(1192), 64)}\n${pemTail(label)}`;
    }
  }
}

/** A certificate block (hard negative). */
export function certificatePem(r: Rng): string {
  const der = concatBytes([0x30, 0x82, 0x03, 0x77, 0x30, 0x82, 0x02, 0x5f, 0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x14], r.bytes(870));
  return `${pemHead('CERTIFICATE')}\n${b64Lines(der, 64)}\n${pemTail('CERTIFICATE')}`;
}

/** An SSH public key line body (hard negative): `<type> <base64>`. */
export function sshPublicKey(r: Rng, kind: 'ed25519' | 'rsa' | 'ecdsa' = 'ed25519'): string {
  if (kind === 'ed25519') return `ssh-ed25519 ${concatBytes(sshString('ssh-ed25519'), sshString(r.bytes(32))).toString('base64')}`;
  if (kind === 'ecdsa') {
    const blob = concatBytes(sshString('ecdsa-sha2-nistp256'), sshString('nistp256'), sshString(concatBytes([4], r.bytes(64))));
    return `ecdsa-sha2-nistp256 ${blob.toString('base64')}`;
  }
  const blob = concatBytes(sshString('ssh-rsa'), sshString(Buffer.from([1, 0, 1])), sshString(concatBytes([0], r.bytes(256))));
  return `ssh-rsa ${blob.toString('base64')}`;
}

const b64url = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');

export function makeJwt(r: Rng, claims?: Record<string, unknown>, alg: 'HS256' | 'RS256' = r.chance(0.5) ? 'HS256' : 'RS256'): string {
  const header = alg === 'RS256' ? { alg, typ: 'JWT', kid: r.hex(16) } : { alg, typ: 'JWT' };
  const now = 1773000000 + r.int(0, 9_000_000);
  const payload = claims ?? { sub: r.uuid(), iss: r.pick(['https://auth.acme-corp.io/', 'https://login.initech.dev', 'kubernetes/serviceaccount']), iat: now, exp: now + 3600, scope: r.pick(['read write', 'openid profile', 'repo:read']) };
  const sigLen = alg === 'RS256' ? 342 : 43;
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}.${r.tok(B64URL, sigLen)}`;
}

/** A high-entropy password / secret value (URL-safe unless `symbols`). */
export function password(r: Rng, symbols = false): string {
  const n = r.int(16, 28);
  // symbols that need no quoting in shell words, YAML plain scalars, .env values or URLs
  // query strings; first character alphanumeric (YAML tags, aliases)
  return symbols ? r.pick([...ALNUM]) + r.tok(ALNUM + '-_.~+', n - 1) : r.tok(ALNUM, n);
}

export function genericSecretValue(r: Rng): string {
  switch (r.int(0, 4)) {
    case 0:
      return r.tok(ALNUM, 32);
    case 1:
      return r.hex(r.pick([40, 64]));
    case 2:
      return r.bytes(32).toString('base64');
    case 3:
      return password(r, true);
    default:
      return r.tok(ALNUM + '-_', 43);
  }
}

const CARD_BRANDS = [
  { prefix: () => '4', len: 16, fmt: 'four' },
  { prefix: (r: Rng) => String(r.int(51, 55)), len: 16, fmt: 'four' },
  { prefix: (r: Rng) => String(r.int(2221, 2720)), len: 16, fmt: 'four' },
  { prefix: (r: Rng) => r.pick(['34', '37']), len: 15, fmt: 'amex' },
  { prefix: () => '6011', len: 16, fmt: 'four' },
] as const;

function formatCard(d: string, style: 'space' | 'dash' | 'none', amex: boolean): string {
  if (style === 'none') return d;
  const sep = style === 'space' ? ' ' : '-';
  if (amex) return [d.slice(0, 4), d.slice(4, 10), d.slice(10)].join(sep);
  return d.match(/.{1,4}/g)!.join(sep);
}

export function creditCard(r: Rng, style: 'space' | 'dash' | 'none' = r.pick(['space', 'dash', 'none'] as const)): string {
  const brand = r.pick(CARD_BRANDS);
  let body = brand.prefix(r);
  while (body.length < brand.len - 1) body += r.digits(1);
  const d = body + luhnDigit(body);
  if (/(\d)\1{5}/.test(d)) return creditCard(r, style);
  return formatCard(d, style, brand.fmt === 'amex');
}

/** Card-shaped, issuer prefix right, Luhn WRONG (hard negative). */
export function cardLuhnInvalid(r: Rng, style: 'space' | 'dash' | 'none' = 'space'): string {
  let body = '4' + r.digits(14);
  const good = Number(luhnDigit(body));
  body += String((good + r.int(1, 9)) % 10);
  return formatCard(body, style, false);
}

export function ssn(r: Rng, dashed = true): string {
  let area: number;
  do area = r.int(1, 899);
  while (area === 666);
  const s = `${String(area).padStart(3, '0')}-${String(r.int(1, 99)).padStart(2, '0')}-${String(r.int(1, 9999)).padStart(4, '0')}`;
  if (s === '123-45-6789' || s === '078-05-1120') return ssn(r, dashed);
  return dashed ? s : s.replace(/-/g, '');
}

export function ssnInvalid(r: Rng): string {
  const g = String(r.int(1, 99)).padStart(2, '0');
  const sr = String(r.int(1, 9999)).padStart(4, '0');
  switch (r.int(0, 4)) {
    case 0:
      return `000-${g}-${sr}`;
    case 1:
      return `666-${g}-${sr}`;
    case 2:
      return `9${r.digits(2)}-${g}-${sr}`;
    case 3:
      return `${String(r.int(1, 665)).padStart(3, '0')}-00-${sr}`;
    default:
      return `${String(r.int(1, 665)).padStart(3, '0')}-${g}-0000`;
  }
}

const IBAN_SPECS: readonly { cc: string; bban: (r: Rng) => string }[] = [
  { cc: 'DE', bban: (r) => r.digits(18) },
  { cc: 'GB', bban: (r) => r.pick(['NWBK', 'BARC', 'LOYD', 'HBUK', 'MIDL']) + r.digits(14) },
  { cc: 'FR', bban: (r) => r.digits(10) + r.str(UPPER + DIGITS, 11) + r.digits(2) },
  { cc: 'NL', bban: (r) => r.pick(['ABNA', 'INGB', 'RABO', 'TRIO']) + r.digits(10) },
  { cc: 'ES', bban: (r) => r.digits(20) },
  { cc: 'IT', bban: (r) => r.str(UPPER, 1) + r.digits(10) + r.str(UPPER + DIGITS, 12) },
  { cc: 'CH', bban: (r) => r.digits(17) },
  { cc: 'BE', bban: (r) => r.digits(12) },
];

const groupIban = (s: string): string => s.match(/.{1,4}/g)!.join(' ');

export function iban(r: Rng, grouped = r.chance(0.5)): string {
  const spec = r.pick(IBAN_SPECS);
  const s = makeIban(spec.cc, spec.bban(r));
  return grouped ? groupIban(s) : s;
}

/** IBAN-shaped with wrong check digits (hard negative). */
export function ibanBadChecksum(r: Rng, grouped = r.chance(0.5)): string {
  const spec = r.pick(IBAN_SPECS);
  const good = makeIban(spec.cc, spec.bban(r));
  const cd = Number(good.slice(2, 4));
  const bad = good.slice(0, 2) + String(((cd - 2 + r.int(1, 90)) % 97) + 2).padStart(2, '0') + good.slice(4);
  const s = ibanMod97(bad) === 1 ? good.slice(0, 2) + String(cd === 2 ? 3 : cd - 1).padStart(2, '0') + good.slice(4) : bad;
  return grouped ? groupIban(s) : s;
}

export const FIRST = ['Alice', 'Bob', 'Carmen', 'Dmitri', 'Elena', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jamal', 'Katarzyna', 'Liam', 'Mei', 'Noah', 'Olga', 'Priya', 'Quentin', 'Rosa', 'Sven', 'Tariq', 'Uma', 'Victor', 'Wen', 'Yusuf', 'Zoë', 'José', 'Łukasz', 'Chloé', 'Björn', 'Ana'] as const;
export const LAST = ['Anderson', 'Brennan', 'Castillo', 'Dubois', 'Eriksen', 'Fischer', 'García', 'Haddad', 'Ivanova', 'Jensen', 'Kowalski', 'Lindqvist', 'Moreau', 'Nakamura', 'Okafor', 'Petrov', 'Quinn', 'Rossi', 'Schmidt', 'Tanaka', 'Müller', 'Novak', 'Walsh', 'Yilmaz', 'Zhang'] as const;
const EMAIL_DOMAINS = ['gmail.com', 'outlook.com', 'yahoo.co.uk', 'proton.me', 'fastmail.fm', 'acme-corp.io', 'initech.dev', 'globex-industries.com', 'umbrella-health.org', 'northwind-traders.net', 'hooli.xyz', 'gmx.de'] as const;

const asciiFold = (s: string): string =>
  s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/ł/g, 'l').replace(/Ł/g, 'L').replace(/ø/g, 'o').toLowerCase();

export interface Person {
  first: string;
  last: string;
  email: string;
}

export function person(r: Rng): Person {
  const first = r.pick(FIRST);
  const last = r.pick(LAST);
  const f = asciiFold(first);
  const l = asciiFold(last);
  const local = r.pick([`${f}.${l}`, `${f[0]}${l}`, `${f}${r.int(1, 99)}`, `${f}_${l}`, `${l}.${f}`, `${f}+${r.pick(['ci', 'news', 'dev'])}`]);
  return { first, last, email: `${local}@${r.pick(EMAIL_DOMAINS)}` };
}

export function phone(r: Rng): string {
  const area = `${r.int(2, 9)}${r.digits(2)}`;
  let exch = `${r.int(2, 9)}${r.digits(2)}`;
  if (exch === '555') exch = '556';
  const line = r.digits(4);
  switch (r.int(0, 7)) {
    case 0:
      return `(${area}) ${exch}-${line}`;
    case 1:
      return `${area}-${exch}-${line}`;
    case 2:
      return `+1 ${area} ${exch} ${line}`;
    case 3:
      return `+1${area}${exch}${line}`;
    case 4:
      return `${area}.${exch}.${line}`;
    case 5:
      return `+44 20 ${r.int(3, 8)}${r.digits(3)} ${r.digits(4)}`;
    case 6:
      return `+49 30 ${r.digits(8)}`;
    default:
      return `+33 1 ${r.digits(2)} ${r.digits(2)} ${r.digits(2)} ${r.digits(2)}`;
  }
}

type Maker = (r: Rng, variant?: string) => string;

/** One maker per secret type: the text the label covers. Variants pick a sub-format. */
export const MAKE: Record<SecretType, Maker> = {
  aws_access_key_id: (r, v) => (v === 'session' ? PFX.asia : PFX.akia) + r.tok(B32, 16),
  aws_secret_access_key: (r) => r.tok(B64, 40),
  github_pat_classic: (r) => checksummedToken(r, PFX.ghp),
  github_pat_fine_grained: (r) => `${PFX.ghPat}11${r.tok(UPPER + DIGITS, 20)}_${r.tok(ALNUM, 59)}`,
  github_oauth: (r) => checksummedToken(r, PFX.gho),
  github_app_token: (r, v) => checksummedToken(r, v === 'user' ? PFX.ghu : v === 'server' ? PFX.ghs : r.pick([PFX.ghs, PFX.ghu])),
  github_refresh_token: (r) => checksummedToken(r, PFX.ghr),
  gitlab_token: (r) => PFX.glpat + r.tok(ALNUM + '-_', 20),
  slack_bot_token: (r) => `${PFX.xoxb}${r.int(1, 9)}${r.digits(r.int(9, 12))}-${r.int(1, 9)}${r.digits(12)}-${r.tok(ALNUM, 24)}`,
  slack_user_token: (r) => `${PFX.xoxp}${r.int(1, 9)}${r.digits(10)}-${r.int(1, 9)}${r.digits(10)}-${r.int(1, 9)}${r.digits(12)}-${r.hex(32)}`,
  slack_app_token: (r) => `${PFX.xapp}1-A${r.tok(UPPER + DIGITS, 10)}-${r.int(1, 9)}${r.digits(12)}-${r.hex(64)}`,
  slack_webhook: (r) => `${PFX.slackHook}T${r.tok(UPPER + DIGITS, r.pick([8, 9, 10]))}/B${r.tok(UPPER + DIGITS, r.pick([8, 10, 11]))}/${r.tok(ALNUM, 24)}`,
  stripe_key: (r, v) => {
    const p = v === 'test' ? PFX.skTest : v === 'restricted' ? PFX.rkLive : v === 'live' ? PFX.skLive : r.pick([PFX.skLive, PFX.skLive, PFX.skTest, PFX.rkLive]);
    return p + (r.chance(0.5) ? r.tok(ALNUM, 24) : `51${r.tok(ALNUM, 97)}`);
  },
  openai_api_key: (r, v) => {
    const kind = v ?? r.pick(['proj', 'proj', 'legacy', 'svcacct']);
    if (kind === 'legacy') return `sk-${r.tok(ALNUM, 20)}${PFX.oaiMark}${r.tok(ALNUM, 20)}`;
    if (kind === 'svcacct') return `sk-svcacct-${r.tok(B64URL, 74)}${PFX.oaiMark}${r.tok(B64URL, 74)}`;
    return `${PFX.skProj}${r.tok(B64URL, 74)}${PFX.oaiMark}${r.tok(B64URL, 74)}`;
  },
  anthropic_api_key: (r) => `${PFX.skAnt}${r.tok(B64URL, 93)}AA`,
  google_api_key: (r) => `${PFX.aiza}Sy${r.tok(B64URL, 32)}${r.pick([...ALNUM])}`,
  gcp_service_account: (r) => privateKeyPem(r, 'pkcs8'),
  azure_storage_key: (r) => r.bytes(64).toString('base64'),
  azure_connection_string: (r) => r.bytes(32).toString('base64'),
  twilio_api_key: (r) => PFX.twilioSk + r.hex(32),
  sendgrid_api_key: (r) => `${PFX.sg}${r.tok(B64URL, 22)}.${r.tok(B64URL, 43)}`,
  mailgun_api_key: (r) => PFX.mgKey + r.hex(32),
  npm_token: (r) => checksummedToken(r, PFX.npm),
  pypi_token: (r) => PFX.pypi + r.tok(B64URL, r.int(140, 180)),
  dockerhub_token: (r) => PFX.dckr + r.tok(B64URL, 27),
  huggingface_token: (r) => PFX.hf + r.tok(UPPER + LOWER, 34),
  databricks_token: (r) => PFX.dapi + r.hex(32),
  shopify_token: (r) => r.pick(PFX.shopify) + r.hex(32),
  square_token: (r, v) => {
    const kind = v ?? r.pick(['access', 'access', 'oauth', 'secret']);
    if (kind === 'oauth') return PFX.sq0atp + r.tok(B64URL, 22);
    if (kind === 'secret') return PFX.sq0csp + r.tok(B64URL, 43);
    return PFX.eaaa + r.tok(B64URL, 60);
  },
  digitalocean_token: (r) => r.pick(PFX.digitalocean) + r.hex(64),
  heroku_api_key: (r, v) => (v === 'uuid' ? r.uuid() : PFX.hrku + r.tok(B64URL, 58)),
  jwt: (r) => makeJwt(r),
  private_key: (r, v) => privateKeyPem(r, (v as Parameters<typeof privateKeyPem>[1]) ?? r.pick(['rsa', 'pkcs8', 'ec', 'openssh'] as const)),
  database_url: (r) => password(r),
  basic_auth_url: (r) => password(r),
  generic_secret: (r) => genericSecretValue(r),
  daytona_api_key: (r) => PFX.dtn + r.hex(64),
  credit_card: (r, v) => creditCard(r, v as 'space' | 'dash' | 'none' | undefined),
  us_ssn: (r, v) => ssn(r, v !== 'undashed'),
  email: (r) => person(r).email,
  phone: (r) => phone(r),
  iban: (r, v) => iban(r, v === undefined ? undefined : v === 'grouped'),
};

// ---------------------------------------------------------------------------------------
// documents with labelled spans

export interface Span {
  readonly kind: 'secret' | 'negative';
  readonly type: string;
  readonly text: string;
  /** Other detector names that are equally right for this span (strict scoring accepts them). */
  readonly also?: readonly SecretType[];
}

export type Piece = string | number | Span | readonly Piece[];

export const S = (type: SecretType, text: string, also?: readonly SecretType[]): Span => (also ? { kind: 'secret', type, text, also } : { kind: 'secret', type, text });
export const N = (kind: NegativeKind, text: string): Span => ({ kind: 'negative', type: kind, text });
export const isSpan = (p: unknown): p is Span => typeof p === 'object' && p !== null && !Array.isArray(p) && 'kind' in p;

export interface Label {
  type: SecretType;
  start: number;
  end: number;
  also?: SecretType[];
}

export interface NegativeLabel {
  kind: NegativeKind;
  start: number;
  end: number;
}

export class Doc {
  private readonly parts: string[] = [];
  private pos = 0;
  readonly labels: Label[] = [];
  readonly negatives: NegativeLabel[] = [];

  /** Appends pieces: strings as they are, spans labelled at their byte offsets. */
  add(...pieces: Piece[]): this {
    for (const p of pieces) {
      if (typeof p === 'string' || typeof p === 'number') {
        const s = String(p);
        this.parts.push(s);
        this.pos += Buffer.byteLength(s, 'utf8');
      } else if (Array.isArray(p)) {
        this.add(...(p as readonly Piece[]));
      } else {
        const span = p as Span;
        const start = this.pos;
        this.parts.push(span.text);
        this.pos += Buffer.byteLength(span.text, 'utf8');
        if (span.text.length === 0) throw new Error(`empty span ${span.type}`);
        if (span.kind === 'secret') {
          const l: Label = { type: span.type as SecretType, start, end: this.pos };
          if (span.also) l.also = [...span.also];
          this.labels.push(l);
        } else this.negatives.push({ kind: span.type as NegativeKind, start, end: this.pos });
      }
    }
    return this;
  }

  /** Tagged template: `d.t\`KEY=${S('…', v)}\n\``. */
  t(strings: TemplateStringsArray, ...vals: Piece[]): this {
    for (let i = 0; i < strings.length; i++) {
      this.add(strings[i]!);
      if (i < vals.length) this.add(vals[i]!);
    }
    return this;
  }

  get bytes(): number {
    return this.pos;
  }

  toBuffer(): Buffer {
    const b = Buffer.from(this.parts.join(''), 'utf8');
    if (b.length !== this.pos) throw new Error('byte count drifted');
    return b;
  }
}

// ---------------------------------------------------------------------------------------
// JSON with labelled spans

/** A JSON string value assembled from pieces (each escaped; spans stay labelled). */
export interface JStr {
  readonly jstr: readonly (string | Span)[];
}
export type JVal = string | number | boolean | null | Span | JStr | readonly JVal[] | { readonly [k: string]: JVal };

export const jstr = (...pieces: (string | Span)[]): JStr => ({ jstr: pieces });
const escJson = (s: string): string => JSON.stringify(s).slice(1, -1);
const escSpan = (s: Span): Span => ({ ...s, text: escJson(s.text) });

/** Pieces of `value` serialized as JSON (JSON.stringify's layout for `indent`). */
export function json(value: JVal, indent = 2, level = 0): Piece[] {
  const pad = (n: number) => (indent ? '\n' + ' '.repeat(indent * n) : '');
  const colon = indent ? ': ' : ':';
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return [JSON.stringify(value)];
  if (typeof value === 'string') return [JSON.stringify(value)];
  if (isSpan(value)) return ['"', escSpan(value), '"'];
  if ('jstr' in value && Array.isArray((value as JStr).jstr)) return ['"', ...(value as JStr).jstr.map((p) => (typeof p === 'string' ? escJson(p) : escSpan(p))), '"'];
  if (Array.isArray(value)) {
    if (value.length === 0) return ['[]'];
    const out: Piece[] = ['['];
    value.forEach((v: JVal, i: number) => out.push(i ? ',' : '', pad(level + 1), ...json(v, indent, level + 1)));
    out.push(pad(level), ']');
    return out;
  }
  const entries = Object.entries(value as Record<string, JVal>);
  if (entries.length === 0) return ['{}'];
  const out: Piece[] = ['{'];
  entries.forEach(([k, v], i) => out.push(i ? ',' : '', pad(level + 1), JSON.stringify(k), colon, ...json(v, indent, level + 1)));
  out.push(pad(level), '}');
  return out;
}

// ---------------------------------------------------------------------------------------
// filler

export function isoTime(ms: number, frac: 3 | 7 = 3): string {
  const s = new Date(ms).toISOString();
  return frac === 3 ? s : s.replace(/\.(\d{3})Z$/, (_m, d: string) => `.${d}${String(ms % 9999).padStart(4, '0')}Z`);
}

export const ipv4 = (r: Rng, priv = r.chance(0.6)): string =>
  priv ? `10.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}` : `${r.pick([34, 52, 81, 104, 142, 185, 203])}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`;

export const semver = (r: Rng): string => `${r.int(0, 12)}.${r.int(0, 40)}.${r.int(0, 30)}`;

export const USER_AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'curl/8.5.0',
  'python-requests/2.32.3',
  'Go-http-client/2.0',
  'kube-probe/1.30',
  'node-fetch/3.3.2 (+https://github.com/node-fetch/node-fetch)',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0',
] as const;

export const WORDS = ['alpha', 'bravo', 'cache', 'delta', 'edge', 'fleet', 'gamma', 'harbor', 'index', 'jade', 'kilo', 'lumen', 'metro', 'nova', 'orbit', 'pixel', 'quartz', 'relay', 'sigma', 'tango', 'ultra', 'vector', 'willow', 'xenon', 'yield', 'zephyr'] as const;
