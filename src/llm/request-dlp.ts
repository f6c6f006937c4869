// DLP on what a sandbox sends to a model: the string content where the agent's data lives in
// each API's request body, and nothing else (model, ids, parameters, tool definitions, images
// and other binary parts, and model-signed content — Anthropic thinking blocks, Responses
// reasoning items — are never touched: changing them would break the request, not protect
// anything).
//
//   Anthropic messages / count_tokens: `system` (string or text blocks); `messages[].content`
//     (string or blocks): text, tool_result content (string or blocks, recursively),
//     tool_use input (every string value inside), document blocks with text sources
//     (`source.data`, `source.content`, `context`), search_result content.
//   OpenAI chat: `messages[].content` (string or text parts), `tool_calls[].function.arguments`
//     and the legacy `function_call.arguments` (JSON strings: parsed, their string values
//     redacted, re-serialised; scanned as plain text when not JSON).
//   OpenAI responses: `instructions`; `input` (string or items): message content (string or
//     parts with `text`), function_call arguments, custom_tool_call input, the `output` of every
//     `*_output` item (string or parts); `prompt.variables` strings.
//   OpenAI embeddings: `input` (string or strings). Legacy completions: `prompt`, `suffix`.
//
// apply=true (mode redact) replaces each finding with `[REDACTED:DISPLAY]` in place;
// apply=false (modes audit and block) only counts. Findings are counted by display label.
import type { Redactor } from '../dlp/index.js';
import type { Endpoint } from './providers.js';

export type DlpMode = 'redact' | 'block' | 'audit' | 'disabled';

export interface DlpScan {
  /** Findings (replacements in mode redact). */
  count: number;
  /** Findings per display label (e.g. AWS_KEY, EMAIL). */
  types: Record<string, number>;
  /** Some value of the body was replaced (apply only). */
  changed: boolean;
}

/** Nesting deeper than this in a tool input is refused rather than walked. */
export const MAX_DEPTH = 64;

export class DlpDepthError extends Error {
  constructor() {
    super(`request body nested deeper than ${MAX_DEPTH} levels inside a tool input cannot be inspected`);
  }
}

type Json = unknown;
type Obj = Record<string, Json>;
const isObj = (v: Json): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

class Scan implements DlpScan {
  count = 0;
  types: Record<string, number> = {};
  changed = false;

  constructor(
    private readonly red: Redactor,
    private readonly apply: boolean,
  ) {}

  /** The string as it goes on (redacted when applying). */
  text(s: string): string {
    if (s.length === 0) return s;
    const r = this.red.redact(s);
    if (r.findings.length === 0) return s;
    this.count += r.findings.length;
    for (const f of r.findings) this.types[f.display] = (this.types[f.display] ?? 0) + 1;
    if (!this.apply) return s;
    this.changed = true;
    return r.text;
  }

  /** obj[key] when it is a string. */
  field(o: Obj, key: string): void {
    const v = o[key];
    if (typeof v === 'string') {
      const t = this.text(v);
      if (t !== v) o[key] = t;
    }
  }

