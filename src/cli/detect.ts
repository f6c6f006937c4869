// `agentsh detect`: what the kernel offers (probed by really installing each mechanism in a
// throwaway process) and, separately, what this agentsh version actually enforces with it.
// The score counts only active enforcement: a mechanism the kernel offers but nothing uses
// scores nothing.
import { probeLauncher } from '../sandbox/launcher.js';
import { EXEC_INTERCEPTION_ACTIVE } from '../server/server.js';

export interface Domain {
  domain: string;
  active: string; // what enforces it now, or 'none'
  enforced: boolean;
  note: string;
}

export interface DetectReport {
  mode: string;
  kernel: Record<string, string>;
  domains: Domain[];
  score: number; // 0–100, active enforcement only
}

export function detect(): DetectReport {
  const kernel: Record<string, string> = {};
  try {
    for (const line of probeLauncher()) {
      const m = /^(.*?) (\S+)$/.exec(line);
      if (m) kernel[m[1]!] = m[2]!;
    }
  } catch (err) {
    kernel.probe = `failed: ${(err as Error).message}`;
  }
  const sandbox = EXEC_INTERCEPTION_ACTIVE;
  const domains: Domain[] = [
    { domain: 'command', active: 'pre-check (shell analysis of every governed command)', enforced: true, note: sandbox ? 'children checked at exec time' : "children of a command are not checked yet; opaque commands and interactive shells are refused" },
    { domain: 'file', active: 'none', enforced: false, note: `Landlock ABI ${kernel['landlock abi'] ?? '?'} available; the session sandbox does not use it yet` },
    { domain: 'network', active: 'none', enforced: false, note: 'the session proxy and network namespace are not built yet' },
    { domain: 'signals', active: 'BASH_ENV disables the kill builtin; the kill commands are policy-checked at the pre-check', enforced: false, note: 'no kernel-level signal policy yet' },
    { domain: 'resources', active: 'command timeout kills the process group', enforced: true, note: 'no cgroup limits yet' },
    { domain: 'isolation', active: 'none', enforced: false, note: 'namespaces available; commands run in the host namespaces' },
    { domain: 'output', active: 'DLP redaction of command output', enforced: true, note: '' },
    { domain: 'audit', active: 'HMAC-chained audit log', enforced: true, note: '' },
  ];
  const score = Math.round((100 * domains.filter((d) => d.enforced).length) / domains.length);
  return { mode: sandbox ? 'sandbox' : 'precheck-only', kernel, domains, score };
}

export function formatDetect(r: DetectReport): string {
  const lines = [`security mode: ${r.mode}   protection score: ${r.score}/100 (active enforcement only)`, '', 'kernel (probed):'];
  for (const [k, v] of Object.entries(r.kernel)) lines.push(`  ${k.padEnd(28)} ${v}`);
  lines.push('', 'enforcement:');
  for (const d of r.domains) lines.push(`  ${d.domain.padEnd(10)} ${d.enforced ? 'ACTIVE  ' : 'inactive'} ${d.active}${d.note ? ` — ${d.note}` : ''}`);
  return `${lines.join('\n')}\n`;
}
