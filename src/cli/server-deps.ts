// Wires the server's audit log and DLP filter from the config.
import type { ResolvedConfig } from '../config/load.js';
import type { AuditRecorder, EventFilter } from '../server/context.js';
import type { OutputFilter } from '../server/exec.js';

// Placeholder until the audit log lands: keeps events in memory.
export function openAudit(_config: ResolvedConfig): AuditRecorder & { close?: () => void } {
  const events: Record<string, unknown>[] = [];
  const subs = new Set<{ filter: EventFilter; cb: (e: unknown) => void }>();
  return {
    record(e) {
      const ev = { ts: new Date().toISOString(), ...e };
      events.push(ev);
      for (const s of subs) s.cb(ev);
    },
    query(f) {
      return events.filter((e) => (!f.session_id || e.session_id === f.session_id) && (!f.types?.length || f.types.includes(String(e.type)))).slice(-(f.limit ?? 1000));
    },
    subscribe(filter, cb) {
      const s = { filter, cb };
      subs.add(s);
      return () => subs.delete(s);
    },
  };
}

export function outputFilterFactory(_config: ResolvedConfig): () => OutputFilter | null {
  return () => null;
}
