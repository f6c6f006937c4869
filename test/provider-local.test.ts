// The local provider (src/provider, src/sdk, `agentsh sandbox …`): a sandbox laid out like
// the seed's Daytona image, its server inside the image's namespaces, commands run the way
// Daytona's toolbox runs them (`/bin/bash -c …` as daytona, through the shim). Asserted by
// what the commands see inside *and* by the host staying untouched. Whether a command is
// blocked by policy is not this file's concern (the session sandbox decides that).
//
// Needs root (the rootless path is exercised as uid 65534 in its own test).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { imagePlan, sandboxDirs, withUser } from '../src/provider/image.js';
import { LocalProvider } from '../src/provider/local.js';
import { serializePlan, type MountStep } from '../src/sandbox/launcher.js';
import { buildLauncher } from '../src/sandbox/launcher.js';
import { buildShim } from '../src/shim/build.js';
import { createSandbox, getSandbox, listSandboxes, type Sandbox, type SandboxInfo } from '../src/sdk/index.js';
import { isGone, REPO, SEED_CONFIG, SEED_POLICY } from './helpers.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root (the rootless path is tested as uid 65534 from a root run)';
const root = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-sbx-')));
const env = { AGENTSH_SANDBOX_ROOT: root };

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
const HOST_FILES = ['/bin/bash', '/usr/bin/bash', '/usr/bin/dash', '/etc/passwd', '/etc/group'];

/** The CLI, asynchronously (a running sandbox server must not be blocked by spawnSync). */
function cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const c = spawn(process.execPath, [`${REPO}bin/agentsh`, ...args], { cwd: REPO, env: { ...process.env, AGENTSH_CONFIG: '', ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('close', (code) => resolve({ code, stdout, stderr, ms: performance.now() - t0 }));
  });
}

