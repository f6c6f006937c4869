// Compiles a validated policy document once per session: variables expanded, globs and
// regexes built, CIDRs parsed. Every problem becomes a positioned diagnostic; the engine
// that results does no parsing on the hot path.
import { BlockList, isIP } from 'node:net';
import RE2 from 're2';
import { compileRedirects, type CompiledRedirects } from '../net/redirects.js';
import { LoadError, type Diagnostic } from '../util/diagnostics.js';
import { parseDuration } from '../util/duration.js';
import type { SourcePath, YamlSource } from '../util/yaml-source.js';
import { compileGlobSet, GlobError, hasGlobMeta } from './glob.js';
import type { LoadedPolicy } from './load.js';
import type { Decision, PolicyDoc } from './schema.js';
import { expandVars, UndefinedVariableError, VariableSyntaxError, type VarLookup } from './vars.js';

export interface CompiledRuleBase {
  name: string;
  index: number;
  decision: Decision | 'absorb';
  message: string;
  timeoutMs?: number;
  redirectTo?: unknown;
}

export interface CompiledFileRule extends CompiledRuleBase {
  ops: Set<string> | null; // null: every operation
  paths: string[]; // expanded
  re: RegExp;
}

export interface CompiledCommandRule extends CompiledRuleBase {
  any: boolean; // empty `commands`: every command
  exactPaths: Set<string>;
  basenames: Set<string>;
  pathGlob: RegExp | null;
  baseGlob: RegExp | null;
  args: RE2[] | null;
  minDepth: number;
  maxDepth: number; // Infinity: unlimited
  env?: EnvSettings;
}

export interface CompiledNetworkRule extends CompiledRuleBase {
  domains: RegExp | null;
  cidrs: BlockList | null;
  ports: Set<number> | null;
}

export interface CompiledUnixRule extends CompiledRuleBase {
  ops: Set<string> | null;
  re: RegExp;
}

export interface CompiledSignalRule extends CompiledRuleBase {
  signals: Set<number>;
  targetType: string | null;
}

export interface EnvSettings {
  allow: RegExp | null;
  deny: RegExp | null;
  maxBytes: number;
  maxKeys: number;
  blockIteration: boolean;
}

export interface CompiledPolicy {
  name: string;
  doc: PolicyDoc;
  fileRules: CompiledFileRule[];
  commandRules: CompiledCommandRule[];
  networkRules: CompiledNetworkRule[];
  unixRules: CompiledUnixRule[];
  signalRules: CompiledSignalRule[];
  env: EnvSettings;
  envInject: Record<string, string>;
  vars: Record<string, string>;
  /** dns_redirects and connect_redirects (net/redirects.ts). */
  redirects: CompiledRedirects;
}

export interface CompileOptions {
  /** Values for ${VAR}; looked up first, then `env`. */
  vars?: Record<string, string>;
  /** Fallback lookup (agentsh uses the server's environment). Pass {} to disable. */
  env?: NodeJS.ProcessEnv;
}

/** Signal names to numbers (Linux x86_64/arm64 numbering). */
export const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, IOT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12,
  PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22, URG: 23,
  XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, POLL: 29, PWR: 30, SYS: 31,
};
const SIGNAL_GROUPS: Record<string, string[]> = {
  '@fatal': ['KILL', 'TERM', 'QUIT', 'ABRT'],
  '@job': ['STOP', 'CONT', 'TSTP', 'TTIN', 'TTOU'],
  '@reload': ['HUP', 'USR1', 'USR2'],
  '@ignore': ['CHLD', 'URG', 'WINCH'],
};

/** Maps a signal spelling (SIGKILL, kill, 9, @fatal, *) to numbers, or null when unknown. */
export function signalNumbers(spec: string): number[] | null {
  const s = spec.trim();
  if (s === '*' || s === '@all') return Array.from({ length: 31 }, (_, i) => i + 1);
  const group = SIGNAL_GROUPS[s];
  if (group) return group.map((g) => SIGNALS[g]!);
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    return n >= 1 && n <= 64 ? [n] : null;
  }
  const name = s.toUpperCase().replace(/^SIG/, '');
  return SIGNALS[name] !== undefined ? [SIGNALS[name]!] : null;
}

// agentsh's built-in secret denylist, applied when env_policy.allow is empty.
export const DEFAULT_SECRET_ENV = [
  'AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'GOOGLE_APPLICATION_CREDENTIALS',
  'GCP_SERVICE_ACCOUNT', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_ID', 'AZURE_TENANT_ID', 'AZURE_SUBSCRIPTION_ID',
  'SSH_AUTH_SOCK', 'SSH_AGENT_PID', 'DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'KUBECONFIG', 'GITHUB_TOKEN', 'GH_TOKEN',
] as const;

class Compiler {
  readonly diags: Diagnostic[] = [];
  readonly usedVars: Record<string, string> = {};
  constructor(
    private readonly source: YamlSource | undefined,
    private readonly lookup: VarLookup,
  ) {}

