// A mechanism forced unavailable (AGENTSH_FORCE_UNAVAILABLE=seccomp_notify): the server runs
// commands in the `landlock` mode and the kernel still holds the hard denies — sudo cannot run
// by any route, system paths stay read-only — while what needed user-notify fails closed: a
// delete in a soft-delete area is refused (the file stays), opaque commands are refused.
// Real server, real launcher; root only (namespaces without a user namespace).
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from './server-harness.js';

const skip = process.getuid?.() === 0 ? false : 'needs root';

describe('fallback mode without seccomp user-notify', { skip }, () => {
  let srv: TestServer;
  let sid = '';
  const sh = async (script: string) => {
    const r = await srv.api('POST', `/api/v1/sessions/${sid}/exec`, { command: 'bash', args: ['-c', script] });
    return r.body as { exit_code: number; stdout: string; stderr: string };
  };
  before(async () => {
    srv = await startTestServer({ sandbox: true, env: { AGENTSH_FORCE_UNAVAILABLE: 'seccomp_notify' } });
    const r = await srv.api('POST', '/api/v1/sessions', { workspace: srv.workspace });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    sid = r.body.id;
  });
  after(async () => srv?.stop());

  it('detect-equivalent: the server says landlock mode in its start event', async () => {
    const ev = await srv.api('GET', '/api/v1/events?type=server_start');
    assert.match(JSON.stringify(ev.body), /"security_mode":"landlock"/);
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
    const f = join(srv.workspace, 'keep.txt');
    writeFileSync(f, 'keep');
    const r = await sh(`rm ${f}; echo rc=$?`);
    assert.match(r.stdout, /rc=1/);
    assert.equal(existsSync(f), true);
  });
  it('opaque commands are refused (nothing could check them at exec time)', async () => {
    const r = await sh('X=id; $X');
    assert.equal(r.exit_code, 126);
  });
});
