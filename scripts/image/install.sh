#!/usr/bin/env bash
# Places agentsh into a root filesystem the way the Daytona image needs it (the Dockerfile's
# last step runs `install.sh /`; test/image-install.test.ts runs it against a scratch root):
#
#   - the `daytona` user (uid 1000 or the first free one) with its home, and NO sudo: any
#     sudoers entry or sudo/admin/wheel membership for it is removed (the seed image grants
#     passwordless sudo, which turns every policy into a suggestion);
#   - /etc/agentsh/config.yaml and /etc/agentsh/policies/default.yaml (the seed's, or
#     AGENTSH_CONFIG_SRC / AGENTSH_POLICY_SRC), /usr/lib/agentsh/bash_startup.sh;
#   - /var/lib/agentsh (state and audit, root only);
#   - /usr/local/bin/agentsh, which the shim starts as `agentsh server` on first use;
#   - LAST, the shell shim over /bin/bash, /bin/sh and zsh (when present): after this every
#     shell in the root goes through the agentsh server, so nothing may follow it.
#
# The application must already be built at ROOT$APP (scripts/image/build.sh): dist/ and the
# native shim and launcher in dist/native.
#
# usage: install.sh [ROOT]    (default /; env: APP, NODE, DAYTONA_UID, AGENTSH_CONFIG_SRC, AGENTSH_POLICY_SRC)
set -euo pipefail

ROOT=${1:-/}
ROOT=${ROOT%/}
APP=${APP:-/usr/lib/agentsh/app}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

[ -d "$ROOT/" ] || die "root ${ROOT:-/} is not a directory"
[ -f "$ROOT$APP/dist/src/cli/main.js" ] || die "agentsh is not built at $ROOT$APP (run scripts/image/build.sh $APP first)"
for b in agentsh-shim agentsh-launcher; do
  [ -x "$ROOT$APP/dist/native/$b" ] || die "$ROOT$APP/dist/native/$b missing (scripts/image/build.sh compiles it)"
done
if [ -z "${NODE:-}" ]; then
  for n in /usr/local/bin/node /usr/bin/node; do [ -x "$ROOT$n" ] && NODE=$n && break; done
fi
[ -n "${NODE:-}" ] && [ -x "$ROOT$NODE" ] || die "no node binary in the root (/usr/local/bin/node, /usr/bin/node; or set NODE)"

# ------------------------------------------------------------------ the daytona user
passwd=$ROOT/etc/passwd group=$ROOT/etc/group shadow=$ROOT/etc/shadow
[ -f "$passwd" ] && [ -f "$group" ] || die "$passwd or $group missing"
if grep -q '^daytona:' "$passwd"; then
  uid=$(awk -F: '$1 == "daytona" { print $3 }' "$passwd")
  gid=$(awk -F: '$1 == "daytona" { print $4 }' "$passwd")
  say "user daytona exists (uid $uid)"
else
  uid=${DAYTONA_UID:-1000}
  while awk -F: -v id="$uid" '$3 == id { found = 1 } END { exit !found }' "$passwd" "$group"; do uid=$((uid + 1)); done
  gid=$uid
  grep -q '^daytona:' "$group" && gid=$(awk -F: '$1 == "daytona" { print $3 }' "$group") || printf 'daytona:x:%s:\n' "$gid" >>"$group"
  printf 'daytona:x:%s:%s:Daytona:/home/daytona:/bin/bash\n' "$uid" "$gid" >>"$passwd"
  # A locked password: no login by password, and no sudo to type one into either.
  [ -f "$shadow" ] && printf 'daytona:!:%s:0:99999:7:::\n' "$(( $(date +%s) / 86400 ))" >>"$shadow"
  say "user daytona created (uid $uid, gid $gid)"
fi
mkdir -p "$ROOT/home/daytona"
chown "$uid:$gid" "$ROOT/home/daytona"
chmod 0755 "$ROOT/home/daytona"

# No sudo for daytona, whatever the base image did.
for g in sudo admin wheel; do
  if grep -qE "^$g:[^:]*:[^:]*:(.*,)?daytona(,|$)" "$group"; then
    sed -i -E "/^$g:/ { s/([:,])daytona(,|$)/\1/; s/,$//; }" "$group"
    say "removed daytona from group $g"
  fi
done
if [ -d "$ROOT/etc/sudoers.d" ]; then
  for f in "$ROOT"/etc/sudoers.d/*; do
    [ -f "$f" ] || continue
    if grep -qE '^[^#]*\bdaytona\b' "$f"; then rm -f "$f"; say "removed ${f#"$ROOT"} (a sudoers entry for daytona)"; fi
  done
fi
if [ -f "$ROOT/etc/sudoers" ] && grep -qE '^[^#]*\bdaytona\b' "$ROOT/etc/sudoers"; then
  sed -i -E '/^[^#]*\bdaytona\b/d' "$ROOT/etc/sudoers"
  say "removed daytona's lines from /etc/sudoers"
fi

# ------------------------------------------------------------- config, policy, startup
install -d -m 0755 "$ROOT/etc/agentsh" "$ROOT/etc/agentsh/policies" "$ROOT/usr/lib/agentsh" "$ROOT/usr/local/bin"
install -m 0644 "${AGENTSH_CONFIG_SRC:-$SRC/test/fixtures/seed/config.yaml}" "$ROOT/etc/agentsh/config.yaml"
install -m 0644 "${AGENTSH_POLICY_SRC:-$SRC/test/fixtures/seed/default.yaml}" "$ROOT/etc/agentsh/policies/default.yaml"
install -m 0644 "$SRC/share/bash_startup.sh" "$ROOT/usr/lib/agentsh/bash_startup.sh"
# The seed config keeps sessions and the audit DB here: the server's alone.
install -d -m 0700 "$ROOT/var/lib/agentsh"

# The CLI and the server. Not a shell script: the shim starts `agentsh server`, and a
# `#!/bin/sh` wrapper would itself need the server (/bin/sh is the shim).
cat >"$ROOT/usr/local/bin/agentsh" <<JS
#!$NODE
// agentsh, installed by scripts/image/install.sh from $APP.
import('$APP/dist/src/cli/main.js').then((m) => m.main(process.argv.slice(2))).catch((err) => {
  process.stderr.write('agentsh: internal error: ' + (err && err.stack ? err.stack : err) + '\n');
  process.exit(2);
});
JS
chmod 0755 "$ROOT/usr/local/bin/agentsh"
say "config in /etc/agentsh, CLI at /usr/local/bin/agentsh (node $NODE, app $APP)"

# ------------------------------------------------------------------ the shim, last
shells=(--bash --sh)
for z in /bin/zsh /usr/bin/zsh; do [ -e "$ROOT$z" ] && shells+=(--zsh) && break; done
host=()
[ -z "$ROOT" ] && host=(--i-understand-this-modifies-the-host)
"${NODE_HOST:-node}" "$SRC/bin/agentsh" shim install-shell --root "${ROOT:-/}" "${shells[@]}" --shim "$ROOT$APP/dist/native/agentsh-shim" "${host[@]}"
say "done: every bash, sh${shells[2]:+ and zsh} in ${ROOT:-/} now goes through agentsh"
