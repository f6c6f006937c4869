// The FUSE workspace view (src/fuse): a real mount on the real kernel, used as production does
// — the daemon mounts in one mount namespace, each command runs in a namespace of its own where
// the mountpoint is bound over the workspace's real path, as uid 65534 — and the decision layer
// alone (no mount) for what a mount can't easily stage: a directory swapped for a symlink under
// the daemon, the audit modes, hard links that would widen access.
//
// Everything mounted lives in a private mount namespace this file creates (`unshare --mount
// --propagation private`, the driver below): the host's mount table never sees it, and the
// namespace disappears with its processes. The assertions look at the host's real directory:
// what exists on disk, with which owner and content.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, renameSync,
  rmSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { toErrno, WorkspaceView as Decisions, type DaemonLine } from '../src/fuse/daemon.js';
import { fuseAvailable, fuseConfigState, fuseViewSettings, isMounted, type FuseAuditEvent, type FuseTrashed, type WorkspaceView } from '../src/fuse/workspace-view.js';
import { trashFull } from '../src/trash/space.js';
import { isGone } from './helpers.js';

const SELF = fileURLToPath(import.meta.url);
const NOBODY = 65534;

const POLICY = `version: 1
name: fuse-test
file_rules:
  - name: deny-blocked
    paths: ["\${PROJECT_ROOT}/blocked/**"]
    operations: [write, create, mkdir, delete, rmdir, rename, symlink, link, chmod, chown, mknod]
    decision: deny
  - name: audit-notes
    paths: ["\${PROJECT_ROOT}/notes/**"]
    operations: [write, create]
    decision: audit
  - name: soft-delete-workspace
    paths: ["\${PROJECT_ROOT}/**"]
    operations: [delete, rmdir]
    decision: soft_delete
  - name: allow-workspace
    paths: ["\${PROJECT_ROOT}", "\${PROJECT_ROOT}/**"]
    operations: ["*"]
    decision: allow
`;

// ------------------------------------------------------------------------------ the driver
//
// Runs inside the private mount namespace (this file, re-executed with --fuse-driver): starts
// the view and answers JSON requests on stdin, one line each, with one line on stdout.

interface Reply {
  id: number;
  error?: string;
  [k: string]: unknown;
}

