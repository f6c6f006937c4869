// Programs that run another program (or shell code) given on their command line.
//
// Each wrapper's option syntax is modelled after its real implementation (GNU coreutils,
// findutils, util-linux, sudo, procps, bash builtins), because the payload's position
// depends on which options take an argument: `sudo -u root id` runs `id`, not `root`.
// All of them stop option parsing at the first operand (getopt "+" mode) except util-linux
// su, which permutes. An option we don't know makes the payload's position a guess: the
// guess is still analysed (treating the option as a flag) and an 'unknown-wrapper-form'
// opaque entry says so.

import { builtinSteps } from './builtins.js';
import { type Word, staticWord, splitEnvString } from './words.js';

export type OpaqueReason =
  | 'dynamic-command-name' | 'eval' | 'parse-error' | 'source'
  | 'too-deep' | 'too-large' | 'unknown-wrapper-form';

/** What running `words` leads to, besides the program itself being exec'd. */
export type Step =
  /** another program is exec'd: words[0] is its name */
  | { kind: 'exec'; words: Word[]; label: string; nested: boolean; assignments: string[] }
  /** shell code run by a nested shell (one level deeper) */
  | { kind: 'script'; source: Word; label: string }
  /** a shell that reads its script from standard input */
  | { kind: 'stdin'; label: string }
  | { kind: 'opaque'; reason: OpaqueReason };

interface OptSpec {
  short: string;                  // getopt optstring: 'x' flag, 'x:' argument, 'x::' attached-only argument
  long?: Record<string, string>;  // long name → short key ('' = long-only) + '', ':' or '::'
  plus?: boolean;                 // +x options exist (shells)
  numeric?: boolean;              // -N, --N, -+N adjustments (nice)
  permute?: boolean;              // options may follow operands (util-linux su)
  dash?: string;                  // meaning of a lone '-': an option key, or 'end'
}

interface Wrapper extends OptSpec {
  operands?: number;     // operands before the program (timeout DURATION, chroot NEWROOT …)
  assignments?: boolean | 'shell'; // NAME=VALUE words before the program (env, sudo), as the shell reads them (keywords)
  nested?: boolean;      // the program is a new command line built from data: depth + 1
  noExec?: string;       // option keys after which nothing is executed (command -v …)
  implicit?: string;     // program run when none is given (xargs → echo)
  replace?: string;      // option keys whose value (a replacement string) makes the payload words holding it dynamic
}

type Opts = Map<string, Word | true>;
interface Parsed { opts: Opts; index: number; unknown: boolean }

function getopt(words: Word[], from: number, spec: OptSpec): Parsed {
  const p: Parsed = { opts: new Map(), index: from, unknown: false };
  while (p.index < words.length) {
    const w = words[p.index]!;
    const v = w.value;
    if (!w.static || v.length < 2 || (v[0] !== '-' && !(spec.plus && v[0] === '+'))) {
      if (w.static && v === '-' && spec.dash) {
        p.index++;
        if (spec.dash === 'end') break;
        p.opts.set(spec.dash, true);
        continue;
      }
      if (spec.permute) { p.index++; continue; }
      break;
    }
    if (v === '--') { p.index++; break; }
    if (spec.numeric && /^-[-+]?\d+$/.test(v)) { p.opts.set('numeric', staticWord(v)); p.index++; continue; }
    if (v.startsWith('--')) longOption(words, p, spec);
    else shortCluster(words, p, spec);
  }
  return p;
}

