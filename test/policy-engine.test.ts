// Hand-written policies covering every selector, decision, default and variable form.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileGlob } from '../src/policy/glob.js';
import { expandVars, UndefinedVariableError } from '../src/policy/vars.js';
import { APPROVALS_ON, engineFor } from './helpers.js';

const pick = (d: { decision: string; rule: string }) => ({ decision: d.decision, rule: d.rule });

describe('globs (gobwas semantics)', () => {
  const cases: [string, '/' | '.' | null, string, boolean][] = [
    ['/tmp/**', '/', '/tmp/a/b', true],
    ['/tmp/**', '/', '/tmp', false],
    ['/tmp/*', '/', '/tmp/a', true],
    ['/tmp/*', '/', '/tmp/a/b', false],
    ['**/.env', '/', '/home/u/p/.env', true],
    ['**/.env', '/', '/.env', true],
    ['**/.env', '/', '.env', false],
    ['**', '/', '/anything/at/all', true],
    ['/a/?.txt', '/', '/a/b.txt', true],
    ['/a/?.txt', '/', '/a/bc.txt', false],
    ['/a/?', '/', '/a//', false],
    ['/a/[bc].txt', '/', '/a/c.txt', true],
    ['/a/[!bc].txt', '/', '/a/c.txt', false],
    ['/a/[a-z]', '/', '/a/q', true],
    ['/a/{x,y}/z', '/', '/a/y/z', true],
    ['/a/{x,y}/z', '/', '/a/w/z', false],
    ['/a/\\*', '/', '/a/*', true],
    ['/a/\\*', '/', '/a/b', false],
    ['/a.b', '/', '/aXb', false],
    ['*.github.com', '.', 'api.github.com', true],
    ['*.github.com', '.', 'a.b.github.com', false],
    ['*.github.com', '.', 'github.com', false],
    ['**.github.com', '.', 'a.b.github.com', true],
    ['*', '.', 'example.com', false],
    ['*', '.', 'intranet', true],
    ['*_TOKEN', null, 'GITHUB_TOKEN', true],
    ['*_SECRET*', null, 'A_SECRET_B', true],
  ];
  for (const [glob, sep, input, want] of cases) {
    it(`${glob} ${want ? 'matches' : 'does not match'} ${input}`, () => assert.equal(compileGlob(glob, sep).test(input), want));
  }
  it('rejects malformed globs', () => {
    for (const bad of ['/a/[b', '/a/{b', '/a/\\', '/a/[]', '/a/[z-a]']) assert.throws(() => compileGlob(bad, '/'), /glob|class|range|backslash|unterminated/i, bad);
  });
});

describe('variables', () => {
  const vars: Record<string, string> = { PROJECT_ROOT: '/p', HOME: '/h', EMPTY: '' };
  const look = (n: string) => vars[n];
  it('expands ${VAR}, ${VAR:-fallback} and nested fallbacks', () => {
    assert.equal(expandVars('${PROJECT_ROOT}/**', look), '/p/**');
    assert.equal(expandVars('${GIT_ROOT:-${PROJECT_ROOT}}/x', look), '/p/x');
    assert.equal(expandVars('${NOPE:-/default}/x', look), '/default/x');
    assert.equal(expandVars('${EMPTY:-/fb}', look), '/fb');
    assert.equal(expandVars('$HOME/x', look), '$HOME/x'); // agentsh expands only the braced form
  });
  it('an undefined variable without fallback is an error naming it', () => {
    assert.throws(() => expandVars('${NOPE}/x', look), (e: unknown) => e instanceof UndefinedVariableError && e.variable === 'NOPE');
    assert.throws(() => expandVars('${EMPTY}/x', look), UndefinedVariableError);
  });
  it('a fallback is not evaluated when the variable is set', () => {
    assert.equal(expandVars('${HOME:-${NOPE}}', look), '/h');
  });
  it('rejects malformed references', () => {
    for (const bad of ['${', '${1X}', '${A', '${A:-x']) assert.throws(() => expandVars(bad, look), /variable reference/, bad);
  });
});

