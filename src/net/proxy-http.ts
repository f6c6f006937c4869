// The session proxy's HTTP side, on Node's HTTP parser: an absolute-form http:// request is
// forwarded (`Host` rewritten from the URL, RFC 9112 §3.2.2, so the name decided is the name
// the upstream serves; Proxy-* and hop-by-hop headers never leave; bodies streamed both ways
// with backpressure), and CONNECT host:port becomes a tunnel. Keep-alive connections have
// every request decided on its own.
//
// Answers of its own (text/plain, `agentsh: …`): 400 a malformed request or target
// (origin-form, https:// URLs, CONNECT without host:port), 403 or settings.denyStatus refused
// by policy, 502 a name that does not resolve or an upstream that refuses or fails, 504 the
// upstream did not accept within connectTimeout, 500 the decision itself failed, 503 over
// maxConnections, 431 headers over maxHeaderBytes, 408 headers not complete within
// headerTimeout, 501 protocol upgrades. Refusals a rule made carry `X-Agentsh-Rule`.
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { ConnectionAudit, RULE_BAD_REQUEST, RULE_PROXY_ERROR, RULE_RESOLVE_FAILED, errorCode, errorText, hostPort } from './connection-audit.js';
import type { Client, OpenReplies, ProxyCore } from './proxy-client.js';
import { endThenDestroy, setIdle, tunnel } from './tunnel.js';

const URL_MAX = 2048;

// Hop-by-hop headers (RFC 9110 §7.6.1) and what a proxy must not pass on; `host` is rewritten
// from the URL; `expect` was answered here (Node sends 100 Continue itself).
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect']);

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

/** An upstream that did not accept in time is a gateway timeout; any other failure a bad gateway. */
function upstreamFailureStatus(err: unknown): number {
  return errorCode(err) === 'ETIMEDOUT' ? 504 : 502;
}

/** A short text/plain answer; `extra` values are made header-safe (rule names come from policy files). */
type Answer = (status: number, text: string, extra?: Record<string, string>) => void;

function textHeaders(body: Buffer, extra: Record<string, string>): [string, string][] {
  const safe = Object.entries(extra).map(([k, v]): [string, string] => [k, v.replace(/[^\x20-\x7e]/g, '?').slice(0, 256)]);
  return [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)], ...safe];
}

/** Answers on the request's own response (the forward proxy). */
function answerOn(res: http.ServerResponse): Answer {
  return (status, text, extra = {}) => {
    if (res.headersSent || res.writableEnded || res.destroyed) {
      res.destroy();
      return;
    }
    const body = Buffer.from(text, 'utf8');
    try {
      res.writeHead(status, Object.fromEntries(textHeaders(body, extra)));
      res.end(body);
    } catch {
      res.destroy();
    }
  };
}

