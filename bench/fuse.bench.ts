// The FUSE workspace view (src/fuse) against the bare directory: one file workload run by a
// python3 script as uid 65534, phase by phase, in the same directory — bare, through the view
// with an allow-everything policy (plain deletes), and through the view with the seed's kind of
// rule (deletes are soft deletes: moved to the trash) — in interleaved rounds, medians, ratios.
//
// Phases: 1,000 small files created (open, write 5 bytes, close); 20 MB written and read back
// in 1 MiB chunks; every entry stat-ed (os.walk + lstat); a tree of 200 files in 20 directories
// extracted from a tar archive and archived again (`tar x`, `tar c`); everything deleted.
//
// Like the tests, all mounting happens in a private mount namespace (this file re-executed
// under `unshare --mount --propagation private` with --inner); each run is a command in a
// namespace of its own where the view is bound over the workspace, as the launcher does.
//
// `node dist/bench/fuse.bench.js` prints the section; bench/run.ts calls benchFuse().
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fuseAvailable, startWorkspaceView, type WorkspaceView } from '../src/fuse/workspace-view.js';
import { median, p90, type BenchResult } from './measure.js';

export interface FuseSection {
  title: string;
  budget: string;
  results: BenchResult[];
  prose: string;
}

export interface FuseBenchOptions {
  /** Counted rounds (default 5; one more uncounted first). */
  rounds?: number;
}

const SELF = fileURLToPath(import.meta.url);
const NOBODY = 65534;
const PYTHON = '/usr/bin/python3';
const PHASES = ['create', 'write', 'read', 'stat', 'untar', 'tar', 'delete'] as const;
type Phase = (typeof PHASES)[number];
const VARIANTS = ['bare', 'view', 'view-soft'] as const;
type Variant = (typeof VARIANTS)[number];

const WORKLOAD_PY = `import json, os, shutil, subprocess, sys, time
base, archive = sys.argv[1], sys.argv[2]
d = os.path.join(base, 'w')
os.makedirs(os.path.join(d, 'small'))
t = {}
t0 = time.perf_counter()
for i in range(1000):
    with open(f'{d}/small/f{i}', 'w') as f:
        f.write('hello')
t['create'] = time.perf_counter() - t0
chunk = os.urandom(1 << 20)
t0 = time.perf_counter()
with open(f'{d}/big', 'wb') as f:
    for i in range(20):
        f.write(chunk)
t['write'] = time.perf_counter() - t0
t0 = time.perf_counter()
n = 0
with open(f'{d}/big', 'rb') as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        n += len(b)
assert n == 20 << 20
t['read'] = time.perf_counter() - t0
t0 = time.perf_counter()
for root, dirs, files in os.walk(d):
    for x in dirs + files:
        os.lstat(os.path.join(root, x))
t['stat'] = time.perf_counter() - t0
t0 = time.perf_counter()
subprocess.run(['tar', '-xf', archive, '-C', d], check=True)
t['untar'] = time.perf_counter() - t0
t0 = time.perf_counter()
subprocess.run(['tar', '-cf', '-', '-C', d, 'tree'], check=True, stdout=subprocess.PIPE)
t['tar'] = time.perf_counter() - t0
t0 = time.perf_counter()
shutil.rmtree(d)
t['delete'] = time.perf_counter() - t0
print(json.dumps(t))
`;

const ALLOW_POLICY = `version: 1
name: bench-allow
file_rules:
  - name: allow-workspace
    paths: ["\${PROJECT_ROOT}", "\${PROJECT_ROOT}/**"]
    operations: ["*"]
    decision: allow
`;

const SOFT_POLICY = `version: 1
name: bench-soft-delete
file_rules:
  - name: soft-delete-workspace
    paths: ["\${PROJECT_ROOT}/**"]
    operations: [delete, rmdir]
    decision: soft_delete
  - name: allow-workspace
    paths: ["\${PROJECT_ROOT}", "\${PROJECT_ROOT}/**"]
    operations: ["*"]
    decision: allow
`;

interface InnerResult {
  phases: Record<Variant, Record<Phase, number[]>>;
  startMs: number[];
  /** Daemon CPU time (user + system) per round, ms. */
  cpuMs: Record<'view' | 'view-soft', number[]>;
  events: Record<'view' | 'view-soft', number>;
  trashed: number;
}

