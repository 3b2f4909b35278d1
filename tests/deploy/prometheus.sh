#!/usr/bin/env bash
# The monitoring configs against a real tokenmint and a real Prometheus.
#
#   bash tests/deploy/prometheus.sh [BINARY]     (default $CARGO_TARGET_DIR/release/tokenmint,
#                                                  CARGO_TARGET_DIR defaulting to target)
#
# 1. promtool: check config/prometheus/prometheus.yml, check rules alerts.yml, and run
#    the unit tests alerts_test.yml.
# 2. Starts tokenmint from a scratch directory (its own config, an ES256 key from
#    `tokenmint keygen --now`, two clients with plain secrets, low [throttle] limits)
#    and the `prometheus` binary with its own config (scrape and evaluate every second,
#    config/prometheus/alerts.yml loaded by absolute path), both on free 127.0.0.1 ports.
# 3. A short mixed load with curl: tokens for two clients; invalid_client, invalid_scope,
#    unsupported_grant_type; failures from 127.0.0.2 (unknown ids) and 127.0.0.3 (a wrong
#    secret) until both throttle dimensions answer 429; a successful config reload, a
#    rejected one and its fix; an introspection, /jwks and discovery.
# 4. tests/deploy/promql_check.py, through Prometheus's HTTP API: the target is up and
#    tokenmint_token_requests_total moved; every template variable and every panel
#    expression of config/grafana/dashboards/tokenmint.json returns data; every alert
#    rule of alerts.yml evaluates with status success.
# Both servers are stopped (by PID) and the scratch directory removed on exit. About 30 s.
# Needs curl, python3, promtool and prometheus (Debian: apt-get install prometheus).
# PROMETHEUS_TEST_KEEP=1 keeps the scratch directory (configs, logs) for inspection.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# A relative CARGO_TARGET_DIR is relative to where this runs, as for cargo.
BIN=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/release/tokenmint}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
PROM_DIR=$ROOT/config/prometheus
DASHBOARD=$ROOT/config/grafana/dashboards/tokenmint.json
START=$SECONDS

# tokenmint reads every TOKENMINT_* variable as a config override: the config here is exactly the file.
for _v in $(compgen -e); do
  case $_v in TOKENMINT_*) echo "prometheus.sh: ignoring environment variable $_v" >&2; unset "$_v" ;; esac
done
unset _v

log() { echo "== $*"; }
die() { echo "FAIL $*" >&2; exit 1; }
for tool in curl python3 promtool prometheus; do
  command -v "$tool" >/dev/null || { echo "prometheus.sh: '$tool' is required (Debian: apt-get install prometheus curl python3)" >&2; exit 2; }
done
[ -x "$BIN" ] || { echo "prometheus.sh: $BIN not found (cargo build --release)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokenmint-prometheus.XXXXXX")
TM_PID="" PROM_PID=""

