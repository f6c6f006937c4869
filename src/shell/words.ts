// Static resolution of shell words, done on the word's source text rather than on
// tree-sitter's sub-nodes: the grammar drops whitespace between string parts (`"a ${b}"`
// yields `a ` and ` ${`) and splits `$"…"`, while bash's quote removal is a simple,
// well-defined pass over the characters. A word is static when quote removal alone gives
// its value; any parameter, command, arithmetic or process expansion, brace expansion or
// a leading tilde makes it dynamic (the value would depend on the runtime environment).
// Glob characters are kept literally but flagged, because a glob in a command name is a
// way to spell a program without writing its name (`/usr/bin/su?o`).

export interface Word {
  text: string;    // source text as written
  value: string;   // value after quote removal (meaningful only when static)
  static: boolean;
  glob: boolean;   // unquoted *, ? or [...] present
}

export function staticWord(value: string): Word {
  return { text: value, value, static: true, glob: false };
}

class Dynamic extends Error {}
const DYNAMIC = new Dynamic();

const ANSI_SIMPLE: Record<string, number> = {
  a: 7, b: 8, e: 27, E: 27, f: 12, n: 10, r: 13, t: 9, v: 11,
  '\\': 92, "'": 39, '"': 34, '?': 63,
};

export function isExpansionStart(ch: string | undefined): boolean {
  return ch !== undefined && /[A-Za-z_0-9@*#?$!({[-]/.test(ch);
}

export function decodeWord(text: string): Word {
  try {
    const r = decodeStatic(text);
    return { text, value: r.value, static: true, glob: r.glob };
  } catch (e) {
    if (e !== DYNAMIC) throw e;
    return { text, value: text, static: false, glob: false };
  }
}

function decodeStatic(s: string): { value: string; glob: boolean } {
  const n = s.length;
  let out = '';
  let glob = false;
  let brace = false;
  if (s[0] === '~') throw DYNAMIC;
  for (let i = 0; i < n;) {
    const c = s[i]!;
    switch (c) {
      case '\\':
        if (s[i + 1] === '\n') i += 2;
        else if (i + 1 < n) { out += s[i + 1]; i += 2; }
        else { out += c; i++; }
        break;
      case "'": {
        const j = s.indexOf("'", i + 1);
        const end = j < 0 ? n : j;
        out += s.slice(i + 1, end);
        i = end + 1;
        break;
      }
      case '"': {
        const r = doubleQuoted(s, i + 1);
        out += r.value;
        i = r.end;
        break;
      }
      case '$': {
        const d = s[i + 1];
        if (d === "'") {
          const r = ansiC(s, i + 2);
          out += r.value;
          i = r.end;
        } else if (d === '"') {
          const r = doubleQuoted(s, i + 2);
          out += r.value;
          i = r.end;
        } else if (isExpansionStart(d)) {
          throw DYNAMIC;
        } else {
          out += c;
          i++;
        }
        break;
      }
      case '`':
        throw DYNAMIC;
      case '<': case '>':
        if (s[i + 1] === '(') throw DYNAMIC;
        out += c; i++;
        break;
      case '{':
        brace = true; out += c; i++;
        break;
      case ',':
        if (brace) throw DYNAMIC;
        out += c; i++;
        break;
      case '.':
        if (brace && s[i + 1] === '.') throw DYNAMIC;
        out += c; i++;
        break;
      case '*': case '?':
        glob = true; out += c; i++;
        break;
      case '[':
        if (s.indexOf(']', i + 1) > 0) glob = true;
        out += c; i++;
        break;
      default:
        out += c; i++;
    }
  }
  return { value: out, glob };
}

// Inside "…": backslash escapes only $ ` " \ and newline; expansions make the word dynamic.
function doubleQuoted(s: string, i: number): { value: string; end: number } {
  let out = '';
  while (i < s.length && s[i] !== '"') {
    const c = s[i]!;
    if (c === '\\') {
      const d = s[i + 1];
      if (d === '\n') { i += 2; continue; }
      if (d === '$' || d === '`' || d === '"' || d === '\\') { out += d; i += 2; continue; }
      out += c; i++;
    } else if (c === '`' || (c === '$' && isExpansionStart(s[i + 1]))) {
      throw DYNAMIC;
    } else {
      out += c; i++;
    }
  }
  return { value: out, end: i + 1 };
}

// $'…' with bash's escapes. Escapes produce bytes (\x, octal) or code points (\u, \U);
// the result is decoded as UTF-8 and, as in bash, cut at the first NUL byte.
function ansiC(s: string, i: number): { value: string; end: number } {
  const bytes: number[] = [];
  const pushCodePoint = (cp: number) => {
    for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) bytes.push(b);
  };
  const hex = (from: number, max: number) => {
    let j = from;
    while (j < s.length && j - from < max && /[0-9A-Fa-f]/.test(s[j]!)) j++;
    return { digits: s.slice(from, j), next: j };
  };
  while (i < s.length && s[i] !== "'") {
    const c = s[i]!;
    if (c !== '\\' || i + 1 >= s.length) {
      const cp = s.codePointAt(i)!;
      pushCodePoint(cp);
      i += cp > 0xffff ? 2 : 1;
      continue;
    }
    const e = s[i + 1]!;
    const simple = ANSI_SIMPLE[e];
    if (simple !== undefined) { bytes.push(simple); i += 2; continue; }
    if (e === 'x' || e === 'u' || e === 'U') {
      const { digits, next } = hex(i + 2, e === 'x' ? 2 : e === 'u' ? 4 : 8);
      if (!digits) { bytes.push(92, e.charCodeAt(0)); i += 2; continue; }
      const v = parseInt(digits, 16);
      if (e === 'x') bytes.push(v);
      else if (v <= 0x10ffff && (v < 0xd800 || v > 0xdfff)) pushCodePoint(v);
      i = next;
      continue;
    }
    if (e >= '0' && e <= '7') {
      let j = i + 1;
      while (j < s.length && j - (i + 1) < 3 && s[j]! >= '0' && s[j]! <= '7') j++;
      bytes.push(parseInt(s.slice(i + 1, j), 8) & 0xff);
      i = j;
      continue;
    }
    if (e === 'c' && i + 2 < s.length) {
      bytes.push(s.charCodeAt(i + 2) & 0x1f);
      i += 3;
      continue;
    }
    bytes.push(92);
    i += 1;
  }
  const nul = bytes.indexOf(0);
  const value = Buffer.from(nul < 0 ? bytes : bytes.slice(0, nul)).toString('utf8');
  return { value, end: i + 1 };
}

