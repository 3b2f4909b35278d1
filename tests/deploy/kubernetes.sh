#!/usr/bin/env bash
# deploy/kubernetes, rendered, validated and run as far as this machine can:
#   bash tests/deploy/kubernetes.sh [BINARY]     (default $CARGO_TARGET_DIR/release/tokenmint,
#                                                  CARGO_TARGET_DIR defaulting to target)
#
# 1. Renders the base and the prometheus-operator overlay with kubectl
#    kustomize (and with Debian's kubectl 1.20, whose kustomize is v2.0.3,
#    when apt can fetch it: both must give the same objects); every image is
#    named with its registry (no short names).
# 2. Validates every object offline against the Kubernetes API schema with
#    npm's kubernetes-models (tests/deploy/node), and shows that broken copies
#    are rejected, so that the check cannot pass vacuously.
# 3. Runs the Deployment with its ConfigMap and Secret under `podman kube
#    play` (1 replica, ports published on 127.0.0.1 through hostPort, a key
#    made now, a test client with a plain secret), gets a token and checks
#    /readyz; then updates the mounted ConfigMap and Secret the way the
#    kubelet does (a new ..<timestamp> directory and an atomic rename of the
#    ..data symlink; podman has no live ConfigMap updates) and checks that the
#    pod reloads on its own; finally SIGTERM and the drain. Says what podman
#    ignores. Everything it made is removed on exit.
#    Before that, the ConfigMap's commented [store] block, uncommented, passes
#    check-config against a redis-server with a password (started here, on
#    127.0.0.1): the documented Secret's files, written to a scratch directory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
binary=${1:-$RELEASE_DIR/tokenmint}
[[ $binary == /* ]] || binary=$ROOT/$binary
image=localhost/tokenmint:latest
node_dir=$ROOT/tests/deploy/node
tmp=$(mktemp -d /tmp/tm-k8s-test.XXXXXX)
suffix=-t$$                       # names of their own: other runs may share podman
pod=tokenmint$suffix-pod-0
ctr=$pod-tokenmint
public=$((20000 + RANDOM % 10000))
admin=$((public + 1))
started=$SECONDS
kube_net=podman-default-kube-network   # kube play's network, made on first use
kube_net_made=

cleanup() {
    [[ -n ${TM_KEEP:-} ]] && { echo "kept: pod $pod, $tmp"; return; }   # TM_KEEP=1: leave it all to look at
    if [[ -f $tmp/play.yaml ]]; then
        podman kube down "$tmp/play.yaml" >/dev/null 2>&1 || true
        podman pod rm -f "$pod" >/dev/null 2>&1 || true
        # kube down (podman 4.3) leaves the volumes and secrets it made behind.
        for name in tokenmint-config$suffix tokenmint-keys$suffix tokenmint-tls$suffix tokenmint-store$suffix; do
            podman volume rm -f "$name" >/dev/null 2>&1 || true
            podman secret rm "$name" >/dev/null 2>&1 || true
        done
    fi
    # Nor the network, if this run made it (not while another pod uses it: no -f).
    if [[ -n $kube_net_made ]]; then podman network rm "$kube_net" >/dev/null 2>&1 || true; fi
    if [[ -n ${redis_pid:-} ]]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
    deploy_cleanup
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    podman logs "$ctr" 2>&1 | tail -20 || true
    exit 1
}
quiet() { grep -v 'systemd' || true; }   # podman's healthcheck timers need systemd; say nothing of it

# EXPR (JavaScript, the object is `o`) of the object KIND/NAME in a YAML
# stream: strings as they are, anything else as JSON (js-yaml from tests/deploy/node).
yaml_get() {   # FILE KIND NAME EXPR
    (cd "$node_dir" && node --input-type=module -e '
        import { readFileSync } from "node:fs";
        import yaml from "js-yaml";
        const [file, kind, name, expr] = process.argv.slice(1);
        const o = yaml.loadAll(readFileSync(file, "utf8"))
            .find((d) => d?.kind === kind && d.metadata?.name === name);
        if (!o) { console.error(`no ${kind}/${name} in ${file}`); process.exit(1); }
        const v = new Function("o", `return ${expr}`)(o);
        process.stdout.write(typeof v === "string" ? v : JSON.stringify(v) + "\n");' "$@")
}

# ---------------------------------------------------------------- 1. render
for tool in kubectl node npm curl python3; do
    command -v "$tool" >/dev/null || fail "$tool is missing (Debian: apt-get install kubernetes-client nodejs npm curl)"
done
# The validator and js-yaml (tests/deploy/node/package.json), into node_modules there.
if [[ ! -d $node_dir/node_modules/kubernetes-models || $node_dir/package.json -nt $node_dir/node_modules ]]; then
    npm install --prefix "$node_dir" --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null
    touch "$node_dir/node_modules"
fi
kubectl kustomize deploy/kubernetes >"$tmp/base.yaml"
kubectl kustomize deploy/kubernetes/overlays/prometheus-operator >"$tmp/monitor.yaml"
kinds=$(grep -h '^kind:' "$tmp/base.yaml" | awk '{print $2}' | sort | uniq -c | awk '{printf "%s%s ", $2, ($1 > 1 ? " x" $1 : "")}')
echo "ok: kubectl $(kubectl version --client -o json | sed -n 's/.*"gitVersion": "\([^"]*\)".*/\1/p') renders the base: ${kinds% }"
grep -q '^kind: ServiceMonitor' "$tmp/monitor.yaml" || fail "the overlay renders no ServiceMonitor"
echo "ok: the prometheus-operator overlay renders a ServiceMonitor"
# A short name (tokenmint:latest) is docker.io/library/... to Docker and containerd,
# but CRI-O and podman refuse it or ask which registry is meant.
images=$(sed -n 's/^ *image: *//p' "$tmp/base.yaml" "$tmp/monitor.yaml" | tr -d "\"'" | sort -u)
[[ -n $images ]] || fail "no image in the rendered manifests"
for i in $images; do qualified "$i" || fail "image $i is not named with its registry (e.g. docker.io/..., localhost/...)"; done
if qualified tokenmint:latest || qualified grafana/grafana:11.3.0 || ! qualified docker.io/grafana/grafana:11.3.0; then
    fail "qualified() misjudges short names"
fi
echo "ok: every image is named with its registry: $(echo $images)"
if grep -rlq 'PRIVATE KEY' deploy/kubernetes; then fail "deploy/kubernetes holds a private key"; fi
[[ $(yaml_get "$tmp/base.yaml" Secret tokenmint-keys 'Object.keys(o.data ?? {}).length') == 0 ]] ||
    fail "the keys Secret is not empty"
if grep -q 'subPath' "$tmp/base.yaml"; then fail "a subPath mount never sees ConfigMap updates"; fi
echo "ok: no key material in deploy/kubernetes (the keys Secret has data: {}), no subPath mount"

# Debian's kubectl 1.20 (kustomize v2.0.3), from the package, not installed.
k120=${KUBECTL_1_20:-}
if [[ -z $k120 ]]; then
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/tokenmint-tests/kubectl-1.20
    if [[ ! -x $cache/usr/bin/kubectl ]]; then
        mkdir -p "$tmp/deb" "$cache"
        if (cd "$tmp/deb" && { apt-get download -q kubernetes-client || { apt-get update -qq && apt-get download -q kubernetes-client; }; } >/dev/null 2>&1); then
            dpkg -x "$tmp/deb"/kubernetes-client_*.deb "$cache"
        fi
    fi
    [[ -x $cache/usr/bin/kubectl ]] && k120=$cache/usr/bin/kubectl
fi
if [[ -n $k120 && $("$k120" version --client 2>/dev/null) == *v1.20.* ]]; then
    "$k120" kustomize deploy/kubernetes >"$tmp/base-1.20.yaml"
    "$k120" kustomize deploy/kubernetes/overlays/prometheus-operator >"$tmp/monitor-1.20.yaml"
    same=$(node "$node_dir/validate.mjs" --same "$tmp/base.yaml" "$tmp/base-1.20.yaml") || fail "kubectl 1.20 renders differently: $same"
    node "$node_dir/validate.mjs" --same "$tmp/monitor.yaml" "$tmp/monitor-1.20.yaml" >/dev/null ||
        fail "kubectl 1.20 renders the overlay differently"
    echo "ok: Debian's kubectl 1.20 (kustomize v2.0.3) renders both to the $same"
else
    echo "SKIP: no kubectl 1.20 (apt-get download kubernetes-client failed; set KUBECTL_1_20=PATH)"
fi

# -------------------------------------------------------------- 2. validate
node "$node_dir/validate.mjs" "$tmp/base.yaml" "$tmp/monitor.yaml" >"$tmp/validate.out" ||
    { cat "$tmp/validate.out"; fail "the rendered manifests do not validate"; }
echo "ok: kubernetes-models $(node -p "require('$node_dir/node_modules/kubernetes-models/package.json').version") validates every object: $(tail -1 "$tmp/validate.out")"

# Broken copies must be refused: a misspelt field, a wrong type, a ServiceMonitor field.
rejects() {
    local what=$1 file=$2 expect=$3 out
    if out=$(node "$node_dir/validate.mjs" "$file"); then fail "validation accepted $what"; fi
    grep -q -- "$expect" <<<"$out" || fail "validation refused $what without saying '$expect': $out"
    echo "ok: validation refuses $what ($(grep -m1 -- "$expect" <<<"$out" | sed 's/^ *//'))"
}
sed 's/readinessProbe:/readinesProbe:/' "$tmp/base.yaml" >"$tmp/bad-field.yaml"
rejects "a misspelt field (readinesProbe)" "$tmp/bad-field.yaml" "unknown field spec.template.spec.containers\[0\].readinesProbe"
sed 's/^  replicas: 3$/  replicas: three/' "$tmp/base.yaml" >"$tmp/bad-type.yaml"
rejects "replicas: three" "$tmp/bad-type.yaml" "spec/replicas must be integer"
sed 's/port: admin/port: 9464/' "$tmp/monitor.yaml" >"$tmp/bad-monitor.yaml"
rejects "a ServiceMonitor with a numeric endpoint port" "$tmp/bad-monitor.yaml" "endpoints/0/port must be string"

# ------------------------------------------------------ 3. podman kube play
ensure_base_images
build_image "$binary" "$image"
echo "ok: built $image from $binary"

mkdir -p "$tmp/keys" "$tmp/overlay" "$tmp/cfg"
"$binary" keygen --alg ES256 --dir "$tmp/keys" --now >"$tmp/kid" 2>/dev/null
kid=$(head -1 "$tmp/kid")
# The shipped config is valid apart from its placeholder client (a warning).
yaml_get "$tmp/base.yaml" ConfigMap tokenmint-config 'o.data["tokenmint.toml"]' >"$tmp/cfg/shipped.toml"
out=$(TOKENMINT_KEYS__DIR=$tmp/keys "$binary" check-config --config "$tmp/cfg/shipped.toml" 2>&1) ||
    fail "check-config refuses the shipped config with a real key: $out"
grep -q "placeholder" <<<"$out" || fail "check-config does not warn about the placeholder client"
echo "ok: check-config accepts the shipped tokenmint.toml with a real key dir (warns about the placeholder client)"

# The commented [store] block, uncommented, with the files of the tokenmint-store
# Secret it documents, against a real redis-server that requires a password.
grep -q '^# \[store\]$' "$tmp/cfg/shipped.toml" || fail "the ConfigMap has no commented [store] block"
sed '/^# \[store\]$/,/^$/s/^# //' "$tmp/cfg/shipped.toml" >"$tmp/cfg/store.toml"
store_block=$(sed -n '/^\[store\]$/,/^$/p' "$tmp/cfg/store.toml")
grep -q '^url = "redis://' <<<"$store_block" || fail "the uncommented [store] block has no url: $store_block"
if command -v redis-server >/dev/null; then
    mkdir -p "$tmp/store"
    head -c 32 /dev/urandom >"$tmp/store/hash.key"
    head -c 18 /dev/urandom | base64 >"$tmp/store/password"   # as a file from a Secret: a trailing newline
    redis_port=$((public + 2))
    redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --dir "$tmp/store" \
        --requirepass "$(cat "$tmp/store/password")" >"$tmp/store/redis.log" 2>&1 &
    redis_pid=$!
    store_env() {   # check-config with the block's paths moved to $tmp/store, the URL to the test's Redis
        local url
        url=$(sed -n 's/^url = "redis:\/\/[^/]*\(\/.*\)"$/redis:\/\/127.0.0.1:'"$redis_port"'\1/p' <<<"$store_block")
        TOKENMINT_KEYS__DIR=$tmp/keys TOKENMINT_STORE__URL=$url \
        TOKENMINT_STORE__KEY_FILE=$tmp/store/$(sed -n 's/^key_file = ".*\/\([^/]*\)"$/\1/p' <<<"$store_block") \
        TOKENMINT_STORE__PASSWORD_FILE=$tmp/store/$(sed -n 's/^password_file = ".*\/\([^/]*\)"$/\1/p' <<<"$store_block") \
            "$binary" check-config --config "$tmp/cfg/store.toml" 2>&1
    }
    passed=
    for _ in $(seq 50); do   # until redis-server listens
        if out=$(store_env); then passed=1; break; fi
        sleep 0.2
    done
    [[ -n $passed ]] || fail "check-config refuses the ConfigMap's [store] block with the documented Secret files: $out"
    answers=$(grep '^store: .* answers' <<<"$out") || fail "check-config does not say the store answers: $out"
    # Not vacuous: the password is the file's, so another one is refused.
    head -c 18 /dev/urandom | base64 >"$tmp/store/password"
    if out=$(store_env); then fail "check-config accepts a wrong Redis password: $out"; fi
    kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true; redis_pid=
    echo "ok: the ConfigMap's [store] block, uncommented, passes check-config against a redis-server with a password,"
    echo "    key_file and password_file as the tokenmint-store Secret documents them (${answers%% (*}); a wrong password fails"
else
    echo "SKIP: no redis-server (Debian: apt-get install redis-server): the [store] block was not checked against Redis"
fi

# The test's copy: the placeholder client replaced by one with a plain secret.
secret=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
client_block() {   # ID SECRET
    printf '[[clients]]\nid = "%s"\nsecret = "%s"\nscopes = ["reports:read", "reports:write"]\ndefault_scopes = ["reports:read"]\n' "$1" "$2"
}
mkdir -p "$tmp/cfg/v1"
{ sed '/^# One block per client/,$d' "$tmp/cfg/shipped.toml"; client_block k8s-test "$secret"; } >"$tmp/cfg/v1/tokenmint.toml"
grep -q '^secret_hash' "$tmp/cfg/v1/tokenmint.toml" && fail "the placeholder client is still in the test config"

# An overlay of the base for podman: the local image, 1 replica, hostPorts on
# 127.0.0.1, the test config and key (made with the commands secret.yaml
# documents), and empty stand-ins for the optional TLS and store Secrets.
kubectl create configmap tokenmint-config --from-file=tokenmint.toml="$tmp/cfg/v1/tokenmint.toml" \
    --dry-run=client -o yaml >"$tmp/overlay/configmap.yaml"
kubectl create secret generic tokenmint-keys --from-file="$tmp/keys/" \
    --dry-run=client -o yaml >"$tmp/overlay/secret.yaml"
kubectl create secret generic tokenmint-tls --dry-run=client -o yaml >"$tmp/overlay/tls.yaml"
kubectl create secret generic tokenmint-store --dry-run=client -o yaml >"$tmp/overlay/store.yaml"
cat >"$tmp/overlay/deployment.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: tokenmint
spec:
  replicas: 1
  template:
    spec:
      containers:
        - name: tokenmint
          ports:
            # protocol too: kustomize merges ports on (containerPort, protocol)
            - {containerPort: 9443, protocol: TCP, hostPort: $public, hostIP: 127.0.0.1}
            - {containerPort: 9464, protocol: TCP, hostPort: $admin, hostIP: 127.0.0.1}
EOF
# The base's image name without its tag (what the overlay's images: entry matches).
base_image=$(yaml_get "$tmp/base.yaml" Deployment tokenmint 'o.spec.template.spec.containers[0].image')
base_image=${base_image%:*}
cat >"$tmp/overlay/kustomization.yaml" <<EOF
resources:
  - $(realpath --relative-to="$tmp/overlay" "$ROOT/deploy/kubernetes")
  - tls.yaml
  - store.yaml
nameSuffix: $suffix
images:
  - name: $base_image
    newName: ${image%:*}
    newTag: ${image##*:}
# patchesStrategicMerge, not patches: Debian's kubectl 1.20 (kustomize v2.0.3) knows only this.
patchesStrategicMerge:
  - deployment.yaml
  - configmap.yaml
  - secret.yaml
EOF
kubectl kustomize "$tmp/overlay" >"$tmp/play.yaml"
node "$node_dir/validate.mjs" "$tmp/play.yaml" >"$tmp/validate.out" ||
    { cat "$tmp/validate.out"; fail "the test's rendering does not validate"; }

podman network exists "$kube_net" || kube_net_made=1
podman --log-level=info kube play --start=false "$tmp/play.yaml" >"$tmp/play.out" 2>"$tmp/play.err" ||
    { cat "$tmp/play.out" "$tmp/play.err" | quiet; fail "podman kube play failed"; }
ignored=$(sed -n 's/.*Kube kind \([A-Za-z]*\) not supported.*/\1/p' "$tmp/play.err" | sort | uniq -c |
    awk '{printf "%s%s, ", $2, ($1 > 1 ? " x" $1 : "")}')
# Without hostPort, podman publishes every containerPort on 0.0.0.0: never start such a pod here.
bindings=$(podman pod inspect "$pod" --format '{{range $p, $b := .InfraConfig.PortBindings}}{{range $b}}{{.HostIP}}:{{.HostPort}}->{{$p}} {{end}}{{end}}')
[[ $bindings == "127.0.0.1:$public->9443/tcp 127.0.0.1:$admin->9464/tcp " ]] ||
    fail "the pod would publish ${bindings:-nothing}, not 127.0.0.1:$public and :$admin"
echo "ok: podman $(podman version -f '{{.Client.Version}}') kube play created pod $pod from the rendered overlay, ports ${bindings% }"
echo "    podman says it does not support (and ignores): ${ignored%, }"

# What podman made of the volumes, before the kubelet's layout replaces it.
volume_of() { podman inspect "$ctr" --format '{{range .Mounts}}{{if eq .Destination "'"$1"'"}}{{.Source}}{{end}}{{end}}'; }
cfg_dir=$(volume_of /etc/tokenmint/config)
keys_dir=$(volume_of /etc/tokenmint/keys)
[[ -d $cfg_dir && -d $keys_dir ]] || fail "no ConfigMap/Secret volumes in the container"
key_file=$(basename "$tmp"/keys/*.pem)
[[ -f $keys_dir/$key_file ]] || fail "podman did not put $key_file into the keys volume"
key_mode=$(stat -c '%a %U:%G' "$keys_dir/$key_file")
if grep -q 'BEGIN PRIVATE KEY' "$keys_dir/$key_file"; then
    decoded="decoded the Secret's data"
else
    decoded="left the Secret's data base64-encoded in the file (containers/podman#16625, fixed in 4.4; the test decodes it)"
fi
echo "    podman $decoded;"
echo "    its volumes hold plain files, $key_mode (defaultMode 0440 and fsGroup 10001 ignored), not the"
echo "    kubelet's ..data layout: the test lays them out as the kubelet does"

# The kubelet's AtomicWriter: the payload into a new ..<timestamp> directory,
# a ..data_tmp symlink to it renamed over ..data (one atomic step), then the
# visible names as symlinks into ..data, names gone from the payload removed,
# the old directory deleted. Secret files get defaultMode and the fsGroup.
kubelet_write() {   # VOLUME_DIR PAYLOAD_DIR MODE GROUP
    local dir=$1 src=$2 mode=$3 group=$4 ts old f
    ts=..$(date -u +%Y_%m_%d_%H_%M_%S.%N)
    mkdir -m 0755 "$dir/$ts"
    cp "$src"/* "$dir/$ts/"
    chmod "$mode" "$dir/$ts"/*
    chgrp "$group" "$dir/$ts"/*
    old=$(readlink "$dir/..data" || true)
    ln -s "$ts" "$dir/..data_tmp"
    mv -T "$dir/..data_tmp" "$dir/..data"
    for f in "$src"/*; do
        f=${f##*/}
        [[ -L $dir/$f ]] || { rm -f "$dir/$f"; ln -s "..data/$f" "$dir/$f"; }
    done
    for f in "$dir"/*; do [[ -L $f && ! -e $f ]] && rm -f "$f"; done
    if [[ -n $old ]]; then rm -rf "${dir:?}/$old"; fi
}
mkdir -p "$tmp/secret/v1"
cp "$tmp/keys/$key_file" "$tmp/secret/v1/"
find "$cfg_dir" "$keys_dir" -mindepth 1 -delete
kubelet_write "$cfg_dir" "$tmp/cfg/v1" 0644 10001
kubelet_write "$keys_dir" "$tmp/secret/v1" "$(yaml_get "$tmp/play.yaml" Deployment tokenmint$suffix 'o.spec.template.spec.volumes.find((v) => v.name === "keys").secret.defaultMode.toString(8)')" 10001
podman pod start "$pod" 2>&1 | quiet >/dev/null

for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null && break
    sleep 0.2
done
ready=$(curl -sf "http://127.0.0.1:$admin/readyz") || fail "/readyz did not answer 200"
grep -q "$kid" <<<"$ready" || fail "/readyz does not name the key $kid: $ready"
curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null || fail "/healthz did not answer 200"
echo "ok: the pod is ready on hostPort 127.0.0.1:$admin (/readyz 200 with kid $kid, /healthz 200)"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$public/metrics")
[[ $code == 404 ]] || fail "the token port answers $code for /metrics (admin_listen is set)"

token_for() {   # ID SECRET -> access token
    curl -sf --user "$1:$2" -d grant_type=client_credentials "http://127.0.0.1:$public/oauth2/token" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
token=$(token_for k8s-test "$secret") || fail "no token for k8s-test"
out=$("$binary" inspect "$token" --jwks "http://127.0.0.1:$public/jwks" 2>&1) || fail "the token does not verify: $out"
grep -q '"iss": *"https://auth.example.com"' <<<"$out" || fail "unexpected issuer: $out"
echo "ok: token issued on hostPort 127.0.0.1:$public and verified against the pod's JWK Set (iss https://auth.example.com)"

# The pod as the Deployment asks (where podman applies it).
uid=$(podman exec "$ctr" id -u 2>&1 | quiet)
[[ $uid == 10001 ]] || fail "runs as uid $uid"
if podman exec "$ctr" bash -c 'echo > /usr/local/bin/x' 2>/dev/null; then fail "the root filesystem is writable"; fi
if podman exec "$ctr" bash -c 'echo > /etc/tokenmint/config/x' 2>/dev/null; then fail "the ConfigMap volume is writable"; fi
caps=$(podman exec "$ctr" sed -n 's/^CapEff:\t//p' /proc/1/status 2>&1 | quiet)
[[ $caps == 0000000000000000 ]] || fail "effective capabilities $caps"
nnp=$(podman exec "$ctr" sed -n 's/^NoNewPrivs:\t//p' /proc/1/status 2>&1 | quiet)
seccomp=$(podman exec "$ctr" sed -n 's/^Seccomp:\t//p' /proc/1/status 2>&1 | quiet)
[[ $nnp == 1 && $seccomp == 2 ]] || fail "NoNewPrivs $nnp, Seccomp $seccomp"
env=$(podman exec "$ctr" env 2>&1 | quiet)
if grep -q '_SERVICE_HOST=' <<<"$env"; then fail "service link variables in the environment"; fi
limits=$(podman inspect "$ctr" --format '{{.HostConfig.Memory}} {{.HostConfig.CpuQuota}}/{{.HostConfig.CpuPeriod}}')
[[ $limits == "268435456 100000/100000" ]] || fail "memory/CPU limits: $limits"
rss=$(podman exec "$ctr" awk '/^VmRSS:/ {print $2}' /proc/1/status 2>&1 | quiet)
workers=$(sed -n 's/.*"starting \([0-9]*\) workers".*/\1/p;T;q' <<<"$(podman logs "$ctr" 2>&1)")
echo "ok: uid 10001, read-only root and mounts, no capabilities, no_new_privs, seccomp filter, limits 256Mi / 1 CPU"
echo "    (RSS $((rss / 1024)) MiB; workers = 0 started ${workers:-?} worker(s) per listener under the 1-CPU limit)"
# The kubelet writes Secret files 0440 root:fsGroup: group read is no reason to warn.
if grep -q 'private key is accessible' <<<"$(podman logs "$ctr" 2>&1)"; then
    fail "tokenmint warns about the 0440 root:10001 key file the kubelet writes for fsGroup 10001"
fi

# ---------------------------------------------------- live reload, kubelet-style
metric() {   # NAME{LABELS} -> value (0 when absent)
    curl -sf "http://127.0.0.1:$admin/metrics" | awk -v m="$1" '$1 == m {v = $2} END {print v + 0}'
}
wait_for() {   # SECONDS COMMAND...
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}
started_at=$(podman inspect "$ctr" --format '{{.State.StartedAt}} {{.RestartCount}}')
ok0=$(metric 'tokenmint_config_reloads_total{result="success"}')
fail0=$(metric 'tokenmint_config_reloads_total{result="failure"}')

# A ConfigMap update: a second client.
secret2=$(head -c 24 /dev/urandom | base64 | tr '+/' '-_')
mkdir -p "$tmp/cfg/v2"
{ cat "$tmp/cfg/v1/tokenmint.toml"; echo; client_block k8s-test-2 "$secret2"; } >"$tmp/cfg/v2/tokenmint.toml"
t0=$(date +%s%N)
kubelet_write "$cfg_dir" "$tmp/cfg/v2" 0644 10001
wait_for 10 token_for k8s-test-2 "$secret2" || fail "the new client gets no token after the ConfigMap update"
took=$((($(date +%s%N) - t0) / 1000000))
sleep 1   # a burst applies once: let any second reload show
ok1=$(metric 'tokenmint_config_reloads_total{result="success"}')
((ok1 == ok0 + 1)) || fail "one ConfigMap update counted $((ok1 - ok0)) successful reloads"
token_for k8s-test "$secret" >/dev/null || fail "the first client lost its token after the update"
echo "ok: ConfigMap update by ..data swap: the new client gets tokens after ${took} ms, one reload counted, no restart"

# A broken ConfigMap update is refused; the last good config keeps serving.
mkdir -p "$tmp/cfg/v3"
sed 's/^default_ttl = 3600$/default_ttl = "an hour"/' "$tmp/cfg/v2/tokenmint.toml" >"$tmp/cfg/v3/tokenmint.toml"
kubelet_write "$cfg_dir" "$tmp/cfg/v3" 0644 10001
failures_above() { (($(metric 'tokenmint_config_reloads_total{result="failure"}') > $1)); }
wait_for 10 failures_above "$fail0" ||
    fail "the broken config was not counted as a failed reload"
token_for k8s-test-2 "$secret2" >/dev/null || fail "a broken ConfigMap update stopped the last good config"
curl -sf "http://127.0.0.1:$admin/readyz" >/dev/null || fail "/readyz not 200 after a refused reload"
grep -q 'reload rejected.*default_ttl' <<<"$(podman logs "$ctr" 2>&1)" ||
    fail "the log does not say why the reload was refused"
# Fixed again (the config being served): the recovery counts as a successful reload.
kubelet_write "$cfg_dir" "$tmp/cfg/v2" 0644 10001
successes_above() { (($(metric 'tokenmint_config_reloads_total{result="success"}') > $1)); }
wait_for 10 successes_above "$ok1" || fail "the fixed ConfigMap was not counted as a successful reload"
ok1=$(metric 'tokenmint_config_reloads_total{result="success"}')
echo "ok: a broken ConfigMap update is refused (failure counted, reason logged), the last good config serves on;"
echo "    fixing it counts a successful reload"

# A Secret update: a second key (keygen's default activation: published now, signs later).
"$binary" keygen --alg ES256 --dir "$tmp/keys" >"$tmp/kid2" 2>/dev/null
kid2=$(head -1 "$tmp/kid2")
mkdir -p "$tmp/secret/v2"
cp "$tmp/keys"/*.pem "$tmp/secret/v2/"
kubelet_write "$keys_dir" "$tmp/secret/v2" 0440 10001
has_kid() { grep -q "\"$1\"" <<<"$(curl -sf "http://127.0.0.1:$public/jwks")"; }
wait_for 10 has_kid "$kid2" || fail "the new key $kid2 is not published after the Secret update"
has_kid "$kid" || fail "the first key left the JWK Set"
grep -q "$kid" <<<"$(curl -sf "http://127.0.0.1:$admin/readyz")" || fail "the signing key changed before its activation"
sleep 1
ok2=$(metric 'tokenmint_config_reloads_total{result="success"}')
((ok2 == ok1 + 1)) || fail "one Secret update counted $((ok2 - ok1)) successful reloads"
[[ $(podman inspect "$ctr" --format '{{.State.StartedAt}} {{.RestartCount}}') == "$started_at" ]] ||
    fail "the container restarted during the updates"
echo "ok: Secret update by ..data swap: key $kid2 published in the JWK Set, $kid still signs"
echo "ok: every update applied by the file watch alone: one reload each, the container never restarted"

# -------------------------------------------------------------------- drain
spec='o.spec.template.spec'
grace=$(yaml_get "$tmp/play.yaml" Deployment tokenmint$suffix "$spec.terminationGracePeriodSeconds")
drain=$(yaml_get "$tmp/play.yaml" Deployment tokenmint$suffix \
    "$spec.containers[0].env.find((e) => e.name === 'TOKENMINT_SERVER__DRAIN_SECONDS').value")
stop_timeout=$(podman inspect "$ctr" --format '{{.Config.StopTimeout}}')
# podman keeps its own stop timeout; stop with the pod's grace period, as the kubelet would.
t1=$(date +%s%N)
podman stop -t "$grace" "$ctr" >/dev/null 2>&1 &
stopper=$!
wait_for 3 bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$admin/readyz) == 503 ]]" ||
    fail "/readyz did not turn 503 after SIGTERM"
took=$((($(date +%s%N) - t1) / 1000000))
token_for k8s-test "$secret" >/dev/null || fail "no token while draining"
wait "$stopper" || true
elapsed=$((($(date +%s%N) - t1) / 1000000))
exit_code=$(podman inspect "$ctr" --format '{{.State.ExitCode}}')
[[ $exit_code == 0 ]] || fail "exit code $exit_code after SIGTERM"
((elapsed >= drain * 1000 && elapsed < grace * 1000)) || fail "stopped after $elapsed ms (drain $drain s, grace $grace s)"
echo "ok: SIGTERM: /readyz 503 after ${took} ms, tokens still issued while draining, exit 0 after $((elapsed / 1000)).$((elapsed % 1000 / 100)) s (drain ${drain} s < grace ${grace} s)"

health=$(podman inspect "$ctr" --format '{{join .Config.Healthcheck.Test " "}}')
groups=$(podman inspect "$ctr" --format '{{.HostConfig.GroupAdd}}')
shares=$(podman inspect "$ctr" --format '{{.HostConfig.CpuShares}}')
echo "    podman also ignores: terminationGracePeriodSeconds (its stop timeout stays ${stop_timeout} s), fsGroup (groups ${groups}),"
echo "    resources.requests (CPU shares ${shares}), readinessProbe, topologySpreadConstraints; the livenessProbe became"
echo "    the healthcheck '${health}'$([[ $health == *:0/* ]] && echo ' (the named port unresolved)'), run by systemd timers (none here)"
echo "kubernetes: all checks passed in $((SECONDS - started)) s"
