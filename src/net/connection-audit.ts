// One audit event `net_connect` per proxied request or tunnel, filled in as it goes and
// recorded once: refusals at once, allowed ones when they end. Fields: protocol, host, port,
// addresses (all the name resolved to), rule, bytes_up, bytes_down, duration_ms; and when
// known ip (the address connected to), redirect, method, url, status (HTTP status or SOCKS
// reply code), error.
import type { ConnectionDecision } from './decision.js';
import type { NetSession } from './types.js';

export type Protocol = 'http' | 'connect' | 'socks5';

/** The rules of refusals the proxy makes itself, not the policy. */
export const RULE_BAD_REQUEST = 'builtin-bad-request';
export const RULE_CAPACITY = 'builtin-proxy-capacity';
export const RULE_PROXY_ERROR = 'builtin-proxy-error';
/** decideConnection's rule for a name that did not resolve: the gateway's failure, not a denial. */
export const RULE_RESOLVE_FAILED = 'builtin-resolve-failed';

export function errorText(err: unknown): string {
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ? `${(err as NodeJS.ErrnoException).code}: ${err.message}` : err.message;
  return String(err);
}

export function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | null)?.code ?? '';
}

export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export class ConnectionAudit {
  host = '';
  port = 0;
  decision = 'deny';
  rule = '';
  message = '';
  addresses: string[] = [];
  ip?: string;
  redirect?: string;
  method?: string;
  url?: string;
  /** Bytes from the client to the upstream, and back. */
  up = 0;
  down = 0;
  status?: number;
  error?: string;
  private readonly started = Date.now();
  private emitted = false;

  constructor(
    readonly session: NetSession,
    readonly protocol: Protocol,
  ) {}

  /** What decideConnection said (the host becomes its normalised form). */
  decided(d: ConnectionDecision): void {
    this.host = d.host;
    this.decision = d.decision.decision;
    this.rule = d.decision.rule;
    this.message = d.decision.message;
    this.addresses = d.addresses;
    if (d.redirect) this.redirect = `${hostPort(d.redirect.host, d.redirect.port)} (rule=${d.redirect.rule})`;
  }

  /** A refusal that is not a policy decision (capacity, malformed input, an internal error). */
  refuse(rule: string, message: string): void {
    this.decision = 'deny';
    this.rule = rule;
    this.message = message;
  }

  /** Records the event; only the first call does. */
  emit(): void {
    if (this.emitted) return;
    this.emitted = true;
    const fields: Record<string, unknown> = {
      protocol: this.protocol,
      host: this.host,
      port: this.port,
      addresses: this.addresses,
      rule: this.rule,
      bytes_up: this.up,
      bytes_down: this.down,
      duration_ms: Date.now() - this.started,
    };
    for (const k of ['ip', 'redirect', 'method', 'url', 'status', 'error'] as const) if (this[k] !== undefined) fields[k] = this[k];
    try {
      this.session.audit('net_connect', this.decision, this.rule, this.message, fields);
    } catch {
      /* the recorder's failure must not take the connection or the process down */
    }
  }
}
