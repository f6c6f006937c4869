// Policy decision cost on the seed policy: uncached (the compiled rules themselves) and
// cached (what a warm session sees for repeated questions). Budget: ≤ 2 µs median.
import { compilePolicy } from '../src/policy/compile.js';
import { PolicyEngine } from '../src/policy/engine.js';
import { loadPolicyFile } from '../src/policy/load.js';
import { measure, type BenchResult } from './measure.js';

const VARS = { PROJECT_ROOT: '/home/daytona/project', GIT_ROOT: '/home/daytona/project', HOME: '/home/daytona' };

export function benchPolicy(seedPolicy: string): BenchResult[] {
  const compiled = compilePolicy(loadPolicyFile(seedPolicy), { vars: VARS, env: {} });
  const cold = new PolicyEngine(compiled, { cacheSize: 0 });
  const warm = new PolicyEngine(compiled);
  const commands: [string, string[]][] = [['ls', ['-la']], ['git', ['status']], ['sudo', ['whoami']], ['rm', ['-rf', 'x']], ['/usr/bin/python3', ['x.py']], ['whoami', []]];
  // Late-matching paths are the worst case: first match walks most of the list.
  const files: [string, string][] = [['read', '/home/daytona/project/src/index.ts'], ['write', '/etc/passwd'], ['read', '/usr/lib/x.so'], ['read', '/proc/1/environ'], ['write', '/opt/x'], ['delete', '/tmp/a']];
  const nets: [string, number, string | undefined][] = [['registry.npmjs.org', 443, undefined], ['evil.com', 443, undefined], ['169.254.169.254', 80, undefined], ['example.com', 8080, undefined], ['api.github.com', 443, '140.82.112.6']];
  const envs = ['HOME', 'DAYTONA_API_KEY', 'LC_ALL', 'RANDOM_VAR', 'AWS_SECRET_ACCESS_KEY'];
  const pick = <T>(xs: T[], i: number) => xs[i % xs.length]!;
  return [
    measure('command decision (uncached)', (i) => { const [c, a] = pick(commands, i); return cold.checkCommand(c, a); }),
    measure('file decision (uncached)', (i) => { const [o, p] = pick(files, i); return cold.checkFile(o, p); }),
    measure('network decision (uncached)', (i) => { const [h, p, ip] = pick(nets, i); return cold.checkNetwork(h, p, ip); }),
    measure('env decision (uncached)', (i) => cold.checkEnv(pick(envs, i))),
    measure('command decision (cached)', (i) => { const [c, a] = pick(commands, i); return warm.checkCommand(c, a); }),
    measure('file decision (cached)', (i) => { const [o, p] = pick(files, i); return warm.checkFile(o, p); }),
  ];
}