function longOption(words: Word[], p: Parsed, spec: OptSpec): void {
  const v = words[p.index]!.value;
  const eq = v.indexOf('=');
  const given = v.slice(2, eq < 0 ? undefined : eq);
  const names = Object.keys(spec.long ?? {});
  const exact = names.includes(given) ? given : undefined;
  const prefixed = names.filter((n) => n.startsWith(given));
  const name = exact ?? (prefixed.length === 1 ? prefixed[0] : undefined);
  p.index++;
  if (name === undefined) { p.unknown = true; return; }
  const desc = spec.long![name]!;
  const colons = desc.replace(/^[^:]/, '');
  const key = desc.length > colons.length ? desc[0]! : name;
  if (colons === ':') {
    const value = eq >= 0 ? staticWord(v.slice(eq + 1)) : words[p.index++];
    if (!value) p.unknown = true;
    p.opts.set(key, value ?? true);
  } else {
    if (eq >= 0 && colons === '') p.unknown = true;
    p.opts.set(key, eq >= 0 ? staticWord(v.slice(eq + 1)) : true);
  }
}

function shortCluster(words: Word[], p: Parsed, spec: OptSpec): void {
  const v = words[p.index]!.value;
  const prefix = v[0] === '+' ? '+' : '';
  p.index++;
  for (let j = 1; j < v.length; j++) {
    const ch = v[j]!;
    const at = ch === ':' ? -1 : spec.short.indexOf(ch);
    if (at < 0) { p.unknown = true; continue; }
    const key = prefix + ch;
    if (spec.short[at + 1] !== ':') { p.opts.set(key, true); continue; }
    const rest = v.slice(j + 1);
    if (spec.short[at + 2] === ':') { p.opts.set(key, rest ? staticWord(rest) : true); return; }
    const value = rest ? staticWord(rest) : words[p.index++];
    if (!value) p.unknown = true;
    p.opts.set(key, value ?? true);
    return;
  }
}

