// Glob matching with agentsh's semantics (gobwas/glob): with a separator, `*` and `?` stay
// inside one segment and `**` crosses segments (and may be empty); `[abc]`, `[!a-z]`,
// `{a,b}` and `\` escapes; the whole string must match. picomatch/minimatch differ on
// exactly the cases policies depend on (`/tmp/**` matches `/tmp` there, not in agentsh),
// so this small translator to RegExp is ours.

export class GlobError extends Error {}

const REGEX_SPECIAL = /[.+^$(){}|\\[\]*?/]/;

/** Translates a glob into a RegExp source (anchored), or throws GlobError. */
export function globToRegexSource(glob: string, separator: '/' | '.' | null): string {
  const sep = separator === null ? null : escapeChar(separator);
  const notSep = sep === null ? '[\\s\\S]' : `[^${sep}]`;
  let out = '^';
  let braceDepth = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    switch (c) {
      case '*':
        if (glob[i + 1] === '*') {
          out += '[\\s\\S]*';
          while (glob[i + 1] === '*') i++;
        } else out += `${notSep}*`;
        break;
      case '?':
        out += notSep;
        break;
      case '[': {
        const end = classEnd(glob, i);
        if (end < 0) throw new GlobError(`unterminated character class in '${glob}'`);
        let body = glob.slice(i + 1, end);
        const negate = body.startsWith('!') || body.startsWith('^');
        if (negate) body = body.slice(1);
        if (!body) throw new GlobError(`empty character class in '${glob}'`);
        body = body.replace(/\\(.)/g, '$1').replace(/[\\\]^]/g, '\\$&');
        if (/(.)-(.)/.test(body)) {
          for (const m of body.matchAll(/(.)-(.)/g)) if (m[1]! > m[2]!) throw new GlobError(`invalid range '${m[0]}' in '${glob}'`);
        }
        out += negate ? `[^${body}${sep ?? ''}]` : `[${body}]`;
        i = end;
        break;
      }
      case '{':
        braceDepth++;
        out += '(?:';
        break;
      case '}':
        if (braceDepth === 0) {
          out += '\\}';
          break;
        }
        braceDepth--;
        out += ')';
        break;
      case ',':
        out += braceDepth > 0 ? '|' : ',';
        break;
      case '\\':
        if (i + 1 >= glob.length) throw new GlobError(`trailing backslash in '${glob}'`);
        out += escapeChar(glob[++i]!);
        break;
      default:
        out += escapeChar(c);
    }
  }
  if (braceDepth > 0) throw new GlobError(`unterminated '{' in '${glob}'`);
  return out + '$';
}

function classEnd(glob: string, start: number): number {
  for (let j = start + 1; j < glob.length; j++) {
    if (glob[j] === '\\') j++;
    else if (glob[j] === ']' && j > start + 1) return j;
  }
  return -1;
}

function escapeChar(c: string): string {
  return REGEX_SPECIAL.test(c) ? `\\${c}` : c;
}

export function hasGlobMeta(s: string): boolean {
  return /[*?[{]/.test(s);
}

export function compileGlob(glob: string, separator: '/' | '.' | null, flags = ''): RegExp {
  return new RegExp(globToRegexSource(glob, separator), flags);
}

/** One RegExp that matches when any of the globs does (one test per rule on the hot path). */
export function compileGlobSet(globs: string[], separator: '/' | '.' | null, flags = ''): RegExp {
  const parts = globs.map((g) => globToRegexSource(g, separator).slice(1, -1));
  const source = `^(?:${parts.join('|')})$`;
  try {
    const re = new RegExp(source, flags);
    // V8 compiles a RegExp when it is first used (once for one-byte and once for two-byte
    // strings): a pattern too large for it (a glob of ~32,000 characters) would throw on the
    // hot path, at the first decision. Compile both now.
    re.test('');
    re.test('\u0100');
    return re;
  } catch (err) {
    throw new GlobError(`glob${globs.length > 1 ? 's' : ''} cannot be compiled (${source.length} characters as a regular expression): ${String((err as Error).message).slice(-40)}`);
  }
}
