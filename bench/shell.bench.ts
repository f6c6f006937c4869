// Shell string analysis (the `bash -c` pre-check): median ns per analyzeShell call over
// typical agent command strings, next to the bare tree-sitter parse of the same string
// (the floor this design cannot go under) measured in the same process.
import Parser from 'tree-sitter';
import Bash from 'tree-sitter-bash';
import { analyzeShell } from '../src/shell/analyze.js';
import { measure, type BenchResult } from './measure.js';

export const TYPICAL = [
  'cd /tmp && ls -la | grep foo > out.txt',
  'git status',
  'npm test -- --watch=false 2>&1 | tail -n 50',
  'find . -name "*.ts" -exec grep -l TODO {} +',
  'for f in *.txt; do echo "$f"; done',
  'python3 -c \'import sys; print(sys.version)\'',
  'export PATH="$HOME/.local/bin:$PATH" && pip install -r requirements.txt',
  'sudo -u root env FOO=1 nice -n 5 id',
];
const NESTED = 'bash -c "cd /tmp && ls -la | grep foo > out.txt"';
const HEREDOC = 'cat <<EOF > /tmp/x\nhello $(whoami)\nEOF';

export async function benchShell(): Promise<BenchResult[]> {
  const opts = { batch: 200, samples: 100, warmup: 2000 };
  const parser = new Parser();
  parser.setLanguage(Bash as unknown as Parser.Language);
  const all = (fn: (s: string) => unknown) => (i: number) => fn(TYPICAL[i % TYPICAL.length]!);
  return [
    measure('analyzeShell, typical strings (mix of 8)', all((s) => analyzeShell(s)), opts),
    measure('  baseline: tree-sitter parse only, same strings', all((s) => parser.parse(s, null, { bufferSize: s.length + 1 })), opts),
    measure(`analyzeShell '${TYPICAL[0]}'`, () => analyzeShell(TYPICAL[0]!), opts),
    measure(`analyzeShell '${NESTED}' (two parses)`, () => analyzeShell(NESTED), opts),
    measure('analyzeShell here-document with $(…)', () => analyzeShell(HEREDOC), opts),
  ];
}
