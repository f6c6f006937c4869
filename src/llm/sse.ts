// Token usage from what a provider answers, read while the bytes pass through (the response
// itself is never held back or changed):
//
//   streams (text/event-stream): an incremental SSE parser (WHATWG rules: \n, \r\n or \r line
//     ends, `event:`/`data:` fields, comments, multi-line data) hands each complete event to
//     the extractor of the API, which JSON-parses only the events that carry usage:
//       Anthropic   message_start (message.usage: input and cache tokens, message.model) and
//                   message_delta (usage.output_tokens, cumulative; newer API versions repeat
//                   the input counts there too); an `error` event's message.
//       OpenAI chat the chunk whose `usage` is an object (sent last when the request asked for
//                   stream_options.include_usage; otherwise a stream has no usage: null).
//       Responses   response.completed / response.incomplete / response.failed (response.usage).
//   JSON answers: the body (kept up to a cap while it passes) is parsed at the end: `usage` of
//     a message, chat completion, response or embedding; an error body's message.
//
// Bounded: an SSE event or a JSON body larger than MAX_KEPT_BYTES is not kept (its usage is
// then unknown); the bytes still pass through.
import { StringDecoder } from 'node:string_decoder';
import type { Endpoint } from './providers.js';

export const MAX_KEPT_BYTES = 16 * 1024 * 1024;

export interface Usage {
  input_tokens: number | null;
  output_tokens: number | null;
  cache_creation_input_tokens: number | null;
  cache_read_input_tokens: number | null;
  /** Everything the request consumed (Anthropic: input + cache + output; OpenAI: total_tokens). */
  total_tokens: number | null;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null);

/** Incremental SSE parser: push decoded text, get events. */
export class SseParser {
  private readonly decoder = new StringDecoder('utf8');
  /** Pieces of the current, unfinished line. */
  private partial: string[] = [];
  private partialLen = 0;
  private skipLf = false;
  private event = '';
  private data: string[] = [];
  private dataLen = 0;
  private overflow = false;

  constructor(
    private readonly onEvent: (event: string, data: string) => void,
    private readonly maxEventBytes = MAX_KEPT_BYTES,
  ) {}

  push(chunk: Buffer): void {
    this.text(this.decoder.write(chunk));
  }

  end(): void {
    this.text(this.decoder.end());
    // A stream that ends without the blank line still had its last event (the spec drops it;
    // usage is worth more than pedantry here).
    if (this.partialLen) this.line(this.takePartial(''));
    if (this.data.length) this.dispatch();
  }

  private text(t: string): void {
    const n = t.length;
    if (n === 0) return;
    let start = 0;
    if (this.skipLf) {
      this.skipLf = false;
      if (t.charCodeAt(0) === 10) start = 1;
    }
    let cr = t.indexOf('\r', start);
    let lf = t.indexOf('\n', start);
    while (start < n) {
      if (cr !== -1 && cr < start) cr = t.indexOf('\r', start);
      if (lf !== -1 && lf < start) lf = t.indexOf('\n', start);
      let end: number;
      let after: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        if (cr + 1 < n) after = t.charCodeAt(cr + 1) === 10 ? cr + 2 : cr + 1;
        else {
          after = n;
          this.skipLf = true; // a \r\n may be cut between two chunks
        }
      } else if (lf !== -1) {
        end = lf;
        after = lf + 1;
      } else {
        // No line end: keep the piece (bounded) until one arrives.
        if (this.overflow || this.partialLen + (n - start) > this.maxEventBytes) {
          this.overflow = true;
          this.partial = [];
          this.partialLen = 0;
        } else {
          this.partial.push(t.slice(start));
          this.partialLen += n - start;
        }
        return;
      }
      this.line(this.partialLen ? this.takePartial(t.slice(start, end)) : t.slice(start, end));
      start = after;
    }
  }

  private takePartial(tail: string): string {
    this.partial.push(tail);
    const s = this.partial.join('');
    this.partial = [];
    this.partialLen = 0;
    return s;
  }

  private line(line: string): void {
    if (line.length === 0) {
      this.dispatch();
      return;
    }
    const c = line.charCodeAt(0);
    if (c === 58 /* : */) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') {
      if (this.overflow) return;
      this.dataLen += value.length + 1;
      if (this.dataLen > this.maxEventBytes) {
        this.overflow = true;
        this.data = [];
        return;
      }
      this.data.push(value);
    } else if (field === 'event') this.event = value;
  }

  private dispatch(): void {
    const event = this.event || 'message';
    const data = this.data;
    const overflow = this.overflow;
    this.event = '';
    this.data = [];
    this.dataLen = 0;
    this.overflow = false;
    if (overflow || data.length === 0) return;
    this.onEvent(event, data.length === 1 ? data[0]! : data.join('\n'));
  }
}

function parse(data: string): Obj | null {
  try {
    const v: unknown = JSON.parse(data);
    return isObj(v) ? v : null;
  } catch {
    return null;
  }
}

