import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findConfigFile, loadConfigFile, loadConfigText, parseHostPort } from '../src/config/load.js';
import { expandEnv } from '../src/config/env-expand.js';
import { LoadError, formatDiagnostic, type Diagnostic } from '../src/util/diagnostics.js';

const SEED = fileURLToPath(new URL('../../test/fixtures/seed/config.yaml', import.meta.url));
const seedText = readFileSync(SEED, 'utf8');

/** 1-based line of the first line matching re (after line `after`). */
function lineOf(text: string, re: RegExp, after = 0): number {
  const i = text.split('\n').findIndex((l, n) => n + 1 > after && re.test(l));
  assert.ok(i >= 0, `no line matches ${re}`);
  return i + 1;
}

function loadErr(fn: () => unknown): Diagnostic[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof LoadError, `expected LoadError, got ${String(err)}`);
    assert.doesNotMatch(err.message, /\n\s+at /, 'no stack trace in the message');
    return err.diagnostics;
  }
  assert.fail('expected a LoadError');
}

const text = (s: string, opts: Parameters<typeof loadConfigText>[2] = {}) => loadConfigText(s, 'c.yaml', { env: {}, ...opts });
const one = (ds: Diagnostic[], code: string) => {
  const found = ds.filter((d) => d.code === code);
  assert.equal(found.length, 1, `one ${code} in ${ds.map(formatDiagnostic).join('\n')}`);
  return found[0]!;
};

test('seed config loads unchanged, values come through', () => {
  const { config, diagnostics, file } = loadConfigFile(SEED, { env: {} });
  assert.equal(file, SEED);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  assert.equal(config.dlp.custom_patterns.length, 10);
  assert.equal(config.dlp.custom_patterns[0]!.name, 'openai_key');
  assert.equal(config.dlp.custom_patterns[5]!.regex, 'eyJ[a-zA-Z0-9_-]*\\.eyJ[a-zA-Z0-9_-]*\\.[a-zA-Z0-9_-]*');
  assert.equal(config.approvals.enabled, false);
  assert.equal(config.approvals.when_unavailable, 'deny');
  assert.equal(config.sandbox.env_inject.BASH_ENV, '/usr/lib/agentsh/bash_startup.sh');
  assert.equal(config.sandbox.env_inject.AGENTSH_SERVER, 'http://127.0.0.1:18080');
  assert.equal(config.server.http.write_timeout, '60s');
  assert.equal(config.sandbox.fuse.audit.mode, 'soft_delete');
  assert.equal(config.sandbox.limits.max_memory_mb, 4096);
  assert.deepEqual(config.policies.project_markers, ['.git', 'package.json', 'Cargo.toml', 'go.mod', 'pyproject.toml', 'requirements.txt']);
  assert.equal(config.proxy.providers.anthropic, 'https://api.anthropic.com');
  assert.equal(config.development.disable_auth, true);
});

test('seed: sandbox.landlock is honoured as landlock, with an ignored-by-agentsh warning at its key', () => {
  const { config, diagnostics } = loadConfigFile(SEED, { env: {} });
  assert.equal(config.landlock.enabled, true);
  assert.deepEqual(config.landlock.allow_execute, ['/usr/bin', '/bin', '/usr/local/bin', '/usr/sbin', '/sbin', '/usr/lib', '/lib']);
  assert.equal(config.landlock.network.allow_connect_tcp, true);
  assert.equal('landlock' in config.sandbox, false, 'only the effective landlock remains');
  const w = one(diagnostics, 'ignored-by-agentsh');
  assert.equal(w.severity, 'warning');
  assert.equal(w.line, lineOf(seedText, /^ {2}landlock:/, lineOf(seedText, /^sandbox:/)));
  assert.equal(w.column, 3);
  assert.deepEqual(w.path, ['sandbox', 'landlock']);
  assert.match(w.message, /top-level `landlock:`/);
});

