// Where tree-sitter-bash 0.25 delimits tokens differently from bash in a way that hides
// commands, the script is patched (same length, so every position still points into the
// original text) and parsed again:
// - `$'\\' ; sudo id #'`: it takes \' as an escaped quote even after an escaped backslash,
//   making `; sudo id #` part of the string. The string's contents are blanked.
// - `echo hi⏎\sudo id`: a line starting with a backslash continues the previous command
//   (`\sudo` becomes an argument of echo), and so does one after `\⏎`. The newline, which
//   bash always reads as a command separator there, becomes `;`.
// - echo `true x` `sudo id`: inside a backquoted substitution it reads ` ` (backquotes with
//   only blanks between) as an empty substitution joining two words, so `sudo` becomes an
//   argument of `true`. bash ends a backquoted substitution at the first unescaped
//   backquote. Each substitution bash would end earlier is replaced by a placeholder
//   expansion of the same length (`$____`: one dynamic word part, as the substitution is)
//   and its code returned for analysis (backtickCode).
// - `coproc [NAME] { …; }`, `time -p if …` (any compound command after these keywords): it
//   reads a simple command `coproc NAME { …`, so the body's commands become arguments. The
//   blanks before the compound command become `;`: the body is parsed as a compound command,
//   and `coproc NAME` stays a command whose start is returned in coprocs (a keyword: no
//   payload to peel). `! { …; }` is read as `!` negating a command named `{`: the `!` is blanked.
// After 8 rounds the result is marked as a parse error.

import { backtick } from './heredoc.js';
import { firstPos, lastPos, parseScript, type Node, type ParsedScript } from './tree.js';

interface Patch { from: number; to: number; text: string; code?: string; coproc?: number }

export interface FaithfulParse extends ParsedScript {
  backtickCode: string[]; // the code of each `…` replaced by a placeholder
  coprocs: Set<number>;   // positions of `coproc` keywords followed by a compound command
}

export function parseFaithfully(src: string, deadline: number): FaithfulParse | null {
  let text = src;
  const backtickCode: string[] = [];
  const coprocs = new Set<number>();
  for (let round = 0; ; round++) {
    const parsed = parseScript(text, deadline);
    if (!parsed) return null;
    const patches = [
      ...ansiCPatches(text, parsed.ansiC),
      ...(parsed.backticks.length > 0 ? backtickPatches(text, parsed.backticks) : []),
      ...(/coproc|time|!/.test(text) ? keywordPatches(text, parsed.commands) : []),
      ...(text.includes('\n') ? newlinePatches(text, parsed) : []),
    ];
    if (patches.length === 0) return Object.assign(parsed, { backtickCode, coprocs });
    if (round === 8) return { ...parsed, hasError: true, backtickCode, coprocs };
    text = apply(text, patches, backtickCode, coprocs);
  }
}

export function isEscaped(src: string, i: number): boolean {
  let n = 0;
  while (i - n - 1 >= 0 && src[i - n - 1] === '\\') n++;
  return n % 2 === 1;
}

function ansiCPatches(s: string, strings: Node[]): Patch[] {
  const out: Patch[] = [];
  for (const n of strings) {
    const end = ansiCEnd(s, n.start);
    if (end === n.end) continue;
    const from = n.start + 2;
    const to = Math.min(end - 1, s.length);
    out.push({ from, to, text: s.slice(from, to).replace(/[^\n]/g, 'a') });
  }
  return out;
}

function ansiCEnd(s: string, start: number): number {
  for (let i = start + 2; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === "'") return i + 1;
  }
  return s.length + 1;
}

// A backquoted substitution whose text holds an unescaped backquote before its end: from
// its start, every `…` bash reads there (tree-sitter joins them across blanks only).
function backtickPatches(s: string, nodes: Node[]): Patch[] {
  const out: Patch[] = [];
  for (const n of nodes) {
    let r = backtick(s, n.start + 1, n.end);
    if (!r || r.next === n.end) continue;
    for (let i = n.start; r; r = s[i] === '`' ? backtick(s, i + 1, n.end) : null) {
      out.push({ from: i, to: r.next, text: `$${'_'.repeat(r.next - i - 1)}`, code: r.inner });
      i = r.next;
      while (i < n.end && /\s/.test(s[i]!)) i++;
    }
  }
  return out;
}

