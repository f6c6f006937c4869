// Scores the DLP detectors against the labelled corpus (test/fixtures/dlp-corpus/).
//
//   node dist/bench/dlp-score.js                 report: per-type table, every FN/FP, throughput
//   node dist/bench/dlp-score.js --json          the same as JSON
//   node dist/bench/dlp-score.js --no-list       tables only
//   node dist/bench/dlp-score.js --runs 15       throughput passes (median; default 9)
//   node dist/bench/dlp-score.js --write-docs    also rewrite the results section of docs/dlp.md
//   node dist/bench/dlp-score.js --corpus DIR    another corpus directory
//
// What runs: `fromConfig({ mode: 'redact', patterns: all toggles on })` — every built-in
// detector, no custom pattern — over each file as a Buffer (`redactBuffer`, byte offsets).
//
// Matching (docs/dlp.md, "Scoring"):
//  - A label is found (TP) when some finding overlaps its span; a label nothing overlaps is
//    a false negative. A finding that overlaps no label is a false positive.
//  - strict: the finding must also be of the label's type (or one of its `also` types). A
//    finding of another type on a secret counts twice: FN for the label's type, FP for the
//    finding's type. any-type: overlap alone decides (what matters for redaction).
//  - Overlap, not equality: a redaction wider than the label (the whole URL for a
//    database_url password) is a TP; a redaction that covers only part of a secret is a TP
//    too, but the uncovered bytes are reported as "partially redacted" (leaked bytes).
//  - One finding covering two labels finds both; two findings on one label count once.
//  - Precision, recall and F1 per type; overall micro (summed counts) and macro (mean over
//    the corpus types) figures.
import { writeFileSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as dlp from '../src/dlp/index.js';
import type { Redactor } from '../src/dlp/index.js';
import { CORPUS_DIR, SECRET_TYPES, corpusStats, readCorpus, type Corpus, type Label, type LabelsFile, type NegativeLabel, type SecretType } from './dlp-corpus/index.js';

const DOCS_FILE = fileURLToPath(new URL('../../docs/dlp.md', import.meta.url));
export const DOCS_BEGIN = '<!-- dlp-score:begin (rewritten by `node dist/bench/dlp-score.js --write-docs`) -->';
export const DOCS_END = '<!-- dlp-score:end -->';
export const STATS_BEGIN = '<!-- dlp-corpus-stats:begin (rewritten by `node dist/bench/dlp-score.js --write-docs`) -->';
export const STATS_END = '<!-- dlp-corpus-stats:end -->';

/** Detector names of the first cut (before the detector rewrite) and the corpus types they
 *  stand for. A name not listed here is taken as a corpus type as it is. */
export const LEGACY_NAMES: Readonly<Record<string, readonly SecretType[]>> = {
  aws_access_key: ['aws_access_key_id'],
  aws_secret_key: ['aws_secret_access_key'],
  github_token: ['github_pat_classic', 'github_pat_fine_grained', 'github_oauth', 'github_app_token', 'github_refresh_token'],
  slack_token: ['slack_bot_token', 'slack_user_token', 'slack_app_token'],
  anthropic_key: ['anthropic_api_key'],
  openai_key: ['openai_api_key'],
  ssn: ['us_ssn'],
};

const TYPE_SET = new Set<string>(SECRET_TYPES);
const accepts = (name: string): readonly string[] => LEGACY_NAMES[name] ?? [name];
/** The table row a false positive of detector `name` is counted in. */
const fpRow = (name: string): string => (TYPE_SET.has(name) ? name : LEGACY_NAMES[name]?.length === 1 ? LEGACY_NAMES[name]![0]! : name);

export interface ScoreFinding {
  name: string;
  start: number;
  end: number;
}

/** Findings (byte offsets) for one corpus file. */
export type Scanner = (data: Buffer, path: string) => readonly ScoreFinding[];

/** The project's DLP with every built-in detector on and no custom pattern. */
export function allBuiltinsRedactor(): Redactor {
  const groups = (dlp as Record<string, unknown>)['BUILTIN_GROUPS'];
  const patterns = Array.isArray(groups) ? Object.fromEntries((groups as string[]).map((g) => [g, true])) : undefined;
  const red = dlp.fromConfig({ mode: 'redact', ...(patterns ? { patterns } : {}), custom_patterns: [] });
  if (!red) throw new Error('fromConfig returned null for mode redact');
  return red;
}

export const redactorScanner = (red: Redactor): Scanner => (data) => red.redactBuffer(data).findings;

export interface Counts {
  tp: number;
  fp: number;
  fn: number;
  precision: number | null;
  recall: number | null;
  f1: number;
}

export interface TypeRow extends Counts {
  type: string;
  labels: number;
  /** false when the row is a detector name that is not a corpus type (only FPs). */
  corpusType: boolean;
}

export interface ModeScore {
  rows: TypeRow[];
  micro: Counts;
  macro: { precision: number; recall: number; f1: number };
}

export interface Miss {
  file: string;
  start: number;
  end: number;
  /** FN: the label's type; FP: the finding's detector name. */
  type: string;
  /** FN: names of findings that overlap with another type; FP: the label types it overlaps. */
  overlapping?: string[];
  /** FP: the hard-negative kind it hits, if recorded. */
  negative?: string;
  snippet: string;
}

export interface PartialHit {
  file: string;
  start: number;
  end: number;
  type: string;
  leakedBytes: number;
  snippet: string;
}

export interface Throughput {
  runs: number;
  bytes: number;
  medianMs: number;
  mbps: number;
  timesMs: number[];
  /** The files that take longest (median per file over the passes), for detector authors. */
  slowest: { file: string; bytes: number; medianMs: number; mbps: number }[];
}

export interface CorpusScore {
  date: string;
  corpus: { files: number; bytes: number; labels: number; negatives: number };
  detectors: string[];
  strict: ModeScore;
  anyType: ModeScore;
  falseNegatives: Miss[];
  falsePositives: Miss[];
  partial: PartialHit[];
  leakedBytes: number;
  throughput?: Throughput;
}

export interface ScoreOptions {
  corpus?: Corpus;
  /** Default: the project's DLP with every built-in on. */
  redactor?: Redactor;
  /** Replaces the redactor (tests of the scorer itself); no throughput then. */
  scanner?: Scanner;
  /** Throughput passes over the whole corpus (0: skip). Default 9. */
  runs?: number;
}

const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }): boolean => a.start < b.end && b.start < a.end;

