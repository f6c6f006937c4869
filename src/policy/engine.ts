// The policy engine: first match wins within each category, agentsh's defaults when nothing
// matches. Pure and synchronous: callers (the exec path, the proxy, the file layer) supply
// facts already resolved (a normalised path, the IP the proxy will connect to).
import { isIP } from 'node:net';
import { posix } from 'node:path';
import { analyzeShell, type ShellCommand, type OpaqueCommand } from '../shell/analyze.js';
import { listsEnvironment } from './env-iteration.js';
import type { CompiledCommandRule, CompiledPolicy, EnvSettings } from './compile.js';
import { DEFAULT_SECRET_ENV, signalNumbers } from './compile.js';
import { decide, DEFAULT_APPROVALS, stricter, type ApprovalSettings, type Category, type PolicyDecision, type RuleOutcome } from './decision.js';

/** File operations agentsh allows by default when no rule matches. */
export const READ_OPERATIONS = new Set(['read', 'open', 'stat', 'list', 'readlink', 'access']);

/** What the command pre-check does with commands it can't see statically (`$(…)` as a name, eval). */
export type OpaqueMode = 'enforce' | 'deny' | 'allow';

export interface EngineOptions {
  approvals?: ApprovalSettings;
  /** 'enforce' (default): leave them to exec-time interception; 'deny': refuse the whole script; 'allow': ignore. */
  opaque?: OpaqueMode;
  /** Entries kept in the decision cache before it is cleared (0 disables). */
  cacheSize?: number;
}

export interface ShellCommandDecision {
  argv: string[];
  wrappers: string[];
  depth: number;
  text: string;
  decision: PolicyDecision;
  /** File redirections written on the command (targets as written; null when not literal). */
  redirects?: ShellCommand['redirects'];
}

export interface ShellDecision extends PolicyDecision {
  commands: ShellCommandDecision[];
  opaque: OpaqueCommand[];
  parsed: boolean;
}

export class EnvLimitError extends Error {}

const defaultRule = (name: string, decision: PolicyDecision['decision'], message: string): RuleOutcome => ({ name, index: -1, decision, message });
const DEFAULT_ALLOW_READS = defaultRule('default-allow-reads', 'allow', 'no rule matched; reads are allowed by default');
const DEFAULT_DENY_FILES = defaultRule('default-deny-files', 'deny', 'no rule matched; file operations other than reads are denied by default');
const DEFAULT_DENY_COMMANDS = defaultRule('default-deny-commands', 'deny', 'no rule matched; commands are denied by default');
const DEFAULT_DENY_NETWORK = defaultRule('default-deny-network', 'deny', 'no rule matched; connections are denied by default');
const DEFAULT_DENY_UNIX = defaultRule('default-deny-unix', 'deny', 'no rule matched; unix sockets are denied by default');
const DEFAULT_DENY_SIGNALS = defaultRule('default-deny-signals', 'deny', 'no matching rule');
const NO_SIGNAL_RULES = defaultRule('no-signal-rules', 'allow', 'the policy has no signal_rules; signals are not policed');

export class PolicyEngine {
  readonly approvals: ApprovalSettings;
  readonly opaqueMode: OpaqueMode;
  private readonly cache = new Map<string, PolicyDecision>();
  private readonly cacheSize: number;

  constructor(
    readonly policy: CompiledPolicy,
    opts: EngineOptions = {},
  ) {
    this.approvals = opts.approvals ?? DEFAULT_APPROVALS;
    this.opaqueMode = opts.opaque ?? 'enforce';
    this.cacheSize = opts.cacheSize ?? 8192;
  }

  private cached(key: string, compute: () => PolicyDecision): PolicyDecision {
    if (this.cacheSize === 0) return compute();
    const hit = this.cache.get(key);
    if (hit) return hit;
    const d = Object.freeze(compute());
    if (this.cache.size >= this.cacheSize) this.cache.clear();
    this.cache.set(key, d);
    return d;
  }

