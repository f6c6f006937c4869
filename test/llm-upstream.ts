// A stand-in for the Anthropic and OpenAI APIs on 127.0.0.1 (tests and the benchmark): it
// records every request and answers with canned JSON or SSE streams written in several chunks
// (cut at arbitrary bytes, mid-UTF-8 included) with delays. No real provider is ever
// contacted. What it does is chosen by the request's `model`:
//
//   …-error-400 / …-error-404 / …-error-500   an error in the provider's format ("upstream says: …")
//   …-hold      a stream that stops after its first text delta until release() (or 3 s)
//   …-endless   a stream that sends a delta every 20 ms until the client goes away (≤ 10 s)
//   anything else: a normal answer (stream when the request says stream: true)
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const TEXT_PARTS = ['Hello ', 'from the ', 'stand-in: ', 'ünïcödé ✓ ', '— done.'];
export const TEXT = TEXT_PARTS.join('');

export const ANTHROPIC_USAGE = { input_tokens: 21, output_tokens: 7, cache_creation_input_tokens: 2, cache_read_input_tokens: 3 };
export const CHAT_USAGE = { prompt_tokens: 11, completion_tokens: 5, total_tokens: 16, prompt_tokens_details: { cached_tokens: 4 } };
export const RESPONSES_USAGE = { input_tokens: 13, output_tokens: 4, total_tokens: 17, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } };

export interface Recorded {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown> | null;
  /** The client (the proxy) closed the connection before the answer was complete. */
  closedEarly: boolean;
  /** The bytes the stand-in sent as the response body. */
  sent: Buffer[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sse(events: [string | null, unknown][]): string {
  return events.map(([e, d]) => `${e ? `event: ${e}\n` : ''}data: ${typeof d === 'string' ? d : JSON.stringify(d)}\n\n`).join('');
}

export function anthropicMessage(model: string) {
  return { id: 'msg_01', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: TEXT }], stop_reason: 'end_turn', stop_sequence: null, usage: ANTHROPIC_USAGE };
}

/** The SSE of an Anthropic stream, split after the first text delta (for the hold). */
export function anthropicStream(model: string): [string, string] {
  const head = sse([
    ['message_start', { type: 'message_start', message: { id: 'msg_01', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...ANTHROPIC_USAGE, output_tokens: 1 } } }],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['ping', { type: 'ping' }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: TEXT_PARTS[0] } }],
  ]);
  const tail = sse([
    ...TEXT_PARTS.slice(1).map((t): [string, unknown] => ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: t } }]),
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: ANTHROPIC_USAGE.output_tokens } }],
    ['message_stop', { type: 'message_stop' }],
  ]);
  return [head, tail];
}

export function chatCompletion(model: string) {
  return {
    id: 'chatcmpl-1', object: 'chat.completion', created: 1_700_000_000, model,
    choices: [{ index: 0, message: { role: 'assistant', content: TEXT, refusal: null }, finish_reason: 'stop', logprobs: null }],
    usage: CHAT_USAGE,
  };
}

export function chatStream(model: string, includeUsage: boolean): [string, string] {
  const chunk = (delta: Record<string, unknown>, finish: string | null) => ({
    id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1_700_000_000, model,
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const head = sse([[null, chunk({ role: 'assistant', content: '' }, null)], [null, chunk({ content: TEXT_PARTS[0] }, null)]]);
  const tail = sse([
    ...TEXT_PARTS.slice(1).map((t): [null, unknown] => [null, chunk({ content: t }, null)]),
    [null, chunk({}, 'stop')],
    ...(includeUsage ? [[null, { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1_700_000_000, model, choices: [], usage: CHAT_USAGE }] as [null, unknown]] : []),
    [null, '[DONE]'],
  ]);
  return [head, tail];
}

export function responseObject(model: string, status = 'completed') {
  return {
    id: 'resp_1', object: 'response', created_at: 1_700_000_000, status, model, error: null, incomplete_details: null,
    instructions: null, metadata: {}, parallel_tool_calls: true, temperature: 1, tool_choice: 'auto', tools: [], top_p: 1,
    output: status === 'completed' ? [{ type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: TEXT, annotations: [] }] }] : [],
    usage: status === 'completed' ? RESPONSES_USAGE : null,
  };
}

