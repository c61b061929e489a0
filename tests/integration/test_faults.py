"""Correct under faults: read-your-writes across services, events that can
never stall a consumer (dead letters), replays that change nothing, sagas
that always end, and payments charged once. Runs on the embedded engines
(CTest integration/test_faults) and on Kafka + PostgreSQL + Redis
(integration/distributed)."""
import fcntl
import json
import os
import random
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import invariants
from api import Api
from harness import DISTRIBUTED, SERVICES, wait_until
from test_invariants import mixed_workload, seed

# --- read your own writes -------------------------------------------------------


def test_500_join_charge_buy_sequences_through_the_gateway_never_see_404(system):
    """Each client joins, charges and buys at once, with no retry of any kind:
    the payment and purchase services have not seen the new user when the
    request arrives, so they wait for the events published before it."""
    system.start_all()
    api = Api(system)
    api.upload("ryw", 30)
    system.settle()

    def sequence(i):
        client = Api(system)
        user = f"ryw-{i}"
        client.join(user)
        r = client.charge(user, 50)
        assert r.status_code == 201, r.text
        r = client.buy(user, "ryw")
        assert r.status_code == 202, r.text
        return r.json()["purchaseId"]

    with ThreadPoolExecutor(4) as pool:
        purchases = list(pool.map(sequence, range(500)))
    assert len(set(purchases)) == 500
    for pid in purchases[:20]:
        assert api.final_purchase(pid)["status"] == "approved"
    users, _, bought, _ = invariants.check(system, api)
    assert [p for p in bought if p["status"] != "approved"] == []  # with their reason, if any
    assert len(bought) == 500
    assert all(users[f"ryw-{i}"]["point"] == 20 for i in range(500))


def test_ids_that_do_not_exist_are_404_after_the_wait(system):
    system.start_all()
    api = Api(system)
    api.upload("real", 10)
    api.join("real-user")
    for path, body in (("/payments", {"userId": "ghost", "point": 5}),
                       ("/purchases", {"userId": "ghost", "webtoonId": "real"}),
                       ("/purchases", {"userId": "real-user", "webtoonId": "not-a-webtoon"}),
                       ("/webtoons/real/open", {"userId": "ghost"})):
        r = api.post(path, body)
        assert r.status_code == 404, r.text
        assert "retry-after" not in r.headers, (path, r.headers)
    r = api.get("/histories/ghost")
    assert r.status_code == 404 and "retry-after" not in r.headers


