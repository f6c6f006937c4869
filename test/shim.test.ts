// Installing the shell shim into scratch roots (never the machine's own /bin): copies of the
// real /bin/bash and /bin/sh in merged-usr and split-usr layouts, install / status /
// idempotence / upgrade / uninstall, interrupted states, and the refusal to touch `/`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildShim, SHIM_MARKER } from '../src/shim/build.js';
import { installShell, shellStatus, shimCommand, uninstallShell, type ShellName } from '../src/shim/install.js';

const HOST_BASH = realpathSync('/bin/bash');
const HOST_SH = realpathSync('/bin/sh'); // dash on Debian; bash elsewhere
const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-shimi-')));
const isRoot = process.getuid?.() === 0;
let shim = '';
let n = 0;

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

// The host's own shells, before anything runs: checked unchanged at the end.
const hostFiles = [HOST_BASH, HOST_SH, '/bin/bash', '/bin/sh', '/usr/bin/bash', '/usr/bin/sh'];
const hostBefore = new Map(hostFiles.map((p) => [p, fingerprint(p)]));
function fingerprint(p: string): string {
  const st = lstatSync(p, { throwIfNoEntry: false });
  const real = lstatSync(`${p}.real`, { throwIfNoEntry: false });
  return JSON.stringify([st?.ino, st?.size, st?.mtimeMs, st?.isSymbolicLink() ? readlinkSync(p) : null, real ? real.ino : 'no .real']);
}

before(() => {
  shim = process.env.AGENTSH_TEST_SHIM || buildShim();
});
after(() => {
  rmSync(tmp, { recursive: true, force: true });
  for (const [p, fp] of hostBefore) assert.equal(fingerprint(p), fp, `host file ${p} changed!`);
});

interface Scratch {
  root: string;
  /** sha256 and stats of each original shell file, by path inside the root */
  orig: Map<string, { sha: string; ino: number; mode: number; uid: number; gid: number }>;
}

/**
 * merged: bin -> usr/bin, usr/bin/{bash, dash}, usr/bin/sh -> dash (relative)
 * merged-abs: the same with sh -> /usr/bin/dash (absolute: must resolve inside the root)
 * split: bin/bash and usr/bin/bash separate files, bin/sh a file
 */
function scratch(layout: 'merged' | 'merged-abs' | 'split'): Scratch {
  const root = join(tmp, `root${++n}`);
  mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
  const put = (from: string, rel: string, mode = 0o755) => {
    copyFileSync(from, join(root, rel));
    chmodSync(join(root, rel), mode);
  };
  if (layout === 'split') {
    mkdirSync(join(root, 'bin'));
    put(HOST_BASH, 'bin/bash');
    put(HOST_BASH, 'usr/bin/bash');
    put(HOST_SH, 'bin/sh');
  } else {
    symlinkSync('usr/bin', join(root, 'bin'));
    put(HOST_BASH, 'usr/bin/bash', 0o751); // an unusual mode, to see it kept
    if (isRoot) chownSync(join(root, 'usr/bin/bash'), 1234, 2345); // and an unusual owner
    put(HOST_SH, 'usr/bin/dash');
    symlinkSync(layout === 'merged' ? 'dash' : '/usr/bin/dash', join(root, 'usr/bin/sh'));
  }
  const orig = new Map<string, { sha: string; ino: number; mode: number; uid: number; gid: number }>();
  for (const rel of ['bin/bash', 'usr/bin/bash', 'usr/bin/dash', 'bin/sh']) {
    const p = join(root, rel);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (st?.isFile()) orig.set(`/${rel}`, { sha: sha(p), ino: st.ino, mode: st.mode, uid: st.uid, gid: st.gid });
  }
  return { root, orig };
}

const states = (root: string) => Object.fromEntries(shellStatus({ root }).map((s) => [s.shell, s.state]));
const ALL: ShellName[] = ['bash', 'sh', 'zsh'];

/** Runs a file of the scratch root with stdin not a tty and no FORCE: the pass-through path. */
function runIn(path: string, script: string, argv0?: string) {
  return spawnSync(path, ['-c', script], { encoding: 'utf8', input: '', env: { PATH: '/usr/bin:/bin', HOME: tmp }, ...(argv0 ? { argv0 } : {}) });
}

