/* Environment configuration, validated at start; see config.h. */
#include "core/config/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/bug.h"
#include "core/base/mem.h"
#include "core/base/rc.h"

struct config_entry {
    const char *name;
    enum config_type type;
    const char *def;
    int64_t min; /* INT: smallest value; STR: shortest length */
    int64_t max; /* INT: largest value; STR: longest length */
    const char *desc;
};

static const struct config_entry config_table[] = {
#define CONFIG__ROW(id, type, def, min, max, desc) {"WEBTOON_" #id, type, def, min, max, desc},
    CONFIG_MAP(CONFIG__ROW)
#undef CONFIG__ROW
};

static const char *const config_levels[] = {"debug", "info", "warn", "error"};

const char *config_name(enum config_id id) { return config_table[id].name; }

/* Parses <text> as the value of entry <e>; on success stores it in <cfg>. */
static int config_parse(struct config *cfg, enum config_id id, const char *text, char *err,
                        size_t errlen)
{
    const struct config_entry *e = &config_table[id];
    switch (e->type) {
    case CONFIG_STR: {
        size_t len = strlen(text);
        if ((int64_t)len < e->min || (int64_t)len > e->max) {
            snprintf(err, errlen, "%s: expected %" PRId64 " to %" PRId64 " characters, got %zu",
                     e->name, e->min, e->max, len);
            return RC_CONFIG;
        }
        cfg->str[id] = mem_strdup(text);
        return cfg->str[id] ? RC_OK : RC_NOMEM;
    }
    case CONFIG_INT: {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (errno || end == text || *end != '\0' || v < e->min || v > e->max) {
            snprintf(err, errlen, "%s=%s: expected an integer from %" PRId64 " to %" PRId64,
                     e->name, text, e->min, e->max);
            return RC_CONFIG;
        }
        cfg->num[id] = v;
        return RC_OK;
    }
    case CONFIG_BOOL:
        if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "yes")) {
            cfg->num[id] = 1;
            return RC_OK;
        }
        if (!strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "no")) {
            cfg->num[id] = 0;
            return RC_OK;
        }
        snprintf(err, errlen, "%s=%s: expected true or false", e->name, text);
        return RC_CONFIG;
    case CONFIG_LEVEL:
        for (size_t i = 0; i < ARRAY_LEN(config_levels); i++) {
            if (!strcmp(text, config_levels[i])) {
                cfg->num[id] = (int64_t)i;
                return RC_OK;
            }
        }
        snprintf(err, errlen, "%s=%s: expected debug, info, warn or error", e->name, text);
        return RC_CONFIG;
    }
    return RC_INTERNAL;
}

int config_load(struct config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    for (int id = 0; id < CONFIG__COUNT; id++) {
        const char *text = getenv(config_table[id].name);
        if (!text || !*text)
            text = config_table[id].def;
        int rc = config_parse(cfg, (enum config_id)id, text, err, errlen);
        if (rc != RC_OK) {
            if (rc == RC_NOMEM)
                snprintf(err, errlen, "out of memory reading configuration");
            config_cleanup(cfg);
            return rc;
        }
    }
    return RC_OK;
}

void config_cleanup(struct config *cfg)
{
    for (int id = 0; id < CONFIG__COUNT; id++)
        MEM_FREE_NULL(cfg->str[id]);
}

const char *config_str(const struct config *cfg, enum config_id id)
{
    BUG_ON(config_table[id].type != CONFIG_STR);
    return cfg->str[id];
}

int64_t config_int(const struct config *cfg, enum config_id id)
{
    BUG_ON(config_table[id].type == CONFIG_STR);
    return cfg->num[id];
}

bool config_bool(const struct config *cfg, enum config_id id) { return config_int(cfg, id) != 0; }

void config_write_markdown(FILE *out)
{
    fprintf(out, "| variable | default | accepted | meaning |\n|---|---|---|---|\n");
    for (int id = 0; id < CONFIG__COUNT; id++) {
        const struct config_entry *e = &config_table[id];
        char accepted[64];
        switch (e->type) {
        case CONFIG_INT:
            snprintf(accepted, sizeof accepted, "%" PRId64 "–%" PRId64, e->min, e->max);
            break;
        case CONFIG_STR:
            snprintf(accepted, sizeof accepted, "text, %" PRId64 "–%" PRId64 " chars", e->min,
                     e->max);
            break;
        case CONFIG_BOOL:
            snprintf(accepted, sizeof accepted, "true/false");
            break;
        case CONFIG_LEVEL:
            snprintf(accepted, sizeof accepted, "debug/info/warn/error");
            break;
        }
        fprintf(out, "| `%s` | `%s` | %s | %s |\n", e->name, *e->def ? e->def : "(empty)", accepted,
                e->desc);
    }
}

void config_str_for(const struct config *cfg, enum config_id id, const char *service, char *out,
                    size_t len)
{
    static const char placeholder[] = "{service}";
    size_t at = 0;
    if (len)
        out[0] = '\0';
    for (const char *p = config_str(cfg, id); *p && at + 1 < len;) {
        bool hit = !strncmp(p, placeholder, sizeof placeholder - 1);
        int wrote =
            snprintf(out + at, len - at, "%.*s", hit ? (int)strlen(service) : 1, hit ? service : p);
        at += wrote > 0 ? (size_t)wrote : 0;
        p += hit ? sizeof placeholder - 1 : 1;
    }
}
