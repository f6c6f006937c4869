// The full detector set: names, a true positive per detector built at run time (checksums
// computed here), hard negatives (git SHAs, UUIDs, lockfile hashes, SSH public keys,
// certificates, documented example keys, placeholders), the validators, the locators that
// replace capture groups, and the config surface (modes, allowlist, disabled detectors).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import {
  BUILTIN_DETECTOR_NAMES, DlpConfigError, Redactor, StreamRedactor, base62, builtinDetectors, crc32, createRedactStream, fromConfig,
  githubChecksumValid, ibanValid, isPlaceholderValue, luhnValid, shannonEntropy, ssnValid, withGithubChecksum, type Detector,
} from '../src/dlp/index.js';
import { ALNUM, NEGATIVES, POSITIVES, prng, token, withIbanCheck, withLuhn } from '../src/dlp/samples.js';

const all = fromConfig({ mode: 'redact' })!;
const rand = prng(0xd1f);
const HEX = '0123456789abcdef';
const names = (text: string, r: Redactor = all) => r.redact(text).findings.map((f) => f.name);

test('the built-in detector names are exactly the agreed ones', () => {
  assert.deepEqual([...BUILTIN_DETECTOR_NAMES].sort(), [
    'anthropic_api_key', 'aws_access_key_id', 'aws_secret_access_key', 'azure_connection_string', 'azure_storage_key', 'basic_auth_url',
    'credit_card', 'database_url', 'databricks_token', 'daytona_api_key', 'digitalocean_token', 'dockerhub_token', 'email',
    'gcp_service_account', 'generic_secret', 'github_app_token', 'github_oauth', 'github_pat_classic', 'github_pat_fine_grained',
    'github_refresh_token', 'gitlab_token', 'google_api_key', 'heroku_api_key', 'huggingface_token', 'iban', 'jwt', 'mailgun_api_key',
    'npm_token', 'openai_api_key', 'phone', 'private_key', 'pypi_token', 'sendgrid_api_key', 'shopify_token', 'slack_app_token',
    'slack_bot_token', 'slack_user_token', 'slack_webhook', 'square_token', 'stripe_key', 'twilio_api_key', 'us_ssn',
  ]);
  for (const d of builtinDetectors) {
    assert.equal(d.display, d.name.toUpperCase(), 'display = NAME');
    assert.match(d.regex, /^[\x20-\x7e]*$/, `${d.name}: ASCII-only regex`);
  }
  const groups = Object.fromEntries(builtinDetectors.map((d) => [d.name, d.group]));
  assert.equal(groups.iban, 'credit_card');
  assert.equal(groups.us_ssn, 'ssn');
  assert.equal(groups.jwt, 'api_keys');
  const covered = new Set(POSITIVES.map((p) => p.detector));
  for (const n of BUILTIN_DETECTOR_NAMES) assert.ok(covered.has(n), `no sample for ${n}`);
});

// ---------------------------------------------------------------------------------------
// checksums and validators

test('GitHub/npm token checksum: CRC32 of the 30 random characters, base62, 6 characters', () => {
  // the reference CRC32 is zlib's (Node ≥ 20.15), independent of ours
  const zcrc = (zlib as unknown as { crc32?: (d: string) => number }).crc32;
  for (let i = 0; i < 200; i++) {
    const body = token(rand, ALNUM, 30);
    if (zcrc) assert.equal(crc32(body), zcrc(body) >>> 0);
    const t = withGithubChecksum('ghp_', body);
    assert.equal(t.length, 40);
    assert.ok(githubChecksumValid(t.slice(4)));
    // any change of one character of the body or the checksum breaks it
    const k = Math.floor(rand() * 36);
    const swapped = t.slice(4, 4 + k) + (t[4 + k] === 'a' ? 'b' : 'a') + t.slice(5 + k);
    assert.ok(!githubChecksumValid(swapped));
  }
  assert.equal(crc32('123456789'), 0xcbf43926, 'the CRC-32 check value');
  assert.equal(base62(0, 6), '000000');
  assert.equal(base62(61, 6), '00000z');
  assert.equal(base62(62, 6), '000010');
  assert.equal(base62(0xffffffff, 6), '4gfFC3');
  // a token built by hand from the rule: body, then base62(crc32(body)) left-padded with 0
  const body = 'aZ3kQ9mW2xR7pL5vB8nT4yH6jC1dF0';
  const sum = crc32(body);
  let b62 = '';
  for (let n = sum; n > 0; n = Math.floor(n / 62)) b62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'[n % 62] + b62;
  const tok = 'gho_' + body + b62.padStart(6, '0');
  assert.equal(tok, withGithubChecksum('gho_', body));
  assert.deepEqual(names(`token ${tok}`), ['github_oauth']);
  assert.deepEqual(names(`token gho_${body}AAAAAA`), [], 'wrong checksum');
  // the prefix is not part of the CRC: the same body is valid under every prefix
  for (const p of ['ghp_', 'ghu_', 'ghs_', 'ghr_', 'npm_']) assert.equal(names(withGithubChecksum(p, body)).length, 1, p);
});

