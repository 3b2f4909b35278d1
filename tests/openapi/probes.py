"""Hand-made requests for the answers schemathesis does not provoke by itself.

    python probes.py SCHEMA FUZZ_URL THROTTLE_URL

FUZZ_URL is the server schemathesis ran against (client `openapi-client`,
throttle effectively off); THROTTLE_URL a second server with
`failures_per_client = 3` and PBKDF2 clients (`slow-1`..`slow-3`), for 429 and
the 503 of too many slow secret checks. Every response is validated against
docs/openapi.yaml (documented status, content type, headers, body schema, and
the custom 5xx check of hooks.py); a few properties the schema cannot say are
asserted here. Prints one PASS/FAIL line per probe and exits 1 on any FAIL.
"""

import base64
import concurrent.futures
import os
import sys

import requests
import schemathesis
from schemathesis.checks import not_a_server_error  # noqa: F401  (loads the built-in checks)
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import hooks

SCHEMA_PATH, FUZZ, THROTTLE = sys.argv[1:4]
SCHEMA = schemathesis.openapi.from_path(SCHEMA_PATH)
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    hooks.only_documented_server_errors,
]
FORM = "application/x-www-form-urlencoded"
ID, SECRET = "openapi-client", "openapi-secret"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}

passed = failed = 0


def basic(client_id, secret):
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def conforms(path, method, response, body=None):
    """Validates `response` against the documented operation."""
    operation = SCHEMA[path][method]
    kwargs = {"media_type": FORM, "body": body} if body is not None else {}
    case = operation.Case(**kwargs)
    case.validate_response(response, checks=CHECKS)


def probe(name, fn):
    global passed, failed
    try:
        fn()
    except Exception as exc:  # a FailureGroup, an AssertionError, a connection error
        failed += 1
        text = str(exc).strip().replace("\n", "\n    ")
        print(f"FAIL {name}: {type(exc).__name__}: {text}")
    else:
        passed += 1
        print(f"PASS {name}")


def post(base, path, data, headers=None, **kwargs):
    headers = {"Content-Type": FORM, **(headers or {})}
    return requests.post(base + path, data=data, headers=headers, timeout=30, **kwargs)


def expect(response, status, error=None):
    assert response.status_code == status, f"status {response.status_code} (expected {status}): {response.text[:300]}"
    if error is not None:
        got = response.json().get("error")
        assert got == error, f"error {got!r} (expected {error!r})"


# ---------------------------------------------------------------- token endpoint


def token_post_auth():
    data = {"grant_type": "client_credentials", "client_id": ID, "client_secret": SECRET, "validity_period": "120"}
    r = post(FUZZ, "/token", data)
    expect(r, 200)
    conforms("/token", "POST", r, data)
    body = r.json()
    assert body["expires_in"] == 120, body
    assert body["scope"] == "reports:read", body


def token_no_credentials():
    data = {"grant_type": "client_credentials"}
    r = post(FUZZ, "/oauth2/token", data)
    expect(r, 401, "invalid_client")
    conforms("/oauth2/token", "POST", r, data)
    assert r.headers.get("WWW-Authenticate") == 'Basic realm="tokenmint"', r.headers


def token_wrong_secret_basic():
    data = {"grant_type": "client_credentials"}
    r = post(FUZZ, "/oauth2/token", data, {"Authorization": basic(ID, "wrong")})
    expect(r, 401, "invalid_client")
    conforms("/oauth2/token", "POST", r, data)
    assert r.headers.get("WWW-Authenticate") == 'Basic realm="tokenmint"', r.headers


def token_wrong_secret_post():
    data = {"grant_type": "client_credentials", "client_id": ID, "client_secret": "wrong"}
    r = post(FUZZ, "/oauth2/token", data)
    expect(r, 401, "invalid_client")
    conforms("/oauth2/token", "POST", r, data)
    assert "WWW-Authenticate" not in r.headers, "no challenge for client_secret_post (RFC 6749 section 5.2)"


def token_other_scheme():
    data = {"grant_type": "client_credentials"}
    r = post(FUZZ, "/oauth2/token", data, {"Authorization": "Bearer abc.def.ghi"})
    expect(r, 401, "invalid_client")
    conforms("/oauth2/token", "POST", r, data)
    assert r.headers.get("WWW-Authenticate") == 'Basic realm="tokenmint"', r.headers


def token_bad_assertion():
    data = {"grant_type": "client_credentials", "client_assertion_type": JWT_BEARER, "client_assertion": "a.b.c"}
    r = post(FUZZ, "/oauth2/token", data)
    expect(r, 401, "invalid_client")
    conforms("/oauth2/token", "POST", r, data)


