// Loads agentsh's config.yaml the way agentsh does (os.ExpandEnv over the text → YAML →
// defaults → env overrides), and says out loud what agentsh does silently: unknown keys,
// unset variables, a section it ignores (sandbox.landlock), values it rewrites.
import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import RE2 from 're2';
import { isScalar, type Scalar } from 'yaml';
import type { TSchema } from '@sinclair/typebox';
import { LoadError, hasErrors, type Diagnostic, type Severity } from '../util/diagnostics.js';
import { parseDuration } from '../util/duration.js';
import { validateAgainst } from '../util/validate.js';
import { MAX_SOURCE_BYTES, readSourceText, YamlSource, type SourcePath } from '../util/yaml-source.js';
import { expandEnv } from './env-expand.js';
import { BUILTIN_DETECTOR_NAMES } from '../dlp/patterns.js';
import {
  APPROVAL_MODES, ConfigSchema, DLP_MODES, LOG_LEVELS, PLATFORM_MODES, PROXY_MODES,
  type AgentshConfig, type LandlockConfig,
} from './schema.js';

export interface ConfigLoadOptions {
  /** Unknown keys are errors instead of warnings. */
  strict?: boolean;
  /** Environment for ${VAR} expansion and AGENTSH_* overrides (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Base of default sessions/ and events.db (agentsh: /var/lib/agentsh for system configs). */
  dataDir?: string;
  /** Default policies.dir (agentsh: /etc/agentsh/policies for system configs). */
  policiesDir?: string;
}

export interface LoadedConfig {
  config: ResolvedConfig;
  diagnostics: Diagnostic[];
  file: string;
}

type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
// Keys that have a default become required (recursively); the rest keep their optionality.
type WithDefaults<C, D> = D extends readonly unknown[]
  ? C
  : D extends object
    ? Simplify<Pick<C, Exclude<keyof C, keyof D>> & { [K in keyof D & keyof C]-?: WithDefaults<NonNullable<C[K]>, D[K]> }>
    : C;
type Resolved = WithDefaults<AgentshConfig, ReturnType<typeof buildDefaults>>;
/** The config with agentsh's defaults (and ours) filled in. `landlock` is the effective
 *  Landlock setting (top-level merged over sandbox.landlock), so sandbox.landlock is gone. */
export type ResolvedConfig = Simplify<Omit<Resolved, 'sandbox'> & { sandbox: Omit<Resolved['sandbox'], 'landlock'> }>;

const PATTERN_KEYS = ['email', 'phone', 'credit_card', 'ssn', 'api_keys'] as const;

