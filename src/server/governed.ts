// One governed command from start to finish, for the shim and the API alike: decide,
// record, refuse or launch, record the outcome.
import { randomUUID } from 'node:crypto';
import type { PolicyDecision } from '../policy/decision.js';
import type { ShellDecision } from '../policy/engine.js';
import { recordAfter, type AuditRecord, type ServerContext } from './context.js';
import { childEnv, denialMessage, EXIT_DENIED, launch, precheck, type LaunchIO, type Running } from './exec.js';
import type { CommandResources } from '../sandbox/resources.js';
import { fileIntents } from './file-intents.js';
import { CommandInterceptor } from './interception.js';
import type { Session } from './sessions.js';
import { sessionTrash } from './trash.js';
import { approvalTimeoutMs } from '../approvals/manager.js';
import { llmSecretEnvNames } from '../llm/env.js';

export interface GovernedRequest {
  file: string; // what to spawn (the real shell for shim calls)
  argv: string[]; // as the caller invoked it, argv[0] included
  cwd: string;
  env: Record<string, string>;
  uid?: number;
  gid?: number;
  stdinIsTty?: boolean;
  stdinScript?: Buffer; // stdin-fed scripts (already read to EOF)
  timeoutMs?: number;
  source: 'shim' | 'api';
}

export interface GovernedRun {
  commandId: string;
  decision: { decision: string; rule: string; message: string };
  /** Null when the command was refused (the message went to stderr). */
  running: Running | null;
  status: Promise<number>;
}

