// The session proxy's SOCKS5 side (RFC 1928): "no authentication" only, CONNECT only, IPv4,
// IPv6 and domain-name addresses (a name is resolved by the proxy's resolver, never the
// client's). The handshake is bounded (greeting and request at most 2 + 255 + 262 bytes) and
// must be complete within headerTimeout.
//
// Replies: 0x00 connected (the bound address is the upstream socket's local one), 0x01 over
// maxConnections, the decision itself failed or another connect failure, 0x02 refused by
// policy, 0x03 network unreachable, 0x04 a name that does not resolve, a host unreachable or
// no connection within connectTimeout, 0x05 the upstream refused, 0x07 BIND and UDP
// ASSOCIATE, 0x08 an unknown address type or an empty name; 0xFF (method selection) when
// "no authentication" is not offered. Anything else malformed is closed without a reply.
import net from 'node:net';
import { ConnectionAudit, RULE_BAD_REQUEST, RULE_RESOLVE_FAILED, errorCode } from './connection-audit.js';
import type { Client, ProxyCore } from './proxy-client.js';
import { LINGER_MS, endThenDestroy, tunnel } from './tunnel.js';

const SOCKS = { ok: 0x00, failure: 0x01, notAllowed: 0x02, netUnreachable: 0x03, hostUnreachable: 0x04, refused: 0x05, badCommand: 0x07, badAddress: 0x08 };
/** The method-selection reply: no acceptable method. */
const NO_METHOD = 0xff;
/** A SOCKS5 greeting (2 + 255) and request (4 + 1 + 255 + 2) may arrive together. */
const SOCKS_MAX = 2 + 255 + 262;

function socksReply(code: number, bound?: { address: string; port: number }): Buffer {
  const fam = bound ? net.isIP(bound.address) : 0;
  if (!bound || fam === 0) return Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
  const addr = fam === 4 ? Buffer.from(bound.address.split('.').map(Number)) : ipv6Bytes(bound.address);
  const port = Buffer.alloc(2);
  port.writeUInt16BE(bound.port);
  return Buffer.concat([Buffer.from([5, code, 0, fam === 4 ? 1 : 4]), addr, port]);
}

function ipv6Bytes(ip: string): Buffer {
  const out = Buffer.alloc(16);
  const [headPart, tailPart] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const groups = (s: string | undefined): number[] => {
    if (!s) return [];
    return s.split(':').flatMap((g) => (g.includes('.') ? (([a, b, c, d]) => [(a! << 8) | b!, (c! << 8) | d!])(g.split('.').map(Number)) : [parseInt(g, 16)]));
  };
  const h = groups(headPart);
  const t = groups(tailPart);
  const all = tailPart === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  all.forEach((g, i) => out.writeUInt16BE(g & 0xffff, i * 2));
  return out;
}

