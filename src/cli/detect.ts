// `agentsh detect`: the security mode commands run in, the mechanisms behind it (probed by
// really installing each one in a throw-away process: a Landlock ruleset, a seccomp filter with
// a user-notify listener, every namespace), and per domain what is ACTIVE. The score counts
// only active enforcement. Inside a session sandbox (where probing is impossible by design:
// seccomp refuses new namespaces) the server is asked for that session's enforcement instead.
import type { ResolvedConfig } from '../config/load.js';
import { buildLauncher, probeLauncher } from '../sandbox/launcher.js';
import { probeCgroups } from '../sandbox/cgroups.js';
import { formatResourceActive, limitsFromPolicy, resourcePlan, type ResourceActive } from '../sandbox/resources.js';
import { hasNamespaces, modeReport, networkState, type ModeReport, type NetworkState } from '../server/sandbox-runtime.js';
import { fuseState, type FuseState } from '../server/fuse-views.js';

export interface Domain {
  domain: string;
  active: string; // what enforces it now, or 'none'
  enforced: boolean;
  note: string;
}

export interface DetectReport {
  mode: string;
  /** The best mode this machine allows (mode may be lower by configuration). */
  available: string;
  /** Where the facts come from: this process's probe, or the server for the current session. */
  source: 'probe' | 'session';
  kernel: Record<string, string>;
  mechanisms: ModeReport['mechanisms'];
  forced_off: string[];
  /** Mechanisms the mode goes without and the probe's reason (empty in full mode). */
  fallbacks: string[];
  /** Set when commands are refused (below security.minimum_mode, or a strict mode unmet). */
  refusal: string | null;
  domains: Domain[];
  /** The FUSE workspace view (used in mode landlock only). */
  fuse: FuseState;
  /** What this mode cannot enforce that mode full does (each fails closed or is named here). */
  limits: string[];
  score: number; // 0–100, active enforcement only
}

export function probeKernel(): { lines: string[]; kernel: Record<string, string> } {
  const kernel: Record<string, string> = {};
  let lines: string[] = [];
  try {
    lines = probeLauncher(buildLauncher());
    for (const line of lines) {
      const m = /^(.*?) (ok|unavailable(?: \S+)?)$/.exec(line) ?? /^(.*) (\S+)$/.exec(line);
      if (m) kernel[m[1]!] = m[2]!;
    }
  } catch (err) {
    kernel.probe = `failed: ${(err as Error).message}`;
  }
  return { lines, kernel };
}

export function detect(config: ResolvedConfig): DetectReport {
  const { lines, kernel } = probeKernel();
  const mode = modeReport(config, lines);
  // Without a session the limits are the config's (sandbox.limits); a session adds its policy's.
  const resources = mode.mode === 'minimal' ? null : resourcePlan(limitsFromPolicy(undefined, config.sandbox.limits ?? {}), probeCgroups()).active;
  return reportFor(mode, kernel, 'probe', resources, networkState(config, mode), fuseState(config, mode.mode));
}

