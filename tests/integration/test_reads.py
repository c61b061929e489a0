"""Catalog reads: ETags and 304 Not Modified, the read cache never serving a
page or an item older than the last catalog write (on any event-loop thread,
in any replica), and the cache's bounds.

Only commands change the catalog (upload, PATCH, PUT); no event the webtoon
service consumes does (grants and revocations change one user's library and
readers, which are not cached and carry ETags of their own)."""
import requests

from api import ADMIN, ANONYMOUS, Api
from harness import wait_until

PAGE = "/webtoons"


def service_get(system, path, port=None, **headers):
    """GET <path> straight at the webtoon service (or another port), on a
    connection of its own: a client other than the one that wrote."""
    port = port or system.ports["webtoon"]
    return requests.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=10)


def cache_metric(system, name, labels=""):
    return system.metric("webtoon", f"webtoon_http_cache_{name}", labels) or 0


def test_catalog_reads_carry_a_strong_etag_and_answer_304_when_current(system):
    system.start_all()
    api = Api(system)
    api.upload("etag-1", 100)
    for path in (PAGE, "/webtoons/etag-1"):
        first = api.get(path, as_=ANONYMOUS)
        assert first.status_code == 200
        etag = first.headers["ETag"]
        assert etag.startswith('"') and not etag.startswith("W/")
        assert first.headers["Cache-Control"] == "no-cache"
        again = api.get(path, as_=ANONYMOUS)
        assert again.headers["ETag"] == etag and again.content == first.content
        # the tag names these bytes, through the gateway and at the service alike
        assert service_get(system, path).headers["ETag"] == etag
        for current in (etag, f"W/{etag}", f'"other", {etag}', f'"a" ,  , {etag}', "*"):
            r = api.get(path, as_=ANONYMOUS, headers={"If-None-Match": current})
            assert r.status_code == 304, current
            assert r.content == b""
            assert r.headers["ETag"] == etag and r.headers["Cache-Control"] == "no-cache"
            assert "Content-Length" not in r.headers
        for stale in ('"0000000000000000"', etag[1:-1], f"{etag} junk", f"{etag}, *", ""):
            r = api.get(path, as_=ANONYMOUS, headers={"If-None-Match": stale})
            assert r.status_code == 200, stale
            assert r.content == first.content
    # a query spelled another way is the same page, with the same tag
    assert api.get("/webtoons?page=0&size=20").headers["ETag"] == api.get("/webtoons?size=20").headers["ETag"]
    # conditions apply to representations only: an unknown webtoon stays 404
    r = api.get("/webtoons/nope", headers={"If-None-Match": "*"})
    assert r.status_code == 404 and "ETag" not in r.headers


def test_every_catalog_write_is_read_at_once_by_another_client(system):
    """With two event-loop threads, each with its own cache: after every
    write's answer, a client on a new connection sees the catalog as written,
    and a tag from before the write no longer gets 304."""
    system.start_all(WEBTOON_HTTP_THREADS="2")
    api = Api(system)
    api.upload("fresh-1", 100, title="First")

    def warm():
        """Reads the page and the item a few times (over several connections,
        so both threads have them cached) and returns their tags."""
        tags = set()
        for _ in range(4):
            tags.add((service_get(system, PAGE).headers["ETag"],
                      service_get(system, "/webtoons/fresh-1").headers["ETag"]))
        assert len(tags) == 1
        return tags.pop()

    hits = cache_metric(system, "hits_total", 'route="/webtoons"')
    page_tag, item_tag = warm()
    assert cache_metric(system, "hits_total", 'route="/webtoons"') > hits

    def check(what, page_ok, item_ok=None):
        """After <what>: the page (and the item, when <item_ok> is given: it
        changed too) read by new clients as written."""
        nonlocal page_tag, item_tag
        changed = [(PAGE, page_tag, page_ok)]
        if item_ok:
            changed.append(("/webtoons/fresh-1", item_tag, item_ok))
        for path, tag, ok in changed:
            r = service_get(system, path, **{"If-None-Match": tag})
            assert r.status_code == 200, f"{path} still 304 after {what}"
            assert ok(r.json()), f"{path} stale after {what}: {r.text}"
            assert ok(api.get(path, as_=ANONYMOUS).json()), f"{path} stale at the gateway after {what}"
        page_tag, item_tag = warm()

    api.upload("fresh-2", 0, title="Second")
    check("an upload", lambda p: [w["webtoonId"] for w in p["_embedded"]["webtoons"]] == ["fresh-1", "fresh-2"]
          and p["page"]["totalElements"] == 2)
    # fresh-1 itself did not change: its tag still holds
    assert service_get(system, "/webtoons/fresh-1", **{"If-None-Match": item_tag}).status_code == 304
    r = api.patch("/webtoons/fresh-1", {"title": "Renamed", "point": 120})
    assert r.status_code == 200
    check("a PATCH", lambda p: p["_embedded"]["webtoons"][0]["title"] == "Renamed",
          lambda w: (w["title"], w["point"]) == ("Renamed", 120))
    r = api.put("/webtoons/fresh-1", {"title": "Put", "author": "B", "point": 0, "episode": 3,
                                      "status": "hidden"})
    assert r.status_code == 200
    check("a PUT", lambda p: p["_embedded"]["webtoons"][0]["status"] == "hidden",
          lambda w: (w["title"], w["episode"], w["status"]) == ("Put", 3, "hidden"))
    # a refused write changes nothing: the cache keeps answering
    assert api.post("/webtoons", {"webtoonId": "fresh-1", "title": "x", "author": "y", "point": 1,
                                  "episode": 1}).status_code == 409
    r = service_get(system, PAGE, **{"If-None-Match": page_tag})
    assert r.status_code == 304


