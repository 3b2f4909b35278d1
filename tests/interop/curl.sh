#!/usr/bin/env bash
# curl interop checks for tokenmint, in the shapes WSO2-style documentation uses.
# Run by run.sh against one running server:
#   bash curl.sh --issuer URL [--insecure] [--cacert PEM] [--extended] [--special-id ID --special-secret S] [--tag T]
# Prints "PASS <name>" / "FAIL <name>: <why>" / "NOTE <text>"; exits 1 if any check failed.
# JSON is asserted with python (no jq needed): $PY (default python3).
set -euo pipefail

ISS="" TAG="" EXTENDED=0 SPECIAL_ID="" SPECIAL_SECRET=""
CURL_TLS=()
ID=interop-client SECRET=interop-secret AUD=https://api.example.com
while [ $# -gt 0 ]; do
  case "$1" in
    --issuer) ISS=$2; shift 2 ;;
    --insecure) CURL_TLS=(-k); shift ;;
    --cacert) CURL_TLS=(--cacert "$2"); shift 2 ;;
    --extended) EXTENDED=1; shift ;;
    --special-id) SPECIAL_ID=$2; shift 2 ;;
    --special-secret) SPECIAL_SECRET=$2; shift 2 ;;
    --tag) TAG="[$2] "; shift 2 ;;
    *) echo "curl.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$ISS" ] || { echo "curl.sh: --issuer required" >&2; exit 2; }
PY=${PY:-python3}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tokenmint-curl.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
NPASS=0 NFAIL=0

pass() { NPASS=$((NPASS + 1)); echo "PASS ${TAG}$1${2:+ ($2)}"; }
fail() { NFAIL=$((NFAIL + 1)); echo "FAIL ${TAG}$1: $2"; }

