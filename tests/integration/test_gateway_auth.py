"""The gateway verifies bearer tokens before it routes anything
(docs/GATEWAY.md, "Authentication"): missing, bad and unverifiable tokens
are refused with its own 401 (or 503 while the issuer's keys cannot be read),
valid ones reach the service with X-Auth-Subject and X-Auth-Roles, and new
keys are taken without a restart.

Tokens come from a stand-in issuer (tokens.py): keys made here, a JWKS
file the gateway reads (WEBTOON_AUTH_JWKS_URL), so that tokens of either
algorithm and with any claims can be made. The gateway's own
answers are recognised by their problem type and detail, and by the
gateway's log line for the request, which names no server; a request that
reached a service has a server there (the service may still refuse the
token itself: that is its business, tested with the services)."""
import http.client
import http.server
import json
import os
import re
import signal
import socket
import threading
import time

import jwt
import pytest
import requests

from api import Api
from harness import System, wait_until
from tokens import Key, TestIssuer


@pytest.fixture
def system(tmp_path):
    """A system that trusts a stand-in issuer: keys of both kinds, and
    tokens with any claims these tests need."""
    s = System(tmp_path)
    s.issuer = TestIssuer(tmp_path / "issuer" / "jwks.json", f"http://127.0.0.1:{s.ports['auth']}")
    yield s
    s.stop_all()
    s.cleanup()

PROTECTED = "/pointers/gina"  # any route of a service that needs a token


def gw(system, path):
    return system.url("gateway", path)


def log_process(system):
    return system.procs["up"] if "up" in system.procs else system.procs["gateway"]


def gateway_line(system, request_id):
    """The gateway's log line for <request_id> (waits for it: HAProxy logs
    a request once it is done)."""
    def find():
        for line in log_process(system).output().splitlines():
            if request_id in line and '"service":"gateway"' in line and '"msg":"request"' in line:
                return json.loads(line)
    return wait_until(find, 5, what=f"the gateway's log line for {request_id}")


def reached_a_server(system, r):
    """True when the gateway passed <r>'s request to a server."""
    return gateway_line(system, r.headers["x-request-id"])["server"] != "<NOSRV>"


def missing(r):
    """<r> is the gateway's 401 for a request without a token."""
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == 'Bearer realm="webtoon"'
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"] == "/problems/unauthenticated" and problem["status"] == 401
    assert problem["requestId"] == r.headers["x-request-id"]


def refused(r, detail=None):
    """<r> is the gateway's 401 for a bad token (saying <detail>)."""
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json"
    try:
        problem = r.json()
    except ValueError as e:  # seen once, under load: keep what came for the next look
        raise AssertionError(f"{e}: {dict(r.headers)} {r.content!r}") from e
    assert problem["type"] == "/problems/invalid-token", problem
    if detail:
        assert problem["detail"] == detail, problem
    assert r.headers["www-authenticate"] == (
        f'Bearer realm="webtoon", error="invalid_token", error_description="{problem["detail"]}"')


def b64(obj):
    return jwt.utils.base64url_encode(json.dumps(obj).encode()).decode()


def signed_hs256(header, claims, secret):
    """A JWT with <header> and <claims>, HMAC-SHA256-signed with <secret>
    (bytes) by hand: python-jwt refuses PEM text as an HMAC secret."""
    import hashlib
    import hmac
    signing_input = b64(dict(header, alg="HS256")) + "." + b64(claims)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + jwt.utils.base64url_encode(mac).decode()


def key_files(system):
    """(alg, path) of every key rule in the running configuration."""
    with open(os.path.join(system.data_dir, "run", "haproxy.cfg")) as f:
        return re.findall(r"jwt_verify\((RS256|ES256),([^)]+)\)", f.read())


