// The seed's security demo, asserted (`agentsh demo`, `npm start`): creates a sandbox with
// the seed's config and policy (local provider by default, Daytona with provider 'daytona'),
// runs every check of src/demo/checks.ts in it, and for each one records what was expected,
// what was observed, whether it held, and the rule that decided it — read from the
// sandbox's own audit log (the events each command caused: src/demo/audit-match.ts).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '../shim/build.js';
import { createSandbox, type Sandbox } from '../sdk/index.js';
import type { DaytonaProviderOptions, ExecResult, ProviderName } from '../provider/index.js';
import { commandWindow, decider, parseEvents, rulesSeen, type Decider, type Window } from './audit-match.js';
import { demoChecks, type Check, type DemoProbe, type Group } from './checks.js';
import { formatHeader, formatResult, formatSummary } from './scorecard.js';

export interface DemoOptions {
  provider?: ProviderName;
  /** Local: config and policy installed in the sandbox's image (default: the seed's). */
  config?: string;
  policy?: string;
  /** Daytona: the snapshot to create from (default: agentsh-sandbox). */
  snapshot?: string;
  /** Local: the sandbox root (default: AGENTSH_SANDBOX_ROOT …). */
  root?: string;
  daytona?: DaytonaProviderOptions;
  /** Only the checks whose group or name contains this (case-insensitive). */
  only?: string;
  /** How long to wait for a check's audit events (default 2 s). */
  auditWaitMs?: number;
  /** Called with the sandbox once created, then with each result as it is known. */
  onStart?(info: { provider: ProviderName; sandbox: string; createMs: number; config?: string; policy?: string; snapshot?: string }): void;
  onResult?(r: CheckResult): void;
}

export interface CheckResult {
  group: Group;
  name: string;
  command: string;
  expected: string;
  observed: string;
  exitCode: number | null;
  pass: boolean;
  /** Why it failed. */
  why?: string;
  /** The event that decided it (a refusal if any, else the command's allow). */
  decidedBy: Decider | null;
  /** What the audit had to show, e.g. "deny by block-shell-escape". */
  auditExpected?: string;
  /** Who enforces it when no rule names it (kernel, Unix permissions). */
  enforcedBy?: string;
  ms: number;
}

export interface DemoReport {
  provider: ProviderName;
  sandbox: string;
  config?: string;
  policy?: string;
  snapshot?: string;
  /** Whether the sandbox's audit log could be read (the "decided by" column and the audit assertions need it). */
  audit: 'read' | 'unavailable';
  createMs: number;
  totalMs: number;
  passed: number;
  failed: number;
  results: CheckResult[];
}

