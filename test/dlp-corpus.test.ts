// The labelled DLP corpus (test/fixtures/dlp-corpus/) is consistent: the generator
// reproduces the committed files byte for byte, every label lies inside its file and has the
// shape of its type (checksums, Luhn, mod-97, valid SSN ranges included), hard negatives
// really are negatives, and the scorer counts right on synthetic detectors. Detection
// quality itself is NOT asserted here: that is the benchmark's (bench/dlp-score.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CORPUS_DIR, LABELS_FILE, NEGATIVE_KINDS, PFX, SECRET_TYPES, checksumValid, corpusStats, generateCorpus, ibanMod97, listFiles, luhnOk,
  readCorpus, writeCorpus, type Label, type SecretType,
} from '../bench/dlp-corpus/index.js';
import { scoreCorpus, type ScoreFinding } from '../bench/dlp-score.js';

const corpus = readCorpus(CORPUS_DIR);
const text = (data: Buffer, l: { start: number; end: number }) => data.toString('utf8', l.start, l.end);

test('the generator reproduces the committed corpus byte for byte', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dlp-corpus-'));
  try {
    writeCorpus(dir, generateCorpus());
    const fresh = listFiles(dir);
    assert.deepEqual(fresh, listFiles(CORPUS_DIR), 'the same set of files');
    for (const f of fresh) assert.ok(readFileSync(join(dir, f)).equals(readFileSync(join(CORPUS_DIR, f))), `${f} differs: run node dist/bench/dlp-corpus/index.js`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('labels.json lists every document, with its size', () => {
  const listed = corpus.labels.files.map((f) => f.path).sort();
  assert.deepEqual(listed, listFiles(CORPUS_DIR).filter((f) => f !== LABELS_FILE));
  for (const [i, f] of corpus.files.entries()) assert.equal(f.data.length, corpus.labels.files[i]!.bytes, f.path);
  assert.deepEqual(corpus.labels.types, SECRET_TYPES);
});

test('the corpus is big and varied enough', () => {
  const st = corpusStats(corpus.labels);
  assert.ok(st.files >= 40 && st.files <= 80, `${st.files} files`);
  assert.ok(st.bytes >= 1_000_000, `${st.bytes} bytes`);
  for (const t of SECRET_TYPES) assert.ok((st.perType[t] ?? 0) >= 5, `only ${st.perType[t]} labels of ${t}`);
  const contexts = new Set(corpus.labels.files.map((f) => f.path.split('/')[0]));
  for (const c of ['env', 'dotenv', 'config', 'logs', 'curl', 'api', 'src', 'git', 'docker', 'ci', 'lock', 'ssh', 'certs', 'docs', 'data', 'shell']) assert.ok(contexts.has(c), `no ${c}/ documents`);
  for (const k of ['git_sha', 'uuid', 'integrity_hash', 'base64_blob', 'ssh_public_key', 'x509_certificate', 'aws_documented_example', 'placeholder', 'card_luhn_invalid', 'ssn_invalid', 'iban_bad_checksum', 'version_string', 'timestamp', 'hex_color', 'reserved_email']) {
    assert.ok((st.perNegative[k] ?? 0) > 0, `no hard negative of kind ${k}`);
  }
});

test('labels and negatives lie inside their files, sorted, without overlaps', () => {
  const types = new Set<string>(SECRET_TYPES);
  const kinds = new Set<string>(NEGATIVE_KINDS);
  for (const [i, f] of corpus.files.entries()) {
    const meta = corpus.labels.files[i]!;
    let last = 0;
    for (const l of meta.labels) {
      assert.ok(types.has(l.type), `${f.path}: unknown type ${l.type}`);
      for (const a of l.also ?? []) assert.ok(types.has(a), `${f.path}: unknown also-type ${a}`);
      assert.ok(Number.isInteger(l.start) && Number.isInteger(l.end) && l.start >= last && l.start < l.end && l.end <= f.data.length, `${f.path}: bad span ${l.start}-${l.end}`);
      last = l.end;
      // spans start and end on UTF-8 character boundaries
      for (const b of [l.start, l.end]) assert.ok(b === f.data.length || (f.data[b]! & 0xc0) !== 0x80, `${f.path}:${b} inside a character`);
    }
    for (const ng of meta.negatives) {
      assert.ok(kinds.has(ng.kind), `${f.path}: unknown negative ${ng.kind}`);
      assert.ok(ng.start >= 0 && ng.start < ng.end && ng.end <= f.data.length, `${f.path}: bad negative span`);
      assert.ok(!meta.labels.some((l) => l.start < ng.end && ng.start < l.end), `${f.path}:${ng.start} negative overlaps a label`);
    }
  }
});

// --------------------------------------------------------------------------- shapes

const PEM = /^-----BEGIN ((?:RSA|EC|OPENSSH|ENCRYPTED) )?PRIVATE KEY-----(?:\r?\n\+?|\\\\?n)[\s\S]+(?:\n\+?|\\\\?n)-----END \1?PRIVATE KEY-----$/;
const DB_SCHEMES = /(?:postgres|postgresql(?:\+psycopg2)?|mysql|mongodb(?:\+srv)?|redis|rediss|amqp|amqps):\/\/[^\s:@/]*:$/;
const URL_USER = /([a-z][a-z0-9+.-]*):\/\/[^\s:@/]*:$/;

function ssnValid(s: string): boolean {
  const d = s.replace(/-/g, '');
  const area = Number(d.slice(0, 3));
  return /^\d{9}$/.test(d) && area !== 0 && area !== 666 && area < 900 && d.slice(3, 5) !== '00' && d.slice(5) !== '0000' && d !== '123456789';
}

const before = (data: Buffer, l: Label, n: number) => data.toString('latin1', Math.max(0, l.start - n), l.start);
const after = (data: Buffer, l: Label, n: number) => data.toString('latin1', l.end, Math.min(data.length, l.end + n));

const SHAPES: Record<SecretType, (t: string, data: Buffer, l: Label) => boolean> = {
  aws_access_key_id: (t) => /^(AKIA|ASIA)[A-Z2-7]{16}$/.test(t),
  aws_secret_access_key: (t) => /^[A-Za-z0-9/+]{40}$/.test(t),
  github_pat_classic: (t) => /^ghp_[A-Za-z0-9]{36}$/.test(t) && checksumValid(PFX.ghp, t),
  github_pat_fine_grained: (t) => /^github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}$/.test(t),
  github_oauth: (t) => /^gho_[A-Za-z0-9]{36}$/.test(t) && checksumValid(PFX.gho, t),
  github_app_token: (t) => /^gh[su]_[A-Za-z0-9]{36}$/.test(t) && checksumValid(t.slice(0, 4), t),
  github_refresh_token: (t) => /^ghr_[A-Za-z0-9]{36}$/.test(t) && checksumValid(PFX.ghr, t),
  gitlab_token: (t) => /^glpat-[A-Za-z0-9_-]{20}$/.test(t),
  slack_bot_token: (t) => /^xoxb-\d{10,13}-\d{10,13}-[A-Za-z0-9]{24}$/.test(t),
  slack_user_token: (t) => /^xoxp-\d{10,13}-\d{10,13}-\d{10,13}-[a-f0-9]{32}$/.test(t),
  slack_app_token: (t) => /^xapp-\d-A[A-Z0-9]{8,12}-\d{10,13}-[a-f0-9]{64}$/.test(t),
  slack_webhook: (t) => /^https:\/\/hooks\.slack\.com\/services\/T[A-Z0-9]{8,10}\/B[A-Z0-9]{8,11}\/[A-Za-z0-9]{24}$/.test(t),
  stripe_key: (t) => /^(sk_live|sk_test|rk_live)_[A-Za-z0-9]{24,99}$/.test(t),
  openai_api_key: (t) => /^sk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,80}T3BlbkFJ[A-Za-z0-9_-]{20,80}$/.test(t),
  anthropic_api_key: (t) => /^sk-ant-api03-[A-Za-z0-9_-]{93}AA$/.test(t),
  google_api_key: (t) => /^AIza[A-Za-z0-9_-]{35}$/.test(t),
  gcp_service_account: (t) => /^-----BEGIN PRIVATE KEY-----\\{1,2}n/.test(t) && PEM.test(t),
  azure_storage_key: (t, d, l) => /^[A-Za-z0-9+/]{86}==$/.test(t) && /AccountKey=$|--account-key $|"AccountKey": "$/.test(before(d, l, 20)),
  azure_connection_string: (t, d, l) => /^[A-Za-z0-9+/]{43}=$/.test(t) && before(d, l, 16).endsWith('SharedAccessKey='),
  twilio_api_key: (t, d, l) => /^SK[a-f0-9]{32}$/.test(t) && /twilio/i.test(before(d, l, 120)),
  sendgrid_api_key: (t) => /^SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/.test(t),
  mailgun_api_key: (t) => /^key-[a-f0-9]{32}$/.test(t),
  npm_token: (t) => /^npm_[A-Za-z0-9]{36}$/.test(t) && checksumValid(PFX.npm, t),
  pypi_token: (t) => /^pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}$/.test(t),
  dockerhub_token: (t) => /^dckr_pat_[A-Za-z0-9_-]{27}$/.test(t),
  huggingface_token: (t) => /^hf_[A-Za-z]{34}$/.test(t),
  databricks_token: (t) => /^dapi[a-f0-9]{32}$/.test(t),
  shopify_token: (t) => /^shp(at|ca|pa|ss)_[a-f0-9]{32}$/.test(t),
  square_token: (t) => /^(EAAA[A-Za-z0-9_-]{60}|sq0atp-[A-Za-z0-9_-]{22}|sq0csp-[A-Za-z0-9_-]{43})$/.test(t),
  digitalocean_token: (t) => /^do[opr]_v1_[a-f0-9]{64}$/.test(t),
  heroku_api_key: (t, d, l) => /^HRKU-AA[A-Za-z0-9_-]{58}$/.test(t) || (/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(t) && /heroku/i.test(before(d, l, 80))),
  jwt: (t) => {
    const m = /^(eyJ[A-Za-z0-9_-]+)\.(eyJ[A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43,})$/.exec(t);
    if (!m) return false;
    const header = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')) as { alg?: string };
    JSON.parse(Buffer.from(m[2]!, 'base64url').toString('utf8'));
    return typeof header.alg === 'string';
  },
  private_key: (t) => PEM.test(t),
  database_url: (t, d, l) => /^[A-Za-z0-9._~-]{8,}$/.test(t) && DB_SCHEMES.test(before(d, l, 60)) && after(d, l, 1) === '@',
  basic_auth_url: (t, d, l) => {
    const m = URL_USER.exec(before(d, l, 60));
    return /^[A-Za-z0-9._~-]{8,}$/.test(t) && !!m && !DB_SCHEMES.test(before(d, l, 60)) && after(d, l, 1) === '@';
  },
  generic_secret: (t) => t.length >= 16 && !/\s/.test(t) && !/(.)\1{5}/.test(t),
  daytona_api_key: (t) => /^dtn_[a-f0-9]{64}$/.test(t),
  credit_card: (t) => {
    const digits = t.replace(/[ -]/g, '');
    return /^\d{13,19}$/.test(digits) && /^(\d{4}([ -]?)\d{4}\2\d{4}\2\d{4}|\d{4}([ -]?)\d{6}\3\d{5})$/.test(t) && luhnOk(digits);
  },
  us_ssn: (t) => /^\d{3}-\d{2}-\d{4}$|^\d{9}$/.test(t) && ssnValid(t),
  email: (t) => /^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$/.test(t) && !/@(.*\.)?(example\.(com|org|net)|test|invalid|example|localhost)$/.test(t),
  phone: (t) => /^[+()\d .-]+$/.test(t) && t.replace(/\D/g, '').length >= 10 && t.replace(/\D/g, '').length <= 15,
  iban: (t) => /^[A-Z]{2}\d{2}(?: ?[A-Z0-9]){10,30}$/.test(t) && ibanMod97(t) === 1,
};

