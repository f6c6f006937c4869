// Static analysis of a shell string for the command pre-check.
//
// Why this exists: the pre-check decides on a `bash -c` string before anything runs, so
// it must see every program the string would start, however it is spelled. It is a
// prediction of what exec-time interception will see, not a replacement for it: a
// program that runs code from elsewhere (a script file, python's os.system, stdin) is
// only visible at exec time.
//
// Rules:
// - The parser is tree-sitter-bash (a real grammar with error recovery). Every simple
//   command is reported wherever it sits: lists, pipelines, subshells, groups, if/while/
//   until/for/case/select, function bodies (analysed where defined; calls to functions
//   are reported by name, since which definition runs is not static), coproc/time/! before a
//   compound command, `$(…)`, backticks,
//   `<(…)`/`>(…)`, ${…:-$(…)}, $((…)), [[ … ]], redirect targets, here-strings and
//   unquoted here-document bodies.
// - One rule for wrappers: every program that would be exec'd is reported, with the argv
//   it would be exec'd with. `env -i sudo id` yields `env -i sudo id` (wrappers []), then
//   `sudo id` (wrappers ['env']), then `id` (wrappers ['env','sudo']). So the policy can
//   deny the wrapper, the payload, or both, and args rules see what exec time sees.
//   `wrappers` holds the basename of each wrapper; a nested shell is '<shell> -c' (or the
//   shell's name when it reads its script from a here-document or here-string).
// - depth is the nesting of command lines built from data: +1 inside `sh -c STRING`,
//   `eval`, here-document-fed shells, `su -c`, `flock -c`, `watch`, `find -exec` and
//   `xargs`. Plain wrappers (env, sudo, nice, timeout, exec …) keep the depth.
// - A word is resolved only when quote removal alone gives its value (see words.ts).
//   A dynamic or glob command name is opaque 'dynamic-command-name'; its substitutions
//   are still analysed. Dynamic arguments are kept as written.
// - Code carried as data by builtins and variables (alias, trap, PS4, PROMPT_COMMAND,
//   BASH_FUNC_x%%, BASH_ENV …) is analysed or made opaque, see builtins.ts.
// - Opaque reasons: 'eval' for shell code whose text is not static (eval itself, `bash -c
//   "$x"`, a shell reading stdin that isn't a static here-document/string); 'source' for
//   source/.; 'unknown-wrapper-form' when a wrapper's options can't be parsed (the best
//   guess is still reported); 'parse-error', 'too-deep', 'too-large' for bounds.
// - Bounded: maxLength (default 1 MiB) → 'too-large'; nested-shell depth beyond maxDepth
//   (default 8) → 'too-deep'; a time budget (maxMillis, default 1 s) for parsing and the
//   work nested scripts multiply → 'too-large' (tree-sitter-bash is superlinear on some
//   inputs: 64 KiB of `a | a | …` takes seconds).
// - Never throws. A parse error sets ok:false; commands tree-sitter recovered are kept.
//   Where tree-sitter-bash reads tokens differently from bash in ways that would hide a
//   command, the input is patched and re-parsed (faithful.ts) or flagged (here-documents).

import { firstPos, lastPos, type Node } from './tree.js';
import { isEscaped, parseFaithfully } from './faithful.js';
import { decodeWord, type Word } from './words.js';
import { decodeHeredoc, delimiterOf, findSubstitutions, heredocEndsAt } from './heredoc.js';
import { assignmentSteps } from './builtins.js';
import { peel, type OpaqueReason, type Step } from './wrappers.js';

export type { OpaqueReason } from './wrappers.js';

export interface Redirect { op: string; target: string | null }

export interface ShellCommand {
  argv: string[];
  wrappers: string[];
  depth: number;
  text: string;
  assignments: string[];
  redirects: Redirect[];
}

export interface OpaqueCommand {
  text: string;
  reason: OpaqueReason;
  depth: number;
}

export interface ShellAnalysis {
  commands: ShellCommand[];
  opaque: OpaqueCommand[];
  ok: boolean;
}

