// The session proxy: one stream per sandbox connection (the relay's 127.0.0.1:3128, brought by
// the gateway), serving an HTTP forward proxy, HTTPS CONNECT and SOCKS5 on the same port (the
// first byte tells: 0x05 is SOCKS5, proxy-socks.ts; anything else goes to Node's HTTP parser,
// proxy-http.ts).
//
// Every request or tunnel is decided by decideConnection (decision.ts) and goes to the
// address it checked, never to a name resolved again: open() below is where both happen, for
// all three protocols. Parsing buffers are bounded (maxHeaderBytes, a SOCKS request is at most
// 262 bytes); every phase has a timer (headers, connect, idle). Beyond maxConnections a
// connection is refused (HTTP 503 / SOCKS 0x01), and beyond 256 such at once closed
// unanswered. One audit event `net_connect` per request or tunnel (connection-audit.ts):
// refusals at once, allowed ones when they end (with byte counts and duration).
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { ConnectionAudit, RULE_CAPACITY, RULE_PROXY_ERROR, errorText, hostPort } from './connection-audit.js';
import { decideConnection, type ConnectionDecision, type DecideDeps } from './decision.js';
import { Client, type OpenReplies, type ProxyCore } from './proxy-client.js';
import { HttpFront } from './proxy-http.js';
import { serveSocks } from './proxy-socks.js';
import { LINGER_MS } from './tunnel.js';
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

/** Connections beyond maxConnections that get a refusal reply; beyond this many, closed at once. */
const OVERFLOW_MAX = 256;

const noop = (): void => {};

function withDefaults<T extends object>(base: Readonly<T>, over: Partial<T> | undefined): T {
  const out = { ...base };
  for (const [k, v] of Object.entries(over ?? {})) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

// The proxy connects only to addresses decideConnection checked: a name reaching net.connect
// would be a bug, and resolving it here would bypass the session's resolver.
const noLookup = (hostname: string, _opts: unknown, cb: (err: Error) => void): void => {
  cb(Object.assign(new Error(`agentsh proxy does not resolve names (${hostname})`), { code: 'EAI_NONAME' }));
};

export class SessionProxy {
  private readonly limits: ProxyLimits;
  private readonly deps: DecideDeps;
  /** What the protocol front ends may use of this proxy. */
  private readonly core: ProxyCore;
  private readonly http: HttpFront;
  private readonly clients = new Map<Duplex, Client>();
  private readonly overflow = new Set<Duplex>();
  private readonly upstreams = new Set<net.Socket>();
  private total = 0;
  private refused = 0;
  private closed = false;

  constructor(opts: ProxyOptions) {
    this.limits = withDefaults(DEFAULT_PROXY_LIMITS, opts.limits);
    const settings = withDefaults(DEFAULT_NET_SETTINGS, opts.settings);
    if (!Number.isInteger(settings.denyStatus) || settings.denyStatus < 400 || settings.denyStatus > 599) settings.denyStatus = 403;
    this.deps = { resolver: opts.resolver, redirects: opts.redirects ?? NO_REDIRECTS, settings };
    this.core = {
      limits: this.limits,
      client: (socket) => this.clients.get(socket),
      open: (client, rec, host, port, replies) => this.open(client, rec, host, port, replies),
      refuseCapacity: (rec) => {
        this.refused++;
        rec.refuse(RULE_CAPACITY, `the proxy is serving its maximum of ${this.limits.maxConnections} connections`);
      },
    };
    this.http = new HttpFront(this.core, settings.denyStatus);
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
    this.http.close();
    await Promise.race([Promise.all(gone), new Promise((r) => setTimeout(r, 2000).unref())]);
  }

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
    const client = new Client(socket, session);
    if (over) this.overflow.add(socket);
    else this.clients.set(socket, client);
    socket.once('close', () => {
      (over ? this.overflow : this.clients).delete(socket);
      client.settle();
      for (const u of client.upstreams) u.destroy();
    });
    // Over capacity, a client only gets the time to say which protocol its refusal should be in.
    client.deadline(over ? Math.min(LINGER_MS * 2, this.limits.headerTimeoutMs) : this.limits.headerTimeoutMs, () => socket.destroy());
    const onData = (chunk: Buffer | string) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
      if (buf.length === 0) return;
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      socket.unshift(buf);
      try {
        if (buf[0] === 0x05) serveSocks(client, this.core, over);
        else if (over) this.http.refuseCapacity(client);
        else this.http.serve(client);
      } catch {
        socket.destroy();
      }
    };
    const onEnd = () => socket.destroy();
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.resume();
  }

  // ── upstream ───────────────────────────────────────────────────────────────────────────

  private async open(client: Client, rec: ConnectionAudit, host: string, port: number, replies: OpenReplies): Promise<net.Socket | null> {
    const d = await this.decide(rec, host, port);
    if (!d?.address) {
      replies.refused(d);
      rec.emit();
      return null;
    }
    if (replies.gone()) return this.wentAway(rec);
    rec.ip = d.address;
    let up: net.Socket;
    try {
      up = await this.dial(client, d.address, d.redirect?.port ?? port);
    } catch (err) {
      rec.error = errorText(err);
      replies.failed(err);
      rec.emit();
      return null;
    }
    if (replies.gone()) {
      up.destroy();
      return this.wentAway(rec);
    }
    return up;
  }

  private wentAway(rec: ConnectionAudit): null {
    rec.error = 'client went away before the connection';
    rec.emit();
    return null;
  }

  /** Decides into the record, counting refusals; null when the decision itself failed (recorded). */
  private async decide(rec: ConnectionAudit, host: string, port: number): Promise<ConnectionDecision | null> {
    rec.host = host;
    rec.port = port;
    let d: ConnectionDecision;
    try {
      d = await decideConnection(rec.session, { host, port }, this.deps);
    } catch (err) {
      this.refused++;
      rec.refuse(RULE_PROXY_ERROR, 'the connection could not be decided');
      rec.error = errorText(err);
      return null;
    }
    rec.decided(d);
    if (!d.address) this.refused++;
    return d;
  }

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
}
