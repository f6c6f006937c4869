// Shared test helpers: repository paths, the seed policy compiled with fixed session
// variables, and running the real CLI binary.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compilePolicy } from '../src/policy/compile.js';
import type { ApprovalSettings } from '../src/policy/decision.js';
import { PolicyEngine, type EngineOptions } from '../src/policy/engine.js';
import { loadPolicyFile, loadPolicyText } from '../src/policy/load.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const SEED_DIR = `${REPO}test/fixtures/seed`;
export const SHARED_SEED_DIR = fileURLToPath(new URL('../../../shared/seed', import.meta.url));
export const SEED_POLICY = `${SEED_DIR}/default.yaml`;
export const SEED_CONFIG = `${SEED_DIR}/config.yaml`;
export const hasSharedSeed = existsSync(SHARED_SEED_DIR);

export const SEED_VARS = { PROJECT_ROOT: '/home/daytona/project', GIT_ROOT: '/home/daytona/project', HOME: '/home/daytona' };

export function seedEngine(vars: Record<string, string> = SEED_VARS, opts: EngineOptions = {}): PolicyEngine {
  return new PolicyEngine(compilePolicy(loadPolicyFile(SEED_POLICY), { vars, env: {} }), opts);
}

export function engineFor(yaml: string, vars: Record<string, string> = {}, opts: EngineOptions = {}): PolicyEngine {
  return new PolicyEngine(compilePolicy(loadPolicyText(yaml, 'test.yaml'), { vars, env: {} }), opts);
}

export const APPROVALS_ON: ApprovalSettings = { enabled: true, whenUnavailable: 'deny' };

export function cli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}) {
  const r = spawnSync(process.execPath, [`${REPO}bin/agentsh`, ...args], {
    cwd: opts.cwd ?? REPO,
    env: { ...process.env, AGENTSH_CONFIG: '', ...opts.env },
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Dead, or a zombie nobody reaped (this machine's pid 1 may not reap orphans). */
export function isGone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
  } catch {
    return true;
  }
}
