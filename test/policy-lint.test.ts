// Lint finds what agentsh's semantics do to the seed policy, and each trap on its own.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePolicy } from '../src/policy/compile.js';
import { DEFAULT_APPROVALS } from '../src/policy/decision.js';
import { lintPolicy } from '../src/policy/lint.js';
import { loadPolicyFile, loadPolicyText } from '../src/policy/load.js';
import type { Diagnostic } from '../src/util/diagnostics.js';
import { APPROVALS_ON, SEED_POLICY, SEED_VARS } from './helpers.js';

function lintText(yaml: string, vars: Record<string, string> = {}, approvals = APPROVALS_ON): Diagnostic[] {
  const loaded = loadPolicyText(yaml, 'p.yaml');
  return lintPolicy(loaded, compilePolicy(loaded, { vars, env: {} }), { approvals, knownVars: ['PROJECT_ROOT', 'GIT_ROOT', 'HOME', ...Object.keys(vars)] });
}

const seedLoaded = loadPolicyFile(SEED_POLICY);
const seedFindings = lintPolicy(seedLoaded, compilePolicy(seedLoaded, { vars: SEED_VARS, env: {} }), { approvals: DEFAULT_APPROVALS, knownVars: Object.keys(SEED_VARS) });
const about = (rule: string, code: string) => seedFindings.filter((f) => f.code === code && f.message.includes(`'${rule}'`));
const lineOf = (needle: string) => seedLoaded.source.doc.toString().split('\n').findIndex((l) => l.includes(needle)) + 1;