// agentsh's applyDefaults, except server.http.addr: agentsh listens on 0.0.0.0, which exposes
// an unauthenticated API to the network; ours listens on loopback.
function buildDefaults(dataDir: string, policiesDir: string) {
  return {
    platform: { mode: 'auto' },
    server: {
      http: { addr: '127.0.0.1:18080', read_timeout: '30s', write_timeout: '5m', max_request_size: '10MB' },
      grpc: { enabled: false, addr: '127.0.0.1:9090' },
      unix_socket: { enabled: false },
      tls: { enabled: false },
    },
    auth: { type: 'none', api_key: { header_name: 'X-API-Key' } },
    logging: { level: 'info' },
    audit: {
      enabled: false,
      rotation: { max_size_mb: 500, max_backups: 10 },
      storage: { sqlite_path: join(dataDir, 'events.db') },
      webhook: { batch_size: 100, flush_interval: '10s', timeout: '5s' },
      integrity: { enabled: false, algorithm: 'hmac-sha256' },
    },
    sessions: { base_dir: join(dataDir, 'sessions'), max_sessions: 100, cleanup_interval: '1m' },
    sandbox: {
      enabled: false,
      allow_degraded: false,
      limits: { max_memory_mb: 2048, max_cpu_percent: 50, max_processes: 100, max_disk_io_mbps: 100, max_network_mbps: 50 },
      fuse: {
        enabled: false,
        deferred: false,
        audit: { enabled: true, mode: 'monitor', trash_path: '.agentsh_trash', ttl: '7d', quota: '5GB', max_event_queue: 1024, hash_small_files_under: '1MB' },
      },
      network: {
        enabled: false,
        proxy_port: 9080,
        dns_port: 9053,
        intercept_mode: 'all',
        proxy_listen_addr: '127.0.0.1:0',
        transparent: { enabled: false, subnet_base: '10.250.0.0/16' },
      },
      cgroups: { enabled: false },
      unix_sockets: { enabled: true },
      seccomp: {
        enabled: false,
        mode: 'enforce',
        unix_socket: { enabled: false, action: 'enforce' },
        syscalls: { default_action: 'allow', on_block: 'kill' },
        execve: { enabled: false },
        file_monitor: { enabled: false },
      },
      env_inject: {},
    },
    policies: { dir: policiesDir, default: 'default', detect_project_root: true },
    mount_profiles: {},
    approvals: { enabled: false, mode: 'local_tty', timeout: '5m', when_unavailable: 'deny' },
    metrics: { enabled: false, path: '/metrics' },
    health: { path: '/health', readiness_path: '/ready' },
    development: { debug: false, disable_auth: false, disable_policy: false, pprof: { enabled: false, addr: 'localhost:6060' } },
    proxy: { mode: 'embedded', port: 0, providers: { anthropic: 'https://api.anthropic.com', openai: 'https://api.openai.com' } },
    // Patterns are all-false here on purpose: resolveConfig() applies agentsh's all-or-nothing rule.
    dlp: {
      mode: 'redact',
      patterns: { email: false, phone: false, credit_card: false, ssn: false, api_keys: false },
      custom_patterns: [],
      allowlist: [] as string[],
      disabled_detectors: [] as string[],
    },
    llm_storage: { store_bodies: false, retention: { max_age_days: 30, max_size_mb: 500, eviction: 'oldest_first' } },
    security: { mode: 'auto', strict: false, warn_degraded: true },
    landlock: {
      enabled: false,
      allow_execute: [],
      allow_read: [],
      allow_write: [],
      deny_paths: [],
      network: { allow_connect_tcp: false, allow_bind_tcp: false, bind_ports: [] },
    },
    capabilities: { allow: [] },
    threat_feeds: {
      enabled: false,
      action: 'deny',
      feeds: [],
      sync_interval: '6h',
      realtime: { timeout: '500ms', cache_ttl: '1h', on_timeout: 'local-only' },
    },
  } satisfies DeepPartial<AgentshConfig>;
}

const SECCOMP_DEFAULT_BLOCK = [
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'personality', 'mount', 'umount2',
  'pivot_root', 'reboot', 'kexec_load', 'init_module', 'finit_module', 'delete_module',
];

// Durations where 0 would mean "no timeout" or a busy loop rather than anything useful.
const POSITIVE_DURATIONS: SourcePath[] = [
  ['server', 'http', 'read_timeout'], ['server', 'http', 'write_timeout'], ['sessions', 'cleanup_interval'],
  ['approvals', 'timeout'], ['audit', 'webhook', 'flush_interval'], ['audit', 'webhook', 'timeout'],
  ['threat_feeds', 'sync_interval'], ['policies', 'reload_interval'],
];
const ADDRESSES: SourcePath[] = [
  ['server', 'http', 'addr'], ['server', 'grpc', 'addr'], ['sandbox', 'network', 'proxy_listen_addr'], ['development', 'pprof', 'addr'],
];

export function loadConfigFile(file: string, opts: ConfigLoadOptions = {}): LoadedConfig {
  return loadConfigText(readSourceText(file), file, opts);
}

export function loadConfigText(text: string, file: string, opts: ConfigLoadOptions = {}): LoadedConfig {
  if (Buffer.byteLength(text) > MAX_SOURCE_BYTES) {
    throw new LoadError([{ severity: 'error', code: 'too-large', message: `file is larger than ${MAX_SOURCE_BYTES} bytes`, file, line: 0, column: 0, path: [] }]);
  }
  const env = opts.env ?? process.env;
  const exp = expandEnv(text, env);
  const remap = (d: Diagnostic): Diagnostic => ({ ...d, ...(d.line > 0 ? exp.toOriginal(d.line, d.column) : {}) });
  const diagnostics: Diagnostic[] = exp.notes.map((n) => ({ severity: 'warning' as const, code: n.code, message: n.message, file, ...exp.originalPos(n.offset), path: [] }));

  let src: YamlSource;
  try {
    src = YamlSource.parse(exp.text, file);
  } catch (err) {
    if (err instanceof LoadError) throw new LoadError(sortDiags([...diagnostics, ...err.diagnostics.map(remap)]));
    throw err;
  }
  const diag = (severity: Severity, code: string, message: string, path: SourcePath, key = false) => remap(src.diag(severity, code, message, path, key));
  if (!isPlainObject(src.data)) throw new LoadError([...diagnostics, diag('error', 'wrong-type', 'a config file must be a YAML mapping', [])]);

  dropNulls(src.data);
  coerceScalars(ConfigSchema, src.data, [], src);
  diagnostics.push(...validateAgainst(ConfigSchema, src, { strict: opts.strict ?? false }).map(remap));
  const raw = src.data as AgentshConfig;
  diagnostics.push(...checkSemantics(raw, diag));
  // Resolution assumes schema-valid data; report everything found so far before it.
  if (hasErrors(diagnostics)) throw new LoadError(sortDiags(diagnostics));
  const line = (path: SourcePath) => {
    const p = src.position(path, true);
    return exp.toOriginal(p.line, p.column).line;
  };
  const config = resolveConfig(raw, opts, env, diagnostics, diag, line, file);

  const sorted = sortDiags(diagnostics);
  if (hasErrors(sorted)) throw new LoadError(sorted);
  return { config, diagnostics: sorted, file };
}

