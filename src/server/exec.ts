// Running one governed command: the pre-check decision, the child environment, the launch
// in its own process group, output through DLP, timeouts and signals, and the audit trail.
// (The session sandbox plugs in at `launch`: the same spec, started inside namespaces.)
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { basename, posix } from 'node:path';
import { stricter, type PolicyDecision } from '../policy/decision.js';
import { EnvLimitError, type ShellDecision } from '../policy/engine.js';
import { readReportWithNotify, VERDICT_EPERM, type Notification, type Plan, type Verdict as NotifyVerdict } from '../sandbox/launcher.js';
import type { Duplex } from 'node:stream';
import type { Session } from './sessions.js';
import { callerMay } from './caller-access.js';
import { parseShellArgv, type ShellInvocation } from './shell-argv.js';

export const EXIT_DENIED = 126;
export const EXIT_TIMEOUT = 124;
const MAX_SCRIPT_BYTES = 16 * 1024 * 1024;
export const SHELLS = new Set(['bash', 'sh', 'zsh', 'dash', 'ksh']);

export interface Verdict {
  decision: PolicyDecision | ShellDecision;
  invocation: ShellInvocation | null;
  text: string;
}

/** The pre-check for an argv: the program itself, and for shells the script they would run. */
export function precheck(
  session: Session,
  argv: readonly string[],
  opts: {
    stdinIsTty?: boolean;
    stdinScript?: string;
    cwd?: string;
    depth?: number;
    /** Where a path the command names lies on the server's side (the sandbox's own /tmp is elsewhere); null: the server cannot see it. */
    hostPath?: (p: string) => string | null;
  } = {},
): Verdict {
  const engine = session.engine;
  const depth = opts.depth ?? 0;
  const name = basename(argv[0] ?? '').replace(/\.real$/, '');
  let decision: PolicyDecision | ShellDecision = engine.checkCommand(argv[0] ?? '', argv.slice(1), depth);
  const text = argv.join(' ');
  if (!SHELLS.has(name)) return { decision, invocation: null, text };
  const inv = parseShellArgv(argv, opts.stdinIsTty ?? false);
  if (inv.mode === 'interactive') {
    // Each line of an interactive shell would need its own check; until exec-time
    // interception exists an interactive shell would be ungoverned, so it is refused.
    return { decision: refusal('interactive-shell', 'interactive shells are not governed yet; run commands with bash -c'), invocation: inv, text };
  }
  let script: string | null = null;
  if (inv.mode === 'command') script = inv.script;
  else if (inv.mode === 'stdin') script = opts.stdinScript ?? '';
  else if (inv.mode === 'script') {
    const read = readScript(inv.path, opts.cwd ?? session.workspace, session, opts.hostPath);
    if (read.error) return { decision: refusal('script-unchecked', `cannot check script ${inv.path}: ${read.error}`), invocation: inv, text };
    script = read.text; // null: no such file, the shell reports it and runs nothing
  }
  if (script !== null) {
    const shell = engine.checkShell(script, depth);
    // The shell's own rule and the script's commands: the strictest wins, and the result
    // keeps the per-command breakdown for explain and audit.
    decision = { ...stricter(decision, shell), commands: shell.commands, opaque: shell.opaque, parsed: shell.parsed };
  }
  return { decision, invocation: inv, text: inv.mode === 'command' ? inv.script : text };
}

/** A deny made by the exec path itself (no policy rule could decide it). */
function refusal(rule: string, message: string): PolicyDecision {
  return { decision: 'deny', policyDecision: 'deny', rule, message, category: 'shell', isDefault: false, ruleIndex: -1 };
}

