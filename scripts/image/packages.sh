#!/usr/bin/env bash
# The image's system packages (Debian bookworm, the node:20 image's base): a compiler and
# Python for the native builds, the shells the shim covers (zsh: Daytona's toolbox runs
# commands with it), and the tools the security demo uses. sudo is installed so the demo's
# sudo checks mean something — the daytona user gets no sudoers entry (install.sh). fuse and
# libfuse2: the FUSE workspace view, where the runtime allows neither user-notify nor ptrace.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends ca-certificates curl g++ make python3 zsh sudo procps git fuse libfuse2
rm -rf /var/lib/apt/lists/*
# The node image's own user holds uid 1000, which the daytona user takes.
if getent passwd node >/dev/null; then userdel -r node 2>/dev/null || userdel node; fi
