// Loads a policy file: YAML with positions → schema validation → warnings for keys agentsh
// knows but we do not enforce yet. Semantic checks that need compilation (regexes, globs,
// CIDRs, variables) happen in compile.ts so that one place decides what a rule means.
import { LoadError, hasErrors, type Diagnostic } from '../util/diagnostics.js';
import { validateAgainst } from '../util/validate.js';
import { YamlSource } from '../util/yaml-source.js';
import { PolicySchema, UNSUPPORTED_POLICY_KEYS, type PolicyDoc } from './schema.js';

export interface LoadedPolicy {
  doc: PolicyDoc;
  source: YamlSource;
  diagnostics: Diagnostic[];
}

export interface PolicyLoadOptions {
  strict?: boolean;
}

const RULE_LISTS = ['file_rules', 'network_rules', 'command_rules', 'signal_rules', 'unix_socket_rules'] as const;

export function loadPolicyFile(file: string, opts: PolicyLoadOptions = {}): LoadedPolicy {
  return fromSource(YamlSource.readFile(file), opts);
}

export function loadPolicyText(text: string, file: string, opts: PolicyLoadOptions = {}): LoadedPolicy {
  return fromSource(YamlSource.parse(text, file), opts);
}

function fromSource(source: YamlSource, opts: PolicyLoadOptions): LoadedPolicy {
  if (source.data === null || typeof source.data !== 'object' || Array.isArray(source.data)) {
    throw new LoadError([source.diag('error', 'wrong-type', 'a policy must be a YAML mapping', [])]);
  }
  normaliseCase(source.data as Record<string, unknown>);
  const diagnostics = validateAgainst(PolicySchema, source, { strict: opts.strict ?? false });
  const doc = source.data as PolicyDoc;
  for (const key of UNSUPPORTED_POLICY_KEYS) {
    if ((doc as Record<string, unknown>)[key] !== undefined) {
      diagnostics.push(source.diag(opts.strict ? 'error' : 'warning', 'unsupported', `'${key}' is accepted for compatibility but not enforced by this agentsh`, [key], true));
    }
  }
  if (hasErrors(diagnostics)) throw new LoadError(diagnostics);
  return { doc, source, diagnostics };
}

// agentsh lowercases decisions and operations before use, so `Deny` and `READ` are valid
// there; accept them here too rather than reject a policy agentsh loads.
function normaliseCase(data: Record<string, unknown>): void {
  for (const list of RULE_LISTS) {
    const rules = data[list];
    if (!Array.isArray(rules)) continue;
    for (const rule of rules) {
      if (!rule || typeof rule !== 'object') continue;
      const r = rule as Record<string, unknown>;
      if (typeof r.decision === 'string') r.decision = r.decision.toLowerCase();
      if (Array.isArray(r.operations)) r.operations = r.operations.map((o) => (typeof o === 'string' ? o.toLowerCase() : o));
    }
  }
}
