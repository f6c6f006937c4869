// Median-of-batches timing: each sample times a batch of calls (so the clock's resolution
// does not dominate sub-microsecond work), and the median over samples resists noise.
export interface BenchResult {
  name: string;
  medianNs: number;
  p90Ns?: number;
  samples: number;
  note?: string;
}

export function measure(name: string, fn: (i: number) => unknown, opts: { batch?: number; samples?: number; warmup?: number; note?: string } = {}): BenchResult {
  const batch = opts.batch ?? 1000;
  const samples = opts.samples ?? 200;
  let sink = 0;
  for (let i = 0; i < (opts.warmup ?? batch * 5); i++) sink ^= fn(i) ? 1 : 0;
  const times: number[] = [];
  for (let s = 0; s < samples; s++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) sink ^= fn(s * batch + i) ? 1 : 0;
    times.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  times.sort((a, b) => a - b);
  if (sink === 42) console.log(''); // keep the calls observable
  const r: BenchResult = { name, medianNs: times[Math.floor(samples / 2)]!, p90Ns: times[Math.floor(samples * 0.9)]!, samples: samples * batch };
  if (opts.note) r.note = opts.note;
  return r;
}

export function percentile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))]!;
}
export const median = (xs: readonly number[]) => percentile(xs, 0.5);
export const p90 = (xs: readonly number[]) => percentile(xs, 0.9);
