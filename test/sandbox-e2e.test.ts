// The seed's security demo, asserted: a local sandbox built from the seed's config.yaml and
// default.yaml (test/fixtures/seed, copies of ../shared/seed), commands run the way Daytona's
// toolbox runs them (`/bin/bash -c …` as daytona, through the shim), and for every group both
// the decision and the absence of the side effect, plus variants the demo never tried.
// Needs root (the provider builds namespaces and mounts); skipped with the reason otherwise.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSandbox, type Sandbox } from '../src/sdk/index.js';
import { expectSandboxEvent, sandboxEvents, type AuditEvent } from './sandbox-events.js';

const isRoot = process.getuid?.() === 0;
// The security mode the sandbox must report: full here; test/restricted-runtimes.test.ts reruns
// this file under simulated restricted runtimes (ptrace where a seccomp listener can't be had).
const MODE = process.env.AGENTSH_E2E_MODE ?? 'full';
// Mode landlock (neither user-notify nor ptrace): no exec-time audit events; the outcomes hold.
// What it cannot do is what `agentsh detect` lists under "not enforced" (restricted-runtimes checks that list).
const INTERCEPTS = MODE === 'full' || MODE === 'ptrace';
const noExecAudit = INTERCEPTS ? false : `mode ${MODE}: no exec-time interception, hence no exec audit event (listed by agentsh detect)`;
const skip = isRoot ? false : 'needs root: the local provider builds mount namespaces';
const SEED = new URL('./fixtures/seed/', import.meta.url).pathname.replace('/dist/test/', '/test/');
const root = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-e2e_')));
const tag = `e2e${process.pid}`;
let sb: Sandbox;
let dir = '';

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const HOST_FILES = ['/etc/passwd', '/etc/hostname', '/usr/bin/bash', '/usr/bin/sudo'].filter((p) => existsSync(p));
const hostHashes = new Map<string, string>();

async function run(cmd: string) {
  const r = await sb.exec(cmd);
  return { ...r, all: `${r.stdout}${r.stderr}` };
}

const events = () => sandboxEvents(dir);
const expectEvent = (pred: (e: AuditEvent) => boolean, what: string) => expectSandboxEvent(dir, pred, what);

