// `dlp redact` and `dlp scan`: the DLP engine over stdin, with a config's detectors (its
// custom_patterns, patterns toggles, allowlist and disabled_detectors). Streamed: memory
// stays bounded whatever the input size, and output is byte-exact outside redactions.
import type { Command } from 'commander';
import { findConfigFile, loadConfigFile, loadConfigText, type ResolvedConfig } from '../config/load.js';
import { DlpConfigError, StreamRedactor, fromConfig, type Finding, type Redactor } from '../dlp/index.js';
import { LoadError } from '../util/diagnostics.js';
import { CliError, EXIT, printDiagnostics } from './output.js';

type Act = (body: () => Promise<number> | number) => () => Promise<void>;

/**
 * The redactor for --config (or the config agentsh's discovery finds; none: the defaults,
 * every built-in on). The verbs always apply the detectors: `dlp.mode` (redact, block,
 * audit, even disabled) says what the server and the LLM proxy do with findings, and these
 * verbs exist to see exactly what the detectors find.
 */
function redactorFor(configPath: string | undefined): Redactor {
  let config: ResolvedConfig;
  try {
    const file = configPath ?? findConfigFile();
    config = file ? loadConfigFile(file).config : loadConfigText('{}', '<defaults>').config;
  } catch (err) {
    if (err instanceof LoadError) {
      printDiagnostics(err.diagnostics);
      throw new CliError('the config has errors', EXIT.usage);
    }
    throw err;
  }
  try {
    return fromConfig({ ...config.dlp, mode: 'redact' })!;
  } catch (err) {
    if (err instanceof DlpConfigError) throw new CliError(err.message, EXIT.usage);
    throw err;
  }
}

/** Writes `buf` to stdout, waiting when the pipe is full. */
function write(buf: Buffer): Promise<void> | void {
  if (buf.length === 0) return;
  if (process.stdout.write(buf)) return;
  return new Promise((res) => process.stdout.once('drain', () => res()));
}

async function eachChunk(fn: (chunk: Buffer) => Promise<void> | void): Promise<void> {
  for await (const chunk of process.stdin) await fn(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
}

export function registerDlpCommands(program: Command, act: Act): void {
  const dlp = program.command('dlp').description('Data loss prevention: redact or scan text with the configured detectors');

  dlp
    .command('redact')
    .description('Copy stdin to stdout with every secret replaced by [REDACTED:LABEL]')
    .option('-c, --config <file>', 'config file (default: the one agentsh would find, else every built-in detector)')
    .addHelpText(
      'after',
      `
Every byte that is not part of a finding is copied unchanged (lines without a secret, binary,
invalid UTF-8). Streams: output follows input as soon as no secret can be in progress.
dlp.mode does not apply here (the detectors always redact). Exit status: 0, or 2 for a bad
config.`,
    )
    .action((o: { config?: string }) =>
      act(async () => {
        const s = new StreamRedactor(redactorFor(o.config));
        await eachChunk((c) => write(s.push(c)));
        await write(s.end());
        return EXIT.ok;
      })(),
    );

  dlp
    .command('scan')
    .description('Print what the detectors find in stdin: type and byte offsets')
    .option('--json', 'print a JSON array of {type, display, start, end}')
    .option('-c, --config <file>', 'config file (default: the one agentsh would find, else every built-in detector)')
    .addHelpText(
      'after',
      `
Output: one line per finding, TYPE<TAB>START<TAB>END, where TYPE is the detector name
(aws_access_key_id, generic_secret, a custom pattern's name …) and START/END are byte offsets
into stdin (END exclusive) of the span a redaction would replace. Overlapping findings are
merged into one, as redaction does. With --json: [{"type", "display", "start", "end"}].
Exit status: 0 nothing found, 1 something found, 2 bad config.`,
    )
    .action((o: { json?: boolean; config?: string }) =>
      act(async () => {
        const found: Finding[] = [];
        // audit mode: nothing is rewritten, findings are reported as they are decided
        const s = new StreamRedactor(redactorFor(o.config).withMode('audit'), { onFinding: (f) => found.push(f) });
        await eachChunk((c) => void s.push(c));
        s.end();
        if (o.json) {
          await write(Buffer.from(`${JSON.stringify(found.map((f) => ({ type: f.name, display: f.display, start: f.start, end: f.end })), null, 2)}\n`));
        } else {
          await write(Buffer.from(found.map((f) => `${f.name}\t${f.start}\t${f.end}\n`).join('')));
        }
        return found.length ? EXIT.failed : EXIT.ok;
      })(),
    );
}
