// Bad input gets a clear error with file:line:column, never a crash or a silent default.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePolicy } from '../src/policy/compile.js';
import { loadPolicyText } from '../src/policy/load.js';
import { LoadError, type Diagnostic } from '../src/util/diagnostics.js';

function diagnosticsOf(yaml: string, opts: { strict?: boolean; vars?: Record<string, string> } = {}): Diagnostic[] {
  try {
    const loaded = loadPolicyText(yaml, 'p.yaml', { strict: opts.strict ?? false });
    compilePolicy(loaded, { vars: opts.vars ?? {}, env: {} });
    return loaded.diagnostics;
  } catch (err) {
    assert.ok(err instanceof LoadError, `expected LoadError, got ${String(err)}`);
    return err.diagnostics;
  }
}

function only(diags: Diagnostic[], code: string): Diagnostic {
  const found = diags.filter((d) => d.code === code);
  assert.equal(found.length, 1, `one ${code} in ${JSON.stringify(diags)}`);
  return found[0]!;
}

const HEAD = 'version: 1\nname: t\n';

describe('policy loading errors', () => {
  it('malformed YAML names the line', () => {
    const d = only(diagnosticsOf(`${HEAD}command_rules:\n  - name: a\n    commands: [ls\n`), 'yaml-syntax');
    assert.equal(d.severity, 'error');
    assert.ok(d.line >= 4, `line ${d.line}`);
  });
  it('a duplicated key is an error, not a silent override', () => {
    const d = only(diagnosticsOf(`${HEAD}name: again\n`), 'yaml-syntax');
    assert.equal(d.line, 3);
  });
  it('wrong types name the key and the position', () => {
    const d = only(diagnosticsOf(`${HEAD}command_rules:\n  - name: a\n    commands: ls\n    decision: allow\n`), 'wrong-type');
    assert.deepEqual([d.line, d.column, d.path], [5, 15, ['command_rules', 0, 'commands']]);
    assert.match(d.message, /expected array, got string "ls"/);
  });
  it('an unknown decision is a load error listing the valid ones', () => {
    const d = only(diagnosticsOf(`${HEAD}file_rules:\n  - name: a\n    paths: ["/x"]\n    operations: [read]\n    decision: maybe\n`), 'invalid-value');
    assert.deepEqual([d.line, d.column], [7, 15]);
    assert.match(d.message, /"maybe" is not one of: allow, deny, approve, soft_delete, redirect, audit/);
  });
  it('decisions and operations are case-insensitive as in agentsh', () => {
    assert.deepEqual(diagnosticsOf(`${HEAD}file_rules:\n  - {name: a, paths: ["/x"], operations: [READ], decision: Deny}\n`), []);
  });
  it('an unknown operation is an error', () => {
    const d = only(diagnosticsOf(`${HEAD}file_rules:\n  - {name: a, paths: ["/x"], operations: [explode], decision: deny}\n`), 'invalid-value');
    assert.deepEqual(d.path, ['file_rules', 0, 'operations', 0]);
  });
  it('missing required keys are named', () => {
    const d = only(diagnosticsOf(`${HEAD}network_rules:\n  - {name: a, domains: [x]}\n`), 'missing-key');
    assert.match(d.message, /missing required key 'decision'/);
    assert.equal(d.line, 4);
  });
  it('unknown keys warn by default and fail with --strict', () => {
    const yaml = `${HEAD}command_rules:\n  - {name: a, commands: [ls], decision: allow, comands: [x]}\n`;
    const warn = only(diagnosticsOf(yaml), 'unknown-key');
    assert.equal(warn.severity, 'warning');
    assert.deepEqual([warn.line, warn.column], [4, 48]);
    assert.match(warn.message, /unknown key 'comands'/);
    assert.equal(only(diagnosticsOf(yaml, { strict: true }), 'unknown-key').severity, 'error');
  });
  it('sections agentsh has but we do not enforce are reported, not dropped', () => {
    const d = only(diagnosticsOf(`${HEAD}package_rules: []\n`), 'unsupported');
    assert.equal(d.severity, 'warning');
    assert.equal(d.line, 3);
  });
  it('invalid regexes are errors with the RE2 reason', () => {
    const d = only(diagnosticsOf(`${HEAD}command_rules:\n  - name: a\n    commands: [git]\n    args_patterns: ["push(", "ok"]\n    decision: deny\n`), 'invalid-regex');
    assert.deepEqual(d.path, ['command_rules', 0, 'args_patterns', 0]);
    assert.equal(d.line, 6);
    assert.match(d.message, /invalid regex 'push\('/);
  });
  it('lookarounds and backreferences are refused (RE2 semantics, as agentsh)', () => {
    only(diagnosticsOf(`${HEAD}command_rules:\n  - {name: a, commands: [x], args_patterns: ["(?!x)"], decision: deny}\n`), 'invalid-regex');
    only(diagnosticsOf(`${HEAD}command_rules:\n  - {name: a, commands: [x], args_patterns: ["(a)\\\\1"], decision: deny}\n`), 'invalid-regex');
  });
  it('invalid globs are errors pointing at the path entry', () => {
    const d = only(diagnosticsOf(`${HEAD}file_rules:\n  - name: a\n    paths: ["/ok/**", "/bad/[x"]\n    operations: [read]\n    decision: deny\n`), 'invalid-glob');
    assert.deepEqual(d.path, ['file_rules', 0, 'paths', 1]);
  });
  it('undefined variables are errors naming the variable', () => {
    const d = only(diagnosticsOf(`${HEAD}file_rules:\n  - name: a\n    paths: ["\${NOT_SET}/x"]\n    operations: [read]\n    decision: deny\n`), 'undefined-variable');
    assert.match(d.message, /undefined variable \$\{NOT_SET\}/);
    assert.deepEqual(d.path, ['file_rules', 0, 'paths', 0]);
    assert.equal(d.line, 5);
  });
  it('invalid CIDRs, durations, ports and signals are errors', () => {
    only(diagnosticsOf(`${HEAD}network_rules:\n  - {name: a, cidrs: ["10.0.0.0/33"], decision: deny}\n`), 'invalid-cidr');
    only(diagnosticsOf(`${HEAD}network_rules:\n  - {name: a, cidrs: ["nope"], decision: deny}\n`), 'invalid-cidr');
    const dur = only(diagnosticsOf(`${HEAD}network_rules:\n  - {name: a, ports: [443], decision: approve, timeout: 5 minutes}\n`), 'invalid-value');
    assert.match(dur.message, /invalid duration "5 minutes"/);
    only(diagnosticsOf(`${HEAD}network_rules:\n  - {name: a, ports: [70000], decision: deny}\n`), 'invalid-value');
    only(diagnosticsOf(`${HEAD}signal_rules:\n  - {name: a, signals: [SIGNOPE], decision: deny}\n`), 'invalid-value');
  });
  it('version and name are required; a policy must be a mapping', () => {
    assert.match(only(diagnosticsOf('name: t\n'), 'missing-key').message, /'version'/);
    only(diagnosticsOf('- a\n- b\n'), 'wrong-type');
    only(diagnosticsOf('version: 2\nname: t\n'), 'invalid-value');
  });
  it('huge files are refused before parsing', () => {
    const d = only(diagnosticsOf(`${HEAD}description: "${'x'.repeat(5 * 1024 * 1024)}"\n`), 'too-large');
    assert.match(d.message, /larger than/);
  });
  it('alias bombs are refused', () => {
    const bomb = `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`;
    const diags = diagnosticsOf(bomb);
    assert.ok(diags.some((d) => d.severity === 'error'), JSON.stringify(diags));
  });
});

