// The Daytona provider: a Daytona sandbox created from a snapshot of this repository's image
// (Dockerfile, docs/deploy-daytona.md), behind the same interface as the local provider.
//
// - The client is Daytona's own SDK, `@daytonaio/sdk`, loaded only when this provider is
//   used: it is not a dependency of agentsh (its tree is ~100 MB: AWS S3 client,
//   OpenTelemetry, socket.io). `npm install @daytonaio/sdk` beside agentsh, or install it
//   into any prefix and set AGENTSH_DAYTONA_SDK=PREFIX.
// - Settings: DAYTONA_API_KEY (required), DAYTONA_API_URL, DAYTONA_TARGET, as Daytona's SDK
//   reads them; the snapshot defaults to `agentsh-sandbox` (the seed's name).
// - exec goes through the toolbox's command execution (`process.executeCommand`). Daytona's
//   daemon has run it two ways: current versions feed the command on stdin to the sandbox's
//   shell (zsh when /etc/shells lists it, else bash, else sh); older ones split it into
//   words and exec'd the first one directly, with no shell. The provider asks once per
//   sandbox (`echo …$0`): with a shell, the command is sent as is — that shell is the shim
//   (over zsh, bash and sh), so it is governed like any agent command, at depth 0, in the
//   shell's own syntax; without one, it is sent as `/bin/bash -c '<command>'` (quoted so
//   the daemon's word splitter and a shell agree), so that it still meets the shim.
//   The toolbox returns stdout and stderr as one text: `stdout` and `output` carry it.
// - create waits until a governed command succeeds: the first one starts the agentsh server
//   if the image's CMD has not (the shim's first-use start), and a command that is not
//   governed (a sandbox from another image) is refused rather than trusted.
// - The audit log and files are read with the toolbox's file API (the Daytona daemon, not
//   the agent's shell).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SandboxError, type CreateOptions, type CreateTimings, type ExecOptions, type ExecResult, type SandboxProvider, type SandboxSummary } from './types.js';

export const DEFAULT_SNAPSHOT = 'agentsh-sandbox';
export const SANDBOX_USER = 'daytona';
/** Where the image's seed config keeps the audit log (/etc/agentsh/config.yaml: audit.storage.sqlite_path's directory). */
export const AUDIT_LOG_IN_IMAGE = '/var/lib/agentsh/events.jsonl';
/** Sandboxes this provider creates carry this label; `list` shows only those. */
export const LABEL = 'agentsh';
const SDK_PACKAGE = '@daytonaio/sdk';
const READY_MARK = 'agentsh-session=';

// ------------------------------------------------------------------ the SDK, as used

/**
 * The part of @daytonaio/sdk this provider uses. test/provider-daytona.test.ts checks that
 * the real SDK's types satisfy it (when the SDK is installed) and runs the provider through
 * the real SDK against a local stand-in of the Daytona API and toolbox.
 */
export interface DaytonaSdkModule {
  Daytona: new (config?: DaytonaClientConfig) => DaytonaClient;
}

export interface DaytonaClientConfig {
  apiKey?: string;
  apiUrl?: string;
  target?: string;
  /** Poll sandbox states instead of holding a socket.io connection open. */
  useDeprecatedPolling?: boolean;
}

export interface DaytonaCreateParams {
  snapshot?: string;
  user?: string;
  labels?: Record<string, string>;
  envVars?: Record<string, string>;
}

export interface DaytonaClient {
  create(params?: DaytonaCreateParams, options?: { timeout?: number }): Promise<DaytonaSdkSandbox>;
  get(sandboxIdOrName: string): Promise<DaytonaSdkSandbox>;
  list(query?: { labels?: Record<string, string> }): AsyncIterable<DaytonaSdkSandbox>;
  delete(sandbox: DaytonaSdkSandbox, timeout?: number): Promise<void>;
}

export interface DaytonaSdkSandbox {
  id: string;
  state?: string;
  createdAt?: string;
  snapshot?: string;
  user?: string;
  process: {
    executeCommand(command: string, cwd?: string, env?: Record<string, string>, timeout?: number): Promise<{ exitCode: number; result: string }>;
  };
  fs: {
    downloadFile(remotePath: string, timeout?: number): Promise<Buffer>;
    getFileDetails(path: string): Promise<unknown>;
  };
}

