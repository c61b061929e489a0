/*
 * `webtoon up`: the supervisor. Starts every target of the module table as
 * a child process (`webtoon serve <name>`; services and the web server
 * WEBTOON_REPLICAS times), waits until each answers /healthz, prints where to
 * find them, and then:
 *   - restarts a child that dies, with exponential back-off;
 *   - on SIGHUP restarts every replica one at a time, each only once the one
 *     before is ready again, so that the gateway always has somewhere to send
 *     requests (a zero-downtime rollout);
 *   - on SIGTERM/SIGINT stops the children newest first (the gateway first)
 *     and waits for their drain.
 * No wait for a child is unbounded: one that has not exited within
 * stop_bound_ms of its stop signal (a hung or SIGSTOPped process) is killed
 * with SIGKILL, so neither a rollout nor a shutdown can hang on it.
 * A child that cannot start at all (exit status 2) during the first start
 * stops the whole system: restarting a misconfiguration would only hide it.
 *
 * With WEBTOON_LOKI_URL set, every child's stdout is a pipe to this
 * process, and so is its own: the log shipper (core/logship) prints each
 * line on the real stdout, unchanged, and pushes it to the Loki endpoint
 * from threads of its own, so the supervisor loop never waits for it. A
 * child's stdout then dies with this process, so children ignore SIGPIPE
 * (a line written after that is lost, not the child) and get their stop
 * signal when it dies (PR_SET_PDEATHSIG), draining as on Ctrl-C, instead
 * of serving on with nowhere to log. Without the setting they inherit the
 * stdout of `up` and outlive it, as they always did. stderr is never
 * piped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "app/app.h"
#include "app/http_client.h"
#include "core/auth/jwks.h"
#include "core/base/clock.h"
#include "core/base/mem.h"
#include "core/base/rc.h"
#include "core/log/log.h"
#include "core/logship/logship.h"

#define UP_BACKOFF_MIN_MS 100
#define UP_BACKOFF_MAX_MS 5000
#define UP_STABLE_MS 10000        /* a child up this long gets a fresh back-off */
#define UP_START_TIMEOUT_MS 15000 /* every child healthy within this, or give up */
#define UP_REPLICA_PORT_STEP 100  /* replica r listens on its port + r * step */
/* The gateway checks /readyz every 500 ms and needs 2 good answers: a
 * draining service stays reachable this long after its readiness turns red,
 * and a rollout gives each new replica this long before taking the next. */
#define UP_DRAIN_DELAY_MS 1500
#define UP_ROLL_SETTLE_MS 1500
#define UP_STOP_GRACE_MS 5000 /* beyond a child's own drain bounds: exit, sanitizer reports */
#define UP_KILL_WAIT_MS 2000  /* for the kernel to take a SIGKILLed child down */
#define UP_LOG_BUFFER_BYTES (16 * 1024 * 1024) /* log lines held for WEBTOON_LOKI_URL */

extern char **environ;

struct up_child {
    const struct app_module *module;
    int replica;
    int port;
    pid_t pid;    /* 0 when not running */
    bool healthy; /* answered /healthz since its last start */
    bool rolling; /* being restarted on purpose: no back-off restart */
    int64_t started_ms;
    int64_t backoff_ms;
    int64_t restart_at; /* monotonic ms of a scheduled restart; 0: none */
};

struct up {
    const struct config *cfg;
    const struct app_up_options *opts;
    struct up_child *children;
    size_t n;
    int sigfd;
    bool stopping;
    int64_t stop_bound_ms; /* longest a child may take to exit after its stop signal */
    char pid_file[4096];
    pid_t demo;           /* `webtoon demo` loading the demo catalog (--demo); 0: none */
    struct logship *ship; /* WEBTOON_LOKI_URL set: reads the children's stdout; else NULL */
    int out_fd;           /* with ship: the real stdout (fd 1 is a pipe to ship); else -1 */
};

/*
 * The environment of <c>'s process, as a new NULL-terminated array (free
 * with mem_free) of this process's strings and two of the caller's: <port>
 * and <delay> are filled in with WEBTOON_PORT, and WEBTOON_DRAIN_DELAY_MS
 * unless the user chose one. NULL when out of memory. Made before fork():
 * with the log shipper's threads running, a child may only call
 * async-signal-safe functions until it execs, and setenv allocates.
 */
