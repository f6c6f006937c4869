// The container image's install step (scripts/image/install.sh, the Dockerfile's last RUN),
// run here the way `docker build` would run it — `install.sh /` as root inside the image's
// root — against a scratch root: an overlay of this machine's / whose writable layer is a
// tmpfs, in private mount, pid and network namespaces. Nothing reaches the host's files.
// The app is this repository (already built), bound read-only at /usr/lib/agentsh/app.
// Then, inside the scratch root: the user, the sudoers, the files, `agentsh config validate`,
// `policy validate`, the shim over the shells, and a shell started cold: the shim starts
// the server on first use and the policy decides (sudo refused with the rule, 126).
// Needs root (namespaces, mounts, chroot).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildLauncher } from '../src/sandbox/launcher.js';
import { buildShim } from '../src/shim/build.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
const isRoot = process.getuid?.() === 0;
const hasTools = ['unshare', 'chroot'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);
const skip = !isRoot ? 'needs root: mount namespaces, overlayfs and chroot' : !hasTools ? 'needs unshare and chroot (util-linux, coreutils)' : false;

const sha = (p: string) => (existsSync(p) ? createHash('sha256').update(readFileSync(p)).digest('hex') : 'absent');
const HOST_FILES = ['/etc/passwd', '/etc/group', '/etc/shadow', '/usr/bin/bash', '/usr/bin/dash', '/usr/local/bin/agentsh', '/etc/agentsh/config.yaml', '/usr/bin/bash.real'];

// Runs in the new namespaces: builds the scratch root, runs install.sh inside it as the
// Dockerfile does, and leaves what the test looks at in $OUT (a host directory).
const INNER = String.raw`
set -uo pipefail
S=$1 OUT=$2 REPO=$3
ip link set lo up
mount --make-rprivate /
mount -t tmpfs tmpfs "$S"
mkdir -p "$S/upper" "$S/work" "$S/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$S/upper,workdir=$S/work" "$S/root"
R=$S/root
mkdir -p "$R/usr/lib/agentsh/app"
mount --bind "$REPO" "$R/usr/lib/agentsh/app" && mount -o remount,bind,ro "$R/usr/lib/agentsh/app"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount --rbind /sys "$R/sys"
mount -t tmpfs tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
rm -rf "$R/var/lib/agentsh" "$R/etc/agentsh" "$R/usr/local/bin/agentsh"
# What the seed's base image does and install.sh must undo: passwordless sudo for daytona.
mkdir -p "$R/etc/sudoers.d"
echo 'daytona ALL=(ALL) NOPASSWD:ALL' > "$R/etc/sudoers.d/daytona"
grep -q '^sudo:' "$R/etc/group" || echo 'sudo:x:27:' >> "$R/etc/group"

run() { local name=$1; shift; "$@" > "$OUT/$name.out" 2>&1; echo $? > "$OUT/$name.rc"; }
in_root() { chroot "$R" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }

run install chroot "$R" /bin/bash /usr/lib/agentsh/app/scripts/image/install.sh /
# The sudoers grant came back in a later layer? install.sh is idempotent: run it again.
echo 'daytona ALL=(ALL) NOPASSWD:ALL' > "$R/etc/sudoers.d/90-daytona"
run install2 chroot "$R" /usr/bin/bash.real /usr/lib/agentsh/app/scripts/image/install.sh /
for f in etc/passwd etc/group etc/shadow; do cp "$R/$f" "$OUT/$(basename $f)" 2>/dev/null; done
ls -A "$R/etc/sudoers.d" > "$OUT/sudoers.d.ls"
chroot "$R" stat -c '%U %a' /home/daytona /var/lib/agentsh > "$OUT/modes"
head -c 200 "$R/usr/local/bin/agentsh" > "$OUT/wrapper"
run validate in_root /usr/local/bin/agentsh config validate /etc/agentsh/config.yaml
run policy in_root /usr/local/bin/agentsh policy validate /etc/agentsh/policies/default.yaml -c /etc/agentsh/config.yaml
run status in_root /usr/local/bin/agentsh shim status --root /
# A cold start, as the first toolbox command in a new sandbox: no server runs yet.
run first in_root AGENTSH_SHIM_FORCE=1 AGENTSH_TOOLBOX_USER=daytona /bin/bash -c 'echo governed-hello'
run sudo in_root AGENTSH_SHIM_FORCE=1 /bin/bash -c 'sudo whoami'
run sh in_root AGENTSH_SHIM_FORCE=1 /bin/sh -c 'kill -0 1'
run asdaytona chroot --userspec=daytona:daytona "$R" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/daytona AGENTSH_SHIM_FORCE=1 /bin/bash -c 'id -un; cd /home/daytona && echo x > f && rm f && echo rm-ok'
run nosudo chroot --userspec=daytona:daytona "$R" env -i PATH=/usr/bin:/bin /usr/bin/bash.real -c 'sudo -n true'
if [ -e "$R/usr/bin/zsh" ]; then
  run zsh in_root AGENTSH_SHIM_FORCE=1 /usr/bin/zsh -c 'sudo whoami'
  # Daytona's current toolbox: the command on stdin to the shell it picked from /etc/shells.
  run zshstdin in_root AGENTSH_SHIM_FORCE=1 /usr/bin/zsh <<< 'echo via-stdin; sudo whoami'
  run zshok in_root AGENTSH_SHIM_FORCE=1 /usr/bin/zsh <<< 'echo via-stdin-ok'
fi
# …and how it picks that shell: sh -c "grep '^[^#]' /etc/shells", through the shim.
run getshell in_root AGENTSH_SHIM_FORCE=1 sh -c "grep '^[^#]' /etc/shells"
exit 0
`;