def test_catalog_is_public_and_everything_else_needs_a_token(system):
    system.start_all()
    assert requests.get(gw(system, "/webtoons")).status_code == 200
    r = requests.head(gw(system, "/webtoons"))  # allowed through; the service says what it allows
    assert r.status_code != 401 and reached_a_server(system, r)
    r = requests.get(gw(system, "/webtoons/nope"))  # the service's own 404
    assert r.status_code == 404 and reached_a_server(system, r)
    assert requests.get(gw(system, "/openapi.json")).json()["openapi"].startswith("3.")
    assert "text/html" in requests.get(gw(system, "/")).headers["content-type"]  # the web app
    r = requests.get(gw(system, "/config.json"))  # the web server's, whatever it says
    assert r.status_code != 401 and reached_a_server(system, r)
    assert requests.get(gw(system, "/healthz")).json() == {"status": "ok"}
    assert requests.get(gw(system, "/metrics")).status_code == 200
    pre = requests.options(gw(system, "/purchases"), headers={
        "Origin": "http://example.test", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization"})
    assert pre.status_code == 204
    assert "Authorization" in pre.headers["access-control-allow-headers"]

    for method, path in [("POST", "/pointers"), ("GET", "/pointers"), ("GET", "/pointers/gina"),
                         ("PUT", "/pointers/gina/withdraw"), ("POST", "/payments"),
                         ("PUT", "/payments/p1/refund"), ("GET", "/histories/gina"),
                         ("GET", "/histories/gina/timeline"), ("POST", "/webtoons"),
                         ("PUT", "/webtoons/w1"), ("PATCH", "/webtoons/w1"), ("DELETE", "/webtoons/w1"),
                         ("POST", "/webtoons/w1/open"), ("GET", "/webtoons/w1/readers/gina"),
                         ("GET", "/webtoons/"), ("GET", "/libraries/gina"), ("POST", "/purchases"),
                         ("GET", "/purchases"), ("GET", "/%70ointers/gina"),
                         ("GET", "/webtoons/w1%2Freaders%2Fgina"), ("OPTIONS", "/pointers")]:
        r = requests.request(method, gw(system, path), json={"userId": "gina"} if method != "GET" else None)
        try:
            missing(r)
        except AssertionError as e:
            raise AssertionError(f"{method} {path}: {e}") from None
        assert not reached_a_server(system, r), f"{method} {path} reached a service"

    # A browser can read the refusal and what it asks for.
    r = requests.post(gw(system, "/pointers"), json={"userId": "gina"}, headers={"Origin": "http://example.test"})
    missing(r)
    assert r.headers["access-control-allow-origin"] == "http://example.test"
    assert "WWW-Authenticate" in r.headers["access-control-expose-headers"]


def test_valid_tokens_reach_the_service(system):
    system.start_all()
    issuer = system.issuer
    now = int(time.time())
    accepted = {
        "ES256": issuer.token("gina", key=issuer.keys[0]),
        "RS256": issuer.token("gina", key=issuer.keys[1]),
        "aud array naming the API": issuer.token("gina", aud=["account", issuer.audience]),
        "aud array, the API last of ten": issuer.token("gina", aud=[f"a{i}" for i in range(9)] + [issuer.audience]),
        "expired within the clock skew": issuer.token("gina", exp=now - 10),
        "nbf passed": issuer.token("gina", nbf=now - 60),
        "nbf within the clock skew": issuer.token("gina", nbf=now + 10),
        "sub only": issuer.token("gina", preferred_username=None),
        "no roles": issuer.token("gina", realm_access=None),
    }
    for what, token in accepted.items():
        r = requests.get(gw(system, PROTECTED), headers={"Authorization": f"Bearer {token}"})
        assert r.status_code != 401 or r.json().get("type") != "/problems/invalid-token", f"{what}: {r.text}"
        assert reached_a_server(system, r), what
        # a public route with a token checks the token and serves
        r = requests.get(gw(system, "/webtoons"), headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, f"{what}: {r.text}"
    # commands go through
    api = Api(system)
    api.join("gina")
    assert api.balance("gina") == 0


def test_bad_tokens_are_refused_by_the_gateway(system):
    system.start_all()
    issuer = system.issuer
    es, rs = issuer.keys
    now = int(time.time())
    good = issuer.token("gina")
    head, body, sig = good.split(".")
    # The good token first: the gateway remembers a signature it verified
    # (table jwt_verified), and its tampered copies below must be refused
    # all the same, the one with its claims changed under the same
    # signature included.
    r = requests.get(gw(system, PROTECTED), headers={"Authorization": f"Bearer {good}"})
    assert r.status_code != 401, r.text
    stranger = Key("ES256")  # never published
    pem_paths = dict(key_files(system))
    assert set(pem_paths) == {"ES256", "RS256"}

    cases = {
        "tampered signature": (f"{head}.{body}.{sig[:-6]}{'AAAAAA' if sig[-6:] != 'AAAAAA' else 'BBBBBB'}",
                               "the token signature does not verify"),
        "claims changed after signing": (f"{head}.{b64(issuer.claims('admin', ('reader', 'admin')))}.{sig}",
                                         "the token signature does not verify"),
        "alg none": (f"{b64({'alg': 'none', 'kid': es.kid})}.{body}.",
                     "the token is not signed with RS256 or ES256 (alg)"),
        "alg none, no signature part": (f"{b64({'alg': 'none', 'kid': es.kid})}.{body}",
                                        "the token is not signed with RS256 or ES256 (alg)"),
        "HS256 keyed with the public key's PEM": (
            signed_hs256({"kid": es.kid}, issuer.claims("gina"), es.public_pem()),
            "the token is not signed with RS256 or ES256 (alg)"),
        "HS256 keyed with the RSA key's PEM": (
            signed_hs256({"kid": rs.kid}, issuer.claims("gina"), rs.public_pem()),
            "the token is not signed with RS256 or ES256 (alg)"),
        "HS256 keyed with the key file's path": (
            signed_hs256({"kid": es.kid}, issuer.claims("gina"), pem_paths["ES256"].encode()),
            "the token is not signed with RS256 or ES256 (alg)"),
        "RS256 naming the ES256 key's kid": (issuer.token("gina", key=rs, headers={"kid": es.kid}),
                                             "the token signature does not verify"),
        "expired": (issuer.token("gina", exp=now - 60), "the token has expired (exp)"),
        "no exp": (issuer.token("gina", exp=None), "the token has no valid expiry time (exp)"),
        "exp not a number": (issuer.token("gina", exp="tomorrow"), "the token has no valid expiry time (exp)"),
        "negative exp": (issuer.token("gina", exp=-100), "the token has no valid expiry time (exp)"),
        "nbf in the future": (issuer.token("gina", nbf=now + 120), "the token is not valid yet (nbf)"),
        "nbf not a number": (issuer.token("gina", nbf="soon"), "the token is not valid yet (nbf)"),
        "another issuer": (issuer.token("gina", iss="http://127.0.0.1:1"), "the token is from another issuer (iss)"),
        "the issuer with a trailing slash": (issuer.token("gina", iss=issuer.issuer + "/"),
                                             "the token is from another issuer (iss)"),
        "no iss": (issuer.token("gina", iss=None), "the token is from another issuer (iss)"),
        "another audience": (issuer.token("gina", aud="other-api"), "the token is not meant for this API (aud)"),
        "aud array without the API": (issuer.token("gina", aud=["account", "other-api"]),
                                      "the token is not meant for this API (aud)"),
        "no aud": (issuer.token("gina", aud=None), "the token is not meant for this API (aud)"),
        "unknown kid": (issuer.token("gina", key=stranger), "the token names no key the issuer publishes (kid)"),
        "no kid": (jwt.encode(issuer.claims("gina"), es.private, algorithm="ES256"),
                   "the token names no key the issuer publishes (kid)"),
        "unpublished key, published kid": (issuer.token("gina", key=stranger, headers={"kid": es.kid}),
                                           "the token signature does not verify"),
        "no user": (issuer.token("gina", preferred_username=None, sub=None),
                    "the token names no user (preferred_username or sub)"),
        "not a JWT": ("not-a-token", "the token is not signed with RS256 or ES256 (alg)"),
    }
    failures = []
    for what, (token, detail) in cases.items():
        for path in (PROTECTED, "/webtoons", "/"):  # a public route with a bad token is refused too
            r = requests.get(gw(system, path), headers={"Authorization": f"Bearer {token}"})
            try:
                refused(r, detail)
                assert not reached_a_server(system, r), "reached a server"
            except (AssertionError, ValueError) as e:
                failures.append(f"{what} on {path}: {e}")
    for what, value in {"Basic credentials": "Basic Z2luYTpzZWNyZXQ=", "empty bearer": "Bearer ",
                        "scheme only": "Bearer"}.items():
        r = requests.get(gw(system, PROTECTED), headers={"Authorization": value})
        try:
            refused(r, "the Authorization header does not hold a bearer token"
                    if what == "Basic credentials" else None)
        except AssertionError as e:
            failures.append(f"{what}: {e}")
    assert not failures, "\n".join(failures)

    # Two Authorization headers, one of them good.
    conn = http.client.HTTPConnection("127.0.0.1", system.ports["gateway"], timeout=5)
    conn.putrequest("GET", PROTECTED)
    conn.putheader("Authorization", f"Bearer {good}")
    conn.putheader("Authorization", "Bearer not-a-token")
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 401 and json.loads(r.read())["detail"] == "more than one Authorization header"
    conn.close()


class Echo(http.server.ThreadingHTTPServer):
    """A stand-in service on 127.0.0.1:<port> answering every request with
    its method, path and headers as JSON, so a test sees what the gateway
    forwarded."""

    daemon_threads = True

    def __init__(self, port):
        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                n = int(self.headers.get("content-length") or 0)
                if n:
                    self.rfile.read(n)
                body = json.dumps({"method": self.command, "path": self.path,
                                   "headers": [[k.lower(), v] for k, v in self.headers.items()]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_HEAD = answer

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", port), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def forwarded(r, name):
    """Values of header <name> the stand-in service received."""
    assert r.status_code == 200, r.text
    return [v for k, v in r.json()["headers"] if k == name]


def test_identity_headers_come_from_the_token_only(system):
    echoes = [Echo(system.ports["pointer"]), Echo(system.ports["web"])]
    try:
        system.start("gateway")
        spoof = {"X-Auth-Subject": "admin", "X-Auth-Roles": "admin", "x-auth-subject": "root"}
        # Anonymous: the web app's files, and what a client claims is dropped.
        r = requests.get(gw(system, "/index.html"), headers=spoof)
        assert forwarded(r, "x-auth-subject") == [] and forwarded(r, "x-auth-roles") == []
        # With a token: who the token says, whatever the client adds.
        token = system.issuer.token("gina", ("reader",))
        r = requests.get(gw(system, "/pointers/gina"), headers={"Authorization": f"Bearer {token}", **spoof})
        assert forwarded(r, "x-auth-subject") == ["gina"]
        assert forwarded(r, "x-auth-roles") == ["reader"]
        assert forwarded(r, "authorization") == [f"Bearer {token}"]  # the service verifies it again
        r = requests.get(gw(system, "/pointers/gina"),
                         headers=system.issuer.bearer("olga", ("reader", "admin", "not a role", "x" * 80)))
        assert forwarded(r, "x-auth-subject") == ["olga"]
        assert forwarded(r, "x-auth-roles") == ["reader,admin"]  # only plain names
        r = requests.get(gw(system, "/pointers/gina"), headers=system.issuer.bearer("gina", preferred_username=None))
        assert forwarded(r, "x-auth-subject") == ["id-gina"]  # sub, when there is no preferred_username
        r = requests.get(gw(system, "/pointers/gina"), headers=system.issuer.bearer("gina", realm_access=None))
        assert forwarded(r, "x-auth-roles") == []
        # A subject that could split a header line is refused, not forwarded.
        r = requests.get(gw(system, "/pointers/gina"), headers=system.issuer.bearer("gina\r\nX-Auth-Roles: admin"))
        refused(r, "the token names no user (preferred_username or sub)")
    finally:
        for e in echoes:
            e.shutdown()
            e.server_close()


def gateway_pids(system):
    """(pid of `webtoon serve gateway`, pid of HAProxy's master) under `webtoon up`."""
    out = os.popen(f"pgrep -P {system.procs['up'].pid} -a").read()
    parent = next(int(l.split()[0]) for l in out.splitlines() if l.endswith("serve gateway"))
    master = int(os.popen(f"pgrep -P {parent}").read().split()[0])
    return parent, master


class Load:
    """Requests with a valid token on fresh connections, from two threads,
    until stopped; every answer that is not 200 is kept."""

    def __init__(self, system, token):
        self.url = gw(system, "/webtoons")
        self.headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
        self.done, self.count, self.failures = threading.Event(), 0, []
        self.threads = [threading.Thread(target=self.run) for _ in range(2)]
        for t in self.threads:
            t.start()

    def run(self):
        while not self.done.is_set():
            try:
                r = requests.get(self.url, headers=self.headers, timeout=5)
                if r.status_code != 200:
                    self.failures.append(f"{r.status_code} {r.text[:200]}")
            except requests.RequestException as e:
                self.failures.append(repr(e))
            self.count += 1

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join()


def slow_command(system, token, delay):
    """Starts a POST /pointers whose body arrives <delay> seconds after its
    headers; returns a function giving its answer (status, body)."""
    sock = socket.create_connection(("127.0.0.1", system.ports["gateway"]), timeout=10)
    body = json.dumps({"userId": "rita"}).encode()
    sock.sendall((f"POST /pointers HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {token}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                  "Connection: close\r\n\r\n").encode())
    result = {}

    def finish():
        time.sleep(delay)
        sock.sendall(body)
        r = http.client.HTTPResponse(sock)
        r.begin()
        result["answer"] = (r.status, r.read().decode())
        sock.close()
    t = threading.Thread(target=finish)
    t.start()

    def answer():
        t.join(15)
        return result.get("answer")
    return answer


def test_new_keys_are_taken_without_a_restart(system):
    system.start_all(WEBTOON_AUTH_JWKS_REFRESH_MS=200)
    issuer = system.issuer
    before = gateway_pids(system)
    new = Key("ES256")
    fresh = issuer.token("rita", key=new)
    refused(requests.get(gw(system, PROTECTED), headers={"Authorization": f"Bearer {fresh}"}),
            "the token names no key the issuer publishes (kid)")

    load = Load(system, issuer.token("loader"))
    time.sleep(0.5)
    in_flight = slow_command(system, issuer.token("rita"), 2.0)  # its body comes after the reload
    published = time.monotonic()
    issuer.publish(issuer.keys + [new])

    def accepted():
        r = requests.get(gw(system, "/webtoons"), headers={"Authorization": f"Bearer {fresh}"})
        return r.status_code == 200
    wait_until(accepted, 10, what="a token signed with the new key accepted")
    took = time.monotonic() - published
    answer = in_flight()
    time.sleep(0.5)
    load.stop()
    print(f"new key accepted {took:.2f} s after it was published; {load.count} requests meanwhile")
    assert took < 3, took
    assert answer and answer[0] == 201, answer  # the request in flight finished, on the old worker
    assert load.count > 20 and not load.failures, load.failures[:5]
    assert gateway_pids(system) == before  # reloaded, not restarted
    logs = system.procs["up"].output()
    assert "the issuer's keys changed" in logs and "HAProxy reloaded" in logs
    assert reached_a_server(system, requests.get(gw(system, PROTECTED), headers={"Authorization": f"Bearer {fresh}"}))

    # Keys the issuer stops publishing stop working too.
    old = issuer.token("gina", key=issuer.keys[0])
    issuer.publish([new])

    def revoked():
        r = requests.get(gw(system, PROTECTED), headers={"Authorization": f"Bearer {old}"})
        return r.status_code == 401 and r.json()["detail"] == "the token names no key the issuer publishes (kid)"
    wait_until(revoked, 10, what="the old key's tokens refused")
    assert requests.get(gw(system, "/webtoons"), headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    assert len(key_files(system)) == 1
    assert len(os.listdir(os.path.join(system.data_dir, "run", "jwks"))) == 1  # old key files gone


def unavailable(r, retry_after="1"):
    """<r> is the gateway's 503 while it cannot read the issuer's keys; the
    next read is at most a refresh interval away (<retry_after> s)."""
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == retry_after
    assert r.json()["detail"].startswith("the gateway cannot check tokens yet")


def test_tokens_get_503_until_the_keys_can_be_read(system):
    jwks = system.dir / "later" / "jwks.json"
    system.start_all(WEBTOON_AUTH_JWKS_URL=f"file://{jwks}", WEBTOON_AUTH_JWKS_REFRESH_MS=200)
    token = system.issuer.token("gina")
    unavailable(requests.get(gw(system, PROTECTED), headers={"Authorization": f"Bearer {token}"}))
    unavailable(requests.get(gw(system, "/webtoons"), headers={"Authorization": f"Bearer {token}"}))
    assert requests.get(gw(system, "/webtoons")).status_code == 200  # browsing needs no key
    missing(requests.get(gw(system, PROTECTED)))  # no token is still the client's doing
    assert "the issuer's keys cannot be read yet" in system.procs["up"].output()
    # Neither the gateway nor a service is ready without keys: in a rollout
    # the ones that have them keep the traffic.
    r = requests.get(gw(system, "/readyz"))
    assert r.status_code == 503 and r.json()["checks"] == {"keys": "not read yet"}, r.text
    r = system.get("pointer", "/readyz")
    assert r.status_code == 503 and r.json()["checks"]["keys"] == "not read yet", r.text

    system.issuer.path = str(jwks)
    system.issuer.publish()  # the issuer is there now
    wait_until(lambda: requests.get(gw(system, "/webtoons"), headers={"Authorization": f"Bearer {token}"}
                                    ).status_code == 200, 10, what="tokens accepted once the keys are there")
    wait_until(lambda: requests.get(gw(system, "/readyz")).status_code == 200, 10,
               what="the gateway ready once it has the keys")
    wait_until(lambda: system.get("pointer", "/readyz").status_code == 200, 10,
               what="the pointer service ready once it has the keys")
    assert system.get("pointer", "/readyz").json()["checks"]["keys"] == "read"
    assert reached_a_server(system, requests.get(gw(system, PROTECTED), headers={"Authorization": f"Bearer {token}"}))

    # An issuer that publishes no usable key any more: nothing can verify.
    system.issuer.publish([])
    wait_until(lambda: requests.get(gw(system, "/webtoons"), headers={"Authorization": f"Bearer {token}"}
                                    ).status_code == 503, 10, what="503 once no key is published")


def test_an_issuer_that_is_down_does_not_stop_the_gateway(system):
    # Nothing listens on the issuer's port: the gateway starts all the same.
    system.start("gateway", WEBTOON_AUTH_JWKS_URL=f"http://127.0.0.1:{system.ports['auth']}/jwks")
    unavailable(requests.get(gw(system, PROTECTED), headers=system.issuer.bearer()), "1")
    missing(requests.get(gw(system, PROTECTED)))
    assert "cannot be read yet" in system.procs["gateway"].output()


def test_rendered_key_rules(system, tmp_path):
    issuer = system.issuer
    es, rs = issuer.keys
    es.kid = "-" + es.kid  # a base64url thumbprint starts with '-' one time in 64
    odd = [dict(es.jwk(), kid="enc-key", use="enc"), {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
           dict(rs.jwk(), kid="has space"), dict(es.jwk(), kid="p384", crv="P-384")]
    with open(issuer.path, "w") as f:
        json.dump({"keys": [es.jwk(), rs.jwk()] + odd}, f)
    r = system.run("gateway", "config")
    assert r.returncode == 0, r.stderr
    rules = re.findall(r"jwt_verify\((\w+),([^)]+)\) if \{ var\(txn.jwt_kid\) -m str -- (\S+) \} "
                       r"\{ var\(txn.jwt_alg\) -m str (\w+) \}", r.stdout)
    assert sorted((alg, kid, alg2) for alg, _, kid, alg2 in rules) == sorted(
        [("ES256", es.kid, "ES256"), ("RS256", rs.kid, "RS256")])  # each key its own algorithm
    for alg, path, kid, _ in rules:
        with open(path, "rb") as f:
            assert f.read() == (es if kid == es.kid else rs).public_pem()
    known = re.findall(r"acl jwt_kid_known var\(txn.jwt_kid\) -m str -- (.*)", r.stdout)
    assert known == [f"{es.kid} {rs.kid}"] or known == [f"{rs.kid} {es.kid}"]  # the others skipped
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(r.stdout)
    check = subprocess_run(["haproxy", "-c", "-f", str(cfg)])
    assert check.returncode == 0, check.stdout + check.stderr


def subprocess_run(args):
    import subprocess
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


def haproxy_children(pid):
    return [int(p) for p in os.popen(f"pgrep -P {pid}").read().split()]


def test_stop_signals_reach_haproxy(system):
    """`webtoon serve gateway` is HAProxy's parent: a stop signal goes on to
    HAProxy and the gateway exits with its status; if the parent dies,
    HAProxy goes too."""
    for sig in (signal.SIGUSR1, signal.SIGTERM):
        p = system.start("gateway")
        master = haproxy_children(p.pid)[0]
        p.proc.send_signal(sig)
        assert p.proc.wait(10) == 0
        assert not os.path.exists(f"/proc/{master}") or haproxy_children(master) == []
        p.log.close()
    p = system.start("gateway")
    master = haproxy_children(p.pid)[0]
    p.kill()
    wait_until(lambda: not os.path.exists(f"/proc/{master}"), 5, what="HAProxy gone with its parent")
    with pytest.raises(requests.ConnectionError):
        requests.get(gw(system, "/healthz"), timeout=2)
