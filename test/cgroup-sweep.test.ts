// The start-up sweep of cgroups left by killed servers (sweepStaleCgroups in
// src/sandbox/cgroups.ts): `<parent>/<base>/<pid>` trees whose pid names no process go, children
// first; a live pid's tree, our own, and a cgroup that still holds a process stay. On plain
// directories (anyone) and on the real cgroup hierarchies (root), under a base of the test's own
// so that no server's `agentsh/` tree is touched. Processes are ended by pid.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { after, describe, it } from 'node:test';
import { createCommandCgroup, probeCgroups, sweepStaleCgroups, writeCgroupFile, type CgroupHandle, type CgroupProbe } from '../src/sandbox/cgroups.js';

/** A pid that named a process a moment ago and names none now (reaped). */
function deadPid(): number {
  const pid = spawnSync('/bin/true').pid!;
  assert.throws(() => process.kill(pid, 0), /ESRCH/);
  return pid;
}

describe('cgroup sweep on plain directories', () => {
  const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-sweep-')));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('removes the trees of dead pids, keeps live ones, our own, non-empty ones and anything not named like a pid', () => {
    const probe: CgroupProbe = { mechanism: 'none', controllers: {}, places: [{ version: 2, mountPoint: tmp, parent: tmp, controllers: [], files: [] }], swapAccounting: false, atomicKill: false, notes: [] };
    const top = join(tmp, 'agentsh');
    for (const d of ['100/c1', '100/c2/sub', '200/c3', '300/c4', '400/busy', 'notapid/c5', 'outside']) mkdirSync(join(top, d), { recursive: true });
    writeFileSync(join(top, '400/busy/file'), 'x'); // stands for a cgroup with a process: rmdir refuses
    symlinkSync(join(top, 'outside'), join(top, '500')); // never followed
    const live = new Set([200]);
    const logs: string[] = [];
    const r = sweepStaleCgroups(probe, { serverPid: 300, pidExists: (p) => live.has(p), log: (l) => logs.push(l) });
    assert.deepEqual(r.removed, [join(top, '100')]);
    assert.equal(existsSync(join(top, '100')), false);
    for (const kept of ['200/c3', '300/c4', '400/busy/file', 'notapid/c5', 'outside', '500']) assert.ok(existsSync(join(top, kept)), kept);
    assert.equal(r.left.length, 2, r.left.join('; ')); // 400/busy and 400
    assert.match(r.left[0]!, /400\/busy: ENOTEMPTY/);
    assert.match(logs.join('\n'), /removed .*\/agentsh\/100: the cgroups of server 100, which is gone/);
    assert.match(logs.join('\n'), /server 400, which is gone, could not all be removed/);
    // Nothing to sweep where agentsh never made a tree.
    assert.deepEqual(sweepStaleCgroups(probe, { base: 'never-made' }), { removed: [], left: [] });
  });
});

const probe = process.getuid?.() === 0 ? probeCgroups() : null;
const skip = !probe ? 'needs root: real cgroups' : probe.places.length === 0 ? 'no writable cgroup hierarchy' : false;

describe('cgroup sweep on the real hierarchies', { skip }, () => {
  const base = `agentsh-sweeptest-${process.pid}`;
  const handles: CgroupHandle[] = [];
  const sleepers: number[] = [];
  const make = (serverPid: number, commandId: string) => {
    const h = createCommandCgroup(probe!, { pidsMax: 50, memoryBytes: 64 << 20 }, { serverPid, commandId, base });
    handles.push(h);
    return h;
  };
  const sleeper = () => {
    const p = spawn('/bin/sleep', ['60'], { stdio: 'ignore' });
    sleepers.push(p.pid!);
    return p.pid!;
  };
  after(async () => {
    for (const pid of sleepers) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    for (const h of handles) await h.remove();
    for (const p of probe!.places) try { rmdirSync(posix.join(p.parent, base)); } catch { /* gone or in use */ }
  });

  it('a dead server\'s command cgroups go; a live process\'s, ours and one still holding a process stay (nothing is killed)', () => {
    const dead = deadPid();
    const deadBusy = deadPid();
    const live = sleeper();
    const inside = sleeper();
    make(dead, 'c1');
    make(dead, 'c2');
    make(live, 'c3');
    make(process.pid, 'c4');
    const busy = make(deadBusy, 'busy');
    for (const f of busy.procsFiles) writeCgroupFile(f, String(inside));
    const logs: string[] = [];
    const r = sweepStaleCgroups(probe!, { base, log: (l) => logs.push(l) });
    const dirOf = (pid: number) => probe!.places.map((p) => posix.join(p.parent, base, String(pid))).filter((d) => existsSync(d));
    assert.deepEqual(dirOf(dead), [], 'the dead server\'s trees are gone');
    assert.deepEqual(r.removed.sort(), handles[0]!.dirs.map((d) => posix.dirname(d.path)).sort());
    assert.ok(dirOf(live).length > 0 && handles[2]!.dirs.every((d) => existsSync(d.path)), 'a live pid keeps its tree');
    assert.ok(handles[3]!.dirs.every((d) => existsSync(d.path)), 'our own tree is kept');
    assert.ok(busy.dirs.every((d) => existsSync(d.path)), 'a cgroup holding a process is not removed');
    assert.doesNotThrow(() => process.kill(inside, 0), 'and its process is not killed');
    assert.ok(readFileSync(busy.procsFiles[0]!, 'utf8').includes(String(inside)));
    assert.ok(r.left.some((l) => l.includes(`/${deadBusy}/busy: EBUSY (pids ${inside})`)), r.left.join('; '));
    assert.match(logs.join('\n'), new RegExp(`the cgroups of server ${dead}, which is gone`));
  });
});
