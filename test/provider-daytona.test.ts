// The Daytona provider (src/provider/daytona.ts). No network reaches Daytona from here, so:
//
// 1. Always: its logic with a fake SDK module (waiting for the server, refusing ungoverned
//    sandboxes, the command it sends), and the errors without the SDK or an API key.
// 2. With the real @daytonaio/sdk (AGENTSH_DAYTONA_SDK=PREFIX, or .cache/daytona-sdk, which
//    .ci/run installs): the SDK's types satisfy the interface the provider is written
//    against (tsc), and the provider runs through the real SDK against a LOCAL stand-in of
//    the Daytona API and toolbox endpoints it uses (DAYTONA_API_URL=http://127.0.0.1:PORT),
//    each "Daytona sandbox" being a local agentsh sandbox (root): the full security demo
//    passes through it, and `agentsh sandbox create|exec|list|delete --provider daytona`.
// What this does not show: the real service's behaviour (docs/deploy-daytona.md says so).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DaytonaProvider, daytonaSplitWords, loadDaytonaSdk, shQuote, toolboxCommand, toolboxQuote, type DaytonaClient, type DaytonaSdkModule, type DaytonaSdkSandbox } from '../src/provider/daytona.js';
import { LocalProvider } from '../src/provider/local.js';
import { SandboxError } from '../src/provider/types.js';
import { runDemo } from '../src/demo/seed-demo.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
const CLI = join(REPO, 'bin', 'agentsh');
const SEED = join(REPO, 'test', 'fixtures', 'seed');
const isRoot = process.getuid?.() === 0;
const SDK_PREFIX = [process.env.AGENTSH_DAYTONA_SDK, join(REPO, '.cache', 'daytona-sdk')].find((p) => p && existsSync(join(p, 'node_modules', '@daytonaio', 'sdk', 'package.json')));
const noSdk = SDK_PREFIX ? false : 'needs @daytonaio/sdk: npm install --prefix .cache/daytona-sdk @daytonaio/sdk (what .ci/run does), or AGENTSH_DAYTONA_SDK=PREFIX';

// ------------------------------------------------------------------------- fake SDK

interface FakeScript {
  /** Answers to the readiness probe, in order (the last one repeats). */
  probes: Array<{ exitCode: number; result: string }>;
  /** 'exec': the toolbox execs the first word (old daemons); 'shell' (default): a shell reads the command. */
  toolbox?: 'shell' | 'exec';
}

function fakeSdk(script: FakeScript, log: string[]): DaytonaSdkModule {
  const made = new Map<string, DaytonaSdkSandbox>();
  class Daytona implements DaytonaClient {
    constructor(cfg?: object) {
      log.push(`config ${JSON.stringify(cfg)}`);
    }
    async create(params?: object): Promise<DaytonaSdkSandbox> {
      log.push(`create ${JSON.stringify(params)}`);
      let n = 0;
      const sb: DaytonaSdkSandbox = {
        id: `fake-${made.size}`,
        state: 'started',
        createdAt: '2026-01-01T00:00:00Z',
        process: {
          executeCommand: async (command) => {
            log.push(`exec ${command}`);
            if (command.startsWith('echo agentsh-toolbox-mode:')) return { exitCode: 0, result: script.toolbox === 'exec' ? 'agentsh-toolbox-mode:$0\n' : 'agentsh-toolbox-mode:zsh\n' };
            if (command.includes('agentsh-session=')) return script.probes[Math.min(n++, script.probes.length - 1)]!;
            return { exitCode: 0, result: 'ran\n' };
          },
        },
        fs: {
          downloadFile: async () => Buffer.from(''),
          getFileDetails: async () => {
            throw Object.assign(new Error('file not found'), { statusCode: 404 });
          },
        },
      };
      made.set(sb.id, sb);
      return sb;
    }
    async get(id: string) {
      const sb = made.get(id);
      if (!sb) throw Object.assign(new Error('Sandbox not found'), { statusCode: 404 });
      return sb;
    }
    async *list() {
      yield* made.values();
    }
    async delete(sb: DaytonaSdkSandbox) {
      log.push(`delete ${sb.id}`);
      made.delete(sb.id);
    }
  }
  return { Daytona };
}

