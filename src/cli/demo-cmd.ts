// `agentsh demo [--provider local|daytona] [--json] [--config F --policy F] [--snapshot NAME]`:
// the seed's security demo, asserted, as a scorecard (src/demo). Exit status: the number of
// checks that did not hold (capped at 100); 0 when every one held; 101 when the demo could
// not run at all (no sandbox: the provider's message says why); 2 for a usage error.
import type { Command } from 'commander';
import { isProviderName, PROVIDERS, SandboxError, type ProviderName } from '../provider/index.js';
import { runDemo, type DemoOptions } from '../demo/seed-demo.js';
import { formatHeader, formatResult, formatSummary } from '../demo/scorecard.js';
import { demoChecks } from '../demo/checks.js';
import { CliError, EXIT, writeJson } from './output.js';

type Act = (body: () => Promise<number> | number) => () => Promise<void>;

export const MAX_DEMO_EXIT = 100;
/** The demo could not run (no sandbox). */
export const DEMO_NOT_RUN = 101;

export function registerDemoCommand(program: Command, act: Act): void {
  program
    .command('demo')
    .description("The seed's security demo, asserted: a sandbox with the seed's config and policy, every check's expected and observed result and the rule that decided it; exit status = failed checks (101: could not run)")
    .option('--provider <name>', `sandbox provider (${PROVIDERS.join(', ')})`, 'local')
    .option('-c, --config <file>', "local: server config for the sandbox (default: the seed's config.yaml)")
    .option('-p, --policy <file>', "local: policy for the sandbox (default: the seed's default.yaml)")
    .option('--snapshot <name>', 'daytona: the snapshot built from this repository\'s image', 'agentsh-sandbox')
    .option('--only <text>', 'run only the checks whose group or name contains TEXT')
    .option('--json', 'print the results as one JSON document')
    .action((o: { provider: string; config?: string; policy?: string; snapshot: string; only?: string; json?: boolean }) =>
      act(async () => {
        if (!isProviderName(o.provider)) throw new CliError(`unknown sandbox provider '${o.provider}' (available: ${PROVIDERS.join(', ')})`, EXIT.usage);
        const provider: ProviderName = o.provider;
        if (provider !== 'local' && (o.config || o.policy)) throw new CliError('--config and --policy apply to the local provider; a Daytona snapshot carries its own (see docs/deploy-daytona.md)', EXIT.usage);
        const only = o.only?.toLowerCase();
        if (only && !demoChecks('x').some((c) => c.group.toLowerCase().includes(only) || c.name.toLowerCase().includes(only))) throw new CliError(`no check matches --only '${o.only}'`, EXIT.usage);
        const log = (s: string) => process.stdout.write(`${s}\n`);
        let group = '';
        const opts: DemoOptions = {
          provider,
          ...(o.config ? { config: o.config } : {}),
          ...(o.policy ? { policy: o.policy } : {}),
          ...(provider === 'daytona' ? { snapshot: o.snapshot } : {}),
          ...(o.only ? { only: o.only } : {}),
          ...(o.json
            ? {}
            : {
                onStart: (i) => log(formatHeader(i)),
                onResult: (r) => log(r.group !== group ? formatResult(r, (group = r.group)) : formatResult(r)),
              }),
        };
        let rep;
        try {
          rep = await runDemo(opts);
        } catch (err) {
          if (err instanceof SandboxError) throw new CliError(`demo: ${err.message}`, DEMO_NOT_RUN);
          throw err;
        }
        if (o.json) writeJson(rep);
        else log(formatSummary(rep));
        return Math.min(rep.failed, MAX_DEMO_EXIT);
      })(),
    );
}
