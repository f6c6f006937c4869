// agentsh's server config.yaml (internal/config/config.go, v0.18) as a TypeBox schema: the
// validator, the TypeScript type and the editor JSON Schema come from this one definition.
// Every section agentsh reads is listed so that none is reported as unknown; sections that
// are deep and not used yet (OIDC, OTEL, eBPF, XPC, MCP, ptrace …) are loose mappings.
// agentsh's own loader is non-strict (unknown keys silently ignored); ours reports them.
import { Type as T, type Static, type TSchema } from '@sinclair/typebox';
import { EnvPolicy } from '../policy/schema.js';
import { StringEnum, strictObject } from '../util/schema.js';


/** A section we accept as any mapping: agentsh has it, we do not interpret it yet. */
const Loose = (description: string) => T.Record(T.String(), T.Unknown(), { description });

const Opt = <S extends TSchema>(s: S) => T.Optional(s);
const Str = (description?: string) => Opt(T.String(description ? { description } : {}));
const Bool = (description?: string) => Opt(T.Boolean(description ? { description } : {}));
const Int = (description?: string, min = 0) => Opt(T.Integer({ minimum: min, ...(description ? { description } : {}) }));
const Port = (description: string) => Opt(T.Integer({ minimum: 0, maximum: 65535, description }));
const StrList = (description: string) => Opt(T.Array(T.String(), { description }));
const Duration = (description: string) => Opt(T.String({ format: 'duration', description }));
const Size = (description: string) => Opt(T.String({ format: 'byte-size', description }));
const EnumT = StringEnum;
const Enum = <const V extends string>(values: readonly V[], description: string) => Opt(StringEnum(values, description));
/** Values agentsh documents but does not enforce: editors complete them, the loader only warns. */
const SoftEnum = (values: readonly string[], description: string) =>
  Opt(T.Union([T.Unsafe<string>({ type: 'string', enum: [...values] }), T.String()], { description }));
const Section = <P extends Record<string, TSchema>>(props: P, description: string) => Opt(strictObject(props, description));

export const APPROVAL_MODES = ['local_tty', 'api', 'totp', 'webauthn'] as const;
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
/** redact (agentsh), disabled (agentsh), block and audit (agentsh extensions, src/dlp/README.md). */
export const DLP_MODES = ['redact', 'block', 'audit', 'disabled'] as const;
export const PROXY_MODES = ['embedded', 'disabled', 'mcp-only'] as const;
export const PLATFORM_MODES = ['auto', 'linux', 'darwin', 'darwin-lima', 'windows', 'windows-wsl2'] as const;
export const SECURITY_MODES = ['auto', 'full', 'ptrace', 'landlock', 'landlock-only', 'minimal'] as const;

const Rotation = Section(
  {
    max_size_mb: Int('Rotate when the file reaches this size (MB)'),
    max_age_days: Int('Delete rotated files older than this'),
    max_backups: Int('Rotated files kept'),
    compress: Bool('Gzip rotated files'),
  },
  'Log file rotation',
);

export const LandlockSchema = strictObject(
  {
    enabled: Bool('Apply a Landlock ruleset to session processes (kernel 5.13+)'),
    allow_execute: StrList('Directories from which binaries may be executed'),
    allow_read: StrList('Directories that may be read'),
    allow_write: StrList('Directories that may be written'),
    deny_paths: StrList('Paths denied by omission from the ruleset'),
    network: Section(
      {
        allow_connect_tcp: Bool('Allow outbound TCP connections (kernel 6.7+)'),
        allow_bind_tcp: Bool('Allow binding TCP ports'),
        bind_ports: Opt(T.Array(T.Integer({ minimum: 0, maximum: 65535 }), { description: 'Ports that may be bound when allow_bind_tcp is set' })),
      },
      'Landlock TCP restrictions',
    ),
  },
  'Landlock filesystem/exec/TCP enforcement',
);

const CustomPattern = strictObject(
  {
    name: T.String({ minLength: 1, description: 'Pattern name, used in audit events' }),
    display: Str('Label shown in redacted output, e.g. [REDACTED:OPENAI_KEY]'),
    regex: T.String({ minLength: 1, description: 'RE2 regular expression (Go syntax)' }),
  },
  'Custom DLP pattern',
);