export interface AnalyzeOptions {
  maxDepth?: number;  // nested-shell depth analysed (default 8)
  maxLength?: number; // script length in UTF-16 units (default 1 MiB)
  maxMillis?: number; // time budget for parsing, all nested scripts included (default 1000)
}

export const DEFAULT_MAX_DEPTH = 8;
export const DEFAULT_MAX_LENGTH = 1 << 20;
export const DEFAULT_MAX_MILLIS = 1000;
const MAX_WRAPPERS = 32;
const CLIP = 200;

// Node types that are one shell word when they are a command's name or argument.
const WORD_TYPES = new Set([
  'word', 'string', 'raw_string', 'ansi_c_string', 'translated_string', 'concatenation',
  'number', 'simple_expansion', 'expansion', 'command_substitution', 'process_substitution',
  'arithmetic_expansion', 'brace_expression', 'regex', 'extglob_pattern', 'variable_name',
  'variable_assignment',
]);
const ARG_TOKENS = new Set(['$', '==', '=~', '=', '!=']);

interface Scope {
  src: string;
  depth: number;
  chain: string[];
  coprocs: Set<number>; // where a `coproc` keyword starts (not a wrapper: see faithful.ts)
}

/** What a statement inherits from redirections written around it. */
interface Io {
  redirects: Redirect[];
  stdin: { text: string; static: boolean } | null; // here-document / here-string content
  args: Node[];                                    // words tree-sitter put after a `<<` operator
}
const NO_IO: Io = { redirects: [], stdin: null, args: [] };

interface ExecInfo { text: string; assignments: string[]; redirects: Redirect[]; stdin: Io['stdin'] }

export function analyzeShell(script: string, opts: AnalyzeOptions = {}): ShellAnalysis {
  const a = new Analyzer(opts.maxDepth ?? DEFAULT_MAX_DEPTH, performance.now() + (opts.maxMillis ?? DEFAULT_MAX_MILLIS));
  try {
    if (typeof script !== 'string') a.opaqueAt(String(script), 'parse-error', 0, false);
    else if (script.length > (opts.maxLength ?? DEFAULT_MAX_LENGTH)) a.opaqueAt(script, 'too-large', 0, false);
    else a.script(script, 0, []);
  } catch (e) {
    // stack exhaustion on pathological nesting, or a bug: fail closed, keep what we have
    a.opaqueAt(String(script), e instanceof RangeError ? 'too-deep' : 'parse-error', 0, false);
  }
  return { commands: a.commands, opaque: a.opaque, ok: a.ok };
}

const clip = (s: string) => (s.length > CLIP ? `${s.slice(0, CLIP)}…` : s);
const lineStart = (s: string, i: number) => s.lastIndexOf('\n', i - 1) + 1;
const isBlank = (c: string | undefined) => c === ' ' || c === '\t';

// Escaped blanks (`\ `) that tree-sitter dropped from the ends of a word.
function blanksBefore(src: string, i: number): number {
  while (i >= 2 && isBlank(src[i - 1]) && src[i - 2] === '\\' && !isEscaped(src, i - 2)) i -= 2;
  return i;
}

function blanksAfter(src: string, i: number): number {
  while (src[i] === '\\' && isBlank(src[i + 1])) i += 2;
  return i;
}

class Analyzer {
  commands: ShellCommand[] = [];
  opaque: OpaqueCommand[] = [];
  ok = true;
  private outOfTime = false;

  constructor(private readonly maxDepth: number, private readonly deadline: number) {}

  opaqueAt(text: string, reason: OpaqueReason, depth: number, ok = true): void {
    this.opaque.push({ text: reason === 'too-large' || reason === 'parse-error' ? clip(text) : text, reason, depth });
    if (!ok) this.ok = false;
  }

