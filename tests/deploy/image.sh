#!/usr/bin/env bash
# The Dockerfile's runtime stage, built here and run as users run it:
#   bash tests/deploy/image.sh [BINARY]      (default $CARGO_TARGET_DIR/release/tokenmint,
#                                             CARGO_TARGET_DIR defaulting to target)
# Checks that every FROM of the Dockerfile names its image with a registry
# (podman resolves no short names), builds the `prebuilt` stage on the
# locally made base (lib.sh, passed as RUNTIME_BASE), then checks
# that the container runs as a non-root user with a read-only root
# filesystem, answers /readyz and its HEALTHCHECK, issues a token, and that
# `keygen` inside the image writes into the keys volume (RSA too: the image
# has no openssl and needs none, since keygen makes RSA keys itself).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
binary=${1:-$RELEASE_DIR/tokenmint}
image=localhost/tokenmint-test:image
name=tm-image-test-$$
volume=tm-image-test-keys-$$
public=$((20000 + RANDOM % 10000))
admin=$((public + 1))

cleanup() {
    podman rm -f "$name" >/dev/null 2>&1 || true
    podman volume rm -f "$volume" >/dev/null 2>&1 || true
    deploy_cleanup
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    if podman container exists "$name" 2>/dev/null; then podman logs "$name" 2>&1 | tail -20 || true; fi
    exit 1
}
quiet() { grep -v 'systemd' || true; }   # podman's healthcheck timer needs systemd; say nothing of it

# The image of every FROM, the Dockerfile's global ARG defaults put in (a stage's own name is no image).
froms=$(python3 - Dockerfile <<'PY'
import re, sys
args, stages = {}, set()
expand = lambda v: re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), ""), v)
for line in open(sys.argv[1]):
    w = line.split()
    if w and w[0].upper() == "ARG" and not stages and "=" in w[1]:
        name, value = w[1].split("=", 1)
        args[name] = expand(value)
    elif w and w[0].upper() == "FROM":
        w = [x for x in w[1:] if not x.startswith("--")]
        image = expand(w[0])
        if image not in stages:
            print(image)
        if len(w) == 3 and w[1].upper() == "AS":
            stages.add(w[2])
PY
)
[[ -n $froms ]] || fail "no FROM image found in the Dockerfile"
for i in $froms; do qualified "$i" || fail "Dockerfile: FROM $i is not named with its registry (docker.io/...)"; done
echo "ok: every FROM of the Dockerfile names its registry: $(sort -u <<<"$froms" | tr '\n' ' ')"

ensure_base_images
build_image "$binary" "$image"
echo "built $image ($(podman image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"

podman run -d --name "$name" --read-only --cap-drop=ALL \
    -p "127.0.0.1:$public:9443" -p "127.0.0.1:$admin:9464" \
    -v "$ROOT/config/docker/tokenmint.toml:/etc/tokenmint/tokenmint.toml:ro" \
    -v "$volume:/etc/tokenmint/keys" "$image" 2>&1 | quiet >/dev/null

for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && break
    sleep 0.2
done
curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null || fail "/readyz did not answer 200"
echo "ok: /readyz answers 200 through the published admin port"

user=$(podman exec "$name" id -u 2>&1 | quiet)
[[ $user == 10001 ]] || fail "runs as uid $user, not 10001"
echo "ok: runs as uid $user (non-root)"
if podman exec "$name" bash -c 'touch /usr/local/bin/x' 2>/dev/null; then fail "root filesystem is writable"; fi
echo "ok: root filesystem is read-only"
podman healthcheck run "$name" 2>&1 | quiet
echo "ok: HEALTHCHECK passes"

token=$(curl -sf --user demo-client:demo-secret -d grant_type=client_credentials \
    "http://127.0.0.1:$public/oauth2/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])') ||
    fail "no token"
echo "ok: token issued (${#token} bytes)"

# stdout alone: podman relays stdout and stderr separately, in no fixed order.
out=$(podman run --rm --read-only -v "$volume:/etc/tokenmint/keys" "$image" keygen --alg EdDSA --now 2>/dev/null | quiet)
grep -Eq '^[A-Za-z0-9_-]{43}$' <<<"$out" || fail "keygen in the image printed: $out"
n=$(podman run --rm --entrypoint bash -v "$volume:/k" "$image" -c 'ls /k/*.pem | wc -l' 2>&1 | quiet)
[[ $n == 2 ]] || fail "expected 2 keys in the volume, found $n"
echo "ok: keygen --alg EdDSA inside the image wrote into the keys volume"

if podman run --rm --entrypoint bash "$image" -c 'command -v openssl' >/dev/null 2>&1; then
    fail "the image has an openssl command (the RS256 check below would not show that none is needed)"
fi
out=$(podman run --rm --read-only -v "$volume:/etc/tokenmint/keys" "$image" keygen --alg RS256 2>/dev/null | quiet) ||
    fail "keygen --alg RS256 failed in the image: $out"
grep -Eq '^[A-Za-z0-9_-]{43}$' <<<"$out" || fail "keygen --alg RS256 in the image printed: $out"
n=$(podman run --rm --entrypoint bash -v "$volume:/k" "$image" -c 'ls /k/*.pem | wc -l' 2>&1 | quiet)
[[ $n == 3 ]] || fail "expected 3 keys in the volume after RS256 keygen, found $n"
echo "ok: keygen --alg RS256 inside the image (which has no openssl) wrote into the keys volume"
echo "image: all checks passed"
