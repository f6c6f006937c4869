// Audit throughput with the HMAC chain on (budget: ≥ 20k events/s, nothing lost).
//
// Each sample writes a burst of events into a fresh log (JSONL fdatasync'd per batch +
// SQLite index) and waits until all are durable; the figure is wall time per event. Also:
// sealing alone (canonical JSON + HMAC), `audit verify` speed, and the latency of one
// awaited append (what a caller pays when it waits for durability of a single event).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HmacChain, verifyFile } from '../src/audit/chain.js';
import type { AuditEventInput } from '../src/audit/event.js';
import { AuditLog } from '../src/audit/log.js';
import { median, p90, type BenchResult } from './measure.js';

const KEY = Buffer.from('bench-audit-key-0123456789abcdef0123456789');

function event(i: number): AuditEventInput {
  const finished = i % 2 === 1;
  return {
    type: finished ? 'command_finished' : 'command_policy',
    session_id: `sess-${i % 8}`,
    command_id: `cmd-${i >> 1}`,
    decision: 'allow',
    rule: 'allow-dev-tools',
    fields: finished ? { exit_code: 0, duration_ms: i % 250, stdout: 'ok\n' } : { command: `npm test -- --grep case-${i}`, args: ['npm', 'test', '--', '--grep', `case-${i}`], cwd: '/home/daytona/project', pid: 20000 + i },
  };
}



const perSec = (nsPerEvent: number) => Math.round(1e9 / nsPerEvent).toLocaleString('en-US');

export async function benchAudit(opts: { events?: number; samples?: number } = {}): Promise<BenchResult[]> {
  const N = opts.events ?? 20_000;
  const S = opts.samples ?? 5;
  const root = mkdtempSync(join(tmpdir(), 'agentsh-audit-bench-'));
  const results: BenchResult[] = [];
  try {
    // 1. Throughput: burst of N events, chain + JSONL (fsync) + SQLite, until durable.
    const times: number[] = [];
    let batches = 0;
    let lastDir = '';
    for (let s = 0; s < S + 1; s++) {
      const dir = join(root, `t${s}`);
      const log = await AuditLog.open({ path: join(dir, 'audit.jsonl'), key: KEY, onWarning: () => {} });
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < N; i++) log.enqueue(event(i));
      await log.flush();
      const ns = Number(process.hrtime.bigint() - t0) / N;
      batches = log.stats().batches;
      if (log.count() !== N) throw new Error(`bench: ${log.count()} of ${N} events in SQLite`);
      await log.close();
      if (s > 0) times.push(ns); // the first run warms up the JIT
      lastDir = dir;
    }
    const m = median(times);
    results.push({
      name: `audit append: HMAC chain + JSONL fdatasync + SQLite, ${N.toLocaleString('en-US')}-event bursts`,
      medianNs: m,
      p90Ns: p90(times),
      samples: S * N,
      note: `${perSec(m)} events/s median, ${perSec(p90(times))} at p90; budget ≥ 20,000/s; ${batches} batches per burst`,
    });

    // 1b. Trickle: one event per event-loop turn (the server's shape); group commit batches them.
    const trickle: number[] = [];
    let tBatches = 0;
    for (let s = 0; s < S; s++) {
      const dir = join(root, `k${s}`);
      const log = await AuditLog.open({ path: join(dir, 'audit.jsonl'), key: KEY, onWarning: () => {} });
      const M = Math.min(N, 10_000);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < M; i++) {
        log.enqueue(event(i));
        await new Promise((r) => setImmediate(r));
      }
      await log.flush();
      trickle.push(Number(process.hrtime.bigint() - t0) / M);
      tBatches = log.stats().batches;
      await log.close();
    }
    results.push({
      name: 'audit append, one event per event-loop turn (group commit)',
      medianNs: median(trickle),
      p90Ns: p90(trickle),
      samples: S * Math.min(N, 10_000),
      note: `${perSec(median(trickle))} events/s; ${tBatches} batches for ${Math.min(N, 10_000).toLocaleString('en-US')} events`,
    });

    // 2. Same without fsync (what the disk costs).
    const times2: number[] = [];
    for (let s = 0; s < S; s++) {
      const dir = join(root, `n${s}`);
      const log = await AuditLog.open({ path: join(dir, 'audit.jsonl'), key: KEY, fsync: false, onWarning: () => {} });
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < N; i++) log.enqueue(event(i));
      await log.flush();
      times2.push(Number(process.hrtime.bigint() - t0) / N);
      await log.close();
    }
    results.push({ name: 'audit append without fdatasync (same, for comparison)', medianNs: median(times2), p90Ns: p90(times2), samples: S * N, note: `${perSec(median(times2))} events/s` });

    // 3. Sealing alone: canonical JSON + HMAC-SHA256.
    const seal: number[] = [];
    for (let s = 0; s < S; s++) {
      const chain = new HmacChain(KEY);
      const evs = Array.from({ length: N }, (_, i) => ({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, ts: '2026-01-01T00:00:00.000Z', fields: {}, ...event(i) }));
      const t0 = process.hrtime.bigint();
      for (const e of evs) chain.sealLine(e);
      seal.push(Number(process.hrtime.bigint() - t0) / N);
    }
    results.push({ name: 'audit seal only (canonical JSON + HMAC-SHA256)', medianNs: median(seal), p90Ns: p90(seal), samples: S * N, note: `${perSec(median(seal))} events/s` });

    // 4. Verification (`agentsh audit verify`), streaming the last throughput log.
    const ver: number[] = [];
    for (let s = 0; s < S; s++) {
      const t0 = process.hrtime.bigint();
      const r = await verifyFile(join(lastDir, 'audit.jsonl'), KEY);
      ver.push(Number(process.hrtime.bigint() - t0) / N);
      if (!r.ok || r.count !== N) throw new Error('bench: verification failed');
    }
    results.push({ name: 'audit verify (streaming, per line)', medianNs: median(ver), p90Ns: p90(ver), samples: S * N, note: `${perSec(median(ver))} lines/s` });

    // 5. Latency of one awaited append (one event per batch: fdatasync each time).
    const lat: number[] = [];
    const log = await AuditLog.open({ path: join(root, 'lat', 'audit.jsonl'), key: KEY, onWarning: () => {} });
    for (let i = 0; i < 220; i++) {
      const t0 = process.hrtime.bigint();
      await log.append(event(i));
      if (i >= 20) lat.push(Number(process.hrtime.bigint() - t0));
    }
    await log.close();
    results.push({ name: 'audit single awaited append (durable ack latency)', medianNs: median(lat), p90Ns: p90(lat), samples: lat.length, note: 'includes one fdatasync; callers on a hot path enqueue() and let the batch carry it' });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return results;
}

// `node dist/bench/audit.bench.js` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  benchAudit().then(
    (rs) => {
      for (const r of rs) console.log(`${r.name}: median ${(r.medianNs / 1000).toFixed(2)} µs${r.note ? ` (${r.note})` : ''}`);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
