// Where the trash is and how long it is kept, from agentsh's config
// (sandbox.fuse.audit.trash_path / ttl / quota). The server and the CLI both ask here.
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import type { ResolvedConfig } from '../config/load.js';
import { parseByteSize, parseDuration } from '../util/duration.js';

/** agentsh's default: relative, i.e. inside the session workspace. */
export const DEFAULT_TRASH_PATH = '.agentsh_trash';

type TrashConfig = { sandbox: { fuse: { audit: { trash_path?: string; ttl?: string; quota?: string } } } };

export interface TrashDirOptions {
  /** The session workspace: a relative trash_path is inside it (the server's case). */
  workspace?: string;
  /** Without a workspace (the CLI), a relative trash_path is relative to this home
   *  (default: the current user's). */
  home?: string;
}

/** The trash directory: trash_path as is when absolute, else under the workspace, else
 *  under the home directory. `cfg` null means agentsh's defaults. */
export function trashDirFromConfig(cfg: TrashConfig | ResolvedConfig | null, opts: TrashDirOptions = {}): string {
  const configured = cfg?.sandbox.fuse.audit.trash_path || DEFAULT_TRASH_PATH;
  if (isAbsolute(configured)) return resolve(configured);
  return resolve(opts.workspace ?? opts.home ?? homedir(), configured);
}

/** The configured ttl (ms) and quota (bytes); undefined when not set or unreadable. */
export function trashLimitsFromConfig(cfg: TrashConfig | ResolvedConfig | null): { ttlMs?: number; quotaBytes?: number } {
  const audit = cfg?.sandbox.fuse.audit;
  const ttlMs = audit?.ttl ? parseTrashTtl(audit.ttl) : null;
  const quotaBytes = audit?.quota ? parseByteSize(audit.quota) : null;
  return { ...(ttlMs !== null ? { ttlMs } : {}), ...(quotaBytes !== null ? { quotaBytes } : {}) };
}

/** A Go duration ("24h", "30m", "1h30m") that may also use days ("7d", "1d12h"), as agentsh's
 *  trash ttl does; null when it is not one. */
export function parseTrashTtl(text: string): number | null {
  const t = text.trim();
  const m = /^(\d+(?:\.\d+)?)d(.*)$/.exec(t);
  if (!m) return parseDuration(t);
  const rest = m[2]!;
  const more = rest === '' ? 0 : parseTrashTtl(rest);
  return more === null ? null : Number(m[1]) * 86_400_000 + more;
}

/** Bytes: plain ("1048576") or with a unit (10MB, 512KiB, 1GiB; K/M/G are binary). */
export function parseTrashQuota(text: string): number | null {
  return parseByteSize(text);
}
