"""How tests get bearer tokens: the standard OAuth 2.0 grants, from
whichever OpenID Connect issuer a System runs with, so that a test reads
the same on the built-in issuer and on Keycloak.

    idp = issuer_for(system)
    requests.get(url, headers={"Authorization": "Bearer " + idp.token("alice")})
    idp.token("root", admin=True)          # a token with the admin role
    idp.password_token("alice", password)  # the password grant, as a user signs in
    idp.client_credentials_token()         # the confidential client's own token
    idp.issuer                             # what every token carries as iss

token() keeps a token until 30 s before it expires; the other two ask the
issuer every time.

The built-in issuer (WEBTOON_AUTH_ISSUER empty): `webtoon token USER
[--admin]`, the operator's command, prints a token for any user; the grants
go to its token endpoint with webtoon-cli's secret
(WEBTOON_AUTH_CLI_SECRET_FILE, by default <DATA_DIR>/auth/cli-client-secret).

Keycloak (WEBTOON_AUTH_ISSUER set, by the harness when WEBTOON_TEST_KEYCLOAK
is): the first time a test asks for a user, the account is created through
Keycloak's admin REST API with a client-credentials token of webtoon-cli
(whose service account may manage users) with a random password, and given
or denied the realm role admin as asked; then the password grant. One realm
serves every test of a run and keeps its accounts between runs, so a name
is one account: an account this process did not create gets a new password.
Keycloak lowercases usernames, so user ids must be lower case (asserted).
"""
import base64
import json
import secrets
import threading
import time
import urllib.parse
import weakref

import requests

CLI_CLIENT = "webtoon-cli"
EARLY_S = 30  # a kept token is replaced this long before it expires
TIMEOUT_S = 30


def claims(token):
    """The payload of a JWT, not verified (for looking, not for trusting)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


class TokenError(AssertionError):
    """The issuer refused a grant; .response is its answer."""

    def __init__(self, what, response):
        super().__init__(f"{what}: {response.status_code} {response.text[:500]}")
        self.response = response


class Issuer:
    """What both issuers share: the discovery document, the grants at the
    token endpoint with webtoon-cli's secret, and the kept tokens."""

    def __init__(self, issuer, secret_file):
        self._issuer = issuer
        self.secret_file = secret_file
        self._lock = threading.Lock()
        self._kept = {}  # (user, admin) -> (token, exp)
        self._key_locks = {}  # (user, admin) -> Lock held while its token is made
        self._discovery = None

    @property
    def issuer(self):
        return self._issuer

    @property
    def secret(self):
        with open(self.secret_file) as f:
            return f.read().strip()

    def discovery(self):
        if self._discovery is None:
            r = requests.get(self.issuer + "/.well-known/openid-configuration", timeout=TIMEOUT_S)
            r.raise_for_status()
            self._discovery = r.json()
        return self._discovery

    def token_endpoint(self):
        return self.discovery()["token_endpoint"]

    def grant(self, what, **form):
        """The token endpoint's answer (parsed) to a grant by webtoon-cli."""
        form = {"client_id": CLI_CLIENT, "client_secret": self.secret, **form}
        r = requests.post(self.token_endpoint(), data=form, timeout=TIMEOUT_S)
        if r.status_code != 200:
            raise TokenError(what, r)
        return r.json()

    def password_token(self, user, password):
        return self.grant(f"password grant for {user!r}", grant_type="password",
                          username=user, password=password)["access_token"]

    def client_credentials_token(self):
        return self.grant("client credentials grant", grant_type="client_credentials")["access_token"]

    def token(self, user, admin=False):
        """A token for <user> (with the admin role when <admin>), kept until
        30 s before it expires."""
        key = (user, bool(admin))
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        # One grant per expiry, however many threads find the token old at
        # once: the others wait for it. Keycloak refuses a user's password
        # grant ("Invalid user credentials") while its brute-force detector
        # still books the previous sign-in, which a loaded machine delays.
        with key_lock:
            with self._lock:
                kept = self._kept.get(key)
                if kept and kept[1] - EARLY_S > time.time():
                    return kept[0]
            token = self.mint(user, bool(admin))
            with self._lock:
                self._kept[key] = (token, claims(token)["exp"])
            return token

    def mint(self, user, admin):
        raise NotImplementedError


class BuiltinIssuer(Issuer):
    """`webtoon serve auth`, part of `webtoon up`."""

    def __init__(self, system):
        env = system.env()
        secret_file = env.get("WEBTOON_AUTH_CLI_SECRET_FILE") or f"{env['WEBTOON_DATA_DIR']}/auth/cli-client-secret"
        super().__init__(None, secret_file)
        self.system = system

    @property
    def issuer(self):
        return f"http://127.0.0.1:{self.system.ports['auth']}"

    def token_endpoint(self):
        try:
            return super().token_endpoint()
        except (requests.RequestException, KeyError, ValueError):
            return self.issuer + "/token"

    def mint(self, user, admin):
        out = self.system.run("token", user, *(["--admin"] if admin else []))
        assert out.returncode == 0, f"webtoon token {user}: {out.stderr}"
        return out.stdout.strip()


