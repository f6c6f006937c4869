// The real server, driven through its API and the CLI: decisions, exit codes, output
// fidelity, timeouts, env policy, concurrency, the singleton lock and the control plane.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { cli, isGone, REPO } from './helpers.js';
import { freePort, startTestServer, writeConfig, type TestServer } from './server-harness.js';

const isRoot = process.getuid?.() === 0;


let srv: TestServer;
let sid: string;

before(async () => {
  srv = await startTestServer();
  const r = await srv.api('POST', '/api/v1/sessions', { workspace: srv.workspace });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  sid = r.body.id;
});
after(async () => srv?.stop());

const exec = (body: Record<string, unknown>) => srv.api('POST', `/api/v1/sessions/${sid}/exec`, body);
// The config flag goes after the verb: agentsh VERB [SUB] -c FILE …
const agentsh = (verb: string[], args: string[]) => cli([...verb, '-c', srv.configFile, ...args]);
const sh = (script: string, extra: Record<string, unknown> = {}) => exec({ command: 'bash', args: ['-c', script], ...extra });

describe('server basics', () => {
  it('serves health, readiness and Prometheus metrics without a token', async () => {
    assert.equal((await srv.api('GET', '/health', undefined, null)).status, 200);
    assert.equal((await srv.api('GET', '/ready', undefined, null)).status, 200);
    const m = await srv.api('GET', '/metrics', undefined, null);
    assert.match(String(m.body), /^agentsh_sessions_active \d+$/m);
    assert.match(String(m.body), /^# TYPE agentsh_commands_total counter$/m);
    await sh('sudo id');
    const denied = Number(/^agentsh_commands_total\{outcome="denied"\} (\d+)$/m.exec(String((await srv.api('GET', '/metrics', undefined, null)).body))?.[1]);
    assert.ok(denied >= 1, 'denied commands are counted');
  });
  it('refuses the API without the token, or with a wrong one', async () => {
    assert.equal((await srv.api('GET', '/api/v1/sessions', undefined, null)).status, 401);
    assert.equal((await srv.api('GET', '/api/v1/sessions', undefined, 'x'.repeat(64))).status, 401);
  });
  it('lists, shows and destroys sessions', async () => {
    const r = await srv.api('POST', '/api/v1/sessions', { workspace: srv.workspace });
    const id = r.body.id as string;
    assert.ok((await srv.api('GET', '/api/v1/sessions')).body.some((s: { id: string }) => s.id === id));
    assert.equal((await srv.api('GET', `/api/v1/sessions/${id}`)).body.workspace, srv.workspace);
    assert.equal((await srv.api('DELETE', `/api/v1/sessions/${id}`)).status, 200);
    assert.equal((await srv.api('GET', `/api/v1/sessions/${id}`)).status, 404);
  });
  it('rejects bad session requests with a clear error', async () => {
    const r = await srv.api('POST', '/api/v1/sessions', { workspace: 'relative/dir' });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /absolute/);
    const p = await srv.api('POST', '/api/v1/sessions', { workspace: srv.workspace, policy: 'nope' });
    assert.equal(p.status, 400);
    assert.match(p.body.error.message, /policy 'nope' not found/);
  });
});

