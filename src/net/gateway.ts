// The server's end of the session network: one unix socket (owner-only, in the run dir that
// every sandbox has hidden) where the launchers' relays (native/relay.c) bring each
// connection of a sandboxed command. The relay writes one line first,
//
//   agentsh-net1 SERVICE TOKEN\n        SERVICE: proxy | dns | llm; TOKEN: the session's
//
// and the gateway hands the rest of the stream to the service with the session it names.
// Only launchers reach this socket (the sandbox can't see the run dir), so the line is
// trusted as far as it names a live session; an unknown token or a malformed line closes
// the connection.
//
// Where no network namespace can be made, a session's proxy (and LLM proxy) is instead a TCP
// listener of its own on the host's loopback (tcpPortFor), the only ports Landlock lets its
// commands connect to (sandbox-runtime.ts: network state `landlock-tcp`).
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
  /** llm: absent when the LLM proxy is off (its connections are then closed). */
  services: { proxy: NetService; dns: NetService; llm?: NetService };
  /** The live session for an id (null: gone). */
  sessionFor(sessionId: string): NetSession | null;
  /** How long a relay may take to send its line (default 5 s). */
  helloTimeoutMs?: number;
}

const HELLO_MAX = 256;
const SPARE_LISTENERS = 4;

interface TcpListener {
  server: Server;
  /** 0 until bound. */
  port: number;
  /** The session and service it serves (null: a spare). */
  owner: { sessionId: string; service: TcpService } | null;
}
const HELLO_RE = /^agentsh-net1 (proxy|dns|llm) ([0-9a-f]{32})$/;

/** The hello line a relay sends first (HELLO_RE parses it). */
export const netHello = (service: 'proxy' | 'dns' | 'llm', token: string) => `agentsh-net1 ${service} ${token}`;

/** The services a session may have a TCP listener for (state landlock-tcp). */
export type TcpService = 'proxy' | 'llm';

export class NetGateway {
  private readonly server: Server;
  private readonly tokens = new Map<string, string>();
  private readonly bySession = new Map<string, string>();
  private readonly sockets = new Set<Socket>();
  /** `${sessionId} ${service}` → its listener. */
  private readonly tcp = new Map<string, TcpListener>();

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

  /** Per-session TCP listeners on the host's loopback from now on (state landlock-tcp). */
  async listenTcp(): Promise<void> {
    this.fillSpares();
    await Promise.all(this.spares.map((l) => (l.port ? null : new Promise<void>((r) => l.server.once('listening', () => r())))));
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

  /**
   * The session's proxy on the host's loopback (state landlock-tcp). Node binds a listener
   * asynchronously but plans are built synchronously: a few listeners are kept bound in
   * advance and the session takes one (throws only if a burst of new sessions outran that).
   */
  tcpPortFor(sessionId: string, service: TcpService = 'proxy'): number {
    const key = `${sessionId} ${service}`;
    const have = this.tcp.get(key);
    if (have) return have.port;
    const spare = this.spares.find((l) => l.port > 0);
    if (!spare) throw new Error('the session proxy is not ready yet (no bound listener); retry');
    this.spares.splice(this.spares.indexOf(spare), 1);
    spare.owner = { sessionId, service };
    this.tcp.set(key, spare);
    this.fillSpares();
    return spare.port;
  }

  private readonly spares: TcpListener[] = [];

  /** Keeps SPARE_LISTENERS listeners bound for sessions to come. */
  private fillSpares(): void {
    while (this.spares.length < SPARE_LISTENERS) {
      const l: TcpListener = { server: createServer({ allowHalfOpen: true }), port: 0, owner: null };
      l.server.on('connection', (socket: Socket) => {
        const session = l.owner ? this.opts.sessionFor(l.owner.sessionId) : null;
        const service = l.owner ? this.opts.services[l.owner.service] : undefined;
        if (!session || !service) return void socket.destroy();
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
        service.handle(socket, session);
      });
      l.server.on('error', () => {});
      l.server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
        l.port = (l.server.address() as { port: number }).port;
      });
      this.spares.push(l);
    }
  }

  /** A session ended: its token stops working (its relays' next connections are closed), its TCP listener closes. */
  forget(sessionId: string): void {
    const t = this.bySession.get(sessionId);
    if (t) this.tokens.delete(t);
    this.bySession.delete(sessionId);
    for (const service of ['proxy', 'llm'] as const) {
      this.tcp.get(`${sessionId} ${service}`)?.server.close();
      this.tcp.delete(`${sessionId} ${service}`);
    }
  }

  async close(): Promise<void> {
    for (const { server } of [...this.tcp.values(), ...this.spares]) server.close();
    this.tcp.clear();
    this.spares.length = 0;
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
      const service = m ? this.opts.services[m[1] as 'proxy' | 'dns' | 'llm'] : undefined;
      if (!session || !service) {
        socket.destroy();
        return;
      }
      socket.pause();
      if (rest?.length) socket.unshift(rest);
      service.handle(socket, session);
    };
    const onEnd = () => done(null);
    socket.on('data', onData);
    socket.once('end', onEnd);
  }
}
