// A tiny authoritative DNS server on 127.0.0.1 (UDP and TCP on one random port) for tests:
// every resolver a test uses points here, so no DNS packet leaves the machine.
//
// The map gives each name its addresses (A answers the IPv4 ones, AAAA the IPv6 ones, other
// types get NOERROR without answers); a name not in the map is NXDOMAIN; 'SERVFAIL' answers
// SERVFAIL and 'SILENT' never answers. Names are case-insensitive, without trailing dot.
import { createSocket } from 'node:dgram';
import { isIP, createServer, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';

export type TestDnsEntry = string[] | 'SERVFAIL' | 'SILENT';

export interface TestDns {
  port: number;
  /** Every question received, as `name` (lower case, no trailing dot), in order. */
  queries: string[];
  /** The same with the type and the transport. */
  log: { name: string; type: string; transport: 'udp' | 'tcp' }[];
  /** Changes or adds a name. */
  set(name: string, entry: TestDnsEntry): void;
  close(): Promise<void>;
}

const key = (name: string) => name.toLowerCase().replace(/\.$/, '');

export interface TestDnsOptions {
  /** Answer TTL (default 60 s). */
  ttl?: number;
  /** A fixed port for UDP and TCP (default: a random free one). */
  port?: number;
}

export async function startTestDns(map: Record<string, TestDnsEntry>, opts: TestDnsOptions = {}): Promise<TestDns> {
  const names = new Map<string, TestDnsEntry>(Object.entries(map).map(([k, v]) => [key(k), v]));
  const queries: string[] = [];
  const log: TestDns['log'] = [];
  const ttl = opts.ttl ?? 60;

  const respond = (msg: Buffer, transport: 'udp' | 'tcp'): Buffer | null => {
    let q: dnsPacket.DecodedPacket;
    try {
      q = dnsPacket.decode(msg);
    } catch {
      return null;
    }
    const question = q.questions?.[0];
    if (!question) return null;
    const name = key(question.name);
    queries.push(name);
    log.push({ name, type: String(question.type), transport });
    const entry = names.get(name);
    if (entry === 'SILENT') return null;
    const base = { type: 'response' as const, id: q.id ?? 0, questions: q.questions ?? [] };
    const flags = dnsPacket.AUTHORITATIVE_ANSWER | ((q.flags ?? 0) & dnsPacket.RECURSION_DESIRED);
    if (entry === undefined) return dnsPacket.encode({ ...base, flags: flags | 3 });
    if (entry === 'SERVFAIL') return dnsPacket.encode({ ...base, flags: flags | 2 });
    const family = question.type === 'A' ? 4 : question.type === 'AAAA' ? 6 : 0;
    const answers = entry
      .filter((a) => isIP(a) === family)
      .map((a) => ({ type: question.type as 'A' | 'AAAA', name: question.name, ttl, class: 'IN' as const, data: a }));
    return dnsPacket.encode({ ...base, flags, answers });
  };

  const sockets = new Set<Socket>();
  const serveTcp = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
    let buf = Buffer.alloc(0);
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const out = respond(buf.subarray(2, 2 + len), 'tcp');
        buf = buf.subarray(2 + len);
        if (out) {
          const head = Buffer.alloc(2);
          head.writeUInt16BE(out.length);
          s.write(Buffer.concat([head, out]));
        }
      }
    });
  };

  // UDP on a random port, then TCP on the same one (retried when that TCP port is taken).
  for (let attempt = 0; ; attempt++) {
    const udp = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(opts.port ?? 0, '127.0.0.1', () => resolve());
    });
    const port = udp.address().port;
    const tcp = createServer(serveTcp);
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, '127.0.0.1', () => resolve());
      });
    } catch (err) {
      udp.close();
      if (opts.port !== undefined || attempt >= 10) throw err;
      continue;
    }
    udp.on('message', (msg, rinfo) => {
      const out = respond(msg, 'udp');
      if (out) udp.send(out, rinfo.port, rinfo.address);
    });
    return {
      port,
      queries,
      log,
      set: (name, entry) => void names.set(key(name), entry),
      close: async () => {
        for (const s of sockets) s.destroy();
        await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
      },
    };
  }
}
