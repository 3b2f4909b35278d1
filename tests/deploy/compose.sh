#!/usr/bin/env bash
# docker-compose.yml brought up for real with podman-compose:
#   bash tests/deploy/compose.sh [BINARY]      (default $CARGO_TARGET_DIR/release/tokenmint,
#                                               CARGO_TARGET_DIR defaulting to target)
# 1. The file itself, with the defaults and with the ports moved: every image
#    is named with its registry (podman resolves no short names: Grafana's
#    grafana/grafana failed), and the issuer tokenmint is given
#    (TOKENMINT_ISSUER) is the one the resource server checks (--issuer) and
#    is on the published TOKENMINT_PORT; redis publishes no port and tokenmint's
#    store URL names it.
# 2. Up, every port moved with the *_PORT variables: each service's container
#    is running (podman-compose's `up -d` exits 0 when one cannot be created
#    or started); a token with curl has iss = http://localhost:$TOKENMINT_PORT,
#    discovery says the same, the resource server accepts it (and refuses a
#    tampered token or none); tokenmint uses the redis service as its shared
#    store (tokenmint_store_up 1 in its /metrics, the secret check reserved in
#    it, the key file made in the keys volume, key names in Redis are HMACs);
#    Prometheus's target is up and has counted the request, its alert rules
#    are loaded.
# 3. Grafana is not started (no Grafana image or package exists on this
#    machine; its dashboard's queries run against a real Prometheus in
#    tests/deploy/prometheus.sh), but it shows that the running check is not
#    vacuous: `up -d grafana` with an image that does not exist exits 0 and
#    the check names grafana.
# 4. Nothing restarted; `down -v` and the network podman-compose 1.0.3 leaves
#    behind removed (also on failure, by the EXIT trap).
# The images the compose file builds are made here from the host binaries
# (lib.sh) under the names it uses, so podman-compose builds nothing;
# Prometheus and Redis are the Debian stand-ins, named as such, given as
# PROMETHEUS_IMAGE and REDIS_IMAGE.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
binary=${1:-$RELEASE_DIR/tokenmint}
[[ -x $RELEASE_DIR/examples/resource_server ]] ||
    { echo "$RELEASE_DIR/examples/resource_server missing (cargo build --release --examples)"; exit 1; }
project=tm-compose-test-$$
base=$((20000 + RANDOM % 10000))
export TOKENMINT_PORT=$base TOKENMINT_ADMIN_PORT=$((base + 1)) RESOURCE_SERVER_PORT=$((base + 2)) PROMETHEUS_PORT=$((base + 3))
log=$DEPLOY_SCRATCH/compose.log
compose() { podman-compose -p "$project" -f docker-compose.yml "$@"; }
project_networks() { podman network ls -q --filter "label=io.podman.compose.project=$project"; }

cleanup() {
    compose down -v >/dev/null 2>&1 || true
    # podman-compose 1.0.3's down leaves the network it made.
    for net in $(project_networks 2>/dev/null); do podman network rm -f "$net" >/dev/null 2>&1 || true; done
    deploy_cleanup
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    for s in tokenmint redis resource-server prometheus; do
        podman container exists "${project}_${s}_1" 2>/dev/null || continue
        echo "--- $s"; podman logs "${project}_${s}_1" 2>&1 | tail -15 || true
    done
    exit 1
}
wait_for() {  # wait_for WHAT CMD...: up to 60 s
    local what=$1; shift
    for _ in $(seq 120); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
    fail "$what"
}
# podman-compose's `up -d` exits 0 whatever podman said (an image it cannot
# pull, a container that cannot start): podman is asked instead.
not_running() {  # SERVICE...: each one whose container is missing, not running, or restarted
    local s state
    for s; do
        state=$(podman inspect --format '{{.State.Status}}, {{.RestartCount}} restarts' "${project}_${s}_1" 2>/dev/null) ||
            state="no container"
        [[ $state == "running, 0 restarts" ]] || echo "$s ($state)"
    done
}

