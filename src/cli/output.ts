// How the CLI reports: diagnostics as file:line:col lines on stderr, and exit codes that
// scripts can rely on. Loader failures never print a stack trace.
import { formatDiagnostic, LoadError, type Diagnostic } from '../util/diagnostics.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, internal: 3 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.usage,
  ) {
    super(message);
  }
}

export function printDiagnostics(diags: Diagnostic[], stream: NodeJS.WritableStream = process.stderr): void {
  for (const d of diags) stream.write(`${formatDiagnostic(d)}\n`);
}

/** Runs a command body, turning known failures into messages and exit codes. */
export async function runReporting(body: () => Promise<number> | number): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof LoadError) {
      printDiagnostics(err.diagnostics);
      return EXIT.failed;
    }
    if (err instanceof CliError) {
      process.stderr.write(`agentsh: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`agentsh: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT.internal;
  }
}

export function writeJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
