// The real CLI binary: exit codes, messages, JSON output, and no stack traces on bad input.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cli, REPO, SEED_CONFIG, SEED_POLICY } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'agentsh-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const VARS = ['--var', 'PROJECT_ROOT=/home/daytona/project', '--var', 'HOME=/home/daytona'];
const explain = (...args: string[]) => cli(['policy', 'explain', '-p', SEED_POLICY, '-c', SEED_CONFIG, ...VARS, '--json', ...args]);
const noStack = (s: string) => assert.doesNotMatch(s, /\n\s+at .+:\d+:\d+/);

describe('agentsh CLI', () => {
  it('--version prints the package version', () => {
    const r = cli(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout.trim(), JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')).version);
  });

  it('validates the seed policy and config unchanged', () => {
    const p = cli(['policy', 'validate', SEED_POLICY, ...VARS]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /^ok: .*default\.yaml \(policy 'default'\)$/m);
    assert.equal(p.stderr, '');
    const c = cli(['config', 'validate', SEED_CONFIG]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stderr, /config\.yaml:\d+:\d+: warning: .*agentsh/);
  });

  it('explains a command with rule, message and location', () => {
    const r = explain('command', '--', 'sudo', 'whoami');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.decision, 'deny');
    assert.equal(j.rule, 'block-shell-escape');
    assert.match(j.location, /default\.yaml:\d+:\d+$/);
  });

  it('explains a shell string with each simple command', () => {
    const j = JSON.parse(explain('shell', 'ls | env sudo id').stdout);
    assert.equal(j.decision, 'deny');
    assert.equal(j.rule, 'block-shell-escape');
    assert.ok(j.commands.some((c: { argv: string[]; wrappers: string[] }) => c.argv[0] === 'sudo' && c.wrappers.includes('env')), JSON.stringify(j.commands));
  });

  it('explains file, net (with a resolved address) and env questions', () => {
    assert.equal(JSON.parse(explain('file', 'read', '/proc/1/environ').stdout).rule, 'deny-proc-sys');
    assert.equal(JSON.parse(explain('net', 'metadata.internal', '80', '--ip', '169.254.169.254').stdout).rule, 'block-private-networks');
    const env = JSON.parse(explain('env', 'DAYTONA_API_KEY').stdout);
    assert.deepEqual([env.decision, env.rule], ['deny', 'env_policy.deny']);
  });

  it('prints a readable explanation without --json', () => {
    const r = cli(['policy', 'explain', '-p', SEED_POLICY, ...VARS, 'command', '--', 'git', 'push', '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^decision: allow$/m);
    assert.match(r.stdout, /^rule: +allow-dev-tools /m);
  });

  it('lint reports the shadowed git rule and exits 1', () => {
    const r = cli(['policy', 'lint', SEED_POLICY, '-c', SEED_CONFIG, ...VARS]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /default\.yaml:\d+:\d+: warning: rule 'block-git-force-push' \(deny\) can never match: .*'allow-dev-tools' \(allow\)/);
  });

  it('lint checks ${HOME} rules with the homes the policy names: the seed\'s credential rules never reach /home/daytona', () => {
    const r = cli(['policy', 'lint', SEED_POLICY, '-c', SEED_CONFIG, '--var', 'PROJECT_ROOT=/home/daytona/project'], { env: { HOME: '/root' } });
    assert.equal(r.code, 1, r.stderr);
    for (const rule of ['approve-ssh-access', 'approve-aws-credentials', 'approve-cloud-credentials']) {
      assert.match(r.stdout, new RegExp(`warning: rule '${rule}' \\(approve\\) is pre-empted .*'allow-daytona-home'.* with \\$\\{HOME\\}=/home/daytona, the home of sessions run as that user`), rule);
    }
    // with HOME given, only that HOME is linted (and it shows the same trap, without the note)
    const given = cli(['policy', 'lint', SEED_POLICY, '-c', SEED_CONFIG, ...VARS]);
    assert.match(given.stdout, /rule 'approve-ssh-access' \(approve\) is pre-empted/);
    assert.doesNotMatch(given.stdout, /the home of sessions run as that user/);
  });

  it('policy test runs a table of cases', () => {
    const ok = cli(['policy', 'test', SEED_POLICY, 'examples/seed-cases.yaml']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /^18 passed, 0 failed$/m);
    const cases = join(tmp, 'cases.yaml');
    writeFileSync(cases, 'vars: {PROJECT_ROOT: /p, HOME: /h}\ncases:\n  - {name: wrong on purpose, command: [sudo], expect: allow}\n');
    const bad = cli(['policy', 'test', SEED_POLICY, cases]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^FAIL wrong on purpose \(.*cases\.yaml:3\): expected allow, got deny \(rule=block-shell-escape\)$/m);
    assert.match(bad.stdout, /^0 passed, 1 failed$/m);
  });

  it('bad policies fail with file:line:column and no stack trace', () => {
    const file = join(tmp, 'bad.yaml');
    writeFileSync(file, 'version: 1\nname: t\ncommand_rules:\n  - name: a\n    commands: [ls]\n    decision: perhaps\n');
    const r = cli(['policy', 'validate', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.yaml:6:15: error: "perhaps" is not one of/);
    noStack(r.stderr);
  });

  it('missing files and usage mistakes are clear errors', () => {
    const missing = cli(['policy', 'validate', join(tmp, 'nope.yaml')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /policy not found/);
    const kind = explain('teleport', 'x');
    assert.equal(kind.code, 2);
    assert.match(kind.stderr, /unknown explain kind 'teleport'/);
    const port = explain('net', 'example.com', 'http');
    assert.equal(port.code, 2);
    assert.match(port.stderr, /invalid port 'http'/);
    const verb = cli(['policy', 'frobnicate']);
    assert.equal(verb.code, 2);
    for (const r of [missing, kind, port, verb]) noStack(r.stderr);
  });

  it('detect reports what is active, not just what the kernel offers', () => {
    const r = cli(['detect', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.source, 'probe');
    assert.match(j.kernel['landlock abi'] ?? j.kernel.probe, /^\d+$|failed/);
    const file = j.domains.find((d: { domain: string }) => d.domain === 'file');
    assert.equal(file.enforced, j.mode !== 'minimal');
    const network = j.domains.find((d: { domain: string }) => d.domain === 'network');
    assert.equal(network.enforced, false); // not built yet: never claimed
    assert.ok(j.score < 100);
    assert.equal(j.mode, 'minimal'); // no config: sandbox.enabled is false (agentsh's default), and detect says so
    assert.equal(j.refusal, null);
  });

  it('detect with the seed config reports the mode this machine really runs in', { skip: process.getuid?.() !== 0 && 'namespaces without a user namespace need root' }, () => {
    const r = cli(['detect', '--json', '--config', SEED_CONFIG]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.mode, 'full'); // this machine: Landlock ABI 7, seccomp user-notify, namespaces
    assert.equal(j.mechanisms.seccompNotify, true);
    assert.equal(j.domains.find((d: { domain: string }) => d.domain === 'command').active.includes('user-notify'), true);
  });

  it('a mechanism forced unavailable: detect falls back a mode, and minimum_mode refuses', { skip: process.getuid?.() !== 0 && 'root only' }, () => {
    // without user-notify: ptrace takes over the same interception
    const traced = JSON.parse(cli(['detect', '--json', '--config', SEED_CONFIG], { env: { AGENTSH_FORCE_UNAVAILABLE: 'seccomp_notify' } }).stdout);
    assert.equal(traced.mode, 'ptrace');
    assert.match(traced.domains.find((d: { domain: string }) => d.domain === 'command').active, /every exec checked \(ptrace/);
    const env = { AGENTSH_FORCE_UNAVAILABLE: 'seccomp_notify,ptrace' };
    const fallback = JSON.parse(cli(['detect', '--json', '--config', SEED_CONFIG], { env }).stdout);
    assert.equal(fallback.mode, 'landlock');
    assert.deepEqual(fallback.forced_off, ['seccomp_notify', 'ptrace']);
    assert.equal(fallback.domains.find((d: { domain: string }) => d.domain === 'file').enforced, true);
    const floor = join(tmp, 'floor.yaml');
    writeFileSync(floor, `${readFileSync(SEED_CONFIG, 'utf8')}\nsecurity:\n  minimum_mode: full\n`);
    const refused = cli(['detect', '--json', '--config', floor], { env });
    assert.equal(refused.code, 1);
    const j = JSON.parse(refused.stdout);
    assert.match(j.refusal, /below security\.minimum_mode full; missing: seccomp user-notify/);
    const ok = cli(['detect', '--json', '--config', floor]);
    assert.equal(ok.code, 0, ok.stdout);
    // a floor of ptrace: met by ptrace where user-notify is missing, refused when both are
    const ptraceFloor = join(tmp, 'floor-ptrace.yaml');
    writeFileSync(ptraceFloor, `${readFileSync(SEED_CONFIG, 'utf8')}\nsecurity:\n  minimum_mode: ptrace\n`);
    assert.equal(cli(['detect', '--json', '--config', ptraceFloor], { env: { AGENTSH_FORCE_UNAVAILABLE: 'seccomp_notify' } }).code, 0);
    const below = cli(['detect', '--json', '--config', ptraceFloor], { env });
    assert.equal(below.code, 1);
    assert.match(JSON.parse(below.stdout).refusal, /below security\.minimum_mode ptrace; missing: seccomp user-notify or ptrace/);
    const none = JSON.parse(cli(['detect', '--json', '--config', SEED_CONFIG], { env: { AGENTSH_FORCE_UNAVAILABLE: 'landlock,seccomp' } }).stdout);
    assert.equal(none.mode, 'minimal');
    assert.equal(none.domains.find((d: { domain: string }) => d.domain === 'file').enforced, false);
  });

  it('exports JSON Schemas, and the committed ones are current', () => {
    const r = cli(['schema', 'export', '--out', tmp]);
    assert.equal(r.code, 0, r.stderr);
    for (const name of ['policy.schema.json', 'config.schema.json']) {
      const fresh = readFileSync(join(tmp, name), 'utf8');
      assert.equal(readFileSync(`${REPO}schema/${name}`, 'utf8'), fresh, `schema/${name} is stale: run npm run schema`);
    }
    const policy = JSON.parse(readFileSync(join(tmp, 'policy.schema.json'), 'utf8'));
    assert.equal(policy.properties.file_rules.items.properties.decision.enum.length, 6);
    assert.equal(policy.additionalProperties, false);
  });
});

describe('agentsh dlp', () => {
  // built from parts at run time (no live-looking literal in the repository)
  const key = 'AKIA' + 'QWERTYUIOPASDFGH';
  const input = `plain line\nkey=${key} mail ann@corp-mail.io\n\tindented, unicode größe ✓\nlast line without newline`;
  const keyStart = Buffer.byteLength('plain line\nkey=');
  const mailStart = Buffer.byteLength(`plain line\nkey=${key} mail `);

  it('dlp redact: secrets replaced, every other line byte for byte', () => {
    const r = cli(['dlp', 'redact']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    const red = cli(['dlp', 'redact'], { input });
    assert.equal(red.code, 0, red.stderr);
    assert.equal(red.stdout, 'plain line\nkey=[REDACTED:AWS_ACCESS_KEY_ID] mail [REDACTED:EMAIL]\n\tindented, unicode größe ✓\nlast line without newline');
    assert.equal(red.stderr, '');
    // the seed's custom patterns win ties with their own labels; mode does not matter here
    const seed = cli(['dlp', 'redact', '--config', SEED_CONFIG], { input: `x ${key}\n` });
    assert.equal(seed.stdout, 'x [REDACTED:AWS_KEY]\n');
  });

  it('dlp scan: TYPE, START, END in bytes; exit 1 when something is found, 0 when not', () => {
    const r = cli(['dlp', 'scan'], { input });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, `aws_access_key_id\t${keyStart}\t${keyStart + 20}\nemail\t${mailStart}\t${mailStart + 16}\n`);
    const j = cli(['dlp', 'scan', '--json'], { input });
    assert.equal(j.code, 1);
    assert.deepEqual(JSON.parse(j.stdout), [
      { type: 'aws_access_key_id', display: 'AWS_ACCESS_KEY_ID', start: keyStart, end: keyStart + 20 },
      { type: 'email', display: 'EMAIL', start: mailStart, end: mailStart + 16 },
    ]);
    const clean = cli(['dlp', 'scan', '--json'], { input: 'nothing to see\n' });
    assert.equal(clean.code, 0);
    assert.deepEqual(JSON.parse(clean.stdout), []);
    assert.equal(cli(['dlp', 'scan'], { input: 'nothing\n' }).stdout, '');
  });

  it('dlp verbs honour the config: custom patterns, allowlist, disabled detectors; a bad config is exit 2', () => {
    const cfg = join(tmp, 'dlp.yaml');
    writeFileSync(cfg, `dlp:\n  mode: audit\n  custom_patterns:\n    - name: ticket\n      display: TICKET\n      regex: "TICKET-[0-9]+"\n  allowlist:\n    - "${key}"\n  disabled_detectors: [email]\n`);
    const r = cli(['dlp', 'redact', '-c', cfg], { input });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, input, 'allowlisted key, email off');
    assert.equal(cli(['dlp', 'redact', '-c', cfg], { input: 'see TICKET-42\n' }).stdout, 'see [REDACTED:TICKET]\n');
    assert.equal(cli(['dlp', 'scan', '-c', cfg], { input: 'see TICKET-42\n' }).stdout, 'ticket\t4\t13\n');
    const bad = join(tmp, 'dlp-bad.yaml');
    writeFileSync(bad, 'dlp:\n  allowlist:\n    - "re:(unclosed"\n');
    const b = cli(['dlp', 'scan', '-c', bad], { input: 'x\n' });
    assert.equal(b.code, 2);
    assert.match(b.stderr, /dlp-bad\.yaml:3:\d+: error: .*invalid RE2 regex/);
    noStack(b.stderr);
  });
});
