// The variables a session's policy is compiled with: PROJECT_ROOT and GIT_ROOT found from
// the workspace by agentsh's rules (nearest language marker / nearest .git, walking up),
// HOME from the environment; explicit values win.
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export const DEFAULT_PROJECT_MARKERS = ['go.mod', 'package.json', 'Cargo.toml', 'pyproject.toml'];

export interface SessionVarOptions {
  workspace: string;
  projectRoot?: string;
  markers?: string[];
  detect?: boolean;
  env?: NodeJS.ProcessEnv;
  extra?: Record<string, string>;
}

export function sessionVars(opts: SessionVarOptions): Record<string, string> {
  const env = opts.env ?? process.env;
  const workspace = resolve(opts.workspace);
  const vars: Record<string, string> = {};
  if (env.HOME) vars.HOME = env.HOME;
  if (opts.projectRoot) {
    vars.PROJECT_ROOT = vars.GIT_ROOT = resolve(opts.projectRoot);
  } else if (opts.detect ?? true) {
    const markers = (opts.markers ?? DEFAULT_PROJECT_MARKERS).filter((m) => m !== '.git');
    const gitRoot = findUp(workspace, ['.git']);
    const langRoot = findUp(workspace, markers, gitRoot ?? undefined);
    vars.PROJECT_ROOT = langRoot ?? gitRoot ?? workspace;
    vars.GIT_ROOT = gitRoot ?? vars.PROJECT_ROOT;
  } else {
    vars.PROJECT_ROOT = vars.GIT_ROOT = workspace;
  }
  return { ...vars, ...(opts.extra ?? {}) };
}

/** Nearest directory at or above `from` holding one of `names`; stops at `stopAt` (inclusive). */
function findUp(from: string, names: string[], stopAt?: string): string | null {
  let dir = from;
  for (;;) {
    if (names.some((n) => existsSync(resolve(dir, n)))) return dir;
    if (dir === stopAt) return null;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}