/** The server: the only child of the namespace's init (launcher → init → server). */
function serverPid(info: SandboxInfo): number {
  const kids = readFileSync(`/proc/${info.initPid}/task/${info.initPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  assert.equal(kids.length, 1, `init ${info.initPid} should have one child, has ${kids.join(',')}`);
  return kids[0]!;
}

/** Whether PID's network namespace has a TCP listener on 127.0.0.1:PORT. */
function listensOn(pid: number, port: number): boolean {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync(`/proc/${pid}/net/tcp`, 'utf8').split('\n').some((l) => {
    const f = l.trim().split(/\s+/);
    return f[1] === want && f[3] === '0A';
  });
}

async function waitGone(pid: number, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (isGone(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return isGone(pid);
}

describe('local provider', { skip }, () => {
  const hostBefore = new Map<string, string>();
  let cliId = '';
  let sdkBox: Sandbox;
  const created: string[] = [];

  before(async () => {
    buildShim();
    buildLauncher();
    for (const f of HOST_FILES) hostBefore.set(f, sha(f));
    assert.equal(existsSync('/usr/bin/agentsh'), false, 'precondition: the host has no /usr/bin/agentsh');

    const r = await cli(['sandbox', 'create', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { id: string; timings: Record<string, number> };
    cliId = out.id;
    created.push(cliId);
    const f = (n: number) => `${n.toFixed(1)} ms`;
    console.log(`# sandbox create (CLI, wall ${f(r.ms)}): prepare ${f(out.timings.prepareMs!)}, launcher+mounts ${f(out.timings.launcherMs!)}, server start ${f(out.timings.serverMs!)}, total in-process ${f(out.timings.totalMs!)}`);

    const t0 = performance.now();
    sdkBox = await createSandbox({ root });
    created.push(sdkBox.id);
    const t = sdkBox.timings!;
    console.log(`# sandbox create (SDK, wall ${f(performance.now() - t0)}): prepare ${f(t.prepareMs)}, launcher+mounts ${f(t.launcherMs)}, server start ${f(t.serverMs)}`);
  });

  after(async () => {
    const p = new LocalProvider({ root });
    for (const id of created) await p.delete(id).catch(() => {});
    rmSync(root, { recursive: true, force: true });
  });

  it('runs commands as daytona in /home/daytona, through the image', async () => {
    const sb = await getSandbox(cliId, { root });
    assert.equal((await sb.exec('id -un')).stdout, 'daytona\n');
    const id = await sb.exec('id -u; id -g');
    assert.equal(id.stdout, '1000\n1000\n');
    assert.equal((await sb.exec('pwd')).stdout, '/home/daytona\n');
    assert.equal((await sb.exec('echo $HOME')).stdout, '/home/daytona\n');
    assert.equal((await sb.exec('hostname')).stdout, `${cliId}\n`);
    const v = await sb.exec('/usr/bin/agentsh --version');
    assert.equal(v.exitCode, 0, v.output);
    assert.equal(v.stdout.trim(), (JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as { version: string }).version);
    const h = await sb.exec('agentsh --help');
    assert.equal(h.exitCode, 0, h.output);
    assert.match(h.stdout, /sandbox/);
    const startup = await sb.exec('cat /usr/lib/agentsh/bash_startup.sh');
    assert.equal(startup.stdout, readFileSync(`${REPO}share/bash_startup.sh`, 'utf8'));
    // The seed's config and policy are the image's.
    assert.equal((await sb.exec('cat /etc/agentsh/config.yaml')).stdout, readFileSync(SEED_CONFIG, 'utf8'));
    assert.equal((await sb.exec('cat /etc/agentsh/policies/default.yaml')).stdout, readFileSync(SEED_POLICY, 'utf8'));
  });

  it('/bin/bash inside is the shim (the command went through the server), bash.real the host shell', async () => {
    const sb = await getSandbox(cliId, { root });
    const r = await sb.exec('echo "sid=$AGENTSH_SESSION_ID"; cmp /usr/bin/bash.real /usr/bin/bash && echo same || echo differ');
    assert.equal(r.exitCode, 0, r.output);
    assert.match(r.stdout, /^sid=\S+\n/, 'a governed command carries its session id');
    assert.match(r.stdout, /differ\n$/);
  });

  it('exit codes, stderr and the interleaved output come back', async () => {
    const sb = await getSandbox(cliId, { root });
    const r = await sb.exec('echo out1; echo err1 >&2; sleep 0.05; echo out2; exit 3');
    assert.equal(r.exitCode, 3);
    assert.equal(r.stdout, 'out1\nout2\n');
    assert.equal(r.stderr, 'err1\n');
    assert.equal(r.output.split('\n').filter(Boolean).sort().join(','), 'err1,out1,out2');
    assert.ok(r.output.endsWith('out2\n'), r.output);
    // Body env reaches the command through the governed path, filtered by the policy's env_policy.
    const e = await sb.exec('echo "$NODE_ENV/$GREETING" in $PWD', { env: { NODE_ENV: 'hello', GREETING: 'filtered' }, cwd: '/tmp' });
    assert.equal(e.stdout, 'hello/ in /tmp\n');
    const t0 = Date.now();
    const slow = await sb.exec('echo start; sleep 10; echo never', { timeoutMs: 300 });
    assert.equal(slow.exitCode, 124);
    assert.equal(slow.stdout, 'start\n');
    assert.ok(Date.now() - t0 < 5000, `timed out after ${Date.now() - t0} ms`);
  });

  it("files land in the sandbox's directory, never in the host's", async () => {
    const sb = await getSandbox(cliId, { root });
    const tag = `x-${process.pid}-${Date.now()}`;
    const r = await sb.exec(`echo ${tag} > /home/daytona/x && echo ${tag} > /tmp/t && cat /home/daytona/x`);
    assert.equal(r.exitCode, 0, r.output);
    assert.equal(readFileSync(join(root, cliId, 'home', 'x'), 'utf8'), `${tag}\n`);
    // /tmp is the sandbox's (the session sandbox may give each session its own, under the state dir).
    const found = (readdirSync(join(root, cliId), { recursive: true }) as string[]).filter((f) => f.endsWith('/t') && readFileSync(join(root, cliId, f), 'utf8') === `${tag}\n`);
    assert.equal(found.length, 1, `one /tmp/t under the sandbox dir: ${found.join(', ')}`);
    assert.equal((await sb.exec('cat /tmp/t')).stdout, `${tag}\n`);
    assert.equal(existsSync('/home/daytona'), false);
    assert.equal(existsSync('/home/x'), false);
    assert.notEqual(existsSync('/tmp/t') && readFileSync('/tmp/t', 'utf8'), `${tag}\n`);
    // The other sandbox has its own home.
    assert.equal((await sdkBox.exec('cat /home/daytona/x 2>/dev/null || echo none')).stdout, 'none\n');
  });

  it('two sandboxes at once: separate network namespaces, each server on the seed port 127.0.0.1:18080', async () => {
    const a = new LocalProvider({ root }).get(cliId);
    const b = await sdkBox.info();
    const [pa, pb] = [serverPid(a), serverPid(b)];
    const ns = (pid: number | 'self') => readlinkSync(`/proc/${pid}/ns/net`);
    assert.notEqual(ns(pa), ns(pb));
    assert.notEqual(ns(pa), ns('self'));
    assert.ok(listensOn(pa, 18080), 'sandbox A listens on 127.0.0.1:18080');
    assert.ok(listensOn(pb, 18080), 'sandbox B listens on 127.0.0.1:18080');
    const [ra, rb] = await Promise.all([(await getSandbox(cliId, { root })).exec('echo a'), sdkBox.exec('echo b')]);
    assert.equal(ra.stdout + rb.stdout, 'a\nb\n');
  });

  it('the CLI: list, exec with the exit code, unknown id and provider', async () => {
    const l = await cli(['sandbox', 'list', '--json']);
    assert.equal(l.code, 0, l.stderr);
    const list = JSON.parse(l.stdout) as SandboxInfo[];
    assert.deepEqual(list.map((s) => s.id).sort(), [cliId, sdkBox.id].sort());
    assert.ok(list.every((s) => s.state === 'running' && s.provider === 'local'));
    assert.deepEqual((await listSandboxes({ root })).map((s) => s.id).sort(), [cliId, sdkBox.id].sort());

    const e = await cli(['sandbox', 'exec', cliId, '--', 'echo hello; echo oops >&2; exit 7']);
    assert.equal(e.code, 7, e.stderr);
    assert.equal(e.stdout, 'hello\noops\n');

    const u = await cli(['sandbox', 'exec', 'sb-0000000000', '--', 'true']);
    assert.equal(u.code, 1);
    assert.match(u.stderr, /no sandbox 'sb-0000000000'/);
    const d = await cli(['sandbox', 'delete', '../etc']);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /no sandbox/);
    const p = await cli(['sandbox', 'create', '--provider', 'e2b']);
    assert.equal(p.code, 2);
    assert.match(p.stderr, /unknown sandbox provider 'e2b'/);
  });

  it('delete stops the server and removes the directory (CLI and SDK)', async () => {
    for (const [id, del] of [
      [cliId, async () => assert.equal((await cli(['sandbox', 'delete', cliId])).code, 0)],
      [sdkBox.id, () => sdkBox.delete()],
    ] as const) {
      const info = new LocalProvider({ root }).get(id);
      const server = serverPid(info);
      await del();
      assert.equal(existsSync(join(root, id)), false);
      assert.ok(await waitGone(info.pid), `launcher ${info.pid} gone`);
      assert.ok(await waitGone(info.initPid!), `init ${info.initPid} gone`);
      assert.ok(await waitGone(server), `server ${server} gone`);
    }
    assert.deepEqual(await listSandboxes({ root }), []);
    const again = await cli(['sandbox', 'delete', cliId]);
    assert.equal(again.code, 1);
  });

  it('the host is untouched', () => {
    for (const [f, h] of hostBefore) assert.equal(sha(f), h, `${f} unchanged`);
    assert.equal(existsSync('/usr/bin/agentsh'), false);
    assert.equal(existsSync('/usr/bin/bash.real'), false);
    assert.equal(existsSync('/var/lib/agentsh'), false);
    assert.equal(existsSync('/etc/agentsh'), false);
  });
});