const WRAPPERS: Record<string, Wrapper> = {
  nice: { short: 'n:', long: { adjustment: 'n:' }, numeric: true },
  nohup: { short: '' },
  timeout: {
    short: 'fk:ps:v', operands: 1,
    long: { foreground: 'f', 'kill-after': 'k:', 'preserve-status': 'p', signal: 's:', verbose: 'v' },
  },
  stdbuf: { short: 'i:o:e:', long: { input: 'i:', output: 'o:', error: 'e:' } },
  setsid: { short: 'cfw', long: { ctty: 'c', fork: 'f', wait: 'w' } },
  time: {
    // the bash keyword (`time -p A=1 x` runs x with A=1)
    short: 'af:o:pqv', assignments: 'shell',
    long: { append: 'a', format: 'f:', output: 'o:', portability: 'p', quiet: 'q', verbose: 'v' },
  },
  command: { short: 'pvV', noExec: 'vV' },
  builtin: { short: '' },
  exec: { short: 'a:cl' },
  coproc: { short: '', assignments: 'shell' }, // a keyword: `coproc A=1 x` runs x
  xargs: {
    short: '0a:d:E:e::I:i::L:l::n:oprs:tP:x', nested: true, implicit: 'echo', replace: 'Ii',
    long: {
      null: '0', 'arg-file': 'a:', delimiter: 'd:', eof: 'e::', replace: 'i::', 'max-lines': 'l::',
      'max-args': 'n:', 'open-tty': 'o', interactive: 'p', 'max-procs': 'P:', 'no-run-if-empty': 'r',
      'max-chars': 's:', verbose: 't', exit: 'x', 'show-limits': '', 'process-slot-var': ':',
    },
  },
  sudo: {
    short: 'Aa:BbC:c:D:Eeg:Hh::iKklNnPp:R:r:SsT:t:U:u:Vv', assignments: true, noExec: 'elVKvh',
    long: {
      askpass: 'A', 'auth-type': 'a:', background: 'B', bell: 'b', 'close-from': 'C:',
      'login-class': 'c:', chdir: 'D:', 'preserve-env': '::', edit: 'e', group: 'g:',
      'set-home': 'H', help: 'h', host: ':', login: 'i', 'remove-timestamp': 'K',
      'reset-timestamp': 'k', list: 'l', 'no-update': 'N', 'non-interactive': 'n',
      'preserve-groups': 'P', prompt: 'p:', chroot: 'R:', role: 'r:', stdin: 'S', shell: 's',
      type: 't:', 'command-timeout': 'T:', 'other-user': 'U:', user: 'u:', version: 'V',
      validate: 'v',
    },
  },
  doas: { short: 'a:C:Lnsu:', noExec: 'CL' },
  pkexec: { short: '', long: { user: ':', 'disable-internal-agent': '', 'keep-cwd': '' } },
  chroot: { short: '', operands: 1, long: { userspec: ':', groups: ':', 'skip-chdir': '' } },
  ionice: {
    short: 'c:n:p:P:u:t', noExec: 'pPu',
    long: { class: 'c:', classdata: 'n:', pid: 'p:', pgid: 'P:', uid: 'u:', ignore: 't' },
  },
  taskset: { short: 'acp', operands: 1, noExec: 'p', long: { 'all-tasks': 'a', 'cpu-list': 'c', pid: 'p' } },
  strace: {
    short: 'cdDfFhiknqrtTvVwxyzZa:b:e:E:I:o:O:p:P:s:S:u:U:X:',
    long: {
      trace: ':', 'trace-path': 'P:', signal: ':', status: ':', output: 'o:', attach: 'p:',
      'string-limit': 's:', user: 'u:', env: 'E:', 'follow-forks': 'f', 'output-separately': '',
      'summary-only': 'c', summary: 'C', 'summary-columns': ':', 'summary-sort-by': 'S:',
      'decode-fds': '::', 'decode-pids': '::', 'no-abbrev': '', 'absolute-timestamps': '::',
      timestamps: '::', 'relative-timestamps': '::', 'syscall-times': '::', quiet: '::',
      'seccomp-bpf': '', 'stack-traces': 'k', 'daemonize': '::', verbose: ':', raw: ':',
      read: ':', write: ':', inject: ':', fault: ':', 'const-print-style': 'X:',
    },
  },
  ltrace: {
    short: 'bcCfhiLrStTVa:A:D:e:F:l:n:o:p:s:u:w:x:',
    long: { output: 'o:', library: 'l:', indent: 'n:', align: 'a:', demangle: 'C', help: 'h', version: 'V' },
  },
  unbuffer: { short: 'p' },
};

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'rbash', 'yash', 'posh', 'lksh', 'pdksh', 'ksh93']);
const SHELL_SPEC: OptSpec = {
  short: 'abcdefghijklmnpqrstuvwxyzABCDEFGHIJKLMNPQRSTUVWXYZ' + 'o:O:',
  plus: true,
  dash: 'end',
  long: {
    'init-file': ':', rcfile: ':', login: 'l', noediting: '', noprofile: '', norc: '', posix: '',
    restricted: 'r', verbose: 'v', version: '', help: '', debugger: '', 'dump-strings': '',
    'dump-po-strings': '', 'pretty-print': '',
  },
};
const ENV_SPEC: OptSpec = {
  short: 'i0vu:C:S:a:', dash: 'i',
  long: {
    'ignore-environment': 'i', null: '0', unset: 'u:', chdir: 'C:', 'split-string': 'S:',
    debug: 'v', argv0: 'a:', 'block-signal': '::', 'default-signal': '::', 'ignore-signal': '::',
    'list-signal-handling': '',
  },
};
const SU_SPEC: OptSpec = {
  short: 'c:flmpPs:g:G:w:', permute: true, dash: 'l',
  long: {
    command: 'c:', 'session-command': 'c:', fast: 'f', login: 'l', 'preserve-environment': 'm',
    pty: 'P', shell: 's:', group: 'g:', 'supp-group': 'G:', 'whitelist-environment': 'w:',
  },
};
const WATCH_SPEC: OptSpec = {
  short: 'bcCd::eghn:pq:rtwx',
  long: {
    beep: 'b', color: 'c', 'no-color': 'C', differences: 'd::', errexit: 'e', chgexit: 'g',
    interval: 'n:', precise: 'p', 'no-title': 't', 'no-wrap': 'w', exec: 'x', equexit: 'q:',
    'no-rerun': 'r',
  },
};
const FLOCK_SPEC: OptSpec = {
  short: 'sexnouFw:E:',
  long: {
    shared: 's', exclusive: 'x', unlock: 'u', nonblock: 'n', nb: 'n', timeout: 'w:',
    'conflict-exit-code': 'E:', close: 'o', 'no-fork': 'F', verbose: '',
  },
};
const ENV_SPEC_PAYLOAD: Wrapper = { short: '', assignments: true };
const FIND_ACTIONS = new Set(['-exec', '-execdir', '-ok', '-okdir']);

