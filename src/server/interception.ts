// Exec-time decisions for one governed command: the launcher's supervisor asks (seccomp
// user-notify) for every execve, every signal and every delete in the session sandbox; the
// answers are the policy's, and every one is an audit event naming the rule.
//
// What is NOT decided here, because the kernel already does it race-free: which binaries can
// run at all and which paths can be read or written (Landlock, compiled from the same rules),
// which processes can be signalled (the command's own pid namespace + Landlock signal
// scoping). A CONTINUE answer is racy by nature (another thread can rewrite argv after the
// check), so it is only used for what Landlock cannot express: argv patterns, depth, audit,
// soft delete.
import { lstatSync, readFileSync, realpathSync } from 'node:fs';
import { posix } from 'node:path';
import type { CompiledPolicy } from '../policy/compile.js';
import type { PolicyDecision } from '../policy/decision.js';
import type { PolicyEngine } from '../policy/engine.js';
import type { Notification, Verdict } from '../sandbox/launcher.js';
import { approvalTimeoutMs } from '../approvals/manager.js';
import type { ServerContext } from './context.js';
import { precheck, SHELLS } from './exec.js';
import type { Session } from './sessions.js';

const EACCES = 13;
const EPERM = 1;
const ENOSPC = 28;

export interface TrashTarget {
  /** Where trashed files go (must be on the same filesystem as what is deleted). */
  dir: string;
  newToken(): string;
  /** Called once the supervisor moved the payload. */
  recorded(token: string, originalPath: string, rule: string, parentMtimeNs?: string): void;
  /** Why the trash cannot take a file now (no room for its record), or null. */
  full?(): string | null;
}

interface Image {
  depth: number;
  path: string;
}