describe('Daytona provider logic (fake SDK)', () => {
  it('waits until a command runs governed (the first ones start the server); a toolbox with a shell gets the command as is', async () => {
    const log: string[] = [];
    const sdk = fakeSdk({ probes: [{ exitCode: 126, result: 'agentsh: cannot reach the agentsh server (/run/agentsh/shim-1000.sock): ECONNREFUSED; command refused\n' }, { exitCode: 126, result: 'still starting' }, { exitCode: 0, result: 'agentsh-session=shim-1000\n' }] }, log);
    const p = new DaytonaProvider({ apiKey: 'k', apiUrl: 'http://127.0.0.1:9', target: 'eu', sdk, readyPollMs: 1 });
    const { info, timings } = await p.create({ snapshot: 'snap-x' });
    assert.equal(info.provider, 'daytona');
    assert.ok(timings.totalMs >= 0);
    assert.equal(log.filter((l) => l.includes('agentsh-session=')).length, 3);
    assert.equal(log.filter((l) => l.includes('agentsh-toolbox-mode:')).length, 1, 'the mode is asked once');
    assert.match(log[0]!, /"apiKey":"k","apiUrl":"http:\/\/127\.0\.0\.1:9","target":"eu","useDeprecatedPolling":true/);
    assert.match(log[1]!, /"snapshot":"snap-x","user":"daytona","labels":\{"agentsh":"1"\}/);
    const r = await p.exec(info.id, "echo 'it''s' && sudo id");
    assert.deepEqual(r, { exitCode: 0, stdout: 'ran\n', stderr: '', output: 'ran\n' });
    assert.equal(log.at(-1), "exec echo 'it''s' && sudo id");
    assert.equal(await p.fileExists(info.id, '/etc/x'), false);
    assert.deepEqual((await p.list()).map((s) => s.id), [info.id]);
    await p.delete(info.id);
    await assert.rejects(p.get(info.id), (e: SandboxError) => e.code === 'E_NOT_FOUND');
  });

  it('a toolbox that execs the first word (old daemons) gets /bin/bash -c, quoted for its splitter', async () => {
    const log: string[] = [];
    const p = new DaytonaProvider({ apiKey: 'k', sdk: fakeSdk({ toolbox: 'exec', probes: [{ exitCode: 0, result: 'agentsh-session=shim-1000\n' }] }, log), readyPollMs: 1 });
    const { info } = await p.create();
    assert.equal(log.find((l) => l.includes('agentsh-session=')), "exec /bin/bash -c 'echo agentsh-session=${AGENTSH_SESSION_ID:-none}'");
    await p.exec(info.id, "echo 'it''s' && sudo id");
    const sent = log.at(-1)!.slice('exec '.length);
    assert.deepEqual(daytonaSplitWords(sent), ['/bin/bash', '-c', "echo 'it''s' && sudo id"]);
  });

  it('refuses a sandbox whose commands run without agentsh, and deletes it', async () => {
    const log: string[] = [];
    const p = new DaytonaProvider({ apiKey: 'k', sdk: fakeSdk({ probes: [{ exitCode: 0, result: 'agentsh-session=none\n' }] }, log), readyPollMs: 1 });
    await assert.rejects(p.create(), /commands run without agentsh .* built from agentsh's Dockerfile/);
    assert.match(log.at(-1)!, /^delete fake-0$/);
  });

  it('gives up after the timeout with the last answer', async () => {
    const p = new DaytonaProvider({ apiKey: 'k', sdk: fakeSdk({ probes: [{ exitCode: 126, result: 'agentsh: cannot reach the agentsh server' }] }, []), readyPollMs: 5 });
    await assert.rejects(p.create({ timeoutMs: 50 }), /did not become ready \(exit 126: agentsh: cannot reach the agentsh server\)/);
  });

  it('needs DAYTONA_API_KEY; --config/--policy belong to the local provider', async () => {
    const saved = process.env.DAYTONA_API_KEY;
    delete process.env.DAYTONA_API_KEY;
    try {
      await assert.rejects(new DaytonaProvider({ sdk: fakeSdk({ probes: [] }, []) }).create(), /needs DAYTONA_API_KEY/);
    } finally {
      if (saved !== undefined) process.env.DAYTONA_API_KEY = saved;
    }
    await assert.rejects(new DaytonaProvider({ apiKey: 'k', sdk: fakeSdk({ probes: [] }, []) }).create({ policy: 'p.yaml' }), /take.* config and policy from its snapshot/);
  });

  it('without the SDK: a clear message naming the package', async () => {
    await assert.rejects(loadDaytonaSdk({ AGENTSH_DAYTONA_SDK: '/nonexistent-prefix' }), /no @daytonaio\/sdk under it/);
    if (!existsSync(join(REPO, 'node_modules', '@daytonaio', 'sdk'))) {
      await assert.rejects(loadDaytonaSdk({}), /install @daytonaio\/sdk to use the Daytona provider/);
    }
    const r = spawnSync(process.execPath, [CLI, 'sandbox', 'create', '--provider', 'daytona'], { encoding: 'utf8', env: { ...process.env, DAYTONA_API_KEY: '' } });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /needs DAYTONA_API_KEY/);
  });

  it("the quoting reads the same to bash and to the old daemon's word splitter, for any text", () => {
    for (const s of ["a'b", "'", "''", 'x"y$HOME`id`\\', "multi\nline 'q'", '', 'a  b']) {
      const r = spawnSync('bash', ['-c', `printf %s ${shQuote(s)}`], { encoding: 'utf8' });
      assert.equal(r.stdout, s);
      const q = spawnSync('bash', ['-c', `printf %s ${toolboxQuote(s)}`], { encoding: 'utf8' });
      assert.equal(q.stdout, s);
      if (s) assert.deepEqual(daytonaSplitWords(`x ${toolboxQuote(s)}`), ['x', s]);
    }
    assert.equal(toolboxCommand('true', 'exec'), "/bin/bash -c 'true'");
    assert.equal(toolboxCommand('true', 'shell'), 'true');
  });
});

