// The policy's dns_redirects and connect_redirects, compiled once with the policy (compile.ts
// calls compileRedirects, so `agentsh policy validate` reports every problem with its
// position) into the Redirects the DNS stub and the proxy use.
//
// Semantics (agentsh's keys, docs/agentsh-semantics.md):
//
//   dns_redirects[]      match       RE2 regex over the queried name (lower case, no trailing
//                                    dot), case-insensitive and anchored: ^(?:match)$. agentsh
//                                    matches unanchored; anchoring is deliberate (an unanchored
//                                    `registry\.npmjs\.org` would also catch
//                                    `registry.npmjs.org.attacker.net`). Write `.*x` for a suffix.
//                        resolve_to  an IP address (IPv4-mapped IPv6 becomes IPv4).
//   connect_redirects[]  match       the same kind of regex over `host:port` (IPv6 in brackets,
//                                    `[::1]:443`); redirect_to `host:port` (IPv6 in brackets).
//                        message     kept for the audit event.
//   both                 first match wins.
//
// Forms this implementation does not support are REJECTED AT POLICY LOAD (code
// `unsupported`, "… is not supported yet"), never ignored:
//
//   redirect_to_unix                      (connecting to a unix socket instead)
//   tls.mode: rewrite_sni and tls.sni     (only passthrough: the TLS stream is relayed untouched)
//   visibility: silent | warn             (every redirect is audited: agentsh's default
//                                         audit_only; absent or audit_only are accepted)
//   on_failure: fail_open | retry_original (a failing redirect target fails the connection:
//                                         agentsh's default fail_closed; absent or
//                                         fail_closed are accepted)
//
// Any other value of these keys is an `invalid-value` error listing agentsh's values.
// A redirect never bypasses the policy: the name is checked before its redirect applies,
// and the redirected address or host:port is checked like any other (net/decision.ts).
import { isIP } from 'node:net';
import RE2 from 're2';
import { parseHostPort } from '../config/load.js';
import type { PolicyDoc } from '../policy/schema.js';
import type { SourcePath } from '../util/yaml-source.js';
import { canonicalAddress, normaliseHost } from './decision.js';
import type { ConnectRedirect, Redirects } from './types.js';

/** How compile problems are reported (the policy compiler's `error`). */
export type RedirectReporter = (code: string, message: string, path: SourcePath) => void;

interface DnsRule {
  name: string;
  re: RE2;
  address: string;
}

interface ConnectRule {
  name: string;
  re: RE2;
  host: string;
  port: number;
  message?: string;
}

/** The compiled lists, inspectable (explain, lint) besides the Redirects lookups. */
export interface CompiledRedirects extends Redirects {
  readonly dns: readonly Readonly<DnsRule>[];
  readonly connect: readonly Readonly<ConnectRule>[];
}

const VISIBILITY = { supported: ['audit_only'], unsupported: ['silent', 'warn'] };
const ON_FAILURE = { supported: ['fail_closed'], unsupported: ['fail_open', 'retry_original'] };
const TLS_MODE = { supported: ['passthrough'], unsupported: ['rewrite_sni'] };

/** `host` as connect_redirects match it: lower case, no trailing dot, IPv6 in brackets. */
export function redirectKey(host: string, port: number): string {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  return `${isIP(h) === 6 ? `[${h}]` : h}:${port}`;
}

/**
 * A redirect target `host:port` (IPv6 in brackets): the config's host:port syntax, plus a
 * real host (a name or an address; an IPv6 one only in brackets) and a port from 1.
 */
export function parseRedirectTarget(text: string): { host: string; port: number } | null {
  const t = text.trim();
  const hp = parseHostPort(t);
  if (!hp || hp.port < 1) return null;
  if (t.startsWith('[') && isIP(hp.host) !== 6) return null;
  const host = normaliseHost(hp.host);
  return host === null ? null : { host, port: hp.port };
}