# Run curl; body -> $TMP/body, headers -> $TMP/headers, status -> $STATUS.
# The curl command line is the documentation shape plus -sS, -o, -D, -w and bounded timeouts.
call() {
  : >"$TMP/body"; : >"$TMP/headers"
  STATUS=$(curl -sS --max-time 10 "${CURL_TLS[@]}" -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' "$@" 2>"$TMP/err") || STATUS="curl-error:$(tr '\n' ' ' <"$TMP/err")"
}

# py_assert EXPR: EXPR is evaluated with j = parsed body, h = dict of lower-cased
# response headers, c = decoded JWT claims of j["access_token"] (if any), hd = its header.
# Prints the failure reason on stdout and returns 1 when EXPR is false or raises.
py_assert() {
  "$PY" - "$TMP/body" "$TMP/headers" "$1" <<'EOF'
import base64, json, sys
body, headers, expr = open(sys.argv[1]).read(), open(sys.argv[2]).read(), sys.argv[3]
h = {}
for line in headers.splitlines():
    if ":" in line:
        k, v = line.split(":", 1)
        h[k.strip().lower()] = v.strip()
try:
    j = json.loads(body)
except ValueError:
    print(f"body is not JSON: {body[:300]!r}"); sys.exit(1)
def seg(s):
    return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
c = hd = {}
if isinstance(j, dict) and isinstance(j.get("access_token"), str) and j["access_token"].count(".") == 2:
    p = j["access_token"].split(".")
    hd, c = seg(p[0]), seg(p[1])
try:
    ok = eval(expr, {"j": j, "h": h, "c": c, "hd": hd, "set": set})
except Exception as e:
    print(f"{type(e).__name__}: {e}; body={body[:300]}"); sys.exit(1)
if not ok:
    print(f"assertion false: {expr}; body={body[:400]}; cache-control={h.get('cache-control')!r}"); sys.exit(1)
EOF
}

# expect NAME WANT_STATUS PY_EXPR -- (after call)
expect() {
  local name=$1 want=$2 expr=$3 why
  if [ "$STATUS" != "$want" ]; then
    fail "$name" "HTTP $STATUS (want $want); body: $(head -c 400 "$TMP/body")"
    return 0
  fi
  if why=$(py_assert "$expr"); then pass "$name" "HTTP $STATUS"; else fail "$name" "$why"; fi
}

OK_TOKEN='j["token_type"].lower()=="bearer" and j["access_token"].startswith("eyJ") and isinstance(j["expires_in"], int) and h.get("content-type","").startswith("application/json") and hd.get("typ")=="at+jwt" and c.get("iss")==ISS and c.get("aud")==AUD and c.get("client_id")==CID'
OK_TOKEN=${OK_TOKEN//ISS/\"$ISS\"}
OK_TOKEN=${OK_TOKEN//AUD/\"$AUD\"}
OK_TOKEN=${OK_TOKEN//CID/\"$ID\"}

for EP in /oauth2/token /token; do
  # WSO2 docs: curl -u / --user id:secret -d grant_type=client_credentials URL
  call --user "$ID:$SECRET" -d grant_type=client_credentials "$ISS$EP"
  expect "curl --user id:secret -d grant_type=client_credentials $EP" 200 \
    "$OK_TOKEN and j['expires_in']==3600 and j.get('scope')=='reports:read'"

  # Pre-encoded header: -H "Authorization: Basic $(printf 'id:secret' | base64)"
  call -H "Authorization: Basic $(printf '%s' "$ID:$SECRET" | base64)" -d grant_type=client_credentials "$ISS$EP"
  expect "curl -H 'Authorization: Basic \$(printf id:secret | base64)' $EP" 200 "$OK_TOKEN"
done

call --user "$ID:$SECRET" -d "grant_type=client_credentials&scope=reports:write" "$ISS/oauth2/token"
expect "curl -d 'grant_type=client_credentials&scope=reports:write'" 200 \
  "$OK_TOKEN and j.get('scope')=='reports:write' and c.get('scope')=='reports:write'"

call --user "$ID:$SECRET" -d "grant_type=client_credentials&scope=reports:read reports:write" "$ISS/token"
expect "curl -d 'scope=reports:read reports:write' (space-delimited, RFC 6749 §3.3)" 200 \
  "$OK_TOKEN and set(j.get('scope','').split())=={'reports:read','reports:write'}"

call --user "$ID:$SECRET" -d "grant_type=client_credentials&validity_period=3200" "$ISS/oauth2/token"
expect "curl -d 'grant_type=client_credentials&validity_period=3200'" 200 \
  "$OK_TOKEN and j['expires_in']==3200 and c['exp']-c['iat']==3200"

# client_secret_post (RFC 6749 §2.3.1 body parameters)
call -d grant_type=client_credentials -d "client_id=$ID" -d "client_secret=$SECRET" "$ISS/oauth2/token"
expect "curl client_secret_post (-d client_id -d client_secret)" 200 "$OK_TOKEN"

# RFC 6749 §5.1: token responses MUST carry Cache-Control: no-store
call --user "$ID:$SECRET" -d grant_type=client_credentials "$ISS/oauth2/token"
expect "token response Cache-Control: no-store (RFC 6749 §5.1)" 200 \
  "'no-store' in h.get('cache-control','')"
if [ "$EXTENDED" = 1 ] && ! grep -qi '^pragma: *no-cache' "$TMP/headers"; then
  echo "NOTE ${TAG}token response has no 'Pragma: no-cache' (RFC 6749 §5.1 MUST; dropped by OAuth 2.1 draft)"
fi

# JWKS at both paths
call "$ISS/jwks"
expect "curl GET /jwks" 200 \
  "isinstance(j.get('keys'), list) and len(j['keys'])>0 and all(k.get('use')=='sig' and k.get('kid') and k.get('alg') and k.get('kty') and 'd' not in k for k in j['keys'])"
cp "$TMP/body" "$TMP/jwks1"
call "$ISS/.well-known/jwks.json"
if [ "$STATUS" = 200 ] && cmp -s "$TMP/body" "$TMP/jwks1"; then
  pass "curl GET /.well-known/jwks.json == /jwks"
else
  fail "curl GET /.well-known/jwks.json == /jwks" "HTTP $STATUS, body differs or error: $(head -c 200 "$TMP/body")"
fi

for WK in oauth-authorization-server openid-configuration; do
  call "$ISS/.well-known/$WK"
  expect "curl GET /.well-known/$WK" 200 \
    "j.get('issuer')=='$ISS' and j.get('token_endpoint')=='$ISS/oauth2/token' and j.get('jwks_uri')=='$ISS/jwks' and h.get('content-type','').startswith('application/json')"
done

if [ "$EXTENDED" = 1 ]; then
  # RFC 6749 §5.2: failed Basic auth -> 401 invalid_client + WWW-Authenticate
  call --user "$ID:wrong" -d grant_type=client_credentials "$ISS/oauth2/token"
  expect "wrong secret (Basic) -> 401 invalid_client + WWW-Authenticate (RFC 6749 §5.2)" 401 \
    "j.get('error')=='invalid_client' and h.get('www-authenticate','').lower().startswith('basic')"
  call -d grant_type=client_credentials -d "client_id=$ID" -d client_secret=wrong "$ISS/oauth2/token"
  expect "wrong secret (post) -> 401 invalid_client" 401 "j.get('error')=='invalid_client'"
  call -d grant_type=client_credentials "$ISS/oauth2/token"
  expect "no client authentication -> 401 invalid_client" 401 "j.get('error')=='invalid_client'"
  call --user "$ID:$SECRET" -d "grant_type=password&username=u&password=p" "$ISS/oauth2/token"
  expect "grant_type=password -> 400 unsupported_grant_type" 400 "j.get('error')=='unsupported_grant_type'"
  call --user "$ID:$SECRET" -d "grant_type=client_credentials&scope=reports:admin" "$ISS/oauth2/token"
  expect "unregistered scope -> 400 invalid_scope (scope_policy=reject)" 400 \
    "j.get('error')=='invalid_scope' and 'no-store' in h.get('cache-control','')"
  call --user "$ID:$SECRET" -d "grant_type=client_credentials&validity_period=999999" "$ISS/oauth2/token"
  if [ "$STATUS" = 200 ]; then
    expect "validity_period above max_ttl is capped at 86400" 200 "j['expires_in']<=86400 and c['exp']-c['iat']<=86400"
  else
    expect "validity_period above max_ttl -> 400 invalid_request" 400 "j.get('error')=='invalid_request'"
  fi
  call --user "$ID:$SECRET" -d "grant_type=client_credentials&audience=https://other.example" "$ISS/oauth2/token"
  expect "audience not allowed for the client -> 400 invalid_target (RFC 8707 §2)" 400 "j.get('error')=='invalid_target'"
  call --user "$ID:$SECRET" -d "grant_type=client_credentials&resource=$AUD" "$ISS/oauth2/token"
  expect "resource=$AUD (RFC 8707) -> aud" 200 "$OK_TOKEN"
  # Method other than POST on the token endpoint
  call "$ISS/oauth2/token"
  if [ "$STATUS" = 405 ] || [ "$STATUS" = 400 ]; then pass "GET /oauth2/token rejected" "HTTP $STATUS"; else fail "GET /oauth2/token rejected" "HTTP $STATUS"; fi

  if [ -n "$SPECIAL_ID" ]; then
    # RFC 6749 §2.3.1: form-urlencode id and secret, THEN base64 -> server must decode.
    enc=$("$PY" -c 'import sys,urllib.parse as u; print(u.quote_plus(sys.argv[1], safe="")+":"+u.quote_plus(sys.argv[2], safe=""))' "$SPECIAL_ID" "$SPECIAL_SECRET")
    call -H "Authorization: Basic $(printf '%s' "$enc" | base64 -w0)" -d grant_type=client_credentials "$ISS/oauth2/token"
    expect "Basic with form-urlencoded reserved-char secret (RFC 6749 §2.3.1)" 200 "j['access_token'].startswith('eyJ')"
    call --data-urlencode grant_type=client_credentials --data-urlencode "client_id=$SPECIAL_ID" --data-urlencode "client_secret=$SPECIAL_SECRET" "$ISS/oauth2/token"
    expect "client_secret_post with reserved-char secret (--data-urlencode)" 200 "j['access_token'].startswith('eyJ')"
    # curl --user does not form-urlencode; tokenmint falls back to the raw value.
    call --user "$SPECIAL_ID:$SPECIAL_SECRET" -d grant_type=client_credentials "$ISS/oauth2/token"
    expect "curl --user with the raw (un-encoded) reserved-char secret (raw fallback)" 200 "j['access_token'].startswith('eyJ')"
  fi
fi

echo "-- curl totals: $NPASS passed, $NFAIL failed"
[ "$NFAIL" = 0 ]
