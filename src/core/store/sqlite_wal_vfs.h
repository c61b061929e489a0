/*
 * A SQLite VFS that writes each transaction's write-ahead log frames in one
 * write instead of two per frame.
 *
 * SQLite appends a WAL frame as two writes, its 24-byte header and then its
 * page, so a commit of N pages costs 2N pwrite calls. This VFS wraps the
 * default one and, for WAL files only, gathers contiguous appends in a
 * buffer. The buffer goes to the file:
 *  - right after the page of a commit frame (a header whose "database size
 *    after commit" field is not zero), so that before SQLite makes the
 *    commit visible in the WAL index, every frame of it is in the file,
 *    where other connections and processes read it;
 *  - before anything else touches the file: a read, a write elsewhere (a
 *    frame rewritten in place, the log restarting), a sync, a truncate, a
 *    size query, a file control, the close;
 *  - when it is full.
 * Frames of a transaction not yet committed may wait in the buffer: no other
 * connection reads past the last commit, and this one reads through the
 * buffer's flush. A process killed meanwhile loses only frames that no
 * commit covered, which recovery ignores anyway. Durability is unchanged:
 * synchronous=FULL still syncs after the commit frame, and the sync flushes.
 * Other files (the database, its shared memory, journals) pass straight
 * through.
 */
#ifndef WEBTOON_STORE_SQLITE_WAL_VFS_H
#define WEBTOON_STORE_SQLITE_WAL_VFS_H

#include <stdint.h>

/* Registers the VFS (once, thread-safe; not as the default) and returns its
 * name for sqlite3_open_v2, or NULL when it could not be registered. */
const char *sqlite_wal_vfs(void);

/* What the VFS did since the process started, for tests and profiles. */
struct sqlite_wal_vfs_stats {
    uint64_t asked; /* WAL writes SQLite asked for */
    uint64_t made;  /* WAL writes that reached the file */
};
void sqlite_wal_vfs_stats(struct sqlite_wal_vfs_stats *out);

#endif
