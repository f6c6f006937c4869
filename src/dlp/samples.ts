// Labelled samples for the DLP detectors: realistic (but generated, never real) secrets and
// hard negatives. Used by the tests and the benchmark; the seed of the labelled corpus the
// full DLP issue calls for.
//
// Tokens come from a seeded PRNG so they look like real ones (no placeholder runs, mixed
// case) and are identical on every run.

/** mulberry32: tiny deterministic PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
export const ALNUM = UPPER + LOWER + DIGITS;
export const B64URL = ALNUM + '-_';

/** A random string over `alphabet` that contains an upper-case letter, a lower-case letter
 *  and a digit whenever the alphabet has them (as real keys do). */
export function token(rand: () => number, alphabet: string, n: number): string {
  for (;;) {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
    const need = [UPPER, LOWER, DIGITS].filter((set) => [...set].some((c) => alphabet.includes(c)));
    if (n < 8 || need.every((set) => [...s].some((c) => set.includes(c)))) return s;
  }
}

/** Appends the Luhn check digit to `body`. */
export function withLuhn(body: string): string {
  for (let d = 0; d <= 9; d++) {
    const s = body + d;
    let sum = 0;
    for (let i = s.length - 1, dbl = false; i >= 0; i--, dbl = !dbl) {
      let v = s.charCodeAt(i) - 48;
      if (dbl) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
      sum += v;
    }
    if (sum % 10 === 0) return s;
  }
  throw new Error('unreachable');
}

export interface PositiveSample {
  /** Built-in detector expected to find it. */
  detector: string;
  display: string;
  /** The secret as it appears in output. */
  secret: string;
  /** What remains of `secret` after redaction when only part of it is the secret
   *  (e.g. `KEY=value`); default: the whole of it is replaced. */
  redacted?: string;
}

const r = prng(0x5eed);
const pemBody = Array.from({ length: 6 }, () => token(r, ALNUM + '+/', 64)).join('\n') + '\n' + token(r, ALNUM, 20) + '==';
const awsSecret = token(r, ALNUM + '/+', 40);

