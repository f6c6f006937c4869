// The seed's security demo (its example.py: seven groups, 30+ commands), asserted. Each
// check runs one command the way Daytona's toolbox runs it (`/bin/bash -c …` as the sandbox
// user, through the shell shim) and then looks at what happened — the output, the file
// observed from outside the sandbox's shell, the process — not just at an exit code; and,
// where the policy decides, that the audit log names the rule that did.
//
// Provider-neutral: side effects are observed through DemoProbe (the local provider looks
// at the sandbox's files from the host; Daytona's through its toolbox file API).
import type { ExecResult } from '../provider/types.js';

export type Group = 'diagnostics' | 'blocked commands' | 'file access' | 'network' | 'multi-context' | 'file protection' | 'soft delete' | 'DLP';
export const GROUPS: readonly Group[] = ['diagnostics', 'blocked commands', 'file access', 'network', 'multi-context', 'file protection', 'soft delete', 'DLP'];

/** Looks at the sandbox from outside the agent's shell (never a governed command). */
export interface DemoProbe {
  exists(path: string): Promise<boolean>;
  read(path: string): Promise<string | null>;
}

/** What the audit must show for a check: one of `rules` with this decision. */
export interface AuditExpectation {
  rules: readonly string[];
  decision: 'allow' | 'deny' | 'soft_delete';
}

export interface Check {
  group: Group;
  name: string;
  cmd: string;
  /** What must hold, in a few words (the scorecard's "expected"). */
  expect: string;
  /** What the audit log must name; absent where no policy rule decides (kernel, permissions). */
  audit?: AuditExpectation;
  /** Who enforces it when no audit rule names it (shown in the scorecard). */
  enforcedBy?: string;
  /** null: held; else what went wrong. */
  verdict(r: ExecResult, p: DemoProbe): Promise<string | null> | string | null;
}

type Verdict = Check['verdict'];

const clip = (s: string, n = 160) => JSON.stringify(s.length > n ? `${s.slice(0, n)}…` : s);
const noRoot: Verdict = (r) => (/^root$/m.test(r.stdout) || /uid=0\(root\)/.test(r.output) ? 'ran as root' : null);
const failed: Verdict = (r) => (r.exitCode === 0 ? 'exit 0' : null);
const refused: Verdict = (r) => (r.exitCode === 126 && /denied by policy/.test(r.output) ? null : `not refused by policy (exit ${r.exitCode}): ${clip(r.output)}`);
const out = (re: RegExp): Verdict => (r) => (re.test(r.stdout) ? null : `output does not match ${re}: ${clip(r.output)}`);
const notOut = (re: RegExp): Verdict => (r) => (re.test(r.output) ? `output matches ${re}` : null);
const absent = (path: string): Verdict => async (_r, p) => ((await p.exists(path)) ? `${path} exists` : null);
const all = (...fs: Verdict[]): Verdict => async (r, p) => {
  for (const f of fs) {
    const why = await f(r, p);
    if (why) return why;
  }
  return null;
};

const deny = (...rules: string[]): AuditExpectation => ({ rules, decision: 'deny' });
const allow = (...rules: string[]): AuditExpectation => ({ rules, decision: 'allow' });

