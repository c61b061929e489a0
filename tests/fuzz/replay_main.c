/*
 * Replays a fuzz corpus without libFuzzer: a main() that feeds every file
 * named on the command line, or found in a directory named there, to
 * LLVMFuzzerTestOneInput, once each, in name order. Linked in place of
 * libFuzzer in every build but the fuzz preset, so CTest checks that the
 * committed corpus still runs clean (under the asan preset, with the
 * sanitizers on). Exits 1 when an argument cannot be read or holds no input,
 * so a missing corpus fails loudly instead of passing empty.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs the target once on the contents of <path>; returns 0 or -1. The
 * buffer holds exactly the file, so ASan catches a read past its end. */
static int replay_file(const char *path)
{
    FILE *in = fopen(path, "rb");
    struct stat sb;
    if (!in || fstat(fileno(in), &sb) != 0) {
        perror(path);
        if (in)
            fclose(in);
        return -1;
    }
    size_t len = (size_t)sb.st_size;
    uint8_t *data = malloc(len ? len : 1);
    int rc = data && fread(data, 1, len, in) == len ? 0 : -1;
    fclose(in);
    if (rc == 0)
        LLVMFuzzerTestOneInput(data, len);
    else
        fprintf(stderr, "%s: cannot read\n", path);
    free(data);
    return rc;
}

static int replay_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every regular file in <dir>; returns how many, or -1. */
static int replay_dir(const char *dir)
{
    struct dirent **entries = NULL;
    int n = scandir(dir, &entries, NULL, alphasort);
    if (n < 0) {
        perror(dir);
        return -1;
    }
    int count = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, entries[i]->d_name);
        if (entries[i]->d_name[0] != '.' && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
            if (replay_file(path) != 0)
                count = -1;
            else if (count >= 0)
                count++;
        }
        free(entries[i]);
    }
    free(entries);
    return count;
}

int main(int argc, char **argv)
{
    int total = 0;
    qsort(argv + 1, (size_t)(argc > 1 ? argc - 1 : 0), sizeof *argv, replay_compare);
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) != 0) {
            perror(argv[i]);
            return 1;
        }
        int n = S_ISDIR(sb.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) == 0 ? 1 : -1;
        if (n <= 0) {
            fprintf(stderr, "%s: no input replayed\n", argv[i]);
            return 1;
        }
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 1;
    }
    printf("replayed %d inputs\n", total);
    return 0;
}
