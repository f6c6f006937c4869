// The agentsh policy document (v0.18 format) as a TypeBox schema: one definition gives the
// validator (Ajv), the TypeScript types and the exported JSON Schema for editors.
import { Type as T, type Static } from '@sinclair/typebox';
import { StringEnum, strictObject } from '../util/schema.js';

export const DECISIONS = ['allow', 'deny', 'approve', 'soft_delete', 'redirect', 'audit'] as const;
export type Decision = (typeof DECISIONS)[number];

export const FILE_OPERATIONS = [
  'read', 'open', 'stat', 'list', 'readlink', 'write', 'create', 'mkdir', 'chmod', 'chown',
  'rename', 'delete', 'rmdir', 'link', 'symlink', 'access', 'mknod', '*',
] as const;
export type FileOperation = (typeof FILE_OPERATIONS)[number];

const Str = (description?: string) => T.String(description ? { description } : {});
const StrList = (description: string) => T.Array(T.String(), { description });
const Duration = (description: string) => T.String({ format: 'duration', description });
const Decision = StringEnum(DECISIONS, 'What happens when the rule matches');

/** Fields every rule kind shares. */
const ruleBase = {
  name: Str('Rule name, reported in decisions and audit events'),
  description: T.Optional(Str('What the rule is for')),
  decision: Decision,
  message: T.Optional(Str('Message shown on match; templates: {{.Path}} {{.Args}} {{.Command}} {{.RemoteAddr}}')),
  timeout: T.Optional(Duration('How long an approve decision waits for a human')),
};


export const FileRule = strictObject({
  ...ruleBase,
  paths: StrList('Path globs (**, *, ?, [..]) with ${VAR} and ${VAR:-default} expansion'),
  operations: T.Array(StringEnum(FILE_OPERATIONS), { description: 'File operations the rule covers (empty or * = all)' }),
  redirect_to: T.Optional(Str('Target directory for a redirect decision')),
  preserve_tree: T.Optional(T.Boolean({ description: 'Keep the original path below redirect_to (else only the basename)' })),
});

const DepthContext = strictObject({
  min_depth: T.Optional(T.Integer({ minimum: 0 })),
  max_depth: T.Optional(T.Integer({ minimum: 0 })),
});

export const CommandRule = strictObject({
  ...ruleBase,
  commands: StrList('Command names (match the basename), paths (contain /, match exactly) or globs'),
  args_patterns: T.Optional(StrList('RE2 regexes over the arguments joined by spaces; any match selects the rule')),
  context: T.Optional(
    T.Union([T.Array(StringEnum(['direct', 'nested'])), DepthContext], {
      description: '[direct], [nested], or {min_depth, max_depth}',
    }),
  ),
  redirect_to: T.Optional(
    strictObject(
      {
        command: Str('Command run instead'),
        args: T.Optional(StrList('Arguments put before the original ones')),
        args_append: T.Optional(StrList('Arguments put after the original ones')),
        environment: T.Optional(T.Record(T.String(), T.String())),
      },
      'Command to run instead, for a redirect decision',
    ),
  ),
  env_allow: T.Optional(StrList('Replaces env_policy.allow for this command')),
  env_deny: T.Optional(StrList('Replaces env_policy.deny for this command')),
  env_max_bytes: T.Optional(T.Integer({ minimum: 0 })),
  env_max_keys: T.Optional(T.Integer({ minimum: 0 })),
  env_block_iteration: T.Optional(T.Boolean()),
});

export const NetworkRule = strictObject({
  ...ruleBase,
  domains: T.Optional(StrList('Domain globs, case-insensitive (*.example.com)')),
  cidrs: T.Optional(StrList('IPv4/IPv6 CIDR blocks')),
  ports: T.Optional(T.Array(T.Integer({ minimum: 0, maximum: 65535 }), { description: 'Destination ports' })),
});

export const SIGNAL_DECISIONS = [...DECISIONS, 'absorb'] as const;

export const SignalRule = strictObject({
  ...ruleBase,
  decision: StringEnum(SIGNAL_DECISIONS, 'What happens when the rule matches'),
  signals: StrList('Signal names (SIGKILL), numbers (9) or groups (@fatal @job @reload @ignore @all)'),
  target: T.Optional(
    strictObject({
      type: Str('self, children, descendants, siblings, session, parent, external, system, user, process, pid_range'),
      pattern: T.Optional(Str()),
      min: T.Optional(T.Integer()),
      max: T.Optional(T.Integer()),
    }),
  ),
  fallback: T.Optional(Str('Decision used where the platform cannot block the signal')),
  redirect_to: T.Optional(Str('Signal sent instead, for a redirect decision')),
});

export const UnixSocketRule = strictObject({
  ...ruleBase,
  paths: StrList('Socket path globs (abstract sockets start with @)'),
  operations: T.Optional(StrList('connect, bind, listen, sendto (empty = all)')),
});

