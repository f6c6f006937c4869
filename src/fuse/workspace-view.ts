// The server's side of the FUSE workspace backend: whether it can run here, whether the config
// asks for it, and one daemon (src/fuse/daemon.ts) per session that mounts the policed view of
// the workspace at a mountpoint in the server's hidden run area. The launcher then binds that
// mountpoint over the workspace's real path in each command's mount namespace
// ({kind:'bind', path: workspace, source: mountpoint, mode:'rw'}).
//
// The server never touches the mount itself: every lookup through it is answered by the
// daemon's event loop, and a server blocked on one while the daemon waits for the server (its
// stdout is a pipe the server reads) would hang both. Mount bookkeeping reads
// /proc/self/mountinfo, which does not look anything up.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { DaemonConfig, DaemonLine, FuseAuditEvent, FuseAuditMode } from './daemon.js';

export type { FuseAuditEvent, FuseAuditMode } from './daemon.js';

/** One soft delete done by the daemon: feed it to TrashTarget.recorded(token, path, rule, parentMtimeNs). */
export interface FuseTrashed {
  token: string;
  /** The real path the file was deleted from (as interception.ts records it). */
  path: string;
  rule: string;
  parentMtimeNs?: string;
}

export interface WorkspaceViewOptions {
  /** The session workspace (absolute; its real path is what is served). */
  workspace: string;
  /** An empty directory in the server's hidden run/sessions area (created if missing). */
  mountpoint: string;
  policyFile: string;
  /** The session's policy variables (session.engine.policy.vars). */
  vars: Record<string, string>;
  /** The session's trash directory (TrashTarget.dir), or null: soft deletes are then refused. */
  trashDir: string | null;
  /** A denial, an audit decision, an allowed write/create/delete (rate-bounded), a refused soft delete. */
  onAudit(e: FuseAuditEvent): void;
  /** A file moved to the trash: record it (TrashTarget.recorded) and emit file_soft_deleted. */
  onTrashed(t: FuseTrashed): void;
  /** sandbox.fuse.audit.mode (default monitor). */
  auditMode?: FuseAuditMode;
  /** sandbox.fuse.audit.enabled: report allowed writes/creates/deletes (default true). */
  auditEvents?: boolean;
  /** approvals.when_unavailable: how `approve` file rules resolve (the view has no approver; default deny). */
  whenUnavailable?: 'deny' | 'allow';
  /** Owner of files created through the view; default: the owner of their directory. */
  owner?: { uid: number; gid: number } | null;
  /** How long the mount may take (default 15 s). */
  readyTimeoutMs?: number;
  /** A problem the daemon reported after it was ready (an unexpected error in one operation). */
  onError?(message: string): void;
  /** The daemon ended without stop(): the view now answers ENOTCONN (fail closed); stop() cleans up. */
  onExit?(code: number | null, signal: NodeJS.Signals | null): void;
}

export interface WorkspaceView {
  mountpoint: string;
  /** The daemon's pid. */
  pid: number;
  /** Unmounts and ends the daemon (SIGTERM, then SIGKILL); detaches a dead mount left behind. */
  stop(): Promise<void>;
  /** Mounted and the daemon running: commands may be started on the view. */
  alive(): boolean;
}

const DAEMON = fileURLToPath(new URL('./daemon.js', import.meta.url));

export async function startWorkspaceView(opts: WorkspaceViewOptions): Promise<WorkspaceView> {
  if (!isAbsolute(opts.workspace) || !statSync(opts.workspace).isDirectory()) throw new Error(`workspace ${opts.workspace} is not an absolute directory`);
  if (!isAbsolute(opts.mountpoint)) throw new Error(`mountpoint ${opts.mountpoint} must be absolute`);
  const source = realpathSync(opts.workspace);
  // Mode 000: a bind of this directory while nothing is mounted on it (the daemon unmounted
  // after a crash, a launcher that did not check alive()) gives an unprivileged command an
  // unusable directory instead of an empty, writable workspace. Mounted, the view's root
  // shows the workspace's own mode.
  mkdirSync(opts.mountpoint, { recursive: true, mode: 0o700 });
  // The mountpoint's own name, without looking it up (a dead mount there answers ENOTCONN).
  const mp = join(realpathSync(dirname(opts.mountpoint)), basename(opts.mountpoint));
  if (isMounted(mp)) await detach(mp);
  if (isMounted(mp)) throw new Error(`${mp} is still a mount point (a previous view could not be detached)`);
  chmodSync(mp, 0o000);

  const cfg: DaemonConfig = {
    source,
    mountpoint: mp,
    workspace: opts.workspace,
    policyFile: opts.policyFile,
    vars: opts.vars,
    trashDir: opts.trashDir,
    auditMode: opts.auditMode ?? 'monitor',
    auditAllowed: opts.auditEvents ?? true,
    whenUnavailable: opts.whenUnavailable ?? 'deny',
    owner: opts.owner ?? null,
  };
  const child = spawn(process.execPath, [DAEMON], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
  });
  // The config travels on stdin (not argv: /proc/PID/cmdline is readable by every local user);
  // stdin then stays open, and its EOF tells the daemon the server is gone.
  child.stdin!.on('error', () => {});
  child.stdin!.write(`${JSON.stringify(cfg)}\n`);
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('utf8')).slice(-4096);
  });

  let ready = false;
  let stopping = false;
  let exited = false;
  const exit = new Promise<void>((res) =>
    child.once('exit', (code, signal) => {
      exited = true;
      if (ready && !stopping) opts.onExit?.(code, signal);
      res();
    }),
  );
  let failStart: ((e: Error) => void) | null = null;
  let resolveStart: (() => void) | null = null;
  const started = new Promise<void>((res, rej) => {
    resolveStart = res;
    failStart = rej;
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: DaemonLine;
    try {
      line = JSON.parse(text) as DaemonLine;
    } catch {
      opts.onError?.(`fuse daemon: unparseable line ${JSON.stringify(text.slice(0, 200))}`);
      return;
    }
    switch (line.t) {
      case 'ready':
        ready = true;
        resolveStart?.();
        break;
      case 'audit':
        opts.onAudit(line.event);
        break;
      case 'trashed':
        opts.onTrashed({ token: line.token, path: line.path, rule: line.rule, ...(line.parentMtimeNs !== undefined ? { parentMtimeNs: line.parentMtimeNs } : {}) });
        break;
      case 'error':
        if (!ready) failStart?.(new Error(`fuse daemon: ${line.message}`));
        else opts.onError?.(line.message);
        break;
    }
  });
  void exit.then(() => failStart?.(new Error(`fuse daemon exited before the mount was ready${stderr ? `: ${stderr.trim().slice(-1000)}` : ''}`)));

  const waitExit = (ms: number) => Promise.race([exit.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
  const stop = async (): Promise<void> => {
    stopping = true;
    if (!exited) {
      child.kill('SIGTERM');
      child.stdin!.end();
      if (!(await waitExit(5000))) {
        child.kill('SIGKILL');
        await waitExit(5000);
      }
    }
    // A daemon that died (or was killed) leaves a dead mount: detach it.
    if (isMounted(mp)) await detach(mp);
  };

  const timeoutMs = opts.readyTimeoutMs ?? 15_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      started,
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`the FUSE view of ${opts.workspace} was not mounted within ${timeoutMs} ms${stderr ? `: ${stderr.trim().slice(-1000)}` : ''}`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    await stop();
    throw e;
  } finally {
    clearTimeout(timer);
    failStart = null;
  }
  return {
    mountpoint: mp,
    pid: child.pid!,
    stop,
    alive: () => ready && !exited && !stopping && isMounted(mp),
  };
}

