// The Landlock plan compiled from the seed policy, on a scratch tree laid out like the seed's
// Daytona image (merged /usr, /proc, /root, the workspace, /tmp).
import assert from 'node:assert/strict';
import { linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compileFsPlan, globReach, planAllows, type FsPlan, type FsRight } from '../src/sandbox/fs-plan.js';
import { engineFor, seedEngine } from './helpers.js';

const WS = '/home/daytona/project';
let root = '';
let plan: FsPlan;
const engine = seedEngine();

const FILES = [
  '/etc/passwd', '/etc/shadow', '/etc/hosts', '/etc/ssl/certs/ca.pem',
  '/usr/bin/ls', '/usr/bin/sudo', '/usr/bin/su', '/usr/bin/kill', '/usr/bin/nc', '/usr/bin/python3', '/usr/bin/env',
  '/usr/bin/nc.openbsd', '/usr/bin/pgrep', '/usr/bin/cat', '/usr/bin/curl',
  '/usr/sbin/chroot', '/usr/sbin/useradd', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
  '/usr/local/bin/tool',
  '/proc/1/environ', '/proc/self/status', '/sys/kernel/notes',
  '/root/secret.txt', '/root/.ssh/id_rsa', '/root/.npm/_cacache/index',
  '/opt/tool/bin/x',
  `${WS}/src/a.ts`, `${WS}/.env`, `${WS}/README.md`,
  '/home/daytona/notes.md', '/home/daytona/.ssh/id_rsa', '/home/other/x',
  '/tmp/scratch/file', '/var/tmp/x', '/var/log/syslog', '/var/lib/agentsh/events.db', '/var/lib/dpkg/status',
  '/dev/null',
];

function build(): string {
  const r = mkdtempSync(join(tmpdir(), 'fs-plan-'));
  for (const f of FILES) {
    mkdirSync(join(r, dirname(f)), { recursive: true });
    writeFileSync(join(r, f), f);
  }
  symlinkSync('usr/bin', join(r, 'bin')); // merged /usr
  symlinkSync('usr/lib', join(r, 'lib'));
  symlinkSync('usr/sbin', join(r, 'sbin'));
  symlinkSync('nc.openbsd', join(r, 'usr/bin/netcat')); // a denied name that is a symlink
  linkSync(join(r, 'usr/bin/pgrep'), join(r, 'usr/bin/pkill')); // a denied name that is a hard link
  symlinkSync('/etc/shadow', join(r, WS.slice(1), 'shadow-link'));
  symlinkSync('/root/secret.txt', join(r, WS.slice(1), 'root-link'));
  mkdirSync(join(r, 'tmp/emptydir'));
  return r;
}

const has = (p: string, right: FsRight) => planAllows(plan, p, right);
const grantOf = (p: string) => plan.grants.find((g) => g.path === p);

