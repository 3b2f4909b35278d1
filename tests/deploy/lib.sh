# Shared by the deployment tests (tests/deploy/*.sh): podman set up as
# measured to work on the project's 2-core machines (runc,
# lowered ulimits), and the base images made locally.
#
# No registry is reachable here, so the base images that the Dockerfile and
# docker-compose.yml name (docker.io/library/debian:bookworm-slim,
# docker.io/prom/prometheus, docker.io/library/redis) are replaced by stand-ins
# built from Debian packages with debootstrap. The stand-ins are named for what
# they are (localhost/debian-minbase:bookworm, localhost/prometheus:debian-<version>,
# localhost/redis:debian-<version>), never with a public name they are not, and
# are handed over explicitly: the runtime base as the Dockerfile's RUNTIME_BASE
# build argument, Prometheus and Redis as docker-compose.yml's PROMETHEUS_IMAGE
# and REDIS_IMAGE variables. They are made once and kept in podman's store.
#
# podman's settings for these tests live in a file of the test's own
# (CONTAINERS_CONF, in a scratch directory removed by deploy_cleanup): nothing
# under /etc/containers is written.
#
# The host binaries come from $CARGO_TARGET_DIR/release (default
# target/release), as cargo put them.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# cargo resolves a relative CARGO_TARGET_DIR against the directory it runs in.
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$PWD/$TARGET_DIR
RELEASE_DIR=$TARGET_DIR/release
RUNTIME_BASE=localhost/debian-minbase:bookworm
PROMETHEUS_BASE=localhost/debian-minbase-prometheus:bookworm
PROMETHEUS_REPO=localhost/prometheus         # tagged debian-<major.minor> of the packaged binary
PROMETHEUS_IMAGE=                            # set by ensure_base_images
REDIS_BASE=localhost/debian-minbase-redis:bookworm
REDIS_REPO=localhost/redis                   # tagged debian-<major.minor> of the packaged redis-server
REDIS_IMAGE=                                 # set by ensure_redis_image
STAND_IN_LABEL=org.tokenmint.tests.base   # says what a locally made base is (images built on it inherit it)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEPLOY_SCRATCH=$(mktemp -d /tmp/tm-deploy.XXXXXX)
export CONTAINERS_CONF=$DEPLOY_SCRATCH/containers.conf

# Removes what lib.sh made for this run: call it last in the test's own cleanup
# (after its containers are gone).
deploy_cleanup() {
    rm -rf "$DEPLOY_SCRATCH"
}

# IMAGE names its registry (docker.io/..., quay.io/..., localhost/...): no
# short-name resolution (podman refuses or asks for short names such as
# grafana/grafana:11.3.0 where Docker silently assumes docker.io).
qualified() {
    local first=${1%%/*}
    [[ $1 == */* && ( $first == *.* || $first == *:* || $first == localhost ) ]]
}

