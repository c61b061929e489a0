"""Request targets as they are on the wire: encoded path segments decoded
exactly once, refused when they could be read two ways, and method
semantics (405 with Allow, OPTIONS) that match the OpenAPI document.

Requests go over a raw socket, because HTTP client libraries normalize some
paths (dot segments, for one) before sending them: the bytes below are the
bytes the server gets, straight to a service and through the gateway."""
import json
import re
import socket

import pytest
import requests

from api import OWNER, SPEC
from harness import System

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    """One `webtoon up` for the module, with a built frontend of two files,
    so the static file handler is in the path of unmatched GETs."""
    tmp = tmp_path_factory.mktemp("paths")
    root = tmp / "web"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>index</title>\n")
    (root / "assets" / "a b.txt").write_text("spaced\n")
    s = System(tmp)
    s.start_all(WEBTOON_WEB_ROOT=str(root))
    global ALICE
    ALICE = s.token("alice")  # every raw request below acts as alice
    r = requests.post(s.url("pointer", "/pointers"), json={"userId": "alice"}, headers=s.auth("alice"), timeout=10)
    assert r.status_code == 201, r.text
    yield s
    s.stop_all()
    s.cleanup()


ALICE = None


def raw(port, method, target, headers=(), as_alice=True):
    """Sends <target> byte for byte, as alice unless told otherwise; returns
    (status, headers, body)."""
    headers = list(headers) + ([("Authorization", f"Bearer {ALICE}")] if ALICE and as_alice else [])
    if isinstance(target, str):
        target = target.encode("latin-1")
    head = b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n" % (
        method.encode(), target)
    head += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + b"\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    top, _, body = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def problem(status, hdrs, body, expect):
    assert status == expect, body[:300]
    assert hdrs["content-type"] == "application/problem+json", hdrs
    doc = json.loads(body)  # valid JSON, hence valid UTF-8
    assert doc["status"] == expect and doc["type"].startswith("/problems/")
    return doc


@pytest.fixture(params=["direct", "gateway"])
def pointer_port(request, system):
    return system.ports["pointer" if request.param == "direct" else "gateway"]


REFUSED = [
    ("GET", "/pointers/%00", "NUL"),                         # used to list every account
    ("PUT", "/pointers/alice/withdraw%00junk", "NUL"),       # used to withdraw alice
    ("PUT", "/pointers/alice%2Fwithdraw", "%2F"),
    ("GET", "/pointers/a%2fb", "%2F"),
    ("GET", "/pointers/%C3%28", "UTF-8"),
    ("GET", "/pointers/%ED%A0%80", "UTF-8"),
    ("GET", b"/pointers/\xff", "UTF-8"),
    ("GET", "/pointers/%zz", "percent"),
    ("GET", "/pointers/al%6", "percent"),
    ("GET", "/pointers/x/../alice", "'..'"),
    ("GET", "/pointers/%2E%2E", "'..'"),
    ("PUT", "/pointers/alice/./withdraw", "'..'"),
]


@pytest.mark.parametrize("method,target,why", REFUSED)
def test_ambiguous_paths_are_400(system, pointer_port, method, target, why):
    answer = raw(pointer_port, method, target)
    if isinstance(target, bytes) and pointer_port == system.ports["gateway"]:
        # HAProxy's own parser refuses a raw non-ASCII byte, with its own page
        assert answer[0] == 400
        return
    doc = problem(*answer, 400)
    assert doc["type"] == "/problems/invalid-request"
    assert why in doc["detail"]


def test_refusals_changed_nothing(system, pointer_port):
    for method, target, _ in REFUSED:
        raw(pointer_port, method, target)
    status, _, body = raw(pointer_port, "GET", "/pointers/alice")
    assert status == 200 and json.loads(body)["status"] == "joined"