test('seed: keys agentsh ignores are reported (warning; error with strict)', () => {
  const { diagnostics } = loadConfigFile(SEED, { env: {} });
  const unknown = diagnostics.filter((d) => d.code === 'unknown-key').map((d) => d.path.join('.'));
  assert.deepEqual(unknown, ['audit.format', 'audit.retention', 'development.verbose_errors']);
  const fmt = diagnostics.find((d) => d.path.join('.') === 'audit.format')!;
  assert.equal(fmt.line, lineOf(seedText, /^ {2}format: "jsonl"/));
  const mode = one(diagnostics, 'unknown-value');
  assert.equal(mode.line, lineOf(seedText, /^ {2}mode: "async"/));
  const strict = loadErr(() => loadConfigFile(SEED, { env: {}, strict: true }));
  assert.equal(strict.filter((d) => d.code === 'unknown-key' && d.severity === 'error').length, 3);
});

test('defaults are applied (agentsh defaults, loopback HTTP address)', () => {
  const { config, diagnostics } = text('');
  assert.deepEqual(diagnostics, []);
  assert.equal(config.server.http.addr, '127.0.0.1:18080');
  assert.equal(config.server.http.read_timeout, '30s');
  assert.equal(config.server.http.write_timeout, '5m');
  assert.equal(config.server.http.max_request_size, '10MB');
  assert.equal(config.server.grpc.addr, '127.0.0.1:9090');
  assert.equal(config.auth.type, 'none');
  assert.equal(config.sessions.max_sessions, 100);
  assert.equal(config.sessions.base_dir, '/var/lib/agentsh/sessions');
  assert.equal(config.sessions.cleanup_interval, '1m');
  assert.equal(config.audit.storage.sqlite_path, '/var/lib/agentsh/events.db');
  assert.equal(config.approvals.timeout, '5m');
  assert.equal(config.approvals.mode, 'local_tty');
  assert.equal(config.approvals.when_unavailable, 'deny');
  assert.equal(config.metrics.path, '/metrics');
  assert.equal(config.health.path, '/health');
  assert.equal(config.health.readiness_path, '/ready');
  assert.equal(config.dlp.mode, 'redact');
  assert.deepEqual(config.dlp.patterns, { email: true, phone: true, credit_card: true, ssn: true, api_keys: true });
  assert.equal(config.policies.default, 'default');
  assert.equal(config.policies.dir, '/etc/agentsh/policies');
  assert.equal(config.policies.detect_project_root, true);
  assert.equal(config.proxy.mode, 'embedded');
  assert.equal(config.sandbox.fuse.audit.mode, 'monitor');
  assert.equal(config.sandbox.fuse.audit.enabled, true);
  assert.equal(config.sandbox.fuse.mount_base_dir, '/var/lib/agentsh/sessions');
  assert.equal(config.sandbox.network.proxy_port, 9080);
  assert.equal(config.sandbox.unix_sockets.enabled, true);
  assert.equal(config.security.warn_degraded, true);
  assert.equal(config.landlock.enabled, false);
  assert.equal(config.threat_feeds.sync_interval, '6h');
});

test('defaults follow agentsh: zero values take the default, dataDir moves data paths, seccomp defaults', () => {
  const { config } = text('sessions:\n  max_sessions: 0\n  base_dir: ""\nsandbox:\n  seccomp:\n    enabled: true\n', { dataDir: '/srv/a' });
  assert.equal(config.sessions.max_sessions, 100);
  assert.equal(config.sessions.base_dir, '/srv/a/sessions');
  assert.equal(config.audit.storage.sqlite_path, '/srv/a/events.db');
  assert.equal(config.sandbox.seccomp.unix_socket.enabled, true);
  assert.ok(config.sandbox.seccomp.syscalls.block?.includes('ptrace'));
  const dlp = text('dlp:\n  patterns:\n    email: true\n').config.dlp.patterns;
  assert.deepEqual(dlp, { email: true, phone: false, credit_card: false, ssn: false, api_keys: false });
});

test('agentsh quirks are kept but reported', () => {
  const r = text('dlp:\n  patterns:\n    email: false\nsecurity:\n  warn_degraded: false\n');
  assert.deepEqual(r.config.dlp.patterns, { email: true, phone: true, credit_card: true, ssn: true, api_keys: true });
  assert.equal(r.config.security.warn_degraded, true);
  assert.deepEqual(r.diagnostics.filter((d) => d.code === 'agentsh-quirk').map((d) => d.line), [2, 5]);
});

