// The resolver every sandbox name goes through (proxy and DNS stub alike; net/types.ts).
//
//   servers given   c-ares (`dns.promises.Resolver`) pointed at exactly those servers
//                   ('127.0.0.1:5353', '[::1]:53'): A and AAAA in parallel, no search
//                   domains, no /etc/hosts; record TTLs honoured up to the cache maximum.
//   no servers      the system resolver (`dns.promises.lookup`, getaddrinfo): /etc/hosts,
//                   nsswitch, the host's resolv.conf; no TTLs, so answers are kept for the
//                   cache maximum.
//
// Results: IPv4 first, then IPv6, each in the order received, deduplicated. Errors are
// ResolveError: NXDOMAIN (the name does not exist), NODATA (it has no A/AAAA), TIMEOUT,
// REFUSED, SERVFAIL (anything else). When one family answers and the other fails, the
// answering family wins.
//
// A small in-process cache (bounded; oldest evicted first) keeps answers for
// min(record TTL, maxTtlSeconds) and NXDOMAIN/NODATA for NEGATIVE_TTL_S; concurrent lookups
// of one name share one query. Names are validated by the callers (normaliseHost); this
// module only refuses what no resolver should see (empty, over 253 characters).
import { promises as dnsPromises } from 'node:dns';
import { isIP } from 'node:net';
import { ResolveError, type ResolveErrorCode, type Resolver } from './types.js';

export interface ResolverSettings {
  /** Upstream DNS servers (ip, ip:port, [ipv6]:port); absent or empty: the system resolver. */
  servers?: string[];
  /** Budget for one name (both families), default 3000 ms. */
  timeoutMs?: number;
  /** Longest time an answer is reused (default 30 s; 0 disables the cache). */
  maxTtlSeconds?: number;
  /** Names kept in the cache (default 4096). */
  cacheSize?: number;
}

export const DEFAULT_RESOLVE_TIMEOUT_MS = 3000;
const NEGATIVE_TTL_S = 5;

interface Entry {
  expires: number;
  addresses?: string[];
  error?: ResolveError;
}

function codeOf(err: unknown): ResolveErrorCode {
  if (err instanceof ResolveError) return err.code;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOTFOUND':
      return 'NXDOMAIN';
    case 'ENODATA':
      return 'NODATA';
    case 'ETIMEOUT':
    case 'EAI_AGAIN':
      return 'TIMEOUT';
    case 'EREFUSED':
      return 'REFUSED';
    default:
      return 'SERVFAIL';
  }
}

/** IPv4 first, then IPv6, order kept, duplicates dropped. */
function ordered(addresses: string[]): string[] {
  const v4 = new Set<string>();
  const v6 = new Set<string>();
  for (const a of addresses) (isIP(a) === 4 ? v4 : v6).add(a.toLowerCase());
  return [...v4, ...v6];
}

function timeout<T>(p: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ResolveError('TIMEOUT', `${name}: no answer within ${ms} ms`)), ms);
    timer.unref?.();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

type Lookup = (name: string) => Promise<{ addresses: string[]; ttl: number }>;

function caresLookup(servers: string[], timeoutMs: number): Lookup {
  // c-ares retries with a doubled timeout: 2 tries of t and 2t fit in about 3t.
  const resolver = new dnsPromises.Resolver({ timeout: Math.max(50, Math.floor(timeoutMs / 3)), tries: 2 });
  resolver.setServers(servers); // throws on a malformed server: a configuration error, at start-up
  return async (name) => {
    const [r4, r6] = await Promise.allSettled([resolver.resolve4(name, { ttl: true }), resolver.resolve6(name, { ttl: true })]);
    const records = [...(r4.status === 'fulfilled' ? r4.value : []), ...(r6.status === 'fulfilled' ? r6.value : [])];
    if (records.length > 0) {
      return { addresses: ordered(records.map((r) => r.address)), ttl: Math.min(...records.map((r) => r.ttl)) };
    }
    const codes = [r4, r6].map((r) => (r.status === 'rejected' ? codeOf(r.reason) : 'NODATA'));
    const code: ResolveErrorCode = codes.includes('NXDOMAIN')
      ? 'NXDOMAIN'
      : codes.every((c) => c === 'NODATA')
        ? 'NODATA'
        : codes.includes('TIMEOUT')
          ? 'TIMEOUT'
          : codes.includes('REFUSED')
            ? 'REFUSED'
            : 'SERVFAIL';
    throw new ResolveError(code, `${name}: ${code}`);
  };
}

function systemLookup(maxTtl: number): Lookup {
  return async (name) => {
    try {
      const found = await dnsPromises.lookup(name, { all: true, verbatim: true });
      if (found.length === 0) throw new ResolveError('NODATA', `${name}: no addresses`);
      return { addresses: ordered(found.map((f) => f.address)), ttl: maxTtl };
    } catch (err) {
      if (err instanceof ResolveError) throw err;
      const code = codeOf(err);
      throw new ResolveError(code, `${name}: ${code}`);
    }
  };
}

/** The resolver `sandbox.network` describes (see the module comment). */
export function resolverFromSettings(opts: ResolverSettings = {}): Resolver {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS;
  const maxTtl = opts.maxTtlSeconds ?? 30;
  const cacheSize = opts.cacheSize ?? 4096;
  const lookup = opts.servers?.length ? caresLookup(opts.servers, timeoutMs) : systemLookup(maxTtl);
  const cache = new Map<string, Entry>();
  const pending = new Map<string, Promise<string[]>>();

  const remember = (key: string, entry: Entry): void => {
    if (maxTtl <= 0 || cacheSize <= 0 || entry.expires <= Date.now()) return;
    cache.delete(key);
    while (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
    cache.set(key, entry);
  };

  const query = async (key: string): Promise<string[]> => {
    try {
      const { addresses, ttl } = await timeout(lookup(key), timeoutMs, key);
      remember(key, { expires: Date.now() + Math.min(ttl, maxTtl) * 1000, addresses });
      return addresses;
    } catch (err) {
      const e = err instanceof ResolveError ? err : new ResolveError(codeOf(err), `${key}: ${codeOf(err)}`);
      if (e.code === 'NXDOMAIN' || e.code === 'NODATA') remember(key, { expires: Date.now() + Math.min(NEGATIVE_TTL_S, maxTtl) * 1000, error: e });
      throw e;
    }
  };

  return {
    resolve(name: string): Promise<string[]> {
      const key = name.trim().toLowerCase().replace(/\.$/, '');
      if (key.length === 0 || key.length > 253) return Promise.reject(new ResolveError('NXDOMAIN', `invalid name ${JSON.stringify(name.slice(0, 300))}`));
      if (isIP(key)) return Promise.resolve([key]);
      const hit = cache.get(key);
      if (hit) {
        if (hit.expires > Date.now()) return hit.error ? Promise.reject(hit.error) : Promise.resolve([...hit.addresses!]);
        cache.delete(key);
      }
      let p = pending.get(key);
      if (!p) {
        p = query(key).finally(() => pending.delete(key));
        pending.set(key, p);
      }
      return p.then((a) => [...a]);
    },
  };
}
