// Shell shim start-up, side by side in one run (interleaved, so machine noise hits all
// variants alike). Each sample is one spawnSync wall time from this Node process, so every
// figure includes the same spawn overhead; compare within the run.
//   - `bash -c true` directly vs through the shim in pass-through (not forced, stdin not a tty)
//   - `true` directly vs the shim exec'ing `true` (the shim's own cost, without bash's)
//   - the governed path against a minimal fake server in another process (connect, hello,
//     exit frame): the shim's share of a governed command, without any server work.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildShim } from '../src/shim/build.js';
import type { BenchResult } from './measure.js';

const FAKE_SERVER = `
const net = require('node:net');
const x = Buffer.from([0x58, 0, 0, 0, 4, 0, 0, 0, 0]);
net.createServer((s) => {
  let n = 0, need = -1, buf = Buffer.alloc(0);
  s.on('error', () => {});
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    if (need < 0 && buf.length >= 5) need = 5 + buf.readUInt32BE(1);
    if (need >= 0 && buf.length >= need && !n++) s.end(x);
  });
}).listen(process.argv[1], () => process.stdout.write('ready\\n'));
`;

function stats(name: string, xs: number[], note?: string): BenchResult {
  const s = [...xs].sort((a, b) => a - b);
  const r: BenchResult = { name, medianNs: s[Math.floor(s.length / 2)]!, p90Ns: s[Math.floor(s.length * 0.9)]!, samples: s.length };
  if (note) r.note = note;
  return r;
}

export async function benchShim(runs = 200): Promise<BenchResult[]> {
  const shim = process.env.AGENTSH_TEST_SHIM || buildShim();
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-shim-bench-')));
  const make = (name: string, real: string) => {
    mkdirSync(join(dir, name));
    const p = join(dir, name, 'bash');
    copyFileSync(shim, p);
    chmodSync(p, 0o755);
    symlinkSync(real, `${p}.real`);
    return p;
  };
  const bash = realpathSync('/bin/bash');
  const trueBin = realpathSync('/bin/true');
  const shimBash = make('bash', bash);
  const shimTrue = make('true', trueBin);
  const runDir = join(dir, 'run');
  mkdirSync(runDir);
  const server = spawn(process.execPath, ['-e', FAKE_SERVER, join(runDir, `shim-${process.getuid?.() ?? 0}.sock`)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    server.stdout.once('data', () => resolve());
    server.once('error', reject);
    server.once('exit', (c) => reject(new Error(`fake server exited (${c})`)));
  });

  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };
  const governedEnv = { ...env, AGENTSH_SHIM_FORCE: '1', AGENTSH_RUN_DIR: runDir, AGENTSH_BIN: join(dir, 'no-agentsh') };
  const variants: { name: string; file: string; args: string[]; env: NodeJS.ProcessEnv }[] = [
    { name: 'bash -c true (baseline)', file: bash, args: ['-c', 'true'], env },
    { name: 'shim -c true, pass-through to bash', file: shimBash, args: ['-c', 'true'], env },
    { name: 'true (baseline)', file: trueBin, args: [], env },
    { name: 'shim exec-ing true (shim alone)', file: shimTrue, args: [], env },
    { name: 'shim -c true, governed, fake server (no command run)', file: shimBash, args: ['-c', 'true'], env: governedEnv },
  ];
  const times: number[][] = variants.map(() => []);
  try {
    for (let i = 0; i < runs + 10; i++) {
      // rotate the order every round
      for (let k = 0; k < variants.length; k++) {
        const j = (k + i) % variants.length;
        const v = variants[j]!;
        const t0 = process.hrtime.bigint();
        const r = spawnSync(v.file, v.args, { env: v.env, stdio: 'ignore' });
        const dt = Number(process.hrtime.bigint() - t0);
        if (r.status !== 0) throw new Error(`${v.name}: exit ${r.status ?? r.signal}`);
        if (i >= 10) times[j]!.push(dt); // first rounds warm the page cache
      }
    }
  } finally {
    server.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  const med = (j: number) => stats('', times[j]!).medianNs;
  const ms = (ns: number) => `${(ns / 1e6).toFixed(2)} ms`;
  return variants.map((v, j) => {
    const note =
      j === 1 ? `+${ms(med(1) - med(0))} vs bash -c true` : j === 3 ? `+${ms(med(3) - med(2))} vs true` : j === 4 ? `+${ms(med(4) - med(2))} vs true; includes spawn` : undefined;
    return stats(v.name, times[j]!, note);
  });
}

// `node dist/bench/shim.bench.js` prints the table.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const rows = await benchShim(Number(process.env.RUNS) || 200);
  for (const r of rows) console.log(`${r.name.padEnd(58)} median ${(r.medianNs / 1e6).toFixed(3)} ms  p90 ${((r.p90Ns ?? 0) / 1e6).toFixed(3)} ms  n=${r.samples}${r.note ? `  (${r.note})` : ''}`);
}