describe('governed exec', () => {
  it('runs an allowed command and returns its output and exit code', async () => {
    const r = await sh('echo out; echo err >&2; exit 3');
    assert.deepEqual([r.status, r.body.exit_code, r.body.stdout, r.body.stderr], [200, 3, 'out\n', 'err\n']);
    assert.equal(r.body.decision.rule, 'allow-safe-commands');
  });
  it('a denied command never starts: 126, the rule, and no side effect', async () => {
    const marker = join(srv.workspace, 'ran');
    const r = await sh(`touch ${marker}; sudo whoami`);
    assert.equal(r.status, 403);
    assert.equal(r.body.exit_code, 126);
    assert.deepEqual([r.body.error.code, r.body.error.rule], ['E_POLICY_DENIED', 'block-shell-escape']);
    assert.equal(r.body.stderr, 'agentsh: command denied by policy (rule=block-shell-escape)\n');
    assert.equal(existsSync(marker), false);
  });
  it('the CLI prints the denial and exits 126', () => {
    const r = agentsh(['exec'], [sid, '--', 'bash', '-c', 'echo $(sudo id)']);
    assert.equal(r.code, 126);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^agentsh: command denied by policy \(rule=block-shell-escape\)$/m);
    const ok = agentsh(['exec'], [sid, '--', 'echo', 'hi']);
    assert.deepEqual([ok.code, ok.stdout], [0, 'hi\n']);
    const json = agentsh(['exec'], ['--output', 'json', sid, '--', 'sudo', 'id']);
    assert.equal(json.code, 126);
    assert.deepEqual(JSON.parse(json.stdout).error, { code: 'E_POLICY_DENIED', rule: 'block-shell-escape', message: 'command denied by policy' });
  });
  it('commands the pre-check cannot see are denied while no exec-time check is active', async () => {
    const marker = join(srv.workspace, 'opaque-ran');
    const r = await sh(`touch ${marker}; X=sudo; $X id`);
    assert.equal(r.body.exit_code, 126);
    assert.equal(r.body.error.rule, 'shell-opaque');
    assert.match(r.body.error.message, /dynamic-command-name/);
    assert.equal(existsSync(marker), false);
    const piped = await sh('echo id | bash');
    assert.equal(piped.body.error.rule, 'shell-opaque');
  });
  it('script files are checked before they run', async () => {
    const script = join(srv.workspace, 'job.sh');
    writeFileSync(script, 'echo step one\nsudo id\n');
    const r = await exec({ command: 'bash', args: [script] });
    assert.equal(r.body.exit_code, 126);
    assert.equal(r.body.error.rule, 'block-shell-escape');
    assert.equal(r.body.stdout, '');
    writeFileSync(script, 'echo fine\n');
    assert.equal((await exec({ command: 'bash', args: [script] })).body.stdout, 'fine\n');
  });
  it('interactive shells are refused, not run ungoverned', async () => {
    const r = await exec({ command: 'bash', args: ['-i'] });
    assert.equal(r.body.exit_code, 126);
    assert.equal(r.body.error.rule, 'interactive-shell');
  });
  it('passes stdin through', async () => {
    const r = await exec({ command: 'cat', stdin: 'from stdin\n' });
    assert.equal(r.body.stdout, 'from stdin\n');
  });
  it('binary output is byte-exact', async () => {
    const data = randomBytes(1 << 20);
    // Without '@': 1 MiB of random bytes holds a DLP-shaped e-mail address (a@b.cd) a few
    // times in a hundred runs, and redaction would then rightly change the output.
    for (let i = 0; i < data.length; i++) if (data[i] === 0x40) data[i] = 0x41;
    writeFileSync(join(srv.workspace, 'blob'), data);
    const r = await exec({ command: 'cat', args: [join(srv.workspace, 'blob')], encoding: 'base64' });
    assert.equal(createHash('sha256').update(Buffer.from(r.body.stdout, 'base64')).digest('hex'), createHash('sha256').update(data).digest('hex'));
  });
  it('streams 100 MB of output byte-exact through the CLI', () => {
    const r = spawnSync(process.execPath, [join(REPO, 'bin/agentsh'), 'exec', '-c', srv.configFile, sid, '--', 'bash', '-c', 'head -c 100000000 /dev/zero | tr "\\0" "a"'], { maxBuffer: 200 * 1024 * 1024, timeout: 120_000 });
    assert.equal(r.status, 0, String(r.stderr));
    assert.equal(r.stdout.length, 100_000_000);
    assert.equal(createHash('sha256').update(r.stdout).digest('hex'), createHash('sha256').update(Buffer.alloc(100_000_000, 'a')).digest('hex'));
  });
  it('a timeout kills the whole process group', async () => {
    const pidFile = join(srv.workspace, 'bg.pid');
    const r = await sh(`sleep 30 & echo $! > ${pidFile}; wait`, { timeout: '1s' });
    assert.equal(r.body.exit_code, 124);
    assert.match(r.body.stderr, /timed out/);
    const bg = Number(spawnSync('cat', [pidFile]).stdout.toString());
    assert.ok(bg > 0);
    await new Promise((res) => setTimeout(res, 300));
    assert.ok(isGone(bg), 'the background child is gone');
  });
  it('a signal death is reported as 128+N', async () => {
    // (kill itself is denied by the seed policy; python is allowed)
    const r = await exec({ command: '/usr/bin/python3', args: ['-c', 'import os, signal; os.kill(os.getpid(), signal.SIGTERM)'] });
    assert.equal(r.body.exit_code, 143);
  });
  it('runs concurrent commands in one and many sessions', async () => {
    const other = (await srv.api('POST', '/api/v1/sessions', { workspace: srv.workspace })).body.id as string;
    const runs = Array.from({ length: 12 }, (_, i) => srv.api('POST', `/api/v1/sessions/${i % 2 ? sid : other}/exec`, { command: 'bash', args: ['-c', `sleep 0.2; echo ${i}`] }));
    const results = await Promise.all(runs);
    assert.deepEqual(results.map((r) => r.body.stdout), Array.from({ length: 12 }, (_, i) => `${i}\n`));
  });
});

