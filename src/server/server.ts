// `agentsh server`: loads config, becomes the only server for its run directory (holding the
// configured TCP address is the lock: the kernel releases it when we die), serves the API and
// the shim sockets, and shuts down without leaving anything half-written.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { Server } from 'node:net';
import { dirname, join } from 'node:path';
import { ApprovalManager } from '../approvals/manager.js';
import type { ResolvedConfig } from '../config/load.js';
import type { OpaqueMode } from '../policy/engine.js';
import { parseHostPort } from '../config/load.js';
import { buildLauncher } from '../sandbox/launcher.js';
import { apiHandler, type ApiState } from './api.js';
import { recordAfter, type AuditRecorder, type ServerContext } from './context.js';
import type { OutputFilter } from './exec.js';
import { defaultRunDir, runPaths, type RunPaths } from './paths.js';
import { SessionManager } from './sessions.js';
import { FuseViews } from './fuse-views.js';
import { defaultExecDirs, interceptsCalls, networkState, ownPidNamespace, probeModes, SandboxRuntime, type ModeReport } from './sandbox-runtime.js';
import { startShimServers, type ShimUser } from './shim-server.js';
import { lookupUser } from './users.js';
import { purgeTrashes } from './trash.js';
import { startSessionNetwork, type SessionNetwork } from './network.js';
import { parseDuration } from '../util/duration.js';

export interface ServerOptions {
  config: ResolvedConfig;
  /** Opened once this process holds the server lock, so a second server never touches the log. */
  openAudit: () => Promise<AuditRecorder & { close?: () => Promise<void> | void }>;
  outputFilter: () => OutputFilter | null;
  redactText: (s: string) => string;
  log?: (line: string) => void;
  /** The server's own files (audit log, key): hidden from every command, whatever the policy says. */
  controlPlane?: string[];
}

export interface RunningServer {
  paths: RunPaths;
  token: string;
  httpAddress: { host: string; port: number };
  close(): Promise<void>;
}

