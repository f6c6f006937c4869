// Here-document bodies are read with our own small scanner instead of tree-sitter's
// sub-nodes: tree-sitter-bash 0.25 does not parse backticks in bodies, nor any
// substitution in `<<-` bodies, yet bash runs them all when the delimiter is unquoted.

import { isExpansionStart } from './words.js';

/** A here-document delimiter after quote removal (no expansion applies to it). */
export function delimiterOf(word: string): string {
  let out = '';
  for (let i = 0; i < word.length; i++) {
    const c = word[i]!;
    if (c === '\\') out += word[++i] ?? '';
    else if (c === "'") {
      const j = word.indexOf("'", i + 1);
      out += word.slice(i + 1, j < 0 ? undefined : j);
      i = j < 0 ? word.length : j;
    } else if (c === '"') {
      for (i++; i < word.length && word[i] !== '"'; i++) {
        if (word[i] === '\\' && '$`"\\\n'.includes(word[i + 1] ?? '')) i++;
        out += word[i];
      }
    } else out += c;
  }
  return out;
}

/**
 * Whether bash ends the here-document where tree-sitter did: at the first line, from
 * bodyStart on, that is exactly the delimiter (after leading tabs for <<-). tree-sitter
 * accepts a line that merely starts with it, and splits quoted delimiters like "E"OF.
 */
export function heredocEndsAt(src: string, bodyStart: number, endLine: number, delimiter: string, stripTabs: boolean): boolean {
  for (let i = bodyStart; i <= src.length;) {
    let nl = src.indexOf('\n', i);
    if (nl < 0) nl = src.length;
    const line = src.slice(i, nl);
    if ((stripTabs ? line.replace(/^\t+/, '') : line) === delimiter) return i === endLine;
    if (nl === src.length) break;
    i = nl + 1;
  }
  return endLine < 0;
}

/** The body as the command's stdin sees it; static when it holds no expansion. */
export function decodeHeredoc(raw: string): { text: string; static: boolean } {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    const d = raw[i + 1];
    if (c === '\\' && d !== undefined && '$`\\\n'.includes(d)) {
      if (d !== '\n') out += d;
      i++;
    } else if (c === '`' || (c === '$' && isExpansionStart(d))) {
      return { text: raw, static: false };
    } else {
      out += c;
    }
  }
  return { text: out, static: true };
}

/**
 * The shell code of every `$(…)` and `…` in text read with double-quote rules
 * (an unquoted here-document body), including those nested in ${…} and $((…)).
 * null when a substitution is not terminated.
 */
export function findSubstitutions(text: string): string[] | null {
  const out: string[] = [];
  return scan(text, 0, text.length, out) ? out : null;
}

function scan(s: string, i: number, end: number, out: string[]): boolean {
  while (i < end) {
    const c = s[i]!;
    if (c === '\\') {
      i += 2;
    } else if (c === '`') {
      const r = backtick(s, i + 1, end);
      if (!r) return false;
      out.push(r.inner);
      i = r.next;
    } else if (c === '$' && (s[i + 1] === '(' || s[i + 1] === '{')) {
      const close = matchClosing(s, i + 2, end, s[i + 1]!);
      if (close < 0) return false;
      if (s[i + 1] === '{') {
        if (!scan(s, i + 2, close, out)) return false;
      } else if (s[i + 2] === '(' && s[close - 1] === ')') {
        if (!scan(s, i + 3, close - 1, out)) return false; // $(( arithmetic ))
      } else {
        out.push(s.slice(i + 2, close));
      }
      i = close + 1;
    } else {
      i++;
    }
  }
  return true;
}

/**
 * The `…` substitution whose body starts at i: bash ends it at the first backquote not
 * preceded by a backslash, whatever quotes are in between; inner is its code (\$ \` \\
 * unescaped), next the index after the closing backquote. null when it is not closed before end.
 */
export function backtick(s: string, i: number, end: number): { inner: string; next: number } | null {
  let inner = '';
  while (i < end && s[i] !== '`') {
    if (s[i] === '\\' && i + 1 < end && '$`\\'.includes(s[i + 1]!)) {
      inner += s[i + 1];
      i += 2;
    } else {
      inner += s[i];
      i++;
    }
  }
  return i < end ? { inner, next: i + 1 } : null;
}

// Index of the bracket closing an opening `(` or `{` just before i, skipping quoted text.
// Inside $(…) (shell code), $'…' takes backslash escapes: `$'\\'x'` is one string.
function matchClosing(s: string, i: number, end: number, open: string): number {
  const close = open === '(' ? ')' : '}';
  let depth = 1;
  for (; i < end; i++) {
    const c = s[i]!;
    if (c === '\\') i++;
    else if (c === "'" || c === '"' || c === '`') {
      i = skipQuoted(s, i, end, c === "'" && open === '(' && s[i - 1] === '$' && !isEscaped(s, i - 1));
      if (i < 0) return -1;
    } else if (c === open) depth++;
    else if (c === close && --depth === 0) return i;
  }
  return -1;
}

function skipQuoted(s: string, i: number, end: number, escapes: boolean): number {
  const q = s[i]!;
  for (i++; i < end; i++) {
    if (s[i] === '\\' && (q !== "'" || escapes)) i++;
    else if (s[i] === q) return i;
  }
  return -1;
}

function isEscaped(s: string, i: number): boolean {
  let n = 0;
  while (i - n - 1 >= 0 && s[i - n - 1] === '\\') n++;
  return n % 2 === 1;
}
