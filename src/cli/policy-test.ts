// `policy test FILE CASES.yaml`: a table of expected decisions, so users can unit-test their
// policies in CI. Cases are validated like policies (file:line on every mistake).
import { Type as T, type Static } from '@sinclair/typebox';
import { LoadError } from '../util/diagnostics.js';
import { validateAgainst } from '../util/validate.js';
import { YamlSource } from '../util/yaml-source.js';
import { DECISIONS } from '../policy/schema.js';
import { StringEnum, strictObject } from '../util/schema.js';
import type { PolicyEngine } from '../policy/engine.js';
import { parsePort, runQuery, type Query } from './explain.js';

const Expect = T.Union([StringEnum(DECISIONS), strictObject({ decision: StringEnum(DECISIONS), rule: T.Optional(T.String()) })]);

const Case = strictObject(
  {
    name: T.Optional(T.String()),
    command: T.Optional(T.Array(T.String(), { minItems: 1 })),
    shell: T.Optional(T.String()),
    file: T.Optional(strictObject({ op: T.String(), path: T.String() })),
    net: T.Optional(strictObject({ host: T.String(), port: T.Integer(), ip: T.Optional(T.String()) })),
    env: T.Optional(T.String()),
    depth: T.Optional(T.Integer({ minimum: 0 })),
    expect: Expect,
  },
);

export const CasesSchema = strictObject({
  vars: T.Optional(T.Record(T.String(), T.String())),
  cases: T.Array(Case),
});

export type CasesDoc = Static<typeof CasesSchema>;
type CaseDoc = Static<typeof Case>;

export function loadCases(file: string): { doc: CasesDoc; source: YamlSource } {
  const source = YamlSource.readFile(file);
  const diags = validateAgainst(CasesSchema, source, { strict: true });
  const doc = source.data as CasesDoc;
  (Array.isArray(doc?.cases) ? doc.cases : []).forEach((c, i) => {
    const kinds = ['command', 'shell', 'file', 'net', 'env'].filter((k) => (c as Record<string, unknown>)[k] !== undefined);
    if (kinds.length !== 1) diags.push(source.diag('error', 'invalid-case', `a case needs exactly one of command, shell, file, net, env (has ${kinds.join(', ') || 'none'})`, ['cases', i]));
  });
  if (diags.some((d) => d.severity === 'error')) throw new LoadError(diags);
  return { doc, source };
}

function toQuery(c: CaseDoc): Query {
  const depth = c.depth ?? 0;
  if (c.command) return { kind: 'command', argv: c.command, depth };
  if (c.shell !== undefined) return { kind: 'shell', script: c.shell, depth };
  if (c.file) return { kind: 'file', op: c.file.op, path: c.file.path };
  if (c.net) return { kind: 'net', host: c.net.host, port: parsePort(String(c.net.port)), ...(c.net.ip ? { ip: c.net.ip } : {}) };
  return { kind: 'env', name: c.env! };
}

export interface CaseResult {
  name: string;
  location: string;
  ok: boolean;
  expected: string;
  actual: string;
}

export function runCases(engine: PolicyEngine, cases: CasesDoc, source: YamlSource): CaseResult[] {
  return cases.cases.map((c, i) => {
    const d = runQuery(engine, toQuery(c));
    const want = typeof c.expect === 'string' ? { decision: c.expect } : c.expect;
    const ok = d.decision === want.decision && (want.rule === undefined || want.rule === d.rule);
    const pos = source.position(['cases', i]);
    const name = c.name ?? JSON.stringify(c.command ?? c.shell ?? c.file ?? c.net ?? c.env);
    return { name, location: `${source.file}:${pos.line}`, ok, expected: want.rule ? `${want.decision} (rule=${want.rule})` : want.decision, actual: `${d.decision} (rule=${d.rule})` };
  });
}
