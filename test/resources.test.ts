// Resource limits for governed commands (src/sandbox/cgroups.ts, src/sandbox/resources.ts,
// the launcher's `cgroup PATH` directive): a bounded fork bomb stops at pids.max, a memory
// hog is stopped at its memory limit, a CPU quota halves a busy loop, leftovers are killed
// and every cgroup created is removed, while the test process (the "server") is unaffected.
// The kernel tests need root and a writable cgroup hierarchy; they are skipped otherwise.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseMountinfo, parseProcCgroup, probeCgroups, type CgroupProbe } from '../src/sandbox/cgroups.js';
import { buildLauncher, runInSandbox, serializePlan, type LauncherReport, type Plan } from '../src/sandbox/launcher.js';
import { limitsFromPolicy, ResourceManager, resourcePlan, RLIMIT_AS_MIN_HEADROOM, type CgroupLimits } from '../src/sandbox/resources.js';

const isRoot = process.getuid?.() === 0;
const PY = '/usr/bin/python3';
const MIB = 1024 * 1024;
const NO_CGROUPS: CgroupProbe = { mechanism: 'none', controllers: {}, places: [], swapAccounting: false, atomicKill: false, notes: ['test: no cgroups'] };

let launcher = '';
let probe: CgroupProbe = NO_CGROUPS;
const managers: ResourceManager[] = [];
const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-res-')));

function manager(limits: CgroupLimits, p: CgroupProbe = probe): ResourceManager {
  const m = new ResourceManager(limits, { probe: p });
  managers.push(m);
  return m;
}

function sandboxPlan(extra: Partial<Plan> = {}): Plan {
  return {
    pdeathsig: true,
    unshare: ['mount', 'pid', 'ipc', 'uts'],
    hostname: 'agentsh-sandbox',
    mounts: [
      ...['/usr', '/bin', '/lib', '/lib64', '/etc'].map((path) => ({ kind: 'bind' as const, path, mode: 'ro' as const, optional: path !== '/usr' })),
      { kind: 'bind', path: '/dev/null', mode: 'rw' },
      { kind: 'tmpfs', path: '/tmp', mode: 0o1777, noexec: true, sizeBytes: 16 << 20 },
      { kind: 'proc' },
    ],
    chdir: '/tmp',
    dropCaps: true,
    noNewPrivs: true,
    seccomp: 'deny-list',
    ...extra,
  };
}

interface Result { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; report: LauncherReport }