describe('fs plan (seed policy, scratch tree)', () => {
  before(() => {
    root = build();
    plan = compileFsPlan(engine.policy, { workspace: WS, fsRoot: root, engine });
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('never names a symlink or a path outside the tree', () => {
    for (const g of plan.grants) {
      const st = lstatSync(join(root, g.path));
      assert.ok(!st.isSymbolicLink(), `${g.path} is a symlink`);
      assert.ok(g.rights.length > 0);
    }
    assert.equal(grantOf('/bin'), undefined);
    assert.equal(grantOf(`${WS}/shadow-link`), undefined);
  });

  it('/etc: readable as the seed says (allow-etc-read covers /etc/shadow too), never writable', () => {
    assert.ok(has('/etc/passwd', 'read'));
    assert.ok(has('/etc/hosts', 'read'));
    assert.equal(engine.checkFile('read', '/etc/shadow').decision, 'allow'); // the seed relies on Unix permissions
    assert.ok(has('/etc/shadow', 'read'), 'the plan follows the engine');
    assert.deepEqual(grantOf('/etc')?.rights, ['read', 'read_dir']);
    for (const r of ['write', 'create', 'remove', 'truncate', 'exec'] as const) assert.ok(!has('/etc/passwd', r), r);
  });

  it('/usr/bin: sudo and su neither executable nor readable; ls executable and readable', () => {
    for (const b of ['/usr/bin/sudo', '/usr/bin/su']) {
      assert.ok(!has(b, 'exec'), `${b} exec`);
      assert.ok(!has(b, 'read'), `${b} read`);
    }
    assert.ok(has('/usr/bin/ls', 'exec'));
    assert.ok(has('/usr/bin/ls', 'read'));
    assert.ok(has('/usr/bin/python3', 'exec'));
    assert.ok(has('/usr/bin/env', 'exec'));
    assert.ok(has('/usr/bin/curl', 'exec'), 'curl is denied only nested (approve): left to user-notify');
    assert.deepEqual(grantOf('/usr/bin')?.rights, ['read_dir'], 'exec and read are granted per child; listing on the directory');
    assert.ok(!has('/usr/bin/ls', 'write'));
    const sudo = plan.denied.filter((d) => d.path === '/usr/bin/sudo');
    assert.deepEqual(sudo.map((d) => [d.right, d.rule]).sort(), [['exec', 'block-shell-escape'], ['read', 'block-dangerous-binaries']]);
  });

  it('command rules: kill, nc, pkill (hard link of pgrep), netcat → nc.openbsd are left out of exec and read', () => {
    for (const b of ['/usr/bin/kill', '/usr/bin/nc', '/usr/bin/pkill', '/usr/bin/pgrep', '/usr/bin/nc.openbsd']) {
      assert.ok(!has(b, 'exec'), `${b} exec`);
      assert.ok(!has(b, 'read'), `${b} read`);
    }
    assert.equal(plan.denied.find((d) => d.path === '/usr/bin/kill' && d.right === 'exec')?.rule, 'block-system-commands');
    assert.match(plan.denied.find((d) => d.path === '/usr/bin/nc.openbsd' && d.right === 'exec')!.reason, /via symlink \/usr\/bin\/netcat/);
    assert.match(plan.denied.find((d) => d.path === '/usr/bin/pgrep' && d.right === 'exec')!.reason, /hard link of \/usr\/bin\/pkill/);
    assert.equal(engine.checkFile('read', '/usr/bin/kill').decision, 'allow');
    assert.ok(plan.warnings.some((w) => w.includes('over-restriction on purpose') && w.includes('/usr/bin/kill')));
  });

  it('merged /usr: /bin, /sbin, /lib are handled on their real paths', () => {
    assert.ok(plan.warnings.some((w) => w.includes('exec dir /bin is a symlink to /usr/bin')));
    assert.ok(has('/usr/sbin/useradd', 'exec'));
    assert.ok(!has('/usr/sbin/chroot', 'exec') && !has('/usr/sbin/chroot', 'read'));
    assert.ok(has('/usr/lib/x86_64-linux-gnu/libc.so.6', 'exec'));
    // Listing /usr/lib is also listing /lib, which the seed denies (`/lib/**` does not match /lib):
    // listings are decided on the directory's own path, so `ls /usr/lib` works.
    assert.equal(engine.checkFile('list', '/lib').decision, 'deny');
    assert.deepEqual(grantOf('/usr/lib')?.rights, ['exec', 'read', 'read_dir']);
    assert.ok(has('/usr/lib/x86_64-linux-gnu', 'read_dir'));
    assert.ok(has('/usr/bin', 'read_dir'));
    assert.deepEqual(grantOf('/usr/local/bin')?.rights, ['exec']);
    assert.ok(!plan.grants.some((g) => g.path === '/bin' || g.path.startsWith('/bin/')));
  });

  it('/proc, /sys, /root, /opt are not granted; /root/.ssh is approve (the kernel cannot ask)', () => {
    for (const p of ['/proc', '/proc/1/environ', '/sys/kernel/notes', '/root', '/root/secret.txt', '/root/.ssh/id_rsa', '/opt/tool/bin/x']) {
      for (const r of ['read', 'read_dir', 'write', 'exec'] as const) assert.ok(!has(p, r), `${p} ${r}`);
    }
    assert.deepEqual(plan.denied.find((d) => d.path === '/proc' && d.right === 'read'), { path: '/proc', reason: 'deny', rule: 'deny-proc-sys', right: 'read' });
    assert.equal(plan.denied.find((d) => d.path === '/root/secret.txt' && d.right === 'read')?.rule, 'default-deny-files');
    assert.equal(plan.denied.find((d) => d.path === '/root/.ssh' && d.right === 'read')?.reason, 'approve');
    assert.ok(has('/root/.npm/_cacache/index', 'read'), 'allow-cache-read');
  });

  it('the workspace and /tmp: read, write, create; remove only in /tmp (soft_delete in the workspace)', () => {
    for (const r of ['read', 'read_dir', 'write', 'truncate', 'create', 'refer'] as const) assert.ok(has(`${WS}/src/a.ts`, r), r);
    assert.ok(!has(`${WS}/src/a.ts`, 'remove'));
    assert.ok(!has(`${WS}/src/a.ts`, 'exec'));
    assert.ok(plan.denied.some((d) => d.path === '/home/daytona' && d.right === 'remove' && d.reason === 'soft_delete'));
    assert.ok(plan.warnings.some((w) => w.includes('remove is not granted in the workspace') && w.includes('soft')));
    for (const r of ['read', 'write', 'truncate', 'create', 'remove', 'refer'] as const) assert.ok(has('/tmp/scratch/file', r), r);
    assert.deepEqual(grantOf('/tmp')?.rights, ['write', 'read', 'remove', 'create', 'refer', 'truncate']);
    // `/tmp/**` does not match /tmp itself: the seed denies listing /tmp, so read_dir is per child.
    assert.equal(engine.checkFile('list', '/tmp').decision, 'deny');
    assert.ok(!has('/tmp', 'read_dir') && has('/tmp/emptydir', 'read_dir'));
    assert.ok(has('/var/tmp/x', 'remove'));
    assert.ok(!has('/var/log/syslog', 'read'));
    assert.ok(has('/var/lib/agentsh/events.db', 'read') && has('/var/lib/agentsh/events.db', 'write'));
  });

  it('a symlink in the workspace gives no grant to its target', () => {
    assert.ok(!has('/root/secret.txt', 'read'));
    assert.ok(!plan.grants.some((g) => g.path.endsWith('-link')));
    // /etc/shadow stays exactly as readable as the policy makes /etc/shadow itself.
    assert.equal(has('/etc/shadow', 'read'), engine.checkFile('read', '/etc/shadow').decision === 'allow');
  });

  it('property: the plan never grants more than the engine allows; over-restrictions are warned', (t) => {
    const aliases: [string, string][] = [['/usr/bin', '/bin'], ['/usr/lib', '/lib'], ['/usr/sbin', '/sbin']];
    const names = (p: string) => [p, ...aliases.filter(([r]) => p === r || p.startsWith(`${r}/`)).map(([r, a]) => a + p.slice(r.length))];
    const allowed = (op: string, p: string) => names(p).every((n) => engine.checkFile(op, n).decision === 'allow');
    const execAllowed = (p: string) => names(p).every((n) => engine.checkCommand(n, [], 0).decision !== 'deny' || engine.checkCommand(n, [], 1).decision !== 'deny') && allowed('read', p);
    const over: string[] = [];
    const under: string[] = [];
    const check = (p: string, right: FsRight, ok: boolean) => {
      if (has(p, right) && !ok) over.push(`${right} ${p}`);
      if (!has(p, right) && ok) under.push(`${right} ${p}`);
    };
    const visit = (p: string) => {
      const st = lstatSync(join(root, p));
      if (st.isSymbolicLink()) return;
      if (st.isDirectory()) {
        // A listing is decided on the directory's own path (fs-plan: `/bin/**` does not match
        // `/bin`, and refusing `ls /usr/bin` because of that alias would be a trap, not policy).
        check(p, 'read_dir', engine.checkFile('list', p).decision === 'allow');
        check(p, 'create', allowed('create', `${p}/new-file`) && allowed('mkdir', `${p}/new-dir`));
        check(p, 'remove', allowed('delete', `${p}/f`) && allowed('rmdir', `${p}/d`));
        for (const n of readdirSync(join(root, p))) visit(p === '/' ? `/${n}` : `${p}/${n}`);
        return;
      }
      check(p, 'read', allowed('read', p));
      check(p, 'write', allowed('write', p));
      const inExecDir = ['/usr/bin/', '/usr/sbin/', '/usr/lib/', '/usr/local/bin/'].some((d) => p.startsWith(d));
      check(p, 'exec', inExecDir && execAllowed(p));
    };
    visit('/');
    assert.deepEqual(over, [], 'the plan grants something the engine denies');
    t.diagnostic(`engine allows, plan withholds (${under.length}): ${under.join('; ')}`);
    for (const u of under) {
      const [right, p] = u.split(' ') as [FsRight, string];
      const explained =
        (right === 'read' && plan.warnings.some((w) => w.includes('over-restriction on purpose') && w.includes(p))) ||
        (right === 'exec' && plan.denied.some((d) => d.path === p && d.right === 'exec')) ||
        (right === 'read_dir' && plan.warnings.some((w) => w.startsWith('over-restriction: read_dir') && w.includes(p)));
      assert.ok(explained, `unexplained over-restriction: ${u}`);
    }
  });

  it('summary', (t) => {
    t.diagnostic(`grants ${plan.grants.length}, denied ${plan.denied.length}, warnings ${plan.warnings.length}`);
    for (const g of plan.grants) t.diagnostic(`grant ${g.path} ${g.rights.join(',')}`);
    for (const d of plan.denied) t.diagnostic(`denied ${d.right} ${d.path} ${d.reason} ${d.rule}`);
    for (const w of plan.warnings) t.diagnostic(`warning ${w}`);
  });

  it('is deterministic and sorted', () => {
    const again = compileFsPlan(engine.policy, { workspace: WS, fsRoot: root, engine });
    assert.deepEqual(again, plan);
    const paths = plan.grants.map((g) => g.path);
    assert.deepEqual(paths, [...paths].sort());
  });

  it('deniedCommands and execDirs options', () => {
    const p = compileFsPlan(engine.policy, { workspace: WS, fsRoot: root, engine, execDirs: ['/bin'], deniedCommands: ['python3'] });
    assert.ok(!planAllows(p, '/usr/bin/python3', 'exec'));
    assert.ok(!planAllows(p, '/usr/bin/python3', 'read'));
    assert.ok(planAllows(p, '/usr/bin/ls', 'exec'));
    assert.ok(!planAllows(p, '/usr/lib/x86_64-linux-gnu/libc.so.6', 'exec'));
  });
});

describe('fs plan: rule reach', () => {
  it('globReach', () => {
    assert.equal(globReach('/etc/**', '/etc'), 'all');
    assert.equal(globReach('/etc/**', '/etc/ssl'), 'all');
    assert.equal(globReach('/etc/**', '/'), 'some');
    assert.equal(globReach('/etc/**', '/usr'), 'none');
    assert.equal(globReach('**', '/x'), 'all');
    assert.equal(globReach('**/.env', '/usr'), 'some');
    assert.equal(globReach('/usr/bin/sudo', '/usr'), 'some');
    assert.equal(globReach('/usr/bin/sudo', '/usr/bin/sudo'), 'none');
    assert.equal(globReach('/etc', '/etc'), 'none');
    assert.equal(globReach('/home/*/x', '/home/daytona'), 'some');
    assert.equal(globReach('/home/*/x', '/opt'), 'none');
    assert.equal(globReach('/tmp*/**', '/tmp'), 'some');
  });

  it('a policy that denies a file deep below an allowed tree splits only along that path', () => {
    const yaml = `
version: 1
name: t
file_rules:
  - name: no-secret
    paths: ["/data/a/b/secret"]
    operations: ["*"]
    decision: deny
  - name: data
    paths: ["/data", "/data/**"]
    operations: [read, list]
    decision: allow
  - name: rest
    paths: ["**"]
    operations: ["*"]
    decision: deny
command_rules:
  - name: all
    commands: ["*"]
    decision: allow
`;
    const e = engineFor(yaml);
    const r = mkdtempSync(join(tmpdir(), 'fs-plan-deep-'));
    try {
      for (const f of ['data/a/b/secret', 'data/a/b/ok', 'data/a/c/x', 'data/z/y', 'data/top']) {
        mkdirSync(join(r, dirname(f)), { recursive: true });
        writeFileSync(join(r, f), f);
      }
      const p = compileFsPlan(e.policy, { workspace: '/data', fsRoot: r, engine: e, execDirs: [] });
      const reads = p.grants.filter((g) => g.rights.includes('read')).map((g) => g.path);
      assert.deepEqual(reads, ['/data/a/b/ok', '/data/a/c', '/data/top', '/data/z']);
      assert.ok(!planAllows(p, '/data/a/b/secret', 'read'));
      assert.deepEqual(p.denied.filter((d) => d.right === 'read').map((d) => [d.path, d.rule]), [['/data/a/b/secret', 'no-secret']]);
      assert.ok(planAllows(p, '/data/a', 'read_dir'), 'listing stays allowed: the secret is a file, READ_DIR concerns directories');
    } finally {
      rmSync(r, { recursive: true, force: true });
    }
  });
});
