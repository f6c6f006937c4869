// The agentsh CLI: agentsh's verbs where they exist. Each action returns an exit code;
// runReporting turns load errors into file:line diagnostics, never a stack trace.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { ConfigSchema } from '../config/schema.js';
import { loadConfigFile, findConfigFile } from '../config/load.js';
import { PolicySchema } from '../policy/schema.js';
import { homesNamedBy, lintPolicy } from '../policy/lint.js';
import { configOrDefaults, loadSettings, openPolicy } from './context.js';
import { parsePort, runQuery, toJson, toText, type Query } from './explain.js';
import { CliError, EXIT, printDiagnostics, runReporting, writeJson } from './output.js';
import type { Diagnostic } from '../util/diagnostics.js';
import { loadCases, runCases } from './policy-test.js';
import { shimCommand } from '../shim/install.js';
import { registerAuditCommands } from './audit-cmds.js';
import { askServer, insideSession } from './agent-client.js';
import { detect, formatDetect, reportFor } from './detect.js';
import type { ResourceActive } from '../sandbox/resources.js';
import type { ModeReport, NetworkState } from '../server/sandbox-runtime.js';
import type { FuseState } from '../server/fuse-views.js';
import { registerServerCommands } from './server-cmds.js';
import { registerSandboxCommands } from './sandbox-cmds.js';
import { registerTrashCommands } from './trash-cmds.js';
import { registerDlpCommands } from './dlp-cmds.js';
import { registerConsoleCommand } from './console-cmd.js';
import { registerApproveCommands } from './approve-cmds.js';
import { registerDemoCommand } from './demo-cmd.js';

