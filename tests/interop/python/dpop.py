#!/usr/bin/env python3
"""DPoP (RFC 9449) interop checks for tokenmint: requests-oauth2client, PyJWT, cryptography.

Run by tests/interop/run.sh against one running tokenmint server and one
examples/resource_server in --listen mode that trusts it. requests-oauth2client is
used unmodified, with its defaults: OAuth2Client(token_endpoint, auth=(id, secret))
(client_secret_post), client_credentials(dpop=True) with the ES256 key it generates,
its DPoPToken as the `auth` of a requests GET. The only non-default argument is
testing=True, which only turns off the library's https-only check of endpoint URLs
(the suite's servers are plain http on 127.0.0.1); a requests.Session with a response
hook is passed so that what went over the wire can be checked.

Everything the library does is checked independently: the RFC 7638 thumbprint is
computed here from the key's public numbers (cryptography), proofs are decoded by
hand, the token is validated with PyJWT against /jwks, and the refusals at the
resource server use proofs made here with PyJWT.

--nonce: the server has [dpop] require_nonce = true; the library must answer the
400 use_dpop_nonce by retrying once with the DPoP-Nonce it was given.
Prints "PASS <name>", "FAIL <name>: <why>", "NOTE <text>"; exits 1 if any check failed.
"""

import argparse
import base64
import hashlib
import importlib.metadata
import json
import secrets
import sys
import time
import traceback

import jwt  # PyJWT
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from requests_oauth2client import DPoPKey
from requests_oauth2client import DPoPToken
from requests_oauth2client import OAuth2Client
from requests_oauth2client.dpop import MissingDPoPNonce
from requests_oauth2client.exceptions import EndpointError

RESULTS = {"pass": 0, "fail": 0}
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
    return detail if detail is not None else True