  private decide(category: Category, rule: RuleOutcome, fields: Parameters<typeof decide>[2], isDefault = false): PolicyDecision {
    return decide(category, rule, fields, this.approvals, isDefault);
  }

  /** `path` must be absolute (relative paths are resolved against `cwd`); `.`/`..` are resolved lexically. */
  checkFile(operation: string, path: string, cwd = '/'): PolicyDecision {
    const op = operation.toLowerCase();
    const p = normalisePath(path, cwd);
    return this.cached(`f\0${op}\0${p}`, () => {
      for (const r of this.policy.fileRules) {
        if (r.ops !== null && !r.ops.has(op)) continue;
        if (r.re.test(p)) return this.decide('file', r, { Path: p, Operation: op });
      }
      return this.decide('file', READ_OPERATIONS.has(op) ? DEFAULT_ALLOW_READS : DEFAULT_DENY_FILES, { Path: p, Operation: op }, true);
    });
  }

  /** `command` is argv[0] as given or the resolved path; `args` excludes argv[0]; depth 0 = direct. */
  checkCommand(command: string, args: readonly string[] = [], depth = 0): PolicyDecision {
    const joined = args.join(' ');
    return this.cached(`c\0${depth}\0${command}\0${joined}`, () => {
      const cmd = command.trim().toLowerCase();
      const base = stripShimSuffix(cmd.slice(cmd.lastIndexOf('/') + 1));
      const fields = { Command: command, Args: joined };
      for (const r of this.policy.commandRules) {
        if (depth < r.minDepth || depth > r.maxDepth) continue;
        if (!commandMatches(r, cmd, base)) continue;
        if (r.args && !r.args.some((re) => re.test(joined))) continue;
        return this.decide('command', r, fields);
      }
      return this.decide('command', DEFAULT_DENY_COMMANDS, fields, true);
    });
  }

  /** `host` is a name or IP literal; `ip` the address the caller resolved and will connect to. */
  checkNetwork(host: string, port: number, ip?: string): PolicyDecision {
    const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
    const addr = ip ?? (isIP(h) ? h : undefined);
    return this.cached(`n\0${h}\0${port}\0${addr ?? ''}`, () => {
      const family = addr === undefined ? 0 : isIP(addr);
      const fields = { RemoteAddr: h, RemotePort: String(port) };
      for (const r of this.policy.networkRules) {
        if (r.ports && !r.ports.has(port)) continue;
        if (r.domains && (!h || !r.domains.test(h))) continue;
        if (r.cidrs && (family === 0 || !r.cidrs.check(addr!, family === 4 ? 'ipv4' : 'ipv6'))) continue;
        return this.decide('network', r, fields);
      }
      return this.decide('network', DEFAULT_DENY_NETWORK, fields, true);
    });
  }

  /**
   * The address phase of a connection by name (rebinding safety): the first rule WITH cidrs
   * that covers `ip` on `port` (and `host`, when the rule also lists domains), or null when
   * no address rule covers it. The name phase is checkNetwork(host, port) without an ip.
   */
  checkAddress(ip: string, port: number, host = ''): PolicyDecision | null {
    const family = isIP(ip);
    if (family === 0) return null;
    const h = host.trim().toLowerCase().replace(/\.$/, '');
    for (const r of this.policy.networkRules) {
      if (!r.cidrs) continue;
      if (r.ports && !r.ports.has(port)) continue;
      if (r.domains && (!h || !r.domains.test(h))) continue;
      if (!r.cidrs.check(ip, family === 4 ? 'ipv4' : 'ipv6')) continue;
      return this.decide('network', r, { RemoteAddr: h || ip, RemotePort: String(port) });
    }
    return null;
  }

