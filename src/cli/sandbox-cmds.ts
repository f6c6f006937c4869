// `agentsh sandbox create|exec|list|delete`: thin wiring over the SDK (src/sdk), for the
// local provider and Daytona's (--provider daytona: DAYTONA_API_KEY …, @daytonaio/sdk).
import type { Command } from 'commander';
import { isProviderName, PROVIDERS, type ProviderName } from '../provider/index.js';
import { createSandbox, getSandbox, listSandboxes, SandboxError } from '../sdk/index.js';
import { parseDuration } from '../util/duration.js';
import { CliError, EXIT, writeJson } from './output.js';

type Act = (body: () => Promise<number> | number) => () => Promise<void>;

const collect = (v: string, prev: string[]) => [...prev, v];

function provider(name: string): ProviderName {
  if (!isProviderName(name)) throw new CliError(`unknown sandbox provider '${name}' (available: ${PROVIDERS.join(', ')})`, EXIT.usage);
  return name;
}

async function reporting<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof SandboxError) throw new CliError(err.message, EXIT.failed);
    throw err;
  }
}

export function registerSandboxCommands(program: Command, act: Act): void {
  const sandbox = program.command('sandbox').description('Sandboxes with an agentsh server inside: local (Daytona-like, no container engine) or Daytona');
  sandbox
    .command('create')
    .description('Create a sandbox and start its server; prints its id')
    .option('--provider <name>', `sandbox provider (${PROVIDERS.join(', ')})`, 'local')
    .option('-c, --config <file>', "local: server config installed as the sandbox's /etc/agentsh/config.yaml (default: the seed's)")
    .option('-p, --policy <file>', "local: policy installed as /etc/agentsh/policies/default.yaml (default: the seed's)")
    .option('--snapshot <name>', "daytona: the snapshot built from agentsh's image (default: agentsh-sandbox)")
    .option('--timeout <duration>', 'how long the server may take to start (default 20s local, 120s daytona)')
    .option('--json', 'print {"id": …} (and the start-up timings)')
    .action((o: { provider: string; config?: string; policy?: string; snapshot?: string; timeout?: string; json?: boolean }) =>
      act(async () => {
        const p = provider(o.provider);
        const timeoutMs = parseDuration(o.timeout ?? (p === 'daytona' ? '120s' : '20s'));
        if (timeoutMs === null) throw new CliError(`invalid --timeout '${o.timeout}'`);
        if (p !== 'daytona' && o.snapshot) throw new CliError('--snapshot applies to the daytona provider', EXIT.usage);
        if (p === 'daytona' && (o.config || o.policy)) throw new CliError('--config and --policy apply to the local provider; a Daytona snapshot carries its own (docs/deploy-daytona.md)', EXIT.usage);
        const sb = await reporting(() => createSandbox<ProviderName>({ provider: p, timeoutMs, ...(o.config ? { config: o.config } : {}), ...(o.policy ? { policy: o.policy } : {}), ...(o.snapshot ? { snapshot: o.snapshot } : {}) }));
        if (o.json) process.stdout.write(`${JSON.stringify({ id: sb.id, timings: sb.timings })}\n`);
        else process.stdout.write(`${sb.id}\n`);
        return EXIT.ok;
      })(),
    );
  sandbox
    .command('exec')
    .description("Run `/bin/bash -c COMMAND` in a sandbox as its user: agentsh sandbox exec ID -- 'COMMAND'; prints the combined output, exits with the command's status")
    .option('--cwd <dir>', 'working directory inside (default /home/daytona)')
    .option('-e, --env <NAME=VALUE>', 'environment variable (repeatable)', collect, [])
    .option('-t, --timeout <duration>', 'command timeout, e.g. 30s')
    .option('--provider <name>', 'sandbox provider', 'local')
    .argument('<id>')
    .argument('<command...>')
    .action((id: string, words: string[], o: { cwd?: string; env: string[]; timeout?: string; provider: string }) =>
      act(async () => {
        const env: Record<string, string> = {};
        for (const kv of o.env) {
          const i = kv.indexOf('=');
          if (i <= 0) throw new CliError(`--env expects NAME=VALUE, got '${kv}'`);
          env[kv.slice(0, i)] = kv.slice(i + 1);
        }
        const timeoutMs = o.timeout === undefined ? undefined : parseDuration(o.timeout);
        if (timeoutMs === null) throw new CliError(`invalid --timeout '${o.timeout}'`);
        const r = await reporting(async () => (await getSandbox<ProviderName>(id, { provider: provider(o.provider) })).exec(words.join(' '), { ...(o.cwd ? { cwd: o.cwd } : {}), ...(o.env.length ? { env } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) }));
        process.stdout.write(r.output);
        return r.exitCode;
      })(),
    );
  sandbox
    .command('list')
    .description('Sandboxes and whether their server runs')
    .option('--provider <name>', 'sandbox provider', 'local')
    .option('--json', 'print JSON')
    .action((o: { provider: string; json?: boolean }) =>
      act(async () => {
        const list = await reporting(() => listSandboxes<ProviderName>({ provider: provider(o.provider) }));
        if (o.json) writeJson(list);
        else for (const s of list) process.stdout.write(`${s.id}\t${s.state}\t${s.createdAt}\t${'dir' in s ? `pid=${s.pid}\t${s.dir}` : `snapshot=${s.snapshot ?? '?'}`}\n`);
        return EXIT.ok;
      })(),
    );
  sandbox
    .command('delete <id>')
    .description('Stop the sandbox server (SIGTERM, then SIGKILL) and remove its directory')
    .option('--provider <name>', 'sandbox provider', 'local')
    .action((id: string, o: { provider: string }) =>
      act(async () => {
        await reporting(async () => (await getSandbox<ProviderName>(id, { provider: provider(o.provider) })).delete());
        process.stdout.write(`deleted ${id}\n`);
        return EXIT.ok;
      })(),
    );
}