export interface DaytonaProviderOptions {
  /** Default DAYTONA_API_KEY. */
  apiKey?: string;
  /** Default DAYTONA_API_URL (the SDK's own default otherwise: Daytona's cloud). */
  apiUrl?: string;
  /** Default DAYTONA_TARGET. */
  target?: string;
  /** The SDK module to use instead of importing @daytonaio/sdk (tests). */
  sdk?: DaytonaSdkModule;
  /** How often to try a governed command while waiting for the server (default 500 ms). */
  readyPollMs?: number;
}

export interface DaytonaSandboxInfo extends SandboxSummary {
  provider: 'daytona';
  snapshot?: string;
  user?: string;
}

/** '…' quoting for a POSIX shell. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Quoting that Daytona's old word splitter (quotes group, no escapes) and a POSIX shell
 * read the same way: runs without `'` in '…', each `'` as "'".
 */
export function toolboxQuote(s: string): string {
  return s.split("'").map((part) => `'${part}'`).join(`"'"`);
}

/** How the toolbox's command execution runs a command string. */
export type ToolboxMode = 'shell' | 'exec';

/** What the toolbox is asked to run for `command`: as is for a shell, else bash through the shim. */
export function toolboxCommand(command: string, mode: ToolboxMode = 'exec'): string {
  return mode === 'shell' ? command : `/bin/bash -c ${toolboxQuote(command)}`;
}

