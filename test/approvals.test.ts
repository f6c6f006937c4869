// Approvals end to end: a command held by an `approve` rule runs after approval from the
// CLI, is refused after denial and after its timeout; an exec inside the sandbox waits the
// same way; many approvals pending at once; the per-session limit; "approve for this
// session"; a server crash with approvals pending fails closed (the restarted server records
// them as failed, nothing ran); nothing inside the sandbox can resolve an approval. Real
// server, shim-less API sessions, the session sandbox; root only.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApprovalManager, type ApprovalAuditRecord } from '../src/approvals/manager.js';
import { cli } from './helpers.js';
import { eventsOf, startTestServer, type TestServer } from './server-harness.js';

const skip = process.getuid?.() === 0 ? false : 'needs root';

const POLICY = `version: 1
name: approvals-test
file_rules:
  - { name: workspace, paths: ["\${PROJECT_ROOT}", "\${PROJECT_ROOT}/**"], operations: ["*"], decision: allow }
  - { name: tmp, paths: ["/tmp", "/tmp/**", "/dev/null"], operations: ["*"], decision: allow }
command_rules:
  - { name: approve-touch, commands: [touch], decision: approve, message: "touch {{.Args}}" }
  - { name: approve-quick, commands: [mkdir], decision: approve, timeout: 1s }
  - { name: approve-nested-id, commands: [id], context: [nested], decision: approve }
  - { name: everything-else, commands: ["*"], decision: allow }
`;