const ThreatFeed = strictObject({
  name: T.String({ pattern: '^[A-Za-z0-9._-]+$', description: 'Feed name ([A-Za-z0-9._-]+, unique)' }),
  url: T.String({ minLength: 1, description: 'http(s) URL of the feed' }),
  format: EnumT(['hostfile', 'domain-list'], 'Feed file format'),
});

const Sandbox = Section(
  {
    enabled: Bool('Run commands in the session sandbox'),
    allow_degraded: Bool('Run with reduced isolation when a mechanism is unavailable'),
    limits: Section(
      {
        max_memory_mb: Int('Memory limit per session (MB)'),
        max_cpu_percent: Int('CPU limit (percent of one core)'),
        max_processes: Int('Process limit'),
        max_disk_io_mbps: Int('Disk I/O limit (MB/s)'),
        max_network_mbps: Int('Network bandwidth limit (Mbit/s)'),
      },
      'Resource limits for sandboxed processes',
    ),
    fuse: Section(
      {
        enabled: Bool('Mount the workspace through the FUSE interception layer'),
        deferred: Bool('Mount lazily, once /dev/fuse becomes usable'),
        mount_base_dir: Str('Base directory for FUSE mounts (default: sessions.base_dir)'),
        deferred_marker_file: Str('The enable command runs only when this file exists'),
        deferred_enable_command: StrList('Command that makes /dev/fuse usable in deferred mode'),
        max_background: Int('Kernel FUSE async request queue depth'),
        audit: Section(
          {
            enabled: Bool('Audit file operations (default true)'),
            mode: Enum(['monitor', 'soft_block', 'soft_delete', 'strict'], 'What FUSE does with audited operations'),
            trash_path: Str('Where soft-deleted files go'),
            ttl: Opt(T.String({ pattern: '^(\\d+(\\.\\d+)?(ns|us|µs|ms|s|m|h|d))+$', description: 'How long trash is kept (Go duration, or days: 7d)' })),
            quota: Size('Trash size limit'),
            strict_on_audit_failure: Bool('Deny operations whose audit event cannot be written'),
            max_event_queue: Int('Audit event queue length'),
            hash_small_files_under: Size('Hash deleted files smaller than this'),
          },
          'FUSE audit and soft delete',
        ),
      },
      'FUSE filesystem interception',
    ),
    network: Section(
      {
        enabled: Bool('Route session traffic through the network proxy'),
        proxy_port: Port('Proxy port'),
        dns_port: Port('DNS interception port'),
        intercept_mode: Enum(['all', 'tcp_only', 'monitor'], 'What traffic is intercepted'),
        proxy_listen_addr: Str('host:port the session proxy listens on (port 0 = any)'),
        deny_status: Opt(T.Integer({ minimum: 400, maximum: 599, description: 'HTTP status of a request the proxy refuses (agentsh extension; default 403)' })),
        allow_host_loopback: Bool('Let names resolve to the agentsh host\'s own loopback through the proxy (agentsh extension; default false: the sandbox\'s loopback is its own)'),
        upstream_dns: StrList('DNS servers (ip or ip:port) the proxy and DNS stub resolve with (agentsh extension; default: the system resolver)'),
        tls_inspection: Section({ enabled: Bool(), ca_cert: Str('CA certificate file'), ca_key: Str('CA key file') }, 'TLS interception'),
        transparent: Section({ enabled: Bool(), subnet_base: Str('Subnet for transparent mode (CIDR)') }, 'Transparent proxying'),
        ebpf: Opt(Loose('eBPF connection tracing and enforcement')),
        rate_limits: Section(
          {
            enabled: Bool(),
            global_rpm: Int('Requests per minute, all domains'),
            global_burst: Int(),
            per_domain: Opt(T.Record(T.String(), strictObject({ requests_per_minute: Int(), burst: Int() }), { description: 'Per-domain limits' })),
          },
          'Network rate limits',
        ),
      },
      'Network interception',
    ),
    cgroups: Section(
      {
        enabled: Bool('Put each command in its own cgroup'),
        base_path: Str('cgroupfs directory for per-command cgroups'),
        best_effort: Bool('Run without a limit the kernel refuses instead of failing'),
      },
      'cgroups v2 limits',
    ),
    unix_sockets: Section({ enabled: Bool('Wrap commands to filter Unix sockets (default true)'), wrapper_bin: Str('Wrapper binary') }, 'Unix socket filtering'),
    seccomp: Section(
      {
        enabled: Bool('Install a seccomp filter in session processes'),
        mode: Enum(['enforce', 'audit', 'disabled'], 'Seccomp mode'),
        unix_socket: Section({ enabled: Bool(), action: Enum(['enforce', 'audit'], 'What happens to denied socket operations') }, 'Unix socket monitoring'),
        syscalls: Section(
          {
            default_action: Enum(['allow', 'block'], 'Action for syscalls not listed'),
            block: StrList('Syscalls blocked (default list when seccomp is enabled and this is empty)'),
            allow: StrList('Syscalls allowed'),
            on_block: Enum(['errno', 'kill', 'log', 'log_and_kill'], 'What a blocked syscall does'),
          },
          'Syscall deny list',
        ),
        execve: Section(
          {
            enabled: Bool('Check every execve against the policy (seccomp user-notify)'),
            max_argc: Int('Largest argv inspected'),
            max_argv_bytes: Int('Largest argv size inspected'),
            on_truncated: Enum(['deny', 'allow', 'approval'], 'Decision when argv exceeds the limits'),
            approval_timeout: Duration('How long an execve waits for approval'),
            approval_timeout_action: Enum(['deny', 'allow'], 'Decision when approval times out'),
            internal_bypass: StrList('Binaries exempt from interception'),
          },
          'execve interception',
        ),
        file_monitor: Section(
          {
            enabled: Bool(),
            enforce_without_fuse: Bool('Enforce file rules via seccomp where FUSE does not cover'),
            intercept_metadata: Bool('Also intercept stat/access'),
            write_only_opens: Bool(),
            openat_emulation: Bool(),
            block_io_uring: Bool(),
          },
          'File I/O interception via seccomp',
        ),
        shellc: Section({ opaque: Enum(['enforce', 'allow', 'deny'], 'What happens to sh -c scripts that cannot be analysed') }, 'Shell -c handling'),
        blocked_socket_families: Opt(T.Array(T.Unknown(), { description: 'AF_* families whose sockets are blocked' })),
        socket_rules: Opt(T.Array(T.Unknown(), { description: 'Socket creation rules' })),
        mitigation_sets: StrList('Named mitigation sets'),
        mitigation_dirs: StrList('Directories of mitigation sets'),
        wait_killable: Bool('Force SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV on or off'),
      },
      'seccomp-bpf filtering',
    ),
    xpc: Opt(Loose('macOS XPC/Mach IPC control')),
    mcp: Opt(Loose('MCP server/tool policy')),
    ptrace: Opt(Loose('ptrace-based interception')),
    env_inject: Opt(T.Record(T.String(), T.String(), { description: 'Variables injected into every command (operator-trusted, bypass env_policy)' })),
    wrap_env_policy: Section({ enabled: Bool() }, 'Apply env_policy on the shell-shim path'),
    landlock: Section(
      LandlockSchema.properties,
      'NOT an agentsh setting: agentsh silently ignores sandbox.landlock and reads top-level landlock. ' +
        'Accepted here (with a warning) and honoured; top-level landlock wins where both set a field.',
    ),
  },
  'Session sandbox',
);

