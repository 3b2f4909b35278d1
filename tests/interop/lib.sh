# Shared helpers for tests/interop/run.sh and tests/interop/break_demo.sh (sourced, not run).
# The caller sets `set -euo pipefail`, creates $WORK and traps EXIT to call stop_server.
# shellcheck shell=bash

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${INTEROP_TOKENMINT_BIN:-$ROOT/target/release/tokenmint}
RS_BIN=${INTEROP_RESOURCE_SERVER_BIN:-$ROOT/target/release/examples/resource_server}
# tokenmint treats every TOKENMINT_* variable as a config override (figment Env::prefixed) and
# rejects unknown keys: drop them all so the generated configs are exactly what is tested.
for _v in $(compgen -e); do
  case $_v in TOKENMINT_*) echo "interop: ignoring environment variable $_v" >&2; unset "$_v" ;; esac
done
unset _v
VENV=$HERE/.venv
PY=$VENV/bin/python
NODE_DIR=$HERE/node
AUD=https://api.example.com
CLIENT_ID=interop-client
CLIENT_SECRET=interop-secret
# A second client whose secret contains characters that RFC 6749 §2.3.1 form-urlencoding changes.
SPECIAL_ID=svc.special
SPECIAL_SECRET='s3cr3t/with+special:chars'

TOTAL_PASS=0 TOTAL_FAIL=0 TOTAL_SKIP=0
SERVER_PID=""

log() { echo "== $*"; }
pass() { TOTAL_PASS=$((TOTAL_PASS + 1)); echo "PASS $1${2:+ ($2)}"; }
fail() { TOTAL_FAIL=$((TOTAL_FAIL + 1)); echo "FAIL $1: $2"; }

stop_server() {
  local pid=${SERVER_PID:-}
  [ -n "$pid" ] || return 0
  SERVER_PID=""
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  wait "$pid" 2>/dev/null || true
}

need() { command -v "$1" >/dev/null 2>&1 || { echo "run.sh: '$1' is required but not installed${2:+ ($2)}" >&2; exit 2; }; }