test('Luhn, SSN ranges, IBAN mod-97, entropy, placeholders', () => {
  assert.ok(luhnValid('79927398713'));
  assert.ok(!luhnValid('79927398710'));
  assert.ok(!luhnValid(''));
  assert.ok(ssnValid('536221234'));
  for (const no of ['000221234', '666221234', '900221234', '536001234', '536220000', '123456789', '078051120', '111111111', '53622123']) assert.ok(!ssnValid(no), no);
  // examples from the SWIFT IBAN registry
  for (const iban of ['DE89370400440532013000', 'GB82WEST12345698765432', 'FR1420041010050500013M02606', 'NL91ABNA0417164300', 'BE68539007547034', 'CH9300762011623852957', 'NO9386011117947', 'MT84MALT011000012345MTLCAST001S']) {
    assert.ok(ibanValid(iban), iban);
  }
  for (const no of ['DE89370400440532013001', 'DE8937040044053201300', 'XX89370400440532013000', 'GB82WEST1234569876543']) assert.ok(!ibanValid(no), no);
  assert.equal(shannonEntropy(''), 0);
  assert.equal(shannonEntropy('aaaa'), 0);
  assert.equal(shannonEntropy('abcd'), 2);
  assert.ok(shannonEntropy(token(rand, ALNUM, 40)) > 4.5);
  for (const p of ['${DB_PASSWORD}', '$TOKEN', '<token>', '{{ secret }}', 'your-api-key', 'changeme', 'changeme123', 'xxxxxxxx', '********', 'process.env.SECRET', 'DB_PASSWORD', 'not-a-real-secret', '/etc/secret.pem', 'secret.json', 'example', 'dummy-token']) {
    assert.ok(isPlaceholderValue(p), p);
  }
  for (const v of ['Tr0ub4dor!3x', token(rand, ALNUM, 24), 'hunter2!']) assert.ok(!isPlaceholderValue(v), v);
});

// ---------------------------------------------------------------------------------------
// true positives beyond the samples, built at run time

const b64 = (n: number) => token(rand, ALNUM + '+/', n);

