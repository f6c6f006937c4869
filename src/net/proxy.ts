// The session proxy: one stream per sandbox connection (the relay's 127.0.0.1:3128, brought by
// the gateway), serving an HTTP forward proxy, HTTPS CONNECT and SOCKS5 on the same port (the
// first byte tells: 0x05 is SOCKS5, anything else goes to Node's HTTP parser).
//
// Every request or tunnel is decided by decideConnection (decision.ts) and goes to the
// address it checked, never to a name resolved again; `Host` is rewritten from the absolute
// URL (RFC 9112 §3.2.2), so the name decided is the name the upstream serves. Proxy-* and
// hop-by-hop headers never leave. Bodies and tunnels are streamed with backpressure; parsing
// buffers are bounded (maxHeaderBytes, a SOCKS request is at most 262 bytes); every phase has
// a timer (headers, connect, idle). One audit event `net_connect` per request or tunnel:
// refusals at once, allowed ones when they end (with byte counts and duration).
import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { decideConnection, type ConnectionDecision, type DecideDeps } from './decision.js';
import { DEFAULT_NET_SETTINGS, NO_REDIRECTS, type NetSession, type NetSettings, type Redirects, type Resolver } from './types.js';

export interface ProxyLimits {
  /** Client connections handled at once (beyond: HTTP 503 / SOCKS reply 0x01, then closed). */
  maxConnections: number;
  /** Request line + headers of one HTTP request (beyond: 431). */
  maxHeaderBytes: number;
  /** From the connection (or a keep-alive request's first byte) to complete headers / SOCKS request. */
  headerTimeoutMs: number;
  /** TCP connect to the upstream (beyond: 504 / SOCKS 0x04). */
  connectTimeoutMs: number;
  /** No byte either way on a tunnel, a request in flight or an idle keep-alive connection. */
  idleTimeoutMs: number;
}

export const DEFAULT_PROXY_LIMITS: Readonly<ProxyLimits> = Object.freeze({
  maxConnections: 4096,
  maxHeaderBytes: 16 * 1024,
  headerTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 5 * 60_000,
});

export interface ProxyOptions {
  resolver: Resolver;
  redirects?: Redirects;
  settings?: Partial<NetSettings>;
  limits?: Partial<ProxyLimits>;
}

export interface ProxyStats {
  /** Client connections being served now. */
  active: number;
  /** Client connections handed to the proxy since it started. */
  total: number;
  /** Requests and tunnels refused (policy, resolution, capacity). */
  refused: number;
}

type Protocol = 'http' | 'connect' | 'socks5';

/** What one request or tunnel becomes in the audit log, filled in as it goes. */
interface ConnRecord {
  session: NetSession;
  protocol: Protocol;
  started: number;
  host: string;
  port: number;
  decision: string;
  rule: string;
  message: string;
  addresses: string[];
  ip?: string;
  redirect?: string;
  method?: string;
  url?: string;
  up: number;
  down: number;
  status?: number;
  error?: string;
  emitted: boolean;
}

interface Client {
  socket: Duplex;
  session: NetSession;
  /** Until the first request (HTTP) or the SOCKS request is complete. */
  timer: NodeJS.Timeout | undefined;
  upstreams: Set<net.Socket>;
  /** HTTP requests whose response is not finished. */
  inflight: number;
}

/** Connections beyond maxConnections that get a refusal reply; beyond this many, closed at once. */
const OVERFLOW_MAX = 256;
/** A SOCKS5 greeting (2 + 255) and request (4 + 1 + 255 + 2) may arrive together. */
const SOCKS_MAX = 2 + 255 + 262;
/** How long a refused or finished connection may take to close by itself before it is destroyed. */
const LINGER_MS = 1000;
const URL_MAX = 2048;

const SOCKS = { ok: 0x00, failure: 0x01, notAllowed: 0x02, netUnreachable: 0x03, hostUnreachable: 0x04, refused: 0x05, badCommand: 0x07, badAddress: 0x08 };

