// The agent-side door to the server, from inside a session sandbox: a query frame over the
// caller's own shim socket (the only server socket a sandbox can reach; the kernel tells the
// server who is asking). Used by `agentsh trash list|restore` and `agentsh detect` there.
import { connect } from 'node:net';
import { join } from 'node:path';
import { encodeFrame, FrameDecoder } from '../server/frames.js';
import { defaultRunDir } from '../server/paths.js';

export interface AgentAnswer {
  stdout: string;
  stderr: string;
  status: number;
}

/** True when this process runs inside a governed command (the server sets the variable). */
export function insideSession(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.AGENTSH_SESSION_ID);
}

export function askServer(query: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Promise<AgentAnswer> {
  const path = join(defaultRunDir(env), `shim-${process.getuid?.() ?? 0}.sock`);
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    const decoder = new FrameDecoder();
    const out: AgentAnswer = { stdout: '', stderr: '', status: -1 };
    sock.on('connect', () => sock.write(encodeFrame('Q', Buffer.from(JSON.stringify({ ...query, session: env.AGENTSH_SESSION_ID }))))); 
    sock.on('data', (c: Buffer) => {
      for (const f of decoder.push(c)) {
        if (f.type === 'O') out.stdout += f.payload.toString('utf8');
        else if (f.type === 'E') out.stderr += f.payload.toString('utf8');
        else if (f.type === 'X') out.status = f.payload.readUInt32BE(0);
      }
    });
    sock.on('error', (err) => reject(new Error(`cannot reach the agentsh server at ${path}: ${err.message}`)));
    sock.on('close', () => (out.status >= 0 ? resolve(out) : reject(new Error(`the agentsh server at ${path} closed the connection without an answer`))));
  });
}
