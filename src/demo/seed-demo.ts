// The seed's security demo (its example.py: seven groups, 30+ commands) on a local sandbox
// built from the seed's config.yaml and default.yaml — but asserted: every check looks at
// what happened (the output, the file on the host, the process), not just an exit code.
// `npm start` runs it; the exit status is the number of failed checks (0: all held).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSandbox, type ExecResult } from '../sdk/index.js';

interface Check {
  group: string;
  name: string;
  cmd: string;
  /** null: held; else what went wrong. */
  verdict(r: ExecResult, host: Host): string | null;
}

interface Host {
  /** Host path of a file in the sandbox user's home. */
  home(p: string): string;
}

const noRoot = (r: ExecResult) => (/^root$/m.test(r.stdout) || /uid=0\(root\)/.test(r.output) ? 'ran as root' : null);
const failed = (r: ExecResult) => (r.exitCode === 0 ? 'exit 0' : null);
const noFile = (p: string) => (_r: ExecResult) => (existsSync(p) ? `${p} exists on the host` : null);
const out = (re: RegExp) => (r: ExecResult) => (re.test(r.stdout) ? null : `output does not match ${re}: ${JSON.stringify(r.output.slice(0, 200))}`);
const notOut = (re: RegExp) => (r: ExecResult) => (re.test(r.output) ? `output matches ${re}` : null);
const all = (...fs: Array<(r: ExecResult, h: Host) => string | null>) => (r: ExecResult, h: Host) => fs.map((f) => f(r, h)).find((x) => x) ?? null;

const TAG = `demo${process.pid}`;

export const CHECKS: Check[] = [
  { group: 'diagnostics', name: 'BASH_ENV points at bash_startup.sh', cmd: 'echo $BASH_ENV', verdict: out(/\/usr\/lib\/agentsh\/bash_startup\.sh/) },
  { group: 'diagnostics', name: 'kill is not a builtin', cmd: 'type -t kill || echo not-a-builtin', verdict: notOut(/^builtin$/m) },
  { group: 'diagnostics', name: 'agentsh detect: full mode, reported for this session', cmd: 'agentsh detect', verdict: out(/security mode: full/) },
  { group: 'blocked commands', name: 'sudo', cmd: 'sudo whoami', verdict: all(failed, noRoot) },
  { group: 'blocked commands', name: 'su', cmd: 'su -c whoami root', verdict: all(failed, noRoot) },
  { group: 'blocked commands', name: 'kill', cmd: 'sleep 5 & kill -9 $!; echo survived', verdict: all(failed, notOut(/survived/)) },
  { group: 'file access', name: 'write to /etc', cmd: `echo x > /etc/${TAG}`, verdict: all(failed, noFile(`/etc/${TAG}`)) },
  { group: 'file access', name: 'write to /usr/bin', cmd: `echo x > /usr/bin/${TAG}`, verdict: all(failed, noFile(`/usr/bin/${TAG}`)) },
  { group: 'file access', name: 'write to /var', cmd: `echo x > /var/${TAG}`, verdict: all(failed, noFile(`/var/${TAG}`)) },
  { group: 'file access', name: '/etc/shadow unreadable', cmd: 'cat /etc/shadow', verdict: all(failed, notOut(/root:/)) },
  { group: 'file access', name: 'workspace writable', cmd: `echo ok > /home/daytona/${TAG}.txt && cat /home/daytona/${TAG}.txt`, verdict: (r, h) => (r.stdout === 'ok\n' && existsSync(h.home(`${TAG}.txt`)) ? null : r.output) },
  { group: 'file access', name: '/tmp writable', cmd: `echo ok > /tmp/${TAG} && cat /tmp/${TAG}`, verdict: out(/^ok$/m) },
  { group: 'network', name: 'https://evil.com refused by the proxy (403)', cmd: 'curl -sS -m 5 https://evil.com/ ; echo rc=$?', verdict: all((r) => (/\b403\b/.test(r.output) ? null : `no 403: ${JSON.stringify(r.output.slice(0, 200))}`), out(/rc=[1-9]/), notOut(/<html/i)) },
  { group: 'network', name: 'http://evil.com: the refusal names the rule', cmd: 'curl -s -m 5 http://evil.com/', verdict: out(/denied by policy \(rule=block-evil-domains\)/) },
  { group: 'network', name: 'cloud metadata refused by the proxy', cmd: 'curl -s -m 5 http://169.254.169.254/latest/meta-data/', verdict: out(/denied by policy \(rule=block-private-networks\)/) },
  { group: 'network', name: 'no route around the proxy (curl --noproxy)', cmd: "curl -sS -m 3 --noproxy '*' http://10.0.0.1/ ; echo rc=$?", verdict: out(/rc=7/) },
  { group: 'multi-context', name: 'sudo via env', cmd: 'env sudo whoami', verdict: noRoot },
  { group: 'multi-context', name: 'sudo via xargs', cmd: 'echo whoami | xargs sudo', verdict: noRoot },
  { group: 'multi-context', name: 'sudo via find -exec', cmd: 'find /home/daytona -maxdepth 0 -exec sudo whoami \\;', verdict: noRoot },
  { group: 'multi-context', name: 'sudo in a nested script', cmd: `printf 'sudo whoami\\n' > /tmp/${TAG}.sh; bash /tmp/${TAG}.sh`, verdict: noRoot },
  { group: 'multi-context', name: 'sudo by absolute path', cmd: '/usr/bin/sudo whoami', verdict: noRoot },
  { group: 'multi-context', name: 'sudo via Python subprocess', cmd: `python3 -c "import subprocess; subprocess.run(['sudo','whoami'])"`, verdict: noRoot },
  { group: 'multi-context', name: 'kill via Python os.system: the target lives', cmd: `python3 -c "import os,subprocess,time; p=subprocess.Popen(['sleep','3']); os.system('kill -9 %d' % p.pid); time.sleep(0.3); print('alive', p.poll() is None)"`, verdict: out(/alive True/) },
  { group: 'multi-context', name: 'env whoami allowed', cmd: 'env whoami', verdict: out(/^daytona$/m) },
  { group: 'multi-context', name: 'Python ls allowed', cmd: `python3 -c "import subprocess; print(subprocess.run(['ls','/home/daytona'],capture_output=True).returncode)"`, verdict: out(/^0$/m) },
  { group: 'file protection', name: 'cp into /usr/bin', cmd: `cp /bin/true /usr/bin/${TAG}`, verdict: noFile(`/usr/bin/${TAG}`) },
  { group: 'file protection', name: 'touch in /etc', cmd: `touch /etc/${TAG}`, verdict: noFile(`/etc/${TAG}`) },
  { group: 'file protection', name: 'dd into /etc', cmd: `dd if=/dev/zero of=/etc/${TAG} count=1`, verdict: noFile(`/etc/${TAG}`) },
  { group: 'file protection', name: 'tee into /etc', cmd: `echo x | tee /etc/${TAG}`, verdict: noFile(`/etc/${TAG}`) },
  { group: 'file protection', name: 'mkdir in /usr', cmd: `mkdir /usr/${TAG}`, verdict: noFile(`/usr/${TAG}`) },
  { group: 'file protection', name: 'symlink to /etc/shadow', cmd: `ln -sf /etc/shadow /tmp/${TAG}-l; cat /tmp/${TAG}-l`, verdict: notOut(/root:/) },
  { group: 'file protection', name: 'Python write to /etc', cmd: `python3 -c "open('/etc/${TAG}','w')"`, verdict: noFile(`/etc/${TAG}`) },
  { group: 'file protection', name: 'Python read of /etc/shadow', cmd: `python3 -c "print(open('/etc/shadow').read())"`, verdict: notOut(/root:/) },
  { group: 'soft delete', name: 'rm quarantines', cmd: `echo keep-me > /home/daytona/${TAG}.del && rm /home/daytona/${TAG}.del && echo rc=$?`, verdict: (r, h) => (/rc=0/.test(r.stdout) && !existsSync(h.home(`${TAG}.del`)) ? null : r.output) },
  { group: 'soft delete', name: 'agentsh trash list shows it', cmd: 'agentsh trash list', verdict: out(new RegExp(`\\t/home/daytona/${TAG}\\.del\\t`)) },
  {
    group: 'soft delete',
    name: 'agentsh trash restore brings it back',
    cmd: `agentsh trash restore "$(agentsh trash list | grep -F '/home/daytona/${TAG}.del' | cut -f1 | tail -1)"; cat /home/daytona/${TAG}.del`,
    verdict: (r, h) => (/restored to/.test(r.stdout) && existsSync(h.home(`${TAG}.del`)) && readFileSync(h.home(`${TAG}.del`), 'utf8') === 'keep-me\n' ? null : r.output),
  },
];