describe('seed demo on a local sandbox', { skip }, () => {
  before(async () => {
    for (const f of HOST_FILES) hostHashes.set(f, sha(f));
    process.env.AGENTSH_SANDBOX_ROOT = root;
    sb = await createSandbox({ root, config: join(SEED, 'config.yaml'), policy: join(SEED, 'default.yaml'), timeoutMs: 60_000 });
    dir = join(root, sb.id);
    // The first command compiles the Landlock plan for the session (reads the whole tree).
    const warm = await run('true');
    assert.equal(warm.exitCode, 0, warm.all);
  });
  after(async () => {
    await sb?.delete().catch(() => {});
    rmSync(root, { recursive: true, force: true });
    for (const [f, h] of hostHashes) assert.equal(sha(f), h, `host file ${f} changed`);
  });

  describe('diagnostics', () => {
    it(`BASH_ENV is set, kill is not a builtin, detect reports the ${MODE} mode`, async () => {
      const env = await run('echo "$BASH_ENV"; type -t kill || echo not-builtin');
      assert.match(env.stdout, /\/usr\/lib\/agentsh\/bash_startup\.sh/);
      assert.doesNotMatch(env.stdout, /^builtin$/m);
      const d = await run('agentsh detect --json');
      assert.equal(d.exitCode, 0, d.all);
      const j = JSON.parse(d.stdout);
      assert.equal(j.mode, MODE);
      assert.equal(j.source, 'session');
      assert.ok(j.domains.find((x: { domain: string }) => x.domain === 'file').enforced);
    });
  });

  it('${HOME} in the policy is the sandbox user\'s home, not the server\'s', async () => {
    const token = readFileSync(join(dir, 'run', 'api.token'), 'utf8').trim();
    const sessions = await new Promise<Array<{ id: string; vars: Record<string, string> }>>((res, rej) => {
      const req = request({ socketPath: join(dir, 'run', 'agentsh.sock'), path: '/api/v1/sessions', headers: { authorization: `Bearer ${token}` } }, (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => res(JSON.parse(body)));
      });
      req.on('error', rej);
      req.end();
    });
    const shim = sessions.find((x) => x.id.startsWith('shim-'));
    assert.ok(shim, JSON.stringify(sessions));
    assert.equal(shim.vars.HOME, '/home/daytona');
  });

  it('the toolbox refuses variables that would steer the shim (AGENTSH_SHIM_FORCE=0 …)', async () => {
    await assert.rejects(sb.exec(`touch /home/daytona/${tag}-unforced`, { env: { AGENTSH_SHIM_FORCE: '0' } }), /does not accept AGENTSH_SHIM_FORCE/);
    assert.equal(existsSync(join(dir, 'home', `${tag}-unforced`)), false);
  });

  describe('blocked commands', () => {
    for (const [cmd, rule] of [['sudo whoami', 'block-shell-escape'], ['su -c whoami root', 'block-shell-escape']] as const) {
      it(`${cmd}: refused, nothing ran as root, audited with ${rule}`, async () => {
        const r = await run(cmd);
        assert.notEqual(r.exitCode, 0);
        assert.doesNotMatch(r.stdout, /root/);
        await expectEvent((e) => e.rule === rule && e.decision === 'deny', `${cmd} denied by ${rule}`);
      });
    }
    it('kill from the shell is refused and the target lives on', async () => {
      const r = await run('sleep 30 & P=$!; kill -9 $P; sleep 0.2; kill -0 $P && echo alive');
      assert.equal(r.exitCode, 126);
      assert.doesNotMatch(r.stdout, /alive/); // nothing ran at all: the whole script was refused
      await expectEvent((e) => e.rule === 'block-system-commands' || e.rule === 'block-bash-builtins', 'kill denied');
    });
    for (const [how, call] of [
      ['Python subprocess', "subprocess.run(['kill','-9',str(p.pid)])"],
      ['Python subprocess, absolute path', "subprocess.run(['/usr/bin/kill','-9',str(p.pid)])"],
      ['Python via env', "subprocess.run(['env','kill','-9',str(p.pid)])"],
      ['Python via xargs', "subprocess.run(['xargs','kill','-9'], input=str(p.pid).encode())"],
      ['Python via sh -c', "subprocess.run(['sh','-c','kill -9 %d' % p.pid])"],
    ] as const) {
      it(`kill by ${how}: refused, the target process is still alive`, async () => {
        const r = await run(`python3 -c "import subprocess,time
p=subprocess.Popen(['sleep','5'])
try:
    ${call}
except Exception as e:
    print('refused', type(e).__name__)
time.sleep(0.3); print('alive', p.poll() is None)"`);
        assert.match(r.stdout, /alive True/, r.all);
      });
    }
    it('kill via Python os.system: refused, the target process is still alive', async () => {
      const r = await run(`python3 -c "import os,subprocess,time; p=subprocess.Popen(['sleep','5']); rc=os.system('kill -9 %d' % p.pid); time.sleep(0.3); print('rc', rc, 'alive', p.poll() is None)"`);
      assert.match(r.stdout, /alive True/, r.all);
      assert.doesNotMatch(r.stdout, /rc 0 /);
    });
  });

  describe('sudo in every context', () => {
    const variants: Array<[string, string]> = [
      ['via env', 'env sudo whoami'],
      ['via xargs', 'echo whoami | xargs sudo'],
      ['via find -exec', 'find /home/daytona -maxdepth 0 -exec sudo whoami \\;'],
      ['absolute path', '/usr/bin/sudo whoami'],
      ['nested script', `printf '#!/bin/bash\\nsudo whoami\\n' > /tmp/${tag}.sh; bash /tmp/${tag}.sh`],
      ['Python subprocess', `python3 -c "import subprocess; subprocess.run(['sudo','whoami'])"`],
      ['Python os.system', `python3 -c "import os; os.system('sudo whoami')"`],
      ['symlink', `ln -sf /usr/bin/sudo /tmp/${tag}-s; /tmp/${tag}-s whoami`],
      ['copy', `cp /usr/bin/sudo /tmp/${tag}-c && chmod +x /tmp/${tag}-c; /tmp/${tag}-c whoami`],
      ['dynamic loader', '/lib64/ld-linux-x86-64.so.2 /usr/bin/sudo whoami'],
      ['exec -a', 'bash -c "exec -a ls /usr/bin/sudo whoami"'],
      ['Perl', `perl -e 'exec "/usr/bin/sudo", "whoami"; print "exec failed\\n"'`],
      ['Node', `node -e "try { console.log(require('child_process').execFileSync('/usr/bin/sudo',['whoami']).toString()) } catch (e) { console.log('failed', e.code) }"`],
      ['su via Python', `python3 -c "import subprocess; subprocess.run(['/bin/su','-c','id'])"`],
    ];
    for (const [name, cmd] of variants) {
      it(`${name}: sudo never runs`, async () => {
        const r = await run(cmd);
        assert.doesNotMatch(r.stdout, /^root$/m, r.all);
        assert.doesNotMatch(r.all, /uid=0\(root\)/);
      });
    }
    it('a nested exec of sudo is denied at exec time and audited with the rule', { skip: noExecAudit }, async () => {
      await run(`python3 -c "import subprocess; subprocess.run(['sudo','-V'])"`);
      await expectEvent((e) => e.type === 'exec' && e.decision === 'deny' && e.rule === 'block-shell-escape', 'nested sudo exec denied');
    });
    it('an exec the server does not need to decide still runs and is audited with its rule', { skip: noExecAudit }, async () => {
      await run(`python3 -c "import subprocess; subprocess.run(['/usr/bin/true', '${tag}-notice'])"`);
      const e = await expectEvent((x) => x.type === 'exec' && Array.isArray(x.fields?.argv) && (x.fields!.argv as string[]).includes(`${tag}-notice`), 'exec of /usr/bin/true audited');
      assert.equal(e.decision, 'allow');
      assert.equal(e.rule, 'allow-other-commands');
      assert.equal(e.fields?.depth, 1);
    });
    it('a multithreaded process racing the exec path never runs sudo', async () => {
      const py = [
        'import ctypes, os, threading',
        'libc = ctypes.CDLL(None, use_errno=True)',
        'buf = ctypes.create_string_buffer(b"/usr/bin/true\\0" + b"\\0" * 8)',
        'stop = False',
        'def flip():',
        '    while not stop:',
        '        ctypes.memmove(buf, b"/usr/bin/sudo\\0", 14); ctypes.memmove(buf, b"/usr/bin/true\\0", 14)',
        't = threading.Thread(target=flip); t.start()',
        'ran = 0',
        'for i in range(150):',
        '    pid = os.fork()',
        '    if pid == 0:',
        '        argv = (ctypes.c_char_p * 3)(buf.value, b"-n", None)',
        '        libc.execv(buf, argv); os._exit(99)',
        '    _, st = os.waitpid(pid, 0)',
        '    if os.WEXITSTATUS(st) == 0: ran += 1',
        'stop = True; t.join()',
        'print("done", ran)',
      ].join('\n');
      const r = await run(`python3 - <<'EOF'\n${py}\nEOF`);
      assert.match(r.stdout, /done \d+/, r.all);
      assert.doesNotMatch(r.all, /root|sudo:/);
    });
    it('env whoami and a Python ls still work', async () => {
      const w = await run('env whoami');
      assert.equal(w.exitCode, 0, w.all);
      assert.equal(w.stdout.trim(), 'daytona');
      const l = await run(`python3 -c "import subprocess; print(subprocess.run(['ls','/usr/bin'],capture_output=True).returncode)"`);
      assert.equal(l.stdout.trim(), '0', l.all);
    });
  });

  describe('file access', () => {
    const targets = ['/etc', '/usr/bin', '/var'];
    for (const d of targets) {
      const t = `${d}/${tag}`;
      const writes: Array<[string, string]> = [
        ['redirection', `echo x > ${t}`],
        ['cp', `cp /etc/hostname ${t}`],
        ['touch', `touch ${t}`],
        ['tee', `echo x | tee ${t}`],
        ['mkdir', `mkdir ${t}`],
        ['Python', `python3 -c "open('${t}','w').write('x')"`],
        ['rename', `echo x > /tmp/${tag}-mv && mv /tmp/${tag}-mv ${t}`],
        ['/proc/self/root', `echo x > /proc/self/root${t}`],
      ];
      for (const [how, cmd] of writes) {
        it(`write to ${d} by ${how} is blocked and nothing is created`, async () => {
          const r = await run(`${cmd}; test -e ${t} && echo EXISTS`);
          assert.doesNotMatch(r.stdout, /EXISTS/, r.all);
          assert.equal(existsSync(t), false);
        });
      }
    }
    it('dd, chmod and truncate on system files are blocked; the files are unchanged', async () => {
      const r = await run(`dd if=/dev/zero of=/etc/passwd bs=1 count=1; chmod 777 /etc/passwd; truncate -s 0 /etc/passwd; stat -c %a /etc/passwd; wc -c < /etc/passwd`);
      assert.doesNotMatch(r.stdout, /^777$/m);
      assert.doesNotMatch(r.stdout, /^0$/m);
      assert.equal(sha('/etc/passwd'), hostHashes.get('/etc/passwd'));
    });
    it('the redirect into /etc leaves an audit event naming the rule', async () => {
      await run(`echo x > /etc/${tag}-audit`);
      await expectEvent((e) => e.type === 'file_policy' && e.rule === 'default-deny-files' && String(e.fields?.path).endsWith(`${tag}-audit`), 'file_policy for /etc write');
    });
    it('/etc/shadow is unreadable directly, via a symlink and via a hard link', async () => {
      const r = await run(`cat /etc/shadow; ln -sf /etc/shadow /tmp/${tag}-sh; cat /tmp/${tag}-sh; ln /etc/shadow /home/daytona/${tag}-hl; cat /home/daytona/${tag}-hl; python3 -c "print(open('/etc/shadow').read())"`);
      assert.doesNotMatch(r.stdout, /root:/);
      assert.equal(existsSync(join(dir, 'home', `${tag}-hl`)), false);
    });
    it('a script the agent may not read is not read for it either (no analysis oracle)', async () => {
      const r = await run('bash /etc/shadow');
      assert.equal(r.exitCode, 126); // the nested shell's exec is refused (EACCES)
      assert.doesNotMatch(r.all, /root:|\$6\$|\$y\$/);
      if (!INTERCEPTS) return; // the refusal is Landlock's alone: no exec event to look for
      const e = await expectEvent((x) => x.type === 'exec' && x.rule === 'script-unchecked' && String(x.fields?.path).endsWith('/bash'), 'nested shell refused: script unreadable for the caller');
      assert.equal(e.decision, 'deny');
    });
    it('/etc itself stays readable', async () => {
      const r = await run('head -1 /etc/passwd');
      assert.match(r.stdout, /^root:/);
    });
    it('/root is unlistable and /proc/1/environ unreadable', async () => {
      const r = await run('ls /root && echo LISTED; cat /proc/1/environ && echo READ; tr "\\0" "\\n" < /proc/1/environ');
      assert.doesNotMatch(r.stdout, /LISTED|READ|PATH=/);
    });
    it('the workspace and /tmp are writable, /tmp persists between commands', async () => {
      const w = await run(`echo hello > /home/daytona/${tag}.txt && cat /home/daytona/${tag}.txt && echo tmp > /tmp/${tag}.keep`);
      assert.equal(w.exitCode, 0, w.all);
      assert.equal(readFileSync(join(dir, 'home', `${tag}.txt`), 'utf8'), 'hello\n');
      const t = await run(`cat /tmp/${tag}.keep`);
      assert.equal(t.stdout, 'tmp\n');
    });
    it('the control plane is out of reach: no token, no audit log, no trash', async () => {
      const r = await run('ls -A /run/agentsh /var/lib/agentsh /home/daytona/.agentsh_trash; cat /run/agentsh/api.token /var/lib/agentsh/audit.key 2>/dev/null | head -c 200');
      // Listed names only: the run dir shows just what the sandbox binds back (the pid-namespace
      // id and the caller's shim socket); the state dir and the trash are empty.
      const names = r.stdout.split('\n').filter((l) => l && !l.endsWith(':'));
      for (const n of names) assert.ok(['server.pidns', 'shim-1000.sock'].includes(n), `${n} visible: ${r.all}`);
      assert.doesNotMatch(r.stdout, /[0-9a-f]{64}/);
    });
  });

  describe('resources', () => {
    it('a fork bomb is stopped at pids_max and ends with its command; the sandbox keeps serving', async () => {
      const py = 'import os, time\nn = 0\ntry:\n    while n < 5000:\n        if os.fork() == 0:\n            time.sleep(20); os._exit(0)\n        n += 1\nexcept OSError as e:\n    print("stopped at", n, e.errno)';
      const t0 = Date.now();
      const r = await run(`python3 - <<'EOF'\n${py}\nEOF`);
      const m = /stopped at (\d+) 11/.exec(r.stdout);
      assert.ok(m, r.all);
      assert.ok(Number(m[1]) < 100, `forked ${m[1]} (pids_max 100)`);
      assert.ok(Date.now() - t0 < 15_000, 'the sleeping children did not keep the command alive');
      const after = await run('echo still-serving');
      assert.equal(after.stdout, 'still-serving\n');
    });
  });

  describe('soft delete', () => {
    it('rm by relative and absolute path and Python os.remove quarantine; list shows them; restore is byte-exact', async () => {
      const content = randomBytes(4096).toString('base64');
      const w = await run(`cd /home/daytona && echo '${content}' > ${tag}-a && echo b > ${tag}-b && echo c > ${tag}-c && rm ${tag}-a && rm /home/daytona/${tag}-b && python3 -c "import os; os.remove('/home/daytona/${tag}-c')"; echo rc=$?; ls /home/daytona`);
      assert.match(w.stdout, /rc=0/, w.all);
      for (const f of ['a', 'b', 'c']) assert.equal(existsSync(join(dir, 'home', `${tag}-${f}`)), false, `${f} still there`);
      const list = await run('agentsh trash list');
      assert.equal(list.exitCode, 0, list.all);
      const lines = list.stdout.trim().split('\n');
      const entry = lines.find((l) => l.split('\t')[1] === `/home/daytona/${tag}-a`);
      assert.ok(entry, list.stdout);
      assert.match(entry, /^\S+\t\/home\/daytona\/\S+\t\d+ bytes\t\S+ ago$/);
      assert.ok(lines.some((l) => l.split('\t')[1] === `/home/daytona/${tag}-b`));
      assert.ok(lines.some((l) => l.split('\t')[1] === `/home/daytona/${tag}-c`));
      const token = entry.split('\t')[0]!;
      const rs = await run(`agentsh trash restore ${token}`);
      assert.equal(rs.exitCode, 0, rs.all);
      assert.match(rs.stdout, new RegExp(`restored to /home/daytona/${tag}-a`));
      assert.equal(readFileSync(join(dir, 'home', `${tag}-a`), 'utf8'), `${content}\n`);
      await expectEvent((e) => e.type === 'file_soft_deleted' && e.rule === 'soft-delete-workspace', 'soft delete audited');
    });
    for (const [how, del] of [['find -delete', (d: string) => `find ${d} -delete`], ['Python shutil.rmtree', (d: string) => `python3 -c "import shutil; shutil.rmtree('${d}')"`]] as const) {
      it(`a directory tree removed by ${how} is one entry and restores whole, with modes and mtimes`, async () => {
        const d = `/home/daytona/${tag}-tree-${how.length}`;
        const mk = await run(`mkdir -p ${d}/sub && echo a > ${d}/a.txt && head -c 3000 /dev/urandom > ${d}/sub/b.bin && echo c > ${d}/sub/c && chmod 600 ${d}/sub/c && chmod 750 ${d}/sub && touch -d '2001-02-03 04:05:06' ${d}/a.txt ${d}/sub/c ${d}/sub ${d}`);
        assert.equal(mk.exitCode, 0, mk.all);
        const host = join(dir, 'home', d.slice('/home/daytona/'.length));
        const snapshot = () => ['', '/a.txt', '/sub', '/sub/b.bin', '/sub/c'].map((p) => {
          const st = statSync(host + p);
          return [p, st.mode, Math.floor(st.mtimeMs), st.isFile() ? sha(host + p) : ''];
        });
        const before = snapshot();
        const rm = await run(`${del(d)}; echo rc=$?`);
        assert.match(rm.stdout, /rc=0/, rm.all);
        assert.equal(existsSync(host), false);
        const list = await run('agentsh trash list');
        const mine = list.stdout.split('\n').filter((l) => l.split('\t')[1]?.startsWith(d));
        assert.equal(mine.length, 1, list.stdout);
        assert.equal(mine[0]!.split('\t')[1], d);
        const rs = await run(`agentsh trash restore ${mine[0]!.split('\t')[0]}`);
        assert.equal(rs.exitCode, 0, rs.all);
        assert.deepEqual(snapshot(), before);
      });
    }
    it('the agent cannot purge the trash', async () => {
      const r = await run('agentsh trash purge --ttl 0s');
      assert.notEqual(r.exitCode, 0);
      const list = await run('agentsh trash list');
      assert.notEqual(list.stdout.trim(), 'trash empty');
    });
  });

  it('every trashed payload sits in the sandbox\'s trash dir, outside the agent\'s reach', () => {
    const trash = join(dir, 'home', '.agentsh_trash');
    assert.ok(statSync(trash).isDirectory());
    assert.equal(statSync(trash).mode & 0o777, 0o700);
  });
});