// Splitting rules of `env -S STRING` (GNU coreutils): whitespace separates, '…' is
// literal, "…" and bare text take backslash escapes, `#` at a token start begins a
// comment, `\c` ends the string. ${VAR} references make it dynamic (returns null).
export function splitEnvString(s: string): string[] | null {
  const out: string[] = [];
  let cur: string | null = null;
  const ESC: Record<string, string> = { _: ' ', n: '\n', t: '\t', f: '\f', r: '\r', v: '\v', '\\': '\\', "'": "'", '"': '"', '#': '#', $: '$' };
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      if (cur !== null) { out.push(cur); cur = null; }
      continue;
    }
    if (c === '#' && cur === null) break;
    if (c === "'") {
      const j = s.indexOf("'", i + 1);
      if (j < 0) return null;
      cur = (cur ?? '') + s.slice(i + 1, j);
      i = j;
    } else if (c === '"') {
      let j = i + 1;
      let v = '';
      for (; j < s.length && s[j] !== '"'; j++) {
        if (s[j] === '$') return null;
        if (s[j] === '\\' && j + 1 < s.length) { const e = ESC[s[j + 1]!]; if (e === undefined) return null; v += e; j++; }
        else v += s[j];
      }
      if (j >= s.length) return null;
      cur = (cur ?? '') + v;
      i = j;
    } else if (c === '\\') {
      const d = s[i + 1];
      if (d === 'c') break;
      const e = d === undefined ? undefined : ESC[d];
      if (e === undefined) return null;
      cur = (cur ?? '') + e;
      i++;
    } else if (c === '$') {
      return null;
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== null) out.push(cur);
  return out;
}