  error(code: string, message: string, path: SourcePath): void {
    this.diags.push(
      this.source
        ? this.source.diag('error', code, message, path)
        : { severity: 'error', code, message, file: '<policy>', line: 0, column: 0, path },
    );
  }

  expand(text: string, path: SourcePath): string | null {
    try {
      return expandVars(text, (name) => {
        const v = this.lookup(name);
        if (v !== undefined && v !== '') this.usedVars[name] = v;
        return v;
      });
    } catch (err) {
      if (err instanceof UndefinedVariableError) this.error('undefined-variable', `undefined variable \${${err.variable}} in '${text}' (no value and no :-fallback)`, path);
      else if (err instanceof VariableSyntaxError) this.error('invalid-variable', err.message, path);
      else throw err;
      return null;
    }
  }

  globSet(globs: string[], sep: '/' | '.' | null, flags: string, path: SourcePath): RegExp {
    try {
      return compileGlobSet(globs, sep, flags);
    } catch (err) {
      // Find the culprit to point at it.
      for (let i = 0; i < globs.length; i++) {
        try {
          compileGlobSet([globs[i]!], sep, flags);
        } catch (e) {
          this.error('invalid-glob', e instanceof GlobError ? e.message : String(e), [...path, i]);
          return /$^/;
        }
      }
      this.error('invalid-glob', String(err), path);
      return /$^/;
    }
  }

  duration(text: string | undefined, path: SourcePath): number | undefined {
    if (text === undefined) return undefined;
    const ms = parseDuration(text);
    if (ms === null) this.error('invalid-value', `invalid duration '${text}'`, path);
    return ms ?? undefined;
  }

  base(rule: { name: string; decision: string; message?: string; timeout?: string }, index: number, path: SourcePath): CompiledRuleBase {
    const out: CompiledRuleBase = { name: rule.name, index, decision: rule.decision as Decision, message: rule.message ?? '' };
    const t = this.duration(rule.timeout, [...path, 'timeout']);
    if (t !== undefined) out.timeoutMs = t;
    return out;
  }
}

function opSet(ops: string[] | undefined): Set<string> | null {
  if (!ops || ops.length === 0 || ops.includes('*')) return null;
  return new Set(ops);
}

function envSettings(
  c: Compiler,
  p: { allow?: string[]; deny?: string[]; max_bytes?: number; max_keys?: number; block_iteration?: boolean },
  path: SourcePath,
  names: { allow: string; deny: string } = { allow: 'allow', deny: 'deny' },
): EnvSettings {
  return {
    allow: p.allow?.length ? c.globSet(p.allow, null, '', [...path, names.allow]) : null,
    deny: p.deny?.length ? c.globSet(p.deny, null, '', [...path, names.deny]) : null,
    maxBytes: p.max_bytes ?? 0,
    maxKeys: p.max_keys ?? 0,
    blockIteration: p.block_iteration ?? false,
  };
}

