// Added latency of a governed command (budget ≤ 15 ms median, aim 8): `bash -c true`
// through the installed shim and the real server, against the bare `bash -c true`, run
// interleaved in one process so machine noise hits both alike.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildShim } from '../src/shim/build.js';
import { installShell } from '../src/shim/install.js';
import { startTestServer } from '../test/server-harness.js';
import { median, p90, type BenchResult } from './measure.js';


export async function benchExec(runs = 150): Promise<BenchResult[]> {
  const root = mkdtempSync(join(tmpdir(), 'agentsh-exec-bench-'));
  mkdirSync(join(root, 'bin'));
  copyFileSync('/bin/bash', join(root, 'bin/bash'));
  installShell({ root, shimPath: buildShim(join(root, 'build')), shells: ['bash'] });
  const srv = await startTestServer();
  try {
    const env = { PATH: process.env.PATH, HOME: '/root', AGENTSH_SHIM_FORCE: '1', AGENTSH_RUN_DIR: srv.runDir };
    const time = (file: string) => {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(file, ['-c', 'true'], { env, stdio: 'ignore' });
      if (r.status !== 0) throw new Error(`${file} -c true exited ${r.status}`);
      return Number(process.hrtime.bigint() - t0);
    };
    for (let i = 0; i < 10; i++) time(join(root, 'bin/bash')); // warm session and caches
    const bare: number[] = [];
    const governed: number[] = [];
    for (let i = 0; i < runs; i++) {
      bare.push(time('/bin/bash'));
      governed.push(time(join(root, 'bin/bash')));
    }
    const added = governed.map((g, i) => g - bare[i]!);
    const m = median(added);
    return [
      { name: 'bare `bash -c true`', medianNs: median(bare), p90Ns: p90(bare), samples: runs },
      { name: 'governed `bash -c true` (shim → server → bash)', medianNs: median(governed), p90Ns: p90(governed), samples: runs },
      { name: 'added per governed command', medianNs: m, p90Ns: p90(added), samples: runs, note: `ratio ${(median(governed) / median(bare)).toFixed(1)}×; budget 15 ms, aim 8 ms: ${m <= 15e6 ? 'within' : 'MISSED'}` },
    ];
  } finally {
    await srv.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
