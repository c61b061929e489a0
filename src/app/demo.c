/*
 * `webtoon demo`: loads a small store through the webtoon service's API (as
 * an admin would): series of several genres and statuses, each with free,
 * paid and wait-until-free episodes (free a few days after loading), then
 * prints a walk-through of the original scenarios. Loading twice changes
 * nothing: existing series and episodes are left alone. Catalog writes need
 * an admin: it sends the confidential client's service-account token
 * (app_service_token), from whichever issuer is configured.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "app/demo_art.h"
#include "app/http_client.h"
#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/base/thread.h"
#include "core/image/image.h"

static const char *const demo_series[] = {
    "{\"seriesId\":\"niceguy\",\"title\":\"Nice Guy\",\"author\":\"Kim Dokja\","
    "\"synopsis\":\"An office worker who never says no, until the day he does.\","
    "\"genres\":[\"drama\",\"romance\"],\"status\":\"ongoing\"}",
    "{\"seriesId\":\"tower\",\"title\":\"Tower of Dreams\",\"author\":\"Han Yura\","
    "\"synopsis\":\"Every floor of the tower grants one wish. Nobody has reached the top.\","
    "\"genres\":[\"fantasy\",\"action\"],\"status\":\"completed\"}",
    "{\"seriesId\":\"seoul-night\",\"title\":\"Seoul at Night\",\"author\":\"Park Min\","
    "\"synopsis\":\"A night-shift taxi driver keeps picking up the same passenger.\","
    "\"genres\":[\"thriller\",\"drama\"],\"status\":\"hiatus\"}",
    "{\"seriesId\":\"cafe-nicolette\",\"title\":\"Caf\u00e9 Nicolette\",\"author\":\"Lee Ara\","
    "\"synopsis\":\"A tiny caf\u00e9, its regulars, and the cat who runs it.\","
    "\"genres\":[\"romance\",\"comedy\",\"slice-of-life\"],\"status\":\"ongoing\"}",
    "{\"seriesId\":\"iron-court\",\"title\":\"Iron Court\",\"author\":\"Choi Jun\","
    "\"synopsis\":\"The worst basketball team in the league gets a coach who has never played.\","
    "\"genres\":[\"sports\",\"comedy\"],\"status\":\"ongoing\"}",
};

/* An episode; <free_in_days> > 0: wait until free, that many days after loading. */
struct demo_episode {
    const char *webtoon_id, *series_id, *title, *author;
    int point, episode, free_in_days;
};

static const struct demo_episode demo_episodes[] = {
    {"niceguy", "niceguy", "Nice Guy", "Kim Dokja", 100, 1, 0},
    {"niceguy-2", "niceguy", "Nice Guy", "Kim Dokja", 100, 2, 0},
    {"niceguy-3", "niceguy", "Nice Guy", "Kim Dokja", 100, 3, 3},
    {"tower-1", "tower", "Tower of Dreams", "Han Yura", 0, 1, 0},
    {"tower-2", "tower", "Tower of Dreams", "Han Yura", 600, 2, 0},
    {"tower-3", "tower", "Tower of Dreams", "Han Yura", 300, 3, 5},
    {"seoul-night-1", "seoul-night", "Seoul at Night", "Park Min", 300, 1, 0},
    {"seoul-night-2", "seoul-night", "Seoul at Night", "Park Min", 300, 2, 2},
    {"cafe-nicolette-1", "cafe-nicolette", "Caf\u00e9 Nicolette", "Lee Ara", 0, 1, 0},
    {"cafe-nicolette-2", "cafe-nicolette", "Caf\u00e9 Nicolette", "Lee Ara", 0, 2, 0},
    {"cafe-nicolette-3", "cafe-nicolette", "Caf\u00e9 Nicolette", "Lee Ara", 50, 3, 4},
    {"iron-court-1", "iron-court", "Iron Court", "Choi Jun", 0, 1, 0},
    {"iron-court-2", "iron-court", "Iron Court", "Choi Jun", 120, 2, 0},
};

/* POSTs <body> to <path>; 1 when added, 0 when it was there already, -1
 * (said why) on any other answer. */
