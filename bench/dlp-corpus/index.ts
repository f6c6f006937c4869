// The labelled DLP corpus (test/fixtures/dlp-corpus/): generation, the labels file, reading.
//
//   node dist/bench/dlp-corpus/index.js            regenerate test/fixtures/dlp-corpus/
//   node dist/bench/dlp-corpus/index.js --out DIR  write it elsewhere
//   node dist/bench/dlp-corpus/index.js --stats    counts per type (nothing written)
//
// Every document is built by a template (docs-*.ts) from its own PRNG, seeded with
// CORPUS_SEED and its path, so the output is byte-for-byte reproducible and editing one
// template leaves the other files alone. Labels are produced with the text (gen.ts `Doc`):
// byte offsets, [start, end), of the span a redactor must cover — the password only for
// database_url / basic_auth_url / generic_secret, the whole BEGIN…END block for private_key,
// the PEM (JSON-escaped) for gcp_service_account, the whole token otherwise.
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CODE_DOCS } from './docs-code.js';
import { CONFIG_DOCS } from './docs-config.js';
import { LOG_DOCS } from './docs-logs.js';
import { CHECKSUM_RULE, Rng, SECRET_TYPES, fnv1a, type Doc, type Label, type NegativeLabel, type SecretType } from './gen.js';
import { kit, type Kit } from './kit.js';

export { CHECKSUM_RULE, SECRET_TYPES, checksumValid, ibanMod97, luhnOk, tokenChecksum, PFX, NEGATIVE_KINDS } from './gen.js';
export type { Label, NegativeKind, NegativeLabel, SecretType } from './gen.js';

export const CORPUS_SEED = 20261129;
export const CORPUS_DIR = fileURLToPath(new URL('../../../test/fixtures/dlp-corpus/', import.meta.url));
export const LABELS_FILE = 'labels.json';

export interface DocSpec {
  /** Path under the corpus directory ('/'-separated). */
  path: string;
  /** The kind of document, for the docs and the scorer's report. */
  context: string;
  build: (k: Kit) => Doc;
}

export const DOCS: readonly DocSpec[] = [...CONFIG_DOCS, ...LOG_DOCS, ...CODE_DOCS];

export interface FileLabels {
  path: string;
  context: string;
  bytes: number;
  labels: Label[];
  negatives: NegativeLabel[];
}

export interface LabelsFile {
  format: 1;
  generator: string;
  seed: number;
  offsets: string;
  checksum_rule: string;
  types: readonly SecretType[];
  files: FileLabels[];
}

export interface CorpusFile {
  path: string;
  data: Buffer;
}

export interface Corpus {
  labels: LabelsFile;
  files: CorpusFile[];
}

const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }): boolean => a.start < b.end && b.start < a.end;

/** Builds every document in memory. Throws if a template produced overlapping labels. */
export function generateCorpus(seed = CORPUS_SEED): Corpus {
  const files: CorpusFile[] = [];
  const out: FileLabels[] = [];
  const seen = new Set<string>();
  for (const spec of DOCS) {
    if (seen.has(spec.path)) throw new Error(`duplicate corpus path ${spec.path}`);
    seen.add(spec.path);
    const doc = spec.build(kit(new Rng((seed ^ fnv1a(spec.path)) >>> 0)));
    const data = doc.toBuffer();
    const labels = [...doc.labels].sort((a, b) => a.start - b.start);
    const negatives = [...doc.negatives].sort((a, b) => a.start - b.start);
    for (let i = 1; i < labels.length; i++) if (labels[i]!.start < labels[i - 1]!.end) throw new Error(`${spec.path}: overlapping labels at ${labels[i]!.start}`);
    for (const ng of negatives) for (const l of labels) if (overlaps(ng, l)) throw new Error(`${spec.path}: negative ${ng.kind} overlaps label ${l.type} at ${l.start}`);
    files.push({ path: spec.path, data });
    out.push({ path: spec.path, context: spec.context, bytes: data.length, labels, negatives });
  }
  return {
    files,
    labels: {
      format: 1,
      generator: 'bench/dlp-corpus/index.ts (node dist/bench/dlp-corpus/index.js)',
      seed,
      offsets: 'bytes, [start, end), into the file as stored',
      checksum_rule: CHECKSUM_RULE,
      types: SECRET_TYPES,
      files: out,
    },
  };
}

