// The launcher's network relay (native/relay.c, plan `relay`): a command in its own network
// namespace reaches the "server" (a unix socket this test serves) only through the relay's
// listeners, the hello line comes first, bytes arrive intact both ways, half-closes pass
// through, datagrams are framed and answered, and nothing else has a route. Every probe of a
// non-loopback address is made from inside the command's own namespace (BRIEF: no packet
// leaves the machine). Needs root (namespaces without a user namespace).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildLauncher, runInSandbox, type LauncherReport, type Plan } from '../src/sandbox/launcher.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root: network and pid namespaces without a user namespace';
const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-relay-')));
const sock = join(tmp, 'net.sock');
let launcher = '';
let server: Server;
const hellos: string[] = [];

// The stand-in for the agentsh gateway: "echo": uppercases; "sink": sha256 of everything,
// sent on end; "dns": reads framed messages, answers each reversed.
function serve(s: Socket) {
  let buf = Buffer.alloc(0);
  let hello: string | null = null;
  const hash = createHash('sha256');
  let total = 0;
  s.on('error', () => {});
  s.on('data', (c: Buffer) => {
    if (hello === null) {
      buf = Buffer.concat([buf, c]);
      const nl = buf.indexOf(10);
      if (nl < 0) return;
      hello = buf.subarray(0, nl).toString();
      hellos.push(hello);
      c = buf.subarray(nl + 1);
      if (hello.endsWith('big')) s.write(Buffer.alloc(4 << 20, 7));
    }
    if (hello.endsWith('echo')) s.write(c.toString().toUpperCase());
    else if (hello.endsWith('sink') || hello.endsWith('big')) {
      hash.update(c);
      total += c.length;
    } else if (hello.endsWith('dns')) {
      buf = Buffer.concat([buf.subarray(0, 0), c]);
      if (c.length >= 2) {
        const len = c.readUInt16BE(0);
        const msg = Buffer.from(c.subarray(2, 2 + len)).reverse();
        const out = Buffer.alloc(2 + msg.length);
        out.writeUInt16BE(msg.length, 0);
        msg.copy(out, 2);
        s.end(out);
      }
    }
  });
  s.on('end', () => {
    if (hello?.endsWith('sink')) s.end(`${total} ${hash.digest('hex')}\n`);
    else s.end();
  });
}

function plan(extra: Partial<Plan> = {}): Plan {
  return {
    pdeathsig: true,
    unshare: ['pid', 'net'],
    netLo: true,
    relays: [
      { proto: 'tcp', port: 3128, socket: sock, hello: 'sess1 echo' },
      { proto: 'tcp', port: 3129, socket: sock, hello: 'sess1 sink' },
      { proto: 'tcp', port: 3130, socket: sock, hello: 'sess1 big' },
      { proto: 'udp', port: 53, socket: sock, hello: 'sess1 dns' },
    ],
    ...extra,
  };
}

async function run(script: string, p: Plan = plan(), stdin?: Buffer): Promise<{ code: number | null; stdout: string; stderr: string; report: LauncherReport }> {
  const child = runInSandbox(p, ['/bin/bash', '-c', script], { launcher, program: '/bin/bash', env: { PATH: '/usr/bin:/bin', LANG: 'C' }, stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  if (stdin) child.stdin!.end(stdin);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  return { code, stdout, stderr, report: await child.report };
}

describe('launcher relay', { skip }, () => {
  before(async () => {
    launcher = buildLauncher();
    server = createServer(serve);
    await new Promise<void>((r) => server.listen(sock, r));
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(tmp, { recursive: true, force: true });
  });

  it('carries a TCP connection to the unix socket, hello first, both ways', async () => {
    hellos.length = 0;
    const r = await run('exec 3<>/dev/tcp/127.0.0.1/3128; printf "hello relay" >&3; read -r -t 5 -n 11 line <&3; echo "$line"');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'HELLO RELAY');
    assert.deepEqual(hellos, ['sess1 echo']);
    assert.ok(r.report.ok.some((f) => f.key === 'relay'), 'the launcher reports the relay');
  });

  it('passes a half-close on and carries 8 MiB intact', async () => {
    const data = randomBytes(8 << 20);
    const want = createHash('sha256').update(data).digest('hex');
    // python: send everything, shutdown(WR), then read the sink's answer sent after its 'end'
    const py = 'import socket,sys\ns=socket.create_connection(("127.0.0.1",3129))\ns.sendall(sys.stdin.buffer.read())\ns.shutdown(socket.SHUT_WR)\nb=b""\nwhile True:\n  c=s.recv(65536)\n  if not c: break\n  b+=c\nprint(b.decode().strip())';
    const r = await run(`exec /usr/bin/python3 -c '${py}'`, plan(), data);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `${data.length} ${want}`);
  });

  it('carries a large server-to-sandbox stream', async () => {
    const r = await run('exec 3<>/dev/tcp/127.0.0.1/3130; head -c 4194304 <&3 | sha256sum');
    const want = createHash('sha256').update(Buffer.alloc(4 << 20, 7)).digest('hex');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split(' ')[0], want);
  });

  it('frames a datagram and sends the first framed answer back', async () => {
    const py = 'import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.settimeout(5)\ns.sendto(b"abcdef",("127.0.0.1",53))\nprint(s.recvfrom(100)[0].decode())';
    const r = await run(`exec /usr/bin/python3 -c '${py}'`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'fedcba');
  });

  it('has no route anywhere else (probed from inside the namespace)', async () => {
    // The kernel refuses locally: the namespace has loopback only. TCP and UDP to a private
    // address, and a port nobody listens on in the namespace.
    const py = [
      'import socket,errno',
      'for fam,typ,addr in [(socket.AF_INET,socket.SOCK_STREAM,("10.255.255.1",80)),(socket.AF_INET,socket.SOCK_DGRAM,("10.255.255.1",53)),(socket.AF_INET6,socket.SOCK_STREAM,("fd00::1",80))]:',
      '  s=socket.socket(fam,typ)',
      '  try:',
      '    s.connect(addr) if typ==socket.SOCK_STREAM else s.sendto(b"x",addr)',
      '    print("reached",addr)',
      '  except OSError as e:',
      '    print(errno.errorcode[e.errno])',
      's=socket.socket()',
      'try:',
      '  s.connect(("127.0.0.1",8080)); print("reached 8080")',
      'except OSError as e: print(errno.errorcode[e.errno])',
    ].join('\n');
    const r = await run(`exec /usr/bin/python3 -c '${py}'`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['ENETUNREACH', 'ENETUNREACH', 'ENETUNREACH', 'ECONNREFUSED']);
  });

  it('refuses a relay without net_lo or a pid namespace', async () => {
    const r = await run('true', plan({ netLo: false }));
    assert.equal(r.code, 126);
    assert.equal(r.report.failed?.key, 'relay', JSON.stringify(r.report.lines));
    const r2 = await run('true', plan({ unshare: ['net'] }));
    assert.equal(r2.code, 126);
  });

  it('keeps serving many connections at once', async () => {
    hellos.length = 0;
    const script = 'for i in $(seq 1 200); do ( exec 3<>/dev/tcp/127.0.0.1/3128; printf "x$i" >&3; read -r -t 5 -n ${#i} -N $(( ${#i} + 1 )) l <&3; echo "$l" ) & done; wait';
    const r = await run(script);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').sort();
    assert.equal(lines.length, 200);
    assert.ok(lines.every((l) => /^X\d+$/.test(l)), lines.slice(0, 5).join(','));
    assert.equal(hellos.length, 200);
  });
});