// ------------------------------------------------------------------ the real SDK

describe("the real SDK's types satisfy the provider's interface", { skip: noSdk }, () => {
  it('tsc: `const m: DaytonaSdkModule = await import("@daytonaio/sdk")` compiles', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentsh-daytona-types-'));
    try {
      const sdkTypes = join(SDK_PREFIX as string, 'node_modules', '@daytonaio', 'sdk', 'esm', 'index.d.ts');
      writeFileSync(join(dir, 'check.ts'), [
        "import * as sdk from '@daytonaio/sdk';",
        `import type { DaytonaSdkModule } from ${JSON.stringify(join(REPO, 'src', 'provider', 'daytona.js'))};`,
        'export const m: DaytonaSdkModule = sdk;',
        '',
      ].join('\n'));
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
        compilerOptions: { strict: true, noEmit: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', lib: ['ES2023', 'DOM'], skipLibCheck: true, types: ['node'], typeRoots: [join(REPO, 'node_modules', '@types')], paths: { '@daytonaio/sdk': [sdkTypes] } },
        files: ['check.ts'],
      }));
      const r = spawnSync(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A stand-in for the Daytona API and the toolbox endpoints the provider uses; each sandbox is a local agentsh sandbox. */
class StandIn {
  server!: Server;
  base = '';
  readonly requests: string[] = [];
  readonly auth = new Set<string>();
  private readonly boxes = new Map<string, { dto: Record<string, unknown> }>();
  constructor(readonly local: LocalProvider) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res).catch((err: Error) => this.json(res, 500, { statusCode: 500, message: err.message })));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  }

  private async body(req: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.base);
    this.requests.push(`${req.method} ${url.pathname}`);
    this.auth.add(String(req.headers.authorization));
    const p = url.pathname.replace(/\/+$/, '');
    let m: RegExpExecArray | null;
    if (req.method === 'POST' && p === '/sandbox') {
      const b = await this.body(req);
      const { info } = await this.local.create({ config: join(SEED, 'config.yaml'), policy: join(SEED, 'default.yaml'), timeoutMs: 60_000 });
      const dto = { id: info.id, name: info.id, organizationId: 'org-test', snapshot: b.snapshot, user: b.user, labels: b.labels ?? {}, env: {}, public: false, target: b.target ?? 'local', cpu: 2, gpu: 0, memory: 2, disk: 10, state: 'started', createdAt: info.createdAt, updatedAt: info.createdAt, toolboxProxyUrl: `${this.base}/toolbox` };
      this.boxes.set(info.id, { dto });
      return this.json(res, 200, dto);
    }
    if (req.method === 'GET' && p === '/sandbox') return this.json(res, 200, { items: [...this.boxes.values()].map((b) => b.dto), nextCursor: null });
    if ((m = /^\/sandbox\/([^/]+)$/.exec(p))) {
      const box = this.boxes.get(m[1]!);
      if (!box) return this.json(res, 404, { statusCode: 404, message: `Sandbox with ID or name ${m[1]} not found`, error: 'Not Found' });
      if (req.method === 'GET') return this.json(res, 200, box.dto);
      if (req.method === 'DELETE') {
        await this.local.delete(m[1]!);
        this.boxes.delete(m[1]!);
        return this.json(res, 200, { ...box.dto, state: 'destroyed' });
      }
    }
    if ((m = /^\/toolbox\/([^/]+)\/(.+)$/.exec(p))) {
      const id = m[1]!;
      if (!this.boxes.has(id)) return this.json(res, 404, { statusCode: 404, message: 'sandbox not found' });
      const op = m[2]!;
      if (req.method === 'POST' && op === 'process/execute') {
        const b = await this.body(req);
        // As Daytona's toolbox: the command through the sandbox's shell, output combined.
        const r = await this.local.exec(id, String(b.command), { ...(b.cwd ? { cwd: String(b.cwd) } : {}), ...(b.envs ? { env: b.envs as Record<string, string> } : {}), ...(b.timeout ? { timeoutMs: Number(b.timeout) * 1000 } : {}) });
        return this.json(res, 200, { exitCode: r.exitCode, result: r.output });
      }
      if (req.method === 'GET' && op === 'files/info') {
        const path = url.searchParams.get('path') ?? '';
        if (!(await this.local.fileExists(id, path))) return this.json(res, 404, { statusCode: 404, message: `file not found: ${path}` });
        return this.json(res, 200, { name: path.split('/').pop(), isDir: false, size: 0, mode: '-rw-r--r--', modTime: new Date().toISOString(), owner: 'daytona', group: 'daytona', permissions: '0644' });
      }
      if (req.method === 'POST' && op === 'files/bulk-download') {
        const b = await this.body(req);
        const boundary = `standin${randomBytes(8).toString('hex')}`;
        const parts: Buffer[] = [];
        for (const path of b.paths as string[]) {
          const text = await this.local.readFile(id, path);
          const [name, type, content] = text === null ? ['error', 'application/json', JSON.stringify({ message: `file not found: ${path}`, statusCode: 404, code: 'FILE_NOT_FOUND' })] : ['file', 'application/octet-stream', text];
          parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${path}"\r\nContent-Type: ${type}\r\n\r\n`), Buffer.from(content), Buffer.from('\r\n'));
        }
        parts.push(Buffer.from(`--${boundary}--\r\n`));
        res.writeHead(200, { 'content-type': `multipart/form-data; boundary=${boundary}` }).end(Buffer.concat(parts));
        return;
      }
    }
    this.json(res, 404, { statusCode: 404, message: `stand-in: no route ${req.method} ${p}` });
  }
}