function counts(tp: number, fp: number, fn: number): Counts {
  const precision = tp + fp ? tp / (tp + fp) : null;
  const recall = tp + fn ? tp / (tp + fn) : null;
  const p = precision ?? 0;
  const r = recall ?? 0;
  return { tp, fp, fn, precision, recall, f1: p + r ? (2 * p * r) / (p + r) : 0 };
}

// --------------------------------------------------------------------------- snippets

const CONTEXT = 36;

function visible(s: string): string {
  return s.replace(/\r/g, '␍').replace(/\n/g, '⏎').replace(/\t/g, '⇥').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '·');
}

/** Context around [start, end) with every label span masked as ‹type:NB› and the focus
 *  (a finding that is not on a label) shown between ⟦ ⟧. */
function snippet(data: Buffer, start: number, end: number, labels: readonly Label[], focus: 'label' | 'finding'): string {
  const lo = Math.max(0, start - CONTEXT);
  const hi = Math.min(data.length, end + CONTEXT);
  const masks = labels.filter((l) => l.start < hi && l.end > lo);
  let out = '';
  let pos = lo;
  const text = (a: number, b: number) => visible(data.toString('utf8', a, b));
  const emit = (a: number, b: number) => {
    if (b <= a) return;
    if (focus === 'finding' && a < end && b > start) {
      const s0 = Math.max(a, start);
      const e0 = Math.min(b, end);
      out += text(a, s0);
      const inner = text(s0, e0);
      out += `⟦${inner.length > 80 ? inner.slice(0, 38) + '…' + inner.slice(-38) : inner}⟧`;
      out += text(e0, b);
    } else out += text(a, b);
  };
  for (const m of masks) {
    const ms = Math.max(m.start, lo);
    if (ms > pos) emit(pos, ms);
    out += `‹${m.type}:${m.end - m.start}B›`;
    pos = Math.min(m.end, hi);
  }
  emit(pos, hi);
  return (lo > 0 ? '…' : '') + out + (hi < data.length ? '…' : '');
}

// --------------------------------------------------------------------------- scoring