export async function runDemo(opts: { config: string; policy: string; root?: string; log?: (s: string) => void }): Promise<number> {
  const log = opts.log ?? ((s: string) => process.stdout.write(`${s}\n`));
  const t0 = Date.now();
  const sb = await createSandbox({ config: opts.config, policy: opts.policy, ...(opts.root ? { root: opts.root } : {}) });
  const info = await sb.info();
  const dir = info.dir;
  log(`sandbox ${sb.id} created in ${Date.now() - t0} ms (local provider, seed config and policy)`);
  const host: Host = { home: (p) => join(dir, 'home', p) };
  let failures = 0;
  let group = '';
  try {
    for (const c of CHECKS) {
      if (c.group !== group) log(`\n== ${(group = c.group)}`);
      const r = await sb.exec(c.cmd);
      const why = c.verdict(r, host);
      if (why) failures++;
      log(`${why ? 'FAIL' : 'ok  '}  ${c.name.padEnd(56)} $ ${c.cmd.length > 70 ? `${c.cmd.slice(0, 67)}...` : c.cmd}${why ? `\n      ${why}` : ''}`);
    }
    log(`\n${CHECKS.length - failures}/${CHECKS.length} checks held`);
  } finally {
    await sb.delete();
  }
  return failures;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [config, policy] = process.argv.slice(2);
  if (!config || !policy) {
    process.stderr.write('usage: seed-demo CONFIG POLICY\n');
    process.exit(2);
  }
  runDemo({ config, policy }).then(
    (n) => process.exit(Math.min(n, 100)),
    (err: Error) => {
      process.stderr.write(`demo failed: ${err.message}\n`);
      process.exit(101);
    },
  );
}