describe('ApprovalManager', () => {
  const events: ApprovalAuditRecord[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'agentsh-apr-'));
  const journal = join(dir, 'approvals.json');
  const m = new ApprovalManager({ audit: (r) => events.push(r), journal, maxPendingPerSession: 2 });
  const req = (target: string, timeoutMs = 60_000) => m.request({ sessionId: 's1', kind: 'command', rule: 'r', message: 'm', target, timeoutMs });
  after(() => {
    m.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('resolves, times out, limits, grants for the session, journals', async () => {
    const a = req('one');
    assert.equal(m.list({ status: 'pending' }).length, 1);
    assert.equal(JSON.parse(readFileSync(journal, 'utf8')).length, 1, 'pending approvals are journaled');
    m.resolve(a.approval.id, 'allow', { approver: 'tester' });
    assert.equal((await a.outcome).approved, true);
    assert.throws(() => m.resolve(a.approval.id, 'deny', { approver: 'x' }), /already approved/);
    assert.throws(() => m.resolve('apr-nope', 'deny', { approver: 'x' }), /no approval/);
    const t = req('late', 50);
    const o = await t.outcome;
    assert.equal(o.approved, false);
    assert.equal(o.approval.status, 'expired');
    const p1 = req('p1');
    req('p2');
    const p3 = req('p3');
    assert.equal((await p3.outcome).approval.status, 'failed', 'beyond the per-session limit: refused at once');
    m.resolve(p1.approval.id, 'allow', { approver: 'tester', scope: 'session' });
    const again = req('p1');
    assert.equal((await again.outcome).approval.approver, 'session-grant');
    assert.ok(events.some((e) => e.type === 'approval' && e.fields.approver === 'session-grant'));
    m.endSession('s1');
    assert.equal(m.list({ status: 'pending' }).length, 0);
    assert.equal(existsSync(journal), false, 'no pending approvals, no journal');
  });
});

describe('approvals through the server', { skip }, () => {
  let srv: TestServer;
  let sid = '';
  const exec = (script: string) => srv.api('POST', `/api/v1/sessions/${sid}/exec`, { command: 'bash', args: ['-c', script] }).then((r) => r.body as { exit_code: number; stdout: string; stderr: string });
  const pending = async (n = 1) => {
    for (let i = 0; i < 100; i++) {
      const r = await srv.api('GET', '/api/v1/approvals?status=pending');
      if (Array.isArray(r.body) && r.body.length >= n) return r.body as Array<{ id: string; target: string; kind: string; rule: string; message: string }>;
      await new Promise((res) => setTimeout(res, 50));
    }
    assert.fail(`fewer than ${n} pending approvals`);
  };
  const approveCli = (id: string, decision: string, ...extra: string[]) => cli(['approve', 'resolve', id, decision, '-c', srv.configFile, ...extra]);

  before(async () => {
    srv = await startTestServer({ sandbox: true, policy: POLICY, extraConfig: 'approvals:\n  enabled: true\n  mode: api\n  timeout: 30s\n' });
    const r = await srv.api('POST', '/api/v1/sessions', { workspace: srv.workspace });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    sid = r.body.id;
  });
  after(async () => srv?.stop());

  it('a held command runs after approval from the CLI', async () => {
    const f = join(srv.workspace, 'approved.txt');
    const run = exec(`touch ${f}; echo rc=$?`);
    const [a] = await pending();
    assert.equal(a!.kind, 'command');
    assert.equal(a!.rule, 'approve-touch');
    assert.match(a!.target, /touch .*approved\.txt/);
    assert.match(a!.message, /^touch .*approved\.txt/, 'the message template is filled');
    assert.equal(existsSync(f), false, 'nothing ran before the approval');
    const list = cli(['approve', 'list', '-c', srv.configFile]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(a!.id));
    const r = approveCli(a!.id, 'allow', '--reason', 'looks fine');
    assert.equal(r.code, 0, r.stderr);
    const out = await run;
    assert.equal(out.exit_code, 0, out.stderr);
    assert.equal(existsSync(f), true);
    assert.match(await eventsOf(srv, 'approval', /"approver":"cli:[^"]+"[^}]*"outcome":"approved"/), /"approver":"cli:/);
  });

  it('a denied command is refused and leaves nothing', async () => {
    const f = join(srv.workspace, 'denied.txt');
    const run = exec(`touch ${f}`);
    const [a] = await pending();
    assert.equal(approveCli(a!.id, 'deny').code, 0);
    const out = await run;
    assert.equal(out.exit_code, 126);
    assert.match(out.stderr, /not approved/);
    assert.equal(existsSync(f), false);
  });

  it('an unanswered approval expires (rule timeout 1s) and the command is refused', async () => {
    const d = join(srv.workspace, 'late-dir');
    const out = await exec(`mkdir ${d}`);
    assert.equal(out.exit_code, 126);
    assert.match(out.stderr, /expired/);
    assert.equal(existsSync(d), false);
  });

  it('an exec inside the sandbox (nested id) waits for approval; denial gives EACCES', async () => {
    const run = exec('/usr/bin/python3 -c "import subprocess; r = subprocess.run([\'id\', \'-u\'], capture_output=True, text=True); print(\'out\', r.stdout.strip())" 2>&1; echo rc=$?');
    const [a] = await pending();
    assert.equal(a!.kind, 'exec');
    assert.equal(a!.rule, 'approve-nested-id');
    assert.equal(approveCli(a!.id, 'allow').code, 0);
    const ok = await run;
    assert.match(ok.stdout, /out \d+/);
    const run2 = exec('/usr/bin/python3 -c "import subprocess; subprocess.run([\'id\'])" 2>&1 | grep -c PermissionError');
    const [b] = await pending();
    assert.equal(approveCli(b!.id, 'deny').code, 0);
    assert.match((await run2).stdout, /^1$/m);
  });

  it('many approvals pending at once, each resolved on its own', async () => {
    const files = Array.from({ length: 8 }, (_, i) => join(srv.workspace, `many-${i}.txt`));
    const runs = files.map((f) => exec(`touch ${f}`));
    const list = await pending(8);
    for (const a of list) {
      const i = Number(/many-(\d+)/.exec(a.target)![1]);
      const r = await srv.api('POST', `/api/v1/approvals/${a.id}`, { decision: i % 2 ? 'deny' : 'allow' });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    const outs = await Promise.all(runs);
    outs.forEach((o, i) => assert.equal(o.exit_code, i % 2 ? 126 : 0));
    files.forEach((f, i) => assert.equal(existsSync(f), i % 2 === 0));
  });

  it('nothing inside the sandbox can resolve an approval, with any credential it can see', async () => {
    const f = join(srv.workspace, 'self-approved.txt');
    const held = exec(`touch ${f}`);
    const [a] = await pending();
    const r = await exec([
      `cat ${srv.runDir}/api.token 2>&1 | head -c 100; echo`,
      `ls ${srv.runDir} 2>&1 | head -5`,
      `curl -s -m 3 --noproxy '*' -X POST -H "content-type: application/json" -d '{"decision":"allow"}' http://127.0.0.1:${srv.port}/api/v1/approvals/${a!.id}; echo curl=$?`,
      `curl -s -m 3 --unix-socket ${srv.runDir}/agentsh.sock -X POST -d '{"decision":"allow"}' http://x/api/v1/approvals/${a!.id}; echo unix=$?`,
      `env | grep -i -c token; agentsh approve resolve ${a!.id} allow 2>&1 | head -3; echo cli=$?`,
    ].join('\n'));
    assert.doesNotMatch(r.stdout, new RegExp(srv.token()), 'the token is not readable');
    assert.doesNotMatch(r.stdout, /"status":"approved"/);
    const still = await srv.api('GET', `/api/v1/approvals/${a!.id}`);
    assert.equal(still.body.status, 'pending', `the approval is still pending: ${r.stdout}`);
    assert.equal(approveCli(a!.id, 'deny').code, 0);
    assert.equal((await held).exit_code, 126);
    assert.equal(existsSync(f), false);
  });

  it('a server crash with approvals pending fails closed; the restarted server records them as failed', async () => {
    const f = join(srv.workspace, 'crash.txt');
    const held = exec(`touch ${f}`).catch((e: Error) => e);
    const [a] = await pending();
    await srv.restart('SIGKILL');
    assert.ok((await held) instanceof Error || (await held as { exit_code: number }).exit_code !== 0);
    assert.equal(existsSync(f), false, 'the held command never ran');
    let recorded = false;
    for (let i = 0; i < 60 && !recorded; i++) {
      const ev = await srv.api('GET', '/api/v1/events?type=approval');
      recorded = (ev.body as Array<{ fields: { approval_id: string; outcome: string } }>).some((e) => e.fields.approval_id === a!.id && e.fields.outcome === 'failed');
      if (!recorded) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(recorded, 'recorded as failed after the restart');
    const r = await srv.api('POST', `/api/v1/approvals/${a!.id}`, { decision: 'allow' });
    assert.equal(r.status, 409, 'a failed approval can no longer be approved');
    // sessions were in the old server's memory: make a new one for any later test
    const s = await srv.api('POST', '/api/v1/sessions', { workspace: srv.workspace });
    sid = s.body.id;
  });
});
