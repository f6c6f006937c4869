// Load and soak: N concurrent sessions × M mixed commands against one real server with the
// session sandbox and the session network on (the seed's policy): allowed commands, denied
// commands (sudo), nested execs denied at exec time (sudo from Python), file writes in the
// workspace, soft deletes, and requests through the session proxy to a loopback upstream
// (allowed, and refused by name). Asserted: every outcome and the absence of every denied
// side effect; the audit events of each command exactly (nothing lost, nothing doubled, under
// load); the JSONL log verifies and the SQLite index agrees with it; the server's RSS after
// warm-up stays bounded. Printed: p50/p99 command latency, events/s, RSS (docs/reliability.md).
//
// Scale: AGENTSH_SOAK_SESSIONS (default 50) × AGENTSH_SOAK_COMMANDS (default 20); the issue's
// full run is 50 × 100 (figures in docs/reliability.md). Root only (namespaces).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli } from './helpers.js';
import { auditLogOf, auditVerify, jsonlEvents, loopbackNetworkConfig, loopbackUpstream, percentile, rssKiB, until, type JsonlEvent } from './reliability-helpers.js';
import { startTestServer, type TestServer } from './server-harness.js';

const skip = process.getuid?.() === 0 ? false : 'needs root: the session sandbox builds namespaces';
const envInt = (name: string, dflt: number) => {
  const v = Number.parseInt(process.env[name] ?? '', 10);
  return Number.isInteger(v) && v > 0 ? v : dflt;
};
const SESSIONS = envInt('AGENTSH_SOAK_SESSIONS', 50);
const COMMANDS = envInt('AGENTSH_SOAK_COMMANDS', 20);
/**
 * RSS growth allowed from just after warm-up to the end of the run: the median of the samples in
 * the last quarter of the run after warm-up minus the median in its first quarter (single samples
 * swing by ±50 MiB with V8's collections; a leak moves the medians).
 */
const RSS_BOUND_MIB = envInt('AGENTSH_SOAK_RSS_MIB', 64);
/** A file to write the RSS samples to (CSV: ms, commands done, KiB), for docs/reliability.md. */
const RSS_OUT = process.env.AGENTSH_SOAK_RSS_OUT;

type Kind = 'allow' | 'write' | 'deny' | 'nested' | 'soft_delete' | 'proxy' | 'proxy_deny';
// The mix each session cycles through (offset by its index, so every kind runs concurrently).
const MIX: Kind[] = ['allow', 'write', 'deny', 'nested', 'soft_delete', 'proxy', 'allow', 'proxy_deny'];

/** The audit events one command of each kind leaves with its command_id, as sorted "type:decision". */
const EXPECTED: Record<Kind, string[]> = {
  allow: ['command_finished:', 'command_policy:allow', 'command_started:'],
  write: ['command_finished:', 'command_policy:allow', 'command_started:'],
  deny: ['command_policy:deny'],
  nested: ['command_finished:', 'command_policy:allow', 'command_started:', 'exec:allow', 'exec:deny'],
  soft_delete: ['command_finished:', 'command_policy:allow', 'command_started:', 'exec:allow', 'file_soft_deleted:soft_delete'],
  proxy: ['command_finished:', 'command_policy:allow', 'command_started:', 'exec:allow'],
  proxy_deny: ['command_finished:', 'command_policy:allow', 'command_started:', 'exec:allow'],
};
/** net_connect events carry the session, not the command. */
const NET: Partial<Record<Kind, string>> = { proxy: 'allow', proxy_deny: 'deny' };

interface Op {
  /** serial: one command at a time (latency without queueing); load: all sessions at once. */
  phase: 'serial' | 'load';
  session: number;
  kind: Kind;
  tag: string;
  commandId: string;
  ms: number;
}

