# tokenmint's container image.
#
#   docker build -t localhost/tokenmint .                  # compiles in a rust image (what users run)
#   docker build --target prebuilt -t localhost/tokenmint .  # packages a binary built on the host:
#       --build-arg BINARY=path/in/context (default target/release/tokenmint)
# localhost/tokenmint:latest is the name docker-compose.yml and
# deploy/kubernetes use: a local image, never pulled from a registry.
#
# The image runs as an unprivileged user, writes nothing outside its mounted
# volumes (so it runs with a read-only root filesystem) and listens on
# 0.0.0.0:9443 (token, JWKS, discovery, introspection) and 0.0.0.0:9464
# (metrics and probes), set through the environment. Mount the config at
# /etc/tokenmint/tokenmint.toml and the signing keys at /etc/tokenmint/keys.
# `tokenmint keygen` works inside the image for every algorithm, RSA included
# (docs/deployment.md).

# Every image by its full name (registry included): podman does not guess a
# registry for a short name. The runtime base can be replaced with
# --build-arg RUNTIME_BASE=... (tests/deploy builds on a local stand-in).
# The oldest rustc the locked dependencies build with (notify-types needs 1.91).
ARG RUST_VERSION=1.91
ARG DEBIAN=bookworm
ARG RUNTIME_BASE=docker.io/library/debian:${DEBIAN}-slim

FROM docker.io/library/rust:${RUST_VERSION}-${DEBIAN} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
COPY examples examples
RUN cargo build --release --locked --bin tokenmint --example resource_server \
 && mkdir -p target/release \
 && cp target/release/examples/resource_server target/release/resource_server

FROM ${RUNTIME_BASE} AS base
# A user of its own (no package: passwd is not in every minimal base).
RUN echo 'tokenmint:x:10001:10001:tokenmint:/nonexistent:/usr/sbin/nologin' >>/etc/passwd \
 && echo 'tokenmint:x:10001:' >>/etc/group \
 && mkdir -p /etc/tokenmint/keys \
 && chown 10001:10001 /etc/tokenmint/keys
WORKDIR /etc/tokenmint
ENV TOKENMINT_CONFIG=/etc/tokenmint/tokenmint.toml \
    TOKENMINT_SERVER__LISTEN=0.0.0.0:9443 \
    TOKENMINT_SERVER__ADMIN_LISTEN=0.0.0.0:9464 \
    TOKENMINT_KEYS__DIR=/etc/tokenmint/keys
USER 10001:10001
EXPOSE 9443 9464
# bash's /dev/tcp, as the image has no curl: ready = the admin port's /readyz answers 200.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9464 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && head -c 12 <&3 | grep -q ' 200'"]
ENTRYPOINT ["/usr/local/bin/tokenmint"]
CMD ["serve"]

# The example resource server (examples/resource_server.rs), for docker-compose.yml.
FROM ${RUNTIME_BASE} AS resource-server-prebuilt
ARG RESOURCE_SERVER_BINARY=target/release/resource_server
COPY ${RESOURCE_SERVER_BINARY} /usr/local/bin/resource_server
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/resource_server"]

FROM ${RUNTIME_BASE} AS resource-server
COPY --from=build /src/target/release/resource_server /usr/local/bin/resource_server
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/resource_server"]

FROM base AS prebuilt
ARG BINARY=target/release/tokenmint
COPY ${BINARY} /usr/local/bin/tokenmint

# The default (last) stage: built from source.
FROM base AS runtime
COPY --from=build /src/target/release/tokenmint /usr/local/bin/tokenmint
