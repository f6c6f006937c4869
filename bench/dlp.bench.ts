// DLP redaction throughput (budget: ≥ 100 MB/s) with the seed config's detectors (all
// built-ins + its 10 custom patterns), side by side with a PassThrough baseline in the same
// process. Figures are ns per MiB of input (median over passes); MB/s is in the note.
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from '../src/config/load.js';
import { StreamRedactor, createRedactStream, fromConfig, type Redactor } from '../src/dlp/index.js';
import { syntheticOutput } from '../src/dlp/samples.js';
import type { BenchResult } from './measure.js';

const SEED_CONFIG = fileURLToPath(new URL('../../test/fixtures/seed/config.yaml', import.meta.url));
const MiB = 1 << 20;

function summarize(name: string, bytes: number, timesNs: number[], extra = ''): BenchResult {
  const perMiB = timesNs.map((t) => (t * MiB) / bytes).sort((a, b) => a - b);
  const median = perMiB[Math.floor(perMiB.length / 2)]!;
  const p90 = perMiB[Math.min(perMiB.length - 1, Math.floor(perMiB.length * 0.9))]!;
  const mbps = (1e9 / median) * 1.048576; // MiB/s → MB/s (10^6 bytes): one MiB is 1.048576 MB
  return { name: `${name} (per MiB)`, medianNs: median, p90Ns: p90, samples: timesNs.length, note: `${mbps.toFixed(0)} MB/s${extra}` };
}

function timeSync(passes: number, fn: () => void): number[] {
  fn(); // warm-up
  const out: number[] = [];
  for (let i = 0; i < passes; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    out.push(Number(process.hrtime.bigint() - t0));
  }
  return out;
}

async function timeAsync(passes: number, fn: () => Promise<void>): Promise<number[]> {
  await fn();
  const out: number[] = [];
  for (let i = 0; i < passes; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0));
  }
  return out;
}

function streamChunks(r: Redactor, data: Buffer, chunk: number): number {
  const s = new StreamRedactor(r);
  let n = 0;
  for (let i = 0; i < data.length; i += chunk) n += s.push(data.subarray(i, i + chunk)).length;
  return n + s.end().length;
}

async function throughTransform(make: () => Transform, data: Buffer, chunk: number): Promise<void> {
  function* chunks() {
    for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
  }
  await pipeline(Readable.from(chunks()), make(), new Writable({ write: (_c, _e, cb) => cb() }));
}

export async function benchDlp(): Promise<BenchResult[]> {
  const redactor = fromConfig(loadConfigFile(SEED_CONFIG, { env: {} }).config.dlp)!;
  const text = syntheticOutput(16 * MiB, 3);
  const withSecrets = syntheticOutput(16 * MiB, 4, 4096);
  const binary = randomBytes(16 * MiB);
  const dense = Buffer.from('AKIA'.repeat(MiB / 4), 'latin1');
  const findings = redactor.redactBuffer(withSecrets).findings.length;
  const P = 7;
  const results: BenchResult[] = [];

  results.push(summarize('baseline: PassThrough, 64 KiB chunks', text.length, await timeAsync(P, () => throughTransform(() => new PassThrough(), text, 65536))));
  results.push(summarize('baseline: Buffer copy', text.length, timeSync(P, () => void Buffer.from(text))));
  results.push(summarize('one-shot redactBuffer, typical text', text.length, timeSync(P, () => void redactor.redactBuffer(text))));
  results.push(summarize('stream, 64 KiB chunks, typical text', text.length, timeSync(P, () => void streamChunks(redactor, text, 65536))));
  results.push(summarize('stream, 16 KiB chunks, typical text', text.length, timeSync(P, () => void streamChunks(redactor, text, 16384))));
  results.push(summarize('stream, 4 KiB chunks, typical text', text.length, timeSync(P, () => void streamChunks(redactor, text, 4096))));
  results.push(summarize('Transform, 64 KiB chunks, typical text', text.length, await timeAsync(P, () => throughTransform(() => createRedactStream(redactor), text, 65536))));
  results.push(
    summarize('stream, 64 KiB chunks, a secret every ~4 KiB', withSecrets.length, timeSync(P, () => void streamChunks(redactor, withSecrets, 65536)), `, ${findings} redactions per pass`),
  );
  results.push(summarize('stream, 64 KiB chunks, random binary', binary.length, timeSync(P, () => void streamChunks(redactor, binary, 65536))));
  results.push(summarize('one-shot, adversarial: AKIA repeated (1 MiB)', dense.length, timeSync(P, () => void redactor.redactBuffer(dense))));

  // latency: one short line pushed into a warm stream (what an interactive command sees)
  const s = new StreamRedactor(redactor);
  const line = Buffer.from('2024-01-15T12:30:00Z INFO request GET /api/v1/users 200 OK took 13.5ms\n');
  const lat = timeSync(2000, () => void s.push(line)).sort((a, b) => a - b);
  results.push({ name: 'push of one 72-byte line (latency)', medianNs: lat[lat.length >> 1]!, p90Ns: lat[Math.floor(lat.length * 0.9)]!, samples: lat.length, note: 'emitted in full by the same call' });
  return results;
}

// `node dist/bench/dlp.bench.js` prints the table on its own.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const fmt = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
  for (const r of await benchDlp()) console.log(`${r.name.padEnd(60)} ${fmt(r.medianNs).padStart(10)} p90 ${fmt(r.p90Ns ?? r.medianNs).padStart(10)}  ${r.note ?? ''}`);
}
