#!/usr/bin/env bash
# Token-endpoint throughput at 64 connections (wrk), for comparing builds
# and client kinds in one run:
#
#   bash benches/load.sh BINARY [plain|hashed|fast] [SECONDS] [RELOADS]
#
# Starts BINARY on a free 127.0.0.1 port with two workers and an ES256 key,
# runs `wrk -t2 -c64` for SECONDS (default 10) from a cold start, changing
# the config file and sending SIGHUP RELOADS times over the run (default 0),
# and prints one line:
# requests/s, non-200 responses, p99. Needs wrk (apt-get install wrk).
# TM_EXTRA_CLIENTS=FILE appends more [[clients]] (a large configuration).
# TM_DPOP=COUNT sends a DPoP proof with each request (benches/dpop.lua; COUNT
# proofs made first with benches/dpop_proofs.py, which needs PyJWT: run with
# the interop venv's python as TM_PYTHON, default tests/interop/.venv/bin/python).
set -euo pipefail

# With TM_STORE_URL (e.g. redis://127.0.0.1:6390/0), the server uses that
# shared store, with a fresh key file (docs/deployment.md, "The shared store").
store_section() {
    [ -n "${TM_STORE_URL:-}" ] || return 0
    head -c 32 /dev/urandom >"$work/store.key"
    printf '\n[store]\nurl = "%s"\nkey_file = "%s/store.key"\n' "$TM_STORE_URL" "$work"
}
bin=$(realpath "$1")
kind=${2:-plain}
seconds=${3:-10}
reloads=${4:-0}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" keygen --alg ES256 --dir "$work/keys" >/dev/null 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
secret=bench-secret-0123456789
case $kind in
    plain) stored="secret = \"$secret\"" ;;
    hashed) stored="secret_hash = \"$(printf %s "$secret" | "$bin" hash-secret)\"" ;;
    fast) stored="secret_hash = \"\$sha256\$$(printf %s "$secret" | openssl dgst -sha256 -binary | base64 | tr -d '=')\"" ;;
    *) echo "kind: plain, hashed or fast" >&2; exit 2 ;;
esac
cat > "$work/tm.toml" <<TOML
issuer = "http://127.0.0.1:$port"
[server]
listen = "127.0.0.1:$port"
workers = 2
[keys]
dir = "$work/keys"
[tokens]
audience = ["https://api.example.com"]
[[clients]]
id = "bench"
$stored
scopes = ["reports:read"]
default_scopes = ["reports:read"]
TOML
if [ -n "${TM_EXTRA_CLIENTS:-}" ]; then
    sed -n '/^\[\[clients\]\]/,$p' "$TM_EXTRA_CLIENTS" >>"$work/tm.toml"
fi
store_section >>"$work/tm.toml"
RUST_LOG=warn,tokenmint::reload=info "$bin" serve --config "$work/tm.toml" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break
    sleep 0.05
done
if [ -n "${TM_STORE_URL:-}" ]; then  # until the store answers
    for _ in $(seq 100); do
        curl -s "http://127.0.0.1:$port/metrics" | grep -q '^tokenmint_store_up 1' && break
        sleep 0.1
    done
fi
reloader=
if [ "$reloads" -gt 0 ]; then
    interval=$(python3 -c "print($seconds / ($reloads + 1))")
    (
        for i in $(seq "$reloads"); do
            sleep "$interval"
            # A real change (an unchanged file reloads nothing), then SIGHUP.
            echo "# reload $i" >>"$work/tm.toml"
            kill -HUP "$pid" 2>/dev/null || true
        done
    ) &
    reloader=$!
fi
script=$here/token.lua
if [ -n "${TM_DPOP:-}" ]; then
    "${TM_PYTHON:-$here/../tests/interop/.venv/bin/python}" "$here/dpop_proofs.py" \
        "http://127.0.0.1:$port/oauth2/token" "$TM_DPOP" >"$work/proofs"
    export TM_DPOP_PROOFS=$work/proofs
    script=$here/dpop.lua
    kind="$kind+dpop"
fi
out=$(TM_CLIENT=bench TM_SECRET=$secret wrk -t2 -c64 -d"${seconds}s" --latency \
    -s "$script" "http://127.0.0.1:$port/oauth2/token")
[ -n "$reloader" ] && wait "$reloader"
sleep 1
rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
non200=$(awk '/non-200 responses/ {print $3}' <<<"$out")
errors=$(awk '/Socket errors/ {print $0}' <<<"$out")
p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
reloaded=$(grep -c "configuration reloaded" "$work/log" || true)
echo "$bin $kind: ${rps} req/s, non-200 ${non200}, p99 ${p99}${errors:+, $errors}, reloads applied ${reloaded}/${reloads}"
[ -z "${TM_STORE_URL:-}" ] || python3 "$here/store_p99.py" "http://127.0.0.1:$port/metrics"