const USAGE_OBJ_RE = /"usage"\s*:\s*\{/;
const TYPE_RE = /"type"\s*:\s*"(response\.(?:completed|incomplete|failed)|error)"/;

/** What a response told about itself: usage, the model that answered, an error message. */
export class UsageTracker {
  input: number | null = null;
  output: number | null = null;
  cacheCreation: number | null = null;
  cacheRead: number | null = null;
  total: number | null = null;
  /** The model named by the response. */
  model: string | null = null;
  /** An error the provider reported (an error body, an error event in a stream). */
  error: string | null = null;
  /** Events seen in a stream. */
  events = 0;

  private sse: SseParser | null = null;
  private json: Buffer[] | null = null;
  private jsonLen = 0;

  constructor(
    private readonly endpoint: Endpoint,
    contentType: string,
    private readonly status: number,
  ) {
    const ct = contentType.toLowerCase();
    if (ct.startsWith('text/event-stream')) this.sse = new SseParser((e, d) => this.onEvent(e, d));
    else if (ct.includes('json')) this.json = [];
  }

  push(chunk: Buffer): void {
    if (this.sse) this.sse.push(chunk);
    else if (this.json) {
      this.jsonLen += chunk.length;
      if (this.jsonLen > MAX_KEPT_BYTES) this.json = null;
      else this.json.push(chunk);
    }
  }

  /** The response is complete (not called for a response cut short). */
  end(): void {
    if (this.sse) this.sse.end();
    else if (this.json) {
      const body = parse(Buffer.concat(this.json, this.jsonLen).toString('utf8'));
      this.json = null;
      if (body) this.fromBody(body);
    }
  }

  usage(): Usage | null {
    if (this.input === null && this.output === null && this.total === null) return null;
    let total = this.total;
    if (total === null && (this.input !== null || this.output !== null)) {
      total = (this.input ?? 0) + (this.output ?? 0) + (this.cacheCreation ?? 0) + (this.cacheRead ?? 0);
    }
    return { input_tokens: this.input, output_tokens: this.output, cache_creation_input_tokens: this.cacheCreation, cache_read_input_tokens: this.cacheRead, total_tokens: total };
  }

  private setModel(v: unknown): void {
    if (typeof v === 'string' && v) this.model = v.slice(0, 200);
  }

  private setError(e: unknown): void {
    if (isObj(e) && typeof e.message === 'string') this.error = e.message.slice(0, 500);
    else if (typeof e === 'string') this.error = e.slice(0, 500);
  }

  /** Anthropic usage (input_tokens excludes cached input). */
  private anthropicUsage(u: unknown): void {
    if (!isObj(u)) return;
    this.input = num(u.input_tokens) ?? this.input;
    this.output = num(u.output_tokens) ?? this.output;
    this.cacheCreation = num(u.cache_creation_input_tokens) ?? this.cacheCreation;
    this.cacheRead = num(u.cache_read_input_tokens) ?? this.cacheRead;
  }

  /** OpenAI usage: chat/completions/embeddings (prompt/completion) or responses (input/output). */
  private openaiUsage(u: unknown): void {
    if (!isObj(u)) return;
    this.input = num(u.prompt_tokens) ?? num(u.input_tokens) ?? this.input;
    this.output = num(u.completion_tokens) ?? num(u.output_tokens) ?? this.output;
    this.total = num(u.total_tokens) ?? this.total;
    const details = isObj(u.prompt_tokens_details) ? u.prompt_tokens_details : isObj(u.input_tokens_details) ? u.input_tokens_details : null;
    if (details) this.cacheRead = num(details.cached_tokens) ?? this.cacheRead;
  }

  private fromBody(b: Obj): void {
    if (this.status >= 400 || isObj(b.error)) {
      this.setError(b.error);
      return;
    }
    if (this.endpoint === 'anthropic.messages') {
      this.setModel(b.model);
      this.anthropicUsage(b.usage);
    } else if (this.endpoint === 'openai.chat' || this.endpoint === 'openai.completions' || this.endpoint === 'openai.embeddings' || this.endpoint === 'openai.responses') {
      this.setModel(b.model);
      this.openaiUsage(b.usage);
      // Responses: a response that failed says so in its body.
      if (this.endpoint === 'openai.responses' && isObj(b.error)) this.setError(b.error);
    }
  }

  private onEvent(event: string, data: string): void {
    this.events++;
    switch (this.endpoint) {
      case 'anthropic.messages': {
        if (event === 'message_start') {
          const d = parse(data);
          if (d && isObj(d.message)) {
            this.setModel(d.message.model);
            this.anthropicUsage(d.message.usage);
          }
        } else if (event === 'message_delta') {
          const d = parse(data);
          if (d) this.anthropicUsage(d.usage);
        } else if (event === 'error') {
          const d = parse(data);
          if (d) this.setError(d.error);
        }
        return;
      }
      case 'openai.chat':
      case 'openai.completions': {
        if (data.length < 2 || data === '[DONE]') return;
        if (!USAGE_OBJ_RE.test(data) && !data.startsWith('{"error"')) return;
        const d = parse(data);
        if (!d) return;
        if (isObj(d.error)) this.setError(d.error);
        if (isObj(d.usage)) {
          this.setModel(d.model);
          this.openaiUsage(d.usage);
        }
        return;
      }
      case 'openai.responses': {
        let type = event;
        if (type === 'message') {
          const m = TYPE_RE.exec(data.slice(0, 200));
          if (!m) return;
          type = m[1]!;
        }
        if (type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed') {
          const d = parse(data);
          if (d && isObj(d.response)) {
            this.setModel(d.response.model);
            this.openaiUsage(d.response.usage);
            if (type === 'response.failed') this.setError(d.response.error);
          }
        } else if (type === 'error') {
          const d = parse(data);
          if (d) this.setError(isObj(d.error) ? d.error : d);
        }
        return;
      }
      default:
        return;
    }
  }
}