export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

// env and sudo take any word with '=' after its first character as NAME=VALUE.
const isAssignment = (w: Word) => /^[^=]+=/.test(w.static ? w.value : w.text);
// the shell takes only an unquoted NAME= or NAME[…]= (NAME+=) prefix
const isShellAssignment = (w: Word) => /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/.test(w.text);

const unknownForm = (p: Parsed): Step[] => (p.unknown ? [{ kind: 'opaque', reason: 'unknown-wrapper-form' }] : []);

// Words holding the replacement string (xargs -I, find's {}) are filled in at run time.
function replaced(words: Word[], pattern: string): Word[] {
  if (pattern) words.forEach((w, i) => { if (w.text.includes(pattern)) words[i] = { ...w, static: false }; });
  return words;
}

function exec(words: Word[], label: string, nested = false, assignments: string[] = []): Step {
  return { kind: 'exec', words, label, nested, assignments };
}

/** The steps that running `words` (words[0] static) leads to; [] for ordinary programs. */
export function peel(words: Word[]): Step[] {
  const name = basename(words[0]!.value);
  if (SHELLS.has(name)) return shell(words, name);
  const builtin = builtinSteps(name, words);
  if (builtin) return builtin;
  switch (name) {
    case 'eval': return evalStep(words);
    case 'source': case '.': return [{ kind: 'opaque', reason: 'source' }];
    case 'env': return env(words);
    case 'find': return find(words);
    case 'watch': return watch(words);
    case 'flock': return flock(words);
    case 'su': case 'runuser': return su(words, name);
    case 'busybox': {
      const applet = words[1];
      return applet && !(applet.static && applet.value.startsWith('-')) ? [exec(words.slice(1), name)] : [];
    }
  }
  const spec = Object.hasOwn(WRAPPERS, name) ? WRAPPERS[name] : undefined;
  return spec ? wrapper(words, name, spec) : [];
}

function wrapper(words: Word[], label: string, spec: Wrapper): Step[] {
  const p = getopt(words, 1, spec);
  const steps = unknownForm(p);
  if (spec.noExec && [...p.opts.keys()].some((k) => spec.noExec!.includes(k))) return steps;
  const start = p.index + (spec.operands ?? 0);
  if (start > words.length) return steps;
  return [...steps, ...payloadAt(words, start, label, spec, p.opts)];
}

function payloadAt(words: Word[], k: number, label: string, spec: Wrapper, opts: Opts): Step[] {
  const assignments: string[] = [];
  const assignment = spec.assignments === 'shell' ? isShellAssignment : isAssignment;
  while (spec.assignments && k < words.length && assignment(words[k]!)) assignments.push(words[k++]!.text);
  const payload = k < words.length ? words.slice(k) : spec.implicit ? [staticWord(spec.implicit)] : [];
  if (payload.length === 0) return [];
  for (const key of spec.replace ?? '') {
    const r = opts.get(key);
    if (r) replaced(payload, r === true ? '{}' : r.value);
  }
  return [exec(payload, label, spec.nested, assignments)];
}

