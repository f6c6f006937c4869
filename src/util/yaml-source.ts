// YAML documents that remember where each value came from, so validation errors, lint
// findings and `policy explain` can name file:line:column.
import { readFileSync, statSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { LoadError, type Diagnostic, type Severity } from './diagnostics.js';

// Policies and configs are hand-written files of a few KiB; anything this large is a
// mistake or an attack on the loader, and is refused before parsing.
export const MAX_SOURCE_BYTES = 4 * 1024 * 1024;

export type SourcePath = (string | number)[];

export class YamlSource {
  private constructor(
    readonly file: string,
    readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
    readonly data: unknown,
  ) {}

  static parse(text: string, file: string): YamlSource {
    if (Buffer.byteLength(text) > MAX_SOURCE_BYTES) {
      throw new LoadError([fileDiag(file, 'too-large', `file is larger than ${MAX_SOURCE_BYTES} bytes`)]);
    }
    const lines = new LineCounter();
    // uniqueKeys: a duplicated key silently overriding the first is exactly the kind of
    // trap a security policy must not have.
    const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
    const diags: Diagnostic[] = [];
    for (const e of doc.errors) {
      const pos = lines.linePos(e.pos[0]);
      diags.push({ severity: 'error', code: 'yaml-syntax', message: firstLine(e.message), file, line: pos.line, column: pos.col, path: [] });
    }
    if (diags.length) throw new LoadError(diags);
    let data: unknown;
    try {
      data = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      throw new LoadError([fileDiag(file, 'yaml-syntax', (err as Error).message)]);
    }
    return new YamlSource(file, doc, lines, data ?? {});
  }

  static readFile(file: string): YamlSource {
    return YamlSource.parse(readSourceText(file), file);
  }

  /** Position of the value at `path`, or of its key when `key` is true (for unknown keys). */
  position(path: SourcePath, key = false): { line: number; column: number } {
    let node: unknown = this.doc.contents;
    let best: { line: number; column: number } = { line: 1, column: 1 };
    const at = (n: unknown) => {
      const range = (n as Node | null)?.range;
      if (range) {
        const p = this.lines.linePos(range[0]);
        best = { line: p.line, column: p.col };
      }
    };
    at(node);
    for (let i = 0; i < path.length; i++) {
      const seg = path[i];
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        if (key && i === path.length - 1) {
          at(pair.key);
          break;
        }
        at(pair.key);
        node = pair.value;
        at(node);
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
        at(node);
      } else break;
    }
    return best;
  }

  diag(severity: Severity, code: string, message: string, path: SourcePath, key = false): Diagnostic {
    const pos = this.position(path, key);
    return { severity, code, message, file: this.file, line: pos.line, column: pos.column, path };
  }
}

/** Reads a config or policy file, refusing what is not a regular file or is too large. */
export function readSourceText(file: string): string {
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new LoadError([fileDiag(file, 'not-a-file', 'not a regular file')]);
    if (st.size > MAX_SOURCE_BYTES) throw new LoadError([fileDiag(file, 'too-large', `file is ${st.size} bytes, more than the ${MAX_SOURCE_BYTES} allowed`)]);
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof LoadError) throw err;
    throw new LoadError([fileDiag(file, 'unreadable', (err as NodeJS.ErrnoException).message)]);
  }
}

function fileDiag(file: string, code: string, message: string): Diagnostic {
  return { severity: 'error', code, message, file, line: 0, column: 0, path: [] };
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}