describe('command rules', () => {
  const e = engineFor(`
version: 1
name: t
command_rules:
  - { name: exact-path, commands: [/opt/bin/tool], decision: deny }
  - { name: path-glob, commands: ["/usr/local/bin/py*"], decision: audit }
  - { name: base-glob, commands: ["node*"], decision: allow }
  - { name: args, commands: [git], args_patterns: ["^push\\\\b", "reset\\\\s+--hard"], decision: deny }
  - { name: direct-only, commands: [curl], context: [direct], decision: allow }
  - { name: nested-only, commands: [curl], context: [nested], decision: approve }
  - { name: depth-2-3, commands: [make], context: { min_depth: 2, max_depth: 3 }, decision: deny }
  - { name: both, commands: [make], context: [direct, nested], decision: allow }
  - { name: redirect, commands: [pip], decision: redirect, redirect_to: { command: /usr/bin/uv, args: [pip] } }
  - { name: all, commands: [], args_patterns: ["--dangerous"], decision: deny }
`);
  const cases: [string, string[], number, string, string][] = [
    ['/opt/bin/tool', [], 0, 'deny', 'exact-path'],
    ['tool', [], 0, 'deny', 'default-deny-commands'], // a path entry does not match the bare name
    ['/usr/local/bin/python3', [], 0, 'audit', 'path-glob'],
    ['/usr/bin/python3', [], 0, 'deny', 'default-deny-commands'],
    ['nodejs', [], 0, 'allow', 'base-glob'],
    ['/usr/bin/node', [], 0, 'allow', 'base-glob'],
    ['git', ['push', 'origin'], 0, 'deny', 'args'],
    ['git', ['log', '--', 'push'], 0, 'deny', 'default-deny-commands'], // ^push is anchored to the first arg
    ['git', ['reset', '--hard'], 0, 'deny', 'args'],
    ['git', ['status'], 0, 'deny', 'default-deny-commands'],
    ['curl', [], 0, 'allow', 'direct-only'],
    ['curl', [], 1, 'deny', 'nested-only'],
    ['make', [], 0, 'allow', 'both'],
    ['make', [], 2, 'deny', 'depth-2-3'],
    ['make', [], 3, 'deny', 'depth-2-3'],
    ['make', [], 4, 'allow', 'both'],
    ['pip', ['install', 'x'], 0, 'redirect', 'redirect'],
    ['anything', ['--dangerous'], 0, 'deny', 'all'],
    ['anything', [], 0, 'deny', 'default-deny-commands'],
  ];
  for (const [cmd, args, depth, decision, rule] of cases) {
    it(`${cmd} ${args.join(' ')} depth ${depth} → ${decision} by ${rule}`, () => assert.deepEqual(pick(e.checkCommand(cmd, args, depth)), { decision, rule }));
  }
  it('carries redirect targets and marks defaults', () => {
    assert.deepEqual(e.checkCommand('pip').redirectTo, { command: '/usr/bin/uv', args: ['pip'] });
    assert.equal(e.checkCommand('zzz').isDefault, true);
    assert.equal(e.checkCommand('nodejs').isDefault, false);
  });
  it('approve with approvals on stays approve', () => {
    const on = engineFor(`{version: 1, name: t, command_rules: [{name: a, commands: [x], decision: approve, timeout: 90s}]}`, {}, { approvals: APPROVALS_ON });
    const d = on.checkCommand('x');
    assert.equal(d.decision, 'approve');
    assert.equal(d.timeoutMs, 90_000);
  });
  it('per-rule env overrides replace env_policy for that command', () => {
    const p = engineFor(`
version: 1
name: t
env_policy: { allow: [HOME, PATH] }
command_rules:
  - { name: npm, commands: [npm], decision: allow, env_allow: [HOME, PATH, NPM_TOKEN] }
`);
    const settings = p.envSettingsFor(p.checkCommand('npm'));
    assert.equal(p.checkEnv('NPM_TOKEN', settings).decision, 'allow');
    assert.equal(p.checkEnv('NPM_TOKEN').decision, 'deny');
  });
});

