"""Keycloak as the issuer, as users and operators meet it: the realm
`webtoon` (deploy/keycloak/webtoon-realm.json) started by
scripts/keycloak.sh publishes its keys, signs RS256 tokens the services
accept (iss, aud webtoon-api, preferred_username, realm_access.roles),
lets the web app sign users in and up through its own pages with the
authorization code and PKCE, and keeps the confidential client's secret
out of the repository.

Runs only with WEBTOON_TEST_KEYCLOAK (the realm's issuer URL) and
WEBTOON_TEST_KEYCLOAK_SECRET_FILE, as CTest's integration/distributed
passes them (its fixture engines/keycloak_start starts the server on
18180)."""
import base64
import hashlib
import html
import json
import os
import re
import secrets
import stat
import subprocess
import time
import urllib.parse
import uuid

import jwt  # Debian's python3-jwt
import pytest
import requests

import identity
from harness import DISTRIBUTED, KEYCLOAK, KEYCLOAK_SECRET_FILE

pytestmark = pytest.mark.skipif(not KEYCLOAK, reason="needs WEBTOON_TEST_KEYCLOAK (a Keycloak realm)")

ROOT = os.path.join(os.path.dirname(__file__), "../..")
REALM_FILE = os.path.join(ROOT, "deploy/keycloak/webtoon-realm.json")
WEB = "webtoon-web"
ORIGIN = "http://127.0.0.1:8088"  # the web app, `make run-distributed`
REDIRECT = ORIGIN + "/callback"


@pytest.fixture(scope="module")
def kc():
    return identity.keycloak(KEYCLOAK, KEYCLOAK_SECRET_FILE)


def new_user(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def verified(token, kc, audience="webtoon-api"):
    """The claims of <token> once its signature checks against the realm's
    published keys (RS256 only) and its iss, aud and exp are right."""
    header = jwt.get_unverified_header(token)
    keys = {k["kid"]: k for k in requests.get(kc.discovery()["jwks_uri"], timeout=10).json()["keys"]}
    assert header["alg"] == "RS256" and header["kid"] in keys, header
    key = jwt.PyJWK(keys[header["kid"]]).key
    return jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=KEYCLOAK)


def roles(claims):
    return sorted(claims.get("realm_access", {}).get("roles", []))


# --- the authorization code flow, driven as a browser would ----------------------

def pkce_pair():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class Browser(requests.Session):
    """A session that sends Secure cookies to http://127.0.0.1 and
    localhost, as browsers do (a secure context) and Keycloak's login pages
    expect; requests alone sends them over https only."""

    def prepare_request(self, request):
        for cookie in self.cookies:
            if cookie.domain in ("127.0.0.1", "localhost", "localhost.local"):
                cookie.secure = False
        return super().prepare_request(request)


def authorize(session, kc, challenge=None, method="S256", redirect_uri=REDIRECT, **extra):
    """GET the authorization endpoint as the web app sends the browser there."""
    params = {"client_id": WEB, "response_type": "code", "redirect_uri": redirect_uri,
              "scope": "openid profile", "state": secrets.token_urlsafe(8), **extra}
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method=method)
    r = session.get(kc.discovery()["authorization_endpoint"], params=params, allow_redirects=False, timeout=10)
    return r, params["state"]


def form_action(page, form_id):
    tag = re.search(r'<form\b[^>]*\bid="%s"[^>]*>' % re.escape(form_id), page)
    assert tag, f"no form {form_id} on the page:\n{page[:2000]}"
    return html.unescape(re.search(r'\baction="([^"]*)"', tag.group(0)).group(1))


