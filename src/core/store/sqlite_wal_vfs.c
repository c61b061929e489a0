/* The WAL-coalescing VFS (sqlite_wal_vfs.h): a wrapper over SQLite's default
 * VFS whose files forward every call to the real file, except that a WAL
 * file keeps contiguous appends in a buffer until a commit frame, or
 * anything else touching the file, sends them. */
#include "core/store/sqlite_wal_vfs.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "core/base/mem.h"

#define WAL_VFS_NAME "webtoon-wal"
/* The unix VFS writes at most 128 KiB - 1 in one call (its seekAndWrite
 * masks the length to 17 bits); a bigger transaction goes out in pieces. */
#define WAL_BUFFER_MAX 0x1ffff
#define WAL_FRAME_HEADER 24 /* SQLite's WAL frame header, before each page */

struct wal_file {
    sqlite3_file base;  /* first: what SQLite holds */
    sqlite3_file *real; /* the default VFS's file, allocated right after this */
    bool wal;           /* a WAL file: appends are buffered */
    unsigned char *buf; /* appends not yet written, from file offset <at> */
    size_t len, cap;
    sqlite3_int64 at;
    bool commit_follows; /* the last append was a commit frame's header */
};

static sqlite3_vfs *wal_real_vfs;
static sqlite3_vfs wal_vfs;
static atomic_uint_fast64_t wal_writes_asked, wal_writes_made;

static sqlite3_file *real_of(sqlite3_file *f) { return ((struct wal_file *)f)->real; }

/* Writes the buffer out; on failure it is kept, and SQLite sees the error. */
static int wal_flush(struct wal_file *w)
{
    if (!w->len)
        return SQLITE_OK;
    int rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->at);
    if (rc != SQLITE_OK)
        return rc;
    atomic_fetch_add(&wal_writes_made, 1);
    w->len = 0;
    return SQLITE_OK;
}

static int wal_close(sqlite3_file *f)
{
    struct wal_file *w = (struct wal_file *)f;
    int rc = wal_flush(w);
    int closed = w->real->pMethods ? w->real->pMethods->xClose(w->real) : SQLITE_OK;
    mem_free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
    return rc != SQLITE_OK ? rc : closed;
}