describe('local provider, rootless (uid 65534)', { skip }, () => {
  const own = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-sbx-nobody-')));
  after(() => rmSync(own, { recursive: true, force: true }));

  it('creates a sandbox, runs commands as daytona (= the caller) and deletes it', async (t) => {
    buildShim();
    buildLauncher();
    chownSync(own, 65534, 65534);
    const script = `
      import { createSandbox } from ${JSON.stringify(`${REPO}dist/src/sdk/index.js`)};
      const out = {};
      let sb;
      try {
        sb = await createSandbox({ root: ${JSON.stringify(join(own, 'sandboxes'))} });
        out.timings = sb.timings;
        for (const c of ['id -un', 'id -u', 'pwd', 'echo $HOME', 'echo hi > /home/daytona/x && cat /home/daytona/x']) out[c] = await sb.exec(c);
        out.homeFile = (await import('node:fs')).readFileSync(${JSON.stringify(join(own, 'sandboxes'))} + '/' + sb.id + '/home/x', 'utf8');
        out.info = await sb.info();
      } catch (e) { out.error = String(e && e.message || e); }
      try { if (sb) { await sb.delete(); out.deleted = true; } } catch (e) { out.deleteError = String(e.message); }
      process.stdout.write(JSON.stringify(out));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { uid: 65534, gid: 65534, cwd: '/', env: { PATH: process.env.PATH, HOME: own }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Record<string, { stdout?: string; exitCode?: number } & Record<string, unknown>>;
    if (out.error) t.diagnostic(`rootless create failed: ${String(out.error)}`);
    assert.equal(out.error, undefined, String(out.error));
    const tm = out.timings as unknown as Record<string, number>;
    console.log(`# rootless sandbox create: prepare ${tm.prepareMs!.toFixed(1)} ms, launcher+mounts ${tm.launcherMs!.toFixed(1)} ms, server start ${tm.serverMs!.toFixed(1)} ms`);
    assert.equal(out['id -un']!.stdout, 'daytona\n');
    assert.equal(out['id -u']!.stdout, '65534\n');
    assert.equal(out.pwd!.stdout, '/home/daytona\n');
    assert.equal(out['echo $HOME']!.stdout, '/home/daytona\n');
    assert.equal(out.homeFile, 'hi\n');
    assert.equal(out.deleted, true, String(out.deleteError));
    const info = out.info as unknown as SandboxInfo;
    assert.ok(await waitGone(info.pid), 'launcher gone');
    assert.equal(existsSync(join(own, 'sandboxes', info.id)), false);
  });
});

