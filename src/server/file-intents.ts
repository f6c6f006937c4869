// The file operations a command line states in so many words — redirections and the path
// arguments of the usual file tools — checked against file_rules, so that an operation the
// kernel will refuse (Landlock, read-only mounts) also leaves an audit event naming the rule.
// Advisory only: the command is not refused for it, the kernel decides, and operations a
// program performs without spelling them on the command line (Python's open()) are not seen
// here (Landlock denials are not reported to user space).
import { posix } from 'node:path';
import type { PolicyDecision } from '../policy/decision.js';
import type { PolicyEngine, ShellCommandDecision } from '../policy/engine.js';

export interface FileIntent {
  operation: string;
  path: string;
  decision: PolicyDecision;
}

const WRITE_REDIRECT = /^\d*(>|>>|>\||&>|&>>|<>)$/;

/** Path arguments (not options) of a command, with the operation each one is for. */
function pathArgs(argv: string[]): Array<[string, string]> {
  const name = posix.basename(argv[0] ?? '');
  const args = argv.slice(1).filter((a) => !a.startsWith('-'));
  switch (name) {
    case 'cp': case 'install': case 'ln':
      return args.length >= 2 ? [['create', args[args.length - 1]!]] : [];
    case 'mv':
      return args.length >= 2 ? [...args.slice(0, -1).map((a): [string, string] => ['rename', a]), ['create', args[args.length - 1]!]] : [];
    case 'touch': case 'tee': case 'truncate':
      return args.filter((a) => !/^\d+[KMG]?$/.test(a)).map((a) => ['write', a]);
    case 'mkdir':
      return args.map((a) => ['mkdir', a]);
    case 'rm': case 'unlink':
      return args.map((a) => ['delete', a]);
    case 'rmdir':
      return args.map((a) => ['rmdir', a]);
    case 'chmod': case 'chown': case 'chgrp':
      return args.slice(1).map((a) => ['chmod', a]);
    case 'dd':
      return argv.slice(1).filter((a) => a.startsWith('of=')).map((a) => ['write', a.slice(3)]);
    default:
      return [];
  }
}

export function fileIntents(engine: PolicyEngine, commands: ShellCommandDecision[], cwd: string): FileIntent[] {
  const out: FileIntent[] = [];
  for (const c of commands) {
    const wanted: Array<[string, string]> = pathArgs(c.argv);
    for (const r of c.redirects ?? []) if (r.target && WRITE_REDIRECT.test(r.op)) wanted.push(['write', r.target]);
    for (const [operation, raw] of wanted) {
      if (raw.includes('$') || raw.includes('`') || raw === '/dev/null') continue;
      const path = posix.resolve(cwd, raw);
      const decision = engine.checkFile(operation, path);
      if (decision.decision !== 'allow' && decision.decision !== 'soft_delete') out.push({ operation, path, decision });
    }
  }
  return out;
}
