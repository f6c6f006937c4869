// The session's LLM proxy: sandboxed SDKs reach it through ANTHROPIC_BASE_URL / OPENAI_BASE_URL
// (llmEnv) and it forwards their API calls to the configured providers, after
//
//   routing     (providers.ts: known endpoints only, refused otherwise: 404/405)
//   key swap    (keys.ts: placeholder → real key, other keys refused: 401)
//   rate limits (rate-limit.ts: per session; 429 + retry-after)
//   body cap    (413), JSON check (400), DLP on the agent's content (request-dlp.ts, per
//               dlp.mode: redact → forwarded redacted; audit → forwarded unchanged, counted;
//               block → 403 naming the finding types)
//
// and answers the provider's response exactly as it arrives: status, headers (hop-by-hop
// removed) and body bytes, each upstream chunk written to the client at once (SSE streams are
// never buffered), while sse.ts reads token usage from it on the side. Responses are not
// changed (no DLP on responses). Every request is one audit event `llm_request` when its
// response has ended, been cut short, or was refused (fields: docs/llm-proxy.md).
//
// Upstream: http or https per the provider URL, `Accept-Encoding: identity` (the proxy must
// read the stream to find usage; a provider that compresses anyway is passed through and its
// usage is unknown), keep-alive connections per provider. The proxy connects only to the
// configured provider URLs (operator config), so `network_rules` do not apply to it.
//
// Connections are injected (`handle`) into one Node http.Server that never listens, as the
// session proxy does (src/net/proxy-http.ts): 'listening' is emitted by hand so that Node's
// headersTimeout bookkeeping starts, and half-open clients keep getting their answers.
import { createHash, type Hash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Redactor } from '../dlp/index.js';
import type { NetSession } from '../net/types.js';
import { endThenDestroy } from '../net/tunnel.js';
import type { LlmProxyConfig } from './env.js';
import { keyTable, swapKey, type KeyTable } from './keys.js';
import { errorBody, parseUpstream, route, upstreamPath, type Endpoint, type Provider, type Route, type Upstream } from './providers.js';
import { RateLimiter } from './rate-limit.js';
import { DlpDepthError, scanRequest, type DlpMode, type DlpScan } from './request-dlp.js';
import { UsageTracker } from './sse.js';

export interface LlmProxyLimits {
  /** Request body (beyond: 413). Anthropic's own limit for Messages is 32 MB. */
  maxRequestBytes: number;
  /** Request line + headers (beyond: 431). */
  maxHeaderBytes: number;
  /** From the connection (or a keep-alive request's first byte) to complete headers (408). */
  headerTimeoutMs: number;
  /** Whole request, headers and body, from the client (408). */
  requestTimeoutMs: number;
  /** TCP (+TLS) connect to the provider (504). */
  connectTimeoutMs: number;
  /** No byte from the provider while a request is in flight (504 before the response, cut after). */
  idleTimeoutMs: number;
  /** An idle keep-alive client connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** Client connections at once (beyond: 503). */
  maxConnections: number;
}

export const DEFAULT_LLM_LIMITS: Readonly<LlmProxyLimits> = Object.freeze({
  maxRequestBytes: 32 * 1024 * 1024,
  maxHeaderBytes: 32 * 1024,
  headerTimeoutMs: 10_000,
  requestTimeoutMs: 5 * 60_000,
  connectTimeoutMs: 10_000,
  idleTimeoutMs: 10 * 60_000,
  keepAliveTimeoutMs: 65_000,
  maxConnections: 1024,
});

export interface LlmProxyOptions {
  /** `proxy:` of the resolved config (providers, credentials, rate_limits). */
  config: LlmProxyConfig;
  /** The redactor for request content (null: no DLP). */
  dlp: Redactor | null;
  dlpMode: DlpMode;
  /** Where `proxy.credentials.*.api_key_env` are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  limits?: Partial<LlmProxyLimits>;
  /** Clock of the rate limiter (tests). */
  now?: () => number;
}

export const RULE_FORWARDED = 'llm-proxy';
export const RULE_DLP_BLOCK = 'llm-dlp-block';
export const RULE_RATE_LIMIT = 'llm-rate-limit';
export const RULE_KEY = 'llm-key';
export const RULE_ENDPOINT = 'llm-endpoint';
export const RULE_BAD_REQUEST = 'llm-request';

