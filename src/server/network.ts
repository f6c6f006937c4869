// The session network, server side: the proxy and the DNS stub behind one gateway socket,
// the resolv.conf the sandboxes get, and the NetSession each session is seen as (its policy,
// its audit events, the approval hook). Started when sandbox.network.enabled and the machine
// can give commands a network namespace, or at least Landlock TCP rules (then each session's
// proxy is a TCP listener on the host's loopback); otherwise commands share the server's
// network and `agentsh detect` says the network is not enforced.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResolvedConfig } from '../config/load.js';
import { parseHostPort } from '../config/load.js';
import { approvalTimeoutMs } from '../approvals/manager.js';
import { DnsStub } from '../net/dns-stub.js';
import { LlmProxy, llmDlpFromConfig, llmEnv, llmProxyEnabled } from '../llm/index.js';
import { NetGateway } from '../net/gateway.js';
import { SessionProxy } from '../net/proxy.js';
import { resolverFromSettings } from '../net/resolver.js';
import { DEFAULT_NET_SETTINGS, type NetSession, type NetSettings } from '../net/types.js';
import { recordAfter, type ServerContext } from './context.js';
import type { NetworkState } from './sandbox-runtime.js';
import type { Session } from './sessions.js';

/** The proxy's port on each sandbox's own loopback when the config names none. */
export const DEFAULT_SANDBOX_PROXY_PORT = 3128;
/** The LLM proxy's port on each sandbox's own loopback when proxy.port is 0. */
export const DEFAULT_SANDBOX_LLM_PORT = 8082;

export interface SessionNetwork {
  gateway: NetGateway;
  proxy: SessionProxy;
  close(): Promise<void>;
}

export function netSettingsFrom(config: ResolvedConfig, reservedPorts: number[]): NetSettings {
  const n = config.sandbox.network ?? {};
  return {
    denyStatus: n.deny_status ?? DEFAULT_NET_SETTINGS.denyStatus,
    allowHostLoopback: n.allow_host_loopback ?? false,
    reservedPorts: new Set(reservedPorts),
  };
}

/** The proxy port inside the sandbox: proxy_listen_addr's port, else proxy_port, else 3128. */
export function sandboxProxyPort(config: ResolvedConfig): number {
  const n = config.sandbox.network ?? {};
  const listen = n.proxy_listen_addr ? parseHostPort(n.proxy_listen_addr) : null;
  if (listen && listen.port > 0) return listen.port;
  return n.proxy_port && n.proxy_port > 0 && n.proxy_port !== 53 ? n.proxy_port : DEFAULT_SANDBOX_PROXY_PORT;
}

export async function startSessionNetwork(ctx: ServerContext, opts: { reservedPorts: number[]; state: NetworkState }): Promise<SessionNetwork> {
  const { config } = ctx;
  const settings = netSettingsFrom(config, opts.reservedPorts);
  const resolver = resolverFromSettings({ servers: config.sandbox.network?.upstream_dns ?? [] });
  const proxy = new SessionProxy({ resolver, settings });
  // The LLM proxy (proxy.mode embedded): its upstreams are the operator's configured providers.
  const llm = llmProxyEnabled(config.proxy) ? new LlmProxy({ config: config.proxy, ...llmDlpFromConfig(config.dlp) }) : null;
  const dns = new DnsStub({ resolver, settings });
  const netSessions = new WeakMap<Session, NetSession>();
  const netSessionFor = (s: Session): NetSession => {
    let ns = netSessions.get(s);
    if (!ns) {
      ns = {
        sessionId: s.id,
        engine: s.engine,
        audit: (type, decision, rule, message, fields) => {
          const redacted = { ...fields };
          if (typeof redacted.url === 'string') redacted.url = ctx.redactText(redacted.url);
          recordAfter(ctx.audit, { type, session_id: s.id, decision, rule, message: ctx.redactText(message), fields: redacted });
        },
        approve: async (d, target) => {
          if (!ctx.approvals) return false;
          const { outcome } = ctx.approvals.request({
            sessionId: s.id,
            kind: 'network',
            rule: d.rule,
            message: ctx.redactText(d.message),
            target: `${target.host}:${target.port}${target.ip && target.ip !== target.host ? ` (${target.ip})` : ''}`,
            timeoutMs: approvalTimeoutMs(config.approvals.timeout, d.timeoutMs),
          });
          return (await outcome).approved;
        },
      };
      netSessions.set(s, ns);
    }
    return ns;
  };
  const gateway = new NetGateway({
    socketPath: join(ctx.paths.runDir, 'net.sock'),
    services: { proxy, dns: { handle: (socket, session) => dns.handleStream(socket, session) }, ...(llm ? { llm } : {}) },
    sessionFor: (id) => {
      if (ctx.audit.failure?.()) return null; // no connection its event can't record
      const s = ctx.sessions.find(id);
      return s ? netSessionFor(s) : null;
    },
  });
  await gateway.listen();
  if (opts.state === 'landlock-tcp') await gateway.listenTcp();
  const resolvConf = join(ctx.paths.runDir, 'resolv.conf');
  // The sandbox's only resolver is the stub on its own loopback (relayed to the gateway).
  writeFileSync(resolvConf, 'nameserver 127.0.0.1\noptions timeout:2 attempts:2\n', { mode: 0o644 });
  ctx.sandbox.useNetwork({
    socket: gateway.socketPath,
    proxyPort: sandboxProxyPort(config),
    resolvConf,
    tokenFor: (s) => gateway.tokenFor(s.id),
    tcpPortFor: (s, service) => gateway.tcpPortFor(s.id, service),
    forget: (s) => gateway.forget(s.id),
    ...(llm ? { llm: { port: config.proxy.port && config.proxy.port > 0 ? config.proxy.port : DEFAULT_SANDBOX_LLM_PORT, env: (base: string) => llmEnv(base, config.proxy) } } : {}),
  }, opts.state);
  return {
    gateway,
    proxy,
    close: async () => {
      await proxy.close();
      await llm?.close();
      await gateway.close();
    },
  };
}
