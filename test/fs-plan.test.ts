// The Landlock plan compiled from the seed policy, on a scratch tree laid out like the seed's
// Daytona image (merged /usr, /proc, /root, the workspace, /tmp).
import assert from 'node:assert/strict';
import { linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compileFsPlan, deepGlobBase, globReach, planAllows, type FsPlan, type FsRight } from '../src/sandbox/fs-plan.js';
import type { PolicyEngine } from '../src/policy/engine.js';
import { seedCredentialsFirst } from './fs-plan-policies.js';
import { engineFor, SEED_VARS, seedEngine } from './helpers.js';

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
    const { over, under } = compareWithEngine(plan, root, engine);
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

/**
 * Every existing path of the scratch tree against the engine: `over` = what the plan grants and
 * the engine denies, `under` = the reverse. Masked files allow nothing (planAllows).
 */
function compareWithEngine(p: FsPlan, treeRoot: string, e: PolicyEngine, softDeleteRemovable = false): { over: string[]; under: string[] } {
  const aliases: [string, string][] = [['/usr/bin', '/bin'], ['/usr/lib', '/lib'], ['/usr/sbin', '/sbin']];
  const names = (x: string) => [x, ...aliases.filter(([r]) => x === r || x.startsWith(`${r}/`)).map(([r, a]) => a + x.slice(r.length))];
  // softDeleteRemovable: a soft_delete decision lets the kernel delete (user-notify moves the file to the trash first).
  const ok = (op: string, d: string) => d === 'allow' || (softDeleteRemovable && d === 'soft_delete' && (op === 'delete' || op === 'rmdir'));
  const allowed = (op: string, x: string) => names(x).every((n) => ok(op, e.checkFile(op, n).decision));
  const execAllowed = (x: string) => names(x).every((n) => e.checkCommand(n, [], 0).decision !== 'deny' || e.checkCommand(n, [], 1).decision !== 'deny') && allowed('read', x);
  const over: string[] = [];
  const under: string[] = [];
  const check = (x: string, right: FsRight, ok: boolean) => {
    const granted = planAllows(p, x, right);
    if (granted && !ok) over.push(`${right} ${x}`);
    if (!granted && ok) under.push(`${right} ${x}`);
  };
  const visit = (x: string) => {
    const st = lstatSync(join(treeRoot, x));
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) {
      // A listing is decided on the directory's own path (fs-plan: `/bin/**` does not match
      // `/bin`, and refusing `ls /usr/bin` because of that alias would be a trap, not policy).
      check(x, 'read_dir', e.checkFile('list', x).decision === 'allow');
      check(x, 'create', allowed('create', `${x}/new-file`) && allowed('mkdir', `${x}/new-dir`));
      check(x, 'remove', allowed('delete', `${x}/f`) && allowed('rmdir', `${x}/d`));
      for (const n of readdirSync(join(treeRoot, x))) visit(x === '/' ? `/${n}` : `${x}/${n}`);
      return;
    }
    check(x, 'read', allowed('read', x));
    check(x, 'write', allowed('write', x));
    const inExecDir = ['/usr/bin/', '/usr/sbin/', '/usr/lib/', '/usr/local/bin/'].some((d) => x.startsWith(d));
    check(x, 'exec', inExecDir && execAllowed(x));
  };
  visit('/');
  return { over, under };
}