static int demo_post(int port, const char *auth, const char *path, const char *body)
{
    char resp[1024];
    int status = 0;
    if (app_http_with("POST", port, path, auth, body, 5000, &status, resp, sizeof resp) != 0) {
        fprintf(stderr,
                "webtoon demo: the webtoon service does not answer on port %d; is "
                "`webtoon up` running?\n",
                port);
        return -1;
    }
    if (status == 201 || status == 409)
        return status == 201;
    fprintf(stderr, "webtoon demo: POST %s failed (%d): %s\n", path, status, resp);
    return -1;
}

static const char demo_walkthrough[] =
    "Demo store loaded: five series; among their episodes niceguy (100 points),\n"
    "niceguy-2 (100), tower-1 (free), tower-2 (600), seoul-night-1 (300), and some\n"
    "free in a few days (wait until free). Try the original walk-through, as alice\n"
    "(with the built-in issuer; sign in through the web app for a real session):\n"
    "\n"
    "  T=\"Authorization: Bearer $(webtoon token alice)\"\n"
    "  curl -s -XPOST localhost:%d/pointers -H \"$T\" -H 'Content-Type: application/json' -d "
    "'{\"userId\":\"alice\"}'\n"
    "  curl -s -XPOST localhost:%d/payments -H \"$T\" -H 'Content-Type: application/json' -d "
    "'{\"userId\":\"alice\",\"point\":600}'\n"
    "  curl -s -XPOST localhost:%d/purchases -H \"$T\" -H 'Content-Type: application/json' -d "
    "'{\"userId\":\"alice\",\"webtoonId\":\"niceguy\"}'\n"
    "  curl -s -H \"$T\" 'localhost:%d/histories/alice'\n"
    "\n"
    "README.md walks through the rest: the compensation case, cancel, refund, withdraw.\n";

#define DEMO_PAGES 3 /* drawn per episode */

/* Draws art <what> (a cover, or page <page> of episode <episode>) of the
 * series <e> names and sends it to <path> with <method>; 1 when sent, -1
 * (said why) when not. */
static int demo_send_art(int port, const char *auth, const struct demo_episode *e,
                         const char *method, const char *path, int episode, int page)
{
    struct demo_art_series art = {e->title, e->author, demo_art_seed(e->series_id)};
    struct buf svg, image;
    char resp[1024];
    int status = 0, sent = -1;
    buf_init(&svg, 4u << 20);
    buf_init(&image, 16u << 20);
    int rc = page ? demo_art_page(&art, episode, page, &svg) : demo_art_cover(&art, &svg);
    if (rc == RC_OK)
        rc = image_render_svg(svg.data, svg.len, &image);
    if (rc != RC_OK)
        fprintf(stderr, "webtoon demo: cannot draw the art of %s: %s\n", e->webtoon_id,
                rc_title(rc));
    else if (app_http_bytes(method, port, path, auth, "image/png", image.data, image.len, 30000,
                            &status, resp, sizeof resp) != 0 ||
             (status != 200 && status != 201))
        fprintf(stderr, "webtoon demo: %s %s failed (%d): %s\n", method, path, status, resp);
    else
        sent = 1;
    buf_cleanup(&svg);
    buf_cleanup(&image);
    return sent;
}

/* The art of the demo, drawn and sent by DEMO_ART_WORKERS threads, one
 * episode at a time each (its pages in order): while the webtoon service
 * resizes one page, the next is being drawn. */
#define DEMO_ART_WORKERS 2

struct demo_art_run {
    int port;
    const char *auth;
    atomic_size_t next;       /* the next episode to take */
    atomic_int covers, pages; /* sent */
    atomic_bool failed;       /* a send failed (said why): the others stop */
};

/* Gives episode <e> its pages, and its series a cover when <e> is the
 * first episode and the series has none; only what is missing. */
