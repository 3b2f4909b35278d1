#!/usr/bin/env bash
# Instructions per token request, counted by callgrind: repeatable on a
# shared machine where wall-clock benchmarks are noisy. Starts BINARY under
# valgrind with one worker, sends N token requests over one keep-alive
# connection (and, for the baseline, 0), stops it with SIGTERM, and prints
# (Ir(N) - Ir(0)) / N.
#
#   bash benches/callgrind.sh [BINARY] [N] [ALG]
set -euo pipefail

# With TM_STORE_URL (e.g. redis://127.0.0.1:6390/0), the server uses that
# shared store, with a fresh key file (docs/deployment.md, "The shared store").
store_section() {
    [ -n "${TM_STORE_URL:-}" ] || return 0
    head -c 32 /dev/urandom >"$work/store.key"
    printf '\n[store]\nurl = "%s"\nkey_file = "%s/store.key"\n' "$TM_STORE_URL" "$work"
}
bin=$(realpath "${1:-target/release/tokenmint}")
n=${2:-1000}
alg=${3:-ES256}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
work=$(mktemp -d)
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT; [ -n "${KEEP:-}" ] && echo "kept $work"
"$bin" keygen --alg "$alg" --dir "$work/keys" >/dev/null 2>&1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/tm.toml" <<TOML
issuer = "http://127.0.0.1:$port"
[server]
listen = "127.0.0.1:$port"
workers = 1
[keys]
dir = "$work/keys"
[tokens]
audience = ["https://api.example.com"]
[[clients]]
id = "bench"
secret = "bench-secret"
scopes = ["reports:read", "reports:write"]
default_scopes = ["reports:read"]
TOML

store_section >>"$work/tm.toml"

run() {
    local count=$1 out="$work/callgrind.$1"
    RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$bin" serve --config "$work/tm.toml" >"$work/log.$count" 2>&1 &
    local pid=$!
    python3 - "$port" "$count" <<'PY'
import base64, http.client, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
for _ in range(600):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/healthz"); conn.getresponse().read(); break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("server did not start")
# With a store, wait until it is connected (both runs, so it cancels out).
store = bool(__import__("os").environ.get("TM_STORE_URL"))
for _ in range(600):
    if not store:
        break
    conn.request("GET", "/metrics")
    if b"tokenmint_store_up 1" in conn.getresponse().read():
        break
    time.sleep(0.1)
else:
    sys.exit("the store did not connect")
auth = "Basic " + base64.b64encode(b"bench:bench-secret").decode()
headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}
for _ in range(count):
    conn.request("POST", "/oauth2/token", "grant_type=client_credentials", headers)
    r = conn.getresponse(); r.read()
    if r.status != 200:
        sys.exit(f"status {r.status}")
PY
    kill -TERM "$pid"
    wait "$pid" || true
    # "summary: N" (or "totals: N") is the Ir count of the whole run.
    grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}'
}
base=$(run 0)
total=$(run "$n")
echo "binary $bin, $alg, $n requests"
echo "Ir total $total, baseline (start + stop) $base"
echo "Ir per request: $(( (total - base) / n ))"
