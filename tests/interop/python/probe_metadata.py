#!/usr/bin/env python3
"""Probe what authlib's RFC 8414 / OIDC metadata validators require (not part of run.sh).

Feeds variants of a tokenmint-shaped discovery document to
authlib.oauth2.rfc8414.AuthorizationServerMetadata.validate() and prints the verdicts that
docs/compatibility.md quotes. Re-run after bumping Authlib:
    tests/interop/.venv/bin/python tests/interop/python/probe_metadata.py
"""
import copy
import warnings

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata

ISS = "http://127.0.0.1:8080"
BASE = {
    "issuer": ISS,
    "token_endpoint": ISS + "/oauth2/token",
    "jwks_uri": ISS + "/jwks",
    "introspection_endpoint": ISS + "/oauth2/introspect",
    "grant_types_supported": ["client_credentials"],
    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    "response_types_supported": ["token"],
    "scopes_supported": ["reports:read"],
}
VARIANTS = [
    ("baseline (response_types_supported=['token'])", lambda d: None),
    ("response_types_supported = []", lambda d: d.update(response_types_supported=[])),
    ("response_types_supported absent", lambda d: d.pop("response_types_supported")),
    ("grant_types_supported absent (RFC default includes authorization_code)", lambda d: d.pop("grant_types_supported")),
    ("issuer http://example.com (not loopback)", lambda d: d.update(issuer="http://example.com")),
    ("token_endpoint http://example.com/t", lambda d: d.update(token_endpoint="http://example.com/t")),
    ("auth methods + private_key_jwt, no *_signing_alg_values", lambda d: d["token_endpoint_auth_methods_supported"].append("private_key_jwt")),
    ("scopes_supported as a string", lambda d: d.update(scopes_supported="a b")),
]


def verdict(cls, doc):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cls(doc).validate()
            res = "accepted"
        except ValueError as exc:
            res = f"REJECTED: {exc}"
    return res + (f" (warnings: {[str(w.message) for w in caught]})" if caught else "")


for name, mutate in VARIANTS:
    doc = copy.deepcopy(BASE)
    mutate(doc)
    print(f"rfc8414  {name:70} {verdict(AuthorizationServerMetadata, doc)}")
print(f"oidc     {'baseline as an OpenID Provider document':70} {verdict(OpenIDProviderMetadata, copy.deepcopy(BASE))}")