export class AlreadyRunningError extends Error {}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { config } = opts;
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const runDir = config.server.shim?.run_dir ?? defaultRunDir();
  const paths = runPaths(runDir, config.server.unix_socket?.path);
  mkdirSync(runDir, { recursive: true, mode: 0o755 });
  mkdirSync(dirname(paths.apiSocket), { recursive: true, mode: 0o755 });

  const addr = parseHostPort(config.server.http.addr);
  if (!addr) throw new Error(`invalid server.http.addr '${config.server.http.addr}'`);

  const state: ApiState = { ready: false, token: '', startedAt: Date.now() };
  const launcher = buildLauncher();
  const modes = probeModes(config, launcher);
  const users = shimUsers(config);
  const sessionsDir = config.sessions.base_dir;
  const sandbox = new SandboxRuntime(
    modes,
    {
      controlPlane: [runDir, sessionsDir, ...(opts.controlPlane ?? [])],
      exposed: [paths.pidNsFile, ...users.map((u) => paths.shimSocket(u.uid))],
      sessionMarker: paths.pidNsFile,
      sessionsDir,
    },
    defaultExecDirs(config),
  );
  // Requests before `ready` only reach /health and /ready; the audit recorder is set below.
  const ctx: ServerContext = {
    config,
    sessions: new SessionManager(config, { enabled: config.approvals.enabled, whenUnavailable: config.approvals.when_unavailable }, effectiveOpaqueMode(config, modes)),
    audit: undefined as unknown as AuditRecorder,
    outputFilter: opts.outputFilter,
    redactText: opts.redactText,
    paths,
    inject: { ...(config.sandbox.env_inject ?? {}) },
    launcher,
    sandbox,
    counters: new Map(),
    approvals: null,
  };
  const handler = apiHandler(ctx, state);

  // 1. The lock: only one process can listen on the configured address.
  const tcp = createServer(handler);
  await new Promise<void>((resolveListen, rejectListen) => {
    tcp.once('error', (err: NodeJS.ErrnoException) => rejectListen(err.code === 'EADDRINUSE' ? new AlreadyRunningError(`another server already listens on ${config.server.http.addr}`) : err));
    tcp.listen(addr.port, addr.host, () => resolveListen());
  });
  const bound = tcp.address();
  const httpAddress = typeof bound === 'object' && bound ? { host: bound.address, port: bound.port } : addr;

  // 2. Everything below is ours now: stale sockets from a dead server can go.
  let audit: Awaited<ReturnType<ServerOptions['openAudit']>>;
  try {
    audit = await opts.openAudit();
  } catch (err) {
    await new Promise<void>((r) => tcp.close(() => r()));
    throw err;
  }
  ctx.audit = audit;
  // A log that can't be written ends what runs (fail closed): a running command's later execs
  // that were never asked about, its connections and its FUSE file operations would otherwise
  // go on unrecorded. New commands, sessions and connections are refused from then on.
  audit.onFailure?.((message) => {
    const sessions = ctx.sessions.list();
    const running = sessions.reduce((n, s) => n + s.running.size, 0);
    log(`agentsh: ${message}: every command is refused from now on and the ${running} running were ended (nothing runs unaudited); restart the server once the log can be written`);
    for (const s of sessions) s.killAll();
  });
  if (config.approvals.enabled) {
    ctx.approvals = new ApprovalManager({
      audit: (r) => recordAfter(ctx.audit, { ...r, message: ctx.redactText(r.message) }), // approvals still resolve
      journal: join(runDir, 'approvals.json'),
      onPending: (a) => log(`agentsh: approval ${a.id} pending (${a.kind}, rule ${a.rule}): ${a.target} — agentsh approve resolve ${a.id} allow|deny`),
    });
    for (const a of ctx.approvals.recoverJournal()) log(`agentsh: approval ${a.id} was pending when the previous server stopped: recorded as failed (the operation did not run)`);
  }
  state.token = randomBytes(32).toString('hex');
  writeFileSync(paths.tokenFile, `${state.token}\n`, { mode: 0o600 });
  chmodSync(paths.tokenFile, 0o600);
  writeFileSync(paths.pidFile, `${process.pid}\n`, { mode: 0o644 });
  writeFileSync(paths.pidNsFile, `${ownPidNamespace()}\n`, { mode: 0o644 });
  chmodSync(paths.pidNsFile, 0o644);
  mkdirSync(sessionsDir, { recursive: true, mode: 0o711 });

  rmSync(paths.apiSocket, { force: true });
  const unix = createServer(handler);
  await new Promise<void>((resolveListen, rejectListen) => {
    unix.once('error', rejectListen);
    unix.listen(paths.apiSocket, () => resolveListen());
  });
  chmodSync(paths.apiSocket, 0o600);

  // The session network: commands get their own network namespace whose only ways out are
  // the proxy and the DNS stub (sandbox.network.enabled and a network namespace needed).
  let network: SessionNetwork | null = null;
  const netState = networkState(config, modes);
  if (netState === 'session' || netState === 'landlock-tcp') network = await startSessionNetwork(ctx, { reservedPorts: [httpAddress.port], state: netState });
  if (netState === 'landlock-tcp') {
    log('agentsh: no network namespace can be made here: commands may connect by TCP only to their session\'s proxy port (Landlock); UDP (DNS included) and ICMP are NOT governed (agentsh detect shows this)');
  } else if (netState === 'shared') {
    log(`agentsh: sandbox.network.enabled but neither a network namespace nor Landlock TCP rules (ABI 4) are available here: commands share the server's network and network_rules are NOT enforced (agentsh detect shows this)`);
  }
  if (netState === 'landlock-tcp' || netState === 'shared') ctx.audit.record({ type: 'audit_warning', message: `network enforcement degraded: ${netState}`, fields: { state: netState } });
  if (modes.fallbacks.length) {
    const text = `security mode ${modes.mode}, not full: ${modes.fallbacks.join('; ')}`;
    log(`agentsh: ${text} (agentsh detect shows what each domain still enforces)`);
    ctx.audit.record({ type: 'audit_warning', message: text, fields: { mode: modes.mode, available: modes.available, fallbacks: modes.fallbacks } });
  }

  // The FUSE workspace views: mode landlock only (nothing else intercepts deletes there).
  const fuseViews = new FuseViews(ctx, sessionsDir, log);
  ctx.fuseViews = fuseViews;
  sandbox.useWorkspaceViews(fuseViews);
  // Never silent: a file rule the kernel can't fully enforce in a session is said when its plan is built.
  sandbox.onPlanGaps((session, gaps) => {
    for (const g of gaps) log(`agentsh: session ${session.id}: ${g}`);
    recordAfter(ctx.audit, { type: 'audit_warning', session_id: session.id, message: `file rules not fully kernel-enforced: ${gaps.length}`, fields: { not_kernel_enforced: gaps, workspace: session.workspace } });
  });
  const fuse = fuseViews.state();
  if (modes.mode === 'landlock' && config.sandbox.enabled !== false) {
    const text = fuse.state === 'active'
      ? 'the workspace goes through a FUSE view (soft delete, file_rules per operation, file audit); elsewhere deletes in soft-delete areas are refused'
      : `no FUSE workspace view (${fuse.reason ?? fuse.state}): deletes in soft-delete areas are refused`;
    log(`agentsh: ${text}`);
    ctx.audit.record({ type: 'audit_warning', message: `fuse: ${text}`, fields: { fuse: fuse.state, ...(fuse.reason ? { reason: fuse.reason } : {}) } });
  }

  const shimServers: Server[] = await startShimServers(ctx, users, (user, env, _cwd) => {
    const requested = env.AGENTSH_SESSION_ID;
    if (requested) {
      const s = ctx.sessions.get(requested);
      if (s.uid !== null && s.uid !== user.uid) throw new Error(`session ${requested} belongs to another user`);
      return s;
    }
    const id = `shim-${user.uid}`;
    const existing = ctx.sessions.find(id);
    if (existing) return existing;
    const home = lookupUser(user.uid).home;
    const s = ctx.sessions.create({ id, workspace: home, uid: user.uid, env: { HOME: home } });
    ctx.audit.record({ type: 'session_created', session_id: s.id, fields: { workspace: s.workspace, policy: s.policyName, policy_file: s.policyFile, source: 'shim' } });
    return s;
  });

  // Sessions past their idle or lifetime limits end; their private /tmp goes with them.
  const reaper = setInterval(() => {
    try {
      for (const { session, reason } of ctx.sessions.expire()) {
        ctx.sandbox.forget(session);
        ctx.approvals?.endSession(session.id);
        ctx.audit.record({ type: 'session_expired', session_id: session.id, fields: { reason, commands: session.commands } });
      }
      purgeTrashes(ctx);
    } catch (err) {
      // An audit log that can no longer be written must not take the server down with it.
      log(`agentsh: session reaper: ${(err as Error).message}`);
    }
  }, parseDuration(config.sessions.cleanup_interval ?? '1m') ?? 60_000);
  reaper.unref();

  state.ready = true;
  ctx.audit.record({ type: 'server_start', fields: { pid: process.pid, http: `${httpAddress.host}:${httpAddress.port}`, socket: paths.apiSocket, shim_users: users.map((u) => u.uid), security_mode: modes.mode, mechanisms: modes.mechanisms, network: netState, fuse: fuse.state, ...(modes.refusal ? { refusal: modes.refusal } : {}) } });
  log(`agentsh server ${process.pid} listening on ${httpAddress.host}:${httpAddress.port} and ${paths.apiSocket}; shim sockets for uid ${users.map((u) => u.uid).join(', ')}; security mode ${modes.mode}${modes.refusal ? ` (commands refused: ${modes.refusal})` : ''}`);

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      state.ready = false;
      clearInterval(reaper);
      const closeServer = (s: Server | HttpServer) => new Promise<void>((r) => s.close(() => r()));
      ctx.approvals?.close();
      ctx.sessions.destroyAll();
      ctx.audit.record({ type: 'server_stop', fields: { pid: process.pid } });
      for (const s of [tcp, unix]) (s as HttpServer).closeAllConnections?.();
      await Promise.all([closeServer(tcp), closeServer(unix), ...shimServers.map(closeServer), network?.close(), fuseViews.stopAll()]);
      await audit.close?.();
      for (const p of [paths.apiSocket, paths.tokenFile, paths.pidNsFile, ...users.map((u) => paths.shimSocket(u.uid))]) rmSync(p, { force: true });
      if (readPid(paths.pidFile) === process.pid) rmSync(paths.pidFile, { force: true });
    })());
  return { paths, token: state.token, httpAddress, close };
}