  /**
   * Whether a name may be resolved for a sandbox (the DNS stub): the first rule whose domains
   * name it — skipping rules that also need an address, and port-limited denies (another port
   * may be allowed) — or the default deny. Rules without domains never make a name resolvable.
   */
  checkName(host: string): PolicyDecision {
    const h = host.trim().toLowerCase().replace(/\.$/, '');
    return this.cached(`d\0${h}`, () => {
      for (const r of this.policy.networkRules) {
        if (!r.domains || r.cidrs || !r.domains.test(h)) continue;
        if (r.ports && r.decision === 'deny') continue;
        return this.decide('network', r, { RemoteAddr: h });
      }
      return this.decide('network', DEFAULT_DENY_NETWORK, { RemoteAddr: h }, true);
    });
  }

  /** A decision agentsh makes itself (built-in network guards), in the engine's format. */
  builtinDecision(category: Category, name: string, decision: PolicyDecision['decision'], message: string): PolicyDecision {
    return this.decide(category, defaultRule(name, decision, message), {}, true);
  }

  checkUnixSocket(operation: string, path: string): PolicyDecision {
    const op = operation.toLowerCase();
    for (const r of this.policy.unixRules) {
      if (r.ops !== null && !r.ops.has(op)) continue;
      if (r.re.test(path)) return this.decide('unix_socket', r, { Path: path, Operation: op });
    }
    return this.decide('unix_socket', DEFAULT_DENY_UNIX, { Path: path, Operation: op }, true);
  }

  /** `target` is the relation of the target process: self, children, session, external … */
  checkSignal(signal: string, target = 'external'): PolicyDecision {
    const nums = signalNumbers(signal);
    const fields = { Signal: signal };
    if (this.policy.signalRules.length === 0) return this.decide('signal', NO_SIGNAL_RULES, fields, true);
    const n = nums?.length === 1 ? nums[0]! : -1;
    for (const r of this.policy.signalRules) {
      if (!r.signals.has(n)) continue;
      if (r.targetType !== null && r.targetType !== '*' && r.targetType !== target.toLowerCase()) continue;
      return this.decide('signal', r, fields);
    }
    return this.decide('signal', DEFAULT_DENY_SIGNALS, fields, true);
  }

  /** Whether a variable may pass into a command's environment (deny wins; agentsh's secret list when allow is empty). */
  checkEnv(name: string, settings: EnvSettings = this.policy.env): PolicyDecision {
    const fields = { Name: name };
    const rule = (n: string, decision: 'allow' | 'deny', message: string) => this.decide('env', defaultRule(n, decision, message), fields, n.startsWith('default'));
    if (settings.deny?.test(name)) return rule('env_policy.deny', 'deny', `${name} is in env_policy.deny`);
    if (!settings.allow) {
      if ((DEFAULT_SECRET_ENV as readonly string[]).includes(name)) return rule('default-secret-deny', 'deny', `${name} is a built-in secret variable`);
      return rule('default-allow', 'allow', 'env_policy.allow is empty; variables other than built-in secrets pass');
    }
    if (settings.allow.test(name)) return rule('env_policy.allow', 'allow', `${name} is in env_policy.allow`);
    return rule('default-deny', 'deny', `${name} is not in env_policy.allow`);
  }

  /**
   * The environment a command receives: `base` filtered by env_policy (or the matching command
   * rule's env_* overrides), then operator injections, which bypass filtering. Limits apply to
   * what passed the filter; exceeding them is an error, never a silent truncation.
   */
  buildEnv(base: NodeJS.ProcessEnv, inject: Record<string, string> = {}, settings: EnvSettings = this.policy.env): { env: Record<string, string>; removed: string[] } {
    const env: Record<string, string> = {};
    const removed: string[] = [];
    let bytes = 0;
    let keys = 0;
    for (const [k, v] of Object.entries(base)) {
      if (v === undefined) continue;
      if (this.checkEnv(k, settings).decision !== 'allow') {
        removed.push(k);
        continue;
      }
      env[k] = v;
      keys++;
      bytes += Buffer.byteLength(k) + Buffer.byteLength(v) + 2;
    }
    if (settings.maxKeys > 0 && keys > settings.maxKeys) throw new EnvLimitError(`environment has ${keys} variables, more than env_policy.max_keys (${settings.maxKeys})`);
    if (settings.maxBytes > 0 && bytes > settings.maxBytes) throw new EnvLimitError(`environment is ${bytes} bytes, more than env_policy.max_bytes (${settings.maxBytes})`);
    Object.assign(env, this.policy.envInject, inject);
    return { env, removed: removed.sort() };
  }

