#!/usr/bin/env python3
"""Python interop checks for tokenmint: authlib (client + RFC 8414 + RFC 9068), PyJWT.

Run by tests/interop/run.sh against one running tokenmint server. With
--private-key-jwt CLIENTS.json it runs only the private_key_jwt checks (authlib's
rfc7523 PrivateKeyJWT client authentication, see private_key_jwt_main). Prints one line
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
import urllib.parse
import warnings

import jwt  # PyJWT
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6750.errors import InsufficientScopeError
from authlib.oauth2.rfc6750.errors import InvalidTokenError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaims
from joserfc import jwt as joserfc_jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
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
    ap.add_argument("--private-key-jwt", default="", metavar="CLIENTS_JSON",
                    help="run only the private_key_jwt checks for the clients described in this file")
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
    if a.private_key_jwt:
        private_key_jwt_main(a, http, verify, ssl_ctx)
        http.close()
        out(f"-- python totals: {RESULTS['pass']} passed, {RESULTS['fail']} failed, {RESULTS['skip']} skipped")
        return 1 if RESULTS["fail"] else 0

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

    pyjwt_verify = pyjwt_verifier(jwks_client, iss, a.alg, a.kid, a.audience, a.client_id)

    if "tok_basic" in state:
        check(f"PyJWT PyJWKClient + jwt.decode {a.alg} (basic token)", pyjwt_verify(state["tok_basic"], "reports:read"))
    else:
        skip(f"PyJWT decode {a.alg}", "no token")
    if "tok_post" in state:
        check(f"PyJWT PyJWKClient + jwt.decode {a.alg} (post token)",
              pyjwt_verify(state["tok_post"], "reports:read reports:write"))

    # ---------------------------------------------------------------- authlib RFC 9068 resource-server validator
    get_jwks = jwks_getter(http, iss, verify)
    Validator, _ = rfc9068_validators(get_jwks, a.alg)
    default_ok = a.alg in JWSRegistry.recommended

    if "tok_basic" in state:
        check(f"authlib rfc9068 JWTBearerTokenValidator {a.alg}",
              rfc9068_check(get_jwks, iss, a.alg, a.audience, state["tok_basic"]["access_token"], "reports:read"))
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


# ---------------------------------------------------------------- token validators (shared by every run)
def pyjwt_verifier(jwks_holder, iss, alg, kid, audience, client_id):
    """verify(tok, want_scope) -> a check fn: PyJWT PyJWKClient + jwt.decode of tok["access_token"]."""

    def verify(tok, want_scope):
        def run():
            access = tok["access_token"]
            header = jwt.get_unverified_header(access)
            expect(header.get("typ") == "at+jwt", f"header typ {header.get('typ')!r} (RFC 9068 §2.1)")
            expect(header.get("alg") == alg, f"header alg {header.get('alg')!r} != {alg}")
            expect(header.get("kid"), "header has no kid")
            if kid:
                expect(header["kid"] == kid, f"header kid {header['kid']!r} != keygen kid {kid!r}")
            key = jwks_holder.get().get_signing_key_from_jwt(access)
            claims = jwt.decode(
                access,
                key,
                algorithms=[alg],
                audience=audience,
                issuer=iss,
                options={"require": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"]},
            )
            expect(claims.get("client_id") == client_id, f"client_id {claims.get('client_id')!r}")
            expect(claims.get("sub") == client_id, f"sub {claims.get('sub')!r} (RFC 9068 §2.2: client id)")
            expect(claims.get("aud") == audience, f"aud {claims.get('aud')!r} (single audience -> string)")
            expect(set(str(claims.get("scope", "")).split()) == set(want_scope.split()),
                   f"scope claim {claims.get('scope')!r}")
            expect(claims["exp"] - claims["iat"] == tok["expires_in"],
                   f"exp-iat {claims['exp'] - claims['iat']} != expires_in {tok['expires_in']}")
            expect(claims["iat"] <= time.time() + 1, "iat in the future")
            return f"kid={header['kid']}"
        return run

    return verify


def jwks_getter(http, iss, verify):
    def get_jwks():
        r = http.get(iss + "/jwks", timeout=10, verify=verify)
        expect(r.status_code == 200, f"jwks status {r.status_code}")
        return KeySet.import_key_set(r.json())
    return get_jwks


def rfc9068_validators(get_jwks, alg):
    """(authlib's JWTBearerTokenValidator on /jwks, the same allowing `alg` beyond joserfc's recommended set)."""

    class Validator(JWTBearerTokenValidator):
        def get_jwks(self):
            return get_jwks()

    class ValidatorAllowingAlg(Validator):
        """Same as authlib's authenticate_token, but with algorithms=[alg] passed to joserfc."""

        def authenticate_token(self, token_string):
            try:
                token = joserfc_jwt.decode(token_string, key=self.get_jwks(), algorithms=[alg])
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

    return Validator, ValidatorAllowingAlg