type DiagFn = (severity: Severity, code: string, message: string, path: SourcePath, key?: boolean) => Diagnostic;

function checkSemantics(raw: AgentshConfig, diag: DiagFn): Diagnostic[] {
  const out: Diagnostic[] = [];
  const patterns = raw.dlp?.custom_patterns;
  if (Array.isArray(patterns)) {
    const seen = new Map<string, number>();
    patterns.forEach((p, i) => {
      if (!isPlainObject(p)) return;
      if (typeof p.regex === 'string') {
        try {
          new RE2(p.regex);
        } catch (err) {
          out.push(diag('error', 'invalid-regex', `invalid RE2 regex ${JSON.stringify(p.regex)}: ${(err as Error).message}`, ['dlp', 'custom_patterns', i, 'regex']));
        }
      }
      if (typeof p.name !== 'string') return;
      const first = seen.get(p.name);
      if (first !== undefined) {
        out.push(diag('error', 'duplicate-name', `custom pattern name '${p.name}' is already used by custom_patterns[${first}]; redactions and audit events would be ambiguous`, ['dlp', 'custom_patterns', i, 'name']));
      } else seen.set(p.name, i);
    });
  }
  const allowlist = raw.dlp?.allowlist;
  if (Array.isArray(allowlist)) {
    allowlist.forEach((entry, i) => {
      if (typeof entry !== 'string' || !entry.startsWith('re:')) return;
      try {
        new RE2(`^(?:${entry.slice(3)})$`);
      } catch (err) {
        out.push(diag('error', 'invalid-regex', `invalid RE2 regex ${JSON.stringify(entry.slice(3))}: ${(err as Error).message}`, ['dlp', 'allowlist', i]));
      }
    });
  }
  const disabled = raw.dlp?.disabled_detectors;
  if (Array.isArray(disabled)) {
    disabled.forEach((name, i) => {
      if (typeof name === 'string' && !BUILTIN_DETECTOR_NAMES.includes(name)) {
        out.push(diag('warning', 'unknown-value', `no built-in DLP detector is called '${name}' (built-ins: ${BUILTIN_DETECTOR_NAMES.join(', ')})`, ['dlp', 'disabled_detectors', i]));
      }
    });
  }
  for (const path of POSITIVE_DURATIONS) {
    const v = valueAt(raw, path);
    if (typeof v === 'string' && parseDuration(v) === 0) out.push(diag('error', 'invalid-value', `${path.join('.')} must be greater than 0`, path));
  }
  for (const path of ADDRESSES) {
    const v = valueAt(raw, path);
    if (typeof v === 'string' && v !== '' && !parseHostPort(v)) {
      out.push(diag('error', 'invalid-value', `${JSON.stringify(v)} is not host:port (e.g. 127.0.0.1:18080, [::1]:18080, :18080)`, path));
    }
  }
  const mode = raw.approvals?.mode;
  if (typeof mode === 'string' && mode !== '' && !(APPROVAL_MODES as readonly string[]).includes(mode)) {
    out.push(
      raw.approvals?.enabled
        ? diag('error', 'invalid-value', `approvals.mode ${JSON.stringify(mode)} is not one of: ${APPROVAL_MODES.join(', ')}; with approvals enabled nobody could approve`, ['approvals', 'mode'])
        : diag('warning', 'unknown-value', `approvals.mode ${JSON.stringify(mode)} is not one of: ${APPROVAL_MODES.join(', ')} (no effect while approvals are disabled)`, ['approvals', 'mode']),
    );
  }
  const level = raw.logging?.level;
  if (typeof level === 'string' && level !== '' && !(LOG_LEVELS as readonly string[]).includes(level.toLowerCase())) {
    out.push(diag('warning', 'unknown-value', `logging.level ${JSON.stringify(level)} is not one of: ${LOG_LEVELS.join(', ')}`, ['logging', 'level']));
  }
  const feeds = raw.threat_feeds?.feeds;
  if (Array.isArray(feeds)) {
    const names = new Set<string>();
    feeds.forEach((f, i) => {
      if (!isPlainObject(f)) return;
      if (typeof f.url === 'string' && !isHttpUrl(f.url)) out.push(diag('error', 'invalid-value', `${JSON.stringify(f.url)} is not an http(s) URL with a host`, ['threat_feeds', 'feeds', i, 'url']));
      if (typeof f.name !== 'string') return;
      if (names.has(f.name)) out.push(diag('error', 'duplicate-name', `threat feed name '${f.name}' is used twice`, ['threat_feeds', 'feeds', i, 'name']));
      names.add(f.name);
    });
  }
  return out;
}

