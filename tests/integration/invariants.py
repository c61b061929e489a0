"""The invariants of SPEC section 4, checked on a settled system through the
API (and the pointer's ledger for exactly-once):

- a balance never goes below 0;
- per user, balance = charged - refunded - bought + cancelled;
- every purchase and every refund reaches a final state;
- no event lost, none applied twice: each payment, refund, purchase and
  cancel moved the balance exactly once;
- the history view converges to the write side.
"""
from collections import Counter


def snapshot(api):
    """Everything the invariants look at, in comparable form."""
    users = {p["userId"]: p for p in api.collect("/pointers")}
    payments = api.collect("/payments")
    purchases = api.collect("/purchases")
    histories = {h["userId"]: h for h in api.collect("/histories")}
    return users, payments, purchases, histories


def history_timelines(api, users):
    """Every user's timeline through the history API (wherever the view
    lives), oldest first, without the entry ids (a rebuild renumbers them)."""
    return {user: [{k: v for k, v in e.items() if k != "entryId"}
                   for e in reversed(api.collect(f"/histories/{user}/timeline"))]
            for user in users}


def check(system, api):
    system.settle()
    users, payments, purchases, histories = snapshot(api)
    charged, refunded, bought, cancelled = Counter(), Counter(), Counter(), Counter()
    for p in payments:
        assert p["status"] in ("approved", "declined", "refunded"), f"unsettled payment {p}"
        if p["status"] != "declined":
            charged[p["userId"]] += p["point"]
        if p["status"] == "refunded":
            refunded[p["userId"]] += p["point"]
    for p in purchases:
        assert p["status"] in ("approved", "rejected", "cancelled"), f"purchase not final: {p}"
        if p["status"] in ("approved", "cancelled"):
            bought[p["userId"]] += p["point"]
        if p["status"] == "cancelled":
            cancelled[p["userId"]] += p["point"]
    for user, account in users.items():
        balance = account["point"]
        assert balance >= 0, f"{user} has a negative balance {balance}"
        expected = charged[user] - refunded[user] - bought[user] + cancelled[user]
        assert balance == expected, (f"{user}: balance {balance} but charged {charged[user]} - refunded "
                                     f"{refunded[user]} - bought {bought[user]} + cancelled {cancelled[user]} = {expected}")

    # Exactly once: one ledger line per effect, no more, no less. A saga that
    # ended without its effect (a refund or purchase past its deadline) may
    # have taken points and given them back: such pairs (X, ref) and
    # (X-back, ref) cancel out exactly.
    rows = system.query("pointer", "SELECT reason, ref_id, delta FROM ledger")
    ledger = Counter((reason, ref) for reason, ref, _ in rows)
    assert all(n == 1 for n in ledger.values()), [k for k, n in ledger.items() if n > 1]
    delta = {(reason, ref): d for reason, ref, d in rows}
    undone = set()
    for (reason, ref), d in delta.items():
        if reason.endswith("-back"):
            taken = (reason[: -len("-back")], ref)
            assert delta.get(taken) == -d, f"{reason} {ref} gives back {d} of {delta.get(taken)}"
            undone |= {taken, (reason, ref)}
    want = set()
    for p in payments:
        credited = p["status"] != "declined" and not p.get("refundId", "").startswith("credit-")
        if credited:
            want.add(("payment", p["paymentId"]))
        if p["status"] == "refunded" and credited:
            want.add(("refund", p["refundId"]))
    for p in purchases:
        if p["status"] in ("approved", "cancelled"):
            want.add(("purchase", p["purchaseId"]))
        if p["status"] == "cancelled":
            want.add(("cancel", p["purchaseId"]))
    kept = set(ledger) - undone
    assert kept == want, f"ledger differs: missing {want - kept}, extra {kept - want}"

    # The read model agrees with the write side.
    assert set(histories) == set(users), "history users differ from pointer users"
    for user, account in users.items():
        h = histories[user]
        assert (h["status"], h["myPoint"]) == (account["status"], account["point"]), (user, h, account)
    entries = {(e["kind"], e["refId"]): e["status"]
               for timeline in history_timelines(api, users).values()
               for e in timeline if "refId" in e}
    for p in payments:
        assert entries.get(("payment", p["paymentId"])) == p["status"], p
    for p in purchases:
        assert entries.get(("purchase", p["purchaseId"])) == p["status"], p
    return users, payments, purchases, histories
