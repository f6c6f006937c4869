// The CLI's way to the server: HTTP over the owner-only API socket with the bearer token
// from the run directory, starting the server first when none is running.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { ResolvedConfig } from '../config/load.js';
import { defaultRunDir, runPaths, type RunPaths } from '../server/paths.js';
import { CliError, EXIT } from './output.js';

export interface ApiResponse {
  status: number;
  body: unknown;
}

export class ApiClient {
  constructor(
    readonly paths: RunPaths,
    private readonly configFile: string | null,
  ) {}

  static fromConfig(config: ResolvedConfig | null, configFile: string | null): ApiClient {
    const runDir = config?.server.shim?.run_dir ?? defaultRunDir();
    return new ApiClient(runPaths(runDir, config?.server.unix_socket?.path), configFile);
  }

  // A missing token file means no server has started here yet (ENOENT: `call` starts one);
  // an unreadable one means the caller is not the operator.
  private token(): string {
    try {
      return readFileSync(this.paths.tokenFile, 'utf8').trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
      throw new CliError(`cannot read the API token ${this.paths.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (the API is for the server's operator)`, EXIT.failed);
    }
  }

  raw(method: string, path: string, body?: unknown, onData?: (chunk: Buffer) => void, auth = true): Promise<ApiResponse> {
    return new Promise((resolveReq, rejectReq) => {
      const authorization = auth ? { authorization: `Bearer ${this.token()}` } : {};
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request(
        {
          socketPath: this.paths.apiSocket,
          // No keep-alive pool: a pooled socket the server already closed (its 5 s keep-alive
          // timeout passed while this process was busy) fails the next request with EPIPE.
          agent: false,
          method,
          path,
          headers: { ...authorization, ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => (onData ? onData(c) : chunks.push(c)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : null;
            } catch {
              // not JSON: keep the text
            }
            resolveReq({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on('error', rejectReq);
      req.end(payload);
    });
  }

  /** A request, starting the server first if its socket does not answer. */
  async call(method: string, path: string, body?: unknown, onData?: (chunk: Buffer) => void): Promise<ApiResponse> {
    try {
      return await this.raw(method, path, body, onData);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw err;
    }
    await this.startServer();
    return this.raw(method, path, body, onData);
  }

  async startServer(timeoutMs = 15_000): Promise<void> {
    mkdirSync(this.paths.runDir, { recursive: true });
    const bin = fileURLToPath(new URL('../../../bin/agentsh', import.meta.url));
    const log = openSync(`${this.paths.runDir}/server.log`, 'a');
    const child = spawn(process.execPath, [bin, 'server', ...(this.configFile ? ['--config', this.configFile] : [])], { detached: true, stdio: ['ignore', log, log] });
    child.unref();
    closeSync(log);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const r = await this.raw('GET', '/ready', undefined, undefined, false);
        if (r.status === 200) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new CliError(`the agentsh server did not become ready within ${timeoutMs} ms (see ${this.paths.runDir}/server.log)`, EXIT.failed);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export function apiError(r: ApiResponse): CliError {
  const e = (r.body as { error?: { message?: string } } | null)?.error;
  return new CliError(e?.message ?? `server answered ${r.status}`, EXIT.failed);
}