describe('local provider image plan (no root needed)', () => {
  const host = {
    topLevel: [{ name: 'bin', kind: 'link' as const }, { name: 'etc', kind: 'dir' as const }, { name: 'home', kind: 'dir' as const }, { name: 'proc', kind: 'dir' as const }, { name: 'tmp', kind: 'dir' as const }, { name: 'usr', kind: 'dir' as const }, { name: 'var', kind: 'dir' as const }],
    varLib: [{ name: 'dpkg', kind: 'dir' as const }, { name: 'app-info', kind: 'link' as const }],
    mountPoints: ['/', '/etc/resolv.conf', '/etc/hosts', '/proc'],
  };
  const inputs = (sandboxRoot: string, rootless = false) => ({
    id: 'sb-0123456789', dirs: sandboxDirs(`${sandboxRoot}/sb-0123456789`), identity: { uid: 1000, gid: 1000 }, repoRoot: '/src/agentsh', nodePath: '/usr/bin/node',
    shimBinary: '/x/shim', configFile: '/x/c.yaml', policyFile: '/x/p.yaml', sandboxRoot, rootless, host,
  });
  const at = (mounts: MountStep[] | undefined, path: string) => (mounts ?? []).filter((m) => m.kind !== 'proc' && m.path === path);

  it('binds the host read-only except the replaced directories, and adds the image on top', () => {
    const plan = imagePlan(inputs('/tmp/r'));
    assert.deepEqual(plan.unshare, ['mount', 'pid', 'ipc', 'uts', 'net']);
    assert.equal(plan.netLo, true);
    assert.equal(plan.hostname, 'sb-0123456789');
    assert.equal(plan.userMap, undefined);
    for (const p of ['/bin', '/etc', '/usr', '/var']) assert.deepEqual(at(plan.mounts, p)[0], { kind: 'bind', path: p, mode: 'ro' });
    for (const p of ['/home', '/proc', '/tmp']) assert.ok(!at(plan.mounts, p).some((m) => m.kind === 'bind' && m.source === undefined), `${p} is not the host's`);
    assert.deepEqual(at(plan.mounts, '/home/daytona'), [{ kind: 'bind', path: '/home/daytona', mode: 'rw', source: '/tmp/r/sb-0123456789/home' }]);
    assert.deepEqual(at(plan.mounts, '/usr/lib/agentsh/app'), [{ kind: 'bind', path: '/usr/lib/agentsh/app', mode: 'ro', source: '/src/agentsh' }]);
    assert.deepEqual(at(plan.mounts, '/var/lib'), [{ kind: 'overlay', path: '/var/lib', layers: ['/tmp/r/sb-0123456789/layers/var-lib', '/var/lib'] }]);
    assert.deepEqual(at(plan.mounts, '/etc/resolv.conf'), [{ kind: 'bind', path: '/etc/resolv.conf', mode: 'ro', optional: true }], 'a mount below an overlaid dir is bound again');
    assert.deepEqual(at(plan.mounts, '/etc/hosts'), [], "the image's own /etc/hosts wins");
    assert.deepEqual(at(plan.mounts, '/dev/stdout'), [{ kind: 'symlink', path: '/dev/stdout', target: '/proc/self/fd/1' }]);
    assert.doesNotThrow(() => serializePlan(plan));
  });

  it('/var/lib from binds when the layers would nest inside it (the default root as root); the sandbox root hidden', () => {
    const plan = imagePlan(inputs('/var/lib/agentsh-local/sandboxes'));
    assert.deepEqual(at(plan.mounts, '/var/lib').map((m) => m.kind), ['tmpfs']);
    assert.deepEqual(at(plan.mounts, '/var/lib/dpkg'), [{ kind: 'bind', path: '/var/lib/dpkg', mode: 'ro' }]);
    assert.deepEqual(at(plan.mounts, '/var/lib/agentsh'), [{ kind: 'bind', path: '/var/lib/agentsh', mode: 'rw', source: '/var/lib/agentsh-local/sandboxes/sb-0123456789/state' }]);
    assert.deepEqual(at(plan.mounts, '/var/lib/agentsh-local/sandboxes'), [{ kind: 'tmpfs', path: '/var/lib/agentsh-local/sandboxes', mode: 0o755, readOnly: true }]);
    // overlayfs refuses a layer nested inside another layer of the same overlay (ELOOP).
    for (const m of plan.mounts ?? []) if (m.kind === 'overlay') for (const a of m.layers) for (const b of m.layers) assert.ok(a === b || !a.startsWith(`${b}/`), `${a} inside ${b}`);
  });

  it('rootless: a user namespace that keeps the caller itself', () => {
    const plan = imagePlan(inputs('/tmp/r', true));
    assert.deepEqual(plan.unshare, ['user', 'mount', 'pid', 'ipc', 'uts', 'net']);
    assert.equal(plan.userMap, 'identity');
  });

  it('passwd: the daytona entry replaces any entry with its name or id', () => {
    const host = 'root:x:0:0:root:/root:/bin/bash\ncloudsdk:x:1000:1000::/home/cloudsdk:/bin/bash\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n';
    assert.equal(withUser(host, 'daytona', 1000, 'daytona:x:1000:1000::/home/daytona:/bin/bash'), 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\ndaytona:x:1000:1000::/home/daytona:/bin/bash\n');
  });
});
