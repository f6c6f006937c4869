// The LLM proxy (src/llm) with the real @anthropic-ai/sdk and openai clients pointed at it and
// a stand-in for both providers on 127.0.0.1 (test/llm-upstream.ts). No request ever leaves
// the machine: every provider URL in these tests is the stand-in's loopback address.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { sessionReport } from '../src/audit/report.js';
import type { AuditEvent } from '../src/audit/event.js';
import { fromConfig, type Redactor } from '../src/dlp/index.js';
import {
  LlmProxy, PLACEHOLDER_KEYS, RateLimiter, SseParser, dlpModeOf, llmDlpFromConfig, llmEnv, llmProxyEnabled, llmSecretEnvNames, route, scanRequest,
  type DlpMode, type LlmProxyConfig, type LlmProxyLimits,
} from '../src/llm/index.js';
import type { PolicyEngine } from '../src/policy/engine.js';
import { ANTHROPIC_USAGE, CHAT_USAGE, RESPONSES_USAGE, StandIn, TEXT, TEXT_PARTS } from './llm-upstream.js';
import { fakeNetSession, waitFor, type NetAuditEvent } from './net-session.js';

// Secrets built at test time (not documented examples): an AWS access key id and an e-mail.
const AWS_KEY = ['AKIA', 'Q3T7', 'WZ2L', 'MX5K', 'R9PD'].join('');
const EMAIL = ['olivia.marsh', 'northwind-mail.net'].join('@');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');


let REDACTOR: Redactor;
// The detectors' display labels (src/dlp owns them; read, not assumed).
let AWS = '';
let MAIL = '';
const RA = () => `[REDACTED:${AWS}]`;
const RE = () => `[REDACTED:${MAIL}]`;

interface ProxyOpts {
  dlpMode?: DlpMode;
  credentials?: LlmProxyConfig['credentials'];
  rate_limits?: LlmProxyConfig['rate_limits'];
  env?: NodeJS.ProcessEnv;
  limits?: Partial<LlmProxyLimits>;
  now?: () => number;
  sessionId?: string;
}

