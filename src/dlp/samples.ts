// Labelled samples for the DLP detectors: realistic (but generated, never real) secrets and
// hard negatives, at least one positive per built-in detector. Used by the tests and the
// benchmark (the labelled corpus lives in test/fixtures/dlp-corpus).
//
// Tokens come from a seeded PRNG so they look like real ones (no placeholder runs, mixed
// case) and are identical on every run.

import { withGithubChecksum } from './validators.js';

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

/** An IBAN for `country` and `bban` with its check digits computed (ISO 13616 mod-97). */
export function withIbanCheck(country: string, bban: string): string {
  const digits = (bban + country + '00').replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
  let rem = 0;
  for (const ch of digits) rem = (rem * 10 + Number(ch)) % 97;
  return country + String(98 - rem).padStart(2, '0') + bban;
}

/** Groups of 4, as banks print them. */
const grouped = (s: string, sep = ' '): string => s.match(/.{1,4}/g)!.join(sep);

export interface PositiveSample {
  /** Built-in detector expected to find it. */
  detector: string;
  display: string;
  /** The secret as it appears in output. */
  secret: string;
  /** What remains of `secret` after redaction when only part of it is the secret
   *  (e.g. `KEY=value`); default: the whole of it is replaced. */
  redacted?: string;
  /** The part of `secret` that is redacted (default: all of it). */
  value?: string;
}

const r = prng(0x5eed);
const HEX = '0123456789abcdef';
const pemBody = Array.from({ length: 6 }, () => token(r, ALNUM + '+/', 64)).join('\n') + '\n' + token(r, ALNUM, 20) + '==';
const awsSecret = token(r, ALNUM + '/+', 40);
const azureKey = token(r, ALNUM + '+/', 86) + '==';
const sasKey = token(r, ALNUM + '+/', 43) + '=';
const uuid = () => [8, 4, 4, 4, 12].map((n) => token(r, HEX, n)).join('-');
const gh = (prefix: string) => withGithubChecksum(prefix, token(r, ALNUM, 30));

/** A sample whose secret is `value` inside `before`…`after`. */
function part(detector: string, before: string, value: string, after = ''): PositiveSample {
  const display = detector.toUpperCase();
  return { detector, display, secret: before + value + after, redacted: `${before}[REDACTED:${display}]${after}`, value };
}
const whole = (detector: string, secret: string): PositiveSample => ({ detector, display: detector.toUpperCase(), secret });