test('every label has the shape of its type (checksums, Luhn, mod-97, SSN ranges, context)', () => {
  const bad: string[] = [];
  for (const [i, f] of corpus.files.entries()) {
    for (const l of corpus.labels.files[i]!.labels) {
      const t = text(f.data, l);
      if (!SHAPES[l.type](t, f.data, l)) bad.push(`${f.path}:${l.start} ${l.type} ${JSON.stringify(t.slice(0, 60))}`);
      if (/EXAMPLE|xxxxxxxx|XXXXXXXX|\$\{|<your/i.test(t)) bad.push(`${f.path}:${l.start} ${l.type} looks like a placeholder`);
    }
  }
  assert.deepEqual(bad, []);
});

test('hard negatives with a checkable rule really fail it', () => {
  const bad: string[] = [];
  for (const [i, f] of corpus.files.entries()) {
    for (const ng of corpus.labels.files[i]!.negatives) {
      const t = text(f.data, ng);
      const ok =
        ng.kind === 'card_luhn_invalid' ? !luhnOk(t.replace(/[ -]/g, '')) :
        ng.kind === 'iban_bad_checksum' ? ibanMod97(t) !== 1 :
        ng.kind === 'ssn_invalid' ? !ssnValid(t) :
        ng.kind === 'checksum_invalid_token' ? !checksumValid(PFX.ghp, t) :
        ng.kind === 'aws_documented_example' ? /EXAMPLE/.test(t) :
        ng.kind === 'reserved_email' ? /@(.*\.)?(example\.(com|org|net)|test|invalid|example)$/.test(t) :
        true;
      if (!ok) bad.push(`${f.path}:${ng.start} ${ng.kind} ${JSON.stringify(t)}`);
    }
  }
  assert.deepEqual(bad, []);
});

// --------------------------------------------------------------------------- the scorer

const labelsOf = (path: string) => corpus.labels.files.find((f) => f.path === path)!;

test('scorer: a detector that reports exactly the labels scores 1', () => {
  const s = scoreCorpus({ corpus, scanner: (_d, path) => labelsOf(path).labels.map((l): ScoreFinding => ({ name: l.type, start: l.start, end: l.end })) });
  for (const m of [s.strict, s.anyType]) {
    assert.equal(m.micro.f1, 1);
    assert.equal(m.micro.tp, s.corpus.labels);
    assert.equal(m.macro.f1, 1);
  }
  assert.equal(s.falseNegatives.length + s.falsePositives.length + s.partial.length, 0);
  assert.equal(s.throughput, undefined);
});

test('scorer: wrong types count in strict mode only; misses, partial spans and FPs are listed', () => {
  // every label found with a wrong name, half of each span only, plus a finding on each negative
  const s = scoreCorpus({
    corpus,
    scanner: (_d, path) => {
      const f = labelsOf(path);
      const out: ScoreFinding[] = f.labels.map((l) => ({ name: l.type === 'email' ? 'phone' : 'email', start: l.start, end: l.start + Math.max(1, (l.end - l.start) >> 1) }));
      for (const ng of f.negatives.slice(0, 2)) out.push({ name: 'generic_secret', start: ng.start, end: ng.end });
      return out;
    },
  });
  assert.equal(s.strict.micro.tp, 0);
  assert.equal(s.anyType.micro.tp, s.corpus.labels);
  assert.equal(s.anyType.micro.recall, 1);
  assert.equal(s.falseNegatives.length, s.corpus.labels);
  assert.ok(s.falseNegatives.every((m) => m.overlapping?.length === 1));
  assert.ok(s.partial.length > 0 && s.leakedBytes > 0);
  const onNegatives = s.falsePositives.filter((m) => m.negative);
  assert.ok(onNegatives.length > 0 && onNegatives.every((m) => m.type === 'generic_secret'));
  // snippets never show a labelled secret (any of the file's labels: they are masked)
  for (const m of [...s.falseNegatives, ...s.falsePositives, ...s.partial]) {
    const i = corpus.files.findIndex((f) => f.path === m.file);
    for (const l of corpus.labels.files[i]!.labels) {
      const secret = text(corpus.files[i]!.data, l);
      if (secret.length >= 12) assert.ok(!m.snippet.includes(secret), `${m.file}:${m.start} snippet shows the ${l.type} at ${l.start}`);
    }
  }
});

test('scorer: legacy detector names map to their corpus types', () => {
  const s = scoreCorpus({
    corpus,
    scanner: (_d, path) => labelsOf(path).labels.filter((l) => l.type.startsWith('github_')).map((l) => ({ name: 'github_token', start: l.start, end: l.end })),
  });
  const gh = s.strict.rows.filter((r) => r.type.startsWith('github_'));
  assert.ok(gh.every((r) => r.recall === 1 && r.fp === 0), JSON.stringify(gh));
  assert.equal(s.strict.micro.fp, 0);
});

test('scorer: the project DLP runs over the whole corpus (scores are a benchmark, not asserted)', () => {
  const s = scoreCorpus({ corpus, runs: 0 });
  assert.equal(s.corpus.files, corpus.files.length);
  assert.ok(s.detectors.length > 0);
  assert.ok(s.strict.micro.f1 >= 0 && s.strict.micro.f1 <= 1);
});
