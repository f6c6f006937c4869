// `agentsh approve list | resolve ID allow|deny`: the operator's answers to pending
// approvals, through the server's API (the token in the run directory is the credential:
// nothing inside a sandbox can read it or reach the API).
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { apiError, ApiClient } from './client.js';
import { loadSettings } from './context.js';
import { CliError, EXIT, writeJson } from './output.js';

type Act = (body: () => Promise<number> | number) => () => Promise<void>;

interface ApprovalJson {
  id: string;
  session_id: string;
  kind: string;
  rule: string;
  message: string;
  target: string;
  created_at: string;
  expires_at: string;
  status: string;
  approver?: string;
  reason?: string;
}

function client(configPath: string | undefined): ApiClient {
  const s = loadSettings(configPath);
  return ApiClient.fromConfig(s.config, s.configFile);
}

export function registerApproveCommands(program: Command, act: Act): void {
  const approve = program.command('approve').description('Pending approvals: list, resolve');
  approve
    .command('list')
    .description('Approvals (pending by default), oldest first')
    .option('-c, --config <file>', 'config file')
    .option('--all', 'resolved ones too')
    .option('--session <id>', 'only this session')
    .option('--json', 'JSON output')
    .action((o: { config?: string; all?: boolean; session?: string; json?: boolean }) =>
      act(async () => {
        const q = new URLSearchParams();
        if (!o.all) q.set('status', 'pending');
        if (o.session) q.set('session_id', o.session);
        const r = await client(o.config).raw('GET', `/api/v1/approvals?${q}`);
        if (r.status !== 200) throw apiError(r);
        const list = r.body as ApprovalJson[];
        if (o.json) writeJson(list);
        else if (!list.length) process.stdout.write(o.all ? 'no approvals\n' : 'no pending approvals\n');
        else for (const a of list) process.stdout.write(`${a.id}\t${a.status}\t${a.session_id}\t${a.kind}\t${a.rule}\t${a.target}\texpires ${a.expires_at}${a.message ? `\t${a.message}` : ''}\n`);
        return EXIT.ok;
      })(),
    );
  approve
    .command('resolve <id> <decision>')
    .description('Answer a pending approval: allow or deny')
    .option('-c, --config <file>', 'config file')
    .option('--reason <text>', 'why (recorded in the audit log)')
    .option('--session-scope', 'allow this rule and target for the rest of the session')
    .action((id: string, decision: string, o: { config?: string; reason?: string; sessionScope?: boolean }) =>
      act(async () => {
        if (decision !== 'allow' && decision !== 'deny') throw new CliError(`decision must be allow or deny, got ${JSON.stringify(decision)}`, EXIT.usage);
        if (o.sessionScope && decision !== 'allow') throw new CliError('--session-scope only applies to allow', EXIT.usage);
        const body = { decision, approver: `cli:${userInfo().username}`, ...(o.reason ? { reason: o.reason } : {}), ...(o.sessionScope ? { scope: 'session' } : {}) };
        const r = await client(o.config).raw('POST', `/api/v1/approvals/${encodeURIComponent(id)}`, body);
        if (r.status !== 200) throw apiError(r);
        const a = r.body as ApprovalJson;
        process.stdout.write(`${a.id} ${a.status}\n`);
        return EXIT.ok;
      })(),
    );
}
