// The HTTP API (loopback TCP and an owner-only unix socket). Everything under /api needs the
// bearer token the server keeps in its run directory (0600): the control plane is the
// operator's, not the agent's. /health, /ready and /metrics are open.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseDuration } from '../util/duration.js';
import type { EventFilter, ServerContext } from './context.js';
import { runGoverned } from './governed.js';
import { SessionError } from './sessions.js';
import { HttpError, json, readJson } from './http-util.js';
import { operatorRoute } from './api-operator.js';
import { consoleAuth, serveConsole } from './console.js';
import { toolboxExec, toolboxUser, forbiddenToolboxVars } from './toolbox.js';


export interface ApiState {
  ready: boolean;
  token: string;
  startedAt: number;
}

export function apiHandler(ctx: ServerContext, state: ApiState) {
  return (req: IncomingMessage, res: ServerResponse) => {
    handle(ctx, state, req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : err instanceof SessionError ? err.status : 500;
      const code = err instanceof HttpError ? err.code : status === 404 ? 'E_NOT_FOUND' : status === 500 ? 'E_INTERNAL' : 'E_BAD_REQUEST';
      if (!res.headersSent) json(res, status, { error: { code, message: (err as Error).message ?? String(err) } });
      else res.end();
    });
  };
}


function authorised(req: IncomingMessage, token: string): boolean {
  const h = req.headers.authorization ?? '';
  const m = /^Bearer (.+)$/.exec(h);
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

const str = (v: unknown, name: string, required = false): string | undefined => {
  if (v === undefined || v === null) {
    if (required) throw new HttpError(400, `'${name}' is required`);
    return undefined;
  }
  if (typeof v !== 'string') throw new HttpError(400, `'${name}' must be a string`);
  return v;
};

const strMap = (v: unknown, name: string): Record<string, string> | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v) || Object.values(v as object).some((x) => typeof x !== 'string')) throw new HttpError(400, `'${name}' must be a map of strings`);
  return v as Record<string, string>;
};

async function handle(ctx: ServerContext, state: ApiState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://agentsh');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  if (method === 'GET' && path === ctx.config.health.path) return json(res, 200, { status: 'ok' });
  if (method === 'GET' && path === ctx.config.health.readiness_path) return json(res, state.ready ? 200 : 503, { ready: state.ready });
  if (method === 'GET' && path === ctx.config.metrics.path) {
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    return void res.end(metrics(ctx, state));
  }
  if (await serveConsole(req, res, state)) return;
  if (!path.startsWith('/api/')) throw new HttpError(404, `no route ${method} ${path}`, 'E_NOT_FOUND');
  if (!authorised(req, state.token)) {
    const c = consoleAuth(req, state);
    if (c === 'forbidden') throw new HttpError(403, 'a console request that changes something needs the header X-Agentsh-Console: 1 and this origin', 'E_FORBIDDEN');
    if (c !== 'ok') throw new HttpError(401, 'missing or wrong API token', 'E_UNAUTHORIZED');
  }

  if (path === '/api/toolbox/exec' && method === 'POST') return toolbox(await readJson(req), res);
  const parts = path.split('/').filter(Boolean); // api, v1, …
  if (parts[1] !== 'v1') throw new HttpError(404, `no route ${method} ${path}`, 'E_NOT_FOUND');
  const [, , resource, id, action] = parts;
  if (await operatorRoute(ctx, req, url, parts, res)) return;

  if (resource === 'sessions') {
    if (!id && method === 'GET') return json(res, 200, ctx.sessions.list().map((s) => s.info()));
    if (!id && method === 'POST') {
      const b = await readJson(req);
      // Below security.minimum_mode no session starts: the message says what is missing.
      if (ctx.sandbox.report.refusal) throw new HttpError(503, ctx.sandbox.report.refusal, 'E_SECURITY_MODE');
      const s = ctx.sessions.create({
        workspace: str(b.workspace, 'workspace', true)!,
        ...(b.policy !== undefined ? { policy: str(b.policy, 'policy')! } : {}),
        ...(b.project_root !== undefined ? { project_root: str(b.project_root, 'project_root')! } : {}),
        ...(b.env !== undefined ? { env: strMap(b.env, 'env')! } : {}),
      });
      try {
        ctx.audit.record({ type: 'session_created', session_id: s.id, fields: { workspace: s.workspace, policy: s.policyName, policy_file: s.policyFile } });
      } catch (err) {
        // Nothing unrecorded: a session the audit log cannot take does not exist.
        ctx.sandbox.forget(ctx.sessions.destroy(s.id));
        throw new HttpError(503, `session refused: it cannot be recorded in the audit log (${(err as Error).message})`, 'E_AUDIT_UNAVAILABLE');
      }
      return json(res, 201, s.info());
    }
    if (id && !action && method === 'GET') return json(res, 200, ctx.sessions.get(id).info());
    if (id && !action && method === 'DELETE') {
      const s = ctx.sessions.destroy(id);
      ctx.sandbox.forget(s);
      ctx.approvals?.endSession(s.id);
      ctx.audit.record({ type: 'session_destroyed', session_id: s.id, fields: { commands: s.commands } });
      return json(res, 200, { id, destroyed: true });
    }
    if (id && action === 'exec' && method === 'POST') return exec(ctx, id, await readJson(req), res);
  }
  if (resource === 'events' && method === 'GET') {
    const filter: EventFilter = {};
    const sid = url.searchParams.get('session_id');
    if (sid) filter.session_id = sid;
    const types = url.searchParams.getAll('type');
    if (types.length) filter.types = types;
    const since = url.searchParams.get('since');
    if (since) filter.since = since;
    const limit = url.searchParams.get('limit');
    if (limit) filter.limit = Number(limit);
    if (id === 'stream') return stream(ctx, filter, req, res);
    return json(res, 200, ctx.audit.query(filter));
  }
  throw new HttpError(404, `no route ${method} ${path}`, 'E_NOT_FOUND');
}

