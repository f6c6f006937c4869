// Sessions: a workspace, the policy compiled for it (with its PROJECT_ROOT/GIT_ROOT/HOME),
// and the processes it started. In memory: a server restart ends every session, and the
// processes it still had are not adopted by the next server.
import { randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { ResolvedConfig } from '../config/load.js';
import { compilePolicy } from '../policy/compile.js';
import type { ApprovalSettings } from '../policy/decision.js';
import { PolicyEngine, type OpaqueMode } from '../policy/engine.js';
import { loadPolicyFile } from '../policy/load.js';
import { sessionVars } from '../policy/session-vars.js';
import { parseDuration } from '../util/duration.js';
import { signalGroup } from './exec.js';

export class SessionError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface SessionInfo {
  id: string;
  workspace: string;
  policy: string;
  policy_file: string;
  created_at: string;
  last_active_at: string;
  uid: number | null;
  commands: number;
  running: number;
  vars: Record<string, string>;
}

export class Session {
  readonly createdAt = new Date();
  lastActive = Date.now();
  commands = 0;
  readonly running = new Set<number>(); // process group ids
  /** Destroyed or expired: nothing starts in it any more (a held command included). */
  ended = false;
  constructor(
    readonly id: string,
    readonly workspace: string,
    readonly policyName: string,
    readonly policyFile: string,
    readonly engine: PolicyEngine,
    readonly uid: number | null,
    readonly env: Record<string, string>,
  ) {}

  get commandTimeoutMs(): number | null {
    const t = this.engine.policy.doc.resource_limits?.command_timeout;
    return t ? parseDuration(t) : null;
  }

  info(): SessionInfo {
    return {
      id: this.id,
      workspace: this.workspace,
      policy: this.policyName,
      policy_file: this.policyFile,
      created_at: this.createdAt.toISOString(),
      last_active_at: new Date(this.lastActive).toISOString(),
      uid: this.uid,
      commands: this.commands,
      running: this.running.size,
      vars: this.engine.policy.vars,
    };
  }

  /** Ends every process group the session started. */
  killAll(signal: NodeJS.Signals = 'SIGKILL'): void {
    for (const pgid of this.running) signalGroup(pgid, signal);
  }
}

export interface CreateSessionRequest {
  workspace: string;
  policy?: string;
  uid?: number | null;
  env?: Record<string, string>;
  project_root?: string;
  id?: string;
}

export class SessionManager {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly config: ResolvedConfig,
    private readonly approvals: ApprovalSettings,
    private readonly opaque: OpaqueMode,
  ) {}

  create(req: CreateSessionRequest): Session {
    if (this.sessions.size >= this.config.sessions.max_sessions) throw new SessionError(`too many sessions (sessions.max_sessions = ${this.config.sessions.max_sessions})`, 429);
    if (!req.workspace || !isAbsolute(req.workspace)) throw new SessionError('workspace must be an absolute path');
    if (!existsSync(req.workspace) || !statSync(req.workspace).isDirectory()) throw new SessionError(`workspace ${req.workspace} is not a directory`);
    const policyName = req.policy ?? this.config.policies.default;
    const policyFile = this.resolvePolicy(policyName);
    const vars = sessionVars({
      workspace: req.workspace,
      ...(req.project_root ? { projectRoot: req.project_root } : {}),
      ...(this.config.policies.project_markers ? { markers: this.config.policies.project_markers } : {}),
      detect: this.config.policies.detect_project_root,
      env: { HOME: req.env?.HOME ?? process.env.HOME },
    });
    // Compile errors (an undefined ${VAR}, a bad regex) refuse the session, as in agentsh.
    const engine = new PolicyEngine(compilePolicy(loadPolicyFile(policyFile), { vars, env: {} }), { approvals: this.approvals, opaque: this.opaque });
    const id = req.id ?? `session-${randomUUID()}`;
    // The id names directories (the session's /tmp, its FUSE mountpoint): never a path.
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id)) throw new SessionError('session id must be 1-128 characters of letters, digits, ".", "_" and "-", starting with a letter or digit');
    if (this.sessions.has(id)) throw new SessionError(`session ${id} already exists`, 409);
    const s = new Session(id, resolve(req.workspace), policyName, policyFile, engine, req.uid ?? null, req.env ?? {});
    this.sessions.set(id, s);
    return s;
  }

  resolvePolicy(nameOrPath: string): string {
    if (nameOrPath.includes('/')) {
      if (!existsSync(nameOrPath)) throw new SessionError(`policy file ${nameOrPath} not found`);
      return resolve(nameOrPath);
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(nameOrPath)) throw new SessionError(`invalid policy name '${nameOrPath}'`);
    for (const ext of ['.yaml', '.yml', '']) {
      const p = resolve(this.config.policies.dir, nameOrPath + ext);
      if (existsSync(p)) return p;
    }
    throw new SessionError(`policy '${nameOrPath}' not found in ${this.config.policies.dir}`);
  }

  get(id: string): Session {
    const s = this.sessions.get(id);
    if (!s) throw new SessionError(`no session ${id}`, 404);
    return s;
  }

  find(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  list(): Session[] {
    return [...this.sessions.values()];
  }

  destroy(id: string): Session {
    const s = this.get(id);
    s.ended = true;
    s.killAll();
    this.sessions.delete(id);
    return s;
  }

  /**
   * Ends sessions past their limits: idle (no command running, none started for
   * resource_limits.idle_timeout, else sessions.default_idle_timeout) or too old
   * (resource_limits.session_timeout, else sessions.default_timeout; running commands are
   * killed). Returns what ended and why.
   */
  expire(now = Date.now()): Array<{ session: Session; reason: 'idle' | 'session_timeout' }> {
    const ended: Array<{ session: Session; reason: 'idle' | 'session_timeout' }> = [];
    const ms = (t: string | undefined) => (t ? parseDuration(t) : null);
    for (const s of [...this.sessions.values()]) {
      const limits = s.engine.policy.doc.resource_limits ?? {};
      const maxAge = ms(limits.session_timeout ?? this.config.sessions.default_timeout);
      const idle = ms(limits.idle_timeout ?? this.config.sessions.default_idle_timeout);
      let reason: 'idle' | 'session_timeout' | null = null;
      if (maxAge && now - s.createdAt.getTime() > maxAge) reason = 'session_timeout';
      else if (idle && s.running.size === 0 && now - s.lastActive > idle) reason = 'idle';
      if (!reason) continue;
      this.destroy(s.id);
      ended.push({ session: s, reason });
    }
    return ended;
  }

  destroyAll(): void {
    for (const id of [...this.sessions.keys()]) this.destroy(id);
  }
}
