// What a sandboxed command gets so that SDKs and agents talk to the session's LLM proxy.
import type { ResolvedConfig } from '../config/load.js';
import { PLACEHOLDER_KEYS } from './keys.js';

export type LlmProxyConfig = ResolvedConfig['proxy'];

/** Whether the server should run the LLM proxy at all (`proxy.mode: embedded`). */
export function llmProxyEnabled(config: Pick<LlmProxyConfig, 'mode'>): boolean {
  return config.mode === 'embedded';
}

/**
 * The env a sandboxed command gets, given the base URL the sandbox reaches the proxy at
 * (e.g. `http://127.0.0.1:8082`): ANTHROPIC_BASE_URL = baseUrl, OPENAI_BASE_URL = baseUrl/v1
 * (the OpenAI SDKs append paths after /v1, the Anthropic ones after the host), and, for each
 * provider whose key agentsh holds (`proxy.credentials`), the placeholder key the proxy swaps.
 */
export function llmEnv(baseUrl: string, config: Pick<LlmProxyConfig, 'credentials'>): Record<string, string> {
  const base = baseUrl.replace(/\/+$/, '');
  const env: Record<string, string> = { ANTHROPIC_BASE_URL: base, OPENAI_BASE_URL: `${base}/v1` };
  if (config.credentials?.anthropic?.api_key_env) env.ANTHROPIC_API_KEY = PLACEHOLDER_KEYS.anthropic;
  if (config.credentials?.openai?.api_key_env) env.OPENAI_API_KEY = PLACEHOLDER_KEYS.openai;
  return env;
}

/**
 * The server variables that hold real provider keys (`proxy.credentials.*.api_key_env`): they
 * must never reach a sandboxed command, whatever env_policy says (llmEnv's placeholders
 * replace ANTHROPIC_API_KEY / OPENAI_API_KEY, but a key kept under another name would pass).
 */
export function llmSecretEnvNames(config: Pick<LlmProxyConfig, 'credentials'>): string[] {
  const names = [config.credentials?.anthropic?.api_key_env, config.credentials?.openai?.api_key_env];
  return [...new Set(names.filter((n): n is string => typeof n === 'string' && n !== ''))];
}