def code_from(r, state):
    """The code in the redirect back to the web app."""
    assert r.status_code == 302, f"{r.status_code}: {r.text[:2000]}"
    location = urllib.parse.urlparse(r.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT, r.headers["Location"]
    query = urllib.parse.parse_qs(location.query)
    assert query["state"] == [state] and query["iss"] == [KEYCLOAK], query
    return query["code"][0]


def sign_in(kc, user, password, challenge):
    session = Browser()
    page, state = authorize(session, kc, challenge)
    assert page.status_code == 200, page.text[:2000]
    r = session.post(form_action(page.text, "kc-form-login"), data={"username": user, "password": password},
                     allow_redirects=False, timeout=10)
    return code_from(r, state)


def exchange(kc, code, verifier):
    """The web app's exchange of the code, from the browser (a CORS request)."""
    form = {"grant_type": "authorization_code", "client_id": WEB, "code": code, "redirect_uri": REDIRECT}
    if verifier is not None:
        form["code_verifier"] = verifier
    return requests.post(kc.token_endpoint(), data=form, timeout=10, headers={"Origin": ORIGIN})


# --- discovery and keys ------------------------------------------------------------

def test_discovery_document_and_keys(kc):
    d = kc.discovery()
    assert d["issuer"] == KEYCLOAK
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri", "end_session_endpoint"):
        assert d[endpoint].startswith(KEYCLOAK + "/"), (endpoint, d[endpoint])
    assert "S256" in d["code_challenge_methods_supported"]
    assert {"authorization_code", "refresh_token", "password", "client_credentials"} <= set(d["grant_types_supported"])
    keys = requests.get(d["jwks_uri"], timeout=10).json()["keys"]
    assert keys, "the realm publishes no key"
    for k in keys:  # signing keys only, RSA for RS256: what the gateway and the services accept
        assert (k["kty"], k["alg"], k["use"]) == ("RSA", "RS256", "sig"), k
        assert k["kid"] and k["n"] and k["e"]


# --- tokens ------------------------------------------------------------------------

def test_a_new_user_gets_a_reader_token(kc):
    user = new_user("reader")
    token = kc.token(user)
    c = verified(token, kc)
    assert c["iss"] == KEYCLOAK
    assert c["aud"] == "webtoon-api"  # only the API: no "account"
    assert c["preferred_username"] == user
    assert roles(c) == ["reader"]
    assert c["azp"] == "webtoon-cli"
    assert c["exp"] - c["iat"] == 300
    assert kc.token(user) == token, "a token is kept until shortly before it expires"


def test_an_admin_token_has_admin(kc):
    user = new_user("admin")
    assert roles(verified(kc.token(user, admin=True), kc)) == ["admin", "reader"]
    # The role lives in Keycloak: asking for the same user without it takes it away.
    assert roles(verified(kc.token(user), kc)) == ["reader"]


def test_user_ids_must_be_lower_case(kc):
    with pytest.raises(AssertionError, match="lowercases"):
        kc.token("Alice")


def test_client_credentials_with_the_generated_secret(kc):
    mode = stat.S_IMODE(os.stat(KEYCLOAK_SECRET_FILE).st_mode)
    assert mode == 0o600, oct(mode)
    c = verified(kc.client_credentials_token(), kc)
    assert c["preferred_username"] == "service-account-webtoon-cli" and c["azp"] == "webtoon-cli"
    assert "admin" in roles(c)
    wrong = requests.post(kc.token_endpoint(), timeout=10, data={
        "grant_type": "client_credentials", "client_id": "webtoon-cli", "client_secret": kc.secret + "x"})
    assert wrong.status_code == 401, wrong.text
    assert wrong.json()["error"] in ("invalid_client", "unauthorized_client"), wrong.text


def test_wrong_password_and_brute_force_protection(kc):
    user = new_user("locked")
    password = kc.password_for(user)
    with pytest.raises(identity.TokenError) as e:
        kc.password_token(user, password + "x")
    assert e.value.response.status_code == 400 and e.value.response.json()["error"] == "invalid_grant"
    for _ in range(10):
        with pytest.raises(identity.TokenError):
            kc.password_token(user, password + "x")
    # Locked out for a while: the right password no longer signs in.
    with pytest.raises(identity.TokenError):
        kc.password_token(user, password)


# --- the web app's sign-in: authorization code with PKCE --------------------------

def test_code_flow_with_pkce_through_the_login_page(kc):
    user = new_user("web")
    password = kc.password_for(user)
    verifier, challenge = pkce_pair()
    r = exchange(kc, sign_in(kc, user, password, challenge), verifier)
    assert r.status_code == 200, r.text
    assert r.headers.get("Access-Control-Allow-Origin") == ORIGIN  # the browser may read it
    body = r.json()
    c = verified(body["access_token"], kc)
    assert c["preferred_username"] == user and roles(c) == ["reader"] and c["azp"] == WEB
    id_token = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert id_token["aud"] == WEB and id_token["preferred_username"] == user
    # The web app keeps the session going with the refresh token.
    refreshed = requests.post(kc.token_endpoint(), timeout=10, data={
        "grant_type": "refresh_token", "client_id": WEB, "refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    assert verified(refreshed.json()["access_token"], kc)["preferred_username"] == user


def test_code_flow_refuses_no_challenge_plain_and_a_wrong_verifier(kc):
    for challenge, method in ((None, None), ("x" * 43, "plain")):
        r, state = authorize(Browser(), kc, challenge, method)
        assert r.status_code == 302, r.text[:500]
        query = urllib.parse.parse_qs(urllib.parse.urlparse(r.headers["Location"]).query)
        assert query["error"] == ["invalid_request"] and query["state"] == [state], query
    # An unregistered redirect URI gets an error page, not a redirect.
    r, _ = authorize(Browser(), kc, pkce_pair()[1], redirect_uri="http://127.0.0.1:9/callback")
    assert r.status_code == 400
    user = new_user("pkce")
    password = kc.password_for(user)
    verifier, challenge = pkce_pair()
    for wrong in (pkce_pair()[0], None):
        r = exchange(kc, sign_in(kc, user, password, challenge), wrong)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", r.text
    # The same code once more after a good exchange: spent.
    code = sign_in(kc, user, password, challenge)
    assert exchange(kc, code, verifier).status_code == 200
    assert exchange(kc, code, verifier).status_code == 400


def test_sign_up_on_the_registration_page_gives_a_reader(kc):
    # The web app's "Sign up" asks for the registration page (prompt=create).
    page, _ = authorize(Browser(), kc, pkce_pair()[1], prompt="create")
    assert page.status_code == 200 and 'id="kc-register-form"' in page.text, page.text[:2000]
    # The login page links to it as well.
    session = Browser()
    verifier, challenge = pkce_pair()
    page, state = authorize(session, kc, challenge)
    link = re.search(r'href="([^"]*/login-actions/registration[^"]*)"', page.text)
    assert link, "no sign-up link on the login page"
    form = session.get(urllib.parse.urljoin(page.url, html.unescape(link.group(1))), timeout=10)
    assert form.status_code == 200, form.text[:2000]
    user, password = new_user("signup"), secrets.token_urlsafe(16)
    r = session.post(form_action(form.text, "kc-register-form"), allow_redirects=False, timeout=10,
                     data={"username": user, "password": password, "password-confirm": password})
    r = exchange(kc, code_from(r, state), verifier)
    assert r.status_code == 200, r.text
    c = verified(r.json()["access_token"], kc)
    assert c["preferred_username"] == user and roles(c) == ["reader"]
    # The new account signs in with its password from then on.
    assert verified(kc.password_token(user, password), kc)["preferred_username"] == user


# --- what an operator checks --------------------------------------------------------

def test_the_realm_file_holds_no_secret(kc):
    with open(REALM_FILE) as f:
        text = f.read()
    assert kc.secret not in text
    realm = json.loads(text)
    (cli,) = [c for c in realm["clients"] if c["clientId"] == "webtoon-cli"]
    assert re.fullmatch(r"\$\{[A-Z_]+\}", cli["secret"]), "the secret must be an import placeholder"
    for c in realm["clients"]:
        assert "secret" not in c or c["secret"] == cli["secret"], c["clientId"]
    for u in realm.get("users", []):
        assert "credentials" not in u and "password" not in json.dumps(u).lower(), u["username"]
    assert not re.search(r'"(privateKey|certificate|password|value)"\s*:', text)


def test_services_are_pointed_at_keycloak(system):
    if not DISTRIBUTED:
        pytest.skip("the harness points the services at Keycloak on the real engines only")
    env = system.env()
    assert env["WEBTOON_AUTH_ISSUER"] == KEYCLOAK
    assert env["WEBTOON_AUTH_CLI_SECRET_FILE"] == KEYCLOAK_SECRET_FILE
    idp = identity.issuer_for(system)
    assert idp is identity.keycloak(KEYCLOAK, KEYCLOAK_SECRET_FILE) and idp.issuer == KEYCLOAK


def test_a_second_start_changes_nothing(kc):
    data = os.path.dirname(KEYCLOAK_SECRET_FILE)
    env = dict(os.environ, KC_DATA=data, KC_PORT=str(urllib.parse.urlparse(KEYCLOAK).port))
    with open(os.path.join(data, "keycloak.pid")) as f:
        pid = f.read()
    with open(KEYCLOAK_SECRET_FILE) as f:
        secret = f.read()
    started = time.monotonic()
    r = subprocess.run([os.path.join(ROOT, "scripts/keycloak.sh"), "start"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "already running" in r.stderr and KEYCLOAK in r.stderr, r.stderr
    assert time.monotonic() - started < 10
    with open(os.path.join(data, "keycloak.pid")) as f:
        assert f.read() == pid
    with open(KEYCLOAK_SECRET_FILE) as f:
        assert f.read() == secret
    assert kc.client_credentials_token()
