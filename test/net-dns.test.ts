// The resolver, the DNS stub and the policy's redirects. No packet leaves the machine: every
// resolver here points at the loopback test server (test/dns-server.ts), which maps every
// name a test asks for; nothing uses the system resolver.
import assert from 'node:assert/strict';
import { promises as dnsPromises } from 'node:dns';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import dnsPacket from 'dns-packet';
import { DnsStub, MAX_DNS_MESSAGE } from '../src/net/dns-stub.js';
import { addressRefusedForName } from '../src/net/decision.js';
import { resolverFromSettings } from '../src/net/resolver.js';
import { DEFAULT_NET_SETTINGS, ResolveError, type NetSession, type NetSettings, type Resolver } from '../src/net/types.js';
import type { PolicyEngine } from '../src/policy/engine.js';
import { startTestDns, type TestDns } from './dns-server.js';
import { engineFor, seedEngine } from './helpers.js';
import { fakeNetSession } from './net-session.js';

const POLICY = `
version: 1
name: net-dns
network_rules:
  - name: allow-localhost
    cidrs: ["127.0.0.1/32", "::1/128"]
    decision: allow
  - name: allow-npm
    domains: ["registry.npmjs.org"]
    ports: [443]
    decision: allow
  - name: allow-pypi
    domains: ["pypi.org", "files.pythonhosted.org"]
    ports: [443]
    decision: allow
  - name: audit-github
    domains: ["github.com", "*.github.com"]
    decision: audit
  - name: allow-test
    domains: ["*.test", "v6only.example", "db.internal", "mirror.internal"]
    decision: allow
  - name: allow-db-port
    cidrs: ["10.0.0.5/32"]
    ports: [5432]
    decision: allow
  - name: block-private-networks
    cidrs: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7"]
    decision: deny
  - name: block-evil
    domains: ["evil.com", "*.evil.com"]
    decision: deny
  - name: approve-unknown-https
    ports: [443]
    decision: approve
dns_redirects:
  - name: mirror
    match: 'mirror\\.test'
    resolve_to: 198.51.100.7
  - name: to-private
    match: 'private-mirror\\.test'
    resolve_to: 10.9.9.9
`;

const MAP = {
  'registry.npmjs.org': ['104.16.0.1', '2606:4700::1', '104.16.0.2', '104.16.0.1'],
  'pypi.org': ['10.0.0.1', '151.101.0.223', 'fd00::1'],
  'files.pythonhosted.org': ['169.254.169.254'],
  'github.com': ['140.82.112.3'],
  'evil.com': ['6.6.6.6'],
  'example.org': ['93.184.215.14'],
  'v6only.example': ['2001:db8::1'],
  'nodata.test': [],
  'localhost.test': ['127.0.0.1'],
  'db.internal': ['10.0.0.5'],
  'mirror.internal': ['10.0.0.7'],
  'many.test': Array.from({ length: 40 }, (_, i) => `198.18.0.${i + 1}`),
  'slow.test': 'SILENT' as const,
  'broken.test': 'SERVFAIL' as const,
};

function fakeSession(engine: PolicyEngine) {
  const { session, events } = fakeNetSession(engine);
  return Object.assign(session, { events });
}

let nextId = 1;
function query(name: string, type: string = 'A', extra: Partial<dnsPacket.Packet> = {}): { id: number; buf: Buffer } {
  const id = nextId++ & 0xffff;
  return { id, buf: dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: type as 'A', name }], ...extra }) };
}

/** dns-packet decodes rcode and opcode; its type declarations omit them. */
type Decoded = dnsPacket.DecodedPacket & { rcode: string; opcode: string };

function decode(buf: Buffer | null): Decoded {
  assert.ok(buf, 'a response');
  return dnsPacket.decode(buf) as Decoded;
}

const addressesOf = (r: dnsPacket.DecodedPacket) => (r.answers ?? []).map((a) => (a as { data: string }).data);

