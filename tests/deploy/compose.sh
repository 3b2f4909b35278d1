#!/usr/bin/env bash
# docker-compose.yml brought up for real with podman-compose:
#   bash tests/deploy/compose.sh [BINARY]      (default target/release/tokenmint)
# token with curl → the resource server accepts it (and refuses without) →
# Prometheus's target is up and has counted the request → torn down.
# Grafana is not started: no Grafana image or package exists on this machine
# (its dashboard's queries are run against a real Prometheus by
# tests/deploy/prometheus.sh instead). The images the compose file builds are
# made here from the host binaries (lib.sh) under the names it uses, so
# podman-compose finds them and builds nothing.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
binary=${1:-target/release/tokenmint}
[[ -x target/release/examples/resource_server ]] ||
    { echo "target/release/examples/resource_server missing (cargo build --release --examples)"; exit 1; }
project=tm-compose-test-$$
base=$((20000 + RANDOM % 10000))
export TOKENMINT_PORT=$base TOKENMINT_ADMIN_PORT=$((base + 1)) RESOURCE_SERVER_PORT=$((base + 2)) PROMETHEUS_PORT=$((base + 3))
compose() { podman-compose -p "$project" -f docker-compose.yml "$@"; }

cleanup() { compose down -v >/dev/null 2>&1 || true; }
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    for s in tokenmint resource-server prometheus; do
        echo "--- $s"; podman logs "${project}_${s}_1" 2>&1 | tail -15 || true
    done
    exit 1
}
wait_for() {  # wait_for WHAT CMD...: up to 60 s
    local what=$1; shift
    for _ in $(seq 120); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
    fail "$what"
}

ensure_base_images
build_image "$binary" localhost/tokenmint:latest prebuilt
build_image "$binary" localhost/tokenmint-resource-server:latest resource-server-prebuilt
start=$(date +%s)
compose up -d tokenmint resource-server prometheus >/tmp/$project.log 2>&1 || { cat /tmp/$project.log; fail "compose up"; }
echo "ok: podman-compose up -d (tokenmint, resource-server, prometheus) in $(($(date +%s) - start)) s"

wait_for "tokenmint /readyz" curl -sf "http://127.0.0.1:$TOKENMINT_ADMIN_PORT/readyz"
token=$(curl -sf --user demo-client:demo-secret -d grant_type=client_credentials \
    "http://127.0.0.1:$TOKENMINT_PORT/oauth2/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') ||
    fail "no token from the README's curl"
echo "ok: token from curl --user demo-client:demo-secret (${#token} bytes)"

wait_for "resource server" curl -s -o /dev/null "http://127.0.0.1:$RESOURCE_SERVER_PORT/"
body=$(curl -s -w ' %{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$RESOURCE_SERVER_PORT/reports")
[[ $body == *' 200' && $body == *'"client_id":"demo-client"'* ]] || fail "resource server with the token: $body"
echo "ok: the resource server (examples/resource_server --listen) accepts it, JWKS from http://tokenmint:9443/jwks"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${token%??????}AAAAAA" "http://127.0.0.1:$RESOURCE_SERVER_PORT/reports")
[[ $code == 401 ]] || fail "a tampered token got $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RESOURCE_SERVER_PORT/reports")
[[ $code == 401 ]] || fail "no token got $code"
echo "ok: it refuses a tampered token and a request without one (401)"

prom="http://127.0.0.1:$PROMETHEUS_PORT/api/v1/query"
q() { curl -sf --get --data-urlencode "query=$1" "$prom" | python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")'; }
up_is_1() { [[ $(q 'up{job="tokenmint"}') == 1 ]]; }
wait_for "Prometheus target tokenmint up == 1" up_is_1
echo "ok: Prometheus scrapes tokenmint:9464 (up{job=\"tokenmint\"} == 1)"
counted() { [[ $(q 'sum(tokenmint_token_requests_total{client_id="demo-client",result="issued"})') == 1 ]]; }
wait_for "tokenmint_token_requests_total in Prometheus" counted
echo "ok: Prometheus shows the request (tokenmint_token_requests_total{client_id=\"demo-client\",result=\"issued\"} = 1)"
rules=$(curl -sf "http://127.0.0.1:$PROMETHEUS_PORT/api/v1/rules" | python3 -c '
import json, sys
groups = json.load(sys.stdin)["data"]["groups"]
print(sum(len(g["rules"]) for g in groups))')
[[ $rules -gt 0 ]] || fail "Prometheus loaded no alert rules from alerts.yml"
echo "ok: Prometheus loaded $rules alert rules from config/prometheus/alerts.yml"

compose down -v >/tmp/$project.log 2>&1 || { cat /tmp/$project.log; fail "compose down"; }
left=$(podman ps -a --filter "label=io.podman.compose.project=$project" -q | wc -l)
[[ $left == 0 ]] || fail "$left containers left after down"
podman volume ls -q | grep -q "^${project}_" && fail "volumes left after down -v"
rm -f /tmp/$project.log
echo "ok: podman-compose down -v removed its containers and volumes"
echo "compose: all checks passed"