test('env overrides as agentsh', () => {
  const env = {
    AGENTSH_HTTP_ADDR: '127.0.0.1:9999',
    AGENTSH_LOG_LEVEL: 'debug',
    AGENTSH_DATA_DIR: '/data',
    AGENTSH_DLP_MODE: 'disabled',
    AGENTSH_PROXY_MODE: 'disabled',
    AGENTSH_PROXY_PORT: '8088',
  };
  const { config, diagnostics } = loadConfigFile(SEED, { env });
  assert.deepEqual(diagnostics.filter((d) => d.code === 'invalid-env'), []);
  assert.equal(config.server.http.addr, '127.0.0.1:9999');
  assert.equal(config.logging.level, 'debug');
  assert.equal(config.sessions.base_dir, '/data/sessions');
  assert.equal(config.audit.storage.sqlite_path, '/data/events.db');
  assert.equal(config.sandbox.fuse.mount_base_dir, '/var/lib/agentsh/sessions', 'agentsh fills mount_base_dir before overrides');
  assert.equal(config.dlp.mode, 'disabled');
  assert.equal(config.proxy.mode, 'disabled');
  assert.equal(config.proxy.port, 8088);
  assert.equal(text('', { env: { AGENTSH_HTTP_ADDR: '' } }).config.server.http.addr, '127.0.0.1:18080', 'empty means unset');
});

test('bad env overrides are reported', () => {
  const ds = loadErr(() => text('', { env: { AGENTSH_DLP_MODE: 'tokenize', AGENTSH_HTTP_ADDR: 'nohost', AGENTSH_PROXY_PORT: 'abc' } }));
  assert.deepEqual(ds.map((d) => [d.severity, d.code, d.path.join('.')]).sort(), [
    ['error', 'invalid-env', 'dlp.mode'],
    ['error', 'invalid-env', 'server.http.addr'],
    ['warning', 'invalid-env', 'proxy.port'],
  ]);
  assert.match(ds.find((d) => d.path[0] === 'dlp')!.message, /^AGENTSH_DLP_MODE="tokenize": not one of: redact, block, audit, disabled/);
});

test('${VAR} and $VAR are expanded; unset ones warn at their position', () => {
  const src = 'server:\n  http:\n    addr: "${HOST}:$PORT"\n    read_timeout: "${NOPE}10s"\nlogging:\n  output: "$ALSO_NOPE"\n';
  const { config, diagnostics } = text(src, { env: { HOST: '127.0.0.2', PORT: '7000' } });
  assert.equal(config.server.http.addr, '127.0.0.2:7000');
  assert.equal(config.server.http.read_timeout, '10s');
  const unset = diagnostics.filter((d) => d.code === 'unset-env-var');
  assert.deepEqual(unset.map((d) => [d.line, d.column, d.severity]), [[4, 20, 'warning'], [6, 12, 'warning']]);
  assert.match(unset[0]!.message, /NOPE is not set; agentsh expands it to an empty string/);
  const bad = text('logging:\n  output: "a${}b"\n').diagnostics;
  assert.equal(one(bad, 'env-syntax').line, 2);
});

test('positions after an expansion still point at the original text', () => {
  const src = 'server: {http: {addr: "${H}", read_timeout: "bogus"}}\n';
  const ds = loadErr(() => text(src, { env: { H: '127.0.0.1:18080' } }));
  const d = one(ds, 'invalid-value');
  assert.equal(d.line, 1);
  assert.equal(d.column, src.indexOf('"bogus"') + 1);
  assert.match(d.message, /invalid duration "bogus"/);
});

test('expandEnv matches os.ExpandEnv', () => {
  const e = expandEnv('a $X ${X} $$ $1 ${} ${ x$ $-y \\$X', { X: 'v' });
  assert.equal(e.text, 'a v v     x$ y \\v');
  assert.deepEqual(e.notes.map((n) => n.code), ['unset-env-var', 'unset-env-var', 'env-syntax', 'env-syntax', 'unset-env-var']);
  assert.equal(expandEnv('price: 5$', {}).text, 'price: 5$', 'a trailing $ stays');
});

