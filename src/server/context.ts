// What the server's parts share: config, sessions, the audit recorder, the output filter
// factory and the paths it owns.
import type { ApprovalManager } from '../approvals/manager.js';
import type { ResolvedConfig } from '../config/load.js';
import type { OutputFilter } from './exec.js';
import type { RunPaths } from './paths.js';
import type { FuseViews } from './fuse-views.js';
import type { SandboxRuntime } from './sandbox-runtime.js';
import type { SessionManager } from './sessions.js';

export interface AuditRecord {
  type: string;
  session_id?: string;
  command_id?: string;
  decision?: string;
  policy_decision?: string;
  rule?: string;
  message?: string;
  fields?: Record<string, unknown>;
}

export interface EventFilter {
  session_id?: string;
  types?: string[];
  since?: string;
  /** The newest `limit` events are returned (oldest first). */
  limit?: number;
}

export interface AuditRecorder {
  /** Seals and queues an event (in call order); throws when the log can no longer be written. */
  record(event: AuditRecord): void;
  /** Resolves once every event recorded so far is in the log file (written; fsync follows); rejects if the log failed. */
  flush?(): Promise<void>;
  query(filter: EventFilter): unknown[];
  /** Live events; returns the unsubscribe function. */
  subscribe(filter: EventFilter, cb: (event: unknown) => void): () => void;
  /** Why the log accepts no more events (it latched failed), or null while it works. */
  failure?(): string | null;
  /** Called once when the log latches failed. */
  onFailure?(cb: (message: string) => void): void;
}

/**
 * Records an event that follows something already done (a command's start or end, a
 * connection's end, a daemon's report). Once the log has latched failed it has said so, and
 * the server has ended what runs: the caller goes on instead of throwing out of a callback.
 */
export function recordAfter(audit: AuditRecorder, event: AuditRecord): void {
  try {
    audit.record(event);
  } catch {
    // the log's own failure report stands for it
  }
}

export interface ServerContext {
  config: ResolvedConfig;
  sessions: SessionManager;
  audit: AuditRecorder;
  /** A fresh DLP filter for one output stream, or null when DLP is off. */
  outputFilter(): OutputFilter | null;
  /** DLP for text recorded in audit events (command lines can carry secrets too). */
  redactText(s: string): string;
  paths: RunPaths;
  /** Governed commands by outcome (allowed, denied), for /metrics: shim and API alike. */
  counters: Map<string, number>;
  /** The sandbox launcher binary (null: commands are spawned directly). */
  launcher: string | null;
  /** The session sandbox: mode, mechanisms, per-command plans. */
  sandbox: SandboxRuntime;
  /** Variables every command gets (sandbox.env_inject), bypassing env_policy. */
  inject: Record<string, string>;
  /** Pending approvals (null when approvals.enabled is false: `approve` then resolves to deny). */
  approvals: ApprovalManager | null;
  /** The sessions' FUSE workspace views (mode landlock; null until the server set them up). */
  fuseViews?: FuseViews | null;
}