describe('dns_redirects and connect_redirects', () => {
  const compiled = (yaml: string) => compilePolicy(loadPolicyText(`${HEAD}${yaml}`, 'p.yaml'), { vars: {}, env: {} });
  it('valid redirects compile: anchored, case-insensitive, first match wins', () => {
    const { redirects } = compiled(
      'dns_redirects:\n' +
        '  - {name: npm, match: "registry\\\\.npmjs\\\\.org", resolve_to: 10.1.2.3, visibility: audit_only, on_failure: fail_closed}\n' +
        '  - {name: any-internal, match: ".*\\\\.internal", resolve_to: "::ffff:10.9.9.9"}\n' +
        'connect_redirects:\n' +
        '  - {name: api, match: "api\\\\.example\\\\.com:443", redirect_to: "127.0.0.1:8443", tls: {mode: passthrough}, message: via the gateway}\n' +
        '  - {name: v6, match: "\\\\[::1\\\\]:80", redirect_to: "[::1]:8080"}\n',
    );
    assert.deepEqual(redirects.dnsFor('Registry.NPMjs.org.'), { rule: 'npm', address: '10.1.2.3' });
    assert.equal(redirects.dnsFor('registry.npmjs.org.attacker.net'), null);
    assert.equal(redirects.dnsFor('xregistry.npmjs.org'), null);
    assert.deepEqual(redirects.dnsFor('db.internal'), { rule: 'any-internal', address: '10.9.9.9' });
    assert.deepEqual(redirects.connectFor('API.example.com', 443), { rule: 'api', host: '127.0.0.1', port: 8443, message: 'via the gateway' });
    assert.equal(redirects.connectFor('api.example.com', 80), null);
    assert.deepEqual(redirects.connectFor('::1', 80), { rule: 'v6', host: '::1', port: 8080 });
  });
  it('a bad regex, a resolve_to that is no address, a malformed redirect_to are errors at their keys', () => {
    const re = only(diagnosticsOf(`${HEAD}dns_redirects:\n  - {name: a, match: "a(b", resolve_to: 10.0.0.1}\n`), 'invalid-regex');
    assert.deepEqual(re.path, ['dns_redirects', 0, 'match']);
    assert.equal(re.line, 4);
    // Lookaround is not RE2; an unbalanced pattern can't escape the anchoring.
    only(diagnosticsOf(`${HEAD}dns_redirects:\n  - {name: a, match: "(?=x)y", resolve_to: 10.0.0.1}\n`), 'invalid-regex');
    only(diagnosticsOf(`${HEAD}dns_redirects:\n  - {name: a, match: "a)|(b", resolve_to: 10.0.0.1}\n`), 'invalid-regex');
    const to = only(diagnosticsOf(`${HEAD}dns_redirects:\n  - {name: a, match: x, resolve_to: mirror.internal}\n`), 'invalid-value');
    assert.match(to.message, /resolve_to must be an IP address/);
    assert.deepEqual(to.path, ['dns_redirects', 0, 'resolve_to']);
    for (const bad of ['nohost', 'host:0', 'host:70000', '::1:80', '[nope]:80', 'a b:80']) {
      const d = only(diagnosticsOf(`${HEAD}connect_redirects:\n  - {name: a, match: x, redirect_to: "${bad}"}\n`), 'invalid-value');
      assert.deepEqual(d.path, ['connect_redirects', 0, 'redirect_to'], bad);
    }
    assert.match(only(diagnosticsOf(`${HEAD}connect_redirects:\n  - {name: a, match: x}\n`), 'missing-key').message, /redirect_to/);
  });
  it('forms not supported yet are rejected at load, never ignored', () => {
    const cases: [string, (string | number)[]][] = [
      ['connect_redirects:\n  - {name: a, match: x, redirect_to_unix: /run/x.sock}\n', ['connect_redirects', 0, 'redirect_to_unix']],
      ['connect_redirects:\n  - {name: a, match: x, redirect_to: "h:443", tls: {mode: rewrite_sni, sni: h}}\n', ['connect_redirects', 0, 'tls', 'mode']],
      ['connect_redirects:\n  - {name: a, match: x, redirect_to: "h:443", tls: {sni: h}}\n', ['connect_redirects', 0, 'tls', 'sni']],
      ['connect_redirects:\n  - {name: a, match: x, redirect_to: "h:443", visibility: silent}\n', ['connect_redirects', 0, 'visibility']],
      ['dns_redirects:\n  - {name: a, match: x, resolve_to: 10.0.0.1, visibility: warn}\n', ['dns_redirects', 0, 'visibility']],
      ['dns_redirects:\n  - {name: a, match: x, resolve_to: 10.0.0.1, on_failure: fail_open}\n', ['dns_redirects', 0, 'on_failure']],
      ['connect_redirects:\n  - {name: a, match: x, redirect_to: "h:443", on_failure: retry_original}\n', ['connect_redirects', 0, 'on_failure']],
    ];
    for (const [yaml, path] of cases) {
      const diags = diagnosticsOf(`${HEAD}${yaml}`);
      const d = diags.find((x) => x.code === 'unsupported' && x.severity === 'error');
      assert.ok(d, `${yaml}: ${JSON.stringify(diags)}`);
      assert.match(d.message, /not supported yet/);
      assert.deepEqual(d.path, path);
      assert.ok(d.line > 0);
    }
    const unknown = only(diagnosticsOf(`${HEAD}dns_redirects:\n  - {name: a, match: x, resolve_to: 10.0.0.1, visibility: loud}\n`), 'invalid-value');
    assert.match(unknown.message, /not one of: audit_only, silent, warn/);
  });
});
