// The session network end to end, in a local sandbox built from the seed's config and policy
// (two additions to the config: the proxy resolves with the test's DNS server, and may reach
// the sandbox host's loopback, where the test's "internet" lives). Commands run the way
// Daytona's toolbox runs them; each check asserts the decision, the audit event and the
// absence of the side effect (the upstream saw nothing).
//
// No packet leaves the machine: the sandbox (server included) lives in a network namespace
// with loopback only; the test's DNS and HTTP servers run inside that namespace (nsenter);
// every "forbidden" address (metadata, private) is only ever DECIDED on by the proxy, or
// probed from inside the command's own namespace, where no route exists.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { createSandbox, type Sandbox } from '../src/sdk/index.js';
import { expectSandboxEvent, type AuditEvent } from './sandbox-events.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root: the local provider builds namespaces';
const SEED = new URL('./fixtures/seed/', import.meta.url).pathname.replace('/dist/test/', '/test/');
const UPSTREAM = new URL('./net-upstream.js', import.meta.url).pathname;
const root = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-net-e2e-')));
let sb: Sandbox;
let dir = '';
let upstream: ChildProcess | null = null;
let upstreamLog = '';

const NAMES: Record<string, string[]> = {
  'github.com': ['127.0.0.1'], // allowed by allow-github; the test's server
  'registry.npmjs.org': ['127.0.0.1'], // allow-npm
  'evil.com': ['127.0.0.1'], // block-evil-domains: refused before any lookup
  'api.github.com': ['169.254.169.254'], // allowed name, metadata address
  'raw.githubusercontent.com': ['10.1.2.3'], // allowed name, private address
  'gitlab.com': ['::ffff:169.254.169.254'], // allowed name, metadata behind an IPv4-mapped IPv6 address
};

async function run(cmd: string) {
  const r = await sb.exec(cmd);
  return { ...r, all: `${r.stdout}${r.stderr}` };
}

const expectEvent = (pred: (e: AuditEvent) => boolean, what: string) => expectSandboxEvent(dir, pred, what);
const reached = (tag: string) => upstreamLog.split('\n').some((l) => l.startsWith('req ') && l.includes(tag));

