// The web console: the built front-end (dist/console, from console/ by `vite build`) served
// under /console/, and the console's own login. The page asks for the API token once;
// POST /console/login trades it for a random session id in an HttpOnly, SameSite=Strict
// cookie, so the token never sits in the page's JavaScript or storage. The API then
// accepts that cookie as well as the bearer token (consoleAuth, called from api.ts), and
// for anything but GET/HEAD also wants `X-Agentsh-Console: 1`: a cross-site form or
// image cannot set a custom header, so a page elsewhere cannot act with the cookie
// (SameSite=Strict already keeps it off cross-site requests; this is the second lock).
//
// Console sessions live in memory only (a restarted server has a new token: log in again),
// keyed by the SHA-256 of their id, at most MAX_SESSIONS, each for SESSION_TTL_MS.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CONSOLE_COOKIE = 'agentsh_console';
export const CONSOLE_HEADER = 'x-agentsh-console';
export const SESSION_TTL_MS = 12 * 3600_000;
const MAX_SESSIONS = 256;
const MAX_LOGIN_BODY = 4096;

/** What the console needs from the API's state: the token (set once the server is ready). */
export interface ConsoleState {
  ready: boolean;
  token: string;
}

export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CSP,
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** dist/console beside the compiled server (dist/src/server/console.js → dist/console/). */
export function defaultConsoleDir(): string {
  return process.env.AGENTSH_CONSOLE_DIR || fileURLToPath(new URL('../../console/', import.meta.url));
}

interface ConsoleSession {
  expires: number;
}

class SessionStore {
  private readonly byHash = new Map<string, ConsoleSession>();

  create(now = Date.now()): string {
    this.sweep(now);
    while (this.byHash.size >= MAX_SESSIONS) this.byHash.delete(this.byHash.keys().next().value as string); // the oldest
    const id = randomBytes(32).toString('hex');
    this.byHash.set(hash(id), { expires: now + SESSION_TTL_MS });
    return id;
  }

  valid(id: string, now = Date.now()): boolean {
    const s = this.byHash.get(hash(id));
    if (!s) return false;
    if (s.expires <= now) {
      this.byHash.delete(hash(id));
      return false;
    }
    return true;
  }

  drop(id: string): void {
    this.byHash.delete(hash(id));
  }

  private sweep(now: number): void {
    for (const [k, s] of this.byHash) if (s.expires <= now) this.byHash.delete(k);
  }
}

const hash = (id: string) => createHash('sha256').update(id).digest('hex');

// One store per server (its ApiState): two servers in one process never share sessions.
const stores = new WeakMap<ConsoleState, SessionStore>();
function store(state: ConsoleState): SessionStore {
  let s = stores.get(state);
  if (!s) stores.set(state, (s = new SessionStore()));
  return s;
}

function cookieId(req: IncomingMessage): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== CONSOLE_COOKIE) continue;
    const v = part.slice(eq + 1).trim();
    if (/^[0-9a-f]{64}$/.test(v)) return v;
  }
  return null;
}

export type ConsoleAuth = 'ok' | 'forbidden' | 'none';

/**
 * How a request to /api/v1/* stands with console-cookie auth (api.ts calls this when there
 * is no valid bearer token): 'none' — no valid console session (401); 'forbidden' — a valid
 * session, but a request that changes something without `X-Agentsh-Console: 1`, or from
 * another origin (403); 'ok'. Only /api/v1/ is open to the console (not the toolbox).
 */
export function consoleAuth(req: IncomingMessage, state: ConsoleState): ConsoleAuth {
  const path = (req.url ?? '/').split('?', 1)[0]!;
  if (!path.startsWith('/api/v1/')) return 'none';
  const id = cookieId(req);
  if (!id || !state.ready || !store(state).valid(id)) return 'none';
  const method = req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') return 'ok';
  if (req.headers[CONSOLE_HEADER] !== '1') return 'forbidden';
  if (!sameOrigin(req)) return 'forbidden';
  return 'ok';
}

/** The boolean form: a valid console session that may make this request. */
export function consoleAuthorised(req: IncomingMessage, state: ConsoleState): boolean {
  return consoleAuth(req, state) === 'ok';
}

// Browsers send Origin on every non-GET fetch; when it is there it must be this server.
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

