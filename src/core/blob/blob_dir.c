/*
 * Blobs as files under one directory (the data directory on one machine):
 * key "img/ab12/thumb" is the file <root>/img/ab12/thumb.
 *
 * A put writes a temporary file beside the final one, fsyncs it, renames it
 * over the final name and fsyncs the directory, so a crash at any point
 * leaves the old object or the new one under the key, never part of one.
 * Temporary names start with '~', which no key may contain, so no key
 * ever names one. Every path is resolved relative to a descriptor of the root
 * (openat and friends): nothing depends on the working directory, and
 * threads share the store without a lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/blob/blob_internal.h"

#define BLOB_DIR_PATH_MAX 1024

struct blob_dir {
    struct blob_store base;
    int root_fd; /* O_DIRECTORY descriptor of the root, for the *at() calls */
};

/* Distinguishes the temporary files of one process's concurrent puts. */
static atomic_uint blob_dir_seq;

static struct blob_dir *blob_dir_of(struct blob_store *b) { return (struct blob_dir *)b; }

/* Creates <path> and its missing parents, like mkdir -p. */
static int blob_dir_mkdirs(const char *path, char *err, size_t errlen)
{
    char copy[BLOB_DIR_PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof copy) {
        snprintf(err, errlen, "blob directory path too long");
        return RC_CONFIG;
    }
    memcpy(copy, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (copy[i] != '/' && copy[i] != '\0')
            continue;
        char saved = copy[i];
        copy[i] = '\0';
        if (mkdir(copy, 0750) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "cannot create blob directory %s: %s", copy, strerror(errno));
            return RC_IO;
        }
        copy[i] = saved;
    }
    return RC_OK;
}

int blob__dir_open_path(const char *path, struct blob_store **out, char *err, size_t errlen)
{
    int rc = blob_dir_mkdirs(path, err, errlen);
    if (rc != RC_OK)
        return rc;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open blob directory %s: %s", path, strerror(errno));
        return RC_IO;
    }
    struct blob_dir *d = mem_calloc(1, sizeof *d);
    if (!d) {
        close(fd);
        return RC_NOMEM;
    }
    d->base.ops = &blob__dir_ops;
    d->root_fd = fd;
    *out = &d->base;
    return RC_OK;
}

static int blob_dir_open(const char *rest, const struct blob_s3_settings *s3,
                         struct blob_store **out, char *err, size_t errlen)
{
    (void)s3;
    if (rest[0] != '/') {
        snprintf(err, errlen,
                 "file:// blob URL needs an absolute path (file:///abs/dir), not '%.200s'", rest);
        return RC_CONFIG;
    }
    return blob__dir_open_path(rest, out, err, errlen);
}

/* Maps the errno of a failed file operation to a result code. */
static int blob_dir_rc(int error)
{
    switch (error) {
    case ENOMEM:
        return RC_NOMEM;
    case ENOTDIR: /* a segment of the key is an object */
    case EISDIR:  /* the key is the prefix of other objects */
        return RC_CONFLICT;
    default:
        return RC_IO;
    }
}

/* Makes the entry of the new directory <dir> (relative to the root)
 * durable: fsyncs the directory holding it. Returns 0 or -1 with errno. */
