"""The foundation: one binary, the supervisor, the embedded event log with
its outbox and inbox, crash safety and clean shutdown."""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time

import pytest
import requests

from harness import SERVICES, wait_until



def join(system, user):
    r = system.post("pointer", "/pointers", {"userId": user})
    assert r.status_code == 201, r.text
    return r


def timeline_count(system, user=None):
    if user:
        return system.query("history", "SELECT COUNT(*) FROM timeline WHERE user_id = ?", user)[0][0]
    return system.query("history", "SELECT COUNT(*) FROM timeline")[0][0]


def history_has(system, user):
    r = system.get("history", f"/histories?userId={user}")
    return r.status_code == 200 and len(r.json()["_embedded"]["histories"]) == 1


# --- the command line ------------------------------------------------------------


def test_help_version_and_bad_usage(system):
    r = system.run("--help")
    assert r.returncode == 0 and "serve <target>" in r.stdout and "up" in r.stdout
    r = system.run("--version")
    assert r.returncode == 0 and r.stdout.startswith("webtoon ")
    for cmd in (["serve", "--help"], ["up", "--help"], ["events", "--help"]):
        r = system.run(*cmd)
        assert r.returncode == 0 and "Usage: webtoon" in r.stdout, cmd
    r = system.run("frobnicate")
    assert r.returncode == 2 and "unknown command" in r.stderr
    r = system.run("serve", "nosuch")
    assert r.returncode == 2 and "unknown target" in r.stderr
    r = system.run("up", "--replicas", "zero")
    assert r.returncode == 2 and "--replicas" in r.stderr


def test_invalid_configuration_is_refused_at_start(system):
    r = system.run("serve", "pointer", WEBTOON_HTTP_THREADS="lots")
    assert r.returncode == 2
    assert "WEBTOON_HTTP_THREADS=lots" in r.stderr and "integer" in r.stderr
    r = system.run("serve", "pointer", WEBTOON_LOG_LEVEL="chatty")
    assert r.returncode == 2 and "WEBTOON_LOG_LEVEL" in r.stderr


def test_configuration_table_is_documented(system):
    r = system.run("config")
    assert r.returncode == 0
    doc = open(os.path.join(os.path.dirname(__file__), "../../docs/CONFIG.md")).read()
    assert r.stdout in doc, "docs/CONFIG.md is stale: regenerate the table with `webtoon config`"


def test_port_in_use_is_a_clear_start_failure(system):
    with socket.socket() as s:
        s.bind(("127.0.0.1", system.ports["pointer"]))
        s.listen()
        r = system.run("serve", "pointer")
    assert r.returncode == 2
    assert "cannot listen" in r.stdout


# --- one service -------------------------------------------------------------------


def test_service_logs_json_and_serves_probes(system):
    system.start("auth")  # its keys: without them no service is ready
    p = system.start("pointer")
    wait_until(lambda: system.get("pointer", "/readyz").status_code == 200, 10, what="ready")
    ready = system.get("pointer", "/readyz").json()
    assert ready["status"] == "ready"
    assert ready["checks"] == {"keys": "read", "store": "up", "outbox": "publishing", "consumer": "ok",
                               "bus": "up"}
    r = system.get("pointer", "/nowhere", headers={"X-Request-Id": "trace-42"})
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert r.headers["x-request-id"] == "trace-42"
    metrics = system.get("pointer", "/metrics").text
    assert 'webtoon_http_requests_total{service="pointer",route="(unmatched)",method="any",code="4xx"} 1' in metrics
    assert "webtoon_outbox_backlog" in metrics
    assert p.terminate() == 0
    import json
    lines = [json.loads(l) for l in p.output().splitlines() if l.startswith("{")]
    assert lines, p.output()
    assert all({"time", "level", "service", "msg"} <= set(l) for l in lines)
    assert any(l.get("requestId") == "trace-42" and l.get("status") == 404 for l in lines)
    assert lines[-1]["msg"] == "stopped cleanly"


