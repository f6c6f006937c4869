// The demo's scorecard as text: one table per group — result, command, expected, observed,
// and what decided it (the audit's rule, or the mechanism when no rule does).
import type { ProviderName } from '../provider/types.js';
import type { Decider } from './audit-match.js';
import type { CheckResult, DemoReport } from './seed-demo.js';

const W = { result: 6, command: 46, expected: 24, observed: 34 };

/** Cuts to `n` columns with an ellipsis; newlines become spaces. */
export function fit(s: string, n: number): string {
  const one = s.replace(/\s*\n\s*/g, ' ');
  return one.length > n ? `${one.slice(0, n - 1)}…` : one.padEnd(n);
}

const SHORT_TYPE: Record<string, string> = { command_policy: 'command', exec: 'exec', net_connect: 'proxy', file_policy: 'file', file_soft_deleted: 'trash', signal: 'signal' };

export function formatDecider(d: Decider | null, enforcedBy?: string): string {
  if (enforcedBy) return enforcedBy;
  if (!d) return '—';
  return `${d.decision} ${d.rule} (${SHORT_TYPE[d.type] ?? d.type})`;
}

export function formatHeader(i: { provider: ProviderName; sandbox: string; createMs: number; config?: string; policy?: string; snapshot?: string }): string {
  const what = i.provider === 'local' ? `config ${i.config}, policy ${i.policy}` : `snapshot ${i.snapshot ?? 'agentsh-sandbox'}`;
  return `agentsh demo: sandbox ${i.sandbox} (${i.provider} provider) ready in ${(i.createMs / 1000).toFixed(1)} s\n${what}`;
}

const head = () => `${'RESULT'.padEnd(W.result + 2)}${'COMMAND'.padEnd(W.command + 2)}${'EXPECTED'.padEnd(W.expected + 2)}${'OBSERVED'.padEnd(W.observed + 2)}DECIDED BY`;

/** One row; with `group`, the group's heading first. */
export function formatResult(r: CheckResult, group?: string): string {
  const row = `${(r.pass ? 'PASS' : 'FAIL').padEnd(W.result + 2)}${fit(`$ ${r.command}`, W.command)}  ${fit(r.expected, W.expected)}  ${fit(r.observed, W.observed)}  ${formatDecider(r.decidedBy, r.enforcedBy)}`;
  const lines = group ? [`\n== ${group}`, head(), row] : [row];
  if (!r.pass) lines.push(`      ✗ ${r.name}: ${r.why ?? ''}`);
  return lines.join('\n');
}

export function formatSummary(rep: DemoReport): string {
  const lines = [`\n${rep.passed}/${rep.results.length} checks held${rep.failed ? `, ${rep.failed} FAILED` : ''} (${(rep.totalMs / 1000).toFixed(1)} s, sandbox ready in ${(rep.createMs / 1000).toFixed(1)} s)`];
  if (rep.audit === 'unavailable') lines.push("(the sandbox's audit log could not be read: DECIDED BY is empty and the audit assertions were skipped)");
  for (const r of rep.results.filter((x) => !x.pass)) lines.push(`FAIL [${r.group}] ${r.name}: ${r.why ?? ''}`);
  return lines.join('\n');
}

/** The whole scorecard at once (for callers that did not stream it). */
export function formatScorecard(rep: DemoReport): string {
  const out = [formatHeader({ provider: rep.provider, sandbox: rep.sandbox, createMs: rep.createMs, ...(rep.config ? { config: rep.config } : {}), ...(rep.policy ? { policy: rep.policy } : {}), ...(rep.snapshot ? { snapshot: rep.snapshot } : {}) })];
  let group = '';
  for (const r of rep.results) out.push(r.group !== group ? formatResult(r, (group = r.group)) : formatResult(r));
  out.push(formatSummary(rep));
  return out.join('\n');
}