describe('lint on the seed policy', () => {
  it('reports block-git-force-push as shadowed by allow-dev-tools, at its own line', () => {
    const [f] = about('block-git-force-push', 'shadowed-rule');
    assert.ok(f, JSON.stringify(seedFindings.map((x) => x.message), null, 1));
    assert.match(f.message, /'allow-dev-tools' \(allow\)/);
    assert.equal(f.line, lineOf('name: block-git-force-push'));
    assert.equal(f.severity, 'warning');
  });
  it('reports every git and package rule the dev-tools allow shadows', () => {
    for (const r of ['block-git-push-main', 'block-git-reset-hard', 'block-git-clean-force', 'approve-package-install']) assert.equal(about(r, 'shadowed-rule').length, 1, r);
  });
  it('reports the kill duplicate as redundant, not as a behaviour change', () => {
    assert.equal(seedFindings.filter((f) => f.message.includes("'block-bash-builtins'") && f.code === 'shadowed-command').length, 0);
  });
  it("reports the seed's rm regexes: -r misses -fr and -R, and over-matches words", () => {
    const rm = seedFindings.filter((f) => f.path.join('.') === 'command_rules.9.args_patterns.0');
    const codes = rm.map((f) => f.code).sort();
    assert.deepEqual(codes, ['regex-overmatch', 'regex-undermatch', 'regex-undermatch']);
    assert.ok(rm.some((f) => f.message.includes('"-fr"')));
    assert.ok(rm.some((f) => f.message.includes("'-R'")));
  });
  it('reports that --force also matches --force-with-lease and -f matches --follow-tags style words', () => {
    const force = seedFindings.filter((f) => f.path.join('.') === 'command_rules.4.args_patterns.0' && f.code === 'regex-overmatch');
    assert.ok(force.some((f) => f.message.includes('--force-with-lease')), JSON.stringify(force));
  });
  it('reports approve rules with approvals off', () => {
    const approve = seedFindings.filter((f) => f.code === 'approve-without-approver');
    assert.equal(approve.length, 9); // 5 file, 2 network, 2 command approve rules
    assert.match(approve[0]!.message, /denied \("approval unavailable"\); agentsh would silently allow them/);
  });
  it("reports the network catch-all `*` that only matches dot-free names", () => {
    const [f] = seedFindings.filter((x) => x.code === 'glob-trap');
    assert.ok(f);
    assert.deepEqual(f.path, ['network_rules', 15, 'domains', 0]);
    assert.equal(f.line, lineOf('name: default-deny-network') + 3);
  });
  it('reports allow-llm-proxy as redundant after allow-localhost', () => {
    assert.equal(about('allow-llm-proxy', 'redundant-rule').length, 1);
  });
  it('reports .env and SSH approvals taken over by earlier workspace/home allows', () => {
    const env = seedFindings.filter((f) => f.code === 'shadowed-path' && f.message.startsWith("rule 'approve-env-files'"));
    assert.equal(env.length, 1);
    assert.match(env[0]!.message, /under \/home\/daytona\/project\/… by 'allow-workspace-read' \(allow: read, open, stat, list, readlink\)/);
    const ssh = seedFindings.filter((f) => f.code === 'shadowed-path' && f.message.startsWith("rule 'approve-ssh-access'"));
    assert.equal(ssh.length, 1);
    assert.match(ssh[0]!.message, /under \/home\/daytona\/\.ssh\/\*\* by 'allow-daytona-home' \(allow: read, write/);
  });
  it('does not report the final catch-all as pre-empted', () => {
    assert.equal(seedFindings.filter((f) => f.message.startsWith("rule 'default-deny-files'")).length, 0);
  });
  it('has no errors', () => {
    assert.equal(seedFindings.filter((f) => f.severity === 'error').length, 0);
  });
});

describe('lint traps one by one', () => {
  it('unreachable rules after a catch-all', () => {
    const f = lintText(`{version: 1, name: t, command_rules: [{name: all, commands: ["*"], decision: allow}, {name: late, commands: [sudo], decision: deny}]}`);
    assert.deepEqual(f.map((x) => x.code), ['unreachable-rule']);
  });
  it('a rule with args_patterns does not shadow', () => {
    const f = lintText(`{version: 1, name: t, command_rules: [{name: a, commands: [git], args_patterns: ["^status$"], decision: allow}, {name: b, commands: [git], decision: deny}]}`);
    assert.deepEqual(f, []);
  });
  it('context keeps rules apart', () => {
    const f = lintText(`{version: 1, name: t, command_rules: [{name: a, commands: [curl], context: [direct], decision: allow}, {name: b, commands: [curl], context: [nested], decision: deny}]}`);
    assert.deepEqual(f, []);
  });
  it('partial shadowing names the command', () => {
    const f = lintText(`{version: 1, name: t, command_rules: [{name: a, commands: [git], decision: allow}, {name: b, commands: [git, svn], decision: deny}]}`);
    assert.deepEqual(f.map((x) => x.code), ['shadowed-command']);
    assert.match(f[0]!.message, /never applies to 'git'/);
  });
  it('file rules shadowed by an earlier prefix rule', () => {
    const f = lintText(`{version: 1, name: t, file_rules: [{name: a, paths: ["/data/**"], operations: ["*"], decision: allow}, {name: b, paths: ["/data/secret/**"], operations: [read], decision: deny}]}`);
    assert.deepEqual(f.map((x) => x.code), ['shadowed-rule']);
  });
  it('undefined and unexpanded variables', () => {
    const f = lintText(`{version: 1, name: t, file_rules: [{name: a, paths: ["\${WORK:-/w}/**", "\${HOME}/x"], operations: [read], decision: allow}], command_rules: [{name: c, commands: ["\${HOME}/bin/x"], decision: allow}]}`, { HOME: '/h' });
    assert.deepEqual(f.map((x) => x.code), ['variable-not-expanded']);
  });
  it('unknown message template fields', () => {
    const f = lintText(`{version: 1, name: t, command_rules: [{name: a, commands: [x], decision: deny, message: "no {{.Cmd}}"}]}`);
    assert.deepEqual(f.map((x) => x.code), ['unknown-template']);
  });
  it('decisions without effect in a category, duplicate names', () => {
    const f = lintText(`{version: 1, name: t, command_rules: [{name: a, commands: [x], decision: soft_delete}, {name: a, commands: [y], decision: deny}]}`);
    assert.deepEqual(f.map((x) => x.code).sort(), ['duplicate-name', 'meaningless-decision']);
  });
});