describe('the Daytona provider through the real SDK, against a local stand-in', { skip: noSdk || (isRoot ? false : 'needs root: each stand-in sandbox is a local agentsh sandbox') }, () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'agentsh-daytona-')));
  const standIn = new StandIn(new LocalProvider({ root }));
  const env = () => ({ ...process.env, AGENTSH_DAYTONA_SDK: SDK_PREFIX as string, DAYTONA_API_KEY: 'test-key', DAYTONA_API_URL: standIn.base, DAYTONA_TARGET: 'local' });
  const saved = { ...process.env };

  before(async () => {
    await standIn.start();
    Object.assign(process.env, env());
  });
  after(async () => {
    for (const k of ['AGENTSH_DAYTONA_SDK', 'DAYTONA_API_KEY', 'DAYTONA_API_URL', 'DAYTONA_TARGET']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    for (const s of new LocalProvider({ root }).list()) await new LocalProvider({ root }).delete(s.id).catch(() => {});
    await standIn.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('the security demo passes through it, every check, with the audit read through the toolbox file API', async () => {
    const rep = await runDemo({ provider: 'daytona', snapshot: 'agentsh-sandbox' });
    const failed = rep.results.filter((r) => !r.pass).map((r) => `${r.name}: ${r.why}`);
    assert.deepEqual(failed, []);
    assert.ok(rep.results.length >= 30);
    assert.equal(rep.audit, 'read');
    assert.equal(rep.results.find((r) => r.command === 'sudo whoami')?.decidedBy?.rule, 'block-shell-escape');
    assert.ok(standIn.requests.includes('POST /sandbox'));
    assert.ok(standIn.requests.some((r) => /^POST \/toolbox\/sb-[0-9a-f]+\/process\/execute$/.test(r)));
    assert.ok(standIn.requests.some((r) => /^POST \/toolbox\/sb-[0-9a-f]+\/files\/bulk-download$/.test(r)));
    assert.ok(standIn.requests.some((r) => /^DELETE \/sandbox\/sb-/.test(r)));
    assert.deepEqual([...standIn.auth], ['Bearer test-key']);
  });

  it('agentsh sandbox create|exec|list|delete --provider daytona', async () => {
    const cli = (...args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const c = spawn(process.execPath, [CLI, ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        c.stdout.on('data', (d: Buffer) => (out += d.toString()));
        c.stderr.on('data', (d: Buffer) => (err += d.toString()));
        c.on('close', (code) => resolve({ code, out, err }));
      });
    const created = await cli('sandbox', 'create', '--provider', 'daytona', '--snapshot', 'my-snap');
    assert.equal(created.code, 0, created.err);
    const id = created.out.trim();
    assert.match(id, /^sb-[0-9a-f]{10}$/);
    const ok = await cli('sandbox', 'exec', '--provider', 'daytona', id, '--', 'id -un');
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.out, 'daytona\n');
    const denied = await cli('sandbox', 'exec', '--provider', 'daytona', id, '--', 'sudo whoami');
    assert.equal(denied.code, 126);
    assert.match(denied.out, /denied by policy \(rule=block-shell-escape\)/);
    const list = await cli('sandbox', 'list', '--provider', 'daytona', '--json');
    const items = JSON.parse(list.out) as Array<{ id: string; provider: string; snapshot: string; state: string }>;
    assert.deepEqual(items.map((s) => [s.id, s.provider, s.snapshot, s.state]), [[id, 'daytona', 'my-snap', 'started']]);
    const del = await cli('sandbox', 'delete', '--provider', 'daytona', id);
    assert.equal(del.code, 0, del.err);
    assert.equal(new LocalProvider({ root }).list().length, 0);
    const gone = await cli('sandbox', 'exec', '--provider', 'daytona', id, '--', 'true');
    assert.equal(gone.code, 1);
    assert.match(gone.err, /no Daytona sandbox/);
  });
});