def rfc9068_check(get_jwks, iss, alg, audience, access, scope):
    """A check fn: authlib rfc9068 authenticate_token + validate_token(scope), and an unheld scope refused."""

    def run():
        validator, allowing = rfc9068_validators(get_jwks, alg)
        default_ok = alg in JWSRegistry.recommended
        v = (validator if default_ok else allowing)(issuer=iss, resource_server=audience)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            claims = v.authenticate_token(access)
            v.validate_token(claims, scopes=[scope], request=None)
        try:
            v.validate_token(claims, scopes=["reports:admin"], request=None)
        except InsufficientScopeError:
            pass
        else:
            raise AssertionError("scope claim not honoured: reports:admin accepted")
        for w in caught:
            note(f"authlib/joserfc warning while validating {alg}: {w.category.__name__}: {w.message}")
        return "default validator" if default_ok else f"authenticate_token overridden to allow {alg}"

    return run


# ---------------------------------------------------------------- private_key_jwt (RFC 7523 §2.2)
def private_key_jwt_main(a, http, verify, ssl_ctx):
    """authlib OAuth2Session + rfc7523 PrivateKeyJWT, with authlib's defaults (aud = the token endpoint
    it is given, exp = iat + 3600, a fresh jti, no kid; alg RS256 unless told), for each client of
    CLIENTS.json: {"clients": [{"id", "alg", "key" (PKCS#8 PEM file it signs with), "jwks" (how the
    server has its public key: "inline" / "file"), "expect": "ok" or "invalid_client"}]}.
    Tokens are checked with the same validators as the secret-based runs (PyJWT, authlib rfc9068)."""
    iss = a.issuer
    token_url = iss + "/oauth2/token"
    with open(a.private_key_jwt, encoding="utf-8") as f:
        clients = json.load(f)["clients"]
    jwks_holder = PyJWKClientHolder(iss + "/jwks", ssl_ctx)
    get_jwks = jwks_getter(http, iss, verify)

    def metadata():
        r = http.get(iss + "/.well-known/oauth-authorization-server", timeout=10, verify=verify)
        expect(r.status_code == 200, f"status {r.status_code}: {r.text[:300]}")
        md = r.json()
        methods = md.get("token_endpoint_auth_methods_supported") or []
        expect("private_key_jwt" in methods, f"token_endpoint_auth_methods_supported {methods!r}")
        algs = md.get("token_endpoint_auth_signing_alg_values_supported")
        expect(isinstance(algs, list), f"token_endpoint_auth_signing_alg_values_supported {algs!r}")
        wanted = sorted({c["alg"] for c in clients})
        expect(all(x in algs for x in wanted), f"token_endpoint_auth_signing_alg_values_supported {algs!r} lacks {wanted}")
        expect("none" not in algs and not any(x.startswith("HS") for x in algs), f"symmetric/none listed: {algs!r}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            AuthorizationServerMetadata(md).validate()
        expect(not caught, "warnings: " + "; ".join(str(w.message) for w in caught))
        return f"methods={','.join(methods)} assertion algs={','.join(algs)}"

    check("metadata lists private_key_jwt + assertion algs; authlib rfc8414 validate()", metadata)

    def client_key(c):
        with open(c["key"], encoding="utf-8") as f:
            pem = f.read()
        # PrivateKeyJWT imports a PEM given as client_secret as an RSA key; other key types go in as key objects.
        return pem if c["alg"] == "RS256" else ECKey.import_key(pem)

    def fetch(c, endpoint=token_url):
        """authlib fetch_token; returns (token or OAuthError, what was sent and answered)."""
        auth = PrivateKeyJWT(endpoint) if c["alg"] == "RS256" else PrivateKeyJWT(endpoint, alg=c["alg"])
        seen = {}

        def record(resp, *args, **kwargs):
            seen["status"] = resp.status_code
            seen["www_authenticate"] = resp.headers.get("WWW-Authenticate")
            body = resp.request.body or ""
            seen["form"] = urllib.parse.parse_qs(body.decode() if isinstance(body, bytes) else body)

        sess = OAuth2Session(c["id"], client_key(c), token_endpoint_auth_method=auth)
        sess.hooks["response"].append(record)
        try:
            try:
                result = sess.fetch_token(endpoint, grant_type="client_credentials", timeout=10, verify=verify)
            except OAuthError as exc:
                result = exc
        finally:
            sess.close()
        return result, seen

    def assertion_summary(c, seen, endpoint):
        form = seen.get("form", {})
        expect(form.get("client_assertion_type") == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"],
               f"client_assertion_type {form.get('client_assertion_type')!r}")
        h, p, _ = form["client_assertion"][0].split(".")
        header, claims = b64url_json(h), b64url_json(p)
        expect(header.get("alg") == c["alg"], f"assertion alg {header.get('alg')!r}")
        expect(claims.get("iss") == c["id"] and claims.get("sub") == c["id"], f"assertion iss/sub {claims!r}")
        expect(claims.get("aud") == endpoint, f"assertion aud {claims.get('aud')!r} (authlib: the token endpoint)")
        expect(claims.get("jti"), "assertion has no jti")
        return (f"assertion alg={header['alg']} kid={header.get('kid', '-')} aud={claims['aud']} "
                f"exp-iat={claims['exp'] - claims['iat']} client_id in body={'client_id' in form}")

    for c in clients:
        alg = c["alg"]
        if c["expect"] == "ok":
            state = {}

            def get_token(c=c, state=state, endpoint=token_url):
                tok, seen = fetch(c, endpoint)
                if isinstance(tok, OAuthError):
                    raise AssertionError(f"HTTP {seen.get('status')} {tok.error}: {tok.description}")
                expect(isinstance(tok.get("access_token"), str) and tok["access_token"].startswith("eyJ"),
                       f"access_token {tok!r}")
                expect(str(tok.get("token_type", "")).lower() == "bearer", f"token_type {tok.get('token_type')!r}")
                expect(tok.get("scope") == "reports:read", f"scope {tok.get('scope')!r} (default_scopes)")
                state["tok"] = tok
                return assertion_summary(c, seen, endpoint)

            check(f"authlib PrivateKeyJWT {alg} fetch_token, client {c['id']} (jwks {c['jwks']})", get_token)
            if "tok" in state:
                verify_tok = pyjwt_verifier(jwks_holder, iss, a.alg, a.kid, a.audience, c["id"])
                check(f"PyJWT PyJWKClient + jwt.decode {a.alg} (token of {c['id']})", verify_tok(state["tok"], "reports:read"))
                check(f"authlib rfc9068 JWTBearerTokenValidator {a.alg} (token of {c['id']})",
                      rfc9068_check(get_jwks, iss, a.alg, a.audience, state["tok"]["access_token"], "reports:read"))
            if c.get("alias"):
                # docs/client-authentication.md: aud may also be the /token alias of the token endpoint, when posting there.
                check(f"authlib PrivateKeyJWT {alg} fetch_token at the /token alias (aud = .../token), client {c['id']}",
                      lambda c=c: get_token(c, {}, iss + "/token"))
        else:

            def refused(c=c):
                res, seen = fetch(c)
                if not isinstance(res, OAuthError):
                    raise AssertionError(f"token issued to a client signing with a key it is not configured with: {res!r}")
                expect(seen.get("status") == 401, f"status {seen.get('status')} (want 401)")
                expect(res.error == c["expect"], f"error {res.error!r} (want {c['expect']})")
                return (f"HTTP 401 {res.error}; WWW-Authenticate {seen.get('www_authenticate') or 'absent'}; "
                        + assertion_summary(c, seen, token_url))

            check(f"authlib PrivateKeyJWT {alg}, client {c['id']} signs with a key other than its configured JWK "
                  f"(jwks {c['jwks']}) -> 401 {c['expect']}", refused)


class PyJWKClientHolder:
    def __init__(self, url, ssl_ctx):
        self.url, self.ssl_ctx, self.client = url, ssl_ctx, None

    def get(self):
        if self.client is None:
            self.client = jwt.PyJWKClient(self.url, ssl_context=self.ssl_ctx, timeout=10)
        return self.client


if __name__ == "__main__":
    sys.exit(main())
