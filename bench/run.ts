// `npm run bench`: every benchmark, printed as a table and written to docs/benchmarks.md.
import { writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { headline, TITLES, type Section } from './summary.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/**
 * One benchmark: its sections, or, when it throws (its import included), one section that
 * says it could not run and why, so the rest still runs and the doc is still written.
 */
async function attempt(title: string, budget: string, run: () => Promise<Section[]>): Promise<Section[]> {
  try {
    return await run();
  } catch (err) {
    const e = err as Error;
    console.error(`bench: ${title}: ${e.stack ?? e.message}`);
    const reason = (e.message || String(err)).replace(/\s+/g, ' ').trim().slice(0, 500);
    return [{ title, budget, results: [], prose: `**Could not run**: ${reason}` }];
  }
}

async function main(): Promise<void> {
  const sections: Section[] = [];
  const add = async (title: string, budget: string, run: () => Promise<Section[]>) => sections.push(...(await attempt(title, budget, run)));
  // Process-spawning benchmarks first: fork/spawn cost grows with this process's heap, which
  // the in-process benchmarks below inflate.
  await add(TITLES.exec, '≤ 15 ms added median, aim 8 ms', async () => {
    const { benchExec } = await import('./exec.bench.js');
    return [{ title: TITLES.exec, budget: '≤ 15 ms added median, aim 8 ms', results: await benchExec() }];
  });
  // The session sandbox (local provider): warm `true`, nested execs, create, a file workload.
  await add('Session sandbox', 'see the brief', async () => {
    const { benchSandbox } = await import('./sandbox.bench.js');
    return benchSandbox();
  });
  // Side by side with Anthropic's sandbox-runtime (bubblewrap + proxy): per-command overhead of the
  // same commands and escape probes through both tools; also writes docs/peers.md.
  await add('Peers: agentsh vs Anthropic\'s sandbox-runtime', 'none (a comparison)', async () => {
    const { benchPeer } = await import('./peer.bench.js');
    return benchPeer();
  });
  // The FUSE workspace view against the bare directory (says so itself where FUSE is unavailable).
  await add('FUSE workspace view', 'none set; the ratio to the bare directory', async () => {
    const { benchFuse } = await import('./fuse.bench.js');
    return benchFuse();
  });
  // The session network: connection set-up, tunnel throughput and held tunnels through the
  // proxy and from inside a sandbox (relay → gateway → proxy), loopback only.
  await add('Session network', '≤ 1 ms added per connection; ≥ 500 MB/s', async () => {
    const { benchNet } = await import('./net.bench.js');
    return benchNet();
  });
  // The LLM proxy: latency added per request and per streamed chunk, against a stand-in provider on loopback.
  await add('LLM proxy', '≤ 2 ms added per request; ≤ 1 ms per streamed chunk', async () => {
    const { benchLlm } = await import('./llm.bench.js');
    return benchLlm();
  });
  await add('Shell shim start-up', '~1 ms', async () => {
    const { benchShim } = await import('./shim.bench.js');
    return [{ title: 'Shell shim start-up', budget: '~1 ms', results: await benchShim() }];
  });
  await add(TITLES.policy, '≤ 2 µs median per decision', async () => {
    const { benchPolicy } = await import('./policy.bench.js');
    return [{ title: TITLES.policy, budget: '≤ 2 µs median per decision', results: benchPolicy(`${REPO}test/fixtures/seed/default.yaml`) }];
  });
  await add('Shell string analysis (`bash -c` pre-check)', '≤ 50 µs median per typical string', async () => {
    const { benchShell } = await import('./shell.bench.js');
    return [{ title: 'Shell string analysis (`bash -c` pre-check)', budget: '≤ 50 µs median per typical string', results: await benchShell() }];
  });
  await add(TITLES.audit, '≥ 20k events/s, nothing lost', async () => {
    const { benchAudit } = await import('./audit.bench.js');
    return [{ title: TITLES.audit, budget: '≥ 20k events/s, nothing lost', results: await benchAudit() }];
  });
  await add(TITLES.dlp, '≥ 100 MB/s', async () => {
    const { benchDlp } = await import('./dlp.bench.js');
    return [{ title: TITLES.dlp, budget: '≥ 100 MB/s', results: await benchDlp() }];
  });
  await add(TITLES.dlpCorpus, '≥ 100 MB/s; F1 ≥ 0.95 overall', async () => {
    const { benchDlpCorpus } = await import('./dlp-corpus.bench.js');
    const dlpCorpus = await benchDlpCorpus();
    return [{ title: TITLES.dlpCorpus, budget: '≥ 100 MB/s; F1 ≥ 0.95 overall', results: dlpCorpus.results, prose: dlpCorpus.prose }];
  });

  const fmt = (ns: number) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
  const lines: string[] = [];
  for (const s of sections) {
    lines.push(`### ${s.title}`, '', `Budget: ${s.budget}.`, '');
    if (s.results.length) {
      lines.push('| what | median | p90 | calls |', '|---|---|---|---|');
      for (const r of s.results) lines.push(`| ${r.name}${r.note ? ` (${r.note})` : ''} | ${fmt(r.medianNs)} | ${fmt(r.p90Ns ?? r.medianNs)} | ${r.samples} |`);
      lines.push('');
    }
    if (s.prose) lines.push(s.prose, '');
  }
  const table = lines.join('\n');
  const summary = headline(sections);
  console.log(`${summary}\n${table}`);
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const doc = `# Benchmarks

Measured by \`npm run bench\` (this file is rewritten by it). Each figure is the median over
batches of calls in one process; the machine is noisy, so compare figures from the same run.

Machine: ${cpus().length} × ${cpu}, Linux ${release()}, Node ${process.version}. Date: ${new Date().toISOString().slice(0, 10)}.

${summary}
## The measurements

${table}
Budgets are from the design brief. Uncached figures are the compiled rules themselves (the
first time a question is asked); cached figures are what a warm session pays for a repeated
question. Process-spawning benchmarks run first because spawn cost grows with the parent's
heap. The session sandbox figures depend on the host as well as on agentsh: the local
provider's image binds the host's directories, so the per-command Landlock plan grows with
what lies under /usr/bin and /root. Side-by-side figures for Anthropic's sandbox-runtime are
in the Peers sections above; the escape probes and both tools' exact configurations are in
docs/peers.md.
`;
  writeFileSync(`${REPO}docs/benchmarks.md`, doc);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
