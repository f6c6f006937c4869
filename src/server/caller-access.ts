// What the calling agent could do itself, for the few things the (root) server does on its
// behalf: read a script to analyse it, write a restored file. file_rules first, then Unix
// permissions for the session's user (owner, primary group, other bits).
import type { Stats } from 'node:fs';
import type { Session } from './sessions.js';
import { lookupUser } from './users.js';

const BITS = { read: [0o400, 0o040, 0o004], write: [0o200, 0o020, 0o002] } as const;

export function callerMay(session: Session, op: 'read' | 'write', path: string, st: Pick<Stats, 'uid' | 'gid' | 'mode'>): boolean {
  const d = session.engine.checkFile(op, path);
  if (d.decision !== 'allow' && d.decision !== 'audit') return false;
  const uid = session.uid;
  if (uid === null || uid === 0) return true; // the server's own user, or root: no less than the server
  let gid: number | null = null;
  try {
    gid = lookupUser(uid).gid;
  } catch {
    gid = null;
  }
  const [owner, group, other] = BITS[op];
  if (st.uid === uid) return (st.mode & owner) !== 0;
  if (gid !== null && st.gid === gid) return (st.mode & group) !== 0;
  return (st.mode & other) !== 0;
}
