// What an agent may ask the server from inside its sandbox, over its own shim socket (the
// kernel tells us its uid): list and restore the trash entries of its own sessions, and what
// enforcement its session runs under. Nothing here changes policy or reads the audit log.
import { formatList } from '../trash/format.js';
import { TrashError } from '../trash/store.js';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { callerMay } from './caller-access.js';
import type { ServerContext } from './context.js';
import type { Session } from './sessions.js';
import { trashStoreFor } from './trash.js';
import { networkState } from './sandbox-runtime.js';

export interface QueryResult {
  stdout: string;
  stderr: string;
  status: number;
}

interface Query {
  op?: unknown;
  session?: unknown;
  only?: unknown;
  token?: unknown;
  dest?: unknown;
  force?: unknown;
  json?: unknown;
}

export function agentQuery(ctx: ServerContext, uid: number, raw: unknown): QueryResult {
  const q = (raw && typeof raw === 'object' ? raw : {}) as Query;
  const own = ctx.sessions.list().filter((s) => s.uid === uid);
  // `session` is the caller's own (AGENTSH_SESSION_ID); `only` narrows a listing to one session.
  const only = typeof q.only === 'string' ? q.only : null;
  const session = own.find((s) => s.id === (only ?? q.session)) ?? own.find((s) => s.id === `shim-${uid}`) ?? own[0];
  if (only && !own.some((s) => s.id === only)) return err(`no session ${only} of yours`);
  try {
    switch (q.op) {
      case 'trash-list':
        return trashList(ctx, own, session, q.json === true, only !== null);
      case 'trash-restore':
        return trashRestore(ctx, own, q);
      case 'detect': {
        // This session's enforcement: the server's mode and the limits its policy gets here.
        const resources = session ? (ctx.sandbox.resourcesFor(session, ctx.config, session.uid ?? undefined)?.plan.active ?? null) : null;
        return { stdout: `${JSON.stringify({ ...ctx.sandbox.report, resources, network: networkState(ctx.config, ctx.sandbox.report), fuse: ctx.fuseViews?.state() ?? { state: 'off' } })}\n`, stderr: '', status: 0 };
      }
      default:
        return err(`unknown query ${JSON.stringify(q.op)}`);
    }
  } catch (e) {
    if (e instanceof TrashError) return err(e.message);
    throw e;
  }
}

function err(message: string): QueryResult {
  return { stdout: '', stderr: `agentsh: ${message}\n`, status: 1 };
}

function trashList(ctx: ServerContext, own: Session[], session: Session | undefined, json: boolean, onlyOne: boolean): QueryResult {
  const sessions = onlyOne && session ? [session] : own;
  const ids = new Set(sessions.map((s) => s.id));
  const entries = [];
  const seen = new Set<string>();
  for (const s of sessions) {
    const store = trashStoreFor(ctx, s);
    if (seen.has(store.dir)) continue;
    seen.add(store.dir);
    // Orphans (no metadata, so no session) are the operator's to look at.
    entries.push(...store.list().filter((e) => e.sessionId !== null && ids.has(e.sessionId)));
  }
  entries.sort((a, b) => a.deletedAt.getTime() - b.deletedAt.getTime());
  return { stdout: json ? `${JSON.stringify(entries, null, 2)}\n` : formatList(entries), stderr: '', status: 0 };
}

function trashRestore(ctx: ServerContext, own: Session[], q: Query): QueryResult {
  if (typeof q.token !== 'string') return err('trash restore needs a token');
  for (const s of own) {
    const store = trashStoreFor(ctx, s);
    const entry = store.entry(q.token);
    if (!entry) continue;
    if (entry.sessionId === null || !own.some((o) => o.id === entry.sessionId)) return err(`trash entry ${q.token} is not from one of your sessions`);
    const dest = typeof q.dest === 'string' ? q.dest : entry.originalPath;
    if (!dest) return err(`trash entry ${q.token} has no original path; give --dest`);
    // The server writes as root: the destination must be one the policy lets this session create.
    const session = own.find((o) => o.id === entry.sessionId)!;
    for (const op of ['create', 'write']) {
      const d = session.engine.checkFile(op, dest);
      if (d.decision !== 'allow' && d.decision !== 'audit') return err(`restore to ${dest} denied by policy (rule=${d.rule})`);
    }
    // ... and one its user could write itself (the server restores as root).
    const parent = statOrNull(dirname(dest));
    if (parent && !callerMay(session, 'write', dirname(dest), parent)) return err(`restore to ${dest}: you may not write in ${dirname(dest)}`);
    const r = store.restore(q.token, { dest, force: q.force === true });
    ctx.audit.record({ type: 'trash_restored', session_id: session.id, fields: { token: q.token, path: r.path, source: 'agent' } });
    return { stdout: `restored to ${r.path}\n`, stderr: '', status: 0 };
  }
  return err(`no trash entry ${q.token}`);
}

function statOrNull(p: string) {
  try {
    return statSync(p);
  } catch {
    return null;
  }
}