export function scoreCorpus(opts: ScoreOptions = {}): CorpusScore {
  const corpus = opts.corpus ?? readCorpus(CORPUS_DIR);
  const red = opts.scanner ? undefined : (opts.redactor ?? allBuiltinsRedactor());
  const scan = opts.scanner ?? redactorScanner(red!);
  const types = corpus.labels.types as readonly string[];

  const strictTp = new Map<string, number>();
  const strictFn = new Map<string, number>();
  const strictFp = new Map<string, number>();
  const anyTp = new Map<string, number>();
  const anyFn = new Map<string, number>();
  const anyFp = new Map<string, number>();
  const labelCount = new Map<string, number>();
  const inc = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

  const falseNegatives: Miss[] = [];
  const falsePositives: Miss[] = [];
  const partial: PartialHit[] = [];
  let leakedBytes = 0;
  let bytes = 0;
  let nLabels = 0;
  let nNeg = 0;

  corpus.files.forEach((file, fi) => {
    const meta = corpus.labels.files[fi]!;
    if (meta.path !== file.path) throw new Error(`corpus order mismatch at ${file.path}`);
    const labels: readonly Label[] = meta.labels;
    const negatives: readonly NegativeLabel[] = meta.negatives;
    bytes += file.data.length;
    nLabels += labels.length;
    nNeg += negatives.length;
    const findings = [...scan(file.data, file.path)].sort((a, b) => a.start - b.start);

    for (const l of labels) {
      inc(labelCount, l.type);
      const ok = new Set<string>([l.type, ...(l.also ?? [])]);
      const over = findings.filter((f) => overlaps(f, l));
      const strict = over.some((f) => accepts(f.name).some((t) => ok.has(t)));
      inc(strict ? strictTp : strictFn, l.type);
      inc(over.length ? anyTp : anyFn, l.type);
      if (!strict) {
        const miss: Miss = { file: file.path, start: l.start, end: l.end, type: l.type, snippet: snippet(file.data, l.start, l.end, labels, 'label') };
        if (over.length) miss.overlapping = [...new Set(over.map((f) => f.name))];
        falseNegatives.push(miss);
      }
      if (over.length) {
        // bytes of the secret no finding covers
        let covered = 0;
        let cur = l.start;
        for (const f of over) {
          const s = Math.max(f.start, cur);
          const e = Math.min(f.end, l.end);
          if (e > s) {
            covered += e - s;
            cur = e;
          }
        }
        const leaked = l.end - l.start - covered;
        if (leaked > 0) {
          leakedBytes += leaked;
          partial.push({ file: file.path, start: l.start, end: l.end, type: l.type, leakedBytes: leaked, snippet: snippet(file.data, l.start, l.end, labels, 'label') });
        }
      }
    }
    for (const f of findings) {
      const over = labels.filter((l) => overlaps(f, l));
      const strictOk = over.some((l) => accepts(f.name).some((t) => t === l.type || (l.also ?? []).includes(t as SecretType)));
      if (!over.length) inc(anyFp, fpRow(f.name));
      if (!strictOk) {
        inc(strictFp, fpRow(f.name));
        const miss: Miss = { file: file.path, start: f.start, end: f.end, type: f.name, snippet: snippet(file.data, f.start, f.end, labels, 'finding') };
        if (over.length) miss.overlapping = over.map((l) => l.type);
        const neg = negatives.find((ng) => overlaps(ng, f));
        if (neg) miss.negative = neg.kind;
        falsePositives.push(miss);
      }
    }
  });

  const mode = (tpM: Map<string, number>, fpM: Map<string, number>, fnM: Map<string, number>): ModeScore => {
    const rows: TypeRow[] = types.map((t) => ({ type: t, labels: labelCount.get(t) ?? 0, corpusType: true, ...counts(tpM.get(t) ?? 0, fpM.get(t) ?? 0, fnM.get(t) ?? 0) }));
    for (const [name, fp] of fpM) if (!TYPE_SET.has(name)) rows.push({ type: name, labels: 0, corpusType: false, ...counts(0, fp, 0) });
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (const r of rows) (tp += r.tp), (fp += r.fp), (fn += r.fn);
    const typed = rows.filter((r) => r.corpusType && r.labels > 0);
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
    return {
      rows,
      micro: counts(tp, fp, fn),
      macro: { precision: mean(typed.map((r) => r.precision ?? 0)), recall: mean(typed.map((r) => r.recall ?? 0)), f1: mean(typed.map((r) => r.f1)) },
    };
  };

  const score: CorpusScore = {
    date: new Date().toISOString().slice(0, 10),
    corpus: { files: corpus.files.length, bytes, labels: nLabels, negatives: nNeg },
    detectors: red ? red.detectors.map((d) => d.name) : ['(custom scanner)'],
    strict: mode(strictTp, strictFp, strictFn),
    anyType: mode(anyTp, anyFp, anyFn),
    falseNegatives,
    falsePositives,
    partial,
    leakedBytes,
  };

  const runs = opts.runs ?? 9;
  if (red && runs > 0) score.throughput = measureThroughput(red, corpus, runs);
  return score;
}