setup_python() {
  local stamp=$VENV/.requirements.sha256 want
  want=$(sha256sum "$HERE/python/requirements.txt" | cut -d' ' -f1)
  if [ -x "$PY" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  [ "${INTEROP_SKIP_INSTALL:-0}" = 1 ] && [ -x "$PY" ] && return 0
  log "creating $VENV"
  if ! python3 -m venv --clear "$VENV" >/dev/null 2>&1; then
    # Debian splits venv/ensurepip into python3-venv.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv --clear "$VENV"
    else
      echo "run.sh: python3 -m venv failed (install python3-venv)" >&2; exit 2
    fi
  fi
  "$PY" -m pip install -q --disable-pip-version-check --no-input -r "$HERE/python/requirements.txt"
  echo "$want" >"$stamp"
}

setup_node() {
  local stamp=$NODE_DIR/node_modules/.lock.sha256 want
  want=$(sha256sum "$NODE_DIR/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  [ "${INTEROP_SKIP_INSTALL:-0}" = 1 ] && [ -d "$NODE_DIR/node_modules" ] && return 0
  log "npm ci in $NODE_DIR"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" >"$stamp"
}

# Install / reuse the pinned Python venv and node_modules, export PY, print versions.
setup_all() {
  need curl
  need openssl
  need node "Node.js >= 20"
  need npm

  setup_python
  setup_node
  export PY
  PYV=$("$PY" -c 'import importlib.metadata as m; print(" ".join(f"{p}=={m.version(p)}" for p in ("Authlib","joserfc","PyJWT","requests","cryptography")))')
  NODEV=$(cd "$NODE_DIR" && node -e 'for (const p of ["openid-client","oauth4webapi","jose","undici"]) process.stdout.write(p+"@"+require("./node_modules/"+p+"/package.json").version+" ")')
  log "python $("$PY" -c 'import platform; print(platform.python_version())'): $PYV"
  log "node $(node --version): $NODEV"
  log "curl: $(curl --version | head -n1 | cut -d' ' -f1-2), openssl: $(openssl version | cut -d' ' -f1-2)"
}

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# run_tool LABEL CMD...: run one checker (at most 180 s), stream its output, add its PASS/FAIL/SKIP lines
# to the totals. Its output goes through $WORK/tool.out.
run_tool() {
  local label=$1; shift
  local out=$WORK/tool.out rc=0 p f s
  timeout 180 "$@" >"$out" 2>&1 || rc=$?
  cat "$out"
  p=$(grep -c '^PASS ' "$out" || true)
  f=$(grep -c '^FAIL ' "$out" || true)
  s=$(grep -c '^SKIP ' "$out" || true)
  TOTAL_PASS=$((TOTAL_PASS + p)); TOTAL_FAIL=$((TOTAL_FAIL + f)); TOTAL_SKIP=$((TOTAL_SKIP + s))
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
    fail "$label" "exited with status $rc without reporting a failing check (crash/timeout; output above)"
  fi
}

# keygen ALG DIR: run `tokenmint keygen`, count it as a check, set KID to the printed kid
keygen() {
  local alg=$1 dir=$2 out
  mkdir -p "$dir"
  if ! out=$("$BIN" keygen --alg "$alg" --dir "$dir" 2>"$dir.err"); then
    fail "tokenmint keygen --alg $alg" "exit non-zero: $(head -c 400 "$dir.err")"
    return 1
  fi
  local n
  n=$(find "$dir" -maxdepth 1 -name '*.pem' | wc -l)
  local kid
  kid=$(printf '%s\n' "$out" | awk 'NF {last=$NF} END {print last}')
  if [ "$n" = 1 ] && [ -n "$kid" ]; then
    pass "tokenmint keygen --alg $alg" "kid=$kid"
  else
    fail "tokenmint keygen --alg $alg" "$n pem file(s) in $dir, stdout: $out"
    return 1
  fi
  KID=$kid
}

# write_config FILE ISSUER PORT KEYDIR [ACTIVE_KID] [TLS_CERT TLS_KEY]
write_config() {
  local file=$1 iss=$2 port=$3 keydir=$4 active=${5:-} cert=${6:-} key=${7:-}
  {
    echo "issuer = \"$iss\""
    echo
    echo "[server]"
    echo "listen = \"127.0.0.1:$port\""
    echo "workers = 1"
    if [ -n "$cert" ]; then
      echo
      echo "[server.tls]"
      echo "cert = \"$cert\""
      echo "key = \"$key\""
    fi
    echo
    echo "[keys]"
    echo "dir = \"$keydir\""
    [ -n "$active" ] && echo "active = \"$active\""
    cat <<EOF

[tokens]
default_ttl = 3600
max_ttl = 86400
audience = ["$AUD"]

[grants.client_credentials]
enable = true
scope_policy = "reject"

[[clients]]
id = "$CLIENT_ID"
secret = "$CLIENT_SECRET"
scopes = ["reports:read", "reports:write"]
default_scopes = ["reports:read"]

[[clients]]
id = "$SPECIAL_ID"
secret = "$SPECIAL_SECRET"
scopes = ["reports:read"]
default_scopes = ["reports:read"]
EOF
  } >"$file"
}

# start_server NAME CONFIG ISSUER [CURL_TLS_ARGS...] -> sets SERVER_PID, returns 1 if it never got healthy
start_server() {
  local name=$1 cfg=$2 iss=$3; shift 3
  local slog=$WORK/server-$name.log
  if ! "$BIN" check-config --config "$cfg" >"$WORK/check-$name.log" 2>&1; then
    fail "[$name] tokenmint check-config" "$(tail -n 5 "$WORK/check-$name.log" | tr '\n' ' ')"
    return 1
  fi
  pass "[$name] tokenmint check-config"
  "$BIN" serve --config "$cfg" >"$slog" 2>&1 &
  SERVER_PID=$!
  local i
  for i in $(seq 1 150); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      wait "$SERVER_PID" 2>/dev/null || true
      SERVER_PID=""
      fail "[$name] tokenmint serve" "exited during startup; log tail: $(tail -n 8 "$slog" | tr '\n' ' ')"
      return 1
    fi
    if [ "$(curl -s --max-time 2 "$@" -o /dev/null -w '%{http_code}' "$iss/healthz" || true)" = 200 ]; then
      pass "[$name] tokenmint serve: GET /healthz 200" "after ~$((i * 2))00 ms"
      return 0
    fi
    sleep 0.2
  done
  fail "[$name] tokenmint serve" "GET $iss/healthz not 200 within 30 s; log tail: $(tail -n 8 "$slog" | tr '\n' ' ')"
  stop_server
  return 1
}

get_token() { # ISSUER [CURL_TLS_ARGS...] -> prints access_token or nothing
  local iss=$1; shift
  curl -sS --max-time 10 "$@" --user "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials "$iss/oauth2/token" |
    "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("access_token",""))' 2>/dev/null || true
}

# ------------------------------------------------------------------ private_key_jwt client keys
# client_key ec|rsa FILE: a PKCS#8 client private key made with `openssl genpkey` (EC P-256 or
# RSA 2048); counts as a check. Sets JWK_JSON and JWK_TOML to its public JWK (no kid, no alg),
# derived with joserfc (Authlib's JOSE library) from the venv.
client_key() {
  local type=$1 file=$2 rc=0
  case $type in
    ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$file" >"$file.log" 2>&1 || rc=$? ;;
    rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$file" >"$file.log" 2>&1 || rc=$? ;;
    *) echo "client_key: unknown type $type" >&2; return 2 ;;
  esac
  if [ "$rc" != 0 ] || ! head -n1 "$file" | grep -q -- '-----BEGIN PRIVATE KEY-----'; then
    fail "openssl genpkey $type ($(basename "$file"))" "exit $rc: $(tail -n 3 "$file.log" | tr '\n' ' ')"
    return 1
  fi
  local jwk
  if ! jwk=$("$PY" - "$type" "$file" <<'PYEOF' 2>&1
import json, sys
from joserfc.jwk import ECKey, RSAKey
kind, path = sys.argv[1], sys.argv[2]
with open(path, encoding="utf-8") as f:
    key = (ECKey if kind == "ec" else RSAKey).import_key(f.read())
jwk = key.as_dict(private=False)
assert not ({"d", "p", "q", "dp", "dq", "qi"} & set(jwk)), "private members in the public JWK"
print(json.dumps(jwk, sort_keys=True))
print("{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in sorted(jwk.items())) + " }")
PYEOF
  ); then
    fail "public JWK of $(basename "$file")" "$(printf '%s' "$jwk" | tail -n 3 | tr '\n' ' ')"
    return 1
  fi
  JWK_JSON=$(sed -n 1p <<<"$jwk")
  JWK_TOML=$(sed -n 2p <<<"$jwk")
  pass "openssl genpkey $type $(basename "$file") -> public JWK" \
    "$("$PY" -c 'import json,sys; print(" ".join(k + "=" + (v if len(v) < 12 else "<%d chars>" % len(v)) for k, v in sorted(json.loads(sys.argv[1]).items())))' "$JWK_JSON")"
}

# pkjwt_client ID SCOPE jwks|jwks_file VALUE: a [[clients]] entry that authenticates with private_key_jwt only,
# its keys inline (VALUE = a TOML inline table) or in an RFC 7517 JWK Set file (VALUE = the path).
pkjwt_client() {
  local id=$1 scope=$2 how=$3 value=$4
  echo
  echo "[[clients]]"
  echo "id = \"$id\""
  echo 'auth_methods = ["private_key_jwt"]'
  echo "scopes = [\"$scope\"]"
  echo "default_scopes = [\"$scope\"]"
  if [ "$how" = jwks ]; then echo "jwks = [ $value ]"; else echo "jwks_file = \"$value\""; fi
}
