// Sandbox providers: where a sandbox with an agentsh server inside comes from. Only the
// local provider exists (no container engine, no cloud account); Daytona and others will
// implement the same operations.
import { LocalProvider, SandboxError } from './local.js';

export const PROVIDERS = ['local'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export function getProvider(name: string = 'local', opts: { root?: string } = {}): LocalProvider {
  if (name !== 'local') throw new SandboxError('E_INVALID', `unknown sandbox provider '${name}' (available: ${PROVIDERS.join(', ')})`);
  return new LocalProvider(opts);
}

export { LocalProvider, SandboxError, defaultSandboxRoot } from './local.js';
export type { CreateOptions, CreateTimings, ExecOptions, ExecResult, SandboxErrorCode, SandboxInfo, SandboxRecord } from './local.js';
