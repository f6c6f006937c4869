// agentsh runs Go's os.ExpandEnv over the whole config text before parsing it. We do the
// same, byte for byte in behaviour, but remember where every substitution happened so that
// diagnostics about the expanded text still point at the line and column the user wrote,
// and report what Go does silently: unset variables become "", bad `${` syntax is eaten.

export interface EnvNote {
  code: 'unset-env-var' | 'env-syntax' | 'env-multiline';
  message: string;
  offset: number; // in the original text
}

interface Segment {
  exp: number; // start in the expanded text
  orig: number; // start in the original text
  expLen: number;
  origLen: number;
}

export interface Expansion {
  text: string;
  notes: EnvNote[];
  /** Original (line, column) for a 1-based (line, column) in the expanded text. */
  toOriginal(line: number, column: number): { line: number; column: number };
  /** 1-based (line, column) of an offset in the original text. */
  originalPos(offset: number): { line: number; column: number };
}

const isSpecial = (c: string | undefined) => c !== undefined && /^[*#$@!?\-0-9]$/.test(c);
const isAlnum = (c: string | undefined) => c !== undefined && /^[A-Za-z0-9_]$/.test(c);

// Go's getShellName: the variable name after a '$' at s[i-1], and how many characters it spans.
// An empty name with width > 0 is invalid syntax, which Go removes from the output.
// closeAfter(k) is the index of the first '}' at or after k (-1 if none).
function shellName(s: string, i: number, closeAfter: (k: number) => number): [string, number] {
  if (s[i] === '{') {
    if (i + 2 < s.length && isSpecial(s[i + 1]) && s[i + 2] === '}') return [s[i + 1]!, 3];
    const j = closeAfter(i + 1);
    if (j === -1) return ['', 1];
    return j === i + 1 ? ['', 2] : [s.slice(i + 1, j), j - i + 1];
  }
  if (isSpecial(s[i])) return [s[i]!, 1];
  let j = i;
  while (isAlnum(s[j])) j++;
  return [s.slice(i, j), j - i];
}

export function expandEnv(src: string, env: NodeJS.ProcessEnv): Expansion {
  const notes: EnvNote[] = [];
  const segs: Segment[] = [];
  let out = '';
  let last = 0;
  // Remembered so that many unclosed `${` cannot make expansion quadratic.
  let brace = -2;
  const closeAfter = (k: number) => (brace === -1 || brace >= k ? brace : (brace = src.indexOf('}', k)));
  for (let j = 0; j < src.length; j++) {
    if (src[j] !== '$' || j + 1 >= src.length) continue;
    const [name, w] = shellName(src, j + 1, closeAfter);
    if (name === '' && w === 0) continue; // a lone '$' stays as it is
    const token = src.slice(j, j + w + 1);
    let rep = '';
    if (name === '') {
      notes.push({ code: 'env-syntax', offset: j, message: `'${token}' is not a valid variable reference; agentsh silently deletes it` });
    } else if (env[name] === undefined) {
      notes.push({ code: 'unset-env-var', offset: j, message: `${token}: environment variable ${name} is not set; agentsh expands it to an empty string` });
    } else {
      rep = env[name]!;
      if (rep.includes('\n')) {
        notes.push({ code: 'env-multiline', offset: j, message: `${token} expands to a value with line breaks, which becomes YAML structure` });
      }
    }
    out += src.slice(last, j);
    segs.push({ exp: out.length, orig: j, expLen: rep.length, origLen: w + 1 });
    out += rep;
    last = j + w + 1;
    j = last - 1;
  }
  out += src.slice(last);

  const origStarts = lineStarts(src);
  const expStarts = segs.length ? lineStarts(out) : origStarts;
  const originalPos = (offset: number) => posOf(origStarts, offset);
  const toOriginal = (line: number, column: number) => {
    if (!segs.length || line < 1) return { line, column };
    const e = (expStarts[line - 1] ?? 0) + column - 1;
    let delta = 0;
    for (const s of segs) {
      if (e < s.exp) break;
      // Inside a substituted value: point at the `$VAR` that produced it.
      if (e < s.exp + s.expLen) return originalPos(s.orig);
      delta = s.orig + s.origLen - (s.exp + s.expLen);
    }
    return originalPos(e + delta);
  };
  return { text: out, notes, toOriginal, originalPos };
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

function posOf(starts: number[], offset: number): { line: number; column: number } {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: offset - starts[lo]! + 1 };
}