  /** The env settings for a command: the matching rule's env_* overrides, else env_policy. */
  envSettingsFor(decision: PolicyDecision): EnvSettings {
    if (decision.category !== 'command' || decision.ruleIndex < 0) return this.policy.env;
    const rule = this.policy.commandRules[decision.ruleIndex];
    return rule?.env ? mergeEnv(this.policy.env, rule.env) : this.policy.env;
  }

  /**
   * The command pre-check for a shell string: every simple command the parser finds (wrappers
   * and payloads alike) is checked, the strictest decision wins. `depth` is the depth of the
   * shell that runs the script (0 for the agent's own `bash -c`).
   */
  checkShell(script: string, depth = 0): ShellDecision {
    const analysis = analyzeShell(script);
    let verdict: PolicyDecision | null = null;
    const commands: ShellCommandDecision[] = analysis.commands.map((c: ShellCommand) => {
      const d = this.policy.env.blockIteration && listsEnvironment(c.argv) ? this.iterationDenied(c.argv) : this.checkCommand(c.argv[0] ?? '', c.argv.slice(1), depth + c.depth);
      verdict = verdict ? stricter(verdict, d) : d;
      return { argv: c.argv, wrappers: c.wrappers, depth: depth + c.depth, text: c.text, decision: d, redirects: c.redirects };
    });
    const opaque = analysis.opaque;
    if (opaque.length && this.opaqueMode === 'deny') {
      const d = this.decide('shell', defaultRule('shell-opaque', 'deny', `cannot tell statically what runs: ${opaque.map((o) => `${o.reason} '${o.text}'`).join(', ')}`), {});
      verdict = verdict ? stricter(verdict, d) : d;
    }
    verdict ??= this.decide('shell', defaultRule('empty-script', 'allow', 'the script runs no command'), {}, true);
    return { ...(verdict as PolicyDecision), commands, opaque, parsed: analysis.ok };
  }

  private iterationDenied(argv: string[]): PolicyDecision {
    return this.decide('command', defaultRule('env-block-iteration', 'deny', 'listing the environment is blocked (env_policy.block_iteration); look variables up by name'), { Command: argv[0] ?? '', Args: argv.slice(1).join(' ') });
  }
}

function mergeEnv(global: EnvSettings, rule: EnvSettings): EnvSettings {
  return {
    allow: rule.allow ?? global.allow,
    deny: rule.deny ?? global.deny,
    maxBytes: rule.maxBytes || global.maxBytes,
    maxKeys: rule.maxKeys || global.maxKeys,
    blockIteration: rule.blockIteration || global.blockIteration,
  };
}

function commandMatches(r: CompiledCommandRule, cmd: string, base: string): boolean {
  if (r.any) return true;
  if (r.exactPaths.has(cmd)) return true;
  if (r.pathGlob?.test(cmd)) return true;
  if (r.basenames.has(base)) return true;
  return r.baseGlob?.test(base) ?? false;
}

// The shim keeps the real shells as bash.real, sh.real …; policies name them bash, sh.
function stripShimSuffix(base: string): string {
  return base.endsWith('.real') ? base.slice(0, -5) : base;
}

export function normalisePath(path: string, cwd = '/'): string {
  const abs = path.startsWith('/') ? path : posix.join(cwd, path);
  const n = posix.normalize(abs);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}