export function responsesStream(model: string): [string, string] {
  let seq = 0;
  const ev = (type: string, rest: Record<string, unknown>): [string, unknown] => [type, { type, sequence_number: seq++, ...rest }];
  const delta = (t: string) => ev('response.output_text.delta', { item_id: 'msg_1', output_index: 0, content_index: 0, delta: t });
  const head = sse([ev('response.created', { response: responseObject(model, 'in_progress') }), delta(TEXT_PARTS[0]!)]);
  const tail = sse([
    ...TEXT_PARTS.slice(1).map(delta),
    ev('response.output_text.done', { item_id: 'msg_1', output_index: 0, content_index: 0, text: TEXT }),
    ev('response.completed', { response: responseObject(model) }),
  ]);
  return [head, tail];
}

function errorFor(anthropic: boolean, status: number): Record<string, unknown> {
  const message = `upstream says: error ${status} for this request`;
  if (anthropic) {
    const type = status === 400 ? 'invalid_request_error' : status === 404 ? 'not_found_error' : 'api_error';
    return { type: 'error', error: { type, message } };
  }
  return { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code: status === 404 ? 'model_not_found' : null } };
}

export interface StandInOptions {
  /** Bytes per chunk of a stream (default 37, which cuts UTF-8 characters). */
  chunkBytes?: number;
  /** Delay between stream chunks (default 3 ms). */
  chunkDelayMs?: number;
}

export class StandIn {
  readonly requests: Recorded[] = [];
  /** How the last hold ended: 'released' by the test, or 'timeout'. */
  holdEnded: 'released' | 'timeout' | null = null;
  private server: http.Server;
  private releaseHold: (() => void) | null = null;
  port = 0;
  chunkBytes: number;
  chunkDelayMs: number;

