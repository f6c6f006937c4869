// One client connection of the session proxy, and what the protocol front ends (proxy-http.ts,
// proxy-socks.ts) ask of the proxy: deciding and opening upstream connections, counting
// capacity refusals, the limits.
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionAudit } from './connection-audit.js';
import type { ConnectionDecision } from './decision.js';
import type { ProxyLimits } from './proxy.js';
import type { NetSession } from './types.js';

export class Client {
  /** Upstream sockets opened for this client, destroyed when it closes. */
  readonly upstreams = new Set<net.Socket>();
  /** HTTP requests whose response is not finished. */
  inflight = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: Duplex,
    readonly session: NetSession,
  ) {}

  /** (Re)arms the deadline for the handshake: the first HTTP request or the SOCKS request. */
  deadline(ms: number, onExpiry: () => void): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(onExpiry, ms);
  }

  /** The handshake is over (or the client is gone): no deadline any more. */
  settle(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** How a protocol answers a connection that is not opened; the proxy records it afterwards. */
export interface OpenReplies {
  /** Whether the client went away (then the record says so and nothing is answered). */
  gone(): boolean;
  /** Refused by the decision in the record; `d` is null when deciding itself failed. */
  refused(d: ConnectionDecision | null): void;
  /** The checked address could not be connected to (the record's error says why). */
  failed(err: unknown): void;
}

export interface ProxyCore {
  readonly limits: Readonly<ProxyLimits>;
  /** The client served on this socket; none for connections over capacity. */
  client(socket: Duplex): Client | undefined;
  /**
   * Decides host:port into the record and connects to the checked address; null when that did
   * not happen, answered through `replies` and recorded.
   */
  open(client: Client, rec: ConnectionAudit, host: string, port: number, replies: OpenReplies): Promise<net.Socket | null>;
  /** Records and counts a refusal because the proxy is serving its maximum of connections. */
  refuseCapacity(rec: ConnectionAudit): void;
}
