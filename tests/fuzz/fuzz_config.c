/*
 * Fuzzes configuration values: the first input byte picks a variable, the
 * rest (up to a NUL, as the environment cannot hold one) becomes its value
 * through setenv. config_load must accept exactly the values the table in
 * config.h allows, read them back faithfully, and refuse the others with
 * RC_CONFIG and a message naming the variable.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/bug.h"
#include "core/base/rc.h"
#include "core/config/config.h"

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

extern char **environ;

/* The oracle: types and bounds straight from CONFIG_MAP. */
static const struct {
    enum config_type type;
    int64_t min, max;
} fuzz_entries[] = {
#define FUZZ__ROW(id, type, def, min, max, desc) {type, min, max},
    CONFIG_MAP(FUZZ__ROW)
#undef FUZZ__ROW
};

static const char *const fuzz_levels[] = {"debug", "info", "warn", "error"};

/* Removes every WEBTOON_* variable so only the fuzzed one is set. */
static void fuzz_clear_env(void)
{
    for (bool again = true; again;) {
        again = false;
        for (char **e = environ; *e; e++) {
            if (!strncmp(*e, "WEBTOON_", 8)) {
                char name[256];
                size_t len = strcspn(*e, "=");
                FUZZ_CHECK(len < sizeof name);
                memcpy(name, *e, len);
                name[len] = '\0';
                unsetenv(name);
                again = true;
                break;
            }
        }
    }
}

/* Whether <text> is a valid value of <id>; if so its number in <num>. */
static bool fuzz_expect_valid(enum config_id id, const char *text, int64_t *num)
{
    int64_t min = fuzz_entries[id].min, max = fuzz_entries[id].max;
    switch (fuzz_entries[id].type) {
    case CONFIG_STR: {
        size_t len = strlen(text);
        return (int64_t)len >= min && (int64_t)len <= max;
    }
    case CONFIG_INT: {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        *num = v;
        return !errno && end != text && *end == '\0' && v >= min && v <= max;
    }
    case CONFIG_BOOL:
        *num = !strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "yes");
        return *num || !strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "no");
    case CONFIG_LEVEL:
        for (size_t i = 0; i < ARRAY_LEN(fuzz_levels); i++) {
            if (!strcmp(text, fuzz_levels[i])) {
                *num = (int64_t)i;
                return true;
            }
        }
        return false;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    fuzz_clear_env();
    enum config_id id = (enum config_id)(data[0] % CONFIG__COUNT);
    size_t len = size - 1;
    const uint8_t *nul = memchr(data + 1, '\0', len);
    if (nul)
        len = (size_t)(nul - (data + 1));
    /* putenv, not setenv: glibc's setenv keeps every value it was ever
     * given, which a long fuzzing run would pile up */
    const char *name = config_name(id);
    size_t name_len = strlen(name);
    char *assignment = malloc(name_len + 1 + len + 1);
    if (!assignment)
        return 0;
    memcpy(assignment, name, name_len);
    assignment[name_len] = '=';
    char *text = assignment + name_len + 1;
    memcpy(text, data + 1, len);
    text[len] = '\0';
    FUZZ_CHECK(putenv(assignment) == 0);

    struct config cfg;
    char err[512] = "";
    int rc = config_load(&cfg, err, sizeof err);
    int64_t num = 0;
    /* an empty value means the default, which is always valid */
    bool valid = !*text || fuzz_expect_valid(id, text, &num);
    FUZZ_CHECK((rc == RC_OK) == valid);
    if (rc == RC_OK) {
        if (*text && fuzz_entries[id].type == CONFIG_STR)
            FUZZ_CHECK(!strcmp(config_str(&cfg, id), text));
        else if (*text)
            FUZZ_CHECK(config_int(&cfg, id) == num);
        config_cleanup(&cfg);
    } else {
        FUZZ_CHECK(rc == RC_CONFIG);
        FUZZ_CHECK(strstr(err, name) != NULL);
    }
    unsetenv(name); /* drops <assignment> from the environment */
    free(assignment);
    return 0;
}
