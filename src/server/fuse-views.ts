// The FUSE workspace view of each session (src/fuse): used only where nothing intercepts
// deletes at the syscall (security mode landlock: no seccomp user-notify, no ptrace), so that
// soft delete, per-operation file_rules and file audit still hold in the workspace. Mounted by
// a daemon per session at <sessions>/<id>/fuse (hidden from commands with the rest of the
// control plane) and bound by the launcher over the workspace's real path.
import { posix } from 'node:path';
import type { ResolvedConfig } from '../config/load.js';
import { DEFAULT_DEFERRED_MARKER, fuseAvailable, fuseConfigState, fuseViewSettings, startWorkspaceView, type WorkspaceView } from '../fuse/workspace-view.js';
import { recordAfter, type ServerContext } from './context.js';
import type { SecurityMode } from './sandbox-runtime.js';
import type { Session } from './sessions.js';
import { sessionTrash } from './trash.js';

/**
 * off: sandbox.fuse.enabled is false; not-needed: the mode intercepts deletes itself (or has
 * no mount namespace to bind a view in); deferred: waiting for the marker file; unavailable:
 * wanted but it can't run here (reason); active: each session's workspace goes through a view.
 */
export interface FuseState {
  state: 'off' | 'not-needed' | 'deferred' | 'unavailable' | 'active';
  reason?: string;
}

export function fuseState(config: ResolvedConfig, mode: SecurityMode, available: () => { ok: boolean; reason?: string } = fuseAvailable): FuseState {
  if (!config.sandbox.fuse?.enabled) return { state: 'off', reason: 'sandbox.fuse.enabled is false' };
  if (mode === 'full' || mode === 'ptrace') return { state: 'not-needed', reason: `deletes are intercepted at the syscall (mode ${mode})` };
  if (mode !== 'landlock') return { state: 'not-needed', reason: `mode ${mode} has no mount namespace to bind a view in` };
  const c = fuseConfigState(config);
  if (c === 'deferred-waiting') return { state: 'deferred', reason: `deferred until ${config.sandbox.fuse.deferred_marker_file || DEFAULT_DEFERRED_MARKER} exists` };
  const a = available();
  if (!a.ok) return { state: 'unavailable', reason: a.reason ?? 'unknown' };
  return { state: 'active' };
}

export class FuseViews {
  private readonly views = new Map<string, { view: WorkspaceView | null; starting: Promise<WorkspaceView> | null }>();
  private deferredLogged = false;
  private available: { ok: boolean; reason?: string } | null = null;

  constructor(
    private readonly ctx: ServerContext,
    private readonly sessionsDir: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Where a session's view is mounted (fixed per session: a restarted view reuses it). */
  mountpointFor(session: Session): string {
    return posix.join(this.sessionsDir, session.id, 'fuse');
  }

  /** The current state for new commands (a deferred mount becomes active once its marker exists). */
  state(): FuseState {
    return fuseState(this.ctx.config, this.ctx.sandbox.mode, () => (this.available ??= fuseAvailable()));
  }

  /**
   * Before a command starts: null when the session's commands run without a view (the state
   * says why), the mountpoint when its view is up, or a promise while it is being mounted.
   * A view whose daemon died is mounted again (its audit event says so); a view that can't be
   * mounted rejects: the command is refused, never run on the bare workspace.
   */
  ensure(session: Session): string | Promise<string> | null {
    const st = this.state();
    if (st.state !== 'active') {
      if (st.state === 'deferred' && !this.deferredLogged) {
        this.deferredLogged = true;
        this.log(`agentsh: FUSE workspace view ${st.reason}: until then deletes in soft-delete areas are refused`);
      }
      return null;
    }
    const cur = this.views.get(session.id);
    if (cur?.view?.alive()) return cur.view.mountpoint;
    if (cur?.starting) return cur.starting.then((v) => v.mountpoint);
    const restarted = cur?.view !== undefined && cur.view !== null;
    const entry: { view: WorkspaceView | null; starting: Promise<WorkspaceView> | null } = { view: null, starting: null };
    this.views.set(session.id, entry);
    const trash = sessionTrash(this.ctx, session);
    const record = (type: string, e: { decision: string; rule: string; message?: string; policy_decision?: string; fields: Record<string, unknown> }) => {
      recordAfter(this.ctx.audit, { type, session_id: session.id, decision: e.decision, rule: e.rule, ...(e.policy_decision ? { policy_decision: e.policy_decision } : {}), ...(e.message ? { message: this.ctx.redactText(e.message) } : {}), fields: { ...e.fields, enforced_by: 'fuse' } });
    };
    entry.starting = (async () => {
      if (cur?.view) await cur.view.stop().catch(() => {});
      return startWorkspaceView({
        workspace: session.workspace,
        mountpoint: this.mountpointFor(session),
        policyFile: session.policyFile,
        vars: session.engine.policy.vars,
        trashDir: trash.dir,
        ...fuseViewSettings(this.ctx.config),
        onAudit: (e) => record(e.type, e),
        onTrashed: (t) => {
          trash.recorded(t.token, t.path, t.rule, t.parentMtimeNs);
          record('file_soft_deleted', { decision: 'soft_delete', rule: t.rule, fields: { path: t.path, token: t.token } });
        },
        onError: (message) => this.ctx.audit.record({ type: 'fuse_error', session_id: session.id, message, fields: {} }),
        onExit: (code, signal) => {
          // The mount now answers ENOTCONN: commands can't touch the workspace until the next one mounts it again.
          this.ctx.audit.record({ type: 'fuse_view_lost', session_id: session.id, message: `the FUSE daemon ended (${signal ?? `exit ${code}`}); the workspace is unreachable until the next command mounts it again`, fields: { code, signal } });
        },
      });
    })();
    return entry.starting.then(
      (view) => {
        entry.view = view;
        entry.starting = null;
        this.ctx.audit.record({ type: 'fuse_view_mounted', session_id: session.id, fields: { workspace: session.workspace, mountpoint: view.mountpoint, pid: view.pid, restarted } });
        return view.mountpoint;
      },
      (err: Error) => {
        this.views.delete(session.id);
        this.ctx.audit.record({ type: 'fuse_view_failed', session_id: session.id, message: err.message, fields: { workspace: session.workspace } });
        throw err;
      },
    );
  }

  /** A session ended: its view is unmounted. */
  async stop(session: Pick<Session, 'id'>): Promise<void> {
    const cur = this.views.get(session.id);
    this.views.delete(session.id);
    const view = cur?.view ?? (await cur?.starting?.catch(() => null));
    await view?.stop().catch(() => {});
  }

  async stopAll(): Promise<void> {
    const ids = [...this.views.keys()];
    await Promise.all(ids.map((id) => this.stop({ id })));
  }
}
