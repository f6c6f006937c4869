#!/usr/bin/env bash
# The main job: validate, lint and explain the seed policy, then the security demo on a
# local sandbox (scripts/../src/demo/seed-demo.ts).
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

# The security demo: the seed's seven groups on a local sandbox built from the seed's
# config.yaml and default.yaml, every result asserted (exit status = failed checks).
printf '\n$ node dist/src/demo/seed-demo.js %s %s\n' "$seed/config.yaml" "$seed/default.yaml"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
AGENTSH_SANDBOX_ROOT="$root" node dist/src/demo/seed-demo.js "$seed/config.yaml" "$seed/default.yaml"