def token_refusals():
    auth = {"Authorization": basic(ID, SECRET)}
    cases = [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "scope": "admin"}, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "a  b"}, "invalid_scope"),
        ({"grant_type": "client_credentials", "audience": "https://elsewhere.example"}, "invalid_target"),
        ({"grant_type": "client_credentials", "resource": "https://elsewhere.example"}, "invalid_target"),
        ({"grant_type": "client_credentials", "validity_period": "0"}, "invalid_request"),
        ({"grant_type": "client_credentials", "validity_period": "1.5"}, "invalid_request"),
        ({"grant_type": "client_credentials", "client_secret": SECRET}, "invalid_request"),
        ({"scope": "reports:read"}, "invalid_request"),
    ]
    for data, error in cases:
        r = post(FUZZ, "/oauth2/token", data, auth)
        expect(r, 400, error)
        conforms("/oauth2/token", "POST", r, data)
    r = post(FUZZ, "/oauth2/token", "grant_type=client_credentials&scope=a&scope=b", auth)
    expect(r, 400, "invalid_request")
    conforms("/oauth2/token", "POST", r)


def token_not_a_form():
    r = requests.post(
        FUZZ + "/oauth2/token",
        json={"grant_type": "client_credentials"},
        headers={"Authorization": basic(ID, SECRET)},
        timeout=30,
    )
    expect(r, 400, "invalid_request")
    conforms("/oauth2/token", "POST", r)


def token_too_large():
    auth = {"Authorization": basic(ID, SECRET)}
    big = "grant_type=client_credentials&pad=" + "a" * 9000
    r = post(FUZZ, "/oauth2/token", big, auth)  # Content-Length: refused before the body is read
    expect(r, 413, "invalid_request")
    conforms("/oauth2/token", "POST", r)
    r = post(FUZZ, "/oauth2/token", iter([big.encode()[:5000], big.encode()[5000:]]), auth)  # chunked
    expect(r, 413, "invalid_request")
    conforms("/oauth2/token", "POST", r)


# ---------------------------------------------------------------- introspection


