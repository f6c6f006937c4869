#!/usr/bin/env bash
# The main job: validate, lint and explain the seed policy, then the security demo on a
# local sandbox (`agentsh demo`: src/cli/demo-cmd.ts, src/demo/).
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

# The security demo: `agentsh demo`, the seed's groups on a local sandbox built from the
# seed's config.yaml and default.yaml, every result asserted, printed as a scorecard (exit
# status = failed checks). The sandbox lives in a temporary root, removed afterwards.
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
printf '\n$ agentsh demo --config %s --policy %s\n' "$seed/config.yaml" "$seed/default.yaml"
AGENTSH_SANDBOX_ROOT="$root" "$a" demo --config "$seed/config.yaml" --policy "$seed/default.yaml"
