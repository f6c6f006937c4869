// `audit verify` and `report`: read the log and its index directly (the operator's files,
// 0600), so they work whether or not the server runs.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { formatVerifyResult, loadKey, verifyFile } from '../audit/chain.js';
import { AuditIndexReader } from '../audit/log.js';
import { sessionReport } from '../audit/report.js';
import { configOrDefaults, loadSettings } from './context.js';
import { CliError, EXIT } from './output.js';
import { auditPaths } from './server-deps.js';

type Act = (body: () => Promise<number> | number) => () => Promise<void>;

export function registerAuditCommands(program: Command, act: Act): void {
  const audit = program.command('audit').description('The tamper-evident audit log');
  audit
    .command('verify <log>')
    .description('Verify the HMAC chain of a JSONL audit log; names the first bad line')
    .option('--key-file <file>', 'key file (default: audit.integrity from the config, else audit.key beside the log)')
    .option('--key-env <name>', 'environment variable holding the key')
    .option('-c, --config <file>', 'config file')
    .action((log: string, o: { keyFile?: string; keyEnv?: string; config?: string }) =>
      act(async () => {
        if (!existsSync(log)) throw new CliError(`no such log: ${log}`, EXIT.failed);
        const integrity = loadSettings(o.config).config?.audit.integrity;
        const keyCfg = o.keyFile ? { key_file: o.keyFile } : o.keyEnv ? { key_env: o.keyEnv } : integrity?.enabled ? integrity : { key_file: join(dirname(log), 'audit.key') };
        let key: Buffer;
        try {
          key = loadKey(keyCfg);
        } catch (err) {
          throw new CliError((err as Error).message, EXIT.failed);
        }
        const r = formatVerifyResult(log, await verifyFile(log, key));
        process.stdout.write(r.stdout);
        process.stderr.write(r.stderr);
        return r.ok ? EXIT.ok : EXIT.failed;
      })(),
    );

  program
    .command('report <session>')
    .description('A readable summary of a session: commands, denials with rules, files, network')
    .option('--summary', 'short form')
    .option('-c, --config <file>', 'config file')
    .action((sid: string, o: { summary?: boolean; config?: string }) =>
      act(() => {
        const config = configOrDefaults(loadSettings(o.config));
        const { sqlitePath } = auditPaths(config);
        if (!existsSync(sqlitePath)) throw new CliError(`no audit index at ${sqlitePath}`, EXIT.failed);
        const events = new AuditIndexReader(sqlitePath).query({ session_id: sid });
        if (!events.length) throw new CliError(`no events for session ${sid}`, EXIT.failed);
        process.stdout.write(sessionReport(events, { level: o.summary ? 'summary' : 'detailed', sessionId: sid }));
        return EXIT.ok;
      })(),
    );
}
