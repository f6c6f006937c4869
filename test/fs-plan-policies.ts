// Policies the fs-plan tests share (not a test file itself).
import { readFileSync } from 'node:fs';
import { parseDocument, type YAMLSeq } from 'yaml';
import { SEED_POLICY } from './helpers.js';

const CREDENTIAL_RULES = /^approve-(ssh-access|aws-credentials|cloud-credentials|env-files|git-credentials)$/;

// The seed policy with its credential rules (`${HOME}/.ssh/**`, `**/.env`, `**/.netrc` …) moved to
// the top of file_rules, nothing else changed: the order docs/peers.md recommends, which made the
// Landlock plan one grant per file (E2BIG) before globs matching at any depth were compiled
// against the existing tree.
export function seedCredentialsFirst(): string {
  const doc = parseDocument(readFileSync(SEED_POLICY, 'utf8'));
  const rules = doc.get('file_rules') as YAMLSeq;
  const isCred = (n: unknown) => CREDENTIAL_RULES.test(String((n as { get(k: string): unknown }).get('name')));
  rules.items = [...rules.items.filter(isCred), ...rules.items.filter((n) => !isCred(n))];
  return doc.toString();
}
