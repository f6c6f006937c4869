// Where every session connection is decided (proxy: HTTP, CONNECT, SOCKS5), rebinding-safe:
//
//   1 the name phase: network_rules first match on the name and port (rules with cidrs need
//     an address and are skipped), or on the address for an IP literal;
//   2 agentsh resolves the name itself (dns_redirects first) and checks EVERY address: the
//     first rule with cidrs covering it (checkAddress), else the built-in guards (cloud
//     metadata and link-local, unspecified and multicast addresses; the agentsh host's own
//     loopback unless sandbox.network.allow_host_loopback; the server's own ports always);
//   3 the strictest of all these decides; `approve` waits for the session's approval hook;
//   4 the caller connects only to the address returned, which is one that was checked.
//
// A name whose decision is deny is never resolved (no DNS query leaves for it).
import { BlockList, isIP } from 'node:net';
import { stricter, type PolicyDecision } from '../policy/decision.js';
import { ResolveError, type ConnectRedirect, type NetSession, type NetSettings, type NetTarget, type Redirects, type Resolver } from './types.js';

export interface ConnectionDecision {
  /** The deciding decision (the strictest of the name and address phases, approval applied). */
  decision: PolicyDecision;
  /** Name (lower case, no brackets, no trailing dot) or address literal as requested. */
  host: string;
  port: number;
  /** The checked address to connect to; absent when refused. */
  address?: string;
  /** Where the connection goes when a connect_redirects rule matched. */
  redirect?: ConnectRedirect;
  /** Every address the name resolved to (empty for refusals before resolution). */
  addresses: string[];
}

export interface DecideDeps {
  resolver: Resolver;
  redirects: Redirects;
  settings: NetSettings;
}

function ranges(v4: string[], v6: string[]): BlockList {
  const b = new BlockList();
  for (const c of v4) {
    const [a, p] = c.split('/');
    b.addSubnet(a!, Number(p), 'ipv4');
  }
  for (const c of v6) {
    const [a, p] = c.split('/');
    b.addSubnet(a!, Number(p), 'ipv6');
  }
  return b;
}

// Cloud metadata endpoints (AWS/GCP/Azure 169.254.169.254, Alibaba 100.100.100.200, AWS IPv6
// fd00:ec2::254) and link-local ranges, where metadata services live on other clouds.
const METADATA = ranges(['169.254.0.0/16', '100.100.100.200/32'], ['fe80::/10', 'fd00:ec2::254/128']);
const LOOPBACK = ranges(['127.0.0.0/8'], ['::1/128']);
const UNROUTABLE = ranges(['0.0.0.0/8', '224.0.0.0/4', '240.0.0.0/4'], ['::/128', 'ff00::/8']);

