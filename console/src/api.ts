// The console's side of the HTTP API. Auth is the HttpOnly cookie from /console/login
// (same origin, sent by the browser); every request also carries X-Agentsh-Console: 1,
// which the server requires for anything that changes state (CSRF).

export interface AuditEvent {
  id: string;
  ts: string;
  type: string;
  session_id?: string;
  command_id?: string;
  decision?: string;
  policy_decision?: string;
  rule?: string;
  message?: string;
  fields: Record<string, unknown>;
}

export interface SessionInfo {
  id: string;
  workspace: string;
  policy: string;
  created_at: string;
  last_active_at: string;
  uid: number | null;
  commands: number;
  running: number;
}

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'failed';

export interface Approval {
  id: string;
  session_id: string;
  command_id?: string;
  kind: 'command' | 'exec' | 'network' | 'file';
  rule: string;
  message: string;
  target: string;
  created_at: string;
  expires_at: string;
  status: ApprovalStatus;
}

export interface TrashEntry {
  token: string;
  original_path: string;
  deleted_at: string;
  kind: string;
  size: number;
  rule: string;
  command?: string;
}

export interface DetectDomain {
  domain: string;
  /** What enforces it now ('none'); a boolean from older servers. */
  active: string | boolean;
  enforced: boolean;
  note?: string;
}

export interface DetectReport {
  mode: string;
  available?: string;
  source?: string;
  domains: DetectDomain[];
  score?: number;
  refusal?: string | null;
  forced_off?: string[];
  network?: unknown;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Told when a request comes back 401: the console session is gone (expired, server restarted). */
let onUnauthorised: () => void = () => {};
export function setUnauthorisedHandler(f: () => void): void {
  onUnauthorised = f;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { 'x-agentsh-console': '1', accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, credentials: 'same-origin', cache: 'no-store', ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  if (!res.ok) {
    if (res.status === 401) onUnauthorised();
    const msg = (parsed as { error?: { message?: string } } | null)?.error?.message ?? (typeof parsed === 'string' && parsed ? parsed : res.statusText);
    throw new ApiError(res.status, msg);
  }
  return parsed as T;
}

const enc = encodeURIComponent;

export const get = {
  sessions: () => api<SessionInfo[]>('GET', '/api/v1/sessions'),
  events: (limit: number) => api<AuditEvent[]>('GET', `/api/v1/events?limit=${limit}&order=desc`),
  eventsSince: (since: string) => api<AuditEvent[]>('GET', `/api/v1/events?since=${enc(since)}&limit=10000`),
  approvals: () => api<Approval[]>('GET', '/api/v1/approvals?status=pending').then((l) => l.map(normaliseApproval)),
  trash: (sid: string) => api<TrashEntry[]>('GET', `/api/v1/sessions/${enc(sid)}/trash`),
  report: (sid: string) => api<{ text: string }>('GET', `/api/v1/sessions/${enc(sid)}/report`),
  detect: (sid: string) => api<DetectReport>('GET', `/api/v1/sessions/${enc(sid)}/detect`),
};

export const post = {
  login: (token: string) => api<{ ok: boolean }>('POST', '/console/login', { token }),
  logout: () => api<{ ok: boolean }>('POST', '/console/logout'),
  decide: (id: string, decision: 'allow' | 'deny', scope: 'once' | 'session', reason?: string) =>
    api<{ id: string; status: string }>('POST', `/api/v1/approvals/${enc(id)}`, { decision, scope, ...(reason ? { reason } : {}) }),
  restore: (sid: string, token: string) => api<{ restored_to: string }>('POST', `/api/v1/sessions/${enc(sid)}/trash/${enc(token)}/restore`),
};

// The contract is snake_case; accept the manager's camelCase too.
function normaliseApproval(a: Approval & { sessionId?: string; commandId?: string; createdAt?: string; expiresAt?: string }): Approval {
  return {
    ...a,
    session_id: a.session_id ?? a.sessionId ?? '',
    created_at: a.created_at ?? a.createdAt ?? '',
    expires_at: a.expires_at ?? a.expiresAt ?? '',
    ...(a.command_id ?? a.commandId ? { command_id: (a.command_id ?? a.commandId)! } : {}),
  };
}