async function driver(): Promise<void> {
  const { startWorkspaceView } = await import('../src/fuse/workspace-view.js');
  let view: WorkspaceView | null = null;
  let paths = { ws: '', mnt: '' };
  const audits: FuseAuditEvent[] = [];
  const trashed: FuseTrashed[] = [];
  const errors: string[] = [];
  const bg = new Map<number, Promise<{ code: number | null; out: string }>>();
  const children = new Set<ChildProcess>();
  const out = (o: Reply) => process.stdout.write(`${JSON.stringify(o)}\n`);

  // A command as production runs one: its own mount namespace with the view bound over the
  // workspace's real path, the trash in it covered by an empty read-only tmpfs as the launcher
  // covers the control plane (unless `bare`: the view's own hiding alone), cwd in the
  // workspace, uid/gid 65534, a clean environment.
  const run = (cmd: string, opts: { coverTrash?: boolean } = {}, timeoutMs = 20_000) => {
    const cover = opts.coverTrash === false ? '' : ' && mount -t tmpfs -o ro,mode=0555,size=64k agentsh-hidden "$2/.agentsh_trash"';
    const script = `mount --bind "$1" "$2"${cover} && cd "$2" && exec setpriv --reuid=65534 --regid=65534 --clear-groups -- env -i PATH=/usr/bin:/bin HOME="$2" LANG=C sh -c "$3"`;
    const child = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'agentsh-fuse-cmd', paths.mnt, paths.ws, cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let text = '';
    child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    return new Promise<{ code: number | null; out: string }>((res) =>
      child.on('close', (code) => {
        clearTimeout(timer);
        children.delete(child);
        res({ code, out: text });
      }),
    );
  };

  const handle = async (req: { id: number; op: string; [k: string]: unknown }): Promise<Reply> => {
    switch (req.op) {
      case 'start': {
        paths = { ws: req.ws as string, mnt: req.mnt as string };
        view = await startWorkspaceView({
          workspace: paths.ws,
          mountpoint: paths.mnt,
          policyFile: req.policy as string,
          vars: req.vars as Record<string, string>,
          trashDir: req.trash as string,
          onAudit: (e) => audits.push(e),
          onTrashed: (t) => trashed.push(t),
          onError: (m) => errors.push(m),
        });
        return { id: req.id, pid: view.pid, mountpoint: view.mountpoint, mounted: isMounted(view.mountpoint) };
      }
      case 'sh':
        return { id: req.id, ...(await run(req.cmd as string, { coverTrash: req.coverTrash !== false })) };
      case 'bg': {
        const n = bg.size + 1;
        bg.set(n, run(req.cmd as string));
        return { id: req.id, bg: n };
      }
      case 'wait':
        return { id: req.id, ...(await bg.get(req.bg as number)!) };
      case 'events':
        return { id: req.id, audits, trashed, errors };
      case 'kill': {
        process.kill(view!.pid, 'SIGKILL');
        for (let i = 0; i < 200 && !isGone(view!.pid); i++) await new Promise((r) => setTimeout(r, 10));
        return { id: req.id, gone: isGone(view!.pid) };
      }
      case 'alive':
        return { id: req.id, alive: view?.alive() ?? false };
      case 'eof': {
        // A daemon whose server goes away (its stdin closes) unmounts and exits on its own.
        const mnt = req.mnt as string;
        mkdirSync(mnt, { recursive: true });
        const daemon = spawn(process.execPath, [fileURLToPath(new URL('../src/fuse/daemon.js', import.meta.url))], { stdio: ['pipe', 'pipe', 'inherit'] });
        daemon.stdin!.write(`${JSON.stringify({ source: req.ws, mountpoint: mnt, workspace: req.ws, policyFile: req.policy, vars: { PROJECT_ROOT: req.ws }, trashDir: null })}\n`);
        const first = await new Promise<string>((res) => createInterface({ input: daemon.stdout! }).once('line', res));
        const mountedBefore = isMounted(mnt);
        const exited = new Promise<number | null>((res) => daemon.once('exit', res));
        daemon.stdin!.end();
        const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 10_000).unref())]);
        if (code === 'timeout') daemon.kill('SIGKILL');
        return { id: req.id, first, mountedBefore, code, mountedAfter: isMounted(mnt) };
      }
      case 'stop': {
        const mp = view?.mountpoint ?? '';
        await view?.stop();
        return { id: req.id, mounted: mp ? isMounted(mp) : false };
      }
      default:
        return { id: req.id, error: `unknown op ${req.op}` };
    }
  };

  const finish = async () => {
    for (const c of children) c.kill('SIGKILL');
    await view?.stop().catch(() => {});
    process.exit(0);
  };
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      const req = JSON.parse(line) as { id: number; op: string };
      handle(req).then(out, (e: Error) => out({ id: req.id, error: e.message }));
    })
    .on('close', () => void finish());
}

// ------------------------------------------------------------------------------ the tests

class DriverClient {
  private next = 1;
  private readonly pending = new Map<number, (r: Reply) => void>();
  readonly proc: ChildProcess;
  stderr = '';

  constructor() {
    this.proc = spawn('unshare', ['--mount', '--propagation', 'private', process.execPath, SELF, '--fuse-driver'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr!.on('data', (c: Buffer) => (this.stderr = (this.stderr + c.toString()).slice(-4000)));
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      const r = JSON.parse(line) as Reply;
      this.pending.get(r.id)?.(r);
      this.pending.delete(r.id);
    });
  }

