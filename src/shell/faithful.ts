// Where tree-sitter-bash 0.25 delimits tokens differently from bash in a way that hides
// commands, the script is patched (same length, so every position still points into the
// original text) and parsed again:
// - `$'\\' ; sudo id #'`: it takes \' as an escaped quote even after an escaped backslash,
//   making `; sudo id #` part of the string. The string's contents are blanked.
// - `echo hi⏎\sudo id`: a line starting with a backslash continues the previous command
//   (`\sudo` becomes an argument of echo), and so does one after `\⏎`. The newline, which
//   bash always reads as a command separator there, becomes `;`.
// After 8 rounds the result is marked as a parse error.

import { firstPos, lastPos, parseScript, type Node, type ParsedScript } from './tree.js';

interface Patch { from: number; to: number; text: string }

export function parseFaithfully(src: string, deadline: number): ParsedScript | null {
  let text = src;
  for (let round = 0; ; round++) {
    const parsed = parseScript(text, deadline);
    if (!parsed) return null;
    const patches = [...ansiCPatches(text, parsed.ansiC), ...(text.includes('\n') ? newlinePatches(text, parsed) : [])];
    if (patches.length === 0) return parsed;
    if (round === 8) return { ...parsed, hasError: true };
    text = apply(text, patches);
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

function apply(s: string, patches: Patch[]): string {
  const parts: string[] = [];
  let at = 0;
  for (const p of patches.sort((x, y) => x.from - y.from)) {
    if (p.from < at) continue;
    parts.push(s.slice(at, p.from), p.text);
    at = p.to;
  }
  parts.push(s.slice(at));
  return parts.join('');
}
