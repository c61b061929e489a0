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
         "webtoons": "webtoon", "libraries": "webtoon", "purchases": "purchase"}


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


class Api:
    """Through the gateway when `webtoon up` runs one, else straight to the
    services (or to <base>). Every request carries a bearer token from the
    system's test issuer, unless <anonymous>: for the user a body's userId
    names, else for <user>; with the admin role when <admin>."""

    def __init__(self, system, base=None, user="tester", admin=True, anonymous=False):
        self.system = system
        self.user = user
        self.roles = ("reader", "admin") if admin else ("reader",)
        self.anonymous = anonymous
        if base is None and "up" in system.procs:
            base = system.url("gateway", "")
        self.base = base
        self.session = requests.Session()
        self.responses = 0

    def url(self, path):
        if self.base:
            return self.base + path
        service = OWNER[path.strip("/").split("/")[0].split("?")[0]]
        return self.system.url(service, path)

    def call(self, method, path, body=None, key=None, **kw):
        """One request, no retry: the answer is checked against the document
        and must not be a 5xx. (Services wait for the events a request
        depends on themselves: a client never has to retry a 404.)"""
        headers = kw.pop("headers", {})
        if key:
            headers["Idempotency-Key"] = key
        if not self.anonymous and "Authorization" not in headers:
            user = body.get("userId") if isinstance(body, dict) else None
            user = user if isinstance(user, str) and user else self.user
            headers.update(self.system.issuer.bearer(user, self.roles))
        url = self.url(path)
        r = self.session.request(method, url, json=body, headers=headers, timeout=10, **kw)
        self.responses += 1
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
