# Shared by the deployment tests (tests/deploy/*.sh): podman set up as
# ../shared/notes/containers.md measured it, and the base images made locally.
#
# No registry is reachable here, so the images the Dockerfile and
# docker-compose.yml name by their public names (debian:bookworm-slim,
# prom/prometheus) are stand-ins built from Debian packages with debootstrap
# and tagged with those names. They are made once and kept in podman's store.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNTIME_BASE=docker.io/library/debian:bookworm-slim
PROMETHEUS_IMAGE=docker.io/prom/prometheus:v2.53.0
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

need_podman() {
    local need=()
    for tool in podman runc podman-compose debootstrap; do
        command -v "$tool" >/dev/null || need+=("$tool")
    done
    if ((${#need[@]})); then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    # crun fails here ("cgroups in hybrid mode not supported") and podman's
    # default rlimits fail with EPERM on setrlimit.
    if ! grep -qs 'runtime = "runc"' /etc/containers/containers.conf; then
        mkdir -p /etc/containers
        cat >/etc/containers/containers.conf <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
CONF
    fi
}

# debootstrap a minimal bookworm with PACKAGES and import it as IMAGE.
make_base() {
    local image=$1 packages=$2 rootfs
    podman image exists "$image" && return 0
    rootfs=$(mktemp -d /tmp/tm-rootfs.XXXXXX)
    echo "making $image from Debian packages (minbase ${packages})"
    debootstrap --variant=minbase ${packages:+--include="$packages"} bookworm "$rootfs" "$MIRROR" >/dev/null
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | podman import -q - "$image" >/dev/null
    rm -rf "$rootfs"
}

ensure_base_images() {
    need_podman
    # Like the public debian:bookworm-slim: no openssl, no CA bundle (tokenmint
    # carries its roots), so the tests see what users' containers have.
    make_base "$RUNTIME_BASE" ""
    if ! podman image exists "$PROMETHEUS_IMAGE"; then
        make_base localhost/tm-debian-prometheus:bookworm prometheus
        # The same entrypoint, user and paths as the public image, so that
        # docker-compose.yml runs unchanged against the stand-in.
        local ctx
        ctx=$(mktemp -d /tmp/tm-prom.XXXXXX)
        cat >"$ctx/Containerfile" <<'CF'
FROM localhost/tm-debian-prometheus:bookworm
# /bin is /usr/bin in bookworm (merged /usr): /bin/prometheus exists already.
RUN mkdir -p /prometheus /etc/prometheus && chown 65534:65534 /prometheus
USER 65534
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
CF
        podman build -q -t "$PROMETHEUS_IMAGE" "$ctx" >/dev/null
        rm -rf "$ctx"
    fi
}

# An image from the Dockerfile's stage TARGET (default `prebuilt`) with the
# binaries built on the host: the stages users build compile inside a rust
# image, which cannot be pulled here.
build_image() {
    local binary=$1 tag=$2 target=${3:-prebuilt} ctx
    ctx=$(mktemp -d /tmp/tm-image.XXXXXX)
    cp "$ROOT/Dockerfile" "$ctx/"
    mkdir -p "$ctx/target/release"
    cp "$binary" "$ctx/target/release/tokenmint"
    if [[ -f $ROOT/target/release/examples/resource_server ]]; then
        cp "$ROOT/target/release/examples/resource_server" "$ctx/target/release/"
    fi
    podman build -q --format docker --target "$target" -t "$tag" "$ctx" >/dev/null
    rm -rf "$ctx"
}
