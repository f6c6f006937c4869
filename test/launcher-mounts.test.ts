// The launcher's image-building directives (native/launcher.c): binds from another source,
// single-file binds, read-only overlays, symlinks, fine-grained Landlock grants (fs-plan's
// FsRight names), `lo` in a new network namespace, and the identity user mapping for an
// unprivileged caller. Each asserts the outcome inside and the absence of side effects on
// the host. Needs root (and, for the last one, unprivileged user namespaces).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildLauncher, parseReport, probeLauncher, runInSandbox, serializePlan, type LauncherReport, type MountStep, type Plan } from '../src/sandbox/launcher.js';

const isRoot = process.getuid?.() === 0;
const skipReason = isRoot ? false : 'needs root: mount and pid namespaces are created without a user namespace';
const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-mounts-')));
const tag = `agentsh-mt-${process.pid}`;
let launcher = '';

const SYSTEM: MountStep[] = [
  { kind: 'bind', path: '/usr', mode: 'ro' },
  ...['/bin', '/lib', '/lib64', '/sbin'].map((path): MountStep => ({ kind: 'bind', path, mode: 'ro', optional: true })),
  { kind: 'bind', path: '/etc', mode: 'ro' },
  { kind: 'bind', path: '/dev/null', mode: 'rw' },
  { kind: 'tmpfs', path: '/tmp', mode: 0o1777 },
  { kind: 'proc' },
];

function plan(extra: Partial<Plan> = {}, mounts: MountStep[] = []): Plan {
  return {
    pdeathsig: true,
    unshare: ['mount', 'pid', 'ipc', 'uts'],
    mounts: [...SYSTEM, { kind: 'bind', path: tmp, mode: 'rw' }, ...mounts],
    noNewPrivs: true,
    dropCaps: true,
    seccomp: 'deny-list',
    ...extra,
  };
}

interface Result { code: number | null; stdout: string; stderr: string; report: LauncherReport }