function resolveConfig(
  raw: AgentshConfig,
  opts: ConfigLoadOptions,
  env: NodeJS.ProcessEnv,
  diags: Diagnostic[],
  diag: DiagFn,
  line: (path: SourcePath) => number,
  file: string,
): ResolvedConfig {
  const defaults = buildDefaults(opts.dataDir ?? '/var/lib/agentsh', opts.policiesDir ?? '/etc/agentsh/policies');
  const input = structuredClone(raw) as Record<string, unknown>;
  const nested = (input.sandbox as Record<string, unknown> | undefined)?.landlock as LandlockConfig | undefined;
  if (nested !== undefined) {
    delete (input.sandbox as Record<string, unknown>).landlock;
    diags.push(
      diag('warning', 'ignored-by-agentsh', 'agentsh has no sandbox.landlock setting and silently ignores this section, so agentsh never applies these Landlock settings; it reads top-level `landlock:`. We honour it; move it to top-level `landlock:` so that agentsh applies it too', ['sandbox', 'landlock'], true),
    );
    input.landlock = mergeLandlock(nested, raw.landlock, [], diags, diag, line);
  }
  const c = mergeDefaults(defaults, input) as ResolvedConfig;

  // agentsh's all-or-nothing rule: when no built-in pattern is on, all of them are.
  const pats = c.dlp.patterns;
  if (!PATTERN_KEYS.some((k) => pats[k])) {
    for (const k of PATTERN_KEYS) pats[k] = true;
    if (raw.dlp?.patterns && Object.keys(raw.dlp.patterns).length) {
      diags.push(diag('warning', 'agentsh-quirk', 'with every built-in DLP pattern off, agentsh turns them all back on; set dlp.mode: disabled to turn DLP off', ['dlp', 'patterns'], true));
    }
  }
  if (raw.security?.warn_degraded === false) {
    c.security.warn_degraded = true;
    diags.push(diag('warning', 'agentsh-quirk', 'agentsh cannot tell false from unset here and always turns warn_degraded on', ['security', 'warn_degraded']));
  }
  c.sandbox.fuse.mount_base_dir ||= c.sessions.base_dir;
  const sc = c.sandbox.seccomp;
  if (sc.enabled) {
    sc.unix_socket.enabled = true;
    if (!sc.syscalls.block?.length) sc.syscalls.block = [...SECCOMP_DEFAULT_BLOCK];
  }
  if (sc.execve.enabled) {
    sc.execve = { max_argc: 1000, max_argv_bytes: 65536, on_truncated: 'deny', approval_timeout: '10s', approval_timeout_action: 'deny', ...stripZero(sc.execve), enabled: true };
  }
  const net = raw.sandbox?.network;
  if (net?.intercept_mode === 'monitor') {
    diags.push(diag('warning', 'not-implemented', "intercept_mode 'monitor' (observe without enforcing) is not implemented: connections are enforced as with 'all'", ['sandbox', 'network', 'intercept_mode']));
  }
  for (const key of ['tls_inspection', 'transparent', 'rate_limits'] as const) {
    if ((net?.[key] as { enabled?: boolean } | undefined)?.enabled) {
      diags.push(diag('warning', 'not-implemented', `sandbox.network.${key} is not implemented yet and has no effect; network_rules are enforced by the session proxy`, ['sandbox', 'network', key]));
    }
  }
  applyEnvOverrides(c, env, diags, file);
  const http = parseHostPort(c.server.http.addr);
  if (http && !isLoopback(http.host) && (c.auth.type === 'none' || c.development.disable_auth)) {
    const message = `the API listens on ${c.server.http.addr} without authentication: anything that can reach this address can approve requests and change policy`;
    diags.push(env.AGENTSH_HTTP_ADDR
      ? { severity: 'warning', code: 'exposed-api', message: `${message} (AGENTSH_HTTP_ADDR)`, file, line: 0, column: 0, path: ['server', 'http', 'addr'] }
      : diag('warning', 'exposed-api', message, ['server', 'http', 'addr']));
  }
  return c;
}

