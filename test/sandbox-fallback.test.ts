// Mechanisms forced unavailable (AGENTSH_FORCE_UNAVAILABLE=seccomp_notify,ptrace): the server runs
// commands in the `landlock` mode and the kernel still holds the hard denies — sudo cannot run
// by any route, system paths stay read-only — while what needed user-notify fails closed: a
// delete in a soft-delete area is refused (the file stays), opaque commands are refused.
// Real server, real launcher; root only (namespaces without a user namespace).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cli } from './helpers.js';
import { eventsOf, startTestServer, type TestServer } from './server-harness.js';

const skip = process.getuid?.() === 0 ? false : 'needs root';

/** A test server with the sandbox on and one API session in its workspace, for the enclosing describe. */
function sandboxedSession(opts: Parameters<typeof startTestServer>[0]) {
  let srv: TestServer | undefined;
  let sid = '';
  before(async () => {
    srv = await startTestServer(opts);
    const r = await srv.api('POST', '/api/v1/sessions', { workspace: srv.workspace });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    sid = r.body.id;
  });
  after(async () => srv?.stop());
  const server = () => srv!;
  const sh = async (script: string) => {
    const r = await server().api('POST', `/api/v1/sessions/${sid}/exec`, { command: 'bash', args: ['-c', script] });
    return r.body as { exit_code: number; stdout: string; stderr: string };
  };
  return { server, sh, sid: () => sid };
}

describe('fallback mode without seccomp user-notify or ptrace', { skip }, () => {
  const { server, sh } = sandboxedSession({ sandbox: true, env: { AGENTSH_FORCE_UNAVAILABLE: 'seccomp_notify,ptrace' } });

  it('detect-equivalent: the server says landlock mode in its start event', async () => {
    assert.match(await eventsOf(server(), 'server_start', /"security_mode":"landlock"/), /"security_mode":"landlock"/);
  });
  it('sudo is still impossible, even from Python (Landlock, not a user-space check)', async () => {
    const r = await sh(`python3 -c "import subprocess; subprocess.run(['/usr/bin/sudo','-n','id'])"; echo done`);
    assert.match(r.stdout, /done/);
    assert.doesNotMatch(r.stdout + r.stderr, /uid=0/);
    assert.match(r.stderr, /Permission denied/);
  });
  it('system paths stay read-only', async () => {
    const r = await sh(`python3 -c "open('/etc/agentsh-fallback-${process.pid}','w')"; echo rc=$?`);
    assert.match(r.stdout, /rc=1/);
    assert.equal(existsSync(`/etc/agentsh-fallback-${process.pid}`), false);
  });
  it('soft delete cannot happen without the supervisor: the delete is refused and the file stays', async () => {
    const f = join(server().workspace, 'keep.txt');
    writeFileSync(f, 'keep');
    const r = await sh(`rm ${f}; echo rc=$?`);
    assert.match(r.stdout, /rc=1/);
    assert.equal(existsSync(f), true);
  });
  it('the server\'s pid-namespace marker is not in the session: a nested shell would go to the server to be pre-checked, not run at once', async () => {
    const r = await sh(`cat ${server().runDir}/server.pidns; echo rc=$?`);
    assert.doesNotMatch(r.stdout, /pid:\[/);
    assert.match(r.stdout, /rc=1/);
  });
  it('opaque commands are refused (nothing could check them at exec time)', async () => {
    const r = await sh('X=id; $X');
    assert.equal(r.exit_code, 126);
  });
});

describe('full mode on a plain host (server as in a Daytona image, API session in a workspace under /tmp)', { skip }, () => {
  const { server, sh, sid } = sandboxedSession({ sandbox: true });

  it('runs in full mode', async () => {
    assert.match(await eventsOf(server(), 'server_start', /"security_mode":"full"/), /"security_mode":"full"/);
  });
  it('the server\'s pid-namespace marker is bound into the session (execs are intercepted, so a nested shim runs the real shell)', async () => {
    const r = await sh(`cat ${server().runDir}/server.pidns; echo rc=$?`);
    assert.match(r.stdout, /^pid:\[\d+\]\nrc=0\n$/);
  });
  it('a delete in the workspace goes to the trash inside it, which the command cannot see', async () => {
    const f = join(server().workspace, 'doomed.txt');
    writeFileSync(f, 'precious');
    const r = await sh(`rm ${f} && echo rc=$?; ls -A ${server().workspace}/.agentsh_trash | wc -l`);
    assert.match(r.stdout, /rc=0\n0\n/, JSON.stringify(r));
    assert.equal(existsSync(f), false);
    const trash = join(server().workspace, '.agentsh_trash');
    const list = cli(['trash', 'list', '--dir', trash]);
    assert.equal(list.code, 0, list.stderr);
    const line = list.stdout.split('\n').find((l) => l.split('\t')[1] === f);
    assert.ok(line, list.stdout);
    const restored = cli(['trash', 'restore', line.split('\t')[0]!, '--dir', trash]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(readFileSync(f, 'utf8'), 'precious');
  });
  it('a nested sudo is refused at exec time with an audit event naming the rule', async () => {
    const r = await sh(`/usr/bin/python3 -c "import subprocess; subprocess.run(['/usr/bin/sudo','-n','true'])"; echo done`);
    assert.match(r.stdout, /done/);
    assert.match(r.stderr, /Permission denied: '\/usr\/bin\/sudo'/);
    // The audit log is written asynchronously: poll briefly.
    let denied: { decision?: string; rule?: string } | undefined;
    for (let i = 0; i < 40 && !denied; i++) {
      const ev = await server().api('GET', `/api/v1/events?session_id=${sid()}&type=exec`);
      denied = (ev.body as Array<{ decision?: string; rule?: string; fields?: { path?: string } }>).find((e) => e.fields?.path === '/usr/bin/sudo');
      if (!denied) await new Promise((res) => setTimeout(res, 50));
    }
    assert.equal(denied?.decision, 'deny');
    assert.equal(denied?.rule, 'block-shell-escape');
  });
});

// A command held before it starts (here: the session's first command waits for the FUSE view
// to be mounted, ~0.5 s) in a session destroyed meanwhile must never start.
describe('a held command whose session ends before it starts', { skip }, () => {
  const { server, sid } = sandboxedSession({ sandbox: true, env: { AGENTSH_FORCE_UNAVAILABLE: 'seccomp_notify,ptrace' }, extraConfig: '  fuse:\n    enabled: true\n' });

  it('is refused with the reason, and nothing it would have done happens', async () => {
    const marker = join(server().workspace, 'ran.txt');
    const exec = server().api('POST', `/api/v1/sessions/${sid()}/exec`, { command: 'bash', args: ['-c', `echo ran > ${marker}`] });
    await new Promise((res) => setTimeout(res, 100)); // the exec is held waiting for the mount
    const del = await server().api('DELETE', `/api/v1/sessions/${sid()}`);
    assert.equal(del.status, 200, JSON.stringify(del.body));
    const r = (await exec).body as { exit_code: number; stderr: string };
    assert.equal(r.exit_code, 126, JSON.stringify(r));
    assert.match(r.stderr, /session ended before it started/);
    assert.equal(existsSync(marker), false);
    assert.match(await eventsOf(server(), 'command_refused', /"rule":"session_ended"/), /"rule":"session_ended"/);
  });
});