/**
 * sandbox.seccomp.shellc.opaque: 'enforce' (default) leaves commands the pre-check can't see
 * (`$CMD args`, eval, `curl … | bash`) to exec-time checks (security mode full: every exec
 * in the sandbox is checked). Without them they are denied, never silently allowed; 'allow'
 * is the operator's explicit choice.
 */
export function effectiveOpaqueMode(config: ResolvedConfig, modes: Pick<ModeReport, 'mode'>): OpaqueMode {
  const configured = configuredOpaqueMode(config);
  return configured === 'enforce' && !interceptsCalls(modes.mode) ? 'deny' : configured;
}

export function configuredOpaqueMode(config: ResolvedConfig): OpaqueMode {
  return config.sandbox.seccomp?.shellc?.opaque ?? 'enforce';
}

function readPid(file: string): number | null {
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return null;
  }
}

function shimUsers(config: ResolvedConfig): ShimUser[] {
  const own = process.getuid?.() ?? 0;
  const specs = config.server.shim?.users ?? [];
  const users = specs.length ? specs.map((s) => lookupUser(s)) : [{ uid: own, gid: process.getgid?.() ?? 0 }];
  // The toolbox's user (set by the local provider, src/server/toolbox.ts): its `bash -c` comes back through the shim.
  const toolbox = process.env.AGENTSH_TOOLBOX_USER ? lookupUser(process.env.AGENTSH_TOOLBOX_USER) : null;
  if (toolbox && !users.some((u) => u.uid === toolbox.uid)) users.push(toolbox);
  for (const u of users) {
    if (own !== 0 && u.uid !== own) throw new Error(`server.shim.users: running as uid ${own}, the server can only run commands as itself (not uid ${u.uid})`);
  }
  return users.map((u) => ({ uid: u.uid, gid: u.gid }));
}
