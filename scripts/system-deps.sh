#!/usr/bin/env bash
# Debian packages the project uses beyond Node (run as root; `.ci/run` calls it). Each group is
# optional for the product and its tests skip with a reason when it is missing; a failed
# install says so and goes on.
#   fuse libfuse2      the FUSE workspace backend (fuse-native links Debian's libfuse.so.2)
#   bubblewrap socat ripgrep   Anthropic's sandbox-runtime, the peer in `npm run bench`
#   chromium           the web console's browser tests (playwright-core downloads none)
#   zsh                Daytona's toolbox shell, governed by the image's shim
set -uo pipefail
want=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for p in fuse libfuse2 bubblewrap socat ripgrep chromium zsh; do have_pkg "$p" || want+=("$p"); done
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then echo "system-deps: not root; missing: ${want[*]} (their tests will be skipped)"; exit 0; fi
apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" </dev/null; }
apt_install "${want[@]}" || { apt-get update </dev/null && apt_install "${want[@]}"; } ||
  for p in "${want[@]}"; do apt_install "$p" || echo "system-deps: $p not installed; what needs it will be skipped"; done
exit 0