const MORE_POSITIVES: [detector: string, text: string][] = [
  ['aws_secret_access_key', `aws_secret_access_key = ${b64(40)}`],
  ['aws_secret_access_key', `--aws-secret-access-key '${b64(40)}'`],
  ['github_app_token', `git push https://x-access-token:${withGithubChecksum('ghs_', token(rand, ALNUM, 30))}@github.com/org/repo.git`],
  ['gitlab_token', `CI_JOB_TOKEN=glcbt-64_${token(rand, ALNUM, 20)}`],
  ['gitlab_token', `glpat-${token(rand, ALNUM, 27)}.01.${token(rand, 'abcdefghijklmnopqrstuvwxyz0123456789', 9)}`],
  ['slack_user_token', `xoxe.xoxp-1-${token(rand, ALNUM, 140)}`],
  ['slack_webhook', `curl -X POST https://hooks.slack.com/workflows/T${token(rand, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 8)}/A${token(rand, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 10)}/${token(rand, ALNUM, 24)}`],
  ['openai_api_key', `OPENAI_API_KEY=sk-svcacct-${token(rand, ALNUM + '-_', 120).replace(/^[-_]|[-_]$/g, 'q')}`],
  ['anthropic_api_key', `x-api-key: sk-ant-admin01-${token(rand, ALNUM + '-_', 93)}AA`],
  ['database_url', `DATABASE_URL=postgresql+psycopg2://svc:${token(rand, ALNUM, 20)}@10.0.0.5/app`],
  ['database_url', `amqps://guest:${token(rand, ALNUM, 14)}@mq.internal:5671`],
  ['basic_auth_url', `git clone https://oauth2:${token(rand, ALNUM, 20)}@gitlab.acme.io/g/p.git`],
  ['generic_secret', `export API_TOKEN="${token(rand, ALNUM, 32)}"`],
  ['generic_secret', `  password: '${token(rand, ALNUM, 10)}#1'`],
  ['generic_secret', `{"secret_key": "${token(rand, HEX, 48)}"}`],
  ['generic_secret', `curl -H "Authorization: Basic ${Buffer.from(`admin:${token(rand, ALNUM, 12)}`).toString('base64')}" https://x`],
  ['generic_secret', `//registry.npmjs.org/:_authToken=${[8, 4, 4, 4, 12].map((n) => token(rand, HEX, n)).join('-')}`],
  ['huggingface_token', `HF_TOKEN=hf_${token(rand, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', 34)}`],
  ['dockerhub_token', `echo dckr_pat_${token(rand, ALNUM + '-_', 27).replace(/^[-_]|[-_]$/g, 'q')} | docker login -u acme --password-stdin`],
  ['square_token', `sq0atp-${token(rand, ALNUM, 22)}`],
  ['shopify_token', `shpss_${token(rand, HEX, 32)}`],
  ['digitalocean_token', `DIGITALOCEAN_TOKEN=dor_v1_${token(rand, HEX, 64)}`],
  ['databricks_token', `DATABRICKS_TOKEN=dapi${token(rand, HEX, 32)}-2`],
  ['twilio_api_key', `twilio api:core:keys:create → sid: SK${token(rand, HEX, 32)}`],
  ['mailgun_api_key', `curl -s --user 'api:key-${token(rand, HEX, 32)}' https://api.mailgun.net/v3/x`],
  ['us_ssn', 'ssn=536-22-1234'],
  ['iban', `IBAN: ${withIbanCheck('FR', '20041010050500013M026' + token(rand, '0123456789', 2)).replace(/(.{4})/g, '$1 ').trim()}`],
  ['credit_card', `Amex ${((n) => `${n.slice(0, 4)} ${n.slice(4, 10)} ${n.slice(10)}`)(withLuhn('3714' + token(rand, '0123456789', 10)))}`],
  ['phone', 'tel +49 30 901820'],
];

for (const [detector, text] of MORE_POSITIVES) {
  test(`detects ${detector} in ${JSON.stringify(text.slice(0, 50))}`, () => {
    const { findings, text: out } = all.redact(text);
    assert.deepEqual(findings.map((f) => f.name), [detector], `${out}`);
    assert.ok(out.includes(`[REDACTED:${detector.toUpperCase()}]`));
  });
}

test('only the secret part is redacted where the match is wider than the secret', () => {
  const pw = token(rand, ALNUM, 16);
  assert.equal(all.redact(`postgres://app:${pw}@db:5432/x`).text, 'postgres://app:[REDACTED:DATABASE_URL]@db:5432/x');
  assert.equal(all.redact(`DB_PASSWORD="${pw}"`).text, 'DB_PASSWORD="[REDACTED:GENERIC_SECRET]"');
  assert.equal(all.redact(`Authorization: Bearer ${pw}xyz`).text, 'Authorization: Bearer [REDACTED:GENERIC_SECRET]');
  const key = b64(86) + '==';
  assert.equal(
    all.redact(`DefaultEndpointsProtocol=https;AccountName=a;AccountKey=${key};EndpointSuffix=core.windows.net`).text,
    'DefaultEndpointsProtocol=https;AccountName=a;AccountKey=[REDACTED:AZURE_STORAGE_KEY];EndpointSuffix=core.windows.net',
  );
  assert.equal(all.redact(`AccountKey=${key}`).text, 'AccountKey=[REDACTED:AZURE_STORAGE_KEY]');
  // an AWS key pair on one line: the id and the secret are two findings
  const id = 'AKIA' + token(rand, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16);
  assert.equal(all.redact(`${id},${b64(40)}`).text, '[REDACTED:AWS_ACCESS_KEY_ID],[REDACTED:AWS_SECRET_ACCESS_KEY]');
});

