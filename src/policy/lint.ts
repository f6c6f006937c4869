// `policy lint`: the places where agentsh's semantics decide differently from what a policy's
// author most likely meant. Each finding names the rule and its file:line.
import { posix } from 'node:path';
import RE2 from 're2';
import type { Diagnostic, Severity } from '../util/diagnostics.js';
import type { SourcePath } from '../util/yaml-source.js';
import type { CompiledCommandRule, CompiledFileRule, CompiledNetworkRule, CompiledPolicy } from './compile.js';
import { templateFieldsUsed, TEMPLATE_FIELDS, type ApprovalSettings } from './decision.js';
import { compileGlob, hasGlobMeta } from './glob.js';
import type { LoadedPolicy } from './load.js';
import { referencedVars } from './vars.js';

export interface LintOptions {
  approvals: ApprovalSettings;
  /** Variables a session will define (PROJECT_ROOT, GIT_ROOT, HOME …). */
  knownVars: string[];
}

const CATEGORIES = [
  ['file_rules', 'file'],
  ['network_rules', 'network'],
  ['command_rules', 'command'],
  ['signal_rules', 'signal'],
  ['unix_socket_rules', 'unix socket'],
] as const;

type RuleList = (typeof CATEGORIES)[number][0];

export function lintPolicy(loaded: LoadedPolicy, compiled: CompiledPolicy, opts: LintOptions): Diagnostic[] {
  const out: Diagnostic[] = [];
  const add = (severity: Severity, code: string, message: string, path: SourcePath) => out.push(loaded.source.diag(severity, code, message, path));
  const doc = loaded.doc;

  for (const [list, label] of CATEGORIES) {
    const rules = (doc[list] ?? []) as { name: string; decision: string; message?: string }[];
    const seen = new Map<string, number>();
    rules.forEach((r, i) => {
      const path: SourcePath = [list, i];
      const first = seen.get(r.name);
      if (first !== undefined) add('warning', 'duplicate-name', `${label} rule name '${r.name}' is also used by ${list}[${first}]; decisions and audit events can't tell them apart`, [...path, 'name']);
      else seen.set(r.name, i);
      lintDecision(list, r, path, add, opts.approvals);
      for (const f of templateFieldsUsed(r.message ?? '')) {
        if (!(TEMPLATE_FIELDS as readonly string[]).includes(f)) add('warning', 'unknown-template', `message uses {{.${f}}}, which is never filled (known: ${TEMPLATE_FIELDS.join(', ')})`, [...path, 'message']);
      }
    });
  }

  lintVariables(doc, opts.knownVars, add);
  lintCommandShadowing(compiled.commandRules, doc.command_rules ?? [], add);
  lintArgsPatterns(doc.command_rules ?? [], add);
  lintFileShadowing(compiled.fileRules, doc.file_rules ?? [], add);
  lintNetwork(compiled.networkRules, doc.network_rules ?? [], add);
  return out;
}

type Add = (severity: Severity, code: string, message: string, path: SourcePath) => void;

const MEANINGFUL: Record<RuleList, string[]> = {
  file_rules: ['allow', 'deny', 'approve', 'soft_delete', 'redirect', 'audit'],
  network_rules: ['allow', 'deny', 'approve', 'audit'],
  command_rules: ['allow', 'deny', 'approve', 'redirect', 'audit'],
  signal_rules: ['allow', 'deny', 'approve', 'redirect', 'audit', 'absorb'],
  unix_socket_rules: ['allow', 'deny', 'approve', 'audit'],
};

function lintDecision(list: RuleList, r: { decision: string }, path: SourcePath, add: Add, approvals: ApprovalSettings): void {
  if (!MEANINGFUL[list].includes(r.decision)) {
    add('warning', 'meaningless-decision', `decision '${r.decision}' has no effect in ${list}; agentsh treats it as allow`, [...path, 'decision']);
  }
  if (r.decision === 'approve' && !approvals.enabled) {
    const what = approvals.whenUnavailable === 'deny' ? 'denied ("approval unavailable")' : 'allowed without asking anyone (approvals.when_unavailable: allow)';
    add('warning', 'approve-without-approver', `approvals are disabled, so this rule's requests are ${what}; agentsh would silently allow them`, [...path, 'decision']);
  }
}