// Hop-by-hop (RFC 9110 §7.6.1) and what the proxy sets itself.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const NOT_FORWARDED = new Set([...HOP_BY_HOP, 'host', 'content-length', 'accept-encoding', 'expect']);

function filterHeaders(raw: string[], drop: ReadonlySet<string>): [string, string][] {
  const named = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') for (const t of raw[i + 1]!.split(',')) named.add(t.trim().toLowerCase());
  }
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (drop.has(k) || k.startsWith('proxy-') || named.has(k)) continue;
    out.push([raw[i]!, raw[i + 1]!]);
  }
  return out;
}

const errText = (err: unknown): string => {
  const e = err as NodeJS.ErrnoException | undefined;
  return (e?.code ? `${e.code}: ` : '') + String(e?.message ?? err).slice(0, 300);
};
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One request's audit record; emitted once. */
class LlmRecord {
  readonly started = performance.now();
  provider: Provider;
  endpoint: Endpoint | null = null;
  path: string;
  method: string;
  model: string | null = null;
  stream = false;
  status = 0;
  decision: 'allow' | 'deny' = 'allow';
  rule = RULE_FORWARDED;
  reason: string | null = null;
  ttfbMs: number | null = null;
  requestBytes = 0;
  requestSha: string | null = null;
  responseBytes = 0;
  responseHash: Hash | null = null;
  responseSha: string | null = null;
  dlp: DlpScan | null = null;
  keySwapped = false;
  tracker: UsageTracker | null = null;
  error: string | null = null;
  retryAfterS: number | null = null;
  private emitted = false;

  constructor(
    readonly session: NetSession,
    private readonly proxy: LlmProxy,
    req: http.IncomingMessage,
    provider: Provider,
  ) {
    this.method = (req.method ?? '').slice(0, 16);
    this.path = (req.url ?? '').split('?')[0]!.slice(0, 300);
    this.provider = provider;
  }

  emit(): void {
    if (this.emitted) return;
    this.emitted = true;
    const latency = Math.round(performance.now() - this.started);
    const usage = this.tracker?.usage() ?? null;
    if (usage?.total_tokens) this.proxy.countTokens(this.session.sessionId, usage.total_tokens);
    const model = this.model ?? this.tracker?.model ?? null;
    const fields: Record<string, unknown> = {
      provider: this.provider,
      endpoint: this.path,
      api: this.endpoint,
      method: this.method,
      model,
      stream: this.stream,
      status: this.status,
      latency_ms: latency,
      ttfb_ms: this.ttfbMs,
      input_tokens: usage?.input_tokens ?? null,
      output_tokens: usage?.output_tokens ?? null,
      cache_creation_input_tokens: usage?.cache_creation_input_tokens ?? null,
      cache_read_input_tokens: usage?.cache_read_input_tokens ?? null,
      total_tokens: usage?.total_tokens ?? null,
      request_bytes: this.requestBytes,
      response_bytes: this.responseBytes,
      request_sha256: this.requestSha,
      response_sha256: this.responseSha ?? (this.responseHash ? this.responseHash.digest('hex') : null),
      redactions: this.dlp?.count ?? 0,
      redaction_types: this.dlp?.types ?? {},
      dlp_mode: this.proxy.dlpMode,
      key_swapped: this.keySwapped,
    };
    if (this.tracker?.error) fields.upstream_error = this.proxy.scrub(this.tracker.error);
    if (this.error) fields.error = this.error;
    if (this.retryAfterS !== null) fields.retry_after_s = this.retryAfterS;
    const what = `${this.provider} ${this.method} ${this.path}${model ? ` (${model}${this.stream ? ', stream' : ''})` : ''}`;
    const message =
      this.decision === 'deny'
        ? `${what} refused: ${this.reason ?? 'refused'}`
        : `${what} → ${this.status || 'no response'} in ${latency} ms${usage ? `, ${usage.input_tokens ?? '?'} in / ${usage.output_tokens ?? '?'} out tokens` : ''}${this.dlp?.count ? `, ${this.dlp.count} DLP finding${this.dlp.count === 1 ? '' : 's'}` : ''}${this.error ? ` (${this.error})` : ''}`;
    try {
      this.session.audit('llm_request', this.decision, this.rule, message, fields);
    } catch {
      /* the recorder's failure is not the client's */
    }
  }
}