static char **up_child_env(const struct up_child *c, char *port, size_t port_len, char *delay,
                           size_t delay_len)
{
    static const char port_var[] = "WEBTOON_PORT=", delay_var[] = "WEBTOON_DRAIN_DELAY_MS=";
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = mem_calloc(n + 3, sizeof *env);
    if (!env)
        return NULL;
    snprintf(port, port_len, "%s%d", port_var, c->port);
    snprintf(delay, delay_len, "%s%d", delay_var, UP_DRAIN_DELAY_MS);
    size_t k = 0;
    bool user_delay = false;
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(environ[i], port_var, sizeof port_var - 1))
            continue;
        user_delay |= !strncmp(environ[i], delay_var, sizeof delay_var - 1);
        env[k++] = environ[i];
    }
    env[k++] = port;
    if (!user_delay)
        env[k++] = delay;
    return env;
}

/* Marks every file descriptor from <first> up close-on-exec;
 * async-signal-safe, for a forked child. */
static void up_child_cloexec_from(int first)
{
    if (close_range((unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
    struct rlimit lim; /* a kernel before 5.11: one by one */
    int max =
        getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < 65536 ? (int)lim.rlim_cur : 65536;
    for (int fd = first; fd < max; fd++)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Writes <s> to stderr; async-signal-safe, for a forked child. */
static void up_child_say(const char *s)
{
    if (write(STDERR_FILENO, s, strlen(s)) < 0) {
        /* nowhere left to say it */
    }
}

/*
 * Forks and execs `webtoon serve <c>` with signals unblocked. With the log
 * shipper, its stdout is a new pipe whose read end goes to the shipper
 * (when no pipe can be made, it inherits this process's stdout, itself a
 * pipe to the shipper), and it gets its stop signal when this process
 * dies. Returns the pid, or -1 with errno set.
 */
static pid_t up_spawn(struct up *up, struct up_child *c)
{
    char port[32], delay[48];
    char **env = up_child_env(c, port, sizeof port, delay, sizeof delay);
    if (!env) {
        errno = ENOMEM;
        return -1;
    }
    int out[2] = {-1, -1};
    if (up->ship && pipe2(out, O_CLOEXEC) != 0) {
        log_warn("no pipe for the log lines of %s (%s); it writes to up's own", c->module->name,
                 strerror(errno));
        out[0] = out[1] = -1;
    }
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (out[1] >= 0)
            dup2(out[1], STDOUT_FILENO);
        /* A child needs stdin, stdout and stderr only. Whatever else is open
         * here (other children's pipes, libcurl's sockets and socketpairs,
         * which it does not make close-on-exec) closes at exec. */
        up_child_cloexec_from(3);
        if (up->ship &&
            (prctl(PR_SET_PDEATHSIG, c->module->stop_signal) != 0 || getppid() != parent))
            _exit(1); /* up is already gone */
        char *argv[] = {"webtoon", "serve", (char *)c->module->name, NULL};
        execve(up->opts->self_exe, argv, env);
        up_child_say("cannot run ");
        up_child_say(up->opts->self_exe);
        up_child_say(": ");
        up_child_say(strerrordesc_np(errno));
        up_child_say("\n");
        _exit(127);
    }
    int fork_errno = errno;
    mem_free(env);
    if (out[1] >= 0)
        close(out[1]);
    if (out[0] >= 0 && pid < 0)
        close(out[0]);
    else if (out[0] >= 0 && logship_attach(up->ship, out[0], c->module->name) != RC_OK)
        log_error("cannot read the log lines of %s; they are lost", c->module->name);
    errno = fork_errno;
    return pid;
}

/*
 * Starts `webtoon demo` beside the children (--demo): drawing and uploading
 * the demo's images takes a while, during which this process must go on
 * supervising and answer a Ctrl-C. Its output goes where this process's
 * goes; it dies with this process.
 */
static void up_start_demo(struct up *up)
{
    pid_t parent = getpid(), pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        up_child_cloexec_from(3);
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
            _exit(1);
        char *argv[] = {"webtoon", "demo", NULL};
        execve(up->opts->self_exe, argv, environ);
        up_child_say("cannot run the demo: ");
        up_child_say(strerrordesc_np(errno));
        up_child_say("\n");
        _exit(127);
    }
    if (pid < 0)
        log_error("cannot fork for the demo: %s", strerror(errno));
    else
        up->demo = pid;
}

static void up_start_child(struct up *up, struct up_child *c)
{
    c->pid = up_spawn(up, c);
    c->healthy = c->rolling = false;
    c->started_ms = clock_mono_ms();
    c->restart_at = 0;
    if (c->pid < 0) {
        log_error("cannot fork for %s: %s", c->module->name, strerror(errno));
        c->pid = 0;
        c->restart_at = clock_mono_ms() + UP_BACKOFF_MAX_MS;
    }
}

/* True when 127.0.0.1:<port><path> answers 200. */
static bool up_answers(int port, const char *path)
{
    int status = 0;
    return app_http("GET", port, path, NULL, 1000, &status, NULL, 0) == 0 && status == 200;
}

static struct up_child *up_find(struct up *up, pid_t pid)
{
    for (size_t i = 0; i < up->n; i++)
        if (up->children[i].pid == pid)
            return &up->children[i];
    return NULL;
}

/* Reaps exited children. Returns 2 when one could not start during the
 * first start, else 0. */
static int up_reap(struct up *up, bool first_start)
{
    int fatal = 0, status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == up->demo) {
            up->demo = 0;
            if (!up->stopping && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
                log_warn("the demo catalog could not be loaded (see above); run `webtoon "
                         "demo` to try again");
            continue;
        }
        struct up_child *c = up_find(up, pid);
        if (!c)
            continue;
        c->pid = 0;
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        if (up->stopping || c->rolling)
            continue;
        int64_t ran = clock_mono_ms() - c->started_ms;
        if (first_start && code == 2) {
            log_error("%s could not start (exit status 2); stopping everything", c->module->name);
            fatal = 2;
            continue;
        }
        c->backoff_ms = ran >= UP_STABLE_MS || !c->backoff_ms   ? UP_BACKOFF_MIN_MS
                        : c->backoff_ms * 2 > UP_BACKOFF_MAX_MS ? UP_BACKOFF_MAX_MS
                                                                : c->backoff_ms * 2;
        c->restart_at = clock_mono_ms() + c->backoff_ms;
        log_write(LOG_WARN, NULL,
                  json_pack("{s:s, s:i, s:i, s:i, s:I, s:I}", "child", c->module->name, "replica",
                            c->replica, "exitStatus", code, "signal", sig, "ranMs", (json_int_t)ran,
                            "restartInMs", (json_int_t)c->backoff_ms),
                  "%s exited; restarting", c->module->name);
    }
    return fatal;
}

/* Waits up to <ms> for a signal, reaping children on SIGCHLD. Returns the
 * other signal received (SIGTERM, SIGINT, SIGHUP), else 0; <fatal> as for
 * up_reap. */
static int up_wait(struct up *up, int64_t ms, bool first_start, int *fatal)
{
    struct pollfd pfd = {.fd = up->sigfd, .events = POLLIN};
    if (poll(&pfd, 1, (int)(ms < 0 ? 0 : ms)) <= 0)
        return 0;
    struct signalfd_siginfo si;
    int got = 0;
    while (read(up->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
            int f = up_reap(up, first_start);
            if (f)
                *fatal = f;
        } else if (!got || si.ssi_signo != SIGHUP) {
            got = (int)si.ssi_signo; /* a stop outranks a restart request */
        }
    }
    return got;
}

/* Starts children whose back-off has passed; returns the ms until the next
 * scheduled restart, or -1. */
static int64_t up_restart_due(struct up *up)
{
    int64_t next = -1, now = clock_mono_ms();
    for (size_t i = 0; i < up->n; i++) {
        struct up_child *c = &up->children[i];
        if (c->pid || !c->restart_at)
            continue;
        if (now >= c->restart_at)
            up_start_child(up, c);
        else if (next < 0 || c->restart_at - now < next)
            next = c->restart_at - now;
    }
    return next;
}

static size_t up_running(const struct up *up)
{
    size_t n = 0;
    for (size_t i = 0; i < up->n; i++)
        n += up->children[i].pid != 0;
    return n;
}

/*
 * How long a child may take to exit after its stop signal: a service keeps
 * serving for its drain delay, then waits up to WEBTOON_DRAIN_TIMEOUT_MS for
 * in-flight requests and as long again for its outbox relay's last flush.
 * The children's drain delay is the one up_spawn gives them.
 */
static int64_t up_stop_bound_ms(const struct config *cfg)
{
    int64_t delay = getenv("WEBTOON_DRAIN_DELAY_MS") ? config_int(cfg, CONFIG_DRAIN_DELAY_MS)
                                                     : UP_DRAIN_DELAY_MS;
    return delay + 2 * config_int(cfg, CONFIG_DRAIN_TIMEOUT_MS) + UP_STOP_GRACE_MS;
}

/*
 * SIGKILLs <c>, which did not exit within <waited_ms> of its stop signal,
 * says so, and reaps it. The wait for the reap is bounded too (a process in
 * uninterruptible sleep dies only when the kernel lets it); a child still
 * there after UP_KILL_WAIT_MS is forgotten, and up_reap ignores it when it
 * finally exits. Reaps with waitpid itself so that no signal is consumed.
 */
static void up_kill(struct up_child *c, int64_t waited_ms)
{
    pid_t pid = c->pid;
    log_write(LOG_WARN, NULL,
              json_pack("{s:s, s:i, s:i, s:I}", "child", c->module->name, "replica", c->replica,
                        "pid", (int)pid, "waitedMs", (json_int_t)waited_ms),
              "%s replica %d (pid %d) did not stop within %lld ms; killing it", c->module->name,
              c->replica, (int)pid, (long long)waited_ms);
    kill(pid, SIGKILL);
    int64_t deadline = clock_mono_ms() + UP_KILL_WAIT_MS;
    for (;;) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            break;
        if (clock_mono_ms() >= deadline) {
            log_error("%s replica %d (pid %d) is still there %d ms after SIGKILL; going on",
                      c->module->name, c->replica, (int)pid, UP_KILL_WAIT_MS);
            break;
        }
        clock_sleep_ms(10);
    }
    c->pid = 0;
}

