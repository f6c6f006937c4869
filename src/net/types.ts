// What the session network (proxy, DNS stub, gateway) shares: the resolver every name goes
// through, one session's view, and the settings from `sandbox.network`.
import type { PolicyDecision } from '../policy/decision.js';
import type { PolicyEngine } from '../policy/engine.js';

export type ResolveErrorCode = 'NXDOMAIN' | 'NODATA' | 'SERVFAIL' | 'TIMEOUT' | 'REFUSED';

export class ResolveError extends Error {
  constructor(
    readonly code: ResolveErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Name → addresses: the only way agentsh resolves names for sandboxes (proxy and DNS stub alike). */
export interface Resolver {
  /** A and AAAA addresses, IPv4 first, deduplicated; rejects with ResolveError. */
  resolve(name: string): Promise<string[]>;
}

/** A connect_redirects / dns_redirects match (operator-configured, see redirects.ts). */
export interface ConnectRedirect {
  rule: string;
  host: string;
  port: number;
  /** The rule's `message`, for the audit event. */
  message?: string;
}

export interface Redirects {
  /** dns_redirects: the address a name resolves to instead, or null. */
  dnsFor(name: string): { rule: string; address: string } | null;
  /** connect_redirects: where a connection to host:port goes instead, or null. */
  connectFor(host: string, port: number): ConnectRedirect | null;
}

export const NO_REDIRECTS: Redirects = { dnsFor: () => null, connectFor: () => null };

/** What the host or port of a connection looks like to the audit log. */
export interface NetTarget {
  host: string;
  port: number;
}

/** One session's network identity, handed to the proxy and the DNS stub per connection. */
export interface NetSession {
  sessionId: string;
  commandId?: string;
  engine: PolicyEngine;
  /** Records one audit event for this session (ids filled in by the caller's recorder). */
  audit(type: string, decision: string, rule: string, message: string, fields: Record<string, unknown>): void;
  /**
   * Holds an `approve` decision until a human answers (the approvals issue plugs in here);
   * resolves true when allowed. Until then the server's hook answers false at once.
   */
  approve(decision: PolicyDecision, target: NetTarget & { ip?: string }): Promise<boolean>;
}

/** `sandbox.network` as the proxy and DNS stub use it. */
export interface NetSettings {
  /** HTTP status for a refused proxy request (default 403). */
  denyStatus: number;
  /** Whether names may resolve to the agentsh host's own loopback (the sandbox's loopback is its own). */
  allowHostLoopback: boolean;
  /** Ports on the agentsh host that are never reachable through the proxy (the server's own). */
  reservedPorts: ReadonlySet<number>;
}

export const DEFAULT_NET_SETTINGS: NetSettings = { denyStatus: 403, allowHostLoopback: false, reservedPorts: new Set() };
