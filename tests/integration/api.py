"""An HTTP client for the platform's API that checks every answer against
the OpenAPI document (api/openapi.json): an undocumented status, content
type or body shape fails the test, and so does any 5xx.

Requests go to the service owning the path (or to one base URL, e.g. the
gateway, when given).
"""
import json
import os
import re
import time
import uuid
from urllib.parse import urlparse

import jsonschema
import requests

DOC_PATH = os.path.join(os.path.dirname(__file__), "../../api/openapi.json")

OWNER = {"pointers": "pointer", "payments": "payment", "histories": "history",
         "webtoons": "webtoon", "series": "webtoon", "libraries": "webtoon", "purchases": "purchase"}


class OpenApi:
    def __init__(self, path=DOC_PATH):
        with open(path) as f:
            self.doc = json.load(f)
        self.resolver = jsonschema.RefResolver.from_schema(self.doc)
        self.routes = []
        for template in self.doc["paths"]:
            pattern = "^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "/?$"
            self.routes.append((re.compile(pattern), template))
        # literal paths before templated ones: /purchases/buywebtoon vs /purchases/{id}
        self.routes.sort(key=lambda r: r[1].count("{"))

    def operation(self, method, path):
        for regex, template in self.routes:
            if regex.match(path):
                op = self.doc["paths"][template].get(method.lower())
                if op:
                    return template, op
        return None, None

    def resolve(self, node):
        """<node> with its $ref (to this document) followed."""
        while isinstance(node, dict) and "$ref" in node:
            node = self.resolver.resolve(node["$ref"])[1]
        return node

    def check(self, method, url, r):
        path = urlparse(url).path
        template, op = self.operation(method, path)
        assert op, f"{method} {path} is not in the OpenAPI document"
        spec = self.resolve(op["responses"].get(str(r.status_code)))
        assert spec, f"{method} {template} answered {r.status_code}, which is not documented: {r.text[:300]}"
        for name, header in spec.get("headers", {}).items():
            header = self.resolve(header)
            value = r.headers.get(name)
            assert value is not None or not header.get("required"), \
                f"{method} {template} {r.status_code}: no {name} header"
            if value is not None and "schema" in header:
                try:
                    jsonschema.Draft202012Validator(header["schema"], resolver=self.resolver).validate(value)
                except jsonschema.ValidationError as e:
                    raise AssertionError(f"{method} {template} {r.status_code}: header {name}: {e.message}") from None
        content = spec.get("content")
        if not content:
            return
        ctype = r.headers.get("content-type", "").split(";")[0].strip()
        assert ctype in content, f"{method} {template} {r.status_code}: content type {ctype!r} not documented"
        if ctype.endswith("json"):
            schema = content[ctype]["schema"]
            try:
                jsonschema.Draft202012Validator(schema, resolver=self.resolver).validate(r.json())
            except jsonschema.ValidationError as e:
                raise AssertionError(f"{method} {template} {r.status_code}: body does not match the "
                                     f"document: {e.message}\n{r.text[:500]}") from None


SPEC = OpenApi()

# Who a request acts as, when a test does not say (the `as_` argument):
# the user the request names (a body's userId, a path's user, the owner of
# the payment or purchase it names), an admin for catalog writes and lists
# of everyone, nobody for browsing the catalog. Tests about access say
# `as_=` explicitly: a user id, ADMIN, or ANONYMOUS.
ADMIN = "operator"
ANONYMOUS = None
AUTO = object()
_USER_PATHS = [re.compile(p) for p in (r"^/pointers/([^/?]+)", r"^/histories/([^/?]+)",
                                        r"^/libraries/([^/?]+)", r"^/webtoons/[^/]+/readers/([^/?]+)")]
_OWNED_PATHS = re.compile(r"^/(payments|purchases)/([^/?]+)")


def acting_user(method, path, body, owners):
    """(user, admin) a request acts as by default; user None: anonymous."""
    bare = path.split("?")[0]
    if isinstance(body, dict) and isinstance(body.get("userId"), str) and body["userId"]:
        # a malformed id cannot be anyone's user name: such a request is sent
        # by a valid user (the answer is about the body)
        return (body["userId"], False) if re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", body["userId"]) \
            and body["userId"].strip(".") else (ADMIN, True)
    for regex in _USER_PATHS:
        m = regex.match(bare)
        if m:
            return m.group(1), False
    m = _OWNED_PATHS.match(bare)
    if m and m.group(2) in owners:
        return owners[m.group(2)], False
    if bare in ("/webtoons", "/series") or re.match(r"^/(webtoons|series)/[^/]+$", bare) \
            or re.match(r"^/series/[^/]+/episodes$", bare) or bare in ("/openapi.json", "/healthz", "/readyz", "/metrics"):
        return (ADMIN, True) if method not in ("GET", "HEAD") else (None, False)
    m = re.search(r"[?&]userId=([^&]+)", path)
    if m:
        return m.group(1), False
    return ADMIN, True