  constructor(opts: StandInOptions = {}) {
    this.chunkBytes = opts.chunkBytes ?? 37;
    this.chunkDelayMs = opts.chunkDelayMs ?? 3;
    this.server = http.createServer((req, res) => this.serve(req, res));
    this.server.keepAliveTimeout = 30_000;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get last(): Recorded {
    const r = this.requests[this.requests.length - 1];
    if (!r) throw new Error('the stand-in got no request');
    return r;
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    this.releaseHold?.();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Lets a held stream go on. */
  release(): void {
    this.releaseHold?.();
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.socket.setNoDelay(true);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let json: Record<string, unknown> | null = null;
      try {
        json = body ? (JSON.parse(body) as Record<string, unknown>) : null;
      } catch {
        json = null;
      }
      const rec: Recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, json, closedEarly: false, sent: [] };
      this.requests.push(rec);
      res.once('close', () => {
        if (!res.writableFinished) rec.closedEarly = true;
      });
      this.answer(req, res, rec).catch(() => res.destroy());
    });
  }

  private send(res: http.ServerResponse, rec: Recorded, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const b = Buffer.from(JSON.stringify(body), 'utf8');
    rec.sent.push(b);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(b.length), 'request-id': 'req_standin', 'x-request-id': 'req_standin', ...headers });
    res.end(b);
  }

  private async stream(res: http.ServerResponse, rec: Recorded, [head, tail]: [string, string], hold: boolean): Promise<void> {
    // The gate exists before the first byte goes out: the client may release it as soon as
    // it has the first event, even before the last chunk's delay here is over.
    const released = hold
      ? new Promise<'released'>((r) => {
          this.releaseHold = () => r('released');
        })
      : null;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': 'req_standin', 'x-request-id': 'req_standin' });
    await this.chunked(res, rec, Buffer.from(head, 'utf8'));
    if (released) {
      this.holdEnded = await Promise.race([released, sleep(3000).then(() => 'timeout' as const)]);
      this.releaseHold = null;
    }
    await this.chunked(res, rec, Buffer.from(tail, 'utf8'));
    if (!res.destroyed) res.end();
  }

  private async chunked(res: http.ServerResponse, rec: Recorded, data: Buffer): Promise<void> {
    for (let i = 0; i < data.length && !res.destroyed; i += this.chunkBytes) {
      const c = data.subarray(i, i + this.chunkBytes);
      rec.sent.push(c);
      res.write(c);
      if (this.chunkDelayMs > 0) await sleep(this.chunkDelayMs);
    }
  }

  private async answer(req: http.IncomingMessage, res: http.ServerResponse, rec: Recorded): Promise<void> {
    const path = (req.url ?? '').split('?')[0]!;
    const anthropic = path.startsWith('/v1/messages') || (path.startsWith('/v1/models') && req.headers['anthropic-version'] !== undefined);
    const j = rec.json ?? {};
    const model = typeof j.model === 'string' ? j.model : 'unknown';
    const err = /-error-(\d{3})$/.exec(model);
    if (err) {
      const status = Number(err[1]);
      this.send(res, rec, status, errorFor(anthropic, status), status === 500 ? { 'x-should-retry': 'false' } : {});
      return;
    }
    const stream = j.stream === true;
    const hold = model.endsWith('-hold');
    if (model.endsWith('-endless')) {
      await this.endless(res, rec, path);
      return;
    }
    if (req.method === 'GET' && path.startsWith('/v1/models')) {
      this.send(res, rec, 200, anthropic
        ? { data: [{ type: 'model', id: 'claude-test', display_name: 'Claude Test', created_at: '2025-01-01T00:00:00Z' }], has_more: false, first_id: 'claude-test', last_id: 'claude-test' }
        : { object: 'list', data: [{ id: 'gpt-test', object: 'model', created: 1_700_000_000, owned_by: 'stand-in' }] });
      return;
    }
    switch (path) {
      case '/v1/messages':
        if (stream) await this.stream(res, rec, anthropicStream(model), hold);
        else this.send(res, rec, 200, anthropicMessage(model));
        return;
      case '/v1/messages/count_tokens':
        this.send(res, rec, 200, { input_tokens: 42 });
        return;
      case '/v1/chat/completions': {
        const so = j.stream_options as { include_usage?: boolean } | undefined;
        if (stream) await this.stream(res, rec, chatStream(model, so?.include_usage === true), hold);
        else this.send(res, rec, 200, chatCompletion(model));
        return;
      }
      case '/v1/responses':
        if (stream) await this.stream(res, rec, responsesStream(model), hold);
        else this.send(res, rec, 200, responseObject(model));
        return;
      case '/v1/embeddings':
        this.send(res, rec, 200, { object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }], model, usage: { prompt_tokens: 3, total_tokens: 3 } });
        return;
      default:
        this.send(res, rec, 404, errorFor(anthropic, 404));
    }
  }

  private async endless(res: http.ServerResponse, rec: Recorded, path: string): Promise<void> {
    const [head] = path === '/v1/messages' ? anthropicStream('endless') : path === '/v1/responses' ? responsesStream('endless') : chatStream('endless', false);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    await this.chunked(res, rec, Buffer.from(head, 'utf8'));
    const delta =
      path === '/v1/messages'
        ? sse([['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'more ' } }]])
        : sse([[null, { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'endless', choices: [{ index: 0, delta: { content: 'more ' }, finish_reason: null }] }]]);
    const end = Date.now() + 10_000;
    while (!res.destroyed && Date.now() < end) {
      const b = Buffer.from(delta, 'utf8');
      rec.sent.push(b);
      res.write(b);
      await sleep(20);
    }
    if (!res.destroyed) res.end();
  }
}
