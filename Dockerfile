# agentsh inside a Daytona sandbox (docs/deploy-daytona.md). Every step is a script in
# scripts/image/; test/image-install.test.ts runs install.sh against a scratch root.
#
#   docker build -t agentsh-daytona:0.1.0 .
#   daytona snapshot push agentsh-daytona:0.1.0 --name agentsh-sandbox --cpu 2 --memory 2 --disk 10
FROM node:20-bookworm-slim

# System packages: compiler and Python for the native builds, zsh, sudo (no grant), curl.
COPY scripts/image/packages.sh /tmp/packages.sh
RUN bash /tmp/packages.sh && rm /tmp/packages.sh

# agentsh from this repository, built here: npm ci (re2 and better-sqlite3 compiled),
# TypeScript, the console, the shell shim and the sandbox launcher.
COPY . /usr/lib/agentsh/app
RUN bash /usr/lib/agentsh/app/scripts/image/build.sh /usr/lib/agentsh/app

# The daytona user without sudo, /etc/agentsh/{config.yaml,policies/default.yaml}, and LAST
# the shim over /bin/bash, /bin/sh and zsh: no RUN step can follow it (every shell now
# needs the agentsh server).
RUN bash /usr/lib/agentsh/app/scripts/image/install.sh /

# The shim governs every call (Daytona's toolbox has no TTY); a root server also serves the
# daytona user's shim socket. AGENTSH_SERVER is agentsh's client address (kept for parity).
ENV AGENTSH_SHIM_FORCE=1 \
    AGENTSH_SERVER=http://127.0.0.1:18080 \
    AGENTSH_TOOLBOX_USER=daytona \
    AGENTSH_BIN=/usr/local/bin/agentsh
WORKDIR /home/daytona
# The server as root from the start; if nothing started it, the shim starts it on first use.
CMD ["/usr/local/bin/agentsh", "server"]
