#!/usr/bin/env bash
# tokenmint interop suite: proves third-party clients and validators accept tokenmint.
#
#   bash tests/interop/run.sh            (from the repo root, after `cargo build --release --bins --examples`:
#                                         --examples alone does not rebuild the tokenmint binary)
#
# Self-installing: creates tests/interop/.venv (pinned python/requirements.txt) and
# tests/interop/node/node_modules (npm ci from the committed package-lock.json); both are
# reused while their pins are unchanged.
#
# For each algorithm (ES256 ES384 EdDSA RS256 PS256) it runs `tokenmint keygen`, writes a
# config on a free 127.0.0.1 port, starts `tokenmint serve`, and runs the curl, Python
# (authlib + PyJWT), Node (openid-client + jose) and Rust (examples/resource_server) checks.
# Then one multi-key run (all five keys published, one active), one HTTPS run, and one
# private_key_jwt run (RFC 7523 §2.2): client keys made with openssl, their public JWKs inline and
# in a jwks_file; authlib PrivateKeyJWT and openid-client PrivateKeyJwt get tokens that validate,
# and are refused (401 invalid_client) when the configured JWK is another key.
# Then one DPoP run (RFC 9449): requests-oauth2client and oauth4webapi get DPoP-bound tokens
# (cnf.jkt) for a require_dpop client and use them at examples/resource_server --listen, which
# also refuses hand-made bad proofs; then the same against a server with [dpop] require_nonce.
# Then the mTLS run (RFC 8705, tests/interop/mtls.sh): certificates made with openssl, tokenmint
# over HTTPS with tls_client_auth and self_signed_tls_client_auth clients; curl --cert, PyJWT and
# oauth4webapi TlsClientAuth() over an undici Agent get certificate-bound tokens (cnf.x5t#S256)
# that examples/resource_server --tls-cert accepts over that certificate only; then the RFC 9440
# Client-Cert header from a trusted proxy.
# Last line: "N passed, N failed" (checks); exit status 1 if anything failed.
#
# Environment:
#   INTEROP_TOKENMINT_BIN        server binary (default target/release/tokenmint)
#   INTEROP_RESOURCE_SERVER_BIN  Rust example  (default target/release/examples/resource_server)
#   INTEROP_ALGS         algorithms to run (default "ES256 ES384 EdDSA RS256 PS256")
#   INTEROP_KEEP=1       keep the temp dir (configs, keys, server logs) for inspection
#   INTEROP_SKIP_INSTALL=1  use the existing .venv / node_modules as they are
# Every TOKENMINT_* variable is removed from the environment first: tokenmint reads them as
# configuration overrides (and rejects unknown ones), so they would change the configs under test.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/interop/lib.sh
. "$HERE/lib.sh"
read -r -a ALGS <<<"${INTEROP_ALGS:-ES256 ES384 EdDSA RS256 PS256}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokenmint-interop.XXXXXX")

# The DPoP run's examples/resource_server --listen, stopped like the server (by PID).
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

setup_all


if [ ! -x "$BIN" ]; then
  fail "tokenmint binary" "$BIN not found (run cargo build --release --bins --examples first)"
  echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
  exit 1
fi


# ------------------------------------------------------------------ helpers