test('a service-account key file: the private key is redacted, the rest stays', () => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const keyId = createHash('sha1').update(pem).digest('hex');
  const json = JSON.stringify({ type: 'service_account', project_id: 'acme', private_key_id: keyId, private_key: pem, client_id: '1234' }, null, 2);
  const out = all.redact(json).text;
  assert.ok(!out.includes(pem.split('\n')[1]!));
  assert.ok(out.includes(keyId), 'the key id is a hex digest, not the key');
  assert.match(out, /"private_key": "\[REDACTED:GCP_SERVICE_ACCOUNT\]"/);
  assert.match(out, /"type": "service_account"/);
  // the same key printed as PEM: one PRIVATE_KEY redaction of the whole block
  assert.equal(all.redact(`key:\n${pem}done\n`).text, 'key:\n[REDACTED:PRIVATE_KEY]\ndone\n');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'sec1', format: 'pem' }).toString();
  assert.equal(all.redact(ec).text, '[REDACTED:PRIVATE_KEY]\n');
});

// ---------------------------------------------------------------------------------------
// hard negatives

test('hard negatives: hashes, ids, public keys, certificates, lockfiles, examples, placeholders', () => {
  const { publicKey } = generateKeyPairSync('ed25519');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const spki = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const sshRsa = `ssh-rsa ${rsa.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')} ci@build`;
  const sshEd = `ssh-ed25519 ${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')} dev@laptop`;
  // a certificate-shaped PEM block (base64 body of random DER-like bytes)
  const certBody = (Buffer.from(Array.from({ length: 600 }, () => Math.floor(rand() * 256))).toString('base64').match(/.{1,64}/g) ?? []).join('\n');
  const cert = `-----BEGIN CERTIFICATE-----\n${certBody}\n-----END CERTIFICATE-----`;
  const sha1 = createHash('sha1').update('x').digest('hex');
  const sha256 = createHash('sha256').update('x').digest('hex');
  const integrity = `sha512-${createHash('sha512').update('left-pad').digest('base64')}`;
  const texts = [
    `commit ${sha1}\nMerge: ${sha1.slice(0, 7)} ${sha1.slice(7, 14)}`,
    `sha256:${sha256}  image@sha256:${sha256}`,
    `"integrity": "${integrity}",\n"resolved": "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz"`,
    `left-pad@^1.3.0:\n  version "1.3.0"\n  integrity ${integrity}`,
    'request_id=4f5c0b8e-3a7d-4c1e-9f2a-6b8d0e1c2a3f trace 123e4567-e89b-12d3-a456-426614174000',
    'session_token_id: 4f5c0b8e-3a7d-4c1e-9f2a-6b8d0e1c2a3f',
    sshRsa,
    sshEd,
    spki,
    cert,
    '-----BEGIN OPENSSH PUBLIC KEY-----',
    'AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    'aws_access_key_id=AKIAIOSFODNN7EXAMPLE\naws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    'sk_test_4eC39HqLyjWDarjtT1zdp7dc',
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
    'GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
    'OPENAI_API_KEY=sk-...\nANTHROPIC_API_KEY=<your-key>\nAPI_KEY=${API_KEY}\nSECRET=changeme\ntoken: "{{ .Values.token }}"',
    'password: ********\npassword=xxxxxxxx\npassword: "<password>"\npassword = None\npasswd: required',
    'const password = req.body.password; let token = getToken(); secret: str',
    'if password == "": return; token_type: bearer; tokens: 4096; max_tokens=1000',
    "DATABASE_URL=postgres://user:pass@localhost/db\nREDIS_URL=redis://:${REDIS_PASSWORD}@redis:6379",
    'http://[::1]:8080/path https://host:8443/ git@github.com:org/repo.git ssh://git@host:22/repo',
    'uuid=00000000-0000-0000-0000-000000000000 heroku apps:info 4f5c0b8e-3a7d-4c1e-9f2a-6b8d0e1c2a3f',
    'Bearer realm="api", error="invalid_token"',
    'BASE64 data QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo= and hex deadbeefdeadbeefdeadbeefdeadbeef',
    'version 4.111111111111111 and ts 1700000000.123456',
    'key-value store, key-rotation, sk-learn, hf_transfer, dapi-client, npm_config_cache',
    'the twilio docs say SKxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx is a placeholder',
  ];
  for (const text of texts) {
    const { findings } = all.redact(text);
    assert.deepEqual(findings, [], `${findings.map((f) => `${f.name}:${JSON.stringify(text.slice(f.start, f.end))}`).join(', ')} in ${JSON.stringify(text.slice(0, 80))}`);
  }
  for (const n of NEGATIVES) assert.deepEqual(names(n.text), [], n.note);
});