describe('DLP on command output', () => {
  it('redacts secrets in stdout, stderr and the audit excerpt; other bytes pass unchanged', async () => {
    const r = await sh('echo key=AKIAQWERTYUIOPASDFGH; echo "mail bob@corp-mail.io" >&2; echo plain');
    assert.equal(r.body.stdout, 'key=[REDACTED:AWS_ACCESS_KEY_ID]\nplain\n');
    assert.equal(r.body.stderr, 'mail [REDACTED:EMAIL]\n');
    await new Promise((res) => setTimeout(res, 300));
    const log = readFileSync(join(srv.dir, 'events.jsonl'), 'utf8');
    assert.ok(!log.includes('AKIAQWERTYUIOPASDFGH') && !log.includes('bob@corp-mail.io'), 'no secret in the audit log');
  });
  it('redacts a secret that straddles output chunks', async () => {
    const r = await sh('printf "AKIAQWER"; sleep 0.2; printf "TYUIOPASDFGH\\n"');
    assert.equal(r.body.stdout, '[REDACTED:AWS_ACCESS_KEY_ID]\n');
  });
});

describe('environment', () => {
  it('filters the caller environment by env_policy and injects operator variables', async () => {
    const r = await exec({ command: 'bash', args: ['-c', 'echo "k=${DAYTONA_API_KEY:-unset} h=${HOME:-unset} i=${AGENTSH_INJECTED}"'], env: { DAYTONA_API_KEY: 'dtn_secret', HOME: '/home/x' } });
    assert.equal(r.body.stdout, 'k=unset h=/home/x i=from-operator\n');
  });
  it('blocks enumerating the environment but not named lookups', async () => {
    for (const cmd of ['env', 'printenv', 'export -p', 'declare -x', 'set']) {
      const r = await sh(cmd);
      assert.equal(r.body.exit_code, 126, cmd);
      assert.equal(r.body.error.rule, 'env-block-iteration', cmd);
      assert.equal(r.body.stdout, '', cmd);
    }
    assert.equal((await sh('printenv HOME', { env: { HOME: '/h' } })).body.stdout, '/h\n');
  });
  it('BASH_ENV from env_inject disables the dangerous builtins, enable last', async () => {
    const r = await sh('type -t kill; type -t umask || echo no-umask; type -t enable || echo no-enable');
    assert.equal(r.body.stdout, 'file\nno-umask\nno-enable\n');
  });
  it('an environment over max_bytes is refused with a clear message', async () => {
    const r = await exec({ command: 'true', env: { HOME: 'x'.repeat(70_000) } });
    assert.equal(r.body.exit_code, 126);
    assert.match(r.body.stderr, /more than env_policy.max_bytes \(65536\)/);
  });
});

