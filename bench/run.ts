// `npm run bench`: every benchmark, printed as a table and written to docs/benchmarks.md.
import { writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { benchPolicy } from './policy.bench.js';
import type { BenchResult } from './measure.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

interface Section {
  title: string;
  budget: string;
  results: BenchResult[];
  /** A paragraph under the table: what is measured, the result against the budget. */
  prose?: string;
}

async function main(): Promise<void> {
  const sections: Section[] = [];
  // Process-spawning benchmarks first: fork/spawn cost grows with this process's heap, which
  // the in-process benchmarks below inflate.
  const { benchExec } = await import('./exec.bench.js');
  sections.push({ title: 'Governed command (shim → server → bash) vs bare bash', budget: '≤ 15 ms added median, aim 8 ms', results: await benchExec() });
  // The session sandbox (local provider): warm `true`, nested execs, create, a file workload.
  const { benchSandbox } = await import('./sandbox.bench.js');
  sections.push(...(await benchSandbox()));
  // The session network: connection set-up, tunnel throughput and held tunnels through the
  // proxy and from inside a sandbox (relay → gateway → proxy), loopback only.
  const { benchNet } = await import('./net.bench.js');
  sections.push(...(await benchNet()));
  // The LLM proxy: latency added per request and per streamed chunk, against a stand-in provider on loopback.
  const { benchLlm } = await import('./llm.bench.js');
  sections.push(...(await benchLlm()));
  const { benchShim } = await import('./shim.bench.js');
  sections.push({ title: 'Shell shim start-up', budget: '~1 ms', results: await benchShim() });
  sections.push({ title: 'Policy decisions (seed policy)', budget: '≤ 2 µs median per decision', results: benchPolicy(`${REPO}test/fixtures/seed/default.yaml`) });
  const { benchShell } = await import('./shell.bench.js');
  sections.push({ title: 'Shell string analysis (`bash -c` pre-check)', budget: '≤ 50 µs median per typical string', results: await benchShell() });
  const { benchAudit } = await import('./audit.bench.js');
  sections.push({ title: 'Audit log with the HMAC chain', budget: '≥ 20k events/s, nothing lost', results: await benchAudit() });
  const { benchDlp } = await import('./dlp.bench.js');
  sections.push({ title: 'DLP redaction of command output', budget: '≥ 100 MB/s', results: await benchDlp() });
  const { benchDlpCorpus } = await import('./dlp-corpus.bench.js');
  const dlpCorpus = await benchDlpCorpus();
  sections.push({ title: 'DLP on the labelled corpus (test/fixtures/dlp-corpus)', budget: '≥ 100 MB/s; F1 ≥ 0.95 overall', results: dlpCorpus.results, prose: dlpCorpus.prose });

  const fmt = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
  const lines: string[] = [];
  for (const s of sections) {
    lines.push(`### ${s.title}`, '', `Budget: ${s.budget}.`, '', '| what | median | p90 | calls |', '|---|---|---|---|');
    for (const r of s.results) lines.push(`| ${r.name}${r.note ? ` (${r.note})` : ''} | ${fmt(r.medianNs)} | ${fmt(r.p90Ns ?? r.medianNs)} | ${r.samples} |`);
    lines.push('');
    if (s.prose) lines.push(s.prose, '');
  }
  const table = lines.join('\n');
  console.log(table);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const doc = `# Benchmarks

Measured by \`npm run bench\` (this file is rewritten by it). Each figure is the median over
batches of calls in one process; the machine is noisy, so compare figures from the same run.

Machine: ${cpus().length} × ${cpu}, Linux ${release()}, Node ${process.version}. Date: ${new Date().toISOString().slice(0, 10)}.

${table}
Budgets are from the design brief. Uncached figures are the compiled rules themselves (the
first time a question is asked); cached figures are what a warm session pays for a repeated
question. Process-spawning benchmarks run first because spawn cost grows with the parent's
heap. The session sandbox figures depend on the host as well as on agentsh: the local
provider's image binds the host's directories, so the per-command Landlock plan grows with
what lies under /usr/bin and /root. Side-by-side figures for peers (Anthropic's
sandbox-runtime) are not measured yet.
`;
  writeFileSync(`${REPO}docs/benchmarks.md`, doc);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