describe('file rules', () => {
  const e = engineFor(
    `
version: 1
name: t
file_rules:
  - { name: ops-subset, paths: ["\${PROJECT_ROOT}/**"], operations: [read, write], decision: allow }
  - { name: soft, paths: ["\${PROJECT_ROOT}/**"], operations: [delete], decision: soft_delete }
  - { name: audit-home, paths: ["\${HOME}/*.log"], operations: ["*"], decision: audit }
  - { name: redirect, paths: ["/var/out/**"], operations: [write, create], decision: redirect, redirect_to: /tmp/out }
  - { name: fallback, paths: ["\${CACHE_DIR:-/cache}/**"], operations: [write], decision: allow }
  - { name: ask, paths: ["/secrets/**"], operations: ["*"], decision: approve }
  - { name: all-ops, paths: ["/locked/**"], operations: [], decision: deny }
`,
    { PROJECT_ROOT: '/p', HOME: '/h' },
  );
  const cases: [string, string, string, string][] = [
    ['read', '/p/a', 'allow', 'ops-subset'],
    ['write', '/p/a', 'allow', 'ops-subset'],
    ['delete', '/p/a', 'soft_delete', 'soft'],
    ['chmod', '/p/a', 'deny', 'default-deny-files'],
    ['stat', '/elsewhere', 'allow', 'default-allow-reads'],
    ['access', '/elsewhere', 'allow', 'default-allow-reads'],
    ['rename', '/elsewhere', 'deny', 'default-deny-files'],
    ['write', '/h/x.log', 'audit', 'audit-home'],
    ['write', '/h/sub/x.log', 'deny', 'default-deny-files'],
    ['create', '/var/out/a/b', 'redirect', 'redirect'],
    ['write', '/cache/x', 'allow', 'fallback'],
    ['read', '/secrets/k', 'deny', 'ask'],
    ['read', '/locked/x', 'deny', 'all-ops'],
    ['READ', '/p/a', 'allow', 'ops-subset'],
  ];
  for (const [op, path, decision, rule] of cases) {
    it(`${op} ${path} → ${decision} by ${rule}`, () => assert.deepEqual(pick(e.checkFile(op, path)), { decision, rule }));
  }
  it('redirect carries its target', () => {
    assert.deepEqual(e.checkFile('write', '/var/out/x').redirectTo, { dir: '/tmp/out', preserveTree: false });
  });
  it('approve without approver is denied with the reason', () => {
    const d = e.checkFile('read', '/secrets/k');
    assert.equal(d.approval, 'unavailable');
    assert.match(d.message, /^approval unavailable/);
  });
});

describe('network rules', () => {
  const e = engineFor(
    `
version: 1
name: t
network_rules:
  - { name: v6-block, cidrs: ["fd00::/8"], decision: deny }
  - { name: dom-and-port, domains: ["api.\${DOMAIN}"], ports: [443], decision: allow }
  - { name: dom-and-cidr, domains: ["*.corp"], cidrs: ["10.0.0.0/8"], decision: allow }
  - { name: ports-only, ports: [22, 2222], decision: deny }
  - { name: audit-all, domains: ["**.test"], decision: audit }
`,
    { DOMAIN: 'Example.COM' },
  );
  const cases: [string, number, string | undefined, string, string][] = [
    ['fd12::1', 80, undefined, 'deny', 'v6-block'],
    ['host', 80, 'fd00::5', 'deny', 'v6-block'],
    ['api.example.com', 443, undefined, 'allow', 'dom-and-port'],
    ['API.example.com', 443, undefined, 'allow', 'dom-and-port'],
    ['api.example.com', 80, undefined, 'deny', 'default-deny-network'],
    ['git.corp', 443, '10.1.1.1', 'allow', 'dom-and-cidr'],
    ['git.corp', 443, '11.1.1.1', 'deny', 'default-deny-network'],
    ['git.corp', 443, undefined, 'deny', 'default-deny-network'], // a CIDR selector needs a known address
    ['anything.org', 2222, undefined, 'deny', 'ports-only'],
    ['a.b.test', 80, undefined, 'audit', 'audit-all'],
    ['::ffff:10.0.0.1', 443, undefined, 'deny', 'default-deny-network'],
  ];
  for (const [host, port, ip, decision, rule] of cases) {
    it(`${host}:${port}${ip ? ` via ${ip}` : ''} → ${decision} by ${rule}`, () => assert.deepEqual(pick(e.checkNetwork(host, port, ip)), { decision, rule }));
  }
  it('IPv4-mapped IPv6 addresses match IPv4 blocks', () => {
    const m = engineFor(`{version: 1, name: t, network_rules: [{name: meta, cidrs: ["169.254.0.0/16"], decision: deny}, {name: rest, ports: [80], decision: allow}]}`);
    assert.equal(m.checkNetwork('::ffff:169.254.169.254', 80).rule, 'meta');
  });
});

