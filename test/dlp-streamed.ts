// The DLP stream redactor fed `input` cut at `cuts` (the streaming tests and the DLP fuzzer).
import { StreamRedactor, type Finding, type Redactor } from '../src/dlp/index.js';

export function streamed(r: Redactor, input: Buffer, cuts: number[], opts = {}): { out: Buffer; findings: Finding[] } {
  const findings: Finding[] = [];
  const s = new StreamRedactor(r, { ...opts, onFinding: (f) => findings.push(f) });
  const parts: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, input.length]) {
    parts.push(s.push(input.subarray(prev, c)));
    prev = c;
  }
  parts.push(s.end());
  return { out: Buffer.concat(parts), findings };
}