/** MB/s (10^6 bytes) of one-shot `redactBuffer` over every corpus file; median of `runs`
 *  passes after one warm-up pass. */
export function measureThroughput(red: Redactor, corpus: Corpus, runs: number): Throughput {
  const bytes = corpus.files.reduce((a, f) => a + f.data.length, 0);
  const perFile = corpus.files.map(() => [] as number[]);
  const pass = (record: boolean) => {
    let n = 0;
    corpus.files.forEach((f, i) => {
      const t0 = process.hrtime.bigint();
      n += red.redactBuffer(f.data).findings.length;
      if (record) perFile[i]!.push(Number(process.hrtime.bigint() - t0) / 1e6);
    });
    return n;
  };
  pass(false);
  const timesMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    pass(true);
    timesMs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const medianMs = med(timesMs);
  const slowest = corpus.files
    .map((f, i) => ({ file: f.path, bytes: f.data.length, medianMs: med(perFile[i]!), mbps: 0 }))
    .map((x) => ({ ...x, mbps: x.bytes / 1e6 / (x.medianMs / 1e3) }))
    .sort((a, b) => b.medianMs - a.medianMs)
    .slice(0, 10);
  return { runs, bytes, medianMs, mbps: bytes / 1e6 / (medianMs / 1e3), timesMs, slowest };
}

// --------------------------------------------------------------------------- reports

const pct = (x: number | null): string => (x === null ? '—' : x.toFixed(3));

function table(m: ModeScore): string[] {
  const out = [`${'type'.padEnd(26)} ${'labels'.padStart(6)} ${'TP'.padStart(5)} ${'FN'.padStart(5)} ${'FP'.padStart(5)}  ${'prec'.padStart(6)} ${'recall'.padStart(6)} ${'F1'.padStart(6)}`];
  for (const r of m.rows) {
    out.push(`${(r.corpusType ? r.type : `${r.type} (not a corpus type)`).padEnd(26)} ${String(r.labels).padStart(6)} ${String(r.tp).padStart(5)} ${String(r.fn).padStart(5)} ${String(r.fp).padStart(5)}  ${pct(r.precision).padStart(6)} ${pct(r.recall).padStart(6)} ${r.f1.toFixed(3).padStart(6)}`);
  }
  const u = m.micro;
  out.push(`${'overall (micro)'.padEnd(26)} ${String(u.tp + u.fn).padStart(6)} ${String(u.tp).padStart(5)} ${String(u.fn).padStart(5)} ${String(u.fp).padStart(5)}  ${pct(u.precision).padStart(6)} ${pct(u.recall).padStart(6)} ${u.f1.toFixed(3).padStart(6)}`);
  out.push(`${'overall (macro)'.padEnd(26)} ${''.padStart(6)} ${''.padStart(5)} ${''.padStart(5)} ${''.padStart(5)}  ${m.macro.precision.toFixed(3).padStart(6)} ${m.macro.recall.toFixed(3).padStart(6)} ${m.macro.f1.toFixed(3).padStart(6)}`);
  return out;
}

