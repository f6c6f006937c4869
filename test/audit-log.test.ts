// The audit log: JSONL + SQLite, restart, crash recovery, refusal on corruption, streaming.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { verifyFile, HmacChain } from '../src/audit/chain.js';
import type { AuditEvent } from '../src/audit/event.js';
import { AuditIndexReader, AuditLog, AuditLogCorruptError, AuditLogError, AuditLogLockedError, type AuditLogOptions } from '../src/audit/log.js';
import { sessionReport } from '../src/audit/report.js';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef-audit-test');
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'agentsh-audit-log-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function opts(dir: string, extra: Partial<AuditLogOptions> = {}): AuditLogOptions & { warnings: string[] } {
  const warnings: string[] = [];
  return { path: join(dir, 'audit.jsonl'), key: KEY, onWarning: (m) => warnings.push(m), warnings, ...extra };
}

function fileLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
}

async function writeN(log: AuditLog, n: number, session = 's1', start = 0): Promise<void> {
  for (let i = 0; i < n; i++) {
    log.enqueue({ type: 'command_policy', session_id: session, command_id: `c${start + i}`, decision: 'allow', rule: 'allow-all', fields: { command: `echo ${start + i}` } });
  }
  await log.flush();
}

describe('AuditLog', () => {
  for (const indexInWorker of [true, false])
  test(`writes every event to JSONL and SQLite (index ${indexInWorker ? 'in a worker' : 'inline'}), the same events, and the chain verifies`, async () => {
    const d = tmp();
    const o = opts(d, { indexInWorker });
    const log = await AuditLog.open(o);
    const ev = await log.append({ type: 'session_created', session_id: 's1', fields: { workspace: '/w' } });
    assert.equal(ev.integrity?.sequence, 0);
    assert.match(ev.id, /^[0-9a-f-]{36}$/);
    assert.match(ev.ts, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    await writeN(log, 25);
    assert.equal(log.count(), 26);
    const lines = fileLines(o.path);
    assert.equal(lines.length, 26);
    const db = new Database(`${o.path}.db`, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    const rows = db.prepare('SELECT seq, json, session_id, type, decision, rule FROM events ORDER BY seq').all() as { seq: number; json: string; session_id: string; type: string; decision: string | null; rule: string | null }[];
    db.close();
    assert.deepEqual(
      rows.map((r) => r.json),
      lines,
      'SQLite json column = JSONL lines, in order',
    );
    assert.deepEqual(
      rows.map((r) => r.seq),
      lines.map((_, i) => i),
    );
    assert.equal(rows[1]!.rule, 'allow-all');
    assert.equal(statSync(o.path).mode & 0o777, 0o600);
    await log.close();
    assert.ok(!existsSync(`${o.path}.lock`));
    const r = await verifyFile(o.path, KEY);
    assert.ok(r.ok && r.count === 26, JSON.stringify(r));
    assert.deepEqual(o.warnings, []);
  });

  test('restart resumes the chain: sequence continues, verify passes across restarts', async () => {
    const d = tmp();
    const o = opts(d);
    for (let round = 0; round < 3; round++) {
      const log = await AuditLog.open(o);
      assert.equal(log.head().sequence, round * 10 - 1);
      await writeN(log, 10, 's1', round * 10);
      await log.close();
    }
    const lines = fileLines(o.path);
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as AuditEvent).integrity!.sequence),
      Array.from({ length: 30 }, (_, i) => i),
    );
    const r = await verifyFile(o.path, KEY);
    assert.ok(r.ok && r.count === 30);
    const idx = new AuditIndexReader(`${o.path}.db`);
    assert.equal(idx.count(), 30);
    idx.close();
  });

  test('a partial last line left by a crash is removed with a warning, then the chain continues', async () => {
    const d = tmp();
    const o = opts(d);
    let log = await AuditLog.open(o);
    await writeN(log, 5);
    await log.close();
    const full = fileLines(o.path)[0]!;
    appendFileSync(o.path, full.slice(0, 57)); // a torn write: no newline
    log = await AuditLog.open(o);
    assert.equal(o.warnings.length, 1);
    assert.match(o.warnings[0]!, /removed an incomplete final line 6 \(57 bytes, no newline\)/);
    assert.equal(log.head().sequence, 4);
    await writeN(log, 3, 's1', 5);
    await log.close();
    assert.equal(fileLines(o.path).length, 8);
    assert.ok((await verifyFile(o.path, KEY)).ok);
  });

  test('a NUL-filled tail (crash before data reached the disk) is treated as a partial line', async () => {
    const d = tmp();
    const o = opts(d);
    let log = await AuditLog.open(o);
    await writeN(log, 3);
    await log.close();
    appendFileSync(o.path, Buffer.alloc(4096));
    log = await AuditLog.open(o);
    assert.equal(o.warnings.length, 1);
    await writeN(log, 1);
    await log.close();
    assert.ok((await verifyFile(o.path, KEY)).ok);
  });

  test('anything else is corruption: open refuses and never starts a new chain in the file', async () => {
    const cases: [string, (path: string) => void, RegExp][] = [
      ['garbage without newline', (p) => appendFileSync(p, 'garbage'), /does not look like a partially written event/],
      ['modified last line', (p) => writeFileSync(p, readFileSync(p, 'utf8').replace(/echo 3"/, 'echo 9"')), /last line \(4\) fails its HMAC/],
      ['invalid JSON last line with newline', (p) => appendFileSync(p, '{"type":"x",\n'), /last line \(5\) is not a valid JSON event/],
      ['unsigned last line', (p) => appendFileSync(p, '{"type":"x"}\n'), /line 5 has no integrity field/],
    ];
    for (const [name, damage, re] of cases) {
      const d = tmp();
      const o = opts(d);
      const log = await AuditLog.open(o);
      await writeN(log, 4);
      await log.close();
      damage(o.path);
      const before = readFileSync(o.path);
      await assert.rejects(AuditLog.open(o), (e: unknown) => e instanceof AuditLogCorruptError && re.test(e.message), name);
      assert.deepEqual(readFileSync(o.path), before, `${name}: the file is left untouched`);
      assert.ok(!existsSync(`${o.path}.lock`), `${name}: lock released`);
    }
  });

  test('a different key is refused on open (it cannot continue the chain)', async () => {
    const d = tmp();
    const o = opts(d);
    const log = await AuditLog.open(o);
    await writeN(log, 2);
    await log.close();
    await assert.rejects(AuditLog.open({ ...o, key: Buffer.alloc(32, 1) }), /fails its HMAC.*this key \(sha256:/);
    await assert.rejects(AuditLog.open({ ...o, key: null }), /HMAC-chained but no key is configured/);
  });

  test("verifyOnOpen 'full' refuses a log with damage in the middle", async () => {
    const d = tmp();
    const o = opts(d);
    const log = await AuditLog.open(o);
    await writeN(log, 6);
    await log.close();
    writeFileSync(o.path, readFileSync(o.path, 'utf8').replace('echo 2"', 'echo 7"'));
    const tail = await AuditLog.open(o); // tail-only check passes: the last line is intact
    await tail.close();
    await assert.rejects(AuditLog.open({ ...o, verifyOnOpen: 'full' }), (e: unknown) => e instanceof AuditLogCorruptError && e.line === 3);
  });

  test('SQLite behind the JSONL (crash between the two) is backfilled on open', async () => {
    const d = tmp();
    const o = opts(d);
    let log = await AuditLog.open(o);
    await writeN(log, 20);
    await log.close();
    const db = new Database(`${o.path}.db`);
    db.prepare('DELETE FROM events WHERE seq >= 12').run();
    db.close();
    log = await AuditLog.open(o);
    assert.equal(log.count(), 20);
    assert.match(o.warnings.join('\n'), /backfilled 8 events/);
    await writeN(log, 1);
    assert.equal(log.count(), 21);
    await log.close();
  });

  test('SQLite ahead of the JSONL means the JSONL lost its tail: refused', async () => {
    const d = tmp();
    const o = opts(d);
    const log = await AuditLog.open(o);
    await writeN(log, 10);
    await log.close();
    const lines = fileLines(o.path);
    writeFileSync(o.path, lines.slice(0, 7).join('\n') + '\n'); // whole lines removed: the chain alone cannot tell
    assert.ok((await verifyFile(o.path, KEY)).ok);
    await assert.rejects(AuditLog.open(o), /ends at seq 6 but its index .* holds events up to seq 9/);
  });

  test('subscribers get events live, filtered, in order; unsubscribe stops them', async () => {
    const d = tmp();
    const log = await AuditLog.open(opts(d));
    const all: number[] = [];
    const s2: string[] = [];
    const unsubAll = log.subscribe(undefined, (_ev, seq) => all.push(seq));
    const unsub2 = log.subscribe({ session_id: 's2', types: ['command_finished'] }, (ev) => s2.push(ev.command_id!));
    log.subscribe(undefined, () => {
      throw new Error('bad subscriber');
    });
    log.enqueue({ type: 'command_policy', session_id: 's2', command_id: 'a' });
    log.enqueue({ type: 'command_finished', session_id: 's2', command_id: 'a' });
    log.enqueue({ type: 'command_finished', session_id: 's1', command_id: 'b' });
    assert.deepEqual(all, [], 'delivered only once durable');
    await log.flush();
    assert.deepEqual(all, [0, 1, 2]);
    assert.deepEqual(s2, ['a']);
    unsubAll();
    unsub2();
    await log.append({ type: 'command_finished', session_id: 's2', command_id: 'c' });
    assert.deepEqual(all, [0, 1, 2]);
    assert.deepEqual(s2, ['a']);
    await log.close();
  });

  test('queries: session, types, since/until, after_seq, limit, order', async () => {
    const d = tmp();
    const log = await AuditLog.open(opts(d));
    log.enqueue({ type: 'session_created', session_id: 'a', ts: '2026-01-01T00:00:00.000Z' });
    log.enqueue({ type: 'command_policy', session_id: 'a', decision: 'deny', ts: '2026-01-01T00:00:01.000Z' });
    log.enqueue({ type: 'command_policy', session_id: 'b', decision: 'allow', ts: '2026-01-01T00:00:02.000+00:00' });
    log.enqueue({ type: 'file_policy', session_id: 'a', ts: new Date('2026-01-01T00:00:03Z') });
    await log.flush();
    assert.equal(log.query({ session_id: 'a' }).length, 3);
    assert.deepEqual(
      log.query({ types: ['command_policy'] }).map((e) => e.session_id),
      ['a', 'b'],
    );
    assert.equal(log.query({ since: '2026-01-01T00:00:02Z' }).length, 2);
    assert.equal(log.query({ until: new Date('2026-01-01T00:00:01Z') }).length, 2);
    assert.equal(log.query({ after_seq: 2 }).length, 1);
    assert.equal(log.query({ decision: 'deny' }).length, 1);
    assert.deepEqual(
      log.query({ order: 'desc', limit: 2 }).map((e) => e.type),
      ['file_policy', 'command_policy'],
    );
    assert.equal(log.query({ session_id: 'b' })[0]!.ts, '2026-01-01T00:00:02.000Z', 'timestamps normalised to UTC ms');
    assert.deepEqual(
      log.sessions().map((s) => [s.session_id, s.events]),
      [
        ['a', 3],
        ['b', 1],
      ],
    );
    assert.throws(() => log.enqueue({ type: 'x', ts: 'yesterday' }), /not RFC 3339/);
    assert.throws(() => log.enqueue({ type: '' }), /non-empty string type/);
    await log.close();
  });

  test('one writer per file: a second open is refused; a stale lock is taken over', async () => {
    const d = tmp();
    const o = opts(d);
    const log = await AuditLog.open(o);
    await assert.rejects(AuditLog.open(o), AuditLogLockedError);
    await log.close();
    writeFileSync(`${o.path}.lock`, '999999999\n'); // no such process
    const again = await AuditLog.open(o);
    await again.close();
    writeFileSync(`${o.path}.lock`, `${process.pid} 1\n`); // our pid, but another incarnation (start time differs)
    const third = await AuditLog.open(o);
    await third.close();
    writeFileSync(`${o.path}.lock`, '1 424242424242\n'); // pid 1 is alive, but it started at another time than recorded
    const fourth = await AuditLog.open(o);
    await fourth.close();
    const other = spawn('sleep', ['30'], { stdio: 'ignore' }); // a live process that holds the lock
    try {
      const stat = readFileSync(`/proc/${other.pid}/stat`, 'utf8');
      const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      writeFileSync(`${o.path}.lock`, `${other.pid} ${start}\n`);
      await assert.rejects(AuditLog.open(o), (e: unknown) => e instanceof AuditLogLockedError && e.pid === other.pid);
    } finally {
      other.kill('SIGKILL');
    }
  });

  test('a write failure latches the log: pending and later appends reject, nothing is acknowledged falsely', async () => {
    const d = tmp();
    const log = await AuditLog.open(opts(d));
    await writeN(log, 2);
    const inner = log as unknown as { fd: number };
    const realFd = inner.fd;
    inner.fd = 1 << 30; // every write now fails (EBADF), as on a disk that went away
    const p = log.append({ type: 'command_policy' });
    await assert.rejects(p, AuditLogError);
    assert.throws(() => log.enqueue({ type: 'x' }), /write failed/);
    assert.ok(log.stats().failed);
    assert.equal(log.count(), 2, 'the two acknowledged events are still there');
    await assert.rejects(log.close());
    closeSync(realFd);
    assert.equal(fileLines(join(d, 'audit.jsonl')).length, 2);
  });

  test('without a key: no integrity, still JSONL + SQLite, resumes counting', async () => {
    const d = tmp();
    const o = opts(d, { key: null });
    let log = await AuditLog.open(o);
    await writeN(log, 3);
    await log.close();
    log = await AuditLog.open(o);
    await writeN(log, 2);
    assert.equal(log.count(), 5);
    assert.deepEqual(
      log.query().map((e) => e.integrity),
      [undefined, undefined, undefined, undefined, undefined],
    );
    await log.close();
    await assert.rejects(AuditLog.open({ ...o, key: KEY }), /no integrity field/);
  });

  test('without SQLite (sqlitePath: null) the JSONL still works; query explains', async () => {
    const d = tmp();
    const log = await AuditLog.open(opts(d, { sqlitePath: null }));
    await writeN(log, 3);
    assert.throws(() => log.query(), /no SQLite index/);
    await log.close();
    assert.ok(!existsSync(join(d, 'audit.jsonl.db')));
  });

  test('50k events: all present in both stores and the chain verifies', async () => {
    const d = tmp();
    const o = opts(d);
    const log = await AuditLog.open(o);
    const N = 50_000;
    const acks: Promise<AuditEvent>[] = [];
    for (let i = 0; i < N; i++) {
      const input = { type: i % 2 ? 'command_finished' : 'command_policy', session_id: `s${i % 7}`, command_id: `c${i}`, decision: 'allow', fields: { command: `echo ${i}`, exit_code: 0, duration_ms: i % 100 } };
      if (i % 1000 === 0) acks.push(log.append(input));
      else log.enqueue(input);
    }
    await Promise.all(acks);
    await log.flush();
    assert.equal(log.count(), N);
    assert.equal(log.count({ session_id: 's3' }), Math.floor((N - 1 - 3) / 7) + 1);
    assert.ok(log.stats().batches < N / 10, `batched (${log.stats().batches} batches)`);
    await log.close();
    assert.equal(fileLines(o.path).length, N);
    const r = await verifyFile(o.path, KEY);
    assert.ok(r.ok && r.count === N && r.last?.sequence === N - 1);
  });

  test('lines written by the log carry exactly what HmacChain would produce from the same events', async () => {
    const d = tmp();
    const o = opts(d);
    const log = await AuditLog.open(o);
    const e1 = await log.append({ type: 'a', fields: { x: '<tag> & "quote"', n: 1.5 } });
    await log.close();
    const chain = new HmacChain(KEY);
    const { integrity: _i, ...plain } = e1;
    assert.equal(chain.sealLine(plain).line, fileLines(o.path)[0]);
  });

  test('a writer killed mid-stream (SIGKILL) loses nothing it acknowledged; the log reopens and verifies', async () => {
    const d = tmp();
    const path = join(d, 'audit.jsonl');
    const child = join(d, 'writer.mjs');
    writeFileSync(
      child,
      `const { AuditLog } = await import(process.argv[2]);
const log = await AuditLog.open({ path: process.argv[3], key: Buffer.from(process.argv[4]), onWarning: () => {} });
for (let i = 0; ; ) {
  const acks = [];
  for (let j = 0; j < 50; j++, i++) acks.push(log.append({ type: 'command_policy', command_id: 'c' + i, fields: { i, pad: 'x'.repeat(i % 300) } }));
  const evs = await Promise.all(acks);
  process.stdout.write(evs[evs.length - 1].integrity.sequence + '\\n');
}
`,
    );
    const modulePath = new URL('../src/audit/log.js', import.meta.url).pathname;
    const proc = spawn(process.execPath, [child, modulePath, path, KEY.toString()], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lastAcked = -1;
    let buf = '';
    const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
    await new Promise<void>((resolve) => {
      proc.stdout.on('data', (c: Buffer) => {
        buf += c.toString();
        const parts = buf.split('\n');
        buf = parts.pop()!;
        for (const p of parts) lastAcked = Math.max(lastAcked, Number(p));
        if (lastAcked >= 3000) {
          proc.kill('SIGKILL');
          resolve();
        }
      });
    });
    await exited;
    const o = opts(d);
    const log = await AuditLog.open(o); // the dead writer's lock is stale; a torn last line, if any, is trimmed
    assert.ok(log.head().sequence >= lastAcked, `acknowledged up to ${lastAcked}, log has ${log.head().sequence}`);
    assert.equal(log.count(), log.head().sequence + 1, 'the index is complete (backfilled if it was behind)');
    await writeN(log, 5);
    const head = log.head().sequence;
    await log.close();
    const r = await verifyFile(path, KEY);
    assert.ok(r.ok && r.last?.sequence === head, JSON.stringify(r));
  });

  test('truncating the file to nothing while the index remembers events is refused', async () => {
    const d = tmp();
    const o = opts(d);
    const log = await AuditLog.open(o);
    await writeN(log, 3);
    await log.close();
    truncateSync(o.path, 0);
    await assert.rejects(AuditLog.open(o), /JSONL lost its tail/);
  });
});

describe('sessionReport', () => {
  test('summarises commands, exit codes, durations, denials with rules, files, network, counts', async () => {
    const d = tmp();
    const log = await AuditLog.open(opts(d));
    const s = 'sess-1';
    log.enqueue({ type: 'session_created', session_id: s, fields: { workspace: '/home/u/proj', policy: 'default' } });
    log.enqueue({ type: 'command_policy', session_id: s, command_id: 'c1', decision: 'allow', rule: 'allow-safe', fields: { command: 'ls -la' } });
    log.enqueue({ type: 'command_exec', session_id: s, command_id: 'c1', fields: { pid: 4242, cwd: '/home/u/proj' } });
    log.enqueue({ type: 'command_finished', session_id: s, command_id: 'c1', fields: { exit_code: 0, duration_ms: 12 } });
    log.enqueue({ type: 'command_policy', session_id: s, command_id: 'c2', decision: 'deny', rule: 'block-sudo', message: 'privilege escalation is not allowed', fields: { command: 'sudo whoami' } });
    log.enqueue({ type: 'command_policy', session_id: s, command_id: 'c3', decision: 'allow', rule: 'allow-safe', fields: { command: 'false' } });
    log.enqueue({ type: 'command_finished', session_id: s, command_id: 'c3', fields: { exit_code: 1, duration_ms: 2500 } });
    log.enqueue({ type: 'file_policy', session_id: s, decision: 'deny', rule: 'protect-etc', message: 'system files are read-only', fields: { path: '/etc/passwd', operation: 'write' } });
    log.enqueue({ type: 'file_policy', session_id: s, decision: 'allow', rule: 'workspace', fields: { path: '/home/u/proj/a.txt', operation: 'write' } });
    log.enqueue({ type: 'net_policy', session_id: s, decision: 'deny', rule: 'block-evil', message: 'domain not allowed', fields: { host: 'evil.com', port: 443 } });
    log.enqueue({ type: 'net_policy', session_id: s, decision: 'allow', rule: 'registry', fields: { host: 'registry.npmjs.org', port: 443 } });
    log.enqueue({ type: 'session_destroyed', session_id: s });
    log.enqueue({ type: 'command_policy', session_id: 'other', decision: 'deny', rule: 'x', fields: { command: 'not in this session' } });
    await log.flush();
    const report = sessionReport(log.query({ session_id: s }), { now: new Date('2026-01-01T00:00:00Z') });
    await log.close();
    assert.match(report, /^# Session Report: sess-1$/m);
    assert.match(report, /\| Workspace \| \/home\/u\/proj \|/);
    assert.match(report, /\| Commands run \| 2 \|/);
    assert.match(report, /\| Commands failed \| 1 \|/);
    assert.match(report, /\| Commands denied \| 1 \|/);
    assert.match(report, /`ls -la` — exit 0, 12 ms, rule allow-safe/);
    assert.match(report, /`false` — exit 1, 2\.50 s/);
    assert.match(report, /`sudo whoami` — \*\*denied\*\* \(rule block-sudo\): privilege escalation is not allowed/);
    assert.match(report, /## Denials \(3\)/);
    assert.match(report, /\| command_policy \| sudo whoami \| block-sudo \| privilege escalation is not allowed \|/);
    assert.match(report, /\| file_policy \| \/etc\/passwd \| protect-etc \| system files are read-only \|/);
    assert.match(report, /\| net_policy \| evil\.com:443 \| block-evil \| domain not allowed \|/);
    assert.match(report, /\| write \| \/home\/u\/proj\/a\.txt \| allow \| workspace \| 1 \|/);
    assert.match(report, /\| registry\.npmjs\.org \| 443 \| allow \| registry \| 1 \|/);
    assert.match(report, /\| command_policy \| 3 \|/);
    assert.ok(!report.includes('not in this session'));
    assert.ok(!report.includes('session has no session_destroyed'));
  });
  test('an empty session says so', () => {
    assert.match(sessionReport([], { sessionId: 'x' }), /No events recorded/);
  });
});