function lintVariables(doc: LoadedPolicy['doc'], known: string[], add: Add): void {
  const check = (text: string, path: SourcePath, expanded: boolean) => {
    for (const v of referencedVars(text)) {
      if (!expanded) add('warning', 'variable-not-expanded', `\${${v.name}} is not expanded here (agentsh expands variables only in file paths and network domains); it is matched literally`, path);
      else if (!v.hasFallback && !known.includes(v.name)) add('warning', 'undefined-variable', `\${${v.name}} is not a session variable (${known.join(', ')}); sessions fail to start unless the server's environment defines it, or add a fallback: \${${v.name}:-…}`, path);
    }
  };
  (doc.file_rules ?? []).forEach((r, i) => r.paths.forEach((p, j) => check(p, ['file_rules', i, 'paths', j], true)));
  (doc.network_rules ?? []).forEach((r, i) => (r.domains ?? []).forEach((d, j) => check(d, ['network_rules', i, 'domains', j], true)));
  (doc.command_rules ?? []).forEach((r, i) => r.commands.forEach((c, j) => check(c, ['command_rules', i, 'commands', j], false)));
  (doc.unix_socket_rules ?? []).forEach((r, i) => r.paths.forEach((p, j) => check(p, ['unix_socket_rules', i, 'paths', j], false)));
}

// --- command rules -----------------------------------------------------------------------

function isUnconditional(a: CompiledCommandRule, b: CompiledCommandRule): boolean {
  return a.args === null && a.minDepth <= b.minDepth && a.maxDepth >= b.maxDepth;
}

const matchesEverything = (re: RegExp | null) => re !== null && re.test('') && re.test('any-name.1');

function isCatchAll(a: CompiledCommandRule): boolean {
  return a.args === null && a.minDepth === 0 && a.maxDepth === Infinity && (a.any || matchesEverything(a.baseGlob));
}

function coversCommand(a: CompiledCommandRule, name: string): boolean {
  if (a.any) return true;
  if (name.includes('/')) return a.exactPaths.has(name) || a.basenames.has(posix.basename(name)) || (!hasGlobMeta(name) && (a.pathGlob?.test(name) || a.baseGlob?.test(posix.basename(name)) || false));
  if (hasGlobMeta(name)) return matchesEverything(a.baseGlob);
  return a.basenames.has(name) || (a.baseGlob?.test(name) ?? false);
}

function lintCommandShadowing(rules: CompiledCommandRule[], docs: { commands: string[]; name: string }[], add: Add): void {
  rules.forEach((b, j) => {
    const names = b.any ? ['*'] : docs[j]!.commands.map((c) => c.trim().toLowerCase());
    const shadowedBy = new Map<string, CompiledCommandRule>();
    for (const name of names) {
      const a = rules.slice(0, j).find((r) => isUnconditional(r, b) && (name === '*' ? isCatchAll(r) : coversCommand(r, name)));
      if (a) shadowedBy.set(name, a);
    }
    if (!shadowedBy.size) return;
    const path: SourcePath = ['command_rules', j];
    const firsts = [...new Set(shadowedBy.values())];
    const desc = firsts.map((a) => `'${a.name}' (${a.decision})`).join(', ');
    if (shadowedBy.size === names.length) {
      const same = firsts.every((a) => a.decision === b.decision);
      const catchAll = firsts.some(isCatchAll);
      add(
        same ? 'info' : 'warning',
        catchAll ? 'unreachable-rule' : same ? 'redundant-rule' : 'shadowed-rule',
        catchAll
          ? `rule '${b.name}' is unreachable: the catch-all rule ${desc} comes first (first match wins)`
          : `rule '${b.name}' (${b.decision}) can never match: every command it names is decided earlier by ${desc} (first match wins)`,
        path,
      );
    } else {
      for (const [name, a] of shadowedBy) {
        if (a.decision === b.decision) continue;
        add('warning', 'shadowed-command', `rule '${b.name}' (${b.decision}) never applies to '${name}': '${a.name}' (${a.decision}) matches it first (first match wins)`, path);
      }
    }
  });
}

// --- args_patterns -----------------------------------------------------------------------

