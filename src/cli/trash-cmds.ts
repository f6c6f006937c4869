// `trash list | restore | purge`: read the trash directory directly (the operator, usually
// root), so they work whether or not the server runs. Output formats are agentsh's: scripts
// parse them.
import { askServer, insideSession, type AgentAnswer } from './agent-client.js';
import type { Command } from 'commander';
import { trashDirFromConfig, trashLimitsFromConfig, parseTrashQuota, parseTrashTtl } from '../trash/config.js';
import { formatList, UNKNOWN_PATH } from '../trash/format.js';
import { TrashError, TrashStore } from '../trash/store.js';
import { configOrDefaults, loadSettings } from './context.js';
import { CliError, EXIT, writeJson } from './output.js';

type Act = (body: () => Promise<number> | number) => () => Promise<void>;

const DIR_HELP =
  'trash directory (default: sandbox.fuse.audit.trash_path from the config; a relative trash_path, such as ' +
  "agentsh's default .agentsh_trash, is taken relative to your home directory, since the CLI has no session workspace)";

interface Common {
  dir?: string;
  config?: string;
}

function openStore(o: Common): TrashStore {
  if (o.dir) return new TrashStore(o.dir);
  return new TrashStore(trashDirFromConfig(configOrDefaults(loadSettings(o.config))));
}

/** Store failures (and the file system's, e.g. EACCES) are exit 1 with the message. */
function failing<T>(body: () => T): T {
  try {
    return body();
  } catch (err) {
    if (err instanceof TrashError || (err as NodeJS.ErrnoException)?.code) throw new CliError((err as Error).message, EXIT.failed);
    throw err;
  }
}

export function registerTrashCommands(program: Command, act: Act): void {
  const trash = program.command('trash').description('Soft-deleted files and directories: list, restore, purge');

  trash
    .command('list')
    .description('List trash entries, oldest first')
    .option('--session <id>', "only this session's entries (entries without metadata have no session)")
    .option('--json', 'print a JSON array of entries')
    .option('--dir <dir>', DIR_HELP)
    .option('-c, --config <file>', 'config file')
    .addHelpText(
      'after',
      `
Output: one line per entry, fields separated by a tab:
  TOKEN<TAB>ORIGINAL_PATH<TAB>N bytes<TAB>AGE ago
or exactly "trash empty". AGE is the largest whole unit: 42s, 5m, 3h, 12d.
Control characters and backslashes in a path are escaped (\\t \\n \\r \\xNN \\\\).
An entry without metadata shows ${UNKNOWN_PATH} as its path; such entries and entries whose
payload is gone are also named on stderr.`,
    )
    .action((o: Common & { session?: string; json?: boolean }) =>
      act(async () => {
        if (fromSandbox(o)) return relay(await askServer({ op: 'trash-list', json: o.json === true, ...(o.session ? { only: o.session } : {}) }));
        const store = openStore(o);
        const entries = failing(() => store.list(o.session !== undefined ? { sessionId: o.session } : {}));
        if (o.json) {
          writeJson(entries);
          return EXIT.ok;
        }
        process.stdout.write(formatList(entries));
        for (const e of entries) if (e.problem) process.stderr.write(`agentsh: warning: ${e.token}: ${e.problem}\n`);
        return EXIT.ok;
      })(),
    );

  trash
    .command('restore <token>')
    .description('Put an entry back where it was deleted (or at --dest) after checking its content hash')
    .option('--dest <path>', 'restore to this path instead of the original one (the full target path)')
    .option('--force', 'replace an existing file, symlink or empty directory (never a non-empty directory)')
    .option('--dir <dir>', DIR_HELP)
    .option('-c, --config <file>', 'config file')
    .addHelpText('after', '\nThe parent directory must exist (it is not created). Prints "restored to PATH".')
    .action((token: string, o: Common & { dest?: string; force?: boolean }) =>
      act(async () => {
        if (fromSandbox(o)) return relay(await askServer({ op: 'trash-restore', token, force: o.force === true, ...(o.dest !== undefined ? { dest: o.dest } : {}) }));
        const store = openStore(o);
        const r = failing(() => store.restore(token, { ...(o.dest !== undefined ? { dest: o.dest } : {}), force: o.force ?? false }));
        process.stdout.write(`restored to ${r.path}\n`);
        return EXIT.ok;
      })(),
    );

  trash
    .command('purge')
    .description('Remove entries older than the ttl, then the oldest until the trash fits the quota')
    .option('--ttl <duration>', 'remove entries at least this old: 7d, 24h, 30m, 1h30m (default: sandbox.fuse.audit.ttl, 7d)')
    .option('--quota <bytes>', 'then keep at most this much: 1048576, 10MB, 1GiB (default: sandbox.fuse.audit.quota, 5GB)')
    .option('--dir <dir>', DIR_HELP)
    .option('-c, --config <file>', 'config file')
    .addHelpText('after', '\nEach limit not given on the command line comes from the config. Prints "purged N entries, B bytes".')
    .action((o: Common & { ttl?: string; quota?: string }) =>
      act(() => {
        if (fromSandbox(o)) throw new CliError('trash purge is the operator\'s: it cannot be run from inside a session sandbox', EXIT.failed);
        const ttlMs = o.ttl !== undefined ? parseTrashTtl(o.ttl) : undefined;
        if (ttlMs === null) throw new CliError(`--ttl: not a duration: '${o.ttl}' (e.g. 7d, 24h, 30m)`);
        const quotaBytes = o.quota !== undefined ? parseTrashQuota(o.quota) : undefined;
        if (quotaBytes === null) throw new CliError(`--quota: not a size: '${o.quota}' (e.g. 1048576, 10MB, 1GiB)`);
        const configured = ttlMs === undefined || quotaBytes === undefined ? trashLimitsFromConfig(configOrDefaults(loadSettings(o.config))) : {};
        const limits = { ttlMs: ttlMs ?? configured.ttlMs, quotaBytes: quotaBytes ?? configured.quotaBytes };
        const store = openStore(o);
        const r = failing(() =>
          store.purge({ ...(limits.ttlMs !== undefined ? { ttlMs: limits.ttlMs } : {}), ...(limits.quotaBytes !== undefined ? { quotaBytes: limits.quotaBytes } : {}) }),
        );
        process.stdout.write(`purged ${r.removed.length} entries, ${r.freedBytes} bytes\n`);
        return EXIT.ok;
      })(),
    );
}

/**
 * Inside a session sandbox the trash directory is hidden (an empty read-only mount): the agent
 * lists and restores its own session's entries through the server instead. --dir means the
 * caller knows where the store is (the operator).
 */
function fromSandbox(o: Common): boolean {
  return o.dir === undefined && insideSession();
}

function relay(a: AgentAnswer): number {
  process.stdout.write(a.stdout);
  process.stderr.write(a.stderr);
  return a.status;
}
