// Diagnostics carry file:line:column so every problem in a config or policy points at its
// source. A LoadError is the one way loaders fail: the CLI prints its diagnostics and exits
// non-zero without a stack trace.

export type Severity = 'error' | 'warning' | 'info';

export interface Diagnostic {
  severity: Severity;
  code: string;
  message: string;
  file: string;
  line: number; // 1-based; 0 when unknown
  column: number; // 1-based; 0 when unknown
  path: (string | number)[]; // location inside the document, e.g. ['file_rules', 3, 'decision']
}

export class LoadError extends Error {
  constructor(readonly diagnostics: Diagnostic[]) {
    super(diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic).join('\n') || 'load failed');
    this.name = 'LoadError';
  }
}

export function formatPath(path: (string | number)[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg;
  return out;
}

export function formatDiagnostic(d: Diagnostic): string {
  const loc = d.line > 0 ? `${d.file}:${d.line}:${d.column}` : d.file;
  const where = d.path.length ? ` (${formatPath(d.path)})` : '';
  return `${loc}: ${d.severity}: ${d.message}${where} [${d.code}]`;
}

export function hasErrors(diags: Diagnostic[]): boolean {
  return diags.some((d) => d.severity === 'error');
}