def test_readiness_needs_the_store_not_the_bus(system):
    """While the event log refuses writes (a process holds it locked), the
    service still takes commands, their events wait in the outbox, and
    /readyz stays 200 but says the bus is degraded; once the log is free the
    events go out and the detail recovers."""
    system.start("pointer", WEBTOON_RETRY_MAX_MS=200)
    log = sqlite3.connect(os.path.join(system.data_dir, "events.db"), timeout=10, isolation_level=None)
    log.execute("BEGIN EXCLUSIVE")
    try:
        r = system.post("pointer", "/pointers", {"userId": "locked-out"})
        assert r.status_code == 201, r.text

        def degraded():
            r = system.get("pointer", "/readyz")
            assert r.status_code == 200, r.text
            return r.json()["checks"]["bus"] == "degraded" and r.json()
        checks = wait_until(degraded, 15, what="readiness to report the bus degraded")["checks"]
        assert checks["store"] == "up" and checks["outbox"].startswith("failing for ")
        assert system.query("pointer", "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")[0][0] == 1
    finally:
        log.execute("ROLLBACK")
        log.close()
    wait_until(lambda: system.get("pointer", "/readyz").json()["checks"]["bus"] == "up", 15,
               what="the bus up again")
    assert [e["userId"] for e in system.events("Joined")] == ["locked-out"]


def test_sigterm_turns_readiness_red_before_closing(system):
    p = system.start("pointer", WEBTOON_DRAIN_DELAY_MS=1500)
    p.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: system.get("pointer", "/readyz").status_code == 503, 2, what="readyz 503")
    # Still serving during the drain delay: the gateway moves away first.
    assert system.get("pointer", "/healthz").status_code == 200
    assert p.proc.wait(10) == 0
    with pytest.raises(requests.ConnectionError):
        system.get("pointer", "/healthz")


def test_service_that_served_requests_stops_without_leaks(system):
    """Under the sanitizer build a leak makes the exit status non-zero."""
    system.start("history")
    p = system.start("pointer", WEBTOON_HTTP_THREADS=2)
    for i in range(20):
        join(system, f"leak-{i}")
    system.get("pointer", "/pointers/leak-1")
    system.post("pointer", "/pointers", data=b"not json", headers={"Content-Type": "application/json"})
    wait_until(lambda: timeline_count(system) == 20, what="history caught up")
    assert p.terminate() == 0, p.output()
    assert system.procs["history"].terminate() == 0
    assert "LeakSanitizer" not in p.output()


# --- outbox and inbox --------------------------------------------------------------------


def test_event_committed_but_not_published_survives_sigkill(system):
    """Producer killed between its commit and the relay's publish."""
    system.start("history")
    p = system.start("pointer", WEBTOON_RELAY_PAUSED="true")
    join(system, "bob")
    assert system.query("pointer", "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL") == [(1,)]
    assert system.events() == []
    p.kill()

    system.start("pointer")
    wait_until(lambda: history_has(system, "bob"), what="bob in history")
    assert [e["userId"] for e in system.events("Joined")] == ["bob"]
    assert system.query("pointer", "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL") == [(0,)]


def test_every_event_delivered_twice_has_one_effect(system):
    system.start("pointer")
    h = system.start("history")
    users = [f"twice-{i}" for i in range(10)]
    for u in users:
        join(system, u)
    wait_until(lambda: timeline_count(system) == 10, what="history caught up")
    assert h.terminate() == 0

    # While the group consumes, a rewind is refused; stopped, it is allowed.
    r = system.run("events", "reset", "history")
    assert r.returncode == 0, r.stderr
    system.start("history")
    wait_until(lambda: system.metric("history", "webtoon_consumer_events_duplicate_total") == 10,
               what="all ten redelivered")
    assert timeline_count(system) == 10
    for u in users:
        assert timeline_count(system, u) == 1
    r = system.run("events", "reset", "history")
    assert r.returncode == 1 and "stop it first" in r.stderr


def test_consumer_killed_mid_batch_resumes_from_committed_offset(system):
    system.start("pointer")
    users = [f"batch-{i}" for i in range(10)]
    for u in users:
        join(system, u)
    wait_until(lambda: len(system.events("Joined")) == 10, what="ten events in the log")

    # The consumer applies three events, then dies before committing the batch.
    crashing = system.start("history", wait=False, WEBTOON_FAULT_CONSUMER_KILL_AFTER=3)
    assert crashing.proc.wait(10) == -signal.SIGKILL
    assert timeline_count(system) == 3

    system.start("history")
    wait_until(lambda: timeline_count(system) == 10, what="all ten applied")
    for u in users:
        assert timeline_count(system, u) == 1
    assert system.metric("history", "webtoon_consumer_events_duplicate_total") == 3