/** Runs argv through the launcher; the launcher (a process this test started) is killed after `limitMs`. */
async function run(plan: Plan, argv: string[], limitMs = 30_000): Promise<Result> {
  const child = runInSandbox(plan, argv, { launcher, program: argv[0]!, env: { PATH: '/usr/bin:/bin', LANG: 'C' } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => { if (child.pid) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }, limitMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('close', (c, s) => res([c, s])));
  clearTimeout(timer);
  return { code, signal, stdout, stderr, report: await child.report };
}

/** Our own subtree in every usable hierarchy: `<parent>/agentsh/<pid>`. */
const ownDirs = () => probe.places.map((p) => posix.join(p.parent, 'agentsh', String(process.pid)));

/** The server is unaffected: still in its own cgroups, still able to fork. */
function assertServerUnaffected(cgroupBefore: string): void {
  assert.equal(readFileSync('/proc/self/cgroup', 'utf8'), cgroupBefore, 'the server changed cgroup');
  const r = spawnSync('/bin/true');
  assert.equal(r.status, 0, `the server can no longer fork: ${r.error?.message}`);
}

const SELF_CGROUP = readFileSync('/proc/self/cgroup', 'utf8');

before(() => {
  if (!isRoot) return;
  launcher = buildLauncher();
  probe = probeCgroups();
});

after(async () => {
  // Every cgroup a test left behind (failure paths) is released: leftovers killed, dirs removed.
  await Promise.all(managers.map((m) => m.close()));
  rmSync(tmp, { recursive: true, force: true });
  for (const d of ownDirs()) assert.equal(existsSync(d), false, `${d} left behind`);
});

describe('parsing and planning (no kernel)', () => {
  it('parses cgroup mounts and /proc/self/cgroup', () => {
    const mi = [
      '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
      '35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
      '32 31 0:29 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,relatime - cgroup cgroup rw,cpu,cpuacct',
      '41 31 0:38 / /sys/fs/cgroup/uni\\040fied rw,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate',
    ].join('\n');
    const m = parseMountinfo(mi);
    assert.deepEqual(m.map((x) => [x.fstype, x.mountPoint, x.root, x.readOnly]), [
      ['cgroup', '/sys/fs/cgroup/memory', '/', false],
      ['cgroup', '/sys/fs/cgroup/cpu,cpuacct', '/docker/abc', true],
      ['cgroup2', '/sys/fs/cgroup/uni fied', '/', false],
    ]);
    assert.deepEqual(m[1]!.superOptions, ['rw', 'cpu', 'cpuacct']);
    assert.deepEqual(parseProcCgroup('4:memory:/process_api/x\n2:cpu,cpuacct:/\n0::/user.slice/a.scope\n'), [
      { id: 4, controllers: ['memory'], path: '/process_api/x' },
      { id: 2, controllers: ['cpu', 'cpuacct'], path: '/' },
      { id: 0, controllers: [], path: '/user.slice/a.scope' },
    ]);
  });

  it('takes the seed policy limits; the config narrows them; 0 is unlimited except for swap', () => {
    const seed = { max_memory_mb: 2048, memory_swap_max_mb: 0, cpu_quota_percent: 50, pids_max: 100, disk_read_bps_max: 52428800, disk_write_bps_max: 26214400 };
    assert.deepEqual(limitsFromPolicy(seed), { memoryBytes: 2048 * MIB, swapBytes: 0, cpuPercent: 50, pidsMax: 100, diskReadBps: 52428800, diskWriteBps: 26214400 });
    assert.deepEqual(limitsFromPolicy(seed, { max_memory_mb: 1024, max_cpu_percent: 80, max_processes: 0 }),
      { memoryBytes: 1024 * MIB, swapBytes: 0, cpuPercent: 50, pidsMax: 100, diskReadBps: 52428800, diskWriteBps: 26214400 });
    assert.deepEqual(limitsFromPolicy({ max_memory_mb: 0, pids_max: 0 }), {});
    assert.deepEqual(limitsFromPolicy(undefined, { max_processes: 10 }), { pidsMax: 10 });
  });

  it('without cgroups: RLIMIT_AS (generous) for memory, NPROC only for a dedicated non-root uid, cpu not enforced', () => {
    const limits: CgroupLimits = { memoryBytes: 200 * MIB, cpuPercent: 50, pidsMax: 20, swapBytes: 0, diskReadBps: 1000 };
    const root = resourcePlan(limits, NO_CGROUPS);
    assert.equal(root.active.mechanism, 'rlimit');
    assert.deepEqual(root.planPart, { rlimits: { AS: 200 * MIB + RLIMIT_AS_MIN_HEADROOM } });
    assert.deepEqual(root.cgroupControllers, []);
    assert.equal(root.active.limits.memory.enforced, 'partial');
    assert.match(root.active.limits.memory.via, /virtual memory/);
    assert.equal(root.active.limits.pids.enforced, 'no');
    assert.equal(root.active.limits.cpu.enforced, 'no');
    assert.match(root.active.limits.cpu.via, /RLIMIT_CPU/);
    assert.equal(root.active.limits.swap.enforced, 'no');
    assert.equal(root.active.limits.diskRead.enforced, 'no');
    assert.equal(root.active.limits.diskWrite.requested, null);
    assert.ok(root.notes.some((n) => /RLIMIT_AS/.test(n)));

    const big = resourcePlan({ memoryBytes: 2048 * MIB }, NO_CGROUPS);
    assert.deepEqual(big.planPart.rlimits, { AS: 4 * 2048 * MIB });

    const shared = resourcePlan(limits, NO_CGROUPS, { uid: 1000 });
    assert.equal(shared.planPart.rlimits?.NPROC, undefined, 'NPROC counts the whole uid: not for a shared one');
    const dedicated = resourcePlan(limits, NO_CGROUPS, { uid: 1000, dedicatedUid: true });
    assert.equal(dedicated.planPart.rlimits?.NPROC, 20);
    assert.equal(dedicated.active.limits.pids.enforced, 'partial');
    assert.equal(resourcePlan(limits, NO_CGROUPS, { uid: 0, dedicatedUid: true }).planPart.rlimits?.NPROC, undefined);
  });

  it('with cgroups: nothing falls back to rlimits; v1 disk writes are only partial', () => {
    const v1: CgroupProbe = { ...NO_CGROUPS, mechanism: 'cgroup-v1', controllers: { pids: 1, memory: 1, cpu: 1, io: 1 }, swapAccounting: true };
    const p = resourcePlan({ memoryBytes: 200 * MIB, swapBytes: 0, cpuPercent: 50, pidsMax: 20, diskWriteBps: 1000 }, v1);
    assert.deepEqual(p.planPart, {});
    assert.equal(p.active.mechanism, 'cgroup-v1');
    assert.deepEqual(p.cgroupControllers.sort(), ['cpu', 'io', 'memory', 'pids']);
    for (const n of ['memory', 'swap', 'cpu', 'pids'] as const) assert.equal(p.active.limits[n].enforced, 'yes', n);
    assert.equal(p.active.limits.diskWrite.enforced, 'partial');
    const noSwap = resourcePlan({ memoryBytes: 1, swapBytes: 0 }, { ...v1, swapAccounting: false });
    assert.equal(noSwap.active.limits.swap.enforced, 'no');
  });

  it('serializes cgroup directives (absolute, at most 8)', () => {
    assert.equal(serializePlan({ cgroups: ['/sys/fs/cgroup/pids/a b/cgroup.procs'] }), 'cgroup\t/sys/fs/cgroup/pids/a b/cgroup.procs\n');
    assert.throws(() => serializePlan({ cgroups: ['relative/cgroup.procs'] }), /absolute/);
    assert.throws(() => serializePlan({ cgroups: Array.from({ length: 9 }, (_, i) => `/c${i}`) }), /at most 8/);
  });

  it('cgroup v2: picks the writable ancestor that delegates the most controllers', () => {
    // A fake v2 tree: our cgroup /a/b delegates nothing, /a delegates memory+pids, the root all four.
    const root = join(tmp, 'cg2');
    mkdirSync(join(root, 'a', 'b'), { recursive: true });
    writeFileSync(join(root, 'cgroup.subtree_control'), 'cpu io memory pids\n');
    writeFileSync(join(root, 'a', 'cgroup.subtree_control'), 'memory pids\n');
    writeFileSync(join(root, 'a', 'b', 'cgroup.subtree_control'), '\n');
    const p = probeCgroups({ mountinfo: `41 31 0:38 / ${root} rw,relatime - cgroup2 cgroup2 rw`, selfCgroup: '0::/a/b\n' });
    assert.equal(p.places.length, 1);
    assert.equal(p.places[0]!.version, 2);
    assert.equal(p.places[0]!.parent, root);
    // a plain directory gets no interface files: no controller is claimed without its file
    assert.deepEqual(p.places[0]!.controllers, []);
    assert.equal(p.mechanism, 'none');
    assert.deepEqual(readdirSync(root).sort(), ['a', 'cgroup.subtree_control'], 'the probe cgroup was removed');
    const none = probeCgroups({ mountinfo: '', selfCgroup: '' });
    assert.equal(none.mechanism, 'none');
    assert.deepEqual(none.places, []);
  });
});

describe('enforcement (kernel)', { skip: isRoot ? false : 'needs root' }, () => {
  const need = (...c: Array<'pids' | 'memory' | 'cpu'>) => c.every((x) => probe.controllers[x]);

  it('detects the mechanism and reports it honestly', (t) => {
    const m = manager({ memoryBytes: 200 * MIB, swapBytes: 0, cpuPercent: 50, pidsMax: 20 });
    t.diagnostic(`mechanism ${probe.mechanism}; places ${probe.places.map((p) => `v${p.version}:${p.parent}[${p.controllers.join(',')}]`).join(' ')}; notes: ${probe.notes.join(' | ')}`);
    assert.match(probe.mechanism, /^(cgroup-v1|cgroup-v2|cgroup-v1\+v2|none)$/);
    assert.ok(m.plan.active.mechanism.length > 0);
    for (const c of ['pids', 'memory', 'cpu'] as const) {
      const limit = c === 'memory' ? 'memory' : c;
      if (probe.controllers[c]) assert.equal(m.plan.active.limits[limit].enforced, 'yes', c);
      else assert.notEqual(m.plan.active.limits[limit].enforced, 'yes', c);
    }
    if (existsSync('/sys/fs/cgroup/pids/cgroup.procs') && existsSync('/sys/fs/cgroup/memory/cgroup.procs')) {
      // this machine's layout: v1 controllers, a controller-less cgroup2 at /sys/fs/cgroup/unified
      assert.equal(probe.controllers.pids, 1);
      assert.equal(probe.controllers.memory, 1);
    }
  });

  it('stops a fork bomb at pids.max; the server is unaffected; the cgroup is gone afterwards', { timeout: 60_000 }, async (t) => {
    if (!need('pids')) return t.skip(`no pids controller (${probe.mechanism})`);
    const LIMIT = 20;
    const m = manager({ pidsMax: LIMIT });
    const res = m.prepare('forkbomb');
    assert.equal(res.active.limits.pids.enforced, 'yes');
    assert.ok(res.planPart.cgroups?.length);
    const dirs = res.cgroup!.dirs.map((d) => d.path);
    const script = [
      'import os, signal, sys',
      'n = 0',
      'while n < 1000:',
      '    try:',
      '        pid = os.fork()',
      '    except OSError as e:',
      '        print("fork failed", e.errno, flush=True)',
      '        break',
      '    if pid == 0:',
      '        signal.pause()',
      '        os._exit(0)',
      '    n += 1',
      'print("forked", n, flush=True)',
    ].join('\n');
    const r = await run(sandboxPlan({ ...res.planPart }), [PY, '-c', script]);
    const usage = res.usage();
    const { removal } = await res.release();
    assert.equal(r.code, 0, `${r.stderr} ${r.report.lines.join(' | ')}`);
    assert.ok(r.report.ok.some((s) => s.key === 'cgroup'), 'the launcher reports the join');
    const n = Number(/forked (\d+)/.exec(r.stdout)?.[1]);
    assert.match(r.stdout, /fork failed 11/); // EAGAIN
    assert.ok(n >= 5 && n < LIMIT, `forked ${n} with pids.max ${LIMIT}`);
    t.diagnostic(`forked ${n}; usage ${JSON.stringify(usage)}`);
    if (usage.pidsMaxHits !== undefined) assert.ok(usage.pidsMaxHits >= 1);
    assert.deepEqual(removal.leftovers, []);
    for (const d of dirs) assert.equal(existsSync(d), false, `${d} still exists`);
    assertServerUnaffected(SELF_CGROUP);
  });

  it('stops a memory hog at its memory limit; the server survives', { timeout: 60_000 }, async (t) => {
    if (!need('memory')) return t.skip(`no memory controller (${probe.mechanism})`);
    const m = manager({ memoryBytes: 200 * MIB, swapBytes: 0 });
    const res = m.prepare('memhog');
    assert.equal(res.active.limits.memory.enforced, 'yes');
    const script = [
      'chunks = []',
      'try:',
      '    for i in range(40):',
      '        chunks.append(b"\\x01" * (50 << 20))',
      '        print("chunks", len(chunks), flush=True)',
      'except MemoryError:',
      '    print("MemoryError", flush=True)',
    ].join('\n');
    const r = await run(sandboxPlan({ ...res.planPart }), [PY, '-c', script]);
    const usage = res.usage();
    const { removal } = await res.release();
    const counts = [...r.stdout.matchAll(/chunks (\d+)/g)].map((x) => Number(x[1]));
    const last = counts.at(-1) ?? 0;
    t.diagnostic(`exit ${JSON.stringify(r.report.exit)} code ${r.code}; ${last} chunks of 50 MiB; usage ${JSON.stringify(usage)}`);
    assert.ok(last <= 4, `${last} x 50 MiB allocated under a 200 MiB limit`);
    const oomKilled = r.report.exit !== undefined && 'signal' in r.report.exit && r.report.exit.signal === 9;
    assert.ok(oomKilled || /MemoryError/.test(r.stdout), `neither killed nor MemoryError: ${JSON.stringify(r.report.exit)} ${r.stdout}`);
    if (oomKilled && usage.oomKills !== undefined) assert.ok(usage.oomKills >= 1);
    if (usage.memoryPeakBytes !== undefined) assert.ok(usage.memoryPeakBytes <= 200 * MIB + MIB);
    assert.deepEqual(removal.leftovers, []);
    assertServerUnaffected(SELF_CGROUP);
  });

  it('a 50% CPU quota holds a busy loop to about half a CPU', { timeout: 60_000 }, async (t) => {
    if (!need('cpu')) return t.skip(`no cpu controller (${probe.mechanism})`);
    const m = manager({ cpuPercent: 50 });
    const res = m.prepare('busy');
    const script = [
      'import time',
      't0 = time.monotonic(); c0 = time.process_time()',
      'while time.monotonic() - t0 < 1.5: pass',
      'print("ratio %.3f" % ((time.process_time() - c0) / (time.monotonic() - t0)), flush=True)',
    ].join('\n');
    const r = await run(sandboxPlan({ ...res.planPart }), [PY, '-c', script]);
    const usage = res.usage();
    const { removal } = await res.release();
    const ratio = Number(/ratio ([\d.]+)/.exec(r.stdout)?.[1]);
    t.diagnostic(`busy loop used ${ratio} CPU under a 50% quota; usage ${JSON.stringify(usage)}`);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(ratio > 0.05 && ratio < 0.8, `ratio ${ratio}`); // loose: CI may be loaded
    assert.deepEqual(removal.leftovers, []);
  });

  it('kills leftovers (no pid namespace: a daemonized child outlives the command) and removes the cgroup', { timeout: 60_000 }, async (t) => {
    const m = manager({ pidsMax: 50, memoryBytes: 256 * MIB, cpuPercent: 100 });
    if (!m.plan.cgroupControllers.length) return t.skip(`no usable cgroup controller (${probe.mechanism})`);
    const res = m.prepare('leftover');
    const dirs = res.cgroup!.dirs.map((d) => d.path);
    const r = await run({ pdeathsig: false, noNewPrivs: true, ...res.planPart }, ['/bin/bash', '-c', 'sleep 300 </dev/null >/dev/null 2>&1 & echo $!']);
    assert.equal(r.code, 0, r.stderr);
    const pid = Number(r.stdout.trim());
    assert.ok(pid > 1);
    assert.ok(res.cgroup!.pids().includes(pid), 'the daemonized child is in the cgroup');
    assert.ok(!res.cgroup!.pids().includes(process.pid), 'the server is not');
    const { removal } = await res.release();
    assert.ok(removal.killed >= 1);
    assert.deepEqual(removal.leftovers, []);
    const state = (() => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0]; } catch { return 'gone'; } })();
    assert.ok(state === 'gone' || state === 'Z', `leftover ${pid} still running (state ${state})`);
    for (const d of dirs) assert.equal(existsSync(d), false, `${d} still exists`);
    assert.equal((await res.release()).removal.removed, true, 'release is idempotent');
  });

  it('fails closed when a cgroup cannot be joined, and the manager still removes the cgroup', { timeout: 60_000 }, async (t) => {
    const m = manager({ pidsMax: 10, memoryBytes: 256 * MIB, cpuPercent: 100 });
    if (!m.plan.cgroupControllers.length) return t.skip(`no usable cgroup controller (${probe.mechanism})`);
    const bad = await run(sandboxPlan({ cgroups: ['/sys/fs/cgroup/agentsh-no-such-cgroup/cgroup.procs'] }), ['/bin/true']);
    assert.equal(bad.code, 126);
    assert.deepEqual(bad.report.failed, { key: 'cgroup', value: '/sys/fs/cgroup/agentsh-no-such-cgroup/cgroup.procs', errno: 'ENOENT' });
    assert.equal(bad.report.exit, undefined, 'nothing ran');

    let dirs: string[] = [];
    const out = await m.run(async (planPart, res) => {
      dirs = res.cgroup!.dirs.map((d) => d.path);
      for (const d of dirs) assert.ok(existsSync(d));
      // a mandatory mount that can't be done: the launcher fails before the command starts
      return run(sandboxPlan({ ...planPart, mounts: [{ kind: 'bind', path: '/nonexistent-agentsh-res', mode: 'ro' }] }), ['/bin/true']);
    }, 'launcher-fails');
    assert.equal(out.result.code, 126);
    assert.deepEqual(out.removal.leftovers, []);
    for (const d of dirs) assert.equal(existsSync(d), false, `${d} still exists`);
    assert.equal(m.liveCount, 0);
  });

  it('writes disk throttles for the whole disks when the io/blkio controller is usable', async (t) => {
    if (!probe.controllers.io) return t.skip(`no io controller (${probe.mechanism})`);
    const m = manager({ diskReadBps: 52428800, diskWriteBps: 26214400 });
    const res = m.prepare('disk');
    const dir = res.cgroup!.dirs.find((d) => d.controllers.includes('io'))!;
    try {
      const st = res.active.limits;
      t.diagnostic(`diskRead: ${st.diskRead.enforced} ${st.diskRead.via}; diskWrite: ${st.diskWrite.enforced} ${st.diskWrite.via}`);
      if (st.diskRead.enforced === 'no') return; // no block device found: said so
      const read = dir.version === 2 ? readFileSync(join(dir.path, 'io.max'), 'utf8') : readFileSync(join(dir.path, 'blkio.throttle.read_bps_device'), 'utf8');
      assert.match(read, /52428800/);
      if (dir.version === 1) assert.equal(st.diskWrite.enforced, 'partial', 'v1 does not throttle buffered writes');
    } finally {
      assert.deepEqual((await res.release()).removal.leftovers, []);
    }
  });

  it('fallback without cgroups: RLIMIT_AS stops a virtual-memory hog', { timeout: 60_000 }, async () => {
    const m = manager({ memoryBytes: 64 * MIB }, NO_CGROUPS);
    const res = m.prepare();
    assert.equal(res.cgroup, null);
    assert.deepEqual(res.planPart, { rlimits: { AS: 64 * MIB + RLIMIT_AS_MIN_HEADROOM } });
    // Anonymous mappings count against RLIMIT_AS without using memory.
    const script = [
      'import mmap',
      'maps = []',
      'try:',
      '    for i in range(200): maps.append(mmap.mmap(-1, 50 << 20))',
      'except OSError as e: print("refused", e.errno, len(maps), flush=True)',
      'else: print("not refused", flush=True)',
    ].join('\n');
    const r = await run(sandboxPlan({ ...res.planPart }), [PY, '-c', script]);
    await res.release();
    const m2 = /refused 12 (\d+)/.exec(r.stdout); // ENOMEM
    assert.ok(m2, `${r.stdout} ${r.stderr}`);
    assert.ok(Number(m2[1]) * 50 * MIB <= 64 * MIB + RLIMIT_AS_MIN_HEADROOM);
  });
});
