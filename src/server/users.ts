// Looking up the users the shim serves: /etc/passwd is the source of uid, gid and home (never
// the caller's environment, which the agent controls).
import { readFileSync } from 'node:fs';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function readPasswd(file = '/etc/passwd'): PasswdEntry[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! }));
}

export function lookupUser(spec: string | number, passwd: PasswdEntry[] = readPasswd()): PasswdEntry {
  const byUid = typeof spec === 'number' || /^\d+$/.test(spec);
  const e = passwd.find((p) => (byUid ? p.uid === Number(spec) : p.name === spec));
  if (!e) throw new Error(`unknown user '${spec}'`);
  return e;
}