export class CommandInterceptor {
  /** pid → the image it runs now (after its last exec) and that image's depth. */
  private readonly images = new Map<number, Image>();
  private first = true;
  private currentId = '';
  private readonly pendingTrash = new Map<string, { token: string; path: string; rule: string; parentMtimeNs?: string }>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly session: Session,
    private readonly commandId: string,
    /** The top-level command runs a shell whose script was pre-checked: its children are "direct" (depth 0). */
    private readonly topIsShell: boolean,
    private readonly trash: TrashTarget | null,
    /** Rules a human approved for this command: the direct execs they cover need no second approval. */
    private readonly approvedRules: ReadonlySet<string> = new Set(),
  ) {}

  handle(n: Notification): Verdict | Promise<Verdict> {
    this.currentId = n.id;
    switch (n.kind) {
      case 'exec':
        return this.exec(n, true);
      case 'signal':
        return this.signal(n);
      case 'unlink':
      case 'rmdir':
        return this.remove(n.kind, n.pid, n.path);
      case 'rename':
        return this.rename(n);
      default:
        return { kind: 'errno', errno: EPERM };
    }
  }

  /**
   * An exec the supervisor let run without asking (not on the ask list): audited and
   * tracked for depth like any other. Were the policy to refuse it, the ask list was wrong:
   * that is audited loudly (it already ran).
   */
  notice(n: Notification): void {
    if (n.kind !== 'exec') return;
    const v = this.exec(n, false);
    if (v instanceof Promise || v.kind !== 'continue') {
      this.ctx.audit.record({ type: 'exec_unasked_mismatch', session_id: this.session.id, command_id: this.commandId, decision: 'allow', message: 'an exec the policy refuses was not on the supervisor\'s ask list and ran', fields: { path: n.path, pid: n.pid } });
    }
  }

  /** The supervisor's account of a trash verdict. */
  trashResult(id: string, ok: boolean, error?: string): void {
    const t = this.pendingTrash.get(id);
    if (!t) return;
    this.pendingTrash.delete(id);
    if (ok) {
      this.trash?.recorded(t.token, t.path, t.rule, t.parentMtimeNs);
      this.record('file_soft_deleted', { decision: 'soft_delete', rule: t.rule, path: t.path, token: t.token });
    } else {
      this.record('file_delete_refused', { decision: 'deny', rule: t.rule, path: t.path, message: `soft delete failed (${error ?? 'unknown'}): the file was kept and the delete refused` });
    }
  }

  /** `mayHold`: the caller is stopped in the kernel and can wait for an approval (not for notices: those already ran). */
  private exec(n: Extract<Notification, { kind: 'exec' }>, mayHold: boolean): Verdict | Promise<Verdict> {
    if (this.first) {
      // The command itself, already decided by the pre-check.
      this.first = false;
      this.images.set(n.pid, { depth: this.topIsShell ? -1 : 0, path: n.path });
      return { kind: 'continue' };
    }
    // Depth: an exec in place (`env sudo`, `exec foo`, a retry along PATH after ENOENT) keeps
    // the depth of the process's image; a new process is one deeper than its nearest ancestor
    // with an image. The top shell is -1, so what its script runs is direct (0).
    const own = this.images.get(n.pid);
    let base: Image | undefined = own;
    let depth: number;
    if (own) depth = Math.max(0, own.depth);
    else {
      for (const p of n.ancestors) {
        base = this.images.get(p);
        if (base) break;
      }
      depth = Math.max(0, (base?.depth ?? 0) + 1);
    }
    // The pre-check: command_rules for the program, and for a nested shell its script too —
    // its builtins (kill, enable …) never reach exec, so `sh -c 'kill …'` from Python is
    // decided on its script.
    const checked = precheck(this.session, [n.path, ...n.argv.slice(1)], { cwd: n.cwd, depth, hostPath: this.ctx.sandbox.hostPathFor(this.session) }).decision;
    const covered = checked.decision === 'approve' && depth === 0 && this.approvedRules.has(checked.rule);
    const d: PolicyDecision = covered ? { ...checked, decision: 'allow', message: `approved with the command: ${checked.message}` } : checked;
    const allowed = d.decision === 'allow' || d.decision === 'audit';
    this.audit('exec', d, {
      path: n.path,
      argv: n.argv.map(this.ctx.redactText),
      depth,
      pid: n.pid,
      cwd: n.cwd,
      ...(base ? { parent_image: base.path } : {}),
    });
    if (d.decision === 'approve' && mayHold && this.ctx.approvals) {
      // One answer per process and argv: an exec retried along PATH (ENOENT, then the next
      // directory) is the same request, not a new one for the human.
      const key = `${n.pid}\0${posix.basename(n.path)}\0${n.argv.slice(1).join('\0')}`;
      const known = this.execAnswers.get(key);
      const answer = known ?? this.askExec(n, d);
      if (!known) this.execAnswers.set(key, answer);
      return answer.then((approved): Verdict => {
        if (!approved) return { kind: 'errno', errno: EACCES };
        this.images.set(n.pid, { depth, path: n.path });
        return { kind: 'continue' };
      });
    }
    if (!allowed) return { kind: 'errno', errno: EACCES };
    this.images.set(n.pid, { depth, path: n.path });
    return { kind: 'continue' };
  }

  private readonly execAnswers = new Map<string, Promise<boolean>>();

  /** Asks a human about an exec; the whole command's interception waits with it (one notification at a time). */
  private askExec(n: Extract<Notification, { kind: 'exec' }>, d: PolicyDecision): Promise<boolean> {
    const { outcome } = this.ctx.approvals!.request({
      sessionId: this.session.id,
      commandId: this.commandId,
      kind: 'exec',
      rule: d.rule,
      message: this.ctx.redactText(d.message),
      target: this.ctx.redactText(n.argv.join(' ')),
      timeoutMs: approvalTimeoutMs(this.ctx.config.approvals.timeout, d.timeoutMs),
    });
    return outcome.then((o) => o.approved);
  }

  private signal(n: Extract<Notification, { kind: 'signal' }>): Verdict {
    const target = n.target === nsPid(n.pid) ? 'self' : 'session';
    const d = this.session.engine.checkSignal(String(n.signal), target);
    if (n.signal !== 0 || d.decision !== 'allow') this.audit('signal', d, { syscall: n.syscall, target_pid: n.target, signal: n.signal, relation: target, pid: n.pid });
    return d.decision === 'allow' || d.decision === 'audit' ? { kind: 'continue' } : { kind: 'errno', errno: EPERM };
  }

  private remove(op: 'unlink' | 'rmdir', pid: number, path: string): Verdict {
    const d = this.session.engine.checkFile(op === 'unlink' ? 'delete' : 'rmdir', path);
    if (d.decision === 'soft_delete') return this.toTrash(d, path, 'value0') ?? { kind: 'continue' };
    if (d.decision === 'allow' || d.decision === 'audit') {
      if (d.decision === 'audit') this.audit('file', d, { operation: op, path, pid });
      return { kind: 'continue' };
    }
    this.audit('file', d, { operation: op, path, pid });
    return { kind: 'errno', errno: EACCES };
  }

  private rename(n: Extract<Notification, { kind: 'rename' }>): Verdict {
    // RENAME_NOREPLACE (1) and RENAME_EXCHANGE (2) never destroy the destination.
    if (n.flags & 3) return { kind: 'continue' };
    // Only when the rename can happen: trashing the destination of a rename that then fails
    // (no source) would lose it from its place for nothing.
    if (!lstatOrNull(n.src)) return { kind: 'continue' };
    const st = lstatOrNull(n.dst);
    if (!st || st.isDirectory()) return { kind: 'continue' };
    const d = this.session.engine.checkFile('delete', n.dst);
    if (d.decision !== 'soft_delete') return { kind: 'continue' };
    return this.toTrash(d, n.dst, 'continue') ?? { kind: 'continue' };
  }

  /** A trash verdict for an existing path, or null when there is nothing to keep (the kernel will say ENOENT). */
  private toTrash(d: PolicyDecision, path: string, then: 'value0' | 'continue'): Verdict | null {
    if (!this.trash) {
      this.audit('file', { ...d, decision: 'deny', message: 'soft delete configured but no trash store is available' }, { path });
      return { kind: 'errno', errno: EPERM };
    }
    let real: string;
    try {
      // The parent is resolved here; the supervisor then opens it refusing any symlink, so a
      // component swapped for a symlink after this point makes the delete fail, not escape.
      real = posix.join(realpathSync(posix.dirname(path)), posix.basename(path));
    } catch {
      return null;
    }
    if (!lstatOrNull(real)) return null;
    // A file moved to a trash that cannot record it would be an orphan nobody can restore:
    // the delete is refused and the file stays (the caller sees ENOSPC).
    const full = this.trash.full?.();
    if (full) {
      this.record('file_delete_refused', { decision: 'deny', rule: d.rule, path: real, message: `soft delete refused: ${full}: the file was kept` });
      return { kind: 'errno', errno: ENOSPC };
    }
    const token = this.trash.newToken();
    const parent = lstatSync(posix.dirname(real), { bigint: true, throwIfNoEntry: false });
    this.pendingTrash.set(this.currentId, { token, path: real, rule: d.rule, ...(parent ? { parentMtimeNs: String(parent.mtimeNs) } : {}) });
    return { kind: 'trash', src: real, dir: this.trash.dir, name: token, then };
  }

  private audit(type: string, d: PolicyDecision, fields: Record<string, unknown>): void {
    this.ctx.audit.record({
      type,
      session_id: this.session.id,
      command_id: this.commandId,
      decision: d.decision,
      policy_decision: d.policyDecision,
      rule: d.rule,
      message: this.ctx.redactText(d.message),
      fields,
    });
  }

  private record(type: string, f: { decision: string; rule: string; path: string; token?: string; message?: string }): void {
    this.ctx.audit.record({
      type,
      session_id: this.session.id,
      command_id: this.commandId,
      decision: f.decision,
      rule: f.rule,
      ...(f.message ? { message: f.message } : {}),
      fields: { path: f.path, ...(f.token ? { token: f.token } : {}) },
    });
  }
}

