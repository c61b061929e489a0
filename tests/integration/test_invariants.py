"""The invariants of SPEC section 4 under stress: concurrent buys beyond the
balance, every event delivered twice, and services killed at random moments
during a long run of mixed commands."""
import os
import random
import re
import signal
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

import invariants
from api import Api
from harness import SERVICES, wait_until


def test_200_concurrent_buys_beyond_the_balance(system):
    system.start_all(WEBTOON_HTTP_THREADS=2)
    api = Api(system)
    for i in range(200):
        api.upload(f"c-{i}", 10)
    api.join("rush")
    api.charge("rush", 1000)
    api.wait_for("/pointers/rush", lambda p: p["point"] == 1000, what="1000 points")
    system.settle()

    def buy(i):
        return Api(system).buy("rush", f"c-{i}").status_code

    with ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(buy, range(200)))
    assert codes == [202] * 200
    users, payments, purchases, _ = invariants.check(system, api)
    approved = [p for p in purchases if p["status"] == "approved"]
    assert len(approved) == 100 and users["rush"]["point"] == 0
    assert all(p["reason"] == "not enough points" for p in purchases if p["status"] == "rejected")
    # each end counted once, however many transactions lost a race and ran again
    ends = "webtoon_saga_outcomes_total"
    assert system.metric("purchase", ends, 'saga="purchase",outcome="approved",reason="none"') == 100
    assert system.metric("purchase", ends,
                         'saga="purchase",outcome="rejected",reason="insufficient_points"') == 100
    assert system.metric("purchase", "webtoon_saga_duration_seconds_count",
                         'saga="purchase",outcome="approved"') == 100


def mixed_workload(api, users, webtoons, n, rng, on_command=None):
    """<n> random commands a real crowd would send: charges (some declined),
    buys, opens, cancels, refunds, withdrawals, history reads."""
    purchases, payments = [], []
    for _ in range(n):
        if on_command:
            on_command()
        user = rng.choice(users)
        roll = rng.random()
        if roll < 0.25:
            card = "4000000000000002" if rng.random() < 0.1 else None
            body = {"userId": user, "point": rng.choice([50, 100, 300])}
            if card:
                body["card"] = card
            r = api.post("/payments", body, key=str(uuid.uuid4()))
            if r.status_code == 201:
                payments.append(r.json()["paymentId"])
        elif roll < 0.6:
            r = api.post("/purchases", {"userId": user, "webtoonId": rng.choice(webtoons)},
                         key=str(uuid.uuid4()))
            if r.status_code == 202:
                purchases.append(r.json()["purchaseId"])
        elif roll < 0.75:
            api.post(f"/webtoons/{rng.choice(webtoons)}/open", {"userId": user}, key=str(uuid.uuid4()))
        elif roll < 0.87 and purchases:
            api.put(f"/purchases/{rng.choice(purchases)}/cancel", key=str(uuid.uuid4()))
        elif roll < 0.97 and payments:
            api.put(f"/payments/{rng.choice(payments)}/refund", key=str(uuid.uuid4()))
        elif roll < 0.975:
            api.put(f"/pointers/{user}/withdraw", key=str(uuid.uuid4()))
        else:
            api.get(f"/histories/{user}")


def seed(api, n_users=12, n_webtoons=15):
    users = [f"u{i}" for i in range(n_users)]
    webtoons = [f"w{i}" for i in range(n_webtoons)]
    for i, w in enumerate(webtoons):
        api.upload(w, 0 if i % 5 == 0 else 50 * (1 + i % 4))
    for u in users:
        api.join(u)
    return users, webtoons


def test_every_event_delivered_twice_changes_nothing(system):
    up = system.start_all()
    api = Api(system)
    users, webtoons = seed(api)
    mixed_workload(api, users, webtoons, 300, random.Random(7))
    before = invariants.check(system, api)
    timelines = invariants.history_timelines(api, before[0])
    assert up.terminate() == 0

    for group in SERVICES:
        r = system.run("events", "reset", group)
        assert r.returncode == 0, r.stderr
    system.start_all()
    total = len(system.events())
    for s in SERVICES:
        wait_until(lambda: system.metric(s, "webtoon_consumer_events_duplicate_total") is not None, what=s)
    system.settle()
    assert invariants.check(system, api) == before
    assert invariants.history_timelines(api, before[0]) == timelines
    redelivered = sum(system.metric(s, "webtoon_consumer_events_duplicate_total") for s in SERVICES)
    applied_again = sum(system.metric(s, "webtoon_consumer_events_applied_total") or 0 for s in SERVICES)
    assert applied_again == 0 and redelivered > 0 and total > 0
    # and no saga ended a second time
    for s in ("purchase", "payment"):
        ends = [line for line in system.get(s, "/metrics").text.splitlines()
                if line.startswith("webtoon_saga_outcomes_total{")]
        assert ends and all(line.endswith(" 0") for line in ends), ends


class ResilientApi(Api):
    """A client that keeps trying while services restart: connection errors
    are retried with the same Idempotency-Key, so a command sent to a dying
    process is applied once (or answered from the first attempt)."""

    def call(self, method, path, body=None, key=None, **kw):
        deadline = time.monotonic() + 30
        while True:
            try:
                return super().call(method, path, body, key=key, **kw)
            except (requests.ConnectionError, requests.Timeout):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def test_random_sigkills_during_2000_mixed_commands(system):
    """About every 100 commands, at a random point of the run, one replica of
    a random service is SIGKILLed (never both replicas of one service at
    once); the supervisor restarts it while the gateway sends requests to the
    other. No request may get a 5xx (the Api client checks every answer)."""
    up = system.start_all("--replicas", "2")
    api = ResilientApi(system)
    users, webtoons = seed(api)
    rng = random.Random(11)
    kill_at = sorted(rng.sample(range(50, 1950), 20))
    sent = [0]
    lock = threading.Lock()
    kills = []

    def ready(port):
        try:
            return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def kill_one():
        service = rng.choice(SERVICES)
        replica = rng.randrange(2)
        port = system.ports[service] + 100 * replica
        sibling = system.ports[service] + 100 * (1 - replica)
        if not ready(sibling) or not ready(port):
            return
        out = os.popen(f"ss -ltnpH 'sport = :{port}'").read()
        pids = [int(p) for p in re.findall(r"pid=(\d+)", out)]
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            kills.append(f"{service}-{replica}")

    def on_command():
        with lock:
            sent[0] += 1
            due = kill_at and sent[0] >= kill_at[0]
            if due:
                kill_at.pop(0)
                kill_one()

    def worker(seed_):
        mixed_workload(ResilientApi(system), users, webtoons, 500, random.Random(seed_), on_command)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(worker, range(4)))
    assert sent[0] == 2000 and len(kills) >= 10, kills
    for s in SERVICES:
        system.wait_healthy(s, timeout=15)
    invariants.check(system, api)
    assert "could not start" not in up.output()
