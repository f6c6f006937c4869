// The live connection: the server's SSE stream (cookie auth: EventSource sends no headers),
// opened before the backfill so nothing falls between the two; events are handed to the
// store in batches (at most every 100 ms), so a burst of thousands costs one render.
import { get, type AuditEvent } from './api.js';
import type { EventStore } from './events.js';

export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'closed';

export interface LiveOptions {
  store: EventStore;
  backfill: number;
  onStatus(s: LiveStatus): void;
  /** New events, after they are in the store (for announcements, refreshes). */
  onEvents(fresh: AuditEvent[]): void;
  /** The stream was refused (the console session ended): the caller re-checks auth. */
  onRefused(): void;
}

export function connectLive(o: LiveOptions): () => void {
  let es: EventSource | null = null;
  let pending: AuditEvent[] = [];
  let flushTimer: ReturnType<typeof setTimeout> | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;
  let opened = false;

  const flush = () => {
    flushTimer = null;
    const batch = pending;
    pending = [];
    const fresh = o.store.add(batch);
    if (fresh.length) o.onEvents(fresh);
  };
  const queue = (events: AuditEvent[]) => {
    pending.push(...events);
    flushTimer ??= setTimeout(flush, 100);
  };

  const open = () => {
    if (stopped) return;
    o.onStatus(opened ? 'reconnecting' : 'connecting');
    es = new EventSource('/api/v1/events/stream', { withCredentials: true });
    es.onopen = () => {
      const resume = opened;
      opened = true;
      o.onStatus('live');
      // First open: the recent history; a reconnect: what came while we were away.
      const since = o.store.newestTs;
      const req = resume && since ? get.eventsSince(since) : get.events(o.backfill);
      req.then(queue, () => {});
    };
    es.onmessage = (m: MessageEvent<string>) => {
      try {
        queue([JSON.parse(m.data) as AuditEvent]);
      } catch {
        /* a line that is not an event: ignore */
      }
    };
    es.onerror = () => {
      if (stopped) return;
      o.onStatus('reconnecting');
      // The browser retries by itself unless the server answered with an error status
      // (then readyState is CLOSED): see whether we are still logged in, then retry.
      if (es && es.readyState === EventSource.CLOSED) {
        es = null;
        o.onRefused();
        retryTimer = setTimeout(open, 3000);
      }
    };
  };
  open();

  return () => {
    stopped = true;
    es?.close();
    if (flushTimer) clearTimeout(flushTimer);
    if (retryTimer) clearTimeout(retryTimer);
    o.onStatus('closed');
  };
}