// Hop-by-hop headers (RFC 9110 §7.6.1) and what a proxy must not pass on; `host` is rewritten
// from the URL; `expect` was answered here (Node sends 100 Continue itself).
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect']);

const noop = (): void => {};

function errorText(err: unknown): string {
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ? `${(err as NodeJS.ErrnoException).code}: ${err.message}` : err.message;
  return String(err);
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | null)?.code ?? '';
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** A header value that Node will accept (rule names come from policy files). */
function headerSafe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?').slice(0, 256);
}

function withDefaults<T extends object>(base: Readonly<T>, over: Partial<T> | undefined): T {
  const out = { ...base };
  for (const [k, v] of Object.entries(over ?? {})) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** The headers that go on, as [name, value] pairs: no hop-by-hop, none named by Connection, no Proxy-*. */
function forwardHeaders(raw: string[], first: [string, string][] = []): [string, string][] {
  const named = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') for (const t of raw[i + 1]!.split(',')) named.add(t.trim().toLowerCase());
  }
  const out = [...first];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(k) || k.startsWith('proxy-') || named.has(k)) continue;
    out.push([raw[i]!, raw[i + 1]!]);
  }
  return out;
}

interface AbsoluteTarget {
  host: string;
  port: number;
  path: string;
  authority: string;
  url: string;
}

/** An absolute-form `http://` request target, or why it is not one. */
function parseAbsolute(raw: string): AbsoluteTarget | { error: string } {
  if (!/^http:\/\//i.test(raw)) {
    return { error: /^https:\/\//i.test(raw) ? 'https:// URLs go through CONNECT' : 'this is a forward proxy: the request needs an absolute http:// URL' };
  }
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return { error: 'malformed URL' };
  }
  if (u.protocol !== 'http:' || !u.hostname) return { error: 'malformed URL' };
  const path = `${u.pathname || '/'}${u.search}`;
  // No credentials in what is recorded; the URL as sent otherwise, capped.
  return { host: u.hostname, port: u.port ? Number(u.port) : 80, path, authority: u.host, url: `http://${u.host}${path}`.slice(0, URL_MAX) };
}

/** CONNECT's authority-form target: `name:port`, `a.b.c.d:port` or `[v6]:port`. */
function parseAuthority(raw: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/.exec(raw);
  return m ? { host: (m[1] ?? m[2])!, port: Number(m[3]) } : null;
}

