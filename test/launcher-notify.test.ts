// seccomp user-notify through the session sandbox launcher (native/launcher.c `notify`,
// src/sandbox/launcher.ts onNotify): every exec, signal and delete of the sandboxed tree
// stops in the kernel until the server's verdict. Asserted by outcome and by the absence
// of side effects (the denied program's output, the deleted file, the killed process).
// Needs root (mount and pid namespaces without a user namespace); skipped otherwise.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  buildLauncher, parseNotification, runInSandbox, serializePlan, serializeVerdict,
  type LauncherReport, type Notification, type NotifyFact, type Plan, type Verdict,
} from '../src/sandbox/launcher.js';

const isRoot = process.getuid?.() === 0;
const skipReason = isRoot ? false : 'needs root: mount and pid namespaces are created without a user namespace';
const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-notify-')));
// As in production: the workspace and the trash on one host filesystem that is its own
// mount (rename(2) cannot cross mounts), the trash hidden inside the sandbox by an empty
// read-only tmpfs. The supervisor moves files in the host's view of the tree.
const vol = join(tmp, 'vol'); // a tmpfs mounted on the host for the duration of the tests
const ws = join(vol, 'work space'); // a space: request and verdict words must carry it
const trash = join(vol, 'trash');
const other = join(tmp, 'other');
const ro = join(tmp, 'ro');
let volMounted = false;
let launcher = '';

/** The backend the running suite tests (set by its `before`; the suites run one after the other). */
let via: 'seccomp' | 'ptrace' = 'seccomp';

function plan(extra: Partial<Plan> = {}): Plan {
  return {
    ...(via === 'ptrace' ? { notifyVia: 'ptrace' as const } : {}),
    pdeathsig: true,
    unshare: ['mount', 'pid', 'ipc', 'uts'],
    mounts: [
      ...['/usr', '/bin', '/lib', '/lib64', '/etc'].map((path) => ({ kind: 'bind' as const, path, mode: 'ro' as const, optional: path !== '/usr' })),
      { kind: 'bind', path: '/dev/null', mode: 'rw' },
      { kind: 'bind', path: vol, mode: 'rw' },
      { kind: 'tmpfs', path: trash, mode: 0o555, sizeBytes: 64 << 10, readOnly: true },
      { kind: 'bind', path: other, mode: 'rw' },
      { kind: 'bind', path: ro, mode: 'ro' },
      { kind: 'tmpfs', path: '/tmp', mode: 0o1777 },
      { kind: 'proc' },
    ],
    chdir: ws,
    dropCaps: true,
    noNewPrivs: true,
    seccomp: 'deny-list',
    notify: ['exec', 'signal', 'delete'],
    ...extra,
  };
}

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  report: LauncherReport;
  seen: Notification[];
  facts: NotifyFact[];
  ms: number;
}

type Handler = (n: Notification, child: ReturnType<typeof runInSandbox>) => Promise<Verdict> | Verdict;

const CONTINUE: Verdict = { kind: 'continue' };

