// The operator's routes (the CLI and the console use them; both hold the API token):
// approvals, a session's trash, its report and its enforcement.
//
//   GET  /api/v1/approvals[?status=&session_id=]      list
//   GET  /api/v1/approvals/ID                          one
//   POST /api/v1/approvals/ID {decision: allow|deny, reason?, scope?: once|session, approver?}
//   GET  /api/v1/sessions/ID/trash                     the session's trash entries
//   POST /api/v1/sessions/ID/trash/TOKEN/restore       back to the original path (or {dest})
//   GET  /api/v1/sessions/ID/report                    {text}: `agentsh report` for the session
//   GET  /api/v1/sessions/ID/detect                    what is enforced for the session
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApprovalError, type Approval, type ApprovalStatus } from '../approvals/manager.js';
import type { AuditEvent } from '../audit/event.js';
import { sessionReport } from '../audit/report.js';
import { reportFor } from '../cli/detect.js';
import { planGapWarnings } from './sandbox-runtime.js';
import { TrashError } from '../trash/store.js';
import type { ServerContext } from './context.js';
import { HttpError, json, readJson } from './http-util.js';
import { networkState } from './sandbox-runtime.js';
import { trashStoreFor } from './trash.js';

const STATUSES: readonly ApprovalStatus[] = ['pending', 'approved', 'denied', 'expired', 'failed'];

export function approvalJson(a: Approval) {
  return {
    id: a.id,
    session_id: a.sessionId,
    ...(a.commandId ? { command_id: a.commandId } : {}),
    kind: a.kind,
    rule: a.rule,
    message: a.message,
    target: a.target,
    created_at: a.createdAt,
    expires_at: a.expiresAt,
    status: a.status,
    ...(a.approver ? { approver: a.approver } : {}),
    ...(a.reason ? { reason: a.reason } : {}),
    ...(a.scope ? { scope: a.scope } : {}),
  };
}

/** Handles the route when it is one of these; false otherwise. */
export async function operatorRoute(ctx: ServerContext, req: IncomingMessage, url: URL, parts: string[], res: ServerResponse): Promise<boolean> {
  const method = req.method ?? 'GET';
  const [, , resource, id, action, token, sub] = parts;
  if (resource === 'approvals') {
    const approvals = ctx.approvals;
    if (!approvals) throw new HttpError(409, 'approvals are disabled (approvals.enabled is false): approve rules resolve to deny', 'E_APPROVALS_DISABLED');
    if (!id && method === 'GET') {
      const status = url.searchParams.get('status') ?? undefined;
      if (status !== undefined && !STATUSES.includes(status as ApprovalStatus)) throw new HttpError(400, `status must be one of ${STATUSES.join(', ')}`);
      const sessionId = url.searchParams.get('session_id') ?? undefined;
      json(res, 200, approvals.list({ ...(status ? { status: status as ApprovalStatus } : {}), ...(sessionId ? { sessionId } : {}) }).map(approvalJson));
      return true;
    }
    if (id && !action && method === 'GET') {
      const a = approvals.get(id);
      if (!a) throw new HttpError(404, `no approval ${id}`, 'E_NOT_FOUND');
      json(res, 200, approvalJson(a));
      return true;
    }
    if (id && !action && method === 'POST') {
      const b = await readJson(req);
      if (b.decision !== 'allow' && b.decision !== 'deny') throw new HttpError(400, "'decision' must be allow or deny");
      if (b.scope !== undefined && b.scope !== 'once' && b.scope !== 'session') throw new HttpError(400, "'scope' must be once or session");
      if (b.reason !== undefined && typeof b.reason !== 'string') throw new HttpError(400, "'reason' must be a string");
      if (b.approver !== undefined && (typeof b.approver !== 'string' || b.approver.length > 200)) throw new HttpError(400, "'approver' must be a short string");
      try {
        const a = approvals.resolve(id, b.decision, {
          approver: (b.approver as string | undefined) ?? 'api',
          ...(b.reason ? { reason: b.reason as string } : {}),
          ...(b.scope ? { scope: b.scope as 'once' | 'session' } : {}),
        });
        json(res, 200, approvalJson(a));
      } catch (err) {
        if (err instanceof ApprovalError) throw new HttpError(err.status, err.message, err.status === 404 ? 'E_NOT_FOUND' : 'E_CONFLICT');
        throw err;
      }
      return true;
    }
    return false;
  }
  if (resource !== 'sessions' || !id) return false;
  if (action === 'trash') {
    const session = ctx.sessions.get(id);
    const store = trashStoreFor(ctx, session);
    if (!token && method === 'GET') {
      json(res, 200, store.list().filter((e) => e.sessionId === id).map((e) => ({
        token: e.token,
        original_path: e.originalPath,
        deleted_at: e.deletedAt.toISOString(),
        kind: e.kind,
        size: e.size,
        ...(e.rule ? { rule: e.rule } : {}),
        ...(e.command ? { command: e.command } : {}),
      })));
      return true;
    }
    if (token && sub === 'restore' && method === 'POST') {
      const b = await readJson(req);
      const entry = store.entry(token);
      if (!entry || entry.sessionId !== id) throw new HttpError(404, `no trash entry ${token} in session ${id}`, 'E_NOT_FOUND');
      const dest = typeof b.dest === 'string' ? b.dest : entry.originalPath;
      if (!dest) throw new HttpError(400, `trash entry ${token} has no original path; give 'dest'`);
      try {
        const r = store.restore(token, { dest, force: b.force === true });
        ctx.audit.record({ type: 'trash_restored', session_id: id, fields: { token, path: r.path, source: 'operator' } });
        json(res, 200, { restored_to: r.path });
      } catch (err) {
        if (err instanceof TrashError) throw new HttpError(409, err.message, 'E_CONFLICT');
        throw err;
      }
      return true;
    }
    return false;
  }
  if (action === 'report' && !token && method === 'GET') {
    ctx.sessions.get(id);
    const events = ctx.audit.query({ session_id: id, limit: 100_000 }) as AuditEvent[];
    json(res, 200, { text: sessionReport(events, { sessionId: id }) });
    return true;
  }
  if (action === 'detect' && !token && method === 'GET') {
    const session = ctx.sessions.get(id);
    const resources = ctx.sandbox.resourcesFor(session, ctx.config, session.uid ?? undefined)?.plan.active ?? null;
    const report = reportFor(ctx.sandbox.report, {}, 'session', resources, networkState(ctx.config, ctx.sandbox.report), ctx.fuseViews?.state());
    // The session's own file rules the kernel can't fully enforce (its plan, compiled if need be).
    if (ctx.sandbox.mode !== 'minimal') report.limits.push(...planGapWarnings(ctx.sandbox.fsPlanFor(session)));
    json(res, 200, report);
    return true;
  }
  return false;
}