/** Whether `path` (no symlinks) is a mount point in this process's mount namespace. */
export function isMounted(path: string): boolean {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return false;
  }
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f[4] !== undefined && unescapeMountinfo(f[4]) === path) return true;
  }
  return false;
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Lazy unmount (MNT_DETACH), asynchronously: umount may look the path up. */
async function detach(path: string): Promise<void> {
  for (const [cmd, args] of [['umount', ['-l', path]], ['fusermount', ['-uz', path]]] as const) {
    await new Promise<void>((res) => {
      const p: ChildProcess = spawn(cmd, [...args], { stdio: 'ignore' });
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      p.on('error', () => res());
      p.on('close', () => {
        clearTimeout(t);
        res();
      });
    });
    if (!isMounted(path)) return;
  }
}

/**
 * Whether the FUSE backend can run in this process: fuse-native loads (it needs Debian's
 * libfuse.so.2), /dev/fuse opens, and we are root — an unprivileged mount goes through the
 * setuid fusermount helper, which no_new_privs (set in every agentsh sandbox, and in
 * containers run with no-new-privileges) makes useless.
 */
export function fuseAvailable(): { ok: boolean; reason?: string } {
  if (process.getuid?.() !== 0) {
    return { ok: false, reason: 'not running as root: an unprivileged FUSE mount needs the setuid fusermount helper, which no_new_privs blocks' };
  }
  try {
    const fd = openSync('/dev/fuse', 'r+');
    closeSync(fd);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' ? '/dev/fuse does not exist' : `/dev/fuse cannot be opened (${code ?? (e as Error).message})` };
  }
  try {
    createRequire(import.meta.url)('fuse-native');
  } catch (e) {
    return { ok: false, reason: `fuse-native does not load (libfuse2 missing?): ${(e as Error).message.split('\n')[0]}` };
  }
  return { ok: true };
}

type FuseConfig = {
  sandbox: { fuse: { enabled?: boolean; deferred?: boolean; deferred_marker_file?: string; audit?: { enabled?: boolean; mode?: string } } };
  approvals?: { when_unavailable?: string };
};

/** What the marker of a deferred mount is when the config names none: the device itself. */
export const DEFAULT_DEFERRED_MARKER = '/dev/fuse';

/**
 * sandbox.fuse as agentsh reads it: 'off' (not enabled), 'deferred-waiting' (deferred: the
 * marker file — deferred_marker_file, else /dev/fuse — does not exist yet; ask again before
 * each session), 'ready' (mount when a session needs it; fuseAvailable() says whether it can).
 * deferred_enable_command is not run here.
 */
export function fuseConfigState(config: FuseConfig): 'off' | 'deferred-waiting' | 'ready' {
  const f = config.sandbox.fuse;
  if (!f.enabled) return 'off';
  if (f.deferred && !existsSync(f.deferred_marker_file || DEFAULT_DEFERRED_MARKER)) return 'deferred-waiting';
  return 'ready';
}

/** The view options that come from the config (audit mode, allowed-operation events, approve rules). */
export function fuseViewSettings(config: FuseConfig): Pick<WorkspaceViewOptions, 'auditMode' | 'auditEvents' | 'whenUnavailable'> {
  const mode = config.sandbox.fuse.audit?.mode;
  return {
    auditMode: mode === 'soft_block' || mode === 'soft_delete' || mode === 'strict' ? mode : 'monitor',
    auditEvents: config.sandbox.fuse.audit?.enabled ?? true,
    whenUnavailable: config.approvals?.when_unavailable === 'allow' ? 'allow' : 'deny',
  };
}
