/*
 * The application layer: the module table (which targets exist and what
 * each one runs), the supervisor behind `webtoon up`, and the operator
 * commands (`events tail`, `events reset`). main.c only parses flags and
 * calls in here.
 */
#ifndef WEBTOON_APP_H
#define WEBTOON_APP_H

#include <stdbool.h>

#include "core/config/config.h"
#include "core/service/service.h"

/* One runnable target: a service, or `up` which depends on all of them. */
struct app_module {
    const char *name;
    const char *summary;
    const struct service_def *service; /* NULL for aggregate targets */
};

/* Every target in start order (stop order is the reverse). */
extern const struct app_module app_modules[];
extern const size_t app_modules_len;

/* The module called <name>, or NULL. */
const struct app_module *app_module_find(const char *name);

struct app_up_options {
    const char *self_exe; /* path of this binary, to start children */
    int replicas;         /* processes per service */
    bool demo;            /* load the demo catalog once everything is up */
};

/* `webtoon up`: runs every service as a child process, restarts crashed
 * children with back-off, stops all on SIGTERM/SIGINT. Returns the exit
 * status. */
int app_up(const struct config *cfg, const struct app_up_options *opts);

struct app_tail_options {
    bool from_beginning; /* else only new events */
    const char *type;    /* only this event type; NULL: all */
    bool verbose;        /* print offset, key and type before the payload */
    bool exit_at_end;    /* stop once caught up instead of following */
};

/* `webtoon events tail`: prints events as a console consumer would. */
int app_events_tail(const struct config *cfg, const struct app_tail_options *opts);

/* `webtoon events reset <group>`: moves a consumer group back to the start
 * of the log, so every event is delivered to it again. */
int app_events_reset(const struct config *cfg, const char *group);

/* `webtoon demo`: loads the demo catalog through the running webtoon
 * service and prints a walk-through. Returns an exit status. */
int app_demo(const struct config *cfg);

#endif
