// `policy explain`: one question to the engine, answered with the deciding rule and where it
// is written. Shared by the CLI and `policy test`.
import type { PolicyDecision } from '../policy/decision.js';
import type { PolicyEngine, ShellDecision } from '../policy/engine.js';
import type { YamlSource } from '../util/yaml-source.js';
import { CliError } from './output.js';

export type Query =
  | { kind: 'command'; argv: string[]; depth: number }
  | { kind: 'shell'; script: string; depth: number }
  | { kind: 'file'; op: string; path: string }
  | { kind: 'net'; host: string; port: number; ip?: string }
  | { kind: 'env'; name: string }
  | { kind: 'signal'; signal: string; target: string };

const LIST_OF: Record<string, string> = { file: 'file_rules', command: 'command_rules', network: 'network_rules', signal: 'signal_rules', unix_socket: 'unix_socket_rules' };

export function parsePort(text: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new CliError(`invalid port '${text}'`);
  return port;
}

export function runQuery(engine: PolicyEngine, q: Query): PolicyDecision | ShellDecision {
  switch (q.kind) {
    case 'command':
      if (!q.argv.length) throw new CliError('explain command: give the command after --');
      return engine.checkCommand(q.argv[0]!, q.argv.slice(1), q.depth);
    case 'shell':
      return engine.checkShell(q.script, q.depth);
    case 'file':
      return engine.checkFile(q.op, q.path, process.cwd());
    case 'net':
      return engine.checkNetwork(q.host, q.port, q.ip);
    case 'env':
      return engine.checkEnv(q.name);
    case 'signal':
      return engine.checkSignal(q.signal, q.target);
  }
}

export interface ExplainJson {
  decision: string;
  policy_decision: string;
  rule: string;
  message: string;
  category: string;
  default: boolean;
  approval?: string;
  location?: string;
  commands?: { argv: string[]; wrappers: string[]; depth: number; decision: string; rule: string; message: string }[];
  opaque?: { text: string; reason: string }[];
  parsed?: boolean;
}

export function ruleLocation(source: YamlSource, d: PolicyDecision): string | undefined {
  const list = LIST_OF[d.category];
  if (!list || d.ruleIndex < 0) return undefined;
  const pos = source.position([list, d.ruleIndex]);
  return `${source.file}:${pos.line}:${pos.column}`;
}

export function toJson(d: PolicyDecision | ShellDecision, source: YamlSource): ExplainJson {
  const out: ExplainJson = { decision: d.decision, policy_decision: d.policyDecision, rule: d.rule, message: d.message, category: d.category, default: d.isDefault };
  if (d.approval) out.approval = d.approval;
  const loc = ruleLocation(source, d);
  if (loc) out.location = loc;
  if ('commands' in d) {
    out.commands = d.commands.map((c) => ({ argv: c.argv, wrappers: c.wrappers, depth: c.depth, decision: c.decision.decision, rule: c.decision.rule, message: c.decision.message }));
    out.opaque = d.opaque.map((o) => ({ text: o.text, reason: o.reason }));
    out.parsed = d.parsed;
  }
  return out;
}

export function toText(d: PolicyDecision | ShellDecision, source: YamlSource): string {
  const j = toJson(d, source);
  const lines = [`decision: ${j.decision}${j.policy_decision !== j.decision ? ` (rule says ${j.policy_decision}; approval ${j.approval})` : ''}`, `rule:     ${j.rule}${j.default ? ' (default)' : ''}${j.location ? `  ${j.location}` : ''}`];
  if (j.message) lines.push(`message:  ${j.message}`);
  if (j.commands) {
    lines.push(`commands: ${j.commands.length}${j.parsed ? '' : ' (script did not parse cleanly)'}`);
    for (const c of j.commands) {
      const via = c.wrappers.length ? ` via ${c.wrappers.join(' > ')}` : '';
      lines.push(`  ${c.decision.padEnd(11)} ${JSON.stringify(c.argv)} depth=${c.depth}${via} rule=${c.rule}`);
    }
    for (const o of j.opaque ?? []) lines.push(`  opaque      ${JSON.stringify(o.text)} (${o.reason}; checked at exec time)`);
  }
  return lines.join('\n');
}
