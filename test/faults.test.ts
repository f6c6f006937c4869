// Faults, each with its documented outcome (docs/reliability.md) asserted on a real server with
// the session sandbox on (the seed's policy):
//   1. the server SIGKILLed mid-command: the command dies with it (nothing runs on ungoverned),
//      the log up to the crash verifies, a restart continues the chain;
//   2. the command's supervisor (the launcher's outer process) SIGKILLed: the command dies, the
//      server reports it, keeps serving;
//   3. a full disk under the trash: a soft delete is refused and the file kept; under the audit
//      log: commands are refused with the reason (none runs with its decision unwritten), what
//      was acknowledged before is in the log and verifies, a restart with room recovers;
//   4. a corrupt SQLite index: the server starts, the index is rebuilt from the JSONL;
//   5. a fork bomb: stopped at pids_max, the session and the server keep serving.
// Disks are filled on tmpfs mounted in a mount namespace of the test's own (nothing on the
// host). Root only. Every process is ended by pid; the cgroups a killed server left are removed
// by the restarted server (asserted in 1).
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { probeCgroups } from '../src/sandbox/cgroups.js';
import { cli } from './helpers.js';
import { faultServer, mountNamespace, removeDir, type FaultServer, type MountNamespace } from './fault-server.js';
import { alive, auditVerify, descendants, jsonlEvents, procInfo, until } from './reliability-helpers.js';

const skip = process.getuid?.() === 0 ? false : 'needs root: the session sandbox builds namespaces, the disk tests mount a tmpfs in a namespace';

type ExecBody = { exit_code: number; stdout: string; stderr: string; command_id: string; decision?: { rule: string } };

/** An API session in the server's workspace (its own PROJECT_ROOT) and a `bash -c` runner. */
async function session(srv: FaultServer, workspace = srv.workspace) {
  const r = await srv.api('POST', '/api/v1/sessions', { workspace, project_root: workspace });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const sid = r.body.id as string;
  return Object.assign((script: string) => srv.api('POST', `/api/v1/sessions/${sid}/exec`, { command: 'bash', args: ['-c', script], timeout: '60s' }) as Promise<{ status: number; body: ExecBody }>, { sid });
}

/** The first process below the server whose argv matches, once it exists. */
const waitForProcess = (root: number, match: (argv: string[]) => boolean, what: string) =>
  until(() => descendants(root).find((p) => match(procInfo(p)?.cmdline ?? [])), 10_000, what, 20);

/** What a killed server left, should test 1 fail before its restarted server swept it (the
 * sweep itself is asserted there; it may also race this, hence ENOENT is fine). */
