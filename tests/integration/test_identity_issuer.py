"""The built-in OpenID Connect issuer (`webtoon serve auth`), as the web app,
a script and an operator meet it: discovery and keys, the authorization code
flow with PKCE driven like a browser (a sign-in page, a form, a redirect),
sign-up, refresh tokens that rotate, the password and client_credentials
grants, sign-in budgets, userinfo and logout, `webtoon token` and key
rotation. Tokens are checked with PyJWT (python3-jwt) against the issuer's
published JWKS, the way any relying party would."""
import base64
import hashlib
import json
import os
import re
import secrets
import sqlite3
import stat
import subprocess
import time
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness import BIN, wait_until

WEB, CLI, AUDIENCE = "webtoon-web", "webtoon-cli", "webtoon-api"


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def pkce():
    verifier = b64url(secrets.token_bytes(32))
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


class Issuer:
    """One running issuer and what a client needs to talk to it."""

    def __init__(self, system, **env):
        self.system = system
        self.env = env
        self.proc = system.start("auth", **env)
        self.base = system.url("auth", "")
        self.auth_dir = os.path.join(system.data_dir, "auth")
        self.redirect = f"http://127.0.0.1:{system.ports['gateway']}/callback"

    def url(self, path):
        return self.base + path

    @property
    def secret(self):
        with open(os.path.join(self.auth_dir, "cli-client-secret")) as f:
            return f.read().strip()

    def jwks(self):
        return requests.get(self.url("/jwks"), timeout=10).json()

    def verify(self, token, audience=AUDIENCE, **kw):
        """The claims of <token>, verified with the published key its kid
        names (PyJWT raises on any fault)."""
        kid = jwt.get_unverified_header(token)["kid"]
        key = next(k for k in self.jwks()["keys"] if k["kid"] == kid)
        return jwt.decode(token, jwt.PyJWK(key).key, algorithms=["ES256"], audience=audience,
                          issuer=self.base, **kw)

    def token(self, **form):
        return requests.post(self.url("/token"), data=form, timeout=30)

    def cli_token(self, **form):
        return requests.post(self.url("/token"), data=form, auth=(CLI, self.secret), timeout=30)

    def add_user(self, name, password, *flags):
        r = subprocess.run([BIN, "auth", "add-user", name, *flags], input=password + "\n",
                           env=self.system.env(**self.env), capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def authorize_params(self, challenge, **extra):
        params = {"response_type": "code", "client_id": WEB, "redirect_uri": self.redirect,
                  "scope": "openid profile", "state": "st-" + secrets.token_hex(4),
                  "nonce": "n-" + secrets.token_hex(4), "code_challenge": challenge,
                  "code_challenge_method": "S256"}
        params.update(extra)
        return params


def form_fields(html):
    """The named inputs of the page's form."""
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))