/* Stops every child, newest first, and waits for their drain; a second
 * signal, or the deadline, kills what is left. */
static void up_stop_all(struct up *up)
{
    up->stopping = true;
    if (up->demo)
        kill(up->demo, SIGTERM); /* reaped below, with the children */
    for (size_t i = up->n; i-- > 0;)
        if (up->children[i].pid)
            kill(up->children[i].pid, up->children[i].module->stop_signal);
    int64_t started = clock_mono_ms(), deadline = started + up->stop_bound_ms;
    int fatal = 0;
    while (up_running(up) > 0 && clock_mono_ms() < deadline) {
        int sig = up_wait(up, 100, false, &fatal);
        if (sig == SIGTERM || sig == SIGINT)
            break; /* asked twice: stop waiting */
        up_reap(up, false);
    }
    for (size_t i = 0; i < up->n; i++)
        if (up->children[i].pid)
            up_kill(&up->children[i], clock_mono_ms() - started);
    if (up->demo && waitpid(up->demo, NULL, WNOHANG) == 0) {
        kill(up->demo, SIGKILL); /* still there after the stop window */
        waitpid(up->demo, NULL, 0);
    }
    up->demo = 0;
}

static void up_print_banner(const struct up *up)
{
    fprintf(stderr, "\nwebtoon is up (data in %s)\n\n  open http://localhost:%lld\n\n",
            config_str(up->cfg, CONFIG_DATA_DIR),
            (long long)config_int(up->cfg, CONFIG_GATEWAY_PORT));
    char issuer[1100];
    auth_issuer_url(up->cfg, issuer, sizeof issuer);
    if (auth_issuer_is_builtin(up->cfg))
        fprintf(stderr,
                "  sign in at %s: readers sign up there; the first admin is `admin`, with\n"
                "  the password in %s/auth/admin-password. Tokens for scripts:\n"
                "  webtoon token <user> [--admin]\n\n",
                issuer, config_str(up->cfg, CONFIG_DATA_DIR));
    else
        fprintf(stderr, "  sign in at %s\n\n", issuer);
    for (size_t i = 0; i < up->n; i++) {
        const struct up_child *c = &up->children[i];
        fprintf(stderr, "  %-9s http://localhost:%d%s\n", c->module->name, c->port,
                c->replica ? "  (replica)" : "");
    }
    if (up->ship)
        fprintf(stderr, "\n  Log lines go to stdout and to %s\n", logship_endpoint(up->ship));
    fprintf(stderr, "\nEach serves /healthz, /readyz and /metrics. Ctrl-C stops everything;\n"
                    "`webtoon restart` restarts every process one at a time.\n\n");
}