// Probes built from the flags a pattern names: combined short flags it misses (`-fr` for
// `-r`), and longer words it matches by accident (`my-report` for `-r`, `--force-with-lease`
// and `--follow-tags` for `--force|-f`).
function lintArgsPatterns(docs: { args_patterns?: string[] }[], add: Add): void {
  docs.forEach((r, i) => {
    (r.args_patterns ?? []).forEach((pattern, j) => {
      let re: RE2;
      try {
        re = new RE2(pattern);
      } catch {
        return;
      }
      const path: SourcePath = ['command_rules', i, 'args_patterns', j];
      const prefix = leadingWord(pattern);
      const probe = (s: string) => re.test(prefix ? `${prefix} ${s}` : s);
      const shown = (s: string) => (prefix ? `${prefix} ${s}` : s);
      for (const m of pattern.matchAll(/(?<![\w-])(--?)([A-Za-z][A-Za-z0-9-]*)/g)) {
        const [flag, dashes, word] = [m[0], m[1]!, m[2]!];
        if (dashes === '-' && word.length === 1) {
          const samples = [`--${LONG_OPTIONS[word.toLowerCase()] ?? `${word}xyz`}`, `my${flag}eport.txt`];
          // For -r (rm, cp), file names are the likelier accident.
          const accidental = (word === 'r' ? samples.reverse() : samples).find(probe);
          if (accidental) add('warning', 'regex-overmatch', `'${pattern}' is unanchored: '${flag}' also matches ${JSON.stringify(shown(accidental))}; anchor flags with (^|\\s)${flag}`, path);
          // The classic combination for -r is -fr; for other letters, a verbose flag in front.
          const other = word === 'r' ? 'f' : 'v';
          const missed = [`-${other}${word}`, `-${word}${other}`].filter((s) => !probe(s));
          if (missed.length) add('warning', 'regex-undermatch', `'${pattern}' misses combined short flags such as ${missed.map((s) => JSON.stringify(shown(s))).join(' and ')}`, path);
          if (word === 'r' && !probe('-R')) add('warning', 'regex-undermatch', `'${pattern}' misses '-R', the same option as -r for rm, cp and chmod`, path);
        } else if (dashes === '--') {
          const longer = flag === '--force' ? '--force-with-lease' : `${flag}-only`;
          if (probe(longer)) add('warning', 'regex-overmatch', `'${pattern}' also matches longer options such as ${JSON.stringify(shown(longer))}; end the flag with (\\s|$)`, path);
        }
      }
    });
  });
}

// Real long options that start with the letter of a short flag, to show an accidental match.
const LONG_OPTIONS: Record<string, string> = { f: 'follow-tags', r: 'reuse-message', d: 'dry-run', n: 'no-verify', v: 'verbose', q: 'quiet', a: 'all', i: 'interactive', x: 'exclude', p: 'prune', s: 'signoff', u: 'update' };

function leadingWord(pattern: string): string {
  return /^\^?([a-z][a-z0-9-]*)(?:\.\*|\\s|\s)/.exec(pattern)?.[1] ?? '';
}

// --- file rules --------------------------------------------------------------------------

function prefixOf(glob: string): string | null {
  if (!glob.endsWith('/**')) return null;
  const p = glob.slice(0, -3);
  return hasGlobMeta(p) ? null : p;
}

function coversPath(a: string, b: string): boolean {
  if (a === b || a === '**') return true;
  const p = prefixOf(a);
  if (p !== null && b.startsWith(`${p}/`)) return true;
  if (a.startsWith('**/') && !hasGlobMeta(a.slice(3)) && b.endsWith(a.slice(2))) return true;
  return !hasGlobMeta(b) && compileGlob(a, '/').test(b);
}

function overlapsPath(a: string, b: string): string | null {
  const p = prefixOf(a);
  if (p !== null && b.startsWith('**')) return `${p}/…`;
  return null;
}


function coversOps(a: CompiledFileRule, ops: Set<string> | null): boolean {
  if (a.ops === null) return true;
  if (ops === null) return false;
  return [...ops].every((o) => a.ops!.has(o));
}

