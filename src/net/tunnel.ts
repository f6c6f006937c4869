// A client stream and its upstream socket piped both ways (CONNECT and SOCKS5 tunnels), and the
// graceful end every answered-then-closed client gets. Half-close passes through: a client
// that ends its side still receives the rest. Backpressure is pipe()'s; the byte counts go to
// the audit record, which is recorded when both sides have closed.
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { errorText, type ConnectionAudit } from './connection-audit.js';

/** How long a refused or finished connection may take to close by itself before it is destroyed. */
export const LINGER_MS = 1000;

/** Calls onIdle after `ms` without a byte either way (streams without timeouts have none). */
export function setIdle(s: Duplex, ms: number, onIdle: () => void): void {
  const sock = s as Partial<net.Socket>;
  if (ms > 0 && typeof sock.setTimeout === 'function') {
    sock.setTimeout(ms);
    s.on('timeout', onIdle);
  }
}

/** Ends the stream (after `data`), discards what still comes, destroys it soon after. */
export function endThenDestroy(s: Duplex, data?: Buffer): void {
  const hard = setTimeout(() => s.destroy(), LINGER_MS * 5);
  hard.unref();
  s.once('close', () => clearTimeout(hard));
  s.once('finish', () => {
    const t = setTimeout(() => s.destroy(), LINGER_MS);
    t.unref();
    s.once('close', () => clearTimeout(t));
  });
  try {
    if (data) s.end(data);
    else s.end();
    s.resume();
  } catch {
    s.destroy();
  }
}

/** Pipes both ways until both sides are done (`head`: client bytes already read); audits at the end. */
export function tunnel(down: Duplex, up: net.Socket, head: Buffer, rec: ConnectionAudit, idleTimeoutMs: number): void {
  let counting = true;
  down.on('data', (c: Buffer) => {
    if (counting) rec.up += c.length;
  });
  up.on('data', (c: Buffer) => {
    rec.down += c.length;
  });
  const fail = (what: string) => (err: unknown) => {
    rec.error ??= `${what}: ${errorText(err)}`;
    down.destroy();
    up.destroy();
  };
  down.on('error', fail('client'));
  up.on('error', fail('upstream'));
  const idle = () => fail('idle')(new Error(`no traffic for ${idleTimeoutMs} ms`));
  setIdle(down, idleTimeoutMs, idle);
  setIdle(up, idleTimeoutMs, idle);
  let open = 2;
  const closed = () => {
    if (--open === 0) rec.emit();
  };
  down.once('close', () => {
    up.destroy();
    closed();
  });
  up.once('close', () => {
    if (!up.readableEnded) down.destroy();
    else if (!down.destroyed) {
      // The upstream is gone both ways: whatever the client still sends has nowhere to go.
      counting = false;
      down.unpipe(up);
      endThenDestroy(down);
    }
    closed();
  });
  if (head.length) {
    rec.up += head.length;
    up.write(head);
  }
  down.pipe(up);
  up.pipe(down);
}
