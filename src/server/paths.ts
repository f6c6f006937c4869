// Where the server keeps its sockets, pid file and API token. The run directory is the
// server's; agents get only their own shim socket (mode 0600, owned by them).
import { join } from 'node:path';

export interface RunPaths {
  runDir: string;
  apiSocket: string;
  pidFile: string;
  tokenFile: string;
  /** The server's pid namespace (`pid:[N]`): the shim's "am I inside a session sandbox" test. */
  pidNsFile: string;
  shimSocket(uid: number): string;
}

export function runPaths(runDir: string, apiSocket?: string): RunPaths {
  return {
    runDir,
    apiSocket: apiSocket ?? join(runDir, 'agentsh.sock'),
    pidFile: join(runDir, 'server.pid'),
    tokenFile: join(runDir, 'api.token'),
    pidNsFile: join(runDir, 'server.pidns'),
    shimSocket: (uid) => join(runDir, `shim-${uid}.sock`),
  };
}

export function defaultRunDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.AGENTSH_RUN_DIR || '/run/agentsh';
}