static int demo_art_episode(struct demo_art_run *run, const struct demo_episode *e)
{
    char path[160], resp[16384];
    int status = 0;
    snprintf(path, sizeof path, "/series/%s", e->series_id);
    if (e->episode == 1 &&
        app_http_with("GET", run->port, path, run->auth, NULL, 5000, &status, resp, sizeof resp) ==
            0 &&
        status == 200 && !strstr(resp, "\"cover\"")) {
        snprintf(path, sizeof path, "/series/%s/cover", e->series_id);
        if (demo_send_art(run->port, run->auth, e, "PUT", path, 0, 0) < 0)
            return -1;
        atomic_fetch_add(&run->covers, 1);
    }
    snprintf(path, sizeof path, "/webtoons/%s", e->webtoon_id);
    if (app_http_with("GET", run->port, path, run->auth, NULL, 5000, &status, resp, sizeof resp) !=
            0 ||
        status != 200 || !strstr(resp, "\"pages\":0"))
        return 0;
    snprintf(path, sizeof path, "/webtoons/%s/pages", e->webtoon_id);
    for (int p = 1; p <= DEMO_PAGES && !atomic_load(&run->failed); p++) {
        if (demo_send_art(run->port, run->auth, e, "POST", path, e->episode, p) < 0)
            return -1;
        atomic_fetch_add(&run->pages, 1);
    }
    return 0;
}

static void *demo_art_worker(void *arg)
{
    struct demo_art_run *run = arg;
    size_t n = sizeof demo_episodes / sizeof demo_episodes[0], i;
    while (!atomic_load(&run->failed) && (i = atomic_fetch_add(&run->next, 1)) < n)
        if (demo_art_episode(run, &demo_episodes[i]) != 0)
            atomic_store(&run->failed, true);
    return NULL;
}

/* Gives each demo series a cover and each demo episode its pages, where
 * they have none yet; counts what it sent into <covers> and <pages>. */
static int demo_art(int port, const char *auth, int *covers, int *pages)
{
    struct demo_art_run run = {.port = port, .auth = auth};
    pthread_t workers[DEMO_ART_WORKERS];
    int started = 0;
    while (started < DEMO_ART_WORKERS &&
           thread_start(&workers[started], "demo-art", demo_art_worker, &run) == 0)
        started++;
    if (started == 0)
        demo_art_worker(&run); /* no thread: this one does it all */
    for (int i = 0; i < started; i++)
        pthread_join(workers[i], NULL);
    *covers = atomic_load(&run.covers);
    *pages = atomic_load(&run.pages);
    return atomic_load(&run.failed) ? -1 : 0;
}

int app_demo(const struct config *cfg)
{
    int port = (int)config_int(cfg, CONFIG_WEBTOON_PORT);
    int series = 0, episodes = 0, added;
    char err[512] = "", auth[4096];
    char *token = NULL;
    if (app_service_token(cfg, &token, err, sizeof err) != 0) {
        fprintf(stderr, "webtoon demo: cannot get an admin token: %s\n", err);
        return 1;
    }
    snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
    mem_free(token);
    for (size_t i = 0; i < sizeof demo_series / sizeof demo_series[0]; i++) {
        if ((added = demo_post(port, auth, "/series", demo_series[i])) < 0)
            return 1;
        series += added;
    }
    int64_t now = clock_wall_ms();
    for (size_t i = 0; i < sizeof demo_episodes / sizeof demo_episodes[0]; i++) {
        const struct demo_episode *e = &demo_episodes[i];
        char free_from[64] = "", body[512];
        if (e->free_in_days > 0) {
            char at[32];
            clock_format_rfc3339(now + (int64_t)e->free_in_days * 24 * 3600 * 1000, at, sizeof at);
            snprintf(free_from, sizeof free_from, ",\"freeFrom\":\"%s\"", at);
        }
        snprintf(body, sizeof body,
                 "{\"webtoonId\":\"%s\",\"seriesId\":\"%s\",\"title\":\"%s\",\"author\":\"%s\","
                 "\"point\":%d,\"episode\":%d,\"status\":\"published\"%s}",
                 e->webtoon_id, e->series_id, e->title, e->author, e->point, e->episode, free_from);
        if ((added = demo_post(port, auth, "/webtoons", body)) < 0)
            return 1;
        episodes += added;
    }
    int covers = 0, pages = 0;
    if (demo_art(port, auth, &covers, &pages) != 0)
        return 1;
    fprintf(stderr, "\n%d demo series and %d demo episodes added, %d covers and %d pages drawn.\n",
            series, episodes, covers, pages);
    fprintf(stderr, demo_walkthrough, (int)config_int(cfg, CONFIG_POINTER_PORT),
            (int)config_int(cfg, CONFIG_PAYMENT_PORT), (int)config_int(cfg, CONFIG_PURCHASE_PORT),
            (int)config_int(cfg, CONFIG_HISTORY_PORT));
    return 0;
}
