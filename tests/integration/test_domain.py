"""The webtoon domain end to end over HTTP: the nine scenarios of SPEC
section 4, request validation, idempotency, the history rebuild. Every
answer is checked against the OpenAPI document by the Api client."""
import json
import os
import uuid

import pytest
import requests

import invariants
from api import Api
from harness import SERVICES, wait_until


@pytest.fixture
def api(system):
    system.start_all()
    return Api(system)


def funded(api, user, points):
    api.join(user)
    if points:
        r = api.charge(user, points)
        assert r.status_code == 201, r.text
        api.wait_for(f"/pointers/{user}", lambda p: p["point"] == points, what=f"{user} funded")


def history(api, user, predicate, what):
    return api.wait_for(f"/histories/{user}", predicate, what=what)


# --- the nine scenarios ---------------------------------------------------------------


def test_1_join(api):
    account = api.join("ann")
    assert (account["point"], account["status"]) == (0, "joined")
    assert account["_links"]["self"]["href"] == "/pointers/ann"
    h = history(api, "ann", lambda h: True, "ann in the history")
    assert (h["status"], h["myPoint"]) == ("joined", 0)
    assert api.post("/pointers", {"userId": "ann"}).status_code == 409


def test_2_charge_and_a_declined_payment(api):
    api.join("ben")
    r = api.charge("ben", 600)
    assert r.status_code == 201
    payment = r.json()
    assert (payment["point"], payment["price"], payment["status"]) == (600, 60000, "approved")
    history(api, "ben", lambda h: h["myPoint"] == 600, "myPoint 600")

    declined = api.charge("ben", 50, card="4000000000000002")
    assert declined.status_code == 402
    problem = declined.json()
    assert problem["reason"] == "card declined" and "nothing was charged" in problem["detail"]
    recorded = api.get(f"/payments/{problem['paymentId']}").json()
    assert (recorded["status"], recorded["reason"]) == ("declined", "card declined")
    h = history(api, "ben", lambda h: any(e["status"] == "declined" for e in h["_embedded"]["timeline"]),
                "the declined payment in the timeline")
    assert h["myPoint"] == 600
    assert api.balance("ben") == 600


def test_3_catalog_upload_update_list_read(api):
    api.upload("cat-1", 150, title="Cats", episode=1)
    r = api.patch("/webtoons/cat-1", {"title": "Cats in Seoul", "point": 120})
    assert r.status_code == 200
    assert (r.json()["title"], r.json()["point"], r.json()["author"]) == ("Cats in Seoul", 120, "An Author")
    r = api.put("/webtoons/cat-1", {"title": "Cats", "author": "B", "point": 0, "episode": 2, "status": "hidden"})
    assert r.status_code == 200 and r.json()["status"] == "hidden"
    listing = api.get("/webtoons").json()
    assert [w["webtoonId"] for w in listing["_embedded"]["webtoons"]] == ["cat-1"]
    assert listing["page"] == {"size": 20, "totalElements": 1, "totalPages": 1, "number": 0}
    assert api.get("/webtoons/cat-1").json()["episode"] == 2
    # the path names the webtoon: its id (or a field it lacks) is not a field to send
    assert api.patch("/webtoons/cat-1", {"webtoonId": "cat-1", "title": "x"}).status_code == 400
    assert api.patch("/webtoons/cat-1", {"title": None}).status_code == 400
    assert api.patch("/webtoons/cat-1", {"title": "\uD55C" * 200}).status_code == 200  # 200 characters
    assert api.post("/webtoons", {"webtoonId": "cat-1", "title": "x", "author": "y", "point": 1,
                                  "episode": 1}).status_code == 409


def test_4_buy_niceguy_with_600_points(api):
    api.upload("niceguy", 100, title="Nice Guy")
    funded(api, "cho", 600)
    r = api.buy("cho", "niceguy")
    assert r.status_code == 202 and r.json()["status"] == "pending"
    assert r.headers["location"] == f"/purchases/{r.json()['purchaseId']}"
    p = api.final_purchase(r.json()["purchaseId"])
    assert (p["status"], p["myPoint"]) == ("approved", 500)
    assert api.balance("cho") == 500
    library = api.get("/libraries/cho").json()
    assert [o["webtoonId"] for o in library["owned"]] == ["niceguy"]
    history(api, "cho", lambda h: h["myPoint"] == 500, "myPoint 500")