export const EnvPolicy = strictObject({
  allow: T.Optional(StrList('Variables passed to commands (globs); empty = all but the built-in secret list')),
  deny: T.Optional(StrList('Variables never passed (globs); deny wins over allow')),
  max_bytes: T.Optional(T.Integer({ minimum: 0, description: 'Largest total size of the environment' })),
  max_keys: T.Optional(T.Integer({ minimum: 0, description: 'Largest number of variables' })),
  block_iteration: T.Optional(T.Boolean({ description: 'Block enumerating the environment (env, printenv, export -p)' })),
});

export const ResourceLimits = strictObject({
  max_memory_mb: T.Optional(T.Integer({ minimum: 0 })),
  memory_swap_max_mb: T.Optional(T.Integer({ minimum: 0 })),
  cpu_quota_percent: T.Optional(T.Integer({ minimum: 0 })),
  pids_max: T.Optional(T.Integer({ minimum: 0 })),
  disk_read_bps_max: T.Optional(T.Integer({ minimum: 0 })),
  disk_write_bps_max: T.Optional(T.Integer({ minimum: 0 })),
  net_bandwidth_mbps: T.Optional(T.Integer({ minimum: 0 })),
  command_timeout: T.Optional(Duration('Per-command timeout')),
  session_timeout: T.Optional(Duration('Session lifetime')),
  idle_timeout: T.Optional(Duration('Idle session timeout')),
});

export const PolicyAudit = strictObject({
  log_allowed: T.Optional(T.Boolean()),
  log_denied: T.Optional(T.Boolean()),
  log_approved: T.Optional(T.Boolean()),
  include_stdout: T.Optional(T.Boolean()),
  include_stderr: T.Optional(T.Boolean()),
  include_file_content: T.Optional(T.Boolean()),
  retention_days: T.Optional(T.Integer({ minimum: 0 })),
});

export const DnsRedirect = strictObject({
  name: Str(),
  match: Str('Regex over the queried name'),
  resolve_to: Str('Address returned instead'),
  visibility: T.Optional(Str()),
  on_failure: T.Optional(Str()),
});

export const ConnectRedirect = strictObject({
  name: Str(),
  match: Str('Regex over host:port'),
  redirect_to: T.Optional(Str('host:port to connect to instead')),
  redirect_to_unix: T.Optional(Str('Unix socket to connect to instead')),
  tls: T.Optional(strictObject({ mode: T.Optional(Str('passthrough or rewrite_sni')), sni: T.Optional(Str()) })),
  visibility: T.Optional(Str()),
  message: T.Optional(Str()),
  on_failure: T.Optional(Str()),
});

export const HttpService = T.Object(
  {
    name: Str(),
    upstream: Str('Upstream base URL'),
  },
  { additionalProperties: true, description: 'Declared HTTP service routed under /svc (fields beyond name/upstream are passed through)' },
);

export const PolicySchema = strictObject(
  {
    version: T.Integer({ minimum: 1, maximum: 1, description: 'Policy format version (1)' }),
    name: Str('Policy name'),
    description: T.Optional(Str()),
    file_rules: T.Optional(T.Array(FileRule)),
    network_rules: T.Optional(T.Array(NetworkRule)),
    command_rules: T.Optional(T.Array(CommandRule)),
    signal_rules: T.Optional(T.Array(SignalRule)),
    unix_socket_rules: T.Optional(T.Array(UnixSocketRule)),
    env_policy: T.Optional(EnvPolicy),
    resource_limits: T.Optional(ResourceLimits),
    audit: T.Optional(PolicyAudit),
    env_inject: T.Optional(T.Record(T.String(), T.String(), { description: 'Variables injected into every command (bypass env_policy)' })),
    dns_redirects: T.Optional(T.Array(DnsRedirect)),
    connect_redirects: T.Optional(T.Array(ConnectRedirect)),
    http_services: T.Optional(T.Array(HttpService)),
    // Accepted so agentsh policies load, but not enforced by this implementation yet; the
    // loader warns when they are present (see UNSUPPORTED_POLICY_KEYS).
    registry_rules: T.Optional(T.Array(T.Unknown())),
    mcp_rules: T.Optional(T.Unknown()),
    process_contexts: T.Optional(T.Unknown()),
    process_identities: T.Optional(T.Unknown()),
    package_rules: T.Optional(T.Array(T.Unknown())),
    transparent_commands: T.Optional(T.Unknown()),
    providers: T.Optional(T.Unknown()),
  },
  'agentsh policy (v0.18 format)',
);

export const UNSUPPORTED_POLICY_KEYS = [
  'registry_rules', 'mcp_rules', 'process_contexts', 'process_identities', 'package_rules', 'transparent_commands', 'providers',
] as const;

export type PolicyDoc = Static<typeof PolicySchema>;
export type FileRuleDoc = Static<typeof FileRule>;
export type CommandRuleDoc = Static<typeof CommandRule>;
export type NetworkRuleDoc = Static<typeof NetworkRule>;
export type EnvPolicyDoc = Static<typeof EnvPolicy>;
export type SignalRuleDoc = Static<typeof SignalRule>;
export type UnixSocketRuleDoc = Static<typeof UnixSocketRule>;