describe('the same demo, invoked by an unprivileged user', {
  skip: !isRoot ? 'needs root to switch to uid 65534'
    : !INTERCEPTS ? `mode ${MODE}: the demo asserts exec-time audit events, and unprivileged there is no FUSE view (its mount needs root), so soft delete refuses: limits agentsh detect lists`
    : false,
}, () => {
  it('every check holds (user namespaces own the sandbox; same uid for server and agent)', () => {
    const home = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-e2e-nobody_')));
    try {
      chownSync(home, 65534, 65534);
      const cli = new URL('../../bin/agentsh', import.meta.url).pathname;
      const r = spawnSync(process.execPath, [cli, 'demo', '--json', '--config', join(SEED, 'config.yaml'), '--policy', join(SEED, 'default.yaml')], {
        uid: 65534,
        gid: 65534,
        cwd: home,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, AGENTSH_SANDBOX_ROOT: join(home, 'sbx') },
        encoding: 'utf8',
        timeout: 240_000,
      });
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      const rep = JSON.parse(r.stdout) as { passed: number; failed: number; audit: string; results: Array<{ name: string; pass: boolean }> };
      assert.equal(rep.failed, 0);
      assert.ok(rep.passed >= 30, `${rep.passed} checks`);
      assert.equal(rep.audit, 'read');
      assert.ok(rep.results.find((x) => /agentsh detect: every exec checked/.test(x.name))?.pass, 'detect reports exec-time checks');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