export const ConfigSchema = strictObject(
  {
    platform: Section(
      {
        mode: Enum(PLATFORM_MODES, 'Platform backend'),
        fallback: Section({ enabled: Bool(), order: StrList('Fallback platforms, in order') }, 'Fallback when the mode is unavailable'),
        mount_points: Section({ linux: Str(), darwin: Str(), windows: Str(), windows_wsl2: Str() }, 'Workspace mount point per platform'),
      },
      'Platform selection',
    ),
    server: Section(
      {
        http: Section(
          {
            addr: Str('host:port of the HTTP API (agentsh default 0.0.0.0:18080; ours 127.0.0.1:18080)'),
            read_timeout: Duration('HTTP read timeout'),
            write_timeout: Duration('HTTP write timeout'),
            max_request_size: Size('Largest request body'),
          },
          'HTTP API',
        ),
        grpc: Section({ enabled: Bool(), addr: Str('host:port of the gRPC API') }, 'gRPC API'),
        unix_socket: Section(
          { enabled: Bool(), path: Str('Socket path'), permissions: Opt(T.String({ pattern: '^0?[0-7]{3,4}$', description: 'Octal mode, quoted, e.g. "0660"' })) },
          'API on a Unix socket',
        ),
        tls: Section({ enabled: Bool(), cert_file: Str(), key_file: Str(), ca_file: Str() }, 'TLS for the API'),
        shim: Section(
          {
            run_dir: Str('Directory of the server\'s sockets, pid file and API token (default $AGENTSH_RUN_DIR or /run/agentsh)'),
            users: StrList("Users (names or uids) whose shim calls this server governs; each gets its own owner-only socket. Default: the server's own user"),
          },
          'Shell shim sockets (agentsh-ts addition)',
        ),
      },
      'API server',
    ),
    auth: Section(
      {
        type: Enum(['none', 'api_key', 'oidc', 'hybrid'], 'API authentication'),
        api_key: Section({ keys_file: Str('File of accepted keys'), header_name: Str('Header carrying the key') }, 'API key authentication'),
        oidc: Opt(Loose('OpenID Connect authentication')),
      },
      'API authentication',
    ),
    logging: Section(
      {
        level: SoftEnum(LOG_LEVELS, 'Log level'),
        format: Str('Log format (json, text)'),
        output: Str('stderr, stdout or a file path'),
        rotation: Rotation,
      },
      'Server logging',
    ),
    audit: Section(
      {
        enabled: Bool('Record audit events'),
        output: Str('Audit log file'),
        rotation: Rotation,
        storage: Section(
          {
            enabled: Bool('Keep events in SQLite (default true)'),
            sqlite_path: Str('SQLite database (default <data dir>/events.db)'),
            batch_size: Int(),
            flush_interval: Duration('Longest wait before a batch is written'),
            channel_size: Int(),
          },
          'Local event store',
        ),
        webhook: Section(
          {
            url: Str('Endpoint events are POSTed to'),
            batch_size: Int(),
            flush_interval: Duration('Longest wait before a batch is sent'),
            timeout: Duration('Request timeout'),
            headers: Opt(T.Record(T.String(), T.String())),
          },
          'Ship events to a webhook',
        ),
        integrity: Section(
          {
            enabled: Bool('HMAC-chain every event (tamper evidence)'),
            algorithm: Enum(['hmac-sha256', 'hmac-sha512'], 'Chain MAC'),
            key_source: Enum(['file', 'env', 'aws_kms', 'azure_keyvault', 'hashicorp_vault', 'gcp_kms'], 'Where the key comes from'),
            key_file: Str('Key file (key_source: file)'),
            key_env: Str('Variable holding the key (key_source: env)'),
            aws_kms: Section({ key_id: Str(), region: Str(), encrypted_dek_file: Str() }, 'AWS KMS'),
            azure_keyvault: Section({ vault_url: Str(), key_name: Str(), key_version: Str() }, 'Azure Key Vault'),
            hashicorp_vault: Section(
              {
                address: Str(),
                auth_method: Enum(['token', 'kubernetes', 'approle'], 'Vault auth method'),
                token_file: Str(),
                kubernetes_role: Str(),
                approle_id: Str(),
                secret_id: Str(),
                secret_path: Str(),
                key_field: Str(),
              },
              'HashiCorp Vault',
            ),
            gcp_kms: Section({ key_name: Str(), encrypted_dek_file: Str() }, 'GCP Cloud KMS'),
          },
          'Tamper-evident audit log',
        ),
        encryption: Section(
          { enabled: Bool(), key_source: Enum(['file', 'env'], 'Where the key comes from'), key_file: Str(), key_env: Str() },
          'Encryption at rest (AES-256-GCM)',
        ),
        otel: Opt(Loose('OpenTelemetry export')),
        watchtower: Opt(Loose('Watchtower sink (newer agentsh)')),
      },
      'Audit log',
    ),
    sessions: Section(
      {
        base_dir: Str('Session state directory (default <data dir>/sessions)'),
        max_sessions: Int('Concurrent sessions (0 = default 100)'),
        default_timeout: Duration('Session lifetime cap'),
        default_idle_timeout: Duration('Idle session cap'),
        cleanup_interval: Duration('How often expired sessions are reaped'),
        real_paths: Bool('Mount the workspace at its host path'),
        checkpoints: Section(
          {
            enabled: Bool(),
            storage_dir: Str(),
            max_per_session: Int(),
            max_size_mb: Int(),
            auto_checkpoint: Section({ enabled: Bool(), triggers: StrList('Commands that trigger a checkpoint') }, 'Checkpoint before risky commands'),
            retention: Section({ max_age: Duration('Checkpoint lifetime'), cleanup_interval: Duration('Cleanup period') }, 'Checkpoint cleanup'),
          },
          'Workspace checkpoints',
        ),
      },
      'Sessions',
    ),
    sandbox: Sandbox,
    policies: Section(
      {
        dir: Str('Directory of policy files'),
        default: Str('Policy used when a session names none'),
        allowed: StrList('Policies a session may select'),
        manifest_path: Str(),
        env_policy: Opt(EnvPolicy),
        env_shim_path: Str(),
        reload_interval: Duration('Policy reload period'),
        detect_project_root: Bool('Derive ${PROJECT_ROOT} from project markers (default true)'),
        project_markers: StrList('Files that mark a project root'),
        signing: Opt(Loose('Policy signature checks (newer agentsh)')),
      },
      'Policy loading',
    ),
    mount_profiles: Opt(
      T.Record(
        T.String(),
        strictObject({
          base_policy: Str(),
          mounts: Opt(T.Array(strictObject({ path: T.String(), policy: T.String() }))),
        }),
        { description: 'Named sets of mounts with their policies' },
      ),
    ),
    approvals: Section(
      {
        enabled: Bool('Hold approve decisions for a human'),
        mode: SoftEnum(APPROVAL_MODES, 'How a human approves'),
        timeout: Duration('How long an approval waits'),
        webauthn: Section(
          {
            rp_id: Str(),
            rp_name: Str(),
            rp_origins: StrList('Allowed origins'),
            user_verification: Enum(['preferred', 'required', 'discouraged'], 'WebAuthn user verification'),
          },
          'WebAuthn approver',
        ),
        when_unavailable: Enum(
          ['deny', 'allow'],
          'Our addition, not in agentsh: what an approve decision becomes when approvals are disabled. ' +
            'agentsh silently allows; the default here is deny, and allow restores agentsh behaviour.',
        ),
      },
      'Human approvals',
    ),
    metrics: Section({ enabled: Bool(), path: Str('Prometheus endpoint path') }, 'Metrics'),
    health: Section({ path: Str('Liveness path'), readiness_path: Str('Readiness path') }, 'Health checks'),
    development: Section(
      {
        debug: Bool(),
        disable_auth: Bool('Turn API authentication off'),
        disable_policy: Bool('Turn policy enforcement off'),
        pprof: Section({ enabled: Bool(), addr: Str('host:port') }, 'Go pprof endpoint'),
      },
      'Development switches',
    ),
    proxy: Section(
      {
        mode: Enum(PROXY_MODES, 'LLM proxy mode'),
        port: Port('LLM proxy port (0 = any free port)'),
        providers: Section({ anthropic: Str('Anthropic upstream'), openai: Str('OpenAI upstream') }, 'Upstream LLM APIs'),
        credentials: Section(
          {
            anthropic: Section({ api_key_env: Str('Variable of the agentsh server holding the real Anthropic key') }, 'Anthropic key held by agentsh'),
            openai: Section({ api_key_env: Str('Variable of the agentsh server holding the real OpenAI key') }, 'OpenAI key held by agentsh'),
          },
          'Provider keys held by agentsh (agentsh extension): sandboxes get a placeholder key that the LLM proxy swaps for the real one; requests with any other key are refused',
        ),
        rate_limits: Section(
          {
            requests_per_minute: Int('Requests per session in any 60 s window (0 or unset: no limit)'),
            tokens_per_minute: Int('Tokens (input + output, from recorded usage) per session in any 60 s window (0 or unset: no limit)'),
          },
          'Per-session limits of the LLM proxy (agentsh extension); over them: 429 with retry-after',
        ),
      },
      'Embedded LLM proxy',
    ),
    dlp: Section(
      {
        mode: Enum(
          DLP_MODES,
          'DLP mode: redact (replace findings with [REDACTED:LABEL]); block (agentsh extension: the LLM proxy refuses requests with findings, command output is redacted and reported); audit (agentsh extension: report findings, change nothing); disabled',
        ),
        patterns: Section(
          {
            email: Bool('E-mail addresses'),
            phone: Bool('Phone numbers'),
            credit_card: Bool('Payment card numbers (Luhn-valid) and IBANs (mod-97-valid)'),
            ssn: Bool('US Social Security numbers (valid ranges)'),
            api_keys: Bool('Every credential detector: cloud/API keys and tokens, private keys, JWTs, passwords in URLs and assignments'),
          },
          'Built-in detectors (agentsh turns all on when none is on)',
        ),
        custom_patterns: Opt(T.Array(CustomPattern, { description: 'Organisation-specific patterns' })),
        allowlist: Opt(
          T.Array(T.String({ minLength: 1 }), {
            description: 'agentsh extension: values never redacted — an exact string, or re:REGEX (RE2, must match the whole value)',
          }),
        ),
        disabled_detectors: Opt(
          T.Array(T.String({ minLength: 1 }), { description: 'agentsh extension: built-in detectors to turn off, by name (e.g. phone, generic_secret)' }),
        ),
      },
      'Data loss prevention',
    ),
    llm_storage: Section(
      {
        store_bodies: Bool('Store full LLM request/response bodies'),
        retention: Section(
          { max_age_days: Int(), max_size_mb: Int(), eviction: Enum(['oldest_first', 'largest_first'], 'What goes first') },
          'LLM log retention',
        ),
      },
      'LLM request storage',
    ),
    security: Section(
      {
        mode: Enum(SECURITY_MODES, 'Isolation mode'),
        strict: Bool('Fail when the mode cannot be met'),
        minimum_mode: Enum(['full', 'ptrace', 'landlock', 'landlock-only', 'minimal'], 'Refuse to run below this mode'),
        warn_degraded: Bool('Warn in degraded mode (agentsh forces this on)'),
      },
      'Security mode',
    ),
    landlock: Opt(LandlockSchema),
    capabilities: Section({ allow: StrList('Capabilities kept (empty = drop all)') }, 'Linux capabilities'),
    threat_feeds: Section(
      {
        enabled: Bool(),
        action: Enum(['deny', 'audit'], 'What a listed domain gets'),
        feeds: Opt(T.Array(ThreatFeed)),
        local_lists: StrList('Local block-list files'),
        allowlist: StrList('Domains never blocked'),
        sync_interval: Duration('Feed refresh period'),
        cache_dir: Str(),
        realtime: Section(
          {
            provider: Str(),
            api_key: Str(),
            timeout: Duration('Lookup timeout'),
            cache_ttl: Duration('Lookup cache lifetime'),
            on_timeout: Enum(['local-only', 'allow', 'deny'], 'Decision when a lookup times out'),
          },
          'Real-time lookups',
        ),
      },
      'Threat intelligence feeds',
    ),
    // Sections of newer agentsh versions: accepted so they are not reported unknown.
    tor: Opt(Loose('Tor handling (newer agentsh)')),
    package_checks: Opt(Loose('Package install checks (newer agentsh)')),
    skillcheck: Opt(Loose('Agent skill checks (newer agentsh)')),
    policy_socket: Opt(Loose('macOS policy socket (newer agentsh)')),
    secrets: Opt(Loose('Secret providers (newer agentsh)')),
  },
  'agentsh server configuration (config.yaml, v0.18)',
);

export type AgentshConfig = Static<typeof ConfigSchema>;
export type LandlockConfig = Static<typeof LandlockSchema>;