def sign_in(issuer, browser, username, password, challenge, path="/authorize", **extra):
    """Drives the sign-in page like a browser: GET the page, POST its form.
    Returns (the authorize parameters, the answer to the POST)."""
    params = issuer.authorize_params(challenge, **extra)
    page = browser.get(issuer.url(path), params=params, allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.text
    assert "text/html" in page.headers["content-type"]
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert '<label for="username">' in page.text and '<label for="password">' in page.text
    flow = form_fields(page.text)["flow"]
    posted = browser.post(issuer.url(path), data={"flow": flow, "username": username,
                                                  "password": password},
                          allow_redirects=False, timeout=30)
    return params, posted


def code_of(issuer, params, answer):
    """The code in a redirect back to the client, after checking where it
    goes and that the state came back."""
    assert answer.status_code in (302, 303), answer.text
    loc = urlparse(answer.headers["location"])
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == issuer.redirect
    q = parse_qs(loc.query)
    assert q["state"] == [params["state"]]
    assert q["iss"] == [issuer.base]
    return q["code"][0]


def exchange(issuer, code, verifier, redirect=None):
    return issuer.token(grant_type="authorization_code", client_id=WEB, code=code,
                        code_verifier=verifier, redirect_uri=redirect or issuer.redirect)


@pytest.fixture
def make_issuer(system):
    """Starts issuers; each must then stop cleanly: exit status 0 after
    SIGTERM (under ASan that also means no leak and no error)."""
    made = []

    def make(**env):
        made.append(Issuer(system, **env))
        return made[-1]

    yield make
    for proc in [p for p in system.procs.values() if p.args == ["serve", "auth"]]:
        if proc.proc.poll() is None:
            assert proc.terminate() == 0, proc.output()[-4000:]


@pytest.fixture
def issuer(make_issuer):
    return make_issuer()


def test_discovery_keys_and_files(issuer):
    d = requests.get(issuer.url("/.well-known/openid-configuration"), timeout=10).json()
    assert d["issuer"] == issuer.base
    for name, path in [("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"),
                       ("jwks_uri", "/jwks"), ("userinfo_endpoint", "/userinfo"),
                       ("end_session_endpoint", "/logout")]:
        assert d[name] == issuer.base + path
    assert d["response_types_supported"] == ["code"]
    assert set(d["grant_types_supported"]) == {"authorization_code", "refresh_token", "password",
                                               "client_credentials"}
    assert d["code_challenge_methods_supported"] == ["S256"]
    assert d["id_token_signing_alg_values_supported"] == ["ES256"]
    assert {"client_secret_basic", "client_secret_post"} <= set(
        d["token_endpoint_auth_methods_supported"])
    assert set(d["scopes_supported"]) >= {"openid", "profile", "offline_access"}
    assert d["subject_types_supported"] == ["public"]

    r = requests.get(issuer.url("/jwks"), timeout=10)
    assert r.status_code == 200 and "max-age=" in r.headers["cache-control"]
    keys = r.json()["keys"]
    assert len(keys) == 1
    k = keys[0]
    assert (k["kty"], k["crv"], k["alg"], k["use"]) == ("EC", "P-256", "ES256", "sig")
    assert "d" not in k
    # kid is the RFC 7638 thumbprint
    canonical = json.dumps({"crv": k["crv"], "kty": "EC", "x": k["x"], "y": k["y"]},
                           separators=(",", ":"), sort_keys=True)
    assert k["kid"] == b64url(hashlib.sha256(canonical.encode()).digest())

    # The files: private key (PKCS#8, loadable, matching the published key),
    # client secret and admin password, none readable by others.
    d = issuer.auth_dir
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    for name in ["signing-key.pem", "cli-client-secret", "admin-password", "../auth.db"]:
        assert stat.S_IMODE(os.stat(os.path.join(d, name)).st_mode) == 0o600, name
    with open(os.path.join(d, "signing-key.pem"), "rb") as f:
        pem = f.read()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    nums = key.public_key().public_numbers()
    assert b64url(nums.x.to_bytes(32, "big")) == k["x"]
    assert b64url(nums.y.to_bytes(32, "big")) == k["y"]
    assert len(base64.urlsafe_b64decode(issuer.secret + "=")) == 32
    assert "admin-password" in issuer.proc.output()


def test_code_flow_with_pkce(issuer):
    issuer.add_user("alice", "correct horse")
    browser = requests.Session()
    verifier, challenge = pkce()
    params, answer = sign_in(issuer, browser, "alice", "correct horse", challenge)
    assert answer.status_code == 303
    session = answer.cookies.get("webtoon_auth_session") or browser.cookies.get(
        "webtoon_auth_session")
    assert session
    assert "httponly" in answer.headers["set-cookie"].lower()
    assert "samesite=lax" in answer.headers["set-cookie"].lower()
    code = code_of(issuer, params, answer)

    r = exchange(issuer, code, verifier)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    t = r.json()
    assert t["token_type"] == "Bearer" and t["expires_in"] == 300 and t["refresh_token"]
    assert set(t["scope"].split()) == {"openid", "profile"}
    claims = issuer.verify(t["access_token"])
    assert claims["preferred_username"] == "alice" and claims["sub"] == "alice"
    assert claims["realm_access"]["roles"] == ["reader"]
    assert claims["azp"] == WEB and claims["aud"] == AUDIENCE
    assert claims["exp"] - claims["iat"] == 300 and claims["nbf"] == claims["iat"]
    idt = issuer.verify(t["id_token"], audience=WEB)
    assert idt["nonce"] == params["nonce"] and idt["preferred_username"] == "alice"
    assert idt["realm_access"]["roles"] == ["reader"]

    # The code works once; its second use is refused and revokes what it gave.
    r = exchange(issuer, code, verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = issuer.token(grant_type="refresh_token", client_id=WEB, refresh_token=t["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"

    # With the issuer session the browser goes straight back with a code.
    verifier, challenge = pkce()
    params = issuer.authorize_params(challenge)
    r = browser.get(issuer.url("/authorize"), params=params, allow_redirects=False, timeout=10)
    assert r.status_code == 302
    code = code_of(issuer, params, r)
    # a wrong verifier is refused, and so is the code afterwards
    r = exchange(issuer, code, pkce()[0])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert exchange(issuer, code, verifier).status_code == 400

    # a redirect_uri other than the request's is refused
    verifier, challenge = pkce()
    params = issuer.authorize_params(challenge)
    r = browser.get(issuer.url("/authorize"), params=params, allow_redirects=False, timeout=10)
    code = code_of(issuer, params, r)
    other = f"http://localhost:{issuer.system.ports['gateway']}/callback"
    r = exchange(issuer, code, verifier, redirect=other)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"

    # a public client cannot use the confidential client's name
    r = issuer.token(grant_type="authorization_code", client_id=CLI, code=code,
                     code_verifier=verifier, redirect_uri=issuer.redirect)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_authorize_refuses_bad_requests(issuer):
    verifier, challenge = pkce()
    good = issuer.authorize_params(challenge)
    # An unknown client or redirect URI: an error page, never a redirect.
    for bad in [{"client_id": "evil"}, {"redirect_uri": "http://evil.example/cb"},
                {"redirect_uri": issuer.redirect + "/more"}, {"client_id": ""}]:
        r = requests.get(issuer.url("/authorize"), params={**good, **bad}, allow_redirects=False,
                         timeout=10)
        assert r.status_code == 400 and "location" not in r.headers, bad
        assert "text/html" in r.headers["content-type"]
    # Anything else goes back to the client as an error.
    for bad, error in [({"code_challenge_method": "plain"}, "invalid_request"),
                       ({"code_challenge": ""}, "invalid_request"),
                       ({"code_challenge": "short"}, "invalid_request"),
                       ({"response_type": "token"}, "unsupported_response_type")]:
        r = requests.get(issuer.url("/authorize"), params={**good, **bad}, allow_redirects=False,
                         timeout=10)
        assert r.status_code == 302, bad
        q = parse_qs(urlparse(r.headers["location"]).query)
        assert q["error"] == [error] and q["state"] == [good["state"]]
        assert r.headers["location"].startswith(issuer.redirect)

    # prompt=none without a session: back at once with login_required.
    r = requests.get(issuer.url("/authorize"), params={**good, "prompt": "none"},
                     allow_redirects=False, timeout=10)
    assert r.status_code == 302
    assert parse_qs(urlparse(r.headers["location"]).query)["error"] == ["login_required"]

    # A form posted without its flow cookie (from another site, another
    # browser) matches no flow.
    issuer.add_user("mallory", "password-1")
    page = requests.get(issuer.url("/authorize"), params=good, timeout=10)
    flow = form_fields(page.text)["flow"]
    r = requests.post(issuer.url("/authorize"),
                      data={"flow": flow, "username": "mallory", "password": "password-1"},
                      allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "location" not in r.headers
    assert "expired" in r.text
    # a wrong password shows the page again with the error, and the name
    browser = requests.Session()
    params, r = sign_in(issuer, browser, "mallory", "wrong-password", challenge)
    assert r.status_code == 400 and "Wrong username or password" in r.text
    assert 'value="mallory"' in r.text and "location" not in r.headers


def test_signup_then_signin(issuer):
    browser = requests.Session()
    verifier, challenge = pkce()
    # The sign-in page links to the sign-up page with the same request.
    params = issuer.authorize_params(challenge)
    page = browser.get(issuer.url("/authorize"), params=params, timeout=10)
    link = re.search(r'href="(/signup\?[^"]+)"', page.text).group(1).replace("&amp;", "&")
    linked = parse_qs(urlparse(link).query)
    for name in ["client_id", "redirect_uri", "state", "nonce", "code_challenge"]:
        assert linked[name] == [params[name]]

    page = browser.get(issuer.url(link), timeout=10)
    assert page.status_code == 200 and "Create" in page.text
    flow = form_fields(page.text)["flow"]
    r = browser.post(issuer.url("/signup"), data={"flow": flow, "username": "bob",
                                                 "password": "short"},
                     allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "at least 8 characters" in r.text
    r = browser.post(issuer.url("/signup"), data={"flow": flow, "username": "no spaces",
                                                 "password": "long enough"},
                     allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "letters, digits" in r.text
    r = browser.post(issuer.url("/signup"), data={"flow": flow, "username": "Bob.K",
                                                 "password": "long enough"},
                     allow_redirects=False, timeout=30)
    code = code_of(issuer, params, r)
    t = exchange(issuer, code, verifier).json()
    assert issuer.verify(t["access_token"])["preferred_username"] == "Bob.K"  # stored as given

    # The same name again: refused on the page.
    other = requests.Session()
    _, r = sign_in(issuer, other, "Bob.K", "another password", challenge, path="/signup")
    assert r.status_code == 409 and "taken" in r.text

    # Signing in with the new account, in a new browser.
    verifier, challenge = pkce()
    params, r = sign_in(issuer, requests.Session(), "Bob.K", "long enough", challenge)
    t = exchange(issuer, code_of(issuer, params, r), verifier).json()
    assert issuer.verify(t["access_token"])["sub"] == "Bob.K"

    # Only Argon2id hashes are stored, never a password.
    with sqlite3.connect(os.path.join(issuer.system.data_dir, "auth.db")) as db:
        rows = dict(db.execute("SELECT username, password_hash FROM accounts").fetchall())
        stored = "\n".join(str(r) for t in ["sessions", "codes", "refresh_tokens", "flows"]
                           for r in db.execute(f"SELECT * FROM {t}").fetchall())
    assert rows["Bob.K"].startswith("$argon2id$") and rows["admin"].startswith("$argon2id$")
    assert all("long enough" not in h for h in rows.values())
    assert t["refresh_token"] not in stored and code not in stored
    assert browser.cookies["webtoon_auth_session"] not in stored


def test_the_web_app_may_call_token_and_userinfo(issuer):
    """The web app runs on the gateway's origin and calls the issuer's
    endpoints from there: CORS for exactly the redirect URIs' origins."""
    app = f"http://127.0.0.1:{issuer.system.ports['gateway']}"
    for path in ["/token", "/userinfo"]:
        r = requests.options(issuer.url(path), timeout=10, headers={
            "Origin": app, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"})
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == app
        assert "authorization" in r.headers["access-control-allow-headers"].lower()
    r = issuer.token(grant_type="refresh_token", client_id=WEB, refresh_token="x")
    assert "access-control-allow-origin" not in r.headers
    r = requests.post(issuer.url("/token"), data={"grant_type": "refresh_token",
                                                  "client_id": WEB, "refresh_token": "x"},
                      headers={"Origin": app}, timeout=10)
    assert r.status_code == 400 and r.headers["access-control-allow-origin"] == app
    r = requests.post(issuer.url("/token"), data={"grant_type": "refresh_token"},
                      headers={"Origin": "http://evil.example"}, timeout=10)
    assert "access-control-allow-origin" not in r.headers
    r = requests.get(issuer.url("/jwks"), headers={"Origin": "http://evil.example"}, timeout=10)
    assert r.headers["access-control-allow-origin"] == "*"  # public keys are public


def test_refresh_rotation_and_reuse(issuer):
    issuer.add_user("carol", "carol-password")
    r = issuer.cli_token(grant_type="password", username="carol", password="carol-password")
    assert r.status_code == 200, r.text
    first = r.json()
    r = issuer.cli_token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert issuer.verify(second["access_token"])["preferred_username"] == "carol"
    # The first one is spent: using it again is refused and revokes its
    # successor too, since one of the two is in the wrong hands.
    r = issuer.cli_token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = issuer.cli_token(grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # A refresh token is bound to its client.
    r = issuer.cli_token(grant_type="password", username="carol", password="carol-password")
    r = issuer.token(grant_type="refresh_token", client_id=WEB,
                     refresh_token=r.json()["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = issuer.cli_token(grant_type="refresh_token", refresh_token="made-up")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_password_and_client_credentials(issuer):
    issuer.add_user("dave", "dave-password", "--admin")
    # client_secret_post as well as Basic
    r = issuer.token(grant_type="password", client_id=CLI, client_secret=issuer.secret,
                     username="dave", password="dave-password", scope="openid")
    assert r.status_code == 200, r.text
    t = r.json()
    claims = issuer.verify(t["access_token"])
    assert claims["realm_access"]["roles"] == ["reader", "admin"] and claims["azp"] == CLI
    assert issuer.verify(t["id_token"], audience=CLI)["preferred_username"] == "dave"

    r = issuer.cli_token(grant_type="client_credentials")
    assert r.status_code == 200, r.text
    t = r.json()
    assert "refresh_token" not in t and "id_token" not in t
    claims = issuer.verify(t["access_token"])
    assert claims["sub"] == "service-account-webtoon-cli"
    assert claims["realm_access"]["roles"] == ["reader", "admin"]

    # The public client may not use either; a wrong secret is no client.
    for grant in ["password", "client_credentials"]:
        r = issuer.token(grant_type=grant, client_id=WEB, username="dave",
                         password="dave-password")
        assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"
    r = requests.post(issuer.url("/token"), data={"grant_type": "client_credentials"},
                      auth=(CLI, "wrong"), timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["www-authenticate"].startswith("Basic")
    r = issuer.cli_token(grant_type="password", username="dave", password="wrong password")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = issuer.cli_token(grant_type="implicit")
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


def test_signin_budget(make_issuer):
    issuer = make_issuer(WEBTOON_AUTH_SIGNIN_RATE=3)
    issuer.add_user("erin", "erin-password")
    for _ in range(3):
        r = issuer.cli_token(grant_type="password", username="erin", password="guess")
        assert r.status_code == 400
    r = issuer.cli_token(grant_type="password", username="erin", password="guess")
    assert r.status_code == 429 and r.json()["error"] == "slow_down"
    assert 1 <= int(r.headers["retry-after"]) <= 61
    # The budget holds even for the right password, and for this address
    # whichever account it tries next.
    r = issuer.cli_token(grant_type="password", username="erin", password="erin-password")
    assert r.status_code == 429
    r = issuer.cli_token(grant_type="password", username="someone", password="guess")
    assert r.status_code == 429
    # The form says so on the page.
    _, r = sign_in(issuer, requests.Session(), "erin", "erin-password", pkce()[1])
    assert r.status_code == 429 and "Too many failed sign-ins" in r.text


def test_webtoon_token(system, issuer):
    out = system.run("token", "alice")
    assert out.returncode == 0, out.stderr
    claims = issuer.verify(out.stdout.strip())
    assert claims["preferred_username"] == "alice" and claims["azp"] == CLI
    assert claims["realm_access"]["roles"] == ["reader"]
    assert claims["exp"] - claims["iat"] == 300
    out = system.run("token", "root", "--admin", "--ttl", "60")
    claims = issuer.verify(out.stdout.strip())
    assert claims["realm_access"]["roles"] == ["reader", "admin"]
    assert claims["exp"] - claims["iat"] == 60
    for args in [["--ttl", "0"], ["--ttl", "86401"], ["--ttl", "-5"], ["--bogus"]]:
        assert system.run("token", "alice", *args).returncode == 2, args
    assert system.run("token", "not a user").returncode == 2
    assert system.run("token", "x" * 65).returncode == 2

    external = {"WEBTOON_AUTH_ISSUER": "http://127.0.0.1:8180/realms/webtoon"}
    out = system.run("token", "alice", **external)
    assert out.returncode == 2 and "token endpoint" in out.stderr and out.stdout == ""
    out = subprocess.run([BIN, "serve", "auth"], env=system.env(**external), capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 2 and "external issuer" in out.stderr


def test_builtin_url_names_the_issuer_where_it_is_reached(system, make_issuer):
    """In a cluster the issuer is reached at its Service's name, not at
    127.0.0.1: WEBTOON_AUTH_BUILTIN_URL is then its iss everywhere."""
    public = "http://webtoon-auth.cluster.test:8089"
    issuer = make_issuer(WEBTOON_AUTH_BUILTIN_URL=public)
    d = requests.get(issuer.url("/.well-known/openid-configuration"), timeout=10).json()
    assert d["issuer"] == public and d["jwks_uri"] == public + "/jwks"
    out = system.run("token", "alice", WEBTOON_AUTH_BUILTIN_URL=public)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    with pytest.raises(jwt.InvalidIssuerError):
        issuer.verify(token)  # it does not name the loopback address
    key = jwt.PyJWK(issuer.jwks()["keys"][0]).key
    claims = jwt.decode(token, key, algorithms=["ES256"], audience=AUDIENCE, issuer=public)
    assert claims["sub"] == "alice"


def test_a_mounted_client_secret_is_used_as_it_is(make_issuer, tmp_path):
    """A Kubernetes Secret is a read-only mount: the issuer takes the secret
    from it and writes nothing there, not even beside it."""
    mounted = tmp_path / "cli-secret"
    mounted.mkdir()
    secret = secrets.token_urlsafe(24)  # made here, as a Secret's would be
    (mounted / "client-secret").write_text(secret + "\n")
    os.utime(mounted, ns=(10**18, 10**18))
    issuer = make_issuer(WEBTOON_AUTH_CLI_SECRET_FILE=str(mounted / "client-secret"))
    r = requests.post(issuer.url("/token"), data={"grant_type": "client_credentials"},
                      auth=(CLI, secret), timeout=30)
    assert r.status_code == 200, r.text
    assert os.listdir(mounted) == ["client-secret"]
    assert os.stat(mounted).st_mtime_ns == 10**18  # nothing was made and removed there


def test_key_rotation_keeps_old_tokens(system, issuer):
    before = issuer.cli_token(grant_type="client_credentials").json()["access_token"]
    old_kid = jwt.get_unverified_header(before)["kid"]
    out = system.run("auth", "rotate-key")
    assert out.returncode == 0, out.stderr
    kids = [k["kid"] for k in issuer.jwks()["keys"]]
    assert len(kids) == 2 and kids[1] == old_kid
    after = issuer.cli_token(grant_type="client_credentials").json()["access_token"]
    assert jwt.get_unverified_header(after)["kid"] == kids[0]
    assert issuer.verify(before)["sub"] == issuer.verify(after)["sub"]
    assert issuer.verify(system.run("token", "zed").stdout.strip())["sub"] == "zed"
    # The issuer restarted keeps the rotated key.
    assert issuer.proc.terminate() == 0
    issuer.proc = system.start("auth")
    assert [k["kid"] for k in issuer.jwks()["keys"]] == kids


def test_userinfo_and_logout(issuer):
    issuer.add_user("fay", "fay-password")
    browser = requests.Session()
    verifier, challenge = pkce()
    params, r = sign_in(issuer, browser, "fay", "fay-password", challenge)
    t = exchange(issuer, code_of(issuer, params, r), verifier).json()

    r = requests.get(issuer.url("/userinfo"),
                     headers={"Authorization": "Bearer " + t["access_token"]}, timeout=10)
    assert r.status_code == 200
    assert r.json()["sub"] == "fay" and r.json()["preferred_username"] == "fay"
    r = requests.get(issuer.url("/userinfo"), timeout=10)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    for bad in ["garbage", t["id_token"], t["access_token"][:-4] + "AAAA"]:
        r = requests.get(issuer.url("/userinfo"), headers={"Authorization": "Bearer " + bad},
                         timeout=10)
        assert r.status_code == 401 and r.json()["error"] == "invalid_token"

    # Logging out ends the issuer session: the cookie goes, the next
    # authorize shows the sign-in page again, the session's refresh token
    # is revoked; then back to the app.
    app = f"http://127.0.0.1:{issuer.system.ports['gateway']}/"
    r = browser.get(issuer.url("/logout"), params={"post_logout_redirect_uri": app,
                                                   "state": "bye"},
                    allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["location"] == app + "?state=bye"
    assert "webtoon_auth_session=;" in r.headers["set-cookie"]
    assert "webtoon_auth_session" not in browser.cookies
    r = browser.get(issuer.url("/authorize"), params=issuer.authorize_params(pkce()[1]),
                    allow_redirects=False, timeout=10)
    assert r.status_code == 200 and 'name="password"' in r.text
    r = issuer.token(grant_type="refresh_token", client_id=WEB, refresh_token=t["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # Anywhere else: a signed-out page, no redirect.
    r = browser.get(issuer.url("/logout"),
                    params={"post_logout_redirect_uri": "http://evil.example/"},
                    allow_redirects=False, timeout=10)
    assert r.status_code == 200 and "signed out" in r.text


def test_bad_input_is_a_4xx(issuer):
    cases = [
        ("POST", "/token", {"Content-Type": "application/json"}, b'{"grant_type":"password"}'),
        ("POST", "/token", {"Content-Type": "application/x-www-form-urlencoded"},
         b"grant_type=password&grant_type=password"),
        ("POST", "/token", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=%zz"),
        ("POST", "/token", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=%00"),
        ("POST", "/token", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=\xff\xfe"),
        ("POST", "/token", {"Content-Type": "application/x-www-form-urlencoded"}, b"&&==&"),
        ("POST", "/token", {"Content-Type": "application/x-www-form-urlencoded"},
         "&".join(f"f{i}=1" for i in range(40)).encode()),
        ("POST", "/token", {"Authorization": "Basic !!!"}, b"grant_type=client_credentials"),
        ("POST", "/authorize", {"Content-Type": "application/x-www-form-urlencoded"}, b"flow="),
        ("POST", "/authorize", {"Content-Type": "text/plain"}, b"x"),
        ("POST", "/signup", {"Cookie": "webtoon_auth_flow=" + "x" * 500}, b"flow=abc"),
        ("GET", "/authorize?client_id=%zz&redirect_uri=%00", {}, b""),
        ("GET", "/authorize?" + urlencode({"client_id": WEB, "state": "x" * 600}), {}, b""),
        ("GET", "/userinfo", {"Authorization": "Bearer " + "a." * 3000}, b""),
        ("GET", "/logout?post_logout_redirect_uri=http://user@127.0.0.1/", {}, b""),
        ("DELETE", "/token", {}, b""),
    ]
    for method, path, headers, body in cases:
        r = requests.request(method, issuer.url(path), headers=headers, data=body,
                             allow_redirects=False, timeout=10)
        assert 200 <= r.status_code < 500 and r.status_code != 500, (method, path, r.status_code)
        if path == "/token":
            assert 400 <= r.status_code < 500, (path, body, r.status_code, r.text)
    r = requests.get(issuer.url("/healthz"), timeout=10)
    assert r.status_code == 200


class FakeCatalog:
    """Stands in for the webtoon service: records the Authorization header
    of each POST (/series, /webtoons) and answers 201."""

    def __init__(self, port):
        import http.server
        import threading
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                seen.append(self.headers.get("Authorization"))
                self.send_response(201)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("external", [False, True])
def test_demo_loads_the_catalog_as_admin(system, issuer, external):
    """`webtoon demo` sends an admin token: minted with the local key for
    the built-in issuer; from the token endpoint of an external issuer (here
    the same issuer, named through WEBTOON_AUTH_ISSUER and reached over
    HTTP, with the secret from WEBTOON_AUTH_CLI_SECRET_FILE)."""
    fake = FakeCatalog(system.ports["webtoon"])
    env = {}
    if external:
        elsewhere = os.path.join(str(system.dir), "elsewhere")
        os.makedirs(elsewhere)
        secret_file = os.path.join(elsewhere, "secret")
        with open(secret_file, "w") as f:
            f.write(issuer.secret + "\n")
        # another data directory: no local key to mint with
        env = {"WEBTOON_AUTH_ISSUER": issuer.base, "WEBTOON_AUTH_CLI_SECRET_FILE": secret_file,
               "WEBTOON_DATA_DIR": elsewhere}
    try:
        out = system.run("demo", **env)
    finally:
        fake.close()
    assert out.returncode == 0, out.stderr
    assert len(fake.seen) == 5 + 13 and len(set(fake.seen)) == 1  # the series, the episodes
    scheme, token = fake.seen[0].split(" ", 1)
    assert scheme == "Bearer"
    claims = issuer.verify(token)
    assert claims["realm_access"]["roles"] == ["reader", "admin"]
    assert claims["sub"] == "service-account-webtoon-cli" and claims["azp"] == CLI
    if external:
        assert not os.path.exists(os.path.join(env["WEBTOON_DATA_DIR"], "auth"))


def up_children(system):
    out = os.popen(f"pgrep -P {system.procs['up'].pid} -a").read()
    return [line.split(None, 1)[1] for line in out.splitlines() if line.strip()]


def test_up_runs_the_issuer_only_when_it_is_the_built_in_one(system, make_issuer):
    up = system.start_all("--demo")
    base = system.url("auth", "")
    d = requests.get(base + "/.well-known/openid-configuration", timeout=10).json()
    assert d["issuer"] == base
    assert any(c.endswith("serve auth") for c in up_children(system))

    # The demo catalog went in as admin (catalog writes need one).
    wait_until(lambda: "5 demo series and 13 demo episodes added" in up.output(), 90,
               what="the demo catalog")
    r = requests.get(system.url("gateway", "/webtoons/niceguy"), timeout=10)
    assert r.status_code == 200

    # A token of this issuer is what the services accept, through the
    # gateway: a reader acts as themselves, and only as themselves.
    gw = system.url("gateway", "")
    with open(os.path.join(system.data_dir, "auth", "cli-client-secret")) as f:
        secret = f.read().strip()
    subprocess.run([BIN, "auth", "add-user", "gale"], input="gale-password\n",
                   env=system.env(), check=True, capture_output=True, text=True, timeout=60)
    t = requests.post(base + "/token", auth=(CLI, secret), timeout=30,
                      data={"grant_type": "password", "username": "gale",
                            "password": "gale-password"}).json()
    bearer = {"Authorization": "Bearer " + t["access_token"]}
    r = requests.post(gw + "/pointers", json={"userId": "gale"}, headers=bearer, timeout=10)
    assert r.status_code == 201, r.text
    r = requests.post(gw + "/pointers", json={"userId": "someone-else"}, headers=bearer,
                      timeout=10)
    assert r.status_code == 403, r.text
    assert requests.post(gw + "/pointers", json={"userId": "gale"}, timeout=10).status_code == 401
    assert up.terminate() == 0

    # With another issuer named (here a built-in one run on its own, as a
    # Keycloak would be), `up` leaves the issuer to it: starting its own
    # on the same port would fail, and take everything down with it.
    other = make_issuer()
    external = {"WEBTOON_AUTH_ISSUER": other.base,
                "WEBTOON_AUTH_JWKS_URL": other.url("/jwks")}
    up = system.start_all(**external)
    assert not any(c.endswith("serve auth") for c in up_children(system))
    assert requests.get(other.url("/jwks"), timeout=10).status_code == 200
    assert up.terminate() == 0