// Reserved words before a compound command that tree-sitter reads as (part of) a simple
// command: `coproc [NAME]` (NAME is any word), `time [-p] [--]`, `!`; and a `!` it reads as
// a command's name (`! ! x`, `time ! x`). bash never runs a command named `!`.
const COMPOUND = /\(|(?:\{|\[\[|if|while|until|for|case|select)(?=[ \t\n;&|()<>]|$)/y;
const BLANKS = /(?:[ \t]|\\\n)*/y;
const TIME_OPTIONS = /(?:(?:[ \t]|\\\n)+(?:-p|--)(?=[ \t]|\\\n))*/y;

function keywordPatches(s: string, commands: Node[]): Patch[] {
  const out: Patch[] = [];
  for (const cmd of commands) {
    const at = cmd.kids.findIndex((k) => k.type === 'command_name');
    const w = cmd.kids[at]?.kids[0];
    if (!w || w.type !== 'word' || w.start < 0) continue;
    const name = s.slice(w.start, w.end).replace(/\\\n/g, '');
    if (name === 'coproc') {
      const p = coprocPatch(s, cmd, at, w);
      if (p) out.push(p);
    } else if (name === 'time') {
      // `time [-p] [--] ! …`: the `!` is blanked (tree-sitter makes it the payload's name)
      const from = skip(s, TIME_OPTIONS, w.end);
      const bang = skip(s, BLANKS, from);
      const p = bang > from && s[bang] === '!' && /^(?:[ \t\n]|\\\n)/.test(s.slice(bang + 1, bang + 3))
        ? { from: bang, to: bang + 1, text: ' ' }
        : separate(s, from);
      if (p) out.push(p);
    } else if (name === '!' && w.end === w.start + 1) {
      out.push({ from: w.start, to: w.end, text: ' ' }); // `! ! …`: a command named `!`
    } else if (at === 0 && isCompound(s, w.start)) {
      // `! { …`: tree-sitter negates a simple command named `{` (or `{ {` …); without the
      // `!` it reads the compound command (the negation changes no command that runs)
      let i = w.start;
      while (i > 0 && (s[i - 1] === ' ' || s[i - 1] === '\t')) i--;
      if (i < w.start && s[i - 1] === '!' && (i === 1 || /[\s;&|(]/.test(s[i - 2]!))) out.push({ from: i - 1, to: i, text: ' ' });
    }
  }
  return out;
}

// `coproc NAME` stays a command (reported as written, with no payload: coprocs)
function coprocPatch(s: string, cmd: Node, at: number, w: Node): Patch | null {
  const p = separate(s, w.end);
  if (p) return { ...p, coproc: w.start };
  // NAME: the next word, which tree-sitter may split into nodes with no blank between
  let k = at + 1;
  if (k >= cmd.kids.length || firstPos(cmd.kids[k]!) !== skip(s, BLANKS, w.end)) return null;
  let end = lastPos(cmd.kids[k]!);
  while (k + 1 < cmd.kids.length && firstPos(cmd.kids[k + 1]!) === skip(s, /(?:\\\n)*/y, end)) end = lastPos(cmd.kids[++k]!);
  const q = separate(s, end);
  return q && { ...q, coproc: w.start };
}

// Blanks from `from` then a compound command: the blanks become `;` (same length).
function separate(s: string, from: number): Patch | null {
  const to = skip(s, BLANKS, from);
  if (!/[ \t]/.test(s.slice(from, to)) || !isCompound(s, to)) return null;
  return { from, to, text: `;${s.slice(from + 1, to).replace(/[^\n]/g, ' ')}` };
}

function isCompound(s: string, i: number): boolean {
  COMPOUND.lastIndex = i;
  return COMPOUND.test(s);
}

function skip(s: string, re: RegExp, i: number): number {
  re.lastIndex = i;
  return re.test(s) ? re.lastIndex : i;
}

// An unescaped newline inside a plain word, or between the words of one simple command.
function newlinePatches(s: string, parsed: ParsedScript): Patch[] {
  const out: Patch[] = [];
  const scan = (from: number, to: number) => {
    for (let i = s.indexOf('\n', from); i >= 0 && i < to; i = s.indexOf('\n', i + 1)) {
      if (!isEscaped(s, i)) out.push({ from: i, to: i + 1, text: ';' });
    }
  };
  const words = (n: Node) => {
    if (n.type === 'word') scan(n.start, n.end);
    else n.kids.forEach(words);
  };
  words(parsed.root);
  for (const cmd of parsed.commands) {
    let prevEnd = -1;
    for (const k of cmd.kids) {
      const a = firstPos(k);
      if (a < 0) continue;
      if (prevEnd >= 0 && a > prevEnd) scan(prevEnd, a);
      prevEnd = Math.max(prevEnd, lastPos(k));
    }
  }
  return out;
}

function apply(s: string, patches: Patch[], code: string[], coprocs: Set<number>): string {
  const parts: string[] = [];
  let at = 0;
  for (const p of patches.sort((x, y) => x.from - y.from)) {
    if (p.from < at) continue;
    parts.push(s.slice(at, p.from), p.text);
    at = p.to;
    if (p.code !== undefined) code.push(p.code);
    if (p.coproc !== undefined) coprocs.add(p.coproc);
  }
  parts.push(s.slice(at));
  return parts.join('');
}
