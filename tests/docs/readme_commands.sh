#!/usr/bin/env bash
# The README's commands, run as printed against the development server.
#
#   bash tests/docs/readme_commands.sh [BIN]      # BIN: default target/release/tokenmint of this checkout
#   VERBOSE=1 bash tests/docs/readme_commands.sh  # also prints what each block printed
#
# Which blocks: every ```sh or ```bash block of README.md whose fence is preceded
# (blank lines aside) by the line `<!-- ci: run -->`, an HTML comment that GitHub does
# not show. Mark only blocks that need nothing but the development server on
# 127.0.0.1:9443 and the tools the README asks for (curl, jq); each marked block must
# work on its own, in a fresh shell.
#
# How: the tracked files of this checkout (as they are in the working tree) are copied
# into a scratch directory, as a fresh clone has them: keys/ holds no key, and the
# development config's `keys.generate_if_missing = true` makes one when the server
# starts. BIN is put on PATH as `tokenmint`, and `tokenmint serve --config
# config/tokenmint.toml` is started there with no TOKENMINT_ variable set. Each block
# runs in the scratch directory in its own `bash -e -o pipefail`, with `curl` given
# --fail-with-body so that an HTTP error answer fails the block instead of being
# printed. The last line says "N passed, N failed"; the exit status is 1 on any
# failure. The server is stopped by its PID and the scratch directory removed however
# the script ends.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/target/release/tokenmint}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
if [ ! -x "$bin" ]; then
    echo "no tokenmint binary at $bin: build it with cargo build --release, or pass its path" >&2
    exit 1
fi
for tool in curl jq; do
    if ! command -v "$tool" >/dev/null; then
        echo "the README's commands need $tool: install it (apt-get install $tool)" >&2
        exit 1
    fi
done
url=http://127.0.0.1:9443
if curl -s -o /dev/null --max-time 2 "$url/healthz"; then
    echo "something already answers on $url: stop it first (the README's commands talk to that port)" >&2
    exit 1
fi

scratch=$(mktemp -d)
server=""
cleanup() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A fresh clone: the tracked files that exist in the working tree.
clone=$scratch/clone
mkdir -p "$clone" "$scratch/bin" "$scratch/blocks"
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$root" ls-files -z | while IFS= read -r -d '' f; do
        if [ -f "$root/$f" ]; then printf '%s\0' "$f"; fi
    done | tar -C "$root" --null -T - -cf - | tar -C "$clone" -xf -
else
    cp -R "$root/README.md" "$root/config" "$root/keys" "$clone/"
    rm -f "$clone"/keys/*.pem
fi
ln -s "$bin" "$scratch/bin/tokenmint"

# The marked blocks, one file each, headed by where they are in README.md.
awk -v dir="$scratch/blocks" '
    /^<!-- ci: run -->[ \t]*$/ { mark = 1; next }
    mark && /^```(sh|bash)[ \t]*$/ {
        n++; file = sprintf("%s/%02d.sh", dir, n)
        printf "# README.md line %d\n", NR + 1 > file
        inblock = 1; mark = 0; next
    }
    inblock && /^```[ \t]*$/ { inblock = 0; close(file); next }
    inblock { print > file; next }
    NF { mark = 0 }
' "$clone/README.md"
blocks=("$scratch"/blocks/*.sh)
if [ ! -e "${blocks[0]}" ]; then
    echo "README.md has no block marked <!-- ci: run -->" >&2
    exit 1
fi

# The environment of a newcomer's shell: no TOKENMINT_ variable, tokenmint on PATH.
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^TOKENMINT_' || true)
export PATH="$scratch/bin:$PATH"

cd "$clone"
tokenmint serve --config config/tokenmint.toml >"$scratch/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
    if curl -s -o /dev/null "$url/readyz"; then break; fi
    if ! kill -0 "$server" 2>/dev/null; then
        echo "the development server exited:" >&2
        cat "$scratch/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
if ! curl -s -o /dev/null "$url/readyz"; then
    echo "the development server did not become ready within 10 s:" >&2
    cat "$scratch/server.log" >&2
    exit 1
fi

passed=0 failed=0
for block in "${blocks[@]}"; do
    where=$(head -n 1 "$block" | sed 's/^# //')
    out=$scratch/out
    if timeout 120 bash -e -o pipefail -c '
        curl() { command curl --fail-with-body --no-progress-meter "$@"; }
        source "$1"
    ' block "$block" >"$out" 2>&1; then
        passed=$((passed + 1))
        echo "ok    $where"
        if [ "${VERBOSE:-0}" = 1 ]; then awk '{ print "      > " $0 }' "$out"; fi
    else
        failed=$((failed + 1))
        echo "FAIL  $where"
        tail -n +2 "$block" | awk '{ print "      | " $0 }'
        echo "      output:"
        tail -n 20 "$out" | awk '{ print "      > " $0 }'
    fi
done
if [ "$failed" -gt 0 ]; then
    echo "server log (last 20 lines):"
    tail -n 20 "$scratch/server.log" | awk '{ print "      " $0 }'
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