def note(text):
    out(f"NOTE {TAG}{text}")


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def b64u(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64u_json(segment):
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def jws_parts(compact):
    """(header, payload) of a compact JWS, decoded without verifying."""
    parts = compact.split(".")
    expect(len(parts) == 3, f"not a compact JWS ({len(parts)} parts)")
    return b64u_json(parts[0]), b64u_json(parts[1])


def ath(token):
    """RFC 9449 §4.2: base64url(SHA-256(ASCII(access token)))."""
    return b64u(hashlib.sha256(token.encode("ascii")).digest())


CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def ec_public_jwk(public_key):
    """The public JWK of an EC key, from its numbers (RFC 7518 §6.2.1: coordinates padded to the curve size)."""
    expect(isinstance(public_key, ec.EllipticCurvePublicKey), f"not an EC key: {type(public_key).__name__}")
    numbers = public_key.public_numbers()
    size = (public_key.curve.key_size + 7) // 8
    return {
        "kty": "EC",
        "crv": CURVES[public_key.curve.name],
        "x": b64u(numbers.x.to_bytes(size, "big")),
        "y": b64u(numbers.y.to_bytes(size, "big")),
    }


def thumbprint(jwk):
    """RFC 7638 §3: SHA-256 of the required members, sorted, no whitespace."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canonical = json.dumps({m: jwk[m] for m in required}, sort_keys=True, separators=(",", ":"))
    return b64u(hashlib.sha256(canonical.encode("utf-8")).digest())


def www_authenticate(res):
    """(scheme, error) of a response's WWW-Authenticate header."""
    value = res.headers.get("WWW-Authenticate", "")
    scheme = value.split(" ", 1)[0]
    error = None
    marker = 'error="'
    if marker in value:
        error = value.split(marker, 1)[1].split('"', 1)[0]
    return scheme, error, value


def main():
    global TAG
    ap = argparse.ArgumentParser()
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--resource", required=True, help="base URL of examples/resource_server --listen (its --public-url)")
    ap.add_argument("--alg", default="ES256", help="the server's signing alg (for PyJWT)")
    ap.add_argument("--audience", default="https://api.example.com")
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--client-secret", required=True)
    ap.add_argument("--nonce", action="store_true", help="the server requires DPoP nonces ([dpop] require_nonce)")
    ap.add_argument("--tag", default="")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    TAG = f"[{a.tag}] " if a.tag else ""
    check.verbose = a.verbose
    note("requests-oauth2client==%s jwskate==%s PyJWT==%s requests==%s" % tuple(
        importlib.metadata.version(p) for p in ("requests-oauth2client", "jwskate", "PyJWT", "requests")))

    iss = a.issuer
    token_url = iss + "/oauth2/token"
    api_url = a.resource.rstrip("/") + "/reports"
    # Every response the library's session receives, in order (the nonce retry is checked from these).
    wire = []
    http = requests.Session()
    http.hooks["response"].append(lambda res, *args, **kwargs: wire.append(res))
    client = OAuth2Client(token_endpoint=token_url, auth=(a.client_id, a.client_secret), session=http, testing=True)
    state = {}

    # ---------------------------------------------------------------- the token request
    def get_token():
        wire.clear()
        tok = client.client_credentials(scope="reports:read", dpop=True)
        expect(isinstance(tok, DPoPToken), f"the library returned {type(tok).__name__}, not a DPoPToken")
        token_responses = [r for r in wire if r.request.url == token_url]
        last = token_responses[-1]
        body = last.json()
        # The library builds a DPoPToken whatever token_type says: check the server's answer itself.
        expect(body.get("token_type") == "DPoP", f"token_type {body.get('token_type')!r} (want DPoP, RFC 9449 §5)")
        expect(tok.token_type == "DPoP", f"DPoPToken.token_type {tok.token_type!r}")
        key = tok.dpop_key.private_key.cryptography_key
        jwk = ec_public_jwk(key.public_key())
        jkt = thumbprint(jwk)
        claims = jws_parts(tok.access_token)[1]
        expect(claims.get("cnf") == {"jkt": jkt},
               f"cnf {claims.get('cnf')!r}, want {{'jkt': {jkt!r}}} (RFC 7638 thumbprint computed here)")
        expect(tok.dpop_key.dpop_jkt == jkt, f"the library's own thumbprint {tok.dpop_key.dpop_jkt} != {jkt}")
        # The proofs the library sent: typ, alg, public jwk of its key, htm POST, htu the token endpoint, no ath.
        proofs = [r.request.headers.get("DPoP") for r in token_responses]
        expect(all(proofs), "a token request went without a DPoP header")
        header, payload = jws_parts(proofs[-1])
        expect(header.get("typ") == "dpop+jwt" and header.get("alg") == "ES256",
               f"proof header typ {header.get('typ')!r} alg {header.get('alg')!r}")
        expect(thumbprint(header.get("jwk", {})) == jkt, "the proof's jwk is not the library's key")
        expect(payload.get("htm") == "POST" and payload.get("htu") == token_url,
               f"proof htm {payload.get('htm')!r} htu {payload.get('htu')!r}")
        expect("ath" not in payload, "ath in a token request proof")
        expect(isinstance(payload.get("iat"), int) and abs(payload["iat"] - time.time()) < 30, f"iat {payload.get('iat')!r}")
        state.update(tok=tok, jkt=jkt, jwk=jwk, key=key, token_responses=token_responses, proofs=proofs)
        return f"token_type DPoP, cnf.jkt {jkt} = RFC 7638 thumbprint of the library's ES256 key"

    if a.nonce:
        name = "requests-oauth2client client_credentials(dpop=True), server requires a nonce: retries with it, gets a DPoP token"
    else:
        name = "requests-oauth2client client_credentials(dpop=True) -> DPoP-bound token"
    if not check(name, get_token):
        return finish()
    tok, jkt = state["tok"], state["jkt"]

    def nonce_exchange():
        rs = state["token_responses"]
        statuses = [r.status_code for r in rs]
        if not a.nonce:
            expect(statuses == [200], f"token endpoint statuses {statuses} (want one 200)")
            expect("DPoP-Nonce" not in rs[0].headers, "a DPoP-Nonce header without nonces configured")
            expect("nonce" not in jws_parts(state["proofs"][0])[1], "a nonce in the proof")
            return "one request, no nonce asked for or sent"
        expect(statuses == [400, 200], f"token endpoint statuses {statuses} (want 400 use_dpop_nonce then 200)")
        first, second = rs
        expect(first.json().get("error") == "use_dpop_nonce", f"first answer {first.text[:200]}")
        nonce = first.headers.get("DPoP-Nonce")
        expect(nonce, "400 use_dpop_nonce without a DPoP-Nonce header (RFC 9449 §8)")
        p1, p2 = (jws_parts(p)[1] for p in state["proofs"])
        expect("nonce" not in p1, "the first proof already had a nonce")
        expect(p2.get("nonce") == nonce, f"retry proof nonce {p2.get('nonce')!r} != DPoP-Nonce {nonce!r}")
        expect(p1.get("jti") != p2.get("jti"), "the retry reused the first proof's jti")
        expect(second.headers.get("DPoP-Nonce"), "the token response carries no DPoP-Nonce")
        expect(tok.dpop_key.as_nonce == nonce, "the library did not keep the nonce")
        return f"400 use_dpop_nonce + DPoP-Nonce ({len(nonce)} chars), retry with nonce -> 200 with a DPoP-Nonce"

    check("token endpoint exchange as seen on the wire (statuses, nonce in proofs)", nonce_exchange)

    if a.nonce:
        def reuse_nonce():
            wire.clear()
            again = client.client_credentials(scope="reports:read", dpop=True, dpop_key=tok.dpop_key)
            statuses = [r.status_code for r in wire]
            expect(statuses == [200], f"statuses {statuses} (want one 200: the nonce held is still current)")
            expect(jws_parts(again.access_token)[1].get("cnf") == {"jkt": jkt}, "cnf of the second token")
            return "one request with the kept nonce -> 200, same cnf.jkt"

        check("a second token request with the same DPoPKey sends the kept nonce", reuse_nonce)

    # ---------------------------------------------------------------- PyJWT against /jwks
    def pyjwt_validates():
        jwks = jwt.PyJWKClient(iss + "/jwks", timeout=10)
        signing = jwks.get_signing_key_from_jwt(tok.access_token)
        claims = jwt.decode(tok.access_token, signing.key, algorithms=[a.alg], audience=a.audience, issuer=iss,
                            options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        expect(jwt.get_unverified_header(tok.access_token).get("typ") == "at+jwt", "typ is not at+jwt")
        expect(claims.get("cnf", {}).get("jkt") == jkt, f"cnf {claims.get('cnf')!r}")
        expect(claims.get("client_id") == a.client_id, f"client_id {claims.get('client_id')!r}")
        return f"kid={signing.key_id}, cnf.jkt present"

    check(f"PyJWT PyJWKClient(/jwks) + decode {a.alg} validates the DPoP-bound token and sees cnf", pyjwt_validates)

    # ---------------------------------------------------------------- the library at the resource server
    def library_get():
        res = requests.get(api_url, auth=tok, timeout=10)
        expect(res.status_code == 200,
               f"HTTP {res.status_code}, WWW-Authenticate {res.headers.get('WWW-Authenticate')!r}: {res.text[:200]}")
        sent = res.request.headers
        expect(sent.get("Authorization") == f"DPoP {tok.access_token}",
               f"Authorization {sent.get('Authorization', '')[:20]!r}... (want DPoP <token>)")
        header, payload = jws_parts(sent["DPoP"])
        expect(thumbprint(header["jwk"]) == jkt, "the proof's jwk is not the token's key")
        expect(payload.get("ath") == ath(tok.access_token), f"ath {payload.get('ath')!r} != {ath(tok.access_token)}")
        expect(payload.get("htm") == "GET" and payload.get("htu") == api_url,
               f"htm {payload.get('htm')!r} htu {payload.get('htu')!r}")
        expect(res.json()["claims"].get("cnf", {}).get("jkt") == jkt, "the resource server saw another cnf")
        return "200; Authorization: DPoP, proof with ath, htm GET, htu " + api_url

    check("requests GET with the DPoPToken as auth at examples/resource_server -> 200", library_get)

    if a.nonce:
        return finish()

    def no_proof_refused():
        wire.clear()
        try:
            got = client.client_credentials(scope="reports:read", dpop=False)
        except EndpointError as exc:
            statuses = [r.status_code for r in wire]
            expect(statuses == [400], f"statuses {statuses}")
            expect(exc.error == "invalid_dpop_proof", f"error {exc.error!r}")
            return f"{type(exc).__name__}: 400 {exc.error}: {exc.description}"
        raise AssertionError(f"a token without a proof for a require_dpop client: {got!r}")

    check("client_credentials(dpop=False) for a require_dpop client -> 400 invalid_dpop_proof", no_proof_refused)

    # ---------------------------------------------------------------- refusals at the resource server
    other = ec.generate_private_key(ec.SECP256R1())
    other_jwk = ec_public_jwk(other.public_key())

    def proof(signer=None, jwk=None, **claims):
        body = {"jti": secrets.token_urlsafe(16), "htm": "GET", "htu": api_url, "iat": int(time.time()),
                "ath": ath(tok.access_token)}
        body.update(claims)
        return jwt.encode(body, signer or state["key"], algorithm="ES256",
                          headers={"typ": "dpop+jwt", "jwk": jwk or state["jwk"]})

    def get(scheme="DPoP", proofs=()):
        headers = {"Authorization": f"{scheme} {tok.access_token}"}
        if proofs:
            headers["DPoP"] = proofs[0]
        return requests.get(api_url, headers=headers, timeout=10)

    def accepted(res):
        expect(res.status_code == 200, f"HTTP {res.status_code}: {www_authenticate(res)[2]}")
        expect(res.json()["claims"]["cnf"]["jkt"] == jkt, "claims")
        return "200"

    def refused(res, errors=("invalid_token", "invalid_dpop_proof")):
        scheme, error, value = www_authenticate(res)
        expect(res.status_code == 401, f"HTTP {res.status_code} (want 401): {res.text[:200]}")
        expect(scheme == "DPoP", f"WWW-Authenticate {value!r} (want the DPoP scheme, RFC 9449 §7.1)")
        expect(error in errors, f"error {error!r}, want one of {errors}: {value!r}")
        desc = value.split('error_description="', 1)[-1].split('"', 1)[0] if "error_description" in value else ""
        return f'401 DPoP error="{error}"' + (f": {desc}" if desc else "")

    # The control first: a proof made here is accepted, so the refusals below are for their one defect.
    check("a hand-made proof (PyJWT ES256, the library's key, ath/htm/htu/iat/jti) -> 200",
          lambda: accepted(get(proofs=[proof()])))
    check("the bound token sent as Authorization: Bearer -> 401 DPoP invalid_token",
          lambda: refused(get("Bearer"), ("invalid_token",)))
    check("Authorization: DPoP without a DPoP proof -> 401", lambda: refused(get()))
    check("a proof of another key (its own jwk, not the token's cnf.jkt) -> 401",
          lambda: refused(get(proofs=[proof(other, other_jwk)])))
    check("a proof naming the token's key but signed by another key -> 401 invalid_dpop_proof",
          lambda: refused(get(proofs=[proof(other)]), ("invalid_dpop_proof",)))

    def replayed():
        p = proof()
        first = get(proofs=[p])
        expect(first.status_code == 200, f"first use: HTTP {first.status_code} {www_authenticate(first)[2]}")
        return "first 200, then " + refused(get(proofs=[p]), ("invalid_dpop_proof",))

    check("the same proof sent twice -> 200, then 401 invalid_dpop_proof (jti seen)", replayed)
    check("a proof whose htu is another URL -> 401 invalid_dpop_proof",
          lambda: refused(get(proofs=[proof(htu=a.resource.rstrip("/") + "/other")]), ("invalid_dpop_proof",)))
    check("a proof whose ath is the hash of another token -> 401 invalid_dpop_proof",
          lambda: refused(get(proofs=[proof(ath=ath(tok.access_token + "x"))]), ("invalid_dpop_proof",)))

    # Not counted: how the library reports a resource server's 401 DPoP error="invalid_token" (no nonce
    # asked for). Its DPoPToken response hook takes every 401 with a DPoP challenge for a nonce request.
    try:
        res = requests.get(api_url, auth=DPoPToken(access_token=tok.access_token, _dpop_key=DPoPKey.generate()),
                           timeout=10)
        note(f"requests-oauth2client, DPoPToken with another key at the resource server: HTTP {res.status_code} "
             f"{www_authenticate(res)[2][:80]}")
    except MissingDPoPNonce as exc:
        note(f"requests-oauth2client, DPoPToken with another key at the resource server: {type(exc).__name__} "
             f"raised for a 401 DPoP error=\"invalid_token\" without DPoP-Nonce (its hook reads every DPoP 401 "
             f"as a nonce request; RFC 9449 §9 signals one with error=\"use_dpop_nonce\")")
    except Exception as exc:  # noqa: BLE001 - reported as a note
        note(f"requests-oauth2client, DPoPToken with another key at the resource server: {type(exc).__name__}: {exc}")
    return finish()


def finish():
    out(f"-- python dpop totals: {RESULTS['pass']} passed, {RESULTS['fail']} failed")
    return 1 if RESULTS["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