def test_5_compensation_buy_over_the_balance(api):
    api.upload("tower-2", 600)
    funded(api, "dan", 200)
    r = api.buy("dan", "tower-2")
    p = api.final_purchase(r.json()["purchaseId"])
    assert p["status"] == "rejected" and p["reason"] == "not enough points"
    assert api.balance("dan") == 200
    assert api.get("/libraries/dan").json()["owned"] == []
    assert api.post("/webtoons/tower-2/open", {"userId": "dan"}).status_code == 403
    h = history(api, "dan", lambda h: any(e["kind"] == "purchase" and e["status"] == "rejected"
                                          for e in h["_embedded"]["timeline"]), "the failure")
    assert h["myPoint"] == 200
    assert system_ledger_of(api, "dan") == [("payment", 200)]


def system_ledger_of(api, user):
    return [(r, d) for r, d in api.system.query(
        "pointer", "SELECT reason, delta FROM ledger WHERE user_id = ? ORDER BY seq", user)]


def test_6_open_free_owned_and_not_owned(api):
    api.upload("free-1", 0)
    api.upload("paid-1", 100)
    api.upload("paid-2", 100)
    funded(api, "eve", 100)
    r = api.post("/webtoons/free-1/open", {"userId": "eve"})
    assert r.status_code == 200 and r.json()["free"] is True
    api.final_purchase(api.buy("eve", "paid-1").json()["purchaseId"])
    api.wait_for("/webtoons/paid-1/readers/eve", lambda r: r["owned"], what="ownership")
    r = api.post("/webtoons/paid-1/open", {"userId": "eve"})
    assert r.status_code == 200 and r.json()["result"] == "approved"
    assert api.get("/webtoons/paid-1/readers/eve").json()["read"] is True
    r = api.post("/webtoons/paid-2/open", {"userId": "eve"})
    assert r.status_code == 403 and r.json()["type"] == "/problems/not-owned"
    h = history(api, "eve", lambda h: sum(e["kind"] == "read" for e in h["_embedded"]["timeline"]) == 3,
                "three reads recorded")
    reads = sorted(e["status"] for e in h["_embedded"]["timeline"] if e["kind"] == "read")
    assert reads == ["approved", "approved", "rejected"]


def test_7_cancel_unread_gives_points_back_read_cannot(api):
    api.upload("ep-1", 100)
    api.upload("ep-2", 100)
    funded(api, "fay", 300)
    first = api.final_purchase(api.buy("fay", "ep-1").json()["purchaseId"])
    r = api.put(f"/purchases/{first['purchaseId']}/cancel")
    assert r.status_code == 202 and r.json()["status"] == "cancelling"
    assert api.final_purchase(first["purchaseId"])["status"] == "cancelled"
    api.wait_for("/pointers/fay", lambda p: p["point"] == 300, what="points back")
    assert api.get("/webtoons/ep-1/readers/fay").json()["owned"] is False

    second = api.final_purchase(api.buy("fay", "ep-2").json()["purchaseId"])
    api.wait_for("/webtoons/ep-2/readers/fay", lambda r: r["owned"], what="ownership")
    assert api.post("/webtoons/ep-2/open", {"userId": "fay"}).status_code == 200
    api.wait_for(f"/purchases/{second['purchaseId']}", lambda p: p["read"], what="read noticed")
    r = api.put(f"/purchases/{second['purchaseId']}/cancel")
    assert r.status_code == 409 and "already read" in r.json()["detail"]
    assert api.balance("fay") == 200