def introspection():
    auth = {"Authorization": basic(ID, SECRET)}
    token = post(FUZZ, "/oauth2/token", {"grant_type": "client_credentials"}, auth).json()["access_token"]
    data = {"token": token}
    r = post(FUZZ, "/oauth2/introspect", data, auth)
    expect(r, 200)
    conforms("/oauth2/introspect", "POST", r, data)
    assert r.json()["active"] is True and r.json()["client_id"] == ID, r.text
    tampered = {"token": token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")}
    r = post(FUZZ, "/oauth2/introspect", tampered, auth)
    expect(r, 200)
    conforms("/oauth2/introspect", "POST", r, tampered)
    assert r.json() == {"active": False}, r.text
    r = post(FUZZ, "/oauth2/introspect", data)
    expect(r, 401, "invalid_client")
    conforms("/oauth2/introspect", "POST", r, data)
    r = post(FUZZ, "/oauth2/introspect", {}, auth)
    expect(r, 400, "invalid_request")
    conforms("/oauth2/introspect", "POST", r, {})


# ---------------------------------------------------------------- JWKS, discovery, 405, 404


def jwks_conditional():
    for path in ("/jwks", "/.well-known/jwks.json"):
        r = requests.get(FUZZ + path, timeout=30)
        expect(r, 200)
        conforms(path, "GET", r)
        etag = r.headers["ETag"]
        for condition in (etag, "W/" + etag, f'"other", {etag}', "*"):
            for method in ("GET", "HEAD"):
                r = requests.request(method, FUZZ + path, headers={"If-None-Match": condition}, timeout=30)
                expect(r, 304)
                conforms(path, method, r)
                assert r.headers["ETag"] == etag and not r.content, (condition, r.headers)
        r = requests.get(FUZZ + path, headers={"If-None-Match": '"other"'}, timeout=30)
        expect(r, 200)


def discovery_urls():
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        r = requests.get(FUZZ + path, timeout=30)
        expect(r, 200)
        conforms(path, "GET", r)
        meta = r.json()
        assert meta["issuer"] == FUZZ, meta
        assert meta["token_endpoint"] == FUZZ + "/oauth2/token", meta
        assert meta["jwks_uri"] == FUZZ + "/jwks", meta
        assert meta["introspection_endpoint"] == FUZZ + "/oauth2/introspect", meta


def method_not_allowed():
    """Every documented path answers an undocumented method 405 with an Allow header naming the documented ones."""
    for path, item in SCHEMA.raw_schema["paths"].items():
        documented = {m.upper() for m in item if m in ("get", "head", "post", "put", "patch", "delete", "options")}
        for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            if method in documented:
                continue
            r = requests.request(method, FUZZ + path, timeout=30)
            expect(r, 405)
            allow = {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}
            assert allow == documented, f"{method} {path}: Allow {allow} (documented {documented})"
            for name, value in SECURITY_HEADERS.items():
                assert r.headers.get(name) == value, f"{method} {path}: {name}"


def unknown_path():
    for method in ("GET", "POST"):
        r = requests.request(method, FUZZ + "/no/such/path", timeout=30)
        expect(r, 404)
        assert not r.content, r.content
        for name, value in SECURITY_HEADERS.items():
            assert r.headers.get(name) == value, name
        assert r.headers.get("X-Request-Id"), r.headers


def request_id_echo():
    r = requests.get(FUZZ + "/healthz", headers={"X-Request-Id": "probe-42"}, timeout=30)
    expect(r, 200)
    conforms("/healthz", "GET", r)
    assert r.headers.get("X-Request-Id") == "probe-42", r.headers


# ---------------------------------------------------------------- 429 and 503 (second server)


def throttled():
    data = {"grant_type": "client_credentials"}
    statuses = []
    for _ in range(4):
        r = post(THROTTLE, "/oauth2/token", data, {"Authorization": basic("probe-client", "wrong")})
        statuses.append(r.status_code)
        conforms("/oauth2/token", "POST", r, data)
    assert statuses == [401, 401, 401, 429], statuses
    assert r.json()["error"] == "temporarily_unavailable" and r.headers["Retry-After"].isdigit(), r.headers
    # The limit is per (client, source): another client from the same source is still served.
    r = post(THROTTLE, "/oauth2/token", data, {"Authorization": basic("other-client", "other-secret")})
    expect(r, 200)


def busy():
    """More concurrent PBKDF2 checks than the server runs at once: 503 with Retry-After."""
    data = {"grant_type": "client_credentials"}
    seen = []
    for client in ("slow-1", "slow-2", "slow-3"):
        def one(i, client=client):
            return post(THROTTLE, "/oauth2/token", data, {"Authorization": basic(client, f"wrong-{i}")})

        with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
            responses = list(pool.map(one, range(12)))
        for r in responses:
            conforms("/oauth2/token", "POST", r, data)
            seen.append(r.status_code)
        if 503 in seen:
            busy_answer = next(r for r in responses if r.status_code == 503)
            assert busy_answer.json()["error"] == "temporarily_unavailable", busy_answer.text
            assert busy_answer.headers["Retry-After"].isdigit(), busy_answer.headers
            return
    raise AssertionError(f"no 503 in {len(seen)} concurrent slow checks: {sorted(set(seen))}")


for name, fn in [
    ("token: client_secret_post, validity_period honoured", token_post_auth),
    ("token: no credentials -> 401 + Basic challenge", token_no_credentials),
    ("token: wrong Basic secret -> 401 + Basic challenge", token_wrong_secret_basic),
    ("token: wrong client_secret_post -> 401 without challenge", token_wrong_secret_post),
    ("token: another Authorization scheme -> 401 + Basic challenge", token_other_scheme),
    ("token: a client assertion that does not verify -> 401", token_bad_assertion),
    ("token: grant, scope, target, validity_period, two methods, repeats -> 400", token_refusals),
    ("token: JSON body -> 400 invalid_request (not 415)", token_not_a_form),
    ("token: body over 8 KiB (Content-Length and chunked) -> 413", token_too_large),
    ("introspection: active, inactive, 401, 400", introspection),
    ("jwks: If-None-Match (strong, weak, list, *) -> 304 with the ETag", jwks_conditional),
    ("discovery: every URL derives from the issuer", discovery_urls),
    ("every path: undocumented methods -> 405 + Allow", method_not_allowed),
    ("unknown path -> 404, empty, with the security headers", unknown_path),
    ("X-Request-Id is echoed", request_id_echo),
    ("throttle: 4th failure of a client from a source -> 429 + Retry-After", throttled),
    ("too many slow secret checks -> 503 temporarily_unavailable + Retry-After", busy),
]:
    probe(name, fn)

print(f"probes: {passed} of {passed + failed} passed")
sys.exit(1 if failed else 0)