function removeCgroupsOf(serverPid: number): void {
  const rm = (d: string) => {
    try { rmdirSync(d); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
  };
  for (const place of probeCgroups().places) {
    const mid = join(place.parent, 'agentsh', String(serverPid));
    if (!existsSync(mid)) continue;
    for (const leaf of readdirSync(mid, { withFileTypes: true })) if (leaf.isDirectory()) rm(join(mid, leaf.name));
    rm(mid);
  }
}

const sequences = (log: string) => jsonlEvents(log).map((e) => e.integrity?.sequence);

describe('faults: server, supervisor, index, fork bomb', { skip }, () => {
  let srv: FaultServer;
  let sh: Awaited<ReturnType<typeof session>>;
  const killedServers: number[] = [];
  const log = () => join(srv.auditDir, 'events.jsonl');

  before(async () => {
    srv = await faultServer();
    await srv.start();
    sh = await session(srv);
    const warm = await sh('true'); // compiles the session's Landlock plan
    assert.equal(warm.body.exit_code, 0, JSON.stringify(warm.body));
  });
  after(async () => {
    await srv?.stop();
    for (const pid of killedServers) removeCgroupsOf(pid);
    if (srv) removeDir(srv.dir);
  });

  it('5. a fork bomb is stopped at pids_max and ends with its command; the session and others keep serving', { timeout: 60_000 }, async () => {
    const other = await session(srv);
    const py = 'import os, time\nn = 0\ntry:\n    while n < 5000:\n        if os.fork() == 0:\n            time.sleep(20); os._exit(0)\n        n += 1\nexcept OSError as e:\n    print("stopped at", n, e.errno)';
    const t0 = Date.now();
    const bomb = sh(`/usr/bin/python3 - <<'EOF'\n${py}\nEOF`);
    const meanwhile = await other('echo other-session');
    assert.equal(meanwhile.body.stdout, 'other-session\n', 'another session is served during the bomb');
    const r = (await bomb).body;
    const m = /stopped at (\d+) 11/.exec(r.stdout);
    assert.ok(m, JSON.stringify(r));
    assert.ok(Number(m[1]) < 100, `forked ${m[1]} (pids_max 100)`);
    assert.ok(Date.now() - t0 < 15_000, 'the sleeping children did not keep the command alive');
    await until(() => !descendants(srv.proc.pid!).some((p) => /python/.test((procInfo(p)?.cmdline ?? []).join(' '))), 5000, 'the bomb\'s processes to be gone');
    assert.equal((await sh('echo still-serving')).body.stdout, 'still-serving\n');
  });

  it('2. the supervisor SIGKILLed: the command dies with it, never finishes its work; the server says so and keeps serving', { timeout: 60_000 }, async () => {
    const marker = join(srv.workspace, 'after-supervisor-kill');
    const t0 = Date.now();
    const run = sh(`sleep 2; touch ${marker}`);
    const serverPid = srv.proc.pid!;
    await waitForProcess(serverPid, (a) => a[0] === 'sleep', 'the command\'s sleep');
    const tree = descendants(serverPid);
    const launchers = tree.filter((p) => procInfo(p)?.ppid === serverPid && procInfo(p)?.cmdline[0] === 'agentsh-launcher');
    assert.equal(launchers.length, 1, 'one running command, one supervisor');
    process.kill(launchers[0]!, 'SIGKILL');
    const r = (await run).body;
    assert.equal(r.exit_code, 137, JSON.stringify(r));
    assert.match(r.stderr, /sandbox supervisor was killed \(SIGKILL\)/);
    await until(() => tree.every((p) => !alive(p)), 5000, 'every process of the command to be gone');
    await new Promise((res) => setTimeout(res, Math.max(0, 3000 - (Date.now() - t0))));
    assert.equal(existsSync(marker), false, 'the command did not go on after its supervisor died');
    const finished = await until(() => jsonlEvents(log()).find((e) => e.type === 'command_finished' && e.command_id === r.command_id), 5000, 'command_finished');
    assert.equal(finished.fields?.exit_code, 137);
    assert.equal(finished.fields?.supervisor_killed, 'SIGKILL');
    assert.equal((await sh('echo still-serving')).body.stdout, 'still-serving\n');
    // A command the server ends itself (its timeout) is not reported as a killed supervisor.
    const timed = await srv.api('POST', `/api/v1/sessions/${sh.sid}/exec`, { command: 'bash', args: ['-c', 'sleep 20'], timeout: '1s' });
    assert.equal(timed.body.exit_code, 124, JSON.stringify(timed.body));
    assert.doesNotMatch(timed.body.stderr, /supervisor/);
  });

  it('1. the server SIGKILLed mid-command: the command dies with it; the log verifies; a restart continues the chain', { timeout: 90_000 }, async () => {
    const marker = join(srv.workspace, 'after-server-kill');
    const t0 = Date.now();
    const run = sh(`sleep 2; touch ${marker}`).then(
      (r) => r,
      (e: Error) => e,
    );
    const serverPid = srv.proc.pid!;
    await waitForProcess(serverPid, (a) => a[0] === 'sleep', 'the command\'s sleep');
    const tree = descendants(serverPid);
    assert.ok(tree.length >= 3, `launcher, init and command: ${tree}`);
    const started = jsonlEvents(log()).filter((e) => e.type === 'command_started').pop()!;
    killedServers.push(serverPid);
    const cgroupsOf = (pid: number) => probeCgroups().places.map((p) => join(p.parent, 'agentsh', String(pid))).filter((d) => existsSync(d));
    assert.ok(cgroupsOf(serverPid).length > 0, 'the running command has a cgroup (pids_max)');
    await srv.kill('SIGKILL');
    assert.ok(cgroupsOf(serverPid).length > 0, 'a killed server cannot remove its cgroups');
    const outcome = await run;
    assert.ok(outcome instanceof Error, `the client saw the server go: ${JSON.stringify(outcome)}`);
    await until(() => tree.every((p) => !alive(p)), 5000, 'every process of the command to end with the server (pdeathsig)');
    await new Promise((res) => setTimeout(res, Math.max(0, 3000 - (Date.now() - t0))));
    assert.equal(existsSync(marker), false, 'the command did not go on ungoverned');
    // The log up to the crash: whole lines, the chain verifies, the command's start is there
    // and (it never finished) no finish.
    const v = auditVerify(log());
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const crashed = jsonlEvents(log());
    assert.ok(crashed.some((e) => e.command_id === started.command_id && e.type === 'command_policy'));
    assert.equal(crashed.some((e) => e.command_id === started.command_id && e.type === 'command_finished'), false);
    // Restart: the same log, the chain continues from the last line.
    const errAt = srv.stderr().length;
    await srv.start();
    sh = await session(srv);
    assert.equal((await sh('echo back')).body.stdout, 'back\n');
    // Setting up its cgroups, the new server removed the dead one's.
    assert.deepEqual(cgroupsOf(serverPid), [], 'the restarted server swept the killed one\'s cgroups');
    assert.match(srv.stderr().slice(errAt), new RegExp(`removed \\S+/agentsh/${serverPid}: the cgroups of server ${serverPid}, which is gone`));
    const resumed = await until(() => {
      const evs = jsonlEvents(log());
      return evs.some((e) => e.type === 'command_finished' && e.fields?.exit_code === 0 && evs.indexOf(e) > crashed.length) && evs;
    }, 5000, 'the new events');
    const seqs = resumed.map((e) => e.integrity?.sequence);
    assert.deepEqual(seqs, seqs.map((_, i) => i), 'one chain, no gap, no fork');
    assert.equal(resumed[crashed.length]?.type, 'server_start');
    const v2 = auditVerify(log());
    assert.equal(v2.code, 0, v2.stdout + v2.stderr);
    assert.equal(existsSync(marker), false);
  });

  it('4. a corrupt SQLite index: the server starts, the index is rebuilt from the JSONL (the record), queries agree with it', { timeout: 90_000 }, async () => {
    const db = join(srv.auditDir, 'events.db');
    // Some volume, so that damage in the middle of the file lands in the table's pages.
    for (let i = 0; i < 20; i++) await sh(`echo ${'x'.repeat(1500)}`);
    const queriedAll = async () => (await srv.api('GET', '/api/v1/events')).body as Array<{ integrity: { sequence: number } }>;
    const agrees = async () => {
      const evs = jsonlEvents(log());
      const q = await queriedAll();
      assert.ok(Array.isArray(q), JSON.stringify(q).slice(0, 300));
      assert.deepEqual(q.map((e) => e.integrity.sequence), sequences(log()).slice(0, q.length));
      assert.ok(q.length >= evs.length - 2, `index ${q.length} vs log ${evs.length}`);
    };
    // (a) the header overwritten: "file is not a database" at open.
    await srv.stop();
    const fd = openSync(db, 'r+');
    writeSync(fd, Buffer.alloc(100, 0x41), 0, 100, 0);
    closeSync(fd);
    const errAt = srv.stderr().length;
    await srv.start();
    assert.match(srv.stderr().slice(errAt), /audit index .*events\.db is corrupt \(file is not a database\): moved aside to .*events\.db\.corrupt-\d+T\d+Z; rebuilding it/);
    assert.ok(readdirSync(srv.auditDir).some((f) => /^events\.db\.corrupt-\d+T\d+Z$/.test(f)), 'the damaged index is kept for investigation');
    await until(async () => (await queriedAll()).length >= jsonlEvents(log()).length, 5000, 'the index to hold the log');
    await agrees();
    sh = await session(srv);
    assert.equal((await sh('echo after-rebuild')).body.stdout, 'after-rebuild\n');

    // (b) the middle of the file overwritten: found at open (rebuilt at once) or by the first
    // query (which says so and marks the index: rebuilt at the next start).
    await srv.stop();
    const size = statSync(db).size;
    const page = 4096;
    const from = Math.floor(size / 4 / page) * page;
    const fd2 = openSync(db, 'r+');
    writeSync(fd2, Buffer.alloc(Math.max(page, Math.floor(size / 2 / page) * page), 0x41), 0, undefined, Math.max(page, from));
    closeSync(fd2);
    const before2 = srv.stderr().length;
    await srv.start();
    const rebuiltAtOpen = /is corrupt .*moved aside/.test(srv.stderr().slice(before2));
    if (!rebuiltAtOpen) {
      const q = await srv.api('GET', '/api/v1/events');
      if (q.status !== 200) {
        assert.match(JSON.stringify(q.body), /is corrupt .*rebuilt from it when the log is next opened \(restart the server\)/);
        assert.ok(existsSync(`${db}.rebuild`), 'marked for rebuilding');
        const before3 = srv.stderr().length;
        await srv.stop();
        await srv.start();
        assert.match(srv.stderr().slice(before3), /is corrupt .*moved aside .*rebuilding it/);
        assert.equal(existsSync(`${db}.rebuild`), false);
      }
    }
    await until(async () => (await queriedAll()).length >= jsonlEvents(log()).length, 5000, 'the index to hold the log');
    await agrees();
    const v = auditVerify(log());
    assert.equal(v.code, 0, v.stdout + v.stderr);
    sh = await session(srv);
    assert.equal((await sh('echo still-serving')).body.stdout, 'still-serving\n');
  });
});

describe('faults: a full disk under the trash and under the audit log', { skip }, () => {
  let srv: FaultServer;
  let ns: MountNamespace;
  let dir = '';
  let ws = '';
  let auditDir = '';
  const page = 4096;
  /** Fills the tmpfs that holds `p` (seen through the namespace) until ENOSPC. */
  const fill = (p: string) => {
    const fd = openSync(ns.view(p), 'a');
    const b = Buffer.alloc(page, 0x78);
    try {
      for (;;) writeSync(fd, b);
    } catch (e) {
      assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
    } finally {
      closeSync(fd);
    }
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agentsh-fault-disk_'));
    ws = join(dir, 'ws');
    auditDir = join(dir, 'audit');
    mkdirSync(ws);
    mkdirSync(auditDir);
    ns = await mountNamespace([ws, auditDir], '4m');
    // The index beside, on the host's disk: the JSONL is the record whose loss matters.
    srv = await faultServer({ dir, workspace: ws, auditDir, indexDir: dir, ns });
    await srv.start();
  });
  after(async () => {
    await srv?.stop();
    await ns?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('3a. a soft delete the trash cannot record is refused and the file kept; with room again it goes to the trash', { timeout: 60_000 }, async () => {
    const sh = await session(srv, ws);
    writeFileSync(ns.view(join(ws, 'a.txt')), 'precious-a');
    writeFileSync(ns.view(join(ws, 'b.txt')), 'precious-b');
    const a = (await sh(`cd ${ws} && rm a.txt; echo rc=$?`)).body;
    assert.equal(a.stdout, 'rc=0\n', JSON.stringify(a));
    assert.equal(existsSync(ns.view(join(ws, 'a.txt'))), false);
    fill(join(ws, 'filler'));
    const b = (await sh(`cd ${ws} && rm b.txt; echo rc=$?`)).body;
    assert.equal(b.stdout, 'rc=1\n', JSON.stringify(b));
    assert.match(b.stderr, /cannot remove 'b\.txt': No space left on device/);
    assert.equal(readFileSync(ns.view(join(ws, 'b.txt')), 'utf8'), 'precious-b', 'the file was kept');
    const refused = await until(() => jsonlEvents(ns.view(join(auditDir, 'events.jsonl'))).find((e) => e.type === 'file_delete_refused' && e.fields?.path === join(ws, 'b.txt')), 5000, 'file_delete_refused');
    assert.equal(refused.rule, 'soft-delete-workspace');
    assert.match(refused.message ?? '', /no room|bytes free/);
    const list = cli(['trash', 'list', '--dir', ns.view(join(ws, '.agentsh_trash'))]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /\ta\.txt|\/a\.txt\t/);
    assert.doesNotMatch(list.stdout, /b\.txt|unknown/, 'no orphan, no entry for the kept file');
    unlinkSync(ns.view(join(ws, 'filler')));
    const again = (await sh(`cd ${ws} && rm b.txt; echo rc=$?`)).body;
    assert.equal(again.stdout, 'rc=0\n', JSON.stringify(again));
    assert.equal(existsSync(ns.view(join(ws, 'b.txt'))), false);
  });

  it('3b. the audit log\'s disk full: a command whose decision cannot be written never runs, all later ones are refused; what was acknowledged is in the log and verifies; a restart with room recovers', { timeout: 90_000 }, async () => {
    const sh = await session(srv, ws);
    const jsonl = ns.view(join(auditDir, 'events.jsonl'));
    assert.equal((await sh('echo before')).body.stdout, 'before\n');
    // Acknowledged: what the index (written only after the JSONL is on disk) returns.
    const acked = await until(async () => {
      const q = (await srv.api('GET', '/api/v1/events')).body as Array<{ id: string; type: string }>;
      return q.some((e) => e.type === 'command_finished') && q.length === jsonlEvents(jsonl).length && q;
    }, 5000, 'the index to catch up');
    fill(join(auditDir, 'filler'));
    // The JSONL can still grow into its last page: use it up with small events (a session each)
    // until the next command's decision cannot fit.
    const lineLen = (type: string) => {
      const lines = readFileSync(jsonl, 'utf8').split('\n').filter(Boolean);
      return Buffer.byteLength(lines.filter((l) => l.includes(`"type":"${type}"`)).pop()!) + 1;
    };
    for (let i = 0; i < 40; i++) {
      const size = statSync(jsonl).size;
      const room = (page - (size % page)) % page;
      if (room < lineLen('session_created') + 32) break;
      await srv.api('POST', '/api/v1/sessions', { workspace: ws, project_root: ws });
      await until(() => statSync(jsonl).size > size, 5000, 'the session event');
    }
    const room = (page - (statSync(jsonl).size % page)) % page;
    assert.ok(room < lineLen('command_policy') - 64, `room left in the last page (${room}) is less than a command's decision`);
    const marker = join(ws, 'ran-unaudited');
    const first = await sh(`touch ${marker}`);
    assert.equal(first.body.exit_code, 126, JSON.stringify(first.body));
    assert.match(first.body.stderr, /command refused: its decision cannot be recorded in the audit log .*ENOSPC/);
    assert.equal(existsSync(ns.view(marker)), false, 'the command whose decision was not written did not run');
    const second = await sh(`touch ${marker}`);
    assert.equal(second.status, 403);
    assert.equal(second.body.decision?.rule, 'audit-unavailable');
    assert.match(second.body.stderr, /cannot be recorded in the audit log/);
    assert.equal(existsSync(ns.view(marker)), false);
    assert.equal((await srv.api('GET', '/api/v1/sessions')).status, 200, 'the server keeps serving');
    // Nothing acknowledged is lost: every event the index returned is in the JSONL, which ends
    // with whole lines and verifies.
    const inLog = new Set(jsonlEvents(jsonl).map((e) => (e as { id?: string }).id));
    for (const e of acked) assert.ok(inLog.has(e.id), `acknowledged ${e.type} ${e.id} lost`);
    assert.equal(readFileSync(jsonl, 'utf8').endsWith('\n'), true, 'no partial line');
    const v = auditVerify(jsonl);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const lastSeq = jsonlEvents(jsonl).pop()!.integrity!.sequence;
    // A restart while the disk is still full (the index has room): it starts and refuses.
    await srv.stop();
    await srv.start();
    const created = await srv.api('POST', '/api/v1/sessions', { workspace: ws, project_root: ws });
    if (created.status === 201) {
      // (its event fitted in the last page; the command's decision does not)
      const stillFull = await srv.api('POST', `/api/v1/sessions/${created.body.id}/exec`, { command: 'bash', args: ['-c', `touch ${marker}`] });
      assert.equal(stillFull.body.exit_code, 126, JSON.stringify(stillFull.body));
      assert.match(stillFull.body.stderr, /cannot be recorded in the audit log .*ENOSPC/);
    } else {
      assert.equal(created.status, 503, JSON.stringify(created.body));
      assert.match(created.body.error.message, /session refused: it cannot be recorded in the audit log .*ENOSPC/);
      assert.equal((await srv.api('GET', '/api/v1/sessions')).body.length, 0, 'the refused session does not exist');
    }
    assert.equal(existsSync(ns.view(marker)), false);
    // Room again, and a restart: the chain continues after the last written line.
    await srv.stop();
    unlinkSync(ns.view(join(auditDir, 'filler')));
    await srv.start();
    const sh2 = await session(srv, ws);
    assert.equal((await sh2('echo recovered')).body.stdout, 'recovered\n');
    await until(() => jsonlEvents(jsonl).some((e) => e.type === 'command_finished' && e.integrity!.sequence > lastSeq), 5000, 'the new events');
    const seqs = sequences(jsonl);
    assert.deepEqual(seqs, seqs.map((_, i) => i));
    const v2 = auditVerify(jsonl);
    assert.equal(v2.code, 0, v2.stdout + v2.stderr);
    assert.equal(existsSync(ns.view(marker)), false);
  });

  it('3c. the audit log fails while a command runs: the command is ended (its later execs, connections and files would go unrecorded), and says why', { timeout: 90_000 }, async () => {
    const sh = await session(srv, ws);
    const marker = join(ws, 'after-the-failure');
    const t0 = Date.now();
    const running = sh(`echo started; sleep 4; touch ${marker}; echo finished`);
    await until(async () => ((await srv.api('GET', `/api/v1/sessions/${sh.sid}`)).body.running === 1) || null, 5000, 'the command to start');
    fill(join(auditDir, 'filler-3c'));
    // Any event that no longer fits latches the log failed: here, new sessions' events.
    await until(async () => (await srv.api('POST', '/api/v1/sessions', { workspace: ws, project_root: ws })).status === 503 || null, 10_000, 'the log to fail');
    const r = (await running).body;
    assert.ok(Date.now() - t0 < 4000, 'the command was ended, not left to finish');
    assert.equal(r.exit_code, 137, JSON.stringify(r));
    assert.match(r.stderr, /the command was ended: the audit log failed \(.*ENOSPC/);
    assert.doesNotMatch(r.stdout, /finished/);
    await new Promise((res) => setTimeout(res, 4500 - (Date.now() - t0)));
    assert.equal(existsSync(ns.view(marker)), false, 'nothing it would have done after the failure happened');
    assert.match(srv.stderr(), /every command is refused from now on and the 1 running were ended/);
    await srv.stop();
    unlinkSync(ns.view(join(auditDir, 'filler-3c')));
  });
});