export const POSITIVES: readonly PositiveSample[] = [
  { detector: 'email', display: 'EMAIL', secret: 'jane.doe+ci@mail.acme-corp.io' },
  { detector: 'email', display: 'EMAIL', secret: 'o.brien@sub.domain.co.uk' },
  { detector: 'phone', display: 'PHONE', secret: '(415) 555-2671' },
  { detector: 'phone', display: 'PHONE', secret: '415-555-2671' },
  { detector: 'phone', display: 'PHONE', secret: '415.555.2671' },
  { detector: 'phone', display: 'PHONE', secret: '+1 415 555 2671' },
  { detector: 'phone', display: 'PHONE', secret: '+14155552671' },
  { detector: 'phone', display: 'PHONE', secret: '1-415-555-2671' },
  { detector: 'phone', display: 'PHONE', secret: '+44 20 7946 0958' },
  { detector: 'credit_card', display: 'CREDIT_CARD', secret: '4111 1111 1111 1111' },
  { detector: 'credit_card', display: 'CREDIT_CARD', secret: '4111-1111-1111-1111' },
  { detector: 'credit_card', display: 'CREDIT_CARD', secret: '4012888888881881' },
  { detector: 'credit_card', display: 'CREDIT_CARD', secret: '5500 0000 0000 0004' },
  { detector: 'credit_card', display: 'CREDIT_CARD', secret: '3782 822463 10005' },
  { detector: 'credit_card', display: 'CREDIT_CARD', secret: '6011111111111117' },
  { detector: 'credit_card', display: 'CREDIT_CARD', secret: '3530111333300000' },
  { detector: 'credit_card', display: 'CREDIT_CARD', secret: withLuhn('222300048726510') },
  { detector: 'ssn', display: 'SSN', secret: '536-22-1234' },
  { detector: 'ssn', display: 'SSN', secret: '219-45-6780' },
  { detector: 'aws_access_key', display: 'AWS_KEY', secret: 'AKIA' + token(r, UPPER + DIGITS, 16) },
  { detector: 'aws_access_key', display: 'AWS_KEY', secret: 'ASIA' + token(r, UPPER + DIGITS, 16) },
  {
    detector: 'aws_secret_key',
    display: 'AWS_SECRET_KEY',
    secret: `AWS_SECRET_ACCESS_KEY=${awsSecret}`,
    redacted: 'AWS_SECRET_ACCESS_KEY=[REDACTED:AWS_SECRET_KEY]',
  },
  {
    detector: 'aws_secret_key',
    display: 'AWS_SECRET_KEY',
    secret: `"SecretAccessKey": "${awsSecret}"`,
    redacted: '"SecretAccessKey": "[REDACTED:AWS_SECRET_KEY]"',
  },
  { detector: 'github_token', display: 'GITHUB_TOKEN', secret: 'ghp_' + token(r, ALNUM, 36) },
  { detector: 'github_token', display: 'GITHUB_TOKEN', secret: 'gho_' + token(r, ALNUM, 36) },
  { detector: 'github_token', display: 'GITHUB_TOKEN', secret: 'ghs_' + token(r, ALNUM, 36) },
  { detector: 'github_token', display: 'GITHUB_TOKEN', secret: 'ghu_' + token(r, ALNUM, 36) },
  { detector: 'github_token', display: 'GITHUB_TOKEN', secret: `github_pat_11${token(r, ALNUM, 20)}_${token(r, ALNUM, 59)}` },
  { detector: 'slack_token', display: 'SLACK_TOKEN', secret: `xoxb-${token(r, DIGITS, 13)}-${token(r, DIGITS, 13)}-${token(r, ALNUM, 24)}` },
  { detector: 'slack_token', display: 'SLACK_TOKEN', secret: `xoxp-${token(r, DIGITS, 12)}-${token(r, DIGITS, 12)}-${token(r, DIGITS, 13)}-${token(r, '0123456789abcdef', 32)}` },
  { detector: 'slack_webhook', display: 'SLACK_WEBHOOK', secret: `https://hooks.slack.com/services/T${token(r, UPPER + DIGITS, 8)}/B${token(r, UPPER + DIGITS, 10)}/${token(r, ALNUM, 24)}` },
  { detector: 'openai_key', display: 'OPENAI_KEY', secret: `sk-${token(r, ALNUM, 20)}T3BlbkFJ${token(r, ALNUM, 20)}` },
  { detector: 'openai_key', display: 'OPENAI_KEY', secret: `sk-proj-${token(r, B64URL, 156)}` },
  { detector: 'anthropic_key', display: 'ANTHROPIC_KEY', secret: `sk-ant-api03-${token(r, B64URL, 93)}AA` },
  { detector: 'google_api_key', display: 'GOOGLE_KEY', secret: `AIza${token(r, B64URL, 35).replace(/-$/, 'x')}` },
  { detector: 'stripe_key', display: 'STRIPE_KEY', secret: `sk_live_${token(r, ALNUM, 24)}` },
  { detector: 'stripe_key', display: 'STRIPE_KEY', secret: `rk_live_${token(r, ALNUM, 99)}` },
  { detector: 'private_key', display: 'PRIVATE_KEY', secret: `-----BEGIN RSA PRIVATE KEY-----\n${pemBody}\n-----END RSA PRIVATE KEY-----` },
  { detector: 'private_key', display: 'PRIVATE_KEY', secret: `-----BEGIN OPENSSH PRIVATE KEY-----\r\n${pemBody.replace(/\n/g, '\r\n')}\r\n-----END OPENSSH PRIVATE KEY-----` },
  {
    detector: 'private_key',
    display: 'PRIVATE_KEY',
    // a service-account JSON value: newlines escaped
    secret: `-----BEGIN PRIVATE KEY-----\\n${pemBody.replace(/\n/g, '\\n')}\\n-----END PRIVATE KEY-----`,
  },
  {
    detector: 'private_key',
    display: 'PRIVATE_KEY',
    secret: `-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,${token(r, '0123456789ABCDEF', 32)}\n\n${pemBody}\n-----END EC PRIVATE KEY-----`,
  },
  {
    detector: 'jwt',
    display: 'JWT',
    secret: `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ${token(r, B64URL, 60)}.${token(r, B64URL, 43)}`,
  },
];