/* Waits until <c> answers <path> with 200, handling signals meanwhile.
 * Returns 0, or the stop signal that interrupted the wait, or -1 when it
 * did not come up within UP_START_TIMEOUT_MS. */
static int up_await(struct up *up, struct up_child *c, const char *path)
{
    int64_t deadline = clock_mono_ms() + UP_START_TIMEOUT_MS;
    while (clock_mono_ms() < deadline) {
        if (c->pid && up_answers(c->port, path))
            return 0;
        int fatal = 0, sig = up_wait(up, 20, false, &fatal);
        if (sig == SIGTERM || sig == SIGINT)
            return sig;
        up_restart_due(up);
    }
    return -1;
}

/* First start: spawn everything (what comes after the others once they
 * answer), wait until all answer /healthz. Returns 0, 2 when a child
 * cannot start, or -1 when interrupted by a signal. */
static int up_first_start(struct up *up)
{
    for (size_t i = 0; i < up->n; i++)
        if (!up->children[i].module->after_others)
            up_start_child(up, &up->children[i]);
    int64_t deadline = clock_mono_ms() + UP_START_TIMEOUT_MS;
    for (;;) {
        size_t healthy = 0, others = 0, others_healthy = 0;
        for (size_t i = 0; i < up->n; i++) {
            struct up_child *c = &up->children[i];
            if (!c->healthy && c->pid)
                c->healthy = up_answers(c->port, "/healthz");
            healthy += c->healthy;
            if (!c->module->after_others) {
                others++;
                others_healthy += c->healthy;
            }
        }
        if (healthy == up->n)
            return 0;
        for (size_t i = 0; others_healthy == others && i < up->n; i++)
            if (up->children[i].module->after_others && !up->children[i].pid &&
                !up->children[i].restart_at)
                up_start_child(up, &up->children[i]);
        if (clock_mono_ms() >= deadline) {
            log_error("not every process answered /healthz within %d ms", UP_START_TIMEOUT_MS);
            return 2;
        }
        int fatal = 0;
        int sig = up_wait(up, 20, true, &fatal);
        if (fatal || sig == SIGTERM || sig == SIGINT)
            return fatal ? fatal : -1;
        up_restart_due(up); /* a crash during start: try again */
    }
}

