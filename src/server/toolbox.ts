// The toolbox's exec, as Daytona's sandbox toolbox does it: `/bin/bash -c COMMAND` as the
// sandbox user, with the image's environment. /bin/bash is the shell shim in a sandbox
// image, so the command comes back to this server through the user's shim socket and is
// governed there like any other; this module only starts the shell and collects its output.
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { lookupUser, type PasswdEntry } from './users.js';

export interface ToolboxExecRequest {
  command: string;
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface ToolboxExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved in arrival order. */
  output: string;
  timedOut?: boolean;
}

export const TOOLBOX_SHELL = '/bin/bash';
export const TOOLBOX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const KILL_GRACE_MS = 1000;
const DRAIN_AFTER_EXIT_MS = 500;

/** The toolbox's user: AGENTSH_TOOLBOX_USER (name or uid) in the server's /etc/passwd, default daytona. */
export function toolboxUser(env: NodeJS.ProcessEnv = process.env): PasswdEntry {
  return lookupUser(env.AGENTSH_TOOLBOX_USER || 'daytona');
}

/**
 * The caller's variables may not steer the shim (AGENTSH_SHIM_FORCE=0 would run the real shell
 * ungoverned; AGENTSH_RUN_DIR/AGENTSH_BIN would point it elsewhere): AGENTSH_* and BASH_ENV
 * from the request are refused.
 */
export function forbiddenToolboxVars(extra: Record<string, string> = {}): string[] {
  return Object.keys(extra).filter((k) => k.startsWith('AGENTSH_') || k === 'BASH_ENV' || k === 'LD_PRELOAD' || k === 'LD_LIBRARY_PATH');
}

export function toolboxEnv(user: PasswdEntry, extra: Record<string, string> = {}): Record<string, string> {
  const bad = forbiddenToolboxVars(extra);
  if (bad.length) throw new ToolboxEnvError(`the toolbox does not accept ${bad.join(', ')} from the caller: they steer the governance layer`);
  return {
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    SHELL: TOOLBOX_SHELL,
    PATH: TOOLBOX_PATH,
    AGENTSH_SHIM_FORCE: '1', // as the seed image's Dockerfile: the shim governs even without a TTY
    LANG: 'C.UTF-8',
    ...extra,
  };
}

export function toolboxExec(req: ToolboxExecRequest, user: PasswdEntry = toolboxUser()): Promise<ToolboxExecResult> {
  const own = process.getuid?.() ?? 0;
  if (own !== 0 && own !== user.uid) throw new Error(`the server runs as uid ${own} and cannot run commands as ${user.name} (uid ${user.uid})`);
  const child = spawn(TOOLBOX_SHELL, ['-c', req.command], {
    cwd: req.cwd ?? user.home,
    env: toolboxEnv(user, req.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: a timeout reaches everything it started
    ...(own === 0 && (user.uid !== own || user.gid !== (process.getgid?.() ?? 0)) ? { uid: user.uid, gid: user.gid } : {}),
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const all: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => (out.push(c), all.push(c)));
  child.stderr.on('data', (c: Buffer) => (err.push(c), all.push(c)));
  let timedOut = false;
  const group = (sig: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };
  let killTimer: NodeJS.Timeout | undefined;
  const timer = req.timeoutMs && req.timeoutMs > 0
    ? setTimeout(() => {
        timedOut = true;
        group('SIGTERM');
        killTimer = setTimeout(() => group('SIGKILL'), KILL_GRACE_MS);
      }, req.timeoutMs)
    : undefined;
  const streams = Promise.all([child.stdout, child.stderr].map((s) => new Promise<void>((r) => (s.on('close', r), s.on('error', () => r())))));
  return new Promise((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      // Output still flowing from background children that hold the pipes is relayed for a moment, not awaited forever.
      void Promise.race([streams, new Promise((r) => setTimeout(r, DRAIN_AFTER_EXIT_MS))]).then(() => {
        for (const s of [child.stdout, child.stderr]) s.removeAllListeners('data').destroy();
        clearTimeout(timer);
        clearTimeout(killTimer);
        if (timedOut) group('SIGKILL');
        const exitCode = timedOut ? 124 : code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0);
        resolve({
          exitCode,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          output: Buffer.concat(all).toString('utf8'),
          ...(timedOut ? { timedOut } : {}),
        });
      });
    });
  });
}

export class ToolboxEnvError extends Error {}