test('malformed YAML', () => {
  const ds = loadErr(() => text('server:\n  http:\n    addr: "127.0.0.1:1\n  grpc: {\n'));
  assert.equal(ds[0]!.code, 'yaml-syntax');
  assert.ok(ds[0]!.line >= 3);
  assert.match(formatDiagnostic(ds[0]!), /^c\.yaml:\d+:\d+: error: .+ \[yaml-syntax\]$/);
});

test('duplicate keys are an error at the second key', () => {
  const ds = loadErr(() => text('approvals:\n  enabled: false\n  enabled: true\n'));
  const d = one(ds, 'yaml-syntax');
  assert.equal(d.line, 3);
  assert.match(d.message, /unique/i);
});

test('wrong types name file:line:column and the key', () => {
  const ds = loadErr(() => text('sessions:\n  max_sessions: "many"\nsandbox:\n  enabled: 1\n'));
  assert.deepEqual(ds.map((d) => [d.code, d.line, d.column, d.path.join('.')]), [
    ['wrong-type', 2, 17, 'sessions.max_sessions'],
    ['wrong-type', 4, 12, 'sandbox.enabled'],
  ]);
  assert.equal(formatDiagnostic(ds[0]!), 'c.yaml:2:17: error: expected integer, got string "many" (sessions.max_sessions) [wrong-type]');
});

test('unknown keys: warning by default, error with strict', () => {
  const src = 'sandbox:\n  fuse:\n    enabeld: true\nlandlok: {}\n';
  const w = text(src).diagnostics.filter((d) => d.code === 'unknown-key');
  assert.deepEqual(w.map((d) => [d.severity, d.line, d.column, d.path.join('.')]), [
    ['warning', 3, 5, 'sandbox.fuse.enabeld'],
    ['warning', 4, 1, 'landlok'],
  ]);
  const e = loadErr(() => text(src, { strict: true }));
  assert.deepEqual(e.map((d) => d.severity), ['error', 'error']);
});

test('invalid duration and size', () => {
  const ds = loadErr(() => text('approvals:\n  timeout: 5 minutes\nserver:\n  http:\n    max_request_size: lots\n'));
  assert.deepEqual(ds.map((d) => [d.line, d.column, d.path.join('.')]), [
    [2, 12, 'approvals.timeout'],
    [5, 23, 'server.http.max_request_size'],
  ]);
  assert.match(ds[0]!.message, /invalid duration "5 minutes"/);
  const zero = loadErr(() => text('approvals:\n  timeout: 0s\n'));
  assert.match(one(zero, 'invalid-value').message, /approvals\.timeout must be greater than 0/);
});

test('invalid regex in custom_patterns reports the RE2 error', () => {
  const src = 'dlp:\n  custom_patterns:\n    - name: ok\n      regex: "a+"\n    - name: bad\n      regex: "(?<=x)y"\n    - name: ok\n      regex: "b"\n';
  const ds = loadErr(() => text(src));
  const re = one(ds, 'invalid-regex');
  assert.deepEqual([re.line, re.column, re.path], [6, 14, ['dlp', 'custom_patterns', 1, 'regex']]);
  assert.match(re.message, /invalid perl operator/);
  const dup = one(ds, 'duplicate-name');
  assert.deepEqual([dup.line, dup.path.join('.')], [7, 'dlp.custom_patterns.2.name']);
});

test('dlp extensions: block/audit modes, allowlist regexes checked, unknown detector names warned', () => {
  for (const mode of ['block', 'audit']) assert.equal(text(`dlp:\n  mode: ${mode}\n`).config.dlp.mode, mode);
  const ok = text('dlp:\n  allowlist:\n    - "sk_test_public_demo"\n    - "re:AKIA[A-Z0-9]{12}TEST"\n  disabled_detectors: [phone, generic_secret]\n');
  assert.deepEqual(ok.diagnostics, []);
  assert.deepEqual(ok.config.dlp.allowlist, ['sk_test_public_demo', 're:AKIA[A-Z0-9]{12}TEST']);
  assert.deepEqual(ok.config.dlp.disabled_detectors, ['phone', 'generic_secret']);
  assert.deepEqual(text('').config.dlp.allowlist, []);
  assert.deepEqual(text('').config.dlp.disabled_detectors, []);
  const bad = loadErr(() => text('dlp:\n  allowlist:\n    - "re:(?=x)"\n'));
  const re = one(bad, 'invalid-regex');
  assert.deepEqual([re.line, re.path.join('.')], [3, 'dlp.allowlist.0']);
  const warn = text('dlp:\n  disabled_detectors:\n    - github_token\n').diagnostics;
  assert.deepEqual(warn.map((d) => [d.severity, d.code, d.line, d.path.join('.')]), [['warning', 'unknown-value', 3, 'dlp.disabled_detectors.0']]);
  assert.match(warn[0]!.message, /no built-in DLP detector is called 'github_token'.*github_pat_classic/);
});