// agentsh's applyEnvOverrides; values it would accept and then fail on later are errors here.
function applyEnvOverrides(c: ResolvedConfig, env: NodeJS.ProcessEnv, diags: Diagnostic[], file: string): void {
  const bad = (severity: Severity, name: string, message: string, path: SourcePath) =>
    diags.push({ severity, code: 'invalid-env', message: `${name}=${JSON.stringify(env[name])}: ${message}`, file, line: 0, column: 0, path });
  const get = (name: string) => (env[name] ? env[name] : undefined);
  const oneOf = <V extends string>(name: string, values: readonly V[], path: SourcePath, set: (v: V) => void) => {
    const v = get(name);
    if (v === undefined) return;
    if ((values as readonly string[]).includes(v)) set(v as V);
    else bad('error', name, `not one of: ${values.join(', ')}`, path);
  };
  const addr = (name: string, path: SourcePath, set: (v: string) => void) => {
    const v = get(name);
    if (v === undefined) return;
    if (parseHostPort(v)) set(v);
    else bad('error', name, 'not host:port', path);
  };
  oneOf('AGENTSH_PLATFORM_MODE', PLATFORM_MODES, ['platform', 'mode'], (v) => (c.platform.mode = v));
  addr('AGENTSH_HTTP_ADDR', ['server', 'http', 'addr'], (v) => (c.server.http.addr = v));
  addr('AGENTSH_GRPC_ADDR', ['server', 'grpc', 'addr'], (v) => (c.server.grpc.addr = v));
  const level = get('AGENTSH_LOG_LEVEL');
  if (level !== undefined) {
    c.logging.level = level;
    if (!(LOG_LEVELS as readonly string[]).includes(level.toLowerCase())) bad('warning', 'AGENTSH_LOG_LEVEL', `not one of: ${LOG_LEVELS.join(', ')}`, ['logging', 'level']);
  }
  const dataDir = get('AGENTSH_DATA_DIR');
  if (dataDir !== undefined) {
    c.sessions.base_dir = join(dataDir, 'sessions');
    c.audit.storage.sqlite_path = join(dataDir, 'events.db');
  }
  oneOf('AGENTSH_PROXY_MODE', PROXY_MODES, ['proxy', 'mode'], (v) => (c.proxy.mode = v));
  oneOf('AGENTSH_DLP_MODE', DLP_MODES, ['dlp', 'mode'], (v) => (c.dlp.mode = v));
  const port = get('AGENTSH_PROXY_PORT');
  if (port !== undefined) {
    if (!/^[+-]?\d+$/.test(port)) bad('warning', 'AGENTSH_PROXY_PORT', 'not a number; ignored (as agentsh does)', ['proxy', 'port']);
    else if (Number(port) < 0 || Number(port) > 65535) bad('error', 'AGENTSH_PROXY_PORT', 'not a port (0-65535)', ['proxy', 'port']);
    else c.proxy.port = Number(port);
  }
}

// Field by field, top-level `landlock` wins over `sandbox.landlock`; every field the two set
// differently is reported, since agentsh would use only the top-level value.
function mergeLandlock(nested: unknown, top: unknown, path: string[], diags: Diagnostic[], diag: DiagFn, line: (p: SourcePath) => number): unknown {
  if (top === undefined) return nested;
  if (isPlainObject(nested) && isPlainObject(top)) {
    const out: Record<string, unknown> = { ...nested };
    for (const [k, v] of Object.entries(top)) out[k] = mergeLandlock(nested[k], v, [...path, k], diags, diag, line);
    return out;
  }
  if (nested !== undefined && JSON.stringify(nested) !== JSON.stringify(top)) {
    const key = ['landlock', ...path].join('.');
    diags.push(diag('warning', 'landlock-conflict', `differs from ${key} (line ${line(['landlock', ...path])}); the top-level value wins`, ['sandbox', 'landlock', ...path], true));
  }
  return top;
}

