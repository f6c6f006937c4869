// The LLM proxy (src/llm): what it adds to a request and to each streamed chunk, against the
// same calls made straight to a stand-in provider on 127.0.0.1 in the same run (interleaved
// rounds, medians over every sample). No real provider is contacted.
//
//   1. Per request: POST /v1/messages (a ~2 KB prompt, JSON answer ~0.4 KB) over a keep-alive
//      connection, one at a time: direct vs through the proxy (DLP on, nothing found), and
//      through the proxy with a ~100 KB prompt holding one secret (DLP redacts, the body is
//      re-serialised).
//   2. Per streamed chunk: the stand-in writes an SSE event every 2 ms, each carrying the
//      monotonic time it was written (process.hrtime, one clock for the whole process); the
//      client takes the time each event arrives. Added latency = median(through the proxy) −
//      median(direct).
//
// The stand-in, the proxy and the client share this process's event loop, so the figures
// include the proxy's CPU time on the same loop (what a busy agentsh server would also pay).
//
// `node dist/bench/llm.bench.js` runs this benchmark alone and prints its results.
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { fromConfig } from '../src/dlp/index.js';
import { LlmProxy } from '../src/llm/index.js';
import type { NetSession } from '../src/net/types.js';
import type { PolicyEngine } from '../src/policy/engine.js';
import { anthropicMessage } from '../test/llm-upstream.js';
import { median, p90, type BenchResult } from './measure.js';

export interface LlmSection {
  title: string;
  budget: string;
  results: BenchResult[];
  prose: string;
}

export interface LlmBenchOptions {
  /** Interleaved rounds (default 5). */
  rounds?: number;
  /** Requests per path and round (default 200). */
  requests?: number;
  /** Streamed events per path and round (default 200). */
  events?: number;
}

const AWS = ['AKIA', 'Q3T7', 'WZ2L', 'MX5K', 'R9PD'].join('');

function standIn(): http.Server {
  const answer = Buffer.from(JSON.stringify(anthropicMessage('claude-bench')));
  return http.createServer((req, res) => {
    req.socket.setNoDelay(true);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const m = /"events":(\d+)/.exec(body);
      if (!m) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(answer.length) });
        res.end(answer);
        return;
      }
      const n = Number(m[1]);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      let i = 0;
      const tick = () => {
        if (res.destroyed) return;
        if (i === n) {
          res.end('event: message_stop\ndata: {"type":"message_stop"}\n\n');
          return;
        }
        const t = process.hrtime.bigint().toString();
        res.write(`event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"t":"${t}","delta":{"type":"text_delta","text":"chunk ${i++} of the stream "}}\n\n`);
        setTimeout(tick, 2);
      };
      tick();
    });
  });
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

const HEADERS = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'sk-bench' };