def test_segments_are_decoded_exactly_once(system, pointer_port):
    status, hdrs, body = raw(pointer_port, "GET", "/%70ointers/al%69ce")
    assert status == 200 and json.loads(body)["userId"] == "alice"
    # %25 is a '%': "al%2569ce" names the user "al%69ce", who does not exist
    # (alice may not read someone else's account: an admin may, and learns)
    doc = problem(*raw(pointer_port, "GET", "/pointers/al%2569ce"), 403)
    assert "al%69ce" in doc["detail"]
    admin = [("Authorization", "Bearer " + system.token("operator", admin=True))]
    doc = problem(*raw(pointer_port, "GET", "/pointers/al%2569ce", admin, as_alice=False), 404)
    assert doc["type"] == "/problems/unknown-user" and "al%69ce" in doc["detail"]
    # UTF-8, however long, gives a well-formed problem (not the 503 fallback)
    doc = problem(*raw(pointer_port, "GET", "/pointers/" + "%C3%A9" * 40, admin, as_alice=False), 404)
    assert doc["instance"] == "/pointers/" + "%C3%A9" * 40
    if pointer_port == system.ports["pointer"]:  # HAProxy refuses raw non-ASCII bytes
        problem(*raw(pointer_port, "GET", b"/pointers/\xc3\xa9", admin, as_alice=False), 404)


def test_a_trailing_slash_is_another_resource(system, pointer_port):
    problem(*raw(pointer_port, "GET", "/pointers/"), 404)
    problem(*raw(pointer_port, "GET", "/pointers/alice/"), 404)
    problem(*raw(pointer_port, "PUT", "/pointers/alice/withdraw/"), 404)


def test_ids_of_dots_only_are_refused(system):
    for user in (".", ".."):
        r = requests.post(system.url("pointer", "/pointers"), json={"userId": user},
                          headers=system.auth("dots"), timeout=10)
        assert r.status_code == 400, r.text
    r = requests.get(system.url("payment", "/payments?userId=.."), headers=system.auth("dots"), timeout=10)
    assert r.status_code == 400, r.text


def test_static_files_still_served_for_unmatched_gets(system):
    gw = system.ports["gateway"]
    status, hdrs, body = raw(gw, "GET", "/")
    assert status == 200 and b"index" in body and "text/html" in hdrs["content-type"]
    status, _, body = raw(gw, "GET", "/assets/a%20b.txt")
    assert status == 200 and body == b"spaced\n"
    status, _, _ = raw(gw, "HEAD", "/index.html")
    assert status == 200
    problem(*raw(gw, "GET", "/assets/%2e%2e/index.html"), 400)
    status, _, _ = raw(gw, "GET", "/assets/missing.js")
    assert status == 404


# --- methods -------------------------------------------------------------------

def documented():
    """(template, declared methods) for every path of the document."""
    for template, item in SPEC.doc["paths"].items():
        yield template, sorted(m.upper() for m in item if m in METHODS)


def owner(template):
    first = template.strip("/").split("/")[0]
    return OWNER.get(first, "pointer")  # the built-in endpoints: any service


def allow(hdrs):
    return sorted(m.strip() for m in hdrs.get("allow", "").split(",") if m.strip())


@pytest.mark.parametrize("template,declared", list(documented()), ids=[t for t, _ in documented()])
@pytest.mark.parametrize("via", ["direct", "gateway"])
def test_allow_lists_exactly_the_documented_methods(system, template, declared, via):
    port = system.ports[owner(template) if via == "direct" else "gateway"]
    path = re.sub(r"\{[^/]+\}", "x", template)
    status, hdrs, body = raw(port, "OPTIONS", path)
    assert status == 204 and allow(hdrs) == declared, (status, hdrs, body[:200])
    for method in [m for m in ("TRACE", "DELETE", "FOO") if m not in declared]:
        status, hdrs, body = raw(port, method, path)
        doc = problem(status, hdrs, body, 405)
        assert doc["type"] == "/problems/method-not-allowed"
        assert allow(hdrs) == declared, hdrs


def test_gateway_answers_cors_preflights_itself(system):
    status, hdrs, _ = raw(system.ports["gateway"], "OPTIONS", "/pointers/x/withdraw",
                          headers=[("Origin", "http://example.test"),
                                   ("Access-Control-Request-Method", "PUT")])
    assert status == 204 and "allow" not in hdrs
    assert hdrs["access-control-allow-origin"] == "http://example.test"
    assert "PUT" in hdrs["access-control-allow-methods"]


def test_concrete_path_before_template(system):
    # /purchases/buywebtoon is its own resource (POST), not /purchases/{purchaseId}
    port = system.ports["purchase"]
    status, hdrs, _ = raw(port, "GET", "/purchases/buywebtoon")
    assert status == 405 and allow(hdrs) == ["POST"]
    r = requests.post(system.url("purchase", "/purchases/buywebtoon"),
                      json={"userId": "alice", "webtoonId": "nope"}, headers=system.auth("alice"), timeout=10)
    SPEC.check("POST", r.url, r)
    assert r.status_code == 404