def test_a_write_through_one_replica_is_read_at_once_through_the_other(system):
    """Two processes on one database, each with its own cache: the version
    a write bumps in its transaction is what both check."""
    system.start_all("--replicas", "2")
    other = system.ports["webtoon"] + 100
    wait_until(lambda: service_get(system, "/readyz", port=other).status_code == 200, 20,
               what="the second webtoon replica")
    Api(system, base=f"http://127.0.0.1:{system.ports['webtoon']}").upload("rep-1", 10, title="Before")
    for _ in range(3):  # cached in the second replica
        assert service_get(system, "/webtoons/rep-1", port=other).json()["title"] == "Before"
        assert service_get(system, PAGE, port=other).json()["page"]["totalElements"] == 1
    first = Api(system, base=f"http://127.0.0.1:{system.ports['webtoon']}")
    assert first.patch("/webtoons/rep-1", {"title": "After"}, as_=ADMIN).status_code == 200
    assert service_get(system, "/webtoons/rep-1", port=other).json()["title"] == "After"
    assert service_get(system, PAGE, port=other).json()["_embedded"]["webtoons"][0]["title"] == "After"
    first.upload("rep-2", 10)
    assert service_get(system, PAGE, port=other).json()["page"]["totalElements"] == 2


def test_one_users_reads_revalidate_too_and_follow_the_events(system):
    """The library and the readers view change with events (a purchase
    granted): they are not cached, and their tags change with them."""
    system.start_all()
    api = Api(system)
    api.upload("lib-1", 100)
    api.join("reader")
    assert api.charge("reader", 100).status_code == 201
    api.wait_for("/pointers/reader", lambda p: p["point"] == 100)
    for path in ("/libraries/reader", "/webtoons/lib-1/readers/reader"):
        r = api.get(path)
        assert r.headers["Cache-Control"] == "private, no-cache"
        assert api.get(path, headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    before = api.get("/libraries/reader").headers["ETag"]
    purchase = api.buy("reader", "lib-1").json()["purchaseId"]
    assert api.final_purchase(purchase)["status"] == "approved"
    r = api.wait_for("/libraries/reader", lambda lib: len(lib["owned"]) == 1, what="the grant")
    r = api.get("/libraries/reader", headers={"If-None-Match": before})
    assert r.status_code == 200 and r.json()["owned"][0]["webtoonId"] == "lib-1"


def test_many_distinct_queries_stay_within_the_cache_bounds(system):
    """Every (page, size) is its own entry; past the bounds (here 8 entries
    and 2 KiB per thread) the least recently used go, and the cache never
    holds more than it may. A page too large to keep is answered all the
    same."""
    entries, max_bytes = 16, 4096
    system.start_all(WEBTOON_HTTP_THREADS="2", WEBTOON_HTTP_CACHE_ENTRIES=str(entries),
                     WEBTOON_HTTP_CACHE_BYTES=str(max_bytes))
    api = Api(system)
    for i in range(3):
        api.upload(f"bound-{i}", i)
    session = requests.Session()  # one connection: one thread's cache
    distinct = 0
    for size in range(1, 11):
        for page in range(0, 12):
            r = session.get(system.url("webtoon", f"/webtoons?page={page}&size={size}"), timeout=10)
            assert r.status_code == 200
            distinct += 1
            assert cache_metric(system, "entries") <= entries
            assert cache_metric(system, "bytes") <= max_bytes
    assert cache_metric(system, "misses_total", 'route="/webtoons"') >= distinct
    assert cache_metric(system, "evictions_total") >= distinct - entries
    assert 0 < cache_metric(system, "entries") <= entries
    for i in range(3):
        assert api.patch(f"/webtoons/bound-{i}", {"title": "\uD55C" * 200}).status_code == 200
    hits = cache_metric(system, "hits_total", 'route="/webtoons"')
    for _ in range(2):
        r = session.get(system.url("webtoon", "/webtoons?size=100"), timeout=10)
        assert r.status_code == 200 and len(r.json()["_embedded"]["webtoons"]) == 3
        assert len(r.content) > max_bytes // 2
    assert cache_metric(system, "hits_total", 'route="/webtoons"') == hits
    assert cache_metric(system, "bytes") <= max_bytes