interface ReadBody {
  body?: Buffer;
  tooLarge?: boolean;
  aborted?: boolean;
}

function readBody(req: http.IncomingMessage, max: number): Promise<ReadBody> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let len = 0;
    let done = false;
    const finish = (r: ReadBody) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      resolve(r);
    };
    const onData = (c: Buffer) => {
      len += c.length;
      if (len > max) {
        chunks.length = 0;
        finish({ tooLarge: true });
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => finish({ body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, len) }));
    req.once('error', () => finish({ aborted: true }));
    req.once('close', () => finish(req.complete ? { body: Buffer.concat(chunks, len) } : { aborted: true }));
  });
}

export class LlmProxy {
  readonly dlpMode: DlpMode;
  private readonly limits: LlmProxyLimits;
  private readonly server: http.Server;
  private readonly upstreams: Record<Provider, Upstream>;
  private readonly agents: Record<Provider, http.Agent>;
  private readonly keys: KeyTable;
  private readonly rate: RateLimiter;
  private readonly dlp: Redactor | null;
  private readonly sessions = new WeakMap<object, NetSession>();
  private readonly sockets = new Set<Duplex>();
  private readonly inflight = new Set<http.ClientRequest>();
  private closed = false;

  constructor(opts: LlmProxyOptions) {
    this.limits = { ...DEFAULT_LLM_LIMITS, ...opts.limits };
    this.dlpMode = opts.dlp ? opts.dlpMode : 'disabled';
    this.dlp = this.dlpMode === 'disabled' ? null : opts.dlp;
    const providers = opts.config.providers;
    this.upstreams = {
      anthropic: parseUpstream(providers.anthropic ?? 'https://api.anthropic.com', 'proxy.providers.anthropic'),
      openai: parseUpstream(providers.openai ?? 'https://api.openai.com', 'proxy.providers.openai'),
    };
    const agent = (u: Upstream) => {
      const o = { keepAlive: true, maxSockets: 256, maxFreeSockets: 32, noDelay: true, scheduling: 'lifo' as const };
      return u.protocol === 'https:' ? new https.Agent(o) : new http.Agent(o);
    };
    this.agents = { anthropic: agent(this.upstreams.anthropic), openai: agent(this.upstreams.openai) };
    this.keys = keyTable(opts.config.credentials, opts.env ?? process.env);
    const rl = opts.config.rate_limits;
    this.rate = new RateLimiter({ requestsPerMinute: rl?.requests_per_minute, tokensPerMinute: rl?.tokens_per_minute }, opts.now);

    const l = this.limits;
    this.server = http.createServer({
      maxHeaderSize: l.maxHeaderBytes,
      headersTimeout: l.headerTimeoutMs,
      requestTimeout: l.requestTimeoutMs,
      keepAliveTimeout: l.keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(l.headerTimeoutMs / 4))),
      requireHostHeader: false,
    });
    // A request waits on the model for minutes without a byte to the client: no socket idle
    // timeout here (the upstream's idle timeout and the request/keep-alive timeouts bound it).
    this.server.timeout = 0;
    (this.server as unknown as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    this.server.on('request', (req, res) => this.onRequest(req, res));
    this.server.on('clientError', (err, socket) => this.onClientError(err, socket));
    this.server.on('connect', (_req, socket) => answerRaw(socket, 501, 'CONNECT is not supported by the LLM proxy'));
    this.server.on('upgrade', (_req, socket) => answerRaw(socket, 501, 'protocol upgrades are not supported by the LLM proxy'));
    // Node starts its headersTimeout bookkeeping on 'listening' only; this server never listens.
    this.server.emit('listening');
  }

  /** Takes one connection from a sandbox (origin-form HTTP/1.1 requests). */
  handle(socket: Duplex, session: NetSession): void {
    if (this.closed || this.sockets.size >= this.limits.maxConnections) {
      socket.on('error', () => {});
      answerRaw(socket, 503, this.closed ? 'the LLM proxy is shutting down' : `more than ${this.limits.maxConnections} connections to the LLM proxy`);
      return;
    }
    this.sessions.set(socket, session);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const s = socket as Partial<Socket>;
    if (typeof s.setNoDelay === 'function') s.setNoDelay(true);
    this.server.emit('connection', socket);
    socket.resume();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.server.close();
    for (const r of this.inflight) r.destroy();
    for (const s of this.sockets) s.destroy();
    this.agents.anthropic.destroy();
    this.agents.openai.destroy();
  }

  /** @internal LlmRecord: tokens a finished request used. */
  countTokens(sessionId: string, tokens: number): void {
    this.rate.addTokens(sessionId, tokens);
  }

  /** @internal A provider's error message for the audit log, redacted like the rest of it. */
  scrub(text: string): string {
    return this.dlp ? this.dlp.redact(text).text : text;
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, message] =
      code === 'HPE_HEADER_OVERFLOW'
        ? [431, `request headers larger than ${this.limits.maxHeaderBytes} bytes`]
        : code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'request not complete in time']
          : [400, 'malformed HTTP request'];
    answerRaw(socket, status, message);
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const session = this.sessions.get(req.socket);
    if (!session) {
      res.destroy();
      return;
    }
    this.serve(session, req, res).catch(() => res.destroy());
  }

  /** Answers on the proxy's own behalf, in the provider's error format. */
  private refuse(rec: LlmRecord, res: http.ServerResponse, status: number, rule: string, code: string, message: string, extra: Record<string, string> = {}): void {
    rec.decision = 'deny';
    rec.rule = rule;
    rec.reason = message;
    rec.status = status;
    const body = errorBody(rec.provider, status, `agentsh: ${message}`, code);
    rec.responseBytes = body.length;
    rec.responseSha = sha256(body);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    try {
      res.writeHead(status, {
        'Content-Type': 'application/json',
        'Content-Length': String(body.length),
        'X-Agentsh-Rule': rule,
        // SDKs retry 5xx/408/429 on their own; a refusal that would repeat is not retried.
        'X-Should-Retry': status === 429 ? 'true' : 'false',
        ...extra,
      });
      res.end(body);
    } catch {
      res.destroy();
    }
  }

  private async serve(session: NetSession, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const r = route(req.method ?? '', path, req.headers);
    const rec = new LlmRecord(session, this, req, r.provider);
    res.once('close', () => {
      if (!res.writableFinished) rec.error ??= 'client went away';
      rec.emit();
    });
    try {
      await this.serveRequest(rec, r, req, res, url, path);
    } catch (err) {
      rec.error ??= `internal error: ${errText(err)}`;
      if (!res.headersSent) this.refuse(rec, res, 500, RULE_BAD_REQUEST, 'agentsh_internal_error', 'the LLM proxy failed on this request');
      else res.destroy();
    }
  }

  private async serveRequest(rec: LlmRecord, r: ReturnType<typeof route>, req: http.IncomingMessage, res: http.ServerResponse, url: string, path: string): Promise<void> {
    const method = req.method ?? '';
    const session = rec.session;
    if (!url.startsWith('/')) {
      this.refuse(rec, res, 400, RULE_BAD_REQUEST, 'agentsh_bad_request', 'the LLM proxy takes origin-form requests (set the SDK base URL to it, not a proxy)');
      return;
    }
    if ('error' in r) {
      this.refuse(rec, res, r.error.status, RULE_ENDPOINT, 'agentsh_unsupported_endpoint', r.error.message);
      return;
    }
    rec.endpoint = r.endpoint;

    // Key swap first: a request with a foreign key is refused before anything else.
    let headers = filterHeaders(req.rawHeaders, NOT_FORWARDED);
    if (this.keys[r.provider]) {
      const k = swapKey(r.provider, headers, this.keys);
      if (!k.ok) {
        this.refuse(rec, res, 401, RULE_KEY, 'agentsh_key_refused', k.message);
        return;
      }
      headers = k.headers;
      rec.keySwapped = true;
    }

    const admitted = this.rate.admit(session.sessionId);
    if (!admitted.ok) {
      rec.retryAfterS = admitted.retryAfterS;
      this.refuse(rec, res, 429, RULE_RATE_LIMIT, 'agentsh_rate_limited', admitted.message, { 'Retry-After': String(admitted.retryAfterS) });
      return;
    }

    const enc = (req.headers['content-encoding'] ?? 'identity').toString().trim().toLowerCase();
    if (enc !== 'identity' && enc !== '') {
      this.refuse(rec, res, 415, RULE_BAD_REQUEST, 'agentsh_bad_request', `a request body with content-encoding ${enc.slice(0, 40)} cannot be inspected; send it uncompressed`);
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.limits.maxRequestBytes) {
      this.refuse(rec, res, 413, RULE_BAD_REQUEST, 'agentsh_request_too_large', `request body larger than ${this.limits.maxRequestBytes} bytes`, { Connection: 'close' });
      return;
    }
    const got = await readBody(req, this.limits.maxRequestBytes);
    if (got.aborted) {
      rec.error = 'client went away while sending the request';
      res.destroy();
      return;
    }
    if (got.tooLarge || !got.body) {
      this.refuse(rec, res, 413, RULE_BAD_REQUEST, 'agentsh_request_too_large', `request body larger than ${this.limits.maxRequestBytes} bytes`, { Connection: 'close' });
      return;
    }
    let forwarded = got.body;

    if (r.body) {
      const prepared = this.prepareBody(rec, res, r, forwarded);
      if (!prepared) return;
      forwarded = prepared;
    } else if (forwarded.length > 0) {
      this.refuse(rec, res, 400, RULE_BAD_REQUEST, 'agentsh_bad_request', `${method} ${path} takes no request body`);
      return;
    }
    rec.requestBytes = forwarded.length;
    rec.requestSha = sha256(forwarded);
    this.forward(rec, r, req, res, headers, forwarded, url);
  }

  /** Parses the JSON body and applies DLP: the body to forward, or null when the request was refused. */
  private prepareBody(rec: LlmRecord, res: http.ServerResponse, r: Route, raw: Buffer): Buffer | null {
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      body = undefined;
    }
    if (!isObj(body)) {
      this.refuse(rec, res, 400, RULE_BAD_REQUEST, 'agentsh_bad_request', 'the request body is not a JSON object');
      return null;
    }
    if (typeof body.model === 'string') rec.model = body.model.slice(0, 200);
    rec.stream = body.stream === true;
    if (!this.dlp) return raw;
    let scan: DlpScan;
    try {
      scan = scanRequest(r.endpoint, body, this.dlp, this.dlpMode === 'redact');
    } catch (err) {
      if (!(err instanceof DlpDepthError)) throw err;
      this.refuse(rec, res, 400, RULE_BAD_REQUEST, 'agentsh_bad_request', err.message);
      return null;
    }
    rec.dlp = scan;
    if (scan.count > 0 && this.dlpMode === 'block') {
      const types = Object.keys(scan.types).sort().join(', ');
      this.refuse(rec, res, 403, RULE_DLP_BLOCK, 'agentsh_dlp_blocked', `request refused by DLP: it contains ${types} (${scan.count} finding${scan.count === 1 ? '' : 's'}); remove them and retry`);
      return null;
    }
    return scan.changed ? Buffer.from(JSON.stringify(body), 'utf8') : raw;
  }

  private forward(rec: LlmRecord, r: Route, req: http.IncomingMessage, res: http.ServerResponse, headers: [string, string][], body: Buffer, url: string): void {
    const up = this.upstreams[r.provider];
    const out: [string, string][] = [['Host', up.host], ...headers, ['Accept-Encoding', 'identity']];
    if (body.length > 0 || req.method === 'POST') out.push(['Content-Length', String(body.length)]);
    const mod = up.protocol === 'https:' ? https : http;
    let ureq: http.ClientRequest;
    try {
      ureq = mod.request({
        protocol: up.protocol,
        hostname: up.hostname,
        port: up.port,
        method: req.method,
        path: upstreamPath(up, url),
        headers: out.flat(),
        agent: this.agents[r.provider],
        ...(up.protocol === 'https:' && !/^[\d.]+$|:/.test(up.hostname) ? { servername: up.hostname } : {}),
      });
    } catch (err) {
      rec.error = errText(err);
      this.answerUpstreamFailure(rec, res, 502);
      return;
    }
    this.inflight.add(ureq);
    let connectTimer: NodeJS.Timeout | null = null;
    const clearConnect = () => {
      if (connectTimer) clearTimeout(connectTimer);
      connectTimer = null;
    };
    ureq.once('socket', (sock: Socket) => {
      if (sock.connecting) {
        connectTimer = setTimeout(() => ureq.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), this.limits.connectTimeoutMs);
        sock.once(up.protocol === 'https:' ? 'secureConnect' : 'connect', clearConnect);
      }
    });
    ureq.setTimeout(this.limits.idleTimeoutMs, () => ureq.destroy(Object.assign(new Error('upstream idle'), { code: 'ETIMEDOUT' })));
    ureq.once('close', () => {
      clearConnect();
      this.inflight.delete(ureq);
    });
    res.once('close', () => {
      if (!res.writableFinished) ureq.destroy();
    });
    ureq.on('error', (err: NodeJS.ErrnoException) => {
      rec.error ??= errText(err);
      if (!res.headersSent) this.answerUpstreamFailure(rec, res, err.code === 'ETIMEDOUT' ? 504 : 502);
      else res.destroy();
    });
    ureq.on('response', (ures) => this.relay(rec, r, res, ures));
    ureq.end(body);
  }

  private answerUpstreamFailure(rec: LlmRecord, res: http.ServerResponse, status: number): void {
    rec.status = status;
    const what = status === 504 ? 'timed out' : 'failed';
    const body = errorBody(rec.provider, status, `agentsh: upstream ${this.upstreams[rec.provider].host} ${what} (${rec.error ?? 'error'})`, 'agentsh_upstream_failed');
    rec.responseBytes = body.length;
    rec.responseSha = sha256(body);
    if (res.headersSent || res.destroyed) return void res.destroy();
    try {
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(body.length) });
      res.end(body);
    } catch {
      res.destroy();
    }
  }

  /** The provider's answer to the client as it arrives; usage read on the side. */
  private relay(rec: LlmRecord, r: Route, res: http.ServerResponse, ures: http.IncomingMessage): void {
    const status = ures.statusCode ?? 502;
    rec.status = status;
    const ct = String(ures.headers['content-type'] ?? '');
    const tracker = new UsageTracker(r.endpoint, ct, status);
    rec.tracker = tracker;
    rec.responseHash = createHash('sha256');
    const hash = rec.responseHash;
    if (ct.toLowerCase().startsWith('text/event-stream')) rec.stream = true;
    try {
      res.writeHead(status, ures.statusMessage, filterHeaders(ures.rawHeaders, HOP_BY_HOP).flat());
      // Headers go out now, not with the first body chunk (a stream may wait before its first event).
      res.flushHeaders();
    } catch (err) {
      rec.error = `bad upstream response: ${errText(err)}`;
      ures.destroy();
      res.destroy();
      return;
    }
    let trackerOk = true;
    ures.on('data', (c: Buffer) => {
      if (rec.ttfbMs === null) rec.ttfbMs = Math.round(performance.now() - rec.started);
      rec.responseBytes += c.length;
      hash.update(c);
      if (!res.write(c)) ures.pause();
      if (trackerOk) {
        try {
          tracker.push(c);
        } catch {
          trackerOk = false;
        }
      }
    });
    res.on('drain', () => ures.resume());
    ures.once('end', () => {
      if (trackerOk) {
        try {
          tracker.end();
        } catch {
          /* usage unknown */
        }
      }
      res.end();
    });
    ures.once('error', (err) => {
      rec.error ??= `upstream: ${errText(err)}`;
      res.destroy();
    });
    ures.once('close', () => {
      if (!ures.complete) {
        rec.error ??= 'upstream closed the response early';
        res.destroy();
      }
    });
  }
}

/** A plain answer on the raw connection (before or outside HTTP parsing), then close. */
function answerRaw(socket: Duplex, status: number, text: string): void {
  if (socket.destroyed) return;
  const body = Buffer.from(`agentsh: ${text}\n`, 'utf8');
  const head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
  endThenDestroy(socket, Buffer.concat([Buffer.from(head, 'latin1'), body]));
}
