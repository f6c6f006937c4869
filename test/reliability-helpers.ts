// Shared by the load/soak and fault tests (test/load-soak.test.ts, test/faults.test.ts): a
// loopback HTTP upstream, the server config for the session network on loopback only, the
// audit log read from its JSONL (the record of truth), `agentsh audit verify`, RSS samples
// of a process, percentiles, and process-tree helpers that only ever touch pids the test
// started (or their descendants).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { cli } from './helpers.js';
import { freePort, type TestServer } from './server-harness.js';

export interface JsonlEvent {
  type: string;
  session_id?: string;
  command_id?: string;
  decision?: string;
  rule?: string;
  message?: string;
  fields?: Record<string, unknown>;
  integrity?: { sequence: number };
}

/** Every event in a JSONL audit log (a partial last line, left by a crash, is skipped). */
export function jsonlEvents(path: string): JsonlEvent[] {
  if (!existsSync(path)) return [];
  const out: JsonlEvent[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as JsonlEvent);
    } catch {
      // an unterminated last line: never acknowledged
    }
  }
  return out;
}

export const auditLogOf = (srv: TestServer) => join(srv.dir, 'events.jsonl');

/** `agentsh audit verify LOG` (the key beside the log); returns the CLI's result. */
export function auditVerify(log: string): { code: number | null; stdout: string; stderr: string } {
  return cli(['audit', 'verify', log]);
}

/** Polls `f` until it returns something truthy (or fails after `ms`). */
type Falsy = false | null | undefined | 0 | '';
export async function until<T>(f: () => T | Falsy | Promise<T | Falsy>, ms: number, what: string, everyMs = 50): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v as T;
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** An HTTP server on 127.0.0.1 that answers `upstream-ok URL` and remembers every URL. */
export async function loopbackUpstream(): Promise<{ port: number; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.end(`upstream-ok ${req.url}\n`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * `sandbox:` keys (appended under the harness's `sandbox:`) for the session network with
 * nothing off the machine: the proxy may reach the host's loopback (where the test's upstream
 * listens) and resolves names only with a loopback port where nothing answers.
 */
export async function loopbackNetworkConfig(): Promise<string> {
  const deadDns = await freePort();
  return `  network:\n    enabled: true\n    allow_host_loopback: true\n    upstream_dns: ["127.0.0.1:${deadDns}"]\n`;
}

/** VmRSS of a process in KiB (null: gone). */
export function rssKiB(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** The p-th percentile (0..100) of `xs` (nearest rank). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** A process's parent pid and command line (null: gone). */
export function procInfo(pid: number): { ppid: number; cmdline: string[]; state: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter(Boolean);
    return { state: rest[0]!, ppid: Number(rest[1]), cmdline };
  } catch {
    return null;
  }
}

/** Every live descendant of `root` (pids only; read from /proc). */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const info = procInfo(Number(d));
    if (!info) continue;
    const list = children.get(info.ppid) ?? [];
    list.push(Number(d));
    children.set(info.ppid, list);
  }
  const out: number[] = [];
  const stack = [...(children.get(root) ?? [])];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** Alive and not a zombie. */
export function alive(pid: number): boolean {
  const i = procInfo(pid);
  return i !== null && i.state !== 'Z';
}
