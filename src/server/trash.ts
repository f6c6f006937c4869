// The server's side of soft delete: which trash a session's deletes go to (the config's
// trash_path, relative paths inside the session workspace), and recording what the launcher's
// supervisor moved there. The trash dir is hidden inside the sandbox (an empty read-only
// tmpfs over it), so the agent can neither read nor purge it; it lists and restores its own
// session's entries through the server.
import { newTrashToken, TrashStore } from '../trash/store.js';
import { trashDirFromConfig, trashLimitsFromConfig } from '../trash/config.js';
import { trashFull } from '../trash/space.js';
import type { ServerContext } from './context.js';
import type { TrashTarget } from './interception.js';
import type { Session } from './sessions.js';
import { linkSync, lstatSync, renameSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';

const stores = new Map<string, TrashStore>();

export function trashStoreFor(ctx: ServerContext, session: Session): TrashStore {
  const dir = trashDirFromConfig(ctx.config, { workspace: session.workspace });
  let store = stores.get(dir);
  if (!store) {
    store = new TrashStore(dir);
    stores.set(dir, store);
  }
  store.init();
  return store;
}

/** Per session: directory → tokens trashed from it since the server started (for absorbChildren). */
const byParent = new WeakMap<Session, Map<string, string[]>>();

export function sessionTrash(ctx: ServerContext, session: Session): TrashTarget {
  const store = trashStoreFor(ctx, session);
  let parents = byParent.get(session);
  if (!parents) byParent.set(session, (parents = new Map()));
  const seen = parents;
  return {
    dir: store.dir,
    newToken: () => newTrashToken(),
    recorded: (token, originalPath, rule, parentMtimeNs) => {
      try {
        // Entries trashed before this server started are not candidates: their directory
        // restores without them (they stay separate entries).
        const kids = seen.get(originalPath);
        if (kids) {
          store.absorbChildren(token, originalPath, session.id, kids);
          seen.delete(originalPath);
        }
        store.record(token, { originalPath, sessionId: session.id, rule, ...(parentMtimeNs !== undefined ? { parentMtimeNs } : {}) });
        const parent = dirname(originalPath);
        const list = seen.get(parent) ?? [];
        list.push(token);
        seen.set(parent, list);
      } catch (err) {
        // Unrecorded, the payload would be an orphan nobody can restore: it goes back where
        // it was (never over a file made there since); if it cannot, `trash list` shows it.
        const putBack = putBackPayload(store.payloadPath(token), originalPath);
        try {
          ctx.audit.record({ type: 'trash_record_failed', session_id: session.id, message: `${(err as Error).message}; ${putBack ? 'the file was put back at its path' : 'the payload stays in the trash as an orphan'}`, fields: { token, path: originalPath, put_back: putBack } });
        } catch {
          // the audit log failed too (same disk): it said so
        }
      }
    },
    full: () => trashFull(store.dir),
  };
}

/**
 * The trash's ttl and quota (sandbox.fuse.audit.ttl / quota, agentsh's defaults 7d and 5GB),
 * applied to every trash this server has used: deletes that only move files must not fill
 * the disk. Run by the server's reaper; each removal is audited.
 */
export function purgeTrashes(ctx: Pick<ServerContext, 'config' | 'audit'>, now = new Date()): number {
  const limits = trashLimitsFromConfig(ctx.config);
  let removed = 0;
  for (const store of stores.values()) {
    try {
      const r = store.purge({ ...limits, now });
      removed += r.removed.length;
      if (r.removed.length) {
        ctx.audit.record({ type: 'trash_purged', fields: { dir: store.dir, entries: r.removed.length, bytes: r.freedBytes, tokens: r.removed.map((e) => e.token).slice(0, 100), ttl_ms: limits.ttlMs ?? null, quota_bytes: limits.quotaBytes ?? null } });
      }
    } catch (err) {
      ctx.audit.record({ type: 'trash_purge_failed', message: (err as Error).message, fields: { dir: store.dir } });
    }
  }
  return removed;
}

/** Forget the stores (tests; a server that stops). */
export function forgetTrashStores(): void {
  stores.clear();
}

/** Moves a trashed payload back to its original path without replacing anything there. */
function putBackPayload(payload: string, originalPath: string): boolean {
  try {
    if (lstatSync(payload).isDirectory()) {
      if (lstatSync(originalPath, { throwIfNoEntry: false })) return false;
      renameSync(payload, originalPath);
    } else {
      linkSync(payload, originalPath); // EEXIST if the name was taken again
      unlinkSync(payload);
    }
    return true;
  } catch {
    return false;
  }
}