/** A SOCKS5 IPv6 address as text; IPv4-mapped addresses become IPv4 (what the kernel connects to). */
function ipv6Text(b: Buffer): string {
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // The WHATWG serialiser gives the canonical compressed form.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

type Malformed = { why: string; reply?: number };

/** The CONNECT request at the start of `buf` and its length; undefined until it is complete. */
function parseRequest(buf: Buffer): { host: string; port: number; length: number } | Malformed | undefined {
  if (buf.length < 4) return undefined;
  if (buf[0] !== 5) return { why: 'not SOCKS5' };
  if (buf[1] !== 0x01) return { why: `SOCKS5 command ${buf[1]} not supported (CONNECT only)`, reply: SOCKS.badCommand };
  const atyp = buf[3];
  let length: number;
  if (atyp === 1) length = 10;
  else if (atyp === 4) length = 22;
  else if (atyp === 3) {
    if (buf.length < 5) return undefined;
    if (buf[4] === 0) return { why: 'empty SOCKS5 domain name', reply: SOCKS.badAddress };
    length = 7 + buf[4]!;
  } else return { why: `SOCKS5 address type ${atyp} not supported`, reply: SOCKS.badAddress };
  if (buf.length < length) return undefined;
  const host = atyp === 1 ? [...buf.subarray(4, 8)].join('.') : atyp === 4 ? ipv6Text(buf.subarray(4, 20)) : buf.subarray(5, length - 2).toString('latin1');
  return { host, port: buf.readUInt16BE(length - 2), length };
}

/** Reads the handshake from a client whose first byte was 0x05 (unshifted back), then connects. */
export function serveSocks(client: Client, core: ProxyCore, over: boolean): void {
  const { socket } = client;
  let buf: Buffer = Buffer.alloc(0);
  let greeted = false;
  const stop = () => {
    socket.off('data', onData);
    socket.off('end', onEnd);
    client.settle();
  };
  const malformed = ({ why, reply }: Malformed) => {
    stop();
    const rec = new ConnectionAudit(client.session, 'socks5');
    rec.refuse(RULE_BAD_REQUEST, why);
    if (reply !== undefined) rec.status = reply;
    rec.emit();
    if (reply === undefined) socket.destroy();
    else endThenDestroy(socket, reply === NO_METHOD ? Buffer.from([5, NO_METHOD]) : socksReply(reply));
  };
  const onData = (chunk: Buffer | string) => {
    const c = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    buf = buf.length ? Buffer.concat([buf, c]) : c;
    if (buf.length > SOCKS_MAX) return malformed({ why: 'SOCKS5 handshake too long' });
    if (!greeted) {
      if (buf.length < 2) return;
      if (buf[0] !== 5) return malformed({ why: 'not SOCKS5' });
      const end = 2 + buf[1]!;
      if (buf.length < end) return;
      if (!buf.subarray(2, end).includes(0x00)) return malformed({ why: 'no acceptable SOCKS5 authentication method (only "no authentication" is served)', reply: NO_METHOD });
      buf = buf.subarray(end);
      socket.write(Buffer.from([5, 0x00]));
      greeted = true;
    }
    const req = parseRequest(buf);
    if (!req) return;
    if ('why' in req) return malformed(req);
    stop();
    socket.pause();
    if (buf.length > req.length) socket.unshift(buf.subarray(req.length));
    connect(client, core, req.host, req.port, over).catch(() => socket.destroy());
  };
  const onEnd = () => {
    stop();
    socket.destroy();
  };
  client.deadline(over ? LINGER_MS * 2 : core.limits.headerTimeoutMs, () => malformed({ why: 'SOCKS5 handshake not complete in time' }));
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.resume();
}

async function connect(client: Client, core: ProxyCore, host: string, port: number, over: boolean): Promise<void> {
  const { socket } = client;
  const rec = new ConnectionAudit(client.session, 'socks5');
  rec.host = host;
  rec.port = port;
  const answer = (code: number) => {
    rec.status = code;
    if (!socket.destroyed) endThenDestroy(socket, socksReply(code));
  };
  if (over) {
    core.refuseCapacity(rec);
    answer(SOCKS.failure);
    rec.emit();
    return;
  }
  const up = await core.open(client, rec, host, port, {
    gone: () => socket.destroyed,
    refused: (d) => answer(!d ? SOCKS.failure : rec.rule === RULE_RESOLVE_FAILED ? SOCKS.hostUnreachable : SOCKS.notAllowed),
    failed: (err) => {
      const code = errorCode(err);
      answer(code === 'ECONNREFUSED' ? SOCKS.refused : code === 'ENETUNREACH' ? SOCKS.netUnreachable : code === 'EHOSTUNREACH' || code === 'ETIMEDOUT' ? SOCKS.hostUnreachable : SOCKS.failure);
    },
  });
  if (!up) return;
  rec.status = SOCKS.ok;
  socket.write(socksReply(SOCKS.ok, { address: up.localAddress ?? '', port: up.localPort ?? 0 }));
  tunnel(socket, up, Buffer.alloc(0), rec, core.limits.idleTimeoutMs);
}
