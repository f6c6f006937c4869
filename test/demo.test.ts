// The demo's pure parts: matching audit events to a check's command, choosing the event that
// decided it, the scorecard's text and the CLI's refusals. The demo itself runs in
// test/sandbox-e2e.test.ts (unprivileged) and in `npm start`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalProvider } from '../src/provider/local.js';
import { describe, it } from 'node:test';
import { commandWindow, decider, parseEvents, rulesSeen, type DemoAuditEvent } from '../src/demo/audit-match.js';
import { demoChecks, GROUPS } from '../src/demo/checks.js';
import { fit, formatResult, formatSummary } from '../src/demo/scorecard.js';
import { observedOf, seedFiles, type CheckResult, type DemoReport } from '../src/demo/seed-demo.js';

const CLI = new URL('../../bin/agentsh', import.meta.url).pathname;
const ev = (e: Partial<DemoAuditEvent> & { type: string }): DemoAuditEvent => ({ fields: {}, ...e });

describe('audit matching', () => {
  const log = [
    ev({ type: 'command_finished', command_id: 'old' }), // the previous check's tail
    ev({ type: 'command_policy', command_id: 'c1', decision: 'allow', rule: 'allow-dev-tools', fields: { command: 'python3 x.py' } }),
    ev({ type: 'command_started', command_id: 'c1' }),
    ev({ type: 'exec', command_id: 'c1', decision: 'allow', rule: 'allow-dev-tools' }),
    ev({ type: 'exec', command_id: 'other', decision: 'deny', rule: 'not-mine' }),
    ev({ type: 'net_connect', decision: 'deny', rule: 'block-evil-domains' }),
    ev({ type: 'exec', command_id: 'c1', decision: 'deny', rule: 'block-shell-escape' }),
    ev({ type: 'command_finished', command_id: 'c1' }),
    ev({ type: 'exec', command_id: 'c1', decision: 'deny', rule: 'after-the-end' }),
  ];
  it('takes the command\'s events from its command_policy to its command_finished, and id-less ones between', () => {
    const w = commandWindow(log, 'python3 x.py');
    assert.equal(w.complete, true);
    assert.deepEqual(w.events.map((e) => e.rule ?? e.type), ['allow-dev-tools', 'command_started', 'allow-dev-tools', 'block-evil-domains', 'block-shell-escape', 'command_finished']);
  });
  it('the first refusal decides; else the command\'s allow', () => {
    assert.deepEqual(decider(commandWindow(log, 'python3 x.py')), { type: 'net_connect', rule: 'block-evil-domains', decision: 'deny' });
    const allowed = [ev({ type: 'command_policy', command_id: 'c2', decision: 'allow', rule: 'allow-safe-commands', fields: { command: 'ls' } }), ev({ type: 'command_finished', command_id: 'c2' })];
    assert.deepEqual(decider(commandWindow(allowed, 'ls')), { type: 'command_policy', rule: 'allow-safe-commands', decision: 'allow' });
    assert.deepEqual(rulesSeen(commandWindow(log, 'python3 x.py')).map((d) => d.rule), ['allow-dev-tools', 'allow-dev-tools', 'block-evil-domains', 'block-shell-escape']);
  });
  it('a refused command is complete at its policy event; an allowed one waits for its end', () => {
    const refused = [ev({ type: 'command_policy', command_id: 'c3', decision: 'deny', rule: 'block-shell-escape', fields: { command: 'sudo id' } })];
    assert.equal(commandWindow(refused, 'sudo id').complete, true);
    const running = [ev({ type: 'command_policy', command_id: 'c4', decision: 'allow', rule: 'r', fields: { command: 'sleep 1' } }), ev({ type: 'command_started', command_id: 'c4' })];
    assert.equal(commandWindow(running, 'sleep 1').complete, false);
    assert.equal(commandWindow(running, 'not run').policy, null);
  });
  it('parses JSONL, skipping a line being written', () => {
    assert.equal(parseEvents('{"type":"a","fields":{}}\n{"type":"b","fields":{}}\n{"type":"c","fi').length, 2);
  });
});

