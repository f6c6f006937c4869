// The local provider's image: the filesystem view a local sandbox's server (and every
// command it runs) sees, laid out like the seed's Daytona image — the host's directories
// read-only, agentsh's shell shim over /bin/bash and /bin/sh, a `daytona` user with its
// home, agentsh's config and policy in /etc/agentsh — assembled in new namespaces by the
// launcher from a per-sandbox directory. The host's files are never modified: what the
// image adds lives in read-only overlay layers under the sandbox directory.
//
// This module decides the layout (a launcher Plan) and writes the layers; src/provider/
// local.ts runs the server with it.
import { chmodSync, copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { MountStep, Plan } from '../sandbox/launcher.js';

/** Where the image mounts the repository (package.json, dist/, node_modules/). */
export const APP_DIR = '/usr/lib/agentsh/app';
export const SANDBOX_USER = 'daytona';
export const SANDBOX_HOME = '/home/daytona';
export const CONFIG_IN_IMAGE = '/etc/agentsh/config.yaml';
export const POLICY_IN_IMAGE = '/etc/agentsh/policies/default.yaml';
export const BASH_STARTUP_IN_IMAGE = '/usr/lib/agentsh/bash_startup.sh';
export const AGENTSH_BIN_IN_IMAGE = '/usr/bin/agentsh';
/** The server's run directory inside (its default, src/server/paths.ts). */
export const RUN_DIR_IN_IMAGE = '/run/agentsh';
/** sessions.base_dir and the audit DB of the seed config live below it. */
export const STATE_DIR_IN_IMAGE = '/var/lib/agentsh';

/** Top-level host directories never bound: replaced by fresh or per-sandbox ones. */
const REPLACED = new Set(['proc', 'sys', 'dev', 'tmp', 'run', 'home', 'root']);
/** Host directories that get an overlay layer (files added, nothing changed). */
const OVERLAID = ['/etc', '/usr/bin', '/usr/lib', '/var/lib'];

/** The per-sandbox directory's parts (all on the host). */
export interface SandboxDirs {
  dir: string;
  home: string;
  tmp: string;
  varTmp: string;
  run: string;
  state: string;
  layers: string;
  log: string;
  meta: string;
  report: string;
}

export function sandboxDirs(dir: string): SandboxDirs {
  return {
    dir,
    home: join(dir, 'home'),
    tmp: join(dir, 'tmp'),
    varTmp: join(dir, 'var-tmp'),
    run: join(dir, 'run'),
    state: join(dir, 'state'),
    layers: join(dir, 'layers'),
    log: join(dir, 'server.log'),
    meta: join(dir, 'sandbox.json'),
    report: join(dir, 'launcher.report'),
  };
}

export const layerDir = (d: SandboxDirs, target: string) => join(d.layers, target.replace(/^\//, '').replace(/\//g, '-'));

export interface ImageIdentity {
  /** The daytona user inside: 1000/1000 when the caller is root, else the caller's ids. */
  uid: number;
  gid: number;
}

export interface ImageInputs {
  id: string;
  dirs: SandboxDirs;
  identity: ImageIdentity;
  /** The repository root (holds package.json, dist/, node_modules/, share/). */
  repoRoot: string;
  /** The node binary the server and /usr/bin/agentsh run with. */
  nodePath: string;
  shimBinary: string;
  configFile: string;
  policyFile: string;
  /** The sandbox root (all sandboxes' directories): hidden inside when otherwise visible. */
  sandboxRoot: string;
  /** Not root: a user namespace mapping the caller to itself. */
  rootless: boolean;
  /** Host facts, injectable for tests. */
  host?: { topLevel?: Array<{ name: string; kind: 'dir' | 'link' }>; varLib?: Array<{ name: string; kind: 'dir' | 'link' | 'file' }>; mountPoints?: string[]; realShells?: { bash: string; sh: string } };
}

const under = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);

function listTop(): Array<{ name: string; kind: 'dir' | 'link' }> {
  const out: Array<{ name: string; kind: 'dir' | 'link' }> = [];
  for (const name of readdirSync('/')) {
    try {
      const st = lstatSync(`/${name}`);
      if (st.isDirectory()) out.push({ name, kind: 'dir' });
      else if (st.isSymbolicLink() && statSync(`/${name}`).isDirectory()) out.push({ name, kind: 'link' });
    } catch {
      // vanished or dangling: not part of the image
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

function listDir(dir: string): Array<{ name: string; kind: 'dir' | 'link' | 'file' }> {
  return readdirSync(dir, { withFileTypes: true }).map((e) => ({ name: e.name, kind: e.isDirectory() ? 'dir' as const : e.isSymbolicLink() ? 'link' as const : 'file' as const }));
}

/** Mount points of the host (from /proc/self/mountinfo, octal escapes decoded). */
function hostMountPoints(): string[] {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean)
      .map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  } catch {
    return [];
  }
}

/**
 * The overlay layers are handed to overlayfs, which refuses a layer nested inside another
 * layer ("overlapping lowerdir path", ELOOP): with the default root as root
 * (/var/lib/agentsh-local/…) the /var/lib layer would sit inside /var/lib itself. Then
 * /var/lib is assembled instead from a tmpfs with each host entry bound read-only.
 */
export function varLibNeedsOverlayFallback(dirs: SandboxDirs): boolean {
  return under(dirs.layers, '/var/lib');
}

/** The launcher plan that assembles the image and runs the server as pid 2 of its own pid namespace. */
export function imagePlan(inp: ImageInputs): Plan {
  const { dirs } = inp;
  const top = inp.host?.topLevel ?? listTop();
  const mounts: MountStep[] = [];
  const bind = (path: string, mode: 'ro' | 'rw', extra: { source?: string; optional?: boolean; noexec?: boolean } = {}) =>
    mounts.push({ kind: 'bind', path, mode, ...extra });
  const tmpfs = (path: string, mode: number, extra: { readOnly?: boolean; noexec?: boolean } = {}) => mounts.push({ kind: 'tmpfs', path, mode, ...extra });
  const overlay = (path: string) => mounts.push({ kind: 'overlay', path, layers: [layerDir(dirs, path), path] });
  const symlink = (path: string, target: string) => mounts.push({ kind: 'symlink', path, target });

  // The host, read-only, at its own paths (symlinks such as /bin -> usr/bin recreated).
  for (const e of top) if (!REPLACED.has(e.name)) bind(`/${e.name}`, 'ro');
  mounts.push({ kind: 'proc' });
  bind('/sys', 'ro', { optional: true });

  // /dev: a tmpfs with the few devices a shell needs.
  tmpfs('/dev', 0o755);
  for (const d of ['null', 'zero', 'full', 'random', 'urandom']) bind(`/dev/${d}`, 'rw');
  bind('/dev/tty', 'rw', { optional: true });
  // As in the seed's Daytona image (the daytona user is in the fuse group): the server mounts
  // the FUSE workspace view where nothing else can intercept deletes (docs/fuse.md).
  bind('/dev/fuse', 'rw', { optional: true });
  symlink('/dev/fd', '/proc/self/fd');
  ['stdin', 'stdout', 'stderr'].forEach((n, i) => symlink(`/dev/${n}`, `/proc/self/fd/${i}`));
  tmpfs('/dev/shm', 0o1777);

  // The sandbox's own writable places.
  tmpfs('/home', 0o755);
  // An image has its own (empty) /root: the host's root home (caches, keys) is none of the sandbox's business.
  tmpfs('/root', 0o700);
  bind(SANDBOX_HOME, 'rw', { source: dirs.home });
  bind('/tmp', 'rw', { source: dirs.tmp });
  bind('/var/tmp', 'rw', { source: dirs.varTmp });
  tmpfs('/run', 0o755);
  bind(RUN_DIR_IN_IMAGE, 'rw', { source: dirs.run });

  // Files the image adds to host directories: read-only overlays (layer on top).
  overlay('/etc');
  overlay('/usr/bin');
  overlay('/usr/lib');
  bind(APP_DIR, 'ro', { source: inp.repoRoot });
  if (varLibNeedsOverlayFallback(dirs)) {
    tmpfs('/var/lib', 0o755);
    for (const e of inp.host?.varLib ?? listDir('/var/lib')) if (e.name !== 'agentsh') bind(`/var/lib/${e.name}`, 'ro');
  } else overlay('/var/lib');
  bind(STATE_DIR_IN_IMAGE, 'rw', { source: dirs.state });

  // overlayfs shows its layers' own files, not what is mounted on them: mounts below an
  // overlaid host directory (a container's /etc/resolv.conf …) are bound again on top.
  const layerFiles = new Set(['/etc/hosts', '/etc/hostname', '/etc/passwd', '/etc/group']);
  for (const m of inp.host?.mountPoints ?? hostMountPoints()) {
    if (layerFiles.has(m) || under(m, STATE_DIR_IN_IMAGE) || under(m, APP_DIR)) continue;
    if (OVERLAID.some((o) => m !== o && under(m, o))) bind(m, 'ro', { optional: true });
  }

  // The node binary must be visible: bind its installation when it lives in a replaced directory.
  const nodeTop = inp.nodePath.split('/')[1] ?? '';
  if (REPLACED.has(nodeTop)) bind(dirname(dirname(inp.nodePath)), 'ro');

  // Every sandbox's directory (tokens, homes) is hidden from the others.
  const rootTop = inp.sandboxRoot.split('/')[1] ?? '';
  if (!REPLACED.has(rootTop) && top.some((e) => e.name === rootTop)) tmpfs(inp.sandboxRoot, 0o755, { readOnly: true });

  return {
    unshare: inp.rootless ? ['user', 'mount', 'pid', 'ipc', 'uts', 'net'] : ['mount', 'pid', 'ipc', 'uts', 'net'],
    ...(inp.rootless ? { userMap: 'identity' } : {}),
    netLo: true,
    hostname: inp.id,
    mounts,
    chdir: '/',
  };
}

// ------------------------------------------------------------------------------ layers

function write(path: string, text: string | Buffer, mode: number): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
}

function copy(src: string, dst: string, mode: number): void {
  mkdirSync(dirname(dst), { recursive: true, mode: 0o755 });
  copyFileSync(src, dst);
  chmodSync(dst, mode);
}

/** /etc/passwd (or group) of the host with the image's user: any entry holding its name or id goes. */
export function withUser(text: string, name: string, id: number, line: string): string {
  const kept = text.split('\n').filter((l) => {
    if (!l.trim()) return false;
    const f = l.split(':');
    return f[0] !== name && f[2] !== String(id);
  });
  return `${[...kept, line].join('\n')}\n`;
}

/** The overlay layers' contents (files the image adds), written under the sandbox directory. */
export function writeLayers(inp: ImageInputs): void {
  const { dirs, identity } = inp;
  const usrBin = layerDir(dirs, '/usr/bin');
  const usrLib = layerDir(dirs, '/usr/lib');
  const etc = layerDir(dirs, '/etc');
  const real = inp.host?.realShells ?? { bash: '/usr/bin/bash', sh: '/usr/bin/dash' };

  // The shim over bash and sh; it execs `<its own path>.real` (native/shim.c).
  copy(inp.shimBinary, join(usrBin, 'bash'), 0o755);
  copy(inp.shimBinary, join(usrBin, 'sh'), 0o755);
  copy(real.bash, join(usrBin, 'bash.real'), 0o755);
  copy(real.sh, join(usrBin, 'sh.real'), 0o755);
  write(join(usrBin, 'agentsh'), [
    `#!${inp.nodePath}`,
    `// agentsh in a local sandbox: the repository's CLI, bound read-only at ${APP_DIR}.`,
    `import(${JSON.stringify(`${APP_DIR}/dist/src/cli/main.js`)}).then((m) => m.main(process.argv.slice(2))).catch((err) => {`,
    "  process.stderr.write(`agentsh: internal error: ${err && err.stack ? err.stack : err}\\n`);",
    '  process.exit(2);',
    '});',
    '',
  ].join('\n'), 0o755);

  copy(join(inp.repoRoot, 'share', 'bash_startup.sh'), join(usrLib, 'agentsh', 'bash_startup.sh'), 0o644);
  mkdirSync(join(usrLib, 'agentsh', 'app'), { recursive: true, mode: 0o755 });

  const passwd = withUser(readFileSync('/etc/passwd', 'utf8'), SANDBOX_USER, identity.uid, `${SANDBOX_USER}:x:${identity.uid}:${identity.gid}:Daytona:${SANDBOX_HOME}:/bin/bash`);
  const group = withUser(readFileSync('/etc/group', 'utf8'), SANDBOX_USER, identity.gid, `${SANDBOX_USER}:x:${identity.gid}:`);
  write(join(etc, 'passwd'), passwd, 0o644);
  write(join(etc, 'group'), group, 0o644);
  write(join(etc, 'hostname'), `${inp.id}\n`, 0o644);
  write(join(etc, 'hosts'), `127.0.0.1\tlocalhost ${inp.id}\n::1\tlocalhost ip6-localhost ip6-loopback\n`, 0o644);
  copy(inp.configFile, join(etc, 'agentsh', 'config.yaml'), 0o644);
  copy(inp.policyFile, join(etc, 'agentsh', 'policies', 'default.yaml'), 0o644);

  if (!varLibNeedsOverlayFallback(dirs)) mkdirSync(join(layerDir(dirs, '/var/lib'), 'agentsh'), { recursive: true, mode: 0o755 });
}
