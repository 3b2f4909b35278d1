#!/usr/bin/env python3
"""Python interop checks for tokenmint: authlib (client + RFC 8414 + RFC 9068), PyJWT.

Run by tests/interop/run.sh against one running tokenmint server. Prints one line
per check: "PASS <name>", "FAIL <name>: <why>", "SKIP <name>: <why>" or
"NOTE <text>" (informational, not counted). Exits 1 if any check failed.
"""

import argparse
import base64
import json
import ssl
import sys
import time
import traceback
import warnings

import jwt  # PyJWT
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6750.errors import InsufficientScopeError
from authlib.oauth2.rfc6750.errors import InvalidTokenError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims
from joserfc import jwt as joserfc_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

RESULTS = {"pass": 0, "fail": 0, "skip": 0}
TAG = ""


def out(line):
    print(line, flush=True)


def check(name, fn):
    """Run fn(); PASS if it returns (optionally a detail string), FAIL on any exception."""
    name = f"{TAG}{name}"
    try:
        detail = fn()
    except Exception as exc:  # noqa: BLE001 - every failure is reported, never hidden
        RESULTS["fail"] += 1
        msg = f"{type(exc).__name__}: {exc}".replace("\n", " | ")
        out(f"FAIL {name}: {msg[:900]}")
        if getattr(check, "verbose", False):
            traceback.print_exc(file=sys.stdout)
        return None
    RESULTS["pass"] += 1
    out(f"PASS {name}" + (f" ({detail})" if isinstance(detail, str) and detail else ""))
    return detail


def skip(name, why):
    RESULTS["skip"] += 1
    out(f"SKIP {TAG}{name}: {why}")