def test_7b_cancel_racing_a_read_is_refused_by_the_webtoon_service(api, system):
    """The purchase service has not heard of the read yet; the webtoon
    service, where reads happen, refuses the cancel and nothing changes."""
    api.upload("race-1", 100)
    funded(api, "gus", 100)
    p = api.final_purchase(api.buy("gus", "race-1").json()["purchaseId"])
    api.wait_for("/webtoons/race-1/readers/gus", lambda r: r["owned"], what="ownership")
    # Stop the purchase service so it cannot learn about the read first.
    system.query("purchase", "SELECT 1")
    r = api.post("/webtoons/race-1/open", {"userId": "gus"})
    assert r.status_code == 200
    r = api.put(f"/purchases/{p['purchaseId']}/cancel")
    if r.status_code == 202:  # the cancel won the race to the purchase service
        final = api.wait_for(f"/purchases/{p['purchaseId']}", lambda x: x["status"] == "approved"
                             and x.get("cancelError"), what="cancel refused")
        assert "read" in final["cancelError"] and final["read"] is True
    else:
        assert r.status_code == 409
    system.settle()
    assert api.balance("gus") == 0
    assert api.get("/webtoons/race-1/readers/gus").json() == {
        "userId": "gus", "webtoonId": "race-1", "owned": True, "read": True, "free": False}


def test_8_refund_while_unspent_and_after_spending(api):
    api.upload("r-1", 100)
    funded(api, "hal", 200)
    pay = api.collect("/payments?userId=hal")[0]
    more = api.charge("hal", 50).json()
    api.wait_for("/pointers/hal", lambda p: p["point"] == 250, what="250 points")
    r = api.put(f"/payments/{more['paymentId']}/refund")
    assert r.status_code == 202 and r.json()["status"] == "refunding"
    assert api.settled_payment(more["paymentId"])["status"] == "refunded"
    api.wait_for("/pointers/hal", lambda p: p["point"] == 200, what="50 points taken back")

    api.final_purchase(api.buy("hal", "r-1").json()["purchaseId"])
    failed = api.put(f"/payments/{pay['paymentId']}/refund")
    assert failed.status_code == 202
    settled = api.settled_payment(pay["paymentId"])
    assert settled["status"] == "approved" and settled["refundError"] == "not enough points"
    assert api.balance("hal") == 100
    r = api.put(f"/payments/{more['paymentId']}/refund")
    assert r.status_code == 409 and r.json()["type"] == "/problems/invalid-state"
    h = history(api, "hal", lambda h: any(e["status"] == "refunded" for e in h["_embedded"]["timeline"]),
                "the refund")
    assert h["myPoint"] == 100