// ---------------------------------------------------------------------------------------
// locators == capture groups

test('each locator returns exactly the span of its secretGroup (samples and fuzzed text)', () => {
  const located = builtinDetectors.filter((d) => d.locate && d.secretGroup !== undefined);
  assert.ok(located.length >= 10);
  const withGroups = located.map((d) => ({ ...d, locate: undefined }) as Detector);
  const fast = new Redactor(located);
  const slow = new Redactor(withGroups);
  const same = (text: string) => {
    const a = fast.redactBuffer(Buffer.from(text, 'latin1')).findings;
    const b = slow.redactBuffer(Buffer.from(text, 'latin1')).findings;
    assert.deepEqual(a, b, JSON.stringify(text));
  };
  for (const p of POSITIVES) same(`> ${p.secret} <`);
  const bits = fc.constantFrom(
    'password', 'PASSWORD', 'pwd', 'secret', 'api_key', 'token', 'Authorization', 'Bearer', 'basic', ' ', '\t', '\n', '=', ':', ':=', '=>', '"', "'",
    'hunter2!', 'Tr0ub4dor', 'AKIA', 'QWERTYUIOPASDFGH', 'aws_secret_access_key', '/', '+', 'postgres://', 'https://', 'user', '@', 'host', 'SharedAccessKey=',
    'AccountKey=', 'DefaultEndpointsProtocol=https;', 'twilio', 'SK', 'mailgun', '0123456789abcdef', 'heroku_api_key', '-', 'SSN', '536', '22', '1234',
    '"private_key": "', '\\"private_key\\":\\"', '-----BEGIN PRIVATE KEY-----', '\\n', '\\\\n', 'QUJD', '-----END PRIVATE KEY-----', 'x', '9',
    '--password', '--requirepass", "', ' ?? ', ' or ', "'", 'getenv("DB_PASSWORD", ', 'login ci ', 'heroku.com', 'machine api.heroku.com\n', '"sid": "',
    '0123456789abcdef0123456789abcdef', ':$TWILIO', '4f5c0b8e-3a7d-4c1e-9f2a-6b8d0e1c2a3f', '_b64', '_base64', '_key', '_value', 'access_token', '--api-key',
  );
  fc.assert(
    fc.property(fc.array(bits, { maxLength: 40 }), (parts) => same(parts.join(''))),
    { numRuns: Number(process.env.DLP_FUZZ_RUNS) || 2000 },
  );
});

// ---------------------------------------------------------------------------------------
// config: modes, allowlist, disabled detectors

