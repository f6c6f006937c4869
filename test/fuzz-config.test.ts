// Fuzzing the policy and config loaders (issue 10): random structural mutations of the seed
// files (keys dropped, types swapped, unknown keys, huge and deeply nested values, anchors
// and alias bombs, odd unicode, duplicate keys, YAML tags) must end in either a loaded
// document or a LoadError whose diagnostics name file:line — never another exception, never
// a hang. A policy that loads and compiles gives an engine that answers every check with a
// known decision, the same one every time; a config that loads gives a working DLP redactor.
//
// Bounded: a fixed number of runs AND a time cap per property; deterministic seed, printed.
// AGENTSH_FUZZ_SEED=<n> replays another seed, AGENTSH_FUZZ_SCALE=<x> scales runs and time.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { loadConfigText, type LoadedConfig } from '../src/config/load.js';
import { fromConfig } from '../src/dlp/index.js';
import { compilePolicy, type CompiledPolicy } from '../src/policy/compile.js';
import { DEFAULT_APPROVALS, type PolicyDecision } from '../src/policy/decision.js';
import { PolicyEngine } from '../src/policy/engine.js';
import { lintPolicy } from '../src/policy/lint.js';
import { loadPolicyText, type LoadedPolicy } from '../src/policy/load.js';
import { LoadError, type Diagnostic } from '../src/util/diagnostics.js';
import { SEED_CONFIG, SEED_POLICY, SEED_VARS } from './helpers.js';
import { announce, fuzz } from './fuzz-harness.js';

announce('fuzz-config');

const POLICY_TEXT = readFileSync(SEED_POLICY, 'utf8');
const CONFIG_TEXT = readFileSync(SEED_CONFIG, 'utf8');
const POLICY_DATA = parseYaml(POLICY_TEXT) as Record<string, unknown>;
const CONFIG_DATA = parseYaml(CONFIG_TEXT) as Record<string, unknown>;
const FILE = '/fuzz/input.yaml';
/** Loading plus compiling one input, or building and querying one engine, stays below this
 *  (typically 5–100 ms, ~500 ms for the largest inputs here; generous for a loaded machine). */
const MAX_MS = 3000;

const DECISIONS = new Set(['allow', 'deny', 'approve', 'soft_delete', 'redirect', 'audit', 'absorb']);
const CATEGORIES = new Set(['file', 'command', 'network', 'env', 'signal', 'unix_socket', 'shell']);

// ── values ─────────────────────────────────────────────────────────────────────────────────

const ODD = ['\u0000', '\uFEFF', '\u202E', '\u200B', '\u2028', '\u0085', '\uD800', '\uDFFF', '😀', 'é', 'e\u0301', '日本', '\t', '\r', '\u001B[31m', '\\', '"', "'", '#', ': ', '- ', '{', '}', '[', ']', '&a', '*a', '!', '%', '@', '`', '|', '>'];
const GLOBS = [
  '/tmp/**', '/**', '**', '*', '?', '/x/*/y', '/a/**/b/**/c', '[abc]', '[!a-z]*', '[z-a]', '[', '[]', '[!]', '{a,b}', '{a,{b,c}}', '{', '}', ',',
  '\\', 'a\\', '\\*', '/usr/bin/*', '${PROJECT_ROOT}/**', '${HOME}/.ssh/**', '${UNDEFINED}/x', '${GIT_ROOT:-${PROJECT_ROOT}}/y', '${A:-${B:-/z}}', '${', '${}', '${1X}',
  '$HOME', '~/x', '', ' ', '/', '//', '/./x/../y', '*.evil.test', 'evil.test', '*.*', '**.example.com', '@abstract', '/run/**/*.sock',
];
const REGEXES = ['^-rf?\\b', '(?i)--force', '.*', '', '(', '[a-', '(?P<x>a)', '(?<x>a)', 'a{1000}', 'a{2000}', '\\b(x|y)+$', '(?=x)', '\\1', '\\pL+', '[[:alpha:]]', '(?s).', 'x**', '\\Q*\\E'];
const CIDRS = ['127.0.0.1/32', '10.0.0.0/8', '::1/128', '0.0.0.0/0', '::/0', '1.2.3.4', '256.0.0.1/8', '1.2.3.4/33', '::ffff:1.2.3.4/128', 'fe80::%eth0/64', 'x/8', '/8', '1.2.3.4/ 8', ' 10.0.0.0/8 '];
const DURATIONS = ['5m', '30s', '0', '0s', '1h30m', '-5s', '1.5h', '10', 'forever', '9999999999h', '', '1ms'];
const SIGNALS = ['SIGKILL', 'kill', '9', '0', '65', '@fatal', '@all', '*', 'SIGFOO', '@nope', ' TERM ', '-1'];
const WORDS = ['allow', 'deny', 'approve', 'soft_delete', 'redirect', 'audit', 'absorb', 'Deny', 'ALLOW', 'read', 'WRITE', '*', 'delete', 'direct', 'nested', 'redact', 'block', 'disabled', 'embedded', 'monitor', 'all', 'info', 'json', 'none'];
const KEYS = [
  'name', 'decision', 'paths', 'operations', 'commands', 'args_patterns', 'context', 'domains', 'cidrs', 'ports', 'signals', 'target', 'message', 'timeout', 'redirect_to',
  'env_allow', 'env_deny', 'env_max_bytes', 'min_depth', 'max_depth', 'version', 'file_rules', 'command_rules', 'network_rules', 'env_policy', 'mcp_rules', 'regex', 'display',
  'custom_patterns', 'allowlist', 'enabled', 'mode', 'addr', 'unknown_key', 'x-extra', '<<', '', ' ', 'Name', 'décision', '0', 'true', 'null',
  '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'prototype', 'valueOf',
];
const TAGGED = ['!!binary aGVsbG8=', '!!set {a, b}', '!!omap [a: 1]', '!!pairs [a: 1]', '!!timestamp 2001-12-14', '!!float 1', '!!str 12', '!!int 0x10', '!!null ""', '!custom x', '!!map {}', '!!seq []', '!<tag:yaml.org,2002:str> y'];

