// The audit event: one plain, JSON-serialisable object per decision or happening.
//
// Every decision becomes an event, allowed ones too (brief, principle 4). Events are
// written as one JSON line each (keys sorted, agentsh's canonical form) and, when the HMAC
// chain is on, carry `integrity` (see chain.ts).
//
// Field conventions inside `fields` (so the report, the CLI and the console agree):
//   command_* : command (string, the full command line), args (string[]), argv0, cwd, pid,
//               depth, exit_code (number), signal (string), duration_ms (number),
//               timed_out (bool), stdout / stderr (redacted excerpts), stdout_bytes,
//               stderr_bytes, stdout_truncated / stderr_truncated (bool)
//   file_*    : path, operation (read|write|create|delete|rename|chmod|exec|…), target
//   net_*     : host (name), ip, port, protocol, url, method
//   session_* : workspace, policy, reason
//   approval  : approval_id, approver, outcome (approved|denied|timeout), target
//   any       : redactions (number of DLP replacements)

import { randomUUID } from 'node:crypto';
import type { IntegrityMetadata } from './chain.js';

export type { IntegrityMetadata } from './chain.js';

export const AUDIT_EVENT_TYPES = [
  'server_start',
  'server_stop',
  'session_created',
  'session_destroyed',
  'command_policy',
  'command_exec',
  'command_finished',
  'command_output',
  'file_policy',
  'net_policy',
  'env_policy',
  'approval',
  'dlp_redaction',
  'policy_loaded',
  'audit_warning',
] as const;

/** Known types; any other string is allowed (new subsystems add their own). */
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number] | (string & {});

export type AuditDecision = 'allow' | 'deny' | 'approve' | 'redirect' | 'audit' | 'soft_delete' | (string & {});

export interface AuditEvent {
  /** UUID v4. */
  id: string;
  /** RFC 3339, UTC, millisecond precision: 2026-01-02T03:04:05.678Z */
  ts: string;
  type: AuditEventType;
  session_id?: string;
  command_id?: string;
  /** The effective decision (what happened). */
  decision?: AuditDecision;
  /** The policy's own decision when it differs from the effective one (e.g. approve → deny when no approver). */
  policy_decision?: AuditDecision;
  /** Name of the rule that decided. */
  rule?: string;
  message?: string;
  fields: Record<string, unknown>;
  /** Present when the HMAC chain is on. */
  integrity?: IntegrityMetadata;
}

/** What callers hand to the log: id and ts are filled in when missing. */
export type AuditEventInput = Omit<AuditEvent, 'id' | 'ts' | 'fields' | 'integrity'> & {
  id?: string;
  ts?: string | Date;
  fields?: Record<string, unknown>;
};

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export class AuditEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditEventError';
  }
}

/** Normalise a timestamp to RFC 3339 UTC with milliseconds (so text order is time order). */
let lastMs = -1;
let lastIso = '';

/** Now as RFC 3339 UTC ms (formatting cached per millisecond: it is on the hot path). */
export function nowTs(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

export function normalizeTs(ts: string | Date | undefined): string {
  if (ts === undefined) return nowTs();
  if (ts instanceof Date) {
    if (Number.isNaN(ts.getTime())) throw new AuditEventError('invalid event timestamp (Invalid Date)');
    return ts.toISOString();
  }
  if (UTC_MS.test(ts)) return ts;
  if (!RFC3339.test(ts)) throw new AuditEventError(`event timestamp ${JSON.stringify(ts)} is not RFC 3339`);
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) throw new AuditEventError(`event timestamp ${JSON.stringify(ts)} is not a valid time`);
  return d.toISOString();
}

const OPTIONAL_STRINGS = ['session_id', 'command_id', 'decision', 'policy_decision', 'rule', 'message'] as const;

/** Build a complete event from input: id, ts, fields filled in; shape checked. */
export function makeEvent(input: AuditEventInput): AuditEvent {
  if (input === null || typeof input !== 'object') throw new AuditEventError('audit event must be an object');
  if (typeof input.type !== 'string' || input.type === '') throw new AuditEventError('audit event needs a non-empty string type');
  const ev: AuditEvent = {
    id: input.id ?? randomUUID(),
    ts: normalizeTs(input.ts),
    type: input.type,
    fields: input.fields ?? {},
  };
  if (typeof ev.id !== 'string' || ev.id === '') throw new AuditEventError('audit event id must be a non-empty string');
  if (ev.fields === null || typeof ev.fields !== 'object' || Array.isArray(ev.fields)) throw new AuditEventError('audit event fields must be an object');
  for (const k of OPTIONAL_STRINGS) {
    const v = input[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') throw new AuditEventError(`audit event ${k} must be a string`);
    ev[k] = v;
  }
  return ev;
}

/** Shorten captured output for the log: at most `max` characters, with a marker. */
export function excerpt(text: string, max = 4096): { text: string; truncated: boolean } {
  if (text.length <= max) return { text, truncated: false };
  return { text: text.slice(0, max) + `…[${text.length - max} more chars]`, truncated: true };
}

export interface EventFilter {
  session_id?: string;
  command_id?: string;
  types?: readonly string[];
  decision?: string;
}

/** Whether an event passes a subscriber/query filter. */
export function matchesFilter(ev: AuditEvent, f: EventFilter | undefined): boolean {
  if (!f) return true;
  if (f.session_id !== undefined && ev.session_id !== f.session_id) return false;
  if (f.command_id !== undefined && ev.command_id !== f.command_id) return false;
  if (f.decision !== undefined && ev.decision !== f.decision) return false;
  if (f.types && f.types.length > 0 && !f.types.includes(ev.type)) return false;
  return true;
}