describe('session network (seed policy, local sandbox)', { skip }, () => {
  before(async () => {
    const cfg = parseDocument(readFileSync(join(SEED, 'config.yaml'), 'utf8'));
    cfg.setIn(['sandbox', 'network', 'upstream_dns'], ['127.0.0.1:5353']);
    cfg.setIn(['sandbox', 'network', 'allow_host_loopback'], true);
    // The LLM providers: the test's server in the sandbox's namespace (no real provider is reachable).
    cfg.setIn(['proxy', 'providers', 'anthropic'], 'http://127.0.0.1:80');
    cfg.setIn(['proxy', 'providers', 'openai'], 'http://127.0.0.1:80');
    const config = join(root, 'config.yaml');
    writeFileSync(config, cfg.toString());
    process.env.AGENTSH_SANDBOX_ROOT = root;
    sb = await createSandbox({ root, config, policy: join(SEED, 'default.yaml'), timeoutMs: 60_000 });
    dir = join(root, sb.id);
    const info = await sb.info();
    assert.ok(info.initPid, 'the sandbox reports its init pid');
    upstream = spawn('nsenter', [`--net=/proc/${info.initPid}/ns/net`, process.execPath, UPSTREAM, JSON.stringify(NAMES), '80,443'], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      upstream!.once('exit', (c) => reject(new Error(`upstream exited ${c}`)));
      upstream!.stdout!.on('data', (c: Buffer) => {
        upstreamLog += c.toString();
        if (upstreamLog.includes('ready\n')) resolve();
      });
    });
    const warm = await run('true');
    assert.equal(warm.exitCode, 0, warm.all);
  });
  after(async () => {
    upstream?.stdin?.end();
    if (upstream?.pid && upstream.exitCode === null) upstream.kill('SIGKILL');
    await sb?.delete().catch(() => {});
    rmSync(root, { recursive: true, force: true });
  });

  it('gives commands the proxy variables', async () => {
    const r = await run('echo "$HTTPS_PROXY $http_proxy $ALL_PROXY $NO_PROXY"');
    assert.match(r.stdout, /^http:\/\/127\.0\.0\.1:\d+ http:\/\/127\.0\.0\.1:\d+ socks5h:\/\/127\.0\.0\.1:\d+ localhost,127\.0\.0\.1,::1$/m);
  });

  it('curl https://evil.com: refused by the proxy with 403 naming the rule; nothing resolved, nothing reached', async () => {
    const r = await run('curl -sS -m 5 https://evil.com/evil-tag; echo rc=$?');
    assert.match(r.all, /403/);
    assert.match(r.all, /rc=[1-9]/);
    const body = await run('curl -s -m 5 http://evil.com/evil-tag2');
    assert.match(body.stdout, /denied by policy \(rule=block-evil-domains\)/);
    assert.equal(reached('evil-tag'), false);
    assert.equal(upstreamLog.includes('dns evil.com'), false, 'the denied name was never looked up');
    await expectEvent((e) => e.type === 'net_connect' && e.decision === 'deny' && e.rule === 'block-evil-domains' && e.fields?.host === 'evil.com', 'the refusal is audited');
  });

  it('an allowed name reaches the server through CONNECT and through the forward proxy, audited with bytes', async () => {
    const r = await run('curl -sS -m 5 -p http://github.com:443/connect-tag');
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /^upstream-ok GET \/connect-tag github\.com:443/);
    const f = await run('curl -sS -m 5 http://registry.npmjs.org:443/forward-tag');
    assert.equal(f.exitCode, 0, f.all);
    assert.match(f.stdout, /^upstream-ok GET http:\/\/registry\.npmjs\.org:443\/forward-tag|^upstream-ok GET \/forward-tag/);
    const e = await expectEvent((x) => x.type === 'net_connect' && x.fields?.host === 'github.com' && x.decision === 'allow', 'allowed connection audited');
    assert.equal(e.rule, 'allow-github');
    assert.equal(e.fields?.ip, '127.0.0.1');
    assert.ok(Number(e.fields?.bytes_down) > 0 && Number(e.fields?.bytes_up) > 0, JSON.stringify(e.fields));
  });

  for (const [name, what] of [['api.github.com', 'a metadata address'], ['raw.githubusercontent.com', 'a private address'], ['gitlab.com', 'metadata behind ::ffff:']] as const) {
    it(`${name} is allowed by name but resolves to ${what}: refused, never reached`, async () => {
      const tag = `rebind-${name.split('.')[0]}`;
      const r = await run(`curl -sS -m 5 -p http://${name}:443/${tag}; echo rc=$?`);
      assert.match(r.all, /403/);
      assert.equal(reached(tag), false);
      const e = await expectEvent((x) => x.type === 'net_connect' && x.fields?.host === name && x.decision === 'deny', `refusal of ${name}`);
      assert.match(String(e.rule), /block-private-networks|block-metadata-services|builtin-metadata/);
    });
  }

  it('SOCKS5 (remote DNS) works for allowed names and refuses denied ones', async () => {
    const ok = await run('curl -sS -m 5 --socks5-hostname 127.0.0.1:$(echo "$ALL_PROXY" | sed "s/.*://") http://github.com:443/socks-tag');
    assert.equal(ok.exitCode, 0, ok.all);
    assert.match(ok.stdout, /upstream-ok GET \/socks-tag/);
    const no = await run('curl -sS -m 5 --socks5-hostname 127.0.0.1:$(echo "$ALL_PROXY" | sed "s/.*://") http://evil.com/socks-evil; echo rc=$?');
    assert.match(no.all, /rc=97/); // curl: SOCKS5 request failed (reply 2: not allowed by ruleset)
    assert.equal(reached('socks-evil'), false);
    await expectEvent((x) => x.type === 'net_connect' && x.fields?.protocol === 'socks5' && x.fields?.host === 'evil.com' && x.decision === 'deny', 'SOCKS refusal audited');
  });

  it('programs that ignore the proxy have no route: curl --noproxy, Python sockets, bash /dev/tcp, UDP, ICMP', async () => {
    const r = await run([
      "curl -sS -m 3 --noproxy '*' http://github.com:443/noproxy-tag; echo curl=$?",
      "curl -sS -m 3 --noproxy '*' http://10.1.2.3/noproxy-tag2; echo curl2=$?",
      '(exec 3<>/dev/tcp/10.1.2.3/80) 2>&1; echo devtcp=$?',
      `python3 -c "
import socket, errno
def t(f):
    try:
        f(); return 'reached'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
print('tcp', t(lambda: socket.create_connection(('10.1.2.3', 443), timeout=3)))
print('tcp6', t(lambda: socket.create_connection(('fd00::1', 443), timeout=3)))
print('udp', t(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('10.1.2.3', 53))))
print('icmp', t(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP).sendto(b'\\x08\\x00\\xf7\\xff\\x00\\x00\\x00\\x00', ('10.1.2.3', 0))))
print('raw', t(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)))
"`,
    ].join('\n'));
    assert.match(r.all, /curl=7/); // github.com resolves (127.0.0.1) but nothing listens on the sandbox's own loopback
    assert.match(r.all, /curl2=7/);
    assert.match(r.all, /devtcp=1/);
    assert.match(r.stdout, /^tcp ENETUNREACH$/m);
    assert.match(r.stdout, /^tcp6 ENETUNREACH$/m);
    assert.match(r.stdout, /^udp ENETUNREACH$/m);
    assert.match(r.stdout, /^icmp (ENETUNREACH|EACCES|EPERM)$/m);
    assert.match(r.stdout, /^raw (EPERM|EACCES)$/m);
    assert.equal(reached('noproxy'), false);
  });

  it('DNS: the stub answers allowed names, refuses denied ones, filters private answers; queries are audited', async () => {
    const r = await run('getent hosts github.com; echo gh=$?; getent hosts evil.com; echo evil=$?; getent hosts api.github.com; echo meta=$?');
    assert.match(r.stdout, /^127\.0\.0\.1\s+github\.com$/m);
    assert.match(r.stdout, /evil=2/);
    assert.match(r.stdout, /meta=2/);
    assert.doesNotMatch(r.stdout, /169\.254/);
    assert.equal(upstreamLog.includes('dns evil.com'), false);
    await expectEvent((e) => e.type === 'dns_query' && e.fields?.name === 'evil.com', 'DNS refusal audited');
    await expectEvent((e) => e.type === 'dns_query' && e.fields?.name === 'github.com', 'DNS answer audited');
  });

  it('LLM calls go to the LLM proxy, which redacts secrets before the provider sees them', async () => {
    const key = `AKIA${'Q7'.repeat(8)}`;
    const body = JSON.stringify({ model: 'claude-test', max_tokens: 5, messages: [{ role: 'user', content: `deploy with ${key} please` }] });
    const r = await run(`echo "$ANTHROPIC_BASE_URL $OPENAI_BASE_URL"; curl -sS -m 5 -X POST -H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' -H 'x-api-key: test' --data-binary '${body}' "$ANTHROPIC_BASE_URL/v1/messages"`);
    assert.match(r.stdout, /^http:\/\/127\.0\.0\.1:\d+ http:\/\/127\.0\.0\.1:\d+\/v1$/m);
    assert.match(r.stdout, /upstream-ok POST \/v1\/messages/, r.all);
    assert.match(r.stdout, /REDACTED/);
    assert.doesNotMatch(r.stdout, new RegExp(key), 'the provider never saw the key');
    await expectEvent((e) => e.type === 'llm_request' && e.fields?.provider === 'anthropic' && Number(e.fields?.redactions) >= 1, 'LLM request audited with its redaction');
  });

  it('the agentsh server itself is not reachable through the proxy', async () => {
    const r = await run(`curl -sS -m 5 --noproxy '' -x "$HTTP_PROXY" -w ' code=%{http_code}' http://127.0.0.1:18080/health`);
    assert.match(r.stdout, /rule=builtin-agentsh-port/);
    assert.match(r.stdout, /code=403/);
  });
});