const collect = (v: string, prev: string[]) => [...prev, v];

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('agentsh')
    .description('Runtime security governance for AI agents')
    .version(version(), '-v, --version')
    .exitOverride()
    .showHelpAfterError();
  const act = (body: () => Promise<number> | number) => async () => setExit(await runReporting(body));

  const config = program.command('config').description('Server configuration');
  config
    .command('validate [file]')
    .description('Validate a config file (default: the one agentsh would find)')
    .option('--strict', 'treat unknown keys as errors')
    .action((file: string | undefined, o: { strict?: boolean }) =>
      act(() => {
        const path = file ?? findConfigFile();
        if (!path) throw new CliError('no config file found (AGENTSH_CONFIG, ./config.yaml, ~/.config/agentsh, /etc/agentsh)', EXIT.failed);
        const { diagnostics } = loadConfigFile(path, { strict: o.strict ?? false });
        printDiagnostics(diagnostics);
        process.stdout.write(`ok: ${path}\n`);
        return EXIT.ok;
      })(),
    );

  const policy = program.command('policy').description('Policies: validate, lint, explain, test');
  policy
    .command('validate <policy>')
    .description('Validate a policy file (or a name in policies.dir)')
    .option('--strict', 'treat unknown keys and unsupported sections as errors')
    .option('-c, --config <file>', 'server config (for policies.dir)')
    .option('--var <NAME=VALUE>', 'session variable for ${NAME}', collect, [])
    .action((arg: string, o: { strict?: boolean; config?: string; var: string[] }) =>
      act(() => {
        const ctx = openPolicy(arg, { strict: o.strict ?? false, vars: o.var, ...(o.config ? { config: o.config } : {}) });
        printDiagnostics(ctx.loaded.diagnostics);
        process.stdout.write(`ok: ${ctx.loaded.source.file} (policy '${ctx.compiled.name}')\n`);
        return EXIT.ok;
      })(),
    );

  policy
    .command('lint <policy>')
    .description('Find rules that do not do what they seem to (shadowed rules, loose regexes, approve without approver …)')
    .option('-c, --config <file>', 'server config (approvals settings)')
    .option('--var <NAME=VALUE>', 'session variable for ${NAME}', collect, [])
    .option('--json', 'print findings as JSON')
    .action((arg: string, o: { config?: string; var: string[]; json?: boolean }) =>
      act(() => {
        const ctx = openPolicy(arg, { vars: o.var, ...(o.config ? { config: o.config } : {}) });
        const lint = (c: typeof ctx) => lintPolicy(c.loaded, c.compiled, { approvals: c.settings.approvals, knownVars: Object.keys(c.vars) });
        const findings = [...ctx.loaded.diagnostics, ...lint(ctx)];
        // ${HOME} is the session user's home: unless --var HOME was given, the homes the policy
        // names are linted too, and what only they show is reported with the HOME that shows it.
        if (!o.var.some((v) => v.startsWith('HOME='))) {
          const place = (f: Diagnostic) => `${f.line}:${f.column}:${f.code}`;
          const seen = new Set(findings.map(place));
          for (const home of homesNamedBy(ctx.loaded.doc).filter((h) => h !== ctx.vars.HOME)) {
            const other = openPolicy(arg, { vars: [...o.var, `HOME=${home}`], ...(o.config ? { config: o.config } : {}) });
            for (const f of lint(other)) {
              if (seen.has(place(f))) continue;
              seen.add(place(f));
              findings.push({ ...f, message: `${f.message} — with \${HOME}=${home}, the home of sessions run as that user (the policy names it)` });
            }
          }
        }
        findings.sort((a, b) => a.line - b.line || a.column - b.column);
        if (o.json) writeJson(findings);
        else {
          printDiagnostics(findings, process.stdout);
          const count = (s: string) => findings.filter((f) => f.severity === s).length;
          process.stdout.write(`${count('warning')} warning(s), ${count('info')} note(s)\n`);
        }
        return findings.some((f) => f.severity !== 'info') ? EXIT.failed : EXIT.ok;
      })(),
    );

  policy
    .command('explain')
    .description('Explain a decision: command -- ARGV… | shell STRING | file OP PATH | net HOST PORT [--ip IP] | env NAME | signal SIG [TARGET]')
    .requiredOption('-p, --policy <policy>', 'policy file or name')
    .option('-c, --config <file>', 'server config (approvals settings)')
    .option('--var <NAME=VALUE>', 'session variable for ${NAME}', collect, [])
    .option('--ip <ip>', 'for net: the address the name resolved to')
    .option('--depth <n>', 'for command/shell: exec depth (0 = direct)', '0')
    .option('--json', 'print one JSON object')
    .argument('<kind>', 'command | shell | file | net | env | signal')
    .argument('[args...]')
    .action((kind: string, args: string[], o: { policy: string; config?: string; var: string[]; ip?: string; depth: string; json?: boolean }) =>
      act(() => {
        const depth = Number(o.depth);
        if (!Number.isInteger(depth) || depth < 0) throw new CliError(`--depth must be a whole number ≥ 0, got '${o.depth}'`);
        const query = parseQuery(kind, args, depth, o.ip);
        const ctx = openPolicy(o.policy, { vars: o.var, ...(o.config ? { config: o.config } : {}) });
        const d = runQuery(ctx.engine, query);
        if (o.json) process.stdout.write(`${JSON.stringify(toJson(d, ctx.loaded.source))}\n`);
        else process.stdout.write(`${toText(d, ctx.loaded.source)}\n`);
        return EXIT.ok;
      })(),
    );

  policy
    .command('test <policy> <cases>')
    .description('Check a table of expected decisions (YAML: vars, cases[{name, command|shell|file|net|env, depth, expect}])')
    .option('-c, --config <file>', 'server config (approvals settings)')
    .option('--var <NAME=VALUE>', 'session variable for ${NAME}', collect, [])
    .action((arg: string, casesFile: string, o: { config?: string; var: string[] }) =>
      act(() => {
        const { doc, source } = loadCases(casesFile);
        const ctx = openPolicy(arg, { vars: o.var, extraVars: doc.vars ?? {}, ...(o.config ? { config: o.config } : {}) });
        const results = runCases(ctx.engine, doc, source);
        for (const r of results) {
          process.stdout.write(r.ok ? `ok   ${r.name}\n` : `FAIL ${r.name} (${r.location}): expected ${r.expected}, got ${r.actual}\n`);
        }
        const failed = results.filter((r) => !r.ok).length;
        process.stdout.write(`${results.length - failed} passed, ${failed} failed\n`);
        return failed ? EXIT.failed : EXIT.ok;
      })(),
    );

  registerServerCommands(program, act);
  registerAuditCommands(program, act);
  registerSandboxCommands(program, act);
  registerTrashCommands(program, act);
  registerDlpCommands(program, act);
  registerConsoleCommand(program, act);
  registerApproveCommands(program, act);
  registerDemoCommand(program, act);

  program
    .command('detect')
    .description('What the kernel offers and what agentsh actually enforces with it')
    .option('--json', 'print JSON')
    .option('--config <file>', 'config file (security.mode, minimum_mode, sandbox.enabled)')
    .action((o: { json?: boolean; config?: string }) =>
      act(async () => {
        // Inside a session sandbox nothing can be probed (seccomp refuses new namespaces by
        // design): the server reports the enforcement this session runs under.
        const r = insideSession() ? sessionReport(JSON.parse((await askServer({ op: 'detect' })).stdout) as ModeReport & { resources: ResourceActive | null; network: NetworkState }) : detect(configOrDefaults(loadSettings(o.config)));
        if (o.json) writeJson(r);
        else process.stdout.write(formatDetect(r));
        return r.refusal ? EXIT.failed : EXIT.ok;
      })(),
    );

  program
    .command('shim')
    .description('The shell shim: install-shell --root DIR [--shim PATH] --bash [--sh] [--zsh] [--i-understand-this-modifies-the-host] | uninstall-shell | status')
    .helpOption(false)
    .allowUnknownOption()
    .argument('[args...]')
    .action((args: string[]) => act(() => shimCommand(args))());

  const schema = program.command('schema').description('JSON Schemas for editors');
  schema
    .command('export')
    .description('Write policy.schema.json and config.schema.json')
    .addOption(new Option('--out <dir>', 'directory to write to (default: print the policy schema)'))
    .action((o: { out?: string }) =>
      act(() => {
        const docs = { 'policy.schema.json': jsonSchema(PolicySchema, 'agentsh policy'), 'config.schema.json': jsonSchema(ConfigSchema, 'agentsh config') };
        if (!o.out) {
          writeJson(docs['policy.schema.json']);
          return EXIT.ok;
        }
        mkdirSync(o.out, { recursive: true });
        for (const [name, doc] of Object.entries(docs)) writeFileSync(join(o.out, name), `${JSON.stringify(doc, null, 2)}\n`);
        process.stdout.write(`wrote ${Object.keys(docs).map((n) => join(o.out!, n)).join(', ')}\n`);
        return EXIT.ok;
      })(),
    );
  return program;
}