async function exec(ctx: ServerContext, sessionId: string, b: Record<string, unknown>, res: ServerResponse): Promise<void> {
  const session = ctx.sessions.get(sessionId);
  const command = str(b.command, 'command', true)!;
  if (b.args !== undefined && (!Array.isArray(b.args) || b.args.some((a) => typeof a !== 'string'))) throw new HttpError(400, "'args' must be a list of strings");
  const args = (b.args as string[] | undefined) ?? [];
  const timeout = str(b.timeout, 'timeout');
  const timeoutMs = timeout === undefined ? undefined : parseDuration(timeout);
  if (timeoutMs === null) throw new HttpError(400, `invalid timeout '${timeout}'`);
  const streaming = b.stream === true;
  const base64 = b.encoding === 'base64';
  const stdin = str(b.stdin, 'stdin');

  const out: Buffer[] = [];
  const err: Buffer[] = [];
  if (streaming) res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  const line = (o: unknown) => res.write(`${JSON.stringify(o)}\n`);
  const run = runGoverned(
    ctx,
    session,
    { file: command, argv: [command, ...args], cwd: str(b.cwd, 'cwd') ?? session.workspace, env: { ...(process.env as Record<string, string>), ...(strMap(b.env, 'env') ?? {}) }, ...(timeoutMs !== undefined ? { timeoutMs } : {}), source: 'api' },
    {
      stdout: (c) => (streaming ? line({ type: 'stdout', data: c.toString('base64') }) : (out.push(c), true)),
      stderr: (c) => (streaming ? line({ type: 'stderr', data: c.toString('base64') }) : (err.push(c), true)),
    },
  );
  if (streaming) res.on('drain', () => run.running?.resume());
  if (run.running) {
    if (stdin !== undefined) run.running.writeStdin(Buffer.from(stdin));
    run.running.endStdin();
  }
  const status = await run.status;
  if (streaming) {
    line({ type: 'exit', exit_code: status, command_id: run.commandId, decision: run.decision });
    return void res.end();
  }
  const enc = (bufs: Buffer[]) => Buffer.concat(bufs).toString(base64 ? 'base64' : 'utf8');
  const body: Record<string, unknown> = { command_id: run.commandId, exit_code: status, stdout: enc(out), stderr: enc(err), encoding: base64 ? 'base64' : 'utf8' };
  body.decision = run.decision;
  if (!run.running) body.error = { code: 'E_POLICY_DENIED', rule: run.decision.rule, message: run.decision.message || 'command denied by policy' };
  json(res, run.running ? 200 : 403, body);
}

// Daytona's toolbox exec: `/bin/bash -c COMMAND` as the sandbox user (src/server/toolbox.ts).
async function toolbox(b: Record<string, unknown>, res: ServerResponse): Promise<void> {
  const command = str(b.command, 'command', true)!;
  const cwd = str(b.cwd, 'cwd');
  const env = strMap(b.env, 'env');
  const bad = forbiddenToolboxVars(env ?? {});
  if (bad.length) throw new HttpError(400, `the toolbox does not accept ${bad.join(', ')} from the caller: they steer the governance layer`, 'E_FORBIDDEN_ENV');
  if (b.timeoutMs !== undefined && (typeof b.timeoutMs !== 'number' || !Number.isFinite(b.timeoutMs) || b.timeoutMs < 0)) throw new HttpError(400, "'timeoutMs' must be a non-negative number");
  let user;
  try {
    user = toolboxUser();
  } catch (err) {
    throw new HttpError(500, `toolbox user: ${(err as Error).message}`, 'E_INTERNAL');
  }
  const r = await toolboxExec({ command, ...(cwd !== undefined ? { cwd } : {}), ...(env ? { env } : {}), ...(typeof b.timeoutMs === 'number' ? { timeoutMs: b.timeoutMs } : {}) }, user);
  json(res, 200, r);
}

function stream(ctx: ServerContext, filter: EventFilter, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  res.write(': agentsh events\n\n');
  const unsubscribe = ctx.audit.subscribe(filter, (e) => res.write(`data: ${JSON.stringify(e)}\n\n`));
  req.on('close', unsubscribe);
}

function metrics(ctx: ServerContext, state: ApiState): string {
  const lines = [
    '# HELP agentsh_sessions_active Sessions currently open.',
    '# TYPE agentsh_sessions_active gauge',
    `agentsh_sessions_active ${ctx.sessions.list().length}`,
    '# HELP agentsh_commands_total Governed commands by outcome.',
    '# TYPE agentsh_commands_total counter',
    `agentsh_commands_total{outcome="allowed"} ${ctx.counters.get('allowed') ?? 0}`,
    `agentsh_commands_total{outcome="denied"} ${ctx.counters.get('denied') ?? 0}`,
    '# HELP agentsh_uptime_seconds Seconds since the server started.',
    '# TYPE agentsh_uptime_seconds gauge',
    `agentsh_uptime_seconds ${((Date.now() - state.startedAt) / 1000).toFixed(0)}`,
  ];
  return `${lines.join('\n')}\n`;
}