// Go's zero values mean "unset" to agentsh's applyDefaults: "" and 0 take the default too.
function mergeDefaults(def: unknown, val: unknown): unknown {
  if (val === undefined || val === '' || val === 0) return def === undefined ? val : structuredClone(def);
  if (isPlainObject(def) && isPlainObject(val)) {
    const out: Record<string, unknown> = { ...val };
    for (const [k, d] of Object.entries(def)) {
      const m = mergeDefaults(d, val[k]);
      if (m !== undefined) out[k] = m;
    }
    return out;
  }
  return val;
}

function stripZero<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== '' && v !== 0)) as Partial<T>;
}

// A key with nothing after it (`seccomp:` with its children commented out) is null in YAML
// and a zero value in Go; treat it as absent rather than as a type error.
function dropNulls(v: unknown): void {
  if (Array.isArray(v)) v.forEach(dropNulls);
  else if (isPlainObject(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (x === null) delete v[k];
      else dropNulls(x);
    }
  }
}

// Go's YAML decoder puts any scalar into a string field as written (`port: 0660` → "0660",
// `FOO: 1` in env_inject → "1"); do the same from the scalar's source text.
function coerceScalars(schema: TSchema, v: unknown, path: SourcePath, src: YamlSource): void {
  if (Array.isArray(v)) {
    if (schema.items) v.forEach((_, i) => coerceAt(schema.items as TSchema, v as unknown as Record<number, unknown>, i, [...path, i], src));
  } else if (isPlainObject(v)) {
    const props = (schema.properties ?? {}) as Record<string, TSchema>;
    const rest = Object.values((schema.patternProperties ?? {}) as Record<string, TSchema>)[0];
    for (const k of Object.keys(v)) {
      const s = props[k] ?? rest;
      if (s) coerceAt(s, v, k, [...path, k], src);
    }
  }
}

function coerceAt(schema: TSchema, parent: Record<string | number, unknown>, key: string | number, path: SourcePath, src: YamlSource): void {
  const v = parent[key];
  const wantsString = schema.type === 'string' || (schema.anyOf as TSchema[] | undefined)?.some((s) => s.type === 'string');
  if (wantsString && (typeof v === 'number' || typeof v === 'boolean')) {
    const node = src.doc.getIn(path, true);
    parent[key] = isScalar(node) && typeof (node as Scalar).source === 'string' ? (node as Scalar).source : String(v);
  } else coerceScalars(schema, v, path, src);
}

/** host:port as Go's net.SplitHostPort accepts it, with a numeric port. */
export function parseHostPort(s: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(s);
  if (!m || Number(m[3]) > 65535) return null;
  return { host: m[1] ?? m[2] ?? '', port: Number(m[3]) };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.host !== '';
  } catch {
    return false;
  }
}

function valueAt(v: unknown, path: SourcePath): unknown {
  for (const seg of path) v = isPlainObject(v) || Array.isArray(v) ? (v as Record<string | number, unknown>)[seg] : undefined;
  return v;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sortDiags(d: Diagnostic[]): Diagnostic[] {
  return [...d].sort((a, b) => a.line - b.line || a.column - b.column);
}

/**
 * agentsh's config discovery: $AGENTSH_CONFIG; ./config.yml, ./config.yaml; the user config
 * dir ($XDG_CONFIG_HOME/agentsh or ~/.config/agentsh) config.yaml, config.yml; the system dir
 * config.yaml, config.yml. AGENTSH_CONFIG is returned even if missing, so that a typo fails
 * loudly instead of silently falling back to another file.
 */
export function findConfigFile(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd(), systemDir = '/etc/agentsh'): string | null {
  if (env.AGENTSH_CONFIG) return resolvePath(cwd, env.AGENTSH_CONFIG);
  const xdg = env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config');
  const userDir = join(xdg, 'agentsh');
  const candidates = [
    join(cwd, 'config.yml'), join(cwd, 'config.yaml'),
    join(userDir, 'config.yaml'), join(userDir, 'config.yml'),
    join(systemDir, 'config.yaml'), join(systemDir, 'config.yml'),
  ];
  return candidates.find(isFile) ?? null;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}