  script(src: string, depth: number, chain: string[]): void {
    if (depth > this.maxDepth) return this.opaqueAt(clip(src), 'too-deep', depth);
    const parsed = this.timeLeft(src, depth) ? parseFaithfully(src, this.deadline) : null;
    if (!parsed) {
      this.timeLeft(src, depth, true);
      return;
    }
    const scope: Scope = { src, depth, chain, coprocs: parsed.coprocs };
    if (parsed.hasError) {
      this.opaqueAt(parsed.firstError ? this.text(parsed.firstError, scope) : src, 'parse-error', depth, false);
    }
    if (parsed.truncated) this.opaqueAt(clip(this.text(parsed.truncated, scope) || src), 'too-deep', depth, false);
    // backquoted substitutions tree-sitter misread, replaced by placeholders in the parsed text
    for (const code of parsed.backtickCode) this.script(code, depth, chain);
    this.walk(parsed.root, scope, NO_IO);
  }

  // The time budget covers parsing and the work that nested scripts and wrapper chains
  // multiply; once spent, one 'too-large' entry is reported and analysis stops.
  private timeLeft(text: string, depth: number, spent = false): boolean {
    if (this.outOfTime) return false;
    if (!spent && performance.now() <= this.deadline) return true;
    this.outOfTime = true;
    this.opaqueAt(text, 'too-large', depth, false);
    return false;
  }

  // Structural nodes carry no position (see tree.ts): their text spans their descendants.
  private text(node: Node, scope: Scope): string {
    const a = firstPos(node);
    return a < 0 ? '' : scope.src.slice(a, lastPos(node));
  }

  private walk(node: Node, scope: Scope, io: Io): void {
    switch (node.type) {
      case 'command': return this.command(node, scope, io);
      case 'declaration_command': case 'unset_command': return this.declaration(node, scope, io);
      case 'redirected_statement': return this.redirected(node, scope, io);
      case 'list': case 'pipeline': return this.sequence(node, scope, io);
      case 'command_substitution': case 'process_substitution': return this.walkKids(node, scope, NO_IO);
      case 'word': return this.missedSubstitutions(node, scope);
      case 'variable_assignment': return this.assignment(node, scope);
      case 'heredoc_redirect': case 'file_redirect': case 'herestring_redirect':
        return this.redirected({ ...node, kids: [node] }, scope, io);
      default: return this.walkKids(node, scope, io);
    }
  }

  // A plain word never holds a substitution, except where tree-sitter missed one:
  // `${x:-\`id\`}` is read as the word \`id\` inside the expansion.
  private missedSubstitutions(node: Node, scope: Scope): void {
    const text = this.text(node, scope);
    if (!text.includes('`') && !text.includes('$(')) return;
    const subs = findSubstitutions(text);
    if (!subs) this.opaqueAt(text, 'parse-error', scope.depth, false);
    for (const s of subs ?? []) this.script(s, scope.depth, scope.chain);
  }

  // A statement of its own (`x=…`, not a command prefix): its value may be code for later.
  private assignment(node: Node, scope: Scope): void {
    const text = this.text(node, scope);
    this.run(assignmentSteps([text]), { text, assignments: [], redirects: [], stdin: null }, scope.depth, scope.chain);
    this.walkKids(node, scope, NO_IO);
  }

  // The substitutions in a word of a command (its assignments are handled by the command).
  private walkWord(node: Node, scope: Scope): void {
    if (node.type === 'variable_assignment') this.walkKids(node, scope, NO_IO);
    else this.walk(node, scope, NO_IO);
  }

  private walkKids(node: Node, scope: Scope, io: Io): void {
    for (const kid of node.kids) if (kid.named) this.walk(kid, scope, io);
  }

  // Redirections after a list or pipeline belong to its last command (bash binds them to
  // the simple command; tree-sitter attaches them to the whole list).
  private sequence(node: Node, scope: Scope, io: Io): void {
    let last = -1;
    node.kids.forEach((k, i) => { if (k.named && k.type !== 'comment') last = i; });
    node.kids.forEach((k, i) => { if (k.named) this.walk(k, scope, i === last ? io : NO_IO); });
  }

  private redirected(node: Node, scope: Scope, io: Io): void {
    const inner: Io = { redirects: [...io.redirects], stdin: io.stdin, args: [...io.args] };
    const body: Node[] = [];
    const after: Node[] = [];
    for (const kid of node.kids) {
      if (!kid.named) continue;
      if (kid.type === 'heredoc_redirect') this.heredoc(kid, scope, inner, after);
      else if (!this.redirect(kid, scope, inner)) body.push(kid);
    }
    for (const b of body) this.walk(b, scope, inner);
    for (const s of after) this.walk(s, scope, NO_IO);
  }