/** The old daemon's word splitter (apps/daemon …/execute.go parseCommand), for tests. */
export function daytonaSplitWords(command: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote = '';
  for (const ch of command) {
    if (ch === '"' || ch === "'") {
      if (!quote) quote = ch;
      else if (quote === ch) quote = '';
      else cur += ch;
    } else if (ch === ' ' && !quote) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

const MODE_MARK = 'agentsh-toolbox-mode:';

let sdkPromise: Promise<DaytonaSdkModule> | null = null;

/**
 * Imports @daytonaio/sdk: from agentsh's own node_modules (or any parent's), else from the
 * prefix in AGENTSH_DAYTONA_SDK (a directory with node_modules/@daytonaio/sdk).
 */
export function loadDaytonaSdk(env: NodeJS.ProcessEnv = process.env): Promise<DaytonaSdkModule> {
  sdkPromise ??= (async () => {
    const prefix = env.AGENTSH_DAYTONA_SDK;
    if (prefix) {
      const pkgDir = join(resolve(prefix), 'node_modules', ...SDK_PACKAGE.split('/'));
      const pkgFile = join(pkgDir, 'package.json');
      if (!existsSync(pkgFile)) throw new SandboxError('E_UNAVAILABLE', `AGENTSH_DAYTONA_SDK=${prefix}: no ${SDK_PACKAGE} under it (npm install --prefix ${prefix} ${SDK_PACKAGE})`);
      const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports?: { '.'?: { import?: { default?: string } } }; module?: string; main?: string };
      const entry = pkg.exports?.['.']?.import?.default ?? pkg.module ?? pkg.main ?? 'index.js';
      return (await import(pathToFileURL(join(pkgDir, entry)).href)) as DaytonaSdkModule;
    }
    try {
      // Resolved from this file: agentsh's node_modules or a parent's (an app that depends on both).
      createRequire(import.meta.url).resolve(`${SDK_PACKAGE}/package.json`);
    } catch {
      throw new SandboxError(
        'E_UNAVAILABLE',
        `install ${SDK_PACKAGE} to use the Daytona provider: \`npm install ${SDK_PACKAGE}\` in agentsh's directory (or \`npm install --prefix DIR ${SDK_PACKAGE}\` and AGENTSH_DAYTONA_SDK=DIR). It is not a dependency of agentsh: its dependency tree is about 100 MB.`,
      );
    }
    return (await import(SDK_PACKAGE)) as DaytonaSdkModule;
  })();
  sdkPromise.catch(() => (sdkPromise = null));
  return sdkPromise;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function messageOf(err: unknown): string {
  const e = err as { message?: string; response?: { status?: number; data?: unknown } };
  const status = e.response?.status ? ` (HTTP ${e.response.status})` : '';
  return `${e.message ?? String(err)}${status}`;
}

function isNotFound(err: unknown): boolean {
  const e = err as { statusCode?: number; response?: { status?: number }; message?: string; name?: string };
  return e.statusCode === 404 || e.response?.status === 404 || e.name === 'DaytonaNotFoundError' || /not found/i.test(e.message ?? '');
}

// --------------------------------------------------------------------------- provider

export class DaytonaProvider implements SandboxProvider<DaytonaSandboxInfo> {
  readonly name = 'daytona' as const;
  private client: Promise<DaytonaClient> | null = null;
  private readonly cache = new Map<string, DaytonaSdkSandbox>();
  private readonly modes = new Map<string, ToolboxMode>();

  constructor(private readonly opts: DaytonaProviderOptions = {}) {}

  /** The settings in force (options, then DAYTONA_* variables). */
  settings(env: NodeJS.ProcessEnv = process.env): { apiKey?: string; apiUrl?: string; target?: string } {
    const pick = (o: string | undefined, e: string | undefined) => (o !== undefined && o !== '' ? o : e !== undefined && e !== '' ? e : undefined);
    const apiKey = pick(this.opts.apiKey, env.DAYTONA_API_KEY);
    const apiUrl = pick(this.opts.apiUrl, env.DAYTONA_API_URL);
    const target = pick(this.opts.target, env.DAYTONA_TARGET);
    return { ...(apiKey ? { apiKey } : {}), ...(apiUrl ? { apiUrl } : {}), ...(target ? { target } : {}) };
  }

  private daytona(): Promise<DaytonaClient> {
    this.client ??= (async () => {
      const s = this.settings();
      if (!s.apiKey) throw new SandboxError('E_INVALID', 'the Daytona provider needs DAYTONA_API_KEY (and DAYTONA_API_URL, DAYTONA_TARGET where not the defaults)');
      const sdk = this.opts.sdk ?? (await loadDaytonaSdk());
      return new sdk.Daytona({ ...s, useDeprecatedPolling: true });
    })();
    this.client.catch(() => (this.client = null));
    return this.client;
  }

  private async sandbox(id: string): Promise<DaytonaSdkSandbox> {
    const hit = this.cache.get(id);
    if (hit) return hit;
    const d = await this.daytona();
    try {
      const sb = await d.get(id);
      this.cache.set(id, sb);
      return sb;
    } catch (err) {
      if (isNotFound(err)) throw new SandboxError('E_NOT_FOUND', `no Daytona sandbox '${id}'`);
      throw new SandboxError('E_UNAVAILABLE', `Daytona: cannot get sandbox ${id}: ${messageOf(err)}`);
    }
  }

  private info(sb: DaytonaSdkSandbox): DaytonaSandboxInfo {
    return {
      id: sb.id,
      provider: 'daytona',
      createdAt: sb.createdAt ?? '',
      state: sb.state ?? 'unknown',
      ...(sb.snapshot ? { snapshot: sb.snapshot } : {}),
      ...(sb.user ? { user: sb.user } : {}),
    };
  }

  async create(opts: CreateOptions = {}): Promise<{ info: DaytonaSandboxInfo; timings: CreateTimings }> {
    if (opts.config || opts.policy) throw new SandboxError('E_INVALID', 'a Daytona sandbox takes its config and policy from its snapshot (/etc/agentsh in the image); --config/--policy apply to the local provider');
    const t0 = performance.now();
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const d = await this.daytona();
    let sb: DaytonaSdkSandbox;
    try {
      sb = await d.create({ snapshot: opts.snapshot ?? DEFAULT_SNAPSHOT, user: SANDBOX_USER, labels: { [LABEL]: '1' } }, { timeout: Math.ceil(timeoutMs / 1000) });
    } catch (err) {
      throw new SandboxError('E_START', `Daytona: cannot create a sandbox from snapshot '${opts.snapshot ?? DEFAULT_SNAPSHOT}': ${messageOf(err)}`);
    }
    this.cache.set(sb.id, sb);
    const tStarted = performance.now();
    try {
      await this.waitGoverned(sb, t0 + timeoutMs);
    } catch (err) {
      await d.delete(sb).catch(() => {});
      this.cache.delete(sb.id);
      throw err;
    }
    const tReady = performance.now();
    return { info: this.info(sb), timings: { prepareMs: 0, launcherMs: tStarted - t0, serverMs: tReady - tStarted, totalMs: tReady - t0 } };
  }

  /** Whether the toolbox runs a command string with a shell (`$0` expanded) or execs its first word. */
  async toolboxMode(sb: DaytonaSdkSandbox): Promise<ToolboxMode> {
    const known = this.modes.get(sb.id);
    if (known) return known;
    const r = await sb.process.executeCommand(`echo ${MODE_MARK}$0`);
    const text = r.result ?? '';
    // Not yet known when the shell (the shim) could not reach the server: ask again later.
    if (!text.includes(MODE_MARK)) throw new Error(`exit ${r.exitCode}: ${text.trim().slice(0, 300)}`);
    const mode: ToolboxMode = text.includes(`${MODE_MARK}$0`) ? 'exec' : 'shell';
    this.modes.set(sb.id, mode);
    return mode;
  }

  /**
   * Until a command runs governed: the first one reaching the shim starts the server when
   * nothing has (exit 126 "cannot reach the agentsh server" until it listens). A command
   * that runs without an agentsh session is not governed: refused.
   */
  private async waitGoverned(sb: DaytonaSdkSandbox, deadline: number): Promise<void> {
    let last = '';
    for (;;) {
      try {
        const mode = await this.toolboxMode(sb);
        const r = await sb.process.executeCommand(toolboxCommand(`echo ${READY_MARK}\${AGENTSH_SESSION_ID:-none}`, mode));
        const m = new RegExp(`${READY_MARK}(\\S+)`).exec(r.result ?? '');
        if (r.exitCode === 0 && m && m[1] !== 'none') return;
        if (r.exitCode === 0) throw new SandboxError('E_START', `Daytona sandbox ${sb.id}: commands run without agentsh (no session: ${JSON.stringify((r.result ?? '').slice(0, 200))}); is its snapshot built from agentsh's Dockerfile?`);
        last = `exit ${r.exitCode}: ${(r.result ?? '').trim().slice(0, 300)}`;
      } catch (err) {
        if (err instanceof SandboxError) throw err;
        last = messageOf(err);
      }
      if (performance.now() > deadline) throw new SandboxError('E_START', `Daytona sandbox ${sb.id}: the agentsh server did not become ready (${last})`);
      await sleep(this.opts.readyPollMs ?? 500);
    }
  }

  async get(id: string): Promise<DaytonaSandboxInfo> {
    this.cache.delete(id); // fresh state
    return this.info(await this.sandbox(id));
  }

  async list(): Promise<DaytonaSandboxInfo[]> {
    const d = await this.daytona();
    const out: DaytonaSandboxInfo[] = [];
    try {
      for await (const sb of d.list({ labels: { [LABEL]: '1' } })) out.push(this.info(sb));
    } catch (err) {
      throw new SandboxError('E_UNAVAILABLE', `Daytona: cannot list sandboxes: ${messageOf(err)}`);
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  async exec(id: string, command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const sb = await this.sandbox(id);
    let r;
    try {
      const mode = await this.toolboxMode(sb);
      r = await sb.process.executeCommand(toolboxCommand(command, mode), opts.cwd, opts.env, opts.timeoutMs !== undefined ? Math.max(1, Math.ceil(opts.timeoutMs / 1000)) : undefined);
    } catch (err) {
      throw new SandboxError('E_EXEC', `Daytona sandbox ${id}: toolbox exec failed: ${messageOf(err)}`);
    }
    const text = r.result ?? '';
    return { exitCode: r.exitCode, stdout: text, stderr: '', output: text };
  }

  async delete(id: string): Promise<void> {
    const sb = await this.sandbox(id);
    try {
      await (await this.daytona()).delete(sb);
    } catch (err) {
      if (!isNotFound(err)) throw new SandboxError('E_STOP', `Daytona: cannot delete sandbox ${id}: ${messageOf(err)}`);
    }
    this.cache.delete(id);
  }

  async readFile(id: string, path: string): Promise<string | null> {
    const sb = await this.sandbox(id);
    try {
      return (await sb.fs.downloadFile(path)).toString('utf8');
    } catch {
      return null;
    }
  }

  async fileExists(id: string, path: string): Promise<boolean> {
    const sb = await this.sandbox(id);
    try {
      await sb.fs.getFileDetails(path);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw new SandboxError('E_UNAVAILABLE', `Daytona sandbox ${id}: cannot look at ${path}: ${messageOf(err)}`);
    }
  }

  /** The image's audit log through the toolbox's file API; null when the toolbox may not read it. */
  async auditLog(id: string): Promise<string | null> {
    return this.readFile(id, AUDIT_LOG_IN_IMAGE);
  }
}

/** For messages: where the SDK was found, if anywhere (no import). */
export function daytonaSdkLocation(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.AGENTSH_DAYTONA_SDK) {
    const p = join(resolve(env.AGENTSH_DAYTONA_SDK), 'node_modules', ...SDK_PACKAGE.split('/'));
    return existsSync(p) ? p : null;
  }
  try {
    return dirname(createRequire(import.meta.url).resolve(`${SDK_PACKAGE}/package.json`));
  } catch {
    return null;
  }
}
