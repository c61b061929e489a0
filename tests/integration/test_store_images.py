"""Covers and page images of the store, through the gateway: uploads
checked (limits, mislabelled and garbage files refused with a 4xx), variants
served with ETags and 304, and a paid episode's pages kept from everyone but
its readers by every URL shape a stranger could try. Images are made here:
small PNGs written with zlib."""
import base64
import hashlib
import hmac
import struct
import time
import uuid
import zlib

import pytest
import requests

from api import ADMIN, ANONYMOUS, Api
from harness import wait_until

MEDIA_KEY = "ab" * 32  # the tests sign capabilities with it too


def png(width, height, seed=0):
    """A valid PNG of <width> x <height> RGB pixels, different per <seed>."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    row = bytes((seed * 40 + x * 7) % 256 for x in range(width * 3))
    raw = b"".join(b"\x00" + row for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def upload(api, path, data, ctype="image/png", method="PUT", as_=ADMIN, key=None):
    headers = {"Content-Type": ctype}
    if key:
        headers["Idempotency-Key"] = key
    if as_ is not None:
        headers["Authorization"] = "Bearer " + api.system.token(as_, admin=as_ == ADMIN)
    return requests.request(method, api.url(path), data=data, headers=headers, timeout=30)


def capability(user, webtoon, expiry):
    mac = hmac.new(bytes.fromhex(MEDIA_KEY), f"{user}\n{webtoon}\n{expiry}".encode(), hashlib.sha256).digest()
    return f"{expiry}." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


@pytest.fixture
def api(system):
    system.start_all(WEBTOON_MEDIA_KEY=MEDIA_KEY, WEBTOON_IMAGE_MAX_BYTES="200000",
                     WEBTOON_IMAGE_MAX_PIXELS="1000000")
    a = Api(system)
    a.post("/series", {"seriesId": "art", "title": "Art", "author": "A"})
    a.post("/webtoons", {"webtoonId": "art-1", "seriesId": "art", "title": "Art", "author": "A",
                         "point": 0, "episode": 1})
    a.post("/webtoons", {"webtoonId": "art-2", "seriesId": "art", "title": "Art", "author": "A",
                         "point": 100, "episode": 2})
    return a


def test_a_cover_is_stored_resized_and_served_with_etags(api):
    r = upload(api, "/series/art/cover", png(700, 1000))
    assert r.status_code == 200, r.text
    links = r.json()["_links"]
    assert links["cover"]["href"].startswith("/series/art/cover?v=")
    assert links["thumbnail"]["href"].startswith("/series/art/cover?size=thumb&v=")
    assert api.get("/series/art", as_=ANONYMOUS).json()["_links"]["cover"] == links["cover"]

    full = api.get(links["cover"]["href"], as_=ANONYMOUS)
    assert full.status_code == 200 and full.headers["Content-Type"] in ("image/webp", "image/jpeg")
    assert full.headers["ETag"] == '"%s"' % hashlib.sha256(full.content).hexdigest()
    assert full.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    thumb = api.get(links["thumbnail"]["href"], as_=ANONYMOUS)
    assert thumb.status_code == 200 and len(thumb.content) < len(full.content)
    assert thumb.headers["ETag"] != full.headers["ETag"]
    # without the variant's hash: revalidated, and 304 when current
    plain = api.get("/series/art/cover", as_=ANONYMOUS)
    assert plain.headers["Cache-Control"] == "no-cache" and plain.content == full.content
    again = api.get("/series/art/cover", as_=ANONYMOUS, headers={"If-None-Match": plain.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    original = api.get("/series/art/cover?size=original", as_=ANONYMOUS)
    assert original.headers["Content-Type"] == "image/png" and original.content == png(700, 1000)
    assert api.get("/series/art/cover?size=huge", as_=ANONYMOUS).status_code == 400
    # what came out goes back in: a WebP (or JPEG) upload, sniffed as such
    served = full.headers["Content-Type"]
    assert upload(api, "/webtoons/art-1/pages", full.content, served, method="POST").status_code == 201
    other = "image/png" if served != "image/png" else "image/jpeg"
    wrong = upload(api, "/webtoons/art-1/pages", full.content, other, method="POST")
    assert wrong.status_code == 415 and served.split("/")[1] in wrong.json()["detail"].lower()
    assert api.get("/series/nope/cover", as_=ANONYMOUS).status_code == 404


def test_bad_uploads_are_refused_with_a_clear_4xx(api):
    good = png(40, 30)
    cases = [
        (b"hello, not an image", "image/png", 415),
        (good, "image/jpeg", 415),          # mislabelled
        (good[:-20], "image/png", 400),     # truncated
        (b"", "image/png", 400),
        (good, "application/json", 415),
        (good, "text/plain", 415),
        (png(1001, 1000), "image/png", 413),  # over the pixel limit
        (b"\x89PNG" + b"x" * 300000, "image/png", 413),  # over the byte limit
    ]
    for data, ctype, status in cases:
        r = upload(api, "/webtoons/art-1/pages", data, ctype, method="POST")
        assert r.status_code == status, (ctype, len(data), r.status_code, r.text[:200])
        assert r.headers["Content-Type"] == "application/problem+json"
    mislabelled = upload(api, "/webtoons/art-1/pages", good, "image/jpeg", method="POST").json()
    assert "png" in mislabelled["detail"].lower() and "jpeg" in mislabelled["detail"].lower()
    assert upload(api, "/webtoons/art-1/pages", good, as_="reader1", method="POST").status_code == 403
    assert upload(api, "/webtoons/art-1/pages", good, as_=None, method="POST").status_code == 401
    assert upload(api, "/webtoons/nope/pages", good, method="POST").status_code == 404
    assert api.get("/webtoons/art-1", as_=ANONYMOUS).json()["pages"] == 0  # nothing was added


def test_pages_are_added_reordered_deleted_and_opened(api):
    sent = [png(60, 80 + i, seed=i) for i in range(3)]
    key = str(uuid.uuid4())
    first = upload(api, "/webtoons/art-1/pages", sent[0], method="POST", key=key)
    assert first.status_code == 201 and first.json()["number"] == 1
    assert first.headers["Location"] == "/webtoons/art-1/pages/1"
    replay = upload(api, "/webtoons/art-1/pages", sent[0], method="POST", key=key)
    assert replay.status_code == 201 and replay.json() == first.json()  # added once
    for data in sent[1:]:
        assert upload(api, "/webtoons/art-1/pages", data, method="POST").status_code == 201
    assert api.get("/webtoons/art-1", as_=ANONYMOUS).json()["pages"] == 3

    def originals():
        return [api.get(f"/webtoons/art-1/pages/{n}?size=original", as_=ANONYMOUS).content for n in (1, 2, 3)]
    assert originals() == sent
    r = api.put("/webtoons/art-1/pages", {"order": [3, 1, 2]})
    assert r.status_code == 200 and [p["number"] for p in r.json()["pages"]] == [1, 2, 3]
    assert originals() == [sent[2], sent[0], sent[1]]
    for bad in ([1, 2], [1, 1, 2], [0, 1, 2], [1, 2, 4], "1,2,3", [1, 2, 3, 4]):
        assert api.put("/webtoons/art-1/pages", {"order": bad}).status_code == 400, bad
    r = api.call("DELETE", "/webtoons/art-1/pages/1")
    assert r.status_code == 200 and len(r.json()["pages"]) == 2
    assert [api.get(f"/webtoons/art-1/pages/{n}?size=original", as_=ANONYMOUS).content for n in (1, 2)] == \
        [sent[0], sent[1]]
    assert api.call("DELETE", "/webtoons/art-1/pages/9").status_code == 404
    assert api.get("/webtoons/art-1/pages/3", as_=ANONYMOUS).status_code == 404

    api.join("rae")
    api.wait_for("/libraries/rae", lambda lib: True)
    opened = api.post("/webtoons/art-1/open", {"userId": "rae"}).json()
    assert len(opened["pages"]) == 2 and "access=" not in opened["pages"][0]  # free: public
    page = api.get(opened["pages"][0], as_=ANONYMOUS)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert api.get(opened["pages"][0], as_=ANONYMOUS,
                   headers={"If-None-Match": page.headers["ETag"]}).status_code == 304
    # On Kafka the log is in order per key only: this episode's last change.
    wait_until(lambda: [e["pages"] for e in api.system.events("PagesChanged")
                        if e["webtoonId"] == "art-1"][-1:] == [2],
               what="PagesChanged events")


def test_a_paid_page_reaches_no_one_but_its_readers(api):
    assert upload(api, "/webtoons/art-2/pages", png(50, 70), method="POST").status_code == 201
    for user, points in (("owner", 500), ("other", 500)):
        api.join(user)
        api.charge(user, points)
        api.wait_for(f"/pointers/{user}", lambda p: p["point"] == points)
    purchase = api.buy("owner", "art-2").json()["purchaseId"]
    assert api.final_purchase(purchase)["status"] == "approved"
    api.wait_for("/webtoons/art-2/readers/owner", lambda r: r["owned"])
    url = api.post("/webtoons/art-2/open", {"userId": "owner"}).json()["pages"][0]
    assert "access=" in url and "&u=owner" in url
    base = url.split("?")[0]
    now = int(time.time())

    refused = api.get(base, as_=ANONYMOUS)
    assert refused.status_code == 403
    body = {k: v for k, v in refused.json().items() if k in ("type", "title", "status", "detail")}
    stranger_urls = [
        base, base + "?size=thumb", base + "?size=original", base[:-1] + "9",  # a page that is not there
        "/webtoons/nope/pages/1",
        base + "?size=reading&access=123.abc&u=other",                        # forged
        base + f"?access={capability('owner', 'art-2', now + 600)[:-2]}xx&u=owner",
        base + f"?access={capability('owner', 'art-2', now + 600)}&u=other",  # another user's
        base + f"?access={capability('owner', 'art-1', now + 600)}&u=owner",  # another episode's
        base + f"?access={capability('owner', 'art-2', now - 5)}&u=owner",    # expired
        base + f"?size=original&access={capability('other', 'art-2', now + 600)[:10]}&u=other",
    ]
    for as_ in (ANONYMOUS, "other"):
        for u in stranger_urls:
            r = api.get(u, as_=as_)
            assert r.status_code == 403, (as_, u)
            assert {k: v for k, v in r.json().items() if k in body} == body, u
    # its readers: by the link, by token, an admin
    for u in (url, url.replace("size=reading", "size=thumb")):
        r = api.get(u, as_=ANONYMOUS)
        assert r.status_code == 200 and r.headers["Cache-Control"].startswith("private"), u
    assert api.get(base + f"?access={capability('owner', 'art-2', now + 600)}&u=owner",
                   as_=ANONYMOUS).status_code == 200
    assert api.get(base + "?size=original", as_="owner").status_code == 200
    assert api.get(base, as_=ADMIN).status_code == 200