@pytest.mark.skipif(DISTRIBUTED, reason="holds the embedded log's group lock")
def test_a_consumer_that_cannot_catch_up_gets_503_with_retry_after(system):
    """The purchase service's consumer is held back (another member holds its
    group's lock): a buy for a user it has not seen waits the bounded time,
    then says to retry in a moment, never 404; once the consumer runs, the
    same buy goes through."""
    api = start_services(system)
    api.upload("wait", 10)
    system.settle()
    system.procs["purchase"].terminate()
    lock = open(os.path.join(system.data_dir, "events.db.group-purchase.lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        system.start("purchase", WEBTOON_CATCHUP_WAIT_MS=300)
        joined_with(api, system, "late", 20)
        r = requests.post(system.url("purchase", "/purchases"), json={"userId": "late", "webtoonId": "wait"},
                          headers=system.auth("late"), timeout=10)
        assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
        assert r.json()["type"] == "/problems/catching-up"
    finally:
        lock.close()
    assert api.buy("late", "wait").status_code == 202


# --- events that cannot stall a consumer ------------------------------------------


def dead_letters(system, service):
    r = system.run("events", "dead", "list", service)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def start_services(system, **env):
    for s in SERVICES:
        system.start(s, **env)
    return Api(system)


def joined_with(api, system, user, points):
    api.join(user)
    r = api.charge(user, points)
    assert r.status_code == 201, r.text
    api.wait_for(f"/pointers/{user}", lambda p: p["point"] == points, what=f"{points} points")


def test_a_duplicate_effect_under_a_new_event_id_changes_nothing(system):
    api = start_services(system)
    joined_with(api, system, "dup", 100)
    first = system.events("PaymentComplete")[0]
    before = system.metric("pointer", "webtoon_consumer_events_duplicate_total")
    copy = dict(first, eventId=str(uuid.uuid4()))
    system.publish_raw(copy["eventId"], "dup", "PaymentComplete", json.dumps(copy))
    wait_until(lambda: system.metric("pointer", "webtoon_consumer_events_duplicate_total") > before,
               what="the copy recognised by its payment id")
    assert api.balance("dup") == 100
    assert dead_letters(system, "pointer") == []
    joined_with(api, system, "dup-after", 30)  # the consumer moved on
    system.settle()
    invariants.check(system, api)


def test_an_undecodable_event_is_dead_lettered_listed_and_retried_after_a_fix(system):
    api = start_services(system)
    joined_with(api, system, "dl", 10)
    bad = str(uuid.uuid4())
    system.publish_raw(bad, "dl", "PaymentComplete", "{this is not json")
    wait_until(lambda: dead_letters(system, "pointer"), what="a dead letter")
    joined_with(api, system, "dl-after", 20)  # the consumer moved on
    [d] = dead_letters(system, "pointer")
    assert (d["eventId"], d["type"], d["error"]) == (bad, "PaymentComplete", "BAD_EVENT")
    assert d["payload"] == "{this is not json" and "JSON" in d["detail"]
    assert system.metric("pointer", "webtoon_consumer_events_dead_lettered_total") == 1

    fixed = json.dumps({"eventType": "PaymentComplete", "eventId": bad, "paymentId": "repaired-1",
                        "userId": "dl", "point": 7, "price": 700, "status": "approved"})
    r = system.run("events", "dead", "retry", "pointer", bad, "--payload", fixed)
    assert r.returncode == 0, r.stderr
    assert api.balance("dl") == 17
    assert dead_letters(system, "pointer") == []
    r = system.run("events", "dead", "retry", "pointer", bad)
    assert r.returncode == 1 and "no such dead letter" in r.stderr


def test_a_handler_failing_for_good_is_dead_lettered_and_can_be_dropped(system):
    """A cancel refund for a user the pointer service never had: no retry can
    fix it; it becomes a dead letter with the handler's reason, later events
    are applied, and the operator drops it."""
    api = start_services(system)
    ghost = str(uuid.uuid4())
    system.publish_raw(ghost, "ghost", "CancelComplete",
                       json.dumps({"purchaseId": "p-ghost", "userId": "ghost", "webtoonId": "w",
                                   "point": 5, "status": "cancelled"}))
    wait_until(lambda: dead_letters(system, "pointer"), what="a dead letter")
    [d] = dead_letters(system, "pointer")
    assert d["error"] == "INVALID_STATE" and "unknown user" in d["detail"]
    r = system.run("events", "dead", "retry", "pointer", ghost)
    assert r.returncode == 1 and "unknown user" in r.stderr
    assert dead_letters(system, "pointer")[0]["attempts"] == 2
    joined_with(api, system, "alive", 40)
    r = system.run("events", "dead", "drop", "pointer", ghost)
    assert r.returncode == 0, r.stderr
    assert dead_letters(system, "pointer") == []


def test_a_stalled_consumer_is_reported_while_the_service_stays_ready(system):
    """The pointer's database refuses writes for a while (another process
    holds it): its consumer cannot apply a payment and says so in /readyz,
    which stays 200 (reads still work), and in /metrics."""
    if DISTRIBUTED:
        pytest.skip("holds an SQLite write lock")
    api = start_services(system, WEBTOON_CONSUMER_STALL_MS=300, WEBTOON_RETRY_MAX_MS=100)
    joined_with(api, system, "stall", 10)
    db = sqlite3.connect(os.path.join(system.data_dir, "pointer.db"), timeout=10, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        r = api.charge("stall", 5)
        assert r.status_code == 201, r.text

        def stalled():
            r = system.get("pointer", "/readyz")
            assert r.status_code == 200, r.text
            return r.json()["checks"]["consumer"].startswith("stalled for ")
        wait_until(stalled, 20, what="the consumer reported stalled")
        wait_until(lambda: system.metric("pointer", "webtoon_consumer_stalled") == 1, 20,
                   what="the stall in /metrics")
    finally:
        db.execute("ROLLBACK")
        db.close()
    api.wait_for("/pointers/stall", lambda p: p["point"] == 15, 20, what="the payment applied")
    wait_until(lambda: system.get("pointer", "/readyz").json()["checks"]["consumer"] == "ok", 20,
               what="the consumer ok again")
    wait_until(lambda: system.metric("pointer", "webtoon_consumer_stalled") == 0, 20,
               what="the stall over in /metrics")


# --- a full replay after the inbox retention ------------------------------------------


def view_of_the_world(system, api):
    users, payments, purchases, histories = invariants.check(system, api)
    ownership = sorted(map(tuple, system.query(
        "webtoon", "SELECT user_id, webtoon_id, purchase_id, is_read FROM ownership")))
    return {"users": users, "payments": payments, "purchases": purchases, "histories": histories,
            "timelines": invariants.history_timelines(api, users), "ownership": ownership}


def test_a_full_replay_after_the_inbox_purge_changes_nothing(system):
    """Every event delivered again once the inbox forgot it (its retention
    passed): decisions are recorded by business key, so balances, ownership
    and the history, byte for byte, stay what they were, and no service
    publishes a single new event."""
    up = system.start_all()
    api = Api(system)
    users, webtoons = seed(api)
    mixed_workload(api, users, webtoons, 300, random.Random(3))
    before = view_of_the_world(system, api)
    logged = len(system.events())
    assert up.terminate() == 0

    for s in SERVICES:
        system.execute(s, "DELETE FROM inbox")
    if DISTRIBUTED:  # the history view's inbox lives in Redis
        prefix = system.env()["WEBTOON_REDIS_PREFIX"]
        for key in system.redis("--scan", "--pattern", f"{prefix}history:{{*}}:inbox:*").split():
            system.redis("DEL", key)
    for group in SERVICES:
        r = system.run("events", "reset", group)
        assert r.returncode == 0, r.stderr
    system.start_all()
    system.settle(timeout=120)
    assert view_of_the_world(system, api) == before
    assert len(system.events()) == logged


# --- every saga ends ---------------------------------------------------------------------

DEADLINES = {"WEBTOON_PURCHASE_DEADLINE_MS": 1500, "WEBTOON_CANCEL_DEADLINE_MS": 1500,
             "WEBTOON_REFUND_DEADLINE_MS": 1500, "WEBTOON_SWEEP_INTERVAL_MS": 100}


def ledger(system, user):
    return sorted(system.query("pointer", "SELECT reason, delta FROM ledger WHERE user_id = ?", user))


def test_a_purchase_whose_webtoon_service_is_down_past_its_deadline_ends_rejected(system):
    api = start_services(system, **DEADLINES)
    api.upload("saga", 40)
    joined_with(api, system, "saga", 100)
    system.settle()
    system.procs["webtoon"].terminate()
    pid = api.buy("saga", "saga").json()["purchaseId"]
    p = api.wait_for(f"/purchases/{pid}", lambda p: p["status"] == "rejected", 15,
                     what="the purchase past its deadline")
    assert "not confirmed in time" in p["reason"]
    api.wait_for("/pointers/saga", lambda a: a["point"] == 100, 15, what="the points back")
    system.start("webtoon", **DEADLINES)  # it now sees the points taken, then the end
    system.settle()
    time.sleep(0.5)  # several sweeps more: nothing moves twice
    system.settle()
    assert api.balance("saga") == 100
    assert ledger(system, "saga") == [("payment", 100), ("purchase", -40), ("purchase-back", 40)]
    assert system.query("webtoon", "SELECT COUNT(*) FROM ownership WHERE user_id = ?", "saga")[0][0] == 0
    assert api.post("/webtoons/saga/open", {"userId": "saga"}).status_code == 403
    entry = [e for e in api.collect("/histories/saga/timeline") if e.get("refId") == pid][0]
    assert entry["status"] == "rejected" and "not confirmed in time" in entry["reason"]
    assert "actor" not in entry  # the sweeper decided it: nobody did
    invariants.check(system, api)


def test_a_refund_whose_pointer_service_is_down_past_its_deadline_fails_and_changes_nothing(system):
    api = start_services(system, **DEADLINES)
    joined_with(api, system, "refu", 60)
    payment = api.collect("/payments?userId=refu")[0]["paymentId"]
    system.settle()
    system.procs["pointer"].terminate()
    r = api.put(f"/payments/{payment}/refund", key=str(uuid.uuid4()))
    assert r.status_code == 202, r.text
    p = api.wait_for(f"/payments/{payment}", lambda p: p["status"] == "approved", 15,
                     what="the refund past its deadline")
    assert "not confirmed in time" in p["refundError"]
    system.start("pointer", **DEADLINES)  # takes the points, then gives them back
    system.settle()
    assert api.balance("refu") == 60
    assert api.get(f"/payments/{payment}").json()["status"] == "approved"
    assert ledger(system, "refu") == [("payment", 60), ("refund", -60), ("refund-back", 60)]
    assert provider(system, "SELECT COUNT(*) FROM provider_refunds") == 0
    invariants.check(system, api)


def test_a_cancel_whose_webtoon_service_is_down_past_its_deadline_fails_and_keeps_the_episode(system):
    api = start_services(system, **DEADLINES)
    api.upload("keep", 25)
    joined_with(api, system, "keep", 50)
    pid = api.buy("keep", "keep").json()["purchaseId"]
    assert api.final_purchase(pid)["status"] == "approved"
    system.settle()
    system.procs["webtoon"].terminate()
    r = api.put(f"/purchases/{pid}/cancel", key=str(uuid.uuid4()))
    assert r.status_code == 202, r.text
    p = api.wait_for(f"/purchases/{pid}", lambda p: p["status"] == "approved", 15,
                     what="the cancel past its deadline")
    assert "not confirmed in time" in p["cancelError"]
    system.start("webtoon", **DEADLINES)  # revokes, then grants again
    system.settle()
    assert api.balance("keep") == 25
    assert api.post("/webtoons/keep/open", {"userId": "keep"}).status_code == 200
    invariants.check(system, api)


def test_points_that_cannot_be_credited_turn_the_payment_into_a_refund(system):
    """A payment for a user the pointer service does not know (its join never
    reached it: the event was lost to it on purpose here) is refunded with a
    reason instead of keeping the money."""
    api = start_services(system)
    # the payment service knows "orphan", the pointer service does not
    system.publish_raw(str(uuid.uuid4()), "orphan", "Joined",
                       json.dumps({"eventType": "Joined", "userId": "orphan", "point": 0,
                                   "status": "joined"}))
    r = api.charge("orphan", 12)
    assert r.status_code == 201, r.text
    p = api.wait_for(f"/payments/{r.json()['paymentId']}", lambda p: p["status"] == "refunded",
                     what="the payment refunded")
    assert "could not be credited" in p["refundError"]
    assert provider(system, "SELECT COUNT(*) FROM provider_refunds") == 1


# --- money is charged once -------------------------------------------------------------------


def provider(system, sql):
    path = os.path.join(system.data_dir, "provider.db")
    if not os.path.exists(path):
        return 0
    with sqlite3.connect(path, timeout=10) as con:
        return con.execute(sql).fetchone()[0]


@pytest.mark.parametrize("point,outcome", [("before-charge", "declined"), ("after-charge", "approved")])
def test_a_payment_service_killed_around_the_charge_charges_once(system, point, outcome):
    """SIGKILL just before or just after the provider call: at restart the
    pending payment is settled from the provider's own record (a charge that
    never happened is voided), and the client's retry with the same key gets
    that one answer."""
    api = start_services(system, WEBTOON_PAYMENT_RECONCILE_MS=300)
    joined_with(api, system, "crash", 10)
    system.procs["payment"].terminate()
    p = system.start("payment", WEBTOON_FAULT_PAYMENT_CRASH=point, WEBTOON_PAYMENT_RECONCILE_MS=300)
    key = str(uuid.uuid4())
    with pytest.raises(requests.ConnectionError):
        requests.post(system.url("payment", "/payments"), json={"userId": "crash", "point": 5},
                      headers={"Idempotency-Key": key, **system.auth("crash")}, timeout=10)
    p.proc.wait(10)
    assert system.query("payment", "SELECT status FROM payments WHERE point = 5") == [("pending",)]
    system.start("payment", WEBTOON_PAYMENT_RECONCILE_MS=300)
    wait_until(lambda: system.query("payment", "SELECT status FROM payments WHERE point = 5")
               == [(outcome,)], what=f"the payment {outcome}")
    r = api.post("/payments", {"userId": "crash", "point": 5}, key=key)
    assert r.status_code == (201 if outcome == "approved" else 402), r.text
    assert r.headers.get("idempotent-replayed") == "true"
    assert provider(system, "SELECT COUNT(*) FROM provider_charges WHERE outcome = 'approved'") == \
        (2 if outcome == "approved" else 1)  # the first charge of joined_with, and this one
    system.settle()
    assert api.balance("crash") == (15 if outcome == "approved" else 10)
    invariants.check(system, api)


def refuse_settling_payments(system, refuse):
    """While <refuse>, the payment service's store refuses to move a
    payment out of pending (a trigger raising an error)."""
    with system.db("payment") as con:
        cur = con.cursor()
        if not refuse:
            cur.execute("DROP TRIGGER refuse_settling ON payments" if DISTRIBUTED
                        else "DROP TRIGGER refuse_settling")
        elif DISTRIBUTED:
            cur.execute("""CREATE FUNCTION refuse_settling() RETURNS trigger AS $$
                BEGIN RAISE EXCEPTION 'simulated store failure'; END $$ LANGUAGE plpgsql""")
            cur.execute("CREATE TRIGGER refuse_settling BEFORE UPDATE ON payments FOR EACH ROW"
                        " WHEN (OLD.status = 'pending') EXECUTE FUNCTION refuse_settling()")
        else:
            cur.execute("CREATE TRIGGER refuse_settling BEFORE UPDATE ON payments"
                        " WHEN OLD.status = 'pending'"
                        " BEGIN SELECT RAISE(ABORT, 'simulated store failure'); END")
        con.commit()


def test_a_charge_whose_outcome_cannot_be_recorded_answers_pending(system):
    """The provider took the money but the payment's store refuses to
    record it: the client gets the provisional 202 pending, not an error
    (an error after the commit invites a retry that could charge again).
    Once the store takes writes again the sweeper settles the payment from
    the provider's ledger, and a retry with the same key gets that answer."""
    api = start_services(system, WEBTOON_PAYMENT_RECONCILE_MS=300)
    joined_with(api, system, "unrecorded", 10)
    refuse_settling_payments(system, True)
    key = str(uuid.uuid4())
    r = api.post("/payments", {"userId": "unrecorded", "point": 6}, key=key)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending"
    assert provider(system, "SELECT COUNT(*) FROM provider_charges WHERE outcome = 'approved'") == 2
    refuse_settling_payments(system, False)
    api.wait_for(f"/payments/{r.json()['paymentId']}", lambda p: p["status"] == "approved",
                 what="the payment settled by the sweeper")
    again = api.post("/payments", {"userId": "unrecorded", "point": 6}, key=key)
    assert again.status_code == 201, again.text
    assert again.headers.get("idempotent-replayed") == "true"
    assert provider(system, "SELECT COUNT(*) FROM provider_charges WHERE outcome = 'approved'") == 2
    api.wait_for("/pointers/unrecorded", lambda p: p["point"] == 16, what="the points credited")
    invariants.check(system, api)


@pytest.mark.skipif(not DISTRIBUTED, reason="PostgreSQL serialization failures")
def test_serialization_conflicts_while_recording_a_charge_call_the_provider_once(system):
    """PostgreSQL refuses the charge's second transaction twice with a
    serialization failure (a trigger raising SQLSTATE 40001): it is run
    again, the provider is not called again."""
    api = start_services(system)
    joined_with(api, system, "ser", 10)
    with system.db("payment") as con, con.cursor() as cur:
        cur.execute("CREATE SEQUENCE refusals")
        cur.execute("""CREATE FUNCTION refuse_twice() RETURNS trigger AS $$
            BEGIN
              IF OLD.status = 'pending' AND nextval('refusals') <= 2 THEN
                RAISE EXCEPTION 'simulated conflict' USING ERRCODE = '40001';
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql""")
        cur.execute("CREATE TRIGGER refuse BEFORE UPDATE ON payments FOR EACH ROW"
                    " EXECUTE FUNCTION refuse_twice()")
        con.commit()
    charges = provider(system, "SELECT COUNT(*) FROM provider_charges")
    r = api.charge("ser", 4)
    assert r.status_code == 201, r.text
    assert system.query("payment", "SELECT last_value FROM refusals")[0][0] >= 3  # refused twice
    assert provider(system, "SELECT COUNT(*) FROM provider_charges") == charges + 1
    api.wait_for("/pointers/ser", lambda p: p["point"] == 14, what="the points credited")