describe('env policy defaults', () => {
  const e = engineFor(`{version: 1, name: t, env_policy: {deny: ["*_PASSWORD"], max_keys: 2}}`);
  it('with an empty allow list, everything but the built-in secrets passes', () => {
    assert.deepEqual(pick(e.checkEnv('PATH')), { decision: 'allow', rule: 'default-allow' });
    assert.deepEqual(pick(e.checkEnv('AWS_SECRET_ACCESS_KEY')), { decision: 'deny', rule: 'default-secret-deny' });
    assert.deepEqual(pick(e.checkEnv('GH_TOKEN')), { decision: 'deny', rule: 'default-secret-deny' });
    assert.deepEqual(pick(e.checkEnv('DB_PASSWORD')), { decision: 'deny', rule: 'env_policy.deny' });
  });
  it('max_keys is enforced with a clear error', () => {
    assert.throws(() => e.buildEnv({ A: '1', B: '2', C: '3' }), /3 variables, more than env_policy.max_keys \(2\)/);
    assert.deepEqual(e.buildEnv({ A: '1', GH_TOKEN: 'x' }).env, { A: '1' });
  });
});

describe('signals and unix sockets', () => {
  const e = engineFor(`
version: 1
name: t
signal_rules:
  - { name: no-kill-external, signals: ["@fatal"], target: { type: external }, decision: deny }
  - { name: children-ok, signals: ["@all"], target: { type: children }, decision: allow }
unix_socket_rules:
  - { name: docker, paths: [/var/run/docker.sock], operations: [connect], decision: deny }
  - { name: app, paths: ["/run/app/*.sock"], decision: allow }
`);
  it('decides signals by number, name and group, and target', () => {
    assert.equal(e.checkSignal('SIGKILL', 'external').rule, 'no-kill-external');
    assert.equal(e.checkSignal('9', 'children').rule, 'children-ok');
    assert.deepEqual(pick(e.checkSignal('HUP', 'external')), { decision: 'deny', rule: 'default-deny-signals' });
  });
  it('with no signal rules, signals are not policed', () => {
    assert.equal(engineFor('{version: 1, name: t}').checkSignal('KILL').decision, 'allow');
  });
  it('decides unix sockets', () => {
    assert.equal(e.checkUnixSocket('connect', '/var/run/docker.sock').decision, 'deny');
    assert.equal(e.checkUnixSocket('bind', '/run/app/a.sock').rule, 'app');
    assert.equal(e.checkUnixSocket('connect', '/other').rule, 'default-deny-unix');
  });
});

describe('decision cache', () => {
  it('returns the same frozen decision for the same question and stays bounded', () => {
    const e = engineFor(`{version: 1, name: t, command_rules: [{name: a, commands: ["*"], decision: allow}]}`, {}, { cacheSize: 4 });
    const a = e.checkCommand('ls', ['-l']);
    assert.equal(e.checkCommand('ls', ['-l']), a);
    assert.ok(Object.isFrozen(a));
    for (let i = 0; i < 10; i++) e.checkCommand(`c${i}`);
    assert.equal(e.checkCommand('ls', ['-l']).rule, 'a');
  });
});
