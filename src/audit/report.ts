// `agentsh report SID`: a readable session summary (Markdown, like agentsh's report):
// overview, decision counts, findings, commands with exit codes and durations, denials with
// rules and messages, file and network activity, LLM usage, approvals, event counts.
//
// It reads only the events (field conventions in event.ts), so it works the same on events
// from SQLite, from a JSONL file, or from a live subscription.

import type { AuditEvent } from './event.js';

export interface ReportOptions {
  /** 'summary' caps the long lists; 'detailed' (default) lists everything. */
  level?: 'summary' | 'detailed';
  /** Cap for each list in summary mode. Default 20. */
  maxItems?: number;
  /** For the "Generated" line (tests pin it). */
  now?: Date;
  sessionId?: string;
}

interface CommandRow {
  key: string;
  ts: string;
  command: string;
  decision?: string;
  rule?: string;
  message?: string;
  pid?: number;
  cwd?: string;
  exitCode?: number;
  signal?: string;
  durationMs?: number;
  timedOut?: boolean;
  finished: boolean;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === 'string' && v !== '';

function cell(v: unknown): string {
  const s = v === undefined || v === null || v === '' ? '—' : String(v);
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
}

function code(s: string, max = 200): string {
  const t = s.length > max ? s.slice(0, max) + '…' : s;
  const flat = t.replace(/[\r\n]+/g, ' ');
  return flat.includes('`') ? `\`\` ${flat} \`\`` : `\`${flat}\``;
}

function hms(ts: string): string {
  const m = /T(\d{2}:\d{2}:\d{2})/.exec(ts);
  return m ? m[1]! : ts;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h ${m}m ${sec}s` : `${m}m ${sec}s`;
}

function commandText(f: Record<string, unknown>): string | undefined {
  if (isStr(f.command)) return f.command;
  if (Array.isArray(f.args) && f.args.every((a) => typeof a === 'string')) return (f.args as string[]).join(' ');
  if (Array.isArray(f.argv) && f.argv.every((a) => typeof a === 'string')) return (f.argv as string[]).join(' ');
  return undefined;
}

function target(ev: AuditEvent): string {
  const f = ev.fields ?? {};
  if (ev.type.startsWith('file')) return isStr(f.path) ? f.path : '';
  if (ev.type.startsWith('net')) {
    const host = isStr(f.host) ? f.host : isStr(f.domain) ? f.domain : isStr(f.ip) ? f.ip : isStr(f.url) ? f.url : '';
    return isNum(f.port) || isStr(f.port) ? `${host}:${f.port}` : host;
  }
  if (ev.type.startsWith('env')) return isStr(f.name) ? f.name : isStr(f.variable) ? f.variable : '';
  if (ev.type === 'llm_request') return [f.provider, f.endpoint, f.model].filter(isStr).join(' ');
  return commandText(f) ?? (isStr(f.path) ? f.path : isStr(f.target) ? f.target : '');
}

function order(events: readonly AuditEvent[]): AuditEvent[] {
  return events
    .map((ev, i) => ({ ev, i }))
    .sort((a, b) => {
      const sa = a.ev.integrity?.sequence;
      const sb = b.ev.integrity?.sequence;
      if (sa !== undefined && sb !== undefined && sa !== sb) return sa - sb;
      if (a.ev.ts !== b.ev.ts) return a.ev.ts < b.ev.ts ? -1 : 1;
      return a.i - b.i;
    })
    .map((x) => x.ev);
}

interface LlmRow {
  provider: string;
  model: string;
  requests: number;
  /** Forwarded requests that failed (status ≥ 400, no response, cut short). */
  errors: number;
  /** Refused by the proxy (DLP block, rate limit, key, endpoint). */
  refused: number;
  input: number | null;
  output: number | null;
  redactions: number;
  latencies: number[];
}

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function tally<K>(m: Map<K, number>, k: K, by = 1): void {
  m.set(k, (m.get(k) ?? 0) + by);
}

/** A readable summary of one session's events. */
export function sessionReport(events: readonly AuditEvent[], opts: ReportOptions = {}): string {
  const level = opts.level ?? 'detailed';
  const cap = level === 'summary' ? (opts.maxItems ?? 20) : Infinity;
  const evs = order(events);
  const sid = opts.sessionId ?? evs.find((e) => e.session_id)?.session_id ?? '(unknown session)';
  const out: string[] = [];
  const push = (...lines: string[]) => out.push(...lines);
  const more = (n: number) => (n > 0 ? [`… and ${n} more (use the detailed report)`, ''] : ['']);

  push(`# Session Report: ${sid}`, `**Generated:** ${(opts.now ?? new Date()).toISOString()}`, '');
  if (evs.length === 0) {
    push('No events recorded for this session.', '');
    return out.join('\n');
  }

  // ---- gather
  let workspace: string | undefined;
  let policy: string | undefined;
  let created: string | undefined;
  let destroyed: string | undefined;
  const decisions = new Map<string, number>();
  const types = new Map<string, number>();
  const commands = new Map<string, CommandRow>();
  const denials: AuditEvent[] = [];
  const approvals: AuditEvent[] = [];
  const redirects: AuditEvent[] = [];
  const softDeletes: AuditEvent[] = [];
  const files = new Map<string, { op: string; path: string; decision: string; rule: string; count: number }>();
  const nets = new Map<string, { host: string; port: string; decision: string; rule: string; count: number }>();
  const llm = new Map<string, LlmRow>();
  let llmRequests = 0;
  let llmRedactions = 0;
  let anon = 0;

  for (const ev of evs) {
    const f = ev.fields ?? {};
    tally(types, ev.type);
    if (ev.decision) tally(decisions, ev.decision);
    if (ev.decision === 'deny') denials.push(ev);
    if (ev.decision === 'redirect') redirects.push(ev);
    if (ev.decision === 'soft_delete') softDeletes.push(ev);
    if (ev.type === 'session_created') {
      created = ev.ts;
      if (isStr(f.workspace)) workspace = f.workspace;
      if (isStr(f.policy)) policy = f.policy;
    } else if (ev.type === 'session_destroyed') {
      destroyed = ev.ts;
    } else if (ev.type === 'approval' || ev.decision === 'approve') {
      approvals.push(ev);
    }

    if (ev.type.startsWith('command_')) {
      const key = ev.command_id ?? `#${anon++}`;
      let row = commands.get(key);
      if (!row) {
        row = { key, ts: ev.ts, command: commandText(f) ?? '', finished: false };
        commands.set(key, row);
      }
      if (!row.command) row.command = commandText(f) ?? '';
      if (ev.type === 'command_policy' || (ev.decision && row.decision === undefined)) {
        if (ev.decision) row.decision = ev.decision;
        if (ev.rule) row.rule = ev.rule;
        if (ev.message) row.message = ev.message;
      }
      if (isNum(f.pid)) row.pid = f.pid;
      if (isStr(f.cwd)) row.cwd = f.cwd;
      if (isNum(f.exit_code)) row.exitCode = f.exit_code;
      if (isStr(f.signal)) row.signal = f.signal;
      if (isNum(f.duration_ms)) row.durationMs = f.duration_ms;
      if (f.timed_out === true) row.timedOut = true;
      if (ev.type === 'command_finished') row.finished = true;
    } else if (ev.type.startsWith('file')) {
      const op = isStr(f.operation) ? f.operation : '?';
      const path = isStr(f.path) ? f.path : '?';
      const k = `${op}\0${path}\0${ev.decision ?? ''}\0${ev.rule ?? ''}`;
      const r = files.get(k);
      if (r) r.count++;
      else files.set(k, { op, path, decision: ev.decision ?? '', rule: ev.rule ?? '', count: 1 });
    } else if (ev.type === 'llm_request') {
      llmRequests++;
      const provider = isStr(f.provider) ? f.provider : '?';
      const model = isStr(f.model) ? f.model : '—';
      const k = `${provider}\0${model}`;
      let r = llm.get(k);
      if (!r) llm.set(k, (r = { provider, model, requests: 0, errors: 0, refused: 0, input: null, output: null, redactions: 0, latencies: [] }));
      r.requests++;
      if (ev.decision === 'deny') r.refused++;
      else if ((isNum(f.status) && f.status >= 400) || isStr(f.error) || !isNum(f.status) || f.status === 0) r.errors++;
      if (isNum(f.input_tokens)) r.input = (r.input ?? 0) + f.input_tokens;
      if (isNum(f.output_tokens)) r.output = (r.output ?? 0) + f.output_tokens;
      if (isNum(f.redactions)) {
        r.redactions += f.redactions;
        llmRedactions += f.redactions;
      }
      if (ev.decision !== 'deny' && isNum(f.latency_ms)) r.latencies.push(f.latency_ms);
    } else if (ev.type.startsWith('net')) {
      const host = isStr(f.host) ? f.host : isStr(f.domain) ? f.domain : isStr(f.ip) ? f.ip : '?';
      const port = isNum(f.port) || isStr(f.port) ? String(f.port) : '';
      const k = `${host}\0${port}\0${ev.decision ?? ''}\0${ev.rule ?? ''}`;
      const r = nets.get(k);
      if (r) r.count++;
      else nets.set(k, { host, port, decision: ev.decision ?? '', rule: ev.rule ?? '', count: 1 });
    }
  }

  const cmds = [...commands.values()];
  const ran = cmds.filter((c) => c.decision !== 'deny' && (c.finished || c.exitCode !== undefined || c.pid !== undefined));
  const deniedCmds = cmds.filter((c) => c.decision === 'deny');
  const failedCmds = ran.filter((c) => (c.exitCode !== undefined && c.exitCode !== 0) || c.signal || c.timedOut);
  const first = evs[0]!.ts;
  const last = evs[evs.length - 1]!.ts;
  const spanMs = Date.parse(last) - Date.parse(first);

  // ---- overview
  push('## Overview', '', '| Metric | Value |', '|---|---|');
  push(`| Started | ${cell(created ?? first)} |`);
  push(`| Ended | ${cell(destroyed ?? `${last} (last event; session not destroyed)`)} |`);
  if (Number.isFinite(spanMs)) push(`| Duration | ${formatDuration(spanMs)} |`);
  if (workspace) push(`| Workspace | ${cell(workspace)} |`);
  if (policy) push(`| Policy | ${cell(policy)} |`);
  push(`| Events | ${evs.length} |`);
  push(`| Commands run | ${ran.length} |`);
  push(`| Commands failed | ${failedCmds.length} |`);
  push(`| Commands denied | ${deniedCmds.length} |`);
  push('');

  // ---- decisions
  if (decisions.size > 0) {
    push('## Decision Summary', '', '| Decision | Count |', '|---|---|');
    for (const [d, n] of [...decisions].sort((a, b) => b[1] - a[1])) push(`| ${cell(d)} | ${n} |`);
    push('');
  }

  // ---- findings
  const findings: string[] = [];
  if (denials.length) findings.push(`- 🔴 **${denials.length} operation${denials.length === 1 ? '' : 's'} blocked** by policy (see Denials)`);
  const deniedApprovals = approvals.filter((a) => a.fields?.outcome === 'denied' || (a.type === 'approval' && a.decision === 'deny'));
  if (deniedApprovals.length) findings.push(`- 🔴 **${deniedApprovals.length} approval${deniedApprovals.length === 1 ? '' : 's'} denied**`);
  if (failedCmds.length) findings.push(`- ⚠️ **${failedCmds.length} command${failedCmds.length === 1 ? '' : 's'} failed** (non-zero exit, signal or timeout)`);
  if (softDeletes.length) findings.push(`- ⚠️ **${softDeletes.length} file${softDeletes.length === 1 ? '' : 's'} soft-deleted** — recoverable with \`agentsh trash\``);
  if (redirects.length) findings.push(`- ℹ️ **${redirects.length} redirect${redirects.length === 1 ? '' : 's'}** by policy`);
  const granted = approvals.filter((a) => a.fields?.outcome === 'approved');
  if (granted.length) findings.push(`- ℹ️ **${granted.length} approval${granted.length === 1 ? '' : 's'} granted** (human intervention)`);
  if (llmRedactions) findings.push(`- ⚠️ **${llmRedactions} DLP finding${llmRedactions === 1 ? '' : 's'} in LLM requests** (see LLM Usage)`);
  if (!destroyed) findings.push('- ℹ️ the session has no session_destroyed event (still running, or the server stopped)');
  push('## Findings', '', ...(findings.length ? findings : ['No findings: nothing was blocked and every command succeeded.']), '');

  // ---- commands
  push(`## Commands (${cmds.length})`, '');
  if (cmds.length === 0) push('No commands.', '');
  else {
    cmds.slice(0, cap).forEach((c, i) => {
      const bits: string[] = [];
      if (c.decision === 'deny') bits.push(`**denied** (rule ${c.rule ?? '—'})${c.message ? `: ${c.message}` : ''}`);
      else {
        if (c.exitCode !== undefined) bits.push(`exit ${c.exitCode}`);
        if (c.signal) bits.push(`signal ${c.signal}`);
        if (c.timedOut) bits.push('timed out');
        if (c.exitCode === undefined && !c.signal && !c.finished) bits.push('no exit recorded');
        if (c.durationMs !== undefined) bits.push(formatDuration(c.durationMs));
        if (c.decision && c.decision !== 'allow') bits.push(`decision ${c.decision}`);
        if (c.rule) bits.push(`rule ${c.rule}`);
      }
      push(`${i + 1}. [${hms(c.ts)}] ${code(c.command || '(command not recorded)')} — ${bits.join(', ')}`);
    });
    push(...more(cmds.length - Math.min(cmds.length, cap)));
  }

  // ---- denials
  push(`## Denials (${denials.length})`, '');
  if (denials.length === 0) push('Nothing was denied.', '');
  else {
    push('| Time | Type | Target | Rule | Message |', '|---|---|---|---|---|');
    for (const d of denials.slice(0, cap)) push(`| ${hms(d.ts)} | ${cell(d.type)} | ${cell(target(d))} | ${cell(d.rule)} | ${cell(d.message)} |`);
    push(...more(denials.length - Math.min(denials.length, cap)));
  }

  // ---- files
  const fileRows = [...files.values()];
  const fileOps = fileRows.reduce((n, r) => n + r.count, 0);
  push(`## Files (${fileOps} operation${fileOps === 1 ? '' : 's'})`, '');
  if (fileRows.length === 0) push('No file events.', '');
  else {
    push('| Operation | Path | Decision | Rule | Count |', '|---|---|---|---|---|');
    for (const r of fileRows.slice(0, cap)) push(`| ${cell(r.op)} | ${cell(r.path)} | ${cell(r.decision)} | ${cell(r.rule)} | ${r.count} |`);
    push(...more(fileRows.length - Math.min(fileRows.length, cap)));
  }

  // ---- network
  const netRows = [...nets.values()];
  const netOps = netRows.reduce((n, r) => n + r.count, 0);
  push(`## Network (${netOps} connection${netOps === 1 ? '' : 's'})`, '');
  if (netRows.length === 0) push('No network events.', '');
  else {
    push('| Host | Port | Decision | Rule | Count |', '|---|---|---|---|---|');
    for (const r of netRows.slice(0, cap)) push(`| ${cell(r.host)} | ${cell(r.port)} | ${cell(r.decision)} | ${cell(r.rule)} | ${r.count} |`);
    push(...more(netRows.length - Math.min(netRows.length, cap)));
  }

  // ---- LLM usage (llm_request events of the LLM proxy)
  if (llmRequests) {
    push(`## LLM Usage (${llmRequests} request${llmRequests === 1 ? '' : 's'})`, '');
    push('| Provider | Model | Requests | Errors | Refused | Input tokens | Output tokens | DLP findings | Median latency |', '|---|---|---|---|---|---|---|---|---|');
    const rows = [...llm.values()].sort((a, b) => b.requests - a.requests);
    for (const r of rows.slice(0, cap)) {
      const lat = r.latencies.length ? formatDuration(medianOf(r.latencies)) : '—';
      push(`| ${cell(r.provider)} | ${cell(r.model)} | ${r.requests} | ${r.errors} | ${r.refused} | ${cell(r.input)} | ${cell(r.output)} | ${r.redactions} | ${lat} |`);
    }
    push(...more(rows.length - Math.min(rows.length, cap)));
  }

  // ---- approvals
  if (approvals.length) {
    push(`## Approvals (${approvals.length})`, '', '| Time | Target | Outcome | Rule | Message |', '|---|---|---|---|---|');
    for (const a of approvals.slice(0, cap)) push(`| ${hms(a.ts)} | ${cell(target(a) || a.fields?.target)} | ${cell(a.fields?.outcome ?? a.decision)} | ${cell(a.rule)} | ${cell(a.message)} |`);
    push(...more(approvals.length - Math.min(approvals.length, cap)));
  }

  // ---- counts
  push('## Event Counts', '', '| Type | Count |', '|---|---|');
  for (const [t, n] of [...types].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))) push(`| ${cell(t)} | ${n} |`);
  push('');
  return out.join('\n');
}
