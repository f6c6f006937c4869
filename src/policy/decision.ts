// The result of every policy check, and the rules shared by all categories: strictness
// order (agentsh's), how `approve` resolves when no approver exists, message templates.
import type { Decision } from './schema.js';

export type Category = 'file' | 'command' | 'network' | 'env' | 'signal' | 'unix_socket' | 'shell';
export type EffectiveDecision = Decision | 'absorb';

export interface PolicyDecision {
  /** What happens: `approve` already resolved against the approvals setting. */
  decision: EffectiveDecision;
  /** What the matching rule says. */
  policyDecision: EffectiveDecision;
  rule: string;
  message: string;
  category: Category;
  /** True when no rule matched and the category's default decided. */
  isDefault: boolean;
  /** For approve rules: 'required' (a human decides), 'unavailable' (no approver, denied) or 'shadow' (no approver, allowed by opt-in). */
  approval?: 'required' | 'unavailable' | 'shadow';
  timeoutMs?: number;
  redirectTo?: unknown;
  /** Index of the rule in its list (for explain/lint), -1 for defaults. */
  ruleIndex: number;
}

export interface ApprovalSettings {
  enabled: boolean;
  /** agentsh allows silently; we deny unless the operator opts in to 'allow'. */
  whenUnavailable: 'deny' | 'allow';
}

export const DEFAULT_APPROVALS: ApprovalSettings = { enabled: false, whenUnavailable: 'deny' };

const STRICTNESS: Record<EffectiveDecision, number> = { allow: 0, audit: 1, approve: 2, redirect: 3, soft_delete: 3, absorb: 3, deny: 4 };

/** The stricter of two decisions (agentsh: deny > redirect = soft_delete > approve > audit > allow); first wins ties. */
export function stricter(a: PolicyDecision, b: PolicyDecision): PolicyDecision {
  return STRICTNESS[b.decision] > STRICTNESS[a.decision] ? b : a;
}

export function isBlocking(d: PolicyDecision): boolean {
  return d.decision === 'deny';
}

export interface TemplateFields {
  Path?: string;
  Args?: string;
  Command?: string;
  RemoteAddr?: string;
  RemotePort?: string;
  Operation?: string;
  Name?: string;
  Signal?: string;
}

export const TEMPLATE_FIELDS = ['Path', 'Args', 'Command', 'RemoteAddr', 'RemotePort', 'Operation', 'Name', 'Signal'] as const;
const TEMPLATE_RE = /\{\{\s*\.([A-Za-z]+)\s*\}\}/g;

/** Fills agentsh's Go-template placeholders; unknown ones stay as written (lint reports them). */
export function renderMessage(template: string, fields: TemplateFields): string {
  if (!template.includes('{{')) return template;
  return template.replace(TEMPLATE_RE, (whole, key: string) => (fields as Record<string, string | undefined>)[key] ?? whole);
}

export function templateFieldsUsed(template: string): string[] {
  return [...template.matchAll(TEMPLATE_RE)].map((m) => m[1]!);
}

export interface RuleOutcome {
  name: string;
  index: number;
  decision: EffectiveDecision;
  message: string;
  timeoutMs?: number;
  redirectTo?: unknown;
}

export function decide(category: Category, rule: RuleOutcome, fields: TemplateFields, approvals: ApprovalSettings, isDefault = false): PolicyDecision {
  const message = renderMessage(rule.message, fields);
  const base: PolicyDecision = {
    decision: rule.decision,
    policyDecision: rule.decision,
    rule: rule.name,
    message,
    category,
    isDefault,
    ruleIndex: rule.index,
  };
  if (rule.timeoutMs !== undefined) base.timeoutMs = rule.timeoutMs;
  if (rule.redirectTo !== undefined) base.redirectTo = rule.redirectTo;
  if (rule.decision !== 'approve') return base;
  if (approvals.enabled) return { ...base, approval: 'required' };
  if (approvals.whenUnavailable === 'allow') return { ...base, decision: 'allow', approval: 'shadow' };
  return { ...base, decision: 'deny', approval: 'unavailable', message: `approval unavailable (approvals are disabled)${message ? `: ${message}` : ''}` };
}
