// Pending approvals: an `approve` decision (a command, an exec inside the sandbox, a
// connection) waits here until a human resolves it through the API (the CLI and the console
// use the API), or its timeout expires, which denies it. Only holders of the API token (or a
// console session made with it) can resolve: nothing inside a sandbox can reach either.
//
// Fail closed: pending approvals are journaled to disk; a server that stops denies what is
// pending, and one that restarts finds the journal and records each leftover as failed
// (the operation that waited is gone with the old server: it never ran).
//
// "Approve for this session" remembers (session, kind, rule, target): later identical
// requests in that session are approved at once, each an audit event naming the grant.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { parseDuration } from '../util/duration.js';

/** A rule's own timeout, else approvals.timeout (default 5 minutes). */
export function approvalTimeoutMs(configTimeout: string | undefined, ruleTimeoutMs: number | undefined): number {
  return ruleTimeoutMs ?? parseDuration(configTimeout ?? '5m') ?? 300_000;
}

export type ApprovalKind = 'command' | 'exec' | 'network' | 'file';
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'failed';

export interface ApprovalRequest {
  sessionId: string;
  commandId?: string;
  kind: ApprovalKind;
  rule: string;
  /** The rule's message with its template filled ({{.Path}}, {{.Args}}, {{.RemoteAddr}}). */
  message: string;
  /** What is asked for: the command line, the exec'd argv, host:port. */
  target: string;
  timeoutMs: number;
}

export interface Approval extends ApprovalRequest {
  id: string;
  createdAt: string;
  expiresAt: string;
  status: ApprovalStatus;
  approver?: string;
  reason?: string;
  scope?: 'once' | 'session';
}

export interface ApprovalOutcome {
  approved: boolean;
  approval: Approval;
}

export interface ApprovalAuditRecord {
  type: 'approval_requested' | 'approval';
  session_id: string;
  command_id?: string;
  decision?: string;
  rule: string;
  message: string;
  fields: Record<string, unknown>;
}

export class ApprovalError extends Error {
  constructor(
    readonly status: 404 | 409 | 400,
    message: string,
  ) {
    super(message);
  }
}

export interface ApprovalManagerOptions {
  audit(record: ApprovalAuditRecord): void;
  /** Pending approvals per session beyond which requests are denied at once (default 16). */
  maxPendingPerSession?: number;
  /** Where pending approvals are journaled (fail-closed after a restart). */
  journal?: string;
  /** Told about each new pending approval (the server's log line for local_tty). */
  onPending?(a: Approval): void;
}

interface Waiter {
  approval: Approval;
  resolve(o: ApprovalOutcome): void;
  timer: NodeJS.Timeout;
}

export class ApprovalManager {
  private readonly waiting = new Map<string, Waiter>();
  /** Resolved approvals, newest last (bounded), for listing. */
  private readonly done: Approval[] = [];
  private readonly grants = new Set<string>();
  private readonly maxPending: number;

  constructor(private readonly opts: ApprovalManagerOptions) {
    this.maxPending = opts.maxPendingPerSession ?? 16;
  }

  /**
   * Records every approval a previous server left pending as failed (its operation died with
   * that server) and clears the journal. Returns them.
   */
  recoverJournal(): Approval[] {
    const file = this.opts.journal;
    if (!file || !existsSync(file)) return [];
    let left: Approval[] = [];
    try {
      left = JSON.parse(readFileSync(file, 'utf8')) as Approval[];
    } catch {
      left = [];
    }
    rmSync(file, { force: true });
    for (const a of left) this.finish({ ...a, status: 'failed', reason: 'the server restarted while this approval was pending; the operation did not run' }, false);
    return left;
  }

