// The DNS stub a sandbox's /etc/resolv.conf points at: the only DNS a sandbox has. It answers
// from the policy and never forwards a query as such, so DNS is neither a way around the
// network rules nor an exfiltration channel.
//
//   malformed (undecodable, several questions, a compressed question name)  FORMERR
//     (or nothing when not even the id is readable, or the message is a response)
//   opcode other than QUERY         NOTIMP         class other than IN     REFUSED
//   the name may not resolve (nameMayResolve: no rule naming it allows, audits or approves
//     it, or it is no host name)   NXDOMAIN, audited with the refusing rule
//   A / AAAA                        dns_redirects first, else the resolver (A and AAAA, cached);
//                                   every address is then checked (addressRefusedForName):
//                                   addresses no connection to the name could use (private
//                                   ranges, metadata, the host's loopback the policy refuses)
//                                   are dropped. Every address dropped: NXDOMAIN, audited with
//                                   the rule that refused. The name has no address of the
//                                   asked family: NOERROR without answers (NODATA).
//   other types (TXT, MX, ANY, SRV, HTTPS…) for names that may resolve: NODATA, nothing is
//                                   asked upstream
//   resolver failures               NXDOMAIN stays NXDOMAIN, NODATA stays NODATA, others SERVFAIL
//
// Every message in is one `dns_query` audit event (name, qtype, answers, rcode). Responses:
// id and question echoed byte for byte, QR and RA set, RD and CD copied, AA off; answer TTL
// `ttl` (5 s); answers trimmed to fit 512 bytes, or the client's EDNS size up to 1232 (an OPT
// record is returned when the query had one).
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import dnsPacket from 'dns-packet';
import type { PolicyDecision } from '../policy/decision.js';
import { addressRefusedForName, nameMayResolve, normaliseHost } from './decision.js';
import { NO_REDIRECTS, ResolveError, type NetSession, type NetSettings, type Redirects, type Resolver } from './types.js';

export interface DnsStubOptions {
  resolver: Resolver;
  /** The redirects for a session; default: its policy's dns_redirects (engine.policy.redirects). */
  redirectsFor?: (session: NetSession) => Redirects;
  settings: NetSettings;
  /** TTL of the answers, seconds (default 5). */
  ttl?: number;
}