describe('resolverFromSettings (c-ares, pointed at the loopback test server)', () => {
  let dns: TestDns;
  let silent: UdpSocket;
  let silentPort: number;
  before(async () => {
    dns = await startTestDns(MAP);
    silent = createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    silentPort = silent.address().port;
  });
  after(async () => {
    await dns.close();
    silent.close();
  });
  const resolver = () => resolverFromSettings({ servers: [`127.0.0.1:${dns.port}`], timeoutMs: 1500 });

  it('A and AAAA, IPv4 first, deduplicated', async () => {
    assert.deepEqual(await resolver().resolve('registry.npmjs.org'), ['104.16.0.1', '104.16.0.2', '2606:4700::1']);
    assert.deepEqual(await resolver().resolve('V6ONLY.example.'), ['2001:db8::1']);
    assert.ok(dns.log.some((q) => q.name === 'registry.npmjs.org' && q.type === 'A'));
    assert.ok(dns.log.some((q) => q.name === 'registry.npmjs.org' && q.type === 'AAAA'));
  });
  it('NXDOMAIN, NODATA, SERVFAIL', async () => {
    const code = (name: string) => resolver().resolve(name).then(() => 'resolved', (e: unknown) => (e instanceof ResolveError ? e.code : `other: ${String(e)}`));
    assert.equal(await code('missing.test'), 'NXDOMAIN');
    assert.equal(await code('nodata.test'), 'NODATA');
    assert.equal(await code('broken.test'), 'SERVFAIL');
  });
  it('a server that never answers: TIMEOUT within the budget', async () => {
    const r = resolverFromSettings({ servers: [`127.0.0.1:${silentPort}`], timeoutMs: 300 });
    const t0 = Date.now();
    await assert.rejects(r.resolve('anything.test'), (e: unknown) => e instanceof ResolveError && e.code === 'TIMEOUT');
    assert.ok(Date.now() - t0 < 1500, `took ${Date.now() - t0} ms`);
  });
  it('caches answers and shares concurrent lookups', async () => {
    const r = resolver();
    const before = dns.queries.filter((q) => q === 'github.com').length;
    const [a, b] = await Promise.all([r.resolve('github.com'), r.resolve('GitHub.com')]);
    assert.deepEqual(a, ['140.82.112.3']);
    assert.deepEqual(b, a);
    await r.resolve('github.com');
    assert.equal(dns.queries.filter((q) => q === 'github.com').length - before, 2, 'one A and one AAAA query in all');
  });
  it('the cache is bounded and can be disabled', async () => {
    const r = resolverFromSettings({ servers: [`127.0.0.1:${dns.port}`], timeoutMs: 1500, maxTtlSeconds: 0 });
    const count = () => dns.queries.filter((q) => q === 'example.org').length;
    const n = count();
    await r.resolve('example.org');
    await r.resolve('example.org');
    assert.equal(count() - n, 4);
  });
  it('refuses names longer than 253 characters without asking', async () => {
    const n = dns.queries.length;
    const long = `${'a'.repeat(60)}.`.repeat(5) + 'test';
    await assert.rejects(resolver().resolve(long), (e: unknown) => e instanceof ResolveError && e.code === 'NXDOMAIN');
    assert.equal(dns.queries.length, n);
  });
});