def test_log_and_offsets_survive_restart_of_every_process(system):
    system.start("pointer")
    system.start("history")
    for u in ("r1", "r2", "r3"):
        join(system, u)
    wait_until(lambda: timeline_count(system) == 3, what="history caught up")
    system.stop_all()

    system.start("pointer")
    system.start("history")
    join(system, "r4")
    wait_until(lambda: timeline_count(system) == 4, what="the new event applied")
    assert [e["userId"] for e in system.events("Joined")] == ["r1", "r2", "r3", "r4"]
    assert system.metric("history", "webtoon_consumer_events_duplicate_total") == 0
    r = system.post("pointer", "/pointers", {"userId": "r1"})
    assert r.status_code == 409  # the write side kept its state too


def test_events_tail_prints_json_lines(system):
    system.start("pointer")
    join(system, "tail-1")
    wait_until(lambda: system.events(), what="an event")
    r = system.run("events", "tail", "--from-beginning", "--exit-at-end", "--verbose")
    assert r.returncode == 0
    assert "offset=1 key=tail-1 type=Joined\t{" in r.stdout
    ev = system.events("Joined")[0]
    assert ev["eventType"] == "Joined" and ev["userId"] == "tail-1"
    assert isinstance(ev["timestamp"], int) and len(ev["eventId"]) == 36
    assert system.events("NoSuchType") == []


def test_consumer_wakes_quickly_on_publish(system):
    """Consumers follow the log by notification, not by their 200 ms poll."""
    system.start("pointer")
    system.start("history", WEBTOON_POLL_INTERVAL_MS=60000)
    time.sleep(0.3)  # the consumer is now asleep in its long poll
    join(system, "fast")
    wait_until(lambda: history_has(system, "fast"), timeout=5, what="fast in history")


# --- webtoon up ------------------------------------------------------------------------


def up_pids(system):
    out = os.popen(f"pgrep -P {system.procs['up'].pid} -a").read().split("\n")
    return {line.split()[-1]: int(line.split()[0]) for line in out if line.strip()}


def test_up_runs_everything_and_restarts_a_killed_child(system):
    started = time.monotonic()
    up = system.start_up()
    # Every service port answers /healthz within 2 s of the start (the
    # gateway starts once they do).
    for s in SERVICES:
        system.wait_healthy(s, up, timeout=max(0.1, 2 - (time.monotonic() - started)))
    for s in ("web", "gateway"):
        system.wait_healthy(s, up)
    pids = up_pids(system)
    assert set(SERVICES) | {"web"} <= set(pids)

    os.kill(pids["pointer"], signal.SIGKILL)
    wait_until(lambda: up_pids(system).get("pointer", pids["pointer"]) != pids["pointer"], 5,
               what="a new pointer process")
    system.wait_healthy("pointer", timeout=5)
    join(system, "after-restart")

    assert up.terminate() == 0
    assert "all processes stopped" in up.output()
    for s in SERVICES:
        with pytest.raises(requests.ConnectionError):
            system.get(s, "/healthz")


def test_only_the_main_thread_of_a_process_takes_its_signals(system):
    """A SIGTERM delivered to any other thread kills the process on the spot
    instead of draining it (seen: the issuer's password thread, started
    before the mask, took one and the issuer died of it). The kernel picks
    any thread that does not block the signal, so every thread but the main
    one must block it, in every process `up` runs, trace exporters
    included."""
    with socket.socket() as s:  # a collector that is not there: the exporters still run
        s.bind(("127.0.0.1", 0))
        collector = f"http://127.0.0.1:{s.getsockname()[1]}"
    up = system.start_all(WEBTOON_OTLP_ENDPOINT=collector)
    term_int = (1 << (signal.SIGTERM - 1)) | (1 << (signal.SIGINT - 1))
    pids = up_pids(system)
    assert {"auth", "gateway", "web", *SERVICES} <= set(pids)
    for name, pid in [("up", up.pid), *pids.items()]:
        threads = [int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]
        assert threads or name == "up", f"{name} runs no thread besides its main one"
        for tid in threads:
            try:
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    status = dict(line.split(":\t", 1) for line in f if ":\t" in line)
            except FileNotFoundError:
                continue  # a thread that ended takes no signal
            blocked = int(status["SigBlk"], 16)
            assert blocked & term_int == term_int, \
                f"{name}: thread {status['Name'].strip()} ({tid}) can take SIGTERM or SIGINT"
    assert up.terminate() == 0, up.output()


def test_every_thread_of_a_service_is_named_after_its_work(system):
    """`top -H`, perf and /proc name a service's threads by what they do,
    so an operator can tell the writer from the relay."""
    system.start_all()
    pid = up_pids(system)["purchase"]
    names = set()
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                names.add(f.read().strip())
        except FileNotFoundError:
            continue
    assert {"http", "writer", "relay", "consumer", "catch-up", "sweeper"} <= names, names


