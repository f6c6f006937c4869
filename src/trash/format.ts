// How `agentsh trash list` prints: one line per entry, TOKEN<TAB>PATH<TAB>N bytes<TAB>AGE ago,
// or exactly `trash empty`. Scripts parse it, so the format does not change.
import type { TrashEntry } from './store.js';

/** What an orphan (no metadata) shows in the PATH column; a real path is always absolute. */
export const UNKNOWN_PATH = '(unknown)';

/** "5s", "3m", "2h", "4d": the largest whole unit (seconds under a minute, minutes under an
 *  hour, hours under a day, then days), truncated; a future time shows as 0s. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** A path for one tab-separated line: backslash, tab, newline, CR and other control
 *  characters escaped (\\, \t, \n, \r, \xNN) so an agent-chosen name can't forge a field or a
 *  line; ordinary paths are printed unchanged. */
export function escapeField(s: string): string {
  return s.replace(/[\\\x00-\x1f\x7f]/g, (c) => {
    switch (c) {
      case '\\': return '\\\\';
      case '\t': return '\\t';
      case '\n': return '\\n';
      case '\r': return '\\r';
      default: return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
    }
  });
}

export function formatListLine(e: TrashEntry, now: Date): string {
  const path = e.originalPath === null ? UNKNOWN_PATH : escapeField(e.originalPath);
  return `${e.token}\t${path}\t${e.size} bytes\t${formatAge(now.getTime() - e.deletedAt.getTime())} ago`;
}

/** The whole listing: a line per entry, or exactly `trash empty`. */
export function formatList(entries: readonly TrashEntry[], now: Date = new Date()): string {
  return entries.length ? entries.map((e) => `${formatListLine(e, now)}\n`).join('') : 'trash empty\n';
}
