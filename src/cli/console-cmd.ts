// `agentsh console [--open]`: where the web console of the configured server is, and where
// its login token is (the operator's API token; the console trades it for a cookie).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { parseHostPort } from '../config/load.js';
import { defaultRunDir, runPaths } from '../server/paths.js';
import { configOrDefaults, loadSettings } from './context.js';
import { CliError, EXIT, writeJson } from './output.js';

type Act = (body: () => Promise<number> | number) => () => Promise<void>;

/** http://HOST:PORT/console/ for server.http.addr (a wildcard address is reached on loopback). */
export function consoleUrl(addr: string): string {
  const hp = parseHostPort(addr);
  if (!hp) throw new CliError(`invalid server.http.addr '${addr}'`, EXIT.failed);
  let host = hp.host;
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  else if (host === '::') host = '[::1]';
  else if (host.includes(':')) host = `[${host}]`;
  return `http://${host}:${hp.port}/console/`;
}

export function registerConsoleCommand(program: Command, act: Act): void {
  program
    .command('console')
    .description('Print the web console URL of the configured server (and where its login token is)')
    .option('-c, --config <file>', 'config file')
    .option('--open', 'open it in the desktop browser (xdg-open)')
    .option('--json', 'print JSON')
    .action((o: { config?: string; open?: boolean; json?: boolean }) =>
      act(() => {
        const config = configOrDefaults(loadSettings(o.config));
        const url = consoleUrl(config.server.http.addr);
        const tokenFile = runPaths(config.server.shim?.run_dir ?? defaultRunDir()).tokenFile;
        if (o.json) writeJson({ url, token_file: tokenFile });
        else process.stdout.write(`${url}\nlog in with the API token in ${tokenFile}${existsSync(tokenFile) ? '' : ' (not there: is the server running?)'}\n`);
        if (o.open) {
          const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true });
          child.on('error', () => process.stderr.write(`agentsh: could not start xdg-open; open ${url} yourself\n`));
          child.unref();
        }
        return EXIT.ok;
      })(),
    );
}
