// The session sandbox launcher (native/launcher.c, src/sandbox/launcher.ts): a realistic
// plan (workspace rw at its real path, system paths ro, private /tmp, fresh /proc,
// Landlock, seccomp deny-list, no_new_privs, no capabilities, pdeathsig), asserted by
// outcome *and* by the absence of side effects on the host. Needs root (mount/pid
// namespaces without a user namespace); skipped with the reason otherwise.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildLauncher, parseReport, probeLauncher, runInSandbox, serializePlan, type LauncherReport, type Plan } from '../src/sandbox/launcher.js';

const isRoot = process.getuid?.() === 0;
const skipReason = isRoot ? false : 'needs root: mount and pid namespaces are created without a user namespace (the non-root path is not built yet)';
const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-launcher-')));
const ws = join(tmp, 'work space'); // a space in the path: the plan format must carry it
const denied = join(tmp, 'denied');
const tag = `agentsh-lt-${process.pid}`;
const SECRET = `server-secret-${process.pid}-${Date.now()}`;
let launcher = '';

const PY = '/usr/bin/python3';

function plan(extra: Partial<Plan> = {}): Plan {
  return {
    pdeathsig: true,
    memfdNoexec: true,
    unshare: ['mount', 'pid', 'ipc', 'uts'],
    hostname: 'agentsh-sandbox',
    mounts: [
      ...['/usr', '/bin', '/lib', '/lib64', '/etc', '/sbin'].map((path) => ({ kind: 'bind' as const, path, mode: 'ro' as const, optional: path !== '/usr' })),
      ...['/dev/null', '/dev/zero', '/dev/urandom'].map((path) => ({ kind: 'bind' as const, path, mode: 'rw' as const })),
      { kind: 'bind', path: ws, mode: 'rw', noexec: true },
      { kind: 'bind', path: denied, mode: 'ro', noexec: true },
      { kind: 'tmpfs', path: '/tmp', mode: 0o1777, noexec: true, sizeBytes: 64 << 20 },
      { kind: 'proc' },
    ],
    chdir: ws,
    rlimits: { NOFILE: 1024 },
    landlock: {
      ro: ['/etc', '/usr', '/proc', denied, '/nonexistent-agentsh-path'],
      rw: [ws, '/tmp', '/dev/null', '/dev/zero', '/dev/urandom'],
      exec: ['/usr/bin', '/usr/sbin', '/usr/lib', '/usr/lib64', '/usr/libexec'],
    },
    dropCaps: true,
    noNewPrivs: true,
    seccomp: 'deny-list',
    ...extra,
  };
}

interface Result { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; report: LauncherReport }