static int blob_dir_sync_parent(struct blob_dir *d, char *dir)
{
    char *slash = strrchr(dir, '/');
    if (!slash)
        return fsync(d->root_fd);
    *slash = '\0';
    int fd = openat(d->root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    *slash = '/';
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Opens the directory of <key> (everything before its last '/'), creating
 * missing segments when <create>; sets <name> to the last segment (borrowed
 * from <key>). Returns a new descriptor (close it) or -1 with errno set. */
static int blob_dir_parent(struct blob_dir *d, const char *key, bool create, const char **name)
{
    const char *slash = strrchr(key, '/');
    *name = slash ? slash + 1 : key;
    if (!slash)
        return dup(d->root_fd);
    char dir[BLOB_KEY_MAX + 1];
    size_t len = (size_t)(slash - key);
    memcpy(dir, key, len);
    dir[len] = '\0';
    for (size_t i = 0; create && i <= len; i++) {
        if (dir[i] != '/' && dir[i] != '\0')
            continue;
        char saved = dir[i];
        dir[i] = '\0';
        if (mkdirat(d->root_fd, dir, 0750) == 0) {
            if (blob_dir_sync_parent(d, dir) != 0)
                return -1;
        } else if (errno != EEXIST) {
            return -1;
        }
        dir[i] = saved;
    }
    return openat(d->root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int blob_dir_write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int blob_dir_put(struct blob_store *b, const char *key, const void *data, size_t len,
                        const char *content_type)
{
    (void)content_type;
    struct blob_dir *d = blob_dir_of(b);
    const char *name = NULL;
    char tmp[64] = ""; /* the temporary file's name while it exists */
    int rc = RC_OK, fd = -1;
    int dir_fd = blob_dir_parent(d, key, true, &name);
    if (dir_fd < 0) {
        rc = blob_dir_rc(errno);
        goto out;
    }
    for (int attempt = 0; fd < 0; attempt++) {
        snprintf(tmp, sizeof tmp, "~%ld.%u", (long)getpid(), atomic_fetch_add(&blob_dir_seq, 1));
        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd < 0 && (errno != EEXIST || attempt == 100)) {
            tmp[0] = '\0';
            rc = blob_dir_rc(errno);
            goto out;
        }
    }
    if (blob_dir_write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        rc = blob_dir_rc(errno);
        goto out;
    }
    int closed = close(fd);
    fd = -1;
    if (closed != 0 || renameat(dir_fd, tmp, dir_fd, name) != 0) {
        rc = blob_dir_rc(errno);
        goto out;
    }
    tmp[0] = '\0'; /* renamed: nothing to remove */
    if (fsync(dir_fd) != 0)
        rc = RC_IO;
out:
    if (fd >= 0)
        close(fd);
    if (tmp[0])
        unlinkat(dir_fd, tmp, 0);
    if (dir_fd >= 0)
        close(dir_fd);
    return rc;
}

static int blob_dir_get(struct blob_store *b, const char *key, struct buf *out)
{
    struct blob_dir *d = blob_dir_of(b);
    int fd = openat(d->root_fd, key, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? RC_NOT_FOUND : blob_dir_rc(errno);
    int rc = RC_OK;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = RC_IO;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) { /* a directory: a prefix of keys, not one */
        rc = RC_NOT_FOUND;
        goto out;
    }
    if ((unsigned long long)st.st_size > out->max) {
        rc = RC_TOO_LARGE;
        goto out;
    }
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = RC_IO;
            goto out;
        }
        if (n == 0)
            break;
        rc = buf_append(out, chunk, (size_t)n);
        if (rc != RC_OK)
            goto out;
    }
out:
    close(fd);
    return rc;
}

static int blob_dir_delete(struct blob_store *b, const char *key)
{
    struct blob_dir *d = blob_dir_of(b);
    const char *name = NULL;
    int dir_fd = blob_dir_parent(d, key, false, &name);
    if (dir_fd < 0)
        return errno == ENOENT || errno == ENOTDIR ? RC_OK : blob_dir_rc(errno);
    int rc = RC_OK;
    if (unlinkat(dir_fd, name, 0) == 0)
        rc = fsync(dir_fd) == 0 ? RC_OK : RC_IO;
    else if (errno != ENOENT && errno != EISDIR) /* EISDIR: a prefix, no object */
        rc = blob_dir_rc(errno);
    close(dir_fd);
    return rc;
}

static void blob_dir_close(struct blob_store *b)
{
    struct blob_dir *d = blob_dir_of(b);
    close(d->root_fd);
    mem_free(d);
}

const struct blob_ops blob__dir_ops = {
    .scheme = "file://",
    .open = blob_dir_open,
    .put = blob_dir_put,
    .get = blob_dir_get,
    .del = blob_dir_delete,
    .close = blob_dir_close,
};
