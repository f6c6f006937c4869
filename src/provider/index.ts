// Sandbox providers: where a sandbox with an agentsh server inside comes from. `local` (this
// machine, no container engine, src/provider/local.ts) and `daytona` (a Daytona sandbox from
// this repository's image, src/provider/daytona.ts; needs @daytonaio/sdk and an account).
import { DaytonaProvider, type DaytonaProviderOptions, type DaytonaSandboxInfo } from './daytona.js';
import { LocalProvider, type SandboxInfo } from './local.js';
import { PROVIDERS, SandboxError, type ProviderName } from './types.js';

export interface ProviderOptions {
  /** Local: where sandboxes live (default: AGENTSH_SANDBOX_ROOT, …). */
  root?: string;
  /** Daytona: client settings (default: DAYTONA_API_KEY, DAYTONA_API_URL, DAYTONA_TARGET). */
  daytona?: DaytonaProviderOptions;
}

export type InfoOf<P extends ProviderName> = P extends 'daytona' ? DaytonaSandboxInfo : SandboxInfo;
export type ProviderOf<P extends ProviderName> = P extends 'daytona' ? DaytonaProvider : LocalProvider;

export function isProviderName(name: string): name is ProviderName {
  return (PROVIDERS as readonly string[]).includes(name);
}

export function getProvider<P extends ProviderName = 'local'>(name: P = 'local' as P, opts: ProviderOptions = {}): ProviderOf<P> {
  if (name === 'local') return new LocalProvider(opts.root !== undefined ? { root: opts.root } : {}) as ProviderOf<P>;
  if (name === 'daytona') return new DaytonaProvider(opts.daytona ?? {}) as ProviderOf<P>;
  throw new SandboxError('E_INVALID', `unknown sandbox provider '${String(name)}' (available: ${PROVIDERS.join(', ')})`);
}

export { LocalProvider, defaultSandboxRoot } from './local.js';
export { DaytonaProvider } from './daytona.js';
export { PROVIDERS, SandboxError } from './types.js';
export type { SandboxInfo, SandboxRecord } from './local.js';
export type { DaytonaProviderOptions, DaytonaSandboxInfo } from './daytona.js';
export type { CreateOptions, CreateTimings, ExecOptions, ExecResult, ProviderName, SandboxErrorCode, SandboxProvider, SandboxSummary } from './types.js';