// At most 8 `*` in a generated string: backtracking-prone globs now go to a linear automaton
// (src/policy/glob.ts; the adversarial cases are timed in test/glob-linear.test.ts), so this
// only keeps generated values readable.
const fewStars = (s: string) => (s.match(/\*/g)?.length ?? 0) <= 8;
const smallString = fc.oneof(
  fc.constantFrom(...GLOBS, ...REGEXES, ...CIDRS, ...DURATIONS, ...SIGNALS, ...WORDS),
  fc.array(fc.oneof(fc.constantFrom(...ODD), fc.constantFrom(...GLOBS), fc.string({ maxLength: 4 })), { maxLength: 5 }).map((a) => a.join('')).filter(fewStars),
  fc.string({ unit: 'binary', maxLength: 12 }).filter(fewStars),
);
/** What a mutation writes somewhere: anything YAML can hold, from tiny to huge. */
const anyValue: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { arbitrary: smallString, weight: 6 },
    { arbitrary: fc.constantFrom(null, true, false, 0, -1, 1, 65535, 65536, 1e21, -0.5, Number.MAX_SAFE_INTEGER + 2, '', '1', 'true', 'null', '~', 'yes', 'no', '0x1F', '1e3'), weight: 4 },
    { arbitrary: fc.double(), weight: 1 },
    { arbitrary: fc.integer(), weight: 1 },
    { arbitrary: fc.array(tie('v'), { maxLength: 4 }), weight: 2 },
    { arbitrary: fc.dictionary(fc.constantFrom(...KEYS), tie('v'), { maxKeys: 4 }), weight: 2 },
    { arbitrary: fc.integer({ min: 1, max: 300 }).map((n) => 'x'.repeat(n * 1000)), weight: 1 }, // up to 300 KB
    { arbitrary: fc.integer({ min: 1, max: 500 }).map((n) => Array.from({ length: n }, (_, i) => `/p${i}/**`)), weight: 1 },
    { arbitrary: fc.integer({ min: 1, max: 60 }).map((d) => nest(d)), weight: 1 },
  ),
})).v;

function nest(depth: number): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { k: v };
  return v;
}

// ── structural mutations of the parsed seed ────────────────────────────────────────────────

type Path = (string | number)[];