// A script that exists but can't be read whole is refused: the shell would run what the
// pre-check never saw.
function readScript(path: string, cwd: string, session: Session, hostPath?: (p: string) => string | null): { text: string | null; error?: string } {
  const seen = posix.normalize(path.startsWith('/') ? path : `${cwd}/${path}`);
  const p = hostPath ? hostPath(seen) : seen;
  if (p === null) return { text: null, error: 'it lies where the server cannot read it' };
  try {
    const st = statSync(p);
    if (st.size > MAX_SCRIPT_BYTES) return { text: null, error: `larger than ${MAX_SCRIPT_BYTES} bytes` };
    // The server reads with its own (root) privileges: only what the caller could read
    // itself, or the analysis (and the denial messages it produces) becomes an oracle on
    // files the agent may not read (`bash /etc/shadow`).
    if (!callerMay(session, 'read', p, st)) return { text: null, error: 'the caller may not read it' };
    return { text: readFileSync(p, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? { text: null } : { text: null, error: code ?? String(err) };
  }
}

export function denialMessage(d: PolicyDecision): string {
  if (d.approval === 'unavailable') return `agentsh: command denied by policy (rule=${d.rule}): ${d.message}\n`;
  return `agentsh: command denied by policy (rule=${d.rule})${d.message ? `: ${d.message}` : ''}\n`;
}

export interface OutputFilter {
  push(chunk: Buffer): Buffer;
  end(): Buffer;
}

/** Answers the launcher's supervisor (seccomp user-notify) for one command. */
export interface Interceptor {
  /** A promise while a human decides (an `approve` rule at exec time): the caller waits in the kernel. */
  handle(n: Notification): NotifyVerdict | Promise<NotifyVerdict>;
  /** An exec that ran without asking (not on the plan's ask list): audit only. */
  notice(n: Notification): void;
  trashResult(id: string, ok: boolean, error?: string): void;
}

export interface LaunchSpec {
  /** The sandbox launcher binary; commands start through it so they die with the server. */
  launcher: string | null;
  /** The session sandbox plan and its wire text (null: BASE_PLAN, the command only dies with the server). */
  plan?: { plan: Plan; text: string } | null;
  interceptor?: Interceptor | null;
  file: string;
  argv: string[]; // argv[0] included; the child sees argv[0] as given
  cwd: string;
  env: Record<string, string>;
  uid?: number;
  gid?: number;
  stdinScript?: Buffer; // stdin-fed scripts: written to the child, then EOF
  timeoutMs: number | null;
  filters: { stdout: OutputFilter | null; stderr: OutputFilter | null };
}

export interface LaunchIO {
  /** Returns false when the receiver is full; call `resume()` once it drains. */
  stdout(chunk: Buffer): boolean;
  stderr(chunk: Buffer): boolean;
}

export interface Running {
  pid: number;
  writeStdin(chunk: Buffer): void;
  endStdin(): void;
  signal(sig: NodeJS.Signals | number): void;
  resume(): void;
  /**
   * Exit status: the code, or 128 + signal number; EXIT_TIMEOUT after a timeout.
   * supervisorKilled: the launcher (the command's supervisor) died of a signal the server did
   * not send; its command died with it (pdeathsig).
   */
  done: Promise<{ status: number; timedOut: boolean; stdoutBytes: number; stderrBytes: number; excerpt: { stdout: string; stderr: string }; supervisorKilled?: NodeJS.Signals }>;
}

const EXCERPT_BYTES = 4096;
// How long output may keep flowing after the main process exits (background children that
// still hold the pipes) before we stop relaying and report the exit.
const DRAIN_AFTER_EXIT_MS = 500;

// What every command gets until the full session sandbox is wired: it dies with the server
// (PR_SET_PDEATHSIG) instead of running on unobserved, and keeps the governed marker (fd 3).
const BASE_PLAN = 'pdeathsig\nkeep_fd\t3\n';

export function launch(spec: LaunchSpec, io: LaunchIO): Running {
  const argv0 = spec.argv[0] ?? spec.file;
  const [file, args] = spec.launcher ? [spec.launcher, ['--plan-fd', '4', '--report-fd', '5', '--', spec.file, argv0, ...spec.argv.slice(1)]] : [spec.file, spec.argv.slice(1)];
  const child: ChildProcess = spawn(file, args, {
    argv0: spec.launcher ? 'agentsh-launcher' : argv0,
    cwd: spec.cwd,
    env: spec.env,
    detached: true, // own process group: timeouts and signals reach the whole tree
    // fd 3: the governed marker (a socketpair end the server created); 4: plan; 5: report
    stdio: spec.launcher ? ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe', 'pipe'],
    ...(spec.uid !== undefined ? { uid: spec.uid } : {}),
    ...(spec.gid !== undefined ? { gid: spec.gid } : {}),
  });
  if (spec.launcher) {
    const stdio = child.stdio as unknown as (NodeJS.ReadableStream & NodeJS.WritableStream)[];
    const plan = stdio[4];
    plan?.on('error', () => {});
    plan?.end(spec.plan ? spec.plan.text : BASE_PLAN);
    const report = stdio[5];
    if (report) {
      const ic = spec.interceptor;
      void readReportWithNotify(report as unknown as Duplex, {
        // No interceptor: nothing may be notified, so a request is refused (fail closed).
        onNotify: (n) => (ic ? ic.handle(n) : VERDICT_EPERM),
        onNotice: (n) => ic?.notice(n),
        onNotifyFact: (f) => {
          if (f.kind === 'trashed') ic?.trashResult(f.id, true);
          else if (f.kind === 'trash-failed') ic?.trashResult(f.id, false, f.errno);
        },
      }).then((r) => {
        // A failed setup step means nothing was exec'd: say why.
        const f = r.failed;
        if (f) io.stderr(Buffer.from(`agentsh: sandbox setup failed: ${[f.key, f.value, f.errno].filter((x) => x !== undefined).join(' ')}\n`));
      });
    }
  }
  const pgid = child.pid ?? -1;
  let timedOut = false;
  const counts = { stdout: 0, stderr: 0 };
  const excerpt = { stdout: '', stderr: '' };
  const paused = new Set<NodeJS.ReadableStream>();

  const relay = (name: 'stdout' | 'stderr', stream: NodeJS.ReadableStream | null) =>
    new Promise<void>((resolveRelay) => {
      if (!stream) return resolveRelay();
      const filter = spec.filters[name];
      const emit = (b: Buffer) => {
        if (!b.length) return;
        counts[name] += b.length;
        if (excerpt[name].length < EXCERPT_BYTES) excerpt[name] += b.subarray(0, EXCERPT_BYTES - excerpt[name].length).toString('utf8');
        if (!io[name](b)) {
          stream.pause();
          paused.add(stream);
        }
      };
      stream.on('data', (chunk: Buffer) => emit(filter ? filter.push(chunk) : chunk));
      stream.on('end', () => {
        if (filter) emit(filter.end());
        resolveRelay();
      });
      stream.on('error', () => resolveRelay());
    });

  const outputs = Promise.all([relay('stdout', child.stdout), relay('stderr', child.stderr)]);
  child.stdin?.on('error', () => {}); // the command may exit without reading its stdin
  if (spec.stdinScript) child.stdin?.end(spec.stdinScript);

  // Signals the server sends to the group are noted (signalGroup): a launcher killed by any
  // other signal was killed from outside (its command died with it, pdeathsig): said so.
  const sent = new Set<number>();
  if (spec.launcher && pgid > 0) sentTo.set(pgid, sent);
  const signal = (sig: NodeJS.Signals | number) => signalGroup(pgid, sig);
  let supervisorKilled: NodeJS.Signals | undefined;
  let killTimer: NodeJS.Timeout | null = null;
  const timer = spec.timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        signal('SIGTERM');
        killTimer = setTimeout(() => signal('SIGKILL'), 2000);
      }, spec.timeoutMs)
    : null;

  const exited = new Promise<number>((resolveExit, rejectExit) => {
    child.on('error', rejectExit);
    child.on('exit', (code, sig) => {
      if (sentTo.get(pgid) === sent) sentTo.delete(pgid);
      if (spec.launcher && sig && !sent.has(osConstants.signals[sig] ?? -1)) supervisorKilled = sig;
      resolveExit(code ?? 128 + (sig ? (osConstants.signals[sig] ?? 0) : 0));
    });
  });

  const done = exited.then(async (status) => {
    await Promise.race([outputs, new Promise((r) => setTimeout(r, DRAIN_AFTER_EXIT_MS))]);
    if (timer) clearTimeout(timer);
    if (killTimer) clearTimeout(killTimer);
    if (timedOut) signalGroup(pgid, 'SIGKILL');
    for (const s of [child.stdout, child.stderr]) s?.removeAllListeners('data');
    return { status: timedOut ? EXIT_TIMEOUT : status, timedOut, stdoutBytes: counts.stdout, stderrBytes: counts.stderr, excerpt, ...(supervisorKilled ? { supervisorKilled } : {}) };
  });

  return {
    pid: pgid,
    writeStdin: (b) => {
      if (!spec.stdinScript) child.stdin?.write(b);
    },
    endStdin: () => {
      if (!spec.stdinScript) child.stdin?.end();
    },
    signal,
    resume: () => {
      for (const s of paused) s.resume();
      paused.clear();
    },
    done,
  };
}

/** Running launchers' process groups → the signals the server sent them. */
const sentTo = new Map<number, Set<number>>();

/** Signals a command's process group (and notes it: the launcher's death is then not a surprise). */
export function signalGroup(pgid: number, sig: NodeJS.Signals | number): void {
  if (pgid <= 0) return;
  sentTo.get(pgid)?.add(typeof sig === 'number' ? sig : (osConstants.signals[sig] ?? 0));
  try {
    process.kill(-pgid, sig);
  } catch {
    // the group is gone
  }
}

/** The child's environment: the caller's, filtered by env_policy (or the rule's env_*), plus operator injections. */
export function childEnv(session: Session, decision: PolicyDecision, callerEnv: Record<string, string>, inject: Record<string, string>): { env: Record<string, string> } | { error: string } {
  try {
    const settings = session.engine.envSettingsFor(decision);
    return { env: session.engine.buildEnv({ ...callerEnv, ...session.env }, inject, settings).env };
  } catch (err) {
    if (err instanceof EnvLimitError) return { error: err.message };
    throw err;
  }
}