/** Text that must come through unchanged with every built-in on. */
export const NEGATIVES: readonly { text: string; note: string }[] = [
  { text: 'card 4111 1111 1111 1112 declined', note: 'Luhn-invalid card' },
  { text: 'id 1234 5678 9012 3456', note: 'no issuer starts with 1' },
  { text: 'ref 4111 11111 111 1111', note: 'card digits in an impossible grouping' },
  { text: `p=${'0.' + withLuhn('548813503927324')}`, note: 'a float whose fraction is Luhn-valid' },
  { text: 'ts=1700000000000 size=2147483647', note: 'timestamps and sizes' },
  { text: 'order 4111111111111111111111', note: 'a 22-digit number is not a card' },
  { text: 'SSN 000-12-3456', note: 'SSN area 000' },
  { text: 'SSN 666-12-3456', note: 'SSN area 666' },
  { text: 'SSN 912-12-3456', note: 'SSN area 9xx' },
  { text: 'SSN 536-00-1234', note: 'SSN group 00' },
  { text: 'SSN 536-22-0000', note: 'SSN serial 0000' },
  { text: 'SSN 123-45-6789', note: 'the textbook example SSN' },
  { text: 'SSN 078-05-1120', note: 'the Woolworth wallet SSN' },
  { text: 'zip 536221234 is not dashed', note: 'undashed 9 digits are not an SSN' },
  { text: 'date 2024-01-15 12:30:00, version 1.2.3, build 415-555', note: 'dates and versions' },
  { text: 'call 123-456-7890 or 415-155-2671', note: 'NANP area/exchange cannot start with 0/1' },
  { text: 'dial 4155552671', note: 'bare 10-digit numbers are not phones' },
  { text: 'stats 200 200 2024', note: 'space-separated number triples' },
  { text: 'mail user@example.com or test@foo.test', note: 'documentation domains' },
  { text: 'see icon@2x.png and logo@3x.jpg', note: 'retina asset names' },
  { text: 'origin git@github.com:acme/app.git (fetch)', note: 'SSH remote' },
  { text: 'npm i left-pad@1.3.0 @scope/pkg@latest', note: 'package specs' },
  { text: 'AKIAIOSFODNN7EXAMPLE', note: "AWS's documented example key id" },
  { text: 'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', note: "AWS's documented example secret" },
  { text: 'XAKIAZ7X3Q9B2M4N6P8R1Q', note: 'key id shape inside a longer word' },
  { text: `ghp_${'x'.repeat(36)}`, note: 'placeholder token' },
  { text: 'export SLACK_TOKEN=xoxb-your-token-here', note: 'placeholder Slack token' },
  { text: 'pip install sk-learn-integration-tests-2024', note: 'sk- that is a package name' },
  { text: 'run task-abcdefghijKLMNOPQRST0123456789', note: 'sk- inside a word' },
  { text: `OPENAI_API_KEY=sk-${'x'.repeat(48)}`, note: 'placeholder OpenAI key' },
  { text: 'commit 3f786850e387550fdab836ed7e6dc881de23001b', note: 'git SHA' },
  { text: 'uuid 123e4567-e89b-12d3-a456-426614174000', note: 'UUID' },
  { text: 'sha512-q8a9Z3bX0cV1nM2lK4jH6gF8dS0aP9oI7uY5tR3eW1qA==', note: 'lockfile integrity hash' },
  { text: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl dev@laptop', note: 'SSH public key' },
  { text: 'the header reads -----BEGIN PUBLIC KEY-----', note: 'public key header' },
  { text: 'eyJ alone, and eyJhbGciOiJIUzI1NiJ9 without dots', note: 'JWT fragments' },
];

/**
 * Deterministic command-output-like text: log lines, JSON, paths, numbers. With
 * `secretEvery` > 0, one sample secret is embedded about every that many bytes.
 */
export function syntheticOutput(bytes: number, seed = 1, secretEvery = 0): Buffer {
  const rand = prng(seed);
  const words = [
    'the', 'server', 'GET', '/api/v1/users', '200', 'OK', 'error:', 'at', 'Object.<anonymous>', 'node_modules/express/lib/router/index.js:284:15',
    '2024-01-15T12:30:00.123Z', 'INFO', 'debug', 'value=42', 'id=9f8e7d6c', 'user', 'session', 'connected', 'from', '127.0.0.1:8080',
    'took', '13.5ms', '{"key":', '"value"},', 'import', 'const', 'return', '=>', 'x', 'build', 'passed', '✓', 'größe', 'sha=3f786850e3',
  ];
  const parts: string[] = [];
  let size = 0;
  let nextSecret = secretEvery > 0 ? secretEvery : Infinity;
  while (size < bytes) {
    let line = '';
    const n = 4 + Math.floor(rand() * 12);
    for (let i = 0; i < n; i++) line += words[Math.floor(rand() * words.length)] + ' ';
    if (size >= nextSecret) {
      line += POSITIVES[Math.floor(rand() * POSITIVES.length)]!.secret + ' ';
      nextSecret += secretEvery;
    }
    line += '\n';
    parts.push(line);
    size += Buffer.byteLength(line);
  }
  return Buffer.from(parts.join(''), 'utf8').subarray(0, bytes);
}