/* SIGHUP: restarts every replicated child in turn; each next one only after
 * the new process is ready and the gateway has had time to see it. A child
 * that does not exit within stop_bound_ms of its stop signal is killed and
 * the rollout goes on. Returns a stop signal that interrupted the rollout,
 * else 0. */
static int up_roll(struct up *up)
{
    log_info("rolling restart of %zu processes", up->n);
    for (size_t i = 0; i < up->n; i++) {
        struct up_child *c = &up->children[i];
        if (!c->module->replicated)
            continue;
        if (c->pid) {
            c->rolling = true;
            kill(c->pid, c->module->stop_signal);
            int64_t signalled = clock_mono_ms(), deadline = signalled + up->stop_bound_ms;
            while (c->pid && clock_mono_ms() < deadline) {
                int fatal = 0, sig = up_wait(up, deadline - clock_mono_ms(), false, &fatal);
                if (sig == SIGTERM || sig == SIGINT)
                    return sig;
            }
            if (c->pid)
                up_kill(c, clock_mono_ms() - signalled);
        }
        up_start_child(up, c);
        int rc = up_await(up, c, "/readyz");
        if (rc > 0)
            return rc;
        if (rc < 0)
            log_warn("%s replica %d is not ready; going on", c->module->name, c->replica);
        int64_t settle = clock_mono_ms() + UP_ROLL_SETTLE_MS;
        while (clock_mono_ms() < settle) {
            int fatal = 0, sig = up_wait(up, settle - clock_mono_ms(), false, &fatal);
            if (sig == SIGTERM || sig == SIGINT)
                return sig;
        }
    }
    log_info("rolling restart done");
    return 0;
}