describe(`load and soak: ${SESSIONS} sessions × ${COMMANDS} commands, sandbox and session network on`, { skip }, () => {
  let srv: TestServer;
  let upstream: Awaited<ReturnType<typeof loopbackUpstream>>;
  const ops: Op[] = [];
  const sids: string[] = [];
  const rss: { t: number; done: number; kib: number }[] = [];
  /** Commands done when every session had run the whole mix once (its caches and plans exist). */
  let warmDone = 0;
  let wallMs = 0;

  before(async () => {
    upstream = await loopbackUpstream();
    srv = await startTestServer({ sandbox: true, extraConfig: await loopbackNetworkConfig() });
  });
  after(async () => {
    await srv?.stop();
    await upstream?.close();
  });

  it('every command decides, runs or is refused as the policy says, with no denied side effect', { timeout: 600_000 }, async () => {
    const ws = srv.workspace;
    // One workspace (and PROJECT_ROOT) for all: the session's Landlock plan is compiled once
    // per workspace; each session works in its own directory inside it.
    for (let i = 0; i < SESSIONS; i++) {
      mkdirSync(join(ws, `s${i}`));
      const r = await srv.api('POST', '/api/v1/sessions', { workspace: ws, project_root: ws });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      sids.push(r.body.id as string);
    }
    const exec = (sid: string, script: string) => srv.api('POST', `/api/v1/sessions/${sid}/exec`, { command: 'bash', args: ['-c', script], timeout: '60s' });
    // Warm-up: the first command compiles the session's Landlock plan (reads the file tree).
    const warm = await exec(sids[0]!, 'true');
    assert.equal(warm.body.exit_code, 0, JSON.stringify(warm.body));

    const pid = srv.proc.pid!;
    let done = 0;
    const t0 = Date.now();
    const sampler = setInterval(() => {
      const kib = rssKiB(pid);
      if (kib !== null) rss.push({ t: Date.now() - t0, done, kib });
    }, 200);
    const failures: string[] = [];
    const perSession = new Array<number>(SESSIONS).fill(0);
    const runOne = async (i: number, k: number, phase: Op['phase'] = 'load') => {
      const kind = MIX[(i + k) % MIX.length]!;
      const dir = join(ws, `s${i}`);
      const tag = `s${i}c${k}`;
      let script: string;
      switch (kind) {
        case 'allow':
          script = `echo hello-${tag}`;
          break;
        case 'write':
          script = `echo data-${tag} > ${dir}/w-${tag}.txt`;
          break;
        case 'deny':
          script = `sudo touch ${dir}/denied-${tag}`;
          break;
        case 'nested':
          script = `/usr/bin/python3 -c "import subprocess; subprocess.run(['/usr/bin/sudo','-n','touch','${dir}/nested-${tag}'])"; echo done-${tag}`;
          break;
        case 'soft_delete':
          writeFileSync(join(dir, `sd-${tag}.txt`), `keep-${tag}`);
          // Relative: the seed's block-rm-recursive matches "-r" anywhere in the arguments
          // (an unanchored pattern), and a random temp dir name can contain it.
          script = `cd ${dir} && rm sd-${tag}.txt`;
          break;
        case 'proxy':
          script = `curl -sS -m 20 --noproxy '' -x "$HTTP_PROXY" http://127.0.0.1:${upstream.port}/p-${tag}`;
          break;
        case 'proxy_deny':
          script = `curl -sS -m 20 --noproxy '' -x "$HTTP_PROXY" http://evil.com/x-${tag}; echo rc=$?`;
          break;
      }
      const s = Date.now();
      const r = await exec(sids[i]!, script);
      const ms = Date.now() - s;
      if (phase === 'load') done++;
      if (phase === 'load' && ++perSession[i]! === Math.min(MIX.length, COMMANDS) && perSession.every((n) => n >= Math.min(MIX.length, COMMANDS))) warmDone = done;
      const b = r.body as { exit_code: number; stdout: string; stderr: string; command_id: string };
      const bad = (why: string) => failures.push(`${tag} ${kind}: ${why}: ${JSON.stringify(b).slice(0, 400)}`);
      switch (kind) {
        case 'allow':
          if (b.exit_code !== 0 || b.stdout !== `hello-${tag}\n`) bad('allowed command');
          break;
        case 'write':
          if (b.exit_code !== 0) bad('write');
          break;
        case 'deny':
          if (r.status !== 403 || b.exit_code !== 126 || !/rule=block-shell-escape/.test(b.stderr)) bad('sudo not refused by block-shell-escape');
          break;
        case 'nested':
          if (b.exit_code !== 0 || b.stdout !== `done-${tag}\n` || !/Permission denied: '\/usr\/bin\/sudo'/.test(b.stderr)) bad('nested sudo not refused at exec time');
          break;
        case 'soft_delete':
          if (b.exit_code !== 0) bad('rm');
          break;
        case 'proxy':
          if (b.exit_code !== 0 || b.stdout !== `upstream-ok /p-${tag}\n`) bad('proxied request');
          break;
        case 'proxy_deny':
          if (!/denied by policy \(rule=block-evil-domains\)/.test(b.stdout)) bad('evil.com not refused by the proxy');
          break;
      }
      ops.push({ phase, session: i, kind, tag, commandId: b.command_id, ms });
    };
    // Latency without queueing: one session, one command at a time, twice through the mix.
    for (let k = 0; k < 2 * MIX.length; k++) await runOne(0, 10_000 + k, 'serial');
    const t1 = Date.now();
    await Promise.all(
      sids.map(async (_, i) => {
        for (let k = 0; k < COMMANDS; k++) await runOne(i, k);
      }),
    );
    wallMs = Date.now() - t1;
    clearInterval(sampler);
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} commands with a wrong outcome`);
    assert.equal(ops.filter((o) => o.phase === 'load').length, SESSIONS * COMMANDS);

    // The side effects: present for what was allowed, absent for everything refused.
    for (const op of ops) {
      const dir = join(ws, `s${op.session}`);
      if (op.kind === 'write') assert.equal(readFileSync(join(dir, `w-${op.tag}.txt`), 'utf8'), `data-${op.tag}\n`);
      if (op.kind === 'deny') assert.equal(existsSync(join(dir, `denied-${op.tag}`)), false, `${op.tag}: sudo ran`);
      if (op.kind === 'nested') assert.equal(existsSync(join(dir, `nested-${op.tag}`)), false, `${op.tag}: nested sudo ran`);
      if (op.kind === 'soft_delete') assert.equal(existsSync(join(dir, `sd-${op.tag}.txt`)), false, `${op.tag}: not deleted`);
    }
    const proxied = ops.filter((o) => o.kind === 'proxy').map((o) => `/p-${o.tag}`).sort();
    assert.deepEqual([...upstream.hits].sort(), proxied, 'the upstream saw exactly the allowed requests, each once');
    // Every soft-deleted file is in the trash, restorable (listed with its original path).
    const list = cli(['trash', 'list', '--dir', join(ws, '.agentsh_trash')]);
    assert.equal(list.code, 0, list.stderr);
    const trashed = new Set(list.stdout.split('\n').map((l) => l.split('\t')[1]).filter(Boolean));
    for (const op of ops.filter((o) => o.kind === 'soft_delete')) assert.ok(trashed.has(join(ws, `s${op.session}`, `sd-${op.tag}.txt`)), `${op.tag} not in the trash`);
  });

  it('the audit log holds exactly the events of the operations performed, verifies, and the index agrees', { timeout: 120_000 }, async () => {
    assert.equal(ops.filter((o) => o.phase === 'load').length, SESSIONS * COMMANDS, 'the load ran');
    for (const sid of sids) assert.equal((await srv.api('DELETE', `/api/v1/sessions/${sid}`)).status, 200);
    const log = auditLogOf(srv);
    const mine = new Set(sids);
    const wantNet = { allow: ops.filter((o) => o.kind === 'proxy').length, deny: ops.filter((o) => o.kind === 'proxy_deny').length };
    // The log is written in batches after each decision: wait until the last events are in.
    let events: JsonlEvent[] = [];
    await until(
      () => {
        events = jsonlEvents(log);
        const net = events.filter((e) => e.type === 'net_connect');
        return events.filter((e) => e.type === 'session_destroyed').length === SESSIONS && net.length >= wantNet.allow + wantNet.deny;
      },
      20_000,
      'the last events in the JSONL',
    );
    await new Promise((r) => setTimeout(r, 500)); // anything late (a duplicate) would show now
    events = jsonlEvents(log);

    const byCommand = new Map<string, string[]>();
    for (const e of events) {
      if (!e.command_id) continue;
      const l = byCommand.get(e.command_id) ?? [];
      l.push(`${e.type}:${e.decision ?? ''}`);
      byCommand.set(e.command_id, l);
    }
    const wrong: string[] = [];
    for (const op of ops) {
      const got = (byCommand.get(op.commandId) ?? []).sort();
      if (JSON.stringify(got) !== JSON.stringify(EXPECTED[op.kind])) wrong.push(`${op.tag} ${op.kind}: ${got.join(',')}`);
    }
    assert.deepEqual(wrong.slice(0, 10), [], `${wrong.length} commands whose audit events differ from their operation`);
    const ours = new Set(ops.map((o) => o.commandId));
    const warmup = [...byCommand.keys()].filter((c) => !ours.has(c));
    assert.equal(warmup.length, 1, 'no events of unknown commands (only the warm-up)');
    // The exec-time refusals name the rule and the binary.
    const nestedDenies = events.filter((e) => e.type === 'exec' && e.decision === 'deny');
    assert.equal(nestedDenies.length, ops.filter((o) => o.kind === 'nested').length);
    for (const e of nestedDenies) assert.equal(`${e.rule} ${String(e.fields?.path)}`, 'block-shell-escape /usr/bin/sudo');
    // Network events per session.
    for (let i = 0; i < SESSIONS; i++) {
      const net = events.filter((e) => e.type === 'net_connect' && e.session_id === sids[i]);
      for (const decision of ['allow', 'deny']) {
        const want = ops.filter((o) => o.session === i && NET[o.kind] === decision).length;
        assert.equal(net.filter((e) => e.decision === decision).length, want, `session ${i}: net_connect ${decision}`);
      }
    }
    assert.equal(events.filter((e) => e.type === 'net_connect').length, wantNet.allow + wantNet.deny);
    assert.equal(events.filter((e) => e.type === 'session_created' && mine.has(e.session_id!)).length, SESSIONS);

    // The chain verifies, line by line, with the server's key.
    const v = auditVerify(log);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    // The SQLite index (what the API queries) holds the same events.
    const types = new Map<string, number>();
    for (const e of events) types.set(e.type, (types.get(e.type) ?? 0) + 1);
    for (const [type, n] of types) {
      const q = await srv.api('GET', `/api/v1/events?type=${type}`);
      assert.equal((q.body as unknown[]).length, n, `index count of ${type}`);
    }

    // Figures.
    const load = ops.filter((o) => o.phase === 'load');
    const lat = load.map((o) => o.ms);
    const serial = ops.filter((o) => o.phase === 'serial');
    const perType = [...types].sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t}=${n}`).join(' ');
    const last = rss[rss.length - 1]!;
    const peak = Math.max(...rss.map((s) => s.kib));
    const quarter = (load.length - warmDone) / 4;
    const mib = (xs: number[]) => percentile(xs, 50) / 1024;
    const early = mib(rss.filter((x) => x.done >= warmDone && x.done <= warmDone + quarter).map((x) => x.kib));
    const late = mib(rss.filter((x) => x.done >= load.length - quarter).map((x) => x.kib));
    if (RSS_OUT) writeFileSync(RSS_OUT, `ms,done,kib\n${rss.map((x) => `${x.t},${x.done},${x.kib}`).join('\n')}\n`);
    const report = [
      `soak: ${SESSIONS} sessions × ${COMMANDS} commands = ${load.length} commands in ${(wallMs / 1000).toFixed(1)} s (${(load.length / (wallMs / 1000)).toFixed(1)} commands/s)`,
      `latency ms under load (${SESSIONS} in flight): p50 ${percentile(lat, 50)} p90 ${percentile(lat, 90)} p99 ${percentile(lat, 99)} max ${Math.max(...lat)}`,
      ...(['allow', 'write', 'deny', 'nested', 'soft_delete', 'proxy', 'proxy_deny'] as Kind[]).map((k) => {
        const l = load.filter((o) => o.kind === k).map((o) => o.ms);
        const one = serial.filter((o) => o.kind === k).map((o) => o.ms);
        return `  ${k}: p50 ${percentile(l, 50)} p99 ${percentile(l, 99)}; alone p50 ${percentile(one, 50)}`;
      }),
      `audit: ${events.length} events in the log (${(load.length * (events.length / ops.length) / (wallMs / 1000)).toFixed(0)}/s during the load): ${perType}`,
      `server RSS MiB, median per fifth of the load: ${[0, 1, 2, 3, 4].map((f) => mib(rss.filter((x) => x.done >= (load.length * f) / 5 && x.done <= (load.length * (f + 1)) / 5).map((x) => x.kib)).toFixed(0)).join(' → ')}; peak ${(peak / 1024).toFixed(0)}, last sample ${(last.kib / 1024).toFixed(0)}`,
      `server RSS MiB: median just after warm-up (every session through the mix once, ${warmDone} commands) ${early.toFixed(1)}, over the last quarter ${late.toFixed(1)}: growth ${(late - early).toFixed(1)} (bound ${RSS_BOUND_MIB})`,
    ];
    process.stdout.write(`${report.map((l) => `# ${l}`).join('\n')}\n`);
    assert.ok(late - early < RSS_BOUND_MIB, report.join('\n'));
  });
});
