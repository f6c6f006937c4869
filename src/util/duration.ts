// Durations and sizes in agentsh's notation (Go's time.ParseDuration: "300ms", "1h30m";
// sizes like "10MB"). One parser each, used by the schema formats and by the runtime.

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/;

/** Milliseconds for a Go-style duration string, or null when it is not one. */
export function parseDuration(text: string): number | null {
  let rest = text.trim();
  if (rest === '0') return 0;
  if (!rest) return null;
  let total = 0;
  while (rest) {
    const m = DURATION_RE.exec(rest);
    if (!m) return null;
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

const SIZE_UNITS: Record<string, number> = { '': 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KIB: 1024, MIB: 1024 ** 2, GIB: 1024 ** 3, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** Bytes for a size like "10MB" or "512KiB", or null when it is not one. */
export function parseByteSize(text: string | number): number | null {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return null;
  const unit = SIZE_UNITS[m[2]!.toUpperCase()];
  return unit === undefined ? null : Math.round(Number(m[1]) * unit);
}
