// Shell builtins and variables that turn data into code run later in the same shell or a
// child shell, out of sight of a reading that only looks at command names:
// alias values, trap actions, mapfile -C callbacks, BASH_FUNC_x%% exported functions, PROMPT_COMMAND and the
// command substitutions quoted in any variable's value (PS4 is expanded under `set -x`,
// any variable may be evaluated in an arithmetic context) are analysed as nested scripts (a
// substitution that can't be delimited is opaque 'parse-error'); BASH_ENV/ENV (a file every non-interactive bash or
// POSIX sh sources), `enable -f` (loads a builtin from a shared object) are opaque
// 'source'; `hash -p PATH NAME` (NAME then runs PATH) is opaque 'dynamic-command-name'.

import { findSubstitutions } from './heredoc.js';
import { decodeWord, staticWord, type Word } from './words.js';
import type { Step } from './wrappers.js';

const DECLARATIONS = new Set(['export', 'declare', 'typeset', 'local', 'readonly']);

/** Steps for a builtin in `words` (words[0] static), or null when it is not one of these. */
export function builtinSteps(name: string, words: Word[]): Step[] | null {
  const args = words.slice(1);
  switch (name) {
    case 'alias':
      return args.flatMap((w) => valueSteps(w, 'alias', (_, value) => [value]));
    case 'trap':
      return trap(args);
    case 'mapfile': case 'readarray':
      return callback(args);
    case 'enable':
      return args.some((w) => !w.static || /^-[a-zA-Z]*f/.test(w.value)) ? [{ kind: 'opaque', reason: 'source' }] : [];
    case 'hash':
      return args.some((w) => !w.static || /^-[a-zA-Z]*p/.test(w.value)) ? [{ kind: 'opaque', reason: 'dynamic-command-name' }] : [];
  }
  return DECLARATIONS.has(name) ? assignmentSteps(args.map((w) => w.text)) : null;
}

/** Steps for NAME=VALUE assignments (command prefixes, env, sudo, export …). */
export function assignmentSteps(assignments: string[]): Step[] {
  return assignments.flatMap((a) => valueSteps(decodeWord(a), 'assignment', codeInVariable));
}

function codeInVariable(name: string, value: string): Code {
  if (name === 'BASH_ENV' || name === 'ENV') return 'source';
  const fn = /^BASH_FUNC_(.+?)(%%|\(\))$/.exec(name);
  if (fn) return [`${fn[1]}${value}`];
  if (name === 'PROMPT_COMMAND') return [value];
  // prompts (PS4 under `set -x`) are expanded, and any variable may be evaluated later in an
  // arithmetic context (`x='a[$(id)]'; echo $((x))`): quoted substitutions are code too
  // (a substitution the scanner cannot delimit is a parse error, as in a here-document body)
  const special = /^PS[0124]$/.test(name);
  return special || value.includes('$(') || value.includes('`') ? findSubstitutions(value) ?? 'parse-error' : null;
}

/** The code in a value: nested scripts, or why it can't be read, or null for none. */
type Code = string[] | 'source' | 'parse-error' | null;
type CodeOf = (name: string, value: string) => Code;

// A dynamic assignment word can't be read: opaque 'eval' when its name may matter.
function valueSteps(word: Word, label: string, codeOf: CodeOf): Step[] {
  const text = word.static ? word.value : word.text;
  const eq = text.indexOf('=');
  if (eq <= 0) return [];
  const name = text.slice(0, eq);
  const code = codeOf(name, word.static ? text.slice(eq + 1) : '');
  if (code === null) return [];
  if (!word.static) return [{ kind: 'opaque', reason: 'eval' }];
  if (code === 'source' || code === 'parse-error') return [{ kind: 'opaque', reason: code }];
  return code.map((source) => ({ kind: 'script', source: staticWord(source), label: label === 'assignment' ? name : label }));
}

// trap [-lp] [ACTION SIGNAL…]: ACTION is shell code, '' ignores, '-' resets.
function trap(args: Word[]): Step[] {
  if (args[0]?.static && /^-[lp]+$/.test(args[0].value)) return [];
  const i = args[0]?.static && args[0].value === '--' ? 1 : 0;
  const action = args[i];
  if (!action || args.length - i < 2 || (action.static && (action.value === '' || action.value === '-'))) return [];
  return action.static ? [{ kind: 'script', source: action, label: 'trap' }] : [{ kind: 'opaque', reason: 'eval' }];
}

// mapfile/readarray -C CALLBACK evaluates CALLBACK for every chunk of lines read.
function callback(args: Word[]): Step[] {
  const at = args.findIndex((w) => w.static && w.value.startsWith('-C'));
  if (at < 0) return [];
  const inline = args[at]!.value.slice(2);
  const code = inline ? staticWord(inline) : args[at + 1];
  if (!code) return [];
  return code.static ? [{ kind: 'script', source: code, label: 'mapfile' }] : [{ kind: 'opaque', reason: 'eval' }];
}