describe('DNS stub', () => {
  let dns: TestDns;
  let resolver: Resolver;
  let engine: PolicyEngine;
  const settings: NetSettings = DEFAULT_NET_SETTINGS;
  before(async () => {
    dns = await startTestDns(MAP);
    resolver = resolverFromSettings({ servers: [`127.0.0.1:${dns.port}`], timeoutMs: 400 });
    engine = engineFor(POLICY);
  });
  after(() => dns.close());
  const stub = (s: NetSettings = settings) => new DnsStub({ resolver, settings: s });

  it('answers an allowed name: A, AAAA, flags, id and question echoed', async () => {
    const session = fakeSession(engine);
    const q = query('Registry.NPMjs.org');
    const r = decode(await stub().answer(q.buf, session));
    assert.equal(r.id, q.id);
    assert.equal(r.type, 'response');
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.opcode, 'QUERY');
    assert.deepEqual([r.flag_qr, r.flag_aa, r.flag_rd, r.flag_ra, r.flag_tc], [true, false, true, true, false]);
    assert.deepEqual(r.questions, [{ name: 'Registry.NPMjs.org', type: 'A', class: 'IN' }]);
    assert.deepEqual(addressesOf(r), ['104.16.0.1', '104.16.0.2']);
    assert.ok((r.answers ?? []).every((a) => a.type === 'A' && (a as { ttl: number }).ttl === 5 && a.name === 'Registry.NPMjs.org'));
    const r6 = decode(await stub().answer(query('registry.npmjs.org', 'AAAA').buf, session));
    assert.deepEqual(addressesOf(r6), ['2606:4700::1']);
    const ev = session.events[0]!;
    assert.deepEqual([ev.type, ev.decision, ev.rule], ['dns_query', 'allow', 'allow-npm']);
    assert.deepEqual(ev.fields, { name: 'registry.npmjs.org', qtype: 'A', answers: ['104.16.0.1', '104.16.0.2'], rcode: 'NOERROR' });
  });

  it('a response without recursion desired keeps RD off', async () => {
    const q = query('github.com', 'A', { flags: 0 });
    const r = decode(await stub().answer(q.buf, fakeSession(engine)));
    assert.equal(r.flag_rd, false);
    assert.deepEqual(addressesOf(r), ['140.82.112.3']);
  });

  it('a denied name is NXDOMAIN and never asked upstream (the seed policy: evil.com)', async () => {
    for (const e of [engine, seedEngine()]) {
      const session = fakeSession(e);
      for (const [name, type] of [['evil.com', 'A'], ['www.evil.com', 'AAAA'], ['evil.com', 'TXT']] as const) {
        const r = decode(await stub().answer(query(name, type).buf, session));
        assert.equal(r.rcode, 'NXDOMAIN', `${name} ${type}`);
        assert.deepEqual(r.answers, []);
      }
      assert.ok(session.events.every((ev) => ev.decision === 'deny' && /block-evil/.test(ev.rule) && ev.fields.rcode === 'NXDOMAIN'), JSON.stringify(session.events));
    }
    assert.ok(!dns.queries.some((q) => q.includes('evil.com')), JSON.stringify(dns.queries));
  });

  it('a name no rule names is NXDOMAIN (rules without domains make no name resolvable)', async () => {
    const session = fakeSession(engine);
    const r = decode(await stub().answer(query('example.org').buf, session));
    assert.equal(r.rcode, 'NXDOMAIN');
    assert.equal(session.events[0]!.rule, 'default-deny-network');
    assert.ok(!dns.queries.includes('example.org'));
  });

  it('addresses the policy refuses are dropped from answers', async () => {
    const session = fakeSession(engine);
    const r = decode(await stub().answer(query('pypi.org').buf, session));
    assert.equal(r.rcode, 'NOERROR');
    assert.deepEqual(addressesOf(r), ['151.101.0.223']);
    const r6 = decode(await stub().answer(query('pypi.org', 'AAAA').buf, session));
    assert.deepEqual(addressesOf(r6), [], 'fd00::1 is refused: NODATA for AAAA');
    assert.equal(r6.rcode, 'NOERROR');
    assert.deepEqual(session.events[0]!.fields.refused, [
      { address: '10.0.0.1', rule: 'block-private-networks' },
      { address: 'fd00::1', rule: 'block-private-networks' },
    ]);
  });

  it('every address refused: NXDOMAIN, audited with the refusing rule (metadata, private, loopback)', async () => {
    const session = fakeSession(engine);
    for (const name of ['files.pythonhosted.org', 'mirror.internal', 'localhost.test']) {
      const r = decode(await stub().answer(query(name).buf, session));
      assert.equal(r.rcode, 'NXDOMAIN', name);
    }
    assert.deepEqual(
      session.events.map((e) => [e.decision, e.rule]),
      [['deny', 'block-private-networks'], ['deny', 'block-private-networks'], ['deny', 'builtin-host-loopback']],
    );
    // The host's loopback is returned only when sandbox.network.allow_host_loopback says so.
    const r = decode(await stub({ ...settings, allowHostLoopback: true }).answer(query('localhost.test').buf, session));
    assert.deepEqual(addressesOf(r), ['127.0.0.1']);
  });

  it('the built-in guards apply without any cidr rule (metadata address)', async () => {
    const e = engineFor('version: 1\nname: m\nnetwork_rules:\n  - {name: allow-py, domains: ["files.pythonhosted.org"], decision: allow}\n');
    const session = fakeSession(e);
    const r = decode(await stub().answer(query('files.pythonhosted.org').buf, session));
    assert.equal(r.rcode, 'NXDOMAIN');
    assert.equal(session.events[0]!.rule, 'builtin-metadata');
  });

  it('an address allowed only on some port is kept (ports are taken into account exactly)', async () => {
    const r = decode(await stub().answer(query('db.internal').buf, fakeSession(engine)));
    assert.deepEqual(addressesOf(r), ['10.0.0.5']);
    const s = fakeSession(engine);
    assert.equal(addressRefusedForName(s, 'db.internal', '10.0.0.5', settings), null);
    assert.equal(addressRefusedForName(s, 'db.internal', '10.0.0.6', settings)?.rule, 'block-private-networks');
    // registry.npmjs.org is allowed on 443 only, 10.0.0.5 on 5432 only: no port serves both.
    assert.equal(addressRefusedForName(s, 'registry.npmjs.org', '10.0.0.5', settings)?.rule, 'block-private-networks');
    assert.equal(addressRefusedForName(s, 'registry.npmjs.org', '::ffff:10.0.0.1', settings)?.rule, 'block-private-networks');
  });

  it('other query types get NODATA without any upstream query', async () => {
    const session = fakeSession(engine);
    const n = dns.log.length;
    for (const type of ['TXT', 'MX', 'ANY', 'SRV', 'CNAME', 'NS']) {
      const r = decode(await stub().answer(query('registry.npmjs.org', type).buf, session));
      assert.equal(r.rcode, 'NOERROR', type);
      assert.deepEqual(r.answers, [], type);
      assert.equal(r.questions?.[0]?.type, type);
    }
    assert.equal(dns.log.length, n, 'nothing asked upstream');
    assert.equal(session.events.length, 6);
    assert.equal(session.events[0]!.fields.qtype, 'TXT');
  });

  it('dns_redirects answer the configured address without asking upstream, and are filtered too', async () => {
    const session = fakeSession(engine);
    const r = decode(await stub().answer(query('MIRROR.test').buf, session));
    assert.deepEqual(addressesOf(r), ['198.51.100.7']);
    assert.equal(session.events[0]!.fields.redirect, 'mirror');
    assert.ok(!dns.queries.includes('mirror.test'));
    // Anchored: a name that merely contains the pattern is not redirected.
    const r2 = decode(await stub().answer(query('xmirror.test').buf, fakeSession(engine)));
    assert.equal(r2.rcode, 'NXDOMAIN');
    assert.ok(dns.queries.includes('xmirror.test'));
    const r3 = decode(await stub().answer(query('private-mirror.test').buf, session));
    assert.equal(r3.rcode, 'NXDOMAIN');
    assert.equal(session.events.at(-1)!.rule, 'block-private-networks');
    // redirectsFor overrides the policy's list.
    const custom = new DnsStub({ resolver, settings, redirectsFor: () => ({ dnsFor: () => ({ rule: 'x', address: '192.0.2.1' }), connectFor: () => null }) });
    assert.deepEqual(addressesOf(decode(await custom.answer(query('github.com').buf, session))), ['192.0.2.1']);
  });

  it('resolver outcomes: NXDOMAIN stays NXDOMAIN, no data is NODATA, failures are SERVFAIL', async () => {
    const session = fakeSession(engine);
    const rcode = async (name: string, type = 'A') => decode(await stub().answer(query(name, type).buf, session)).rcode;
    assert.equal(await rcode('missing.test'), 'NXDOMAIN');
    assert.equal(await rcode('nodata.test'), 'NOERROR');
    assert.equal(await rcode('v6only.example'), 'NOERROR');
    assert.equal(await rcode('broken.test'), 'SERVFAIL');
    assert.equal(await rcode('slow.test'), 'SERVFAIL');
    assert.deepEqual(addressesOf(decode(await stub().answer(query('v6only.example', 'AAAA').buf, session))), ['2001:db8::1']);
    assert.equal(session.events.find((e) => e.fields.name === 'slow.test')!.fields.resolver, 'TIMEOUT');
  });

  it('answers fit 512 bytes (or the EDNS size, with an OPT record back)', async () => {
    const plain = await stub().answer(query('many.test').buf, fakeSession(engine));
    assert.ok(plain!.length <= 512, `${plain!.length}`);
    const n = addressesOf(decode(plain)).length;
    assert.ok(n >= 10 && n < 40, `${n}`);
    const opt = { type: 'OPT', name: '.', udpPayloadSize: 4096, flags: 0 } as unknown as dnsPacket.Answer;
    const edns = decode(await stub().answer(query('many.test', 'A', { additionals: [opt] }).buf, fakeSession(engine)));
    assert.equal(addressesOf(edns).length, 32);
    assert.equal(edns.additionals?.[0]?.type, 'OPT');
  });

  it('class other than IN is REFUSED, an opcode other than QUERY is NOTIMP', async () => {
    const session = fakeSession(engine);
    const ch = dnsPacket.encode({ type: 'query', id: 7, questions: [{ type: 'TXT', name: 'version.bind', class: 'CH' }] });
    assert.equal(decode(await stub().answer(ch, session)).rcode, 'REFUSED');
    const q = query('github.com');
    q.buf.writeUInt16BE(q.buf.readUInt16BE(2) | (2 << 11), 2); // STATUS
    const r = decode(await stub().answer(q.buf, session));
    assert.equal(r.rcode, 'NOTIMP');
    assert.equal(r.id, q.id);
  });

  it('malformed messages: FORMERR or dropped, never a crash', async () => {
    const session = fakeSession(engine);
    const s = stub();
    // Too short for an id, or a response: dropped.
    assert.equal(await s.answer(Buffer.from([1]), session), null);
    const resp = dnsPacket.encode({ type: 'response', id: 9, questions: [{ type: 'A', name: 'github.com' }] });
    assert.equal(await s.answer(resp, session), null);
    // Truncated: FORMERR with the id.
    const q = query('registry.npmjs.org');
    for (const cut of [2, 5, 12, 20, q.buf.length - 1]) {
      const r = decode(await s.answer(q.buf.subarray(0, cut), session));
      assert.equal(r.rcode, 'FORMERR', `cut ${cut}`);
      assert.equal(r.id, q.id);
    }
    // Two questions, none.
    const two = dnsPacket.encode({ type: 'query', id: 11, questions: [{ type: 'A', name: 'github.com' }, { type: 'A', name: 'pypi.org' }] });
    assert.equal(decode(await s.answer(two, session)).rcode, 'FORMERR');
    const none = dnsPacket.encode({ type: 'query', id: 12, questions: [] });
    assert.equal(decode(await s.answer(none, session)).rcode, 'FORMERR');
    // A compression pointer in the question, a label with a dot in it.
    const ptr = Buffer.concat([Buffer.from([0, 13, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x00, 0, 1, 0, 1])]);
    assert.equal(decode(await s.answer(ptr, session)).rcode, 'FORMERR');
    const dotted = Buffer.concat([Buffer.from([0, 14, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 8]), Buffer.from('evil.com'), Buffer.from([0, 0, 1, 0, 1])]);
    assert.equal(decode(await s.answer(dotted, session)).rcode, 'FORMERR');
    // Random bytes: whatever comes back is a response with the same id, or nothing.
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 500; i++) {
      const len = Math.floor(rand() * 80);
      const buf = Buffer.from(Array.from({ length: len }, () => Math.floor(rand() * 256)));
      if (i % 3 === 0 && len > 12) buf.writeUInt16BE(1, 4); // one question: reach the name parser
      if (len >= 3) buf[2]! &= 0x7f;
      const out = await s.answer(buf, session);
      if (out === null) continue;
      assert.equal(out.readUInt16BE(0), buf.readUInt16BE(0));
      assert.ok(out.readUInt16BE(2) & 0x8000);
    }
    assert.ok(!dns.queries.some((name) => /[^a-z0-9._-]/.test(name)), 'nothing odd went upstream');
  });

  it('its answers are understood by a real resolver (c-ares over UDP through the stub)', async () => {
    const s = stub();
    const session = fakeSession(engine);
    const udp = createSocket('udp4');
    udp.on('message', (msg, rinfo) => {
      void s.answer(msg, session).then((out) => out && udp.send(out, rinfo.port, rinfo.address));
    });
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    try {
      const r = new dnsPromises.Resolver({ timeout: 1000, tries: 1 });
      r.setServers([`127.0.0.1:${udp.address().port}`]);
      assert.deepEqual((await r.resolve4('registry.npmjs.org')).sort(), ['104.16.0.1', '104.16.0.2']);
      assert.deepEqual(await r.resolve6('registry.npmjs.org'), ['2606:4700::1']);
      await assert.rejects(r.resolve4('evil.com'), { code: 'ENOTFOUND' });
      await assert.rejects(r.resolveTxt('registry.npmjs.org'), { code: 'ENODATA' });
    } finally {
      udp.close();
    }
  });
});

