// CLI verbs that talk to the server: server, session, exec, events.
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { AlreadyRunningError, startServer } from '../server/server.js';
import { parseDuration } from '../util/duration.js';
import { apiError, ApiClient } from './client.js';
import { configOrDefaults, loadSettings } from './context.js';
import { CliError, EXIT, printDiagnostics, writeJson } from './output.js';
import { auditPaths, dlpForServer, openAudit } from './server-deps.js';

type Act = (body: () => Promise<number> | number) => () => Promise<void>;

function client(configPath: string | undefined): ApiClient {
  const s = loadSettings(configPath);
  return ApiClient.fromConfig(s.config, s.configFile);
}

export function registerServerCommands(program: Command, act: Act): void {
  program
    .command('server')
    .description('Run the agentsh server (sessions, governed exec, shim sockets, API)')
    .option('-c, --config <file>', 'config file (default: AGENTSH_CONFIG, ./config.yaml, ~/.config/agentsh, /etc/agentsh)')
    .action((o: { config?: string }) =>
      act(async () => {
        const settings = loadSettings(o.config);
        printDiagnostics(settings.configDiagnostics);
        const config = configOrDefaults(settings);
        let server;
        try {
          const audit = auditPaths(config);
          server = await startServer({ config, openAudit: () => openAudit(config), ...dlpForServer(config), controlPlane: [...new Set([dirname(audit.path), dirname(audit.sqlitePath), dirname(audit.keyFile)])] });
        } catch (err) {
          if (err instanceof AlreadyRunningError) throw new CliError(err.message, EXIT.failed);
          throw err;
        }
        await new Promise<void>((resolveStop) => {
          const stop = () => void server.close().then(resolveStop);
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
        });
        return EXIT.ok;
      })(),
    );

  const session = program.command('session').description('Sessions');
  session
    .command('create')
    .description('Create a session')
    .requiredOption('-w, --workspace <dir>', 'workspace directory')
    .option('-p, --policy <name|file>', 'policy name (in policies.dir) or file')
    .option('--project-root <dir>', 'PROJECT_ROOT (default: detected from the workspace)')
    .option('-c, --config <file>', 'config file')
    .option('--json', 'print JSON')
    .action((o: { workspace: string; policy?: string; projectRoot?: string; config?: string; json?: boolean }) =>
      act(async () => {
        const policy = o.policy && (o.policy.includes('/') || o.policy.endsWith('.yaml')) ? resolve(o.policy) : o.policy;
        const r = await client(o.config).call('POST', '/api/v1/sessions', { workspace: resolve(o.workspace), ...(policy ? { policy } : {}), ...(o.projectRoot ? { project_root: resolve(o.projectRoot) } : {}) });
        if (r.status !== 201) throw apiError(r);
        if (o.json) writeJson(r.body);
        else process.stdout.write(`${(r.body as { id: string }).id}\n`);
        return EXIT.ok;
      })(),
    );
  session
    .command('list')
    .option('-c, --config <file>', 'config file')
    .option('--json', 'print JSON')
    .action((o: { config?: string; json?: boolean }) =>
      act(async () => {
        const r = await client(o.config).call('GET', '/api/v1/sessions');
        if (r.status !== 200) throw apiError(r);
        const list = r.body as { id: string; workspace: string; policy: string; commands: number; running: number }[];
        if (o.json) writeJson(list);
        else for (const s of list) process.stdout.write(`${s.id}\t${s.workspace}\t${s.policy}\tcommands=${s.commands}\trunning=${s.running}\n`);
        return EXIT.ok;
      })(),
    );
  session
    .command('info <id>')
    .option('-c, --config <file>', 'config file')
    .action((id: string, o: { config?: string }) =>
      act(async () => {
        const r = await client(o.config).call('GET', `/api/v1/sessions/${encodeURIComponent(id)}`);
        if (r.status !== 200) throw apiError(r);
        writeJson(r.body);
        return EXIT.ok;
      })(),
    );
  session
    .command('destroy <id>')
    .option('-c, --config <file>', 'config file')
    .action((id: string, o: { config?: string }) =>
      act(async () => {
        const r = await client(o.config).call('DELETE', `/api/v1/sessions/${encodeURIComponent(id)}`);
        if (r.status !== 200) throw apiError(r);
        process.stdout.write(`destroyed ${id}\n`);
        return EXIT.ok;
      })(),
    );

  program
    .command('exec')
    .description('Run a command in a session: agentsh exec SID -- CMD [ARGS…] (denied: exit 126)')
    .option('-o, --output <mode>', 'shell (stream output) or json', 'shell')
    .option('-t, --timeout <duration>', 'command timeout, e.g. 30s')
    .option('-c, --config <file>', 'config file')
    .argument('<session>')
    .argument('<command...>')
    .action((sid: string, argv: string[], o: { output: string; timeout?: string; config?: string }) =>
      act(async () => {
        if (o.output !== 'shell' && o.output !== 'json') throw new CliError(`--output must be shell or json, got '${o.output}'`);
        if (o.timeout !== undefined && parseDuration(o.timeout) === null) throw new CliError(`invalid --timeout '${o.timeout}'`);
        const body = { command: argv[0], args: argv.slice(1), cwd: process.cwd(), ...(o.timeout ? { timeout: o.timeout } : {}) };
        const c = client(o.config);
        if (o.output === 'json') {
          const r = await c.call('POST', `/api/v1/sessions/${encodeURIComponent(sid)}/exec`, body);
          if (r.status !== 200 && r.status !== 403) throw apiError(r);
          writeJson(r.body);
          return (r.body as { exit_code: number }).exit_code;
        }
        let exit = EXIT.internal as number;
        let pending = '';
        const r = await c.call('POST', `/api/v1/sessions/${encodeURIComponent(sid)}/exec`, { ...body, stream: true }, (chunk) => {
          pending += chunk.toString('utf8');
          let nl: number;
          while ((nl = pending.indexOf('\n')) >= 0) {
            const ev = JSON.parse(pending.slice(0, nl)) as { type: string; data?: string; exit_code?: number };
            pending = pending.slice(nl + 1);
            if (ev.type === 'stdout') process.stdout.write(Buffer.from(ev.data ?? '', 'base64'));
            else if (ev.type === 'stderr') process.stderr.write(Buffer.from(ev.data ?? '', 'base64'));
            else if (ev.type === 'exit') exit = ev.exit_code ?? EXIT.internal;
          }
        });
        if (r.status !== 200) throw apiError(r);
        return exit;
      })(),
    );

  program
    .command('events [session]')
    .description('Audit events (newest last)')
    .option('--type <type>', 'only this event type (repeatable)', (v: string, p: string[]) => [...p, v], [])
    .option('--since <time>', 'only events at or after this RFC 3339 time')
    .option('--limit <n>', 'at most this many', '1000')
    .option('--json', 'print JSON lines')
    .option('-c, --config <file>', 'config file')
    .action((sid: string | undefined, o: { type: string[]; since?: string; limit: string; json?: boolean; config?: string }) =>
      act(async () => {
        const q = new URLSearchParams();
        if (sid) q.set('session_id', sid);
        for (const t of o.type) q.append('type', t);
        if (o.since) q.set('since', o.since);
        q.set('limit', o.limit);
        const r = await client(o.config).call('GET', `/api/v1/events?${q}`);
        if (r.status !== 200) throw apiError(r);
        for (const e of r.body as Record<string, unknown>[]) {
          if (o.json) process.stdout.write(`${JSON.stringify(e)}\n`);
          else process.stdout.write(`${String(e.ts)} ${String(e.type)}${e.session_id ? ` ${String(e.session_id)}` : ''}${e.decision ? ` ${String(e.decision)}` : ''}${e.rule ? ` rule=${String(e.rule)}` : ''}${(e.fields as { command?: string } | undefined)?.command ? ` ${JSON.stringify((e.fields as { command: string }).command)}` : ''}\n`);
        }
        return EXIT.ok;
      })(),
    );
}