export function runGoverned(ctx: ServerContext, session: Session, req: GovernedRequest, io: LaunchIO): GovernedRun {
  const commandId = `cmd-${randomUUID()}`;
  session.lastActive = Date.now();
  session.commands++;
  const stdinScript = req.stdinScript?.toString('latin1');
  const verdict = precheck(session, req.argv, { stdinIsTty: req.stdinIsTty ?? false, cwd: req.cwd, hostPath: ctx.sandbox.hostPathFor(session), ...(stdinScript !== undefined ? { stdinScript } : {}) });
  const d = verdict.decision;
  const text = ctx.redactText(verdict.text); // what the audit log and messages show
  const base = { session_id: session.id, command_id: commandId };
  const summary = { decision: d.decision, rule: d.rule, message: d.message };
  const count = (outcome: 'allowed' | 'denied') => ctx.counters.set(outcome, (ctx.counters.get(outcome) ?? 0) + 1);
  const refuse = (message: string, why: GovernedRun['decision'] = summary): GovernedRun => {
    count('denied');
    io.stderr(Buffer.from(message));
    return { commandId, decision: why, running: null, status: Promise.resolve(EXIT_DENIED) };
  };
  // Events after the decision: an audit failure must not lose track of a refusal or of a
  // running command (the log latched failed and said so; new commands are refused).
  const note = (e: AuditRecord) => recordAfter(ctx.audit, e);
  // Nothing runs unless its decision can be recorded: an audit log that cannot be written
  // (disk full, I/O error) refuses every command, with the reason, and the server keeps serving.
  try {
    ctx.audit.record({
      ...base,
      type: 'command_policy',
      decision: d.decision,
      policy_decision: d.policyDecision,
      rule: d.rule,
      message: ctx.redactText(d.message),
      fields: {
        command: text,
        argv: req.argv.map(ctx.redactText),
        cwd: req.cwd,
        source: req.source,
        ...('commands' in d
          ? {
              commands: (d as ShellDecision).commands.map((c) => ({ argv: c.argv.map(ctx.redactText), depth: c.depth, decision: c.decision.decision, rule: c.decision.rule })),
              opaque: (d as ShellDecision).opaque.map((o) => ({ ...o, text: ctx.redactText(o.text) })),
            }
          : {}),
      },
    });

    if ('commands' in d) {
      for (const f of fileIntents(session.engine, (d as ShellDecision).commands, req.cwd)) {
        ctx.audit.record({ ...base, type: 'file_policy', decision: f.decision.decision, policy_decision: f.decision.policyDecision, rule: f.decision.rule, message: ctx.redactText(f.decision.message), fields: { operation: f.operation, path: f.path, enforced_by: ctx.sandbox.mode === 'minimal' ? 'none' : 'kernel (Landlock, read-only mounts)', seen_in: 'command line' } });
      }
    }
  } catch (err) {
    return refuse(auditRefusal(err as Error), { decision: 'deny', rule: AUDIT_UNAVAILABLE, message: (err as Error).message });
  }
  // Below security.minimum_mode (or a strict security.mode that can't be met) nothing runs.
  if (ctx.sandbox.report.refusal) {
    note({ ...base, type: 'command_refused', rule: 'security.minimum_mode', message: ctx.sandbox.report.refusal, fields: { command: text } });
    return refuse(`agentsh: command refused: ${ctx.sandbox.report.refusal}\n`);
  }
  if (d.decision === 'deny') return refuse(ctx.redactText(denialMessage(d)));
  // approve reaches here only when approvals are enabled: the command waits for a human.
  if (d.decision === 'approve') {
    if (!ctx.approvals) return refuse(`agentsh: command needs approval (rule=${d.rule}) and no approver is connected: ${d.message}\n`);
    const { approval, outcome } = ctx.approvals.request({
      sessionId: session.id,
      commandId,
      kind: 'command',
      rule: d.rule,
      message: ctx.redactText(d.message),
      target: text,
      timeoutMs: approvalTimeoutMs(ctx.config.approvals.timeout, d.timeoutMs),
    });
    const held = new HeldRunning();
    const status = outcome.then((o) => {
      if (!o.approved) {
        count('denied');
        io.stderr(Buffer.from(`agentsh: command not approved (rule=${d.rule}, approval ${approval.id}: ${o.approval.status}${o.approval.reason ? `: ${o.approval.reason}` : ''})\n`));
        held.refuse();
        return EXIT_DENIED;
      }
      return whenReady(recorded(), () => begin(approvedRules(d)), auditRefusal, held).status;
    });
    return { commandId, decision: summary, running: held, status };
  }
  if (!ctx.audit.flush) return begin(new Set());
  return whenReady(recorded(), () => begin(new Set()), auditRefusal);

  /**
   * Resolves once every audit event recorded so far (its decision, and an approval, included)
   * is on disk: a command never runs while its decision could still be lost.
   */
  function recorded(): Promise<void> {
    return ctx.audit.flush?.() ?? Promise.resolve();
  }

  /**
   * The command held until `ready` settles (its stdin kept, a fatal signal cancelling it), then
   * started by `go`; refused with `failure`'s message if `ready` rejects.
   */
  function whenReady(ready: Promise<unknown>, go: () => GovernedRun, failure: (err: Error) => string, held = new HeldRunning()): GovernedRun {
    const status = ready.then(
      () => {
        if (held.cancelled) {
          held.refuse(); // the caller ended the command before it started
          return EXIT_DENIED;
        }
        const run = go();
        if (run.running) held.attach(run.running);
        else held.refuse();
        return run.status;
      },
      (err: Error) => {
        count('denied');
        io.stderr(Buffer.from(failure(err)));
        held.refuse();
        return EXIT_DENIED;
      },
    );
    return { commandId, decision: summary, running: held, status };
  }

  /**
   * Starts the command once the session's FUSE workspace view is mounted (mode landlock, where
   * configured): its first command waits for the mount, holding its stdin; a view that can't be
   * mounted refuses the command rather than run it on the bare workspace.
   */
  function begin(approved: ReadonlySet<string>): GovernedRun {
    let view: ReturnType<NonNullable<ServerContext['fuseViews']>['ensure']> = null;
    try {
      view = ctx.fuseViews?.ensure(session) ?? null;
    } catch (err) {
      return refuse(`agentsh: command refused: the workspace's FUSE view: ${(err as Error).message}\n`);
    }
    if (!(view instanceof Promise)) return start(approved);
    // Destroying the session takes its view down mid-mount: start() then says so, not the mount's error.
    const mounted = view.catch((err: Error) => {
      if (!session.ended) throw err;
    });
    return whenReady(mounted, () => start(approved), (err) => `agentsh: command refused: the workspace's FUSE view could not be mounted: ${err.message}\n`);
  }

  /** approved: the rules a human approved for this command (its direct execs are covered). */
  function start(approved: ReadonlySet<string>): GovernedRun {
  // A command held (approval, audit write, FUSE mount) while its session was destroyed or
  // expired must not start afterwards in a session whose sandbox and cgroups are gone.
  if (session.ended) {
    note({ ...base, type: 'command_refused', rule: 'session_ended', message: 'the session ended before the command started', fields: { command: text } });
    return refuse('agentsh: command refused: its session ended before it started\n');
  }
  // SHLVL: the child's stdin is a socketpair, and bash sources ~/.bashrc when stdin is a
  // socket and SHLVL is unset ("run by rshd"); a toolbox's pipes never trigger that.
  // The real provider keys agentsh holds for the LLM proxy never reach a command, whatever env_policy says.
  const callerEnv = { ...req.env };
  for (const name of llmSecretEnvNames(ctx.config.proxy)) delete callerEnv[name];
  const env = childEnv(session, d, callerEnv, { SHLVL: req.env.SHLVL ?? '1', ...ctx.inject, ...ctx.sandbox.networkEnv(session), AGENTSH_SESSION_ID: session.id, AGENTSH_GOVERNED_FD: '3' });
  if ('error' in env) {
    note({ ...base, type: 'command_refused', rule: 'env_policy', message: env.error, fields: { command: text } });
    return refuse(`agentsh: command refused: ${env.error}\n`);
  }

  const started = Date.now();
  const timeouts = [req.timeoutMs, session.commandTimeoutMs].filter((t): t is number => typeof t === 'number' && t > 0);
  let running: Running;
  let resources: CommandResources | null = null;
  try {
    const trash = ctx.sandbox.interceptsExec ? sessionTrash(ctx, session) : null;
    resources = ctx.launcher ? (ctx.sandbox.resourcesFor(session, ctx.config, req.uid)?.prepare(commandId) ?? null) : null;
    const plan = ctx.launcher
      ? ctx.sandbox.planFor(session, { cwd: req.cwd, ...(req.uid !== undefined ? { uid: req.uid } : {}), ...(req.gid !== undefined ? { gid: req.gid } : {}), trashDir: trash?.dir ?? null, ...(resources ? { extra: resources.planPart } : {}) })
      : null;
    const interceptor = plan?.plan.notify?.length ? new CommandInterceptor(ctx, session, commandId, verdict.invocation !== null, trash, approved) : null;
    running = launch(
      {
        launcher: ctx.launcher,
        plan,
        interceptor,
        file: req.file,
        argv: req.argv,
        cwd: req.cwd,
        env: env.env,
        // With namespaces the launcher needs its privileges to build the sandbox; the plan
        // switches to the caller's uid/gid itself, after the mounts.
        ...(req.uid !== undefined && !plan?.plan.unshare?.length ? { uid: req.uid } : {}),
        ...(req.gid !== undefined && !plan?.plan.unshare?.length ? { gid: req.gid } : {}),
        ...(req.stdinScript ? { stdinScript: req.stdinScript } : {}),
        timeoutMs: timeouts.length ? Math.min(...timeouts) : null,
        filters: { stdout: ctx.outputFilter(), stderr: ctx.outputFilter() },
      },
      io,
    );
  } catch (err) {
    void resources?.release();
    return refuse(`agentsh: could not start ${req.file}: ${(err as Error).message}\n`);
  }
  count('allowed');
  if (resources) {
    const r = resources;
    void running.done.finally(() => r.release()).catch(() => {});
  }
  session.running.add(running.pid);
  note({ ...base, type: 'command_started', fields: { pid: running.pid, command: text, cwd: req.cwd } });
  const policyAudit = session.engine.policy.doc.audit ?? {};
  const status = running.done.then(
    (r) => {
      session.running.delete(running.pid);
      note({
        ...base,
        type: 'command_finished',
        fields: {
          pid: running.pid,
          exit_code: r.status,
          timed_out: r.timedOut,
          ...(r.supervisorKilled ? { supervisor_killed: r.supervisorKilled } : {}),
          duration_ms: Date.now() - started,
          stdout_bytes: r.stdoutBytes,
          stderr_bytes: r.stderrBytes,
          ...(policyAudit.include_stdout ? { stdout: r.excerpt.stdout } : {}),
          ...(policyAudit.include_stderr ? { stderr: r.excerpt.stderr } : {}),
        },
      });
      if (r.timedOut) io.stderr(Buffer.from(`agentsh: command timed out and was killed\n`));
      const auditFailure = r.status > 128 ? ctx.audit.failure?.() : null;
      if (auditFailure) io.stderr(Buffer.from(`agentsh: the command was ended: the audit log failed (${auditFailure})\n`));
      if (r.supervisorKilled) io.stderr(Buffer.from(`agentsh: the command's sandbox supervisor was killed (${r.supervisorKilled}): the command was ended with it\n`));
      return r.status;
    },
    (err: Error) => {
      session.running.delete(running.pid);
      note({ ...base, type: 'command_failed', message: err.message });
      io.stderr(Buffer.from(`agentsh: could not start ${req.file}: ${err.message}\n`));
      return EXIT_DENIED;
    },
  );
  return { commandId, decision: summary, running, status };
  }
}