function paths(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function parentOf(root: unknown, p: Path): Record<string | number, unknown> | null {
  let v = root;
  for (const seg of p.slice(0, -1)) v = (v as Record<string | number, unknown>)[seg];
  return v && typeof v === 'object' ? (v as Record<string | number, unknown>) : null;
}

/** Values shaped for the key being replaced, so that many mutants stay close to valid. */
function valueFor(key: string | number | undefined, pick: number, generic: unknown): unknown {
  const pools: Record<string, readonly unknown[]> = {
    paths: GLOBS.map((g) => [g]), commands: [['sudo'], ['*'], ['/usr/bin/*'], [], ['[x'], ['{a,b'], ['BASH'], ['a\\']], domains: GLOBS.map((g) => [g]),
    cidrs: CIDRS.map((c) => [c]), args_patterns: REGEXES.map((r) => [r]), regex: REGEXES, ports: [[80], [0], [65535], [65536], [-1], [1.5], ['80'], []],
    decision: WORDS, operations: [['read'], ['*'], ['READ', 'Write'], ['bogus'], []], signals: SIGNALS.map((s) => [s]), timeout: DURATIONS,
    context: [['direct'], ['nested'], ['direct', 'nested'], { min_depth: 2, max_depth: 1 }, { min_depth: 0, max_depth: -1 }, { max_depth: 0 }, [], ['sideways']],
    allowlist: [['re:('], ['re:a+'], ['x'], [''], ['re:']], version: [1, 2, 0, '1', 1.0, null],
  };
  const pool = typeof key === 'string' ? pools[key] : undefined;
  return pool && pick % 3 !== 0 ? structuredClone(pool[pick % pool.length]) : generic;
}

const mutation = fc.oneof(
  fc.record({ op: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), pick: fc.nat(), value: anyValue }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), key: fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 6 })), value: anyValue }),
  fc.record({ op: fc.constant('clone' as const), at: fc.nat(), to: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function applyMutation(root: Record<string, unknown>, m: Mutation): void {
  const all = paths(root);
  const p = all[m.at % all.length]!;
  const last = p[p.length - 1];
  const parent = parentOf(root, p);
  switch (m.op) {
    case 'drop':
      if (!parent) return;
      if (Array.isArray(parent)) parent.splice(last as number, 1);
      else delete parent[last!];
      return;
    case 'set':
      if (!parent) return;
      parent[last!] = valueFor(last, m.pick, m.value);
      return;
    case 'insert': {
      let target: unknown = root;
      for (const seg of p) target = (target as Record<string | number, unknown>)[seg];
      if (Array.isArray(target)) target.push(m.value);
      else if (target && typeof target === 'object') (target as Record<string, unknown>)[m.key] = m.value;
      else if (parent) parent[last!] = { [m.key]: m.value };
      return;
    }
    case 'clone': {
      // a rule (or any node) copied into a list elsewhere: duplicates, wrong kinds of rule
      const src = all[m.at % all.length]!;
      let v: unknown = root;
      for (const seg of src) v = (v as Record<string | number, unknown>)[seg];
      const lists = all.filter((q) => {
        let t: unknown = root;
        for (const seg of q) t = (t as Record<string | number, unknown>)[seg];
        return Array.isArray(t);
      });
      if (!lists.length) return;
      let t: unknown = root;
      for (const seg of lists[m.to % lists.length]!) t = (t as Record<string | number, unknown>)[seg];
      (t as unknown[]).splice(m.to % ((t as unknown[]).length + 1), 0, structuredClone(v));
    }
  }
}

// ── textual mutations of the serialised mutant ─────────────────────────────────────────────

function aliasBomb(levels: number, width: number): string {
  const lines = [`bomb0: &b0 [${Array(width).fill('"lol"').join(', ')}]`];
  for (let i = 1; i < levels; i++) lines.push(`bomb${i}: &b${i} [${Array(width).fill(`*b${i - 1}`).join(', ')}]`);
  return lines.join('\n');
}

const textMutation = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('dup-line' as const), at: fc.nat() }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('drop-line' as const), at: fc.nat() }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('indent' as const), at: fc.nat(), by: fc.constantFrom(' ', '  ', '\t', '   ') }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('char' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...ODD), fc.constantFrom(...TAGGED).map((t) => ` ${t}`)) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('bomb' as const), levels: fc.integer({ min: 2, max: 9 }), width: fc.integer({ min: 2, max: 10 }), where: fc.constantFrom('top', 'mcp_rules', 'unknown', 'logging') }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('alias-rule' as const), at: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('deep-flow' as const), depth: fc.integer({ min: 20, max: 1200 }), kind: fc.constantFrom('[', '{a: ') }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('huge' as const), kb: fc.oneof(fc.integer({ min: 50, max: 400 }), fc.constant(4200)) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('bom' as const) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('crlf' as const) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('doc' as const), text: fc.constantFrom('---\n', '...\n', '--- !!map\n', '%YAML 1.1\n---\n', '%TAG ! tag:x,2000:\n---\n', '---\n---\n', '--- |\n  text\n') }), weight: 1 },
);
type TextMutation = typeof textMutation extends fc.Arbitrary<infer M> ? M : never;

function applyText(text: string, m: TextMutation, listKey: string): string {
  const lines = text.split('\n');
  const at = 'at' in m ? m.at % Math.max(1, lines.length) : 0;
  switch (m.op) {
    case 'dup-line':
      lines.splice(at, 0, lines[at] ?? '');
      return lines.join('\n');
    case 'drop-line':
      lines.splice(at, 1);
      return lines.join('\n');
    case 'indent':
      lines[at] = m.by + (lines[at] ?? '');
      return lines.join('\n');
    case 'char': {
      const pos = m.at % (text.length + 1);
      return text.slice(0, pos) + m.text + text.slice(pos);
    }
    case 'bomb': {
      const bomb = aliasBomb(m.levels, m.width);
      if (m.where === 'top') return `${bomb}\n${text}`;
      const key = m.where === 'unknown' ? 'bomb_here' : m.where;
      // the bomb's anchors at top level (unknown keys) and the last alias used as a value
      return `${bomb}\n${text}\n${key}: *b${m.levels - 1}\n`;
    }
    case 'alias-rule': {
      // anchor the first list item of the main rule list and alias it again below
      const i = lines.findIndex((l) => l.startsWith(`${listKey}:`));
      if (i < 0 || !lines[i + 1]?.startsWith('  - ')) return text;
      lines[i + 1] = lines[i + 1]!.replace('  - ', '  - &r0 ');
      lines.splice(i + 2, 0, '  - *r0');
      return lines.join('\n');
    }
    case 'deep-flow':
      return `${text}\nmcp_rules: ${m.kind.repeat(m.depth)}x${(m.kind === '[' ? ']' : '}').repeat(m.depth)}\n`;
    case 'huge':
      return `${text}\ndescription: "${'y'.repeat(m.kb * 1024)}"\n`;
    case 'bom':
      return `\uFEFF${text}`;
    case 'crlf':
      return text.replace(/\n/g, '\r\n');
    case 'doc':
      return m.text + text;
  }
}