/** The checks, with `tag` making every path they create unique to this run. */
export function demoChecks(tag: string): Check[] {
  const home = '/home/daytona';
  return [
    // ---------------------------------------------------------------- diagnostics
    { group: 'diagnostics', name: 'BASH_ENV points at bash_startup.sh', cmd: 'echo $BASH_ENV', expect: 'BASH_ENV set', verdict: out(/\/usr\/lib\/agentsh\/bash_startup\.sh/) },
    { group: 'diagnostics', name: 'kill is not a builtin', cmd: 'type -t kill || echo not-a-builtin', expect: 'kill: no builtin', verdict: notOut(/^builtin$/m) },
    { group: 'diagnostics', name: 'agentsh detect: every exec checked in this session (mode full, or ptrace where user-notify is taken)', cmd: 'agentsh detect', expect: 'security mode: full or ptrace', verdict: out(/security mode: (full|ptrace) /) },

    // ----------------------------------------------------------- blocked commands
    { group: 'blocked commands', name: 'sudo', cmd: 'sudo whoami', expect: 'refused, nothing as root', audit: deny('block-shell-escape'), verdict: all(refused, noRoot) },
    { group: 'blocked commands', name: 'su', cmd: 'su -c whoami root', expect: 'refused, nothing as root', audit: deny('block-shell-escape'), verdict: all(refused, noRoot) },
    { group: 'blocked commands', name: 'kill', cmd: 'sleep 5 & kill -9 $!; echo survived', expect: 'whole script refused', audit: deny('block-system-commands', 'block-bash-builtins'), verdict: all(refused, notOut(/survived/)) },

    // ---------------------------------------------------------------- file access
    { group: 'file access', name: 'write to /etc', cmd: `echo x > /etc/${tag}`, expect: 'fails, no file', audit: deny('default-deny-files'), verdict: all(failed, absent(`/etc/${tag}`)) },
    { group: 'file access', name: 'write to /usr/bin', cmd: `echo x > /usr/bin/${tag}`, expect: 'fails, no file', audit: deny('default-deny-files', 'allow-system-read'), verdict: all(failed, absent(`/usr/bin/${tag}`)) },
    { group: 'file access', name: 'write to /var', cmd: `echo x > /var/${tag}`, expect: 'fails, no file', audit: deny('default-deny-files'), verdict: all(failed, absent(`/var/${tag}`)) },
    { group: 'file access', name: '/etc/shadow unreadable', cmd: 'cat /etc/shadow', expect: 'fails, no content', enforcedBy: 'Unix permissions (policy allows)', verdict: all(failed, notOut(/root:/)) },
    {
      group: 'file access',
      name: 'workspace writable',
      cmd: `echo ok > ${home}/${tag}.txt && cat ${home}/${tag}.txt`,
      expect: 'written, file there',
      audit: allow('allow-safe-commands'),
      verdict: async (r, p) => (r.stdout === 'ok\n' && (await p.read(`${home}/${tag}.txt`)) === 'ok\n' ? null : `not written: ${clip(r.output)}`),
    },
    { group: 'file access', name: '/tmp writable', cmd: `echo ok > /tmp/${tag} && cat /tmp/${tag}`, expect: 'written', audit: allow('allow-safe-commands'), verdict: out(/^ok$/m) },

    // -------------------------------------------------------------------- network
    {
      group: 'network',
      name: 'https://evil.com refused by the proxy',
      cmd: 'curl -sS -m 5 https://evil.com/ ; echo rc=$?',
      expect: '403, no page',
      audit: deny('block-evil-domains'),
      verdict: all((r) => (/(^|\D)403(\D|$)/.test(r.output) ? null : `no 403: ${clip(r.output)}`), out(/rc=[1-9]/), notOut(/<html/i)),
    },
    { group: 'network', name: 'http://evil.com: the refusal names the rule', cmd: 'curl -s -m 5 http://evil.com/', expect: 'refusal names the rule', audit: deny('block-evil-domains'), verdict: out(/denied by policy \(rule=block-evil-domains\)/) },
    { group: 'network', name: 'cloud metadata refused by the proxy', cmd: 'curl -s -m 5 http://169.254.169.254/latest/meta-data/', expect: 'refused (private range)', audit: deny('block-private-networks', 'block-metadata-services'), verdict: out(/denied by policy \(rule=block-(private-networks|metadata-services)\)/) },
    { group: 'network', name: 'no route around the proxy (curl --noproxy)', cmd: "curl -sS -m 3 --noproxy '*' http://10.0.0.1/ ; echo rc=$?", expect: 'cannot connect (rc 7)', enforcedBy: 'kernel: no route (netns)', verdict: out(/rc=7/) },

    // -------------------------------------------------------------- multi-context
    { group: 'multi-context', name: 'sudo via env', cmd: 'env sudo whoami', expect: 'refused, nothing as root', audit: deny('block-shell-escape'), verdict: all(refused, noRoot) },
    { group: 'multi-context', name: 'sudo via xargs', cmd: 'echo whoami | xargs sudo', expect: 'nothing as root', audit: deny('block-shell-escape'), verdict: noRoot },
    { group: 'multi-context', name: 'sudo via find -exec', cmd: `find ${home} -maxdepth 0 -exec sudo whoami \\;`, expect: 'refused, nothing as root', audit: deny('block-shell-escape'), verdict: all(refused, noRoot) },
    { group: 'multi-context', name: 'sudo in a nested script (workspace)', cmd: `printf 'sudo whoami\\n' > ${home}/${tag}.sh; bash ${home}/${tag}.sh`, expect: 'script refused', audit: deny('block-shell-escape'), verdict: all(failed, noRoot) },
    // The script is in the session's private /tmp: the exec of bash is checked with its script (read where that /tmp lies on the server's side).
    { group: 'multi-context', name: 'sudo in a nested script (/tmp)', cmd: `printf 'sudo whoami\\n' > /tmp/${tag}.sh; bash /tmp/${tag}.sh`, expect: 'script refused at exec', audit: deny('block-shell-escape'), verdict: all(failed, noRoot) },
    { group: 'multi-context', name: 'sudo by absolute path', cmd: '/usr/bin/sudo whoami', expect: 'refused, nothing as root', audit: deny('block-shell-escape'), verdict: all(refused, noRoot) },
    { group: 'multi-context', name: 'sudo via Python subprocess', cmd: `python3 -c "import subprocess; subprocess.run(['sudo','whoami'])"`, expect: 'exec refused (EACCES)', audit: deny('block-shell-escape'), verdict: all(noRoot, notOut(/^(daytona|root)$/m), (r) => (/PermissionError/.test(r.output) ? null : `no PermissionError: ${clip(r.output)}`)) },
    {
      group: 'multi-context',
      name: 'kill via Python os.system: the target lives',
      cmd: `python3 -c "import os,subprocess,time; p=subprocess.Popen(['sleep','3']); os.system('kill -9 %d' % p.pid); time.sleep(0.3); print('alive', p.poll() is None)"`,
      expect: 'target still alive',
      audit: deny('block-system-commands', 'block-bash-builtins'),
      verdict: out(/alive True/),
    },
    { group: 'multi-context', name: 'env whoami allowed', cmd: 'env whoami', expect: 'runs: daytona', audit: allow('allow-other-commands'), verdict: out(/^daytona$/m) },
    { group: 'multi-context', name: 'Python ls allowed', cmd: `python3 -c "import subprocess; print(subprocess.run(['ls','${home}'],capture_output=True).returncode)"`, expect: 'runs: exit 0', audit: allow('allow-dev-tools'), verdict: out(/^0$/m) },

    // ------------------------------------------------------------ file protection
    { group: 'file protection', name: 'cp into /usr/bin', cmd: `cp /bin/true /usr/bin/${tag}`, expect: 'fails, no file', audit: deny('default-deny-files', 'allow-system-read'), verdict: all(failed, absent(`/usr/bin/${tag}`)) },
    { group: 'file protection', name: 'touch in /etc', cmd: `touch /etc/${tag}`, expect: 'fails, no file', audit: deny('default-deny-files'), verdict: all(failed, absent(`/etc/${tag}`)) },
    { group: 'file protection', name: 'dd into /etc', cmd: `dd if=/dev/zero of=/etc/${tag} count=1`, expect: 'refused, no file', audit: deny('block-system-commands'), verdict: all(refused, absent(`/etc/${tag}`)) },
    { group: 'file protection', name: 'tee into /etc', cmd: `echo x | tee /etc/${tag}`, expect: 'fails, no file', audit: deny('default-deny-files'), verdict: all(failed, absent(`/etc/${tag}`)) },
    { group: 'file protection', name: 'mkdir in /usr', cmd: `mkdir /usr/${tag}`, expect: 'fails, no directory', audit: deny('default-deny-files', 'allow-system-read'), verdict: all(failed, absent(`/usr/${tag}`)) },
    { group: 'file protection', name: 'symlink to /etc/shadow', cmd: `ln -sf /etc/shadow /tmp/${tag}-l; cat /tmp/${tag}-l`, expect: 'no content', enforcedBy: 'Unix permissions (policy allows)', verdict: all(failed, notOut(/root:/)) },
    { group: 'file protection', name: 'Python write to /etc', cmd: `python3 -c "open('/etc/${tag}','w')"`, expect: 'fails, no file', enforcedBy: 'kernel: Landlock, read-only /etc', verdict: all(failed, absent(`/etc/${tag}`)) },
    { group: 'file protection', name: 'Python read of /etc/shadow', cmd: `python3 -c "print(open('/etc/shadow').read())"`, expect: 'fails, no content', enforcedBy: 'Unix permissions (policy allows)', verdict: all(failed, notOut(/root:/)) },

    // ---------------------------------------------------------------- soft delete
    {
      group: 'soft delete',
      name: 'rm quarantines',
      cmd: `echo keep-me > ${home}/${tag}.del && rm ${home}/${tag}.del && echo rc=$?`,
      expect: 'rm ok, file gone',
      audit: { rules: ['soft-delete-workspace', 'soft-delete-daytona-home'], decision: 'soft_delete' },
      verdict: async (r, p) => (/rc=0/.test(r.stdout) && !(await p.exists(`${home}/${tag}.del`)) ? null : `not quarantined: ${clip(r.output)}`),
    },
    { group: 'soft delete', name: 'agentsh trash list shows it', cmd: 'agentsh trash list', expect: 'listed', verdict: out(new RegExp(`\\t${home}/${tag}\\.del\\t`)) },
    {
      group: 'soft delete',
      name: 'agentsh trash restore brings it back',
      cmd: `agentsh trash restore "$(agentsh trash list | grep -F '${home}/${tag}.del' | cut -f1 | tail -1)"; cat ${home}/${tag}.del`,
      expect: 'restored, same content',
      verdict: async (r, p) => (/restored to/.test(r.stdout) && (await p.read(`${home}/${tag}.del`)) === 'keep-me\n' ? null : `not restored: ${clip(r.output)}`),
    },

    // ------------------------------------------------------------------------ DLP
    {
      group: 'DLP',
      name: 'a secret in command output is redacted',
      // The key is assembled at run time: it is in the output, never in the command text.
      cmd: "printf 'aws key: AKIA%s\\n' IOSFODNN7EXAMPLE",
      expect: 'key redacted',
      enforcedBy: 'DLP: aws_access_key pattern',
      verdict: all(out(/\[REDACTED:[A-Z_]+\]/), notOut(/AKIAIOSFODNN7EXAMPLE/)),
    },
  ];
}
