// What the policy commands need from the server config (approvals, opaque-command handling,
// the policy directory), and how a policy argument (path or name) is resolved.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { findConfigFile, loadConfigFile, loadConfigText } from '../config/load.js';
import type { ResolvedConfig } from '../config/load.js';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.js';
import { DEFAULT_APPROVALS, type ApprovalSettings } from '../policy/decision.js';
import { PolicyEngine, type OpaqueMode } from '../policy/engine.js';
import { loadPolicyFile, type LoadedPolicy } from '../policy/load.js';
import { configuredOpaqueMode, effectiveOpaqueMode } from '../server/server.js';
import { probeModes } from '../server/sandbox-runtime.js';
import { buildLauncher } from '../sandbox/launcher.js';
import { sessionVars } from '../policy/session-vars.js';
import type { Diagnostic } from '../util/diagnostics.js';
import { CliError } from './output.js';

export interface PolicySettings {
  config: ResolvedConfig | null;
  configFile: string | null;
  configDiagnostics: Diagnostic[];
  approvals: ApprovalSettings;
  opaque: OpaqueMode;
  policiesDir: string | null;
}

/** Loads --config, or the config agentsh's discovery order finds; none is fine (defaults). */
export function loadSettings(configPath: string | undefined, discover = true): PolicySettings {
  const file = configPath ?? (discover ? findConfigFile() : null);
  // agentsh's defaults: no sandbox, so nothing checks opaque commands at exec time (the
  // server denies them; explain and policy test must say the same).
  if (!file) return { config: null, configFile: null, configDiagnostics: [], approvals: DEFAULT_APPROVALS, opaque: 'deny', policiesDir: null };
  const { config, diagnostics } = loadConfigFile(file);
  const approvals: ApprovalSettings = {
    enabled: config.approvals.enabled,
    whenUnavailable: config.approvals.when_unavailable,
  };
  const opaque = effectiveOpaqueModeHere(config);
  return { config, configFile: file, configDiagnostics: diagnostics, approvals, opaque, policiesDir: config.policies.dir ?? null };
}

/** The loaded config, or agentsh's defaults when no config file exists. */
export function configOrDefaults(settings: PolicySettings): ResolvedConfig {
  return settings.config ?? loadConfigText('{}', '<defaults>').config;
}

/** A policy argument is a file path, or a name looked up in policies.dir (NAME.yaml, NAME.yml). */
export function resolvePolicyPath(arg: string, settings: PolicySettings): string {
  if (existsSync(arg)) return resolve(arg);
  if (!arg.includes('/') && settings.policiesDir) {
    for (const cand of [`${arg}.yaml`, `${arg}.yml`, arg]) {
      const p = resolve(settings.policiesDir, cand);
      if (existsSync(p)) return p;
    }
  }
  throw new CliError(`policy not found: ${arg}${settings.policiesDir ? ` (also looked in ${settings.policiesDir})` : ''}`, 1);
}

export interface PolicyContext {
  loaded: LoadedPolicy;
  compiled: CompiledPolicy;
  engine: PolicyEngine;
  settings: PolicySettings;
  vars: Record<string, string>;
}

export function parseVarFlags(flags: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of flags) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new CliError(`--var expects NAME=VALUE, got '${f}'`);
    out[f.slice(0, eq)] = f.slice(eq + 1);
  }
  return out;
}

export function openPolicy(arg: string, opts: { config?: string; vars?: string[]; extraVars?: Record<string, string>; strict?: boolean; workspace?: string }): PolicyContext {
  const settings = loadSettings(opts.config);
  const loaded = loadPolicyFile(resolvePolicyPath(arg, settings), { strict: opts.strict ?? false });
  const markers = settings.config?.policies.project_markers;
  const vars = sessionVars({ workspace: opts.workspace ?? process.cwd(), extra: { ...opts.extraVars, ...parseVarFlags(opts.vars ?? []) }, ...(markers ? { markers } : {}) });
  const compiled = compilePolicy(loaded, { vars });
  const engine = new PolicyEngine(compiled, { approvals: settings.approvals, opaque: settings.opaque });
  return { loaded, compiled, engine, settings, vars };
}

/**
 * The opaque mode a server with this config would use on this machine: 'enforce' (leave
 * opaque commands to exec-time checks) only when it would run in security mode full, which
 * takes a probe of the kernel (the launcher, built on first use); anything short of that denies.
 */
function effectiveOpaqueModeHere(config: ResolvedConfig): OpaqueMode {
  const configured = configuredOpaqueMode(config);
  if (configured !== 'enforce') return configured;
  if (config.sandbox.enabled === false) return 'deny'; // no probe needed: mode minimal
  let launcher: string | null = null;
  try {
    launcher = buildLauncher();
  } catch {
    // no C compiler: nothing can be probed, so nothing checks at exec time (probeModes: minimal)
  }
  return effectiveOpaqueMode(config, probeModes(config, launcher));
}
