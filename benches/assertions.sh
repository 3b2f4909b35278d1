#!/usr/bin/env bash
# Token requests/s at 64 connections for clients without secrets, beside a
# secret client, in one run of one server (issue 16's figures):
#
#   bash benches/assertions.sh BINARY [SECONDS] [ROUNDS]
#
# Clients: `secret` ($sha256$ secret, Basic), `es256` and `rs256`
# (private_key_jwt, inline JWK, every assertion with its own jti: pre-signed
# by examples/sign_assertions), `workload` (federated: one platform token,
# reused as platforms' tokens are). Each round runs `wrk -t2 -c64` for
# SECONDS (default 5) per client, in that order; prints requests/s,
# non-200 responses and p99 per client and round. Needs wrk and
# `cargo build --release --examples`.
set -euo pipefail

# With TM_STORE_URL (e.g. redis://127.0.0.1:6390/0), the server uses that
# shared store, with a fresh key file (docs/deployment.md, "The shared store").
store_section() {
    [ -n "${TM_STORE_URL:-}" ] || return 0
    head -c 32 /dev/urandom >"$work/store.key"
    printf '\n[store]\nurl = "%s"\nkey_file = "%s/store.key"\n' "$TM_STORE_URL" "$work"
}
bin=$(realpath "$1")
seconds=${2:-5}
rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
signer=$root/target/release/examples/sign_assertions
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
"$bin" keygen --alg ES256 --dir "$work/keys" --now >/dev/null 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
issuer="http://127.0.0.1:$port"
# Enough assertions that none is used twice (RS256 verifies at ~40 000/s here).
per_round=$((seconds * 50000))
count=$((per_round * rounds))
start=$(date +%s)
"$signer" --alg ES256 --client es256 --aud "$issuer" --count "$count" --jwk-out "$work/es256.jwk" >"$work/es256.txt"
"$signer" --alg RS256 --rsa-key "$root/tests/fixtures/test-only-rsa-2048.pem" --client rs256 --aud "$issuer" \
    --count "$count" --jwk-out "$work/rs256.jwk" >"$work/rs256.txt"
"$signer" --alg ES256 --client "system:serviceaccount:bench:workload" --iss https://platform.example \
    --aud "$issuer" --count 1 --jwk-out "$work/platform.jwk" >"$work/workload.txt"
echo "signed $((2 * count + 1)) assertions in $(($(date +%s) - start)) s"
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
for name in ("es256", "rs256", "platform"):
    jwk = json.load(open(f"{w}/{name}.jwk"))
    open(f"{w}/{name}.toml", "w").write("{ " + ", ".join(f'{k} = {json.dumps(v)}' for k, v in jwk.items()) + " }")
    json.dump({"keys": [jwk]}, open(f"{w}/{name}.jwks.json", "w"))
PY
secret=bench-secret-0123456789
cat >"$work/tm.toml" <<TOML
issuer = "$issuer"
[server]
listen = "127.0.0.1:$port"
workers = 2
[keys]
dir = "$work/keys"
[tokens]
audience = ["https://api.example.com"]
[[trusted_issuers]]
name = "platform"
issuer = "https://platform.example"
jwks_file = "$work/platform.jwks.json"
[[clients]]
id = "secret"
secret_hash = "\$sha256\$$(printf %s "$secret" | openssl dgst -sha256 -binary | base64 | tr -d '=')"
scopes = ["reports:read"]
[[clients]]
id = "es256"
auth_methods = ["private_key_jwt"]
scopes = ["reports:read"]
jwks = [$(cat "$work/es256.toml")]
[[clients]]
id = "rs256"
auth_methods = ["private_key_jwt"]
scopes = ["reports:read"]
jwks = [$(cat "$work/rs256.toml")]
[[clients]]
id = "workload"
auth_methods = ["private_key_jwt"]
scopes = ["reports:read"]
federated = { issuer = "platform", subject = "system:serviceaccount:bench:workload" }
TOML
store_section >>"$work/tm.toml"
RUST_LOG=warn "$bin" serve --config "$work/tm.toml" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    curl -s -o /dev/null "$issuer/.well-known/jwks.json" && break
    sleep 0.05
done
if [ -n "${TM_STORE_URL:-}" ]; then  # until the store answers
    for _ in $(seq 100); do
        curl -s "$issuer/metrics" | grep -q '^tokenmint_store_up 1' && break
        sleep 0.1
    done
fi
run() {  # run LABEL WRK-ARGS...: one line
    local label=$1; shift
    local out
    out=$(wrk -t2 -c64 -d"${seconds}s" --latency "$@" "$issuer/oauth2/token")
    printf '%-9s %8s req/s  %s  p99 %s\n' "$label" \
        "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
        "$(grep -o 'non-200 responses: [0-9]*' <<<"$out")" \
        "$(awk '$1 == "99%" {print $2}' <<<"$out")"
}
for r in $(seq "$rounds"); do
    echo "round $r"
    TM_CLIENT=secret TM_SECRET=$secret run secret -s "$here/token.lua"
    for alg in es256 rs256; do
        # Each round takes its own slice of the file: no assertion twice.
        sed -n "$(((r - 1) * per_round + 1)),$((r * per_round))p" "$work/$alg.txt" >"$work/$alg.round"
        TM_ASSERTIONS=$work/$alg.round run "$alg" -s "$here/assertion.lua"
    done
    TM_ASSERTIONS=$work/workload.txt TM_REUSE=1 run workload -s "$here/assertion.lua"
done
echo "server RSS after the run: $(awk '/^VmRSS/ {print $2 / 1024 " MB"}' "/proc/$pid/status")"
[ -z "${TM_STORE_URL:-}" ] || python3 "$here/store_p99.py" "http://127.0.0.1:$port/metrics"
