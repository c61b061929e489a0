"""The system on the real engines when they fail: a Kafka broker restart in
the middle of a long run of mixed commands loses nothing and applies
nothing twice; a PostgreSQL restart makes requests fail cleanly (503
problem+json, /readyz 503) and the services recover by themselves. Also
shows how to read the topic with kcat, Kafka's console consumer.

Runs only with WEBTOON_TEST_ENGINES=distributed (CTest's
integration/distributed, whose fixtures start the broker and the cluster
with scripts/kafka.sh and scripts/pg.sh, passing KAFKA_PORT, KAFKA_DATA and
PG_PORT so that the scripts here act on the same servers)."""
import json
import os
import random
import re
import subprocess
import threading
import time
import uuid

import pytest
import requests

import invariants
from harness import DISTRIBUTED, KAFKA, SERVICES, wait_until
from test_invariants import ResilientApi, mixed_workload, seed

pytestmark = pytest.mark.skipif(not DISTRIBUTED, reason="needs WEBTOON_TEST_ENGINES=distributed")

SCRIPTS = os.path.join(os.path.dirname(__file__), "../../scripts")


class PatientApi(ResilientApi):
    """A client that also waits out 503s, retrying with the same
    Idempotency-Key as a client honouring Retry-After would: while an engine
    is away the services are not ready, and a gateway in front of them has
    no instance to send a request to."""

    def call(self, method, path, body=None, key=None, **kw):
        deadline = time.monotonic() + 60
        while True:
            try:
                return super().call(method, path, body, key=key, **kw)
            except AssertionError as e:
                if ": 503 " not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def script(name, *args):
    r = subprocess.run([os.path.join(SCRIPTS, name), *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{name} {args}: {r.stderr}"


def started_with_one_charge(system, user):
    """Every service started, <user> joined with 100 points, every event
    applied: a system with events behind it and nothing in flight."""
    system.start_all()
    api = PatientApi(system)
    api.join(user)
    api.charge(user, 100)
    api.wait_for(f"/pointers/{user}", lambda p: p["point"] == 100, what="100 points")
    system.settle()
    return api


def test_kcat_reads_the_topic(system):
    """Key = userId, header type = event type, header id = event id, value =
    the JSON payload: what `webtoon events tail` prints, kcat prints too."""
    started_with_one_charge(system, "kat")
    r = subprocess.run(["kcat", "-b", KAFKA, "-C", "-t", system.topic, "-o", "beginning", "-e", "-q",
                        "-f", "%k|%h|%s\n"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = [line.split("|", 2) for line in r.stdout.splitlines() if line]
    by_id = {e["eventId"]: e for e in system.events()}
    assert len(lines) == len(by_id) >= 3
    for key, headers, payload in lines:
        h = dict(kv.split("=", 1) for kv in headers.split(","))
        event = by_id[h["id"]]
        assert (key, h["type"]) == (event["userId"], event["eventType"])
        assert json.loads(payload) == event


def test_an_idle_system_reports_the_broker_away_and_back(system):
    """With no command in flight nothing is published and every poll finds
    nothing, as it does on a quiet log: /readyz still says the bus is
    degraded while the broker is away (every consumer measures its lag each
    second), keeps the service in rotation, and says "up" once it is back."""
    api = started_with_one_charge(system, "idle")

    def checks(s):
        r = requests.get(system.url(s, "/readyz"), timeout=10)
        assert r.status_code == 200, f"{s}: {r.text}"  # still in rotation
        return r.json()["checks"]

    consuming = [s for s in SERVICES if "consumer" in checks(s)]
    assert "pointer" in consuming and "history" in consuming, consuming
    script("kafka.sh", "stop")
    try:
        for s in consuming:
            wait_until(lambda: checks(s)["bus"] == "degraded", 30, what=f"{s} to report the bus degraded")
            assert re.match("retrying: cannot (measure the lag|read the event bus)", checks(s)["consumer"]), \
                checks(s)  # and why
    finally:
        script("kafka.sh", "start")
    for s in consuming:
        wait_until(lambda: checks(s)["bus"] == "up", 60, what=f"{s} to report the bus up")
    api.charge("idle", 50)
    api.wait_for("/pointers/idle", lambda p: p["point"] == 150, what="a charge after the broker came back")


def test_broker_restart_during_2000_mixed_commands(system):
    """The broker goes away for a few seconds in the middle of the run.
    Commands need only PostgreSQL (the outbox holds their events), so every
    service stays ready, and its /readyz says the bus is degraded; relays and
    consumers retry, and once the broker is back everything settles with
    every invariant holding."""
    system.start_all()
    api = PatientApi(system)
    users, webtoons = seed(api)
    sent = [0]
    lock = threading.Lock()
    outage = {}

    def degraded():
        r = requests.get(system.url("pointer", "/readyz"), timeout=10)
        assert r.status_code == 200, r.text  # still in rotation
        return r.json()["checks"]["bus"] == "degraded"

    def restart_broker():
        try:
            script("kafka.sh", "stop")
            wait_until(degraded, 30, what="readiness to report the bus degraded")
            outage["degraded"] = True
            time.sleep(2)
        finally:
            script("kafka.sh", "start")
        outage["done"] = True

    restart = threading.Thread(target=restart_broker)

    def on_command():
        with lock:
            sent[0] += 1
            if sent[0] == 600:
                restart.start()

    def worker(seed_):
        mixed_workload(PatientApi(system), users, webtoons, 500, random.Random(seed_), on_command)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    restart.join()
    assert sent[0] == 2000 and outage == {"degraded": True, "done": True}
    system.settle(timeout=180)
    invariants.check(system, api)
    for s in SERVICES:
        assert requests.get(system.url(s, "/readyz"), timeout=5).status_code == 200


def test_postgres_restart_fails_cleanly_and_recovers(system):
    system.start_all()
    api = PatientApi(system)
    api.upload("pg-1", 10)
    api.join("pat")
    api.charge("pat", 100)
    api.wait_for("/pointers/pat", lambda p: p["point"] == 100, what="100 points")

    script("pg.sh", "stop")
    try:
        for s in SERVICES:
            wait_until(lambda: requests.get(system.url(s, "/readyz"), timeout=5).status_code == 503,
                       timeout=10, what=f"{s} not ready")
        for method, service, path, body in (
                ("GET", "pointer", "/pointers/pat", None),
                ("POST", "payment", "/payments", {"userId": "pat", "point": 5}),
                ("POST", "purchase", "/purchases", {"userId": "pat", "webtoonId": "pg-1"})):
            r = requests.request(method, system.url(service, path), json=body, timeout=10,
                                 headers={"Idempotency-Key": str(uuid.uuid4()), **system.auth("pat")})
            assert r.status_code == 503, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["status"] == 503
    finally:
        script("pg.sh", "start")

    for s in SERVICES:
        wait_until(lambda: requests.get(system.url(s, "/readyz"), timeout=5).status_code == 200,
                   timeout=30, what=f"{s} ready again")
    p = api.final_purchase(api.buy("pat", "pg-1").json()["purchaseId"])
    assert p["status"] == "approved"
    api.wait_for("/pointers/pat", lambda a: a["point"] == 90, what="the purchase paid")
    invariants.check(system, api)


def test_three_history_replicas_share_one_view(system):
    """Three history processes in one consumer group split the topic's
    partitions between them and build one view in Redis (summaries and
    timelines, each entry naming its actor); when one is SIGKILLed, its
    partitions go to the other two and no event is lost."""
    from harness import Process, free_ports
    for s in ("pointer", "payment", "webtoon", "purchase"):
        system.start(s)
    ports = [system.ports["history"]] + free_ports(2, system.port_locks)
    replicas = []
    for i, port in enumerate(ports):
        p = Process(["serve", "history"], system.env(WEBTOON_PORT=port), system.dir / f"history-r{i}.log")
        replicas.append(p)
        system.procs[f"history-{i}"] = p
        wait_until(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200,
                   10, what=f"history replica {i}")
    api = PatientApi(system)
    users, webtoons = seed(api, n_users=18)
    rng = random.Random(5)

    admin = system.auth("operator", admin=True)  # every user's history

    def view(port):
        """What one replica serves: every summary, and every user's timeline."""
        def collect(path):
            items, page = [], 0
            while True:
                r = requests.get(f"http://127.0.0.1:{port}{path}?page={page}&size=100", headers=admin, timeout=5)
                assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
                body = r.json()
                items += next(iter(body["_embedded"].values()))
                page += 1
                if page >= body["page"]["totalPages"]:
                    return items
        return collect("/histories"), {u: collect(f"/histories/{u}/timeline") for u in users}

    def by_their_users(timelines):
        """Every entry names its user as actor: each came from the user's own
        command or a saga step it started (no deadline passes here)."""
        return all(e.get("actor") == u for u, t in timelines.items() for e in t) and \
            sum(map(len, timelines.values())) >= len(users)

    def applied(port):
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                   if l.startswith("webtoon_consumer_events_applied_total{"))

    # The group settles its assignment a few seconds after the members
    # join; until each replica owns partitions, keep the commands coming.
    deadline = time.monotonic() + 60
    while True:
        mixed_workload(api, users, webtoons, 100, rng)
        system.settle(timeout=120)
        if all(applied(port) > 0 for port in ports):
            break
        assert time.monotonic() < deadline, "not every replica got a share of the partitions"
    views = [view(port) for port in ports]
    assert views[0] == views[1] == views[2]
    assert len(views[0][0]) == len(users) and by_their_users(views[0][1]), views[0][1]

    replicas[0].kill()
    system.ports["history"] = ports[1]
    mixed_workload(api, users, webtoons, 300, rng)
    system.settle(timeout=120)
    invariants.check(system, api)
    views = [view(port) for port in ports[1:]]
    assert views[0] == views[1]
    assert by_their_users(views[0][1]), views[0][1]