/** Answers on the connection itself, then closes it (CONNECT, and what is not a request). */
function answerRaw(socket: Duplex): Answer {
  return (status, text, extra = {}) => {
    if (socket.destroyed) return;
    const body = Buffer.from(text, 'utf8');
    const head = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}`, ...textHeaders(body, { Connection: 'close', ...extra }).map(([k, v]) => `${k}: ${v}`)];
    endThenDestroy(socket, Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), body]));
  };
}

/** Records a malformed request as refused and answers it. */
function badRequest(rec: ConnectionAudit, answer: Answer, status: number, message: string): void {
  rec.refuse(RULE_BAD_REQUEST, message);
  rec.status = status;
  answer(status, `agentsh: ${message}\n`);
  rec.emit();
}

export class HttpFront {
  private readonly server: http.Server;
  private readonly checkIntervalMs: number;

  constructor(
    private readonly core: ProxyCore,
    private readonly denyStatus: number,
  ) {
    const l = core.limits;
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

  /** Hands a client to the HTTP parser (its first bytes were unshifted back). */
  serve(client: Client): void {
    // Node's headersTimeout (408) takes over; this deadline stays as a backstop until the first request.
    client.deadline(this.core.limits.headerTimeoutMs + 2 * this.checkIntervalMs + 100, () => client.socket.destroy());
    this.server.emit('connection', client.socket);
    client.socket.resume();
  }

  /** Answers 503 to a client beyond maxConnections. */
  refuseCapacity(client: Client): void {
    client.settle();
    const rec = new ConnectionAudit(client.session, 'http');
    this.core.refuseCapacity(rec);
    rec.status = 503;
    answerRaw(client.socket)(503, `agentsh: ${rec.message}\n`, { 'X-Agentsh-Rule': rec.rule });
    rec.emit();
  }

  close(): void {
    this.server.close();
  }

  /** The client a parser event is for, its handshake now over; none (and closed) if unknown. */
  private take(socket: Duplex): Client | undefined {
    const client = this.core.client(socket);
    if (!client) socket.destroy();
    client?.settle();
    return client;
  }

  /** How a forwarded request or a CONNECT answers when its upstream is not opened. */
  private replies(rec: ConnectionAudit, answer: Answer, gone: () => boolean): OpenReplies {
    return {
      gone,
      // Resolution failures are the gateway's, the rest the policy's.
      refused: () => {
        const unresolved = rec.rule === RULE_RESOLVE_FAILED;
        rec.status = unresolved ? 502 : rec.rule === RULE_PROXY_ERROR ? 500 : this.denyStatus;
        const what = unresolved ? 'failed' : 'denied by policy';
        answer(rec.status, `agentsh: connection to ${hostPort(rec.host, rec.port)} ${what} (rule=${rec.rule}): ${rec.message}\n`, { 'X-Agentsh-Rule': rec.rule });
      },
      failed: (err) => {
        rec.status = upstreamFailureStatus(err);
        answer(rec.status, `agentsh: could not connect to ${hostPort(rec.host, rec.port)} (${rec.error})\n`);
      },
    };
  }

  // ── forward proxy ──────────────────────────────────────────────────────────────────────

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const client = this.take(req.socket);
    if (!client) {
      res.destroy();
      return;
    }
    client.inflight++;
    res.once('close', () => client.inflight--);
    this.forward(client, req, res).catch(() => res.destroy());
  }

  private async forward(client: Client, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const rec = new ConnectionAudit(client.session, 'http');
    rec.method = (req.method ?? '').slice(0, 32);
    let resClosed = false;
    res.once('close', () => {
      resClosed = true;
    });
    const answer = answerOn(res);
    const target = parseAbsolute(req.url ?? '');
    if ('error' in target) {
      rec.url = (req.url ?? '').slice(0, URL_MAX);
      badRequest(rec, answer, 400, target.error);
      return;
    }
    rec.url = target.url;
    const sock = await this.core.open(client, rec, target.host, target.port, this.replies(rec, answer, () => resClosed));
    if (!sock) return;
    setIdle(sock, this.core.limits.idleTimeoutMs, () => sock.destroy(Object.assign(new Error('upstream idle'), { code: 'ETIMEDOUT' })));

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
      answer(400, `agentsh: the request cannot be forwarded (${rec.error})\n`);
      rec.emit();
      return;
    }
    this.relay(req, res, up, sock, rec);
  }

  /** Streams the request to the upstream and its response back; audits when the response is done. */
  private relay(req: http.IncomingMessage, res: http.ServerResponse, up: http.ClientRequest, sock: net.Socket, rec: ConnectionAudit): void {
    res.once('close', () => {
      if (!res.writableFinished) rec.error ??= 'client went away';
      up.destroy();
      sock.destroy();
      rec.emit();
    });
    up.on('error', (err) => {
      rec.error ??= errorText(err);
      if (!res.headersSent) {
        rec.status = upstreamFailureStatus(err);
        answerOn(res)(rec.status, `agentsh: upstream ${hostPort(rec.host, rec.port)} failed (${rec.error})\n`);
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

  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const client = this.take(socket);
    if (!client) return;
    const code = err.code ?? '';
    // A client that goes away (even mid-headers: HPE_INVALID_EOF_STATE) is no bad request.
    if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
      socket.destroy();
      return;
    }
    const l = this.core.limits;
    const [status, message] =
      code === 'HPE_HEADER_OVERFLOW'
        ? [431, `request headers larger than ${l.maxHeaderBytes} bytes`]
        : code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, `request headers not complete within ${l.headerTimeoutMs} ms`]
          : [400, 'malformed HTTP request'];
    const rec = new ConnectionAudit(client.session, 'http');
    rec.error = code || errorText(err);
    // A response already under way on this connection can't be followed by another one.
    badRequest(rec, client.inflight > 0 ? () => socket.destroy() : answerRaw(socket), status, message);
  }

  private onUpgrade(req: http.IncomingMessage, socket: Duplex): void {
    const client = this.take(socket);
    if (!client) return;
    const rec = new ConnectionAudit(client.session, 'http');
    rec.method = (req.method ?? '').slice(0, 32);
    rec.url = (req.url ?? '').slice(0, URL_MAX);
    badRequest(rec, answerRaw(socket), 501, 'protocol upgrades through the plain HTTP proxy are not supported (use CONNECT)');
  }

  // ── CONNECT ────────────────────────────────────────────────────────────────────────────

  private onConnect(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const client = this.take(socket);
    if (!client) return;
    // Bytes the client sends before the answer wait in the socket (bounded by its highWaterMark).
    socket.pause();
    this.connect(client, req, head).catch(() => socket.destroy());
  }

  private async connect(client: Client, req: http.IncomingMessage, head: Buffer): Promise<void> {
    const { socket } = client;
    const rec = new ConnectionAudit(client.session, 'connect');
    rec.method = 'CONNECT';
    const answer = answerRaw(socket);
    const target = parseAuthority(req.url ?? '');
    if (!target) {
      rec.host = (req.url ?? '').slice(0, 300);
      badRequest(rec, answer, 400, 'CONNECT needs host:port');
      return;
    }
    const up = await this.core.open(client, rec, target.host, target.port, this.replies(rec, answer, () => socket.destroyed));
    if (!up) return;
    rec.status = 200;
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    tunnel(socket, up, head, rec, this.core.limits.idleTimeoutMs);
  }
}
