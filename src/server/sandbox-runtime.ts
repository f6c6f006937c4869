// What the server's session sandbox can do on this machine, and the per-command plan.
//
// The mechanisms are probed for real at start (the launcher installs a Landlock ruleset, a
// seccomp filter with a user-notify listener, and creates each namespace in a throw-away
// child), so "active" never means "the kernel claims to have it". security.mode picks what is
// used (auto: the best available), security.minimum_mode is the floor below which commands
// are refused with the list of what is missing.
import { chmodSync, existsSync, mkdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { ResolvedConfig } from '../config/load.js';
import { compileFsPlan, DEFAULT_EXEC_DIRS, NOT_KERNEL_ENFORCED, type FsPlan } from '../sandbox/fs-plan.js';
import { probeLauncher, serializePlan, type Plan } from '../sandbox/launcher.js';
import { probeCgroups, sweepStaleCgroups, type CgroupProbe } from '../sandbox/cgroups.js';
import { limitsFromPolicy, ResourceManager } from '../sandbox/resources.js';
import { buildSessionPlan } from '../sandbox/session-plan.js';
import { execAskList } from './interception.js';
import { netHello } from '../net/gateway.js';
import type { Session } from './sessions.js';

/**
 * full: namespaces + Landlock + seccomp, every exec/signal/delete decided through seccomp
 * user-notify. ptrace: the same, with the supervisor as the command tree's tracer where a
 * listener can't be installed (a runtime already holds one: EBUSY). landlock: no exec-time
 * interception (the workspace may get the FUSE view for soft delete). landlock-only: no
 * namespaces. minimal: nothing in the kernel.
 */
export type SecurityMode = 'full' | 'ptrace' | 'landlock' | 'landlock-only' | 'minimal';
/** Strongest first. */
export const MODE_ORDER: readonly SecurityMode[] = ['full', 'ptrace', 'landlock', 'landlock-only', 'minimal'];

/** Modes whose commands run in the session sandbox's namespaces. */
export const hasNamespaces = (m: SecurityMode): boolean => m === 'full' || m === 'ptrace' || m === 'landlock';
/** Modes where every exec, signal and delete inside the sandbox is decided by the server. */
export const interceptsCalls = (m: SecurityMode): boolean => m === 'full' || m === 'ptrace';

export interface Mechanisms {
  landlock: boolean;
  landlockAbi: number;
  seccomp: boolean;
  seccompNotify: boolean;
  /** The supervisor can trace its command tree (PTRACE_SEIZE of its own child). */
  ptrace: boolean;
  namespaces: boolean;
  userns: boolean;
  /** A network namespace the sandbox can own (the session network: loopback and agentsh's relays only). */
  netns: boolean;
}

export interface ModeReport {
  /** The mode commands run in. */
  mode: SecurityMode;
  /** The best this machine allows. */
  available: SecurityMode;
  mechanisms: Mechanisms;
  /** Mechanisms the operator switched off for testing (AGENTSH_FORCE_UNAVAILABLE). */
  forcedOff: string[];
  /** Set when the mode is below security.minimum_mode: commands are refused with this text. */
  refusal: string | null;
  missing: string[];
  /**
   * Why the mode is below full, one entry per mechanism not used and the probe's reason
   * (`seccomp user-notify: unavailable EBUSY`); empty in full mode or with the sandbox off.
   * The server logs them and records an audit warning: a fallback is never silent.
   */
  fallbacks: string[];
}

const FORCEABLE = ['landlock', 'seccomp', 'seccomp_notify', 'ptrace', 'namespaces', 'userns', 'netns'] as const;

/** Parses `agentsh-launcher --probe` output; `forcedOff` pretends mechanisms are missing. */
export function mechanismsFrom(lines: string[], forcedOff: readonly string[] = []): Mechanisms {
  const ok = (label: string) => lines.includes(`${label} ok`);
  const abi = Number(/^landlock abi (\d+)$/m.exec(lines.join('\n'))?.[1] ?? 0);
  const off = new Set(forcedOff);
  const root = process.getuid?.() === 0;
  const userns = ok('ns user') && !off.has('userns');
  // Unprivileged, the sandbox's user namespace owns the others: probed together.
  const ns = (root ? ok('ns mount') && ok('ns pid') && ok('ns ipc') && ok('ns uts') : userns && ok('ns user+mount+pid+ipc+uts')) && !off.has('namespaces');
  const seccomp = ok('seccomp filter') && !off.has('seccomp');
  return {
    landlock: abi > 0 && ok('landlock restrict_self') && !off.has('landlock'),
    landlockAbi: off.has('landlock') ? 0 : abi,
    seccomp,
    seccompNotify: seccomp && ok('seccomp user_notif') && !off.has('seccomp_notify'),
    // ptrace stops come from a seccomp filter (SECCOMP_RET_TRACE): it needs seccomp too
    ptrace: seccomp && ok('ptrace seize') && !off.has('ptrace'),
    namespaces: ns,
    userns,
    netns: ns && (root ? ok('ns net') : ok('ns user+net')) && !off.has('netns'),
  };
}

export function availableMode(m: Mechanisms): SecurityMode {
  // The user-notify supervisor is the launcher outside the command's pid namespace.
  if (m.landlock && m.seccomp && m.namespaces && m.seccompNotify) return 'full';
  if (m.landlock && m.seccomp && m.namespaces && m.ptrace) return 'ptrace';
  if (m.landlock && m.seccomp && m.namespaces) return 'landlock';
  if (m.landlock) return 'landlock-only';
  return 'minimal';
}

/** What a mode needs that this machine lacks, in words. */
export function missingFor(mode: SecurityMode, m: Mechanisms): string[] {
  const need: Array<[boolean, string]> = [];
  if (mode !== 'minimal') need.push([m.landlock, 'Landlock (file and exec rules in the kernel)']);
  if (hasNamespaces(mode)) {
    need.push([m.seccomp, 'seccomp filters (syscall deny-list)']);
    need.push([m.namespaces, process.getuid?.() === 0 ? 'mount/pid/ipc/uts namespaces' : 'user namespaces (unprivileged mount/pid namespaces)']);
  }
  if (mode === 'full') need.push([m.seccompNotify, 'seccomp user-notify (exec, signal and delete interception)']);
  if (mode === 'ptrace') need.push([m.seccompNotify || m.ptrace, 'seccomp user-notify or ptrace (exec, signal and delete interception)']);
  return need.filter(([have]) => !have).map(([, what]) => what);
}

export function modeReport(config: ResolvedConfig, lines: string[], env: NodeJS.ProcessEnv = process.env): ModeReport {
  const forcedOff = (env.AGENTSH_FORCE_UNAVAILABLE ?? '').split(',').map((s) => s.trim()).filter((s) => (FORCEABLE as readonly string[]).includes(s));
  const mechanisms = mechanismsFrom(lines, forcedOff);
  const available = availableMode(mechanisms);
  const sec = config.security ?? {};
  const requested = sec.mode && sec.mode !== 'auto' ? (sec.mode as SecurityMode) : null;
  const enabled = config.sandbox.enabled !== false;
  // A weaker mode may be asked for; a stronger one than the machine allows falls back to what
  // it allows (with `strict`, commands are refused instead).
  const mode: SecurityMode = !enabled ? 'minimal' : requested && rank(requested) > rank(available) ? requested : available;
  let refusal: string | null = null;
  const missing = requested ? missingFor(requested, mechanisms) : [];
  if (requested && missing.length && sec.strict) {
    refusal = `security.mode ${requested} is required (strict) but this machine lacks: ${missing.join('; ')}`;
  }
  const floor = sec.minimum_mode as SecurityMode | undefined;
  if (floor && rank(mode) > rank(floor)) {
    refusal = `security mode ${mode} is below security.minimum_mode ${floor}; missing: ${missingFor(floor, mechanisms).join('; ') || (enabled ? 'nothing the kernel lacks (security.mode chose less)' : 'sandbox.enabled is false')}`;
  }
  return { mode, available, mechanisms, forcedOff, refusal, missing, fallbacks: enabled ? fallbackReasons(mode, mechanisms, lines, forcedOff) : [] };
}

/** What the mode goes without, and why (the probe's words), strongest mechanism first. */
function fallbackReasons(mode: SecurityMode, m: Mechanisms, lines: string[], forcedOff: readonly string[]): string[] {
  const why = (probe: string, forced: string): string =>
    forcedOff.includes(forced) ? 'switched off by AGENTSH_FORCE_UNAVAILABLE' : (lines.find((l) => l.startsWith(`${probe} `))?.slice(probe.length + 1) ?? 'not probed');
  const out: string[] = [];
  if (mode === 'full') return out;
  if (!m.landlock) out.push(`Landlock: ${why('landlock restrict_self', 'landlock')}`);
  if (!m.seccomp) out.push(`seccomp: ${why('seccomp filter', 'seccomp')}`);
  if (!m.namespaces) out.push(`namespaces: ${process.getuid?.() === 0 ? why('ns mount', 'namespaces') : `user namespaces ${why('ns user', 'userns')}`}`);
  if (!m.seccompNotify) out.push(`seccomp user-notify: ${why('seccomp user_notif', 'seccomp_notify')}${mode === 'ptrace' ? ' (exec, signal and delete interception through ptrace instead)' : ''}`);
  if (mode !== 'ptrace' && !m.ptrace) out.push(`ptrace: ${why('ptrace seize', 'ptrace')}`);
  if (!out.length) out.push(`security.mode ${mode} was asked for`);
  return out;
}

/**
 * How commands reach the network:
 *   session       own network namespace: the proxy and the DNS stub are the only ways out
 *   landlock-tcp  no network namespace here, Landlock ABI >= 4: TCP connects only to the
 *                 session's proxy port on the host's loopback (any address with that port,
 *                 too); UDP (DNS included) and ICMP are NOT governed
 *   shared        the server's network, network_rules NOT enforced
 *   off           sandbox.network.enabled is false
 */
export type NetworkState = 'session' | 'landlock-tcp' | 'shared' | 'off';

export function networkState(config: ResolvedConfig, r: Pick<ModeReport, 'mode' | 'mechanisms'>): NetworkState {
  if (config.sandbox.network?.enabled !== true) return 'off';
  if (r.mechanisms.netns && hasNamespaces(r.mode)) return 'session';
  return r.mode !== 'minimal' && r.mechanisms.landlockAbi >= 4 ? 'landlock-tcp' : 'shared';
}

/** Landlock plans kept (one per policy, variables, workspace and mode). */
const FS_CACHE_MAX = 16;

/** Lower is stronger. */
export function rank(m: SecurityMode): number {
  return MODE_ORDER.indexOf(m);
}

export function probeModes(config: ResolvedConfig, launcher: string | null): ModeReport {
  let lines: string[] = [];
  if (launcher) {
    try {
      lines = probeLauncher(launcher);
    } catch {
      lines = [];
    }
  }
  return modeReport(config, lines);
}

/** The FUSE workspace views, as plans use them (src/server/fuse-views.ts). */
export interface WorkspaceViews {
  state(): { state: string; reason?: string };
  mountpointFor(session: Session): string;
  stop(session: Session): Promise<void>;
}

/** The session network as plans use it (src/net/gateway.ts serves the socket). */
export interface SandboxNetwork {
  /** The gateway's unix socket (in the hidden run dir). */
  socket: string;
  /** The proxy's port on the sandbox's loopback (HTTP, CONNECT and SOCKS5 on one port). */
  proxyPort: number;
  /** The file bound at the sandbox's /etc/resolv.conf. */
  resolvConf: string;
  /** The session's token in the relays' hello lines. */
  tokenFor(session: Session): string;
  /** The session's proxy (or LLM proxy) port on the host's loopback (state `landlock-tcp`). */
  tcpPortFor(session: Session, service?: 'proxy' | 'llm'): number;
  /** The LLM proxy: its port on the sandbox's loopback, and the variables that point SDKs at a base URL. */
  llm?: { port: number; env(baseUrl: string): Record<string, string> };
  /** The session ended: its token stops working. */
  forget(session: Session): void;
}


export interface SandboxPaths {
  /** The server's own files: run dir, audit log, session state. Hidden from every command. */
  controlPlane: string[];
  /** Files bound back into hidden dirs (server.pidns, shim sockets). */
  exposed: string[];
  /**
   * The server's pid-namespace file (one of `exposed`): a shim that reads it from inside a
   * session runs the real shell at once, trusting the exec interception to check what the shell
   * runs. Where nothing intercepts execs (mode landlock) it is not bound back, so a nested shell
   * goes to the server and its script is pre-checked like any command.
   */
  sessionMarker?: string;
  sessionsDir: string;
}

/**
 * Builds plans for a server: caches the Landlock part per (policy, vars, workspace) — it reads
 * the file tree and takes a second or two on a full root — and knows the mode.
 */
/** A plan's warnings about file rules the kernel cannot fully enforce (fs-plan's notKernelEnforced, in words). */
export function planGapWarnings(fs: FsPlan): string[] {
  return fs.warnings.filter((w) => w.startsWith(NOT_KERNEL_ENFORCED));
}

export class SandboxRuntime {
  private readonly fsCache = new Map<string, FsPlan>();
  private readonly resources = new WeakMap<Session, ResourceManager>();
  private cgroupProbe: CgroupProbe | null = null;
  private planGaps: ((session: Session, gaps: string[]) => void) | null = null;

  constructor(
    readonly report: ModeReport,
    private readonly paths: SandboxPaths,
    private readonly execDirs: string[],
  ) {}

  get mode(): SecurityMode {
    return this.report.mode;
  }

  private network: SandboxNetwork | null = null;
  private netState: NetworkState = 'off';

  /** Commands get the session network from now on, in `state` (networkState's). */
  useNetwork(n: SandboxNetwork, state: NetworkState): void {
    this.network = n;
    this.netState = state;
  }

  /** How commands reach the network (`off` until useNetwork). */
  get networkState(): NetworkState {
    return this.network ? this.netState : 'off';
  }

  /** Proxy variables for a session's commands (operator-controlled: they bypass env_policy). */
  networkEnv(session: Session): Record<string, string> {
    const state = this.networkState;
    if (state !== 'session' && state !== 'landlock-tcp') return {};
    const port = state === 'session' ? this.network!.proxyPort : this.network!.tcpPortFor(session);
    const url = `http://127.0.0.1:${port}`;
    const socks = `socks5h://127.0.0.1:${port}`;
    const noProxy = 'localhost,127.0.0.1,::1';
    const llm = this.network!.llm;
    const llmPort = llm ? (state === 'session' ? llm.port : this.network!.tcpPortFor(session, 'llm')) : 0;
    return {
      HTTP_PROXY: url, HTTPS_PROXY: url, ALL_PROXY: socks, NO_PROXY: noProxy,
      http_proxy: url, https_proxy: url, all_proxy: socks, no_proxy: noProxy,
      ...(llm ? llm.env(`http://127.0.0.1:${llmPort}`) : {}),
    };
  }

  private views: WorkspaceViews | null = null;

  /** The FUSE workspace views (src/server/fuse-views.ts): used in mode landlock, where configured and possible. */
  /** Told, for each plan compiled, the file rules the kernel does not fully enforce (plan warnings `not kernel-enforced: …`). */
  onPlanGaps(cb: (session: Session, gaps: string[]) => void): void {
    this.planGaps = cb;
  }

  useWorkspaceViews(v: WorkspaceViews): void {
    this.views = v;
  }

  /** The session's workspace goes through its FUSE view (bound over the workspace's real path). */
  private viewActive(): boolean {
    return this.views?.state().state === 'active';
  }

  /** Exec-time checks exist: opaque commands can be left to them. */
  get interceptsExec(): boolean {
    return interceptsCalls(this.report.mode);
  }

  fsPlanFor(session: Session): FsPlan {
    // Masking single files needs the sandbox's own mounts (not in landlock-only mode).
    const mask = hasNamespaces(this.report.mode);
    const view = this.viewActive();
    const key = JSON.stringify([session.policyFile, session.engine.policy.vars, session.workspace, this.interceptsExec, mask, view]);
    let fs = this.fsCache.get(key);
    if (!fs) {
      fs = compileFsPlan(session.engine.policy, {
        workspace: session.workspace,
        engine: session.engine,
        execDirs: this.execDirs,
        // Soft-delete areas get the delete right only where something turns the delete into a
        // move to the trash: the interception everywhere, or the FUSE view in the workspace.
        softDeleteRemovable: this.interceptsExec || (view ? { within: session.workspace } : false),
        maskFiles: mask,
      });
      // ~3 MiB per workspace with a full root: the least recently used plans go (a session that
      // needs one again recompiles it, ~1 s) so that a server serving many workspaces stays bounded.
      if (this.fsCache.size >= FS_CACHE_MAX) this.fsCache.delete(this.fsCache.keys().next().value!);
      const gaps = planGapWarnings(fs);
      if (gaps.length) this.planGaps?.(session, gaps);
    } else this.fsCache.delete(key);
    this.fsCache.set(key, fs);
    return fs;
  }

  /** Per-command cgroups (or rlimit fallbacks) from the session policy's resource_limits and sandbox.limits; null in minimal mode. */
  resourcesFor(session: Session, config: ResolvedConfig, uid?: number): ResourceManager | null {
    if (this.report.mode === 'minimal') return null;
    let rm = this.resources.get(session);
    if (!rm) {
      if (!this.cgroupProbe) {
        this.cgroupProbe = probeCgroups();
        // Before our first command cgroup: what SIGKILLed servers left (they could not clean up).
        sweepStaleCgroups(this.cgroupProbe, { log: (l) => process.stderr.write(`${l}\n`) });
      }
      rm = new ResourceManager(limitsFromPolicy(session.engine.policy.doc.resource_limits ?? {}, config.sandbox.limits ?? {}), {
        probe: this.cgroupProbe,
        serverPid: process.pid,
        ...(uid !== undefined ? { uid } : {}),
      });
      this.resources.set(session, rm);
    }
    return rm;
  }

  /** A session ended: its private /tmp and its resource manager go. */
  forget(session: Session): void {
    this.network?.forget(session);
    void this.views?.stop(session);
    void this.resources.get(session)?.close();
    this.resources.delete(session);
    rmSync(posix.join(this.paths.sessionsDir, session.id), { recursive: true, force: true });
  }

  /** The empty, mode-0000 file bound over masked paths (in the hidden sessions dir). */
  private maskFile(): string {
    const f = posix.join(this.paths.sessionsDir, '.masked');
    if (!existsSync(f)) {
      mkdirSync(this.paths.sessionsDir, { recursive: true, mode: 0o711 });
      writeFileSync(f, '', { mode: 0 });
    }
    chmodSync(f, 0);
    return f;
  }

  /**
   * Where a path a sandboxed command names lies for the server: its /tmp is the session's
   * private directory, /dev/shm a tmpfs of its own (null: the server cannot read it);
   * everything else is at the same path. Without the sandbox's mounts: the path itself.
   */
  hostPathFor(session: Session): (p: string) => string | null {
    if (!hasNamespaces(this.report.mode)) return (p) => p;
    return (p) => {
      if (p === '/tmp' || p.startsWith('/tmp/')) return posix.join(this.sessionTmp(session), p.slice(4));
      if (p === '/dev/shm' || p.startsWith('/dev/shm/')) return null;
      return p;
    };
  }

  /** The session's /tmp on the host (bound at /tmp: its files survive between commands). */
  sessionTmp(session: Session): string {
    const dir = posix.join(this.paths.sessionsDir, session.id, 'tmp');
    mkdirSync(dir, { recursive: true, mode: 0o1777 });
    chmodSync(dir, 0o1777);
    return dir;
  }

  /** The plan for one command, or null in minimal mode (the command runs with the base plan only). */
  /**
   * The plan for one command and its wire text. The part that depends only on the session
   * (its view, Landlock rules, hidden paths) is built and serialized once per session, cwd
   * and user (~3 ms with ~700 rules); the command's own part (its cgroup) is appended.
   */
  planFor(session: Session, opts: { cwd: string; uid?: number; gid?: number; trashDir: string | null; extra?: Partial<Plan> }): { plan: Plan; text: string } | null {
    const { extra, ...rest } = opts;
    const key = JSON.stringify([rest.cwd, rest.uid, rest.gid, rest.trashDir, this.viewActive()]);
    let perSession = this.planTexts.get(session);
    if (!perSession) this.planTexts.set(session, (perSession = new Map()));
    let base = perSession.get(key);
    if (base === undefined) {
      const plan = this.buildPlan(session, rest);
      base = plan ? { plan, text: serializePlan(plan) } : null;
      if (perSession.size > 64) perSession.clear();
      perSession.set(key, base);
    }
    if (!base) return null;
    return extra ? { plan: { ...base.plan, ...extra }, text: base.text + serializePlan(extra) } : base;
  }

  private readonly planTexts = new WeakMap<Session, Map<string, { plan: Plan; text: string } | null>>();

  /** State landlock-tcp: TCP connects only to the session's proxy ports. */
  private tcpRules(session: Session): { tcp?: { connect: number[] } } {
    if (this.networkState !== 'landlock-tcp') return {};
    const n = this.network!;
    return { tcp: { connect: [n.tcpPortFor(session), ...(n.llm ? [n.tcpPortFor(session, 'llm')] : [])] } };
  }

  private sessionNetwork(session: Session): { relays: NonNullable<Plan['relays']>; resolvConf: string } {
    const n = this.network!;
    const token = n.tokenFor(session);
    return {
      relays: [
        { proto: 'tcp', port: n.proxyPort, socket: n.socket, hello: netHello('proxy', token) },
        { proto: 'udp', port: 53, socket: n.socket, hello: netHello('dns', token) },
        { proto: 'tcp', port: 53, socket: n.socket, hello: netHello('dns', token) },
        ...(n.llm ? [{ proto: 'tcp' as const, port: n.llm.port, socket: n.socket, hello: netHello('llm', token) }] : []),
      ],
      resolvConf: n.resolvConf,
    };
  }

  private buildPlan(session: Session, opts: { cwd: string; uid?: number; gid?: number; trashDir: string | null }): Plan | null {
    if (this.report.mode === 'minimal') return null;
    const fs = this.fsPlanFor(session);
    const userns = process.getuid?.() !== 0;
    if (this.report.mode === 'landlock-only') {
      // No namespaces: Landlock and no_new_privs on the command as it is.
      return {
        pdeathsig: true,
        chdir: opts.cwd,
        landlock: { rules: fs.grants.map((g) => ({ path: g.path, rights: g.rights })), ...this.tcpRules(session) },
        noNewPrivs: true,
        ...(this.report.mechanisms.seccomp ? { seccomp: 'deny-list' as const } : {}),
        keepFds: [3],
      };
    }
    const plan = buildSessionPlan({
      fs,
      maskSource: this.maskFile(),
      workspace: session.workspace,
      cwd: opts.cwd,
      tmpDir: this.sessionTmp(session),
      hidden: [...this.paths.controlPlane, ...(opts.trashDir ? [opts.trashDir] : [])],
      exposed: this.interceptsExec ? this.paths.exposed : this.paths.exposed.filter((p) => p !== this.paths.sessionMarker),
      ...(opts.uid !== undefined && !userns ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined && !userns ? { gid: opts.gid } : {}),
      userns,
      notify: this.interceptsExec ? ['exec', 'signal', 'delete'] : [],
      ...(this.report.mode === 'ptrace' ? { notifyVia: 'ptrace' as const } : {}),
      ...(this.viewActive() ? { workspaceSource: this.views!.mountpointFor(session) } : {}),
      keepFds: [3],
      ...(this.networkState === 'session' ? { network: this.sessionNetwork(session) } : {}),
    });
    if (plan.landlock) Object.assign(plan.landlock, this.tcpRules(session));
    if (this.report.mechanisms.landlockAbi < 6 && plan.landlock) delete plan.landlock.scope;
    if (plan.notify?.includes('exec')) {
      const ask = execAskList(session.engine.policy, session.engine);
      if (ask) plan.notifyAsk = ask;
    }
    return plan;
  }
}

export function defaultExecDirs(config: ResolvedConfig): string[] {
  // `sandbox.landlock` (the seed's spelling, which agentsh ignores) is merged into the
  // top-level `landlock` by the config loader, with a warning.
  const dirs = config.landlock?.allow_execute;
  return dirs && dirs.length ? dirs : DEFAULT_EXEC_DIRS;
}

/** `pid:[4026531836]` — the shim compares it with its own (docs/shim-protocol.md, step 0). */
export function ownPidNamespace(): string {
  return readlinkSync('/proc/self/ns/pid');
}
