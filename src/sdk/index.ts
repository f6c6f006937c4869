// The agentsh sandbox SDK: create a governed sandbox, run commands in it the way Daytona's
// toolbox does (`/bin/bash -c …` as the sandbox user, through the shell shim), delete it.
//
//   import { createSandbox } from 'agentsh/sdk';
//   const sb = await createSandbox();              // local, the seed's config and policy
//   const r = await sb.exec('id -un');             // { exitCode: 0, stdout: 'daytona\n', … }
//   await sb.delete();
//
//   const d = await createSandbox({ provider: 'daytona', snapshot: 'agentsh-sandbox' });
//   (DAYTONA_API_KEY, DAYTONA_API_URL, DAYTONA_TARGET; needs @daytonaio/sdk installed)
import { getProvider, type CreateTimings, type DaytonaProviderOptions, type ExecOptions, type ExecResult, type InfoOf, type ProviderName, type ProviderOf } from '../provider/index.js';

export { SandboxError } from '../provider/index.js';
export type { CreateTimings, DaytonaSandboxInfo, ExecOptions, ExecResult, ProviderName, SandboxInfo, SandboxSummary } from '../provider/index.js';

export interface ProviderOptions<P extends ProviderName = ProviderName> {
  provider?: P;
  /** Where the local provider keeps sandboxes (default: AGENTSH_SANDBOX_ROOT, /var/lib/agentsh-local/sandboxes for root, else the XDG state dir). */
  root?: string;
  /** Daytona client settings (default: DAYTONA_API_KEY, DAYTONA_API_URL, DAYTONA_TARGET). */
  daytona?: DaytonaProviderOptions;
}

export interface CreateSandboxOptions<P extends ProviderName = ProviderName> extends ProviderOptions<P> {
  /** Local: the server config the sandbox's /etc/agentsh/config.yaml is (default: the seed's). */
  config?: string;
  /** Local: the policy installed as /etc/agentsh/policies/default.yaml (default: the seed's). */
  policy?: string;
  /** Daytona: the snapshot built from this repository's image (default: agentsh-sandbox). */
  snapshot?: string;
  /** How long the sandbox's server may take to start (default 20 s local, 120 s Daytona). */
  timeoutMs?: number;
}

function providerOf<P extends ProviderName>(name: P, opts: ProviderOptions<P>): ProviderOf<P> {
  return getProvider(name, { ...(opts.root !== undefined ? { root: opts.root } : {}), ...(opts.daytona ? { daytona: opts.daytona } : {}) });
}

export class Sandbox<P extends ProviderName = 'local'> {
  /** Set on sandboxes returned by createSandbox: where the time went. */
  timings?: CreateTimings;

  constructor(
    readonly id: string,
    readonly provider: P = 'local' as P,
    private readonly root?: string,
    private readonly daytona?: DaytonaProviderOptions,
  ) {}

  private p(): ProviderOf<P> {
    return providerOf(this.provider, { ...(this.root !== undefined ? { root: this.root } : {}), ...(this.daytona ? { daytona: this.daytona } : {}) });
  }

  /** `/bin/bash -c cmd` as the sandbox user; `output` is stdout and stderr interleaved. */
  exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.p().exec(this.id, cmd, opts);
  }

  async info(): Promise<InfoOf<P>> {
    return (await this.p().get(this.id)) as InfoOf<P>;
  }

  /** The sandbox's audit log (JSONL), read from outside its shell; null when the provider cannot. */
  auditLog(): Promise<string | null> {
    return this.p().auditLog(this.id);
  }

  /** Whether a path exists inside, observed from outside the agent's shell. */
  fileExists(path: string): Promise<boolean> {
    return this.p().fileExists(this.id, path);
  }

  /** A file's text inside, observed from outside the agent's shell (null: absent). */
  readFile(path: string): Promise<string | null> {
    return this.p().readFile(this.id, path);
  }

  /** Stops the sandbox's server and removes its files (local) or the sandbox (Daytona). */
  delete(): Promise<void> {
    return this.p().delete(this.id);
  }
}

export async function createSandbox<P extends ProviderName = 'local'>(opts: CreateSandboxOptions<P> = {}): Promise<Sandbox<P>> {
  const provider = (opts.provider ?? 'local') as P;
  const { info, timings } = await providerOf(provider, opts).create({
    ...(opts.config !== undefined ? { config: opts.config } : {}),
    ...(opts.policy !== undefined ? { policy: opts.policy } : {}),
    ...(opts.snapshot !== undefined ? { snapshot: opts.snapshot } : {}),
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
  });
  const sb = new Sandbox<P>(info.id, provider, opts.root, opts.daytona);
  sb.timings = timings;
  return sb;
}

/** The sandbox with this id (throws SandboxError E_NOT_FOUND). */
export async function getSandbox<P extends ProviderName = 'local'>(id: string, opts: ProviderOptions<P> = {}): Promise<Sandbox<P>> {
  const provider = (opts.provider ?? 'local') as P;
  const info = await providerOf(provider, opts).get(id);
  return new Sandbox<P>(info.id, provider, opts.root, opts.daytona);
}

export async function listSandboxes<P extends ProviderName = 'local'>(opts: ProviderOptions<P> = {}): Promise<Array<InfoOf<P>>> {
  return (await providerOf((opts.provider ?? 'local') as P, opts).list()) as Array<InfoOf<P>>;
}
