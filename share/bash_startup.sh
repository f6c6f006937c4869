# agentsh: sourced by non-interactive bash through BASH_ENV (sandbox.env_inject).
# Disables the builtins that would let a command act without exec-time policy checks:
# a builtin `kill` signals without running /bin/kill, `ulimit`/`umask` change limits,
# `builtin` and `command` bypass functions. `enable` goes last: after it, nothing can
# turn the others back on.
enable -n kill ulimit umask builtin command 2>/dev/null
enable -n enable 2>/dev/null