async function run(script: string, p: Plan): Promise<Result> {
  const child = runInSandbox(p, ['/bin/bash', '-c', script], { launcher, env: { PATH: '/usr/bin:/bin', LANG: 'C' } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  return { code, stdout, stderr, report: await child.report };
}

/** The launcher on a raw plan text (for what serializePlan refuses to produce). */
function raw(text: string): { status: number | null; report: string } {
  const r = spawnSync(launcher, ['--plan-fd', '0', '--report-fd', '1', '--', '/usr/bin/true', 'true'], { input: text, encoding: 'utf8' });
  return { status: r.status, report: r.stdout };
}

/** Everything below `dir` (relative paths), to prove a tree was not written to. */
function listing(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

before(() => {
  launcher = buildLauncher();
  chmodSync(tmp, 0o755);
});

after(() => {
  rmSync(tmp, { recursive: true, force: true });
  for (const p of [`/usr/bin/${tag}`, `/var/lib/${tag}`, `/opt/${tag}`, `/etc/${tag}`]) {
    const leaked = existsSync(p);
    rmSync(p, { recursive: true, force: true });
    assert.equal(leaked, false, `${p} was created on the host`);
  }
});

describe('plan format: image directives', () => {
  it('serializes binds with a source, overlays, symlinks, landlock rules, user_map and net_lo', () => {
    const text = serializePlan({
      unshare: ['user', 'mount', 'net'],
      userMap: 'identity',
      netLo: true,
      mounts: [
        { kind: 'bind', path: '/var/lib/agentsh', mode: 'rw', source: '/srv/a b' },
        { kind: 'overlay', path: '/var/lib', layers: ['/img/varlib', '/var/lib'], noexec: true },
        { kind: 'bind', path: '/etc/passwd', mode: 'ro', source: '/run/gen/passwd', optional: true },
        { kind: 'bind', path: '/usr', mode: 'ro', source: '/usr' }, // same path: no 4th field
        { kind: 'symlink', path: '/dev/fd', target: '/proc/self/fd' },
        { kind: 'tmpfs', path: '/dev' },
      ],
      landlock: { rules: [{ path: '/work\tspace', rights: ['read', 'read_dir', 'write', 'create'] }], ro: ['/etc'] },
    });
    assert.deepEqual(text.split('\n'), [
      'unshare\tuser,mount,net',
      'user_map\tidentity',
      'net_lo',
      'bind_ro\t/usr',
      'tmpfs\t/dev\tmode=0755',
      'overlay\t/var/lib\tnoexec\t/img/varlib:/var/lib',
      'bind_ro\t/etc/passwd\toptional\t/run/gen/passwd',
      'symlink\t/dev/fd\t/proc/self/fd',
      'bind_rw\t/var/lib/agentsh\t\t/srv/a b',
      'landlock_ro\t/etc',
      'landlock\t/work\\tspace\tread,read_dir,write,create',
      '',
    ]);
  });

  it('refuses what the launcher would refuse', () => {
    assert.throws(() => serializePlan({ mounts: [{ kind: 'overlay', path: '/x', layers: ['/a'] }] }), /two layers/);
    assert.throws(() => serializePlan({ mounts: [{ kind: 'overlay', path: '/x', layers: ['/a:b', '/c'] }] }), /contains/);
    assert.throws(() => serializePlan({ mounts: [{ kind: 'overlay', path: '/x', layers: ['/a,b', '/c'] }] }), /contains/);
    assert.throws(() => serializePlan({ mounts: [{ kind: 'overlay', path: '/x', layers: ['rel', '/c'] }] }), /absolute/);
    assert.throws(() => serializePlan({ mounts: [{ kind: 'bind', path: '/x', mode: 'ro', source: 'rel' }] }), /absolute/);
    assert.throws(() => serializePlan({ landlock: { rules: [{ path: '/x', rights: [] }] } }), /non-empty/);
    assert.throws(() => serializePlan({ landlock: { rules: [{ path: '/x', rights: ['read', 'mknod' as never] }] } }), /rights/);
  });
});

describe('launcher image directives (as root)', { skip: skipReason }, () => {
  it('the launcher refuses malformed new directives: exit 126, nothing run', () => {
    const cases: Array<[string, string]> = [
      ['landlock\t/usr\tread,mknod\n', 'fail landlock mknod EINVAL\n'],
      ['landlock\t/usr\n', 'fail landlock /usr EINVAL\n'],
      ['overlay\t/x\t\t/a\n', 'fail overlay /a EINVAL\n'],
      ['overlay\t/x\t\t/a,b:/c\n', 'fail overlay /a,b:/c EINVAL\n'],
      ['overlay\t/x\t\t/a\\x5cb:/c\n', 'fail overlay /a\\\\b:/c EINVAL\n'],
      ['overlay\t/x\t\t/a::/c\n', 'fail overlay /a::/c EINVAL\n'],
      ['overlay\t/x\tro\t/a:/c\n', 'fail overlay ro EINVAL\n'],
      ['tmpfs\t/x\tmode=0755\t/src\n', 'fail plan tmpfs EINVAL\n'], // a 4th field only where defined
      ['bind_ro\t/x\t\trel\n', 'fail bind_ro rel EINVAL\n'],
      ['symlink\t/x\n', 'fail plan symlink EINVAL\n'],
      ['user_map\tsomeone\n', 'fail plan user_map EINVAL\n'],
      ['user_map\tidentity\nunshare\tmount\n', 'fail user_map needs-user-namespace EINVAL\n'],
      ['net_lo\nunshare\tmount\n', 'fail net_lo needs-net-namespace EINVAL\n'],
      ['net_lo\n', 'fail net_lo needs-net-namespace EINVAL\n'],
    ];
    for (const [text, report] of cases) {
      const r = raw(text);
      assert.equal(r.status, 126, text);
      assert.equal(r.report, report, text);
    }
  });

  it('overlay: a layer adds executables to /usr/bin without touching the host; the overlay is read-only', async () => {
    const layer = join(tmp, 'layer-bin');
    mkdirSync(layer);
    writeFileSync(join(layer, tag), '#!/bin/sh\necho "hello from the layer: $0"\n', { mode: 0o755 });
    writeFileSync(join(layer, 'bash.real'), 'not the real bash\n', { mode: 0o755 });
    const before = listing(layer);
    const p = plan({}, [{ kind: 'overlay', path: '/usr/bin', layers: [layer, '/usr/bin'] }]);
    p.landlock = { rules: [
      { path: '/usr', rights: ['read', 'read_dir', 'exec'] },
      { path: '/etc', rights: ['read', 'read_dir'] },
      { path: '/dev/null', rights: ['read', 'write'] },
      { path: '/proc', rights: ['read', 'read_dir'] },
    ] };
    const r = await run(`${tag}; ls /usr/bin/${tag} /usr/bin/bash.real /usr/bin/id; id -u; echo x > /usr/bin/new-${tag}; echo rc=$?; rm /usr/bin/${tag}; echo rc=$?`, p);
    assert.equal(r.code, 0, r.stderr + r.report.lines.join('\n'));
    assert.equal(r.stdout, `hello from the layer: /usr/bin/${tag}\n/usr/bin/${tag}\n/usr/bin/bash.real\n/usr/bin/id\n0\nrc=1\nrc=1\n`);
    assert.match(r.stderr, /Read-only file system/);
    assert.ok(r.report.ok.some((s) => s.key === 'overlay' && s.value === '/usr/bin'), r.report.lines.join('\n'));
    assert.equal(existsSync(`/usr/bin/${tag}`), false);
    assert.equal(existsSync('/usr/bin/bash.real'), false);
    assert.deepEqual(listing(layer), before, 'the layer was written to');
    // noexec: the same layer mounted noexec can't run (bash itself is bound back over the
    // overlay's, a file bind onto a file of a read-only overlay, so that the test can start)
    const ne = await run(`/usr/bin/${tag}; echo rc=$?`, plan({}, [{ kind: 'overlay', path: '/usr/bin', layers: [layer, '/usr/bin'], noexec: true }, { kind: 'bind', path: '/usr/bin/bash', mode: 'ro' }]));
    assert.match(ne.stdout, /^rc=126\n$/, ne.stdout + ne.stderr);
  });

  it('overlay: a bind below it lands on a mountpoint from a layer; a mountpoint in no layer fails (EROFS)', async () => {
    const layer = join(tmp, 'layer-varlib');
    const state = join(tmp, 'state');
    mkdirSync(join(layer, tag), { recursive: true }); // the empty mount point
    writeFileSync(join(layer, 'passwd-target'), '');
    symlinkSync('/etc/hostname', join(layer, 'link-target')); // covered by a file bind, not followed
    mkdirSync(state);
    writeFileSync(join(state, 'seed'), 'seed\n');
    const gen = join(tmp, 'passwd');
    writeFileSync(gen, `agent:x:1000:1000::/home/agent:/bin/bash\n`);
    const hostPasswd = readFileSync('/etc/passwd', 'utf8');
    const p = plan({}, [
      { kind: 'overlay', path: '/var/lib', layers: [layer, '/var/lib'] },
      { kind: 'bind', path: `/var/lib/${tag}`, mode: 'rw', source: state },
      { kind: 'bind', path: '/var/lib/passwd-target', mode: 'ro', source: gen }, // a file over a file of the overlay
      { kind: 'bind', path: '/var/lib/link-target', mode: 'ro', source: gen }, // ... over a symlink of the overlay
      { kind: 'bind', path: '/etc/passwd', mode: 'ro', source: gen }, // a file over a file of a ro bind
    ]);
    const r = await run(`ls /var/lib/${tag}; cat /var/lib/${tag}/seed; echo new > /var/lib/${tag}/new; ls -d /var/lib/dpkg; cat /var/lib/passwd-target; cat /etc/passwd; getent passwd 1000; cat /var/lib/link-target`, p);
    assert.equal(r.code, 0, r.stderr + r.report.lines.join('\n'));
    assert.equal(r.stdout, `seed\nseed\n/var/lib/dpkg\n${'agent:x:1000:1000::/home/agent:/bin/bash\n'.repeat(4)}`);
    assert.equal(readFileSync(join(state, 'new'), 'utf8'), 'new\n', 'writes land in the source');
    assert.deepEqual(listing(layer), [tag, 'link-target', 'passwd-target'], 'the layer was written to');
    assert.equal(readFileSync('/etc/hostname', 'utf8') === readFileSync(gen, 'utf8'), false, 'the symlink target was overwritten');
    assert.equal(readFileSync('/etc/passwd', 'utf8'), hostPasswd);
    assert.equal(existsSync(`/var/lib/${tag}`), false);
    // a mountpoint that exists in no layer can't be created in a read-only overlay
    const bad = await run('true', plan({}, [
      { kind: 'overlay', path: '/var/lib', layers: [layer, '/var/lib'] },
      { kind: 'bind', path: `/var/lib/${tag}-missing`, mode: 'rw', source: state },
    ]));
    assert.equal(bad.code, 126);
    assert.deepEqual(bad.report.failed, { key: 'bind_rw', value: `/var/lib/${tag}-missing`, errno: 'EROFS' });
    const noLayer = await run('true', plan({}, [{ kind: 'overlay', path: '/var/lib', layers: [join(tmp, 'no-such-layer'), '/var/lib'] }]));
    assert.equal(noLayer.code, 126);
    assert.deepEqual(noLayer.report.failed, { key: 'overlay', value: join(tmp, 'no-such-layer'), errno: 'ENOENT' });
  });

  it('bind from a different source: its content at the destination, writes land in the source, nothing at the destination on the host', async () => {
    const src = join(tmp, 'bind-src');
    mkdirSync(src);
    writeFileSync(join(src, 'hello'), 'from the source\n');
    const dst = `/opt/${tag}`;
    const r = await run(`cat ${dst}/hello; echo written > ${dst}/out; ls ${dst}`, plan({}, [{ kind: 'bind', path: dst, mode: 'rw', source: src }]));
    assert.equal(r.code, 0, r.stderr + r.report.lines.join('\n'));
    assert.equal(r.stdout, 'from the source\nhello\nout\n');
    assert.equal(readFileSync(join(src, 'out'), 'utf8'), 'written\n');
    assert.equal(existsSync(dst), false);
    // read-only from another source
    const ro = await run(`echo x > ${dst}/out2; echo rc=$?`, plan({}, [{ kind: 'bind', path: dst, mode: 'ro', source: src }]));
    assert.equal(ro.stdout, 'rc=1\n');
    assert.equal(existsSync(join(src, 'out2')), false);
    // a symlink source is refused elsewhere than at its own path; a missing one names itself
    const link = join(tmp, 'src-link');
    symlinkSync(src, link);
    const l = await run('true', plan({}, [{ kind: 'bind', path: dst, mode: 'ro', source: link }]));
    assert.equal(l.code, 126);
    assert.deepEqual(l.report.failed, { key: 'bind_ro', value: link, errno: 'ELOOP' });
    const missing = await run('true', plan({}, [{ kind: 'bind', path: dst, mode: 'ro', source: join(tmp, 'nope'), optional: true }]));
    assert.equal(missing.code, 0);
    assert.deepEqual(missing.report.skipped, [{ key: 'bind_ro', value: join(tmp, 'nope'), errno: 'ENOENT' }]);
  });

  it('symlink: /dev/fd and /dev/stdin on a tmpfs /dev', async () => {
    const p = plan({}, [
      { kind: 'tmpfs', path: '/dev' },
      { kind: 'symlink', path: '/dev/fd', target: '/proc/self/fd' },
      { kind: 'symlink', path: '/dev/stdin', target: '/proc/self/fd/0' },
    ]);
    const r = await run('readlink /dev/fd /dev/stdin; echo piped | cat /dev/stdin; cat <(echo procsub); ls /dev | sort | tr "\\n" " "', p);
    assert.equal(r.code, 0, r.stderr + r.report.lines.join('\n'));
    assert.equal(r.stdout, '/proc/self/fd\n/proc/self/fd/0\npiped\nprocsub\nfd null stdin ');
    assert.ok(r.report.ok.some((s) => s.key === 'symlink' && s.value === '/dev/fd'));
  });

  it('landlock rules: read without read_dir; create without remove; a symlink grant is skipped', async () => {
    const d = join(tmp, 'll');
    const ro = join(d, 'ro');
    const rw = join(d, 'rw');
    const secret = join(d, 'secret');
    for (const x of [ro, rw, secret]) mkdirSync(x, { recursive: true });
    writeFileSync(join(ro, 'f'), 'readable\n');
    writeFileSync(join(rw, 'keep'), 'keep\n');
    writeFileSync(join(secret, 's'), 'secret\n');
    symlinkSync(secret, join(d, 'link'));
    symlinkSync(join(secret, 's'), join(d, 'file-link'));
    const p = plan();
    p.landlock = {
      rules: [
        { path: '/usr', rights: ['read', 'read_dir', 'exec'] },
        { path: '/etc', rights: ['read', 'read_dir'] },
        { path: '/dev/null', rights: ['read', 'write'] },
        { path: '/proc', rights: ['read', 'read_dir'] },
        { path: ro, rights: ['read'] },
        { path: rw, rights: ['read', 'read_dir', 'write', 'create'] },
        { path: join(d, 'link'), rights: ['read', 'read_dir'] }, // a symlink itself
        { path: join(d, 'link', 's'), rights: ['read'] }, // through a symlink
        { path: join(d, 'file-link'), rights: ['read'] },
        { path: join(ro, 'f'), rights: ['read_dir'] }, // only a directory right on a file
      ],
      ro: [join(d, 'link')], // the old directives are opened the same way
    };
    const py = (code: string) => `python3 -c 'import os,errno\ntry:\n  ${code}\n  print("ok")\nexcept OSError as e: print(errno.errorcode[e.errno])'`;
    const r = await run([
      `cat ${ro}/f`,
      py(`os.listdir("${ro}")`),
      `echo new > ${rw}/new && mkdir ${rw}/sub && cat ${rw}/new && ls ${rw} | tr "\\n" " "; echo`,
      py(`os.unlink("${rw}/keep")`),
      py(`os.rmdir("${rw}/sub")`),
      py(`os.rename("${rw}/keep", "${rw}/moved")`),
      py(`open("${d}/link/s").read()`),
      py(`open("${secret}/s").read()`),
      py(`open("${d}/file-link").read()`),
    ].join('; '), p);
    assert.equal(r.code, 0, r.stderr + r.report.lines.join('\n'));
    assert.equal(r.stdout, 'readable\nEACCES\nnew\nkeep new sub \nEACCES\nEACCES\nEACCES\nEACCES\nEACCES\nEACCES\n', r.stderr);
    assert.deepEqual(r.report.skipped, [ // serializePlan writes landlock_ro before the rules
      { key: 'landlock_ro', value: join(d, 'link'), errno: 'ELOOP' },
      { key: 'landlock', value: join(d, 'link'), errno: 'ELOOP' },
      { key: 'landlock', value: join(d, 'link', 's'), errno: 'ELOOP' },
      { key: 'landlock', value: join(d, 'file-link'), errno: 'ELOOP' },
      { key: 'landlock', value: join(ro, 'f'), errno: 'ENOMSG' },
    ]);
    assert.equal(readFileSync(join(rw, 'keep'), 'utf8'), 'keep\n', 'a file was removed without the remove right');
    assert.deepEqual(listing(rw), ['keep', 'new', 'sub']);
  });

  it('net_lo: 127.0.0.1 works in the new network namespace, only lo exists; without net_lo it is down', async () => {
    // The listener and the client are both inside the sandbox's own network namespace:
    // nothing can leave the machine (it has no interface but lo).
    const script = [
      `python3 -c 'import socket; print(" ".join(n for _, n in socket.if_nameindex()))'`,
      `python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1); print(s.getsockname()[1], file=open("/tmp/port","w"), flush=True); c,_=s.accept(); c.sendall(b"pong\\n"); c.close()' &`,
      'for i in $(seq 100); do [ -s /tmp/port ] && break; sleep 0.02; done',
      'exec 5<>/dev/tcp/127.0.0.1/$(cat /tmp/port) && read -r line <&5 && echo "got $line"',
      'wait',
    ].join('\n');
    const p = plan({ unshare: ['mount', 'pid', 'ipc', 'uts', 'net'], netLo: true });
    const r = await run(script, p);
    assert.equal(r.code, 0, r.stderr + r.report.lines.join('\n'));
    assert.equal(r.stdout, 'lo\ngot pong\n');
    assert.ok(r.report.ok.some((s) => s.key === 'net_lo'));
    const down = await run(`python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1); socket.create_connection(s.getsockname(), timeout=2)' 2>&1 | tail -1`, plan({ unshare: ['mount', 'pid', 'ipc', 'uts', 'net'] }));
    assert.match(down.stdout, /Network is unreachable/);
  });

  it('unprivileged: user_map identity keeps uid 65534; binds, tmpfs, proc, overlay, symlink, net_lo, landlock, seccomp all apply', async (t) => {
    if (!probeLauncher(launcher).includes('ns user ok')) return t.skip('user namespaces are not available here');
    const base = join(tmp, 'unpriv');
    const ws = join(base, 'ws');
    const layer = join(base, 'layer');
    mkdirSync(ws, { recursive: true });
    mkdirSync(layer);
    chownSync(ws, 65534, 65534);
    writeFileSync(join(layer, tag), '#!/bin/sh\necho layer-ok\n', { mode: 0o755 });
    chmodSync(base, 0o755);
    const bin = join(base, 'agentsh-launcher');
    copyFileSync(launcher, bin);
    chmodSync(bin, 0o755);
    const p = plan({
      unshare: ['user', 'mount', 'pid', 'ipc', 'uts', 'net'],
      userMap: 'identity',
      netLo: true,
      chdir: ws,
      landlock: { rules: [
        { path: '/usr', rights: ['read', 'read_dir', 'exec'] },
        { path: '/etc', rights: ['read', 'read_dir'] },
        { path: '/dev/null', rights: ['read', 'write'] },
        { path: '/proc', rights: ['read', 'read_dir'] },
        { path: ws, rights: ['read', 'read_dir', 'write', 'create'] },
      ] },
    });
    p.mounts = [...SYSTEM, { kind: 'bind', path: ws, mode: 'rw' },
      { kind: 'overlay', path: '/usr/bin', layers: [layer, '/usr/bin'] },
      { kind: 'tmpfs', path: '/run' }, { kind: 'symlink', path: '/run/fd', target: '/proc/self/fd' }];
    const planFile = join(base, 'plan');
    const reportFile = join(base, 'report');
    writeFileSync(planFile, serializePlan(p), { mode: 0o644 });
    const script = `id -u; id -g; ${tag}; echo data > out; rm out; echo rc=$?; touch /etc/${tag}; readlink /run/fd; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\\t" " "; echo $$; python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print("lo up")'`;
    // fds 3 and 4 are opened by the (root) shell, then setpriv drops to 65534 and execs the launcher
    const r = spawnSync('/bin/sh', ['-c', `exec setpriv --reuid=65534 --regid=65534 --clear-groups "${bin}" --plan-fd 3 --report-fd 4 -- /bin/bash bash -c "$1" 3<"${planFile}" 4>"${reportFile}"`, 'sh', script],
      { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', LANG: 'C' } });
    const report = parseReport(readFileSync(reportFile, 'utf8'));
    assert.equal(r.status, 0, r.stderr + report.lines.join('\n'));
    assert.equal(r.stdout, `65534\n65534\nlayer-ok\nrc=1\n/proc/self/fd\nCapEff: 0000000000000000\nNoNewPrivs: 1\nSeccomp: 2\n2\nlo up\n`);
    assert.match(r.stderr, /rm: cannot remove 'out': Permission denied/); // Landlock: no remove right
    assert.match(r.stderr, /Read-only file system/);
    assert.equal(report.failed, undefined);
    for (const k of ['user_map', 'net_lo', 'overlay', 'symlink', 'proc', 'pivot_root', 'landlock', 'no_new_privs', 'seccomp'])
      assert.ok(report.ok.some((s) => s.key === k), `missing ok ${k}: ${report.lines.join('\n')}`);
    assert.ok(report.ok.some((s) => s.key === 'user_map' && s.value === 'identity'));
    assert.equal(statSync(join(ws, 'out')).uid, 65534, 'the file belongs to the caller on the host');
    assert.equal(readFileSync(join(ws, 'out'), 'utf8'), 'data\n');
    assert.equal(existsSync(`/etc/${tag}`), false);
    assert.equal(existsSync(`/usr/bin/${tag}`), false);
  });
});
