// The server's end of the session network: one unix socket (owner-only, in the run dir that
// every sandbox has hidden) where the launchers' relays (native/relay.c) bring each
// connection of a sandboxed command. The relay writes one line first,
//
//   agentsh-net1 SERVICE TOKEN\n        SERVICE: proxy | dns; TOKEN: the session's
//
// and the gateway hands the rest of the stream to the service with the session it names.
// Only launchers reach this socket (the sandbox can't see the run dir), so the line is
// trusted as far as it names a live session; an unknown token or a malformed line closes
// the connection.
import { randomBytes } from 'node:crypto';
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { NetSession } from './types.js';

export interface NetService {
  /** Takes over the stream (bytes after the hello line are already unshifted back). */
  handle(socket: Socket, session: NetSession): void;
}

export interface GatewayOptions {
  socketPath: string;
  services: { proxy: NetService; dns: NetService };
  /** The live session for an id (null: gone). */
  sessionFor(sessionId: string): NetSession | null;
  /** How long a relay may take to send its line (default 5 s). */
  helloTimeoutMs?: number;
}

const HELLO_MAX = 256;
const HELLO_RE = /^agentsh-net1 (proxy|dns) ([0-9a-f]{32})$/;

export class NetGateway {
  private readonly server: Server;
  private readonly tokens = new Map<string, string>();
  private readonly bySession = new Map<string, string>();
  private readonly sockets = new Set<Socket>();

  constructor(private readonly opts: GatewayOptions) {
    // Half-closes pass through the relay (a client that sends and then shuts its write side
    // still gets its answers): never end our side just because the peer ended its own.
    this.server = createServer({ allowHalfOpen: true }, (s) => this.accept(s));
  }

  get socketPath(): string {
    return this.opts.socketPath;
  }

  async listen(): Promise<void> {
    rmSync(this.opts.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      // A sandbox opening many connections at once must not meet the default backlog (511):
      // refused unix connects are dropped by the relay, not retried.
      this.server.listen({ path: this.opts.socketPath, backlog: 4096 }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    chmodSync(this.opts.socketPath, 0o600);
  }

  /** The session's token (made on first use). */
  tokenFor(sessionId: string): string {
    let t = this.bySession.get(sessionId);
    if (!t) {
      t = randomBytes(16).toString('hex');
      this.bySession.set(sessionId, t);
      this.tokens.set(t, sessionId);
    }
    return t;
  }

  /** A session ended: its token stops working (its relays' next connections are closed). */
  forget(sessionId: string): void {
    const t = this.bySession.get(sessionId);
    if (t) this.tokens.delete(t);
    this.bySession.delete(sessionId);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    rmSync(this.opts.socketPath, { force: true });
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), this.opts.helloTimeoutMs ?? 5000);
    const onData = (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (buf.length > HELLO_MAX) done(null);
        return;
      }
      done(buf.subarray(0, nl).toString('latin1'), buf.subarray(nl + 1));
    };
    const done = (line: string | null, rest?: Buffer) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      const m = line === null ? null : HELLO_RE.exec(line);
      const sessionId = m ? this.tokens.get(m[2]!) : undefined;
      const session = sessionId ? this.opts.sessionFor(sessionId) : null;
      if (!m || !session) {
        socket.destroy();
        return;
      }
      socket.pause();
      if (rest?.length) socket.unshift(rest);
      this.opts.services[m[1] as 'proxy' | 'dns'].handle(socket, session);
    };
    const onEnd = () => done(null);
    socket.on('data', onData);
    socket.once('end', onEnd);
  }
}