static int wal_read(sqlite3_file *f, void *out, int amount, sqlite3_int64 offset)
{
    int rc = wal_flush((struct wal_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xRead(real_of(f), out, amount, offset);
}

/* Whether <data> is a WAL frame header whose frame ends a transaction: its
 * second field, the database size after the commit, is not zero. */
static bool wal_is_commit_header(const unsigned char *data, int amount)
{
    return amount == WAL_FRAME_HEADER && (data[4] | data[5] | data[6] | data[7]) != 0;
}

static int wal_write(sqlite3_file *f, const void *data, int amount, sqlite3_int64 offset)
{
    struct wal_file *w = (struct wal_file *)f;
    if (!w->wal)
        return w->real->pMethods->xWrite(w->real, data, amount, offset);
    atomic_fetch_add(&wal_writes_asked, 1);
    bool commit_page = w->commit_follows;
    w->commit_follows = wal_is_commit_header(data, amount);
    int rc;
    if (w->len && (offset != w->at + (sqlite3_int64)w->len || w->len + (size_t)amount > w->cap) &&
        (rc = wal_flush(w)) != SQLITE_OK)
        return rc;
    if ((size_t)amount > WAL_BUFFER_MAX) { /* too big to gather: straight out */
        rc = w->real->pMethods->xWrite(w->real, data, amount, offset);
        if (rc == SQLITE_OK)
            atomic_fetch_add(&wal_writes_made, 1);
        return rc;
    }
    if (!w->buf) {
        if (!(w->buf = mem_alloc(WAL_BUFFER_MAX)))
            return SQLITE_IOERR_NOMEM;
        w->cap = WAL_BUFFER_MAX;
    }
    if (!w->len)
        w->at = offset;
    memcpy(w->buf + w->len, data, (size_t)amount);
    w->len += (size_t)amount;
    /* The commit frame's page: the whole transaction goes out now, before
     * SQLite publishes it in the WAL index for the other connections. */
    return commit_page ? wal_flush(w) : SQLITE_OK;
}

static int wal_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = wal_flush((struct wal_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int wal_sync(sqlite3_file *f, int flags)
{
    int rc = wal_flush((struct wal_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int wal_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = wal_flush((struct wal_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int wal_lock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int wal_unlock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int wal_check_reserved_lock(sqlite3_file *f, int *out)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int wal_file_control(sqlite3_file *f, int op, void *arg)
{
    int rc = wal_flush((struct wal_file *)f);
    if (rc != SQLITE_OK)
        return rc;
    rc = real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
    /* PRAGMA vfs_list and error messages name the VFS: say it is wrapped. */
    if (op == SQLITE_FCNTL_VFSNAME && rc == SQLITE_OK)
        *(char **)arg = sqlite3_mprintf(WAL_VFS_NAME "/%z", *(char **)arg);
    return rc;
}

static int wal_sector_size(sqlite3_file *f)
{
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int wal_device_characteristics(sqlite3_file *f)
{
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int wal_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out)
{
    return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, out);
}

static int wal_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void wal_shm_barrier(sqlite3_file *f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }

static int wal_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}

static int wal_fetch(sqlite3_file *f, sqlite3_int64 offset, int amount, void **out)
{
    int rc = wal_flush((struct wal_file *)f);
    return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xFetch(real_of(f), offset, amount, out);
}

static int wal_unfetch(sqlite3_file *f, sqlite3_int64 offset, void *page)
{
    return real_of(f)->pMethods->xUnfetch(real_of(f), offset, page);
}

/* Version 3 methods: those of the unix VFS, which every call forwards to
 * (wal_open refuses a real file with fewer). */
static const sqlite3_io_methods wal_methods = {
    .iVersion = 3,
    .xClose = wal_close,
    .xRead = wal_read,
    .xWrite = wal_write,
    .xTruncate = wal_truncate,
    .xSync = wal_sync,
    .xFileSize = wal_file_size,
    .xLock = wal_lock,
    .xUnlock = wal_unlock,
    .xCheckReservedLock = wal_check_reserved_lock,
    .xFileControl = wal_file_control,
    .xSectorSize = wal_sector_size,
    .xDeviceCharacteristics = wal_device_characteristics,
    .xShmMap = wal_shm_map,
    .xShmLock = wal_shm_lock,
    .xShmBarrier = wal_shm_barrier,
    .xShmUnmap = wal_shm_unmap,
    .xFetch = wal_fetch,
    .xUnfetch = wal_unfetch,
};

static int wal_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    (void)vfs;
    struct wal_file *w = (struct wal_file *)f;
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)(w + 1);
    w->wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = wal_real_vfs->xOpen(wal_real_vfs, name, w->real, flags, out_flags);
    if (w->real->pMethods && w->real->pMethods->iVersion < wal_methods.iVersion) {
        if (rc == SQLITE_OK)
            w->real->pMethods->xClose(w->real);
        w->real->pMethods = NULL;
        rc = SQLITE_CANTOPEN;
    }
    /* SQLite closes a file whose open failed only when it has methods. */
    w->base.pMethods = w->real->pMethods ? &wal_methods : NULL;
    return rc;
}

/* Every other call of the VFS is the default one's. */
static int wal_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    (void)v;
    return wal_real_vfs->xDelete(wal_real_vfs, name, sync_dir);
}
static int wal_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return wal_real_vfs->xAccess(wal_real_vfs, name, flags, out);
}
static int wal_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return wal_real_vfs->xFullPathname(wal_real_vfs, name, n, out);
}
static void *wal_dl_open(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return wal_real_vfs->xDlOpen(wal_real_vfs, name);
}
static void wal_dl_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    wal_real_vfs->xDlError(wal_real_vfs, n, out);
}
static void (*wal_dl_sym(sqlite3_vfs *v, void *lib, const char *sym))(void)
{
    (void)v;
    return wal_real_vfs->xDlSym(wal_real_vfs, lib, sym);
}
static void wal_dl_close(sqlite3_vfs *v, void *lib)
{
    (void)v;
    wal_real_vfs->xDlClose(wal_real_vfs, lib);
}
static int wal_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return wal_real_vfs->xRandomness(wal_real_vfs, n, out);
}
static int wal_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return wal_real_vfs->xSleep(wal_real_vfs, us);
}
static int wal_current_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return wal_real_vfs->xCurrentTime(wal_real_vfs, out);
}
static int wal_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return wal_real_vfs->xGetLastError(wal_real_vfs, n, out);
}
static int wal_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return wal_real_vfs->xCurrentTimeInt64(wal_real_vfs, out);
}

static const char *wal_vfs_registered;

static void wal_vfs_register(void)
{
    wal_real_vfs = sqlite3_vfs_find(NULL);
    if (!wal_real_vfs || wal_real_vfs->iVersion < 2)
        return;
    wal_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct wal_file) + wal_real_vfs->szOsFile,
        .mxPathname = wal_real_vfs->mxPathname,
        .zName = WAL_VFS_NAME,
        .xOpen = wal_open,
        .xDelete = wal_delete,
        .xAccess = wal_access,
        .xFullPathname = wal_full_pathname,
        .xDlOpen = wal_dl_open,
        .xDlError = wal_dl_error,
        .xDlSym = wal_dl_sym,
        .xDlClose = wal_dl_close,
        .xRandomness = wal_randomness,
        .xSleep = wal_sleep,
        .xCurrentTime = wal_current_time,
        .xGetLastError = wal_last_error,
        .xCurrentTimeInt64 = wal_current_time_int64,
    };
    if (sqlite3_vfs_register(&wal_vfs, 0) == SQLITE_OK)
        wal_vfs_registered = WAL_VFS_NAME;
}

const char *sqlite_wal_vfs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, wal_vfs_register);
    return wal_vfs_registered;
}

void sqlite_wal_vfs_stats(struct sqlite_wal_vfs_stats *out)
{
    *out = (struct sqlite_wal_vfs_stats){.asked = atomic_load(&wal_writes_asked),
                                         .made = atomic_load(&wal_writes_made)};
}
