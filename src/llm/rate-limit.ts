// Per-session limits of the LLM proxy (agentsh extension, `proxy.rate_limits`): requests and
// tokens in any 60-second window (a sliding log, exact). A request is admitted when the
// session's requests in the last 60 s are fewer than requests_per_minute and its tokens in
// the last 60 s are fewer than tokens_per_minute; tokens are counted from the usage recorded
// when each response ends (so one large request can overshoot the token limit; the next
// ones wait). Refused requests do not count. Retry-After is when the window will admit the
// next request.

export interface RateLimits {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}

export type RateDecision = { ok: true } | { ok: false; reason: 'requests' | 'tokens'; retryAfterS: number; message: string };

const WINDOW_MS = 60_000;

interface Window {
  /** Admission times, oldest first. */
  requests: number[];
  /** [time, tokens], oldest first. */
  tokens: [number, number][];
  tokenSum: number;
}

export class RateLimiter {
  private readonly sessions = new Map<string, Window>();
  private calls = 0;

  constructor(
    private readonly limits: RateLimits,
    private readonly now: () => number = Date.now,
  ) {}

  get active(): boolean {
    return (this.limits.requestsPerMinute ?? 0) > 0 || (this.limits.tokensPerMinute ?? 0) > 0;
  }

  /** Admits (and counts) one request of the session, or says when to retry. */
  admit(sessionId: string): RateDecision {
    if (!this.active) return { ok: true };
    const t = this.now();
    if (++this.calls % 1024 === 0) this.sweep(t);
    const w = this.window(sessionId, t);
    const rpm = this.limits.requestsPerMinute ?? 0;
    const tpm = this.limits.tokensPerMinute ?? 0;
    if (rpm > 0 && w.requests.length >= rpm) {
      const retry = w.requests[w.requests.length - rpm]! + WINDOW_MS - t;
      return { ok: false, reason: 'requests', retryAfterS: Math.max(1, Math.ceil(retry / 1000)), message: `rate limit: ${rpm} requests per minute for this session` };
    }
    if (tpm > 0 && w.tokenSum >= tpm) {
      // The earliest time the sum drops below the limit.
      let sum = w.tokenSum;
      let at = t;
      for (const [ts, n] of w.tokens) {
        sum -= n;
        at = ts + WINDOW_MS;
        if (sum < tpm) break;
      }
      return { ok: false, reason: 'tokens', retryAfterS: Math.max(1, Math.ceil((at - t) / 1000)), message: `rate limit: ${tpm} tokens per minute for this session` };
    }
    w.requests.push(t);
    return { ok: true };
  }

  /** Counts the tokens a finished request used. */
  addTokens(sessionId: string, tokens: number): void {
    if (!((this.limits.tokensPerMinute ?? 0) > 0) || !(tokens > 0)) return;
    const t = this.now();
    const w = this.window(sessionId, t);
    w.tokens.push([t, tokens]);
    w.tokenSum += tokens;
  }

  /** The session's window with entries older than 60 s dropped. */
  private window(sessionId: string, t: number): Window {
    let w = this.sessions.get(sessionId);
    if (!w) {
      w = { requests: [], tokens: [], tokenSum: 0 };
      this.sessions.set(sessionId, w);
    }
    prune(w, t);
    return w;
  }

  /** Drops the windows of sessions with nothing in the last 60 s. */
  private sweep(t: number): void {
    for (const [id, w] of this.sessions) {
      prune(w, t);
      if (w.requests.length === 0 && w.tokens.length === 0) this.sessions.delete(id);
    }
  }
}

function prune(w: Window, t: number): void {
  const cut = t - WINDOW_MS;
  let i = 0;
  while (i < w.requests.length && w.requests[i]! <= cut) i++;
  if (i) w.requests.splice(0, i);
  let j = 0;
  while (j < w.tokens.length && w.tokens[j]![0] <= cut) w.tokenSum -= w.tokens[j++]![1];
  if (j) w.tokens.splice(0, j);
}