test('bad enum values', () => {
  const ds = loadErr(() => text('sandbox:\n  fuse:\n    audit:\n      mode: delete\nsecurity:\n  mode: paranoid\n'));
  assert.deepEqual(ds.map((d) => [d.code, d.line, d.path.join('.')]), [
    ['invalid-value', 4, 'sandbox.fuse.audit.mode'],
    ['invalid-value', 6, 'security.mode'],
  ]);
  assert.match(ds[0]!.message, /"delete" is not one of: monitor, soft_block, soft_delete, strict/);
  const appr = loadErr(() => text('approvals:\n  enabled: true\n  mode: async\n'));
  assert.match(one(appr, 'invalid-value').message, /nobody could approve/);
  const when = loadErr(() => text('approvals:\n  when_unavailable: maybe\n'));
  assert.equal(one(when, 'invalid-value').line, 2);
});

test('addresses must be host:port; a non-loopback unauthenticated API is flagged', () => {
  const ds = loadErr(() => text('server:\n  http:\n    addr: localhost\n'));
  assert.equal(one(ds, 'invalid-value').line, 3);
  const open = text('server:\n  http:\n    addr: 0.0.0.0:18080\n').diagnostics;
  assert.deepEqual([one(open, 'exposed-api').severity, one(open, 'exposed-api').line], ['warning', 3]);
  assert.equal(text('', { env: { AGENTSH_HTTP_ADDR: ':18080' } }).diagnostics[0]!.code, 'exposed-api');
  assert.deepEqual(text('server:\n  http:\n    addr: 0.0.0.0:1\nauth:\n  type: api_key\n').diagnostics, []);
  assert.deepEqual(parseHostPort('[::1]:80'), { host: '::1', port: 80 });
  assert.deepEqual(parseHostPort(':8080'), { host: '', port: 8080 });
  assert.equal(parseHostPort('::1:80'), null);
  assert.equal(parseHostPort('h:70000'), null);
});

test('sandbox.landlock and top-level landlock: top-level wins, conflicts reported', () => {
  const src = [
    'sandbox:',
    '  landlock:',
    '    enabled: true',
    '    allow_read: [/a]',
    '    network: {allow_bind_tcp: true, allow_connect_tcp: true}',
    'landlock:',
    '  enabled: false',
    '  allow_write: [/w]',
    '  network: {allow_bind_tcp: false}',
    '',
  ].join('\n');
  const { config, diagnostics } = text(src);
  assert.equal(config.landlock.enabled, false);
  assert.deepEqual(config.landlock.allow_read, ['/a']);
  assert.deepEqual(config.landlock.allow_write, ['/w']);
  assert.equal(config.landlock.network.allow_bind_tcp, false);
  assert.equal(config.landlock.network.allow_connect_tcp, true);
  const conflicts = diagnostics.filter((d) => d.code === 'landlock-conflict');
  assert.deepEqual(conflicts.map((d) => [d.line, d.path.join('.')]), [[3, 'sandbox.landlock.enabled'], [5, 'sandbox.landlock.network.allow_bind_tcp']]);
  assert.match(conflicts[0]!.message, /differs from landlock\.enabled \(line 7\)/);
});

