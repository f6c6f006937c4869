// YAML documents that remember where each value came from, so validation errors, lint
// findings and `policy explain` can name file:line:column.
import { readFileSync, statSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node, type Pair, type YAMLMap } from 'yaml';
import { LoadError, type Diagnostic, type Severity } from './diagnostics.js';

// Policies and configs are hand-written files of a few KiB; anything this large is a
// mistake or an attack on the loader, and is refused before parsing. The bound is also the
// loader's worst-case time: the YAML parser takes ~3 s per MiB of dense sequence items
// (`[1,1,1,…]`) on a 2-core machine, so 4 MiB took ~13 s.
export const MAX_SOURCE_BYTES = 1024 * 1024;
/** Syntax errors reported one by one; the rest are counted in one more diagnostic (a file of
 *  garbage can hold hundreds of thousands, and their text would be megabytes). */
export const MAX_SYNTAX_DIAGNOSTICS = 20;

export type SourcePath = (string | number)[];

export class YamlSource {
  /** Per mapping, its pairs by key (the first of each key): position() is called once per
   *  diagnostic, and a linear search per call made 20,000 unknown keys take 11 s. */
  private readonly keyIndex = new WeakMap<YAMLMap, Map<string, Pair>>();

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
    // Duplicate keys are errors: a duplicated key silently overriding the first is exactly
    // the kind of trap a security policy must not have. Checked below rather than with the
    // parser's uniqueKeys, which compares each key with all the keys before it (quadratic:
    // 20,000 keys took 2.4 s, a 1 MB mapping minutes).
    const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false, strict: true });
    const errors = [...doc.errors.map((e) => ({ at: e.pos[0], message: firstLine(e.message) })), ...duplicateKeys(doc)].sort((a, b) => a.at - b.at);
    const diags: Diagnostic[] = [];
    for (const e of errors.slice(0, MAX_SYNTAX_DIAGNOSTICS + 1)) {
      const pos = lines.linePos(e.at);
      const more = errors.length - MAX_SYNTAX_DIAGNOSTICS;
      const message = diags.length < MAX_SYNTAX_DIAGNOSTICS ? e.message : `${more} more YAML syntax error${more > 1 ? 's' : ''} from here on (not shown)`;
      diags.push({ severity: 'error', code: 'yaml-syntax', message, file, line: pos.line, column: pos.col, path: [] });
    }
    if (diags.length) throw new LoadError(diags);
    let data: unknown;
    try {
      data = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // Too many aliases (a "billion laughs" bomb) or a YAML 1.1 merge of something that is
      // not a mapping: point at the first alias or merge key, else at the document.
      const message = (err as Error).message;
      const merge = /merge/i.test(message);
      let at = lines.linePos(doc.contents?.range?.[0] ?? 0);
      try {
        visit(doc, {
          Alias(_, node) {
            if (merge || !node.range) return undefined;
            at = lines.linePos(node.range[0]);
            return visit.BREAK;
          },
          Pair(_, pair) {
            // a merge key's value is '<<', or Symbol(<<) in YAML 1.1 documents
            const k = isScalar(pair.key) ? pair.key.value : undefined;
            const isMerge = k === '<<' || (typeof k === 'symbol' && k.description === '<<');
            if (!merge || !isMerge || !pair.key || !(pair.key as Node).range) return undefined;
            at = lines.linePos((pair.key as Node).range![0]);
            return visit.BREAK;
          },
        });
      } catch {
        /* the document's position then */
      }
      throw new LoadError([{ ...fileDiag(file, 'yaml-syntax', message), line: at.line, column: at.col }]);
    }
    const src = new YamlSource(file, doc, lines, data ?? {});
    // YAML tags such as !!omap, !!set, !!binary or !!timestamp make Maps, Sets, byte arrays
    // and Dates, which the schemas would take for empty mappings (their content silently
    // ignored) or reject with a confusing message: refuse them where they are.
    const odd = nonPlainValue(src.data, []);
    if (odd) throw new LoadError([src.diag('error', 'yaml-syntax', `${odd.what} (from a YAML tag) is not supported: use plain mappings, lists and scalars`, odd.path)]);
    return src;
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
        const pair = this.pairsOf(node).get(String(seg));
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

  private pairsOf(map: YAMLMap): Map<string, Pair> {
    let index = this.keyIndex.get(map);
    if (!index) {
      index = new Map();
      for (const p of map.items) {
        if (!isPair(p) || !isScalar(p.key)) continue;
        const k = String(p.key.value);
        if (!index.has(k)) index.set(k, p);
      }
      this.keyIndex.set(map, index);
    }
    return index;
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

/** Keys repeated in a mapping (scalar keys compared by value, as the parser's uniqueKeys
 *  does), in one pass with a set per mapping. */
function duplicateKeys(doc: Document.Parsed): { at: number; message: string }[] {
  const found: { at: number; message: string }[] = [];
  try {
    visit(doc, {
      Map(_, map) {
        const seen = new Set<unknown>();
        for (const pair of map.items) {
          const k = pair.key;
          if (!isScalar(k)) continue;
          if (seen.has(k.value)) found.push({ at: k.range?.[0] ?? 0, message: 'Map keys must be unique' });
          else seen.add(k.value);
        }
      },
    });
  } catch (err) {
    // nesting too deep for the visitor's recursion
    found.push({ at: 0, message: `cannot check the document for duplicate keys: ${(err as Error).message}` });
  }
  return found;
}

function nonPlainValue(v: unknown, path: SourcePath): { what: string; path: SourcePath } | null {
  if (v === null || typeof v !== 'object') return null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const found = nonPlainValue(v[i], [...path, i]);
      if (found) return found;
    }
    return null;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return { what: `a ${(v as object).constructor?.name ?? 'non-plain'} value`, path };
  for (const [k, x] of Object.entries(v)) {
    const found = nonPlainValue(x, [...path, k]);
    if (found) return found;
  }
  return null;
}

function fileDiag(file: string, code: string, message: string): Diagnostic {
  return { severity: 'error', code, message, file, line: 0, column: 0, path: [] };
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}
