#!/usr/bin/env bash
# Builds agentsh in place for the image (the Dockerfile's build step): dependencies with
# their native parts compiled here (re2, better-sqlite3), TypeScript and the console, the
# shell shim and the sandbox launcher (C, -Werror), then the dev dependencies dropped.
#
# usage: build.sh [APP]   (default /usr/lib/agentsh/app)
set -euo pipefail
APP=${1:-/usr/lib/agentsh/app}
cd "$APP"
npm ci --no-audit --no-fund          # `prepare` runs the build (tsc + console)
# The shim and the launcher, by the same code (and flags) that builds them at run time.
node --input-type=module -e "
  const { buildShim } = await import('$APP/dist/src/shim/build.js');
  const { buildLauncher } = await import('$APP/dist/src/sandbox/launcher.js');
  console.log(buildShim()); console.log(buildLauncher());"
node bin/agentsh --version
npm prune --omit=dev --no-audit --no-fund
rm -rf "${HOME:-/root}/.npm"