describe('checks and scorecard', () => {
  it('every group of the brief is covered, each check has an expectation, tags are used', () => {
    const checks = demoChecks('TAG1');
    for (const g of GROUPS) assert.ok(checks.some((c) => c.group === g), g);
    assert.ok(checks.length >= 30);
    for (const c of checks) assert.ok(c.expect && (c.audit || c.enforcedBy || !/refused|fails/.test(c.expect)), c.name);
    assert.ok(checks.filter((c) => c.cmd.includes('TAG1')).length > 10);
    assert.equal(new Set(checks.map((c) => c.name)).size, checks.length, 'names are unique');
  });
  it('observed: refusals in short, tracebacks by their last line', () => {
    assert.equal(observedOf({ exitCode: 126, stdout: '', stderr: 'agentsh: command denied by policy (rule=block-shell-escape)\n', output: 'agentsh: command denied by policy (rule=block-shell-escape)\n' }), 'refused (126), rule=block-shell-escape');
    assert.equal(observedOf({ exitCode: 1, stdout: '', stderr: '', output: 'Traceback (most recent call last):\n  File "x"\nPermissionError: [Errno 13]\n' }), 'exit 1 · PermissionError: [Errno 13]');
    assert.equal(observedOf({ exitCode: 0, stdout: '', stderr: '', output: '' }), 'exit 0');
  });
  it('rows fit their columns; a failure says why; the summary counts', () => {
    assert.equal(fit('abcdef', 4), 'abc…');
    assert.equal(fit('a\nb', 5), 'a b  ');
    const r: CheckResult = { group: 'network', name: 'n', command: 'curl x', expected: 'e', observed: 'o', exitCode: 0, pass: false, why: 'because', decidedBy: { type: 'net_connect', rule: 'block-evil-domains', decision: 'deny' }, ms: 1 };
    const text = formatResult(r, 'network');
    assert.match(text, /== network/);
    assert.match(text, /^FAIL {4}\$ curl x/m);
    assert.match(text, /deny block-evil-domains \(proxy\)$/m);
    assert.match(text, /✗ n: because/);
    const rep: DemoReport = { provider: 'local', sandbox: 'sb-1', audit: 'read', createMs: 1, totalMs: 2, passed: 1, failed: 1, results: [r, { ...r, pass: true }] };
    assert.match(formatSummary(rep), /^1\/2 checks held, 1 FAILED/m);
  });
  it('the seed files default to ../shared/seed when present, else the fixtures', () => {
    assert.match(seedFiles().config, /(shared\/seed|test\/fixtures\/seed)\/config\.yaml$/);
  });
});

describe('agentsh demo (CLI)', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, DAYTONA_API_KEY: '' } });
  it('refuses an unknown provider and --config with daytona (usage, exit 2)', () => {
    let r = run('demo', '--provider', 'nope');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown sandbox provider 'nope'/);
    r = run('demo', '--only', 'no-such-check');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no check matches --only 'no-such-check'/);
    r = run('demo', '--provider', 'daytona', '--config', 'x.yaml');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--config and --policy apply to the local provider/);
  });
  it('cannot run without a sandbox: 101 and the provider\'s reason', () => {
    const r = run('demo', '--provider', 'daytona');
    assert.equal(r.status, 101);
    assert.match(r.stderr, /agentsh: demo: .*(DAYTONA_API_KEY|@daytonaio\/sdk)/);
  });
  it('is listed in the help', () => {
    assert.match(run('--help').stdout, /demo \[options\]/);
  });
});

describe('the local provider, looking from outside (what the demo observes with)', () => {
  it('maps the sandbox\'s places to its directory, and a symlink the agent planted never leads out', async () => {
    const root = mkdtempSync(join(tmpdir(), 'agentsh-demo-probe-'));
    try {
      const id = 'sb-0123456789';
      const dir = join(root, id);
      mkdirSync(join(dir, 'home'), { recursive: true });
      writeFileSync(join(dir, 'sandbox.json'), JSON.stringify({ id, provider: 'local', createdAt: '', pid: 0, startTime: '', uid: 0, gid: 0, configPath: '', policyPath: '' }));
      writeFileSync(join(dir, 'home', 'notes.txt'), 'mine\n');
      symlinkSync('/etc/hostname', join(dir, 'home', 'escape'));
      const p = new LocalProvider({ root });
      assert.equal(await p.readFile(id, '/home/daytona/notes.txt'), 'mine\n');
      assert.equal(await p.fileExists(id, '/home/daytona/notes.txt'), true);
      assert.equal(await p.fileExists(id, '/home/daytona/escape'), true, 'the link itself exists');
      assert.equal(await p.readFile(id, '/home/daytona/escape'), null, 'but is not followed out of the home');
      assert.equal(await p.readFile(id, '/home/daytona/../daytona/notes.txt'), 'mine\n');
      assert.equal(await p.fileExists(id, '/home/daytona/absent'), false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
