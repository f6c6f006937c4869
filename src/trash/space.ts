// Whether a trash can take one more soft-deleted file: the one decision shared by the
// seccomp supervisor's path (src/server/interception.ts, through TrashTarget.full) and the FUSE
// daemon (src/fuse/daemon.ts). A file moved into a trash whose record then can't be written
// would be an orphan nobody can restore, so the delete is refused (ENOSPC) before the move.
import { statfsSync } from 'node:fs';

/** Free space and inodes a trash needs to take one more file (its metadata and marker). */
export const TRASH_MIN_FREE_BYTES = 1 << 20;
export const TRASH_MIN_FREE_INODES = 16;

/** Why the filesystem of `dir` cannot take a trash record now, or null. */
export function trashFull(dir: string): string | null {
  try {
    const st = statfsSync(dir);
    // The server writes the records: root may use the blocks reserved for it.
    const free = (process.getuid?.() === 0 ? st.bfree : st.bavail) * st.bsize;
    if (free < TRASH_MIN_FREE_BYTES) return `the trash's filesystem has ${free} bytes free (needs ${TRASH_MIN_FREE_BYTES})`;
    if (st.files > 0 && st.ffree < TRASH_MIN_FREE_INODES) return `the trash's filesystem has ${st.ffree} inodes free`;
    return null;
  } catch (err) {
    return `the trash is unusable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
}
