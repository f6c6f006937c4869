// The shim's side door: one unix socket per served user (mode 0600, owned by that user), so
// the kernel tells us who is calling; commands run as that user. Frames per
// docs/shim-protocol.md.
import { chmodSync, chownSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { ServerContext } from './context.js';
import { EXIT_DENIED } from './exec.js';
import { encodeFrame, exitFrame, FrameDecoder, FrameError } from './frames.js';
import { runGoverned, type GovernedRun } from './governed.js';
import type { Session } from './sessions.js';
import { parseShellArgv } from './shell-argv.js';
import { agentQuery } from './agent-queries.js';

interface Hello {
  v: number;
  argv: string[];
  real_shell: string;
  cwd: string;
  env: string[];
  stdin_tty?: boolean;
  enc?: 'latin1';
}

const MAX_STDIN_SCRIPT = 16 * 1024 * 1024;

export interface ShimUser {
  uid: number;
  gid: number;
}

export function startShimServers(ctx: ServerContext, users: ShimUser[], sessionFor: (user: ShimUser, env: Record<string, string>, cwd: string) => Session): Promise<Server[]> {
  return Promise.all(
    users.map(
      (user) =>
        new Promise<Server>((resolveListen, rejectListen) => {
          const path = ctx.paths.shimSocket(user.uid);
          rmSync(path, { force: true });
          const server = createServer((sock) => handleConnection(ctx, user, sock, sessionFor));
          server.once('error', rejectListen);
          server.listen(path, () => {
            // Owner-only socket: connecting needs write permission, so only this user (and root) can.
            chmodSync(path, 0o600);
            if (process.getuid?.() === 0) chownSync(path, user.uid, user.gid);
            resolveListen(server);
          });
        }),
    ),
  );
}

function handleConnection(ctx: ServerContext, user: ShimUser, sock: Socket, sessionFor: (user: ShimUser, env: Record<string, string>, cwd: string) => Session): void {
  const decoder = new FrameDecoder();
  let hello: Hello | null = null;
  let request: Decoded | null = null;
  let run: GovernedRun | null = null;
  let stdinBuffered: Buffer[] | null = null; // stdin-fed scripts: collected to EOF before the pre-check
  let stdinBytes = 0;
  let finished = false;

  const send = (b: Buffer) => (sock.destroyed ? true : sock.write(b));
  const finish = (status: number) => {
    if (finished) return;
    finished = true;
    sock.end(exitFrame(status));
  };
  const fail = (message: string) => {
    send(encodeFrame('E', Buffer.from(`agentsh: ${message}\n`)));
    finish(EXIT_DENIED);
  };
  const io = {
    stdout: (b: Buffer) => send(encodeFrame('O', b)),
    stderr: (b: Buffer) => send(encodeFrame('E', b)),
  };
  sock.on('drain', () => run?.running?.resume());

  const start = (h: Hello, { argv, env, cwd, realShell }: Decoded, script?: Buffer) => {
    let session: Session;
    try {
      session = sessionFor(user, env, cwd);
    } catch (err) {
      return fail(`no session for this command: ${(err as Error).message}`);
    }
    try {
      run = runGoverned(ctx, session, { file: realShell, argv, cwd, env, uid: user.uid, gid: user.gid, stdinIsTty: h.stdin_tty ?? false, ...(script ? { stdinScript: script } : {}), source: 'shim' }, io);
    } catch (err) {
      return fail(`command refused: ${(err as Error).message}`); // never an uncaught exception in the server
    }
    run.status.then(finish, () => finish(EXIT_DENIED));
  };

  sock.on('data', (chunk: Buffer) => {
    let frames;
    try {
      frames = decoder.push(chunk);
    } catch (err) {
      return fail(err instanceof FrameError ? err.message : String(err));
    }
    for (const f of frames) {
      if (!hello) {
        if (f.type === 'Q') return answerQuery(ctx, user, f.payload, send, finish, fail);
        if (f.type !== 'H') return fail('protocol error: expected a hello frame');
        try {
          hello = JSON.parse(f.payload.toString('utf8')) as Hello;
          if (hello.v !== 1 || !Array.isArray(hello.argv) || typeof hello.real_shell !== 'string' || !Array.isArray(hello.env) || typeof hello.cwd !== 'string') throw new Error('bad hello');
        } catch {
          return fail('protocol error: malformed hello frame');
        }
        if (!/\.real$/.test(hello.real_shell)) return fail(`refusing to run ${hello.real_shell}: not a shell kept by the shim`);
        // A shell with no -c and no script reads its commands from stdin: the whole script
        // is needed before the pre-check can decide.
        request = decodeHello(hello);
        if (parseShellArgv(request.argv, hello.stdin_tty ?? false).mode === 'stdin') stdinBuffered = [];
        else start(hello, request);
        continue;
      }
      if (f.type === 'I') {
        if (stdinBuffered) {
          stdinBytes += f.payload.length;
          if (stdinBytes > MAX_STDIN_SCRIPT) return fail(`script on stdin is larger than ${MAX_STDIN_SCRIPT} bytes`);
          stdinBuffered.push(Buffer.from(f.payload));
        } else run?.running?.writeStdin(Buffer.from(f.payload));
      } else if (f.type === 'i') {
        if (stdinBuffered) {
          const script = Buffer.concat(stdinBuffered);
          stdinBuffered = null;
          start(hello, request!, script);
        } else run?.running?.endStdin();
      } else if (f.type === 'K') {
        const sig = f.payload[0];
        if (sig && [1, 2, 3, 10, 12, 15].includes(sig)) run?.running?.signal(sig);
      }
    }
  });
  // The caller went away: its command must not outlive it unobserved.
  sock.on('close', () => {
    if (!finished) run?.running?.signal('SIGKILL');
  });
  sock.on('error', () => {});
}

// The shim sends every byte of argv, env and cwd as a latin1 code point (enc: latin1), so
// arguments that are not UTF-8 arrive intact.
interface Decoded {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  realShell: string;
}

function decodeHello(h: Hello): Decoded {
  const decode = (s: string) => (h.enc === 'latin1' ? Buffer.from(s, 'latin1').toString('utf8') : s);
  const env: Record<string, string> = {};
  for (const kv of h.env) {
    const i = kv.indexOf('=');
    if (i > 0) env[decode(kv.slice(0, i))] = decode(kv.slice(i + 1));
  }
  return { argv: h.argv.map(decode), env, cwd: decode(h.cwd), realShell: decode(h.real_shell) };
}

/** A query frame (instead of a hello): the agent-side CLI asking about its own session. */
function answerQuery(ctx: ServerContext, user: ShimUser, payload: Buffer, send: (b: Buffer) => boolean, finish: (status: number) => void, fail: (m: string) => void): void {
  let q: unknown;
  try {
    q = JSON.parse(payload.toString('utf8'));
  } catch {
    return fail('protocol error: malformed query frame');
  }
  const r = agentQuery(ctx, user.uid, q);
  if (r.stdout) send(encodeFrame('O', Buffer.from(r.stdout)));
  if (r.stderr) send(encodeFrame('E', Buffer.from(r.stderr)));
  finish(r.status);
}