def note(text):
    out(f"NOTE {TAG}{text}")


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def b64url_json(segment):
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def main():
    global TAG
    ap = argparse.ArgumentParser()
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--alg", required=True)
    ap.add_argument("--kid", default="", help="kid printed by `tokenmint keygen` for the signing key")
    ap.add_argument("--audience", default="https://api.example.com")
    ap.add_argument("--client-id", default="interop-client")
    ap.add_argument("--client-secret", default="interop-secret")
    ap.add_argument("--special-id", default="")
    ap.add_argument("--special-secret", default="")
    ap.add_argument("--cacert", default="", help="PEM CA bundle to trust (HTTPS run)")
    ap.add_argument("--extended", action="store_true", help="also run negative / encoding checks")
    ap.add_argument("--tag", default="")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    TAG = f"[{a.tag}] " if a.tag else ""
    check.verbose = a.verbose

    iss = a.issuer
    verify = a.cacert or True
    # verify is passed on every request: requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE
    # from the environment override Session.verify, but not a per-request verify=.
    http = requests.Session()
    ssl_ctx = ssl.create_default_context(cafile=a.cacert) if a.cacert else None
    token_url = iss + "/oauth2/token"
    state = {}

    # ---------------------------------------------------------------- discovery
    def fetch_metadata():
        r = http.get(iss + "/.well-known/oauth-authorization-server", timeout=10, verify=verify)
        expect(r.status_code == 200, f"status {r.status_code}: {r.text[:300]}")
        ctype = r.headers.get("content-type", "").split(";")[0].strip()
        expect(ctype == "application/json", f"content-type {ctype!r} (RFC 8414 §3.2 requires application/json)")
        state["md"] = r.json()
        return "200 application/json"

    check("metadata: GET /.well-known/oauth-authorization-server", fetch_metadata)
    md = state.get("md")

    def authlib_metadata_validate():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            AuthorizationServerMetadata(md).validate()
        expect(not caught, "warnings: " + "; ".join(str(w.message) for w in caught))
        return "no errors, no warnings"

    def metadata_values():
        # RFC 8414 §3.3: issuer MUST be identical to the issuer used to build the URL.
        expect(md.get("issuer") == iss, f"issuer {md.get('issuer')!r} != {iss!r}")
        expect(md.get("token_endpoint") == token_url, f"token_endpoint {md.get('token_endpoint')!r}")
        expect(md.get("jwks_uri") == iss + "/jwks", f"jwks_uri {md.get('jwks_uri')!r}")
        expect(md.get("grant_types_supported") == ["client_credentials"],
               f"grant_types_supported {md.get('grant_types_supported')!r}")
        methods = md.get("token_endpoint_auth_methods_supported")
        expect(isinstance(methods, list) and set(methods) == {"client_secret_basic", "client_secret_post"},
               f"token_endpoint_auth_methods_supported {methods!r}")
        expect(isinstance(md.get("introspection_endpoint"), str) and md["introspection_endpoint"].startswith(iss),
               f"introspection_endpoint {md.get('introspection_endpoint')!r}")
        algs = md.get("access_token_signing_alg_values_supported")
        expect(isinstance(algs, list) and a.alg in algs,
               f"access_token_signing_alg_values_supported {algs!r} lacks {a.alg}")
        return "issuer/token_endpoint/jwks_uri/grant types/auth methods/alg"

    def oidc_alias_same():
        r = http.get(iss + "/.well-known/openid-configuration", timeout=10, verify=verify)
        expect(r.status_code == 200, f"status {r.status_code}")
        expect(r.json() == md, "document differs from /.well-known/oauth-authorization-server")
        return "identical document"

    if md is not None:
        check("authlib rfc8414 AuthorizationServerMetadata.validate()", authlib_metadata_validate)
        check("metadata values (RFC 8414 §2/§3.3)", metadata_values)
        check("metadata: /.well-known/openid-configuration alias", oidc_alias_same)
    else:
        skip("authlib rfc8414 validate", "metadata fetch failed")

    # ---------------------------------------------------------------- authlib client
    def authlib_fetch(method, scope=None, client_id=a.client_id, secret=a.client_secret):
        sess = OAuth2Session(client_id, secret, token_endpoint_auth_method=method, scope=scope)
        try:
            return sess.fetch_token(token_url, grant_type="client_credentials", timeout=10, verify=verify)
        finally:
            sess.close()

    def token_basic():
        tok = authlib_fetch("client_secret_basic")
        expect(isinstance(tok.get("access_token"), str) and tok["access_token"].startswith("eyJ"), f"access_token {tok!r}")
        expect(str(tok.get("token_type", "")).lower() == "bearer", f"token_type {tok.get('token_type')!r}")
        expect(tok.get("expires_in") == 3600, f"expires_in {tok.get('expires_in')!r} (default_ttl 3600)")
        expect(tok.get("scope") == "reports:read", f"scope {tok.get('scope')!r} (default_scopes)")
        state["tok_basic"] = tok
        return f"token_type={tok['token_type']} expires_in={tok['expires_in']} scope={tok['scope']}"

    def token_post():
        tok = authlib_fetch("client_secret_post", scope="reports:read reports:write")
        expect(str(tok.get("token_type", "")).lower() == "bearer", f"token_type {tok.get('token_type')!r}")
        got = set(str(tok.get("scope", "")).split())
        expect(got == {"reports:read", "reports:write"}, f"scope {tok.get('scope')!r}")
        state["tok_post"] = tok
        return f"scope={tok['scope']}"

    check("authlib OAuth2Session client_secret_basic fetch_token", token_basic)
    check("authlib OAuth2Session client_secret_post fetch_token (2 scopes)", token_post)

    # ---------------------------------------------------------------- PyJWT
    jwks_client = PyJWKClientHolder(iss + "/jwks", ssl_ctx)

    def pyjwt_verify(tok, want_scope):
        def run():
            access = tok["access_token"]
            header = jwt.get_unverified_header(access)
            expect(header.get("typ") == "at+jwt", f"header typ {header.get('typ')!r} (RFC 9068 §2.1)")
            expect(header.get("alg") == a.alg, f"header alg {header.get('alg')!r} != {a.alg}")
            expect(header.get("kid"), "header has no kid")
            if a.kid:
                expect(header["kid"] == a.kid, f"header kid {header['kid']!r} != keygen kid {a.kid!r}")
            key = jwks_client.get().get_signing_key_from_jwt(access)
            claims = jwt.decode(
                access,
                key,
                algorithms=[a.alg],
                audience=a.audience,
                issuer=iss,
                options={"require": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"]},
            )
            expect(claims.get("client_id") == a.client_id, f"client_id {claims.get('client_id')!r}")
            expect(claims.get("sub") == a.client_id, f"sub {claims.get('sub')!r} (RFC 9068 §2.2: client id)")
            expect(claims.get("aud") == a.audience, f"aud {claims.get('aud')!r} (single audience -> string)")
            expect(set(str(claims.get("scope", "")).split()) == set(want_scope.split()),
                   f"scope claim {claims.get('scope')!r}")
            expect(claims["exp"] - claims["iat"] == tok["expires_in"],
                   f"exp-iat {claims['exp'] - claims['iat']} != expires_in {tok['expires_in']}")
            expect(claims["iat"] <= time.time() + 1, "iat in the future")
            return f"kid={header['kid']}"
        return run

    if "tok_basic" in state:
        check(f"PyJWT PyJWKClient + jwt.decode {a.alg} (basic token)", pyjwt_verify(state["tok_basic"], "reports:read"))
    else:
        skip(f"PyJWT decode {a.alg}", "no token")
    if "tok_post" in state:
        check(f"PyJWT PyJWKClient + jwt.decode {a.alg} (post token)",
              pyjwt_verify(state["tok_post"], "reports:read reports:write"))

    # ---------------------------------------------------------------- authlib RFC 9068 resource-server validator
    def get_jwks():
        r = http.get(iss + "/jwks", timeout=10, verify=verify)
        expect(r.status_code == 200, f"jwks status {r.status_code}")
        return KeySet.import_key_set(r.json())

    class Validator(JWTBearerTokenValidator):
        def get_jwks(self):
            return get_jwks()

    class ValidatorAllowingAlg(Validator):
        """Same as authlib's authenticate_token, but with algorithms=[alg] passed to joserfc."""

        def authenticate_token(self, token_string):
            try:
                token = joserfc_jwt.decode(token_string, key=self.get_jwks(), algorithms=[a.alg])
            except JoseError as exc:
                raise InvalidTokenError() from exc
            opts = {
                "iss": {"essential": True, "validate": self.validate_iss},
                "exp": {"essential": True},
                "aud": {"essential": True, "value": self.resource_server},
                "sub": {"essential": True},
                "client_id": {"essential": True},
                "iat": {"essential": True},
                "jti": {"essential": True},
            }
            return JWTAccessTokenClaims(token.claims, token.header, opts)

    default_ok = a.alg in JWSRegistry.recommended

    def authlib_rfc9068():
        cls = Validator if default_ok else ValidatorAllowingAlg
        v = cls(issuer=iss, resource_server=a.audience)
        access = state["tok_basic"]["access_token"]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            claims = v.authenticate_token(access)
            v.validate_token(claims, scopes=["reports:read"], request=None)
        try:
            v.validate_token(claims, scopes=["reports:admin"], request=None)
        except InsufficientScopeError:
            pass
        else:
            raise AssertionError("scope claim not honoured: reports:admin accepted")
        for w in caught:
            note(f"authlib/joserfc warning while validating {a.alg}: {w.category.__name__}: {w.message}")
        return "default validator" if default_ok else f"authenticate_token overridden to allow {a.alg}"

    if "tok_basic" in state:
        check(f"authlib rfc9068 JWTBearerTokenValidator {a.alg}", authlib_rfc9068)
        if not default_ok:
            # Document (not count) the library default: joserfc only allows its "recommended" algs.
            try:
                Validator(issuer=iss, resource_server=a.audience).authenticate_token(state["tok_basic"]["access_token"])
                note(f"authlib default JWTBearerTokenValidator accepted {a.alg}")
            except InvalidTokenError as exc:
                cause = exc.__cause__
                note(f"authlib default JWTBearerTokenValidator rejects {a.alg}: {type(cause).__name__}: {cause} "
                     f"(joserfc recommended = {sorted(JWSRegistry.recommended)})")

    # ---------------------------------------------------------------- introspection (RFC 7662)
    def introspect_active():
        url = md.get("introspection_endpoint") or iss + "/oauth2/introspect"
        r = http.post(url, data={"token": state["tok_basic"]["access_token"]},
                      auth=(a.client_id, a.client_secret), timeout=10, verify=verify)
        expect(r.status_code == 200, f"status {r.status_code}: {r.text[:300]}")
        j = r.json()
        expect(j.get("active") is True, f"active {j.get('active')!r}: {j}")
        expect(j.get("client_id") == a.client_id, f"client_id {j.get('client_id')!r}")
        expect(j.get("scope") == "reports:read", f"scope {j.get('scope')!r}")
        return "active=true"

    def introspect_garbage():
        url = md.get("introspection_endpoint") or iss + "/oauth2/introspect"
        r = http.post(url, data={"token": "not-a-token"}, auth=(a.client_id, a.client_secret), timeout=10, verify=verify)
        expect(r.status_code == 200, f"status {r.status_code} (RFC 7662 §2.2: inactive is 200 {{active:false}})")
        expect(r.json() == {"active": False} or r.json().get("active") is False, f"body {r.text[:200]}")
        return "active=false"

    if "tok_basic" in state and md is not None:
        check("introspection (requests, Basic) active token", introspect_active)
        if a.extended:
            check("introspection of garbage token -> 200 active=false", introspect_garbage)

    # ---------------------------------------------------------------- extended: encoding + negative
    if a.extended and a.special_id:
        def special_post():
            tok = authlib_fetch("client_secret_post", client_id=a.special_id, secret=a.special_secret)
            expect(tok.get("access_token"), "no access_token")
            return "secret with reserved characters via client_secret_post"

        check("authlib client_secret_post, secret with reserved chars", special_post)

        def special_basic():
            # authlib base64s "id:secret" WITHOUT the RFC 6749 §2.3.1 form-urlencoding step.
            # tokenmint tries the decoded value first and then the raw one, so this works.
            tok = authlib_fetch("client_secret_basic", client_id=a.special_id, secret=a.special_secret)
            expect(tok.get("access_token"), "no access_token")
            return "un-encoded Basic accepted via tokenmint's raw fallback"

        check("authlib client_secret_basic, reserved-char secret sent un-encoded", special_basic)

    if a.extended:
        def wrong_secret():
            try:
                authlib_fetch("client_secret_basic", secret="wrong-secret")
            except OAuthError as exc:
                expect(exc.error == "invalid_client", f"error {exc.error!r}")
                return "OAuthError invalid_client"
            raise AssertionError("wrong secret accepted")

        def bad_scope():
            try:
                authlib_fetch("client_secret_basic", scope="reports:admin")
            except OAuthError as exc:
                expect(exc.error == "invalid_scope", f"error {exc.error!r}")
                return "OAuthError invalid_scope"
            raise AssertionError("unregistered scope accepted")

        check("authlib wrong secret -> invalid_client", wrong_secret)
        check("authlib unregistered scope -> invalid_scope", bad_scope)

    http.close()
    out(f"-- python totals: {RESULTS['pass']} passed, {RESULTS['fail']} failed, {RESULTS['skip']} skipped")
    return 1 if RESULTS["fail"] else 0


class PyJWKClientHolder:
    def __init__(self, url, ssl_ctx):
        self.url, self.ssl_ctx, self.client = url, ssl_ctx, None

    def get(self):
        if self.client is None:
            self.client = jwt.PyJWKClient(self.url, ssl_context=self.ssl_ctx, timeout=10)
        return self.client


if __name__ == "__main__":
    sys.exit(main())