function post(agent: http.Agent, port: number, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/messages', agent, headers: { ...HEADERS, 'content-length': String(body.length) } }, (res) => {
      res.on('data', () => {});
      res.on('end', () => (res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - t0)) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Latency of each streamed event (ns from the stand-in's write to its arrival here). */
function stream(agent: http.Agent, port: number, events: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const body = Buffer.from(JSON.stringify({ model: 'claude-bench', max_tokens: 8, stream: true, events, messages: [{ role: 'user', content: 'stream' }] }));
    const out: number[] = [];
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/messages', agent, headers: { ...HEADERS, 'content-length': String(body.length) } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (s: string) => {
        const now = process.hrtime.bigint();
        for (const m of s.matchAll(/"t":"(\d+)"/g)) out.push(Number(now - BigInt(m[1]!)));
      });
      res.on('end', () => resolve(out));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ms = (ns: number) => (ns / 1e6).toFixed(3);

export async function benchLlm(opts: LlmBenchOptions = {}): Promise<LlmSection[]> {
  const rounds = opts.rounds ?? 5;
  const nReq = opts.requests ?? 200;
  const nEv = opts.events ?? 200;
  const up = standIn();
  const upPort = await listen(up);
  const events: unknown[] = [];
  const session: NetSession = { sessionId: 'bench', engine: {} as PolicyEngine, audit: (...a) => void events.push(a), approve: async () => false };
  const proxy = new LlmProxy({
    config: { mode: 'embedded', port: 0, providers: { anthropic: `http://127.0.0.1:${upPort}`, openai: `http://127.0.0.1:${upPort}` } },
    dlp: fromConfig({}),
    dlpMode: 'redact',
  });
  const front = net.createServer({ allowHalfOpen: true }, (s) => proxy.handle(s, session));
  const proxyPort = await listen(front);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

  const prompt = 'Refactor the function below so that it handles empty input. '.repeat(32); // ~2 KB
  const small = Buffer.from(JSON.stringify({ model: 'claude-bench', max_tokens: 256, messages: [{ role: 'user', content: prompt }] }));
  const bigText = 'The build log follows. '.repeat(4500) + ` leaked ${AWS} here`; // ~100 KB, one secret
  const big = Buffer.from(JSON.stringify({ model: 'claude-bench', max_tokens: 256, messages: [{ role: 'user', content: bigText }] }));

  const direct: number[] = [];
  const proxied: number[] = [];
  const proxiedBig: number[] = [];
  const directBig: number[] = [];
  const evDirect: number[] = [];
  const evProxied: number[] = [];
  try {
    // Warm-up: JIT, keep-alive connections, the upstream agent.
    for (let i = 0; i < 100; i++) {
      await post(agent, upPort, small);
      await post(agent, proxyPort, small);
      await post(agent, proxyPort, big);
    }
    await stream(agent, proxyPort, 20);
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < nReq; i++) direct.push(await post(agent, upPort, small));
      for (let i = 0; i < nReq; i++) proxied.push(await post(agent, proxyPort, small));
      for (let i = 0; i < nReq / 4; i++) directBig.push(await post(agent, upPort, big));
      for (let i = 0; i < nReq / 4; i++) proxiedBig.push(await post(agent, proxyPort, big));
      evDirect.push(...(await stream(agent, upPort, nEv)));
      evProxied.push(...(await stream(agent, proxyPort, nEv)));
    }
  } finally {
    agent.destroy();
    await proxy.close();
    front.close();
    up.close();
    up.closeAllConnections();
  }

  const addReq = median(proxied) - median(direct);
  const addBig = median(proxiedBig) - median(directBig);
  const addEv = median(evProxied) - median(evDirect);
  const r = (name: string, xs: number[], note?: string): BenchResult => ({ name, medianNs: median(xs), p90Ns: p90(xs), samples: xs.length, ...(note ? { note } : {}) });
  const added = (name: string, ns: number, n: number, note: string): BenchResult => ({ name, medianNs: ns, samples: n, note });
  return [
    {
      title: 'LLM proxy: latency added per request',
      budget: '≤ 2 ms added median',
      results: [
        r('direct to the stand-in, 2 KB prompt', direct),
        r('through the LLM proxy, 2 KB prompt (DLP on, nothing found)', proxied),
        added('added by the proxy, 2 KB prompt', addReq, proxied.length, 'difference of medians'),
        r('direct to the stand-in, 100 KB prompt', directBig),
        r('through the LLM proxy, 100 KB prompt with a secret (redacted, re-serialised)', proxiedBig),
        added('added by the proxy, 100 KB prompt with a secret', addBig, proxiedBig.length, 'difference of medians'),
      ],
      prose:
        `POST /v1/messages over keep-alive connections, one request at a time, interleaved rounds. The proxy adds ${ms(addReq)} ms ` +
        `per typical request (budget 2 ms: ${addReq <= 2e6 ? 'met' : 'NOT met'}) and ${ms(addBig)} ms for a 100 KB prompt whose ` +
        'secret is redacted (JSON parse, DLP over every text field, re-serialisation, SHA-256).',
    },
    {
      title: 'LLM proxy: latency added per streamed chunk',
      budget: '≤ 1 ms added median',
      results: [
        r('SSE event, direct', evDirect),
        r('SSE event, through the LLM proxy', evProxied),
        added('added by the proxy per event', addEv, evProxied.length, 'difference of medians'),
      ],
      prose:
        `An SSE event every 2 ms, from the stand-in's write to the client's read (one monotonic clock). The proxy adds ` +
        `${ms(addEv)} ms per event (budget 1 ms: ${addEv <= 1e6 ? 'met' : 'NOT met'}): each upstream chunk is written to the ` +
        'client as it arrives and parsed for usage on the side.',
    },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const fmt = (ns: number) => (Math.abs(ns) >= 1e6 ? `${(ns / 1e6).toFixed(3)} ms` : `${(ns / 1000).toFixed(1)} µs`);
  for (const s of await benchLlm()) {
    console.log(`\n${s.title} (budget ${s.budget})`);
    for (const x of s.results) console.log(`  ${x.name}: median ${fmt(x.medianNs)}${x.p90Ns !== undefined ? `, p90 ${fmt(x.p90Ns)}` : ''} (${x.samples})${x.note ? ` — ${x.note}` : ''}`);
    console.log(`  ${s.prose}`);
  }
}