/** Largest DNS message accepted on a stream. */
export const MAX_DNS_MESSAGE = 4096;
/** Messages a stream may have waiting or in flight before it stops reading. */
export const MAX_DNS_QUEUE = 64;
const MAX_ANSWERS = 32;
const MAX_EDNS_SIZE = 1232;
const OPT: dnsPacket.OptAnswer = { type: 'OPT', name: '.', udpPayloadSize: MAX_EDNS_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
type Rcode = keyof typeof RCODE;
const QR = 0x8000;
const OPCODE_MASK = 0x7800;
const RD = dnsPacket.RECURSION_DESIRED;
const RA = dnsPacket.RECURSION_AVAILABLE;
const CD = dnsPacket.CHECKING_DISABLED;

/** Where the question section ends (the name must be uncompressed labels), or -1. */
function questionEnd(buf: Buffer): number {
  let o = 12;
  for (;;) {
    if (o >= buf.length) return -1;
    const len = buf[o]!;
    if (len === 0) break;
    if (len > 63) return -1; // a pointer (nothing precedes the question but the header) or a bad label
    o += len + 1;
  }
  o += 5; // the root label, type and class
  return o <= buf.length ? o : -1;
}

/** A header-only error response (no question): FORMERR, NOTIMP for what could not be echoed. */
function headerOnly(query: Buffer, rcode: Rcode): Buffer {
  const out = Buffer.alloc(12);
  query.copy(out, 0, 0, 2);
  const flags = query.length >= 4 ? query.readUInt16BE(2) : 0;
  out.writeUInt16BE(QR | (flags & (OPCODE_MASK | RD | CD)) | RA | RCODE[rcode], 2);
  return out;
}

interface Parsed {
  id: number;
  flags: number;
  /** Raw question section (echoed as received). */
  question: Buffer;
  name: string;
  type: string;
  class: string;
  edns: number | null;
}

type Answer = { type: 'A' | 'AAAA'; address: string };

export class DnsStub {
  private readonly resolver: Resolver;
  private readonly redirectsFor: (session: NetSession) => Redirects;
  private readonly settings: NetSettings;
  private readonly ttl: number;

  constructor(opts: DnsStubOptions) {
    this.resolver = opts.resolver;
    this.redirectsFor = opts.redirectsFor ?? ((s) => s.engine.policy.redirects ?? NO_REDIRECTS);
    this.settings = opts.settings;
    this.ttl = opts.ttl ?? 5;
  }

  /** One DNS message in, one out (never throws: malformed → FORMERR when an id is readable, else null = drop). */
  async answer(query: Buffer, session: NetSession): Promise<Buffer | null> {
    if (query.length < 2) return null;
    if (query.length >= 3 && query[2]! & 0x80) return null; // a response: never answered (no loops)
    const audit = (decision: PolicyDecision, name: string, qtype: string, rcode: Rcode, answers: string[] = [], extra: Record<string, unknown> = {}) => {
      try {
        session.audit('dns_query', decision.decision, decision.rule, decision.message, { name, qtype, answers, rcode, ...extra });
      } catch {
        // auditing must not take the stub down; the recorder reports its own failures
      }
    };
    const builtin = (rule: string, message: string) => session.engine.builtinDecision('network', rule, 'deny', message);

    let p: Parsed;
    try {
      p = this.parse(query);
    } catch (err) {
      const rcode: Rcode = err instanceof StubError ? err.rcode : 'FORMERR';
      audit(builtin('builtin-dns-malformed', `malformed DNS message: ${(err as Error).message}`), '', '', rcode);
      return headerOnly(query, rcode);
    }
    try {
      return await this.decide(p, session, audit, builtin);
    } catch (err) {
      // Not expected (decide handles resolver errors): answer SERVFAIL rather than nothing.
      audit(builtin('builtin-dns-error', `DNS stub error: ${(err as Error).message}`), p.name, p.type, 'SERVFAIL');
      return this.respond(p, 'SERVFAIL', []).buf;
    }
  }

  private parse(query: Buffer): Parsed {
    const decoded = dnsPacket.decode(query);
    const flags = query.readUInt16BE(2);
    if ((flags & OPCODE_MASK) !== 0) throw new StubError('NOTIMP', `opcode ${(flags & OPCODE_MASK) >> 11} is not supported`);
    if (decoded.questions?.length !== 1) throw new StubError('FORMERR', `${decoded.questions?.length ?? 0} questions (exactly one is answered)`);
    const end = questionEnd(query);
    if (end < 0) throw new StubError('FORMERR', 'malformed question');
    const question = query.subarray(12, end);
    const q = decoded.questions[0]!;
    // The decoded name must be the wire name (a label with a dot or invalid UTF-8 is not).
    const reencoded = dnsPacket.encode({ type: 'query', id: 0, questions: [q] }).subarray(12);
    if (!reencoded.equals(question)) throw new StubError('FORMERR', 'question name is not a plain host name');
    const opt = (decoded.additionals ?? []).find((a): a is dnsPacket.OptAnswer => a.type === 'OPT');
    return { id: decoded.id ?? 0, flags, question, name: q.name, type: String(q.type), class: String(q.class ?? 'IN'), edns: opt ? opt.udpPayloadSize : null };
  }

  private async decide(
    p: Parsed,
    session: NetSession,
    audit: (d: PolicyDecision, name: string, qtype: string, rcode: Rcode, answers?: string[], extra?: Record<string, unknown>) => void,
    builtin: (rule: string, message: string) => PolicyDecision,
  ): Promise<Buffer> {
    const { type: qtype } = p;
    if (p.class !== 'IN') {
      audit(builtin('builtin-dns-class', `DNS class ${p.class} is not served`), p.name, qtype, 'REFUSED');
      return this.respond(p, 'REFUSED', []).buf;
    }
    const host = normaliseHost(p.name);
    const nameDecision = nameMayResolve(session, p.name) ?? builtin('builtin-dns-invalid-name', `${JSON.stringify(p.name)} is not a host name`);
    const name = host ?? p.name;
    if (nameDecision.decision !== 'allow' && nameDecision.decision !== 'audit' && nameDecision.decision !== 'approve') {
      audit(nameDecision, name, qtype, 'NXDOMAIN');
      return this.respond(p, 'NXDOMAIN', []).buf;
    }
    const resolvable = host!;
    if (qtype !== 'A' && qtype !== 'AAAA') {
      audit(nameDecision, name, qtype, 'NOERROR', [], { note: `${qtype} queries are answered empty, never forwarded` });
      return this.respond(p, 'NOERROR', []).buf;
    }

    let addresses: string[];
    let redirect: string | undefined;
    const dns = this.redirectsFor(session).dnsFor(resolvable);
    if (dns) {
      addresses = [dns.address];
      redirect = dns.rule;
    } else {
      try {
        addresses = await this.resolver.resolve(resolvable);
      } catch (err) {
        const code = err instanceof ResolveError ? err.code : 'SERVFAIL';
        const rcode: Rcode = code === 'NXDOMAIN' ? 'NXDOMAIN' : code === 'NODATA' ? 'NOERROR' : 'SERVFAIL';
        audit(nameDecision, name, qtype, rcode, [], { resolver: code });
        return this.respond(p, rcode, []).buf;
      }
    }

    const kept: string[] = [];
    const refused: { address: string; rule: string }[] = [];
    let refusal: PolicyDecision | null = null;
    for (const a of addresses) {
      const d = addressRefusedForName(session, resolvable, a, this.settings);
      if (d) {
        refused.push({ address: a, rule: d.rule });
        refusal ??= d;
      } else kept.push(a);
    }
    const extra = { ...(redirect ? { redirect } : {}), ...(refused.length ? { refused } : {}) };
    if (kept.length === 0) {
      const d = refusal ?? builtin('builtin-resolve-failed', `${name} has no addresses`);
      audit(d, name, qtype, 'NXDOMAIN', [], extra);
      return this.respond(p, 'NXDOMAIN', []).buf;
    }
    const family = qtype === 'A' ? 4 : 6;
    const answers: Answer[] = kept.filter((a) => isIP(a) === family).slice(0, MAX_ANSWERS).map((address) => ({ type: qtype, address }));
    const out = this.respond(p, 'NOERROR', answers);
    audit(nameDecision, name, qtype, 'NOERROR', out.sent, extra);
    return out.buf;
  }

  /**
   * DNS-over-TCP framing on a stream (2-byte big-endian length, RFC 1035 4.2.2), for TCP port
   * 53 and for the native UDP relay alike: every message answered, responses written in the
   * order of the queries (the relay may match them by order) while up to MAX_DNS_QUEUE
   * resolve at once; reading pauses beyond that. A zero or over-long length, or a message that
   * gets no answer at all (not even an id, or a response), closes the stream.
   */
  handleStream(socket: Duplex, session: NetSession): void {
    const queue: Promise<Buffer | null>[] = [];
    let buf: Buffer = Buffer.alloc(0);
    let closed = false;
    let ended = false;
    let writing = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      socket.destroy();
    };
    const drain = async (): Promise<void> => {
      if (writing) return;
      writing = true;
      while (!closed && queue.length > 0) {
        const res = await queue[0]!;
        queue.shift();
        if (closed) break;
        if (res === null) return close();
        socket.write(frame(res));
        if (socket.isPaused() && queue.length < MAX_DNS_QUEUE) {
          socket.resume();
          parse();
        }
      }
      writing = false;
      if (ended && queue.length === 0 && !closed) {
        closed = true;
        socket.end();
      }
    };
    const parse = (): void => {
      while (!closed && queue.length < MAX_DNS_QUEUE && buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len === 0 || len > MAX_DNS_MESSAGE) return close();
        if (buf.length < 2 + len) break;
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        queue.push(this.answer(msg, session));
      }
      if (queue.length >= MAX_DNS_QUEUE) socket.pause();
      void drain();
    };
    socket.on('data', (chunk: Buffer) => {
      if (closed) return;
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      // What still arrives while paused is bounded: a full queue of the largest messages.
      if (buf.length > MAX_DNS_QUEUE * (MAX_DNS_MESSAGE + 2)) return close();
      parse();
    });
    socket.on('end', () => {
      ended = true;
      void drain();
    });
    socket.on('error', () => close());
    socket.on('close', () => {
      closed = true;
    });
    // The caller may hand the stream over paused (the gateway pauses it to unshift what followed
    // its hello line); a 'data' listener does not resume an explicitly paused stream.
    socket.resume();
  }

  /** Builds the response; answers dropped from the end until it fits the client's size. */
  private respond(p: Parsed, rcode: Rcode, answers: Answer[]): { buf: Buffer; sent: string[] } {
    const limit = p.edns === null ? 512 : Math.min(Math.max(p.edns, 512), MAX_EDNS_SIZE);
    const header = Buffer.alloc(12);
    header.writeUInt16BE(p.id, 0);
    header.writeUInt16BE(QR | (p.flags & (RD | CD)) | RA | RCODE[rcode], 2);
    header.writeUInt16BE(1, 4);
    let list = answers;
    for (;;) {
      const body = dnsPacket.encode({
        type: 'response',
        id: 0,
        answers: list.map((a) => ({ type: a.type, name: p.name, ttl: this.ttl, class: 'IN' as const, data: a.address })),
        additionals: p.edns === null ? [] : [OPT],
      });
      // body: a header with qdcount 0, then the records; splice in our header and the raw question.
      header.writeUInt16BE(list.length, 6);
      header.writeUInt16BE(0, 8);
      header.writeUInt16BE(p.edns === null ? 0 : 1, 10);
      const buf = Buffer.concat([header, p.question, body.subarray(12)]);
      if (buf.length <= limit || list.length <= 1) return { buf, sent: list.map((a) => a.address) };
      list = list.slice(0, -1);
    }
  }
}

class StubError extends Error {
  constructor(
    readonly rcode: Rcode,
    message: string,
  ) {
    super(message);
  }
}

/** One length-prefixed DNS message. */
function frame(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length);
  return Buffer.concat([len, msg]);
}
