#!/usr/bin/env bash
# The monitoring configs against a real tokenmint and a real Prometheus.
#
#   bash tests/deploy/prometheus.sh [BINARY]     (default $CARGO_TARGET_DIR/release/tokenmint,
#                                                  CARGO_TARGET_DIR defaulting to target)
#
# 1. promtool: check config/prometheus/prometheus.yml, check rules alerts.yml, and run
#    the unit tests alerts_test.yml.
# 2. Starts tokenmint from a scratch directory (its own config, an ES256 key from
#    `tokenmint keygen --now`, two clients with plain secrets, low [throttle] limits),
#    a second tokenmint (B) with a [store] on a redis-server of its own (on_error =
#    "local", a client with a quota), and the `prometheus` binary with its own config
#    (scrape both and evaluate every second, config/prometheus/alerts.yml loaded by
#    absolute path), all on free 127.0.0.1 ports. A has no store so that its throttle
#    counts are exact: the store's windows are wall-clock minutes, A's start with it.
# 3. A short mixed load with curl: tokens for two clients; invalid_client, invalid_scope,
#    unsupported_grant_type; failures from 127.0.0.2 (unknown ids) and 127.0.0.3 (a wrong
#    secret) until both throttle dimensions answer 429; a successful config reload, a
#    rejected one and its fix; an introspection, /jwks and discovery. On B: tokenmint_store_up
#    is 1, the quota client is refused with 429 once its quota is spent, then redis-server
#    is paused (SIGSTOP) so that store operations fail and fall back, and resumed (SIGCONT):
#    tokenmint_store_up goes 0 and back to 1.
# 4. tests/deploy/promql_check.py, through Prometheus's HTTP API: the target is up and
#    tokenmint_token_requests_total moved; every template variable and every panel
#    expression of config/grafana/dashboards/tokenmint.json returns data (the "Shared
#    store" row's from B); every alert rule of alerts.yml evaluates with status success.
# Every server is stopped (by PID) and the scratch directory removed on exit. About 40 s.
# Needs curl, python3, promtool, prometheus and redis-server (Debian: apt-get install
# prometheus redis-server).
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
for tool in curl python3 promtool prometheus redis-server; do
  command -v "$tool" >/dev/null || { echo "prometheus.sh: '$tool' is required (Debian: apt-get install prometheus redis-server curl python3)" >&2; exit 2; }
done
[ -x "$BIN" ] || { echo "prometheus.sh: $BIN not found (cargo build --release)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokenmint-prometheus.XXXXXX")
TM_PID="" PROM_PID="" TMB_PID="" REDIS_PID=""

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
  stop "$TMB_PID"; TMB_PID=""
  [ -z "$REDIS_PID" ] || kill -CONT "$REDIS_PID" 2>/dev/null || true   # paused by the test?
  stop "$REDIS_PID"; REDIS_PID=""
  if [ "$rc" != 0 ] && [ -d "$WORK" ]; then
    for f in tokenmint.log tokenmint-b.log redis.log prometheus.log; do
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
# Six distinct free ports: A's public and admin, Prometheus, B's public and admin, Redis.
PORTS=()
while [ "${#PORTS[@]}" -lt 6 ]; do
  p=$(free_port)
  case " ${PORTS[*]} " in *" $p "*) ;; *) PORTS+=("$p") ;; esac
done
PUB=${PORTS[0]} ADMIN=${PORTS[1]} PROM_PORT=${PORTS[2]} PUB_B=${PORTS[3]} ADMIN_B=${PORTS[4]} REDIS_PORT=${PORTS[5]}
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

# B: a [store] on a redis-server of this test (no persistence, loopback only),
# on_error = "local" so that a paused store shows as fallbacks, and a client
# with a quota (the store counts it).
log "redis-server $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p') on 127.0.0.1:$REDIS_PORT"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$WORK" \
  >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
head -c 32 /dev/urandom >"$WORK/store-hash.key"
BASE_B=http://127.0.0.1:$PUB_B
METRICS_B=http://127.0.0.1:$ADMIN_B/metrics
CONFIG_B=$WORK/tokenmint-b.toml
cat >"$CONFIG_B" <<EOF
issuer = "$BASE_B"

[server]
listen = "127.0.0.1:$PUB_B"
admin_listen = "127.0.0.1:$ADMIN_B"
workers = 1

[keys]
dir = "$WORK/keys"

[tokens]
audience = ["https://api.example.com"]

[store]
url = "redis://127.0.0.1:$REDIS_PORT/0"
key_file = "$WORK/store-hash.key"
on_error = "local"

