#!/usr/bin/env bash
# Replica proof: three tokenmint replicas behind HAProxy under live operations.
#
#   bash tests/replicas/run.sh            (from the repo root, after `cargo build --release`)
#
# Makes (or reuses) the interop suite's pinned Python venv (tests/interop/.venv, from
# tests/interop/python/requirements.txt, with tests/interop/lib.sh's setup_python),
# installs haproxy (Debian) when missing, then runs replicas.py in a scratch directory:
# 3 replicas on 127.0.0.2-4 sharing one config file and keys directory, HAProxy on
# 127.0.0.1 (TLS passed through, round robin, health checks on /readyz), a client loop and
# two verifiers (PyJWKClient; a strict max-age cache) while it rotates the key, adds and
# removes a client, swaps the TLS certificate, sends 100 SIGHUPs and restarts every replica
# with drain. About a minute. Last line: "N passed, M failed"; exit 1 on any failure.
#
#   bash tests/replicas/run.sh --store    the shared store instead (store.py, issue #22)
#
# The same replicas and HAProxy sharing a redis-server (installed when missing, as
# haproxy is) started by the script on 127.0.0.1: one Redis, a three-master Redis
# Cluster, and rediss:// with an ACL user and a password_file, each checked for the
# replay of one assertion, 60 concurrent wrong secrets and 300 requests against a
# quota of 100; then, under 64 connections of load, Redis killed and restarted and
# then paused, with on_error = "closed" and "local" (503 with Retry-After while it
# fails, the verified client served throughout, tokenmint_store_up, the recovery time;
# no other 5xx and no 429; idle replicas served a second after a Redis restart).
# About 40 s. Same last line and exit status.
#
# Environment:
#   REPLICAS_TOKENMINT_BIN   server binary (default target/release/tokenmint)
#   REPLICAS_KEEP=1          keep the scratch dir (configs, keys, logs) for inspection
# Other arguments are passed to replicas.py: --keepalive adds a client on one kept-alive connection.
set -euo pipefail

RHERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/interop/lib.sh
. "$RHERE/../interop/lib.sh"   # sets HERE=tests/interop, VENV, PY; drops TOKENMINT_* variables
TM_BIN=${REPLICAS_TOKENMINT_BIN:-$ROOT/target/release/tokenmint}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tokenmint-replicas.XXXXXX")
PYPID=""
SCRIPT=replicas.py
if [ "${1:-}" = --store ]; then shift; SCRIPT=store.py; fi

cleanup() {
  if [ -n "$PYPID" ] && kill -0 "$PYPID" 2>/dev/null; then
    kill -TERM "$PYPID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$PYPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PYPID" 2>/dev/null || true
  fi
  # replicas.py kills its own children; this catches any it could not (killed itself).
  if [ -f "$WORK/pids" ]; then
    # only a pid still running one of our commands (its command line names $WORK)
    while read -r p; do
      [ -r "/proc/$p/cmdline" ] || continue
      if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$WORK/"; then kill -KILL "$p" 2>/dev/null || true; fi
    done <"$WORK/pids"
  fi
  if [ "${REPLICAS_KEEP:-0}" = 1 ]; then echo "(kept $WORK)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need openssl
need curl
install_missing() { # command, Debian package
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing $2"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  else
    echo "run.sh: $1 is required (apt-get install $2)" >&2; exit 2
  fi
}
install_missing haproxy haproxy
if [ "$SCRIPT" = store.py ]; then install_missing redis-server redis-server; need redis-cli; fi
setup_python
if [ ! -x "$TM_BIN" ]; then
  echo "FAIL tokenmint binary: $TM_BIN not found (cargo build --release)"
  echo "0 passed, 1 failed"
  exit 1
fi
log "$("$TM_BIN" --version), $(haproxy -v | head -n1 | cut -d' ' -f1-3), python $("$PY" -c 'import jwt, platform; print(platform.python_version(), "PyJWT", jwt.__version__)')"

start=$(date +%s)
rc=0
timeout 240 "$PY" "$RHERE/$SCRIPT" --bin "$TM_BIN" --work "$WORK" "$@" &
PYPID=$!
wait "$PYPID" || rc=$?
PYPID=""
echo "(run time $(( $(date +%s) - start )) s)"
if [ "$rc" != 0 ] && [ "${REPLICAS_KEEP:-0}" != 1 ]; then
  for f in "$WORK"/replica*.log; do echo "--- last lines of $(basename "$f")"; tail -n 15 "$f"; done
fi
exit "$rc"
