// Decisions of the seed policy (../shared/seed/default.yaml), rule by rule, with agentsh's
// first-match semantics — including the surprising outcomes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { APPROVALS_ON, hasSharedSeed, SEED_POLICY, SHARED_SEED_DIR, seedEngine } from './helpers.js';

const engine = seedEngine();

function expectDecision(d: { decision: string; rule: string }, decision: string, rule: string) {
  assert.deepEqual({ decision: d.decision, rule: d.rule }, { decision, rule });
}

describe('seed policy', () => {
  it('is the unchanged seed file', { skip: !hasSharedSeed && 'no ../shared/seed beside the checkout' }, () => {
    assert.equal(readFileSync(SEED_POLICY, 'utf8'), readFileSync(`${SHARED_SEED_DIR}/default.yaml`, 'utf8'));
  });

  describe('command rules', () => {
    const cases: [string[], number, string, string][] = [
      [['curl', 'https://x'], 0, 'allow', 'allow-network-tools-direct'],
      [['wget', 'x'], 0, 'allow', 'allow-network-tools-direct'],
      [['curl', 'x'], 1, 'deny', 'approve-network-tools-nested'],
      [['wget', 'x'], 3, 'deny', 'approve-network-tools-nested'],
      [['ls', '-la'], 0, 'allow', 'allow-safe-commands'],
      [['/bin/bash', '-c', 'x'], 0, 'allow', 'allow-safe-commands'],
      [['/usr/local/bin/bash'], 0, 'allow', 'allow-safe-commands'], // basename match
      [['bash.real', '-c', 'x'], 0, 'allow', 'allow-safe-commands'], // the shim's real shell
      [['ECHO', 'hi'], 0, 'allow', 'allow-safe-commands'], // case-insensitive names
      [['git', 'status'], 0, 'allow', 'allow-dev-tools'],
      [['git', 'push', '--force'], 0, 'allow', 'allow-dev-tools'], // agentsh's first match: block-git-force-push is shadowed
      [['git', 'reset', '--hard'], 0, 'allow', 'allow-dev-tools'],
      [['npm', 'install', 'left-pad'], 0, 'allow', 'allow-dev-tools'], // approve-package-install is shadowed too
      [['python3', '-c', 'print(1)'], 0, 'allow', 'allow-dev-tools'],
      [['rm', '-r', 'dir'], 0, 'deny', 'block-rm-recursive'],
      [['rm', '-rf', 'dir'], 0, 'deny', 'block-rm-recursive'],
      [['rm', '--recursive', 'dir'], 0, 'deny', 'block-rm-recursive'],
      [['rm', '-fr', 'dir'], 0, 'allow', 'allow-other-commands'], // the seed's regex misses it (lint says so)
      [['rm', '-R', 'dir'], 0, 'allow', 'allow-other-commands'],
      [['rm', 'file.txt'], 0, 'allow', 'allow-other-commands'],
      [['rm', 'my-report.txt'], 0, 'deny', 'block-rm-recursive'], // and over-matches
      [['nc', '-l', '9'], 0, 'deny', 'block-network-tools'],
      [['/usr/bin/ssh', 'host'], 0, 'deny', 'block-network-tools'],
      [['dd', 'if=/dev/zero'], 0, 'deny', 'block-system-commands'],
      [['kill', '-9', '1'], 0, 'deny', 'block-system-commands'],
      [['pkill', 'node'], 0, 'deny', 'block-system-commands'],
      [['sudo', 'whoami'], 0, 'deny', 'block-shell-escape'],
      [['/usr/bin/sudo', 'whoami'], 0, 'deny', 'block-shell-escape'],
      [['su', 'root'], 0, 'deny', 'block-shell-escape'],
      [['unshare', '-r'], 0, 'deny', 'block-shell-escape'],
      [['enable', '-n', 'kill'], 0, 'deny', 'block-bash-builtins'],
      [['command', '-v', 'ls'], 0, 'deny', 'block-bash-builtins'],
      [['ulimit', '-n'], 0, 'deny', 'block-bash-builtins'],
      [['whoami'], 0, 'allow', 'allow-other-commands'],
      [['/opt/tool/bin/anything'], 5, 'allow', 'allow-other-commands'],
    ];
    for (const [argv, depth, decision, rule] of cases) {
      it(`${argv.join(' ')} at depth ${depth} → ${decision} by ${rule}`, () => {
        expectDecision(engine.checkCommand(argv[0]!, argv.slice(1), depth), decision, rule);
      });
    }

    it('approve without an approver denies and says why; with approvals on it stays approve', () => {
      const off = engine.checkCommand('curl', ['x'], 1);
      assert.equal(off.policyDecision, 'approve');
      assert.equal(off.approval, 'unavailable');
      assert.match(off.message, /^approval unavailable \(approvals are disabled\): Nested script wants to fetch: x$/);
      const on = seedEngine(undefined, { approvals: APPROVALS_ON }).checkCommand('curl', ['x'], 1);
      assert.equal(on.decision, 'approve');
      assert.equal(on.approval, 'required');
      assert.equal(on.timeoutMs, 120_000);
      const agentshWay = seedEngine(undefined, { approvals: { enabled: false, whenUnavailable: 'allow' } }).checkCommand('curl', ['x'], 1);
      assert.equal(agentshWay.decision, 'allow');
      assert.equal(agentshWay.approval, 'shadow');
    });

    it('fills message templates', () => {
      assert.equal(engine.checkCommand('enable', ['-n']).message, "Bash builtin 'enable' blocked (bypasses seccomp protections)");
    });
  });

  describe('file rules', () => {
    const P = '/home/daytona/project';
    const cases: [string, string, string, string][] = [
      ['read', `${P}/src/a.ts`, 'allow', 'allow-workspace-read'],
      ['list', P, 'allow', 'allow-workspace-read'],
      ['write', `${P}/a.txt`, 'allow', 'allow-workspace-write'],
      ['mkdir', `${P}/new`, 'allow', 'allow-workspace-write'],
      ['delete', `${P}/a.txt`, 'soft_delete', 'soft-delete-workspace'],
      ['rmdir', `${P}/dir`, 'soft_delete', 'soft-delete-workspace'],
      ['chown', `${P}/a.txt`, 'deny', 'default-deny-files'],
      ['write', '/home/daytona/notes.md', 'allow', 'allow-daytona-home'],
      ['delete', '/home/daytona/notes.md', 'soft_delete', 'soft-delete-daytona-home'],
      ['delete', '/workspace/x', 'soft_delete', 'soft-delete-daytona-home'],
      ['delete', '/tmp/x/y', 'allow', 'allow-tmp'],
      ['write', '/tmp', 'deny', 'default-deny-files'], // `/tmp/**` does not match /tmp itself
      ['read', '/usr/bin/sudo', 'deny', 'block-dangerous-binaries'],
      ['read', '/usr/bin/nsenter', 'deny', 'block-dangerous-binaries'],
      ['read', '/usr/bin/ls', 'allow', 'allow-system-read'],
      ['write', '/usr/bin/ls', 'deny', 'default-deny-files'],
      ['read', '/etc/passwd', 'allow', 'allow-etc-read'],
      ['read', '/etc/shadow', 'allow', 'allow-etc-read'], // the seed relies on Unix permissions here
      ['write', '/etc/passwd', 'deny', 'default-deny-files'],
      ['read', '/home/daytona/.ssh/id_rsa', 'allow', 'allow-daytona-home'], // shadowed approve-ssh-access (lint)
      ['read', '/root/.ssh/id_rsa', 'deny', 'approve-ssh-access'],
      ['read', '/root/.aws/credentials', 'deny', 'approve-aws-credentials'],
      ['read', '/srv/app/.env', 'deny', 'approve-env-files'],
      ['read', '/srv/app/.env.local', 'deny', 'approve-env-files'],
      ['read', '/srv/.netrc', 'deny', 'approve-git-credentials'],
      ['read', '/root/.npm/_cacache/x', 'allow', 'allow-cache-read'],
      ['write', '/root/.npm/_cacache/x', 'deny', 'default-deny-files'],
      ['read', '/proc/1/environ', 'deny', 'deny-proc-sys'],
      ['read', '/sys/kernel/x', 'deny', 'deny-proc-sys'],
      ['write', '/dev/null', 'allow', 'allow-dev-run'],
      ['read', '/var/lib/agentsh/events.db', 'allow', 'allow-dev-run'],
      ['write', '/var/log/syslog', 'deny', 'default-deny-files'],
      ['read', '/opt/x', 'deny', 'default-deny-files'], // the policy's own catch-all, not the engine default
    ];
    for (const [op, path, decision, rule] of cases) {
      it(`${op} ${path} → ${decision} by ${rule}`, () => expectDecision(engine.checkFile(op, path), decision, rule));
    }
    it('resolves .. and relative paths before matching', () => {
      expectDecision(engine.checkFile('write', '/home/daytona/project/../../../etc/passwd'), 'deny', 'default-deny-files');
      expectDecision(engine.checkFile('write', 'src/../a.txt', '/home/daytona/project'), 'allow', 'allow-workspace-write');
    });
    it('names the path in the message', () => {
      assert.equal(engine.checkFile('read', '/usr/bin/sudo').message, 'Access to privilege escalation tool blocked: /usr/bin/sudo');
    });
    it('HOME decides which approve rule applies', () => {
      const rootHome = seedEngine({ PROJECT_ROOT: '/srv/p', HOME: '/root' });
      expectDecision(rootHome.checkFile('read', '/root/.kube/config'), 'deny', 'approve-cloud-credentials');
      expectDecision(rootHome.checkFile('read', '/root/.git-credentials'), 'deny', 'approve-git-credentials');
    });
  });

  describe('network rules', () => {
    const cases: [string, number, string | undefined, string, string][] = [
      ['127.0.0.1', 8080, undefined, 'allow', 'allow-localhost'],
      ['::1', 3000, undefined, 'allow', 'allow-localhost'],
      ['[::1]', 3000, undefined, 'allow', 'allow-localhost'],
      ['localhost', 8080, '127.0.0.1', 'allow', 'allow-localhost'],
      ['registry.npmjs.org', 443, undefined, 'allow', 'allow-npm'],
      ['Registry.NPMJS.org.', 443, undefined, 'allow', 'allow-npm'],
      ['registry.npmjs.org', 80, undefined, 'deny', 'approve-unknown-http'],
      ['files.pythonhosted.org', 443, undefined, 'allow', 'allow-pypi'],
      ['static.crates.io', 443, undefined, 'allow', 'allow-cargo'],
      ['proxy.golang.org', 443, undefined, 'allow', 'allow-go-proxy'],
      ['github.com', 22, undefined, 'allow', 'allow-github'],
      ['api.github.com', 443, undefined, 'allow', 'allow-github'],
      ['a.b.github.com', 443, undefined, 'deny', 'approve-unknown-https'], // `*` stays inside one label
      ['gitlab.com', 443, undefined, 'allow', 'allow-gitlab'],
      ['x.bitbucket.org', 22, undefined, 'allow', 'allow-bitbucket'],
      ['app.daytona.io', 443, undefined, 'allow', 'allow-daytona-api'],
      ['10.1.2.3', 443, undefined, 'deny', 'block-private-networks'],
      ['172.20.0.1', 80, undefined, 'deny', 'block-private-networks'],
      ['192.168.1.1', 22, undefined, 'deny', 'block-private-networks'],
      ['169.254.169.254', 80, undefined, 'deny', 'block-private-networks'], // block-metadata-services is redundant
      ['100.100.100.200', 80, undefined, 'deny', 'block-metadata-services'],
      ['internal.example', 443, '10.0.0.5', 'deny', 'block-private-networks'], // a name resolving to a private address
      ['evil.com', 443, undefined, 'deny', 'block-evil-domains'],
      ['www.evil.com', 80, undefined, 'deny', 'block-evil-domains'],
      ['example.com', 443, undefined, 'deny', 'approve-unknown-https'],
      ['example.com', 80, undefined, 'deny', 'approve-unknown-http'],
      ['intranet', 8080, undefined, 'deny', 'default-deny-network'], // the policy's `*` matches a dot-free name
    ];
    for (const [host, port, ip, decision, rule] of cases) {
      it(`${host}:${port}${ip ? ` (${ip})` : ''} → ${decision} by ${rule}`, () => expectDecision(engine.checkNetwork(host, port, ip), decision, rule));
    }
    it("the policy's catch-all `*` does not match dotted names: the engine default decides", () => {
      const d = engine.checkNetwork('example.com', 8080);
      expectDecision(d, 'deny', 'default-deny-network');
      assert.equal(d.isDefault, true);
      assert.equal(engine.checkNetwork('intranet', 8080).isDefault, false);
    });
    it('fills {{.RemoteAddr}}', () => {
      assert.equal(engine.checkNetwork('evil.com', 443).message, 'Connection to untrusted domain blocked: evil.com');
    });
  });

  describe('env policy', () => {
    const cases: [string, string, string][] = [
      ['HOME', 'allow', 'env_policy.allow'],
      ['LC_ALL', 'allow', 'env_policy.allow'],
      ['AGENTSH_SERVER', 'allow', 'env_policy.allow'],
      ['DAYTONA_API_KEY', 'deny', 'env_policy.deny'],
      ['MY_SECRET_THING', 'deny', 'env_policy.deny'],
      ['GITHUB_TOKEN', 'deny', 'env_policy.deny'],
      ['AWS_SECRET_ACCESS_KEY', 'deny', 'env_policy.deny'],
      ['DATABASE_URL', 'deny', 'env_policy.deny'],
      ['RANDOM_VAR', 'deny', 'default-deny'],
    ];
    for (const [name, decision, rule] of cases) it(`${name} → ${decision} by ${rule}`, () => expectDecision(engine.checkEnv(name), decision, rule));

    it('buildEnv keeps allowed variables, drops the rest, injects operator variables', () => {
      const { env, removed } = engine.buildEnv({ HOME: '/h', PATH: '/bin', DAYTONA_API_KEY: 'dtn_x', FOO: '1' }, { BASH_ENV: '/usr/lib/agentsh/bash_startup.sh' });
      assert.deepEqual(env, { HOME: '/h', PATH: '/bin', BASH_ENV: '/usr/lib/agentsh/bash_startup.sh' });
      assert.deepEqual(removed, ['DAYTONA_API_KEY', 'FOO']);
      assert.equal(engine.policy.env.blockIteration, true);
    });
    it('buildEnv refuses an environment over max_bytes with a clear error', () => {
      assert.throws(() => engine.buildEnv({ HOME: 'x'.repeat(70_000) }), /more than env_policy.max_bytes \(65536\)/);
    });
  });

  it('shell strings: the strictest decision of every command wins', () => {
    const d = engine.checkShell('cd /tmp && echo $(sudo cat /etc/shadow) | xargs rm -r');
    assert.equal(d.decision, 'deny');
    assert.equal(d.rule, 'block-shell-escape');
    const argv0s = d.commands.map((c) => c.argv[0]);
    for (const c of ['cd', 'echo', 'sudo', 'cat', 'xargs', 'rm']) assert.ok(argv0s.includes(c), `${c} found in ${argv0s.join(',')}`);
    assert.equal(engine.checkShell('ls -la | grep x').decision, 'allow');
    const nested = engine.checkShell('bash -c "curl https://x"');
    assert.equal(nested.decision, 'deny');
    assert.equal(nested.rule, 'approve-network-tools-nested');
  });
});