function mutant(data: Record<string, unknown>, listKey: string) {
  return fc
    .tuple(fc.array(mutation, { maxLength: 6 }), fc.array(textMutation, { maxLength: 2 }), fc.boolean())
    .map(([ms, ts, flowStyle]) => {
      const d = structuredClone(data);
      for (const m of ms) applyMutation(d, m);
      let text: string;
      try {
        text = stringifyYaml(d, { aliasDuplicateObjects: false, lineWidth: 0, ...(flowStyle ? { collectionStyle: 'flow' as const } : {}) });
      } catch {
        text = JSON.stringify(d); // JSON is YAML too
      }
      for (const t of ts) text = applyText(text, t, listKey);
      return text;
    });
}

// ── what every outcome must look like ──────────────────────────────────────────────────────

const stats = { policy: { loaded: 0, compiled: 0, rejected: 0, codes: new Map<string, number>() }, config: { loaded: 0, rejected: 0, codes: new Map<string, number>() } };
const slowest = { ms: 0, what: '' };

/** The diagnostics of a failed load: errors among them, each naming the file, a line (0 only
 *  for problems of the whole file) within the text, and a column. */
function checkLoadError(err: unknown, text: string, codes: Map<string, number>): void {
  if (!(err instanceof LoadError)) throw new Error(`not a LoadError: ${(err as Error)?.stack ?? String(err)}`);
  const diags: Diagnostic[] = err.diagnostics;
  assert.ok(diags.some((d) => d.severity === 'error'), 'a LoadError has at least one error');
  const lineCount = text.split(/\r\n|\r|\n/).length + 1;
  for (const d of diags) {
    codes.set(d.code, (codes.get(d.code) ?? 0) + 1);
    assert.equal(d.file, FILE);
    assert.ok(Number.isInteger(d.line) && d.line >= 0 && d.line <= lineCount, `line ${d.line} of ${lineCount}: ${JSON.stringify(d)}`);
    assert.ok(Number.isInteger(d.column) && d.column >= 0, JSON.stringify(d));
    if (d.severity === 'error' && d.code !== 'too-large') assert.ok(d.line >= 1, `an error without a line: ${JSON.stringify(d)}`);
    assert.equal(typeof d.message, 'string');
    assert.ok(d.message.length > 0);
  }
  assert.ok(err.message.length > 0);
}

function timed<T>(what: string, f: () => T): T {
  const t0 = performance.now();
  const v = f();
  const ms = performance.now() - t0;
  if (ms > slowest.ms) Object.assign(slowest, { ms, what });
  assert.ok(ms < MAX_MS, `${what} took ${ms.toFixed(0)} ms`);
  return v;
}

function checkDecision(d: PolicyDecision, category?: string): void {
  assert.ok(DECISIONS.has(d.decision), `unknown decision ${d.decision}`);
  assert.ok(DECISIONS.has(d.policyDecision), `unknown policy decision ${d.policyDecision}`);
  assert.ok(CATEGORIES.has(d.category));
  if (category) assert.equal(d.category, category);
  assert.equal(typeof d.rule, 'string');
  assert.equal(typeof d.message, 'string');
  assert.ok(Number.isInteger(d.ruleIndex) && d.ruleIndex >= -1);
  if (d.decision === 'approve') assert.equal(d.approval, 'required', 'approve only stands when approvals are on');
}