export function reportFor(r: ModeReport, kernel: Record<string, string>, source: DetectReport['source'], resources: ResourceActive | null = null, network: NetworkState = 'off', fuse: FuseState = { state: 'off' }): DetectReport {
  const m = r.mechanisms;
  // Which mechanism decides each exec, signal and delete inside the sandbox (null: none does).
  const via = r.mode === 'full' ? 'seccomp user-notify' : r.mode === 'ptrace' ? 'ptrace, seccomp user-notify being unavailable here' : null;
  const full = via !== null;
  const ns = hasNamespaces(r.mode);
  const ll = r.mode !== 'minimal';
  const view = fuse.state === 'active';
  const domains: Domain[] = [
    {
      domain: 'command',
      active: full ? `pre-check + every exec checked (${via}: path, argv, depth) + Landlock execute allow-list`
        : ll ? 'pre-check + Landlock execute allow-list (denied binaries cannot run by any route)' : 'pre-check of the command string only',
      enforced: true,
      note: full ? '' : ll ? 'argv rules and depth are checked only at the pre-check; opaque commands are refused' : "children of a command are not checked; opaque commands are refused",
    },
    {
      domain: 'file',
      active: ll ? `Landlock ABI ${m.landlockAbi} compiled from file_rules${ns ? '; system paths on read-only mounts; control-plane files hidden' : ''}${full ? `; soft delete to the trash (${via})` : ''}${view ? '; the workspace through a FUSE view at its real path: soft delete, file_rules per operation, file audit' : ''}` : 'none',
      enforced: ll,
      note: ll ? (full ? '' : view ? 'soft delete covers the workspace only (its FUSE view); elsewhere deletes in soft-delete areas are refused' : `soft delete needs seccomp user-notify, ptrace or the FUSE view (${fuse.reason ?? fuse.state}): deletes in soft-delete areas are refused instead`) : 'files are not protected beyond Unix permissions',
    },
    {
      domain: 'network',
      active: network === 'session' ? 'own network namespace per command (loopback only); the proxy (HTTP, CONNECT, SOCKS5) and DNS stub are the only ways out, every connection decided by network_rules with each resolved address checked'
        : network === 'landlock-tcp' ? 'Landlock TCP rules: connects only to the session\'s proxy port, which decides by network_rules' : 'none',
      enforced: network === 'session' || network === 'landlock-tcp',
      note: network === 'session' ? ''
        : network === 'landlock-tcp' ? 'no network namespace here: UDP (DNS included) and ICMP are not covered by Landlock and reach the network directly; a connect to the proxy\'s port number on another address is not stopped'
        : network === 'shared' ? 'neither a network namespace nor Landlock TCP rules here: commands use the server\'s network and network_rules are NOT enforced'
        : 'sandbox.network.enabled is false: commands use the server\'s network',
    },
    {
      domain: 'signals',
      active: ns ? `own pid namespace per command${m.landlockAbi >= 6 ? ' + Landlock signal scoping' : ''}${full ? ` + signal_rules at the syscall (${via})` : ''}` : 'none',
      enforced: ns,
      note: ns ? (full ? '' : 'signal_rules are not checked at the syscall (only the pid namespace and Landlock scoping hold)') : 'commands can signal any process of their uid',
    },
    {
      domain: 'resources',
      active: `command timeout kills the whole command${resources && resources.mechanism !== 'none' ? `; limits via ${resources.mechanism}` : ''}`,
      enforced: true,
      note: resources ? formatResourceActive(resources).join('; ') || 'no limits requested' : 'no memory/cpu/pids limits in this mode',
    },
    {
      domain: 'isolation',
      active: ns ? 'mount, pid, ipc, uts namespaces; seccomp deny-list; no_new_privs; no capabilities' : ll ? 'no_new_privs' : 'none',
      enforced: ns,
      note: ns ? '' : 'commands share the server\'s namespaces',
    },
    { domain: 'output', active: 'DLP redaction of command output', enforced: true, note: '' },
    { domain: 'audit', active: 'HMAC-chained audit log', enforced: true, note: '' },
  ];
  const limits = full || r.mode === 'minimal' ? [] : [
    'argv rules, args_patterns and depth (context: nested) of execs inside a command: checked only at the pre-check; Landlock\'s execute allow-list still refuses denied binaries by any route',
    'approve command rules for nested execs: no one can be asked at exec time',
    'opaque commands ($CMD, eval, curl | sh): refused instead of checked at exec time',
    'signal_rules at the syscall (signals stay confined to the command by its pid namespace and Landlock scoping)',
    'an audit event for every nested exec',
    view ? 'soft delete outside the workspace (refused there); inside, a file already open or hard-linked elsewhere before the view was mounted is reached without it' : 'soft delete (deletes in soft-delete areas are refused; nothing is lost)',
    ...(hasNamespaces(r.mode) ? [] : ['mount, pid and network namespaces: commands share the server\'s processes, mounts and (without Landlock TCP) network']),
  ];
  const score = Math.round((100 * domains.filter((d) => d.enforced).length) / domains.length);
  return { mode: r.mode, available: r.available, source, kernel, mechanisms: m, forced_off: r.forcedOff, fallbacks: r.fallbacks, refusal: r.refusal, domains, fuse, limits, score };
}

export function formatDetect(r: DetectReport): string {
  const lines = [
    `security mode: ${r.mode} (best available here: ${r.available})   protection score: ${r.score}/100 (active enforcement only)`,
    ...(r.source === 'session' ? ['(reported by the server for this session)'] : []),
    ...(r.forced_off.length ? [`mechanisms switched off by AGENTSH_FORCE_UNAVAILABLE: ${r.forced_off.join(', ')}`] : []),
    ...(r.fallbacks.length ? [`not full because: ${r.fallbacks.join('; ')}`] : []),
    ...(r.refusal ? [`COMMANDS ARE REFUSED: ${r.refusal}`] : []),
    '',
    'kernel (probed):',
  ];
  for (const [k, v] of Object.entries(r.kernel)) lines.push(`  ${k.padEnd(28)} ${v}`);
  lines.push('', 'enforcement:');
  for (const d of r.domains) lines.push(`  ${d.domain.padEnd(10)} ${d.enforced ? 'ACTIVE  ' : 'inactive'} ${d.active}${d.note ? ` — ${d.note}` : ''}`);
  lines.push('', `FUSE workspace view: ${r.fuse.state}${r.fuse.reason ? ` (${r.fuse.reason})` : ''}`);
  if (r.limits.length) {
    lines.push('', `not enforced in mode ${r.mode} (mode full or ptrace would):`);
    for (const l of r.limits) lines.push(`  - ${l}`);
  }
  return `${lines.join('\n')}\n`;
}