/** The approve rules a command's pre-check matched: the whole command line's and each simple command's. */
function approvedRules(d: PolicyDecision | ShellDecision): Set<string> {
  const rules = new Set([d.rule]);
  if ('commands' in d) for (const c of d.commands) if (c.decision.decision === 'approve') rules.add(c.decision.rule);
  return rules;
}

/**
 * The command while it waits for approval: stdin is kept (bounded) until the real process
 * exists; signals before that have nothing to reach. Resolves like the real one.
 */
class HeldRunning implements Running {
  pid = 0;
  private real: Running | null = null;
  private readonly stdin: Buffer[] = [];
  private stdinBytes = 0;
  private ended = false;
  /** A signal that ends a process arrived before there was one: the command must not start. */
  cancelled = false;
  private settle!: (r: Awaited<Running['done']>) => void;
  readonly done: Running['done'] = new Promise((resolve) => (this.settle = resolve));

  attach(r: Running): void {
    this.real = r;
    this.pid = r.pid;
    for (const c of this.stdin) r.writeStdin(c);
    this.stdin.length = 0;
    if (this.ended) r.endStdin();
    void r.done.then(this.settle, () => this.refuse());
  }

  refuse(): void {
    this.settle({ status: EXIT_DENIED, timedOut: false, stdoutBytes: 0, stderrBytes: 0, excerpt: { stdout: '', stderr: '' } });
  }

  writeStdin(chunk: Buffer): void {
    if (this.real) return this.real.writeStdin(chunk);
    // A held command's stdin waits in memory: bounded like a stdin script.
    if (this.stdinBytes + chunk.length > HELD_STDIN_MAX) return;
    this.stdinBytes += chunk.length;
    this.stdin.push(chunk);
  }

  endStdin(): void {
    if (this.real) this.real.endStdin();
    else this.ended = true;
  }

  signal(sig: NodeJS.Signals | number): void {
    if (this.real) return this.real.signal(sig);
    if (FATAL_SIGNALS.has(sig)) this.cancelled = true;
  }

  resume(): void {
    this.real?.resume();
  }
}

const HELD_STDIN_MAX = 16 << 20;
const FATAL_SIGNALS = new Set<NodeJS.Signals | number>(['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGKILL', 'SIGTERM', 1, 2, 3, 9, 15]);

/** The rule named when a command is refused because its decision cannot be recorded. */
export const AUDIT_UNAVAILABLE = 'audit-unavailable';

function auditRefusal(err: Error): string {
  return `agentsh: command refused: its decision cannot be recorded in the audit log (${err.message})\n`;
}