async function startProxy(standIn: StandIn, o: ProxyOpts = {}) {
  const { session, events } = fakeNetSession({} as PolicyEngine, o.sessionId ?? 'sess-llm');
  const config: LlmProxyConfig = {
    mode: 'embedded',
    port: 0,
    providers: { anthropic: standIn.url, openai: standIn.url },
    ...(o.credentials ? { credentials: o.credentials } : {}),
    ...(o.rate_limits ? { rate_limits: o.rate_limits } : {}),
  };
  const dlpMode = o.dlpMode ?? 'redact';
  const proxy = new LlmProxy({ config, dlp: dlpMode === 'disabled' ? null : REDACTOR, dlpMode, env: o.env ?? {}, limits: o.limits, now: o.now });
  const server = net.createServer({ allowHalfOpen: true }, (s) => proxy.handle(s, session));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  return {
    proxy,
    base,
    events,
    llm: () => events.filter((e) => e.type === 'llm_request'),
    /** The next llm_request event after `n` of them. */
    event: (n: number) => waitFor(() => events.filter((e) => e.type === 'llm_request')[n], 3000, `llm_request #${n}`),
    anthropic: (apiKey = 'sk-ant-test-key') => new Anthropic({ apiKey, baseURL: base, maxRetries: 0, timeout: 10_000 }),
    openai: (apiKey = 'sk-openai-test-key') => new OpenAI({ apiKey, baseURL: `${base}/v1`, maxRetries: 0, timeout: 10_000 }),
    close: async () => {
      await proxy.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
type Harness = Awaited<ReturnType<typeof startProxy>>;

before(() => {
  REDACTOR = fromConfig({})!;
  // The secrets used below are what the configured detectors find.
  const aws = REDACTOR.redact(`key ${AWS_KEY} here`).findings;
  const mail = REDACTOR.redact(`mail ${EMAIL} here`).findings;
  assert.equal(aws.length, 1);
  assert.equal(mail.length, 1);
  AWS = aws[0]!.display;
  MAIL = mail[0]!.display;
});

describe('LLM proxy: real SDKs through the proxy to a stand-in provider', () => {
  let up: StandIn;
  let h: Harness;
  before(async () => {
    up = await new StandIn().start();
    h = await startProxy(up);
  });
  after(async () => {
    await h.close();
    await up.close();
  });

  it('Anthropic messages.create: the answer arrives intact, usage and hashes are recorded', async () => {
    const n = h.llm().length;
    const msg = await h.anthropic().messages.create({ model: 'claude-test', max_tokens: 64, messages: [{ role: 'user', content: 'Say hello' }] });
    assert.equal(msg.content[0]?.type === 'text' ? msg.content[0].text : null, TEXT);
    assert.equal(msg.usage.input_tokens, ANTHROPIC_USAGE.input_tokens);
    const rec = up.last;
    assert.equal(rec.url, '/v1/messages');
    assert.equal(rec.headers['accept-encoding'], 'identity');
    assert.equal((rec.json?.messages as { content: string }[])[0]?.content, 'Say hello');
    const ev = await h.event(n);
    assert.equal(ev.decision, 'allow');
    assert.equal(ev.rule, 'llm-proxy');
    const f = ev.fields;
    assert.equal(f.provider, 'anthropic');
    assert.equal(f.model, 'claude-test');
    assert.equal(f.endpoint, '/v1/messages');
    assert.equal(f.stream, false);
    assert.equal(f.status, 200);
    assert.equal(f.input_tokens, 21);
    assert.equal(f.output_tokens, 7);
    assert.equal(f.cache_read_input_tokens, 3);
    assert.equal(f.cache_creation_input_tokens, 2);
    assert.equal(f.total_tokens, 21 + 7 + 3 + 2);
    assert.equal(f.request_bytes, Buffer.byteLength(rec.body));
    assert.equal(f.request_sha256, sha256(rec.body));
    const sent = Buffer.concat(rec.sent);
    assert.equal(f.response_bytes, sent.length);
    assert.equal(f.response_sha256, sha256(sent));
    assert.equal(f.redactions, 0);
    assert.equal(typeof f.latency_ms, 'number');
    assert.equal(typeof f.ttfb_ms, 'number');
  });

  it('Anthropic streaming (messages.stream): events pass through, usage from message_start + message_delta', async () => {
    const n = h.llm().length;
    const stream = h.anthropic().messages.stream({ model: 'claude-test', max_tokens: 64, messages: [{ role: 'user', content: 'Stream please' }] });
    const deltas: string[] = [];
    stream.on('text', (t) => deltas.push(t));
    const final = await stream.finalMessage();
    assert.deepEqual(deltas, TEXT_PARTS);
    assert.equal(final.content[0]?.type === 'text' ? final.content[0].text : null, TEXT);
    const ev = await h.event(n);
    assert.equal(ev.fields.stream, true);
    assert.equal(ev.fields.input_tokens, 21);
    assert.equal(ev.fields.output_tokens, 7);
    const sent = Buffer.concat(up.last.sent);
    assert.ok(up.last.sent.length > 5, 'the stand-in wrote the stream in several chunks');
    assert.equal(ev.fields.response_bytes, sent.length);
    assert.equal(ev.fields.response_sha256, sha256(sent));
  });

  it('OpenAI chat.completions plain and streaming (stream_options.include_usage)', async () => {
    const n = h.llm().length;
    const c = await h.openai().chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(c.choices[0]?.message.content, TEXT);
    assert.equal(up.last.url, '/v1/chat/completions');
    let ev = await h.event(n);
    assert.equal(ev.fields.provider, 'openai');
    assert.equal(ev.fields.input_tokens, CHAT_USAGE.prompt_tokens);
    assert.equal(ev.fields.output_tokens, CHAT_USAGE.completion_tokens);
    assert.equal(ev.fields.total_tokens, CHAT_USAGE.total_tokens);
    assert.equal(ev.fields.cache_read_input_tokens, 4);

    const s = await h.openai().chat.completions.create({ model: 'gpt-test', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    const parts: string[] = [];
    let usage: unknown = null;
    for await (const chunk of s) {
      if (chunk.choices[0]?.delta.content) parts.push(chunk.choices[0].delta.content);
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(parts.join(''), TEXT);
    assert.deepEqual(usage, CHAT_USAGE);
    ev = await h.event(n + 1);
    assert.equal(ev.fields.stream, true);
    assert.equal(ev.fields.input_tokens, 11);
    assert.equal(ev.fields.output_tokens, 5);

    // Without include_usage the stream has no usage: recorded as null, the request is not changed.
    const s2 = await h.openai().chat.completions.create({ model: 'gpt-test', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    const parts2: string[] = [];
    for await (const chunk of s2) if (chunk.choices[0]?.delta.content) parts2.push(chunk.choices[0].delta.content);
    assert.equal(parts2.join(''), TEXT);
    assert.equal(up.last.json?.stream_options, undefined);
    ev = await h.event(n + 2);
    assert.equal(ev.fields.input_tokens, null);
    assert.equal(ev.fields.output_tokens, null);
  });

  it('OpenAI responses.create plain and streaming (usage from response.completed)', async () => {
    const n = h.llm().length;
    const r = await h.openai().responses.create({ model: 'gpt-test', input: 'hello', instructions: 'be brief' });
    assert.equal(r.output_text, TEXT);
    assert.equal(up.last.url, '/v1/responses');
    let ev = await h.event(n);
    assert.equal(ev.fields.input_tokens, RESPONSES_USAGE.input_tokens);
    assert.equal(ev.fields.output_tokens, RESPONSES_USAGE.output_tokens);
    assert.equal(ev.fields.total_tokens, RESPONSES_USAGE.total_tokens);

    const s = await h.openai().responses.create({ model: 'gpt-test', input: 'hello', stream: true });
    const parts: string[] = [];
    let completed = false;
    for await (const e of s) {
      if (e.type === 'response.output_text.delta') parts.push(e.delta);
      if (e.type === 'response.completed') completed = true;
    }
    assert.equal(parts.join(''), TEXT);
    assert.ok(completed);
    ev = await h.event(n + 1);
    assert.equal(ev.fields.stream, true);
    assert.equal(ev.fields.input_tokens, 13);
    assert.equal(ev.fields.output_tokens, 4);
  });

  it('models: GET /v1/models goes to Anthropic with anthropic-version, else to OpenAI', async () => {
    const n = h.llm().length;
    const am = await h.anthropic().models.list();
    assert.equal(am.data[0]?.id, 'claude-test');
    assert.equal((await h.event(n)).fields.provider, 'anthropic');
    const om = await h.openai().models.list();
    assert.equal(om.data[0]?.id, 'gpt-test');
    assert.equal((await h.event(n + 1)).fields.provider, 'openai');
  });

  it('streamed chunks reach the client before the upstream finishes (no buffering)', async () => {
    const n = h.llm().length;
    const stream = await h.anthropic().messages.create({ model: 'claude-hold', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hold' }] });
    const got: string[] = [];
    let firstAt = 0;
    for await (const ev of stream) {
      if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') {
        got.push(ev.delta.text);
        if (got.length === 1) {
          // The stand-in is holding the rest of the stream until this release.
          firstAt = Date.now();
          assert.equal(up.holdEnded, null, 'the first delta arrived while the upstream still held the stream');
          up.release();
        }
      }
    }
    assert.ok(firstAt > 0);
    assert.equal(up.holdEnded, 'released', 'the client, not the stand-in\'s timeout, released the stream');
    assert.equal(got.join(''), TEXT);
    const ev = await h.event(n);
    assert.equal(ev.fields.output_tokens, 7);
    assert.ok((ev.fields.ttfb_ms as number) < (ev.fields.latency_ms as number));

    // The same for OpenAI chat.
    const s = await h.openai().chat.completions.create({ model: 'gpt-hold', stream: true, messages: [{ role: 'user', content: 'hold' }] });
    up.holdEnded = null;
    let first = true;
    for await (const chunk of s) {
      if (chunk.choices[0]?.delta.content && first) {
        first = false;
        assert.equal(up.holdEnded, null);
        up.release();
      }
    }
    assert.equal(up.holdEnded, 'released');
  });

  it('upstream 4xx/5xx errors pass through to the SDKs as API errors with the provider\'s message', async () => {
    const n = h.llm().length;
    await assert.rejects(
      h.anthropic().messages.create({ model: 'claude-error-400', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => {
        assert.ok(err instanceof Anthropic.BadRequestError, String(err));
        assert.equal(err.status, 400);
        assert.match(err.message, /upstream says: error 400/);
        assert.equal((err.error as { error: { type: string } }).error.type, 'invalid_request_error');
        return true;
      },
    );
    let ev = await h.event(n);
    assert.equal(ev.decision, 'allow');
    assert.equal(ev.fields.status, 400);
    assert.equal(ev.fields.upstream_error, 'upstream says: error 400 for this request');
    await assert.rejects(
      h.anthropic().messages.create({ model: 'claude-error-500', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => err instanceof Anthropic.InternalServerError && err.status === 500 && /upstream says/.test(err.message),
    );
    await assert.rejects(
      h.openai().chat.completions.create({ model: 'gpt-error-404', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => err instanceof OpenAI.NotFoundError && err.code === 'model_not_found' && /upstream says: error 404/.test(err.message),
    );
    await assert.rejects(
      h.openai().responses.create({ model: 'gpt-error-500', input: 'x' }),
      (err: unknown) => err instanceof OpenAI.InternalServerError && err.status === 500,
    );
    ev = await h.event(n + 3);
    assert.equal(ev.fields.status, 500);
  });

  it('a client that goes away mid-stream: the upstream request is closed, the event records the partial response', async () => {
    const n = h.llm().length;
    const before = up.requests.length;
    const stream = await h.anthropic().messages.create({ model: 'claude-endless', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'go on' }] });
    let seen = 0;
    for await (const ev of stream) {
      if (ev.type === 'content_block_delta') seen++;
      if (seen === 3) break; // the SDK aborts the fetch
    }
    const rec = await waitFor(() => up.requests[before]?.closedEarly && up.requests[before], 3000, 'the upstream request to be closed');
    assert.ok(rec.closedEarly);
    const ev = await h.event(n);
    assert.equal(ev.fields.error, 'client went away');
    assert.equal(ev.fields.status, 200);
    assert.equal(ev.fields.input_tokens, 21, 'usage seen before the abort is kept');
    const bytes = ev.fields.response_bytes as number;
    assert.ok(bytes > 0 && bytes <= Buffer.concat(rec.sent).length);
    // The proxy still serves.
    const msg = await h.anthropic().messages.create({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'still there?' }] });
    assert.equal(msg.content[0]?.type === 'text' ? msg.content[0].text : null, TEXT);

    // The same with the OpenAI SDK and an AbortController.
    const ac = new AbortController();
    const s = await h.openai().chat.completions.create({ model: 'gpt-endless', stream: true, messages: [{ role: 'user', content: 'go' }] }, { signal: ac.signal });
    const count = h.llm().length;
    try {
      let k = 0;
      for await (const _ of s) if (++k === 3) ac.abort();
    } catch {
      /* the SDK may end the iteration or throw an abort error */
    }
    const ev2 = await waitFor(() => h.llm().slice(count).find((e) => e.fields.model === 'gpt-endless'), 3000, 'the aborted chat event');
    assert.equal(ev2.fields.error, 'client went away');
  });

  it('unknown endpoints are refused in the provider\'s error format; bodies that are not JSON are refused', async () => {
    const n = h.llm().length;
    const before = up.requests.length;
    let r = await fetch(`${h.base}/v1/files`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer x' }, body: '{}' });
    assert.equal(r.status, 404);
    const j = (await r.json()) as { error: { message: string; type: string } };
    assert.match(j.error.message, /not an endpoint agentsh's LLM proxy forwards/);
    assert.equal(j.error.type, 'invalid_request_error');
    r = await fetch(`${h.base}/v1/messages/batches`, { method: 'POST', headers: { 'anthropic-version': '2023-06-01' }, body: '{}' });
    assert.equal(r.status, 404);
    assert.equal(((await r.json()) as { type: string }).type, 'error');
    r = await fetch(`${h.base}/v1/messages`, { method: 'POST', headers: { 'anthropic-version': '2023-06-01' }, body: 'not json' });
    assert.equal(r.status, 400);
    await r.arrayBuffer();
    r = await fetch(`${h.base}/v1/messages`, { method: 'GET', headers: { 'anthropic-version': '2023-06-01' } });
    assert.equal(r.status, 405);
    await r.arrayBuffer();
    assert.equal(up.requests.length, before, 'nothing reached the upstream');
    const ev = await h.event(n);
    assert.equal(ev.decision, 'deny');
    assert.equal(ev.rule, 'llm-endpoint');
  });
});

describe('LLM proxy: DLP on requests', () => {
  let up: StandIn;
  before(async () => {
    up = await new StandIn().start();
  });
  after(() => up.close());

  const secretPrompt = `deploy with ${AWS_KEY} and mail ${EMAIL} when done`;

  it('mode redact: secrets in prompts, system, tool_use input and tool_result are redacted before the upstream sees them', async () => {
    const h = await startProxy(up, { dlpMode: 'redact' });
    try {
      const msg = await h.anthropic().messages.create({
        model: 'claude-test',
        max_tokens: 64,
        system: [{ type: 'text', text: `operator: ${EMAIL}` }],
        messages: [
          { role: 'user', content: secretPrompt },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'bash', input: { command: `aws configure set key ${AWS_KEY}` } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: `found key ${AWS_KEY} in env` }] }] },
        ],
      });
      assert.equal(msg.content[0]?.type === 'text' ? msg.content[0].text : null, TEXT);
      const body = up.last.body;
      assert.ok(!body.includes(AWS_KEY), 'the AWS key never reached the upstream');
      assert.ok(!body.includes(EMAIL), 'the e-mail never reached the upstream');
      const j = up.last.json as { system: { text: string }[]; messages: { content: unknown }[]; model: string; max_tokens: number };
      assert.equal(j.messages[0]!.content, `deploy with ${RA()} and mail ${RE()} when done`);
      assert.equal(j.system[0]!.text, `operator: ${RE()}`);
      assert.deepEqual(j.messages[1]!.content, [{ type: 'tool_use', id: 'toolu_1', name: 'bash', input: { command: `aws configure set key ${RA()}` } }]);
      assert.deepEqual(j.messages[2]!.content, [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: `found key ${RA()} in env` }] }]);
      assert.equal(j.model, 'claude-test');
      assert.equal(j.max_tokens, 64);
      const ev = await h.event(0);
      assert.equal(ev.fields.redactions, 5);
      assert.deepEqual(ev.fields.redaction_types, { [AWS]: 3, [MAIL]: 2 });
      assert.equal(ev.fields.dlp_mode, 'redact');
      assert.equal(ev.fields.request_sha256, sha256(body), 'the hash is of the body as forwarded');
      assert.ok(!JSON.stringify(ev).includes(AWS_KEY), 'the audit event holds no secret');

      // OpenAI: chat content parts, tool call arguments (JSON kept valid), Responses items.
      await h.openai().chat.completions.create({
        model: 'gpt-test',
        messages: [
          { role: 'user', content: [{ type: 'text', text: secretPrompt }] },
          { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'send', arguments: JSON.stringify({ to: EMAIL, n: 1 }) } }] },
          { role: 'tool', tool_call_id: 'call_1', content: `sent to ${EMAIL}` },
        ],
      });
      const cj = up.last.json as { messages: { content: unknown; tool_calls?: { function: { arguments: string } }[] }[] };
      assert.ok(!up.last.body.includes(EMAIL) && !up.last.body.includes(AWS_KEY));
      assert.deepEqual(JSON.parse(cj.messages[1]!.tool_calls![0]!.function.arguments), { to: RE(), n: 1 });
      assert.equal(cj.messages[2]!.content, `sent to ${RE()}`);

      await h.openai().responses.create({
        model: 'gpt-test',
        instructions: `reply to ${EMAIL}`,
        input: [
          { role: 'user', content: [{ type: 'input_text', text: secretPrompt }] },
          { type: 'function_call', call_id: 'c1', name: 'env', arguments: JSON.stringify({ key: AWS_KEY }) },
          { type: 'function_call_output', call_id: 'c1', output: `found key ${AWS_KEY} in env` },
        ],
      });
      assert.ok(!up.last.body.includes(EMAIL) && !up.last.body.includes(AWS_KEY));
      const ev3 = await h.event(2);
      assert.deepEqual(ev3.fields.redaction_types, { [AWS]: 3, [MAIL]: 2 });
    } finally {
      await h.close();
    }
  });

  it('a request without findings is forwarded byte for byte', async () => {
    const h = await startProxy(up, { dlpMode: 'redact' });
    try {
      const raw = '{ "model": "claude-test",\n  "max_tokens": 8, "messages": [{"role":"user","content":"plain words"}] }';
      const r = await fetch(`${h.base}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'k' }, body: raw });
      assert.equal(r.status, 200);
      await r.json();
      assert.equal(up.last.body, raw);
      assert.equal(up.last.headers['x-api-key'], 'k');
    } finally {
      await h.close();
    }
  });

  it('mode audit: forwarded unchanged, findings counted', async () => {
    const h = await startProxy(up, { dlpMode: 'audit' });
    try {
      await h.anthropic().messages.create({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: secretPrompt }] });
      assert.ok(up.last.body.includes(AWS_KEY) && up.last.body.includes(EMAIL));
      const ev = await h.event(0);
      assert.equal(ev.decision, 'allow');
      assert.equal(ev.fields.dlp_mode, 'audit');
      assert.equal(ev.fields.redactions, 2);
      assert.deepEqual(ev.fields.redaction_types, { [AWS]: 1, [MAIL]: 1 });
    } finally {
      await h.close();
    }
  });

  it('mode block: the request is refused in the provider\'s format, naming the finding types, never the values', async () => {
    const h = await startProxy(up, { dlpMode: 'block' });
    try {
      const before = up.requests.length;
      await assert.rejects(
        h.anthropic().messages.create({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: secretPrompt }] }),
        (err: unknown) => {
          assert.ok(err instanceof Anthropic.PermissionDeniedError, String(err));
          assert.ok(err.message.includes(`refused by DLP: it contains ${[AWS, MAIL].sort().join(', ')}`), err.message);
          assert.ok(!err.message.includes(AWS_KEY));
          return true;
        },
      );
      await assert.rejects(
        h.openai().chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: secretPrompt }] }),
        (err: unknown) => err instanceof OpenAI.PermissionDeniedError && err.code === 'agentsh_dlp_blocked' && err.message.includes(AWS),
      );
      assert.equal(up.requests.length, before, 'nothing reached the upstream');
      const ev = await h.event(0);
      assert.equal(ev.decision, 'deny');
      assert.equal(ev.rule, 'llm-dlp-block');
      assert.equal(ev.fields.status, 403);
      assert.deepEqual(ev.fields.redaction_types, { [AWS]: 1, [MAIL]: 1 });
      // Clean requests still pass.
      const msg = await h.anthropic().messages.create({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'nothing secret' }] });
      assert.equal(msg.content.length, 1);
    } finally {
      await h.close();
    }
  });

  it('mode disabled: no DLP at all', async () => {
    const h = await startProxy(up, { dlpMode: 'disabled' });
    try {
      await h.anthropic().messages.create({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: secretPrompt }] });
      assert.ok(up.last.body.includes(AWS_KEY));
      const ev = await h.event(0);
      assert.equal(ev.fields.redactions, 0);
      assert.equal(ev.fields.dlp_mode, 'disabled');
    } finally {
      await h.close();
    }
  });
});

describe('LLM proxy: key swap, rate limits, limits', () => {
  let up: StandIn;
  before(async () => {
    up = await new StandIn().start();
  });
  after(() => up.close());

  it('key swap: the sandbox has a placeholder, the upstream gets the real key, other keys are refused', async () => {
    const REAL_A = 'sk-ant-real-' + 'k'.repeat(8) + Date.now();
    const REAL_O = 'sk-real-openai-' + Date.now();
    const credentials = { anthropic: { api_key_env: 'T_ANTHROPIC_KEY' }, openai: { api_key_env: 'T_OPENAI_KEY' } };
    const h = await startProxy(up, { credentials, env: { T_ANTHROPIC_KEY: REAL_A, T_OPENAI_KEY: REAL_O } });
    try {
      const env = llmEnv('http://127.0.0.1:8082', { credentials });
      assert.deepEqual(env, {
        ANTHROPIC_BASE_URL: 'http://127.0.0.1:8082',
        OPENAI_BASE_URL: 'http://127.0.0.1:8082/v1',
        ANTHROPIC_API_KEY: PLACEHOLDER_KEYS.anthropic,
        OPENAI_API_KEY: PLACEHOLDER_KEYS.openai,
      });
      assert.ok(!JSON.stringify(env).includes(REAL_A));
      assert.deepEqual(llmSecretEnvNames({ credentials }), ['T_ANTHROPIC_KEY', 'T_OPENAI_KEY']);
      assert.deepEqual(llmEnv('http://127.0.0.1:8082/', {}), { ANTHROPIC_BASE_URL: 'http://127.0.0.1:8082', OPENAI_BASE_URL: 'http://127.0.0.1:8082/v1' });
      assert.ok(llmProxyEnabled({ mode: 'embedded' }) && !llmProxyEnabled({ mode: 'disabled' }) && !llmProxyEnabled({ mode: 'mcp-only' }));

      // The SDK as the sandbox would build it from its env.
      await h.anthropic(env.ANTHROPIC_API_KEY).messages.create({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
      const auth = [up.last.headers['x-api-key'], up.last.headers.authorization].filter(Boolean).join(' ');
      assert.ok(auth.includes(REAL_A), `the upstream got the real key (${auth.replace(REAL_A, '<real>')})`);
      assert.ok(!auth.includes(PLACEHOLDER_KEYS.anthropic));
      assert.equal((await h.event(0)).fields.key_swapped, true);
      // The x-api-key form too.
      const r = await fetch(`${h.base}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': PLACEHOLDER_KEYS.anthropic },
        body: JSON.stringify({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
      });
      assert.equal(r.status, 200);
      await r.json();
      assert.equal(up.last.headers['x-api-key'], REAL_A);
      await h.openai(env.OPENAI_API_KEY).chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(up.last.headers.authorization, `Bearer ${REAL_O}`);

      // A key the agent found elsewhere is refused; so is none.
      const before = up.requests.length;
      await assert.rejects(
        h.anthropic('sk-ant-stolen-key').messages.create({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
        (err: unknown) => err instanceof Anthropic.AuthenticationError && /placeholder key/.test(err.message) && !err.message.includes('stolen'),
      );
      await assert.rejects(
        h.openai('sk-stolen').chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] }),
        (err: unknown) => err instanceof OpenAI.AuthenticationError,
      );
      const r2 = await fetch(`${h.base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"gpt-test","messages":[]}' });
      assert.equal(r2.status, 401);
      await r2.arrayBuffer();
      assert.equal(up.requests.length, before);
      const denied = h.llm().filter((e) => e.rule === 'llm-key');
      assert.equal(denied.length, 3);
      assert.ok(!JSON.stringify(h.events).includes(REAL_A) && !JSON.stringify(h.events).includes(REAL_O), 'no key in the audit log');
    } finally {
      await h.close();
    }
    // A held key whose variable is unset: refused, not forwarded without a key.
    const h2 = await startProxy(up, { credentials: { anthropic: { api_key_env: 'T_UNSET' } }, env: {} });
    try {
      await assert.rejects(
        h2.anthropic(PLACEHOLDER_KEYS.anthropic).messages.create({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
        (err: unknown) => err instanceof Anthropic.AuthenticationError && /T_UNSET is not set/.test(err.message),
      );
    } finally {
      await h2.close();
    }
  });

  it('rate limit (requests per minute): 429 in the provider\'s format with retry-after, per session', async () => {
    let t = 1_000_000;
    const h = await startProxy(up, { rate_limits: { requests_per_minute: 2 }, now: () => t });
    try {
      const a = h.anthropic();
      const ask = () => a.messages.create({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
      await ask();
      t += 10_000;
      await ask();
      await assert.rejects(ask(), (err: unknown) => {
        assert.ok(err instanceof Anthropic.RateLimitError, String(err));
        assert.equal(err.headers?.get('retry-after'), '50');
        assert.match(err.message, /2 requests per minute/);
        return true;
      });
      const ev = h.llm().find((e) => e.rule === 'llm-rate-limit');
      assert.ok(ev);
      assert.equal(ev.decision, 'deny');
      assert.equal(ev.fields.retry_after_s, 50);
      t += 50_001; // the first request left the window
      await ask();
      await assert.rejects(
        h.openai().chat.completions.create({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] }),
        (err: unknown) => err instanceof OpenAI.RateLimitError,
      );
    } finally {
      await h.close();
    }
  });

  it('rate limit (tokens per minute) counts recorded usage', async () => {
    let t = 5_000_000;
    const h = await startProxy(up, { rate_limits: { tokens_per_minute: 40 }, now: () => t });
    try {
      const a = h.anthropic();
      const ask = () => a.messages.create({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
      await ask(); // 33 tokens
      await h.event(0);
      await ask(); // 33 < 40: admitted → 66
      await h.event(1);
      t += 1000;
      await assert.rejects(ask(), (err: unknown) => err instanceof Anthropic.RateLimitError && /40 tokens per minute/.test(err.message));
      t += 59_500;
      await ask();
    } finally {
      await h.close();
    }
  });

  it('request body over the cap: 413; content-encoding: 415', async () => {
    const h = await startProxy(up, { limits: { maxRequestBytes: 1024 } });
    try {
      const before = up.requests.length;
      await assert.rejects(
        h.anthropic().messages.create({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'x'.repeat(4000) }] }),
        (err: unknown) => (err instanceof Anthropic.APIError && err.status === 413) || err instanceof Anthropic.APIConnectionError,
      );
      const r = await fetch(`${h.base}/v1/messages`, { method: 'POST', headers: { 'anthropic-version': '2023-06-01', 'content-encoding': 'gzip' }, body: 'abc' });
      assert.equal(r.status, 415);
      await r.arrayBuffer();
      assert.equal(up.requests.length, before);
    } finally {
      await h.close();
    }
  });

  it('headers that never complete get 408 (the injected server\'s headersTimeout runs)', async () => {
    const h = await startProxy(up, { limits: { headerTimeoutMs: 300 } });
    try {
      const sock = net.connect(Number(new URL(h.base).port), '127.0.0.1');
      sock.write('POST /v1/messages HTTP/1.1\r\nHost: x\r\nanthropic-version: 1\r\n');
      const t0 = Date.now();
      const got = await new Promise<string>((resolve) => {
        let data = '';
        sock.on('data', (c) => (data += c.toString('latin1')));
        sock.on('close', () => resolve(data));
        setTimeout(() => sock.destroy(), 5000);
      });
      assert.match(got, /^HTTP\/1\.1 408 /);
      assert.ok(Date.now() - t0 < 3000);
    } finally {
      await h.close();
    }
  });

  it('an upstream that is down: 502 in the provider\'s format', async () => {
    const dead = new StandIn();
    await dead.start();
    const h = await startProxy(dead);
    await dead.close();
    try {
      await assert.rejects(
        h.anthropic().messages.create({ model: 'claude-test', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
        (err: unknown) => err instanceof Anthropic.APIError && err.status === 502 && /agentsh: upstream 127\.0\.0\.1:\d+ failed/.test(err.message),
      );
      const ev = await h.event(0);
      assert.equal(ev.fields.status, 502);
      assert.match(String(ev.fields.error), /ECONNREFUSED/);
    } finally {
      await h.close();
    }
  });
});

describe('LLM proxy: parts', () => {
  it('SSE parser: any chunking, CRLF and CR line ends, comments, multi-line data', () => {
    const text = ': comment\r\nevent: a\r\ndata: {"x":1}\r\n\r\nevent: b\rdata: one\rdata: two\r\rdata: ü✓\n\n';
    const want = [['a', '{"x":1}'], ['b', 'one\ntwo'], ['message', 'ü✓']];
    const buf = Buffer.from(text, 'utf8');
    for (let size = 1; size <= buf.length; size++) {
      const got: string[][] = [];
      const p = new SseParser((e, d) => got.push([e, d]));
      for (let i = 0; i < buf.length; i += size) p.push(buf.subarray(i, i + size));
      p.end();
      assert.deepEqual(got, want, `chunk size ${size}`);
    }
  });

  it('routing rule', () => {
    const r = (m: string, p: string, h: Record<string, string> = {}) => {
      const x = route(m, p, h);
      return 'error' in x ? `${x.provider}:${x.error.status}` : `${x.provider}:${x.endpoint}`;
    };
    assert.equal(r('POST', '/v1/messages'), 'anthropic:anthropic.messages');
    assert.equal(r('POST', '/v1/messages/count_tokens'), 'anthropic:anthropic.count_tokens');
    assert.equal(r('POST', '/v1/chat/completions', { 'x-api-key': 'k' }), 'openai:openai.chat');
    assert.equal(r('POST', '/v1/responses'), 'openai:openai.responses');
    assert.equal(r('GET', '/v1/responses/resp_123'), 'openai:openai.responses.get');
    assert.equal(r('GET', '/v1/models', { 'anthropic-version': '2023-06-01' }), 'anthropic:anthropic.models');
    assert.equal(r('GET', '/v1/models/gpt-4o'), 'openai:openai.models');
    assert.equal(r('POST', '/v1/messages/batches'), 'anthropic:404');
    assert.equal(r('POST', '/v1/files'), 'openai:404');
    assert.equal(r('POST', '/v1/models/../files'), 'openai:404');
    assert.equal(r('DELETE', '/v1/models/x'), 'openai:405');
  });

  it('request DLP leaves ids, parameters, images and signed thinking alone', () => {
    const body = {
      model: `m-${EMAIL}`,
      metadata: { user_id: EMAIL },
      messages: [
        { role: 'assistant', content: [{ type: 'thinking', thinking: `I saw ${EMAIL}`, signature: 'sig' }, { type: 'text', text: EMAIL }] },
        { role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'aGVsbG8=' } }, { type: 'document', source: { type: 'text', media_type: 'text/plain', data: `doc ${AWS_KEY}` } }] },
      ],
    };
    const s = scanRequest('anthropic.messages', body, REDACTOR, true);
    assert.equal(s.count, 2);
    assert.equal(body.model, `m-${EMAIL}`);
    assert.equal(body.metadata.user_id, EMAIL);
    assert.equal((body.messages[0]!.content[0] as { thinking: string }).thinking, `I saw ${EMAIL}`);
    assert.equal((body.messages[0]!.content[1] as { text: string }).text, RE());
    assert.equal((body.messages[1]!.content[1] as { source: { data: string } }).source.data, `doc ${RA()}`);
    // Embeddings and legacy completions.
    const e = { model: 'x', input: [`a ${EMAIL}`, 'b'] };
    assert.equal(scanRequest('openai.embeddings', e, REDACTOR, true).count, 1);
    assert.deepEqual(e.input, [`a ${RE()}`, 'b']);
  });

  it('dlp.mode mapping and llmDlpFromConfig', () => {
    assert.equal(dlpModeOf({ mode: 'block' }), 'block');
    assert.equal(dlpModeOf({ mode: 'audit' }), 'audit');
    assert.equal(dlpModeOf({ mode: 'disabled' }), 'disabled');
    assert.equal(dlpModeOf({ mode: 'something-new' }), 'redact');
    assert.equal(dlpModeOf(undefined), 'redact');
    assert.equal(llmDlpFromConfig({ mode: 'disabled' }).dlp, null);
    const b = llmDlpFromConfig({ mode: 'block' });
    assert.equal(b.dlpMode, 'block');
    assert.ok(b.dlp && b.dlp.redact(AWS_KEY).findings.length === 1);
  });

  it('rate limiter: sliding window', () => {
    let t = 0;
    const rl = new RateLimiter({ requestsPerMinute: 3 }, () => t);
    assert.ok(rl.admit('s').ok && rl.admit('s').ok && rl.admit('s').ok);
    const d = rl.admit('s');
    assert.ok(!d.ok && d.retryAfterS === 60);
    assert.ok(rl.admit('other').ok, 'per session');
    t = 60_001;
    assert.ok(rl.admit('s').ok);
  });

  it('agentsh report has an LLM usage section', () => {
    const ev = (i: number, fields: Record<string, unknown>, decision = 'allow', rule = 'llm-proxy'): AuditEvent => ({
      id: `id-${i}`, ts: `2026-01-01T00:00:0${i}.000Z`, type: 'llm_request', session_id: 's1', decision, rule, message: 'm', fields,
    });
    const md = sessionReport([
      ev(1, { provider: 'anthropic', model: 'claude-x', status: 200, input_tokens: 10, output_tokens: 5, redactions: 2, latency_ms: 100 }),
      ev(2, { provider: 'anthropic', model: 'claude-x', status: 200, input_tokens: 1, output_tokens: 1, redactions: 0, latency_ms: 300 }),
      ev(3, { provider: 'openai', model: 'gpt-y', status: 500, input_tokens: null, output_tokens: null, redactions: 0 }),
      ev(4, { provider: 'openai', model: 'gpt-y', status: 403, redactions: 1 }, 'deny', 'llm-dlp-block'),
    ], { now: new Date('2026-01-02T00:00:00Z') });
    assert.match(md, /## LLM Usage \(4 requests\)/);
    assert.match(md, /\| anthropic \| claude-x \| 2 \| 0 \| 0 \| 11 \| 6 \| 2 \| 200 ms \|/);
    assert.match(md, /\| openai \| gpt-y \| 2 \| 1 \| 1 \| — \| — \| 1 \|/);
  });
});
