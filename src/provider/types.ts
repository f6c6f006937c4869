// What every sandbox provider offers (src/provider/local.ts, src/provider/daytona.ts): a
// sandbox with an agentsh server inside, commands run the way Daytona's toolbox runs them,
// and a look at the sandbox from outside the agent's shell (its audit log, its files).
import type { ToolboxExecResult } from '../server/toolbox.js';

export const PROVIDERS = ['local', 'daytona'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export type SandboxErrorCode = 'E_NOT_FOUND' | 'E_INVALID' | 'E_START' | 'E_EXEC' | 'E_STOP' | 'E_UNAVAILABLE';

export class SandboxError extends Error {
  constructor(
    readonly code: SandboxErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface CreateTimings {
  /** Directories, layers, shim/launcher build checks, plan (local); the create request (Daytona). */
  prepareMs: number;
  /** Launcher spawned → its command exec'd (local); the sandbox reported started (Daytona). */
  launcherMs: number;
  /** → the agentsh server inside answers. */
  serverMs: number;
  totalMs: number;
}

export interface CreateOptions {
  /** Local: the config installed as the image's /etc/agentsh/config.yaml (default: the seed's). */
  config?: string;
  /** Local: the policy installed as /etc/agentsh/policies/default.yaml (default: the seed's). */
  policy?: string;
  /** Daytona: the snapshot built from this repository's image (default: agentsh-sandbox). */
  snapshot?: string;
  /** How long the server may take to answer (default 20 s local, 120 s Daytona). */
  timeoutMs?: number;
}

export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
}

export type ExecResult = ToolboxExecResult;

/** What every provider reports about a sandbox. */
export interface SandboxSummary {
  id: string;
  provider: ProviderName;
  createdAt: string;
  state: string;
}

export interface SandboxProvider<Info extends SandboxSummary = SandboxSummary> {
  readonly name: ProviderName;
  create(opts?: CreateOptions): Promise<{ info: Info; timings: CreateTimings }>;
  get(id: string): Info | Promise<Info>;
  list(): Info[] | Promise<Info[]>;
  /** `/bin/bash -c COMMAND` (local) or the toolbox's command execution (Daytona) as the sandbox user: governed by the shim. */
  exec(id: string, command: string, opts?: ExecOptions): Promise<ExecResult>;
  delete(id: string): Promise<void>;
  /** The sandbox's audit log (JSONL) read from outside the agent's shell; null when the provider cannot read it. */
  auditLog(id: string): Promise<string | null>;
  /** Whether a path exists in the sandbox, observed from outside the agent's shell. */
  fileExists(id: string, path: string): Promise<boolean>;
  /** A file's text in the sandbox, observed from outside the agent's shell; null when absent. */
  readFile(id: string, path: string): Promise<string | null>;
}
