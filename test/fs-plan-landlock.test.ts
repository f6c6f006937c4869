// Globs matching at any depth (`**/.env`, `**/.netrc`) before a broad allow, enforced by the real
// kernel: the fs plan compiled from this machine's tree, through buildSessionPlan, run by the
// launcher. Every existing secret is refused (Landlock, or a mask mount), the workspace stays
// usable, and what the plan reports as not kernel-enforced (a matching file created later) is
// exactly what happens. Then the seed with its credential rules first through a real server
// (mode full), which failed every command with E2BIG before. Needs root (mount and pid
// namespaces); skipped with the reason otherwise.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compileFsPlan, type FsPlan } from '../src/sandbox/fs-plan.js';
import { buildLauncher, probeLauncher, runInSandbox, serializePlan } from '../src/sandbox/launcher.js';
import { buildSessionPlan } from '../src/sandbox/session-plan.js';
import { seedCredentialsFirst } from './fs-plan-policies.js';
import { engineFor } from './helpers.js';
import { eventsOf, startTestServer, type TestServer } from './server-harness.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root: the session plan creates mount and pid namespaces without a user namespace';
const SECRET = `deep-secret-${process.pid}`;

const POLICY = `
version: 1
name: deep-first
file_rules:
  - name: secrets
    paths: ["**/.env", "**/.env.*", "**/.netrc"]
    operations: ["*"]
    decision: deny
  - name: workspace
    paths: ["\${PROJECT_ROOT}", "\${PROJECT_ROOT}/**"]
    operations: ["*"]
    decision: allow
  - name: system
    paths: ["/usr/**", "/etc/**", "/lib/**", "/lib64/**", "/bin/**", "/sbin/**"]
    operations: [read, open, stat, list, readlink]
    decision: allow
  - name: devices
    paths: ["/dev/**"]
    operations: [read, open, stat, list, write]
    decision: allow
  - name: rest
    paths: ["**"]
    operations: ["*"]
    decision: deny
command_rules:
  - name: all
    commands: ["*"]
    decision: allow
`;