[[clients]]
id = "quota-c"
secret = "quota-c-pass"
scopes = ["reports:read"]
quota = { per_hour = 3 }
EOF
redis_ready() { kill -0 "$REDIS_PID" && (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG); }
wait_until 10 "redis-server to answer PING" redis_ready
"$BIN" check-config --config "$CONFIG_B" >"$WORK/check-b.out" 2>&1 || die "check-config rejects B's config: $(cat "$WORK/check-b.out")"
log "tokenmint B on 127.0.0.1:$PUB_B (admin 127.0.0.1:$ADMIN_B) with [store] redis://127.0.0.1:$REDIS_PORT/0"
RUST_LOG=info "$BIN" serve --config "$CONFIG_B" >"$WORK/tokenmint-b.log" 2>&1 &
TMB_PID=$!
ready_b() { kill -0 "$TMB_PID" && curl -sf "http://127.0.0.1:$ADMIN_B/readyz"; }
wait_until 15 "tokenmint B /readyz" ready_b

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
      - targets: ["127.0.0.1:$ADMIN", "127.0.0.1:$ADMIN_B"]
EOF
log "prometheus $(prometheus --version 2>&1 | head -n1 | cut -d' ' -f3) on $PROM"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
prom_ready() { kill -0 "$PROM_PID" && curl -sf "$PROM/-/ready"; }
wait_until 30 "prometheus /-/ready" prom_ready
target_up() {
  curl -sf "$PROM/api/v1/query" --data-urlencode 'query=count(up{job="tokenmint"} == 1) == 2' | grep -q '"value"'
}
wait_until 20 "both tokenmint targets to be up" target_up

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
metric_at_least() { # NAME_WITH_LABELS MIN [METRICS_URL]: that series's value there (default A's) is >= MIN
  curl -sf "${3:-$METRICS}" | awk -v n="$1" -v min="$2" '$1 == n && $2 >= min {found=1} END {exit !found}'
}
metric_is() { # NAME_WITH_LABELS VALUE METRICS_URL
  curl -sf "$3" | awk -v n="$1" -v want="$2" '$1 == n && $2 == want {found=1} END {exit !found}'
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

log "load on B (shared store): the quota client until its quota is spent, twice"
metric_is tokenmint_store_up 1 "$METRICS_B" || wait_until 10 "tokenmint_store_up 1 on B" metric_is tokenmint_store_up 1 "$METRICS_B"
curl -sf "$METRICS" | grep -q '^tokenmint_store_up' && die "A, without a [store], exports tokenmint_store_up"
token_b() { # EXPECTED_STATUS: one token request for quota-c on B
  local got
  got=$(curl -s -o "$WORK/last.json" -w '%{http_code}' --user quota-c:quota-c-pass -d grant_type=client_credentials "$BASE_B/oauth2/token")
  N=$((N + 1))
  [ "$got" = "$1" ] || die "token request $N (quota-c on B) answered $got, expected $1: $(head -c 300 "$WORK/last.json")"
}
# per_hour = 3, in the UTC hour: three tokens, then 429 (unless this crosses the hour).
token_b 200; token_b 200; token_b 200; token_b 429
sleep 1.2
token_b 429
metric_at_least 'tokenmint_quota_exceeded_total{client_id="quota-c"}' 2 "$METRICS_B" || die "B did not count 2 quota refusals"
metric_at_least 'tokenmint_store_operations_total{op="quota",result="ok"}' 5 "$METRICS_B" || die "B did not count 5 quota operations on the store"
sleep 1.2

log "load on B: redis-server paused (SIGSTOP): store operations fail within timeout_ms and fall back, twice"
kill -STOP "$REDIS_PID"
for round in 1 2; do
  token_b 429   # the quota, decided by B's own count (on_error = "local")
  token_b 429
  [ "$round" = 2 ] || sleep 1.2
done
metric_is tokenmint_store_up 0 "$METRICS_B" || die "tokenmint_store_up is not 0 on B with the store paused"
metric_at_least 'tokenmint_store_fallbacks_total{op="quota"}' 4 "$METRICS_B" || die "B did not count 4 quota fallbacks"
metric_at_least 'tokenmint_store_operations_total{op="quota",result="error"}' 4 "$METRICS_B" || die "B did not count 4 failed store operations"
sleep 1.2  # a scrape with the store down
kill -CONT "$REDIS_PID"
store_back() { # one more request (the gauge moves with operations), then the gauge
  curl -s -o /dev/null --user quota-c:quota-c-pass -d grant_type=client_credentials "$BASE_B/oauth2/token"
  N=$((N + 1))
  metric_is tokenmint_store_up 1 "$METRICS_B"
}
wait_until 10 "tokenmint_store_up 1 on B after SIGCONT" store_back
echo "   B: quota refused on the store, 4 fallbacks while it was paused, tokenmint_store_up back to 1"
echo "   $N token requests sent"

# Let Prometheus scrape the final values (scrape interval 1 s) and evaluate the rules.
sleep 3

# ---------------------------------------------------------------------------
log "PromQL through $PROM/api/v1/query"
python3 "$ROOT/tests/deploy/promql_check.py" --prometheus "$PROM" \
  --dashboard "$DASHBOARD" --alerts "$PROM_DIR/alerts.yml" \
  --instance "127.0.0.1:($ADMIN|$ADMIN_B)" --client-id '.*' --rate-interval 1m --range 5m