export function compileRedirects(doc: Pick<PolicyDoc, 'dns_redirects' | 'connect_redirects'>, report: RedirectReporter): CompiledRedirects {
  const regex = (match: string, path: SourcePath): RE2 | null => {
    if (match.trim() === '') {
      report('invalid-value', 'match must not be empty', path);
      return null;
    }
    try {
      // The pattern alone first: wrapping must not turn an unbalanced `a)|(b` into a valid,
      // unanchored alternative.
      new RE2(match);
      return new RE2(`^(?:${match})$`, 'i');
    } catch (err) {
      report('invalid-regex', `invalid regex '${match}': ${(err as Error).message}`, path);
      return null;
    }
  };
  const choice = (value: string | undefined, allowed: { supported: string[]; unsupported: string[] }, key: string, path: SourcePath): void => {
    if (value === undefined) return;
    const v = value.trim().toLowerCase();
    if (allowed.supported.includes(v)) return;
    if (allowed.unsupported.includes(v)) {
      report('unsupported', `${key}: ${v} is not supported yet (supported: ${allowed.supported.join(', ')}, or leave it out)`, path);
    } else {
      report('invalid-value', `${key}: ${JSON.stringify(value)} is not one of: ${[...allowed.supported, ...allowed.unsupported].join(', ')}`, path);
    }
  };

  const dns: DnsRule[] = [];
  (doc.dns_redirects ?? []).forEach((r, i) => {
    const path: SourcePath = ['dns_redirects', i];
    const re = regex(r.match, [...path, 'match']);
    const to = r.resolve_to.trim().replace(/^\[(.*)\]$/, '$1');
    const ok = isIP(to) !== 0;
    if (!ok) report('invalid-value', `resolve_to must be an IP address, got ${JSON.stringify(r.resolve_to)}`, [...path, 'resolve_to']);
    choice(r.visibility, VISIBILITY, 'visibility', [...path, 'visibility']);
    choice(r.on_failure, ON_FAILURE, 'on_failure', [...path, 'on_failure']);
    if (re && ok) dns.push({ name: r.name, re, address: canonicalAddress(to) });
  });

  const connect: ConnectRule[] = [];
  (doc.connect_redirects ?? []).forEach((r, i) => {
    const path: SourcePath = ['connect_redirects', i];
    const re = regex(r.match, [...path, 'match']);
    let target: { host: string; port: number } | null = null;
    if (r.redirect_to_unix !== undefined) {
      report('unsupported', 'redirect_to_unix is not supported yet (use redirect_to: host:port)', [...path, 'redirect_to_unix']);
    } else if (r.redirect_to === undefined) {
      report('missing-key', "a connect redirect needs 'redirect_to' (host:port)", path);
    } else {
      target = parseRedirectTarget(r.redirect_to);
      if (!target) report('invalid-value', `redirect_to must be host:port (IPv6 in brackets, port 1-65535), got ${JSON.stringify(r.redirect_to)}`, [...path, 'redirect_to']);
    }
    if (r.tls) {
      choice(r.tls.mode, TLS_MODE, 'tls.mode', [...path, 'tls', 'mode']);
      if (r.tls.sni !== undefined) report('unsupported', 'tls.sni is not supported yet (it belongs to tls.mode rewrite_sni; passthrough relays TLS untouched)', [...path, 'tls', 'sni']);
    }
    choice(r.visibility, VISIBILITY, 'visibility', [...path, 'visibility']);
    choice(r.on_failure, ON_FAILURE, 'on_failure', [...path, 'on_failure']);
    if (re && target) connect.push({ name: r.name, re, ...target, ...(r.message !== undefined ? { message: r.message } : {}) });
  });

  return {
    dns,
    connect,
    dnsFor(name: string) {
      if (dns.length === 0) return null;
      const n = name.trim().toLowerCase().replace(/\.$/, '');
      for (const r of dns) if (r.re.test(n)) return { rule: r.name, address: r.address };
      return null;
    },
    connectFor(host: string, port: number): ConnectRedirect | null {
      if (connect.length === 0) return null;
      const key = redirectKey(host, port);
      for (const r of connect) {
        if (r.re.test(key)) return { rule: r.name, host: r.host, port: r.port, ...(r.message !== undefined ? { message: r.message } : {}) };
      }
      return null;
    },
  };
}
