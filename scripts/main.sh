#!/usr/bin/env bash
# The main job until the security demo exists: validate, lint and explain the seed policy,
# then run commands through the real shim and server.
set -uo pipefail
cd "$(dirname "$0")/.."
seed=test/fixtures/seed
[ -d ../shared/seed ] && seed=../shared/seed
a=bin/agentsh
run() { printf '\n$ agentsh %s\n' "$*"; "$a" "$@"; }
vars=(--var PROJECT_ROOT=/home/daytona/project --var HOME=/home/daytona)
run config validate "$seed/config.yaml" || exit 1
run policy validate "$seed/default.yaml" "${vars[@]}" || exit 1
run policy lint "$seed/default.yaml" -c "$seed/config.yaml" "${vars[@]}"
for q in "command -- sudo whoami" "command -- git push --force origin main" "command -- rm -fr /home/daytona/project"; do
  read -r -a words <<<"$q"
  run policy explain -p "$seed/default.yaml" -c "$seed/config.yaml" "${vars[@]}" "${words[@]}"
done
run policy explain -p "$seed/default.yaml" -c "$seed/config.yaml" "${vars[@]}" shell 'cd /tmp && echo $(sudo cat /etc/shadow) | xargs rm -r'
run policy explain -p "$seed/default.yaml" -c "$seed/config.yaml" "${vars[@]}" file read /proc/1/environ
run policy explain -p "$seed/default.yaml" -c "$seed/config.yaml" "${vars[@]}" net metadata.internal 80 --ip 169.254.169.254
run policy explain -p "$seed/default.yaml" -c "$seed/config.yaml" "${vars[@]}" env DAYTONA_API_KEY
run policy test "$seed/default.yaml" examples/seed-cases.yaml

# Governed execution: the real shim over a scratch copy of bash, the real server, the seed
# policy. (The machine's own /bin/bash is never touched.)
tmp=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -p "$tmp/root/bin" "$tmp/policies" "$tmp/home"
cp /bin/bash "$tmp/root/bin/bash"
cp "$seed/default.yaml" "$tmp/policies/default.yaml"
cat >"$tmp/config.yaml" <<YAML
server: { http: { addr: "127.0.0.1:0" }, shim: { run_dir: $tmp/run } }
policies: { dir: $tmp/policies }
audit: { storage: { sqlite_path: $tmp/audit/events.db } }
dlp: { mode: redact }
YAML
run shim install-shell --root "$tmp/root" --bash >/dev/null || exit 1
"$a" server -c "$tmp/config.yaml" 2>"$tmp/server.log" &
server_pid=$!
for _ in $(seq 100); do [ -S "$tmp/run/shim-$(id -u).sock" ] && break; sleep 0.1; done
shim() { printf '\n$ bash -c %q   # through the shim\n' "$1"; AGENTSH_SHIM_FORCE=1 AGENTSH_RUN_DIR="$tmp/run" "$tmp/root/bin/bash" -c "$1"; echo "exit $?"; }
shim 'echo hello from a governed shell'
shim 'sudo whoami'
shim 'ls / | xargs env sudo id'
shim 'echo the key is AKIAQWERTYUIOPASDFGH'
shim 'X=sudo; $X id'
run events -c "$tmp/config.yaml" --type command_policy
