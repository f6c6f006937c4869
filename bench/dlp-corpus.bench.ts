// DLP on the labelled corpus (test/fixtures/dlp-corpus/): throughput of one-shot redaction
// over every document (budget ≥ 100 MB/s) and detection quality, overall F1 with strict
// types (budget ≥ 0.95). Same detector set as the scorer: every built-in on, no custom
// pattern. `node dist/bench/dlp-score.js` lists the misses behind the figures.
import { fileURLToPath } from 'node:url';
import type { BenchResult } from './measure.js';
import { readCorpus } from './dlp-corpus/index.js';
import { allBuiltinsRedactor, scoreCorpus } from './dlp-score.js';

const MiB = 1 << 20;

export async function benchDlpCorpus(): Promise<{ results: BenchResult[]; prose: string }> {
  const corpus = readCorpus();
  const red = allBuiltinsRedactor();
  const t0 = process.hrtime.bigint();
  const s = scoreCorpus({ corpus, redactor: red, runs: 9 });
  const scoreNs = Number(process.hrtime.bigint() - t0);
  const t = s.throughput!;
  const perMiB = t.timesMs.map((ms) => (ms * 1e6 * MiB) / t.bytes).sort((a, b) => a - b);
  const u = s.strict.micro;
  const a = s.anyType.micro;
  const f = (x: number | null) => (x === null ? '—' : x.toFixed(3));
  const results: BenchResult[] = [
    {
      name: `one-shot redactBuffer over the labelled corpus, ${s.corpus.files} files (per MiB)`,
      medianNs: perMiB[perMiB.length >> 1]!,
      p90Ns: perMiB[Math.min(perMiB.length - 1, Math.floor(perMiB.length * 0.9))]!,
      samples: t.runs,
      note: `${t.mbps.toFixed(0)} MB/s over ${(t.bytes / 1e6).toFixed(2)} MB; budget ≥ 100 MB/s: ${t.mbps >= 100 ? 'met' : 'NOT met'}`,
    },
    {
      name: `detection quality on ${s.corpus.labels} labelled secrets: F1, strict types (time: one scoring run)`,
      medianNs: scoreNs,
      samples: 1,
      note: `F1 ${u.f1.toFixed(3)}, precision ${f(u.precision)}, recall ${f(u.recall)}; any type F1 ${a.f1.toFixed(3)}; budget ≥ 0.95: ${u.f1 >= 0.95 ? 'met' : 'NOT met'}`,
    },
  ];
  const worst = s.strict.rows.filter((r) => r.corpusType && r.f1 < 0.95).map((r) => `${r.type} ${r.f1.toFixed(2)}`);
  const prose =
    `Detectors: ${s.detectors.length} built-ins. ${s.falseNegatives.length} false negatives and ${s.falsePositives.length} false positives (strict); ` +
    `${s.partial.length} secrets partially redacted (${s.leakedBytes} bytes left). ` +
    (worst.length ? `Types under 0.95 F1: ${worst.join(', ')}. ` : 'Every type at F1 ≥ 0.95. ') +
    `Slowest files: ${t.slowest.slice(0, 3).map((x) => `${x.file} (${x.mbps.toFixed(0)} MB/s)`).join(', ')}. ` +
    'Per-type figures and every miss: `node dist/bench/dlp-score.js`; docs/dlp.md.';
  return { results, prose };
}

// `node dist/bench/dlp-corpus.bench.js` prints the rows on its own.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { results, prose } = await benchDlpCorpus();
  const fmt = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
  for (const r of results) console.log(`${r.name.padEnd(90)} ${fmt(r.medianNs).padStart(10)}  ${r.note ?? ''}`);
  console.log(prose);
}