export function formatReport(s: CorpusScore, opts: { list?: boolean } = {}): string {
  const out: string[] = [];
  out.push(`DLP corpus score (${s.date}): ${s.corpus.files} files, ${(s.corpus.bytes / 1e6).toFixed(2)} MB, ${s.corpus.labels} labelled secrets, ${s.corpus.negatives} recorded hard negatives`);
  out.push(`detectors: ${s.detectors.length} (${[...new Set(s.detectors)].join(', ')})`);
  out.push('', 'strict (the finding must be of the label\'s type):', ...table(s.strict));
  out.push('', 'any type (a finding of any type on the secret counts):');
  const a = s.anyType;
  out.push(`overall (micro): TP ${a.micro.tp}  FN ${a.micro.fn}  FP ${a.micro.fp}  precision ${pct(a.micro.precision)}  recall ${pct(a.micro.recall)}  F1 ${a.micro.f1.toFixed(3)}   (macro F1 ${a.macro.f1.toFixed(3)})`);
  out.push(`partially redacted secrets: ${s.partial.length} (${s.leakedBytes} secret bytes left in the output)`);
  if (s.throughput) {
    const t = s.throughput;
    out.push(`throughput: ${t.mbps.toFixed(0)} MB/s (one-shot redactBuffer per file, median of ${t.runs} passes, ${t.medianMs.toFixed(1)} ms per ${(t.bytes / 1e6).toFixed(2)} MB pass)`);
    out.push(`  slowest files: ${t.slowest.map((x) => `${x.file} ${x.medianMs.toFixed(1)} ms (${x.mbps.toFixed(1)} MB/s)`).join('; ')}`);
  }
  if (opts.list !== false) {
    out.push('', `false negatives (strict, ${s.falseNegatives.length}):`);
    for (const m of s.falseNegatives) out.push(`  ${m.file}:${m.start} ${m.type}${m.overlapping ? ` (found as ${m.overlapping.join(', ')})` : ''}  ${m.snippet}`);
    out.push('', `false positives (strict, ${s.falsePositives.length}):`);
    for (const m of s.falsePositives) out.push(`  ${m.file}:${m.start} ${m.type}${m.overlapping ? ` (on a ${m.overlapping.join(', ')} label)` : ''}${m.negative ? ` [hard negative: ${m.negative}]` : ''}  ${m.snippet}`);
    out.push('', `partially redacted (${s.partial.length}):`);
    for (const m of s.partial) out.push(`  ${m.file}:${m.start} ${m.type} ${m.leakedBytes} of ${m.end - m.start} bytes left  ${m.snippet}`);
  }
  return out.join('\n');
}

