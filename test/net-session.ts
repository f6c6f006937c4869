// A stand-in for the server's view of one session, for tests of the network services
// (proxy, DNS stub, LLM proxy): its audit events collected, its approval hook scripted.
import type { PolicyEngine } from '../src/policy/engine.js';
import type { NetSession, NetTarget } from '../src/net/types.js';

export interface NetAuditEvent {
  type: string;
  decision: string;
  rule: string;
  message: string;
  fields: Record<string, unknown>;
}

/** `state.answer` is what the approval hook says; every target it was asked about is in `approvals`. */
export function fakeNetSession(engine: PolicyEngine, sessionId = 'test-session') {
  const events: NetAuditEvent[] = [];
  const approvals: (NetTarget & { ip?: string })[] = [];
  const state = { answer: false };
  const session: NetSession = {
    sessionId,
    engine,
    audit: (type, decision, rule, message, fields) => void events.push({ type, decision, rule, message, fields }),
    approve: async (_d, target) => {
      approvals.push(target);
      return state.answer;
    },
  };
  return { session, events, approvals, state };
}

/** Polls `f` until it gives something truthy. */
export async function waitFor<T>(f: () => T | undefined | null | false, ms = 3000, what = 'condition', everyMs = 10): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