const FILE_OPS = ['read', 'write', 'delete', 'rmdir', 'stat', 'WRITE', 'bogus'];
const PATHS = [
  '/home/daytona/project/src/a.ts', '/home/daytona/.ssh/id_rsa', '/etc/shadow', '/tmp/x', '/usr/bin/sudo', '/proc/1/environ', '/', 'relative/file', '../../etc/passwd',
  '/home/daytona/project/../../../etc/passwd', `/tmp/${'a/'.repeat(25)}x`, '/p0/q', '/a/b/c', '/x/y/z/y', '/tmp/日本/😀', '/var/run/docker.sock', '@abstract',
];
const COMMANDS: [string, string[], number][] = [
  ['ls', ['-la'], 0], ['sudo', ['id'], 0], ['/usr/bin/sudo', ['id'], 0], ['rm', ['-rf', '/'], 0], ['rm', ['-rf', '/'], 2], ['git', ['push', '--force'], 0], ['curl', ['https://x'], 1],
  ['bash.real', ['-c', 'x'], 0], ['BASH', [], 0], ['', [], 0], ['a', ['b'.repeat(5000)], 0], ['npm', ['install'], 5], ['kill', ['-9', '1'], 0],
];
const HOSTS: [string, number, string?][] = [['github.com', 443], ['evil.test', 80], ['127.0.0.1', 80], ['[::1]', 443], ['169.254.169.254', 80, '169.254.169.254'], ['registry.npmjs.org', 443, '104.16.0.1'], ['', 0], ['x.example.com.', 8080]];

/** Every kind of check on one engine, as a comparable record. */
function battery(e: PolicyEngine): unknown[] {
  const out: unknown[] = [];
  const rec = (d: PolicyDecision, category: string) => {
    checkDecision(d, category);
    out.push([d.decision, d.policyDecision, d.rule, d.ruleIndex, d.message, d.isDefault]);
  };
  for (const op of FILE_OPS) for (const p of PATHS) rec(e.checkFile(op, p, '/home/daytona/project'), 'file');
  for (const [c, args, depth] of COMMANDS) rec(e.checkCommand(c, args, depth), 'command');
  for (const [h, port, ip] of HOSTS) {
    rec(e.checkNetwork(h, port, ip), 'network');
    const a = ip ? e.checkAddress(ip, port, h) : null;
    if (a) rec(a, 'network');
    rec(e.checkName(h), 'network');
  }
  for (const s of ['SIGKILL', 'TERM', '9', '@fatal', 'bogus']) for (const t of ['self', 'external', 'CHILDREN']) {
    const d = e.checkSignal(s, t);
    checkDecision(d, 'signal');
    out.push([d.decision, d.rule]);
  }
  for (const p of ['/var/run/docker.sock', '@abstract', '/tmp/x.sock']) rec(e.checkUnixSocket('connect', p), 'unix_socket');
  for (const n of ['PATH', 'AWS_SECRET_ACCESS_KEY', 'GITHUB_TOKEN', 'HOME', 'X']) rec(e.checkEnv(n), 'env');
  for (const s of ['ls -la | grep x > /tmp/o', 'sudo id; rm -rf /', 'env -i bash -c "curl x | sh"', 'eval "$x"', '']) {
    const d = e.checkShell(s);
    checkDecision(d);
    for (const c of d.commands) checkDecision(c.decision, 'command');
    out.push([d.decision, d.rule, d.commands.map((c) => c.decision.decision)]);
  }
  try {
    const env = e.buildEnv({ PATH: '/bin', HOME: '/root', AWS_SECRET_ACCESS_KEY: 'x', LONG: 'v'.repeat(10000) });
    out.push(env.removed);
  } catch (err) {
    assert.equal((err as Error).constructor.name, 'EnvLimitError', `buildEnv threw ${(err as Error).stack}`);
    out.push('env-limit');
  }
  return out;
}

function compile(loaded: LoadedPolicy): CompiledPolicy {
  return compilePolicy(loaded, { vars: SEED_VARS, env: {} });
}

function checkPolicyText(text: string): void {
  const codes = stats.policy.codes;
  let compiled: CompiledPolicy;
  let loaded: LoadedPolicy | undefined;
  try {
    compiled = timed(`loading ${JSON.stringify(text.slice(0, 200))}`, () => compile((loaded = loadPolicyText(text, FILE))));
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    checkLoadError(err, text, codes);
    stats.policy.rejected++;
    return;
  }
  stats.policy.compiled++;
  for (const d of compiled.fileRules) assert.ok(d.re instanceof RegExp);
  // `policy lint` on it works too, and positions what it finds
  for (const d of timed('linting', () => lintPolicy(loaded!, compiled, { approvals: DEFAULT_APPROVALS, knownVars: Object.keys(SEED_VARS) }))) {
    assert.equal(d.file, FILE);
    assert.ok(d.line >= 1, JSON.stringify(d));
  }
  // Deterministic: one engine (cache on, asked twice), another built from scratch (cache off).
  const a = new PolicyEngine(compiled);
  const b = new PolicyEngine(compile(loadPolicyText(text, FILE)), { cacheSize: 0 });
  const c = new PolicyEngine(compiled, { approvals: { enabled: true, whenUnavailable: 'deny' } });
  const first = timed(`deciding on ${JSON.stringify(text.slice(0, 200))}`, () => battery(a));
  assert.deepEqual(battery(a), first, 'the same engine answers the same twice');
  assert.deepEqual(battery(b), first, 'a fresh engine from the same text answers the same');
  battery(c);
  assert.equal(a.approvals, DEFAULT_APPROVALS);
}