/** The results section of docs/dlp.md (between the markers). */
export function markdownResults(s: CorpusScore): string {
  const f = (x: number | null) => (x === null ? '—' : x.toFixed(2));
  const lines: string[] = [];
  lines.push(
    `Run on ${s.date} against the detectors in the tree that day (${s.detectors.length} detectors, ${new Set(s.detectors).size} names); ` +
      'regenerated by `npm run build && node dist/bench/dlp-score.js --write-docs`.',
    '',
  );
  const a = s.anyType.micro;
  const u = s.strict.micro;
  lines.push('| overall | precision | recall | F1 |', '|---|---|---|---|');
  lines.push(`| strict types, micro | ${f(u.precision)} | ${f(u.recall)} | **${u.f1.toFixed(2)}** |`);
  lines.push(`| strict types, macro (mean over ${s.strict.rows.filter((r) => r.corpusType).length} types) | ${s.strict.macro.precision.toFixed(2)} | ${s.strict.macro.recall.toFixed(2)} | ${s.strict.macro.f1.toFixed(2)} |`);
  lines.push(`| any type, micro | ${f(a.precision)} | ${f(a.recall)} | ${a.f1.toFixed(2)} |`);
  lines.push('');
  lines.push(
    `Budget: F1 ≥ 0.95 overall (strict, micro) — ${u.f1 >= 0.95 ? 'met' : 'not met'}. ` +
      `Partially redacted secrets: ${s.partial.length} (${s.leakedBytes} secret bytes left). ` +
      (s.throughput
        ? `Throughput on the corpus: **${s.throughput.mbps.toFixed(0)} MB/s** (one-shot \`redactBuffer\` per file, median of ${s.throughput.runs} passes over ${(s.throughput.bytes / 1e6).toFixed(2)} MB; ` +
          `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, load average ${loadavg()[0]!.toFixed(1)} at the end of the run; budget ≥ 100 MB/s — ${s.throughput.mbps >= 100 ? 'met' : 'not met'}).`
        : ''),
    '',
  );
  lines.push('Per type (strict):', '', '| type | labels | TP | FN | FP | precision | recall | F1 |', '|---|---|---|---|---|---|---|---|');
  for (const r of s.strict.rows) lines.push(`| \`${r.type}\`${r.corpusType ? '' : ' (not a corpus type)'} | ${r.labels} | ${r.tp} | ${r.fn} | ${r.fp} | ${f(r.precision)} | ${f(r.recall)} | ${r.f1.toFixed(2)} |`);
  // the misses, grouped (the scorer lists each one with a snippet)
  const group = (ms: Miss[], key: (m: Miss) => string) => {
    const g = new Map<string, Set<string>>();
    for (const m of ms) {
      const k = key(m);
      const e = g.get(k) ?? new Set<string>();
      e.add(m.file);
      g.set(k, e);
    }
    return [...g].map(([k, files]) => ({ k, n: ms.filter((m) => key(m) === k).length, files: [...files] })).sort((a, b) => b.n - a.n);
  };
  if (s.falseNegatives.length) {
    lines.push('', 'False negatives (strict), grouped:', '');
    for (const x of group(s.falseNegatives, (m) => `\`${m.type}\`${m.overlapping ? ` found as ${m.overlapping.map((o) => `\`${o}\``).join(', ')}` : ' not found'}`)) lines.push(`- ${x.k}: ${x.n} (${x.files.join(', ')})`);
  }
  if (s.falsePositives.length) {
    lines.push('', 'False positives (strict), grouped:', '');
    for (const x of group(s.falsePositives, (m) => `\`${m.type}\`${m.overlapping ? ` on label ${m.overlapping.map((o) => `\`${o}\``).join(', ')}` : m.negative ? ` on hard negative \`${m.negative}\`` : ' on unlabelled text'}`)) lines.push(`- ${x.k}: ${x.n} (${x.files.join(', ')})`);
  }
  if (s.throughput) lines.push('', `Slowest files: ${s.throughput.slowest.slice(0, 5).map((x) => `${x.file} ${x.medianMs.toFixed(1)} ms (${x.mbps.toFixed(1)} MB/s)`).join('; ')}.`);
  return lines.join('\n');
}

/** The corpus statistics section of docs/dlp.md: per context, per type, per negative kind. */
export function markdownCorpusStats(l: LabelsFile): string {
  const st = corpusStats(l);
  const lines: string[] = [];
  lines.push(`${st.files} documents, ${st.bytes.toLocaleString('en-US')} bytes, ${st.labels} labelled secrets, ${st.negatives} recorded hard negatives.`, '');
  const dirs = new Map<string, { files: number; bytes: number; labels: number; negatives: number; contexts: string[] }>();
  for (const c of st.perContext) {
    const d = c.path.split('/')[0]!;
    const e = dirs.get(d) ?? { files: 0, bytes: 0, labels: 0, negatives: 0, contexts: [] };
    e.files++;
    e.bytes += c.bytes;
    e.labels += c.labels;
    e.negatives += c.negatives;
    e.contexts.push(c.context);
    dirs.set(d, e);
  }
  lines.push('| directory | files | bytes | secrets | hard negatives | contexts |', '|---|---|---|---|---|---|');
  for (const [d, e] of dirs) lines.push(`| \`${d}/\` | ${e.files} | ${e.bytes.toLocaleString('en-US')} | ${e.labels} | ${e.negatives} | ${e.contexts.join('; ')} |`);
  lines.push('', '| type | labels |', '|---|---|');
  for (const [t, c] of Object.entries(st.perType)) lines.push(`| \`${t}\` | ${c} |`);
  lines.push('', '| hard negative kind | recorded |', '|---|---|');
  for (const [t, c] of Object.entries(st.perNegative).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) lines.push(`| \`${t}\` | ${c} |`);
  return lines.join('\n');
}

function replaceBetween(doc: string, begin: string, end: string, body: string, file: string): string {
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${file}: markers ${begin.slice(0, 30)}… not found`);
  return `${doc.slice(0, a + begin.length)}\n${body}\n${doc.slice(b)}`;
}

/** Rewrites the generated sections of docs/dlp.md (corpus statistics, results). */
export function writeDocs(s: CorpusScore, labels: LabelsFile, file = DOCS_FILE): void {
  let doc = readFileSync(file, 'utf8');
  doc = replaceBetween(doc, STATS_BEGIN, STATS_END, markdownCorpusStats(labels), file);
  doc = replaceBetween(doc, DOCS_BEGIN, DOCS_END, markdownResults(s), file);
  writeFileSync(file, doc);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const val = (flag: string): string | undefined => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const corpusDir = val('--corpus');
  const runs = val('--runs');
  const corpus = readCorpus(corpusDir ?? CORPUS_DIR);
  const s = scoreCorpus({ corpus, runs: runs ? Number(runs) : 9 });
  if (args.includes('--json')) console.log(JSON.stringify(s, null, 2));
  else console.log(formatReport(s, { list: !args.includes('--no-list') }));
  if (args.includes('--write-docs')) writeDocs(s, corpus.labels);
}