  /** Adds a file_redirect / herestring_redirect to io; false for anything else. */
  private redirect(node: Node, scope: Scope, io: Io): boolean {
    if (node.type === 'file_redirect') {
      let fd = '';
      let op = '';
      let target: string | null | undefined;
      for (const k of node.kids) {
        if (k.type === 'file_descriptor') fd = this.text(k, scope);
        else if (!k.named) op ||= k.type;
        else if (WORD_TYPES.has(k.type) && target === undefined) {
          const w = this.word(k, scope);
          target = w.static ? w.value : null;
        }
        if (k.named) this.walk(k, scope, NO_IO);
      }
      io.redirects.push({ op: fd + op, target: target ?? null });
      return true;
    }
    if (node.type === 'herestring_redirect') {
      for (const k of node.kids) {
        if (!k.named || k.type === 'file_descriptor') continue;
        const w = this.word(k, scope);
        io.stdin = { text: w.static ? w.value : w.text, static: w.static };
        this.walk(k, scope, NO_IO);
      }
      return true;
    }
    return false;
  }

  // tree-sitter nests the rest of the command line in the heredoc_redirect node: more
  // redirects and arguments of the same command, and following pipeline/list parts.
  private heredoc(node: Node, scope: Scope, io: Io, after: Node[]): void {
    let delimiter = '';
    let quoted = false;
    let strip = false;
    let body: Node | undefined;
    let end: Node | undefined;
    for (const k of node.kids) {
      if (k.type === '<<-') strip = true;
      else if (k.type === 'heredoc_start') {
        const word = this.text(k, scope);
        delimiter = delimiterOf(word);
        quoted = /['"\\]/.test(word);
      } else if (k.type === 'heredoc_body') body = k;
      else if (k.type === 'heredoc_end') end = k;
      else if (!k.named || this.redirect(k, scope, io)) continue;
      else if (WORD_TYPES.has(k.type)) io.args.push(k);
      else after.push(k);
    }
    const src = scope.src;
    const first = body ?? end;
    const bodyStart = first ? lineStart(src, first.start) : src.length;
    const endLine = end ? lineStart(src, end.start) : -1;
    if (!heredocEndsAt(src, bodyStart, endLine, delimiter, strip)) this.opaqueAt(this.text(node, scope), 'parse-error', scope.depth, false);
    let raw = body ? src.slice(bodyStart, end ? endLine : body.end) : '';
    if (strip) raw = raw.replace(/^\t+/gm, '');
    if (quoted) {
      io.stdin = { text: raw, static: true };
      return;
    }
    io.stdin = decodeHeredoc(raw);
    const subs = findSubstitutions(raw);
    if (!subs) this.opaqueAt(raw, 'parse-error', scope.depth, false);
    for (const s of subs ?? []) this.script(s, scope.depth, scope.chain);
  }

  private command(node: Node, scope: Scope, io: Io): void {
    const inner: Io = { redirects: [...io.redirects], stdin: io.stdin, args: [] };
    const assignments: string[] = [];
    const words: Node[] = [];
    const after: Node[] = [];
    for (const k of node.kids) {
      if (this.redirect(k, scope, inner)) continue;
      if (k.type === 'heredoc_redirect') { this.heredoc(k, scope, inner, after); continue; }
      if (k.type === 'variable_assignment') assignments.push(this.text(k, scope));
      else if (k.type === 'command_name') words.push(...k.kids.filter((n) => n.named));
      else if (k.named ? WORD_TYPES.has(k.type) : ARG_TOKENS.has(k.type)) words.push(k);
      if (k.named) this.walkWord(k, scope);
    }
    words.push(...io.args, ...inner.args);
    const info = { text: this.text(node, scope), assignments, redirects: inner.redirects, stdin: inner.stdin };
    this.run(assignmentSteps(assignments), info, scope.depth, scope.chain);
    // `coproc [NAME]` before a compound command: reported as written, it has no payload
    const keyword = words.length > 0 && scope.coprocs.size > 0 && scope.coprocs.has(words[0]!.start);
    if (words.length > 0) this.exec(this.words(words, scope), info, scope.depth, scope.chain, !keyword);
    for (const s of after) this.walk(s, scope, NO_IO);
  }

  // export / local / declare / readonly / typeset / unset: the keyword is an anonymous token.
  private declaration(node: Node, scope: Scope, io: Io): void {
    const words: Word[] = [];
    for (const k of node.kids) {
      if (k.named) {
        words.push(this.word(k, scope));
        this.walkWord(k, scope);
      } else if (words.length === 0) {
        words.push(decodeWord(k.type));
      }
    }
    this.exec(words, { text: this.text(node, scope), assignments: [], redirects: io.redirects, stdin: io.stdin }, scope.depth, scope.chain);
  }

  // tree-sitter splits what bash reads as one word: around line continuations
  // (`su\<newline>do`) and `$"…"`; and it drops escaped blanks (`\ x`, or `\ ` alone).
  // Adjacent nodes with only continuations between them are merged; escaped blanks
  // found next to or between nodes are put back.
  private words(nodes: Node[], scope: Scope): Word[] {
    const src = scope.src;
    const out: Word[] = [];
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[i]!;
      if (n.start < 0) { out.push(this.word(n, scope)); continue; }
      const start = blanksBefore(src, n.start);
      let end = blanksAfter(src, n.end);
      let gap = '';
      while (i + 1 < nodes.length && nodes[i + 1]!.start >= 0) {
        gap = src.slice(end, blanksBefore(src, nodes[i + 1]!.start));
        if (gap !== '' && (!gap.includes('\\') || !/^(\\\n)*$/.test(gap))) break;
        end = blanksAfter(src, nodes[++i]!.end);
        gap = '';
      }
      out.push(decodeWord(src.slice(start, end)));
      if (gap.includes('\\')) for (const m of gap.matchAll(/\\[ \t](\\[ \t]|\\\n)*/g)) out.push(decodeWord(m[0]));
    }
    return out;
  }