function rawResponse(status: number, text: string, extra: Record<string, string> = {}): Buffer {
  const body = Buffer.from(text, 'utf8');
  const head = [
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${body.length}`,
    'Connection: close',
    ...Object.entries(extra).map(([k, v]) => `${k}: ${headerSafe(v)}`),
  ].join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), body]);
}

function httpReply(res: http.ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  if (res.headersSent || res.writableEnded || res.destroyed) {
    res.destroy();
    return;
  }
  const body = Buffer.from(text, 'utf8');
  const headers: Record<string, string | number> = { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length };
  for (const [k, v] of Object.entries(extra)) headers[k] = headerSafe(v);
  try {
    res.writeHead(status, headers);
    res.end(body);
  } catch {
    res.destroy();
  }
}

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

function setIdle(s: Duplex, ms: number, onIdle: () => void): void {
  const sock = s as Partial<net.Socket>;
  if (ms > 0 && typeof sock.setTimeout === 'function') {
    sock.setTimeout(ms);
    s.on('timeout', onIdle);
  }
}

/** Ends the stream (after `data`), discards what still comes, destroys it soon after. */
function endThenDestroy(s: Duplex, data?: Buffer): void {
  const hard = setTimeout(() => s.destroy(), LINGER_MS * 5);
  hard.unref();
  s.once('close', () => clearTimeout(hard));
  s.once('finish', () => {
    const t = setTimeout(() => s.destroy(), LINGER_MS);
    t.unref();
    s.once('close', () => clearTimeout(t));
  });
  try {
    if (data) s.end(data);
    else s.end();
    s.resume();
  } catch {
    s.destroy();
  }
}

// The proxy connects only to addresses decideConnection checked: a name reaching net.connect
// would be a bug, and resolving it here would bypass the session's resolver.
const noLookup = (hostname: string, _opts: unknown, cb: (err: Error) => void): void => {
  cb(Object.assign(new Error(`agentsh proxy does not resolve names (${hostname})`), { code: 'EAI_NONAME' }));
};

export class SessionProxy {
  private readonly limits: ProxyLimits;
  private readonly deps: DecideDeps;
  private readonly server: http.Server;
  private readonly clients = new Map<Duplex, Client>();
  private readonly overflow = new Set<Duplex>();
  private readonly upstreams = new Set<net.Socket>();
  private total = 0;
  private refused = 0;
  private closed = false;
  private readonly checkIntervalMs: number;

  constructor(opts: ProxyOptions) {
    this.limits = withDefaults(DEFAULT_PROXY_LIMITS, opts.limits);
    const settings = withDefaults(DEFAULT_NET_SETTINGS, opts.settings);
    if (!Number.isInteger(settings.denyStatus) || settings.denyStatus < 400 || settings.denyStatus > 599) settings.denyStatus = 403;
    this.deps = { resolver: opts.resolver, redirects: opts.redirects ?? NO_REDIRECTS, settings };
    const l = this.limits;
    this.checkIntervalMs = Math.max(50, Math.min(1000, Math.floor(l.headerTimeoutMs / 4)));
    this.server = http.createServer({
      maxHeaderSize: l.maxHeaderBytes,
      headersTimeout: l.headerTimeoutMs,
      // Whole-request timeout off: uploads may be long; inactivity is bounded by server.timeout.
      requestTimeout: 0,
      keepAliveTimeout: l.idleTimeoutMs,
      connectionsCheckingInterval: this.checkIntervalMs,
      // HTTP/1.0 clients may send absolute-form without Host; Host comes from the URL anyway.
      requireHostHeader: false,
    });
    this.server.timeout = l.idleTimeoutMs;
    // A client may send its request and half-close; the response still goes back.
    // (Node's own switch, undocumented but read by its socketOnEnd since 0.x.)
    (this.server as unknown as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    this.server.on('request', (req, res) => this.onRequest(req, res));
    this.server.on('connect', (req, socket, head) => this.onConnect(req, socket, head));
    this.server.on('upgrade', (req, socket) => this.onUpgrade(req, socket));
    this.server.on('clientError', (err, socket) => this.onClientError(err, socket));
    // Node starts its headersTimeout bookkeeping on 'listening' only; this server never listens
    // (connections are injected), so start it here. The slowloris test guards this.
    this.server.emit('listening');
  }

  stats(): ProxyStats {
    return { active: this.clients.size, total: this.total, refused: this.refused };
  }

  /** Takes over one client stream (bytes already read may have been unshifted); never throws. */
  handle(socket: Duplex, session: NetSession): void {
    try {
      this.accept(socket, session);
    } catch {
      try {
        socket.destroy();
      } catch {
        /* nothing more to do */
      }
    }
  }

  /** Destroys every connection (clients and upstreams). */
  async close(): Promise<void> {
    this.closed = true;
    const all: Duplex[] = [...this.clients.keys(), ...this.overflow, ...this.upstreams];
    const gone = all.map((s) => (s.destroyed && s.closed !== false ? Promise.resolve() : new Promise<void>((r) => s.once('close', () => r()))));
    for (const s of all) s.destroy();
    this.server.close();
    await Promise.race([Promise.all(gone), new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  // ── intake ─────────────────────────────────────────────────────────────────────────────

  private accept(socket: Duplex, session: NetSession): void {
    socket.on('error', noop);
    this.total++;
    if (this.closed || socket.destroyed) {
      socket.destroy();
      return;
    }
    // Tunnels: a client that ends its side still receives the rest (the gateway's unix socket
    // and a default net.Server socket would otherwise end our side at once).
    socket.allowHalfOpen = true;
    const over = this.clients.size >= this.limits.maxConnections;
    if (over && this.overflow.size >= OVERFLOW_MAX) {
      this.refused++;
      socket.destroy();
      return;
    }
    const client: Client = { socket, session, timer: undefined, upstreams: new Set(), inflight: 0 };
    if (over) {
      this.overflow.add(socket);
      socket.once('close', () => {
        this.overflow.delete(socket);
        this.release(client);
      });
    } else {
      this.clients.set(socket, client);
      socket.once('close', () => {
        this.clients.delete(socket);
        this.release(client);
      });
    }
    client.timer = setTimeout(() => socket.destroy(), over ? Math.min(LINGER_MS * 2, this.limits.headerTimeoutMs) : this.limits.headerTimeoutMs);
    const onData = (chunk: Buffer | string) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
      if (buf.length === 0) return;
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      socket.unshift(buf);
      try {
        if (buf[0] === 0x05) this.socks(client, over);
        else if (over) this.refuseCapacityHttp(client);
        else {
          // Node's headersTimeout (408) takes over; this timer stays as a backstop until the first request.
          this.clearTimer(client);
          client.timer = setTimeout(() => socket.destroy(), this.limits.headerTimeoutMs + 2 * this.checkIntervalMs + 100);
          this.server.emit('connection', socket);
          socket.resume();
        }
      } catch {
        socket.destroy();
      }
    };
    const onEnd = () => socket.destroy();
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.resume();
  }

  private release(client: Client): void {
    this.clearTimer(client);
    for (const u of client.upstreams) u.destroy();
  }

  private clearTimer(client: Client): void {
    if (client.timer) clearTimeout(client.timer);
    client.timer = undefined;
  }

  // ── decisions and audit ────────────────────────────────────────────────────────────────

  private record(protocol: Protocol, session: NetSession): ConnRecord {
    return { session, protocol, started: Date.now(), host: '', port: 0, decision: 'deny', rule: '', message: '', addresses: [], up: 0, down: 0, emitted: false };
  }

  /** Decides and fills the record; null when the decision itself failed (an internal error, recorded). */
  private async decide(rec: ConnRecord, host: string, port: number): Promise<ConnectionDecision | null> {
    rec.host = host;
    rec.port = port;
    let d: ConnectionDecision;
    try {
      d = await decideConnection(rec.session, { host, port }, this.deps);
    } catch (err) {
      this.refused++;
      Object.assign(rec, { decision: 'deny', rule: 'builtin-proxy-error', message: 'the connection could not be decided', error: errorText(err) });
      return null;
    }
    rec.host = d.host;
    rec.decision = d.decision.decision;
    rec.rule = d.decision.rule;
    rec.message = d.decision.message;
    rec.addresses = d.addresses;
    if (d.redirect) rec.redirect = `${hostPort(d.redirect.host, d.redirect.port)} (rule=${d.redirect.rule})`;
    if (!d.address) this.refused++;
    return d;
  }

  /** A refusal that is not a policy decision (capacity, malformed input). */
  private refuseRecord(rec: ConnRecord, rule: string, message: string): void {
    rec.decision = 'deny';
    rec.rule = rule;
    rec.message = message;
  }

  private emit(rec: ConnRecord): void {
    if (rec.emitted) return;
    rec.emitted = true;
    const fields: Record<string, unknown> = {
      protocol: rec.protocol,
      host: rec.host,
      port: rec.port,
      addresses: rec.addresses,
      rule: rec.rule,
      bytes_up: rec.up,
      bytes_down: rec.down,
      duration_ms: Date.now() - rec.started,
    };
    if (rec.ip !== undefined) fields.ip = rec.ip;
    if (rec.redirect !== undefined) fields.redirect = rec.redirect;
    if (rec.method !== undefined) fields.method = rec.method;
    if (rec.url !== undefined) fields.url = rec.url;
    if (rec.status !== undefined) fields.status = rec.status;
    if (rec.error !== undefined) fields.error = rec.error;
    try {
      rec.session.audit('net_connect', rec.decision, rec.rule, rec.message, fields);
    } catch {
      /* the recorder's failure must not take the connection or the process down */
    }
  }

  private refusalText(rec: ConnRecord): string {
    const what = rec.rule === 'builtin-resolve-failed' ? 'failed' : 'denied by policy';
    return `agentsh: connection to ${hostPort(rec.host, rec.port)} ${what} (rule=${rec.rule}): ${rec.message}\n`;
  }

  /** HTTP status for a refused decision: resolution failures are the gateway's, the rest the policy's. */
  private refusalStatus(rec: ConnRecord): number {
    return rec.rule === 'builtin-resolve-failed' ? 502 : rec.rule === 'builtin-proxy-error' ? 500 : this.deps.settings.denyStatus;
  }

  // ── upstream ───────────────────────────────────────────────────────────────────────────

  private dial(client: Client, address: string, port: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const s = net.connect({ host: address, port, allowHalfOpen: true, noDelay: true, lookup: noLookup as never });
      this.upstreams.add(s);
      client.upstreams.add(s);
      s.on('error', noop);
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        s.destroy();
        reject(err);
      };
      const timer = setTimeout(
        () => fail(Object.assign(new Error(`connect to ${hostPort(address, port)} timed out after ${this.limits.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })),
        this.limits.connectTimeoutMs,
      );
      s.once('error', fail);
      s.once('close', () => {
        this.upstreams.delete(s);
        client.upstreams.delete(s);
        fail(Object.assign(new Error('closed before connecting'), { code: 'ECONNABORTED' }));
      });
      s.once('connect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        s.off('error', fail);
        resolve(s);
      });
      if (client.socket.destroyed) fail(Object.assign(new Error('client went away'), { code: 'ECONNABORTED' }));
    });
  }

  /** Pipes both ways until both sides are done; half-close passes through; audit at the end. */
  private tunnel(client: Client, up: net.Socket, head: Buffer, rec: ConnRecord): void {
    const down = client.socket;
    let counting = true;
    down.on('data', (c: Buffer) => {
      if (counting) rec.up += c.length;
    });
    up.on('data', (c: Buffer) => {
      rec.down += c.length;
    });
    const fail = (what: string) => (err: unknown) => {
      rec.error ??= `${what}: ${errorText(err)}`;
      down.destroy();
      up.destroy();
    };
    down.on('error', fail('client'));
    up.on('error', fail('upstream'));
    const idle = () => fail('idle')(new Error(`no traffic for ${this.limits.idleTimeoutMs} ms`));
    setIdle(down, this.limits.idleTimeoutMs, idle);
    setIdle(up, this.limits.idleTimeoutMs, idle);
    let open = 2;
    const closed = () => {
      if (--open === 0) this.emit(rec);
    };
    down.once('close', () => {
      up.destroy();
      closed();
    });
    up.once('close', () => {
      if (!up.readableEnded) down.destroy();
      else if (!down.destroyed) {
        // The upstream is gone both ways: whatever the client still sends has nowhere to go.
        counting = false;
        down.unpipe(up);
        endThenDestroy(down);
      }
      closed();
    });
    if (head.length) {
      rec.up += head.length;
      up.write(head);
    }
    down.pipe(up);
    up.pipe(down);
  }

  // ── HTTP ───────────────────────────────────────────────────────────────────────────────

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const client = this.clients.get(req.socket);
    if (!client) {
      res.destroy();
      return;
    }
    this.clearTimer(client);
    client.inflight++;
    res.once('close', () => client.inflight--);
    this.forwardHttp(client, req, res).catch(() => res.destroy());
  }

  private async forwardHttp(client: Client, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const rec = this.record('http', client.session);
    rec.method = (req.method ?? '').slice(0, 32);
    let resClosed = false;
    res.once('close', () => {
      resClosed = true;
    });
    const target = parseAbsolute(req.url ?? '');
    if ('error' in target) {
      rec.url = (req.url ?? '').slice(0, URL_MAX);
      this.refuseRecord(rec, 'builtin-bad-request', target.error);
      rec.status = 400;
      httpReply(res, 400, `agentsh: ${target.error}\n`);
      this.emit(rec);
      return;
    }
    rec.url = target.url;
    const d = await this.decide(rec, target.host, target.port);
    if (!d?.address) {
      rec.status = this.refusalStatus(rec);
      httpReply(res, rec.status, this.refusalText(rec), { 'X-Agentsh-Rule': rec.rule });
      this.emit(rec);
      return;
    }
    if (resClosed) {
      rec.error = 'client went away before the connection';
      this.emit(rec);
      return;
    }
    const port = d.redirect?.port ?? target.port;
    rec.ip = d.address;
    let sock: net.Socket;
    try {
      sock = await this.dial(client, d.address, port);
    } catch (err) {
      rec.error = errorText(err);
      rec.status = errorCode(err) === 'ETIMEDOUT' ? 504 : 502;
      httpReply(res, rec.status, `agentsh: could not connect to ${hostPort(rec.host, target.port)} (${rec.error})\n`);
      this.emit(rec);
      return;
    }
    if (resClosed) {
      sock.destroy();
      rec.error = 'client went away before the connection';
      this.emit(rec);
      return;
    }
    setIdle(sock, this.limits.idleTimeoutMs, () => sock.destroy(Object.assign(new Error('upstream idle'), { code: 'ETIMEDOUT' })));

    let up: http.ClientRequest;
    try {
      up = http.request({
        method: req.method,
        path: target.path,
        // Host from the URL: the upstream serves the name that was decided, not another one.
        headers: forwardHeaders(req.rawHeaders, [['Host', target.authority]]).flat(),
        createConnection: () => sock,
      });
    } catch (err) {
      sock.destroy();
      rec.error = errorText(err);
      rec.status = 400;
      httpReply(res, 400, `agentsh: the request cannot be forwarded (${rec.error})\n`);
      this.emit(rec);
      return;
    }
    res.once('close', () => {
      if (!res.writableFinished) rec.error ??= 'client went away';
      up.destroy();
      sock.destroy();
      this.emit(rec);
    });
    up.on('error', (err) => {
      rec.error ??= errorText(err);
      if (!res.headersSent) {
        rec.status = errorCode(err) === 'ETIMEDOUT' ? 504 : 502;
        httpReply(res, rec.status, `agentsh: upstream ${hostPort(rec.host, target.port)} failed (${rec.error})\n`);
      } else res.destroy();
    });
    up.on('response', (ures) => {
      rec.status = ures.statusCode;
      ures.on('data', (c: Buffer) => {
        rec.down += c.length;
      });
      ures.on('error', (err) => {
        rec.error ??= errorText(err);
        res.destroy();
      });
      ures.on('aborted', () => res.destroy());
      try {
        res.writeHead(ures.statusCode ?? 502, ures.statusMessage, forwardHeaders(ures.rawHeaders).flat());
      } catch (err) {
        rec.error = `bad upstream response: ${errorText(err)}`;
        up.destroy();
        res.destroy();
        return;
      }
      ures.pipe(res);
    });
    req.on('data', (c: Buffer) => {
      rec.up += c.length;
    });
    req.on('error', () => up.destroy());
    req.pipe(up);
  }

  private refuseCapacityHttp(client: Client): void {
    const rec = this.record('http', client.session);
    this.refused++;
    this.refuseRecord(rec, 'builtin-proxy-capacity', `the proxy is serving its maximum of ${this.limits.maxConnections} connections`);
    rec.status = 503;
    this.clearTimer(client);
    endThenDestroy(client.socket, rawResponse(503, `agentsh: ${rec.message}\n`, { 'X-Agentsh-Rule': rec.rule }));
    this.emit(rec);
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const client = this.clients.get(socket);
    const code = err.code ?? '';
    // A client that goes away (even mid-headers: HPE_INVALID_EOF_STATE) is no bad request.
    if (!client || code === 'ECONNRESET' || code === 'EPIPE' || code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
      socket.destroy();
      return;
    }
    this.clearTimer(client);
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const rec = this.record('http', client.session);
    const message =
      status === 431 ? `request headers larger than ${this.limits.maxHeaderBytes} bytes` : status === 408 ? `request headers not complete within ${this.limits.headerTimeoutMs} ms` : 'malformed HTTP request';
    this.refuseRecord(rec, 'builtin-bad-request', message);
    rec.status = status;
    rec.error = code || errorText(err);
    this.emit(rec);
    // A response already under way on this connection can't be followed by another one.
    if (client.inflight > 0) socket.destroy();
    else endThenDestroy(socket, rawResponse(status, `agentsh: ${message}\n`));
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex): void {
    const client = this.clients.get(socket);
    if (!client) {
      socket.destroy();
      return;
    }
    this.clearTimer(client);
    const rec = this.record('http', client.session);
    rec.method = (req.method ?? '').slice(0, 32);
    rec.url = (req.url ?? '').slice(0, URL_MAX);
    rec.status = 501;
    this.refuseRecord(rec, 'builtin-bad-request', 'protocol upgrades through the plain HTTP proxy are not supported (use CONNECT)');
    this.emit(rec);
    endThenDestroy(socket, rawResponse(501, `agentsh: ${rec.message}\n`));
  }

  // ── CONNECT ────────────────────────────────────────────────────────────────────────────

  private onConnect(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const client = this.clients.get(socket);
    if (!client) {
      socket.destroy();
      return;
    }
    this.clearTimer(client);
    // Bytes the client sends before the answer wait in the socket (bounded by its highWaterMark).
    socket.pause();
    this.connectTunnel(client, req, head).catch(() => socket.destroy());
  }

  private async connectTunnel(client: Client, req: http.IncomingMessage, head: Buffer): Promise<void> {
    const { socket } = client;
    const rec = this.record('connect', client.session);
    rec.method = 'CONNECT';
    const target = parseAuthority(req.url ?? '');
    if (!target) {
      rec.host = (req.url ?? '').slice(0, 300);
      this.refuseRecord(rec, 'builtin-bad-request', 'CONNECT needs host:port');
      rec.status = 400;
      endThenDestroy(socket, rawResponse(400, `agentsh: ${rec.message}\n`));
      this.emit(rec);
      return;
    }
    const d = await this.decide(rec, target.host, target.port);
    if (!d?.address) {
      rec.status = this.refusalStatus(rec);
      endThenDestroy(socket, rawResponse(rec.status, this.refusalText(rec), { 'X-Agentsh-Rule': rec.rule }));
      this.emit(rec);
      return;
    }
    if (socket.destroyed) {
      rec.error = 'client went away before the connection';
      this.emit(rec);
      return;
    }
    rec.ip = d.address;
    let up: net.Socket;
    try {
      up = await this.dial(client, d.address, d.redirect?.port ?? target.port);
    } catch (err) {
      rec.error = errorText(err);
      rec.status = errorCode(err) === 'ETIMEDOUT' ? 504 : 502;
      if (!socket.destroyed) endThenDestroy(socket, rawResponse(rec.status, `agentsh: could not connect to ${hostPort(rec.host, rec.port)} (${rec.error})\n`));
      this.emit(rec);
      return;
    }
    if (socket.destroyed) {
      up.destroy();
      rec.error = 'client went away before the connection';
      this.emit(rec);
      return;
    }
    rec.status = 200;
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    this.tunnel(client, up, head, rec);
  }

  // ── SOCKS5 (RFC 1928) ──────────────────────────────────────────────────────────────────

  private socks(client: Client, over: boolean): void {
    const { socket } = client;
    let buf: Buffer = Buffer.alloc(0);
    let stage: 'greeting' | 'request' = 'greeting';
    const stop = () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      this.clearTimer(client);
    };
    const malformed = (why: string, reply?: number) => {
      stop();
      const rec = this.record('socks5', client.session);
      this.refuseRecord(rec, 'builtin-bad-request', why);
      if (reply !== undefined) rec.status = reply;
      this.emit(rec);
      if (reply === undefined) socket.destroy();
      else endThenDestroy(socket, reply === 0xff ? Buffer.from([5, 0xff]) : socksReply(reply));
    };
    const onData = (chunk: Buffer | string) => {
      const c = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
      buf = buf.length ? Buffer.concat([buf, c]) : c;
      if (buf.length > SOCKS_MAX) return malformed('SOCKS5 handshake too long');
      if (stage === 'greeting') {
        if (buf.length < 2) return;
        if (buf[0] !== 5) return malformed('not SOCKS5');
        const n = buf[1]!;
        if (buf.length < 2 + n) return;
        const methods = buf.subarray(2, 2 + n);
        buf = buf.subarray(2 + n);
        if (!methods.includes(0x00)) return malformed('no acceptable SOCKS5 authentication method (only "no authentication" is served)', 0xff);
        socket.write(Buffer.from([5, 0x00]));
        stage = 'request';
      }
      if (buf.length < 4) return;
      if (buf[0] !== 5) return malformed('not SOCKS5');
      if (buf[1] !== 0x01) return malformed(`SOCKS5 command ${buf[1]} not supported (CONNECT only)`, SOCKS.badCommand);
      const atyp = buf[3];
      let need: number;
      if (atyp === 1) need = 10;
      else if (atyp === 4) need = 22;
      else if (atyp === 3) {
        if (buf.length < 5) return;
        if (buf[4] === 0) return malformed('empty SOCKS5 domain name', SOCKS.badAddress);
        need = 7 + buf[4]!;
      } else return malformed(`SOCKS5 address type ${atyp} not supported`, SOCKS.badAddress);
      if (buf.length < need) return;
      const host = atyp === 1 ? [...buf.subarray(4, 8)].join('.') : atyp === 4 ? ipv6Text(buf.subarray(4, 20)) : buf.subarray(5, need - 2).toString('latin1');
      const port = buf.readUInt16BE(need - 2);
      const rest = buf.subarray(need);
      stop();
      socket.pause();
      if (rest.length) socket.unshift(rest);
      this.socksConnect(client, host, port, over).catch(() => socket.destroy());
    };
    const onEnd = () => {
      stop();
      socket.destroy();
    };
    if (client.timer) {
      clearTimeout(client.timer);
      client.timer = setTimeout(() => malformed('SOCKS5 handshake not complete in time'), over ? LINGER_MS * 2 : this.limits.headerTimeoutMs);
    }
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.resume();
  }

  private async socksConnect(client: Client, host: string, port: number, over: boolean): Promise<void> {
    const { socket } = client;
    const rec = this.record('socks5', client.session);
    rec.host = host;
    rec.port = port;
    const fail = (code: number) => {
      rec.status = code;
      if (!socket.destroyed) endThenDestroy(socket, socksReply(code));
      this.emit(rec);
    };
    if (over) {
      this.refused++;
      this.refuseRecord(rec, 'builtin-proxy-capacity', `the proxy is serving its maximum of ${this.limits.maxConnections} connections`);
      return fail(SOCKS.failure);
    }
    const d = await this.decide(rec, host, port);
    if (!d) return fail(SOCKS.failure);
    if (!d.address) return fail(rec.rule === 'builtin-resolve-failed' ? SOCKS.hostUnreachable : SOCKS.notAllowed);
    if (socket.destroyed) {
      rec.error = 'client went away before the connection';
      this.emit(rec);
      return;
    }
    rec.ip = d.address;
    let up: net.Socket;
    try {
      up = await this.dial(client, d.address, d.redirect?.port ?? port);
    } catch (err) {
      rec.error = errorText(err);
      const code = errorCode(err);
      return fail(
        code === 'ECONNREFUSED' ? SOCKS.refused : code === 'ENETUNREACH' ? SOCKS.netUnreachable : code === 'EHOSTUNREACH' || code === 'ETIMEDOUT' ? SOCKS.hostUnreachable : SOCKS.failure,
      );
    }
    if (socket.destroyed) {
      up.destroy();
      rec.error = 'client went away before the connection';
      this.emit(rec);
      return;
    }
    rec.status = SOCKS.ok;
    socket.write(socksReply(SOCKS.ok, { address: up.localAddress ?? '', port: up.localPort ?? 0 }));
    this.tunnel(client, up, Buffer.alloc(0), rec);
  }
}