test('modes: redact and block redact, audit reports and changes nothing, disabled is null', async () => {
  const key = 'AKIA' + 'Q3WZ7RX2MLP9TB4N';
  const text = `id ${key} end`;
  const red = fromConfig({ mode: 'redact' })!;
  const block = fromConfig({ mode: 'block' })!;
  const audit = fromConfig({ mode: 'audit' })!;
  assert.equal(fromConfig({ mode: 'disabled' }), null);
  assert.deepEqual([red.mode, block.mode, audit.mode], ['redact', 'block', 'audit']);
  assert.equal(red.redact(text).text, 'id [REDACTED:AWS_ACCESS_KEY_ID] end');
  assert.equal(block.redact(text).text, 'id [REDACTED:AWS_ACCESS_KEY_ID] end');
  const a = audit.redact(text);
  assert.equal(a.text, text);
  assert.deepEqual(a.findings, [{ name: 'aws_access_key_id', display: 'AWS_ACCESS_KEY_ID', start: 3, end: 23, source: 'builtin' }]);
  const buf = Buffer.from(text);
  const ab = audit.redactBuffer(buf);
  assert.equal(ab.buffer, buf);
  assert.equal(ab.findings.length, 1);
  assert.deepEqual(audit.scan(text), a.findings);
  assert.equal(audit.withMode('redact').redact(text).text, red.redact(text).text);
  assert.equal(audit.withMode('audit'), audit);
  // streams in audit mode: every chunk comes back at once and unchanged, findings reported
  const found: string[] = [];
  const s = new StreamRedactor(audit, { onFinding: (f) => found.push(f.name) });
  const c1 = Buffer.from('id AKIA');
  assert.equal(s.push(c1), c1);
  assert.equal(s.heldBytes, 0);
  assert.equal(s.push(Buffer.from(`${key.slice(4)} end`)).toString(), `${key.slice(4)} end`);
  assert.equal(s.end().length, 0);
  assert.deepEqual(found, ['aws_access_key_id']);
  const out: Buffer[] = [];
  await pipeline(Readable.from([Buffer.from('x AKIAQ3WZ'), Buffer.from('7RX2MLP9TB4N\n')]), createRedactStream(audit), new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }));
  assert.equal(Buffer.concat(out).toString(), `x ${key}\n`);
  assert.throws(() => fromConfig({ mode: 'tokenize' }), /dlp\.mode "tokenize" is not supported \(redact \| block \| audit \| disabled\)/);
  assert.throws(() => new Redactor([], { mode: 'nope' as never }), DlpConfigError);
});

test('allowlist: exact values and re: regexes (whole span) are never redacted', () => {
  const keep = 'AKIA' + 'Q3WZ7RX2MLP9TB4N';
  const other = 'AKIA' + 'ZZWZ7RX2MLP9TB4N';
  const pw = 'Sup3rS3cret!';
  const r = fromConfig({ mode: 'redact', allowlist: [keep, 're:AKIAZZ[A-Z0-9]{14}', pw] })!;
  assert.equal(r.redact(`${keep} ${other} ann@acme.io`).text, `${keep} ${other} [REDACTED:EMAIL]`);
  assert.equal(r.redact(`password=${pw}`).text, `password=${pw}`, 'the value of an assignment');
  assert.equal(r.redact(`password=${pw}x`).text, 'password=[REDACTED:GENERIC_SECRET]', 'exact means exact');
  // a regex must match the whole span, not a part of it
  const partial = fromConfig({ allowlist: ['re:AKIA'] })!;
  assert.equal(partial.redact(keep).text, '[REDACTED:AWS_ACCESS_KEY_ID]');
  // custom patterns too
  const custom = fromConfig({ patterns: { email: true }, custom_patterns: [{ name: 't', regex: 'T-[0-9]+' }], allowlist: ['T-1'] })!;
  assert.equal(custom.redact('T-1 T-2').text, 'T-1 [REDACTED:t]');
  assert.throws(() => fromConfig({ allowlist: ['re:(x'] }), (err: unknown) => err instanceof DlpConfigError && /dlp\.allowlist\[0\]: invalid RE2 regex/.test(err.message));
});

test('disabled_detectors leaves those built-ins out (every table entry of that name)', () => {
  const r = fromConfig({ disabled_detectors: ['email', 'generic_secret', 'aws_secret_access_key'] })!;
  assert.ok(!r.detectors.some((d) => ['email', 'generic_secret', 'aws_secret_access_key'].includes(d.name)));
  assert.equal(r.redact('ann@acme.io password=Tr0ub4dor!3x').text, 'ann@acme.io password=Tr0ub4dor!3x');
  // toggles still apply: api_keys off keeps every credential detector out
  const pii = fromConfig({ patterns: { email: true, phone: true, credit_card: true, ssn: true } })!;
  assert.deepEqual([...new Set(pii.detectors.map((d) => d.name))].sort(), ['credit_card', 'email', 'iban', 'phone', 'us_ssn']);
});