  private word(node: Node, scope: Scope): Word {
    return decodeWord(node.start < 0 ? node.type : this.text(node, scope));
  }

  private exec(words: Word[], info: ExecInfo, depth: number, chain: string[], peeled = true): void {
    const name = words[0]!;
    if (!name.static || name.glob) return this.opaqueAt(info.text, 'dynamic-command-name', depth);
    this.commands.push({
      argv: words.map((w) => (w.static ? w.value : w.text)),
      wrappers: chain, depth, text: info.text, assignments: info.assignments, redirects: info.redirects,
    });
    if (peeled) this.run(peel(words), info, depth, chain);
  }

  private run(steps: Step[], info: ExecInfo, depth: number, chain: string[]): void {
    for (const step of steps) {
      switch (step.kind) {
        case 'opaque':
          this.opaqueAt(info.text, step.reason, depth, step.reason !== 'parse-error');
          break;
        case 'exec': {
          const next = [...chain, step.label];
          const d = depth + (step.nested ? 1 : 0);
          this.run(assignmentSteps(step.assignments), info, depth, chain);
          if (!this.timeLeft(info.text, d)) return;
          if (d > this.maxDepth || next.length > MAX_WRAPPERS) this.opaqueAt(info.text, 'too-deep', d);
          else this.exec(step.words, { ...info, assignments: [...info.assignments, ...step.assignments], stdin: step.nested ? null : info.stdin }, d, next);
          break;
        }
        case 'script':
          if (step.source.static) this.script(step.source.value, depth + 1, [...chain, step.label]);
          else this.opaqueAt(info.text, 'eval', depth);
          break;
        case 'stdin':
          if (info.stdin?.static) this.script(info.stdin.text, depth + 1, [...chain, step.label]);
          else this.opaqueAt(info.text, 'eval', depth);
          break;
      }
    }
  }
}
