#!/usr/bin/env bash
# Mutual TLS (RFC 8705) and RFC 9440 Client-Cert interop checks for tokenmint, run by run.sh
# (after `cargo build --release --bins --examples`), or alone: bash tests/interop/mtls.sh
#
# 1. openssl makes a test CA, a server certificate it issues (SAN 127.0.0.1), a client certificate
#    it issues (subject CN=inventory,O=Example) and a self-signed client certificate;
#    `tokenmint new-client` prints the two clients (--tls-subject-dn, --self-signed-cert).
# 2. tokenmint over HTTPS ([server.tls]) with [mtls] ca_file, a tls_client_auth client (by subject
#    DN) and a self_signed_tls_client_auth client: curl --cert gets a token for each, bound to the
#    certificate (cnf.x5t#S256 = the thumbprint openssl computes), and 401 invalid_client without a
#    certificate or with the other client's; PyJWT validates each token and sees cnf; oauth4webapi
#    TlsClientAuth() over an undici Agent with the certificate (node/mtls.mjs) does the same.
# 3. examples/resource_server --tls-cert (RFC 8705 §3): a bound token is accepted over its
#    certificate and refused over another or none (401 Bearer error="invalid_token"); with
#    --client-ca it takes only certificates that chain to the CA. A token bound to a certificate and
#    a DPoP key at once needs both there; and the resource server's DPoP proof checks on details.
# 4. tokenmint without TLS behind a "proxy" ([mtls] trusted_proxies = ["127.0.0.1"]): curl with
#    the RFC 9440 header `Client-Cert: :base64 DER:` gets a bound token.
# Prints PASS/FAIL lines; exit status 1 if any check failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/interop/lib.sh
. "$HERE/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokenmint-mtls.XXXXXX")
C=$WORK/certs