function checkConfigText(text: string): void {
  const codes = stats.config.codes;
  let loaded: LoadedConfig;
  try {
    loaded = timed(`loading ${JSON.stringify(text.slice(0, 200))}`, () => loadConfigText(text, FILE, { env: { HOME: '/home/u', MULTI: 'a\nb: c' } }));
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    checkLoadError(err, text, codes);
    stats.config.rejected++;
    return;
  }
  stats.config.loaded++;
  for (const d of loaded.diagnostics) {
    assert.notEqual(d.severity, 'error');
    assert.equal(d.file, FILE);
  }
  // An accepted config's DLP section always makes a working redactor (built once per
  // distinct section: compiling every detector costs ~100 ms).
  const key = JSON.stringify(loaded.config.dlp);
  if (dlpSeen.has(key)) return;
  dlpSeen.add(key);
  const red = fromConfig(loaded.config.dlp);
  if (red) {
    const out = red.redact('mail ann@acme-corp.io key AKIAQ3WZ7RX2MLP9TB4N end');
    assert.equal(typeof out.text, 'string');
  }
}
const dlpSeen = new Set<string>();

describe('policy YAML fuzzing', () => {
  it('mutated seed policies load (and compile) or fail with positioned LoadErrors; engines answer known decisions deterministically', () => {
    const n = fuzz('policy mutants', 1, mutant(POLICY_DATA, 'file_rules'), checkPolicyText, 300, 2000, 25);
    console.log(`policy mutants: ${n} inputs, ${stats.policy.compiled} compiled, ${stats.policy.rejected} rejected; codes ${JSON.stringify(Object.fromEntries(stats.policy.codes))}`);
    // Not vacuous: both outcomes happen, and many mutants still compile.
    assert.ok(stats.policy.compiled >= Math.min(10, n / 10), `only ${stats.policy.compiled} of ${n} mutants compiled`);
    assert.ok(stats.policy.rejected >= Math.min(10, n / 10), `only ${stats.policy.rejected} of ${n} mutants were rejected`);
  });

  it('rule-level mutants of small policies', () => {
    const rule = fc.record({
      name: fc.oneof(fc.constantFrom('r', 'R', 'x'), smallString),
      decision: fc.constantFrom(...WORDS),
      paths: fc.array(fc.constantFrom(...GLOBS), { maxLength: 3 }),
      operations: fc.array(fc.constantFrom('read', 'write', '*', 'delete', 'Stat', 'bogus'), { maxLength: 3 }),
      commands: fc.array(fc.constantFrom('sudo', '*', '/usr/bin/*', 'ls', '[x', 'a\\', 'B*'), { maxLength: 3 }),
      args_patterns: fc.array(fc.constantFrom(...REGEXES), { maxLength: 2 }),
      domains: fc.array(fc.constantFrom(...GLOBS), { maxLength: 2 }),
      cidrs: fc.array(fc.constantFrom(...CIDRS), { maxLength: 2 }),
      ports: fc.array(fc.constantFrom(0, 80, 443, 65535, 65536, -1), { maxLength: 2 }),
      signals: fc.array(fc.constantFrom(...SIGNALS), { maxLength: 2 }),
      timeout: fc.constantFrom(...DURATIONS),
      context: fc.constantFrom<unknown>(['direct'], ['nested'], { min_depth: 1 }, { min_depth: 2, max_depth: 1 }, { max_depth: -1 }),
      message: fc.constantFrom('{{.Path}} {{.Args}} {{.Nope}}', '{{', '', 'x'),
      redirect_to: fc.constantFrom<unknown>('/tmp/r', { command: 'echo' }, undefined),
    }, { requiredKeys: ['name', 'decision'] });
    const LISTS: Record<string, string[]> = {
      file_rules: ['name', 'decision', 'paths', 'operations', 'message', 'timeout', 'redirect_to'],
      command_rules: ['name', 'decision', 'commands', 'args_patterns', 'context', 'message', 'redirect_to'],
      network_rules: ['name', 'decision', 'domains', 'cidrs', 'ports', 'message'],
      signal_rules: ['name', 'decision', 'signals'],
      unix_socket_rules: ['name', 'decision', 'paths', 'operations'],
    };
    const policy = fc.array(fc.tuple(fc.constantFrom(...Object.keys(LISTS)), rule, fc.boolean()), { maxLength: 8 }).map((rules) => {
      const doc: Record<string, unknown> = { version: 1, name: 'fuzz' };
      for (const [list, r, strictShape] of rules) {
        const keep = strictShape ? LISTS[list]! : Object.keys(r);
        const shaped = Object.fromEntries(Object.entries(r).filter(([k, v]) => v !== undefined && keep.includes(k)));
        // required lists of each rule kind present more often than not
        if (strictShape && (list === 'file_rules' || list === 'unix_socket_rules')) shaped.paths ??= ['/x/**'];
        if (strictShape && list === 'file_rules') shaped.operations ??= ['*'];
        if (strictShape && list === 'command_rules') shaped.commands ??= ['x'];
        if (strictShape && list === 'signal_rules') shaped.signals ??= ['TERM'];
        ((doc[list] ??= []) as unknown[]).push(shaped);
      }
      return stringifyYaml(doc, { lineWidth: 0 });
    });
    const before = stats.policy.compiled;
    const n = fuzz('rule mutants', 2, policy, checkPolicyText, 600, 1200, 50);
    assert.ok(stats.policy.compiled - before >= Math.min(10, n / 10), `only ${stats.policy.compiled - before} of ${n} compiled`);
  });

  it('alias bombs, deep nesting and oversized files are refused quickly with a position', () => {
    const cases: [string, string][] = [
      ['billion laughs', `version: 1\nname: x\n${aliasBomb(9, 10)}\nmcp_rules: *b8\n`],
      ['alias bomb in an unknown key', `${aliasBomb(6, 9)}\nversion: 1\nname: x\nboom: *b5\n`],
      ['deep flow sequences', `version: 1\nname: x\nmcp_rules: ${'['.repeat(5_000)}${']'.repeat(5_000)}\n`],
      ['deep flow mappings', `version: 1\nname: x\nmcp_rules: ${'{a: '.repeat(3_000)}1${'}'.repeat(3_000)}\n`],
      ['deep block sequences', `version: 1\nname: x\nmcp_rules:\n${Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i)}-`).join('\n')} x\n`],
      ['too large', `version: 1\nname: x\ndescription: "${'z'.repeat(5 << 20)}"\n`],
      ['a million list items (over the size limit)', `version: 1\nname: x\nmcp_rules: [${'1,'.repeat(1_000_000)}1]\n`],

      ['nested ${} fallbacks', `version: 1\nname: x\nfile_rules:\n  - name: a\n    paths: ["${'${A:-'.repeat(20_000)}/x${'}'.repeat(20_000)}"]\n    operations: [read]\n    decision: allow\n`],
      ['many ${} references', `version: 1\nname: x\nfile_rules:\n  - name: a\n    paths: ["${'${HOME}'.repeat(5_000)}"]\n    operations: [read]\n    decision: allow\n`],
      ['an unterminated ${ run', `version: 1\nname: x\nnetwork_rules:\n  - name: a\n    domains: ["${'${'.repeat(200_000)}"]\n    decision: allow\n`],
      ['a long glob', `version: 1\nname: x\nfile_rules:\n  - name: a\n    paths: ["${'{a,'.repeat(5000)}b${'}'.repeat(5000)}"]\n    operations: [read]\n    decision: allow\n`],
    ];
    for (const [what, text] of cases) {
      try {
        checkPolicyText(text);
      } catch (err) {
        if (err instanceof assert.AssertionError) err.message = `${what}: ${err.message}`;
        throw err;
      }
      const cfg = text.replace(/^version: 1\nname: x\n/, '').replace(/\bmcp_rules:/g, 'logging:');
      try {
        checkConfigText(cfg);
      } catch (err) {
        if (err instanceof assert.AssertionError) err.message = `${what} (config): ${err.message}`;
        throw err;
      }
    }
  });
});

describe('loader time on large documents', () => {
  // 16,000 keys, items or errors (~200 KB): linear, 0.1–0.5 s even on a loaded machine. Found
  // by the fuzzer above: duplicate-key detection compared each key with all before it (16,000
  // keys: 2.2 s; 1 MB: minutes), each diagnostic searched its mapping for its key (20,000
  // unknown keys: 11 s), and every YAML syntax error became a diagnostic (50,000: a 4 MB
  // message). A failure needs both: over 1.5 s, and over 16× the time of 2,000 (linear: 8×).
  const N = 16_000;
  const shapes: [string, (n: number) => string, (t: string) => void][] = [
    ['keys in one mapping (policy)', (n) => `version: 1\nname: x\nmcp_rules: {${Array.from({ length: n }, (_, i) => `k${i}: 1`).join(', ')}}\n`, checkPolicyText],
    ['duplicate keys (policy)', (n) => `version: 1\nname: x\nmcp_rules:\n${'  k: 1\n'.repeat(n)}`, checkPolicyText],
    ['unknown keys, each a warning (config)', (n) => `logging: {${Array.from({ length: n }, (_, i) => `k${i}: 1`).join(', ')}}\n`, checkConfigText],
    ['syntax errors (policy)', (n) => `version: 1\nname: x\n${']\n'.repeat(n)}`, checkPolicyText],
    ['list items (policy)', (n) => `version: 1\nname: x\nmcp_rules: [${'1,'.repeat(n)}1]\n`, checkPolicyText],
  ];
  for (const [what, make, check] of shapes) {
    it(`${N} ${what} in linear time`, () => {
      const time = (t: string) => {
        const t0 = performance.now();
        check(t);
        return performance.now() - t0;
      };
      const small = make(N / 8);
      const big = make(N);
      // the best of a few, interleaved: a GC pause or a busy machine is not what is measured
      let t1 = Infinity;
      let t8 = Infinity;
      const bad = () => t8 >= 1500 && t8 >= 16 * t1;
      for (let round = 0; round === 0 || (round < 3 && bad()); round++) {
        t1 = Math.min(t1, time(small), time(small));
        t8 = Math.min(t8, time(big));
      }
      assert.ok(!bad(), `${what}: ${N / 8} in ${t1.toFixed(1)} ms, ${N} in ${t8.toFixed(1)} ms`);
    });
  }
});

describe('config YAML fuzzing', () => {
  it('mutated seed configs load or fail with positioned LoadErrors; accepted ones give a working DLP redactor', () => {
    const n = fuzz('config mutants', 3, mutant(CONFIG_DATA, 'dlp'), checkConfigText, 300, 1500, 25);
    console.log(`config mutants: ${n} inputs, ${stats.config.loaded} loaded, ${stats.config.rejected} rejected; codes ${JSON.stringify(Object.fromEntries(stats.config.codes))}`);
    assert.ok(stats.config.loaded >= Math.min(10, n / 10), `only ${stats.config.loaded} of ${n} configs loaded`);
    assert.ok(stats.config.rejected >= Math.min(10, n / 10), `only ${stats.config.rejected} of ${n} configs were rejected`);
  });

  it('${VAR} expansion over random text keeps positions inside the text', () => {
    const piece = fc.oneof(fc.constantFrom('$', '${', '}', '${HOME}', '${MULTI}', '$HOME', '${UNSET}', '${}', '${-}', '$$', '$1', 'dlp:', '\n', ' ', 'mode: ', 'x', '"', '#'), fc.constantFrom(...ODD));
    const arb = fc.array(piece, { maxLength: 60 }).map((a) => `logging:\n  level: ${a.join('')}\n`);
    fuzz('env expansion', 4, arb, checkConfigText, 400, 700, 40);
  });

  after(() => console.log(`fuzz-config: slowest input ${slowest.ms.toFixed(1)} ms (${slowest.what.slice(0, 120)})`));
});

describe('decision time on long paths', () => {
  it('the seed policy decides adversarial 4 KB paths quickly', () => {
    const engine = new PolicyEngine(compile(loadPolicyText(POLICY_TEXT, FILE)), { cacheSize: 0 });
    const units = ['a/', '.env./', 'node_modules/', '.ssh/', '**/', '.aws/x/', '/', '..', '.env', 'a.'];
    const arb = fc.tuple(fc.constantFrom(...units), fc.constantFrom('', 'x', '.env', '/.env.local', '/id_rsa'), fc.constantFrom(...FILE_OPS)).map(([u, tail, op]) => ({
      op, path: `/home/daytona/project/${u.repeat(Math.floor(4000 / u.length))}${tail}`.slice(0, 4096),
    }));
    fuzz('long paths', 5, arb, ({ op, path }) => {
      const t0 = performance.now();
      checkDecision(engine.checkFile(op, path), 'file');
      const ms = performance.now() - t0;
      assert.ok(ms < 100, `${ms.toFixed(0)} ms for ${op} ${path.slice(0, 80)}…`);
    }, 200, 1000, 20);
  });

  // Found by this fuzzer: globs compiled to JavaScript RegExps, which backtrack. With k
  // wildcards a failing match cost O(n^k) in the path length n: `/**a**a**a**a**b` against
  // `/aaa…a` took 0.6 s for 100 characters and 3.8 s for 200 (a 4 KB path: hours). Paths come
  // from the agent. Fixed in src/policy/glob.ts: globs whose RegExp could backtrack so are
  // matched by a linear automaton (test/glob-linear.test.ts has the rest).
  it('a glob with many wildcards decides in time linear in the path', () => {
    const e = new PolicyEngine(compile(loadPolicyText('version: 1\nname: redos\nfile_rules:\n  - {name: r, paths: ["/**a**a**a**a**b", "**/a*b*c*d"], operations: ["*"], decision: deny}\n', FILE)), { cacheSize: 0 });
    const time = (path: string) => {
      const t0 = performance.now();
      e.checkFile('read', path);
      return performance.now() - t0;
    };
    for (const path of [`/${'a'.repeat(85)}`, `/${'a'.repeat(4095)}`, `/${'a'.repeat(4093)}/b`, `/${'abc'.repeat(1300)}/d`]) {
      const ms = Math.min(time(path), time(path));
      assert.ok(ms < 250, `${ms.toFixed(1)} ms for a ${path.length}-character path`);
    }
  });
});
