"""What /metrics tells an operator, process by process: the process_*
families everywhere; the outbox's backlog and the age of its oldest row
while the relay cannot publish; the ledger invariant check catching a
balance that is not the sum of its ledger; and labels that stay bounded
(no user or webtoon id ever becomes a label value) whatever the traffic.
The end-to-end view through Prometheus is test_observability.py's."""
import re
import time

import requests

from api import Api
from harness import wait_until

PROCESSES = ["auth", "pointer", "payment", "history", "webtoon", "purchase", "web"]
# Every label the services put on a series, and what they mean.
LABELS = {"service", "route", "method", "code", "le", "group", "saga", "outcome", "reason", "result",
          "db"}
SERIES = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text):
    """(name, {label: value}, value) of every sample line of <text>."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SERIES.match(line)
        assert m, f"not exposition format: {line!r}"
        out.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def scrape(system, process):
    r = requests.get(system.url(process, "/metrics"), timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return samples(r.text)


def value(system, process, name, **labels):
    for n, ls, v in scrape(system, process):
        if n == name and all(ls.get(k) == want for k, want in labels.items()):
            return v
    return None


def test_every_process_reports_its_cpu_memory_and_descriptors(system):
    system.start_all()
    for process in PROCESSES:
        got = {n: v for n, ls, v in scrape(system, process) if n.startswith("process_")}
        assert set(got) == {"process_cpu_seconds_total", "process_resident_memory_bytes",
                            "process_virtual_memory_bytes", "process_start_time_seconds",
                            "process_open_fds", "process_max_fds"}, process
        assert got["process_resident_memory_bytes"] > 1e6, process
        assert got["process_virtual_memory_bytes"] >= got["process_resident_memory_bytes"]
        assert 3 < got["process_open_fds"] < got["process_max_fds"], process
        assert got["process_cpu_seconds_total"] >= 0
        assert time.time() - 600 < got["process_start_time_seconds"] <= time.time() + 1, process


def test_labels_stay_bounded_whatever_the_traffic(system):
    """Users and webtoons with ids of all kinds, commands that succeed and
    fail: no id shows up as a label value, and only the known labels
    exist."""
    system.start_all()
    api = Api(system)
    users = [f"label-user-{i}" for i in range(5)]
    webtoons = [f"label-webtoon-{i}" for i in range(3)]
    for w in webtoons:
        api.upload(w, 100)
    for u in users:
        api.join(u)
        assert api.charge(u, 150).status_code == 201
    for u in users:
        api.wait_for(f"/pointers/{u}", lambda p: p["point"] == 150, what=f"{u} funded")
        for w in webtoons:
            api.buy(u, w)  # one approved, the others rejected for lack of points
        api.get(f"/pointers/{u}")
        api.get(f"/histories/{u}")
    api.get("/pointers/no-such-user")
    system.settle()
    ids = set(users) | set(webtoons) | {"no-such-user"}
    for process in PROCESSES:
        for name, labels, _ in scrape(system, process):
            assert set(labels) <= LABELS, (process, name, labels)
            assert not ids & set(labels.values()), (process, name, labels)
            if "db" in labels:  # a database file's name, one per store a process opens
                assert re.fullmatch(r"[a-z]+\.db", labels["db"]), labels
            if "route" in labels:  # the pattern, never the path
                assert not re.search(r"label-|no-such", labels["route"]), labels
    rejected = value(system, "purchase", "webtoon_saga_outcomes_total", saga="purchase",
                     outcome="rejected", reason="insufficient_points")
    assert rejected == len(users) * (len(webtoons) - 1)


def test_outbox_backlog_and_oldest_age_while_the_relay_cannot_publish(system):
    system.start("auth")
    webtoon = system.start("webtoon", WEBTOON_RELAY_PAUSED="true")
    admin = system.auth("operator", admin=True)
    r = system.post("webtoon", "/webtoons", {"webtoonId": "stuck", "title": "Stuck", "author": "A",
                                              "point": 10, "episode": 1}, headers=admin)
    assert r.status_code == 201, r.text
    # two events: the series the upload made on the fly, and the episode
    wait_until(lambda: value(system, "webtoon", "webtoon_outbox_backlog") == 2, 10, what="backlog 2")
    # the sweeper measures every second, whatever the relay does
    wait_until(lambda: value(system, "webtoon", "webtoon_outbox_oldest_unsent_age_seconds") >= 2, 20,
               what="the oldest row ageing")
    assert webtoon.terminate() == 0
    system.start("webtoon")  # publishing again

    def outbox():  # the relay and the sweeper both measure: wait for both gauges
        got = {n: v for n, _, v in scrape(system, "webtoon") if n.startswith("webtoon_outbox_")}
        waiting = (got.get("webtoon_outbox_backlog"), got.get("webtoon_outbox_oldest_unsent_age_seconds"))
        return got if waiting == (0, 0) else None

    got = wait_until(outbox, 10, what="nothing waiting in the outbox")
    assert got["webtoon_outbox_published_total"] >= 1


def test_a_ledger_violation_is_found_and_reported(system):
    up = system.start_all(WEBTOON_LEDGER_CHECK_INTERVAL_MS="200")
    api = Api(system)
    for u in ("lena", "lars"):
        api.join(u)
        assert api.charge(u, 100).status_code == 201
        api.wait_for(f"/pointers/{u}", lambda p: p["point"] == 100, what=f"{u} funded")
    wait_until(lambda: (value(system, "pointer", "webtoon_ledger_checks_total", result="ok") or 0) >= 2, 10,
               what="checks passing")
    assert value(system, "pointer", "webtoon_ledger_violations") == 0
    # a hand edit: lena's balance no longer matches her ledger
    system.execute("pointer", "UPDATE pointers SET point = point + 5 WHERE user_id = 'lena'")
    wait_until(lambda: value(system, "pointer", "webtoon_ledger_violations") == 1, 10, what="a violation")
    assert value(system, "pointer", "webtoon_ledger_checks_total", result="violated") >= 1
    wait_until(lambda: '"firstUserId":"lena"' in up.output(), 10, what="the error line")
    line = next(line for line in up.output().splitlines() if '"firstUserId":"lena"' in line)
    assert '"level":"error"' in line and '"service":"pointer"' in line
    system.execute("pointer", "UPDATE pointers SET point = point - 5 WHERE user_id = 'lena'")
    wait_until(lambda: value(system, "pointer", "webtoon_ledger_violations") == 0, 10, what="clean again")
