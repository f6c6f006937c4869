// Glob matching in time linear in the input (src/policy/glob.ts): the automaton agrees with the
// RegExp translation it replaces where that one backtracks, adversarial globs decide in
// milliseconds on PATH_MAX-long paths, and the seed policy keeps V8's RegExps (its speed).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compilePolicy } from '../src/policy/compile.js';
import { PolicyEngine } from '../src/policy/engine.js';
import { compileGlob, compileGlobSet, GlobError, GlobSetRegExp, linearGlobMatcher } from '../src/policy/glob.js';
import { loadPolicyFile, loadPolicyText } from '../src/policy/load.js';
import { announce, fuzz } from './fuzz-harness.js';
import { SEED_POLICY, SEED_VARS } from './helpers.js';

announce('glob-linear.test.ts');

type Sep = '/' | '.' | null;

// ── the reference: the RegExp translation as it was before the automaton (verbatim) ──────────

const REGEX_SPECIAL = /[.+^$(){}|\\[\]*?/]/;
const escapeChar = (c: string) => (REGEX_SPECIAL.test(c) ? `\\${c}` : c);
function classEnd(glob: string, start: number): number {
  for (let j = start + 1; j < glob.length; j++) {
    if (glob[j] === '\\') j++;
    else if (glob[j] === ']' && j > start + 1) return j;
  }
  return -1;
}
function oldSource(glob: string, separator: Sep): string {
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
/** The old compileGlobSet's RegExp, or null where it threw. */
function oldSet(globs: string[], sep: Sep): RegExp | null {
  try {
    return new RegExp(`^(?:${globs.map((g) => oldSource(g, sep).slice(1, -1)).join('|')})$`);
  } catch {
    return null;
  }
}

// ── semantics ─────────────────────────────────────────────────────────────────────────────────

// Glob pieces: every metacharacter, both separators, ranges that straddle them, non-ASCII,
// a surrogate pair and a lone surrogate (the RegExp works on UTF-16 code units; so must we).
const GLOB_PIECES = ['*', '**', '?', '[', ']', '!', '^', '-', '{', '}', ',', '\\', '/', '.', 'a', 'b', 'c', 'é', '😀', '\uD800', '[a-c]', '[!a]', '[/]', '[!+-]', '[^.]', '{a,b}', '{,a}', '{*,?}', '\\*', '\\]'];
const PATH_CHARS = ['/', '.', 'a', 'b', 'c', '-', ',', '+', ']', '^', '\\', '*', '{', '}', 'é', '😀', '\uD800', '\uDE00'];
const glob = fc.array(fc.constantFrom(...GLOB_PIECES), { maxLength: 8 }).map((a) => a.join(''));
const randomPath = fc.array(fc.constantFrom(...PATH_CHARS), { maxLength: 12 }).map((a) => a.join(''));
/** A path shaped like the glob (wildcards instantiated, metacharacters kept or dropped): many match. */
const likePath = (g: string) =>
  fc.array(fc.constantFrom('', 'a', '/', '.', 'ab', 'a/b', '😀'), { minLength: g.length, maxLength: g.length }).map((fill) =>
    [...g].map((c, i) => ('*?'.includes(c) ? fill[i]! : '{}[]!,\\'.includes(c) ? (fill[i]!.length % 2 ? c : '') : c)).join(''));
const input = fc
  .record({ globs: fc.array(glob, { minLength: 1, maxLength: 3 }), sep: fc.constantFrom<Sep>('/', '.', null) })
  .chain(({ globs, sep }) => fc.record({ globs: fc.constant(globs), sep: fc.constant(sep), paths: fc.array(fc.oneof(randomPath, likePath(globs[0]!)), { minLength: 1, maxLength: 6 }) }));

describe('glob matching: the automaton means what the RegExp translation meant', () => {
  const seen = { compiled: 0, matched: 0, linear: 0 };
  it('random globs and paths: same errors, same answers (set, each simulation, exec)', () => {
    fuzz('glob semantics', 11, input, ({ globs, sep, paths }) => {
      const old = oldSet(globs, sep);
      let now: RegExp;
      try {
        now = compileGlobSet(globs, sep);
      } catch (err) {
        assert.ok(err instanceof GlobError, String(err));
        assert.equal(old, null, `new rejects ${JSON.stringify(globs)} (${err.message}), old accepted`);
        return;
      }
      assert.ok(old, `new accepts ${JSON.stringify(globs)}, old rejected`);
      assert.equal(now.source, old.source);
      seen.compiled++;
      if (now instanceof GlobSetRegExp) seen.linear++;
      const bitset = linearGlobMatcher(globs, sep, 'bitset');
      const closure = linearGlobMatcher(globs, sep, 'closure');
      for (const p of paths) {
        const want = old.test(p);
        if (want) seen.matched++;
        const where = `${JSON.stringify(globs)} sep ${JSON.stringify(sep)} on ${JSON.stringify(p)}`;
        assert.equal(now.test(p), want, `compileGlobSet: ${where}`);
        assert.equal(bitset(p), want, `bitset: ${where}`);
        assert.equal(closure(p), want, `closure: ${where}`);
        assert.equal(now.exec(p)?.[0] ?? null, want ? p : null, `exec: ${where}`);
        if (globs.length === 1) assert.equal(compileGlob(globs[0]!, sep).test(p), new RegExp(oldSource(globs[0]!, sep)).test(p), `compileGlob: ${where}`);
      }
    }, 3000, 4000, 300);
    // The generators reach the interesting part: compiled sets, the automaton, matches.
    assert.ok(seen.compiled > 100 && seen.linear > 20 && seen.matched > 50, JSON.stringify(seen));
  });

  it('hand-picked cases, each simulation', () => {
    const cases: [string, Sep, string, boolean][] = [
      ['/a/{x,y}/**/*.{js,ts}', '/', '/a/y/b/c/d.ts', true],
      ['/a/{x,y}/**/*.{js,ts}', '/', '/a/y/d.js', false],
      ['/a/{x,y}/**/*.{js,ts}', '/', '/a/x//d.js', true],
      ['**/a*b*c*d', '/', '/x/aXbYcZd', true],
      ['**/a*b*c*d', '/', '/x/aXb/cZd', false],
      ['{a,{b,{c,}}}x', '/', 'x', true],
      ['{a,{b,{c,}}}x', '/', 'cx', true],
      ['{}', '/', '', true],
      ['*a*b', null, 'xxa/yyb', true],
      ['*a*b', '/', 'xxa/yyb', false],
      ['*.*', '.', 'a.b', true],
      ['*.*', '.', 'a.b.c', false],
      ['*.*', '/', 'a.b.c', true],
      ['[!+-]*', '/', ',x', false], // `[^+-\/]`: a range up to the separator, as the RegExp reads it
      ['[!+-]*', '/', '.x', false],
      ['[!+-]*', '/', '*x', true],
      ['?*?', '/', '😀', true], // two code units
      ['?*?', '/', 'é', false],
      ['\\{a,b}*x*', '/', '{a,b}yxz', true],
      ['}*,*', '/', '}a,b', true],
      // the literal prefix and suffix are compared apart from the automaton: they may not overlap
      ['ab*ba', '/', 'aba', false],
      ['ab*ba', '/', 'abba', true],
      ['a*a', '/', 'a', false],
      ['a*{x,}a', '/', 'a', false],
      ['a*x*a', '/', 'axa', true],
    ];
    for (const [g, sep, p, want] of cases) {
      for (const mode of ['bitset', 'closure'] as const) assert.equal(linearGlobMatcher([g], sep, mode)(p), want, `${mode}: ${g} on ${p}`);
      assert.equal(compileGlob(g, sep).test(p), want, `${g} on ${p}`);
      assert.equal(new RegExp(oldSource(g, sep)).test(p), want, `old: ${g} on ${p}`);
    }
  });

  it('a GlobSetRegExp is still a RegExp: source, flags, exec, match, replace, search, split', () => {
    const re = compileGlobSet(['**/a*b*c', '/x/**'], '/');
    assert.ok(re instanceof GlobSetRegExp && re instanceof RegExp);
    assert.equal(re.source, oldSet(['**/a*b*c', '/x/**'], '/')!.source);
    assert.equal(re.flags, '');
    assert.deepEqual([...('/q/abc'.match(re) ?? [])], ['/q/abc']);
    assert.equal('/q/abd'.match(re), null);
    assert.equal('/q/abc'.replace(re, 'Z'), 'Z');
    assert.equal('/q/abc'.search(re), 0);
    assert.deepEqual('/x/y'.split(re), ['', '']);
    assert.equal(re.test('/x/y'), true);
  });
});

// ── time ──────────────────────────────────────────────────────────────────────────────────────

/** Best of a few interleaved rounds, each `reps` calls: ms per call. */
function perCall(fn: (s: string) => unknown, inputs: string[], reps: number): number[] {
  const best = inputs.map(() => Infinity);
  for (let round = 0; round < 5; round++) {
    inputs.forEach((s, k) => {
      const t0 = performance.now();
      for (let r = 0; r < reps; r++) fn(s);
      best[k] = Math.min(best[k]!, (performance.now() - t0) / reps);
    });
  }
  return best;
}

// Globs the automaton decides, each with a path that (but for the first) gets past its string
// checks (prefix, suffix, a needed literal), so that the automaton runs over all of it. Most
// backtrack polynomially as RegExps; measured with the old translation: `/**a**a**a**a**b` 19 s
// at 240 characters, `{**a,**b}…` 1 s and `*a*a*a*a[!a]*c` 0.4 s at 240, `**/a*b*c*d` 3.2 s at
// 3,900, and two stars (`**a*b`, `**a**b*`) 12–23 ms at 4,096 (quadratic: 10× that at 13,000).
const ADVERSARIAL: [string, Sep, (n: number) => string][] = [
  ['/**a**a**a**a**b', '/', (n) => `/${'a'.repeat(n)}`],
  ['/**a**a**a**a**b', '/', (n) => `/${'a'.repeat(n)}b`],
  ['/**a**a**a**a**b', '/', (n) => `/${'ab'.repeat(n / 2)}c/b`],
  ['**/a*b*c*d', '/', (n) => `/${'abc'.repeat(n / 3)}`],
  ['**/a*b*c*d', '/', (n) => `/${'abc'.repeat(n / 3)}/d`],
  ['**a*b', '/', (n) => `${'a'.repeat(n)}/b`], // two stars are enough: quadratic in V8
  ['**a**b*', '/', (n) => `${'a'.repeat(n)}`],
  ['{**a,**b}{**a,**b}{**a,**b}{**c,**d}', '/', (n) => `${'ab'.repeat(n / 2)}e`],
  ['*a*a*a*a[!a]*c', null, (n) => `${'a'.repeat(n)}c`],
  ['*.*.*.*', '.', (n) => `${'.'.repeat(n)}x`],
  ['/x/{a,aa}{a,aa}{a,aa}{a,aa}{a,aa}{a,aa}{a,aa}{a,aa}{a,aa}{a,aa}*b*c', '/', (n) => `/x/${'a'.repeat(n)}c/bc`],
  [`**${'a*'.repeat(300)}b`, '/', (n) => `${'a'.repeat(n)}/b`], // > 512 positions: the closure simulation
];
// Two-star shapes left to V8 (backtrackSafe): linear there too, with their worst inputs.
const KEPT_ON_V8: [string, Sep, (n: number) => string][] = [
  ['**/.env.*', '/', (n) => `/.env.${'a'.repeat(n)}/`],
  ['**/.env.*', '/', (n) => `${'/.env.'.repeat(n / 6)}/x`],
  ['**/*.json', '/', (n) => `${'/a.jso'.repeat(n / 6)}`],
  ['**/*.json', '/', (n) => `/${'.json'.repeat(n / 5)}x`],
  ['*_SECRET*', null, (n) => `${'_SECRE'.repeat(n / 6)}`],
  ['*_SECRET*', null, (n) => `${'_SECRET'.repeat(n / 7)}`],
  ['/a/*/b/**', '/', (n) => `/a/${'b'.repeat(n)}`],
  ['*/x*', '/', (n) => `${'/x'.repeat(n / 2)}/`],
];

describe('glob matching time is linear in the input', () => {
  for (const [g, sep, make] of ADVERSARIAL) {
    it(`${g.length > 40 ? `${g.slice(0, 40)}…` : g} (automaton): PATH_MAX-long inputs in well under a second, 2× input → < 5× time`, () => {
      const re = compileGlobSet([g], sep);
      assert.ok(re instanceof GlobSetRegExp, 'decided by the automaton');
      const big = make(4096);
      const t0 = performance.now();
      re.test(big);
      const ms = performance.now() - t0;
      // loose bounds (a loaded CI machine): the old RegExps took seconds to hours here
      assert.ok(ms < 250, `${ms.toFixed(1)} ms on ${big.length} characters`);
      // Long enough for the clock: the ratio of 2n to n, best of interleaved rounds.
      const n = g.length > 100 ? 2_000 : 20_000;
      const [t1, t2] = perCall((s) => re.test(s), [make(n), make(2 * n)], g.length > 100 ? 2 : 10);
      assert.ok(t2! < 5 * t1!, `${n}: ${t1!.toFixed(3)} ms, ${2 * n}: ${t2!.toFixed(3)} ms`);
    });
  }
  for (const [g, sep, make] of KEPT_ON_V8) {
    it(`${g} on V8's RegExp: linear on its worst inputs`, () => {
      const re = compileGlobSet([g], sep);
      assert.ok(!(re instanceof GlobSetRegExp), 'kept on V8');
      const big = make(4096);
      const t0 = performance.now();
      re.test(big);
      assert.ok(performance.now() - t0 < 250);
      const [t1, t2] = perCall((s) => re.test(s), [make(20_000), make(40_000)], 10);
      assert.ok(t2! < 5 * t1!, `20000: ${t1!.toFixed(3)} ms, 40000: ${t2!.toFixed(3)} ms`);
    });
  }

  it('through the policy engine: every adversarial glob, 4 KB paths, each decision in well under a second', () => {
    const rules = ADVERSARIAL.filter(([, sep]) => sep === '/').map(([g], i) => `  - {name: r${i}, paths: [${JSON.stringify(g)}], operations: ["*"], decision: deny}\n`);
    const e = new PolicyEngine(compilePolicy(loadPolicyText(`version: 1\nname: redos\nfile_rules:\n${rules.join('')}`, '/t.yaml')), { cacheSize: 0 });
    for (const [, sep, make] of ADVERSARIAL) {
      if (sep !== '/') continue;
      const path = make(4096);
      const t0 = performance.now();
      e.checkFile('read', path);
      const ms = performance.now() - t0;
      assert.ok(ms < 250, `${ms.toFixed(1)} ms for ${path.slice(0, 40)}…`);
    }
  });

  it('the seed policy keeps V8 RegExps for every glob (the common case is not slowed)', () => {
    const compiled = compilePolicy(loadPolicyFile(SEED_POLICY), { vars: SEED_VARS, env: {} });
    let regexps = 0;
    const walk = (o: unknown, depth: number): void => {
      if (depth > 6 || o === null || typeof o !== 'object') return;
      if (o instanceof RegExp) {
        regexps++;
        assert.ok(!(o instanceof GlobSetRegExp), `seed glob set ${o.source} would take the automaton`);
        return;
      }
      for (const v of Object.values(o)) walk(v, depth + 1);
    };
    walk(compiled, 0);
    assert.ok(regexps > 10, `${regexps} glob sets found`);
  });

  it('huge nestings and runs of braces compile and match quickly', () => {
    // Nested: 5,000 deep. Successive: `{a,}` 2,000 times, whose follow sets would be quadratic
    // (the closure simulation), and whose RegExp took 1.5 s to match one character at 400.
    const nested = `${'{a,'.repeat(5000)}b${'}'.repeat(5000)}*x*y`;
    const runs = `${'{a,}'.repeat(2000)}*b*c`;
    const t0 = performance.now();
    const a = compileGlobSet([nested], '/');
    const b = compileGlobSet([runs], '/');
    assert.ok(a.test('bqxqy') && a.test('aqxy') && !a.test('bqyx'));
    assert.ok(b.test(`${'a'.repeat(1999)}bc`) && b.test('bxc') && !b.test(`${'a'.repeat(1999)}b/c`) && !b.test(`${'a'.repeat(4096)}bc/`));
    assert.ok(performance.now() - t0 < 2000, `${(performance.now() - t0).toFixed(0)} ms`);
  });
});