# Rust example resource server: valid token accepted, tampered/wrong-audience token rejected.
rust_checks() {
  local name=$1 iss=$2
  if [ ! -x "$RS_BIN" ]; then
    fail "[$name] rust examples/resource_server" "$RS_BIN missing (cargo build --release --examples)"
    return 0
  fi
  local tok out rc
  tok=$(get_token "$iss")
  if [ -z "$tok" ]; then fail "[$name] rust examples/resource_server" "could not obtain a token with curl"; return 0; fi
  rc=0; out=$(timeout 30 "$RS_BIN" --jwks "$iss/jwks" --issuer "$iss" --audience "$AUD" "$tok" 2>&1) || rc=$?
  if [ "$rc" = 0 ] && grep -q -- "$CLIENT_ID" <<<"$out"; then
    pass "[$name] rust examples/resource_server accepts token"
  else
    fail "[$name] rust examples/resource_server accepts token" "exit $rc: $(printf '%s' "$out" | head -c 400 | tr '\n' ' ')"
  fi
  rc=0; out=$(timeout 30 "$RS_BIN" --jwks "$iss/jwks" --issuer "$iss" --audience "$AUD" --require-scope reports:write "$tok" 2>&1) || rc=$?
  if [ "$rc" != 0 ]; then pass "[$name] rust examples/resource_server rejects missing scope (token has reports:read only)" "exit $rc"
  else fail "[$name] rust examples/resource_server rejects missing scope" "exit 0: $(printf '%s' "$out" | head -c 200)"; fi
  rc=0; out=$(timeout 30 "$RS_BIN" --jwks "$iss/jwks" --issuer "$iss" --audience "https://other.example" "$tok" 2>&1) || rc=$?
  if [ "$rc" != 0 ]; then pass "[$name] rust examples/resource_server rejects wrong audience" "exit $rc"
  else fail "[$name] rust examples/resource_server rejects wrong audience" "exit 0: $(printf '%s' "$out" | head -c 200)"; fi
  local tampered
  tampered=$("$PY" - "$tok" <<'EOF'
import base64, json, sys
h, p, s = sys.argv[1].split(".")
claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
claims["scope"] = "reports:read reports:write admin"
print(h + "." + base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode() + "." + s)
EOF
)
  rc=0; out=$(timeout 30 "$RS_BIN" --jwks "$iss/jwks" --issuer "$iss" --audience "$AUD" "$tampered" 2>&1) || rc=$?
  if [ "$rc" != 0 ]; then pass "[$name] rust examples/resource_server rejects tampered payload" "exit $rc"
  else fail "[$name] rust examples/resource_server rejects tampered payload" "exit 0: $(printf '%s' "$out" | head -c 200)"; fi
}

# ------------------------------------------------------------------ per-algorithm runs
FIRST=1
declare -A KIDS=()
for ALG in "${ALGS[@]}"; do
  log "algorithm $ALG"
  KID=""
  keygen "$ALG" "$WORK/keys-$ALG" || continue
  KIDS[$ALG]=$KID
  PORT=$(free_port)
  ISS=http://127.0.0.1:$PORT
  write_config "$WORK/$ALG.toml" "$ISS" "$PORT" "$WORK/keys-$ALG"
  start_server "$ALG" "$WORK/$ALG.toml" "$ISS" || continue
  EXT=()
  if [ "$FIRST" = 1 ]; then EXT=(--extended --special-id "$SPECIAL_ID" --special-secret "$SPECIAL_SECRET"); FIRST=0; fi
  run_tool "[$ALG] curl.sh" bash "$HERE/curl.sh" --issuer "$ISS" --tag "$ALG" "${EXT[@]}"
  run_tool "[$ALG] python/interop.py" "$PY" "$HERE/python/interop.py" --issuer "$ISS" --alg "$ALG" --kid="$KID" \
    --audience "$AUD" --tag "$ALG" "${EXT[@]}"
  run_tool "[$ALG] node/interop.mjs" node "$NODE_DIR/interop.mjs" --issuer "$ISS" --alg "$ALG" --kid="$KID" \
    --audience "$AUD" --tag "$ALG" "${EXT[@]}"
  rust_checks "$ALG" "$ISS"
  stop_server
done