/** An address as the kernel will use it: IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4. */
export function canonicalAddress(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (m) return m[1]!;
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (hex) {
    const hi = parseInt(hex[1]!, 16);
    const lo = parseInt(hex[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return ip.toLowerCase();
}

/** Lower case, brackets and one trailing dot removed; null for something that is no host name or address. */
export function normaliseHost(host: string): string | null {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  if (isIP(h)) return canonicalAddress(h);
  // RFC 1123 labels (underscores tolerated: they exist in the wild); nothing else reaches a resolver.
  if (h.length === 0 || h.length > 253) return null;
  return /^(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*$/.test(h) ? h : null;
}

function family(ip: string): 'ipv4' | 'ipv6' {
  return isIP(ip) === 4 ? 'ipv4' : 'ipv6';
}

/**
 * The built-in guard for an address no cidr rule covered (or, for loopback and reserved
 * ports, any address): a deny decision, or null when agentsh has no objection.
 */
export function builtinAddressGuard(session: NetSession, ip: string, port: number, settings: NetSettings, explicitAllow: boolean): PolicyDecision | null {
  const f = family(ip);
  const deny = (rule: string, message: string) => session.engine.builtinDecision('network', rule, 'deny', message);
  if (LOOPBACK.check(ip, f)) {
    if (settings.reservedPorts.has(port)) return deny('builtin-agentsh-port', `${ip}:${port} is agentsh's own service on the host`);
    if (!settings.allowHostLoopback) return deny('builtin-host-loopback', `${ip} is the agentsh host's loopback, not the sandbox's (sandbox.network.allow_host_loopback is off)`);
    return null;
  }
  if (UNROUTABLE.check(ip, f)) return deny('builtin-unroutable', `${ip} is an unspecified, multicast or reserved address`);
  if (!explicitAllow && METADATA.check(ip, f)) return deny('builtin-metadata', `${ip} is a cloud metadata or link-local address`);
  return null;
}

/** The address phase for one address: the policy's cidr rules, then the built-in guards. */
export function checkResolvedAddress(session: NetSession, ip: string, port: number, host: string, settings: NetSettings): PolicyDecision | null {
  const a = canonicalAddress(ip);
  const rule = session.engine.checkAddress(a, port, isIP(host) ? '' : host);
  if (rule?.decision === 'deny') return rule;
  return builtinAddressGuard(session, a, port, settings, rule?.policyDecision === 'allow') ?? rule;
}

/** Decides one connection the way module comment says; never throws for policy or DNS reasons. */
export async function decideConnection(session: NetSession, target: NetTarget, deps: DecideDeps): Promise<ConnectionDecision> {
  const { engine } = session;
  const host = normaliseHost(target.host);
  const port = target.port;
  const refuse = (decision: PolicyDecision, h = target.host, addresses: string[] = []): ConnectionDecision => ({ decision, host: h, port, addresses });
  if (host === null || !Number.isInteger(port) || port < 1 || port > 65535) {
    return refuse(engine.builtinDecision('network', 'builtin-invalid-target', 'deny', `invalid destination ${JSON.stringify(target.host)}:${port}`));
  }
  const literal = isIP(host) !== 0;
  let decision = literal ? engine.checkNetwork(host, port, host) : engine.checkNetwork(host, port);
  if (decision.decision === 'deny') return refuse(decision, host);

  const redirect = deps.redirects.connectFor(host, port) ?? undefined;
  const dialHost = redirect ? (normaliseHost(redirect.host) ?? redirect.host) : host;
  const dialPort = redirect ? redirect.port : port;

  let addresses: string[];
  if (isIP(dialHost)) addresses = [dialHost];
  else {
    const dns = deps.redirects.dnsFor(dialHost);
    if (dns) addresses = [canonicalAddress(dns.address)];
    else {
      try {
        addresses = (await deps.resolver.resolve(dialHost)).map(canonicalAddress);
      } catch (err) {
        const code = err instanceof ResolveError ? err.code : 'SERVFAIL';
        return refuse(engine.builtinDecision('network', 'builtin-resolve-failed', 'deny', `${dialHost} could not be resolved (${code})`), host);
      }
    }
  }
  if (addresses.length === 0) return refuse(engine.builtinDecision('network', 'builtin-resolve-failed', 'deny', `${dialHost} has no addresses`), host);

  for (const a of addresses) {
    const d = checkResolvedAddress(session, a, dialPort, dialHost, deps.settings);
    if (d) decision = stricter(decision, d);
    if (decision.decision === 'deny') return { ...refuse(decision, host, addresses), ...(redirect ? { redirect } : {}) };
  }
  if (decision.decision === 'approve') {
    const ok = await session.approve(decision, { host, port, ip: addresses[0]! }).catch(() => false);
    if (!ok) {
      return refuse({ ...decision, decision: 'deny', message: `not approved: ${decision.message}` }, host, addresses);
    }
  }
  const v4 = addresses.find((a) => isIP(a) === 4);
  return { decision, host, port, address: v4 ?? addresses[0]!, addresses, ...(redirect ? { redirect } : {}) };
}

/**
 * For the DNS stub: whether a name may be resolved at all. Only names a rule NAMES (a domains
 * list matching it, allow/audit/approve on some port) are; names reachable only through
 * rules without domains (approve any :443) are not, so DNS is no exfiltration channel for
 * arbitrary names — the proxy resolves those itself once a connection is decided.
 */
export function nameMayResolve(session: NetSession, name: string): PolicyDecision | null {
  const host = normaliseHost(name);
  if (host === null || isIP(host)) return null;
  return session.engine.checkName(host);
}

// The ports at which a policy's network rules can differ: every port some rule names, plus
// one port no rule names (all such ports are decided alike). Computed once per policy.
const rulePorts = new WeakMap<object, number[]>();

function representativePorts(session: NetSession, settings: NetSettings): number[] {
  const policy = session.engine.policy;
  let named = rulePorts.get(policy);
  if (!named) {
    const set = new Set<number>();
    for (const r of policy.networkRules) for (const p of r.ports ?? []) if (p >= 1 && p <= 65535) set.add(p);
    named = [...set].sort((a, b) => a - b);
    rulePorts.set(policy, named);
  }
  let other = 1;
  while (other < 65535 && (named.includes(other) || settings.reservedPorts.has(other))) other++;
  return [...named, other];
}

/**
 * For the DNS stub: whether `ip` may be returned for `name`. It may when SOME port exists on
 * which a connection to `name` through `ip` would not be refused — neither by the name phase
 * (checkNetwork(name, port)) nor by the address phase (checkResolvedAddress, i.e. the cidr
 * rules and the built-in guards). Checking every port a rule names plus one port no rule
 * names covers all ports exactly, so a rule with `ports` neither hides nor exposes an
 * address. Returns null when the address may be returned, else the refusal to audit (the
 * address phase's, preferably at a port the name itself is allowed on). The proxy still
 * decides each connection on its own; this only keeps refused addresses (private ranges,
 * metadata, the host's loopback) out of DNS answers.
 */
export function addressRefusedForName(session: NetSession, name: string, ip: string, settings: NetSettings): PolicyDecision | null {
  const host = normaliseHost(name);
  const a = canonicalAddress(ip);
  if (host === null || isIP(host) || !isIP(a)) {
    return session.engine.builtinDecision('network', 'builtin-invalid-target', 'deny', `invalid name or address ${JSON.stringify(name)} → ${JSON.stringify(ip)}`);
  }
  let addressDenyNameOk: PolicyDecision | null = null;
  let addressDeny: PolicyDecision | null = null;
  let nameDeny: PolicyDecision | null = null;
  for (const port of representativePorts(session, settings)) {
    const byName = session.engine.checkNetwork(host, port);
    const byAddress = checkResolvedAddress(session, a, port, host, settings);
    const nameRefused = byName.decision === 'deny';
    const addressRefused = byAddress?.decision === 'deny';
    if (!nameRefused && !addressRefused) return null;
    if (addressRefused) {
      if (!nameRefused) addressDenyNameOk ??= byAddress;
      addressDeny ??= byAddress;
    } else nameDeny ??= byName;
  }
  return addressDenyNameOk ?? addressDeny ?? nameDeny!;
}
