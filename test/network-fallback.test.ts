// The session network of a server on a plain host (as in a Daytona image), in both network
// states: `session` (each command in its own network namespace) and `landlock-tcp` (network
// namespaces forced unavailable: Landlock lets commands connect by TCP only to their session's
// proxy port on the host's loopback). Real server, launcher, relay, proxy.
//
// No packet leaves the machine: the proxy resolves with the test's DNS server on loopback,
// the policy refuses every name the test does not map, the upstream is on loopback, and the
// probes of non-loopback addresses happen inside the command's own namespace (session) or
// are refused by Landlock before any packet (landlock-tcp: only loopback ports are probed).
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startTestDns, type TestDns } from './dns-server.js';
import { eventsOf, startTestServer, type TestServer } from './server-harness.js';

const skip = process.getuid?.() === 0 ? false : 'needs root';

const POLICY = `version: 1
name: net-test
command_rules:
  - { name: everything, commands: ["*"], decision: allow }
network_rules:
  - { name: block-evil, domains: [evil.test], decision: deny }
  - { name: allow-test, domains: [allowed.test], decision: allow }
  - { name: default-deny-network, domains: ["*"], decision: deny }
`;

let dns: TestDns;
let upstream: Server;
let upstreamPort = 0;
const seen: string[] = [];

before(async () => {
  dns = await startTestDns({ 'allowed.test': ['127.0.0.1'], 'evil.test': ['127.0.0.1'] });
  upstream = createServer((req, res) => {
    seen.push(req.url ?? '');
    res.end(`upstream-ok ${req.url}\n`);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamPort = (upstream.address() as { port: number }).port;
});
after(async () => {
  await new Promise<void>((r) => upstream.close(() => r()));
  await dns.close();
});

function serverWith(env: NodeJS.ProcessEnv) {
  let srv: TestServer | undefined;
  let sid = '';
  before(async () => {
    srv = await startTestServer({
      sandbox: true,
      policy: POLICY,
      env,
      extraConfig: `  network:\n    enabled: true\n    allow_host_loopback: true\n    upstream_dns: ["127.0.0.1:${dns.port}"]\n`,
    });
    const r = await srv.api('POST', '/api/v1/sessions', { workspace: srv.workspace });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    sid = r.body.id;
  });
  after(async () => srv?.stop());
  const sh = async (script: string) => {
    const r = await srv!.api('POST', `/api/v1/sessions/${sid}/exec`, { command: 'bash', args: ['-c', script] });
    return r.body as { exit_code: number; stdout: string; stderr: string };
  };
  return { server: () => srv!, sh };
}

describe('network state `session` on a plain host', { skip }, () => {
  const { server, sh } = serverWith({});

  it('the server reports the session network', async () => {
    assert.match(await eventsOf(server(), 'server_start', /"network":"session"/), /"network":"session"/);
  });
  it('allowed through the proxy, refused by name, no route around it', async () => {
    const r = await sh(`curl -sS -m 5 http://allowed.test:${upstreamPort}/via-proxy; curl -s -m 5 http://evil.test:${upstreamPort}/evil; echo; curl -sS -m 3 --noproxy '*' http://127.0.0.1:${upstreamPort}/direct; echo direct=$?`);
    assert.match(r.stdout, /upstream-ok \/via-proxy/);
    assert.match(r.stdout, /rule=block-evil/);
    assert.match(r.stdout, /direct=7/); // the command's own loopback: nothing listens there
    assert.deepEqual(seen.filter((u) => u !== '/via-proxy'), []);
  });
});

describe('network state `landlock-tcp` (network namespaces forced unavailable)', { skip }, () => {
  const { server, sh } = serverWith({ AGENTSH_FORCE_UNAVAILABLE: 'netns' });

  it('the server reports the degraded network state and warns', async () => {
    assert.match(await eventsOf(server(), 'server_start', /"network":"landlock-tcp"/), /"network":"landlock-tcp"/);
    assert.match(await eventsOf(server(), 'audit_warning', /degraded: landlock-tcp/), /network enforcement degraded: landlock-tcp/);
  });
  it('the proxy port on the host loopback is the only TCP destination', async () => {
    seen.length = 0;
    const r = await sh([
      'echo "proxy=$HTTP_PROXY"',
      `curl -sS -m 5 http://allowed.test:${upstreamPort}/ll-proxy`,
      `curl -s -m 5 http://evil.test:${upstreamPort}/ll-evil; echo`,
      `curl -sS -m 3 --noproxy '*' http://127.0.0.1:${upstreamPort}/ll-direct; echo direct=$?`,
      `/usr/bin/python3 -c "
import socket, errno
try:
    socket.create_connection(('127.0.0.1', ${upstreamPort}), timeout=3); print('py reached')
except OSError as e:
    print('py', errno.errorcode.get(e.errno, e.errno))"`,
    ].join('\n'));
    assert.match(r.stdout, /^proxy=http:\/\/127\.0\.0\.1:\d+$/m);
    assert.match(r.stdout, /upstream-ok \/ll-proxy/);
    assert.match(r.stdout, /rule=block-evil/);
    assert.match(r.stdout, /direct=7/);
    assert.match(r.stdout, /^py EACCES$/m);
    assert.deepEqual(seen, ['/ll-proxy']);
  });
});
