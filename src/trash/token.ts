// Trash tokens: the name a soft-deleted file gets in the trash directory, chosen by the
// server before the supervisor moves the file there. UTC time to the millisecond (so names
// sort by deletion time) and 48 random bits from the CSPRNG (so they never collide, and the
// supervisor's RENAME_NOREPLACE refuses the one-in-2^48 case rather than overwrite).
// Example: 20250314T092653.041Z-3fa9c0d17b2e
import { randomBytes } from 'node:crypto';

const TOKEN_RE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z-[0-9a-f]{12}$/;

export function newTrashToken(now: Date = new Date()): string {
  const iso = now.toISOString(); // 2025-03-14T09:26:53.041Z
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}.${iso.slice(20, 23)}Z`;
  return `${stamp}-${randomBytes(6).toString('hex')}`;
}

/** Only the exact format: a user-supplied token can never be a path ('/', '..', NUL). */
export function isTrashToken(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_RE.test(value);
}

/** When the token was made (the deletion time of an entry without metadata). */
export function tokenTime(token: string): Date | null {
  const m = TOKEN_RE.exec(token);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, ms] = m.map(Number) as number[];
  const t = Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, ms!);
  return Number.isNaN(t) ? null : new Date(t);
}
