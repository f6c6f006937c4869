// ${NAME} and ${NAME:-fallback} expansion for policy paths and domains, as agentsh does at
// session creation. Unlike agentsh's single-pass regex, fallbacks may nest
// (${GIT_ROOT:-${PROJECT_ROOT}}), which agentsh's docs promise and its code does not do.

export type VarLookup = (name: string) => string | undefined;

export class UndefinedVariableError extends Error {
  constructor(readonly variable: string) {
    super(`undefined variable: ${variable}`);
  }
}

export class VariableSyntaxError extends Error {}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*/;
/** Fallbacks nested deeper than this are refused (each level rescans the rest of the text,
 *  and the recursion would exhaust the stack: 20,000 levels threw a RangeError). */
export const MAX_FALLBACK_DEPTH = 16;

export function expandVars(text: string, lookup: VarLookup, depth = 0): string {
  if (depth > MAX_FALLBACK_DEPTH) throw new VariableSyntaxError(`variable fallbacks nested more than ${MAX_FALLBACK_DEPTH} deep`);
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== '$' || text[i + 1] !== '{') {
      out += c;
      i++;
      continue;
    }
    const name = NAME_RE.exec(text.slice(i + 2))?.[0];
    if (!name) throw new VariableSyntaxError(`invalid variable reference in '${text}'`);
    let j = i + 2 + name.length;
    let fallback: string | undefined;
    if (text.startsWith(':-', j)) {
      const end = closingBrace(text, j + 2);
      fallback = text.slice(j + 2, end);
      j = end;
    }
    if (text[j] !== '}') throw new VariableSyntaxError(`unterminated variable reference in '${text}'`);
    const value = lookup(name);
    // agentsh treats an empty value as unset, so an empty HOME can't turn `${HOME}/.ssh/**` into `/.ssh/**`.
    if (value !== undefined && value !== '') out += value;
    else if (fallback !== undefined) out += expandVars(fallback, lookup, depth + 1);
    else throw new UndefinedVariableError(name);
    i = j + 1;
  }
  return out;
}

/** Names referenced, with whether a fallback covers them (for lint). */
export function referencedVars(text: string): { name: string; hasFallback: boolean }[] {
  const found: { name: string; hasFallback: boolean }[] = [];
  for (const m of text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:-)?/g)) found.push({ name: m[1]!, hasFallback: m[2] !== undefined });
  return found;
}

function closingBrace(text: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (text[i] === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  throw new VariableSyntaxError(`unterminated variable reference in '${text}'`);
}
