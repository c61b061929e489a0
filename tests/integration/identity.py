"""Tokens for tests (temporary: minted with the built-in issuer's key file)."""
import base64
import hashlib
import json
import os
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

_issuers = {}


def _b64(n):
    return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()


class LocalIssuer:
    def __init__(self, system):
        self.system = system
        self.dir = os.path.join(system.data_dir, "auth")
        self.cache = {}
        self.issuer = f"http://127.0.0.1:{system.ports.get('auth', 8089)}"

    def _key(self):
        path = os.path.join(self.dir, "signing-key.pem")
        if not os.path.exists(path):
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            with open(path, "wb") as f:
                f.write(pem)
            nums = key.public_key().public_numbers()
            jwk = {"crv": "P-256", "kty": "EC", "x": _b64(nums.x), "y": _b64(nums.y)}
            kid = base64.urlsafe_b64encode(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest()).rstrip(b"=").decode()
            with open(os.path.join(self.dir, "jwks.json"), "w") as f:
                json.dump({"keys": [{**jwk, "kid": kid, "alg": "ES256", "use": "sig"}]}, f)
        with open(path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        with open(os.path.join(self.dir, "jwks.json")) as f:
            kid = json.load(f)["keys"][0]["kid"]
        return key, kid

    def token(self, user, admin=False):
        hit = self.cache.get((user, admin))
        if hit and hit[1] > time.time() + 30:
            return hit[0]
        key, kid = self._key()
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": "webtoon-api", "sub": user, "preferred_username": user,
                  "realm_access": {"roles": ["reader", "admin"] if admin else ["reader"]},
                  "iat": now, "nbf": now, "exp": now + 300}
        tok = jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})
        self.cache[(user, admin)] = (tok, now + 300)
        return tok


def issuer_for(system):
    if id(system) not in _issuers:
        _issuers[id(system)] = LocalIssuer(system)
    return _issuers[id(system)]