/** The seed's files: ../shared/seed beside the repository when present, else test/fixtures/seed. */
export function seedFiles(): { config: string; policy: string; dir: string } {
  const shared = resolve(REPO_ROOT, '..', 'shared', 'seed');
  const dir = existsSync(join(shared, 'config.yaml')) && existsSync(join(shared, 'default.yaml')) ? shared : join(REPO_ROOT, 'test', 'fixtures', 'seed');
  return { dir, config: join(dir, 'config.yaml'), policy: join(dir, 'default.yaml') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `exit N · first line of output`, or the refusal in short. */
export function observedOf(r: ExecResult): string {
  const lines = r.output.split('\n').map((l) => l.trim()).filter((l) => l);
  // A Python traceback says what happened on its last line.
  const first = (lines[0]?.startsWith('Traceback') ? lines.at(-1) : lines[0]) ?? '';
  const refusal = /^agentsh: (?:command|connection to \S+) denied by policy \(rule=([^)]+)\)/.exec(first);
  if (r.exitCode === 126 && refusal) return `refused (126), rule=${refusal[1]}`;
  return first ? `exit ${r.exitCode} · ${first}` : `exit ${r.exitCode}`;
}

/** The audit event that shows the check's expected decision, if any. */
function expectedEvent(c: Check, w: Window | null): Decider | null {
  if (!c.audit || !w) return null;
  return rulesSeen(w).find((s) => c.audit!.rules.includes(s.rule) && s.decision === c.audit!.decision) ?? null;
}

function auditCheck(c: Check, w: Window | null): string | null {
  if (!c.audit || !w) return null;
  if (expectedEvent(c, w)) return null;
  const seen = rulesSeen(w);
  const said = seen.length ? seen.map((s) => `${s.decision} ${s.rule} (${s.type})`).join(', ') : w.policy ? 'no rule' : 'no command_policy event for this command';
  return `audit: expected ${c.audit.decision} by ${c.audit.rules.join(' or ')}; saw ${said}`;
}

export async function runDemo(opts: DemoOptions = {}): Promise<DemoReport> {
  const provider = opts.provider ?? 'local';
  const seed = seedFiles();
  const config = provider === 'local' ? resolve(opts.config ?? seed.config) : undefined;
  const policy = provider === 'local' ? resolve(opts.policy ?? seed.policy) : undefined;
  const t0 = performance.now();
  const sb: Sandbox<ProviderName> = await createSandbox<ProviderName>({
    provider,
    ...(config ? { config } : {}),
    ...(policy ? { policy } : {}),
    ...(opts.snapshot ? { snapshot: opts.snapshot } : {}),
    ...(opts.root ? { root: opts.root } : {}),
    ...(opts.daytona ? { daytona: opts.daytona } : {}),
  });
  const createMs = Math.round(performance.now() - t0);
  opts.onStart?.({ provider, sandbox: sb.id, createMs, ...(config ? { config } : {}), ...(policy ? { policy } : {}), ...(opts.snapshot ? { snapshot: opts.snapshot } : {}) });
  const probe: DemoProbe = { exists: (p) => sb.fileExists(p), read: (p) => sb.readFile(p) };
  const tag = `demo${process.pid}x${Date.now().toString(36)}`;
  const filter = opts.only?.toLowerCase();
  const checks = demoChecks(tag).filter((c) => !filter || c.group.toLowerCase().includes(filter) || c.name.toLowerCase().includes(filter));
  const results: CheckResult[] = [];
  let auditAvailable = true;
  try {
    let seenLen = 0;
    try {
      const text = await sb.auditLog();
      if (text === null) auditAvailable = false;
      else seenLen = text.length;
    } catch {
      auditAvailable = false;
    }
    for (const c of checks) {
      const tc = performance.now();
      let r: ExecResult | null = null;
      let why: string | null = null;
      try {
        r = await sb.exec(c.cmd);
        why = await c.verdict(r, probe);
      } catch (err) {
        why = `exec failed: ${(err as Error).message}`;
      }
      let w: Window | null = null;
      if (auditAvailable) {
        const deadline = Date.now() + (opts.auditWaitMs ?? 2000);
        for (;;) {
          const text = (await sb.auditLog().catch(() => null)) ?? '';
          w = commandWindow(parseEvents(text.slice(seenLen)), c.cmd);
          if (w.complete || Date.now() > deadline) {
            seenLen = Math.max(seenLen, text.length);
            break;
          }
          await sleep(20);
        }
      }
      why ??= auditCheck(c, w);
      const res: CheckResult = {
        group: c.group,
        name: c.name,
        command: c.cmd,
        expected: c.expect,
        observed: r ? observedOf(r) : 'no result',
        exitCode: r ? r.exitCode : null,
        pass: why === null,
        ...(why ? { why } : {}),
        decidedBy: w ? (expectedEvent(c, w) ?? decider(w)) : null,
        ...(c.audit ? { auditExpected: `${c.audit.decision} by ${c.audit.rules.join(' or ')}` } : {}),
        ...(c.enforcedBy ? { enforcedBy: c.enforcedBy } : {}),
        ms: Math.round(performance.now() - tc),
      };
      results.push(res);
      opts.onResult?.(res);
    }
  } finally {
    await sb.delete().catch(() => {});
  }
  const failed = results.filter((r) => !r.pass).length;
  return {
    provider,
    sandbox: sb.id,
    ...(config ? { config } : {}),
    ...(policy ? { policy } : {}),
    ...(opts.snapshot ? { snapshot: opts.snapshot } : {}),
    audit: auditAvailable ? 'read' : 'unavailable',
    createMs,
    totalMs: Math.round(performance.now() - t0),
    passed: results.length - failed,
    failed,
    results,
  };
}

// `node dist/src/demo/seed-demo.js [CONFIG POLICY]`: the scorecard on the local provider
// (what `agentsh demo` prints); exit status = failed checks (capped at 100).
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [config, policy] = process.argv.slice(2);
  const log = (s: string) => process.stdout.write(`${s}\n`);
  let group = '';
  runDemo({
    ...(config ? { config } : {}),
    ...(policy ? { policy } : {}),
    onStart: (i) => log(formatHeader(i)),
    onResult: (r) => {
      if (r.group !== group) log(formatResult(r, (group = r.group)));
      else log(formatResult(r));
    },
  }).then(
    (rep) => {
      log(formatSummary(rep));
      process.exit(Math.min(rep.failed, 100));
    },
    (err: Error) => {
      process.stderr.write(`demo failed: ${err.message}\n`);
      process.exit(101);
    },
  );
}
