// Where the server keeps its sockets, pid file and API token. The run directory is the
// server's; agents get only their own shim socket (mode 0600, owned by them).
import { join } from 'node:path';

export interface RunPaths {
  runDir: string;
  apiSocket: string;
  pidFile: string;
  tokenFile: string;
  shimSocket(uid: number): string;
}

export function runPaths(runDir: string, apiSocket?: string): RunPaths {
  return {
    runDir,
    apiSocket: apiSocket ?? join(runDir, 'agentsh.sock'),
    pidFile: join(runDir, 'server.pid'),
    tokenFile: join(runDir, 'api.token'),
    shimSocket: (uid) => join(runDir, `shim-${uid}.sock`),
  };
}

export function defaultRunDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.AGENTSH_RUN_DIR || '/run/agentsh';
}
