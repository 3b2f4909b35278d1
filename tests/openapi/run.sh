#!/usr/bin/env bash
# OpenAPI conformance: docs/openapi.yaml against a real tokenmint server.
#
#   bash tests/openapi/run.sh BINARY          (from anywhere; BINARY e.g. target/release/tokenmint)
#
# Self-installing: creates tests/openapi/.venv with the pinned requirements.txt
# (schemathesis), reused while the pins are unchanged. Then:
#
#   1. starts BINARY on a free 127.0.0.1 port with a throw-away config (one
#      client with a secret; the brute-force throttle set high so that
#      generated bad credentials never turn into a storm of 429s);
#   2. schemathesis, authenticated with HTTP Basic, over every operation
#      (examples, coverage, fuzzing and stateful phases: a token it obtained
#      is introspected through the document's link);
#   3. schemathesis without credentials over the token and introspection
#      endpoints (generated, wrong or missing credentials: 401, 400);
#   4. probes.py: hand-made requests for what generation does not reach (413,
#      the Basic challenge rules, 304 for every If-None-Match form, 405 + Allow
#      on every path, 404), and, against a second server with a low throttle
#      and PBKDF2 clients, 429 with Retry-After and the 503 of too many slow
#      secret checks; every answer is validated against the document.
#
# Checks on every schemathesis response: a documented status, content type,
# headers and body schema; no 5xx but the documented 503
# temporarily_unavailable with Retry-After (schemathesis.toml lets 503 past
# not_a_server_error, and hooks.py holds it to that form); negative data
# rejected; undocumented methods 405 with Allow. Not positive_data_acceptance:
# a schema-valid form is not an acceptable request (credentials, the client's
# scopes and one authentication method per request are not schema matters).
#
# Bounded: about 30 s on 2 cores (plus about 30 s to build the venv the first
# time). Last line: "openapi: N passed, N failed" (the two schemathesis passes
# and each probe); exit status 1 on any failure.
#
# Environment:
#   OPENAPI_MAX_EXAMPLES  examples per operation, authenticated pass (default 100; the other takes half)
#   OPENAPI_SEED          schemathesis seed (default: random, printed)
#   OPENAPI_KEEP=1        keep the temp dir (configs, server logs, HAR files)
#   OPENAPI_SKIP_INSTALL=1  use the existing .venv as it is
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SCHEMA=$ROOT/docs/openapi.yaml
[ $# -eq 1 ] || { echo "usage: bash tests/openapi/run.sh BINARY" >&2; exit 2; }
BIN=$(realpath "$1" 2>/dev/null || true)
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
  echo "run.sh: $1 is not an executable (cargo build --release first)" >&2
  echo "openapi: 0 passed, 1 failed"
  exit 1
fi
MAX_EXAMPLES=${OPENAPI_MAX_EXAMPLES:-100}

# tokenmint reads every TOKENMINT_* variable as configuration: drop them so
# that the configs below are exactly what is tested.
for _v in $(compgen -e); do
  case $_v in TOKENMINT_*) unset "$_v" ;; esac
done
unset _v

VENV=$HERE/.venv
PY=$VENV/bin/python
export PYTHONDONTWRITEBYTECODE=1  # hooks.py and probes.py are imported from the work tree
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokenmint-openapi.XXXXXX")
PIDS=()
PASS=0 FAIL=0

stop_servers() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
cleanup() {
  stop_servers
  if [ "${OPENAPI_KEEP:-0}" = 1 ]; then echo "(kept $WORK)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "== $*"; }
# A step before the tests that failed: say so in the closing line too.
abort() { echo "run.sh: $*" >&2; echo "openapi: $PASS passed, $((FAIL + 1)) failed"; exit 1; }
result() { # result NAME STATUS
  if [ "$2" = 0 ]; then PASS=$((PASS + 1)); echo "PASS $1"; else FAIL=$((FAIL + 1)); echo "FAIL $1 (exit status $2)"; fi
}

# ------------------------------------------------------------------ venv

setup_python() {
  local stamp=$VENV/.requirements.sha256 want
  want=$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)
  if [ -x "$PY" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  [ "${OPENAPI_SKIP_INSTALL:-0}" = 1 ] && [ -x "$PY" ] && return 0
  log "creating $VENV"
  python3 -m venv --clear "$VENV" || return 1
  "$PY" -m pip install -q --disable-pip-version-check --no-input -r "$HERE/requirements.txt" || return 1
  echo "$want" >"$stamp"
}
setup_python || abort "could not install $HERE/requirements.txt into $VENV"
log "schemathesis $("$VENV/bin/st" --version | awk '{print $NF}'), python $("$PY" -c 'import platform; print(platform.python_version())'), $("$BIN" --version 2>/dev/null | head -n 1)"

# ------------------------------------------------------------------ servers

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_server NAME CONFIG PORT: start BIN, wait until /readyz answers 200.
start_server() {
  local name=$1 config=$2 port=$3 pid
  RUST_LOG=warn "$BIN" serve --config "$config" >"$WORK/$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 1 100); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run.sh: the $name server exited at start:" >&2; cat "$WORK/$name.log" >&2
      return 1
    fi
    if "$PY" - "$port" <<'PY' 2>/dev/null; then
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=2)
PY
      log "$name server: pid $pid, http://127.0.0.1:$port"
      return 0
    fi
    sleep 0.1
  done
  echo "run.sh: the $name server did not become ready:" >&2; cat "$WORK/$name.log" >&2
  return 1
}

"$BIN" keygen --alg ES256 --dir "$WORK/keys" >/dev/null 2>"$WORK/keygen.log" ||
  abort "keygen failed: $(cat "$WORK/keygen.log")"