export const POSITIVES: readonly PositiveSample[] = [
  whole('email', 'jane.doe+ci@mail.acme-corp.io'),
  whole('email', 'o.brien@sub.domain.co.uk'),
  whole('phone', '(415) 555-2671'),
  whole('phone', '415-555-2671'),
  whole('phone', '415.555.2671'),
  whole('phone', '+1 415 555 2671'),
  whole('phone', '+14155552671'),
  whole('phone', '1-415-555-2671'),
  whole('phone', '+44 20 7946 0958'),
  // generated numbers (the published test cards 4111 1111 1111 1111 … are stop-listed)
  whole('credit_card', grouped(withLuhn('453201' + token(r, DIGITS, 9)))),
  whole('credit_card', grouped(withLuhn('455673' + token(r, DIGITS, 9)), '-')),
  whole('credit_card', withLuhn('4916' + token(r, DIGITS, 11))),
  whole('credit_card', grouped(withLuhn('5425' + token(r, DIGITS, 11)))),
  whole('credit_card', ((n) => `${n.slice(0, 4)} ${n.slice(4, 10)} ${n.slice(10)}`)(withLuhn('3782' + token(r, DIGITS, 10)))),
  whole('credit_card', withLuhn('6011' + token(r, DIGITS, 11))),
  whole('credit_card', withLuhn('3530' + token(r, DIGITS, 11))),
  whole('credit_card', withLuhn('222300048726510')),
  whole('us_ssn', '536-22-1234'),
  whole('us_ssn', '219-45-6780'),
  part('us_ssn', 'SSN: ', '536221234'),
  // generated (the registry's examples DE89 3704 0044 0532 0130 00 … are stop-listed)
  whole('iban', grouped(withIbanCheck('DE', token(r, DIGITS, 18)))),
  whole('iban', withIbanCheck('GB', 'WEST' + token(r, DIGITS, 14))),
  whole('iban', grouped(withIbanCheck('NL', 'ABNA' + token(r, DIGITS, 10)))),
  whole('aws_access_key_id', 'AKIA' + token(r, UPPER + DIGITS, 16)),
  whole('aws_access_key_id', 'ASIA' + token(r, UPPER + DIGITS, 16)),
  part('aws_secret_access_key', 'AWS_SECRET_ACCESS_KEY=', awsSecret),
  part('aws_secret_access_key', '"SecretAccessKey": "', awsSecret, '"'),
  whole('github_pat_classic', gh('ghp_')),
  whole('github_oauth', gh('gho_')),
  whole('github_app_token', gh('ghs_')),
  whole('github_app_token', gh('ghu_')),
  whole('github_refresh_token', gh('ghr_')),
  whole('github_pat_fine_grained', `github_pat_11${token(r, ALNUM, 20)}_${token(r, ALNUM, 59)}`),
  whole('gitlab_token', `glpat-${token(r, B64URL, 20).replace(/^[-_]|[-_]$/g, 'q')}`),
  whole('gitlab_token', `glrt-${token(r, ALNUM, 20)}`),
  whole('gitlab_token', `GR1348941${token(r, ALNUM, 20)}`),
  whole('slack_bot_token', `xoxb-${token(r, DIGITS, 13)}-${token(r, DIGITS, 13)}-${token(r, ALNUM, 24)}`),
  whole('slack_user_token', `xoxp-${token(r, DIGITS, 12)}-${token(r, DIGITS, 12)}-${token(r, DIGITS, 13)}-${token(r, HEX, 32)}`),
  whole('slack_app_token', `xapp-1-A${token(r, UPPER + DIGITS, 10)}-${token(r, DIGITS, 13)}-${token(r, HEX, 64)}`),
  whole('slack_webhook', `https://hooks.slack.com/services/T${token(r, UPPER + DIGITS, 8)}/B${token(r, UPPER + DIGITS, 10)}/${token(r, ALNUM, 24)}`),
  whole('stripe_key', `sk_live_${token(r, ALNUM, 24)}`),
  whole('stripe_key', `rk_live_${token(r, ALNUM, 99)}`),
  whole('stripe_key', `sk_test_${token(r, ALNUM, 99)}`),
  whole('openai_api_key', `sk-${token(r, ALNUM, 20)}T3BlbkFJ${token(r, ALNUM, 20)}`),
  whole('openai_api_key', `sk-proj-${token(r, B64URL, 156).replace(/^[-_]|[-_]$/g, 'q')}`),
  whole('anthropic_api_key', `sk-ant-api03-${token(r, B64URL, 93)}AA`),
  whole('google_api_key', `AIza${token(r, B64URL, 35).replace(/-$/, 'x')}`),
  part('gcp_service_account', `{"type": "service_account", "project_id": "acme-prod", "private_key": "`, `-----BEGIN PRIVATE KEY-----\\n${pemBody.replace(/\n/g, '\\n')}\\n-----END PRIVATE KEY-----\\n`, '", "client_id": "1234567890"}'),
  part('azure_storage_key', 'AccountKey=', azureKey),
  part('azure_storage_key', 'DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey=', azureKey, ';EndpointSuffix=core.windows.net'),
  part('azure_connection_string', 'Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=', sasKey),
  part('twilio_api_key', 'TWILIO_API_KEY=', `SK${token(r, HEX, 32)}`),
  whole('sendgrid_api_key', `SG.${token(r, ALNUM, 22)}.${token(r, ALNUM, 43)}`),
  whole('mailgun_api_key', `key-${token(r, HEX, 32)}`),
  part('mailgun_api_key', 'MAILGUN_API_KEY=', `${token(r, HEX, 32)}-${token(r, HEX, 8)}-${token(r, HEX, 8)}`),
  whole('npm_token', gh('npm_')),
  whole('pypi_token', `pypi-AgEIcHlwaS5vcmc${token(r, B64URL, 160).replace(/^[-_]|[-_]$/g, 'q')}`),
  whole('dockerhub_token', `dckr_pat_${token(r, ALNUM, 27)}`),
  whole('huggingface_token', `hf_${token(r, UPPER + LOWER, 34)}`),
  whole('databricks_token', `dapi${token(r, HEX, 32)}`),
  whole('shopify_token', `shpat_${token(r, HEX, 32)}`),
  whole('square_token', `EAAA${token(r, ALNUM, 60)}`),
  whole('square_token', `sq0csp-${token(r, ALNUM, 43)}`),
  whole('digitalocean_token', `dop_v1_${token(r, HEX, 64)}`),
  whole('heroku_api_key', `HRKU-AA${token(r, ALNUM, 58)}`),
  part('heroku_api_key', 'HEROKU_API_KEY=', uuid()),
  whole('daytona_api_key', `dtn_${token(r, ALNUM, 64)}`),
  whole('private_key', `-----BEGIN RSA PRIVATE KEY-----\n${pemBody}\n-----END RSA PRIVATE KEY-----`),
  whole('private_key', `-----BEGIN OPENSSH PRIVATE KEY-----\r\n${pemBody.replace(/\n/g, '\r\n')}\r\n-----END OPENSSH PRIVATE KEY-----`),
  // a key printed with its newlines JSON-escaped
  whole('private_key', `-----BEGIN PRIVATE KEY-----\\n${pemBody.replace(/\n/g, '\\n')}\\n-----END PRIVATE KEY-----`),
  whole('private_key', `-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,${token(r, '0123456789ABCDEF', 32)}\n\n${pemBody}\n-----END EC PRIVATE KEY-----`),
  whole('jwt', `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ${token(r, B64URL, 60)}.${token(r, B64URL, 43)}`),
  part('database_url', 'postgres://app:', token(r, ALNUM, 16), '@db.internal:5432/app'),
  part('database_url', 'mongodb+srv://svc:', token(r, ALNUM, 12) + '!x', '@cluster0.ab1cd.mongodb.net/prod'),
  part('database_url', 'redis://:', token(r, ALNUM, 20), '@cache:6379/0'),
  part('basic_auth_url', 'https://deploy:', token(r, ALNUM, 18), '@git.acme.io/org/repo.git'),
  part('generic_secret', 'DB_PASSWORD=', 'Tr0ub4dor!3x'),
  part('generic_secret', '"client_secret": "', token(r, ALNUM, 32), '"'),
  part('generic_secret', 'api_key: ', token(r, B64URL, 40).replace(/^[-_]|[-_]$/g, 'q')),
  part('generic_secret', 'Authorization: Bearer ', token(r, ALNUM, 40)),
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
  { text: 'zip 536221234 is not dashed', note: 'undashed 9 digits are not an SSN without the word SSN' },
  { text: 'IBAN DE89 3704 0044 0532 0130 01', note: 'IBAN with a wrong check' },
  { text: 'part DE12345678901234567890 and GB00WEST00000000000000', note: 'IBAN-shaped, not mod-97 valid' },
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
  { text: `ghp_${token(prng(1), ALNUM, 36)}`, note: 'GitHub token shape with a wrong CRC32' },
  { text: `npm_${token(prng(2), ALNUM, 36)}`, note: 'npm token shape with a wrong CRC32' },
  { text: 'export SLACK_TOKEN=xoxb-your-token-here', note: 'placeholder Slack token' },
  { text: 'pip install sk-learn-integration-tests-2024', note: 'sk- that is a package name' },
  { text: 'run task-abcdefghijKLMNOPQRST0123456789', note: 'sk- inside a word' },
  { text: `OPENAI_API_KEY=sk-${'x'.repeat(48)}`, note: 'placeholder OpenAI key' },
  { text: 'commit 3f786850e387550fdab836ed7e6dc881de23001b', note: 'git SHA' },
  { text: 'uuid 123e4567-e89b-12d3-a456-426614174000', note: 'UUID' },
  { text: 'sha512-q8a9Z3bX0cV1nM2lK4jH6gF8dS0aP9oI7uY5tR3eW1qA==', note: 'lockfile integrity hash' },
  { text: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl dev@laptop', note: 'SSH public key' },
  { text: 'the header reads -----BEGIN PUBLIC KEY-----', note: 'public key header' },
  { text: 'if (line === "-----BEGIN RSA PRIVATE KEY-----") start()', note: 'a private key header with no key' },
  { text: 'eyJ alone, and eyJhbGciOiJIUzI1NiJ9 without dots', note: 'JWT fragments' },
  { text: 'password=${DB_PASSWORD} token: <token> api_key=your-api-key secret: changeme', note: 'placeholders in assignments' },
  { text: 'PWD=/home/daytona/project OLDPWD=/tmp max_tokens=4096 total_tokens: 532', note: 'shell variables and token counts' },
  { text: 'password = os.getenv("DB_PASSWORD") and token = self.token', note: 'references in code' },
  { text: 'postgres://user:password@localhost:5432/db https://user:${TOKEN}@host', note: 'placeholder URL passwords' },
  { text: 'http://localhost:8080/ and https://api.acme.io:443/v1', note: 'URLs with ports' },
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