function env(words: Word[]): Step[] {
  let p = getopt(words, 1, ENV_SPEC);
  const steps = unknownForm(p);
  for (let n = 0, split = p.opts.get('S'); split !== undefined; n++, split = p.opts.get('S')) {
    if (n === 16) return [...steps, { kind: 'opaque', reason: 'unknown-wrapper-form' }];
    const parts = split !== true && split.static ? splitEnvString(split.value) : null;
    if (!parts) return [...steps, { kind: 'opaque', reason: 'dynamic-command-name' }];
    words = [words[0]!, ...parts.map(staticWord), ...words.slice(p.index)];
    p = getopt(words, 1, ENV_SPEC);
    steps.push(...unknownForm(p));
  }
  return [...steps, ...payloadAt(words, p.index, 'env', ENV_SPEC_PAYLOAD, p.opts)];
}

function shell(words: Word[], name: string): Step[] {
  const p = getopt(words, 1, SHELL_SPEC);
  const steps = unknownForm(p);
  const operand = words[p.index];
  if (p.opts.has('c')) {
    if (operand) steps.push({ kind: 'script', source: operand, label: `${name} -c` });
  } else if (!operand || p.opts.has('s')) {
    steps.push({ kind: 'stdin', label: name });
  }
  return steps;
}

// eval runs its arguments joined by spaces as shell code in the current shell.
function evalStep(words: Word[]): Step[] {
  const steps: Step[] = [{ kind: 'opaque', reason: 'eval' }];
  const args = words.slice(1);
  if (args.length > 0 && args.every((w) => w.static)) steps.push({ kind: 'script', source: joinWords(args), label: 'eval' });
  return steps;
}

// find … -exec CMD ARGS… ; (or {} +): every action's command is a payload.
function find(words: Word[]): Step[] {
  const steps: Step[] = [];
  for (let k = 1; k < words.length; k++) {
    if (!words[k]!.static || !FIND_ACTIONS.has(words[k]!.value)) continue;
    const start = k + 1;
    let end = start;
    while (end < words.length && !isFindTerminator(words, end)) end++;
    if (end >= words.length || end === start) {
      steps.push({ kind: 'opaque', reason: 'unknown-wrapper-form' });
      break;
    }
    const payload = replaced(words.slice(start, end), '{}');
    steps.push(exec(payload, 'find', true));
    k = end;
  }
  return steps;
}

function isFindTerminator(words: Word[], k: number): boolean {
  const w = words[k]!;
  if (!w.static) return false;
  return w.value === ';' || (w.value === '+' && words[k - 1]?.value === '{}');
}

// watch runs its arguments joined by spaces through `sh -c`, unless -x.
function watch(words: Word[]): Step[] {
  const p = getopt(words, 1, WATCH_SPEC);
  const steps = unknownForm(p);
  const rest = words.slice(p.index);
  if (rest.length === 0) return steps;
  if (p.opts.has('x')) return [...steps, exec(rest, 'watch')];
  return [...steps, { kind: 'script', source: joinWords(rest), label: 'watch' }];
}

// flock [options] FILE COMMAND… | flock [options] FILE -c STRING | flock [options] FD
function flock(words: Word[]): Step[] {
  const p = getopt(words, 1, FLOCK_SPEC);
  const steps = unknownForm(p);
  const next = words[p.index + 1];
  if (!next) return steps;
  if (next.static && (next.value === '-c' || next.value === '--command')) {
    const source = words[p.index + 2];
    return source ? [...steps, { kind: 'script', source, label: 'flock' }] : steps;
  }
  return [...steps, exec(words.slice(p.index + 1), 'flock')];
}

function su(words: Word[], name: string): Step[] {
  const p = getopt(words, 1, SU_SPEC);
  const source = p.opts.get('c');
  const steps = unknownForm(p);
  return source && source !== true ? [...steps, { kind: 'script', source, label: name }] : steps;
}

function joinWords(words: Word[]): Word {
  const text = words.map((w) => w.text).join(' ');
  return words.every((w) => w.static)
    ? { text, value: words.map((w) => w.value).join(' '), static: true, glob: false }
    : { text, value: text, static: false, glob: false };
}