/** Runs `bash -c script`; every notification is recorded, then decided by `decide`. */
async function run(script: string, decide: Handler = () => CONTINUE, p: Plan = plan(), limitMs = 30_000): Promise<Result> {
  const seen: Notification[] = [];
  const facts: NotifyFact[] = [];
  const t0 = process.hrtime.bigint();
  const child: ReturnType<typeof runInSandbox> = runInSandbox(p, ['/bin/bash', '-c', script], {
    launcher,
    env: { PATH: '/usr/bin:/bin', LANG: 'C' },
    onNotify: (n) => { seen.push(n); return decide(n, child); },
    onNotifyFact: (f) => facts.push(f),
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('close', (c, s) => res([c, s])));
  clearTimeout(timer);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.notEqual(signal, 'SIGKILL', `timed out after ${limitMs} ms: ${stdout}${stderr}`);
  return { code, signal, stdout, stderr, report: await child.report, seen, facts, ms };
}

const execs = (r: Result) => r.seen.filter((n): n is Extract<Notification, { kind: 'exec' }> => n.kind === 'exec');

before(() => {
  launcher = buildLauncher();
  mkdirSync(vol);
  if (isRoot) {
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0755', 'agentsh-notify-test', vol], { encoding: 'utf8' });
    assert.equal(m.status, 0, m.stderr);
    volMounted = true;
  }
  mkdirSync(ws);
  mkdirSync(trash);
  mkdirSync(other);
  mkdirSync(ro);
  writeFileSync(join(ro, 'file'), 'read-only\n');
});

after(() => {
  if (volMounted) spawnSync('umount', ['-l', vol]);
  rmSync(tmp, { recursive: true, force: true });
});

describe('notify protocol (no root needed)', () => {
  it('serializes the directive, parses requests, formats verdicts', () => {
    assert.match(serializePlan({ unshare: ['pid'], notify: ['exec', 'delete', 'exec'] }), /^notify\texec,delete$/m);
    assert.throws(() => serializePlan({ notify: ['nope' as 'exec'] }), /notify groups/);
    assert.deepEqual(parseNotification('notify 18446744073709551615 exec 42 41,40 /usr/bin/a\\x20b /w\\x20s a\\x20b  \\n'), {
      kind: 'exec', id: '18446744073709551615', pid: 42, ancestors: [41, 40], path: '/usr/bin/a b', cwd: '/w s', argv: ['a b', '', '\n'],
    });
    assert.deepEqual(parseNotification('notify 7 exec 42  /bin/x /'), { kind: 'exec', id: '7', pid: 42, ancestors: [], path: '/bin/x', cwd: '/', argv: [] });
    assert.deepEqual(parseNotification('notify 8 signal 42 tgkill -1 15'), { kind: 'signal', id: '8', pid: 42, syscall: 'tgkill', target: -1, signal: 15 });
    assert.deepEqual(parseNotification('notify 9 rmdir 42 /w/d'), { kind: 'rmdir', id: '9', pid: 42, path: '/w/d' });
    assert.deepEqual(parseNotification('notify 9 rename 42 /a /b 1'), { kind: 'rename', id: '9', pid: 42, src: '/a', dst: '/b', flags: 1 });
    assert.equal(parseNotification('notify x exec'), undefined);
    assert.equal(parseNotification('notify 9 unlink 42'), undefined);
    assert.equal(serializeVerdict('5', { kind: 'continue' }), 'verdict 5 continue\n');
    assert.equal(serializeVerdict('5', { kind: 'errno', errno: 13 }), 'verdict 5 errno 13\n');
    assert.equal(serializeVerdict('5', { kind: 'value', value: -(2n ** 63n) }), 'verdict 5 value -9223372036854775808\n');
    assert.equal(serializeVerdict('5', { kind: 'trash', src: '/w s/a\tb', dir: '/t', name: 'n1', then: 'value0' }), 'verdict 5 trash /w\\x20s/a\\tb /t n1 value0\n');
    assert.throws(() => serializeVerdict('5', { kind: 'errno', errno: 0 }));
    assert.throws(() => serializeVerdict('5', { kind: 'trash', src: 'rel', dir: '/t', name: 'n', then: 'value0' }));
    assert.throws(() => serializeVerdict('5', { kind: 'trash', src: '/a', dir: '/t', name: 'a/b', then: 'value0' }));
    assert.throws(() => serializeVerdict('5', { kind: 'value', value: 2 ** 64 }));
  });
});

// The same suite for both backends: seccomp user-notify, and ptrace (the filter returns
// SECCOMP_RET_TRACE, the supervisor is the tracer) for runtimes where a listener can't be had.
for (const backend of ['seccomp', 'ptrace'] as const) describe(`notify via ${backend} (as root)`, { skip: skipReason }, () => {
  before(() => {
    via = backend;
    // the tests name fixed files: each backend starts from empty directories
    for (const d of [ws, trash, other]) for (const e of readdirSync(d)) rmSync(join(d, e), { recursive: true, force: true });
  });
  it('reports every exec with its absolute path, argv, cwd and ancestors', async () => {
    const script = '/bin/true; env true; python3 -c "import subprocess; subprocess.run([\\"/usr/bin/id\\"])"; echo done';
    const r = await run(script);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^uid=0\(root\).*\ndone\n$/s);
    const e = execs(r);
    const bash = e[0]!;
    assert.deepEqual({ path: bash.path, argv: bash.argv, cwd: bash.cwd, ancestors: bash.ancestors }, { path: '/bin/bash', argv: ['/bin/bash', '-c', script], cwd: ws, ancestors: [] });
    const find = (path: string, argv0: string) => {
      const x = e.find((n) => n.path === path && n.argv[0] === argv0);
      assert.ok(x, `no exec of ${path} (${argv0}) in ${JSON.stringify(e, null, 1)}`);
      return x;
    };
    const tru = find('/bin/true', '/bin/true');
    assert.deepEqual(tru.argv, ['/bin/true']);
    assert.deepEqual(tru.ancestors, [bash.pid]);
    const env = find('/usr/bin/env', 'env');
    assert.deepEqual(env.argv, ['env', 'true']);
    const envTrue = find('/usr/bin/true', 'true');
    assert.equal(envTrue.pid, env.pid, 'env execs true in the same process');
    assert.deepEqual(envTrue.ancestors, [bash.pid]);
    const py = find('/usr/bin/python3', 'python3');
    assert.equal(py.argv[1], '-c');
    const id = find('/usr/bin/id', '/usr/bin/id');
    assert.deepEqual(id.argv, ['/usr/bin/id']);
    assert.deepEqual(id.ancestors, [py.pid, ...py.ancestors], 'the nested exec has the longer ancestor list');
    assert.ok(id.ancestors.length > tru.ancestors.length);
    for (const n of e) assert.equal(n.cwd, ws);
    assert.ok(r.report.ok.some((s) => s.key === 'notify' && s.value === 'exec,signal,delete'), r.report.lines.join('\n'));
    assert.ok(!r.report.lines.some((l) => l.startsWith('notify ')), 'request lines go to the handler, not the report');
    assert.deepEqual(r.report.exit, { code: 0 });
  });

  it('dirfd-relative calls resolve through /proc/PID/fd: execveat(AT_EMPTY_PATH), unlinkat, renameat', async () => {
    mkdirSync(join(ws, 'sub'));
    writeFileSync(join(ws, 'sub', 'f'), 'f');
    writeFileSync(join(ws, 'sub', 'g'), 'g');
    const r = await run(`python3 -c 'import os; d=os.open("sub", os.O_RDONLY); os.rename("g", "h", src_dir_fd=d, dst_dir_fd=d); os.unlink("f", dir_fd=d); fd=os.open("/usr/bin/true", os.O_RDONLY); os.execve(fd, ["true-by-fd", "x"], {})'; echo rc=$?`);
    assert.equal(r.stdout, 'rc=0\n', r.stderr);
    const byFd = execs(r).find((n) => n.argv[0] === 'true-by-fd');
    assert.deepEqual(byFd && [byFd.path, byFd.argv], ['/usr/bin/true', ['true-by-fd', 'x']]);
    const del = r.seen.filter((n) => n.kind === 'unlink' || n.kind === 'rename');
    assert.deepEqual(del.map((n) => (n.kind === 'rename' ? [n.src, n.dst, n.flags] : n.kind === 'unlink' ? n.path : null)), [
      [join(ws, 'sub', 'g'), join(ws, 'sub', 'h'), 0],
      join(ws, 'sub', 'f'),
    ]);
    assert.deepEqual(readdirSync(join(ws, 'sub')), ['h']);
  });

  it('an errno verdict stops one program; the others run', async () => {
    const deny = (n: Notification): Verdict => (n.kind === 'exec' && n.path === '/usr/bin/id' ? { kind: 'errno', errno: 1 } : CONTINUE);
    const r = await run('/bin/true && echo T1; env true && echo T2; python3 -c "import subprocess; subprocess.run([\\"/usr/bin/id\\"])"; echo py=$?; /usr/bin/id; echo id=$?', deny);
    assert.equal(r.stdout, 'T1\nT2\npy=1\nid=126\n', r.stderr);
    assert.ok(!r.stdout.includes('uid='));
    assert.match(r.stderr, /PermissionError: \[Errno 1\] Operation not permitted: '\/usr\/bin\/id'/);
    assert.match(r.stderr, /\/usr\/bin\/id: Operation not permitted/);
  });

  it('argument memory that cannot be read is refused without asking (EFAULT)', async () => {
    const r = await run(`python3 -c 'import ctypes,os; l=ctypes.CDLL(None, use_errno=True); print(l.execve(ctypes.c_void_p(16), None, None), os.strerror(ctypes.get_errno()))'; python3 -c 'import os; os.execv("/" + "a" * 5000, ["x"])'`);
    assert.match(r.stdout, /^-1 Bad address\n/);
    assert.match(r.stderr, /PermissionError: \[Errno 1\] Operation not permitted/);
    assert.deepEqual(r.facts.map((f) => f.kind === 'notify-refused' && f.reason), ['unreadable-memory', 'path-too-long']);
    assert.ok(!execs(r).some((n) => n.path.includes('aaaa')), 'an over-long path never reaches the handler');
  });

  it('unlink by relative path with a trash verdict: gone from its place, kept in the trash', async () => {
    const content = `payload ${Date.now()}\n`;
    writeFileSync(join(ws, 'doc.txt'), content);
    const r = await run('rm doc.txt; echo rm=$?', (n) => (n.kind === 'unlink' ? { kind: 'trash', src: n.path, dir: trash, name: 'tok-unlink', then: 'value0' } : CONTINUE));
    assert.equal(r.stdout, 'rm=0\n', r.stderr);
    const u = r.seen.find((n) => n.kind === 'unlink');
    assert.deepEqual(u && u.kind === 'unlink' && u.path, join(ws, 'doc.txt'));
    assert.equal(existsSync(join(ws, 'doc.txt')), false);
    assert.equal(readFileSync(join(trash, 'tok-unlink'), 'utf8'), content);
    assert.deepEqual(r.facts, [{ kind: 'trashed', id: u!.id }]);
  });

  it('a symlink swapped into the parent makes the trash verdict fail: the delete is refused, nothing moves', async () => {
    mkdirSync(join(other, 'dir'));
    writeFileSync(join(other, 'dir', 'file'), 'elsewhere\n');
    symlinkSync(join(other, 'dir'), join(ws, 'link'));
    const before = readdirSync(trash).sort();
    const r = await run('rm link/file; echo rm=$?', (n) => (n.kind === 'unlink' ? { kind: 'trash', src: n.path, dir: trash, name: 'tok-link', then: 'value0' } : CONTINUE));
    assert.equal(r.stdout, 'rm=1\n');
    assert.match(r.stderr, /Operation not permitted/);
    assert.equal(readFileSync(join(other, 'dir', 'file'), 'utf8'), 'elsewhere\n');
    assert.deepEqual(readdirSync(trash).sort(), before);
    assert.deepEqual(r.facts.map((f) => f.kind === 'trash-failed' && f.errno), ['ELOOP']);
  });

  it('the trash is hidden from the sandbox; the supervisor moves in the host view', async () => {
    writeFileSync(join(ws, 'hidden.txt'), 'hide me\n');
    const r = await run(`rm hidden.txt; echo rm=$?; ls -A "${trash}" | wc -l; touch "${trash}/x"`, (n) =>
      n.kind === 'unlink' && n.path.endsWith('/hidden.txt') ? { kind: 'trash', src: n.path, dir: trash, name: 'tok-hidden', then: 'value0' } : CONTINUE);
    assert.equal(r.stdout, 'rm=0\n0\n', r.stderr);
    assert.match(r.stderr, /Read-only file system/);
    assert.equal(readFileSync(join(trash, 'tok-hidden'), 'utf8'), 'hide me\n');
  });

  it('only the host file the command named can be trashed: not a sandbox-only file of the same name, not one on a read-only mount', async () => {
    writeFileSync(join(tmp, 'decoy'), 'host\n'); // the sandbox's view of this dir is its own (a tmpfs)
    const before = readdirSync(trash).sort();
    const r = await run(`echo sandbox > "${tmp}/decoy"; rm "${tmp}/decoy"; echo rm=$?; cat "${tmp}/decoy"; rm "${ro}/file"; echo ro=$?`, (n) =>
      n.kind === 'unlink' ? { kind: 'trash', src: n.path, dir: trash, name: `tok-${n.id}`, then: 'value0' } : CONTINUE);
    assert.equal(r.stdout, 'rm=1\nsandbox\nro=1\n', r.stderr);
    assert.equal(readFileSync(join(tmp, 'decoy'), 'utf8'), 'host\n');
    assert.equal(readFileSync(join(ro, 'file'), 'utf8'), 'read-only\n');
    assert.deepEqual(readdirSync(trash).sort(), before);
    assert.deepEqual(r.facts.map((f) => f.kind === 'trash-failed' && f.errno), ['EXDEV', 'EROFS']);
  });

  it('rmdir with a trash verdict; a non-empty directory stays (ENOTEMPTY)', async () => {
    mkdirSync(join(ws, 'empty'));
    mkdirSync(join(ws, 'full'));
    writeFileSync(join(ws, 'full', 'x'), 'x');
    let k = 0;
    const r = await run('rmdir empty; echo a=$?; rmdir full; echo b=$?', (n) => (n.kind === 'rmdir' ? { kind: 'trash', src: n.path, dir: trash, name: `tok-dir-${k++}`, then: 'value0' } : CONTINUE));
    assert.equal(r.stdout, 'a=0\nb=1\n', r.stderr);
    assert.match(r.stderr, /Directory not empty/);
    assert.deepEqual(r.seen.filter((n) => n.kind === 'rmdir').map((n) => n.kind === 'rmdir' && n.path), [join(ws, 'empty'), join(ws, 'full')]);
    assert.equal(existsSync(join(ws, 'empty')), false);
    assert.ok(existsSync(join(trash, 'tok-dir-0')));
    assert.equal(readFileSync(join(ws, 'full', 'x'), 'utf8'), 'x');
    assert.equal(existsSync(join(trash, 'tok-dir-1')), false);
  });

  it('rename over an existing file: the old destination goes to the trash, then the rename runs', async () => {
    writeFileSync(join(ws, 'a.txt'), 'new\n');
    writeFileSync(join(ws, 'b.txt'), 'old\n');
    const r = await run(`python3 -c 'import os; os.rename("a.txt", "b.txt")'; echo rc=$?`, (n) =>
      n.kind === 'rename' && n.flags === 0 && existsSync(n.dst) ? { kind: 'trash', src: n.dst, dir: trash, name: 'tok-old-b', then: 'continue' } : CONTINUE);
    assert.equal(r.stdout, 'rc=0\n', r.stderr);
    const rn = r.seen.find((n) => n.kind === 'rename');
    assert.deepEqual(rn && rn.kind === 'rename' && [rn.src, rn.dst, rn.flags], [join(ws, 'a.txt'), join(ws, 'b.txt'), 0]);
    assert.equal(existsSync(join(ws, 'a.txt')), false);
    assert.equal(readFileSync(join(ws, 'b.txt'), 'utf8'), 'new\n');
    assert.equal(readFileSync(join(trash, 'tok-old-b'), 'utf8'), 'old\n');
  });

  it('signals: reported with target and signal; an errno verdict keeps the target alive', async () => {
    const probe = await run(`python3 -c 'import os; print(os.getpid()); os.kill(os.getpid(), 0)'`);
    assert.equal(probe.code, 0, probe.stderr);
    const sig = probe.seen.find((n) => n.kind === 'signal');
    assert.ok(sig && sig.kind === 'signal', JSON.stringify(probe.seen));
    assert.deepEqual([sig.syscall, sig.target, sig.signal], ['kill', Number(probe.stdout.trim()), 0]);
    const py = execs(probe).find((n) => n.path === '/usr/bin/python3');
    assert.equal(sig.pid, py?.pid, 'the caller is the python process (pids as the launcher sees them)');

    const byPidfd = await run(`python3 -c 'import os,signal; fd=os.pidfd_open(os.getpid()); signal.pidfd_send_signal(fd, 0); print(os.getpid())'`);
    const pfd = byPidfd.seen.find((n) => n.kind === 'signal');
    assert.deepEqual(pfd && pfd.kind === 'signal' && [pfd.syscall, pfd.target, pfd.signal], ['pidfd_send_signal', Number(byPidfd.stdout.trim()), 0], byPidfd.stderr);

    const noTerm = (n: Notification): Verdict => (n.kind === 'signal' && n.signal === 15 ? { kind: 'errno', errno: 1 } : CONTINUE);
    const r = await run('sleep 30 & S=$!; kill -TERM $S; echo kill=$?; kill -0 $S && echo alive; kill -TERM $$; echo survived; kill -KILL $S; wait $S; echo waited=$?', noTerm);
    assert.equal(r.stdout, 'kill=1\nalive\nsurvived\nwaited=137\n', r.stderr);
    assert.match(r.stderr, /kill: \(\d+\) - Operation not permitted/);
    const terms = r.seen.filter((n) => n.kind === 'signal' && n.signal === 15);
    assert.equal(terms.length, 2);
  });

  it('job control and signals still work: a stopped child continues on SIGCONT, a handled signal arrives', async () => {
    const r = await run('sleep 0.3 & P=$!; kill -STOP $P; sleep 0.2; kill -CONT $P; wait $P; echo rc=$?; '
      + 'python3 -c \'import os,signal,time; signal.signal(signal.SIGUSR1, lambda *a: print("usr1")); os.kill(os.getpid(), signal.SIGUSR1); time.sleep(0.05)\'');
    assert.equal(r.stdout, 'rc=0\nusr1\n', r.stderr);
  });

  it('the command can neither trace nor be traced: PTRACE_TRACEME and PTRACE_ATTACH fail (EPERM)', async () => {
    const py = 'import ctypes,os; c=ctypes.CDLL(None,use_errno=True); c.ptrace.restype=ctypes.c_long\n'
      + 'r=c.ptrace(0,0,0,0); print("traceme",r,ctypes.get_errno())\n'
      + 'p=os.fork()\nif p==0:\n  import time; time.sleep(5); os._exit(0)\n'
      + 'r=c.ptrace(16,p,0,0); print("attach",r,ctypes.get_errno()); os.kill(p,9); os.wait()';
    const r = await run(`python3 -c '${py}'`);
    assert.equal(r.stdout, 'traceme -1 1\nattach -1 1\n', r.stderr);
  });

  it('killing the supervisor ends the whole command tree: nothing runs on unsupervised', async () => {
    const mark = `${Date.now() % 100000}.${process.pid % 1000}`;
    const alive = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
      try { return readFileSync(`/proc/${d}/cmdline`, 'utf8') === `sleep\0${mark}\0`; } catch { return false; }
    });
    const child = runInSandbox(plan(), ['/bin/bash', '-c', `(sleep ${mark} &); sleep ${mark} & echo started; wait`], {
      launcher,
      env: { PATH: '/usr/bin:/bin', LANG: 'C' },
      onNotify: () => CONTINUE,
    });
    child.report.catch(() => {});
    const closed = new Promise((res) => child.on('close', res));
    try {
      for (let i = 0; alive().length < 2 && i < 200; i++) await new Promise((res) => setTimeout(res, 25));
      assert.equal(alive().length, 2, 'both sleeps started');
      child.kill('SIGKILL'); // the launcher's outer process: the supervisor (and, with ptrace, the tracer)
      await closed;
      const deadline = Date.now() + 3000;
      while (alive().length && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
      assert.deepEqual(alive(), [], 'a sleep of the command outlived its supervisor');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a throwing or rejecting handler answers EPERM, never hangs', async () => {
    const thrower = await run('/usr/bin/id; echo rc=$?', (n) => {
      if (n.kind === 'exec' && n.path === '/usr/bin/id') throw new Error('boom');
      return CONTINUE;
    });
    assert.equal(thrower.stdout, 'rc=126\n', thrower.stderr);
    const rejecter = await run('/usr/bin/id; echo rc=$?', async (n) => {
      if (n.kind === 'exec' && n.path === '/usr/bin/id') throw new Error('async boom');
      return CONTINUE;
    });
    assert.equal(rejecter.stdout, 'rc=126\n', rejecter.stderr);
    const invalid = await run('/usr/bin/id; echo rc=$?', (n) => (n.kind === 'exec' && n.path === '/usr/bin/id' ? { kind: 'errno', errno: 0 } : CONTINUE));
    assert.equal(invalid.stdout, 'rc=126\n', invalid.stderr);
  });

  it('the server closing the report socket mid-notification kills the command (fail closed)', async () => {
    const r = await run('echo before; /usr/bin/id; echo after', (n, child) => {
      if (n.kind === 'exec' && n.path === '/usr/bin/id') {
        (child.stdio[4] as Duplex).destroy();
        return new Promise<Verdict>(() => { /* never answers */ });
      }
      return CONTINUE;
    }, plan(), 10_000);
    assert.equal(r.stdout, 'before\n');
    assert.equal(r.code, 128 + 9, `launcher exit ${r.code} ${r.signal}`);
    assert.ok(r.ms < 10_000);
  });

  it('refuses a plan it cannot apply: notify needs a pid namespace and a socket report descriptor', () => {
    const planFile = join(tmp, 'plan-nopid');
    writeFileSync(planFile, serializePlan({ noNewPrivs: true, notify: ['exec'] }));
    const noPid = spawnSync('/bin/bash', ['-c', `"${launcher}" --plan-fd 3 --report-fd 1 -- /usr/bin/true true 3<"${planFile}"`], { encoding: 'utf8' });
    assert.equal(noPid.status, 126);
    assert.equal(noPid.stdout, 'fail notify needs-pid-namespace EINVAL\n');
    writeFileSync(planFile, serializePlan({ unshare: ['pid'], noNewPrivs: true, notify: ['exec'] }));
    const pipe = spawnSync('/bin/bash', ['-c', `"${launcher}" --plan-fd 3 --report-fd 1 -- /usr/bin/true true 3<"${planFile}" | cat`], { encoding: 'utf8' });
    assert.equal(pipe.stdout, 'fail notify report-fd-not-a-socket ENOTSOCK\n');
    assert.throws(() => runInSandbox(plan(), ['/bin/true'], { launcher }), /needs opts.onNotify/);
  });

  it('cost per nested exec (1000 execs of /bin/true, notify+continue vs none)', async (t) => {
    const loop = 'for i in $(seq 1000); do /bin/true; done';
    // interleaved rounds, best of each: the machine's other load is the noise, not the cost
    let base = Infinity;
    let withNotify = Infinity;
    for (let round = 0; round < 3; round++) {
      base = Math.min(base, (await run(loop, () => CONTINUE, plan({ notify: [] }))).ms);
      const notified = await run(loop, () => CONTINUE, plan({ notify: ['exec'] }));
      assert.equal(execs(notified).filter((n) => n.path === '/bin/true').length, 1000);
      withNotify = Math.min(withNotify, notified.ms);
    }
    const per = (withNotify - base) / 1000;
    const msg = `exec cost: ${(base / 1000).toFixed(3)} ms/exec without notify, ${(withNotify / 1000).toFixed(3)} ms/exec with notify+continue: +${per.toFixed(3)} ms per exec (budget 0.5 ms)`;
    t.diagnostic(msg);
    console.log(msg);
  });
});