  request(req: ApprovalRequest): { approval: Approval; outcome: Promise<ApprovalOutcome> } {
    const now = Date.now();
    const approval: Approval = { ...req, id: `apr-${randomUUID()}`, createdAt: new Date(now).toISOString(), expiresAt: new Date(now + req.timeoutMs).toISOString(), status: 'pending' };
    this.opts.audit({
      type: 'approval_requested',
      session_id: req.sessionId,
      ...(req.commandId ? { command_id: req.commandId } : {}),
      decision: 'approve',
      rule: req.rule,
      message: req.message,
      fields: { approval_id: approval.id, kind: req.kind, target: req.target, expires_at: approval.expiresAt },
    });
    if (this.grants.has(grantKey(req))) {
      const a = this.finish({ ...approval, status: 'approved', approver: 'session-grant', reason: 'approved for this session earlier', scope: 'session' }, true);
      return { approval: a, outcome: Promise.resolve({ approved: true, approval: a }) };
    }
    const pending = [...this.waiting.values()].filter((w) => w.approval.sessionId === req.sessionId).length;
    if (pending >= this.maxPending) {
      const a = this.finish({ ...approval, status: 'failed', reason: `too many pending approvals in this session (limit ${this.maxPending})` }, false);
      return { approval: a, outcome: Promise.resolve({ approved: false, approval: a }) };
    }
    const outcome = new Promise<ApprovalOutcome>((resolve) => {
      const timer = setTimeout(() => this.settle(approval.id, { status: 'expired', reason: `no answer within ${Math.round(req.timeoutMs / 1000)} s` }), req.timeoutMs);
      this.waiting.set(approval.id, { approval, resolve, timer });
    });
    this.writeJournal();
    this.opts.onPending?.(approval);
    return { approval, outcome };
  }

  list(filter: { status?: ApprovalStatus; sessionId?: string } = {}): Approval[] {
    const all = [...this.done, ...[...this.waiting.values()].map((w) => w.approval)];
    return all.filter((a) => (!filter.status || a.status === filter.status) && (!filter.sessionId || a.sessionId === filter.sessionId));
  }

  get(id: string): Approval | undefined {
    return this.waiting.get(id)?.approval ?? this.done.find((a) => a.id === id);
  }

  /** A human's answer. Throws ApprovalError for an unknown or already resolved id. */
  resolve(id: string, decision: 'allow' | 'deny', by: { approver: string; reason?: string; scope?: 'once' | 'session' }): Approval {
    if (!this.waiting.has(id)) {
      const old = this.done.find((a) => a.id === id);
      if (old) throw new ApprovalError(409, `approval ${id} is already ${old.status}`);
      throw new ApprovalError(404, `no approval ${id}`);
    }
    const scope = by.scope ?? 'once';
    if (decision === 'allow' && scope === 'session') this.grants.add(grantKey(this.waiting.get(id)!.approval));
    return this.settle(id, { status: decision === 'allow' ? 'approved' : 'denied', approver: by.approver, ...(by.reason ? { reason: by.reason } : {}), scope })!;
  }

  /** A session ended: what it has pending is denied, its grants are forgotten. */
  endSession(sessionId: string): void {
    for (const w of [...this.waiting.values()]) if (w.approval.sessionId === sessionId) this.settle(w.approval.id, { status: 'denied', reason: 'the session ended' });
    for (const g of [...this.grants]) if (g.startsWith(`${sessionId}\0`)) this.grants.delete(g);
  }

  /** The server stops: everything pending is denied (fail closed); the journal goes. */
  close(): void {
    for (const w of [...this.waiting.values()]) this.settle(w.approval.id, { status: 'failed', reason: 'the server stopped' });
    if (this.opts.journal) rmSync(this.opts.journal, { force: true });
  }

  private settle(id: string, change: Partial<Approval> & { status: ApprovalStatus }): Approval | undefined {
    const w = this.waiting.get(id);
    if (!w) return undefined;
    clearTimeout(w.timer);
    this.waiting.delete(id);
    const a = this.finish({ ...w.approval, ...change }, change.status === 'approved');
    this.writeJournal();
    w.resolve({ approved: a.status === 'approved', approval: a });
    return a;
  }

  private finish(a: Approval, approved: boolean): Approval {
    this.done.push(a);
    if (this.done.length > 1000) this.done.splice(0, this.done.length - 1000);
    this.opts.audit({
      type: 'approval',
      session_id: a.sessionId,
      ...(a.commandId ? { command_id: a.commandId } : {}),
      decision: approved ? 'allow' : 'deny',
      rule: a.rule,
      message: a.reason ?? a.message,
      fields: { approval_id: a.id, kind: a.kind, target: a.target, outcome: a.status, approver: a.approver ?? null, scope: a.scope ?? null },
    });
    return a;
  }

  private writeJournal(): void {
    const file = this.opts.journal;
    if (!file) return;
    const pending = [...this.waiting.values()].map((w) => w.approval);
    if (!pending.length) return void rmSync(file, { force: true });
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify(pending), { mode: 0o600 });
    renameSync(tmp, file);
  }
}

function grantKey(r: Pick<ApprovalRequest, 'sessionId' | 'kind' | 'rule' | 'target'>): string {
  return `${r.sessionId}\0${r.kind}\0${r.rule}\0${r.target}`;
}