# examples/resource_server --listen, stopped like the server (by PID).
RS_PID=""
stop_rs() {
  local pid=${RS_PID:-}
  [ -n "$pid" ] || return 0
  RS_PID=""
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  stop_rs
  stop_server
  if [ "${INTEROP_KEEP:-0}" = 1 ]; then echo "(kept $WORK)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need curl
need openssl
need basenc "coreutils >= 8.31"
need node "Node.js >= 20"
setup_python
setup_node

finish() {
  echo "-- mtls.sh totals: $TOTAL_PASS passed, $TOTAL_FAIL failed"
  if [ "$TOTAL_FAIL" = 0 ]; then exit 0; else exit 1; fi
}

if [ ! -x "$BIN" ] || [ ! -x "$RS_BIN" ]; then
  fail "[mtls] binaries" "$BIN or $RS_BIN missing (cargo build --release --bins --examples)"
  finish
fi

# ------------------------------------------------------------------ certificates (openssl)

# RFC 8705 §3.1, computed apart from tokenmint: base64url (unpadded) SHA-256 of the DER.
x5t() { openssl x509 -in "$1" -outform DER | openssl dgst -sha256 -binary | basenc --base64url | tr -d '=\n'; }

# make_certs: the CA, the server certificate, the two client certificates; 1 if openssl failed.
make_certs() {
  mkdir -p "$C"
  local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$C/server.ext"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$C/client.ext"
  {
    openssl req -x509 "${ec[@]}" -keyout "$C/ca.key" -out "$C/ca.pem" -days 30 -subj "/CN=tokenmint interop test-only CA" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign &&
    openssl req -new "${ec[@]}" -keyout "$C/server.key" -out "$C/server.csr" -subj /CN=localhost &&
    openssl x509 -req -in "$C/server.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial -days 30 \
      -extfile "$C/server.ext" -out "$C/server.pem" &&
    # In certificate order O, then CN: "CN=inventory,O=Example" as RFC 4514 writes it.
    openssl req -new "${ec[@]}" -keyout "$C/inventory.key" -out "$C/inventory.csr" -subj "/O=Example/CN=inventory" &&
    openssl x509 -req -in "$C/inventory.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial -days 30 \
      -extfile "$C/client.ext" -out "$C/inventory.pem" &&
    openssl req -x509 "${ec[@]}" -keyout "$C/selfsigned.key" -out "$C/selfsigned.pem" -days 30 -subj /CN=selfsigned &&
    openssl verify -CAfile "$C/ca.pem" "$C/server.pem" "$C/inventory.pem"
  } >"$C/openssl.log" 2>&1 || {
    fail "[mtls] openssl: test CA, server and client certificates" "$(tail -n 4 "$C/openssl.log" | tr '\n' ' ')"
    return 1
  }
  pass "[mtls] openssl: test CA, server certificate (SAN 127.0.0.1), client certificate CN=inventory,O=Example from the CA, self-signed client certificate" \
    "subject $(openssl x509 -in "$C/inventory.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')"
  local who
  for who in inventory selfsigned; do
    openssl x509 -in "$C/$who.pem" -outform DER -out "$C/$who.der"
  done
}

# new_clients: the two certificate clients' [[clients]] blocks, as `tokenmint new-client` prints them:
# inventory with --tls-subject-dn (the subject as openssl prints it, RFC 2253), selfsigned with
# --self-signed-cert; cryptography checks that selfsigned's inline JWK is the certificate's key.
new_clients() {
  local dn out who
  dn=$(openssl x509 -in "$C/inventory.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
  for who in inventory selfsigned; do
    local how=(--self-signed-cert "$C/selfsigned.pem")
    [ "$who" = inventory ] && how=(--tls-subject-dn "$dn")
    if ! "$BIN" new-client --id "$who" --scopes reports:read "${how[@]}" >"$C/$who.toml" 2>"$C/new-client-$who.err"; then
      fail "[mtls] tokenmint new-client ${how[*]}" "$(head -c 400 "$C/new-client-$who.err")"
      return 1
    fi
    printf 'default_scopes = ["reports:read"]\n' >>"$C/$who.toml"
  done
  out=$("$PY" - "$C" <<'PYEOF' 2>&1
import base64, sys, tomllib
from cryptography import x509
c = sys.argv[1]
inventory = tomllib.load(open(f"{c}/inventory.toml", "rb"))["clients"][0]
assert inventory["auth_methods"] == ["tls_client_auth"], inventory
assert inventory["tls_client_auth_subject_dn"] == "CN=inventory,O=Example", inventory
selfsigned = tomllib.load(open(f"{c}/selfsigned.toml", "rb"))["clients"][0]
assert selfsigned["auth_methods"] == ["self_signed_tls_client_auth"], selfsigned
[jwk] = selfsigned["jwks"]
numbers = x509.load_pem_x509_certificate(open(f"{c}/selfsigned.pem", "rb").read()).public_key().public_numbers()
b64u = lambda n: base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()
want = {"kty": "EC", "crv": "P-256", "x": b64u(numbers.x), "y": b64u(numbers.y)}
assert {k: jwk.get(k) for k in want} == want, f"jwks {jwk}, the certificate's key {want}"
assert not {"d", "p", "q"} & set(jwk), "private members"
assert "secret" not in inventory and "secret" not in selfsigned, "a secret"
print(f"tls_client_auth_subject_dn {inventory['tls_client_auth_subject_dn']}; jwks kid {jwk.get('kid')}")
PYEOF
  ) || { fail "[mtls] tokenmint new-client --tls-subject-dn / --self-signed-cert" "$out"; return 1; }
  pass "[mtls] tokenmint new-client --tls-subject-dn (openssl's RFC 2253 subject) and --self-signed-cert: blocks without secret, the certificate's public key inline (cryptography agrees)" "$out"
}

# mtls_clients: the two certificate clients, appended to a config.
mtls_clients() {
  echo
  cat "$C/inventory.toml"
  echo
  cat "$C/selfsigned.toml"
}

# ------------------------------------------------------------------ token requests (curl)

# token_req NAME URL CURL_ARGS...: POST client_credentials to URL; the answer goes to $WORK/NAME.json,
# the status to stdout.
token_req() {
  local name=$1 url=$2; shift 2
  curl -sS --max-time 10 -o "$WORK/$name.json" -w '%{http_code}' "$@" -d grant_type=client_credentials "$url" 2>"$WORK/$name.err" ||
    echo " (curl: $(head -c 200 "$WORK/$name.err"))"
}

# answer FILE: "token_type=… cnf=…" for a token response, "error=…" otherwise.
answer() {
  "$PY" - "$1" <<'PYEOF' 2>&1 || true
import base64, json, sys
body = json.load(open(sys.argv[1]))
if "access_token" not in body:
    print(f"error={body.get('error')}")
else:
    p = body["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    print(f"token_type={body.get('token_type')} cnf={json.dumps(claims.get('cnf'), sort_keys=True)}")
PYEOF
}

# expect_token LABEL NAME STATUS X5T: a 200 Bearer token bound to the certificate X5T (or to none).
expect_token() {
  local label=$1 name=$2 status=$3 want=$4 got
  got=$(answer "$WORK/$name.json")
  local cnf='null'
  [ -n "$want" ] && cnf="{\"x5t#S256\": \"$want\"}"
  if [ "$status" = 200 ] && [ "$got" = "token_type=Bearer cnf=$cnf" ]; then
    pass "$label" "cnf $cnf"
  else
    fail "$label" "HTTP $status, $got (want token_type=Bearer cnf=$cnf)"
  fi
}

# expect_refused LABEL NAME STATUS: 401 invalid_client.
expect_refused() {
  local label=$1 name=$2 status=$3 got
  got=$(answer "$WORK/$name.json")
  if [ "$status" = 401 ] && [ "$got" = "error=invalid_client" ]; then
    pass "$label" "401 invalid_client"
  else
    fail "$label" "HTTP $status, $got (want 401 invalid_client)"
  fi
}

# pyjwt_validates ISSUER TOKEN_JSON CERT: PyJWT (PyJWKClient over the test CA) validates the token;
# its cnf.x5t#S256 is the certificate's thumbprint as cryptography computes it.
pyjwt_validates() {
  "$PY" - "$1" "$C/ca.pem" "$2" "$3" "$AUD" <<'PYEOF' 2>&1
import base64, hashlib, json, ssl, sys
import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
iss, ca, answer, cert, aud = sys.argv[1:]
token = json.load(open(answer))["access_token"]
der = x509.load_pem_x509_certificate(open(cert, "rb").read()).public_bytes(Encoding.DER)
want = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
jwks = jwt.PyJWKClient(iss + "/jwks", ssl_context=ssl.create_default_context(cafile=ca))
key = jwks.get_signing_key_from_jwt(token)
claims = jwt.decode(token, key, algorithms=["ES256"], audience=aud, issuer=iss,
                    options={"require": ["exp", "iat", "iss", "aud", "sub", "cnf"]})
assert jwt.get_unverified_header(token).get("typ") == "at+jwt", "typ is not at+jwt"
assert claims["cnf"] == {"x5t#S256": want}, f"cnf {claims['cnf']}, cryptography's thumbprint {want}"
print(f"ok kid={key.key_id} cnf.x5t#S256={want}")
PYEOF
}

# ------------------------------------------------------------------ the resource server

# start_mtls_rs NAME ISSUER ARGS...: examples/resource_server --listen over HTTPS with the test server
# certificate; sets RS_URL; 1 if it never answered.
start_mtls_rs() {
  local name=$1 iss=$2 port i code; shift 2
  local extra=${*:+ $*}
  port=$(free_port)
  RS_URL=https://127.0.0.1:$port
  "$RS_BIN" --jwks "$iss/jwks" --cacert "$C/ca.pem" --issuer "$iss" --audience "$AUD" --listen "127.0.0.1:$port" \
    --tls-cert "$C/server.pem" --tls-key "$C/server.key" "$@" >"$WORK/rs-$name.log" 2>&1 &
  RS_PID=$!
  for i in $(seq 1 100); do
    if ! kill -0 "$RS_PID" 2>/dev/null; then
      wait "$RS_PID" 2>/dev/null || true
      RS_PID=""
      fail "[$name] examples/resource_server --tls-cert" "exited during startup: $(tail -n 5 "$WORK/rs-$name.log" | tr '\n' ' ')"
      return 1
    fi
    code=$(curl -s --max-time 2 --cacert "$C/ca.pem" -o /dev/null -w '%{http_code}' "$RS_URL/reports" || true)
    if [ "$code" = 401 ]; then
      pass "[$name] examples/resource_server --listen $RS_URL --tls-cert server.pem${extra//$C\//}: GET without a token 401" "after ~$((i * 2))00 ms"
      return 0
    fi
    sleep 0.2
  done
  fail "[$name] examples/resource_server --tls-cert" "GET $RS_URL/reports not 401 within 20 s: $(tail -n 5 "$WORK/rs-$name.log" | tr '\n' ' ')"
  stop_rs
  return 1
}

# rs_get NAME TOKEN_JSON CURL_ARGS...: GET /reports with the token as Bearer; the status to stdout,
# the body to $WORK/NAME.body, the headers to $WORK/NAME.headers.
rs_get() {
  local name=$1 tok; shift
  tok=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$1" 2>/dev/null || true); shift
  curl -sS --max-time 10 --cacert "$C/ca.pem" -D "$WORK/$name.headers" -o "$WORK/$name.body" -w '%{http_code}' \
    -H "Authorization: Bearer $tok" "$@" "$RS_URL/reports" 2>"$WORK/$name.err" || true
}

# rs_accepts LABEL NAME STATUS X5T: 200, and the claims the resource server saw are bound to X5T.
rs_accepts() {
  local label=$1 name=$2 status=$3 want=$4 got
  got=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["claims"].get("cnf"))' "$WORK/$name.body" 2>&1 || true)
  local cnf="None"
  [ -n "$want" ] && cnf="{'x5t#S256': '$want'}"
  if [ "$status" = 200 ] && [ "$got" = "$cnf" ]; then pass "$label" "200"
  else fail "$label" "HTTP $status, cnf $got: $(head -c 300 "$WORK/$name.body" "$WORK/$name.err" 2>/dev/null | tr '\n' ' ')"; fi
}

# rs_refuses LABEL NAME STATUS: 401 with WWW-Authenticate: Bearer error="invalid_token", error_description.
rs_refuses() {
  local label=$1 name=$2 status=$3 challenge
  challenge=$(grep -i '^www-authenticate:' "$WORK/$name.headers" 2>/dev/null | cut -d' ' -f2- | tr -d '\r' || true)
  if [ "$status" = 401 ] && [[ $challenge == 'Bearer error="invalid_token", error_description="'* ]]; then
    pass "$label" "401 WWW-Authenticate: $challenge"
  else
    fail "$label" "HTTP $status, WWW-Authenticate: $challenge"
  fi
}

# rs_checks NAME: curl at the running resource server with the tokens of the TLS run.
rs_checks() {
  local n=$1 s
  s=$(rs_get "$n-own" "$WORK/inventory-own.json" --cert "$C/inventory.pem" --key "$C/inventory.key")
  rs_accepts "[$n] inventory's token over its certificate -> 200 (the certificate of cnf.x5t#S256)" "$n-own" "$s" "$X5T_INVENTORY"
  s=$(rs_get "$n-ss-own" "$WORK/selfsigned-own.json" --cert "$C/selfsigned.pem" --key "$C/selfsigned.key")
  rs_accepts "[$n] selfsigned's token over its self-signed certificate -> 200" "$n-ss-own" "$s" "$X5T_SELFSIGNED"
  s=$(rs_get "$n-other" "$WORK/inventory-own.json" --cert "$C/selfsigned.pem" --key "$C/selfsigned.key")
  rs_refuses "[$n] inventory's token over another client certificate -> 401 invalid_token" "$n-other" "$s"
  s=$(rs_get "$n-none" "$WORK/inventory-own.json")
  rs_refuses "[$n] inventory's token without a client certificate -> 401 invalid_token" "$n-none" "$s"
  s=$(rs_get "$n-bearer" "$WORK/secret-client.json")
  rs_accepts "[$n] an unbound token without a client certificate -> 200 (the listener asks, never requires)" "$n-bearer" "$s" ""
}

# both_bound ISSUER: Python checks (requests + PyJWT) of a token bound to the self-signed
# certificate and to a DPoP key at once (cnf x5t#S256 + jkt), at the running resource server, which
# needs both; and that server's proof checks on details (RFC 9449 §4.3): a jwk with private members
# is refused; a fractional iat, typ in upper case and htu in another but equivalent spelling are not.
both_bound() {
  cat >"$WORK/both_bound.py" <<'PYEOF'
import base64, hashlib, json, secrets, sys, time
import jwt, requests
from cryptography.hazmat.primitives.asymmetric import ec

iss, rs, ca, cert, key = sys.argv[1:6]
counts = {"pass": 0, "fail": 0}
def check(name, fn):
    try:
        detail = fn()
        counts["pass"] += 1
        print(f"PASS [mtls+dpop] {name}" + (f" ({detail})" if detail else ""))
    except Exception as exc:  # noqa: BLE001 - any failure is the check's
        counts["fail"] += 1
        print(f"FAIL [mtls+dpop] {name}: {type(exc).__name__}: {exc}".replace("\n", " | ")[:900])
def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)
def finish():
    print(f"-- python mtls+dpop totals: {counts['pass']} passed, {counts['fail']} failed")
    sys.exit(1 if counts["fail"] else 0)
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()

signer = ec.generate_private_key(ec.SECP256R1())
n = signer.public_key().public_numbers()
jwk = {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}
jkt = b64u(hashlib.sha256(json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()).digest())
tls = {"verify": ca, "cert": (cert, key), "timeout": 10}
url = rs.rstrip("/") + "/reports"

def proof(htm, htu, token=None, typ="dpop+jwt", proof_jwk=None, **claims):
    body = {"jti": secrets.token_urlsafe(16), "htm": htm, "htu": htu, "iat": int(time.time())}
    if token:
        body["ath"] = b64u(hashlib.sha256(token.encode()).digest())
    body.update(claims)
    return jwt.encode(body, signer, algorithm="ES256", headers={"typ": typ, "jwk": proof_jwk or jwk})

state = {}
def token():
    res = requests.post(iss + "/oauth2/token", data={"grant_type": "client_credentials", "client_id": "selfsigned"},
                        headers={"DPoP": proof("POST", iss + "/oauth2/token")}, **tls)
    expect(res.status_code == 200, f"HTTP {res.status_code} {res.text[:200]}")
    body = res.json()
    p = body["access_token"].split(".")[1]
    cnf = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["cnf"]
    expect(body["token_type"] == "DPoP" and cnf.get("jkt") == jkt and cnf.get("x5t#S256"),
           f"token_type {body['token_type']}, cnf {cnf}")
    state["token"] = body["access_token"]
    return f"token_type DPoP, cnf {json.dumps(cnf, sort_keys=True)}"
check("requests with selfsigned.pem + a DPoP proof (PyJWT) -> a token bound to both", token)
if "token" not in state:
    finish()
tok = state["token"]

def get(scheme="DPoP", with_proof=True, with_cert=True, htu=url, **kw):
    headers = {"Authorization": f"{scheme} {tok}"}
    if with_proof:
        headers["DPoP"] = proof("GET", htu, tok, **kw)
    return requests.get(url, headers=headers, **(tls if with_cert else dict(tls, cert=None)))
def accepted(res):
    expect(res.status_code == 200, f"HTTP {res.status_code}, WWW-Authenticate {res.headers.get('WWW-Authenticate')!r}")
    return "200"
def refused(res, error):
    value = res.headers.get("WWW-Authenticate", "")
    expect(res.status_code == 401 and value.startswith(f'DPoP error="{error}"'),
           f"HTTP {res.status_code}, WWW-Authenticate {value!r}")
    return f"401 {value.split(', algs=')[0]}"

check("at examples/resource_server: a proof, over the certificate -> 200", lambda: accepted(get()))
check("a proof, without the certificate -> 401 DPoP invalid_token", lambda: refused(get(with_cert=False), "invalid_token"))
check("the certificate, the token as Bearer without a proof -> 401 DPoP invalid_token",
      lambda: refused(get("Bearer", with_proof=False), "invalid_token"))
private = dict(jwk, d=b64u(signer.private_numbers().private_value.to_bytes(32, "big")))
check("a proof whose jwk holds the private key (d) -> 401 invalid_dpop_proof",
      lambda: refused(get(proof_jwk=private), "invalid_dpop_proof"))
check("a proof with a fractional iat (RFC 7519 NumericDate) -> 200", lambda: accepted(get(iat=time.time())))
check("a proof with typ DPoP+JWT (media types are case-insensitive) -> 200", lambda: accepted(get(typ="DPoP+JWT")))
check("htu HTTPS://… with a query and a fragment -> 200",
      lambda: accepted(get(htu=url.replace("https://", "HTTPS://") + "?page=2#top")))
check("htu /%72eports (an unreserved character percent-encoded) -> 200",
      lambda: accepted(get(htu=url.replace("/reports", "/%72eports"))))
check("htu of another path -> 401 invalid_dpop_proof", lambda: refused(get(htu=url + "x"), "invalid_dpop_proof"))
finish()
PYEOF
  run_tool "[mtls+dpop] python" "$PY" "$WORK/both_bound.py" "$1" "$RS_URL" "$C/ca.pem" "$C/selfsigned.pem" "$C/selfsigned.key"
}

# ------------------------------------------------------------------ run
make_certs || finish
new_clients || finish
X5T_INVENTORY=$(x5t "$C/inventory.pem")
X5T_SELFSIGNED=$(x5t "$C/selfsigned.pem")
keygen ES256 "$WORK/server-keys" || finish

log "mTLS (RFC 8705): tokenmint over HTTPS with [mtls] ca_file, tls_client_auth and self_signed_tls_client_auth clients"
PORT=$(free_port)
ISS=https://127.0.0.1:$PORT
write_config "$WORK/mtls.toml" "$ISS" "$PORT" "$WORK/server-keys" "" "$C/server.pem" "$C/server.key"
{
  mtls_clients
  printf '\n[mtls]\nca_file = "%s"\n' "$C/ca.pem"
} >>"$WORK/mtls.toml"
if start_server mtls "$WORK/mtls.toml" "$ISS" --cacert "$C/ca.pem"; then
  TLS=(--cacert "$C/ca.pem")
  for who in inventory selfsigned; do
    other=inventory; [ "$who" = inventory ] && other=selfsigned
    want=$X5T_INVENTORY; [ "$who" = selfsigned ] && want=$X5T_SELFSIGNED
    s=$(token_req "$who-own" "$ISS/oauth2/token" "${TLS[@]}" --cert "$C/$who.pem" --key "$C/$who.key" -d client_id=$who)
    expect_token "[mtls] curl --cert $who.pem, client_id=$who -> token bound to it (cnf.x5t#S256 = openssl's thumbprint)" "$who-own" "$s" "$want"
    s=$(token_req "$who-none" "$ISS/oauth2/token" "${TLS[@]}" -d client_id=$who)
    expect_refused "[mtls] curl without a client certificate, client_id=$who" "$who-none" "$s"
    s=$(token_req "$who-other" "$ISS/oauth2/token" "${TLS[@]}" --cert "$C/$other.pem" --key "$C/$other.key" -d client_id=$who)
    expect_refused "[mtls] curl --cert $other.pem (the other client's), client_id=$who" "$who-other" "$s"
    out=$(pyjwt_validates "$ISS" "$WORK/$who-own.json" "$C/$who.pem" || true)
    if [[ $out == ok* ]]; then pass "[mtls] PyJWT (PyJWKClient, test CA) validates $who's token; cnf.x5t#S256 = cryptography's thumbprint" "${out#ok }"
    else fail "[mtls] PyJWT validates $who's token" "$(tail -n 3 <<<"$out" | tr '\n' ' ')"; fi
  done
  # Client-Cert from a peer that is no trusted proxy (none is configured here): ignored.
  s=$(token_req header-untrusted "$ISS/oauth2/token" "${TLS[@]}" -H "Client-Cert: :$(base64 -w0 "$C/inventory.der"):" -d client_id=inventory)
  expect_refused "[mtls] Client-Cert header from a peer not in trusted_proxies, no handshake certificate" header-untrusted "$s"
  s=$(token_req secret-client "$ISS/oauth2/token" "${TLS[@]}" --user "$CLIENT_ID:$CLIENT_SECRET")
  expect_token "[mtls] a client_secret_basic client without a certificate: an unbound token (the handshake asks, never requires)" secret-client "$s" ""

  log "examples/resource_server --tls-cert: certificate-bound tokens (RFC 8705 §3)"
  if start_mtls_rs rs-mtls "$ISS"; then
    rs_checks rs-mtls
    printf '{"clients": [{"id": "inventory", "cert": "%s", "key": "%s"}, {"id": "selfsigned", "cert": "%s", "key": "%s"}]}\n' \
      "$C/inventory.pem" "$C/inventory.key" "$C/selfsigned.pem" "$C/selfsigned.key" >"$WORK/clients.json"
    run_tool "[mtls] node/mtls.mjs" node "$NODE_DIR/mtls.mjs" --issuer "$ISS" --ca "$C/ca.pem" --clients "$WORK/clients.json" \
      --resource "$RS_URL" --audience "$AUD" --tag mtls
    both_bound "$ISS"
    stop_rs
  fi
  if start_mtls_rs rs-client-ca "$ISS" --client-ca "$C/ca.pem"; then
    s=$(rs_get rs-ca-own "$WORK/inventory-own.json" --cert "$C/inventory.pem" --key "$C/inventory.key")
    rs_accepts "[rs-client-ca] inventory's token over its CA-issued certificate -> 200" rs-ca-own "$s" "$X5T_INVENTORY"
    s=$(rs_get rs-ca-ss "$WORK/selfsigned-own.json" --cert "$C/selfsigned.pem" --key "$C/selfsigned.key")
    if [ "$s" = 000 ]; then pass "[rs-client-ca] a self-signed certificate, not from --client-ca, is refused in the handshake" "$(head -c 160 "$WORK/rs-ca-ss.err" | tr '\n' ' ')"
    else fail "[rs-client-ca] a self-signed certificate is refused in the handshake" "HTTP $s"; fi
    s=$(rs_get rs-ca-bearer "$WORK/secret-client.json")
    rs_accepts "[rs-client-ca] an unbound token without a client certificate -> 200" rs-ca-bearer "$s" ""
    stop_rs
  fi
  stop_server
fi

log "RFC 9440 Client-Cert from a trusted proxy: tokenmint without TLS, [mtls] trusted_proxies = [\"127.0.0.1\"]"
PORT=$(free_port)
ISS=http://127.0.0.1:$PORT
write_config "$WORK/proxied.toml" "$ISS" "$PORT" "$WORK/server-keys"
{
  mtls_clients
  printf '\n[mtls]\nca_file = "%s"\ntrusted_proxies = ["127.0.0.1"]\n' "$C/ca.pem"
} >>"$WORK/proxied.toml"
if start_server proxied "$WORK/proxied.toml" "$ISS"; then
  header() { echo "Client-Cert: :$(base64 -w0 "$C/$1.der"):"; }
  for who in inventory selfsigned; do
    want=$X5T_INVENTORY; [ "$who" = selfsigned ] && want=$X5T_SELFSIGNED
    s=$(token_req "proxied-$who" "$ISS/oauth2/token" -H "$(header "$who")" -d client_id=$who)
    expect_token "[proxied] curl -H 'Client-Cert: :base64 DER of $who.pem:', client_id=$who -> token bound to it" "proxied-$who" "$s" "$want"
  done
  s=$(token_req proxied-none "$ISS/oauth2/token" -d client_id=inventory)
  expect_refused "[proxied] no Client-Cert header, client_id=inventory" proxied-none "$s"
  s=$(token_req proxied-other "$ISS/oauth2/token" -H "$(header selfsigned)" -d client_id=inventory)
  expect_refused "[proxied] Client-Cert of the self-signed certificate, client_id=inventory" proxied-other "$s"
  stop_server
fi

finish