static void up_pid_path(const struct config *cfg, char *out, size_t len)
{
    snprintf(out, len, "%s/run/up.pid", config_str(cfg, CONFIG_DATA_DIR));
}

/* Records this supervisor's pid for `webtoon restart`. */
static void up_write_pid(struct up *up)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/run", config_str(up->cfg, CONFIG_DATA_DIR));
    mkdir(config_str(up->cfg, CONFIG_DATA_DIR), 0755);
    mkdir(dir, 0755);
    up_pid_path(up->cfg, up->pid_file, sizeof up->pid_file);
    FILE *f = fopen(up->pid_file, "w");
    if (f) {
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
    }
}

/*
 * WEBTOON_LOKI_URL: starts the log shipper and makes this process's own
 * stdout a pipe to it, like the children's (so the supervisor's lines are
 * pushed too). SIGPIPE is ignored from here on, by the children as well
 * (an ignored signal stays ignored across exec): a line written to a pipe
 * whose reader is gone is lost, and nothing dies of it. Returns 0, or 2
 * when it cannot start (a bad URL: a misconfiguration is refused at once).
 */
static int up_ship_start(struct up *up)
{
    char err[512] = "";
    int rc = 2, pipe_fds[2] = {-1, -1};
    up->out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (up->out_fd < 0) {
        log_error("cannot push log lines: no stdout to print them on (%s)", strerror(errno));
        return 2;
    }
    struct logship_options o = {
        .url = config_str(up->cfg, CONFIG_LOKI_URL),
        .job = "webtoon",
        .out_fd = up->out_fd,
        .max_lines = (size_t)config_int(up->cfg, CONFIG_LOKI_BUFFER_LINES),
        .max_bytes = UP_LOG_BUFFER_BYTES,
    };
    if (logship_new(&o, &up->ship, err, sizeof err) != RC_OK) {
        log_error("invalid %s: %s", config_name(CONFIG_LOKI_URL), err);
        goto out;
    }
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        log_error("cannot push log lines: pipe: %s", strerror(errno));
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    fflush(stdout);
    if (dup2(pipe_fds[1], STDOUT_FILENO) < 0) { /* not close-on-exec: the new fd 1 */
        log_error("cannot push log lines: dup2: %s", strerror(errno));
        goto out;
    }
    close(pipe_fds[1]);
    pipe_fds[1] = -1;
    int read_end = pipe_fds[0];
    pipe_fds[0] = -1;
    if (logship_attach(up->ship, read_end, "up") != RC_OK) {
        dup2(up->out_fd, STDOUT_FILENO);
        log_error("cannot push log lines: out of memory");
        goto out;
    }
    log_info("log lines go to stdout and to %s", logship_endpoint(up->ship));
    rc = 0;
out:
    if (pipe_fds[0] >= 0)
        close(pipe_fds[0]);
    if (pipe_fds[1] >= 0)
        close(pipe_fds[1]);
    if (rc != 0) {
        logship_free(up->ship);
        up->ship = NULL;
        close(up->out_fd);
        up->out_fd = -1;
    }
    return rc;
}

/* Gives stdout back and stops the log shipper: what the pipes still hold
 * is printed, what is queued pushed within its bounds (logship.h). */
static void up_ship_stop(struct up *up)
{
    if (!up->ship)
        return;
    fflush(stdout);
    dup2(up->out_fd, STDOUT_FILENO); /* closes our end of our own pipe */
    logship_free(up->ship);
    up->ship = NULL;
    close(up->out_fd);
    up->out_fd = -1;
}

/* True when `up` runs <m> for <cfg>. */
static bool up_is_wanted(const struct config *cfg, const struct app_module *m)
{
    return !m->is_wanted || m->is_wanted(cfg);
}