describe('one server per address', () => {
  it('a second server on the same config refuses to start, the first keeps serving', () => {
    const r = spawnSync(process.execPath, [join(REPO, 'bin/agentsh'), 'server', '-c', srv.configFile], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /another server already listens on 127\.0\.0\.1:\d+/);
    assert.ok(existsSync(join(srv.runDir, 'agentsh.sock')));
  });
  it('the CLI starts the server when none runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentsh-autostart-'));
    const { configFile, runDir } = writeConfig(dir, await freePort());
    mkdirSync(join(dir, 'policies'));
    copyFileSync(join(srv.dir, 'policies', 'default.yaml'), join(dir, 'policies', 'default.yaml'));
    try {
      const r = cli(['session', 'list', '-c', configFile, '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), []);
      assert.ok(statSync(join(runDir, 'agentsh.sock')).isSocket());
    } finally {
      const pid = Number(readFileSync(join(runDir, 'server.pid'), 'utf8'));
      process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 100 && !isGone(pid); i++) await new Promise((r) => setTimeout(r, 50));
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('racing auto-starts leave exactly one server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentsh-race-'));
    try {
      const { configFile, runDir } = writeConfig(dir, await freePort());
      const starters = Array.from({ length: 3 }, () => spawn(process.execPath, [join(REPO, 'bin/agentsh'), 'server', '-c', configFile], { stdio: 'ignore' }));
      const codes = await Promise.race([
        Promise.all(starters.map((p) => new Promise<number | null>((r) => p.once('exit', (c) => r(c))))),
        new Promise<null>((r) => setTimeout(() => r(null), 8000)),
      ]);
      const alive = starters.filter((p) => p.exitCode === null);
      assert.equal(alive.length, 1, `codes ${JSON.stringify(codes)}`);
      assert.ok(statSync(join(runDir, 'agentsh.sock')).isSocket());
      for (const p of alive) p.kill('SIGTERM');
      await new Promise((r) => alive[0]!.once('exit', r));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('control plane', { skip: !isRoot && 'needs root to run a process as another user' }, () => {
  it('keeps the token owner-only and refuses another user', () => {
    assert.equal(statSync(join(srv.runDir, 'api.token')).mode & 0o777, 0o600);
    assert.equal(statSync(join(srv.runDir, 'agentsh.sock')).mode & 0o777, 0o600);
    const probe = `
      const net = require('net'); const fs = require('fs');
      let token = 'none'; try { token = fs.readFileSync(${JSON.stringify(join(srv.runDir, 'api.token'))}, 'utf8'); } catch (e) { token = e.code; }
      const s = net.connect(${JSON.stringify(join(srv.runDir, 'agentsh.sock'))});
      s.on('connect', () => { console.log(token + ' connected'); process.exit(0); });
      s.on('error', (e) => { console.log(token + ' ' + e.code); process.exit(0); });`;
    const r = spawnSync(process.execPath, ['-e', probe], { uid: 65534, gid: 65534, encoding: 'utf8' });
    assert.equal(r.stdout.trim(), 'EACCES EACCES');
  });
  it('the CLI run by another user cannot use the API', () => {
    chmodSync(srv.dir, 0o755); // the config is readable to others; the token stays 0600
    const r = spawnSync(process.execPath, [join(REPO, 'bin/agentsh'), 'session', 'list', '-c', srv.configFile], { uid: 65534, gid: 65534, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot read the API token .*EACCES/);
  });
});

describe('audit trail', () => {
  const logFile = () => join(srv.dir, 'events.jsonl');
  const settle = async () => {
    // Events are acknowledged in batches; wait until the index stops growing.
    let last = -1;
    for (let i = 0; i < 50; i++) {
      const n = (await srv.api('GET', '/api/v1/events?limit=100000')).body.length as number;
      if (n === last) return;
      last = n;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('records every decision, allowed ones too, with the rule', async () => {
    const s = (await srv.api('POST', '/api/v1/sessions', { workspace: srv.workspace })).body.id as string;
    await srv.api('POST', `/api/v1/sessions/${s}/exec`, { command: 'echo', args: ['audited'] });
    await srv.api('POST', `/api/v1/sessions/${s}/exec`, { command: 'sudo', args: ['id'] });
    await settle();
    const events = (await srv.api('GET', `/api/v1/events?session_id=${s}`)).body as { type: string; decision?: string; rule?: string; fields: Record<string, unknown> }[];
    const policy = events.filter((e) => e.type === 'command_policy');
    assert.deepEqual(policy.map((e) => [e.decision, e.rule]), [['allow', 'allow-safe-commands'], ['deny', 'block-shell-escape']]);
    const finished = events.find((e) => e.type === 'command_finished')!;
    assert.equal(finished.fields.exit_code, 0);
    assert.equal(finished.fields.stdout, 'audited\n'); // the seed asks for include_stdout
    const cliEvents = agentsh(['events'], [s, '--json']);
    assert.equal(cliEvents.code, 0, cliEvents.stderr);
    assert.equal(cliEvents.stdout.trim().split('\n').length, events.length);
    const report = agentsh(['report'], [s]);
    assert.equal(report.code, 0, report.stderr);
    assert.match(report.stdout, /block-shell-escape/);
    assert.match(report.stdout, /echo audited/);
  });

  it('streams events live over SSE', async () => {
    const got = await new Promise<string>((resolveStream, rejectStream) => {
      const req = request({ socketPath: join(srv.runDir, 'agentsh.sock'), path: `/api/v1/events/stream?session_id=${sid}&type=command_policy`, headers: { authorization: `Bearer ${srv.token()}` } }, (res) => {
        let buf = '';
        res.on('data', (c: Buffer) => {
          buf += c.toString();
          const m = /^data: (.*)$/m.exec(buf);
          if (m) {
            req.destroy();
            clearTimeout(deadline);
            resolveStream(m[1]!);
          }
        });
      });
      req.on('error', (e) => (e.message.includes('socket hang up') ? undefined : rejectStream(e)));
      req.end();
      setTimeout(() => void exec({ command: 'echo', args: ['live'] }), 200);
      const deadline = setTimeout(() => rejectStream(new Error('no event within 10 s')), 10_000);
    });
    const ev = JSON.parse(got);
    assert.equal(ev.type, 'command_policy');
    assert.equal(ev.session_id, sid);
    assert.equal(ev.fields.command, 'echo live');
  });

  it('audit verify passes on the live log and names the line after tampering', async () => {
    await settle();
    const ok = agentsh(['audit', 'verify'], [logFile()]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^verified \d+ entries/m);
    const lines = readFileSync(logFile(), 'utf8').trimEnd().split('\n');
    assert.ok(lines.length >= 6);
    const key = join(srv.dir, 'audit.key');
    const check = (name: string, content: string[]) => {
      const f = join(srv.dir, `${name}.jsonl`);
      writeFileSync(f, `${content.join('\n')}\n`);
      return cli(['audit', 'verify', '--key-file', key, f]);
    };
    const flipped = [...lines];
    flipped[3] = flipped[3]!.replace('"type":"', '"type":"X');
    const oneByte = check('byte', flipped);
    assert.equal(oneByte.code, 1);
    assert.match(oneByte.stderr, /byte\.jsonl:4\b/);
    const deleted = check('deleted', lines.filter((_, i) => i !== 2));
    assert.equal(deleted.code, 1);
    assert.match(deleted.stderr, /deleted\.jsonl:3\b/);
    const swapped = [...lines];
    [swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!];
    const reordered = check('reordered', swapped);
    assert.equal(reordered.code, 1);
    assert.match(reordered.stderr, /reordered\.jsonl:3\b/);
  });
});

describe('security.minimum_mode', { skip: process.getuid?.() !== 0 && 'root only (probes namespaces)' }, () => {
  it('below the floor no session starts and no command runs; the message says what is missing', async () => {
    const s = await startTestServer({ extraConfig: 'security:\n  minimum_mode: full\n', env: { AGENTSH_FORCE_UNAVAILABLE: 'seccomp_notify' } });
    try {
      const r = await s.api('POST', '/api/v1/sessions', { workspace: s.workspace });
      assert.equal(r.status, 503);
      assert.match(JSON.stringify(r.body), /minimum_mode full.*seccomp user-notify/);
    } finally {
      await s.stop();
    }
  });
});

describe('session limits', () => {
  it('an idle session ends after resource_limits.idle_timeout, with an audit event; a busy one does not', async () => {
    const policy = readFileSync(new URL('../../test/fixtures/seed/default.yaml', import.meta.url), 'utf8').replace(/idle_timeout: \S+/, 'idle_timeout: 1s');
    const s = await startTestServer({ policy, cleanupInterval: '200ms' });
    try {
      const idle = await s.api('POST', '/api/v1/sessions', { workspace: s.workspace });
      assert.equal(idle.status, 201);
      const busy = await s.api('POST', '/api/v1/sessions', { workspace: s.workspace });
      const running = s.api('POST', `/api/v1/sessions/${busy.body.id}/exec`, { command: 'sleep', args: ['2.5'] });
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal((await s.api('GET', `/api/v1/sessions/${idle.body.id}`)).status, 404);
      assert.equal((await s.api('GET', `/api/v1/sessions/${busy.body.id}`)).status, 200, 'a session with a running command is not idle');
      assert.equal((await running).status, 200);
      const ev = await s.api('GET', `/api/v1/events?session_id=${idle.body.id}`);
      assert.ok(JSON.stringify(ev.body).includes('"reason":"idle"'), JSON.stringify(ev.body).slice(0, 500));
    } finally {
      await s.stop();
    }
  });
});