test('Go-compatible scalars and empty sections', () => {
  const { config, diagnostics } = text('server:\n  unix_socket:\n    permissions: 0660\nsandbox:\n  seccomp:\n  env_inject:\n    PORT: 8080\n    DEBUG: true\n');
  assert.deepEqual(diagnostics, []);
  assert.equal(config.server.unix_socket.permissions, '0660');
  assert.deepEqual(config.sandbox.env_inject, { PORT: '8080', DEBUG: 'true' });
  assert.equal(config.sandbox.seccomp.mode, 'enforce');
  const shape = loadErr(() => text('sandbox: 5\ndlp:\n  custom_patterns: {a: 1}\n'));
  assert.deepEqual(shape.map((d) => [d.code, d.line]), [['wrong-type', 1], ['wrong-type', 3]]);
  const ds = loadErr(() => text('- a\n- b\n'));
  assert.equal(one(ds, 'wrong-type').message, 'a config file must be a YAML mapping');
});

test('too-large input is refused before parsing', () => {
  const big = `# ${'x'.repeat(5 * 1024 * 1024)}\n`;
  assert.equal(one(loadErr(() => text(big)), 'too-large').line, 0);
  const dir = mkdtempSync(join(tmpdir(), 'agentsh-cfg-'));
  try {
    const f = join(dir, 'big.yaml');
    writeFileSync(f, big);
    const d = one(loadErr(() => loadConfigFile(f)), 'too-large');
    assert.equal(d.file, f);
    assert.equal(one(loadErr(() => loadConfigFile(join(dir, 'missing.yaml'))), 'unreadable').file, join(dir, 'missing.yaml'));
    assert.equal(one(loadErr(() => loadConfigFile(dir)), 'not-a-file').line, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('findConfigFile follows agentsh discovery order', () => {
  const root = mkdtempSync(join(tmpdir(), 'agentsh-find-'));
  try {
    const [cwd, home, xdg, sys] = ['cwd', 'home', 'xdg', 'sys'].map((d) => join(root, d)) as [string, string, string, string];
    for (const d of [cwd, join(home, '.config', 'agentsh'), join(xdg, 'agentsh'), sys]) mkdirSync(d, { recursive: true });
    const env = { HOME: home } as NodeJS.ProcessEnv;
    const find = (e: NodeJS.ProcessEnv = env) => findConfigFile(e, cwd, sys);
    const touch = (p: string) => writeFileSync(p, '{}\n');

    assert.equal(find(), null);
    touch(join(sys, 'config.yml'));
    assert.equal(find(), join(sys, 'config.yml'));
    touch(join(sys, 'config.yaml'));
    assert.equal(find(), join(sys, 'config.yaml'));
    touch(join(home, '.config', 'agentsh', 'config.yml'));
    assert.equal(find(), join(home, '.config', 'agentsh', 'config.yml'));
    touch(join(home, '.config', 'agentsh', 'config.yaml'));
    assert.equal(find(), join(home, '.config', 'agentsh', 'config.yaml'));
    touch(join(xdg, 'agentsh', 'config.yml'));
    assert.equal(find({ ...env, XDG_CONFIG_HOME: xdg }), join(xdg, 'agentsh', 'config.yml'), 'XDG_CONFIG_HOME replaces ~/.config');
    touch(join(cwd, 'config.yaml'));
    assert.equal(find(), join(cwd, 'config.yaml'));
    touch(join(cwd, 'config.yml'));
    assert.equal(find(), join(cwd, 'config.yml'));
    assert.equal(find({ ...env, AGENTSH_CONFIG: 'custom.yaml' }), join(cwd, 'custom.yaml'), 'AGENTSH_CONFIG wins even when missing');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('mutated seed configs load or fail with diagnostics, never crash', () => {
  let seed = 42;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
  const lines = seedText.split('\n');
  const junk = ['', ':', '- x', '{', 'null', '5', '"${X}"', '[]', '&a', '*a', '~', 'true', '  - ', '\t'];
  for (let i = 0; i < 300; i++) {
    const ls = [...lines];
    for (let k = 0; k < 1 + rand(4); k++) {
      const at = rand(ls.length);
      const l = ls[at]!;
      const cut = rand(l.length + 1);
      ls[at] = rand(2) ? l.slice(0, cut) + junk[rand(junk.length)] + l.slice(cut) : junk[rand(junk.length)]!;
    }
    try {
      loadConfigText(ls.join('\n'), 'm.yaml', { env: {} });
    } catch (err) {
      assert.ok(err instanceof LoadError, `iteration ${i}: ${(err as Error).stack}`);
      assert.ok(err.diagnostics.some((d) => d.severity === 'error'));
    }
  }
});