function lintFileShadowing(rules: CompiledFileRule[], docs: { paths: string[] }[], add: Add): void {
  rules.forEach((b, j) => {
    const earlier = rules.slice(0, j).filter((a) => coversOps(a, b.ops));
    const path: SourcePath = ['file_rules', j];
    const covered = b.paths.map((pb) => earlier.find((a) => a.paths.some((pa) => coversPath(pa, pb))));
    if (b.paths.length && covered.every(Boolean)) {
      const firsts = [...new Set(covered as CompiledFileRule[])];
      const same = firsts.every((a) => a.decision === b.decision);
      add(same ? 'info' : 'warning', same ? 'redundant-rule' : 'shadowed-rule', `rule '${b.name}' (${b.decision}) can never match: its paths are decided earlier by ${firsts.map((a) => `'${a.name}' (${a.decision})`).join(', ')} (first match wins)`, path);
      return;
    }
    // Partial overlaps: earlier rules with another decision take part of this rule's paths.
    // A catch-all (`**`) is meant to be overtaken by everything before it, so it is skipped.
    if (b.paths.includes('**')) return;
    const byPlace = new Map<string, string[]>();
    for (const a of rules.slice(0, j)) {
      if (a.decision === b.decision) continue;
      const ops = a.ops === null ? null : [...a.ops].filter((o) => b.ops === null || b.ops.has(o));
      if (ops !== null && ops.length === 0) continue;
      for (const pb of b.paths) {
        const where = a.paths.map((pa) => (coversPath(pa, pb) ? pb : overlapsPath(pa, pb))).find(Boolean);
        if (!where) continue;
        const list = byPlace.get(where) ?? [];
        list.push(`'${a.name}' (${a.decision}${ops === null ? '' : `: ${ops.join(', ')}`})`);
        byPlace.set(where, list);
        break;
      }
    }
    if (!byPlace.size) return;
    const places = [...byPlace].map(([where, by]) => `${where} by ${by.join(', ')}`).join('; ');
    add('warning', 'shadowed-path', `rule '${b.name}' (${b.decision}) is pre-empted by earlier rules (first match wins) under ${places}`, path);
  });
}

// --- network rules -----------------------------------------------------------------------

function lintNetwork(rules: CompiledNetworkRule[], docs: { domains?: string[]; cidrs?: string[]; ports?: number[] }[], add: Add): void {
  docs.forEach((d, i) => {
    const path: SourcePath = ['network_rules', i];
    (d.domains ?? []).forEach((dom, j) => {
      if (dom.trim() === '*') add('warning', 'glob-trap', `domain '*' only matches names without a dot (agentsh's glob uses '.' as separator), so 'example.com' falls through to the next rule; use '**' to match every name`, [...path, 'domains', j]);
    });
    if (!d.domains?.length && !d.cidrs?.length && !d.ports?.length) add('info', 'catch-all', `rule '${rules[i]!.name}' has no domains, cidrs or ports: it matches every connection`, path);
  });
  rules.forEach((b, j) => {
    const bd = docs[j]!;
    const a = rules.slice(0, j).find((a) => {
      const ad = docs[a.index]!;
      if (ad.ports?.length && !(bd.ports?.length && bd.ports.every((p) => ad.ports!.includes(p)))) return false;
      if (ad.domains?.length && !(bd.domains?.length && bd.domains.every((x) => ad.domains!.includes(x) || (!hasGlobMeta(x) && a.domains!.test(x.toLowerCase()))))) return false;
      if (ad.cidrs?.length && !(bd.cidrs?.length && !bd.domains?.length && bd.cidrs.every((c) => cidrInside(c, a)))) return false;
      return true;
    });
    if (!a) return;
    const same = a.decision === b.decision;
    add(same ? 'info' : 'warning', same ? 'redundant-rule' : 'shadowed-rule', `rule '${b.name}' (${b.decision}) can never match: '${a.name}' (${a.decision}) matches every connection it would (first match wins)`, ['network_rules', j]);
  });
}

function cidrInside(cidr: string, a: CompiledNetworkRule): boolean {
  const [addr, bits] = cidr.split('/');
  if (!addr || !a.cidrs) return false;
  const family = addr.includes(':') ? 'ipv6' : 'ipv4';
  const prefix = bits === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bits);
  // The block is inside when its first address is covered by a rule block at least as wide.
  return a.cidrs.rules.some((r) => {
    const m = /Subnet: IPv[46] ([^/]+)\/(\d+)/.exec(r);
    return m !== null && Number(m[2]) <= prefix && a.cidrs!.check(addr, family);
  });
}

/**
 * The home directories a policy names literally (`/home/<user>` at the start of a file rule's
 * path). Sessions run as such a user get it as `${HOME}`, so rules written with `${HOME}` must
 * be checked with it too: linted with the linting user's own home, `${HOME}/.ssh/**` after an
 * allow of `/home/daytona/**` looks fine, and in the sandbox it is never reached.
 */
export function homesNamedBy(doc: LoadedPolicy['doc']): string[] {
  const homes = new Set<string>();
  for (const r of doc.file_rules ?? []) {
    for (const p of r.paths ?? []) {
      const m = /^\/home\/([A-Za-z0-9._-]+)(?:\/|$)/.exec(p);
      if (m && !hasGlobMeta(m[1]!)) homes.add(`/home/${m[1]}`);
    }
  }
  return [...homes].sort();
}