need_podman() {
    local need=()
    for tool in podman runc podman-compose debootstrap; do
        command -v "$tool" >/dev/null || need+=("$tool")
    done
    if ((${#need[@]})); then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
    # crun fails here ("cgroups in hybrid mode not supported") and podman's
    # default rlimits fail with EPERM on setrlimit. With CONTAINERS_CONF set,
    # podman (and podman-compose's podman) reads this file and no other
    # containers.conf; the rest are podman's built-in defaults.
    cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
CONF
}

# debootstrap a minimal bookworm with PACKAGES and import it as IMAGE.
make_base() {
    local image=$1 packages=$2 what=$3 rootfs
    podman image exists "$image" && return 0
    rootfs=$(mktemp -d /tmp/tm-rootfs.XXXXXX)
    echo "making $image from Debian packages (minbase ${packages})"
    debootstrap --variant=minbase ${packages:+--include="$packages"} bookworm "$rootfs" "$MIRROR" >/dev/null
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | podman import -q --change "LABEL $STAND_IN_LABEL=$what" - "$image" >/dev/null
    rm -rf "$rootfs"
}

ensure_base_images() {
    need_podman
    # Like the public debian:bookworm-slim: no openssl, no CA bundle (tokenmint
    # carries its roots), so the tests see what users' containers have.
    make_base "$RUNTIME_BASE" "" "debootstrap --variant=minbase bookworm (stand-in for docker.io/library/debian:bookworm-slim)"
    PROMETHEUS_IMAGE=$(podman images --noheading --filter "reference=$PROMETHEUS_REPO:debian-*" \
        --filter "label=$STAND_IN_LABEL" --format '{{.Repository}}:{{.Tag}}' | head -n 1)
    if [[ -z $PROMETHEUS_IMAGE ]]; then
        make_base "$PROMETHEUS_BASE" prometheus "debootstrap --variant=minbase --include=prometheus bookworm"
        # Tagged with the version of the binary it holds (Debian's, not upstream's image).
        local version
        version=$(podman run --rm --entrypoint /usr/bin/prometheus "$PROMETHEUS_BASE" --version 2>&1 |
            sed -n 's/^prometheus, version \([0-9]*\.[0-9]*\).*/\1/p')
        [[ -n $version ]] || { echo "the prometheus in $PROMETHEUS_BASE does not run" >&2; return 1; }
        PROMETHEUS_IMAGE=$PROMETHEUS_REPO:debian-$version
        # The same entrypoint, user and paths as the public image, so that
        # docker-compose.yml runs it unchanged (but for the image name).
        local ctx
        ctx=$(mktemp -d /tmp/tm-prom.XXXXXX)
        cat >"$ctx/Containerfile" <<CF
FROM $PROMETHEUS_BASE
LABEL $STAND_IN_LABEL="Debian's prometheus $version laid out like docker.io/prom/prometheus (a stand-in for it)"
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
        echo "made $PROMETHEUS_IMAGE (the stand-in for docker.io/prom/prometheus)"
    fi
    export PROMETHEUS_IMAGE
}

# The stand-in for docker.io/library/redis:7 (docker-compose.yml's redis
# service): Debian's redis-server, laid out like the public image (/data, port
# 6379, `redis-server` as the command, an unprivileged user). Only compose.sh
# needs it.
ensure_redis_image() {
    REDIS_IMAGE=$(podman images --noheading --filter "reference=$REDIS_REPO:debian-*" \
        --filter "label=$STAND_IN_LABEL" --format '{{.Repository}}:{{.Tag}}' | head -n 1)
    if [[ -z $REDIS_IMAGE ]]; then
        make_base "$REDIS_BASE" redis-server "debootstrap --variant=minbase --include=redis-server bookworm"
        local version
        version=$(podman run --rm "$REDIS_BASE" redis-server --version 2>&1 |
            sed -n 's/^Redis server v=\([0-9]*\.[0-9]*\).*/\1/p')
        [[ -n $version ]] || { echo "the redis-server in $REDIS_BASE does not run" >&2; return 1; }
        REDIS_IMAGE=$REDIS_REPO:debian-$version
        local ctx
        ctx=$(mktemp -d /tmp/tm-redis.XXXXXX)
        # The public image's entrypoint drops to its redis user and runs the
        # command; here the user is set directly (Debian's package made it).
        cat >"$ctx/Containerfile" <<CF
FROM $REDIS_BASE
LABEL $STAND_IN_LABEL="Debian's redis-server $version laid out like docker.io/library/redis (a stand-in for it)"
RUN mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
EXPOSE 6379
CMD ["redis-server"]
CF
        podman build -q -t "$REDIS_IMAGE" "$ctx" >/dev/null
        rm -rf "$ctx"
        echo "made $REDIS_IMAGE (the stand-in for docker.io/library/redis)"
    fi
    export REDIS_IMAGE
}

# An image from the Dockerfile's stage TARGET (default `prebuilt`) with the
# binaries built on the host, on the stand-in runtime base: the stages users
# build compile inside a rust image, which cannot be pulled here.
build_image() {
    local binary=$1 tag=$2 target=${3:-prebuilt} ctx
    ctx=$(mktemp -d /tmp/tm-image.XXXXXX)
    cp "$ROOT/Dockerfile" "$ctx/"
    # The context's layout is the Dockerfile's (BINARY's default), whatever CARGO_TARGET_DIR is.
    mkdir -p "$ctx/target/release"
    cp "$binary" "$ctx/target/release/tokenmint"
    if [[ -f $RELEASE_DIR/examples/resource_server ]]; then
        cp "$RELEASE_DIR/examples/resource_server" "$ctx/target/release/"
    fi
    podman build -q --format docker --build-arg "RUNTIME_BASE=$RUNTIME_BASE" \
        --target "$target" -t "$tag" "$ctx" >/dev/null
    rm -rf "$ctx"
}