def test_up_stops_when_a_service_cannot_start(system):
    with socket.socket() as s:
        s.bind(("127.0.0.1", system.ports["history"]))
        s.listen()
        up = system.start_up()
        assert up.proc.wait(20) == 2
    assert "could not start" in up.output()
    for s in ("pointer", "payment"):
        with pytest.raises(requests.ConnectionError):
            system.get(s, "/healthz")


# Makes every signalfd() call fail as when the process is out of file
# descriptors (LD_PRELOAD'ed into `webtoon up`).
NO_SIGNALFD = r"""
#include <errno.h>
#include <signal.h>
int signalfd(int fd, const sigset_t *mask, int flags)
{
    (void)fd, (void)mask, (void)flags;
    errno = EMFILE;
    return -1;
}
"""


def test_up_without_signal_delivery_refuses_to_run(system, tmp_path):
    """Signals are blocked and read from a signalfd: without one, Ctrl-C and
    crashed children would go unnoticed, so `up` must not start blind."""
    src, lib = tmp_path / "no_signalfd.c", tmp_path / "no_signalfd.so"
    src.write_text(NO_SIGNALFD)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    asan = os.environ.get("ASAN_OPTIONS", "")
    up = system.start_up(LD_PRELOAD=lib, ASAN_OPTIONS=asan + (":" if asan else "") + "verify_asan_link_order=0")
    try:
        assert up.proc.wait(10) == 2
    finally:
        if up.proc.poll() is None:  # running blind: SIGTERM would not stop it
            for pid in up_pids(system).values():
                os.kill(pid, signal.SIGKILL)
            up.kill()
    assert "cannot watch for signals" in up.output() and "Too many open files" in up.output()
    for s in SERVICES:
        with pytest.raises(requests.ConnectionError):
            system.get(s, "/healthz")


def replica_pids(system, name):
    out = os.popen(f"pgrep -P {system.procs['up'].pid} -a").read()
    return [int(l.split()[0]) for l in out.splitlines() if l.endswith(f"serve {name}")]


def test_rolling_restart_kills_a_replica_that_will_not_stop(system):
    """A replica that ignores its SIGTERM (here: SIGSTOPped) is killed once it
    has had its drain bounds and a grace, and the rollout goes on."""
    drain_timeout = 1000  # the harness sets no drain delay
    up = system.start_all("--replicas", "2", WEBTOON_DRAIN_TIMEOUT_MS=drain_timeout)
    before = replica_pids(system, "pointer")
    stuck = before[0]
    os.kill(stuck, signal.SIGSTOP)
    try:
        started = time.monotonic()
        r = system.run("restart")
        assert r.returncode == 0, r.stderr
        wait_until(lambda: "rolling restart done" in up.output(), 120, interval=0.5,
                   what="the rollout to finish")
        took = time.monotonic() - started
    finally:
        if os.path.exists(f"/proc/{stuck}"):
            os.kill(stuck, signal.SIGCONT)
    lines = [json.loads(l) for l in up.output().splitlines() if l.startswith("{")]
    killed = [l for l in lines if l.get("pid") == stuck and "did not stop" in l["msg"]]
    assert len(killed) == 1 and killed[0]["child"] == "pointer" and killed[0]["level"] == "warn"
    assert killed[0]["waitedMs"] >= 2 * drain_timeout + 5000  # its drain bounds and the grace
    assert not os.path.exists(f"/proc/{stuck}")
    after = replica_pids(system, "pointer")
    assert len(after) == 2 and not set(after) & set(before)
    for port in (system.ports["pointer"], system.ports["pointer"] + 100):
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    join(system, "after-stuck-rollout")
    print(f"rollout with one stuck replica: {took:.1f} s")
    assert up.terminate() == 0


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / os.sysconf("SC_CLK_TCK")


def test_up_is_quiet_when_idle(system):
    """A guard against busy loops; bench/footprint measures the real figure."""
    up = system.start_up(WEBTOON_POLL_INTERVAL_MS=1000)
    for s in SERVICES:
        system.wait_healthy(s, up)
    time.sleep(1)
    pids = [up.pid] + list(up_pids(system).values())
    before, t0 = cpu_seconds(pids), time.monotonic()
    time.sleep(5)
    share = (cpu_seconds(pids) - before) / (time.monotonic() - t0)
    assert share < 0.05, f"idle system used {share:.1%} of a core"