# The server schemathesis runs against. The example scopes of the document
# (reports:read, reports:write) are this client's, so that its examples and
# link succeed. The throttle counts failed authentications per source: with
# the limits this high, generated bad credentials are answered 401 throughout.
FUZZ_PORT=$(free_port)
FUZZ_URL=http://127.0.0.1:$FUZZ_PORT
cat >"$WORK/fuzz.toml" <<TOML
issuer = "$FUZZ_URL"
[server]
listen = "127.0.0.1:$FUZZ_PORT"
workers = 2
[keys]
dir = "$WORK/keys"
[tokens]
audience = ["https://api.example.com"]
[throttle]
failures_per_client = 1000000
failures_per_address = 1000000
[[clients]]
id = "openapi-client"
secret = "openapi-secret"
scopes = ["reports:read", "reports:write"]
default_scopes = ["reports:read"]
audience = ["https://api.example.com", "https://reports.example.com"]
TOML

# The probes' second server: three failures per client and source, then 429;
# PBKDF2 clients, whose checks run a bounded number at a time (503 past it).
THROTTLE_PORT=$(free_port)
slow_hash=$(printf 'slow-secret' | "$BIN" hash-secret) || abort "hash-secret failed"
cat >"$WORK/throttle.toml" <<TOML
issuer = "http://127.0.0.1:$THROTTLE_PORT"
[server]
listen = "127.0.0.1:$THROTTLE_PORT"
workers = 2
[keys]
dir = "$WORK/keys"
[tokens]
audience = ["https://api.example.com"]
[throttle]
failures_per_client = 3
failures_per_address = 0
[[clients]]
id = "probe-client"
secret = "probe-secret"
[[clients]]
id = "other-client"
secret = "other-secret"
[[clients]]
id = "slow-1"
secret_hash = "$slow_hash"
[[clients]]
id = "slow-2"
secret_hash = "$slow_hash"
[[clients]]
id = "slow-3"
secret_hash = "$slow_hash"
TOML

start_server fuzz "$WORK/fuzz.toml" "$FUZZ_PORT" || abort "the fuzz server did not start"
start_server throttle "$WORK/throttle.toml" "$THROTTLE_PORT" || abort "the throttle server did not start"

# ------------------------------------------------------------------ schemathesis

# st_run NAME HAR ARGS...: one schemathesis pass, bounded in examples and time.
# One worker: concurrent workers trip a CPython 3.11 bug in hypothesis'
# lambda printing (ast.parse from two threads: "AST constructor recursion
# depth mismatch"), which schemathesis reports as an error.
st_run() {
  local name=$1 har=$2; shift 2
  local seed=() rc=0
  [ -n "${OPENAPI_SEED:-}" ] && seed=(--seed "$OPENAPI_SEED")
  log "$name"
  (
    cd "$WORK"
    PYTHONPATH=$HERE SCHEMATHESIS_HOOKS=hooks timeout 600 "$VENV/bin/st" \
      --config-file "$HERE/schemathesis.toml" run "$SCHEMA" \
      --url "$FUZZ_URL" \
      --checks all --exclude-checks positive_data_acceptance \
      --workers 1 --request-timeout 20 --generation-database none \
      --no-color --report har --report-har-path "$har" \
      "${seed[@]}" "$@"
  ) 2>&1 | tee "$har.out" || rc=$?  # pipefail: st's status, not tee's
  return "$rc"
}

set +e
st_run "schemathesis, authenticated (HTTP Basic), every operation" "$WORK/authenticated.har" \
  --auth "openapi-client:openapi-secret" --max-examples "$MAX_EXAMPLES"
result "schemathesis, authenticated" $?
# Without --auth, schemathesis generates Basic credentials (or none): 401 and
# 400 are the point here, so its "authentication failed" and "mostly rejected"
# warnings are noise.
st_run "schemathesis, without credentials, token and introspection" "$WORK/anonymous.har" \
  --include-method POST --max-examples "$(((MAX_EXAMPLES + 1) / 2))" --warnings off
result "schemathesis, without credentials" $?

# ------------------------------------------------------------------ probes

log "probes"
(cd "$WORK" && PYTHONPATH=$HERE timeout 300 "$PY" "$HERE/probes.py" \
  "$SCHEMA" "$FUZZ_URL" "http://127.0.0.1:$THROTTLE_PORT") 2>&1 | tee "$WORK/probes.out"
rc=$?
p=$(grep -c '^PASS ' "$WORK/probes.out")
f=$(grep -c '^FAIL ' "$WORK/probes.out")
PASS=$((PASS + p)) FAIL=$((FAIL + f))
if [ "$rc" != 0 ] && [ "$f" = 0 ]; then result "probes.py" "$rc"; fi
set -e

# ------------------------------------------------------------------ summary

"$PY" - "$WORK" <<'PY'
import collections, json, pathlib, re, sys
work = pathlib.Path(sys.argv[1])
for name in ("authenticated", "anonymous"):
    har, out = work / f"{name}.har", work / f"{name}.har.out"
    if not har.exists():
        continue
    entries = json.loads(har.read_text())["log"]["entries"]
    statuses = collections.Counter(e["response"]["status"] for e in entries)
    cases = re.search(r"(\d+) generated", out.read_text()) if out.exists() else None
    print(f"== {name}: {cases.group(1) if cases else '?'} test cases, {len(entries)} requests; statuses "
          + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
PY
if [ "$FAIL" != 0 ]; then
  for f in "$WORK"/*.log; do echo "--- $(basename "$f") (last lines)"; tail -n 20 "$f"; done
fi
echo "openapi: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