export function compilePolicy(loaded: Pick<LoadedPolicy, 'doc'> & { source?: YamlSource }, opts: CompileOptions = {}): CompiledPolicy {
  const vars = opts.vars ?? {};
  const env = opts.env ?? process.env;
  const c = new Compiler(loaded.source, (name) => (vars[name] !== undefined && vars[name] !== '' ? vars[name] : env[name]));
  const doc = loaded.doc;

  const fileRules = (doc.file_rules ?? []).map((r, i): CompiledFileRule => {
    const path: SourcePath = ['file_rules', i];
    const paths = r.paths.map((p, j) => c.expand(p, [...path, 'paths', j]) ?? '');
    const rule: CompiledFileRule = { ...c.base(r, i, path), ops: opSet(r.operations), paths, re: c.globSet(paths, '/', '', [...path, 'paths']) };
    if (r.redirect_to !== undefined) rule.redirectTo = { dir: r.redirect_to, preserveTree: r.preserve_tree ?? false };
    if (r.decision === 'redirect' && r.redirect_to === undefined) c.error('missing-key', "decision 'redirect' needs 'redirect_to'", path);
    return rule;
  });

  const commandRules = (doc.command_rules ?? []).map((r, i): CompiledCommandRule => {
    const path: SourcePath = ['command_rules', i];
    const exactPaths = new Set<string>();
    const basenames = new Set<string>();
    const pathGlobs: string[] = [];
    const baseGlobs: string[] = [];
    for (const raw of r.commands) {
      const cmd = raw.trim().toLowerCase();
      const glob = hasGlobMeta(cmd);
      if (cmd.includes('/')) glob ? pathGlobs.push(cmd) : exactPaths.add(cmd);
      else glob ? baseGlobs.push(cmd) : basenames.add(cmd);
    }
    const args = (r.args_patterns ?? []).map((p, j) => {
      try {
        return new RE2(p);
      } catch (err) {
        c.error('invalid-regex', `invalid regex '${p}': ${(err as Error).message}`, [...path, 'args_patterns', j]);
        return null;
      }
    });
    let minDepth = 0;
    let maxDepth = Infinity;
    if (Array.isArray(r.context)) {
      const direct = r.context.includes('direct');
      const nested = r.context.includes('nested');
      minDepth = direct ? 0 : nested ? 1 : 0;
      maxDepth = nested ? Infinity : direct ? 0 : Infinity;
    } else if (r.context) {
      minDepth = r.context.min_depth ?? 0;
      maxDepth = r.context.max_depth === undefined || r.context.max_depth < 0 ? Infinity : r.context.max_depth;
      if (maxDepth < minDepth) c.error('invalid-value', `max_depth ${maxDepth} is below min_depth ${minDepth}`, [...path, 'context']);
    }
    const rule: CompiledCommandRule = {
      ...c.base(r, i, path),
      any: r.commands.length === 0,
      exactPaths,
      basenames,
      pathGlob: pathGlobs.length ? c.globSet(pathGlobs, '/', '', [...path, 'commands']) : null,
      baseGlob: baseGlobs.length ? c.globSet(baseGlobs, null, '', [...path, 'commands']) : null,
      args: args.length ? args.filter((a): a is RE2 => a !== null) : null,
      minDepth,
      maxDepth,
    };
    if (r.redirect_to) rule.redirectTo = r.redirect_to;
    if (r.decision === 'redirect' && !r.redirect_to) c.error('missing-key', "decision 'redirect' needs 'redirect_to'", path);
    if (r.env_allow || r.env_deny || r.env_max_bytes !== undefined || r.env_max_keys !== undefined || r.env_block_iteration !== undefined) {
      rule.env = envSettings(
        c,
        { allow: r.env_allow, deny: r.env_deny, max_bytes: r.env_max_bytes, max_keys: r.env_max_keys, block_iteration: r.env_block_iteration },
        path,
        { allow: 'env_allow', deny: 'env_deny' },
      );
    }
    return rule;
  });

  const networkRules = (doc.network_rules ?? []).map((r, i): CompiledNetworkRule => {
    const path: SourcePath = ['network_rules', i];
    const domains = (r.domains ?? []).map((d, j) => (c.expand(d, [...path, 'domains', j]) ?? '').trim().toLowerCase().replace(/\.$/, ''));
    let cidrs: BlockList | null = null;
    if (r.cidrs?.length) {
      cidrs = new BlockList();
      r.cidrs.forEach((cidr, j) => {
        if (!addCidr(cidrs!, cidr)) c.error('invalid-cidr', `invalid CIDR '${cidr}'`, [...path, 'cidrs', j]);
      });
    }
    return {
      ...c.base(r, i, path),
      domains: domains.length ? c.globSet(domains, '.', '', [...path, 'domains']) : null,
      cidrs,
      ports: r.ports?.length ? new Set(r.ports) : null,
    };
  });

  const unixRules = (doc.unix_socket_rules ?? []).map((r, i): CompiledUnixRule => {
    const path: SourcePath = ['unix_socket_rules', i];
    return { ...c.base(r, i, path), ops: opSet(r.operations?.map((o) => o.toLowerCase())), re: c.globSet(r.paths, '/', '', [...path, 'paths']) };
  });

  const signalRules = (doc.signal_rules ?? []).map((r, i): CompiledSignalRule => {
    const path: SourcePath = ['signal_rules', i];
    const signals = new Set<number>();
    r.signals.forEach((s, j) => {
      const nums = signalNumbers(s);
      if (!nums) c.error('invalid-value', `unknown signal '${s}'`, [...path, 'signals', j]);
      else nums.forEach((n) => signals.add(n));
    });
    return { ...c.base(r, i, path), signals, targetType: r.target?.type?.toLowerCase() ?? null };
  });

  const envSet = envSettings(c, doc.env_policy ?? {}, ['env_policy']);
  const redirects = compileRedirects(doc, (code, message, path) => c.error(code, message, path));
  if (c.diags.length) throw new LoadError(c.diags);
  return {
    name: doc.name,
    doc,
    fileRules,
    commandRules,
    networkRules,
    unixRules,
    signalRules,
    env: envSet,
    envInject: { ...(doc.env_inject ?? {}) },
    vars: c.usedVars,
    redirects,
  };
}

function addCidr(list: BlockList, cidr: string): boolean {
  const m = /^\s*([^/\s]+)(?:\/(\d{1,3}))?\s*$/.exec(cidr);
  if (!m) return false;
  const family = isIP(m[1]!);
  if (family === 0) return false;
  const max = family === 4 ? 32 : 128;
  const prefix = m[2] === undefined ? max : Number(m[2]);
  if (prefix > max) return false;
  list.addSubnet(m[1]!, prefix, family === 4 ? 'ipv4' : 'ipv6');
  return true;
}
