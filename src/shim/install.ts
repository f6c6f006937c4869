// Installing the shell shim over a root's shells, and taking it off again.
//
// For each requested shell the candidate paths `<root>/bin/<shell>` and
// `<root>/usr/bin/<shell>` are resolved *inside the root* (absolute symlink targets are
// taken relative to the root, `..` never climbs out of it), so a scratch root never touches
// the host's files and merged-usr layouts (`bin -> usr/bin`, `sh -> dash`) name one file once.
// The shim goes over the resolved regular file F; the original is kept as `F.real` (the
// same inode: mode, owner and timestamps untouched). The shim finds it at run time as
// realpath(/proc/self/exe) + ".real" (docs/shim-protocol.md).
//
// Install and uninstall plan every file first and change nothing if any file is in a state
// they cannot handle; install never moves a shim over `.real`.
import { chmodSync, chownSync, closeSync, constants, fsyncSync, linkSync, lstatSync, openSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { buildShim, SHIM_MARKER } from './build.js';

export type ShellName = 'bash' | 'sh' | 'zsh';
export const SHELLS: readonly ShellName[] = ['bash', 'sh', 'zsh'];
export type ShellState = 'shim' | 'original' | 'missing' | 'inconsistent';

/** Where each shell may live, relative to the root. */
const CANDIDATE_DIRS = ['/bin', '/usr/bin'];
const MARKER = Buffer.from(SHIM_MARKER);
const HOST_FLAG = '--i-understand-this-modifies-the-host';

/** The detailed condition of one resolved shell file F and its `F.real`. */
type Kind =
  | 'shim' // F is the shim, F.real the original
  | 'original' // F is not the shim, no F.real
  | 'missing' // neither exists
  | 'linked' // F and F.real are one inode: an install stopped after keeping the original
  | 'only-real' // F missing, F.real the original: an install or uninstall stopped half-way
  | 'no-real' // F is the shim but the original is gone
  | 'real-is-shim' // F.real is a shim: the original is lost
  | 'both' // F is not the shim and a different F.real exists (e.g. a package upgrade replaced F)
  | 'not-file'; // F or F.real is not a regular file

const KIND_STATE: Record<Kind, ShellState> = {
  shim: 'shim',
  original: 'original',
  missing: 'missing',
  linked: 'inconsistent',
  'only-real': 'inconsistent',
  'no-real': 'inconsistent',
  'real-is-shim': 'inconsistent',
  both: 'inconsistent',
  'not-file': 'inconsistent',
};

const KIND_DETAIL: Record<Kind, string> = {
  shim: 'shim installed, original kept as .real',
  original: 'original shell, no shim',
  missing: 'not present',
  linked: 'an install stopped half-way (.real is a hard link of the original); install or uninstall repairs it',
  'only-real': 'nothing at the path but the original is kept as .real (an install or uninstall stopped half-way); install or uninstall repairs it',
  'no-real': 'the shim is installed but the original (.real) is missing: cannot restore',
  'real-is-shim': 'the kept original (.real) is itself a shim: the original is lost',
  both: 'the file is not the shim but a .real also exists (was the shell reinstalled over the shim?); resolve by hand',
  'not-file': 'not a regular file',
};

export interface ShellFile {
  /** The resolved file on the host filesystem, e.g. `/tmp/root/usr/bin/dash`. */
  path: string;
  /** The same file as seen inside the root, e.g. `/usr/bin/dash`. */
  inRoot: string;
  /** The candidate paths (inside the root) that resolve to it, e.g. `/bin/sh`, `/usr/bin/sh`. */
  via: string[];
  state: ShellState;
  detail: string;
}

export interface ShellStatus {
  shell: ShellName;
  state: ShellState;
  files: ShellFile[];
}

export interface FileAction {
  path: string;
  inRoot: string;
  shells: ShellName[];
  action: 'installed' | 'updated' | 'unchanged' | 'repaired' | 'restored' | 'already-original';
}

export interface ShimReport {
  root: string;
  actions: FileAction[];
  /** Requested shells not present in the root (skipped). */
  missing: ShellName[];
}

export interface RootOptions {
  root: string;
  /** Required to operate on `/` (the CLI's --i-understand-this-modifies-the-host). */
  iUnderstandThisModifiesTheHost?: boolean;
}

export interface InstallOptions extends RootOptions {
  shimPath: string;
  shells: readonly ShellName[];
}

export interface UninstallOptions extends RootOptions {
  shells: readonly ShellName[];
}

export class ShimInstallError extends Error {}

// ------------------------------------------------------------------------------ helpers

function checkRoot(opts: RootOptions, modifies: boolean): string {
  if (!opts.root) throw new ShimInstallError('a root directory is required (--root DIR)');
  let root: string;
  try {
    root = realpathSync(resolve(opts.root));
  } catch (err) {
    throw new ShimInstallError(`root ${opts.root}: ${(err as Error).message}`);
  }
  if (!statSync(root).isDirectory()) throw new ShimInstallError(`root ${opts.root} is not a directory`);
  if (modifies && root === '/' && opts.iUnderstandThisModifiesTheHost !== true) {
    throw new ShimInstallError(`refusing to modify the host's shells (root ${opts.root} is /) without ${HOST_FLAG}`);
  }
  return root;
}

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

/**
 * Resolves `p` (absolute, inside the root) component by component as if `root` were `/`.
 * Returns null when a directory on the way is missing; `exists: false` when only the last
 * component is (a dangling link resolves to its target's location).
 */
export function resolveInRoot(root: string, p: string): { path: string; inRoot: string; exists: boolean } | null {
  const todo = p.split('/').filter(Boolean).reverse();
  const cur: string[] = [];
  let links = 0;
  while (todo.length) {
    const c = todo.pop()!;
    if (c === '.') continue;
    if (c === '..') {
      cur.pop(); // clamped at the root
      continue;
    }
    const host = join(root, ...cur, c);
    const st = lstatOrNull(host);
    if (!st) {
      if (todo.length === 0) return { path: host, inRoot: `/${[...cur, c].join('/')}`, exists: false };
      return null;
    }
    if (st.isSymbolicLink()) {
      if (++links > 40) throw new ShimInstallError(`too many symbolic links resolving ${p} under ${root}`);
      const target = readlinkSync(host);
      if (target.startsWith('/')) cur.length = 0;
      todo.push(...target.split('/').filter(Boolean).reverse());
      continue;
    }
    if (todo.length && !st.isDirectory()) return null;
    cur.push(c);
  }
  return { path: cur.length ? join(root, ...cur) : root, inRoot: `/${cur.join('/')}`, exists: true };
}

function isShimFile(p: string): boolean {
  return readFileSync(p).includes(MARKER);
}

function classify(path: string): Kind {
  const f = lstatOrNull(path);
  const r = lstatOrNull(`${path}.real`);
  if (!f && !r) return 'missing';
  if ((f && !f.isFile()) || (r && !r.isFile())) return 'not-file';
  if (r && isShimFile(`${path}.real`)) return 'real-is-shim';
  if (!f) return 'only-real';
  const shim = isShimFile(path);
  if (shim) return r ? 'shim' : 'no-real';
  if (!r) return 'original';
  return f.ino === r.ino && f.dev === r.dev ? 'linked' : 'both';
}

interface Target {
  path: string;
  inRoot: string;
  via: string[];
  shells: ShellName[];
  kind: Kind;
}

/** The distinct files the given shells resolve to, plus the shells with no file at all. */
function targets(root: string, shells: readonly ShellName[]): { files: Target[]; byShell: Map<ShellName, Target[]> } {
  const files = new Map<string, Target>();
  const byShell = new Map<ShellName, Target[]>();
  for (const shell of shells) {
    if (!SHELLS.includes(shell)) throw new ShimInstallError(`unknown shell ${String(shell)} (expected one of ${SHELLS.join(', ')})`);
    const mine: Target[] = [];
    for (const dir of CANDIDATE_DIRS) {
      const candidate = `${dir}/${shell}`;
      const res = resolveInRoot(root, candidate);
      if (!res) continue;
      let t = files.get(res.path);
      if (!t) {
        t = { path: res.path, inRoot: res.inRoot, via: [], shells: [], kind: classify(res.path) };
        files.set(res.path, t);
      }
      if (!t.via.includes(candidate)) t.via.push(candidate);
      if (!t.shells.includes(shell)) t.shells.push(shell);
      if (!mine.includes(t)) mine.push(t);
    }
    byShell.set(shell, mine);
  }
  return { files: [...files.values()], byShell };
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch {
    // best effort: some filesystems refuse fsync on directories
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Writes the shim next to `path` with `like`'s permission bits (never set-id) and owner. */
function writeShimBeside(path: string, shim: Buffer, like: Stats): string {
  const tmp = `${path}.agentsh-new`;
  rmSync(tmp, { force: true });
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o700);
  try {
    for (let off = 0; off < shim.length; ) off += writeSync(fd, shim, off, shim.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    const uid = process.getuid?.() ?? -1;
    const gid = process.getgid?.() ?? -1;
    if (like.uid !== uid || like.gid !== gid) {
      // chown before chmod: chown clears set-id bits, and we never set them anyway.
      chownSync(tmp, like.uid, like.gid);
    }
    chmodSync(tmp, like.mode & 0o777);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new ShimInstallError(`cannot give ${tmp} the owner/mode of ${path}: ${(err as Error).message}`);
  }
  return tmp;
}

// ------------------------------------------------------------------------------ API

export function shellStatus(opts: { root: string; shells?: readonly ShellName[] }): ShellStatus[] {
  const root = checkRoot({ root: opts.root }, false);
  const shells = opts.shells ?? SHELLS;
  const { byShell } = targets(root, shells);
  return shells.map((shell) => {
    const files = (byShell.get(shell) ?? []).map((t): ShellFile => ({ path: t.path, inRoot: t.inRoot, via: t.via, state: KIND_STATE[t.kind], detail: KIND_DETAIL[t.kind] }));
    const present = files.filter((f) => f.state !== 'missing');
    const states = new Set(present.map((f) => f.state));
    const state: ShellState = present.length === 0 ? 'missing' : states.size === 1 ? present[0]!.state : 'inconsistent';
    return { shell, state, files };
  });
}

export function installShell(opts: InstallOptions): ShimReport {
  const root = checkRoot(opts, true);
  if (!opts.shells.length) throw new ShimInstallError('no shell chosen (--bash, --sh, --zsh)');
  let shimReal: string;
  try {
    shimReal = realpathSync(opts.shimPath);
  } catch (err) {
    throw new ShimInstallError(`shim ${opts.shimPath}: ${(err as Error).message}`);
  }
  const shimStat = statSync(shimReal);
  if (!shimStat.isFile()) throw new ShimInstallError(`shim ${opts.shimPath} is not a regular file`);
  const shim = readFileSync(shimReal);
  if (!shim.includes(MARKER)) throw new ShimInstallError(`${opts.shimPath} is not an agentsh shim (marker ${SHIM_MARKER} not found); build one with native/Makefile or buildShim()`);

  const { files, byShell } = targets(root, opts.shells);
  const problems: string[] = [];
  for (const t of files) {
    if (t.path === shimReal || `${t.path}.real` === shimReal) problems.push(`${t.inRoot}: the shim to install is this very file`);
    else if (!['shim', 'original', 'missing', 'linked', 'only-real'].includes(t.kind)) problems.push(`${t.inRoot} (${t.via.join(', ')}): ${KIND_DETAIL[t.kind]}`);
  }
  if (problems.length) throw new ShimInstallError(`install refused, nothing changed:\n  ${problems.join('\n  ')}`);

  const actions: FileAction[] = [];
  for (const t of files) {
    if (t.kind === 'missing') continue;
    const real = `${t.path}.real`;
    const act = (action: FileAction['action']) => actions.push({ path: t.path, inRoot: t.inRoot, shells: t.shells, action });
    if (t.kind === 'shim') {
      if (readFileSync(t.path).equals(shim)) {
        act('unchanged');
        continue;
      }
      // An older shim: replace it; .real is never touched.
      renameSync(writeShimBeside(t.path, shim, lstatSync(t.path)), t.path);
      fsyncDir(dirname(t.path));
      act('updated');
      continue;
    }
    if (t.kind === 'original') {
      const tmp = writeShimBeside(t.path, shim, lstatSync(t.path));
      try {
        // Keep the original as .real by hard link, then swap the shim in atomically: the
        // path never stops naming a working file. Where links are refused, rename instead.
        try {
          linkSync(t.path, real);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw err;
          renameSync(t.path, real);
        }
      } catch (err) {
        rmSync(tmp, { force: true });
        throw new ShimInstallError(`cannot keep ${t.path} as ${real}: ${(err as Error).message}`);
      }
      renameSync(tmp, t.path);
      fsyncDir(dirname(t.path));
      act('installed');
      continue;
    }
    // Repairs of an interrupted install: the original is safe in .real already.
    renameSync(writeShimBeside(t.path, shim, lstatSync(t.kind === 'linked' ? t.path : real)), t.path);
    fsyncDir(dirname(t.path));
    act('repaired');
  }
  const missing = opts.shells.filter((s) => (byShell.get(s) ?? []).every((t) => t.kind === 'missing'));
  return { root, actions, missing };
}

export function uninstallShell(opts: UninstallOptions): ShimReport {
  const root = checkRoot(opts, true);
  if (!opts.shells.length) throw new ShimInstallError('no shell chosen (--bash, --sh, --zsh)');
  const { files, byShell } = targets(root, opts.shells);
  const problems = files.filter((t) => !['shim', 'original', 'missing', 'linked', 'only-real'].includes(t.kind)).map((t) => `${t.inRoot} (${t.via.join(', ')}): ${KIND_DETAIL[t.kind]}`);
  if (problems.length) throw new ShimInstallError(`uninstall refused, nothing changed:\n  ${problems.join('\n  ')}`);
  const actions: FileAction[] = [];
  for (const t of files) {
    if (t.kind === 'missing') continue;
    const act = (action: FileAction['action']) => actions.push({ path: t.path, inRoot: t.inRoot, shells: t.shells, action });
    if (t.kind === 'original') {
      act('already-original');
      continue;
    }
    if (t.kind === 'linked') unlinkSync(`${t.path}.real`); // F is the original already
    else renameSync(`${t.path}.real`, t.path); // atomic: the path always names a shell
    fsyncDir(dirname(t.path));
    act('restored');
  }
  const missing = opts.shells.filter((s) => (byShell.get(s) ?? []).every((t) => t.kind === 'missing'));
  return { root, actions, missing };
}

// ------------------------------------------------------------------------------ CLI

const USAGE = `usage:
  agentsh shim install-shell --root DIR [--shim PATH] [--bash] [--sh] [--zsh] [${HOST_FLAG}] [--json]
  agentsh shim uninstall-shell --root DIR [--bash] [--sh] [--zsh] [${HOST_FLAG}] [--json]
  agentsh shim status [--root DIR] [--bash] [--sh] [--zsh] [--json]
--root / (the machine itself) needs ${HOST_FLAG}. Without --shim, the shim is
compiled from native/shim.c (needs cc).`;

/**
 * `agentsh shim VERB …` without a CLI framework: argv is the words after `shim` (a leading
 * `shim` is accepted too). Returns the exit code: 0 done, 1 refused/failed or (status) a
 * shell is inconsistent, 2 usage.
 */
export function shimCommand(argv: string[], io: { out: (s: string) => void; err: (s: string) => void } = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }): number {
  const args = argv[0] === 'shim' ? argv.slice(1) : [...argv];
  const verb = args.shift();
  let root: string | undefined;
  let shimPath: string | undefined;
  let json = false;
  let host = false;
  const shells: ShellName[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new ShimInstallError(`${a} needs a value`);
      return v;
    };
    if (a === '--root') root = value();
    else if (a.startsWith('--root=')) root = a.slice(7);
    else if (a === '--shim') shimPath = value();
    else if (a.startsWith('--shim=')) shimPath = a.slice(7);
    else if (a === '--bash' || a === '--sh' || a === '--zsh') shells.push(a.slice(2) as ShellName);
    else if (a === '--json') json = true;
    else if (a === HOST_FLAG) host = true;
    else if (a === '-h' || a === '--help') {
      io.out(`${USAGE}\n`);
      return 0;
    } else {
      io.err(`agentsh shim: unknown argument ${a}\n${USAGE}\n`);
      return 2;
    }
  }
  try {
    if (verb === 'status') {
      const st = shellStatus({ root: root ?? '/', shells: shells.length ? shells : SHELLS });
      if (json) io.out(`${JSON.stringify(st, null, 2)}\n`);
      else for (const s of st) io.out(`${s.shell}: ${s.state}${s.files.map((f) => `\n  ${f.inRoot} (via ${f.via.join(', ')}): ${f.state} — ${f.detail}`).join('')}\n`);
      return st.some((s) => s.state === 'inconsistent') ? 1 : 0;
    }
    if (verb !== 'install-shell' && verb !== 'uninstall-shell') {
      io.err(`agentsh shim: unknown verb ${verb ?? '(none)'}\n${USAGE}\n`);
      return 2;
    }
    if (!root) {
      io.err(`agentsh shim ${verb}: --root DIR is required\n${USAGE}\n`);
      return 2;
    }
    if (!shells.length) {
      io.err(`agentsh shim ${verb}: choose at least one of --bash, --sh, --zsh\n`);
      return 2;
    }
    let report: ShimReport;
    if (verb === 'install-shell') {
      // Refuse / before compiling anything.
      checkRoot({ root, iUnderstandThisModifiesTheHost: host }, true);
      shimPath ??= buildShim();
      report = installShell({ root, shimPath, shells, iUnderstandThisModifiesTheHost: host });
    } else {
      report = uninstallShell({ root, shells, iUnderstandThisModifiesTheHost: host });
    }
    if (json) io.out(`${JSON.stringify(report, null, 2)}\n`);
    else {
      for (const a of report.actions) io.out(`${a.shells.join(', ')}: ${a.inRoot}: ${a.action}\n`);
      for (const m of report.missing) io.out(`${m}: not present under ${report.root}, skipped\n`);
    }
    return 0;
  } catch (err) {
    io.err(`agentsh shim ${verb}: ${(err as Error).message}\n`);
    return 1;
  }
}