describe('image install (scripts/image/install.sh) in a scratch root', { skip }, () => {
  const hostBefore = new Map<string, string>();
  let scratch = '';
  let out = '';
  const read = (name: string) => readFileSync(join(out, name), 'utf8');
  const rc = (name: string) => Number(read(`${name}.rc`).trim());
  const both = (name: string) => `exit ${rc(name)}: ${read(`${name}.out`)}`;

  before(() => {
    // What scripts/image/build.sh does in the image: the native parts, compiled (a fresh
    // clone has none until a test or the CLI builds them).
    buildShim();
    buildLauncher();
    for (const f of HOST_FILES) hostBefore.set(f, sha(f));
    scratch = mkdtempSync(join(tmpdir(), 'agentsh-image-'));
    out = mkdtempSync(join(tmpdir(), 'agentsh-image-out-'));
    const script = join(out, 'inner.sh');
    writeFileSync(script, INNER);
    const r = spawnSync('unshare', ['--mount', '--pid', '--fork', '--net', 'bash', script, scratch, out, REPO], { encoding: 'utf8', timeout: 180_000 });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  });
  after(() => {
    rmSync(scratch, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
    for (const [f, h] of hostBefore) assert.equal(sha(f), h, `host file ${f} changed`);
  });

  it('install.sh ran to the end (twice: it is idempotent)', () => {
    assert.equal(rc('install'), 0, read('install.out'));
    assert.match(read('install.out'), /user daytona created \(uid \d+/);
    assert.match(read('install.out'), /removed \/etc\/sudoers\.d\/daytona/);
    assert.match(read('install.out'), /done: every bash, sh/);
    assert.equal(rc('install2'), 0, read('install2.out'));
    assert.match(read('install2.out'), /user daytona exists/);
    assert.match(read('install2.out'), /removed \/etc\/sudoers\.d\/90-daytona/);
    assert.match(read('install2.out'), /unchanged/);
  });

  it('the daytona user exists once, with a locked password, in no sudo group, with no sudoers entry', () => {
    const lines = read('passwd').split('\n').filter((l) => l.startsWith('daytona:'));
    assert.equal(lines.length, 1);
    const [, , uid, gid, , home, shell] = lines[0]!.split(':');
    assert.ok(Number(uid) >= 1000);
    assert.equal(home, '/home/daytona');
    assert.equal(shell, '/bin/bash');
    assert.equal(read('group').split('\n').filter((l) => l.startsWith('daytona:')).length, 1);
    assert.equal(read('group').split('\n').find((l) => l.startsWith('daytona:'))!.split(':')[2], gid);
    for (const g of ['sudo', 'admin', 'wheel']) assert.doesNotMatch(read('group').split('\n').find((l) => l.startsWith(`${g}:`)) ?? '', /daytona/);
    if (existsSync(join(out, 'shadow'))) assert.match(read('shadow'), /^daytona:!:/m);
    assert.doesNotMatch(read('sudoers.d.ls'), /daytona/);
    assert.notEqual(rc('nosudo'), 0, 'sudo -n as daytona must fail');
    assert.equal(read('modes'), 'daytona 755\nroot 700\n');
  });

  it('the CLI is a node script (not a shell script: /bin/sh is the shim) pointing at the app', () => {
    assert.match(read('wrapper'), /^#!\/\S*node\n/);
    assert.match(read('wrapper'), /\/usr\/lib\/agentsh\/app\/dist\/src\/cli\/main\.js/);
  });

  it('the config loads and the policy validates where the server will read them', () => {
    assert.equal(rc('validate'), 0, read('validate.out'));
    assert.match(read('validate.out'), /ok: \/etc\/agentsh\/config\.yaml/);
    assert.equal(rc('policy'), 0, read('policy.out'));
    assert.match(read('policy.out'), /ok: \/etc\/agentsh\/policies\/default\.yaml \(policy 'default'\)/);
  });

  it('the shim is over bash and sh (and zsh where present), the originals kept as .real', () => {
    assert.equal(rc('status'), 0, read('status.out'));
    assert.match(read('status.out'), /^bash: shim$/m);
    assert.match(read('status.out'), /^sh: shim$/m);
    assert.match(read('status.out'), existsSync('/usr/bin/zsh') ? /^zsh: shim$/m : /^zsh: missing$/m);
  });

  it('the first shell starts the server on first use, and the policy decides from then on', () => {
    assert.equal(rc('first'), 0, both('first'));
    assert.match(read('first.out'), /^governed-hello$/m);
    assert.equal(rc('sudo'), 126, both('sudo'));
    assert.match(read('sudo.out'), /denied by policy \(rule=block-shell-escape\)/);
    assert.equal(rc('sh'), 126, both('sh'));
    assert.match(read('sh.out'), /denied by policy \(rule=block-(system-commands|bash-builtins)\)/);
  });

  it("the daytona user's shells go through the same (root) server: governed as daytona", () => {
    assert.equal(rc('asdaytona'), 0, both('asdaytona'));
    assert.match(read('asdaytona.out'), /^daytona\nrm-ok$/m);
  });

  it('zsh, which Daytona\'s toolbox runs, is governed too: with -c and with the command on stdin', { skip: existsSync('/usr/bin/zsh') ? false : 'no zsh on this machine (the image installs it)' }, () => {
    assert.equal(rc('zsh'), 126, both('zsh'));
    assert.match(read('zsh.out'), /rule=block-shell-escape/);
    assert.equal(rc('zshstdin'), 126, both('zshstdin'));
    assert.match(read('zshstdin.out'), /rule=block-shell-escape/);
    assert.doesNotMatch(read('zshstdin.out'), /via-stdin/, 'the whole stdin script is refused before any of it runs');
    assert.equal(rc('zshok'), 0, both('zshok'));
    assert.equal(read('zshok.out'), 'via-stdin-ok\n');
  });

  it("the toolbox's shell detection (sh -c \"grep … /etc/shells\") still works through the shim", () => {
    assert.equal(rc('getshell'), 0, both('getshell'));
    assert.match(read('getshell.out'), /^\/(usr\/)?bin\/(bash|zsh)$/m);
  });
});
