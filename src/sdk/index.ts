// The agentsh sandbox SDK: create a governed sandbox, run commands in it the way Daytona's
// toolbox does (`/bin/bash -c …` as the sandbox user, through the shell shim), delete it.
//
//   import { createSandbox } from 'agentsh/sdk';
//   const sb = await createSandbox();              // the seed's config and policy
//   const r = await sb.exec('id -un');             // { exitCode: 0, stdout: 'daytona\n', … }
//   await sb.delete();
import { getProvider, type CreateTimings, type ExecOptions, type ExecResult, type ProviderName, type SandboxInfo } from '../provider/index.js';

export { SandboxError } from '../provider/index.js';
export type { CreateTimings, ExecOptions, ExecResult, ProviderName, SandboxInfo } from '../provider/index.js';

export interface ProviderOptions {
  provider?: ProviderName;
  /** Where the local provider keeps sandboxes (default: AGENTSH_SANDBOX_ROOT, /var/lib/agentsh-local/sandboxes for root, else the XDG state dir). */
  root?: string;
}

export interface CreateSandboxOptions extends ProviderOptions {
  /** The server config the sandbox's /etc/agentsh/config.yaml is (default: the seed's). */
  config?: string;
  /** The policy installed as /etc/agentsh/policies/default.yaml (default: the seed's). */
  policy?: string;
  /** How long the sandbox's server may take to start (default 20 s). */
  timeoutMs?: number;
}

export class Sandbox {
  /** Set on sandboxes returned by createSandbox: where the time went. */
  timings?: CreateTimings;

  constructor(
    readonly id: string,
    readonly provider: ProviderName = 'local',
    private readonly root?: string,
  ) {}

  private p() {
    return getProvider(this.provider, this.root !== undefined ? { root: this.root } : {});
  }

  /** `/bin/bash -c cmd` as the sandbox user; `output` is stdout and stderr interleaved. */
  exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.p().exec(this.id, cmd, opts);
  }

  async info(): Promise<SandboxInfo> {
    return this.p().get(this.id);
  }

  /** Stops the sandbox's server and removes its files. */
  delete(): Promise<void> {
    return this.p().delete(this.id);
  }
}

export async function createSandbox(opts: CreateSandboxOptions = {}): Promise<Sandbox> {
  const provider = opts.provider ?? 'local';
  const { info, timings } = await getProvider(provider, opts.root !== undefined ? { root: opts.root } : {}).create({
    ...(opts.config !== undefined ? { config: opts.config } : {}),
    ...(opts.policy !== undefined ? { policy: opts.policy } : {}),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
  });
  const sb = new Sandbox(info.id, provider, opts.root);
  sb.timings = timings;
  return sb;
}

/** The sandbox with this id (throws SandboxError E_NOT_FOUND). */
export async function getSandbox(id: string, opts: ProviderOptions = {}): Promise<Sandbox> {
  const provider = opts.provider ?? 'local';
  const info = getProvider(provider, opts.root !== undefined ? { root: opts.root } : {}).get(id);
  return new Sandbox(info.id, provider, opts.root);
}

export async function listSandboxes(opts: ProviderOptions = {}): Promise<SandboxInfo[]> {
  return getProvider(opts.provider ?? 'local', opts.root !== undefined ? { root: opts.root } : {}).list();
}