describe('shim install-shell / uninstall-shell / status (scratch roots)', () => {
  it('merged-usr: installs over the resolved files once, keeps originals exactly, is idempotent, and uninstalls', () => {
    const { root, orig } = scratch('merged');
    assert.deepEqual(states(root), { bash: 'original', sh: 'original', zsh: 'missing' });
    const st0 = shellStatus({ root });
    assert.deepEqual(
      st0.map((s) => s.files.map((f) => [f.inRoot, f.via])),
      [[['/usr/bin/bash', ['/bin/bash', '/usr/bin/bash']]], [['/usr/bin/dash', ['/bin/sh', '/usr/bin/sh']]], [['/usr/bin/zsh', ['/bin/zsh', '/usr/bin/zsh']]]],
    );

    const rep = installShell({ root, shimPath: shim, shells: ALL });
    assert.deepEqual(
      rep.actions.map((a) => [a.inRoot, a.action, a.shells]),
      [
        ['/usr/bin/bash', 'installed', ['bash']],
        ['/usr/bin/dash', 'installed', ['sh']],
      ],
    );
    assert.deepEqual(rep.missing, ['zsh']);
    assert.deepEqual(states(root), { bash: 'shim', sh: 'shim', zsh: 'missing' });

    const bash = join(root, 'usr/bin/bash');
    const o = orig.get('/usr/bin/bash')!;
    assert.equal(sha(bash), sha(shim));
    const real = lstatSync(`${bash}.real`);
    assert.equal(sha(`${bash}.real`), o.sha, 'original kept byte for byte');
    assert.equal(real.ino, o.ino, 'the very same file (inode) is kept');
    assert.equal(real.mode, o.mode);
    assert.deepEqual([real.uid, real.gid], [o.uid, o.gid]);
    const shimSt = lstatSync(bash);
    assert.equal(shimSt.mode & 0o7777, o.mode & 0o777, 'the shim takes the permission bits (never set-id)');
    assert.deepEqual([shimSt.uid, shimSt.gid], [o.uid, o.gid]);
    assert.equal(readlinkSync(join(root, 'usr/bin/sh')), 'dash', 'the sh symlink is left alone');
    assert.equal(sha(join(root, 'usr/bin/dash.real')), orig.get('/usr/bin/dash')!.sha);
    assert.equal(existsSync(join(root, 'usr/bin/sh.real')), false);

    // The installed shim finds its original: each path runs the right real shell.
    const viaBash = runIn(join(root, 'bin/bash'), 'echo "$0:${BASH_VERSION:+bash}"', 'bash');
    assert.equal(viaBash.stdout, 'bash:bash\n', viaBash.stderr);
    const viaSh = runIn(join(root, 'bin/sh'), 'echo "$0:ok"', 'sh');
    assert.equal(viaSh.stdout, 'sh:ok\n', viaSh.stderr);

    // Again: nothing moves; .real is still the original.
    const again = installShell({ root, shimPath: shim, shells: ALL });
    assert.deepEqual(
      again.actions.map((a) => a.action),
      ['unchanged', 'unchanged'],
    );
    assert.equal(sha(`${bash}.real`), o.sha);

    // A newer shim replaces the installed one, still never touching .real.
    const newer = join(tmp, `shim-newer-${n}`);
    writeFileSync(newer, Buffer.concat([readFileSync(shim), Buffer.from('\0newer')]));
    chmodSync(newer, 0o755);
    assert.deepEqual(
      installShell({ root, shimPath: newer, shells: ['bash'] }).actions.map((a) => a.action),
      ['updated'],
    );
    assert.equal(sha(bash), sha(newer));
    assert.equal(sha(`${bash}.real`), o.sha);
    assert.equal(lstatSync(`${bash}.real`).ino, o.ino);

    const un = uninstallShell({ root, shells: ALL });
    assert.deepEqual(
      un.actions.map((a) => [a.inRoot, a.action]),
      [
        ['/usr/bin/bash', 'restored'],
        ['/usr/bin/dash', 'restored'],
      ],
    );
    for (const [rel, o2] of orig) {
      const st = lstatSync(join(root, rel));
      assert.equal(sha(join(root, rel)), o2.sha, rel);
      assert.equal(st.ino, o2.ino, `${rel}: the original file itself is back`);
      assert.equal(st.mode, o2.mode);
      assert.equal(existsSync(join(root, `${rel}.real`)), false);
    }
    assert.deepEqual(states(root), { bash: 'original', sh: 'original', zsh: 'missing' });
    assert.deepEqual(
      uninstallShell({ root, shells: ['bash'] }).actions.map((a) => a.action),
      ['already-original'],
    );
  });

  it('absolute symlinks resolve inside the root, never to the host', () => {
    const { root, orig } = scratch('merged-abs');
    const rep = installShell({ root, shimPath: shim, shells: ['sh'] });
    assert.deepEqual(
      rep.actions.map((a) => [a.path, a.action]),
      [[join(root, 'usr/bin/dash'), 'installed']],
    );
    assert.equal(sha(join(root, 'usr/bin/dash.real')), orig.get('/usr/bin/dash')!.sha);
    assert.equal(existsSync(`${HOST_SH}.real`), false, 'nothing beside the host shell');
    assert.deepEqual(states(root), { bash: 'original', sh: 'shim', zsh: 'missing' });
    uninstallShell({ root, shells: ['sh'] });
    assert.equal(sha(join(root, 'usr/bin/dash')), orig.get('/usr/bin/dash')!.sha);
  });

  it('split usr: /bin/bash and /usr/bin/bash are separate files, each shimmed with its own .real', () => {
    const { root, orig } = scratch('split');
    const rep = installShell({ root, shimPath: shim, shells: ['bash', 'sh'] });
    assert.deepEqual(
      rep.actions.map((a) => [a.inRoot, a.action]),
      [
        ['/bin/bash', 'installed'],
        ['/usr/bin/bash', 'installed'],
        ['/bin/sh', 'installed'],
      ],
    );
    for (const rel of ['/bin/bash', '/usr/bin/bash', '/bin/sh']) {
      assert.equal(sha(join(root, rel)), sha(shim));
      assert.equal(sha(join(root, `${rel}.real`)), orig.get(rel)!.sha);
    }
    const st = shellStatus({ root, shells: ['bash'] })[0]!;
    assert.equal(st.state, 'shim');
    assert.equal(st.files.length, 2);
    assert.equal(runIn(join(root, 'usr/bin/bash'), 'echo ok').stdout, 'ok\n');
    uninstallShell({ root, shells: ['bash', 'sh'] });
    for (const [rel, o] of orig) assert.equal(sha(join(root, rel)), o.sha);
    assert.deepEqual(states(root), { bash: 'original', sh: 'original', zsh: 'missing' });
  });

  it('sh -> bash: one file, shimmed once for both names, .real kept once', () => {
    const { root, orig } = scratch('merged');
    unlinkSync(join(root, 'usr/bin/sh'));
    symlinkSync('bash', join(root, 'usr/bin/sh'));
    const rep = installShell({ root, shimPath: shim, shells: ['bash', 'sh'] });
    assert.deepEqual(
      rep.actions.map((a) => [a.inRoot, a.action, a.shells]),
      [['/usr/bin/bash', 'installed', ['bash', 'sh']]],
    );
    assert.equal(sha(join(root, 'usr/bin/bash.real')), orig.get('/usr/bin/bash')!.sha);
    assert.deepEqual(states(root), { bash: 'shim', sh: 'shim', zsh: 'missing' });
    // run as sh: the real bash gets argv[0] "sh" (POSIX mode), through the one shim
    assert.equal(runIn(join(root, 'bin/sh'), 'echo "$0"; case $SHELLOPTS in *posix*) echo posix on;; esac', 'sh').stdout.replace(/\s+/g, ' ').trim(), 'sh posix on');
    uninstallShell({ root, shells: ['sh'] });
    assert.deepEqual(states(root), { bash: 'original', sh: 'original', zsh: 'missing' });
  });

  it('refuses root / without iUnderstandThisModifiesTheHost (and a symlink to /), before anything else', () => {
    // shimPath is bogus on purpose: if the refusal were broken, install would still fail
    // before touching anything, and the message check below would catch it.
    const link = join(tmp, 'slash');
    symlinkSync('/', link);
    for (const root of ['/', link, '/usr/..']) {
      assert.throws(() => installShell({ root, shimPath: '/nonexistent/shim', shells: ['bash'] }), /refusing to modify the host's shells .* without --i-understand-this-modifies-the-host/);
      assert.throws(() => uninstallShell({ root, shells: ['bash'] }), /refusing to modify the host's shells/);
    }
    const errs: string[] = [];
    const code = shimCommand(['install-shell', '--root', '/', '--shim', '/nonexistent/shim', '--bash'], { out: () => {}, err: (s) => errs.push(s) });
    assert.equal(code, 1);
    assert.match(errs.join(''), /--i-understand-this-modifies-the-host/);
    // status is read-only: allowed on /
    assert.equal(shellStatus({ root: '/' }).length, 3);
  });

  it('refuses a --shim that is not an agentsh shim (e.g. bash itself)', () => {
    const { root, orig } = scratch('merged');
    assert.throws(() => installShell({ root, shimPath: HOST_BASH, shells: ['bash'] }), /is not an agentsh shim/);
    assert.throws(() => installShell({ root, shimPath: join(root, 'usr/bin/bash'), shells: ['bash'] }), /not an agentsh shim/);
    assert.equal(sha(join(root, 'usr/bin/bash')), orig.get('/usr/bin/bash')!.sha);
    assert.ok(readFileSync(shim).includes(Buffer.from(SHIM_MARKER)));
  });

  it('a shim whose original is gone is inconsistent: install never moves the shim over .real, uninstall refuses', () => {
    const { root } = scratch('merged');
    installShell({ root, shimPath: shim, shells: ['bash', 'sh'] });
    unlinkSync(join(root, 'usr/bin/bash.real'));
    assert.deepEqual(states(root), { bash: 'inconsistent', sh: 'shim', zsh: 'missing' });
    assert.throws(() => installShell({ root, shimPath: shim, shells: ['bash', 'sh'] }), /install refused, nothing changed:\n.*\/usr\/bin\/bash .*original \(\.real\) is missing/);
    assert.equal(existsSync(join(root, 'usr/bin/bash.real')), false, 'the shim was not kept as the "original"');
    assert.throws(() => uninstallShell({ root, shells: ['bash', 'sh'] }), /uninstall refused, nothing changed/);
    assert.equal(states(root).sh, 'shim', 'the refusal changed nothing for sh either');
    const errs: string[] = [];
    assert.equal(shimCommand(['status', '--root', root], { out: () => {}, err: (s) => errs.push(s) }), 1);
  });

  it('a shell reinstalled over the shim (original + different .real) is refused, not overwritten', () => {
    const { root, orig } = scratch('merged');
    installShell({ root, shimPath: shim, shells: ['bash'] });
    const bash = join(root, 'usr/bin/bash');
    unlinkSync(bash);
    copyFileSync(HOST_BASH, bash); // a package upgrade writes a fresh bash
    assert.equal(states(root).bash, 'inconsistent');
    assert.throws(() => installShell({ root, shimPath: shim, shells: ['bash'] }), /not the shim but a \.real also exists/);
    assert.equal(sha(`${bash}.real`), orig.get('/usr/bin/bash')!.sha);
  });

  it('repairs an interrupted install (hard-linked .real, or nothing at the path but .real)', () => {
    const { root, orig } = scratch('merged');
    const bash = join(root, 'usr/bin/bash');
    const o = orig.get('/usr/bin/bash')!;
    linkSync(bash, `${bash}.real`); // stopped right after keeping the original
    assert.equal(states(root).bash, 'inconsistent');
    assert.deepEqual(
      installShell({ root, shimPath: shim, shells: ['bash'] }).actions.map((a) => a.action),
      ['repaired'],
    );
    assert.equal(states(root).bash, 'shim');
    assert.equal(lstatSync(`${bash}.real`).ino, o.ino);

    renameSync(`${bash}.real`, `${bash}.tmp-orig`);
    unlinkSync(bash);
    renameSync(`${bash}.tmp-orig`, `${bash}.real`); // stopped between the two renames
    assert.equal(states(root).bash, 'inconsistent');
    assert.deepEqual(
      uninstallShell({ root, shells: ['bash'] }).actions.map((a) => a.action),
      ['restored'],
    );
    assert.equal(sha(bash), o.sha);
    assert.equal(statSync(bash).ino, o.ino);
    assert.equal(states(root).bash, 'original');

    linkSync(bash, `${bash}.real`);
    assert.deepEqual(
      uninstallShell({ root, shells: ['bash'] }).actions.map((a) => a.action),
      ['restored'],
    );
    assert.equal(existsSync(`${bash}.real`), false);
    assert.equal(sha(bash), o.sha);
  });

  it('shimCommand: install-shell / status / uninstall-shell with flags and --json', () => {
    const { root } = scratch('merged');
    const out: string[] = [];
    const io = { out: (s: string) => out.push(s), err: (s: string) => out.push(s) };
    assert.equal(shimCommand(['install-shell', '--root', root, '--shim', shim, '--bash', '--sh', '--zsh'], io), 0);
    assert.match(out.join(''), /^bash: \/usr\/bin\/bash: installed\nsh: \/usr\/bin\/dash: installed\nzsh: not present under .*, skipped\n$/);
    out.length = 0;
    assert.equal(shimCommand(['shim', 'status', '--root', root, '--json'], io), 0);
    assert.deepEqual(
      JSON.parse(out.join('')).map((s: { shell: string; state: string }) => [s.shell, s.state]),
      [
        ['bash', 'shim'],
        ['sh', 'shim'],
        ['zsh', 'missing'],
      ],
    );
    out.length = 0;
    assert.equal(shimCommand(['uninstall-shell', '--root', root, '--bash', '--sh'], io), 0);
    assert.deepEqual(states(root), { bash: 'original', sh: 'original', zsh: 'missing' });
    assert.equal(shimCommand(['install-shell', '--root', root, '--shim', shim], io), 2, 'no shell chosen');
    assert.equal(shimCommand(['install-shell', '--shim', shim, '--bash'], io), 2, 'no root');
    assert.equal(shimCommand(['frobnicate'], io), 2);
  });
});