/*
 * Gives every process of this run the same WEBTOON_MEDIA_KEY when none is
 * set: each webtoon replica must verify the page links the others sign.
 * One per run, never written anywhere. Before any thread starts (setenv).
 */
static int up_media_key(const struct config *cfg)
{
    unsigned char key[32];
    char hex[2 * sizeof key + 1];
    if (*config_str(cfg, CONFIG_MEDIA_KEY))
        return 0;
    if (RAND_bytes(key, sizeof key) != 1)
        return -1;
    for (size_t i = 0; i < sizeof key; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    int rc = setenv("WEBTOON_MEDIA_KEY", hex, 1);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(hex, sizeof hex);
    return rc;
}

int app_up(const struct config *cfg, const struct app_up_options *opts)
{
    log_init("up", (enum log_level)config_int(cfg, CONFIG_LOG_LEVEL));
    if (up_media_key(cfg) != 0) {
        log_error("cannot make a media key for this run");
        return 2;
    }
    struct up up = {.cfg = cfg,
                    .opts = opts,
                    .sigfd = -1,
                    .out_fd = -1,
                    .stop_bound_ms = up_stop_bound_ms(cfg)};
    int replicas = (int)config_int(cfg, CONFIG_REPLICAS);
    for (size_t m = 0; m < app_modules_len; m++)
        if (up_is_wanted(cfg, &app_modules[m]))
            up.n += app_modules[m].replicated ? (size_t)replicas : 1;
    up.children = mem_calloc(up.n, sizeof *up.children);
    if (!up.children)
        return 1;
    for (size_t m = 0, k = 0; m < app_modules_len; m++) {
        if (!up_is_wanted(cfg, &app_modules[m]))
            continue;
        int base = (int)config_int(cfg, app_modules[m].port_setting);
        for (int r = 0; r < (app_modules[m].replicated ? replicas : 1); r++, k++)
            up.children[k] = (struct up_child){
                .module = &app_modules[m], .replica = r, .port = base + r * UP_REPLICA_PORT_STEP};
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    up.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (up.sigfd < 0) {
        /* Without it the signals blocked above would never arrive: Ctrl-C
         * would do nothing and crashed children would stay dead. */
        log_error("cannot watch for signals (signalfd: %s); not starting anything",
                  strerror(errno));
        mem_free(up.children);
        return 2;
    }
    if (*config_str(cfg, CONFIG_LOKI_URL) && up_ship_start(&up) != 0) {
        close(up.sigfd);
        mem_free(up.children);
        return 2;
    }
    up_write_pid(&up);

    int status = up_first_start(&up);
    if (status == 0) {
        up_print_banner(&up);
        log_info("all %zu processes healthy", up.n);
        if (opts->demo)
            up_start_demo(&up);
        for (;;) {
            int64_t next = up_restart_due(&up);
            int fatal = 0;
            int sig = up_wait(&up, next < 0 ? 60000 : next, false, &fatal);
            if (sig == SIGHUP)
                sig = up_roll(&up);
            if (sig == SIGTERM || sig == SIGINT)
                break;
        }
        log_info("stopping everything");
    } else if (status != 2) {
        status = 0; /* interrupted while starting: a normal stop */
    }
    up_stop_all(&up);
    if (status == 0)
        log_info("all processes stopped");
    up_ship_stop(&up);
    unlink(up.pid_file);
    close(up.sigfd);
    mem_free(up.children);
    return status;
}

int app_restart(const struct config *cfg)
{
    char path[4096];
    up_pid_path(cfg, path, sizeof path);
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f) {
        char line[32] = "";
        if (fgets(line, sizeof line, f))
            pid = strtol(line, NULL, 10);
        fclose(f);
    }
    if (pid <= 0 || kill((pid_t)pid, SIGHUP) != 0) {
        fprintf(stderr, "webtoon restart: no running `webtoon up` for %s\n",
                config_str(cfg, CONFIG_DATA_DIR));
        return 1;
    }
    fprintf(stderr, "rolling restart requested (webtoon up, pid %ld)\n", pid);
    return 0;
}