describe('DNS stub on a stream (length-prefixed framing)', () => {
  let dns: TestDns;
  let server: Server;
  let port: number;
  let stub: DnsStub;
  let session: ReturnType<typeof fakeSession>;
  before(async () => {
    dns = await startTestDns(MAP);
    stub = new DnsStub({ resolver: resolverFromSettings({ servers: [`127.0.0.1:${dns.port}`], timeoutMs: 400 }), settings: DEFAULT_NET_SETTINGS });
    session = fakeSession(engineFor(POLICY));
    // As the gateway hands streams over: paused, with what followed its hello line unshifted.
    server = createServer({ allowHalfOpen: true }, (s) => {
      s.once('data', (first: Buffer) => {
        s.pause();
        s.unshift(first);
        stub.handleStream(s, session);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await dns.close();
  });

  const framed = (buf: Buffer) => {
    const h = Buffer.alloc(2);
    h.writeUInt16BE(buf.length);
    return Buffer.concat([h, buf]);
  };

  /** Connects, runs `send`, collects the framed responses until the server closes or `count` arrived. */
  async function exchange(send: (s: Socket) => Promise<void> | void, count: number): Promise<{ responses: Decoded[]; closed: boolean }> {
    const s = connect(port, '127.0.0.1');
    await new Promise<void>((r) => s.once('connect', () => r()));
    const responses: Decoded[] = [];
    let buf = Buffer.alloc(0);
    let closed = false;
    const done = new Promise<void>((resolve) => {
      s.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          responses.push(decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
          buf = buf.subarray(2 + buf.readUInt16BE(0));
        }
        if (responses.length >= count) resolve();
      });
      s.on('close', () => {
        closed = true;
        resolve();
      });
      s.on('error', () => undefined);
    });
    await send(s);
    const timer = setTimeout(() => s.destroy(), 5000);
    await done;
    clearTimeout(timer);
    s.destroy();
    return { responses, closed };
  }

  it('answers several messages, one written in two chunks, in order', async () => {
    const a = query('registry.npmjs.org');
    const b = query('evil.com');
    const c = query('github.com', 'AAAA');
    const { responses } = await exchange(async (s) => {
      const whole = Buffer.concat([framed(a.buf), framed(b.buf), framed(c.buf)]);
      const cut = framed(a.buf).length + framed(b.buf).length + 5;
      s.write(whole.subarray(0, 1)); // even the length prefix split
      await new Promise((r) => setTimeout(r, 20));
      s.write(whole.subarray(1, cut));
      await new Promise((r) => setTimeout(r, 20));
      s.write(whole.subarray(cut));
    }, 3);
    assert.deepEqual(responses.map((r) => r.id), [a.id, b.id, c.id]);
    assert.deepEqual(responses.map((r) => r.rcode), ['NOERROR', 'NXDOMAIN', 'NOERROR']);
    assert.deepEqual(addressesOf(responses[0]!), ['104.16.0.1', '104.16.0.2']);
  });

  it('keeps the order when an earlier query is slower', async () => {
    const slow = query('slow.test');
    const fast = query('pypi.org');
    const { responses } = await exchange((s) => void s.write(Buffer.concat([framed(slow.buf), framed(fast.buf)])), 2);
    assert.deepEqual(responses.map((r) => [r.id, r.rcode]), [[slow.id, 'SERVFAIL'], [fast.id, 'NOERROR']]);
  });

  it('answers what was sent before a half-close, then ends', async () => {
    const q = query('github.com');
    const { responses, closed } = await exchange((s) => void s.end(framed(q.buf)), 2);
    assert.deepEqual(responses.map((r) => r.id), [q.id]);
    assert.equal(closed, true);
  });

  it('closes on garbage: a zero or over-long length, a message with no answer', async () => {
    for (const bad of [Buffer.from([0, 0, 1, 2, 3]), Buffer.from([(MAX_DNS_MESSAGE + 1) >> 8, (MAX_DNS_MESSAGE + 1) & 255, 1, 2]), framed(Buffer.from([7]))]) {
      const { responses, closed } = await exchange((s) => void s.write(bad), 1);
      assert.equal(closed, true, bad.toString('hex'));
      assert.equal(responses.length, 0);
    }
    // A malformed but identifiable message gets FORMERR and the stream stays usable.
    const q = query('github.com');
    const { responses } = await exchange((s) => void s.write(Buffer.concat([framed(Buffer.from([0, 42, 1, 0, 0])), framed(q.buf)])), 2);
    assert.deepEqual(responses.map((r) => [r.id, r.rcode]), [[42, 'FORMERR'], [q.id, 'NOERROR']]);
  });

  it('many pipelined queries are all answered (the queue bound pauses reading, it does not drop)', async () => {
    const qs = Array.from({ length: 150 }, (_, i) => query(i % 2 ? 'github.com' : 'registry.npmjs.org'));
    const { responses } = await exchange((s) => void s.write(Buffer.concat(qs.map((q) => framed(q.buf)))), qs.length);
    assert.deepEqual(responses.map((r) => r.id), qs.map((q) => q.id));
  });
});
