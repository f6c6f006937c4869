// A local sandbox's audit log as the e2e tests read it: <sandbox dir>/state/events.jsonl.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface AuditEvent { type: string; rule?: string; decision?: string; fields?: Record<string, unknown> }

export function sandboxEvents(dir: string): AuditEvent[] {
  const p = join(dir, 'state', 'events.jsonl');
  if (!existsSync(p)) return [];
  // The server may be writing a line right now: only complete lines (up to the last newline) count.
  const text = readFileSync(p, 'utf8');
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent);
}

/** Waits briefly for an audit event (the log is written asynchronously). */
export async function expectSandboxEvent(dir: string, pred: (e: AuditEvent) => boolean, what: string): Promise<AuditEvent> {
  for (let i = 0; i < 60; i++) {
    const e = sandboxEvents(dir).find(pred);
    if (e) return e;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`no audit event: ${what}`);
}
