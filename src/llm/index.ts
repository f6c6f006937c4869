// The LLM proxy: docs/llm-proxy.md.
import { fromConfig, type DlpConfigLike, type Redactor } from '../dlp/index.js';
import { dlpModeOf, type DlpMode } from './request-dlp.js';

export { DEFAULT_LLM_LIMITS, LlmProxy, type LlmProxyLimits, type LlmProxyOptions } from './llm-proxy.js';
export { llmEnv, llmProxyEnabled, llmSecretEnvNames, type LlmProxyConfig } from './env.js';
export { PLACEHOLDER_KEYS } from './keys.js';
export { dlpModeOf, scanRequest, type DlpMode, type DlpScan } from './request-dlp.js';
export { route, type Endpoint, type Provider } from './providers.js';
export { SseParser, UsageTracker, type Usage } from './sse.js';
export { RateLimiter, type RateLimits } from './rate-limit.js';

/**
 * The redactor and mode the LLM proxy applies, from `dlp:`. The detectors are those of the
 * output redaction (fromConfig with mode redact); the mode (redact | block | audit |
 * disabled, anything else: redact) says what is done with findings in requests.
 */
export function llmDlpFromConfig(dlp: (DlpConfigLike & { mode?: string }) | undefined): { dlp: Redactor | null; dlpMode: DlpMode } {
  const dlpMode = dlpModeOf(dlp);
  if (dlpMode === 'disabled') return { dlp: null, dlpMode };
  return { dlp: fromConfig({ ...dlp, mode: 'redact' }), dlpMode };
}