describe('fs plan: globs matching at any depth (the seed with its credential rules first)', () => {
  // Before: every directory below an allowed tree was "mixed" for `**/.env`, so the plan granted
  // each file on its own (≈ 211,000 grants, 20 MB on this machine's / against the launcher's
  // 1 MiB) and no directory could be created in (a `.env` could be created anywhere).
  const credEngine = engineFor(seedCredentialsFirst(), SEED_VARS);
  const SECRETS = [`${WS}/.env`, `${WS}/.env.local`, `${WS}/node_modules/pkg7/.env`, '/etc/app/.env', '/home/daytona/.netrc', '/usr/share/fixture/.netrc', '/tmp/scratch/.env'];
  let r = '';
  let packages = 0;
  /** node_modules and /usr/share/doc grow to `to` packages (4 files, 1 file each). */
  const tree = (to: number) => {
    for (let i = packages; i < to; i++) {
      for (const f of ['index.js', 'package.json', 'lib/a.js', 'lib/b.js']) {
        mkdirSync(dirname(join(r, WS, 'node_modules', `pkg${i}`, f)), { recursive: true });
        writeFileSync(join(r, WS, 'node_modules', `pkg${i}`, f), f);
      }
      mkdirSync(join(r, 'usr/share/doc', `pkg${i}`), { recursive: true });
      writeFileSync(join(r, 'usr/share/doc', `pkg${i}`, 'copyright'), 'c');
    }
    packages = Math.max(packages, to);
  };
  before(() => {
    r = build();
    tree(150);
    for (const f of SECRETS) {
      mkdirSync(join(r, dirname(f)), { recursive: true });
      writeFileSync(join(r, f), 'SECRET');
    }
    mkdirSync(join(r, WS, 'config/.env.d'), { recursive: true }); // a directory matching `**/.env.*`
    writeFileSync(join(r, WS, 'config/.env.d/x'), 'SECRET');
  });
  after(() => rmSync(r, { recursive: true, force: true }));

  const compile = (mask: boolean, extra: Partial<Parameters<typeof compileFsPlan>[1]> = {}) =>
    compileFsPlan(credEngine.policy, { workspace: WS, fsRoot: r, engine: credEngine, softDeleteRemovable: true, maskFiles: mask, ...extra });

  it('deepGlobBase: only globs with pattern after a `**`', () => {
    assert.equal(deepGlobBase('**/.env'), '');
    assert.equal(deepGlobBase('**/.env.*'), '');
    assert.equal(deepGlobBase('/home/**/.netrc'), '/home');
    assert.equal(deepGlobBase('/home/*/x/**/.netrc'), '/home');
    assert.equal(deepGlobBase('/**/x'), '/');
    for (const g of ['/x/**', '**', '/**', '/home/*/x', '/etc/passwd', '/tmp*/**']) assert.equal(deepGlobBase(g), null, g);
  });

  for (const mask of [false, true]) {
    describe(mask ? 'with maskFiles (namespaced modes)' : 'without masks (landlock-only)', () => {
      let p: FsPlan;
      before(() => {
        p = compile(mask);
      });

      it('the plan does not grow with the tree: per-child grants only along the paths of existing matches', () => {
        const nm = `${WS}/node_modules/`;
        const outside = (x: FsPlan) => x.grants.filter((g) => !g.path.startsWith(nm));
        const before = packages;
        tree(packages * 2); // twice the packages, in the same places
        const big = compile(mask);
        assert.deepEqual(outside(big), outside(p), 'more files elsewhere, same grants');
        assert.deepEqual(big.masked, p.masked);
        // node_modules holds a secret (pkg7/.env): hidden by a mount, or its siblings granted one by one.
        const inNm = big.grants.filter((g) => g.path.startsWith(nm)).length;
        if (mask) assert.equal(inNm, 0);
        else assert.equal(inNm, packages - 1 + 3, `one grant per package (${before} → ${packages}) but pkg7, split into its three other entries`);
        assert.ok(outside(big).length < 100, `${outside(big).length} grants`);
        p = big;
      });

      it('never grants more than the engine allows, for every existing path', () => {
        assert.deepEqual(compareWithEngine(p, r, credEngine, true).over, []);
      });

      it('every existing secret is kernel-refused: not granted (split along its path) or hidden by a mount', () => {
        for (const f of SECRETS) {
          assert.notEqual(credEngine.checkFile('read', f).decision, 'allow', f);
          for (const right of ['read', 'write', 'truncate'] as const) assert.ok(!planAllows({ grants: p.grants }, f, right) || p.masked.includes(f), `${right} ${f}`);
        }
        // Masked where its tree is otherwise uniform (/home/daytona is split anyway, for .ssh).
        const inUniformTrees = SECRETS.filter((f) => f !== '/home/daytona/.netrc');
        assert.deepEqual(p.masked.filter((f) => SECRETS.includes(f)), mask ? [...inUniformTrees].sort() : []);
        assert.ok(!planAllows(p, `${WS}/config/.env.d`, 'read_dir'), 'a directory matching **/.env.* is not listable');
        assert.equal(credEngine.checkFile('read', `${WS}/config/.env.d/x`).decision, 'allow', '`*` stays in one segment: its content is not a match');
        assert.ok(planAllows(p, `${WS}/config/.env.d/x`, 'read'));
        if (mask) {
          // Hidden by mounts, so their directories are granted as a whole.
          assert.ok(p.grants.some((g) => g.path === `${WS}/node_modules` && g.rights.includes('read')));
          assert.ok(p.grants.some((g) => g.path === '/usr' && g.rights.includes('read')));
        } else {
          assert.ok(!p.grants.some((g) => g.path === `${WS}/node_modules/pkg7`), 'the directory holding a secret is split');
          assert.ok(p.grants.some((g) => g.path === `${WS}/node_modules/pkg7/index.js` && g.rights.includes('read')));
          assert.ok(p.grants.some((g) => g.path === `${WS}/node_modules/pkg8` && g.rights.includes('read')), 'its siblings are whole');
        }
      });

      it('the session stays usable: workspace and /tmp read, write, create; listings work', () => {
        for (const right of ['read', 'write', 'truncate'] as const) assert.ok(planAllows(p, `${WS}/src/a.ts`, right), right);
        for (const right of ['read', 'write'] as const) assert.ok(planAllows(p, `${WS}/node_modules/pkg3/lib/a.js`, right), right);
        for (const d of [WS, `${WS}/src`, `${WS}/node_modules/pkg3`, '/tmp/scratch']) assert.ok(planAllows(p, d, 'create'), `create ${d}`);
        for (const d of ['/usr/share/doc', `${WS}/node_modules`, '/etc']) assert.ok(planAllows(p, d, 'read_dir'), `list ${d}`);
        assert.ok(planAllows(p, '/usr/share/doc/pkg1/copyright', 'read'));
      });

      it('what the kernel does not refuse is reported per rule, and the report is exact', () => {
        const gaps = p.notKernelEnforced;
        for (const rule of ['approve-env-files', 'approve-git-credentials']) {
          const later = gaps.find((g) => g.rule === rule && g.gap === 'created-later');
          const names = gaps.find((g) => g.rule === rule && g.gap === 'new-names');
          assert.ok(later && names, `${rule}: ${JSON.stringify(gaps)}`);
          assert.equal(later.decision, 'approve');
          assert.ok(later.rights.includes('read') && names.rights.includes('create'));
          assert.ok(p.warnings.some((w) => w.startsWith(`not kernel-enforced: ${rule} (approve): a path matching`)));
          assert.ok(p.warnings.some((w) => w.startsWith(`not kernel-enforced: ${rule} (approve): creating (or renaming to) a name matching`)));
        }
        const env = gaps.find((g) => g.rule === 'approve-env-files' && g.gap === 'created-later')!;
        assert.deepEqual(env.globs, ['**/.env', '**/.env.*']);
        // A new `.env` gets exactly the rights of the directories the report names, nowhere else.
        const reported = (x: string, right: FsRight) => env.under.some((u) => (x === u.path || x.startsWith(`${u.path}/`)) && u.rights.includes(right));
        for (const dir of [`${WS}/src`, `${WS}/node_modules/pkg8/lib`, `${WS}/node_modules/pkg7`, '/usr/share/doc/pkg2', '/usr/share/fixture', '/etc', '/etc/app', '/root', '/root/.npm', '/proc', '/var/log', '/opt/tool', '/tmp', '/dev']) {
          const x = `${dir}/.env.new`; // matches `**/.env.*`, exists nowhere
          for (const right of ['read', 'write'] as const) assert.equal(planAllows(p, x, right), reported(x, right), `${right} ${x}: ${JSON.stringify(env.under)}`);
        }
        // Mode full (softDeleteRemovable: true): deletes reach user space, opens and creates never do.
        assert.match(env.userSpace ?? '', /deletes are checked by the exec\/delete interception/);
        const created = gaps.find((g) => g.rule === 'approve-env-files' && g.gap === 'new-names')!;
        assert.equal(created.userSpace, null);
        assert.ok(created.under.some((u) => (u.path === WS || WS.startsWith(`${u.path}/`)) && u.rights.includes('create')), JSON.stringify(created.under));
        for (const u of created.under) assert.deepEqual(u.rights, ['create'], 'creating is the only thing a new name needs');
        // The SSH and cloud rules have literal prefixes: split along their paths, fully kernel-enforced.
        assert.ok(!gaps.some((g) => /ssh|aws|cloud/.test(g.rule)));
        assert.ok(!planAllows(p, '/home/daytona/.ssh/id_rsa', 'read') && !planAllows(p, '/home/daytona/.ssh', 'create'));
      });

      it('with the FUSE view (mode landlock), the report says the view refuses it in the workspace', () => {
        const v = compile(mask, { softDeleteRemovable: { within: WS } });
        const names = v.notKernelEnforced.find((g) => g.rule === 'approve-env-files' && g.gap === 'new-names')!;
        assert.match(names.userSpace ?? '', /FUSE workspace view refuses it inside \/home\/daytona\/project/);
      });
    });
  }

  it('the seed as written: the deep rules sit behind the workspace allows; a small plan, never more than the engine allows', () => {
    const p = compileFsPlan(engine.policy, { workspace: WS, fsRoot: r, engine, softDeleteRemovable: true, maskFiles: true });
    assert.ok(planAllows(p, `${WS}/.env`, 'read'), 'allow-workspace-read comes first in the seed');
    assert.ok(p.grants.length < 120, `${p.grants.length}`);
    assert.deepEqual(compareWithEngine(p, r, engine, true).over, []);
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
