// Compiles the shell shim (native/shim.c) with the project's fixed flags. Used by the tests,
// the benchmark and `agentsh shim install-shell` when no --shim is given.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs as dist/src/shim/build.js). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const SHIM_SOURCE = join(REPO_ROOT, 'native', 'shim.c');
export const SHIM_CFLAGS = ['-O2', '-Wall', '-Wextra', '-Werror', '-std=c11', '-D_GNU_SOURCE'] as const;
export const SHIM_BINARY_NAME = 'agentsh-shim';
/** Embedded in the binary; how an installed shim is recognised. */
export const SHIM_MARKER = 'agentsh-shim-marker:v1';

/**
 * Builds `<outDir>/agentsh-shim` (default `dist/native`) when it is missing or older than
 * native/shim.c, and returns its path. Throws a clear error if no C compiler is available
 * (`$CC`, else `cc`) or the source does not compile.
 */
export function buildShim(outDir: string = join(REPO_ROOT, 'dist', 'native')): string {
  const out = join(outDir, SHIM_BINARY_NAME);
  if (!existsSync(SHIM_SOURCE)) throw new Error(`buildShim: shim source not found at ${SHIM_SOURCE}`);
  const src = statSync(SHIM_SOURCE);
  if (existsSync(out) && statSync(out).mtimeMs >= src.mtimeMs) return out;
  mkdirSync(outDir, { recursive: true });
  const cc = process.env.CC || 'cc';
  // Compile next to the target and rename: concurrent builds (parallel test files) never
  // expose a half-written binary, and a running shim is never overwritten in place.
  const tmp = `${out}.${process.pid}.${Date.now()}.tmp`;
  const r = spawnSync(cc, [...SHIM_CFLAGS, '-o', tmp, SHIM_SOURCE], { encoding: 'utf8' });
  if (r.error) {
    rmSync(tmp, { force: true });
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`buildShim: C compiler \`${cc}\` not found; install a C toolchain (e.g. \`apt-get install gcc\`) or set CC, or pass a prebuilt shim with --shim`);
    throw new Error(`buildShim: cannot run \`${cc}\`: ${r.error.message}`);
  }
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    throw new Error(`buildShim: \`${cc} ${SHIM_CFLAGS.join(' ')} -o ${out} ${SHIM_SOURCE}\` failed (exit ${r.status ?? r.signal}):\n${r.stderr}`);
  }
  chmodSync(tmp, 0o755);
  renameSync(tmp, out);
  return out;
}
