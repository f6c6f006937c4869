// Which provider and which API a sandbox's request is for, where it goes upstream, and how the
// proxy's own answers look in each provider's error format.
//
// Routing is by path (origin-form, the query string is kept but not used to route):
//
//   POST /v1/messages, /v1/messages/count_tokens                → anthropic (DLP)
//   POST /v1/chat/completions, /v1/responses, /v1/embeddings,
//        /v1/completions                                        → openai (DLP)
//   GET  /v1/responses/{id}, /v1/responses/{id}/input_items      → openai (no body)
//   GET  /v1/models, /v1/models/{id}                             → anthropic when the request
//        carries `anthropic-version` (every Anthropic SDK sends it), else openai (no body)
//
// Anything else is refused with 404 in the provider's error format: the proxy forwards only
// endpoints whose request bodies it knows, so that no body reaches a provider without DLP
// (message batches, files and uploads, fine-tuning, audio, images, realtime … are refused).
// Headers do not decide the provider otherwise: Anthropic SDKs send the key as `x-api-key`
// or as `Authorization: Bearer` depending on their version, so neither is a reliable tell.

export type Provider = 'anthropic' | 'openai';

/** The API a request speaks: decides the DLP walk and the usage extraction. */
export type Endpoint =
  | 'anthropic.messages'
  | 'anthropic.count_tokens'
  | 'anthropic.models'
  | 'openai.chat'
  | 'openai.responses'
  | 'openai.responses.get'
  | 'openai.embeddings'
  | 'openai.completions'
  | 'openai.models';

export interface Route {
  provider: Provider;
  endpoint: Endpoint;
  /** The request carries a JSON body that DLP walks (POST endpoints). */
  body: boolean;
}

export type RouteResult = Route | { provider: Provider; error: { status: number; message: string } };

const POST_ROUTES: Record<string, Route> = {
  '/v1/messages': { provider: 'anthropic', endpoint: 'anthropic.messages', body: true },
  '/v1/messages/count_tokens': { provider: 'anthropic', endpoint: 'anthropic.count_tokens', body: true },
  '/v1/chat/completions': { provider: 'openai', endpoint: 'openai.chat', body: true },
  '/v1/responses': { provider: 'openai', endpoint: 'openai.responses', body: true },
  '/v1/embeddings': { provider: 'openai', endpoint: 'openai.embeddings', body: true },
  '/v1/completions': { provider: 'openai', endpoint: 'openai.completions', body: true },
};

const MODELS_RE = /^\/v1\/models(?:\/[A-Za-z0-9._:@-]{1,200})?$/;
const RESPONSE_GET_RE = /^\/v1\/responses\/[A-Za-z0-9_-]{1,200}(?:\/input_items)?$/;

/** The provider a request's errors are formatted for when its route is unknown. */
function guessProvider(path: string, headers: Record<string, string | string[] | undefined>): Provider {
  if (headers['anthropic-version'] !== undefined || headers['x-api-key'] !== undefined) return 'anthropic';
  return path.startsWith('/v1/messages') || path.startsWith('/v1/complete') ? 'anthropic' : 'openai';
}

/** Route one request: method, origin-form path (query removed) and lower-cased headers. */
export function route(method: string, path: string, headers: Record<string, string | string[] | undefined>): RouteResult {
  const post = POST_ROUTES[path];
  if (post) {
    return method === 'POST' ? post : { provider: post.provider, error: { status: 405, message: `${method} ${path} is not supported (POST only)` } };
  }
  if (MODELS_RE.test(path)) {
    const provider: Provider = headers['anthropic-version'] !== undefined ? 'anthropic' : 'openai';
    if (method !== 'GET') return { provider, error: { status: 405, message: `${method} ${path} is not supported (GET only)` } };
    return { provider, endpoint: provider === 'anthropic' ? 'anthropic.models' : 'openai.models', body: false };
  }
  if (RESPONSE_GET_RE.test(path)) {
    if (method !== 'GET') return { provider: 'openai', error: { status: 405, message: `${method} ${path} is not supported through agentsh's LLM proxy (GET only)` } };
    return { provider: 'openai', endpoint: 'openai.responses.get', body: false };
  }
  return {
    provider: guessProvider(path, headers),
    error: { status: 404, message: `${method} ${path.slice(0, 200)} is not an endpoint agentsh's LLM proxy forwards (see docs/llm-proxy.md)` },
  };
}

// ── upstream URLs ─────────────────────────────────────────────────────────────────────────

export interface Upstream {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number;
  /** The `Host` header sent upstream. */
  host: string;
  /** Path prefix of the provider URL, without a trailing slash ('' for none). */
  prefix: string;
}

/** Parses a provider URL from the config (http or https, no credentials, no query). */
export function parseUpstream(url: string, what: string): Upstream {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`${what}: ${JSON.stringify(url)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`${what}: ${JSON.stringify(url)} must be http:// or https://`);
  if (u.username || u.password) throw new Error(`${what}: credentials in the URL are not supported (use proxy.credentials)`);
  if (u.search || u.hash) throw new Error(`${what}: a query or fragment is not supported`);
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return {
    protocol: u.protocol,
    hostname,
    port: u.port ? Number(u.port) : u.protocol === 'https:' ? 443 : 80,
    host: u.host,
    prefix: u.pathname.replace(/\/+$/, ''),
  };
}

/**
 * The upstream path for a request path (with its query). A provider URL that already ends in
 * `/v1` (a common way to write the OpenAI base URL) does not get a second one.
 */
export function upstreamPath(up: Upstream, pathWithQuery: string): string {
  if (up.prefix.endsWith('/v1') && pathWithQuery.startsWith('/v1/')) return up.prefix + pathWithQuery.slice(3);
  return up.prefix + pathWithQuery;
}

// ── the proxy's own answers ───────────────────────────────────────────────────────────────

const ANTHROPIC_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  408: 'timeout_error',
  413: 'request_too_large',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  500: 'api_error',
  502: 'api_error',
  503: 'overloaded_error',
  504: 'timeout_error',
};

const OPENAI_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_request_error',
  403: 'invalid_request_error',
  404: 'invalid_request_error',
  405: 'invalid_request_error',
  408: 'timeout_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_exceeded',
  500: 'server_error',
  502: 'server_error',
  503: 'server_error',
  504: 'server_error',
};

/**
 * An error body in the provider's format, so SDKs raise their usual API error with the
 * message: Anthropic `{"type":"error","error":{"type","message"}}`, OpenAI
 * `{"error":{"message","type","param","code"}}`. `code` is agentsh's reason (e.g.
 * `agentsh_dlp_blocked`).
 */
export function errorBody(provider: Provider, status: number, message: string, code: string): Buffer {
  const body =
    provider === 'anthropic'
      ? { type: 'error', error: { type: ANTHROPIC_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'), message } }
      : { error: { message, type: OPENAI_TYPES[status] ?? (status >= 500 ? 'server_error' : 'invalid_request_error'), param: null, code } };
  return Buffer.from(JSON.stringify(body), 'utf8');
}