stop() { # PID: TERM, up to 5 s, then KILL
  local pid=$1 i
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  stop "$PROM_PID"; PROM_PID=""
  stop "$TM_PID"; TM_PID=""
  if [ "$rc" != 0 ] && [ -d "$WORK" ]; then
    for f in tokenmint.log prometheus.log; do
      [ -s "$WORK/$f" ] && { echo "--- last lines of $f"; tail -n 15 "$WORK/$f"; }
    done
  fi
  if [ "${PROMETHEUS_TEST_KEEP:-0}" = 1 ]; then echo "(kept $WORK)"; else rm -rf "$WORK"; fi
  echo "prometheus.sh: $([ "$rc" = 0 ] && echo passed || echo "FAILED (exit $rc)") in $((SECONDS - START)) s"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.2 s
wait_until() {
  local limit=$1 what=$2 end
  shift 2
  end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$end" ] || die "timed out after ${limit}s waiting for $what"
    sleep 0.2
  done
}

# ---------------------------------------------------------------------------
log "promtool $(promtool --version 2>&1 | head -n1 | cut -d' ' -f3)"
promtool check config "$PROM_DIR/prometheus.yml"
promtool check rules "$PROM_DIR/alerts.yml"
promtool test rules "$PROM_DIR/alerts_test.yml"

# ---------------------------------------------------------------------------
PUB=$(free_port) ADMIN=$(free_port) PROM_PORT=$(free_port)
while [ "$ADMIN" = "$PUB" ]; do ADMIN=$(free_port); done
while [ "$PROM_PORT" = "$PUB" ] || [ "$PROM_PORT" = "$ADMIN" ]; do PROM_PORT=$(free_port); done
BASE=http://127.0.0.1:$PUB
METRICS=http://127.0.0.1:$ADMIN/metrics
PROM=http://127.0.0.1:$PROM_PORT
CONFIG=$WORK/tokenmint.toml

KID=$("$BIN" keygen --alg ES256 --dir "$WORK/keys" --now 2>/dev/null | awk 'NF {last=$NF} END {print last}')
[ -n "$KID" ] || die "tokenmint keygen printed no kid"

# write_config EXTRA_SCOPE [EXTRA_LINE]: the config, replaced atomically (rename)
write_config() {
  cat >"$CONFIG.tmp" <<EOF
issuer = "$BASE"

[server]
listen = "127.0.0.1:$PUB"
admin_listen = "127.0.0.1:$ADMIN"
workers = 1

[keys]
dir = "$WORK/keys"

[tokens]
audience = ["https://api.example.com"]

[throttle]
failures_per_client = 3
failures_per_address = 6

[[clients]]
id = "svc-a"
secret = "svc-a-pass"
scopes = ["reports:read", "reports:write"]

[[clients]]
id = "svc-b"
secret = "svc-b-pass"
scopes = ["reports:read"$1]
${2:-}
EOF
  mv "$CONFIG.tmp" "$CONFIG"
}
write_config ""
"$BIN" check-config --config "$CONFIG" >/dev/null 2>&1 || die "check-config rejects the generated config"

log "tokenmint $("$BIN" --version | awk '{print $NF}') on 127.0.0.1:$PUB (admin 127.0.0.1:$ADMIN), key $KID"
RUST_LOG=info "$BIN" serve --config "$CONFIG" >"$WORK/tokenmint.log" 2>&1 &
TM_PID=$!
ready() { kill -0 "$TM_PID" && curl -sf "http://127.0.0.1:$ADMIN/readyz"; }
wait_until 15 "tokenmint /readyz" ready

cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - "$PROM_DIR/alerts.yml"
scrape_configs:
  - job_name: tokenmint
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:$ADMIN"]
EOF
log "prometheus $(prometheus --version 2>&1 | head -n1 | cut -d' ' -f3) on $PROM"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
prom_ready() { kill -0 "$PROM_PID" && curl -sf "$PROM/-/ready"; }
wait_until 30 "prometheus /-/ready" prom_ready
target_up() {
  curl -sf "$PROM/api/v1/query" --data-urlencode 'query=up{job="tokenmint"} == 1' | grep -q '"value"'
}
wait_until 20 "the tokenmint target to be up" target_up

# ---------------------------------------------------------------------------
# token CLIENT SECRET EXPECTED_STATUS [curl args...]: one token request, checked
N=0
token() {
  local id=$1 secret=$2 want=$3 got
  shift 3
  got=$(curl -s -o "$WORK/last.json" -w '%{http_code}' --user "$id:$secret" "$@" "$BASE/oauth2/token")
  N=$((N + 1))
  [ "$got" = "$want" ] || die "token request $N ($id $*) answered $got, expected $want: $(head -c 300 "$WORK/last.json")"
}
metric_at_least() { # NAME_WITH_LABELS MIN: the admin listener's value of that series is >= MIN
  curl -sf "$METRICS" | awk -v n="$1" -v min="$2" '$1 == n && $2 >= min {found=1} END {exit !found}'
}

log "load: tokens for svc-a and svc-b over several scrapes"
for round in 1 2 3; do
  token svc-a svc-a-pass 200 -d grant_type=client_credentials
  token svc-a svc-a-pass 200 -d grant_type=client_credentials -d scope=reports:write
  token svc-b svc-b-pass 200 -d grant_type=client_credentials
  token svc-b svc-b-pass 200 -d grant_type=client_credentials -d scope=reports:read
  sleep 1
done
# Each kind of request is sent in two rounds with a scrape between them: a series that is
# created by a request and never moves again has a rate of 0 (Prometheus sees no increase
# from a missing sample), and the panels should show real rates.
log "load: refused requests (invalid_client, invalid_scope, unsupported_grant_type, invalid_request), twice"
for round in 1 2; do
  token svc-a wrong-pass 401 -d grant_type=client_credentials
  token svc-a svc-a-pass 400 -d grant_type=client_credentials -d scope=admin
  token svc-b svc-b-pass 400 -d grant_type=client_credentials -d scope=reports:write
  token svc-a svc-a-pass 400 -d grant_type=password
  N=$((N + 1))
  [ "$(curl -s -o /dev/null -w '%{http_code}' -d grant_type=client_credentials "$BASE/oauth2/token")" = 401 ] \
    || die "a token request without credentials was not 401"
  sleep 1.2
done

log "load: throttling (source 127.0.0.2: unknown ids; source 127.0.0.3: svc-b with a wrong secret)"
codes2="" codes3=""
attempt() { # SOURCE ID SECRET: one token request from that source address, its status appended
  curl -s -o /dev/null -w '%{http_code} ' --interface "$1" --user "$2:$3" -d grant_type=client_credentials "$BASE/oauth2/token"
}
for i in 1 2 3; do codes2+=$(attempt 127.0.0.2 "intruder-$i" guess); done   # failures_per_address = 6
for i in 1 2; do codes3+=$(attempt 127.0.0.3 svc-b "guess-$i"); done        # failures_per_client = 3
sleep 1.2
for i in 4 5 6 7; do codes2+=$(attempt 127.0.0.2 "intruder-$i" guess); done
for i in 3 4; do codes3+=$(attempt 127.0.0.3 svc-b "guess-$i"); done
sleep 1.2
for i in 8 9; do codes2+=$(attempt 127.0.0.2 "intruder-$i" guess); done
codes3+=$(attempt 127.0.0.3 svc-b guess-5)
echo "   127.0.0.2: $codes2"
echo "   127.0.0.3: $codes3"
[ "$codes2" = "401 401 401 401 401 401 429 429 429 " ] || die "127.0.0.2: expected six 401 then 429 ($codes2)"
[ "$codes3" = "401 401 401 429 429 " ] || die "127.0.0.3: expected three 401 then 429 ($codes3)"
metric_at_least 'tokenmint_throttled_total{dimension="source"}' 3 || die "throttled_total{dimension=source} did not count 3"
metric_at_least 'tokenmint_throttled_total{dimension="client_source"}' 2 || die "throttled_total{dimension=client_source} did not count 2"

log "load: introspection, /jwks, discovery, twice"
for round in 1 2; do
  token svc-a svc-a-pass 200 -d grant_type=client_credentials
  TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$WORK/last.json")
  ACTIVE=$(curl -s --user svc-b:svc-b-pass --data-urlencode "token=$TOKEN" "$BASE/oauth2/introspect")
  case $ACTIVE in *'"active":true'*) ;; *) die "introspection did not say active: ${ACTIVE:0:200}" ;; esac
  unset TOKEN ACTIVE
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/jwks")" = 200 ] || die "/jwks was not 200"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/.well-known/oauth-authorization-server")" = 200 ] || die "discovery was not 200"
  [ "$round" = 2 ] || sleep 1.2
