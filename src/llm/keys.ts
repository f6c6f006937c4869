// Key swap (agentsh extension, `proxy.credentials`): the real provider key lives in the agentsh
// server's environment; a sandbox gets a fixed placeholder in ANTHROPIC_API_KEY /
// OPENAI_API_KEY, and the proxy puts the real key in the request on its way upstream, in the
// header the client used (`x-api-key: …` or `Authorization: Bearer …`). The agent never sees
// the real key: not in its environment, not in a response.
//
// With swapping on for a provider, a request must carry the placeholder and nothing else:
// another key (one the agent found somewhere) or no key at all is refused with 401, so the
// session cannot use credentials agentsh did not give it through this proxy. With swapping
// off, auth headers pass through unchanged.
//
// The placeholder is not a secret: whoever can reach a session's LLM proxy may use the
// provider through it (that is its purpose); what the placeholder prevents is the key leaving.
import type { Provider } from './providers.js';

export const PLACEHOLDER_KEYS: Readonly<Record<Provider, string>> = {
  anthropic: 'agentsh-placeholder-anthropic',
  openai: 'agentsh-placeholder-openai',
};

/** `proxy.credentials` as the config has it. */
export interface CredentialsConfig {
  anthropic?: { api_key_env?: string };
  openai?: { api_key_env?: string };
}

/** Per provider with swapping on: the real key, or null when its variable is unset (requests are then refused). */
export type KeyTable = Partial<Record<Provider, { env: string; key: string | null }>>;

export function keyTable(credentials: CredentialsConfig | undefined, env: NodeJS.ProcessEnv): KeyTable {
  const out: KeyTable = {};
  for (const p of ['anthropic', 'openai'] as const) {
    const name = credentials?.[p]?.api_key_env;
    if (!name) continue;
    const v = env[name];
    out[p] = { env: name, key: v && v.trim() ? v.trim() : null };
  }
  return out;
}

export type KeyCheck = { ok: true; headers: [string, string][] } | { ok: false; message: string };

const BEARER_RE = /^Bearer\s+(.+)$/i;

/**
 * With swapping on for the provider: the headers with the placeholder replaced by the real key,
 * or why the request is refused. `headers` are the forwarded [name, value] pairs.
 */
export function swapKey(provider: Provider, headers: [string, string][], table: KeyTable): KeyCheck {
  const entry = table[provider];
  if (!entry) return { ok: true, headers };
  const placeholder = PLACEHOLDER_KEYS[provider];
  let carried = false;
  let foreign = false;
  const out: [string, string][] = [];
  for (const [k, v] of headers) {
    const lk = k.toLowerCase();
    if (lk === 'x-api-key' || lk === 'api-key') {
      if (v.trim() === placeholder) {
        carried = true;
        out.push([k, entry.key ?? '']);
      } else foreign = true;
    } else if (lk === 'authorization') {
      const m = BEARER_RE.exec(v.trim());
      if (m && m[1]!.trim() === placeholder) {
        carried = true;
        out.push([k, `Bearer ${entry.key ?? ''}`]);
      } else foreign = true;
    } else out.push([k, v]);
  }
  const envName = provider === 'anthropic' ? 'ANTHROPIC_API_KEY' : 'OPENAI_API_KEY';
  if (foreign) return { ok: false, message: `agentsh holds the ${provider} key for this session: use the placeholder key given in ${envName}; other keys are refused` };
  if (!carried) return { ok: false, message: `agentsh holds the ${provider} key for this session: send the placeholder key given in ${envName}` };
  if (entry.key === null) return { ok: false, message: `agentsh has no ${provider} key: ${entry.env} is not set in the agentsh server's environment` };
  return { ok: true, headers: out };
}