class KeycloakIssuer(Issuer):
    """A Keycloak realm set up as deploy/keycloak/webtoon-realm.json."""

    def __init__(self, issuer, secret_file):
        super().__init__(issuer, secret_file)
        base, realm = issuer.rsplit("/realms/", 1)
        self.admin_api = f"{base}/admin/realms/{realm}"
        self._accounts = {}  # user -> [id, password, has admin (None: unknown)]
        self._account_lock = threading.Lock()
        self._user_locks = {}  # user -> Lock: the role a token gets is the one just set
        self._service_token = (None, 0)
        self._admin_role = None

    # --- the admin REST API, as webtoon-cli's service account ------------------

    def _admin_headers(self):
        token, exp = self._service_token
        if token is None or exp - EARLY_S <= time.time():
            token = self.client_credentials_token()
            self._service_token = (token, claims(token)["exp"])
        return {"Authorization": "Bearer " + token}

    def admin(self, method, path, what, ok=(200, 201, 204), **kw):
        r = requests.request(method, self.admin_api + path, headers=self._admin_headers(),
                             timeout=TIMEOUT_S, **kw)
        if r.status_code not in ok:
            raise AssertionError(f"Keycloak admin API, {what}: {r.status_code} {r.text[:500]}")
        return r

    def user_id(self, user):
        """Keycloak's id of the account named <user>, or None."""
        r = self.admin("GET", "/users", f"finding {user!r}",
                       params={"username": user, "exact": "true", "briefRepresentation": "true"})
        found = [u["id"] for u in r.json() if u["username"] == user]
        return found[0] if found else None

    def password_for(self, user, admin=False):
        """The password of the account <user>, created (or given a new
        password) the first time; the realm role admin given or taken away
        to match <admin>."""
        assert user == user.lower(), (
            f"user id {user!r}: Keycloak lowercases usernames, so its tokens would name "
            f"{user.lower()!r}; use lower-case user ids")
        with self._account_lock:
            account = self._accounts.get(user)
            if account is None:
                password = secrets.token_urlsafe(24)
                credential = {"type": "password", "value": password, "temporary": False}
                r = self.admin("POST", "/users", f"creating {user!r}", ok=(201, 409),
                               json={"username": user, "enabled": True, "credentials": [credential]})
                if r.status_code == 201:
                    uid = urllib.parse.urlparse(r.headers["Location"]).path.rsplit("/", 1)[1]
                else:  # made by an earlier run or another process
                    uid = self.user_id(user)
                    assert uid, f"Keycloak has an account {user!r} (409) but does not find it"
                    self.admin("PUT", f"/users/{uid}/reset-password", f"new password for {user!r}",
                               json=credential)
                    self.admin("DELETE", f"/attack-detection/brute-force/users/{uid}",
                               f"unlocking {user!r}")
                account = self._accounts[user] = [uid, password, None]
            if account[2] != admin:
                if self._admin_role is None:
                    self._admin_role = self.admin("GET", "/roles/admin", "the admin role").json()
                self.admin("POST" if admin else "DELETE", f"/users/{account[0]}/role-mappings/realm",
                           f"{'granting' if admin else 'taking'} admin for {user!r}",
                           json=[self._admin_role])
                account[2] = admin
            return account[1]

    def mint(self, user, admin):
        with self._account_lock:
            lock = self._user_locks.setdefault(user, threading.Lock())
        with lock:
            return self.password_token(user, self.password_for(user, admin))


_keycloaks = {}
_builtins = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def keycloak(issuer, secret_file):
    """The one KeycloakIssuer of this process for a realm (its accounts and
    tokens are the realm's, whatever System asks)."""
    with _registry_lock:
        key = (issuer, secret_file)
        if key not in _keycloaks:
            _keycloaks[key] = KeycloakIssuer(issuer, secret_file)
        return _keycloaks[key]


def issuer_for(system):
    """The issuer <system>'s processes trust, as the environment they get
    from the harness says: Keycloak when WEBTOON_AUTH_ISSUER is set, else
    the built-in issuer of that system."""
    env = system.env()
    if env.get("WEBTOON_AUTH_ISSUER"):
        return keycloak(env["WEBTOON_AUTH_ISSUER"], env["WEBTOON_AUTH_CLI_SECRET_FILE"])
    with _registry_lock:
        if system not in _builtins:
            _builtins[system] = BuiltinIssuer(system)
        return _builtins[system]
