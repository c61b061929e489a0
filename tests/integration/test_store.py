"""The store of issue 14 as a reader and an admin use it, through the
gateway: series and their episodes, the original /webtoons contract beside
them, search, filters, sorts and paging, reading progress and "continue
reading", wait-until-free with a clock the test moves, and popularity.
Every answer is checked against the OpenAPI document by the Api client."""
import os
import uuid

import pytest

from api import ADMIN, ANONYMOUS, Api
from harness import wait_until

DAY_MS = 24 * 3600 * 1000
NOW_MS = 1796205600000  # 2026-12-02T10:00:00Z, where the tests' clock starts


def series(api, sid, title, author="An Author", **fields):
    r = api.post("/series", {"seriesId": sid, "title": title, "author": author, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def episode(api, wid, point, sid=None, number=1, **fields):
    body = {"webtoonId": wid, "title": f"{wid} title", "author": "An Author", "point": point,
            "episode": number, **fields}
    if sid:
        body["seriesId"] = sid
    r = api.post("/webtoons", body)
    assert r.status_code == 201, r.text
    return r.json()


def joined(api, user):
    api.join(user)
    # the webtoon service learns of the account from its event
    api.wait_for(f"/libraries/{user}", lambda lib: True, what=f"{user} known")


def open_(api, wid, user):
    return api.post(f"/webtoons/{wid}/open", {"userId": user})


def listed(api, query):
    body = api.get(f"/series?{query}", as_=ANONYMOUS).json()
    return [s["seriesId"] for s in body["_embedded"]["series"]]


@pytest.fixture
def api(system):
    system.start_all()
    return Api(system)


def test_series_are_created_read_and_updated_by_admins_only(api):
    created = series(api, "tower", "Tower of Dreams", "Han Yura", synopsis="A climb.",
                     genres=["fantasy", "action", "fantasy"])
    assert created["genres"] == ["action", "fantasy"]  # once each, in the fixed order
    assert (created["status"], created["episodes"], created["freeEpisodes"]) == ("ongoing", 0, 0)
    assert "latestEpisodeAt" not in created and "cover" not in created["_links"]
    assert created["_links"]["episodes"]["href"] == "/series/tower/episodes"
    got = api.get("/series/tower", as_=ANONYMOUS)
    assert got.status_code == 200 and got.json()["title"] == "Tower of Dreams"
    again = api.post("/series", {"seriesId": "tower", "title": "x", "author": "y"})
    assert again.status_code == 409 and again.json()["type"] == "/problems/already-exists"

    r = api.patch("/series/tower", {"status": "completed", "genres": ["drama"]})
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["genres"], r.json()["synopsis"]) == ("completed", ["drama"], "A climb.")
    r = api.put("/series/tower", {"title": "Tower", "author": "Han Yura"})
    assert r.status_code == 200
    assert (r.json()["synopsis"], r.json()["genres"], r.json()["status"]) == ("", [], "ongoing")
    assert api.get("/series/tower", as_=ANONYMOUS).json()["title"] == "Tower"

    for body in ({"genres": ["romcom"]}, {"status": "published"}, {"seriesId": "other"},
                 {"synopsis": "x" * 2001}, {"genres": ["drama"] * 9}, {"title": ""}):
        r = api.patch("/series/tower", body)
        assert r.status_code == 400 and r.headers["Content-Type"] == "application/problem+json", body
    assert api.patch("/series/nope", {"status": "hiatus"}).status_code == 404
    assert api.get("/series/nope", as_=ANONYMOUS).status_code == 404
    assert api.get("/series/nope/episodes", as_=ANONYMOUS).status_code == 404
    # readers and strangers may browse but not edit
    assert api.post("/series", {"seriesId": "mine", "title": "t", "author": "a"},
                    as_=ANONYMOUS).status_code == 401
    assert api.patch("/series/tower", {"status": "hiatus"}, as_="mallory").status_code == 403
    wait_until(lambda: [e["status"] for e in api.system.events("SeriesUpdated")] == ["completed", "ongoing"],
               what="SeriesUpdated events")


def test_the_original_webtoons_contract_is_unchanged_and_episodes_find_their_series(api):
    # the original upload: no seriesId; the series comes from the id
    first = api.upload("niceguy-1", 100, title="Nice Guy", episode=1)
    assert (first["seriesId"], first["pages"]) == ("niceguy", 0)
    assert first["_links"]["self"]["href"] == "/webtoons/niceguy-1"
    assert first["_links"]["series"]["href"] == "/series/niceguy"
    api.upload("niceguy-3", 100, title="Nice Guy", episode=3)
    api.upload("niceguy-2", 0, title="Nice Guy", episode=2)
    api.upload("niceguy-4", 100, title="Nice Guy", episode=4, status="hidden")
    made = api.get("/series/niceguy", as_=ANONYMOUS).json()
    assert (made["title"], made["author"], made["episodes"], made["freeEpisodes"]) == \
        ("Nice Guy", "An Author", 3, 1)
    assert "latestEpisodeAt" in made
    wait_until(lambda: [e["seriesId"] for e in api.system.events("SeriesCreated")] == ["niceguy"],
               what="one SeriesCreated")

    # /webtoons: every episode, in upload order, as before
    page = api.get("/webtoons?size=2", as_=ANONYMOUS).json()
    assert [w["webtoonId"] for w in page["_embedded"]["webtoons"]] == ["niceguy-1", "niceguy-3"]
    assert page["page"] == {"size": 2, "totalElements": 4, "totalPages": 2, "number": 0}
    assert api.get("/webtoons/niceguy-2", as_=ANONYMOUS).json()["point"] == 0
    assert api.patch("/webtoons/niceguy-2", {"point": 50}).json()["point"] == 50

    # the series' episodes by number; readers see published ones, admins all
    public = api.get("/series/niceguy/episodes", as_=ANONYMOUS).json()
    assert [e["episode"] for e in public["_embedded"]["episodes"]] == [1, 2, 3]
    admin = api.get("/series/niceguy/episodes", as_=ADMIN).json()
    assert [e["episode"] for e in admin["_embedded"]["episodes"]] == [1, 2, 3, 4]
    two = api.get("/series/niceguy/episodes?page=1&size=2", as_=ANONYMOUS).json()
    assert [e["webtoonId"] for e in two["_embedded"]["episodes"]] == ["niceguy-3"]
    assert two["_links"]["prev"]["href"] == "/series/niceguy/episodes?page=0&size=2"

    # an episode naming its series: it must exist
    r = api.post("/webtoons", {"webtoonId": "x-1", "title": "t", "author": "a", "point": 0,
                               "episode": 1, "seriesId": "nowhere"})
    assert r.status_code == 404 and "POST /series" in r.json()["detail"]
    series(api, "other", "Other")
    moved = api.patch("/webtoons/niceguy-3", {"seriesId": "other"})
    assert moved.status_code == 200 and moved.json()["seriesId"] == "other"
    assert api.get("/series/other", as_=ANONYMOUS).json()["episodes"] == 1
    assert api.patch("/webtoons/niceguy-3", {"seriesId": "nowhere"}).status_code == 404
    # On Kafka the log is in order per key only: this episode's last update.
    wait_until(lambda: [(e["seriesId"], e["freeFrom"]) for e in api.system.events("Updated")
                        if e["webtoonId"] == "niceguy-3"][-1:] == [("other", None)],
               what="the Updated event naming the new series")


def test_search_filters_sorts_and_pages(api):
    series(api, "niceguy", "Nice Guy", "Kim Dokja", genres=["drama", "romance"])
    series(api, "tower", "Tower of Dreams", "Han Yura", genres=["fantasy"], status="completed")
    series(api, "seoul", "Seoul at Night", "Park Min", genres=["thriller", "drama"], status="hiatus")
    series(api, "cafe", "Café Nicolette", "Lee Ara", genres=["romance", "slice-of-life"])
    for sid in ("tower", "niceguy", "seoul"):  # newest episode last: seoul
        episode(api, f"{sid}-1", 0, sid)

    # words on title and author, the last one a prefix
    assert sorted(listed(api, "q=nic")) == ["cafe", "niceguy"]
    assert listed(api, "q=nice%20gu") == ["niceguy"]
    assert listed(api, "q=han") == ["tower"]
    assert listed(api, "q=yura%20tower") == ["tower"]
    assert listed(api, "q=CAF") == ["cafe"]
    assert listed(api, "q=dreams%20kim") == []
    # any string is safe: the engines' syntax is ignored, not obeyed
    for q in ('"', "*", "NEAR(", "-", "'", "nice OR", "^", "a:b", "(((", "%22nic%22", "nic*",
              "\\", "%E2%80%9C", "%C3", "%FF%FE", "\u0000", "서울", "🙂", "x" * 200, "&|!<->"):
        r = api.get("/series?q=" + q, as_=ANONYMOUS)
        assert r.status_code == 200, (q, r.text)
    assert listed(api, "q=nice%22%20OR%20%22tower") == []  # words, all required
    assert sorted(listed(api, "q=%22")) == ["cafe", "niceguy", "seoul", "tower"]  # no words
    assert listed(api, "q=nice%20" + "x%20" * 100) == []  # only the first words count
    assert listed(api, "q=" + "%00" + "x" * 300) == listed(api, "")

    assert sorted(listed(api, "genre=drama")) == ["niceguy", "seoul"]
    assert listed(api, "genre=drama&status=hiatus") == ["seoul"]
    assert listed(api, "status=completed") == ["tower"]
    for bad in ("genre=romcom", "status=published", "sort=oldest", "size=0", "page=-1"):
        assert api.get(f"/series?{bad}", as_=ANONYMOUS).status_code == 400, bad

    assert listed(api, "sort=title") == ["cafe", "niceguy", "seoul", "tower"]
    assert listed(api, "sort=new")[:3] == ["seoul", "niceguy", "tower"]  # by newest episode
    assert listed(api, "") == listed(api, "sort=new")

    first = api.get("/series?q=n&sort=title&size=1", as_=ANONYMOUS).json()
    assert first["page"]["totalElements"] == 3  # Nice, Nicolette, Night
    assert first["_links"]["next"]["href"] == "/series?q=n&sort=title&page=1&size=1"
    nxt = api.get(first["_links"]["next"]["href"], as_=ANONYMOUS).json()
    assert [s["seriesId"] for s in nxt["_embedded"]["series"]] == ["niceguy"]
    korean = api.get("/series?q=%EC%84%9C%EC%9A%B8%20밤&genre=drama", as_=ANONYMOUS).json()
    assert korean["_links"]["self"]["href"] == \
        "/series?q=%EC%84%9C%EC%9A%B8%20%EB%B0%A4&genre=drama&sort=new&page=0&size=20"

    # a renamed series is found by its new title at once
    api.patch("/series/tower", {"title": "Spire of Dreams"})
    assert listed(api, "q=spire") == ["tower"] and listed(api, "q=tower") == []


def test_progress_is_saved_and_continue_reading_lists_the_latest(api):
    series(api, "tower", "Tower of Dreams")
    episode(api, "tower-1", 0, "tower", 1)
    episode(api, "tower-2", 0, "tower", 2)
    episode(api, "tower-3", 100, "tower", 3, status="hidden")
    episode(api, "tower-4", 100, "tower", 4)
    joined(api, "rae")
    joined(api, "sam")

    opened = open_(api, "tower-1", "rae").json()
    assert (opened["free"], opened["seriesId"], opened["pages"]) == (True, "tower", [])
    assert "progress" not in opened and "previous" not in opened
    assert opened["next"] == "tower-2"
    r = api.put("/webtoons/tower-1/progress", {"page": 7}, as_="rae")
    assert r.status_code == 200 and r.json()["page"] == 7 and r.json()["webtoonId"] == "tower-1"
    again = open_(api, "tower-1", "rae").json()
    assert again["progress"]["page"] == 7
    second = open_(api, "tower-2", "rae").json()
    assert (second["previous"], second["next"]) == ("tower-1", "tower-4")  # hidden ones skipped
    assert api.put("/webtoons/tower-2/progress", {"userId": "rae", "page": 2}).status_code == 200

    library = api.get("/libraries/rae").json()
    assert [(c["webtoonId"], c["page"], c["seriesId"], c["episode"]) for c in library["continueReading"]] \
        == [("tower-2", 2, "tower", 2), ("tower-1", 7, "tower", 1)]
    api.put("/webtoons/tower-1/progress", {"page": 9}, as_="rae")
    assert [c["webtoonId"] for c in api.get("/libraries/rae").json()["continueReading"]] == \
        ["tower-1", "tower-2"]
    assert api.get("/libraries/sam").json()["continueReading"] == []

    # only one's own, only what one may read, only sensible pages
    assert api.put("/webtoons/tower-4/progress", {"page": 1}, as_="rae").status_code == 403
    assert api.put("/webtoons/tower-3/progress", {"page": 1}, as_="rae").status_code == 409
    assert api.put("/webtoons/tower-1/progress", {"userId": "sam", "page": 1}, as_="rae").status_code == 403
    assert api.put("/webtoons/nope/progress", {"page": 1}, as_="rae").status_code == 404
    for body in ({"page": 0}, {"page": 10001}, {"page": "3"}, {}, {"page": 1, "extra": 1}):
        assert api.put("/webtoons/tower-1/progress", body, as_="rae").status_code == 400, body
    assert api.put("/webtoons/tower-1/progress", {"page": 1}, as_=ANONYMOUS).status_code == 401
    assert api.get("/libraries/rae", as_="sam").status_code == 403


def test_an_episode_becomes_free_when_its_time_comes(system, tmp_path):
    clock = tmp_path / "clock"
    clock.write_text(str(NOW_MS))
    system.start_all(WEBTOON_CLOCK_FILE=str(clock))
    api = Api(system)
    series(api, "wait", "Wait for It")
    episode(api, "wait-1", 300, "wait", freeFrom="2026-12-05T10:00:00Z")
    joined(api, "ty")
    assert api.get("/webtoons/wait-1", as_=ANONYMOUS).json()["freeFrom"] == "2026-12-05T10:00:00.000Z"
    assert api.get("/series/wait", as_=ANONYMOUS).json()["freeEpisodes"] == 0

    r = open_(api, "wait-1", "ty")
    assert r.status_code == 403 and r.json()["type"] == "/problems/not-owned"
    assert api.get("/webtoons/wait-1/readers/ty").json()["free"] is False

    clock.write_text(str(NOW_MS + 3 * DAY_MS - 1))  # a millisecond early
    assert open_(api, "wait-1", "ty").status_code == 403
    clock.write_text(str(NOW_MS + 3 * DAY_MS))
    r = open_(api, "wait-1", "ty")
    assert r.status_code == 200 and r.json()["free"] is True and "purchaseId" not in r.json()
    assert api.get("/webtoons/wait-1/readers/ty").json() == \
        {"userId": "ty", "webtoonId": "wait-1", "owned": False, "read": False, "free": True}
    assert api.get("/series/wait", as_=ANONYMOUS).json()["freeEpisodes"] == 1  # not a stale cache
    assert api.get("/libraries/ty").json()["owned"] == []  # nothing was bought
    assert api.get("/purchases?userId=ty").json()["page"]["totalElements"] == 0
    assert api.get("/pointers/ty").json()["point"] == 0

    # a freeFrom cleared (a PUT without one) makes it paid again
    cleared = api.put("/webtoons/wait-1", {"title": "t", "author": "a", "point": 300, "episode": 1})
    assert cleared.status_code == 200 and "freeFrom" not in cleared.json(), cleared.text
    assert open_(api, "wait-1", "ty").status_code == 403
    for bad in ("soon", "2026-12-05", "2026-02-30T00:00:00Z", 5, None):
        assert api.patch("/webtoons/wait-1", {"freeFrom": bad}).status_code == 400, bad


def test_popular_series_are_the_most_read_and_bought(api):
    for sid in ("alpha", "beta", "gamma"):
        series(api, sid, sid.title())
        episode(api, f"{sid}-1", 0, sid)
    episode(api, "gamma-2", 100, "gamma", 2)
    joined(api, "uma")
    assert listed(api, "sort=popular") == ["alpha", "beta", "gamma"]  # ties by title
    for _ in range(3):
        assert open_(api, "beta-1", "uma").status_code == 200
    assert open_(api, "alpha-1", "uma").status_code == 200
    assert open_(api, "gamma-2", "uma").status_code == 403  # a refused open is no read
    assert listed(api, "sort=popular") == ["beta", "alpha", "gamma"]
    assert api.get("/series/beta", as_=ANONYMOUS).json()["popularity"] == 3

    # a purchase counts too
    api.charge("uma", 500)
    api.wait_for("/pointers/uma", lambda p: p["point"] == 500, what="uma funded")
    purchase = api.buy("uma", "gamma-2").json()["purchaseId"]
    assert api.final_purchase(purchase)["status"] == "approved"
    api.wait_for("/series/gamma", lambda s: s["popularity"] == 1, what="the purchase counted")
    for _ in range(3):  # 1 + 3 reads: past beta's 3
        assert open_(api, "gamma-2", "uma").status_code == 200
    assert listed(api, "sort=popular") == ["gamma", "beta", "alpha"]


OLD_SCHEMA = [
    "CREATE TABLE schema_migrations (component TEXT NOT NULL, version INTEGER NOT NULL,"
    " applied_at BIGINT NOT NULL, PRIMARY KEY (component, version))",
    "CREATE TABLE webtoons (webtoon_id TEXT PRIMARY KEY, title TEXT NOT NULL, author TEXT NOT NULL,"
    " point BIGINT NOT NULL CHECK (point >= 0), episode BIGINT NOT NULL CHECK (episode > 0),"
    " status TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)",
    "CREATE TABLE ownership (user_id TEXT NOT NULL, webtoon_id TEXT NOT NULL, purchase_id TEXT NOT NULL,"
    " is_read INTEGER NOT NULL DEFAULT 0, granted_at BIGINT NOT NULL, read_at BIGINT,"
    " PRIMARY KEY (user_id, webtoon_id))",
    "CREATE TABLE catalog_version (id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL)",
    "INSERT INTO catalog_version (id, version) VALUES (1, 5)",
    "INSERT INTO schema_migrations VALUES ('webtoon', 1, 0), ('webtoon', 2, 0)",
]


def test_a_catalog_from_before_series_is_migrated_into_series(system):
    rows = [("niceguy", "Nice Guy", 100, 1), ("niceguy-2", "Nice Guy", 100, 2),
            ("tower-1", "Tower of Dreams", 0, 1), ("tower-12", "Tower of Dreams", 600, 12),
            ("seoul-night-1", "Seoul at Night", 300, 1), ("-7", "Odd", 5, 7)]
    os.makedirs(system.data_dir, exist_ok=True)
    inserts = [f"INSERT INTO webtoons VALUES ('{w}', '{t}', 'An Author', {p}, {e}, 'published', {i}, {i})"
               for i, (w, t, p, e) in enumerate(rows)]
    owned = [f"INSERT INTO ownership VALUES ('ann', 'tower-12', '{uuid.uuid4()}', 1, 0, 0)"]
    system.execute("webtoon", *OLD_SCHEMA, *inserts, *owned)
    system.start_all()
    api = Api(system)
    got = {s["seriesId"]: s for s in api.collect("/series?sort=title")}
    assert sorted(got) == ["-7", "niceguy", "seoul-night", "tower"]
    assert (got["tower"]["title"], got["tower"]["episodes"], got["tower"]["freeEpisodes"],
            got["tower"]["popularity"]) == ("Tower of Dreams", 2, 1, 1)
    assert [e["webtoonId"] for e in api.collect("/series/niceguy/episodes")] == ["niceguy", "niceguy-2"]
    assert listed(api, "q=seoul") == ["seoul-night"]  # the search index was built too
    assert api.get("/webtoons/tower-12", as_=ANONYMOUS).json()["seriesId"] == "tower"
    assert api.get("/webtoons?size=100", as_=ANONYMOUS).json()["page"]["totalElements"] == len(rows)
    # and a new episode of a migrated series joins it
    api.upload("tower-13", 0, title="Tower of Dreams", episode=13)
    assert api.get("/series/tower", as_=ANONYMOUS).json()["episodes"] == 3


# Drawing 5 covers and 39 pages and resizing each takes seconds on two idle
# cores, and far longer under the sanitizer on a loaded machine: the bound
# is for a demo that never finishes, not a speed target.
DEMO_WAIT_S = 90


def test_the_demo_looks_like_a_store(system):
    up = system.start_all("--demo")
    wait_until(lambda: "5 demo series and 13 demo episodes added" in up.output(), DEMO_WAIT_S,
               what="the demo store")
    api = Api(system)
    shelf = {s["seriesId"]: s for s in api.collect("/series")}
    assert len(shelf) == 5
    assert len({s["status"] for s in shelf.values()}) == 3
    assert len({g for s in shelf.values() for g in s["genres"]}) >= 6
    episodes = [e for sid in shelf for e in api.collect(f"/series/{sid}/episodes")]
    assert any(e["point"] == 0 for e in episodes) and any(e["point"] > 0 for e in episodes)
    waiting = [e for e in episodes if "freeFrom" in e]
    assert waiting and all(e["point"] > 0 for e in waiting)
    assert all(shelf[sid]["episodes"] >= 2 for sid in shelf)
    # drawn art: a cover per series, pages per episode, all real images
    assert all("cover" in s["_links"] for s in shelf.values())
    assert all(e["pages"] == 3 for e in episodes)
    cover = api.get(shelf["tower"]["_links"]["cover"]["href"], as_=ANONYMOUS)
    assert cover.status_code == 200 and cover.headers["Content-Type"].startswith("image/")
    page = api.get("/webtoons/tower-1/pages/3", as_=ANONYMOUS)
    assert page.status_code == 200 and len(page.content) > 1000
    # loading again changes nothing
    again = system.run("demo")
    assert again.returncode == 0 and "0 demo series and 0 demo episodes added, 0 covers and 0 pages" \
        in again.stderr


def test_up_stops_at_once_while_the_demo_still_loads(system):
    """The demo loads beside the supervisor, which goes on answering: a
    Ctrl-C in the middle of it stops everything within the usual bounds
    (it used to wait for the last page to be drawn)."""
    up = system.start_all("--demo")
    wait_until(lambda: '/pages","status":201' in up.output(), DEMO_WAIT_S,
               what="the first demo page")
    assert "demo episodes added" not in up.output()  # still drawing
    assert up.terminate() == 0, up.output()
    assert "all processes stopped" in up.output()
    assert "demo episodes added" not in up.output()  # stopped mid-way, not after it