export function jsonSchema(schema: object, title: string): object {
  // TypeBox schemas are JSON Schema already; JSON.stringify drops its symbol-keyed metadata.
  return { $schema: 'http://json-schema.org/draft-07/schema#', title, ...JSON.parse(JSON.stringify(schema)) };
}

function parseQuery(kind: string, args: string[], depth: number, ip: string | undefined): Query {
  const need = (n: number, usage: string) => {
    if (args.length !== n) throw new CliError(`explain ${kind}: usage: ${usage}`);
  };
  switch (kind) {
    case 'command':
      return { kind, argv: args, depth };
    case 'shell':
      need(1, "shell 'STRING'");
      return { kind, script: args[0]!, depth };
    case 'file':
      need(2, 'file OP PATH');
      return { kind, op: args[0]!, path: args[1]! };
    case 'net':
      need(2, 'net HOST PORT [--ip IP]');
      return { kind, host: args[0]!, port: parsePort(args[1]!), ...(ip ? { ip } : {}) };
    case 'env':
      need(1, 'env NAME');
      return { kind, name: args[0]! };
    case 'signal':
      if (args.length < 1 || args.length > 2) throw new CliError('explain signal: usage: signal SIG [TARGET]');
      return { kind, signal: args[0]!, target: args[1] ?? 'external' };
    default:
      throw new CliError(`unknown explain kind '${kind}' (command, shell, file, net, env, signal)`);
  }
}

export async function main(argv: string[]): Promise<void> {
  let code: number = EXIT.ok;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) code = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    else throw err;
  }
  process.exitCode = code;
}

function sessionReport(r: ModeReport & { resources: ResourceActive | null; network: NetworkState; fuse?: FuseState }) {
  return reportFor(r, {}, 'session', r.resources, r.network, r.fuse);
}