/**
 * The programs whose exec the server must decide (the supervisor lets the others run and
 * reports them): every name of a command rule that could refuse or condition an exec
 * (any decision but allow/audit, argv patterns, depth limits), and the shells (a nested
 * script gets the pre-check). Null — ask for every exec — when such a rule matches by glob,
 * or when an unknown program would not be allowed at every depth.
 */
export function execAskList(policy: CompiledPolicy, engine: PolicyEngine): string[] | null {
  const names = new Set<string>([...SHELLS]);
  for (const r of policy.commandRules) {
    const unconditional = (r.decision === 'allow' || r.decision === 'audit') && !r.args && r.minDepth === 0 && r.maxDepth === Infinity && !r.env;
    if (unconditional) continue;
    if (r.any || r.pathGlob || r.baseGlob) return null;
    for (const b of r.basenames) names.add(b);
    for (const p of r.exactPaths) names.add(p);
  }
  // A program no rule names must be allowed at any depth by an unconditional catch-all.
  for (const depth of [0, 1, 2, 8]) {
    const d = engine.checkCommand('/nonexistent/agentsh-ask-probe', ['x'], depth);
    if (d.decision !== 'allow' && d.decision !== 'audit') return null;
  }
  const list = [...names].map((n) => n.toLowerCase());
  return list.every((n) => n && !n.includes(',') && /^[\x21-\x7e]+$/.test(n)) ? list.sort() : null;
}

function lstatOrNull(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

/** The pid a process has inside its own (innermost) pid namespace. */
function nsPid(hostPid: number): number {
  try {
    const m = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${hostPid}/status`, 'utf8'));
    const ids = m?.[1]?.trim().split(/\s+/) ?? [];
    return Number(ids[ids.length - 1] ?? -1);
  } catch {
    return -1;
  }
}