done

log "load: a successful reload (svc-b may ask for reports:write), a rejected one, and its fix"
write_config ', "reports:write"'
wait_until 10 'tokenmint_config_reloads_total{result="success"} >= 1' metric_at_least 'tokenmint_config_reloads_total{result="success"}' 1
token svc-b svc-b-pass 200 -d grant_type=client_credentials -d scope=reports:write
sleep 1.5  # a scrape between the reloads
write_config ', "reports:write"' 'no_such_key = true'
wait_until 10 'tokenmint_config_reloads_total{result="failure"} >= 1' metric_at_least 'tokenmint_config_reloads_total{result="failure"}' 1
token svc-b svc-b-pass 200 -d grant_type=client_credentials -d scope=reports:write  # still the last good config
sleep 1.5
write_config ', "reports:write"'
wait_until 10 'tokenmint_config_reloads_total{result="success"} >= 2' metric_at_least 'tokenmint_config_reloads_total{result="success"}' 2

log "load: more tokens after the reloads"
for round in 1 2; do
  token svc-a svc-a-pass 200 -d grant_type=client_credentials
  token svc-b svc-b-pass 200 -d grant_type=client_credentials
  sleep 1
done
echo "   $N token requests sent"

# Let Prometheus scrape the final values (scrape interval 1 s) and evaluate the rules.
sleep 3

# ---------------------------------------------------------------------------
log "PromQL through $PROM/api/v1/query"
python3 "$ROOT/tests/deploy/promql_check.py" --prometheus "$PROM" \
  --dashboard "$DASHBOARD" --alerts "$PROM_DIR/alerts.yml" \
  --instance "127.0.0.1:$ADMIN" --client-id '.*' --rate-interval 1m --range 5m