async function run(script: string, p: Plan = plan()): Promise<Result> {
  const child = runInSandbox(p, ['/bin/bash', '-c', script], {
    launcher,
    program: '/bin/bash',
    env: { PATH: '/usr/bin:/bin', HOME: ws, LANG: 'C' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('close', (c, s) => res([c, s])));
  return { code, signal, stdout, stderr, report: await child.report };
}

before(() => {
  launcher = buildLauncher();
  mkdirSync(ws);
  mkdirSync(denied);
  copyFileSync('/usr/bin/id', join(denied, 'id'));
  copyFileSync('/usr/bin/id', join(ws, 'id-copy'));
  chmodSync(join(denied, 'id'), 0o755);
  chmodSync(join(ws, 'id-copy'), 0o755);
  process.env.AGENTSH_TEST_SERVER_SECRET = SECRET; // the "server's" env: must not reach the sandbox
});

after(() => {
  rmSync(tmp, { recursive: true, force: true });
  for (const p of [`/usr/bin/${tag}`, `/etc/${tag}`, `/tmp/${tag}`]) {
    const leaked = existsSync(p);
    rmSync(p, { force: true });
    assert.equal(leaked, false, `${p} was created on the host`);
  }
});

describe('plan format', () => {
  it('escapes paths with spaces, tabs, newlines and backslashes; orders mounts parents first', () => {
    const text = serializePlan({
      unshare: ['mount', 'pid'],
      mounts: [{ kind: 'bind', path: '/tmp/a b\tc\nd\\e', mode: 'rw' }, { kind: 'tmpfs', path: '/tmp', mode: 0o1777 }, { kind: 'proc' }],
      landlock: { exec: ['/usr/bin'] },
      rlimits: { NPROC: [10, 'unlimited'] },
      seccomp: 'deny-list',
    });
    assert.deepEqual(text.split('\n'), [
      'unshare\tmount,pid',
      'tmpfs\t/tmp\tmode=1777',
      'proc',
      'bind_rw\t/tmp/a b\\tc\\nd\\\\e',
      'rlimit\tNPROC 10 unlimited',
      'landlock_exec\t/usr/bin',
      'seccomp\tdeny-list',
      '',
    ]);
    assert.throws(() => serializePlan({ chdir: 'relative' }), /absolute/);
    assert.throws(() => serializePlan({ chdir: '/a\0b' }), /NUL/);
  });

  it('parses the report', () => {
    const r = parseReport('ok unshare mount,pid\nskip landlock_ro /no\\x20such ENOENT\nlandlock abi 7\ninit 42\nexec 2\nexit 3\n');
    assert.deepEqual(r.ok, [{ key: 'unshare', value: 'mount,pid' }]);
    assert.deepEqual(r.skipped, [{ key: 'landlock_ro', value: '/no such', errno: 'ENOENT' }]);
    assert.equal(r.landlockAbi, 7);
    assert.equal(r.initPid, 42);
    assert.equal(r.execPid, 2);
    assert.deepEqual(r.exit, { code: 3 });
  });
});

describe('launcher (as root)', { skip: skipReason }, () => {
  it('--probe reports the kernel facts', () => {
    const lines = probeLauncher(launcher);
    assert.ok(lines.some((l) => /^landlock abi \d+$/.test(l)), lines.join('\n'));
    assert.ok(lines.includes('seccomp filter ok'), lines.join('\n'));
    assert.ok(lines.includes('ns mount ok') && lines.includes('ns pid ok'), lines.join('\n'));
  });

  it('applies every directive, reports it, and the exit status propagates', async () => {
    const devs = await run('echo x > /dev/null && head -c 4 /dev/urandom | wc -c && head -c 2 /dev/zero | wc -c');
    assert.equal(devs.stdout, '4\n2\n', devs.stderr);
    const r = await run('exit 42');
    assert.equal(r.code, 42, r.stderr);
    assert.deepEqual(r.report.exit, { code: 42 });
    assert.equal(r.report.execPid, 2); // pid 1 is the launcher's init
    assert.ok(r.report.landlockAbi && r.report.landlockAbi >= 1);
    const ok = r.report.ok.map((s) => s.key);
    for (const k of ['pdeathsig', 'memfd_noexec', 'unshare', 'bind_ro', 'bind_rw', 'tmpfs', 'proc', 'pivot_root', 'chdir', 'rlimit', 'landlock', 'drop_caps', 'no_new_privs', 'seccomp'])
      assert.ok(ok.includes(k), `missing ok ${k}: ${r.report.lines.join('\n')}`);
    assert.deepEqual(r.report.skipped, [{ key: 'landlock_ro', value: '/nonexistent-agentsh-path', errno: 'ENOENT' }]);
    const sig = await run('kill -TERM $$');
    assert.equal(sig.code, 128 + 15);
    assert.deepEqual(sig.report.exit, { signal: 15 });
  });

  it('system paths are read-only: writes fail and nothing appears on the host', async () => {
    const r = await run(`echo x > /usr/bin/${tag}; echo rc=$?; touch /etc/${tag}; echo rc=$?; cp /etc/hostname /etc/${tag}; echo rc=$?; ${PY} -c 'open("/usr/bin/${tag}","w")'; echo rc=$?`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'rc=1\nrc=1\nrc=1\nrc=1\n', r.stderr);
    assert.equal(existsSync(`/usr/bin/${tag}`), false);
    assert.equal(existsSync(`/etc/${tag}`), false);
  });

  it('the workspace is writable at its real path, relative and absolute, and the host sees it', async () => {
    const r = await run(`pwd; echo rel > rel.txt && echo abs > "${ws}/abs.txt" && mkdir -p sub/dir && mv rel.txt sub/dir/ && echo done`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${ws}\ndone\n`);
    assert.equal(readFileSync(join(ws, 'abs.txt'), 'utf8'), 'abs\n');
    assert.equal(readFileSync(join(ws, 'sub/dir/rel.txt'), 'utf8'), 'rel\n');
  });

  it('/tmp is private', async () => {
    const r = await run(`echo private > /tmp/${tag} && ls /tmp`);
    assert.equal(r.code, 0, r.stderr);
    // only what the plan put there: the file, and the parent of the bound workspace
    assert.deepEqual(r.stdout.trim().split('\n').sort(), [tmp.split('/')[2]!, tag].sort(), 'the host /tmp is visible inside');
    assert.equal(existsSync(`/tmp/${tag}`), false);
  });

  it('/proc is the sandbox\'s: pid 1 is the launcher, the host\'s init and the server env are not visible', async () => {
    const hostInit = readFileSync('/proc/1/cmdline', 'utf8');
    const r = await run('cat /proc/1/cmdline | tr "\\0" " "; echo; cat /proc/1/environ; echo; ls /proc | grep -c "^[0-9]"; cat /proc/self/environ | tr "\\0" "\\n" | grep -c AGENTSH_TEST_SERVER_SECRET');
    assert.ok(r.stdout.startsWith(`${launcher} --plan-fd`), r.stdout);
    assert.notEqual(r.stdout.split('\n')[0], hostInit.replaceAll('\0', ' '));
    assert.ok(!(r.stdout + r.stderr).includes(SECRET), 'the server secret leaked');
    assert.match(r.stderr, /\/proc\/1\/environ: Permission denied/);
    const lines = r.stdout.trim().split('\n');
    assert.ok(Number(lines.at(-2)) <= 4, `too many pids visible: ${lines.at(-2)}`);
  });

  it('a binary without an exec grant cannot run by any route', async () => {
    const target = join(denied, 'id');
    const copy = join(ws, 'id-copy');
    const routes = [
      `${target}`,
      `env ${target}`,
      `bash -c '${target}'`,
      `${PY} -c 'import subprocess; subprocess.run(["${target}"])'`,
      `/lib64/ld-linux-x86-64.so.2 ${target}`,
      `"${copy}"`,
      `/lib64/ld-linux-x86-64.so.2 "${copy}"`,
      `find ${denied} -name id -exec {} \\;`,
      `${PY} -c 'import os; fd=os.memfd_create("x"); os.write(fd, open("/usr/bin/id","rb").read()); os.execv("/proc/self/fd/%d" % fd, ["id"])'`,
      `${PY} -c 'import os; fd=os.memfd_create("x", 0x10)'`, // MFD_EXEC refused
      `cp /usr/bin/id /tmp/id && /tmp/id`,
      `ln -s ${target} /tmp/link && /tmp/link`,
    ];
    for (const route of routes) {
      const r = await run(`${route}; echo "rc=$?"`);
      assert.ok(!r.stdout.includes('uid='), `ran via: ${route}\n${r.stdout}`);
      // GNU find reports the failed -exec but still exits 0
      if (!route.startsWith('find')) assert.match(r.stdout, /rc=(1|126|127)\n$/, `${route}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /Permission denied|failed to map segment|Operation not permitted|PermissionError/, `${route}: ${r.stderr}`);
    }
    const direct = await run(`${target}`);
    assert.equal(direct.code, 126);
    assert.match(direct.stderr, /Permission denied/);
    const allowed = await run('/usr/bin/id -u');
    assert.equal(allowed.stdout, '0\n', 'a granted binary runs');
  });

  it('ptrace and new namespaces are refused (EPERM)', async () => {
    const r = await run([
      'strace -f true 2>&1 | grep -m1 "Operation not permitted"; echo strace=${PIPESTATUS[0]}',
      `${PY} -c 'import ctypes,os; l=ctypes.CDLL(None, use_errno=True); print("ptrace", l.ptrace(0,0,0,0), os.strerror(ctypes.get_errno()))'`,
      'unshare -r true 2>&1; echo unshare=$?',
      'unshare -m true 2>&1; echo unshare_m=$?',
      `${PY} -c 'import ctypes,os; l=ctypes.CDLL(None, use_errno=True); print("mount", l.mount(b"none", b"/tmp", b"tmpfs", 0, None), os.strerror(ctypes.get_errno()))'`,
    ].join('; '));
    assert.match(r.stdout, /strace: .*Operation not permitted\nstrace=[1-9]/);
    assert.match(r.stdout, /ptrace -1 Operation not permitted/);
    assert.match(r.stdout, /unshare: unshare failed: Operation not permitted\nunshare=1\n/);
    assert.match(r.stdout, /unshare: unshare failed: Operation not permitted\nunshare_m=1\n/);
    assert.match(r.stdout, /mount -1 Operation not permitted/);
  });

  it('i386 (int 0x80) and x32 syscall entry points kill the process', async (t) => {
    if (process.arch !== 'x64') return t.skip('x86_64 only');
    const bin = join(tmp, 'bin');
    mkdirSync(bin, { recursive: true });
    const src = join(bin, 'abi.c');
    writeFileSync(src, `#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
  long r = -1;
  fflush(stdout);
  if (argc > 1 && !strcmp(argv[1], "i386")) { long nr = 20; __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr) : "memory"); }
  else if (argc > 1 && !strcmp(argv[1], "x32")) r = syscall(0x40000000L | 39);
  else r = syscall(SYS_getpid);
  printf("survived %ld\\n", r);
  return 0;
}
`);
    const cc = spawnSync(process.env.CC || 'cc', ['-O0', '-o', join(bin, 'abi'), src], { encoding: 'utf8' });
    if (cc.status !== 0) return t.skip(`no C compiler: ${cc.stderr || cc.error?.message}`);
    const p = plan();
    p.mounts = [...p.mounts!, { kind: 'bind', path: bin, mode: 'ro' }];
    p.landlock = { ...p.landlock, exec: [...p.landlock!.exec!, bin] };
    const r = await run(`${bin}/abi native; ${bin}/abi i386; echo "i386=$?"; ${bin}/abi x32; echo "x32=$?"`, p);
    assert.match(r.stdout, /^survived \d+\n/, r.stdout + r.stderr); // the native entry point works
    assert.match(r.stdout, /i386=159\n/); // 128 + SIGSYS
    assert.match(r.stdout, /x32=159\n/);
    assert.ok(!r.stdout.includes('survived -'), r.stdout);
  });

  it('capabilities are empty (all sets, bounding and ambient)', async () => {
    const r = await run('grep Cap /proc/self/status; grep NoNewPrivs /proc/self/status; grep Seccomp: /proc/self/status');
    const caps = r.stdout.split('\n').filter((l) => l.startsWith('Cap'));
    assert.equal(caps.length, 5, r.stdout);
    for (const l of caps) assert.match(l, /:\s+0000000000000000$/, l);
    assert.match(r.stdout, /NoNewPrivs:\s+1/);
    assert.match(r.stdout, /Seccomp:\s+2/);
  });

  it('a missing mandatory bind fails closed: exit 126, the command never ran', async () => {
    const marker = join(tmp, 'ran');
    const p = plan();
    p.mounts = [...p.mounts!, { kind: 'bind', path: join(tmp, 'no-such-dir'), mode: 'ro' }];
    delete p.landlock;
    const r = await run(`touch ${marker}`, p);
    assert.equal(r.code, 126);
    assert.deepEqual(r.report.failed, { key: 'bind_ro', value: join(tmp, 'no-such-dir'), errno: 'ENOENT' });
    assert.equal(r.report.execPid, undefined);
    assert.equal(existsSync(marker), false);
    // the same without namespaces: a plan the launcher cannot apply is refused
    const bad = await run(`touch ${marker}`, { mounts: [{ kind: 'bind', path: '/usr', mode: 'ro' }] });
    assert.equal(bad.code, 126);
    assert.equal(bad.report.failed?.key, 'mount');
    assert.equal(existsSync(marker), false);
    // memfd_noexec outside a new pid namespace would change the host's setting: refused
    const hostMemfd = readFileSync('/proc/sys/vm/memfd_noexec', 'utf8');
    const noPidns = await run(`touch ${marker}`, { memfdNoexec: true, unshare: ['mount'] });
    assert.equal(noPidns.code, 126);
    assert.deepEqual(noPidns.report.failed, { key: 'memfd_noexec', value: 'needs-pid-namespace', errno: 'EINVAL' });
    assert.equal(readFileSync('/proc/sys/vm/memfd_noexec', 'utf8'), hostMemfd);
    // an unknown directive is refused, not ignored
    const unknown = spawnSync('/bin/bash', ['-c', `printf 'no_such_directive\n' | "${launcher}" --plan-fd 0 --report-fd 1 -- /usr/bin/touch touch "${marker}"`], { encoding: 'utf8' });
    assert.equal(unknown.status, 126);
    assert.equal(unknown.stdout, 'fail plan no_such_directive EINVAL\n');
    assert.equal(existsSync(marker), false);
  });

  it('the command dies when the launcher\'s parent is SIGKILLed (pdeathsig)', async () => {
    const planFile = join(tmp, 'plan');
    writeFileSync(planFile, serializePlan(plan()));
    const uniq = `${100000 + (process.pid % 100000)}.${Date.now() % 1000}`;
    // sh stays the launcher's parent (no exec: a command follows)
    const parent = spawn('/bin/sh', ['-c', `"${launcher}" --plan-fd 3 --report-fd 4 -- /usr/bin/sleep sleep ${uniq} 3<"${planFile}" 4>/dev/null; echo unreachable`], { stdio: 'ignore' });
    const findSleep = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).some((d) => {
      try { return readFileSync(`/proc/${d}/cmdline`, 'utf8') === `sleep\0${uniq}\0`; } catch { return false; }
    });
    for (let i = 0; i < 100 && !findSleep(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(findSleep(), 'the sandboxed sleep did not start');
    parent.kill('SIGKILL');
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) { await new Promise((r) => setTimeout(r, 20)); alive = findSleep(); }
    assert.equal(alive, false, 'the sandboxed command survived its supervisor');
  });

  it('forwards SIGTERM through the launcher and its pid 1 to the command', async () => {
    const child = runInSandbox(plan(), ['/bin/bash', '-c', 'trap "echo got-term; exit 3" TERM; echo ready; sleep 30 & wait'], { launcher, env: { PATH: '/usr/bin:/bin' } });
    let out = '';
    await new Promise<void>((res) => child.stdout!.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('ready')) res(); }));
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    assert.equal(out, 'ready\ngot-term\n');
    assert.equal(code, 3);
  });

  it('the non-root path: as an unprivileged user, a user namespace carries the same plan', async (t) => {
    const probe = probeLauncher(launcher);
    if (!probe.includes('ns user ok')) return t.skip('user namespaces are not available here');
    const base = mkdtempSync(join(tmpdir(), 'agentsh-launcher-u-'));
    try {
      chmodSync(base, 0o755);
      const uws = join(base, 'ws');
      mkdirSync(uws, { mode: 0o777 });
      chmodSync(uws, 0o777);
      const bin = join(base, 'agentsh-launcher');
      copyFileSync(launcher, bin);
      chmodSync(bin, 0o755);
      const p = plan({ unshare: ['user', 'mount', 'pid', 'ipc', 'uts'], chdir: uws });
      delete p.memfdNoexec; // vm.memfd_noexec is not writable from a user namespace (see the report)
      p.mounts = p.mounts!.filter((m) => m.kind !== 'bind' || (m.path !== ws && m.path !== denied)).concat({ kind: 'bind', path: uws, mode: 'rw', noexec: true });
      p.landlock = { ...p.landlock, rw: [uws, '/tmp', '/dev/null'], ro: ['/etc', '/usr', '/proc'] };
      const planFile = join(base, 'plan');
      writeFileSync(planFile, serializePlan(p), { mode: 0o644 });
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '/bin/sh', '-c',
        `exec "${bin}" --plan-fd 3 --report-fd 4 -- /bin/bash bash -c 'echo data > out; touch /etc/${tag}; grep CapEff /proc/self/status' 3<"${planFile}" 4>&2`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /CapEff:\s+0000000000000000/);
      assert.match(r.stderr, /Read-only file system/);
      assert.match(r.stderr, /^ok seccomp deny-list$/m);
      assert.equal(readFileSync(join(uws, 'out'), 'utf8'), 'data\n');
      assert.equal(statSync(join(uws, 'out')).uid, 65534, 'files belong to the unprivileged user on the host');
      assert.equal(existsSync(`/etc/${tag}`), false);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('inherited descriptors are closed unless the plan keeps them', () => {
    const planFile = join(tmp, 'plan-fds');
    const check = (p: Plan) => {
      writeFileSync(planFile, serializePlan(p));
      const r = spawnSync('/bin/bash', ['-c', `exec 7</dev/null 8</dev/null; "${launcher}" --plan-fd 3 -- /bin/sh sh -c 'for f in 7 8; do [ -e /proc/self/fd/$f ] && echo $f-open || echo $f-closed; done' 3<"${planFile}"`], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    assert.equal(check({ noNewPrivs: true }), '7-closed\n8-closed\n');
    assert.equal(check({ noNewPrivs: true, keepFds: [8] }), '7-closed\n8-open\n');
  });

  it('non-UTF-8 argv bytes reach the command unchanged', () => {
    const planFile = join(tmp, 'plan2');
    writeFileSync(planFile, serializePlan({ noNewPrivs: true }));
    const r = spawnSync('/bin/bash', ['-c', `"${launcher}" --plan-fd 3 -- /usr/bin/printf printf %s $'\\xff\\xfe a' 3<"${planFile}"`]);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.deepEqual([...r.stdout], [0xff, 0xfe, 0x20, 0x61]);
  });
});