/** labels.json text: one label per line, so diffs stay readable. */
export function serializeLabels(l: LabelsFile): string {
  const lines: string[] = ['{'];
  const head = { format: l.format, generator: l.generator, seed: l.seed, offsets: l.offsets, checksum_rule: l.checksum_rule };
  for (const [k, v] of Object.entries(head)) lines.push(`  ${JSON.stringify(k)}: ${JSON.stringify(v)},`);
  lines.push(`  "types": ${JSON.stringify(l.types)},`);
  lines.push('  "files": [');
  l.files.forEach((f, fi) => {
    lines.push('    {');
    lines.push(`      "path": ${JSON.stringify(f.path)},`);
    lines.push(`      "context": ${JSON.stringify(f.context)},`);
    lines.push(`      "bytes": ${f.bytes},`);
    const arr = (name: string, xs: readonly object[], last: boolean) => {
      if (xs.length === 0) lines.push(`      ${JSON.stringify(name)}: []${last ? '' : ','}`);
      else {
        lines.push(`      ${JSON.stringify(name)}: [`);
        xs.forEach((x, i) => lines.push(`        ${JSON.stringify(x)}${i === xs.length - 1 ? '' : ','}`));
        lines.push(`      ]${last ? '' : ','}`);
      }
    };
    arr('labels', f.labels, false);
    arr('negatives', f.negatives, true);
    lines.push(`    }${fi === l.files.length - 1 ? '' : ','}`);
  });
  lines.push('  ]', '}', '');
  return lines.join('\n');
}

/** Writes the corpus (documents + labels.json) under `dir`, removing files of an earlier
 *  generation that are no longer part of it (only files listed in its labels.json). */
export function writeCorpus(dir: string, corpus: Corpus = generateCorpus()): void {
  const old = join(dir, LABELS_FILE);
  try {
    const prev = JSON.parse(readFileSync(old, 'utf8')) as LabelsFile;
    const keep = new Set(corpus.files.map((f) => f.path));
    for (const f of prev.files) if (!keep.has(f.path)) rmSync(join(dir, f.path), { force: true });
  } catch {
    // no earlier corpus here
  }
  for (const f of corpus.files) {
    const p = join(dir, f.path);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, f.data);
  }
  writeFileSync(old, serializeLabels(corpus.labels));
}

/** Every regular file under `dir`, as '/'-separated relative paths, sorted. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() || statSync(p).isFile()) out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

/** The committed corpus: labels.json and every document it lists. */
export function readCorpus(dir = CORPUS_DIR): Corpus {
  const labels = JSON.parse(readFileSync(join(dir, LABELS_FILE), 'utf8')) as LabelsFile;
  return { labels, files: labels.files.map((f) => ({ path: f.path, data: readFileSync(join(dir, f.path)) })) };
}

export interface CorpusStats {
  files: number;
  bytes: number;
  labels: number;
  negatives: number;
  perType: Record<string, number>;
  perNegative: Record<string, number>;
  perContext: { path: string; context: string; bytes: number; labels: number; negatives: number }[];
}

export function corpusStats(l: LabelsFile): CorpusStats {
  const perType: Record<string, number> = Object.fromEntries(l.types.map((t) => [t, 0]));
  const perNegative: Record<string, number> = {};
  let bytes = 0;
  let labels = 0;
  let negatives = 0;
  for (const f of l.files) {
    bytes += f.bytes;
    labels += f.labels.length;
    negatives += f.negatives.length;
    for (const x of f.labels) perType[x.type] = (perType[x.type] ?? 0) + 1;
    for (const x of f.negatives) perNegative[x.kind] = (perNegative[x.kind] ?? 0) + 1;
  }
  return {
    files: l.files.length,
    bytes,
    labels,
    negatives,
    perType,
    perNegative,
    perContext: l.files.map((f) => ({ path: f.path, context: f.context, bytes: f.bytes, labels: f.labels.length, negatives: f.negatives.length })),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const corpus = generateCorpus();
  if (args.includes('--stats')) {
    const st = corpusStats(corpus.labels);
    console.log(`${st.files} files, ${st.bytes} bytes, ${st.labels} labels, ${st.negatives} hard negatives`);
    for (const [t, c] of Object.entries(st.perType)) console.log(`  ${t.padEnd(26)} ${c}`);
    console.log('negatives:');
    for (const [t, c] of Object.entries(st.perNegative).sort((a, b) => b[1] - a[1])) console.log(`  ${t.padEnd(26)} ${c}`);
  } else {
    const i = args.indexOf('--out');
    const dir = i >= 0 && args[i + 1] ? args[i + 1]! : CORPUS_DIR;
    writeCorpus(dir, corpus);
    const st = corpusStats(corpus.labels);
    console.log(`wrote ${st.files} files (${st.bytes} bytes, ${st.labels} labels, ${st.negatives} hard negatives) to ${dir}`);
  }
}
