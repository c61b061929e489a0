"""Bearer tokens for the tests: a stand-in issuer with keys of its own.

Each System gets a TestIssuer: an ES256 (P-256) key and an RS256 key, made
here with python3-cryptography, published as a JWKS file that the gateway
and the services read (WEBTOON_AUTH_JWKS_URL=file:...), and tokens signed
with python3-jwt carrying the claims docs/SECURITY.md lists. The issuer URL
is the built-in issuer's (http://127.0.0.1:<WEBTOON_AUTH_PORT>), so nothing
else needs configuring. A test that rotates keys publishes another set.
"""
import json
import os
import time
import uuid

import jwt  # Debian's python3-jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

AUDIENCE = "webtoon-api"
LIFETIME = 3600  # seconds: longer than any test


def _b64url_uint(value, size):
    return jwt.utils.base64url_encode(value.to_bytes(size, "big")).decode()


class Key:
    """One signing key: <alg> ES256 or RS256, named <kid>."""

    def __init__(self, alg="ES256", kid=None):
        self.alg = alg
        self.kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
        if alg == "ES256":
            self.private = ec.generate_private_key(ec.SECP256R1())
        else:
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self):
        """The public half as a JWK (RFC 7517/7518)."""
        pub = self.private.public_key().public_numbers()
        if self.alg == "ES256":
            return {"kty": "EC", "crv": "P-256", "x": _b64url_uint(pub.x, 32),
                    "y": _b64url_uint(pub.y, 32), "kid": self.kid, "alg": "ES256", "use": "sig"}
        return {"kty": "RSA", "n": _b64url_uint(pub.n, 256), "e": _b64url_uint(pub.e, 3),
                "kid": self.kid, "alg": "RS256", "use": "sig"}

    def public_pem(self):
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


class TestIssuer:
    """Publishes keys at <path> (a JWKS file) and signs tokens for <issuer>."""

    __test__ = False  # not a pytest class

    def __init__(self, path, issuer, audience=AUDIENCE):
        self.path = str(path)
        self.issuer = issuer
        self.audience = audience
        self.keys = [Key("ES256"), Key("RS256")]
        self.publish()

    @property
    def url(self):
        return "file://" + self.path

    def publish(self, keys=None):
        """Writes the JWKS of <keys> (default: self.keys) atomically, as an
        issuer rotating its keys would."""
        if keys is not None:
            self.keys = list(keys)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"keys": [k.jwk() for k in self.keys]}, f)
        os.replace(tmp, self.path)

    def claims(self, user="tester", roles=("reader",), **extra):
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.audience, "sub": f"id-{user}",
                  "preferred_username": user, "realm_access": {"roles": list(roles)},
                  "azp": "webtoon-cli", "iat": now, "exp": now + LIFETIME}
        claims.update(extra)
        return {k: v for k, v in claims.items() if v is not None}  # None: leave it out

    def token(self, user="tester", roles=("reader",), key=None, headers=None, **extra):
        """A token for <user> signed with <key> (default: the first
        published); <extra> claims replace the usual ones (None removes)."""
        key = key or self.keys[0]
        hdr = {"kid": key.kid}
        hdr.update(headers or {})
        return jwt.encode(self.claims(user, roles, **extra), key.private, algorithm=key.alg, headers=hdr)

    def bearer(self, user="tester", roles=("reader",), **kw):
        """Headers carrying a token for <user>."""
        return {"Authorization": "Bearer " + self.token(user, roles, **kw)}