function tokenMatches(given: string, token: string): boolean {
  if (!token) return false;
  // Compare digests: equal lengths, so timingSafeEqual leaks neither content nor length.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

export interface ConsoleOptions {
  /** Where the built console is (default: dist/console). */
  dir?: string;
}

/**
 * Serves /console, /console/, /console/assets/*, POST /console/login and /console/logout.
 * Returns false for every other path (the caller goes on with its own routes).
 */
export async function serveConsole(req: IncomingMessage, res: ServerResponse, state: ConsoleState, opts: ConsoleOptions = {}): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://agentsh');
  const path = url.pathname;
  if (path !== '/console' && !path.startsWith('/console/')) return false;
  const method = req.method ?? 'GET';
  const dir = opts.dir ?? defaultConsoleDir();

  if (path === '/console') {
    res.writeHead(308, { location: '/console/', ...SECURITY_HEADERS });
    res.end();
    return true;
  }
  if (path === '/console/login' || path === '/console/logout') {
    if (method !== 'POST') return plain(res, 405, 'use POST', { allow: 'POST' });
    return path === '/console/login' ? login(req, res, state) : logout(req, res, state);
  }
  if (method !== 'GET' && method !== 'HEAD') return plain(res, 405, 'method not allowed', { allow: 'GET, HEAD' });
  if (path === '/console/' || path === '/console/index.html') return file(req, res, join(dir, 'index.html'), 'no-cache');
  const asset = /^\/console\/assets\/([A-Za-z0-9_-][A-Za-z0-9._-]*)$/.exec(path);
  if (asset && !asset[1]!.includes('..')) return file(req, res, join(dir, 'assets', asset[1]!), 'public, max-age=31536000, immutable');
  // Anything else under /console/ is the single page (a reload on a deep link).
  if (!extname(path)) return file(req, res, join(dir, 'index.html'), 'no-cache');
  return plain(res, 404, 'not found');
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): true {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS, ...headers });
  res.end(`${text}\n`);
  return true;
}

// Built assets never change while the server runs (a rebuild gives new hashed names), but
// index.html may: read each request (it is small), assets once.
const assetCache = new Map<string, { body: Buffer; etag: string }>();

async function file(req: IncomingMessage, res: ServerResponse, p: string, cacheControl: string): Promise<true> {
  const immutable = cacheControl.includes('immutable');
  let entry = immutable ? assetCache.get(p) : undefined;
  if (!entry) {
    let body: Buffer;
    try {
      body = await readFile(p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (p.endsWith('index.html') && code === 'ENOENT') return plain(res, 503, `the web console is not built (${p} is missing): run npm run build`);
      if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return plain(res, 404, 'not found');
      throw err;
    }
    entry = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
    if (immutable) {
      if (assetCache.size > 256) assetCache.clear();
      assetCache.set(p, entry);
    }
  }
  const headers = { 'content-type': TYPES[extname(p)] ?? 'application/octet-stream', 'cache-control': cacheControl, etag: entry.etag, ...SECURITY_HEADERS };
  if (req.headers['if-none-match'] === entry.etag) {
    res.writeHead(304, headers);
    res.end();
    return true;
  }
  res.writeHead(200, { ...headers, 'content-length': entry.body.length });
  res.end(entry.body);
  return true;
}

async function readSmallBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_LOGIN_BODY) return null;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const cookie = (value: string, maxAgeS: number) => `${CONSOLE_COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeS}`;

function jsonReply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): true {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...SECURITY_HEADERS, ...headers });
  res.end(text);
  return true;
}

async function login(req: IncomingMessage, res: ServerResponse, state: ConsoleState): Promise<true> {
  if (!sameOrigin(req)) return jsonReply(res, 403, { error: { code: 'E_FORBIDDEN', message: 'login from another origin' } });
  const text = await readSmallBody(req);
  if (text === null) return jsonReply(res, 413, { error: { code: 'E_BAD_REQUEST', message: `login body larger than ${MAX_LOGIN_BODY} bytes` } });
  let given: unknown;
  try {
    given = (JSON.parse(text) as { token?: unknown }).token;
  } catch {
    given = undefined;
  }
  if (typeof given !== 'string') return jsonReply(res, 400, { error: { code: 'E_BAD_REQUEST', message: "expected a JSON body {\"token\": \"…\"}" } });
  if (!state.ready) return jsonReply(res, 503, { error: { code: 'E_NOT_READY', message: 'the server is not ready yet' } });
  if (!tokenMatches(given.trim(), state.token)) return jsonReply(res, 401, { error: { code: 'E_UNAUTHORIZED', message: 'wrong API token' } });
  const id = store(state).create();
  return jsonReply(res, 200, { ok: true, expires_in: SESSION_TTL_MS / 1000 }, { 'set-cookie': cookie(id, SESSION_TTL_MS / 1000) });
}

async function logout(req: IncomingMessage, res: ServerResponse, state: ConsoleState): Promise<true> {
  req.resume();
  const id = cookieId(req);
  if (id) store(state).drop(id);
  return jsonReply(res, 200, { ok: true }, { 'set-cookie': cookie('', 0) });
}
