// The session proxy (src/net/proxy.ts) over loopback only: HTTP forward, CONNECT and SOCKS5
// against upstreams made here on 127.0.0.1, names from an in-memory resolver. Addresses that
// are not loopback (169.254.169.254) are only ever decided on, never connected to: the proxy
// refuses them, which is what the tests check.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SessionProxy, type ProxyLimits } from '../src/net/proxy.js';
import { ResolveError, type NetSession, type Resolver } from '../src/net/types.js';
import type { PolicyEngine } from '../src/policy/engine.js';
import { APPROVALS_ON, engineFor } from './helpers.js';
import { fakeNetSession, waitFor, type NetAuditEvent } from './net-session.js';

const POLICY = `
version: 1
name: proxy-test
network_rules:
  - { name: block-evil-domains, domains: ["evil.test", "*.evil.test"], decision: deny, message: "evil is not allowed" }
  - { name: ask-human, domains: ["ask.test"], decision: approve, message: "ask first" }
  - { name: allow-loopback-literal, cidrs: ["127.0.0.1/32", "::1/128"], decision: allow }
  - { name: allow-test-names, domains: ["*.test"], decision: allow }
  - { name: allow-any-443, ports: [443], decision: allow }
`;

const NAMES: Record<string, string[]> = {
  'allowed.test': ['127.0.0.1'],
  'ask.test': ['127.0.0.1'],
  'evil.test': ['127.0.0.1'], // denied by name: must never even be resolved
  'meta.test': ['169.254.169.254'], // allowed by name, refused by address (never connected to)
};

class MapResolver implements Resolver {
  readonly calls: string[] = [];
  async resolve(name: string): Promise<string[]> {
    this.calls.push(name);
    const a = NAMES[name];
    if (!a) throw new ResolveError('NXDOMAIN', `${name} does not exist`);
    return a;
  }
}

function fakeSession(engine: PolicyEngine) {
  const f = fakeNetSession(engine, 'sess-1');
  f.state.answer = true;
  return f;
}

const noop = () => {};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