describe('fs plan with deep deny globs first, enforced by the kernel', { skip }, () => {
  let base = '';
  let ws = '';
  let launcher = '';
  let abi = 0;
  const files: Record<string, string> = {};

  before(() => {
    launcher = buildLauncher();
    abi = Number(/^landlock abi (\d+)/m.exec(probeLauncher(launcher).join('\n'))?.[1] ?? 0);
    base = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-deep-')));
    ws = join(base, 'ws');
    Object.assign(files, {
      'a.txt': 'hello\n',
      '.env': `${SECRET}-1\n`,
      'sub/.netrc': `${SECRET}-2\n`,
      'node_modules/p2/.env.production': `${SECRET}-3\n`,
      'src/main.js': 'main\n',
    });
    for (let i = 0; i < 300; i++) files[`node_modules/p${i}/index.js`] = `p${i}\n`;
    for (const [f, text] of Object.entries(files)) {
      mkdirSync(dirname(join(ws, f)), { recursive: true });
      writeFileSync(join(ws, f), text);
    }
    writeFileSync(join(base, 'mask'), '');
    chmodSync(join(base, 'mask'), 0);
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  async function run(fs: FsPlan, script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const plan = buildSessionPlan({ fs, maskSource: join(base, 'mask'), workspace: ws, cwd: ws, tmpDir: null, hidden: [], exposed: [], userns: false, notify: [], keepFds: [] });
    if (abi < 6 && plan.landlock) delete plan.landlock.scope;
    assert.ok(Buffer.byteLength(serializePlan(plan)) < 64 << 10, 'a small plan');
    const child = runInSandbox(plan, ['/bin/bash', '-c', script], { launcher, program: '/bin/bash', env: { PATH: '/usr/bin:/bin', LANG: 'C' } });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    const report = await child.report;
    assert.equal(report.failed, undefined, report.lines.join('\n'));
    return { code, stdout, stderr };
  }

  for (const mask of [false, true]) {
    it(`existing secrets are refused by the kernel, the workspace works, the reported gap is real (${mask ? 'masks' : 'Landlock only'})`, async () => {
      const engine = engineFor(POLICY, { PROJECT_ROOT: ws, GIT_ROOT: ws, HOME: ws });
      const t0 = performance.now();
      const fs = compileFsPlan(engine.policy, { workspace: ws, engine, maskFiles: mask });
      const ms = performance.now() - t0;
      const secrets = Object.keys(files).filter((f) => files[f]!.startsWith(SECRET)).map((f) => join(ws, f));
      assert.deepEqual(fs.masked.filter((p) => p.startsWith(`${ws}/`)).sort(), mask ? secrets.sort() : []);
      const gaps = fs.notKernelEnforced.filter((g) => g.rule === 'secrets');
      assert.deepEqual(gaps.map((g) => g.gap).sort(), ['created-later', 'new-names']);
      // What the report says about src/ (granted whole in both variants): a new `.env` there can be created, read and written.
      const src = join(ws, 'src');
      const covers = (gap: string, right: string) => gaps.find((g) => g.gap === gap)!.under.some((u) => (src === u.path || src.startsWith(`${u.path}/`)) && u.rights.includes(right as never));
      assert.ok(covers('new-names', 'create') && covers('created-later', 'read') && covers('created-later', 'write'), JSON.stringify(gaps));
      const script = [
        'for f in a.txt .env sub/.netrc node_modules/p2/.env.production node_modules/p1/index.js; do cat "$f" || echo "refused $f"; done',
        // Other names for a secret: a hard link, a rename, a copy (all refused, or unreadable).
        'ln .env leak 2>/dev/null; cat leak 2>/dev/null || echo "refused leak"',
        'mv sub/.netrc sub/moved 2>/dev/null; cat sub/moved 2>/dev/null || echo "refused moved"',
        'cp node_modules/p2/.env.production copy 2>/dev/null; cat copy 2>/dev/null || echo "refused copy"',
        'ls node_modules | wc -l',
        'echo new > src/new.txt && cat src/new.txt',
        'echo top > top.txt 2>/dev/null && cat top.txt || echo "refused top.txt"',
        // The reported gap: a `.env` created after the plan was compiled is not refused by the kernel.
        'echo mine > src/.env && cat src/.env',
      ].join('\n');
      const r = await run(fs, script);
      assert.doesNotMatch(r.stdout + r.stderr, new RegExp(SECRET), 'no secret reached the command');
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(lines.slice(0, 5), ['hello', 'refused .env', 'refused sub/.netrc', 'refused node_modules/p2/.env.production', 'p1']);
      assert.deepEqual(lines.slice(5, 8), ['refused leak', 'refused moved', 'refused copy']);
      assert.equal(lines[8], '300');
      assert.equal(lines[9], 'new');
      // Without masks the workspace root holds a secret, so it is granted per child: a new file
      // there gets nothing (the plan's "tree at plan time" warning); with masks it is whole.
      assert.equal(lines[10], mask ? 'top' : 'refused top.txt');
      assert.equal(lines[11], 'mine', 'the gap the plan reports (new-names / created-later) is real');
      assert.equal(lines.length, 12, r.stdout + r.stderr);
      for (const f of ['src/.env', 'src/new.txt', 'top.txt', 'leak', 'copy']) rmSync(join(ws, f), { force: true });
      console.log(`# ${mask ? 'masks' : 'landlock'}: compiled in ${Math.round(ms)} ms, ${fs.grants.length} grants, ${fs.masked.length} masks`);
    });
  }
});

describe('the seed with its credential rules first, through a real server (mode full)', { skip }, () => {
  let srv: TestServer | undefined;
  let sid = '';
  before(async () => {
    srv = await startTestServer({ policy: seedCredentialsFirst(), sandbox: true });
    mkdirSync(join(srv.workspace, 'src'));
    writeFileSync(join(srv.workspace, '.env'), `${SECRET}-ws\n`);
    writeFileSync(join(srv.workspace, 'src', 'a.txt'), 'hello\n');
    const r = await srv.api('POST', '/api/v1/sessions', { workspace: srv.workspace });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    sid = r.body.id;
  });
  after(async () => srv?.stop());

  it('commands run; the existing .env is refused by the kernel; the workspace is writable', async () => {
    const ws = srv!.workspace;
    const script = [
      `/usr/bin/python3 -c "print(open('${ws}/.env').read())" 2>&1 | tail -1`,
      `cat ${ws}/src/a.txt`,
      `echo new > ${ws}/src/new.txt && cat ${ws}/src/new.txt`,
      `echo top > ${ws}/top.txt && cat ${ws}/top.txt`,
    ].join('; ');
    const r = (await srv!.api('POST', `/api/v1/sessions/${sid}/exec`, { command: 'bash', args: ['-c', script] })).body as { exit_code: number; stdout: string; stderr: string };
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(SECRET));
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /PermissionError/, JSON.stringify(r));
    assert.deepEqual(lines.slice(1), ['hello', 'new', 'top'], JSON.stringify(r));
    assert.equal(r.exit_code, 0, JSON.stringify(r));
  });

  it('what the kernel does not refuse is said: server log, an audit warning, and the session\'s detect', async () => {
    assert.match(srv!.stderr(), new RegExp(`session ${sid}: not kernel-enforced: approve-env-files \\(approve\\): creating \\(or renaming to\\) a name matching`));
    const warn = await eventsOf(srv!, 'audit_warning', /not_kernel_enforced/);
    const ev = (JSON.parse(warn) as Array<{ session_id?: string; fields?: { not_kernel_enforced?: string[] } }>).find((e) => e.session_id === sid && e.fields?.not_kernel_enforced);
    assert.ok(ev?.fields?.not_kernel_enforced?.some((g) => g.startsWith('not kernel-enforced: approve-env-files')), warn);
    const d = (await srv!.api('GET', `/api/v1/sessions/${sid}/detect`)).body as { limits: string[] };
    assert.ok(d.limits.some((l) => /^not kernel-enforced: approve-env-files \(approve\)/.test(l)), JSON.stringify(d.limits));
  });
});
