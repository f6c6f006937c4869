// Which execs the supervisor must ask the server about (the rest run at once and are only
// reported): every name a rule could refuse or condition, the shells, and nothing short of
// "ask for everything" when a refusing rule matches by glob or unknown programs are not
// allowed everywhere.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommandInterceptor, execAskList } from '../src/server/interception.js';
import type { Notification } from '../src/sandbox/launcher.js';
import { engineFor, seedEngine } from './helpers.js';

describe('exec ask list', () => {
  it('seed policy: denied, approved and argv- or depth-conditioned names are asked; plain programs are not', () => {
    const e = seedEngine();
    const ask = execAskList(e.policy, e)!;
    assert.ok(ask);
    for (const n of ['sudo', 'su', 'kill', 'nc', 'git', 'npm', 'rm', 'curl', 'wget', 'bash', 'sh', 'dash']) assert.ok(ask.includes(n), n);
    for (const n of ['true', 'ls', 'python3', 'cat']) assert.ok(!ask.includes(n), n);
    // Every name not asked is allowed at any depth with any argv: the property the fast path relies on.
    for (const prog of ['/usr/bin/true', '/usr/bin/python3', '/opt/x/tool']) for (const depth of [0, 1, 5]) assert.equal(e.checkCommand(prog, ['--force', 'push', 'origin', 'main'], depth).decision, 'allow');
  });
  it('a refusing rule that matches by glob means: ask for every exec', () => {
    const e = engineFor('version: 1\nname: t\ncommand_rules:\n  - {name: no-py, commands: ["python*"], decision: deny}\n  - {name: rest, commands: ["*"], decision: allow}\n');
    assert.equal(execAskList(e.policy, e), null);
  });
  it('no catch-all allow (unknown programs denied by default) means: ask for every exec', () => {
    const e = engineFor('version: 1\nname: t\ncommand_rules:\n  - {name: ls, commands: [ls], decision: allow}\n');
    assert.equal(execAskList(e.policy, e), null);
  });
  it('an allow limited to direct use puts its names on the list', () => {
    const e = engineFor('version: 1\nname: t\ncommand_rules:\n  - {name: d, commands: [make], context: [direct], decision: allow}\n  - {name: rest, commands: ["*"], decision: allow}\n');
    assert.ok(execAskList(e.policy, e)!.includes('make'));
  });
});

describe('exec depth at the supervisor', () => {
  const events: Array<{ fields?: { path?: string; depth?: number } }> = [];
  const ctx = { audit: { record: (e: { fields?: { path?: string; depth?: number } }) => events.push(e) }, redactText: (s: string) => s, sandbox: { hostPathFor: () => (p: string) => p } } as never;
  const e = seedEngine();
  const session = { id: 's', engine: e, workspace: '/w', uid: null } as never;
  const ex = (id: number, pid: number, ancestors: number[], path: string, ...args: string[]): Notification =>
    ({ kind: 'exec', id: String(id), pid, ancestors, path, cwd: '/w', argv: [path, ...args] });
  const depthOf = (path: string) => events.filter((x) => x.fields?.path === path).map((x) => x.fields?.depth);

  it('direct commands are 0, their children 1; retries along PATH and exec in place keep the depth', () => {
    const ic = new CommandInterceptor(ctx, session, 'c', true, null);
    ic.handle(ex(1, 100, [], '/usr/bin/bash', '-c', 'python3 x.py; env ls'));
    ic.handle(ex(2, 101, [100], '/usr/bin/python3', 'x.py')); // forked by the top shell: direct
    ic.handle(ex(3, 102, [101, 100], '/root/bin/ls')); // python's child trying PATH entries
    ic.handle(ex(4, 102, [101, 100], '/usr/bin/ls'));
    ic.handle(ex(5, 103, [100], '/usr/bin/env', 'ls')); // direct
    ic.handle(ex(6, 103, [100], '/usr/bin/ls')); // env execs ls in place
    assert.deepEqual(depthOf('/usr/bin/python3'), [0]);
    assert.deepEqual(depthOf('/root/bin/ls'), [1]);
    assert.deepEqual(depthOf('/usr/bin/ls'), [1, 0]);
    assert.deepEqual(depthOf('/usr/bin/env'), [0]);
  });
});