# ------------------------------------------------------------ 1. the file
ensure_base_images
ensure_redis_image
# As podman-compose reads the file: its own ${VAR:-default} substitution, then
# the images, tokenmint's TOKENMINT_ISSUER, the resource server's --issuer and
# the published port of 9443, with the defaults and with this run's variables.
# podman-compose's own Python (its #! line), which has its module and yaml.
read -r -a compose_python <<<"$(sed -n '1s/^#![[:space:]]*//p' "$(command -v podman-compose)")"
static=$("${compose_python[@]}" - docker-compose.yml <<'PY'
import os, sys, yaml
from podman_compose import rec_subs
raw = yaml.safe_load(open(sys.argv[1]))
moved = {k: v for k, v in os.environ.items() if k.endswith("_PORT") or k.endswith("_IMAGE")}
for label, env in (("defaults", {}), ("moved", moved)):
    services = rec_subs(raw, env)["services"]
    for name, s in services.items():
        print("image", name, s["image"])
    tm, rs = services["tokenmint"], services["resource-server"]
    issuer = (tm.get("environment") or {}).get("TOKENMINT_ISSUER")
    checked = next((a.split("=", 1)[1] for a in rs["command"] if a.startswith("--issuer=")), None)
    port = next((p.split(":")[-2] for p in tm["ports"] if p.endswith(":9443")), None)
    print("issuer", label, issuer, checked, port)
    store = (tm.get("environment") or {}).get("TOKENMINT_STORE__URL")
    print("store", label, store, len(services["redis"].get("ports") or []), ",".join(tm.get("depends_on") or []))
PY
) || fail "docker-compose.yml: cannot read it as podman-compose does"
while read -r kind a b c d; do
    case $kind in
    image) qualified "$b" || fail "docker-compose.yml: service $a has the image $b, not named with its registry (docker.io/..., localhost/...)" ;;
    issuer)
        [[ $b == "http://localhost:$d" && $c == "$b" ]] ||
            fail "docker-compose.yml ($a): TOKENMINT_ISSUER $b, resource server --issuer $c, published port $d"
        echo "ok: docker-compose.yml ($a): issuer $b for tokenmint and the resource server, port $d published" ;;
    store)
        [[ $b == redis://redis:6379/* && $c == 0 && ,$d, == *,redis,* ]] ||
            fail "docker-compose.yml ($a): tokenmint's store is $b (depends on $d), redis publishes $c ports"
        echo "ok: docker-compose.yml ($a): tokenmint's [store] is $b, redis publishes no port" ;;
    esac
done <<<"$static"
echo "ok: every image is named with its registry: $(awk '$1 == "image" {print $3}' <<<"$static" | sort -u | tr '\n' ' ')"

# ------------------------------------------------------------ 2. up
build_image "$binary" localhost/tokenmint:latest prebuilt
build_image "$binary" localhost/tokenmint-resource-server:latest resource-server-prebuilt
start=$(date +%s)
compose up -d tokenmint redis resource-server prometheus >"$log" 2>&1 || { cat "$log"; fail "compose up"; }
echo "ok: podman-compose up -d (tokenmint, redis with $REDIS_IMAGE, resource-server, prometheus with $PROMETHEUS_IMAGE) in $(($(date +%s) - start)) s"
bad=$(not_running tokenmint redis resource-server prometheus)
[[ -z $bad ]] || { cat "$log"; fail "up -d exited 0, but not running: $bad"; }
echo "ok: all four containers are running (podman inspect, not up's exit status)"
published=$(podman port "${project}_redis_1" 2>/dev/null || true)
[[ -z $published ]] || fail "redis publishes $published"

wait_for "tokenmint /readyz" curl -sf "http://127.0.0.1:$TOKENMINT_ADMIN_PORT/readyz"
# /readyz does not wait for the store (docs/deployment.md): until tokenmint has
# reached redis, what needs the store (a quota, an assertion, a wrong secret) gets 503.
store_up() {
    [[ $(curl -sf "http://127.0.0.1:$TOKENMINT_ADMIN_PORT/metrics" | awk '$1 == "tokenmint_store_up" {print $2}') == 1 ]]
}
wait_for "tokenmint_store_up 1 in tokenmint's /metrics (the redis service reached)" store_up
token=$(curl -sf --user demo-client:demo-secret -d grant_type=client_credentials \
    "http://127.0.0.1:$TOKENMINT_PORT/oauth2/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') ||
    fail "no token from the README's curl"
echo "ok: token from curl --user demo-client:demo-secret (${#token} bytes)"

# The shared store: still connected (the gauge), used (a wrong secret reserves
# a failure in it before its check; a right one skips it), its key made in the
# keys volume.
curl -s -o /dev/null --user demo-client:not-the-secret -d grant_type=client_credentials \
    "http://127.0.0.1:$TOKENMINT_PORT/oauth2/token"
metrics=$(curl -sf "http://127.0.0.1:$TOKENMINT_ADMIN_PORT/metrics") || fail "no /metrics on the admin port"
store_up=$(awk '$1 == "tokenmint_store_up" {print $2}' <<<"$metrics")
[[ $store_up == 1 ]] || fail "tokenmint_store_up is '${store_up:-absent}' in tokenmint's /metrics, not 1"
reserved=$(awk '$1 == "tokenmint_store_operations_total{op=\"throttle\",result=\"ok\"}" {print $2}' <<<"$metrics")
[[ ${reserved:-0} -ge 1 ]] || fail "tokenmint did not use the store for the secret check (store operations: $(grep '^tokenmint_store_operations_total' <<<"$metrics" | tr '\n' ' '))"
echo "ok: tokenmint_store_up 1 in tokenmint's /metrics; a wrong secret's check went through the store ($reserved throttle operation(s) ok)"
key_bytes=$(podman exec "${project}_tokenmint_1" bash -c 'wc -c <"$TOKENMINT_STORE__KEY_FILE"; stat -c %a "$TOKENMINT_STORE__KEY_FILE"' | tr '\n' ' ') ||
    fail "no store key file in the tokenmint container"
[[ $key_bytes == "32 600 " ]] || fail "the store key file: $key_bytes(bytes, mode), expected 32 bytes, 600"
redis_keys=$(podman exec "${project}_redis_1" redis-cli --scan --pattern '*') || fail "redis-cli --scan in the redis container"
[[ -n $redis_keys ]] || fail "Redis holds no key after a token request"
grep -v -q '^tokenmint:' <<<"$redis_keys" && fail "Redis holds keys without the prefix tokenmint: $redis_keys"
grep -q -i 'demo' <<<"$redis_keys" && fail "a Redis key name shows the client id: $redis_keys"
echo "ok: the key file (32 bytes, mode 600) was made in the keys volume; Redis holds $(wc -l <<<"$redis_keys") key(s), none naming the client ($(head -1 <<<"$redis_keys"))"

# The port moved, the issuer with it: the token, discovery and the JWK Set URL.
issuer=http://localhost:$TOKENMINT_PORT
iss=$(python3 -c 'import base64, json, sys
p = sys.argv[1].split(".")[1]
print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["iss"])' "$token")
[[ $iss == "$issuer" ]] || fail "the token's iss is $iss, not $issuer (TOKENMINT_PORT=$TOKENMINT_PORT)"
discovery=$(curl -sf "http://127.0.0.1:$TOKENMINT_PORT/.well-known/oauth-authorization-server") || fail "no discovery document"
read -r d_issuer d_jwks < <(python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(d["issuer"], d["jwks_uri"])' "$discovery")
[[ $d_issuer == "$issuer" ]] || fail "discovery says issuer $d_issuer, not $issuer"
curl -sf -o /dev/null "$d_jwks" || fail "the advertised jwks_uri $d_jwks does not answer from the host"
echo "ok: with TOKENMINT_PORT=$TOKENMINT_PORT the token's iss and discovery's issuer are $issuer; jwks_uri $d_jwks answers"

wait_for "resource server" curl -s -o /dev/null "http://127.0.0.1:$RESOURCE_SERVER_PORT/"
body=$(curl -s -w ' %{http_code}' -H "Authorization: Bearer $token" "http://127.0.0.1:$RESOURCE_SERVER_PORT/reports")
[[ $body == *' 200' && $body == *'"client_id":"demo-client"'* ]] ||
    fail "the resource server refuses the token (iss $iss) with the ports moved: $body"
echo "ok: the resource server (examples/resource_server --listen, --issuer $issuer) accepts it, JWKS from http://tokenmint:9443/jwks"
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
store_up_1() { [[ $(q 'tokenmint_store_up{job="tokenmint"}') == 1 ]]; }
wait_for "tokenmint_store_up == 1 in Prometheus" store_up_1
echo "ok: Prometheus shows tokenmint_store_up 1"
rules=$(curl -sf "http://127.0.0.1:$PROMETHEUS_PORT/api/v1/rules" | python3 -c '
import json, sys
groups = json.load(sys.stdin)["data"]["groups"]
print(sum(len(g["rules"]) for g in groups))')
[[ $rules -gt 0 ]] || fail "Prometheus loaded no alert rules from alerts.yml"
echo "ok: Prometheus loaded $rules alert rules from config/prometheus/alerts.yml"

# ------------------------------------------------ 3. a service that fails to start
# Grafana's image cannot be had here; one that does not exist anywhere fails as
# a short name did under podman: no container. up -d says nothing of it.
rc=0
GRAFANA_IMAGE=localhost/tm-compose-test-absent:none compose up -d grafana >"$log" 2>&1 || rc=$?
bad=$(not_running grafana)
[[ -n $bad ]] || fail "grafana, whose image does not exist, is reported running"
echo "ok: a service that cannot start is noticed: up -d grafana (image absent) exited $rc, the check reports $bad"

# ------------------------------------------------------------ 4. still up, down
bad=$(not_running tokenmint redis resource-server prometheus)
[[ -z $bad ]] || fail "not running (or restarted) by the end: $bad"
echo "ok: tokenmint, redis, resource-server and prometheus still running, none restarted"

compose down -v >"$log" 2>&1 || { cat "$log"; fail "compose down"; }
nets=$(project_networks)
for net in $nets; do podman network rm -f "$net" >/dev/null || fail "cannot remove network $net"; done
left=$(podman ps -a --filter "label=io.podman.compose.project=$project" -q | wc -l)
[[ $left == 0 ]] || fail "$left containers left after down"
podman volume ls -q | grep -q "^${project}_" && fail "volumes left after down -v"
[[ -z $(project_networks) ]] || fail "networks left: $(project_networks | tr '\n' ' ')"
echo "ok: podman-compose down -v removed its containers and volumes; the network it left ($(echo $nets)) removed by the test"
echo "compose: all checks passed"