  /** Every string value inside (keys untouched). */
  deep(o: Obj | Json[], depth: number): void {
    if (depth > MAX_DEPTH) throw new DlpDepthError();
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) {
        const v = o[i];
        if (typeof v === 'string') {
          const t = this.text(v);
          if (t !== v) o[i] = t;
        } else if (typeof v === 'object' && v !== null) this.deep(v as Obj | Json[], depth + 1);
      }
      return;
    }
    for (const k of Object.keys(o)) {
      const v = o[k];
      if (typeof v === 'string') {
        const t = this.text(v);
        if (t !== v) o[k] = t;
      } else if (typeof v === 'object' && v !== null) this.deep(v as Obj | Json[], depth + 1);
    }
  }

  /** A string holding JSON (tool call arguments): its string values, or the text itself. */
  jsonString(o: Obj, key: string): void {
    const v = o[key];
    if (typeof v !== 'string') return;
    const trimmed = v.trimStart();
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
      let parsed: Json;
      try {
        parsed = JSON.parse(v);
      } catch {
        parsed = undefined;
      }
      if (typeof parsed === 'object' && parsed !== null) {
        const before = this.changed;
        this.changed = false;
        this.deep(parsed as Obj | Json[], 0);
        if (this.changed) o[key] = JSON.stringify(parsed);
        this.changed ||= before;
        return;
      }
    }
    this.field(o, key);
  }

  /** A value that is a string or a list of strings (embeddings input, completions prompt). */
  stringOrStrings(o: Obj, key: string): void {
    const v = o[key];
    if (typeof v === 'string') this.field(o, key);
    else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const s = v[i];
        if (typeof s === 'string') {
          const t = this.text(s);
          if (t !== s) v[i] = t;
        }
      }
    }
  }

  // ── Anthropic ──

  anthropicContent(o: Obj, key: string, depth: number): void {
    const v = o[key];
    if (typeof v === 'string') this.field(o, key);
    else if (Array.isArray(v)) this.anthropicBlocks(v, depth);
  }

  anthropicBlocks(blocks: Json[], depth: number): void {
    if (depth > MAX_DEPTH) throw new DlpDepthError();
    for (const b of blocks) {
      if (!isObj(b)) continue;
      switch (b.type) {
        case 'text':
          this.field(b, 'text');
          break;
        case 'tool_result':
          this.anthropicContent(b, 'content', depth + 1);
          break;
        case 'tool_use':
          if (isObj(b.input) || Array.isArray(b.input)) this.deep(b.input as Obj, 0);
          break;
        case 'document': {
          const src = b.source;
          if (isObj(src)) {
            if (src.type === 'text') this.field(src, 'data');
            else if (src.type === 'content') this.anthropicContent(src, 'content', depth + 1);
          }
          this.field(b, 'context');
          break;
        }
        case 'search_result':
          this.anthropicContent(b, 'content', depth + 1);
          break;
        default:
          break; // images, thinking (signed), server tool results …
      }
    }
  }

  anthropic(body: Obj): void {
    this.anthropicContent(body, 'system', 0);
    if (Array.isArray(body.messages)) for (const m of body.messages) if (isObj(m)) this.anthropicContent(m, 'content', 0);
  }

  // ── OpenAI ──

  /** Content as a string, or parts whose `text` is scanned (text, input_text, output_text …). */
  openaiContent(o: Obj, key: string): void {
    const v = o[key];
    if (typeof v === 'string') this.field(o, key);
    else if (Array.isArray(v)) {
      for (const p of v) if (isObj(p) && typeof p.text === 'string') this.field(p, 'text');
    }
  }

  openaiChat(body: Obj): void {
    if (!Array.isArray(body.messages)) return;
    for (const m of body.messages) {
      if (!isObj(m)) continue;
      this.openaiContent(m, 'content');
      if (Array.isArray(m.tool_calls)) {
        for (const c of m.tool_calls) if (isObj(c) && isObj(c.function)) this.jsonString(c.function, 'arguments');
      }
      if (isObj(m.function_call)) this.jsonString(m.function_call, 'arguments');
    }
  }

  openaiResponses(body: Obj): void {
    this.field(body, 'instructions');
    if (typeof body.input === 'string') this.field(body, 'input');
    else if (Array.isArray(body.input)) {
      for (const it of body.input) {
        if (!isObj(it)) continue;
        const type = typeof it.type === 'string' ? it.type : 'message';
        if (type === 'reasoning') continue; // model-produced, encrypted/signed
        if ('content' in it) this.openaiContent(it, 'content');
        if (type === 'function_call') this.jsonString(it, 'arguments');
        else if (type === 'custom_tool_call') this.field(it, 'input');
        else if (type.endsWith('_output')) this.openaiContent(it, 'output');
      }
    }
    const prompt = body.prompt;
    if (isObj(prompt) && isObj(prompt.variables)) {
      const vars = prompt.variables;
      for (const k of Object.keys(vars)) {
        const v = vars[k];
        if (typeof v === 'string') this.field(vars, k);
        else if (isObj(v)) this.field(v, 'text');
      }
    }
  }
}

/** Scans (and with apply, redacts in place) a parsed request body of the given API. */
export function scanRequest(endpoint: Endpoint, body: Json, red: Redactor, apply: boolean): DlpScan {
  const s = new Scan(red, apply);
  if (!isObj(body)) return s;
  switch (endpoint) {
    case 'anthropic.messages':
    case 'anthropic.count_tokens':
      s.anthropic(body);
      break;
    case 'openai.chat':
      s.openaiChat(body);
      break;
    case 'openai.responses':
      s.openaiResponses(body);
      break;
    case 'openai.embeddings':
      s.stringOrStrings(body, 'input');
      break;
    case 'openai.completions':
      s.stringOrStrings(body, 'prompt');
      s.field(body, 'suffix');
      break;
    default:
      break;
  }
  return s;
}

/**
 * The DLP mode the LLM proxy applies, from `dlp.mode`: redact | block | audit | disabled;
 * anything else (a mode added later) is treated as redact.
 */
export function dlpModeOf(dlp: { mode?: string } | undefined): DlpMode {
  const m = dlp?.mode ?? 'redact';
  return m === 'block' || m === 'audit' || m === 'disabled' ? m : 'redact';
}