/** One workload run as uid 65534 in a mount namespace of its own, over the view when `mnt` is set. */
function runWorkload(ws: string, mnt: string | null, script: string, archive: string): Promise<Record<Phase, number>> {
  const inner = `exec setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups -- env -i PATH=/usr/bin:/bin LANG=C ${PYTHON} ${script} "$2" ${archive}`;
  const sh = mnt ? `mount --bind "$1" "$2" && cd "$2" && ${inner}` : `cd "$2" && ${inner}`;
  return new Promise((resolve, reject) => {
    // Asynchronous on purpose: the daemon's audit lines come through this process's event
    // loop, and a daemon blocked on a full pipe would stall the workload it is serving.
    const p = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', sh, 'agentsh-fuse-bench', mnt ?? '', ws], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 300_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`workload (${mnt ? 'view' : 'bare'}) exited ${code}: ${err.slice(-1000)}`));
      const t = JSON.parse(out.trim().split('\n').pop()!) as Record<Phase, number>;
      resolve(Object.fromEntries(PHASES.map((k) => [k, t[k] * 1e9])) as Record<Phase, number>);
    });
  });
}

function cpuOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, at USER_HZ = 100
}

async function inner(rounds: number): Promise<InnerResult> {
  const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-fuse-bench-')));
  const views: WorkspaceView[] = [];
  try {
    chmodSync(tmp, 0o755);
    const script = join(tmp, 'workload.py');
    writeFileSync(script, WORKLOAD_PY, { mode: 0o644 });
    // The archive: 200 small files in 20 directories, made outside any workspace.
    const src = join(tmp, 'tree-src');
    for (let i = 0; i < 20; i++) {
      mkdirSync(join(src, 'tree', `d${i}`), { recursive: true });
      for (let j = 0; j < 10; j++) writeFileSync(join(src, 'tree', `d${i}`, `f${j}.txt`), `file ${i}/${j}\n`.repeat(20));
    }
    const archive = join(tmp, 'tree.tar');
    const t = spawnSync('tar', ['-cf', archive, '-C', src, 'tree']);
    if (t.status !== 0) throw new Error(`tar: ${t.stderr}`);
    chmodSync(archive, 0o644);

    const ws = join(tmp, 'ws');
    mkdirSync(ws);
    chownSync(ws, NOBODY, NOBODY);
    const events = { view: 0, 'view-soft': 0 };
    let trashed = 0;
    const startMs: number[] = [];
    const start = async (variant: 'view' | 'view-soft') => {
      const policy = join(tmp, `${variant}.yaml`);
      writeFileSync(policy, variant === 'view' ? ALLOW_POLICY : SOFT_POLICY);
      const t0 = process.hrtime.bigint();
      const v = await startWorkspaceView({
        workspace: ws,
        mountpoint: join(tmp, `mnt-${variant}`),
        policyFile: policy,
        vars: { PROJECT_ROOT: ws },
        trashDir: join(tmp, `trash-${variant}`),
        onAudit: () => events[variant]++,
        onTrashed: () => trashed++,
      });
      startMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
      views.push(v);
      return v;
    };
    const view = await start('view');
    const soft = await start('view-soft');

    const phases = Object.fromEntries(VARIANTS.map((v) => [v, Object.fromEntries(PHASES.map((p) => [p, [] as number[]]))])) as InnerResult['phases'];
    const cpuMs: InnerResult['cpuMs'] = { view: [], 'view-soft': [] };
    for (let r = 0; r <= rounds; r++) {
      // Rotate the order so no variant always runs first (page cache, disk writeback).
      const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]!);
      for (const variant of order) {
        const v = variant === 'bare' ? null : variant === 'view' ? view : soft;
        const cpu0 = v ? cpuOf(v.pid) : 0;
        const res = await runWorkload(ws, v ? v.mountpoint : null, script, archive);
        if (r === 0) continue;
        if (v) cpuMs[variant as 'view' | 'view-soft'].push(cpuOf(v.pid) - cpu0);
        for (const p of PHASES) phases[variant][p].push(res[p]);
      }
    }
    return { phases, startMs, cpuMs, events, trashed };
  } finally {
    for (const v of views) await v.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

export async function benchFuse(opts: FuseBenchOptions = {}): Promise<FuseSection[]> {
  const title = 'FUSE workspace view: a file workload through the view vs the bare directory';
  const budget = 'none set; the ratio to the bare directory';
  const avail = fuseAvailable();
  const missing = ['unshare', 'setpriv', 'tar'].find((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) ?? (spawnSync(PYTHON, ['-c', '0']).status !== 0 ? PYTHON : null);
  if (!avail.ok || missing) return [{ title, budget, results: [], prose: `Not measured on this machine: ${avail.reason ?? `${missing} is missing`}.` }];
  const rounds = opts.rounds ?? 5;
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', process.execPath, SELF, '--inner', String(rounds)], { encoding: 'utf8', maxBuffer: 1 << 24, timeout: 30 * 60_000 });
  if (r.status !== 0) throw new Error(`fuse bench: exit ${r.status ?? r.signal}: ${r.stderr.slice(-2000)}`);
  const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as InnerResult;

  const ms = (ns: number) => `${(ns / 1e6).toFixed(ns >= 1e8 ? 0 : 1)} ms`;
  const label: Record<Phase, string> = {
    create: '1,000 small files created',
    write: '20 MB written (1 MiB writes)',
    read: '20 MB read back',
    stat: 'every entry stat-ed (1,002)',
    untar: '`tar x` of 200 files in 20 directories',
    tar: '`tar c` of that tree',
    delete: 'everything deleted (rmtree)',
  };
  const results: BenchResult[] = [];
  const ratio = (v: Variant, p: Phase) => median(res.phases[v][p]) / median(res.phases.bare[p]);
  for (const p of PHASES) {
    const row = (v: Variant, name: string, note?: string): BenchResult => ({ name, medianNs: median(res.phases[v][p]), p90Ns: p90(res.phases[v][p]), samples: res.phases[v][p].length, ...(note ? { note } : {}) });
    results.push(row('bare', `${label[p]}: bare directory`));
    results.push(row('view', '  through the view (plain deletes)', `${ratio('view', p).toFixed(2)}×`));
    results.push(row('view-soft', '  through the view, deletes soft (trash)', `${ratio('view-soft', p).toFixed(2)}×`));
  }
  const total = (v: Variant) => median(res.phases[v].create.map((_, i) => PHASES.reduce((s, p) => s + res.phases[v][p][i]!, 0)));
  const n = res.phases.bare.create.length;
  const prose = `One python3 script as uid 65534 (${PHASES.length} phases, timed inside the script), in the same directory on the same filesystem: bare, through the view with an allow-everything policy, and through the view with a soft_delete rule for deletes (each file and directory moved to the trash and reported). ${n} interleaved rounds after an uncounted one, order rotated; medians. Whole workload: ${ms(total('bare'))} bare, ${ms(total('view'))} through the view (${(total('view') / total('bare')).toFixed(2)}×), ${ms(total('view-soft'))} with soft deletes (${(total('view-soft') / total('bare')).toFixed(2)}×). Per phase through the view: creating ${ratio('view', 'create').toFixed(1)}×, writing ${ratio('view', 'write').toFixed(1)}×, reading ${ratio('view', 'read').toFixed(1)}×, stat ${ratio('view', 'stat').toFixed(1)}×, tar x ${ratio('view', 'untar').toFixed(1)}×, tar c ${ratio('view', 'tar').toFixed(1)}×, deleting ${ratio('view', 'delete').toFixed(1)}× (${ratio('view-soft', 'delete').toFixed(1)}× as soft deletes). Every operation is a round trip kernel → libfuse thread → the daemon's JS thread → back; the daemon, which also does the file system work itself (its system time includes every create, write and unlink), used ${ms(median(res.cpuMs.view) * 1e6)} of CPU per workload (${ms(median(res.cpuMs['view-soft']) * 1e6)} with soft deletes). Mounting a view (daemon start, policy compile, mount): ${ms(median(res.startMs) * 1e6)} median of ${res.startMs.length}. Audit lines received: ${Math.round(res.events.view / (n + 1))} per workload with plain deletes, ${Math.round(res.events['view-soft'] / (n + 1))} with soft deletes (allowed mutations rate-bounded); ${res.trashed} soft deletes in all. Creating files costs the most on this machine's disk with or without the view; absolute times vary several-fold between runs, the ratios less.`;
  return [{ title, budget, results, prose }];
}

if (process.argv[2] === '--inner') {
  inner(Number(process.argv[3] ?? 5)).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (e: Error) => {
      console.error(e.stack ?? e.message);
      process.exit(1);
    },
  );
} else if (process.argv[1] && realpathSync(process.argv[1]) === SELF) {
  const rounds = Number(process.argv[2] ?? 5);
  benchFuse({ rounds }).then(
    (sections) => {
      const fmt = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${(ns / 1000).toFixed(2)} µs`);
      for (const s of sections) {
        console.log(`### ${s.title}\n\nBudget: ${s.budget}.\n\n| what | median | p90 | calls |\n|---|---|---|---|`);
        for (const r of s.results) console.log(`| ${r.name}${r.note ? ` (${r.note})` : ''} | ${fmt(r.medianNs)} | ${fmt(r.p90Ns ?? r.medianNs)} | ${r.samples} |`);
        console.log(`\n${s.prose}\n`);
      }
    },
    (e: Error) => {
      console.error(e.stack ?? e.message);
      process.exit(1);
    },
  );
}