def remember_owners(r, owners):
    """Notes whose payments and purchases an answer shows."""
    try:
        body = r.json()
    except ValueError:
        return
    items = [body] if isinstance(body, dict) else []
    for v in (body.get("_embedded") or {}).values() if isinstance(body, dict) else []:
        items += v if isinstance(v, list) else []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("userId"), str):
            for id_key in ("paymentId", "purchaseId"):
                if isinstance(item.get(id_key), str):
                    owners[item[id_key]] = item["userId"]


class Api:
    """Through the gateway when `webtoon up` runs one, else straight to the
    services (or to <base>)."""

    def __init__(self, system, base=None):
        self.system = system
        if base is None and "up" in system.procs:
            base = system.url("gateway", "")
        self.base = base
        self.session = requests.Session()
        self.responses = 0
        self.owners = {}  # paymentId / purchaseId -> userId, from answers seen

    def url(self, path):
        if self.base:
            return self.base + path
        service = OWNER[path.strip("/").split("/")[0].split("?")[0]]
        return self.system.url(service, path)

    def call(self, method, path, body=None, key=None, **kw):
        """One request, no retry: the answer is checked against the document
        and must not be a 5xx. (Services wait for the events a request
        depends on themselves: a client never has to retry a 404.)"""
        headers = dict(kw.pop("headers", {}))
        if key:
            headers["Idempotency-Key"] = key
        as_ = kw.pop("as_", AUTO)
        if as_ is AUTO:
            user, admin = acting_user(method, path, body, self.owners)
        else:
            user, admin = as_, as_ == ADMIN
        if user is not None and "Authorization" not in headers:
            headers["Authorization"] = "Bearer " + self.system.token(user, admin=admin)
        url = self.url(path)
        r = self.session.request(method, url, json=body, headers=headers, timeout=10, **kw)
        self.responses += 1
        remember_owners(r, self.owners)
        assert r.status_code < 500, f"{method} {path}: {r.status_code} {r.text}"
        SPEC.check(method, url, r)
        return r

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    # --- the domain, spelled as a user would -------------------------------------

    def join(self, user):
        r = self.post("/pointers", {"userId": user})
        assert r.status_code == 201, r.text
        return r.json()

    def charge(self, user, point, **extra):
        return self.post("/payments", {"userId": user, "point": point, **extra}, key=str(uuid.uuid4()))

    def upload(self, webtoon, point, title="A webtoon", episode=1, status="published"):
        r = self.post("/webtoons", {"webtoonId": webtoon, "title": title, "author": "An Author",
                                    "point": point, "episode": episode, "status": status})
        assert r.status_code == 201, r.text
        return r.json()

    def buy(self, user, webtoon):
        return self.post("/purchases", {"userId": user, "webtoonId": webtoon}, key=str(uuid.uuid4()))

    def balance(self, user):
        return self.get(f"/pointers/{user}").json()["point"]

    def wait_for(self, path, predicate, timeout=10, what=None):
        """GETs <path> until <predicate>(json) holds; returns the json."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            r = self.get(path)
            if r.status_code == 200:
                last = r.json()
                if predicate(last):
                    return last
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what or path}; last: {last}")

    def final_purchase(self, purchase_id):
        return self.wait_for(f"/purchases/{purchase_id}",
                             lambda p: p["status"] in ("approved", "rejected", "cancelled"),
                             what="a final purchase state")

    def settled_payment(self, payment_id):
        return self.wait_for(f"/payments/{payment_id}", lambda p: p["status"] != "refunding",
                             what="a settled refund")

    def collect(self, path):
        """Every item of a paged collection."""
        items, page = [], 0
        while True:
            sep = "&" if "?" in path else "?"
            body = self.get(f"{path}{sep}page={page}&size=100").json()
            items += next(iter(body["_embedded"].values()))
            page += 1
            if page >= body["page"]["totalPages"]:
                return items