def test_9_withdraw_stops_buying(api):
    api.upload("w-1", 10)
    funded(api, "ida", 100)
    r = api.put("/pointers/ida/withdraw")
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"
    history(api, "ida", lambda h: h["status"] == "withdrawn", "withdrawn in history")
    r = api.wait_for_status = None
    r = api.buy("ida", "w-1")
    if r.status_code == 202:  # the purchase service had not heard yet: the pointer refuses
        p = api.final_purchase(r.json()["purchaseId"])
        assert p["status"] == "rejected"
    else:
        assert r.status_code == 409 and r.json()["type"] == "/problems/user-withdrawn"
    api.system.settle()
    r = api.buy("ida", "w-1")
    assert r.status_code == 409 and r.json()["type"] == "/problems/user-withdrawn"
    assert api.charge("ida", 10).status_code == 409
    assert api.put("/pointers/ida/withdraw").status_code == 409
    assert api.balance("ida") == 100


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("path,body,status", [
    ("/pointers", {"userId": 5}, 400),
    ("/pointers", {"userId": ""}, 400),
    ("/pointers", {"userId": "x" * 65}, 400),
    ("/pointers", {"userId": "has space"}, 400),
    ("/payments", {"userId": "val", "point": 0}, 400),
    ("/payments", {"userId": "val", "point": -5}, 400),
    ("/payments", {"userId": "val", "point": 10 ** 12}, 400),
    ("/payments", {"userId": "val", "point": 1.5}, 400),
    ("/payments", {"userId": "val", "point": "10"}, 400),
    ("/payments", {"userId": "val", "point": 10, "price": 999}, 409),  # not what it costs now
    ("/payments", {"userId": "val", "point": 10, "card": None}, 400),   # null: leave it out
    ("/payments", {"userId": "val", "point": 10, "amount": 1000}, 400),  # no such field
    ("/pointers", {"userId": "val2", "point": 5}, 400),
    ("/pointers", {"userId": ".."}, 400),
    ("/purchases", {"userId": "val", "webtoonId": "v-1", "point": 1}, 400),
    ("/payments", {"userId": "val", "point": 10, "card": "12ab"}, 400),
    ("/payments", {"userId": "nobody", "point": 10}, 404),
    ("/purchases", {"userId": "val"}, 400),
    ("/purchases", {"userId": "val", "webtoonId": "missing"}, 404),
    ("/purchases", {"userId": "nobody", "webtoonId": "v-1"}, 404),
    ("/purchases", {"userId": "val", "webtoonId": "v-free"}, 409),
    ("/webtoons", {"webtoonId": "v-2", "title": "t", "author": "a", "point": -1, "episode": 1}, 400),
    ("/webtoons", {"webtoonId": "v-2", "title": "t" * 201, "author": "a", "point": 1, "episode": 1}, 400),
    ("/webtoons", {"webtoonId": "v-2", "title": "t", "author": "a", "point": 1, "episode": 0}, 400),
    ("/webtoons", {"webtoonId": "v-2", "title": "t", "author": "a", "point": 1, "episode": 1, "status": "gone"}, 400),
    ("/webtoons", {"webtoonId": "v-2", "title": "\uD55C" * 201, "author": "a", "point": 1, "episode": 1}, 400),
    ("/webtoons", {"webtoonId": "v-2", "title": "t", "author": "a", "point": 1, "episode": 1, "genre": "x"}, 400),
    ("/webtoons/v-1/open", {"userId": "val", "webtoonId": "v-1"}, 400),
    ("/webtoons/missing/open", {"userId": "val"}, 404),
    ("/webtoons/v-1/open", {"userId": "nobody"}, 404),
])
def test_bad_commands_get_a_clear_4xx(api, path, body, status):
    api.join("val")
    api.upload("v-1", 10)
    api.upload("v-free", 0)
    api.system.settle()
    r = api.call("POST", path, body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == status and r.json()["detail"]


def test_malformed_requests(api, system):
    for service, path in (("pointer", "/pointers"), ("payment", "/payments"), ("purchase", "/purchases"),
                          ("webtoon", "/webtoons")):
        url = system.url(service, path)
        auth = system.auth("mal", admin=True)
        json_type = {"Content-Type": "application/json", **auth}
        r = requests.post(url, data="{not json", headers=json_type)
        assert r.status_code == 400 and r.json()["type"] == "/problems/invalid-json"
        r = requests.post(url, data="userId=x", headers={"Content-Type": "application/x-www-form-urlencoded", **auth})
        assert r.status_code == 415
        r = requests.post(url, data="[]", headers=json_type)
        assert r.status_code == 400
        r = requests.post(url, data=json.dumps({"userId": "a" * 70000}), headers=json_type)
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    auth = system.auth("mal", admin=True)
    assert requests.put(system.url("purchase", "/purchases/nope/cancel"), headers=auth).status_code == 404
    assert requests.put(system.url("payment", "/payments/nope/refund"), headers=auth).status_code == 404
    assert requests.get(system.url("pointer", "/pointers?page=-1"), headers=auth).status_code == 400
    assert requests.get(system.url("pointer", "/pointers?size=1000"), headers=auth).status_code == 400
    assert requests.delete(system.url("pointer", "/pointers/x")).status_code == 405


# --- idempotency ----------------------------------------------------------------------------


def test_idempotency_key_makes_a_retry_harmless(api):
    api.join("kim")
    key = str(uuid.uuid4())
    first = api.post("/payments", {"userId": "kim", "point": 70}, key=key)
    again = api.post("/payments", {"userId": "kim", "point": 70}, key=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(api.collect("/payments?userId=kim")) == 1
    other = api.post("/payments", {"userId": "kim", "point": 71}, key=key)
    assert other.status_code == 422 and other.json()["type"] == "/problems/idempotency-key-reused"
    api.wait_for("/pointers/kim", lambda p: p["point"] == 70, what="70 points")
    api.system.settle()
    assert api.balance("kim") == 70
    bad = api.post("/payments", {"userId": "kim", "point": 1}, key="not a token")
    assert bad.status_code == 400


def test_a_key_past_its_day_is_forgotten(system):
    """Keys are honoured for a day: the sweeper forgets older ones (at start,
    then every few minutes, off the event loops), and such a key then starts
    a new command; a younger key still replays."""
    for s in ("pointer", "payment"):
        system.start(s)
    api = Api(system)
    api.join("forget")
    old, young = str(uuid.uuid4()), str(uuid.uuid4())
    for key in (old, young):
        assert api.post("/payments", {"point": 1}, key=key, as_="forget").status_code == 201
        assert api.post("/payments", {"point": 2}, key=key, as_="forget").status_code == 422
    day_ms = 24 * 3600 * 1000
    system.execute("payment", f"UPDATE idempotency SET created_at = created_at - {day_ms + 1000}"
                              f" WHERE idem_key LIKE '%{old}'")
    system.procs["payment"].terminate()
    system.start("payment")
    wait_until(lambda: system.query("payment", "SELECT COUNT(*) FROM idempotency")[0][0] == 1,
               what="the old key forgotten")
    again = api.post("/payments", {"point": 2}, key=old, as_="forget")
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers, again.text
    assert api.post("/payments", {"point": 2}, key=young, as_="forget").status_code == 422


def test_every_service_serves_the_openapi_document(system):
    system.start_all()
    with open(os.path.join(os.path.dirname(__file__), "../../api/openapi.json")) as f:
        doc = json.load(f)
    for s in SERVICES:
        assert system.get(s, "/openapi.json").json() == doc


# --- the history view -------------------------------------------------------------------------


def test_the_timeline_says_who_did_what(api):
    """Each timeline entry names, as `actor`, the user whose command started
    the event that last changed it: the charge, and the purchase through
    every step of its saga (the pointer's and the webtoon service's
    reactions carry the buyer's name on)."""
    api.upload("who-1", 30)  # by an admin: a catalog event, in nobody's timeline
    api.join("noa")
    payment = api.charge("noa", 100).json()["paymentId"]
    api.wait_for("/pointers/noa", lambda p: p["point"] == 100, what="noa funded")
    purchase = api.final_purchase(api.buy("noa", "who-1").json()["purchaseId"])
    assert purchase["status"] == "approved"
    timeline = api.wait_for("/histories/noa/timeline",
                            lambda t: any(e.get("refId") == purchase["purchaseId"] and e["status"] == "approved"
                                          for e in t["_embedded"]["timeline"]),
                            what="the approved purchase in the timeline")["_embedded"]["timeline"]
    entries = {(e["kind"], e.get("refId")): e for e in timeline}
    assert entries[("payment", payment)]["status"] == "approved"
    assert entries[("payment", payment)]["actor"] == "noa"
    assert entries[("purchase", purchase["purchaseId"])]["actor"] == "noa"
    assert [(e["kind"], e["actor"]) for e in timeline] == [("purchase", "noa"), ("payment", "noa"), ("account", "noa")]


def test_history_rebuild_gives_the_same_view(api, system):
    api.upload("hb-1", 100)
    funded(api, "lee", 500)
    funded(api, "mia", 0)
    p = api.final_purchase(api.buy("lee", "hb-1").json()["purchaseId"])
    api.put(f"/purchases/{p['purchaseId']}/cancel")
    api.final_purchase(p["purchaseId"])
    system.settle()
    summaries = api.collect("/histories")
    before = invariants.history_timelines(api, ["lee", "mia"])
    assert len(before["lee"]) >= 3
    assert all(e.get("actor") == user for user, t in before.items() for e in t), before  # who did what

    r = system.run("history", "rebuild")
    assert r.returncode == 1 and "stop it first" in r.stderr
    system.procs["up"].terminate()
    r = system.run("history", "rebuild")
    assert r.returncode == 0, r.stderr
    system.start_all()
    assert api.collect("/histories") == summaries
    assert invariants.history_timelines(api, ["lee", "mia"]) == before