  async req(op: string, args: Record<string, unknown> = {}): Promise<Reply> {
    const id = this.next++;
    const p = new Promise<Reply>((res) => this.pending.set(id, res));
    this.proc.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`);
    const r = await p;
    if (r.error) throw new Error(`driver ${op}: ${r.error}\n${this.stderr}`);
    return r;
  }

  async sh(cmd: string, coverTrash = true): Promise<{ code: number; out: string }> {
    const r = await this.req('sh', { cmd, coverTrash });
    return { code: r.code as number, out: r.out as string };
  }

  async events(): Promise<{ audits: FuseAuditEvent[]; trashed: FuseTrashed[]; errors: string[] }> {
    const r = await this.req('events');
    return { audits: r.audits as FuseAuditEvent[], trashed: r.trashed as FuseTrashed[], errors: r.errors as string[] };
  }
}

function tool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (FUSE mounts and mount namespaces)';
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse';
  for (const t of ['unshare', 'setpriv', 'mount']) if (!tool(t)) return `no ${t}`;
  const f = fuseAvailable();
  return f.ok ? false : (f.reason ?? 'FUSE unavailable');
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A writable directory on another file system than tmpdir(), if there is one. */
function otherFs(): string | null {
  const r = spawnSync('stat', ['-c', '%d', '/dev/shm', tmpdir()], { encoding: 'utf8' });
  const [a, b] = r.stdout.trim().split('\n');
  return r.status === 0 && a !== b ? '/dev/shm' : null;
}

if (process.argv.includes('--fuse-driver')) {
  void driver();
} else {
  const skip = skipReason();

  describe('FUSE workspace view on a real mount', { skip }, () => {
    let tmp = '';
    let ws = '';
    let trash = '';
    let d: DriverClient;
    let daemonPid = 0;

    before(async () => {
      tmp = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-fuse-')));
      chmodSync(tmp, 0o755);
      ws = join(tmp, 'ws');
      trash = join(ws, '.agentsh_trash');
      for (const dir of [ws, join(ws, 'blocked'), join(ws, 'notes')]) mkdirSync(dir, { recursive: true });
      writeFileSync(join(ws, 'blocked', 'kept.txt'), 'protected\n');
      chownSync(ws, NOBODY, NOBODY);
      for (const p of ['blocked', 'blocked/kept.txt', 'notes']) chownSync(join(ws, p), NOBODY, NOBODY);
      mkdirSync(join(tmp, 'sig'), { mode: 0o777 });
      chmodSync(join(tmp, 'sig'), 0o777);
      writeFileSync(join(tmp, 'outside.txt'), 'outside\n', { mode: 0o644 });
      writeFileSync(join(tmp, 'big.bin'), randomBytes(20 * 1024 * 1024), { mode: 0o644 });
      writeFileSync(join(tmp, 'policy.yaml'), POLICY);
      d = new DriverClient();
      const r = await d.req('start', {
        ws,
        mnt: join(tmp, 'mnt'),
        policy: join(tmp, 'policy.yaml'),
        vars: { PROJECT_ROOT: ws, GIT_ROOT: ws, HOME: ws },
        trash,
      });
      daemonPid = r.pid as number;
      assert.equal(r.mounted, true);
    });

    after(async () => {
      try {
        if (d && d.proc.exitCode === null) {
          await Promise.race([d.req('stop'), new Promise((r) => setTimeout(r, 10_000).unref())]).catch(() => {});
          d.proc.stdin!.end();
          await Promise.race([new Promise((r) => d.proc.once('exit', r)), new Promise((r) => setTimeout(r, 10_000).unref())]);
        }
      } finally {
        // By pid only: the driver (it ends its namespace's commands), then the daemon.
        if (d?.proc.pid && d.proc.exitCode === null) d.proc.kill('SIGKILL');
        if (daemonPid && !isGone(daemonPid)) process.kill(daemonPid, 'SIGKILL');
        const leaked = readFileSync('/proc/self/mountinfo', 'utf8').includes(tmp);
        if (tmp) rmSync(tmp, { recursive: true, force: true });
        assert.equal(leaked, false, 'a mount of the test reached the host namespace');
      }
    });

    it('creates, reads, writes, renames, links and lists; what the caller creates belongs to the caller', async () => {
      const r = await d.sh('echo hello > a.txt && cat a.txt && echo more >> a.txt && mkdir -p d/e && echo 2 > d/e/f && mv a.txt d/b.txt && ln -s d/b.txt link && cat link && ln d/e/f hard && chmod 600 d/e/f && ls -la . d');
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^hello\nhello\nmore\n/);
      assert.equal(readFileSync(join(ws, 'd/b.txt'), 'utf8'), 'hello\nmore\n');
      assert.equal(existsSync(join(ws, 'a.txt')), false);
      assert.equal(readlinkSync(join(ws, 'link')), 'd/b.txt');
      for (const p of ['d', 'd/e', 'd/e/f', 'd/b.txt', 'link']) {
        const st = lstatSync(join(ws, p));
        assert.deepEqual([p, st.uid, st.gid], [p, NOBODY, NOBODY]);
      }
      assert.equal(lstatSync(join(ws, 'd/e/f')).mode & 0o777, 0o600);
      assert.equal(lstatSync(join(ws, 'hard')).ino, lstatSync(join(ws, 'd/e/f')).ino);
    });

    it('rm of a file under a soft_delete rule moves it to the trash: gone from the workspace, identical in the trash, reported', async () => {
      writeFileSync(join(ws, 'victim.txt'), 'precious data\n');
      chownSync(join(ws, 'victim.txt'), NOBODY, NOBODY);
      const r = await d.sh('rm victim.txt && ls');
      assert.equal(r.code, 0, r.out);
      assert.doesNotMatch(r.out, /victim/);
      assert.equal(existsSync(join(ws, 'victim.txt')), false);
      const t = (await d.events()).trashed.find((e) => e.path === join(ws, 'victim.txt'));
      assert.ok(t, 'a trashed report for victim.txt');
      assert.equal(t.rule, 'soft-delete-workspace');
      assert.match(t.parentMtimeNs ?? '', /^\d+$/);
      assert.equal(readFileSync(join(trash, t.token), 'utf8'), 'precious data\n');
    });

    it('rm -r trashes each file and then the emptied directory', async () => {
      const r = await d.sh('mkdir tree && echo 1 > tree/one && echo 2 > tree/two && rm -r tree');
      assert.equal(r.code, 0, r.out);
      assert.equal(existsSync(join(ws, 'tree')), false);
      const { trashed } = await d.events();
      const one = trashed.find((e) => e.path === join(ws, 'tree/one'));
      const dir = trashed.find((e) => e.path === join(ws, 'tree'));
      assert.ok(one && dir);
      assert.equal(readFileSync(join(trash, one.token), 'utf8'), '1\n');
      assert.equal(lstatSync(join(trash, dir.token)).isDirectory(), true);
    });

    it('a file deleted while open stays readable through its descriptor, and goes to the trash', async () => {
      const r = await d.sh('echo still-here > open.txt && exec 3<open.txt && rm open.txt && cat <&3 && ls -a');
      assert.equal(r.code, 0, r.out);
      assert.match(r.out, /^still-here\n/);
      assert.doesNotMatch(r.out, /open\.txt|fuse_hidden/);
      assert.equal(existsSync(join(ws, 'open.txt')), false);
      const t = (await d.events()).trashed.find((e) => e.path === join(ws, 'open.txt'));
      assert.ok(t);
      assert.equal(readFileSync(join(trash, t.token), 'utf8'), 'still-here\n');
    });

    it('a rename over an existing file trashes the old destination', async () => {
      const r = await d.sh('echo old > dst.txt && echo new > src.txt && mv src.txt dst.txt && cat dst.txt');
      assert.equal(r.code, 0, r.out);
      assert.equal(readFileSync(join(ws, 'dst.txt'), 'utf8'), 'new\n');
      const t = (await d.events()).trashed.find((e) => e.path === join(ws, 'dst.txt'));
      assert.ok(t);
      assert.equal(readFileSync(join(trash, t.token), 'utf8'), 'old\n');
    });

    it('the trash inside the workspace is an empty directory no one can change, with or without the launcher\'s cover', async () => {
      const token = (await d.events()).trashed[0]!.token;
      const probe = `ls -a | grep -c '^.agentsh_trash$'; ls -A .agentsh_trash | wc -l; cat .agentsh_trash/${token}; echo cat=$?; mkdir .agentsh_trash/x; echo mkdir=$?; echo x > .agentsh_trash/new; echo write=$?; rmdir .agentsh_trash; echo rmdir=$?; mv .agentsh_trash t; echo mv=$?`;
      for (const cover of [false, true]) {
        const r = await d.sh(probe, cover);
        assert.match(r.out, /^1\n0\n/, `cover=${cover}: ${r.out}`);
        for (const k of ['cat', 'mkdir', 'write', 'rmdir', 'mv']) assert.match(r.out, new RegExp(`^${k}=[12]$`, 'm'), `cover=${cover} ${k}: ${r.out}`);
      }
      assert.equal(existsSync(join(trash, 'new')), false);
      assert.equal(existsSync(join(trash, 'x')), false);
      assert.equal(existsSync(join(ws, 't')), false);
      assert.equal(existsSync(join(trash, token)), true);
    });

    it('a denied write fails with EACCES and nothing reaches the disk; a denied delete keeps the file', async () => {
      const r = await d.sh('echo x > blocked/new.txt; echo w=$?; touch blocked/t; echo t=$?; mkdir blocked/sub; echo m=$?; cp /etc/hostname blocked/; echo c=$?; rm blocked/kept.txt; echo r=$?; mv blocked/kept.txt moved; echo mv=$?; echo more >> blocked/kept.txt; echo a=$?');
      for (const k of ['w', 't', 'm', 'c', 'r', 'mv', 'a']) assert.match(r.out, new RegExp(`^${k}=[12]$`, 'm'), `${k}: ${r.out}`);
      assert.match(r.out, /Permission denied/);
      for (const p of ['new.txt', 't', 'sub', 'hostname']) assert.equal(existsSync(join(ws, 'blocked', p)), false, p);
      assert.equal(existsSync(join(ws, 'moved')), false);
      assert.equal(readFileSync(join(ws, 'blocked/kept.txt'), 'utf8'), 'protected\n');
      const { audits, trashed } = await d.events();
      assert.equal(trashed.some((t) => t.path.startsWith(join(ws, 'blocked'))), false);
      const denied = audits.filter((e) => e.decision === 'deny' && e.rule === 'deny-blocked');
      const ops = new Set(denied.map((e) => `${e.fields.operation} ${e.fields.path}`));
      assert.ok(ops.has(`create ${join(ws, 'blocked/new.txt')}`), [...ops].join('\n'));
      assert.ok(ops.has(`mkdir ${join(ws, 'blocked/sub')}`), [...ops].join('\n'));
      assert.ok(ops.has(`delete ${join(ws, 'blocked/kept.txt')}`), [...ops].join('\n'));
      assert.ok(ops.has(`write ${join(ws, 'blocked/kept.txt')}`), [...ops].join('\n'));
    });

    it('a hard link may not give a protected file a name with more rights', async () => {
      const r = await d.sh('ln blocked/kept.txt unprotected; echo ln=$?');
      assert.match(r.out, /ln=1/);
      assert.equal(existsSync(join(ws, 'unprotected')), false);
    });

    it('an audit rule allows the operation and reports it', async () => {
      const r = await d.sh('echo note > notes/n1 && cat notes/n1');
      assert.equal(r.code, 0, r.out);
      assert.equal(readFileSync(join(ws, 'notes/n1'), 'utf8'), 'note\n');
      const audited = (await d.events()).audits.filter((e) => e.rule === 'audit-notes' && e.decision === 'audit').map((e) => e.fields.operation);
      assert.ok(audited.includes('create'), audited.join(','));
    });

    it('allowed creates, writes and deletes are reported; plain reads are not', async () => {
      const before = (await d.events()).audits.length;
      const r = await d.sh('cat d/b.txt > /dev/null && echo y > reported.txt');
      assert.equal(r.code, 0, r.out);
      const fresh = (await d.events()).audits.slice(before);
      assert.ok(fresh.some((e) => e.fields.operation === 'create' && e.fields.path === join(ws, 'reported.txt') && e.decision === 'allow'));
      assert.equal(fresh.some((e) => e.fields.path === join(ws, 'd/b.txt')), false);
    });

    it('symlinks are stored as written and never followed by the daemon', async () => {
      const r = await d.sh(`ln -s ${tmp}/outside.txt out && cat out && echo evil >> out; echo w=$?; chmod 666 out; echo c=$?`);
      assert.match(r.out, /^outside\n/);
      assert.match(r.out, /w=[12]/);
      assert.match(r.out, /c=1/);
      assert.equal(readFileSync(join(tmp, 'outside.txt'), 'utf8'), 'outside\n');
      assert.equal(lstatSync(join(tmp, 'outside.txt')).mode & 0o777, 0o644);
      assert.equal(readlinkSync(join(ws, 'out')), `${tmp}/outside.txt`);
    });

    it('a 20 MB copy through the view is byte-identical', async () => {
      const r = await d.sh(`cp ${tmp}/big.bin big.bin && sha256sum big.bin`);
      assert.equal(r.code, 0, r.out);
      const want = sha256(readFileSync(join(tmp, 'big.bin')));
      assert.equal(r.out.split(' ')[0], want);
      assert.equal(sha256(readFileSync(join(ws, 'big.bin'))), want);
      assert.equal(lstatSync(join(ws, 'big.bin')).uid, NOBODY);
    });

    it('find and git work in the view', async () => {
      const f = await d.sh('find . -path ./notes -prune -o -type f -print | sort');
      assert.equal(f.code, 0, f.out);
      for (const p of ['./big.bin', './d/b.txt', './d/e/f', './dst.txt']) assert.ok(f.out.split('\n').includes(p), `${p} in\n${f.out}`);
      if (!tool('git')) return;
      const g = await d.sh('git init -q repo && cd repo && git config user.email a@b && git config user.name n && echo x > f && git add f && git commit -qm first && echo y >> f && git commit -qam second && git log --oneline | wc -l && git status --porcelain | wc -l');
      assert.equal(g.code, 0, g.out);
      assert.match(g.out, /^2\n0\n$/m);
      assert.equal(existsSync(join(ws, 'repo/.git/HEAD')), true);
      assert.equal(lstatSync(join(ws, 'repo/.git/HEAD')).uid, NOBODY);
    });

    it('a daemon whose server goes away (stdin EOF) unmounts and exits', async () => {
      const other = join(tmp, 'ws-eof');
      mkdirSync(other);
      const r = await d.req('eof', { ws: other, mnt: join(tmp, 'mnt-eof'), policy: join(tmp, 'policy.yaml') });
      assert.equal(r.first, '{"t":"ready"}');
      assert.equal(r.mountedBefore, true);
      assert.equal(r.code, 0);
      assert.equal(r.mountedAfter, false);
    });

    it('a killed daemon fails closed: the view answers ENOTCONN, nothing reaches the disk, stop() detaches the dead mount', async () => {
      const started = await d.req('bg', { cmd: `: > ${tmp}/sig/bound; while [ ! -e ${tmp}/sig/go ]; do sleep 0.05; done; echo late > late.txt; echo write=$?; ls >/dev/null; echo ls=$?` });
      for (let i = 0; i < 500 && !existsSync(join(tmp, 'sig/bound')); i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(existsSync(join(tmp, 'sig/bound')), true, 'the background command started');
      assert.equal((await d.req('kill')).gone, true);
      writeFileSync(join(tmp, 'sig/go'), '');
      const late = await d.req('wait', { bg: started.bg });
      assert.match(late.out as string, /write=[12]/);
      assert.match(late.out as string, /ls=[12]/);
      assert.match(late.out as string, /Transport endpoint is not connected|Input\/output error/);
      assert.equal(existsSync(join(ws, 'late.txt')), false);
      // A command started now: the bind of the dead mount may succeed or not; no write can.
      const after = await d.sh('echo again > again.txt; echo w=$?');
      assert.ok(after.code !== 0 || /w=[12]/.test(after.out), after.out);
      assert.equal(existsSync(join(ws, 'again.txt')), false);
      assert.equal((await d.req('alive')).alive, false);
      assert.equal((await d.req('stop')).mounted, false);
    });
  });

  // ---------------------------------------------------------------- decisions, no mount

  describe('FUSE view decisions (no mount)', () => {
    let tmp = '';
    const lines: DaemonLine[] = [];
    const ALLOW_ALL = 'version: 1\nname: allow\nfile_rules:\n  - name: allow-all\n    paths: ["/**"]\n    operations: ["*"]\n    decision: allow\n';
    const make = (extra: { auditMode?: 'monitor' | 'soft_block' | 'soft_delete' | 'strict'; trash?: boolean | string; policy?: string; trashFull?: (dir: string) => string | null } = {}) => {
      const ws = mkdtempSync(join(tmp, 'ws-'));
      writeFileSync(join(tmp, 'policy.yaml'), extra.policy ?? POLICY);
      const view = new Decisions(
        {
          source: ws,
          mountpoint: join(tmp, 'unused-mnt'),
          workspace: ws,
          policyFile: join(tmp, 'policy.yaml'),
          vars: { PROJECT_ROOT: ws },
          trashDir: extra.trash === false ? null : typeof extra.trash === 'string' ? extra.trash : join(tmp, `trash-${ws.slice(-6)}`),
          auditMode: extra.auditMode ?? 'monitor',
        },
        (l) => lines.push(l),
        ...(extra.trashFull ? [extra.trashFull] : []),
      );
      return { ws, view };
    };
    const errnoOf = (fn: () => unknown): number => {
      try {
        fn();
      } catch (e) {
        return toErrno(e);
      }
      return 0;
    };

    before(() => {
      tmp = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-fuse-dec-')));
    });
    after(() => {
      process.chdir('/');
      rmSync(tmp, { recursive: true, force: true });
    });

    it('a directory swapped for a symlink after the lookup is refused, and nothing is created where it points', () => {
      const { ws, view } = make();
      const outside = join(tmp, 'outside');
      mkdirSync(outside);
      mkdirSync(join(ws, 'd'));
      view.getattr('/d');
      const fd = view.create('/d/first', 0o644);
      view.release(fd);
      // Another writer of the real tree (not the view) swaps the directory.
      renameSync(join(ws, 'd'), join(ws, 'd-old'));
      symlinkSync(outside, join(ws, 'd'));
      // The directory the daemon is working in is held by inode: the create lands in the
      // moved directory, never through the symlink.
      view.release(view.create('/d/x', 0o644));
      assert.equal(existsSync(join(ws, 'd-old/x')), true);
      // Entered afresh, the path no longer names a directory of the workspace: refused.
      view.getattr('/d-old');
      assert.equal(errnoOf(() => view.create('/d/y', 0o644)), -40); // ELOOP
      assert.equal(errnoOf(() => view.mkdir('/d/sub', 0o755)), -40);
      assert.equal(errnoOf(() => view.unlink('/d/first')), -40);
      assert.equal(errnoOf(() => view.getattr('/d/first')), -40);
      for (const p of ['x', 'y', 'sub', 'first']) assert.equal(existsSync(join(outside, p)), false, p);
      // The final component itself is never followed either.
      symlinkSync(join(outside), join(ws, 'lnk'));
      assert.equal(errnoOf(() => view.open('/lnk', 0)), -40);
      assert.equal(errnoOf(() => view.chmod('/lnk', 0o777)), -40);
      assert.equal(lstatSync(outside).mode & 0o777, 0o755);
    });

    it('soft_block refuses the deletes the policy allows; soft_delete sends them all to the trash', () => {
      lines.length = 0;
      const { ws, view } = make({ auditMode: 'soft_block', policy: ALLOW_ALL });
      writeFileSync(join(ws, 'f'), 'x');
      assert.equal(errnoOf(() => view.rename('/f', '/g')), -13);
      assert.equal(errnoOf(() => view.unlink('/f')), -13);
      assert.equal(existsSync(join(ws, 'f')), true);
      assert.ok(lines.some((l) => l.t === 'audit' && l.event.rule === 'fuse-audit-mode:soft_block' && l.event.decision === 'deny'));
      // The policy allows every delete here: the mode alone sends it to the trash.
      const sd = make({ auditMode: 'soft_delete', policy: ALLOW_ALL });
      writeFileSync(join(sd.ws, 'n'), 'z');
      sd.view.unlink('/n');
      assert.equal(existsSync(join(sd.ws, 'n')), false);
      const t = lines.find((l): l is Extract<DaemonLine, { t: 'trashed' }> => l.t === 'trashed' && l.path === join(sd.ws, 'n'));
      assert.ok(t);
      assert.equal(t.rule, 'fuse-audit-mode:soft_delete');
    });

    it('a hard link may not give a file rights its own path is denied', () => {
      const policy = 'version: 1\nname: ro\nfile_rules:\n  - name: read-only-ro\n    paths: ["${PROJECT_ROOT}/ro/**"]\n    operations: [write, delete]\n    decision: deny\n  - name: allow-all\n    paths: ["/**"]\n    operations: ["*"]\n    decision: allow\n';
      lines.length = 0;
      const { ws, view } = make({ policy });
      mkdirSync(join(ws, 'ro'));
      writeFileSync(join(ws, 'ro/f'), 'kept');
      assert.equal(errnoOf(() => view.link('/ro/f', '/g')), -13);
      assert.equal(existsSync(join(ws, 'g')), false);
      assert.ok(lines.some((l) => l.t === 'audit' && l.event.rule === 'read-only-ro' && l.event.fields.operation === 'link'));
      view.link('/ro/f', '/ro/g'); // same rights: allowed
      assert.equal(lstatSync(join(ws, 'ro/g')).nlink, 2);
    });

    it('without a trash directory a soft delete is refused and the file kept', () => {
      const { ws, view } = make({ trash: false });
      writeFileSync(join(ws, 'f'), 'x');
      assert.equal(errnoOf(() => view.unlink('/f')), -1);
      assert.equal(existsSync(join(ws, 'f')), true);
    });

    it('a trash without room refuses the soft delete with ENOSPC and keeps the file, as the supervisor does', () => {
      lines.length = 0;
      let asked = '';
      let full: string | null = 'the trash\'s filesystem has 4096 bytes free (needs 1048576)';
      const { ws, view } = make({ trashFull: (dir) => ((asked = dir), full) });
      writeFileSync(join(ws, 'f'), 'kept');
      writeFileSync(join(ws, 'g'), 'old');
      assert.equal(errnoOf(() => view.unlink('/f')), -28); // ENOSPC
      assert.equal(errnoOf(() => view.rename('/g', '/f')), -28, 'what a rename would replace is kept too');
      assert.equal(readFileSync(join(ws, 'f'), 'utf8'), 'kept');
      assert.equal(readFileSync(join(ws, 'g'), 'utf8'), 'old');
      assert.equal(asked, realpathSync(join(tmp, `trash-${ws.slice(-6)}`)), 'the check is on the session\'s trash');
      const refused = lines.find((l): l is Extract<DaemonLine, { t: 'audit' }> => l.t === 'audit' && l.event.type === 'file_delete_refused');
      assert.ok(refused, JSON.stringify(lines));
      assert.equal(refused.event.rule, 'soft-delete-workspace');
      assert.match(refused.event.message ?? '', /soft delete refused: the trash's filesystem has 4096 bytes free \(needs 1048576\): the file was kept/);
      assert.equal(lines.some((l) => l.t === 'trashed'), false);
      // With room again the delete goes to the trash.
      full = null;
      view.unlink('/f');
      assert.equal(existsSync(join(ws, 'f')), false);
      assert.ok(lines.some((l) => l.t === 'trashed' && l.path === join(ws, 'f')));
    });

    it('the default check is the supervisor\'s (trash/space.ts): a real trash with room takes the file', () => {
      lines.length = 0;
      const { ws, view } = make();
      assert.equal(trashFull(ws), null, 'this test needs 1 MiB free in the temporary directory');
      writeFileSync(join(ws, 'f'), 'x');
      view.unlink('/f');
      assert.ok(lines.some((l) => l.t === 'trashed'));
      assert.match(trashFull(join(tmp, 'no-such-trash')) ?? '', /the trash is unusable \(ENOENT\)/);
    });

    it('a trash on another file system refuses the delete and keeps the file', { skip: otherFs() ? false : 'no second file system (/dev/shm) to put a trash on' }, () => {
      lines.length = 0;
      const elsewhere = mkdtempSync(join(otherFs()!, 'agentsh-fuse-trash-'));
      try {
        const { ws, view } = make({ trash: elsewhere });
        writeFileSync(join(ws, 'f'), 'kept');
        assert.equal(errnoOf(() => view.unlink('/f')), -1);
        assert.equal(readFileSync(join(ws, 'f'), 'utf8'), 'kept');
        assert.ok(lines.some((l) => l.t === 'audit' && l.event.type === 'file_delete_refused' && /EXDEV/.test(l.event.message ?? '')));
        assert.equal(lines.some((l) => l.t === 'trashed'), false);
      } finally {
        rmSync(elsewhere, { recursive: true, force: true });
      }
    });

    it('rmdir keeps the kernel\'s answers: ENOTEMPTY for a non-empty directory, ENOTDIR for a file', () => {
      const { ws, view } = make();
      mkdirSync(join(ws, 'full'));
      writeFileSync(join(ws, 'full/x'), 'x');
      writeFileSync(join(ws, 'file'), 'x');
      assert.equal(errnoOf(() => view.rmdir('/full')), -39);
      assert.equal(errnoOf(() => view.rmdir('/file')), -20);
      assert.equal(existsSync(join(ws, 'full/x')), true);
    });

    it('the config decides whether and how the view runs', () => {
      assert.equal(fuseConfigState({ sandbox: { fuse: { enabled: false } } }), 'off');
      assert.equal(fuseConfigState({ sandbox: { fuse: { enabled: true } } }), 'ready');
      const marker = join(tmp, 'marker');
      assert.equal(fuseConfigState({ sandbox: { fuse: { enabled: true, deferred: true, deferred_marker_file: marker } } }), 'deferred-waiting');
      writeFileSync(marker, '');
      assert.equal(fuseConfigState({ sandbox: { fuse: { enabled: true, deferred: true, deferred_marker_file: marker } } }), 'ready');
      assert.deepEqual(fuseViewSettings({ sandbox: { fuse: { audit: { mode: 'soft_delete', enabled: false } } }, approvals: { when_unavailable: 'deny' } }), { auditMode: 'soft_delete', auditEvents: false, whenUnavailable: 'deny' });
      assert.equal(fuseViewSettings({ sandbox: { fuse: {} } }).auditMode, 'monitor');
    });
  });
}