# ------------------------------------------------------------------ multi-key run (key selection by kid)
if [ "${#KIDS[@]}" -ge 2 ]; then
  log "multi-key: ${#KIDS[@]} keys published, one active"
  MK=$WORK/keys-multi
  mkdir -p "$MK"
  for ALG in "${!KIDS[@]}"; do cp "$WORK/keys-$ALG"/*.pem "$MK/"; done
  # Prefer a non-first algorithm as active so "first key in the set" would be wrong.
  ACTIVE_ALG=""
  for ALG in ES384 PS256 EdDSA RS256 ES256; do [ -n "${KIDS[$ALG]:-}" ] && { ACTIVE_ALG=$ALG; break; }; done
  PORT=$(free_port)
  ISS=http://127.0.0.1:$PORT
  write_config "$WORK/multi.toml" "$ISS" "$PORT" "$MK" "${KIDS[$ACTIVE_ALG]}"
  if start_server multi "$WORK/multi.toml" "$ISS"; then
    out=$(curl -sS --max-time 10 "$ISS/jwks" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["keys"]))' 2>&1 || true)
    if [ "$out" = "${#KIDS[@]}" ]; then pass "[multi] /jwks publishes all ${#KIDS[@]} keys"
    else fail "[multi] /jwks publishes all ${#KIDS[@]} keys" "got: $out"; fi
    run_tool "[multi] python/interop.py" "$PY" "$HERE/python/interop.py" --issuer "$ISS" --alg "$ACTIVE_ALG" \
      --kid="${KIDS[$ACTIVE_ALG]}" --audience "$AUD" --tag "multi:$ACTIVE_ALG"
    run_tool "[multi] node/interop.mjs" node "$NODE_DIR/interop.mjs" --issuer "$ISS" --alg "$ACTIVE_ALG" \
      --kid="${KIDS[$ACTIVE_ALG]}" --audience "$AUD" --tag "multi:$ACTIVE_ALG"
    rust_checks "multi:$ACTIVE_ALG" "$ISS"
    stop_server
  fi
fi

# ------------------------------------------------------------------ HTTPS run
log "https (self-signed, ES256)"
TLS=$WORK/tls
mkdir -p "$TLS"
if openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TLS/key.pem" -out "$TLS/cert.pem" \
     -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >"$TLS/openssl.log" 2>&1; then
  HK=$WORK/keys-https
  if KID="" && keygen ES256 "$HK"; then
    PORT=$(free_port)
    ISS=https://127.0.0.1:$PORT
    write_config "$WORK/https.toml" "$ISS" "$PORT" "$HK" "" "$TLS/cert.pem" "$TLS/key.pem"
    if start_server https "$WORK/https.toml" "$ISS" -k; then
      run_tool "[https] curl.sh -k" bash "$HERE/curl.sh" --issuer "$ISS" --insecure --tag "https -k"
      run_tool "[https] curl.sh --cacert" bash "$HERE/curl.sh" --issuer "$ISS" --cacert "$TLS/cert.pem" --tag "https --cacert"
      http_status=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz" || true)
      if [ "$http_status" != 200 ]; then pass "[https] plain http to the TLS port is not served" "HTTP '$http_status'"
      else fail "[https] plain http to the TLS port is not served" "plain http got 200"; fi
      run_tool "[https] python/interop.py" "$PY" "$HERE/python/interop.py" --issuer "$ISS" --alg ES256 --kid="$KID" \
        --audience "$AUD" --cacert "$TLS/cert.pem" --tag https
      run_tool "[https] node/interop.mjs" env NODE_EXTRA_CA_CERTS="$TLS/cert.pem" node "$NODE_DIR/interop.mjs" \
        --issuer "$ISS" --alg ES256 --kid="$KID" --audience "$AUD" --https-strict --tag https
      stop_server
    fi
  fi
else
  fail "[https] openssl self-signed certificate" "$(tail -n 3 "$TLS/openssl.log" | tr '\n' ' ')"
fi

# ------------------------------------------------------------------ private_key_jwt run (RFC 7523 §2.2)
log "private_key_jwt (client keys from openssl: ES256 P-256 with inline jwks, RS256 RSA 2048 with jwks_file)"
PK=$WORK/pkjwt
mkdir -p "$PK"
if KID="" && keygen ES256 "$PK/server-keys" &&
   client_key ec "$PK/es256.pem" && ES_JWK=$JWK_TOML &&
   client_key rsa "$PK/rs256.pem" && RS_JWK=$JWK_JSON &&
   client_key ec "$PK/es256-other.pem" && ES_OTHER_JWK=$JWK_TOML &&
   client_key rsa "$PK/rs256-other.pem" && RS_OTHER_JWK=$JWK_JSON; then
  PORT=$(free_port)
  ISS=http://127.0.0.1:$PORT
  printf '{"keys": [%s]}\n' "$RS_JWK" >"$PK/rs256.jwks.json"
  printf '{"keys": [%s]}\n' "$RS_OTHER_JWK" >"$PK/rs256-other.jwks.json"
  write_config "$WORK/pkjwt.toml" "$ISS" "$PORT" "$PK/server-keys"
  {
    pkjwt_client pkjwt-es256 reports:read jwks "$ES_JWK"
    pkjwt_client pkjwt-rs256 reports:read jwks_file "$PK/rs256.jwks.json"
    # Negative: these sign with the two keys above but are configured with other keys of the same type.
    pkjwt_client pkjwt-es256-wrong-key reports:read jwks "$ES_OTHER_JWK"
    pkjwt_client pkjwt-rs256-wrong-key reports:read jwks_file "$PK/rs256-other.jwks.json"
  } >>"$WORK/pkjwt.toml"
  cat >"$PK/clients.json" <<EOF
{"clients": [
  {"id": "pkjwt-es256", "alg": "ES256", "key": "$PK/es256.pem", "jwks": "inline", "expect": "ok", "alias": true},
  {"id": "pkjwt-rs256", "alg": "RS256", "key": "$PK/rs256.pem", "jwks": "file", "expect": "ok"},
  {"id": "pkjwt-es256-wrong-key", "alg": "ES256", "key": "$PK/es256.pem", "jwks": "inline", "expect": "invalid_client"},
  {"id": "pkjwt-rs256-wrong-key", "alg": "RS256", "key": "$PK/rs256.pem", "jwks": "file", "expect": "invalid_client"}
]}
EOF
  if start_server pkjwt "$WORK/pkjwt.toml" "$ISS"; then
    run_tool "[pkjwt] python/interop.py" "$PY" "$HERE/python/interop.py" --issuer "$ISS" --alg ES256 --kid="$KID" \
      --audience "$AUD" --tag pkjwt --private-key-jwt "$PK/clients.json"
    run_tool "[pkjwt] node/interop.mjs" node "$NODE_DIR/interop.mjs" --issuer "$ISS" --alg ES256 --kid="$KID" \
      --audience "$AUD" --tag pkjwt --private-key-jwt "$PK/clients.json"
    # What the server counted for the requests above (python: pkjwt-es256 at /oauth2/token and at /token,
    # pkjwt-rs256 once; node: once each; every wrong-key client once per library), wrong keys as bad signatures.
    out=$(curl -sS --max-time 10 "$ISS/metrics" | "$PY" -c '
import re, sys
want = {
    ("tokenmint_token_requests_total", "client_id=\"pkjwt-es256\",result=\"issued\""): 3,
    ("tokenmint_token_requests_total", "client_id=\"pkjwt-rs256\",result=\"issued\""): 2,
    ("tokenmint_token_requests_total", "client_id=\"pkjwt-es256-wrong-key\",result=\"invalid_client\""): 2,
    ("tokenmint_token_requests_total", "client_id=\"pkjwt-rs256-wrong-key\",result=\"invalid_client\""): 2,
    ("tokenmint_auth_failures_total", "reason=\"bad_signature\""): 4,
}
norm = lambda labels: ",".join(sorted(labels.split(",")))
got = {}
for line in sys.stdin:
    m = re.match(r"^(\w+)\{([^}]*)\} (\S+)$", line.strip())
    if m:
        got[(m.group(1), norm(m.group(2)))] = float(m.group(3))
want = {(name, norm(labels)): n for (name, labels), n in want.items()}
bad = [f"{k[0]}{{{k[1]}}} = {got.get(k, 0):g}, want {n}" for k, n in want.items() if got.get(k, 0) != n]
others = [f"{k[1]}={v:g}" for k, v in got.items() if k[0] == "tokenmint_auth_failures_total" and v and k not in want]
if others:
    bad.append("other failure reasons counted: " + ", ".join(others))
print("; ".join(bad) if bad else "ok")
' 2>&1 || true)
    if [ "$out" = ok ]; then
      pass "[pkjwt] /metrics: issued and refused requests counted per client, the wrong keys as reason=bad_signature"
    else
      fail "[pkjwt] /metrics: issued and refused requests counted per client" "$out"
    fi
    stop_server
  fi
fi

# ------------------------------------------------------------------ DPoP run (RFC 9449)
DPOP_ID=dpop-client
DPOP_SECRET=dpop-secret

# start_rs NAME ISSUER: examples/resource_server in API mode on a free port, trusting ISSUER;
# sets RS_PID and RS_URL (its --public-url, the htu base of proofs), returns 1 if it never answered.
start_rs() {
  local name=$1 iss=$2 port i code
  if [ ! -x "$RS_BIN" ]; then
    fail "[$name] examples/resource_server --listen" "$RS_BIN missing (cargo build --release --examples)"
    return 1
  fi
  port=$(free_port)
  RS_URL=http://127.0.0.1:$port
  "$RS_BIN" --jwks "$iss/jwks" --issuer "$iss" --audience "$AUD" --listen "127.0.0.1:$port" \
    --public-url "$RS_URL" >"$WORK/rs-$name.log" 2>&1 &
  RS_PID=$!
  for i in $(seq 1 100); do
    if ! kill -0 "$RS_PID" 2>/dev/null; then
      wait "$RS_PID" 2>/dev/null || true
      RS_PID=""
      fail "[$name] examples/resource_server --listen" "exited during startup: $(tail -n 5 "$WORK/rs-$name.log" | tr '\n' ' ')"
      return 1
    fi
    code=$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$RS_URL/reports" || true)
    if [ "$code" = 401 ]; then
      pass "[$name] examples/resource_server --listen $RS_URL: GET without a token 401" "after ~$((i * 2))00 ms"
      return 0
    fi
    sleep 0.2
  done
  fail "[$name] examples/resource_server --listen" "GET $RS_URL/reports not 401 within 20 s: $(tail -n 5 "$WORK/rs-$name.log" | tr '\n' ' ')"
  stop_rs
  return 1
}

# dpop_checks NAME ISSUER [--nonce]: both checkers against the running server and resource server.
dpop_checks() {
  local name=$1 iss=$2; shift 2
  run_tool "[$name] python/dpop.py" "$PY" "$HERE/python/dpop.py" --issuer "$iss" --resource "$RS_URL" --alg ES256 \
    --audience "$AUD" --client-id "$DPOP_ID" --client-secret "$DPOP_SECRET" --tag "$name" "$@"
  run_tool "[$name] node/dpop.mjs" node "$NODE_DIR/dpop.mjs" --issuer "$iss" --resource "$RS_URL" --alg ES256 \
    --audience "$AUD" --client-id "$DPOP_ID" --client-secret "$DPOP_SECRET" --tag "$name" "$@"
}

# dpop_metric ISSUER RESULT: tokenmint_token_requests_total of the DPoP client for RESULT.
dpop_metric() {
  curl -sS --max-time 10 "$1/metrics" | "$PY" -c '
import re, sys
want = sys.argv[1]
n = 0
for line in sys.stdin:
    m = re.match(r"^tokenmint_token_requests_total\{([^}]*)\} (\S+)$", line.strip())
    if m and sorted(m.group(1).split(",")) == sorted([f"client_id=\"{sys.argv[2]}\"", f"result=\"{want}\""]):
        n = float(m.group(2))
print(f"{n:g}")
' "$2" "$DPOP_ID" 2>&1 || true
}

log "DPoP (RFC 9449): requests-oauth2client and oauth4webapi, bound tokens used at examples/resource_server --listen"
DP=$WORK/dpop
mkdir -p "$DP"
if KID="" && keygen ES256 "$DP/server-keys"; then
  dpop_client() {
    echo
    echo "[[clients]]"
    echo "id = \"$DPOP_ID\""
    echo "secret = \"$DPOP_SECRET\""
    echo 'scopes = ["reports:read"]'
    echo 'default_scopes = ["reports:read"]'
    echo "require_dpop = true"
  }
  PORT=$(free_port)
  ISS=http://127.0.0.1:$PORT
  write_config "$WORK/dpop.toml" "$ISS" "$PORT" "$DP/server-keys"
  dpop_client >>"$WORK/dpop.toml"
  if start_server dpop "$WORK/dpop.toml" "$ISS"; then
    if start_rs dpop "$ISS"; then
      dpop_checks dpop "$ISS"
      stop_rs
    fi
    stop_server
  fi

  log "DPoP with server nonces ([dpop] require_nonce = true)"
  head -c 32 /dev/urandom >"$DP/nonce.key"
  PORT=$(free_port)
  ISS=http://127.0.0.1:$PORT
  write_config "$WORK/dpop-nonce.toml" "$ISS" "$PORT" "$DP/server-keys"
  {
    dpop_client
    echo
    echo "[dpop]"
    echo "require_nonce = true"
    echo "nonce_secret_file = \"$DP/nonce.key\""
  } >>"$WORK/dpop-nonce.toml"
  if start_server dpop-nonce "$WORK/dpop-nonce.toml" "$ISS"; then
    if start_rs dpop-nonce "$ISS"; then
      dpop_checks dpop-nonce "$ISS" --nonce
      stop_rs
    fi
    # Each library's first token request was answered use_dpop_nonce, and nothing else was refused.
    out="$(dpop_metric "$ISS" use_dpop_nonce) $(dpop_metric "$ISS" invalid_dpop_proof)"
    if [ "$out" = "2 0" ]; then
      pass "[dpop-nonce] /metrics: use_dpop_nonce counted twice for $DPOP_ID (one per library), invalid_dpop_proof 0"
    else
      fail "[dpop-nonce] /metrics: use_dpop_nonce twice, invalid_dpop_proof 0" "got use_dpop_nonce, invalid_dpop_proof = $out"
    fi
    stop_server
  fi
fi

# ------------------------------------------------------------------ mTLS run (RFC 8705, RFC 9440)
log "mTLS (RFC 8705) and the RFC 9440 Client-Cert header: tests/interop/mtls.sh"
run_tool "[mtls] mtls.sh" bash "$HERE/mtls.sh"

echo
[ "$TOTAL_SKIP" -gt 0 ] && echo "($TOTAL_SKIP check(s) skipped, see SKIP lines above)"
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" = 0 ]