/** A raw client: everything received accumulates in `buf`. */
class Raw {
  buf: Buffer = Buffer.alloc(0);
  /** The proxy ended its side (FIN) or the connection is gone (our side is half-open capable). */
  ended = false;
  closed = false;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (c: Buffer) => (this.buf = Buffer.concat([this.buf, c])));
    sock.on('end', () => (this.ended = this.closed = true));
    sock.on('close', () => (this.ended = this.closed = true));
    sock.on('error', noop);
  }
  static async open(port: number): Promise<Raw> {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    await new Promise<void>((res, rej) => {
      s.once('connect', res);
      s.once('error', rej);
    });
    return new Raw(s);
  }
  text(): string {
    return this.buf.toString('latin1');
  }
  until(pred: (r: Raw) => boolean, ms = 3000, what = 'data'): Promise<Raw> {
    return waitFor(() => pred(this) && this, ms, what);
  }
  /** The first `n` bytes, removed from the buffer. */
  async take(n: number, ms = 3000): Promise<Buffer> {
    await this.until((r) => r.buf.length >= n, ms, `${n} bytes`);
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
  /** Up to the end of an HTTP response head, removed from the buffer. */
  async head(ms = 3000): Promise<string> {
    await this.until((r) => r.text().includes('\r\n\r\n'), ms, 'a response head');
    const i = this.text().indexOf('\r\n\r\n') + 4;
    const h = this.buf.subarray(0, i).toString('latin1');
    this.buf = this.buf.subarray(i);
    return h;
  }
}

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request through the proxy with Node's client (absolute-form target). */
function viaProxy(proxyPort: number, target: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: opts.method ?? 'GET', path: target, headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const socksGreeting = Buffer.from([5, 1, 0]);
function socksRequest(atyp: 'name' | 'v4' | 'v6', host: string | number[], port: number, cmd = 1): Buffer {
  const p = Buffer.from([port >> 8, port & 255]);
  if (atyp === 'name') {
    const n = Buffer.from(host as string, 'latin1');
    return Buffer.concat([Buffer.from([5, cmd, 0, 3, n.length]), n, p]);
  }
  return Buffer.concat([Buffer.from([5, cmd, 0, atyp === 'v4' ? 1 : 4]), Buffer.from(host as number[]), p]);
}

describe('session proxy', () => {
  const resolver = new MapResolver();
  const engine = engineFor(POLICY, {}, { approvals: APPROVALS_ON });
  const { session, events, approvals, state } = fakeSession(engine);
  const seen: Seen[] = [];
  let upstream: http.Server;
  let upPort: number;
  let echo: net.Server;
  let echoPort: number;
  let echoConnections = 0;
  let closedPort: number;
  let proxy: SessionProxy;
  let front: net.Server;
  let port: number;
  const BIG = 1024 * 1024;

  const eventFor = (pred: (e: NetAuditEvent) => boolean, what = 'an audit event') => waitFor(() => events.find(pred), 3000, what);

  before(async () => {
    upstream = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        if (req.url === '/big') {
          res.writeHead(200, { 'Content-Length': BIG, Connection: 'close, X-Hop', 'X-Hop': 'drop me', 'Proxy-Authenticate': 'Basic' });
          const block = Buffer.alloc(64 * 1024, 'x');
          let left = BIG;
          const pump = () => {
            while (left > 0) {
              left -= block.length;
              if (!res.write(block)) return void res.once('drain', pump);
            }
            res.end();
          };
          pump();
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Up': '1' });
        res.end(`upstream: ${req.method} ${body}`);
      });
    });
    upPort = await listen(upstream);
    // Echo; when the client ends its side, one last line and the end.
    echo = net.createServer({ allowHalfOpen: true }, (s) => {
      echoConnections++;
      s.on('error', noop);
      s.on('data', (c) => s.write(c));
      s.on('end', () => s.end('END\n'));
    });
    echoPort = await listen(echo);
    const tmp = net.createServer();
    closedPort = await listen(tmp);
    await new Promise((r) => tmp.close(r));

    proxy = new SessionProxy({ resolver, settings: { allowHostLoopback: true }, limits: { maxHeaderBytes: 4096, connectTimeoutMs: 2000 } });
    front = net.createServer((s) => proxy.handle(s, session));
    port = await listen(front);
  });

  after(async () => {
    await proxy.close();
    await new Promise((r) => front.close(r));
    upstream.closeAllConnections();
    await new Promise((r) => upstream.close(r));
    await new Promise((r) => echo.close(r));
  });

  describe('HTTP forward proxy', () => {
    it('forwards an allowed request to the checked address, body both ways, without Proxy-* or a spoofed Host', async () => {
      const before = seen.length;
      const r = await viaProxy(port, `http://allowed.test:${upPort}/echo?q=1`, {
        method: 'POST',
        headers: { 'Proxy-Authorization': 'Basic c2VjcmV0', 'Proxy-Connection': 'keep-alive', Host: 'evil.test', 'X-Custom': 'kept', Connection: 'X-Private', 'X-Private': 'hop' },
        body: 'hello body',
      });
      assert.equal(r.status, 200);
      assert.equal(r.body, 'upstream: POST hello body');
      assert.equal(r.headers['x-up'], '1');
      assert.equal(seen.length, before + 1);
      const got = seen.at(-1)!;
      assert.equal(got.url, '/echo?q=1');
      assert.equal(got.headers['proxy-authorization'], undefined);
      assert.equal(got.headers['proxy-connection'], undefined);
      assert.equal(got.headers['x-private'], undefined, 'a header named by Connection is hop-by-hop');
      assert.equal(got.headers.host, `allowed.test:${upPort}`, 'Host comes from the URL that was decided');
      assert.equal(got.headers['x-custom'], 'kept');
      const ev = await eventFor((e) => e.fields.protocol === 'http' && e.fields.url === `http://allowed.test:${upPort}/echo?q=1`);
      assert.equal(ev.type, 'net_connect');
      assert.equal(ev.decision, 'allow');
      assert.equal(ev.rule, 'allow-test-names');
      assert.equal(ev.fields.method, 'POST');
      assert.equal(ev.fields.ip, '127.0.0.1');
      assert.deepEqual(ev.fields.addresses, ['127.0.0.1']);
      assert.equal(ev.fields.status, 200);
      assert.equal(ev.fields.bytes_up, 'hello body'.length);
      assert.equal(ev.fields.bytes_down, 'upstream: POST hello body'.length);
      assert.equal(typeof ev.fields.duration_ms, 'number');
    });

    it('streams a large response and drops the upstream hop-by-hop headers', async () => {
      const r = await viaProxy(port, `http://allowed.test:${upPort}/big`);
      assert.equal(r.status, 200);
      assert.equal(r.body.length, BIG);
      assert.equal(r.headers['x-hop'], undefined);
      assert.equal(r.headers['proxy-authenticate'], undefined);
      const ev = await eventFor((e) => e.fields.url === `http://allowed.test:${upPort}/big`);
      assert.equal(ev.fields.bytes_down, BIG);
    });

    it('refuses a denied name with the deny status, the rule in body and header, and never contacts or resolves it', async () => {
      const before = seen.length;
      const r = await viaProxy(port, `http://evil.test:${upPort}/steal`, { headers: { 'Proxy-Authorization': 'Basic eA==' } });
      assert.equal(r.status, 403);
      assert.match(r.body, /^agentsh: connection to evil\.test:\d+ denied by policy \(rule=block-evil-domains\): evil is not allowed\n$/);
      assert.equal(r.headers['x-agentsh-rule'], 'block-evil-domains');
      assert.equal(seen.length, before, 'the upstream saw no request');
      assert.ok(!resolver.calls.includes('evil.test'), 'a denied name is never resolved');
      const ev = await eventFor((e) => e.fields.protocol === 'http' && e.fields.host === 'evil.test');
      assert.equal(ev.decision, 'deny');
      assert.equal(ev.rule, 'block-evil-domains');
      assert.equal(ev.fields.status, 403);
      assert.equal(ev.fields.ip, undefined);
    });

    it('answers 400 to origin-form and https:// requests', async () => {
      for (const target of ['/just/a/path', `https://allowed.test:${upPort}/`]) {
        const c = await Raw.open(port);
        c.sock.write(`GET ${target} HTTP/1.1\r\nHost: allowed.test\r\n\r\n`);
        assert.match(await c.head(), /^HTTP\/1\.1 400 /);
        c.sock.destroy();
      }
    });

    it('decides every request of a keep-alive connection on its own', async () => {
      const before = seen.length;
      const c = await Raw.open(port);
      c.sock.write(`GET http://allowed.test:${upPort}/one HTTP/1.1\r\nHost: x\r\n\r\nGET http://evil.test:${upPort}/two HTTP/1.1\r\nHost: x\r\n\r\n`);
      await c.until((r) => r.text().includes('rule=block-evil-domains'));
      const t = c.text();
      assert.ok(t.startsWith('HTTP/1.1 200 OK'), t);
      assert.ok(t.indexOf('HTTP/1.1 403 Forbidden') > t.indexOf('upstream: GET'), t);
      assert.equal(c.closed, false, 'the connection stays open');
      assert.deepEqual(
        seen.slice(before).map((s) => s.url),
        ['/one'],
      );
      c.sock.destroy();
    });

    it('still answers a client that half-closes after its request', async () => {
      const c = await Raw.open(port);
      c.sock.end(`GET http://allowed.test:${upPort}/half HTTP/1.1\r\nHost: x\r\n\r\n`);
      await c.until((r) => r.text().includes('upstream: GET'));
      assert.match(c.text(), /^HTTP\/1\.1 200 OK/);
      await c.until((r) => r.ended);
    });

    it('answers 502 when the upstream refuses the connection', async () => {
      const r = await viaProxy(port, `http://127.0.0.1:${closedPort}/`);
      assert.equal(r.status, 502);
      const ev = await eventFor((e) => e.fields.protocol === 'http' && e.fields.port === closedPort);
      assert.equal(ev.decision, 'allow');
      assert.equal(ev.fields.status, 502);
      assert.match(String(ev.fields.error), /ECONNREFUSED/);
    });

    it('answers 502 naming the rule when the name does not resolve', async () => {
      const r = await viaProxy(port, `http://nowhere.test:${upPort}/`);
      assert.equal(r.status, 502);
      assert.match(r.body, /rule=builtin-resolve-failed/);
    });
  });

  describe('CONNECT', () => {
    it('tunnels both ways, passes a half-close through and audits the byte counts when it ends', async () => {
      const c = await Raw.open(port);
      c.sock.write(`CONNECT allowed.test:${echoPort} HTTP/1.1\r\nHost: allowed.test:${echoPort}\r\nProxy-Authorization: Basic eA==\r\n\r\n`);
      assert.equal(await c.head(), 'HTTP/1.1 200 Connection Established\r\n\r\n');
      c.sock.write('hello');
      assert.equal((await c.take(5)).toString(), 'hello');
      c.sock.end(); // our write side only: the upstream's answer must still arrive
      await c.until((r) => r.ended, 3000, 'the end of the tunnel');
      assert.equal(c.text(), 'END\n');
      const ev = await eventFor((e) => e.fields.protocol === 'connect' && e.fields.port === echoPort && e.fields.host === 'allowed.test');
      assert.equal(ev.decision, 'allow');
      assert.equal(ev.fields.ip, '127.0.0.1');
      assert.equal(ev.fields.status, 200);
      assert.equal(ev.fields.bytes_up, 5);
      assert.equal(ev.fields.bytes_down, 9);
      await c.until((r) => r.closed);
    });

    it('forwards bytes sent together with the CONNECT request', async () => {
      const c = await Raw.open(port);
      c.sock.write(`CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\n\r\nearly`);
      assert.match(await c.head(), /^HTTP\/1\.1 200 /);
      assert.equal((await c.take(5)).toString(), 'early');
      c.sock.destroy();
    });

    it('refuses a permitted name that resolves to the metadata address, without connecting', async () => {
      const c = await Raw.open(port);
      c.sock.write('CONNECT meta.test:443 HTTP/1.1\r\nHost: meta.test:443\r\n\r\n');
      const h = await c.head();
      assert.match(h, /^HTTP\/1\.1 403 /);
      assert.match(h, /X-Agentsh-Rule: builtin-metadata/);
      await c.until((r) => r.text().includes('\n') && r.closed);
      assert.match(c.text(), /rule=builtin-metadata/);
      assert.ok(resolver.calls.includes('meta.test'));
      const ev = await eventFor((e) => e.fields.protocol === 'connect' && e.fields.host === 'meta.test');
      assert.equal(ev.decision, 'deny');
      assert.equal(ev.rule, 'builtin-metadata');
      assert.deepEqual(ev.fields.addresses, ['169.254.169.254']);
      assert.equal(ev.fields.ip, undefined, 'nothing was connected to');
    });

    it('refuses an IPv4-mapped IPv6 literal of the metadata address', async () => {
      const c = await Raw.open(port);
      c.sock.write('CONNECT [::ffff:169.254.169.254]:443 HTTP/1.1\r\n\r\n');
      const h = await c.head();
      assert.match(h, /^HTTP\/1\.1 403 /);
      assert.match(h, /X-Agentsh-Rule: builtin-metadata/);
      c.sock.destroy();
      const ev = await eventFor((e) => e.fields.protocol === 'connect' && e.fields.host === '169.254.169.254');
      assert.equal(ev.rule, 'builtin-metadata');
    });

    it('holds an approve rule for the session hook: yes tunnels, no refuses', async () => {
      state.answer = true;
      const yes = await Raw.open(port);
      yes.sock.write(`CONNECT ask.test:${echoPort} HTTP/1.1\r\n\r\n`);
      assert.match(await yes.head(), /^HTTP\/1\.1 200 /);
      yes.sock.write('ok?');
      assert.equal((await yes.take(3)).toString(), 'ok?');
      yes.sock.destroy();
      assert.deepEqual(approvals.at(-1), { host: 'ask.test', port: echoPort, ip: '127.0.0.1' });

      state.answer = false;
      const before = echoConnections;
      const no = await Raw.open(port);
      no.sock.write(`CONNECT ask.test:${echoPort} HTTP/1.1\r\n\r\n`);
      const h = await no.head();
      assert.match(h, /^HTTP\/1\.1 403 /);
      await no.until((r) => r.closed);
      assert.match(no.text(), /rule=ask-human\): not approved: ask first/);
      assert.equal(echoConnections, before);
      state.answer = true;
    });

    it('answers 400 to a CONNECT without a port', async () => {
      const c = await Raw.open(port);
      c.sock.write('CONNECT allowed.test HTTP/1.1\r\n\r\n');
      assert.match(await c.head(), /^HTTP\/1\.1 400 /);
      c.sock.destroy();
    });
  });

  describe('SOCKS5', () => {
    it('connects a domain name through the proxy resolver and tunnels', async () => {
      const c = await Raw.open(port);
      c.sock.write(socksGreeting);
      assert.deepEqual([...(await c.take(2))], [5, 0]);
      c.sock.write(socksRequest('name', 'allowed.test', echoPort));
      const rep = await c.take(10);
      assert.deepEqual([...rep.subarray(0, 4)], [5, 0, 0, 1]);
      assert.deepEqual([...rep.subarray(4, 8)], [127, 0, 0, 1], 'bound address');
      c.sock.write('socks!');
      assert.equal((await c.take(6)).toString(), 'socks!');
      c.sock.end();
      await c.until((r) => r.ended);
      const ev = await eventFor((e) => e.fields.protocol === 'socks5' && e.fields.host === 'allowed.test');
      assert.equal(ev.decision, 'allow');
      assert.equal(ev.fields.status, 0);
      assert.equal(ev.fields.bytes_up, 6);
      assert.equal(ev.fields.bytes_down, 6 + 4);
    });

    it('refuses a denied name with reply 0x02 and never resolves it', async () => {
      const c = await Raw.open(port);
      c.sock.write(Buffer.concat([socksGreeting, socksRequest('name', 'evil.test', echoPort)]));
      assert.deepEqual([...(await c.take(2))], [5, 0]);
      const rep = await c.take(10);
      assert.equal(rep[1], 0x02);
      await c.until((r) => r.closed);
      assert.ok(!resolver.calls.includes('evil.test'));
      const ev = await eventFor((e) => e.fields.protocol === 'socks5' && e.fields.host === 'evil.test');
      assert.equal(ev.rule, 'block-evil-domains');
      assert.equal(ev.fields.status, 2);
    });

    it('answers 0x04 for a name that does not resolve and 0x05 for a refused connection', async () => {
      const nx = await Raw.open(port);
      nx.sock.write(Buffer.concat([socksGreeting, socksRequest('name', 'nowhere.test', echoPort)]));
      assert.equal((await nx.take(12))[3], 0x04);
      const refused = await Raw.open(port);
      refused.sock.write(Buffer.concat([socksGreeting, socksRequest('v4', [127, 0, 0, 1], closedPort)]));
      assert.equal((await refused.take(12))[3], 0x05);
    });

    it('connects an IPv4 literal, with the request and data sent in one packet', async () => {
      const c = await Raw.open(port);
      c.sock.write(Buffer.concat([socksGreeting, socksRequest('v4', [127, 0, 0, 1], echoPort), Buffer.from('eager')]));
      const rep = await c.take(12);
      assert.deepEqual([...rep.subarray(0, 4)], [5, 0, 5, 0]);
      assert.equal((await c.take(5)).toString(), 'eager');
      c.sock.destroy();
      const ev = await eventFor((e) => e.fields.protocol === 'socks5' && e.fields.host === '127.0.0.1' && e.fields.port === echoPort);
      assert.equal(ev.rule, 'allow-loopback-literal');
    });

    it('connects an IPv6 literal and reports an IPv6 bound address', async (t) => {
      const echo6 = net.createServer((s) => s.on('error', noop).pipe(s));
      try {
        await new Promise<void>((res, rej) => {
          echo6.once('error', rej);
          echo6.listen(0, '::1', res);
        });
      } catch {
        return t.skip('no IPv6 loopback');
      }
      try {
        const p6 = (echo6.address() as net.AddressInfo).port;
        const c = await Raw.open(port);
        c.sock.write(Buffer.concat([socksGreeting, socksRequest('v6', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], p6)]));
        const rep = await c.take(2 + 22);
        assert.deepEqual([...rep.subarray(2, 6)], [5, 0, 0, 4]);
        assert.deepEqual([...rep.subarray(6, 22)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        c.sock.write('v6');
        assert.equal((await c.take(2)).toString(), 'v6');
        c.sock.destroy();
        const k = await Raw.open(port);
        k.sock.write(`CONNECT [::1]:${p6} HTTP/1.1\r\n\r\nsix`);
        assert.match(await k.head(), /^HTTP\/1\.1 200 /);
        assert.equal((await k.take(3)).toString(), 'six');
        k.sock.destroy();
        const ev = await eventFor((e) => e.fields.protocol === 'connect' && e.fields.host === '::1');
        assert.equal(ev.fields.ip, '::1');
      } finally {
        echo6.close();
      }
    });

    it('refuses an IPv6 (IPv4-mapped) metadata address with 0x02', async () => {
      const c = await Raw.open(port);
      c.sock.write(Buffer.concat([socksGreeting, socksRequest('v6', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 169, 254, 169, 254], 443)]));
      assert.equal((await c.take(12))[3], 0x02);
      const ev = await eventFor((e) => e.fields.protocol === 'socks5' && e.fields.host === '169.254.169.254');
      assert.equal(ev.rule, 'builtin-metadata');
    });

    it('copes with a handshake dribbled one byte at a time', async () => {
      const c = await Raw.open(port);
      for (const b of Buffer.concat([socksGreeting, socksRequest('name', 'allowed.test', echoPort)])) {
        c.sock.write(Buffer.from([b]));
        await sleep(2);
      }
      const rep = await c.take(12);
      assert.deepEqual([...rep.subarray(0, 4)], [5, 0, 5, 0]);
      c.sock.destroy();
    });

    it('rejects clients offering only authentication methods (0xFF), and BIND / UDP ASSOCIATE (0x07)', async () => {
      const auth = await Raw.open(port);
      auth.sock.write(Buffer.from([5, 2, 0x02, 0x01]));
      assert.deepEqual([...(await auth.take(2))], [5, 0xff]);
      await auth.until((r) => r.closed);
      for (const cmd of [2, 3]) {
        const c = await Raw.open(port);
        c.sock.write(Buffer.concat([socksGreeting, socksRequest('v4', [127, 0, 0, 1], echoPort, cmd)]));
        assert.equal((await c.take(12))[3], 0x07);
        await c.until((r) => r.closed);
      }
    });

    it('closes truncated and malformed handshakes without harm', async () => {
      const cases = [
        Buffer.from([5]), // greeting cut short
        Buffer.from([5, 3, 0]), // fewer methods than announced
        Buffer.concat([socksGreeting, Buffer.from([5, 1, 0, 3, 40]), Buffer.from('short')]), // name cut short
        Buffer.concat([socksGreeting, Buffer.from([4, 1, 0, 1, 127, 0, 0, 1, 0, 80])]), // wrong version in the request
        Buffer.concat([socksGreeting, Buffer.from([5, 1, 0, 9, 1, 2, 3])]), // unknown address type
      ];
      for (const bytes of cases) {
        const c = await Raw.open(port);
        c.sock.end(bytes);
        await c.until((r) => r.closed, 3000, `close after ${bytes.toString('hex')}`);
      }
      assert.equal((await viaProxy(port, `http://allowed.test:${upPort}/after-socks`)).status, 200);
    });
  });

  describe('hostile input', () => {
    it('answers garbage with 400 or a close and keeps serving', async () => {
      const junk = Buffer.alloc(4096);
      for (let i = 0; i < junk.length; i++) junk[i] = (i * 7919 + 13) & 255;
      junk[0] = 0x16; // a TLS record where HTTP was expected
      const c = await Raw.open(port);
      c.sock.write(junk);
      await c.until((r) => r.closed, 3000, 'the close');
      assert.ok(c.text() === '' || c.text().startsWith('HTTP/1.1 400'), c.text());
      const nul = await Raw.open(port);
      nul.sock.write(Buffer.alloc(100));
      await nul.until((r) => r.closed);
      assert.equal((await viaProxy(port, `http://allowed.test:${upPort}/after-junk`)).status, 200);
    });

    it('answers 431 (or closes) when the headers exceed the limit, without contacting the upstream', async () => {
      const before = seen.length;
      const c = await Raw.open(port);
      c.sock.write(`GET http://allowed.test:${upPort}/ HTTP/1.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      await c.until((r) => r.closed, 3000, 'the close');
      assert.ok(c.text() === '' || c.text().startsWith('HTTP/1.1 431'), c.text().slice(0, 100));
      assert.equal(seen.length, before);
    });
  });

  describe('limits', () => {
    let small: SessionProxy;
    let smallFront: net.Server;
    let smallPort: number;
    const smallSession = fakeSession(engine);
    const limits: Partial<ProxyLimits> = { headerTimeoutMs: 300, connectTimeoutMs: 300, idleTimeoutMs: 600 };

    before(async () => {
      small = new SessionProxy({ resolver, settings: { allowHostLoopback: true, denyStatus: 451 }, limits });
      smallFront = net.createServer((s) => small.handle(s, smallSession.session));
      smallPort = await listen(smallFront);
    });
    after(async () => {
      await small.close();
      await new Promise((r) => smallFront.close(r));
    });

    it('uses settings.denyStatus for refusals', async () => {
      const r = await viaProxy(smallPort, `http://evil.test:${upPort}/`);
      assert.equal(r.status, 451);
    });

    it('closes a slowloris connection after headerTimeout (408), on the first request and on a keep-alive one', async () => {
      const before = seen.length;
      const c = await Raw.open(smallPort);
      const t0 = Date.now();
      c.sock.write(`GET http://allowed.test:${upPort}/slow HTTP/1.1\r\n`);
      while (!c.closed && Date.now() - t0 < 3000) {
        c.sock.write('X-Drip: 1\r\n');
        await sleep(50);
      }
      assert.ok(c.closed, 'closed while still dribbling');
      assert.ok(Date.now() - t0 < 2000, `closed after ${Date.now() - t0} ms`);
      assert.ok(c.text() === '' || c.text().startsWith('HTTP/1.1 408'), c.text());

      // A second request on a kept-alive connection: only Node's header timer watches it.
      const k = await Raw.open(smallPort);
      k.sock.write(`GET http://allowed.test:${upPort}/first HTTP/1.1\r\nHost: x\r\n\r\n`);
      await k.until((r) => r.text().includes('upstream: GET'));
      const t1 = Date.now();
      k.sock.write(`GET http://allowed.test:${upPort}/second HTTP/1.1\r\n`);
      while (!k.closed && Date.now() - t1 < 3000) {
        k.sock.write('X-Drip: 1\r\n');
        await sleep(50);
      }
      assert.ok(k.closed, 'closed while still dribbling');
      assert.ok(Date.now() - t1 < 2000, `closed after ${Date.now() - t1} ms`);
      assert.match(k.text(), /HTTP\/1\.1 408/);
      assert.deepEqual(
        seen.slice(before).map((s) => s.url),
        ['/first'],
      );
      const ev = await waitFor(() => smallSession.events.find((e) => e.fields.status === 408));
      assert.equal(ev.rule, 'builtin-bad-request');
    });

    it('closes a connection that sends nothing, or a SOCKS greeting only, after headerTimeout', async () => {
      const silent = await Raw.open(smallPort);
      const socks = await Raw.open(smallPort);
      socks.sock.write(socksGreeting);
      await silent.until((r) => r.closed, 2000, 'the silent one closed');
      await socks.until((r) => r.closed, 2000, 'the SOCKS one closed');
    });

    it('answers 504 when the upstream does not accept in connectTimeout', async (t) => {
      if (spawnSync('python3', ['-c', '0']).status !== 0) return t.skip('python3 is needed for a listener that never accepts');
      // listen(0) and one connection queued: the kernel drops further SYNs, so a connect hangs.
      const py = spawn('python3', ['-c', "import socket,sys\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0); print(s.getsockname()[1], flush=True); sys.stdin.read()"], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      try {
        const hang = await new Promise<number>((r) => py.stdout.once('data', (d) => r(Number(String(d).trim()))));
        const fill = await Raw.open(hang);
        const t0 = Date.now();
        const r = await viaProxy(smallPort, `http://127.0.0.1:${hang}/`);
        assert.equal(r.status, 504);
        assert.ok(Date.now() - t0 >= 250);
        const c = await Raw.open(smallPort);
        c.sock.write(Buffer.concat([socksGreeting, socksRequest('v4', [127, 0, 0, 1], hang)]));
        assert.equal((await c.take(12))[3], 0x04);
        fill.sock.destroy();
      } finally {
        py.kill();
      }
    });

    it('closes an idle tunnel after idleTimeout', async () => {
      const c = await Raw.open(smallPort);
      c.sock.write(`CONNECT allowed.test:${echoPort} HTTP/1.1\r\n\r\n`);
      assert.match(await c.head(), /^HTTP\/1\.1 200 /);
      const t0 = Date.now();
      await c.until((r) => r.closed, 3000, 'the idle close');
      assert.ok(Date.now() - t0 >= 400, `closed after ${Date.now() - t0} ms`);
      const ev = await waitFor(() => smallSession.events.find((e) => e.fields.protocol === 'connect' && String(e.fields.error).includes('idle')));
      assert.equal(ev.decision, 'allow');
    });

    it('refuses connections beyond maxConnections: 503 over HTTP, 0x01 over SOCKS', async () => {
      const capped = new SessionProxy({ resolver, settings: { allowHostLoopback: true }, limits: { maxConnections: 3 } });
      const cappedFront = net.createServer((s) => capped.handle(s, smallSession.session));
      const cappedPort = await listen(cappedFront);
      try {
        const held = [await Raw.open(cappedPort), await Raw.open(cappedPort), await Raw.open(cappedPort)];
        for (const h of held) h.sock.write('G'); // in the header phase
        await waitFor(() => capped.stats().active === 3, 2000, '3 active');
        const c = await Raw.open(cappedPort);
        c.sock.write(`GET http://allowed.test:${upPort}/ HTTP/1.1\r\n\r\n`);
        const h = await c.head();
        assert.match(h, /^HTTP\/1\.1 503 /);
        assert.match(h, /X-Agentsh-Rule: builtin-proxy-capacity/);
        const s = await Raw.open(cappedPort);
        s.sock.write(Buffer.concat([socksGreeting, socksRequest('name', 'allowed.test', echoPort)]));
        assert.deepEqual([...(await s.take(12)).subarray(0, 4)], [5, 0, 5, 0x01]);
        assert.deepEqual(capped.stats(), { active: 3, total: 5, refused: 2 });
        for (const x of held) x.sock.destroy();
        await waitFor(() => capped.stats().active === 0, 3000, 'released');
        assert.equal((await viaProxy(cappedPort, `http://allowed.test:${upPort}/after-cap`)).status, 200);
      } finally {
        await capped.close();
        await new Promise((r) => cappedFront.close(r));
      }
    });
  });

  describe('10,000 concurrent connections', () => {
    it('holds 10k idle connections in bounded memory and keeps serving', async (t) => {
      const N = 10_000;
      const big = new SessionProxy({ resolver, settings: { allowHostLoopback: true }, limits: { maxConnections: N + 100, headerTimeoutMs: 60_000 } });
      let audits = 0;
      const bigSession: NetSession = { ...session, audit: () => void audits++ };
      const bigFront = net.createServer((s) => big.handle(s, bigSession));
      // A backlog that takes a burst of connects (the default 511 drops SYNs: 1 s retransmits).
      await new Promise<void>((r) => bigFront.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, r));
      const bigPort = (bigFront.address() as net.AddressInfo).port;
      // The client ends live in a child: 10k on each side would pass this process's fd limit.
      const child = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import net from 'node:net';
           const [port, n] = process.argv.slice(1).map(Number);
           const open = () => new Promise((res, rej) => {
             const s = net.connect({ host: '127.0.0.1', port });
             s.once('error', rej);
             s.once('connect', () => { s.on('error', () => {}); s.write('GET http://allowed.test:1/ HTTP/1.1\\r\\nX-Wait: '); res(s); });
           });
           const all = [];
           for (let i = 0; i < n; i += 500) all.push(...await Promise.all(Array.from({ length: Math.min(500, n - i) }, open)));
           console.log('ready ' + all.length);
           process.stdin.resume();`,
          String(bigPort),
          String(N),
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      try {
        const rss0 = process.memoryUsage().rss;
        const t0 = Date.now();
        const line = await new Promise<string>((resolve, reject) => {
          let out = '';
          child.stdout.on('data', (d) => {
            out += String(d);
            if (out.includes('\n')) resolve(out.trim());
          });
          child.once('exit', (code) => reject(new Error(`client process exited (${code})`)));
        });
        assert.equal(line, `ready ${N}`);
        await waitFor(() => big.stats().active === N, 20_000, `${N} active connections`);
        const opened = Date.now() - t0;
        const rss1 = process.memoryUsage().rss;
        const delta = (rss1 - rss0) / 1024 / 1024;
        const r = await viaProxy(bigPort, `http://allowed.test:${upPort}/during-10k`);
        assert.equal(r.status, 200);
        assert.equal(child.exitCode, null);
        t.diagnostic(`${N} connections open in ${opened} ms; rss ${(rss0 / 1048576).toFixed(0)} → ${(rss1 / 1048576).toFixed(0)} MB (+${delta.toFixed(1)} MB, ${((rss1 - rss0) / N / 1024).toFixed(1)} KiB each)`);
        assert.ok(delta < 300, `rss grew by ${delta.toFixed(1)} MB`);
        child.kill('SIGKILL');
        await waitFor(() => big.stats().active === 0, 20_000, 'all connections released');
        assert.equal(big.stats().total, N + 1);
        assert.equal(audits, 1, 'clients that went away mid-headers are not audited as bad requests');
      } finally {
        child.kill('SIGKILL');
        await big.close();
        await new Promise((r) => bigFront.close(r));
      }
    });
  });
});
