// What a shell invocation asks for, from its argv: `-c STRING`, a script file, or a script
// read from stdin. Only what the pre-check needs is extracted; the real shell is later run
// with the original argv, so it interprets every option itself.

export type ShellInvocation =
  | { mode: 'command'; script: string }
  | { mode: 'script'; path: string; args: string[] }
  | { mode: 'stdin' }
  | { mode: 'interactive' };

// bash options that consume the next argument.
const OPTION_WITH_ARG = new Set(['-o', '+o', '-O', '+O', '--rcfile', '--init-file']);

export function parseShellArgv(argv: readonly string[], stdinIsTty: boolean): ShellInvocation {
  let commandMode = false;
  let readStdin = false;
  let interactive = false;
  let i = 1;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--' || a === '-') {
      i++;
      break;
    }
    if (OPTION_WITH_ARG.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('--')) continue; // --login, --norc, --noprofile, --posix …
    if (!/^[-+][A-Za-z]+$/.test(a)) break;
    if (a.startsWith('-')) {
      if (a.includes('c')) commandMode = true;
      if (a.includes('s')) readStdin = true;
      if (a.includes('i')) interactive = true;
      // -o inside a cluster (e.g. -eo pipefail) takes the next argument.
      if (a.includes('o') || a.includes('O')) i++;
    }
  }
  const rest = argv.slice(i);
  if (commandMode) return { mode: 'command', script: rest[0] ?? '' };
  if (!readStdin && rest.length > 0) return { mode: 'script', path: rest[0]!, args: rest.slice(1) };
  if (interactive || (stdinIsTty && !readStdin)) return { mode: 'interactive' };
  return { mode: 'stdin' };
}
