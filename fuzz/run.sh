#!/usr/bin/env bash
# Builds every fuzz target (cargo fuzz, libFuzzer) and runs each, one after
# the other, for SECONDS (default 30) under `nice -n 19` and, where the
# machine allows it, without a network (a fuzzed config could name hosts).
# Each target's corpus grows in fuzz/corpus/<target>/ (not committed),
# seeded from fuzz/seeds/<target>/ and, for key_pem and config_toml, from
# the test fixtures and the shipped configs. A crash is kept in
# fuzz/artifacts/<target>/ and makes the script fail once every target ran.
#
#   fuzz/run.sh [SECONDS [TARGET...]]    (every target when none is named)
#   FUZZ_SANITIZER=none fuzz/run.sh      (without AddressSanitizer)
set -euo pipefail
secs=${1:-30}
[[ $secs =~ ^[0-9]+$ ]] || { echo "usage: fuzz/run.sh [SECONDS [TARGET...]]" >&2; exit 2; }
shift $(( $# > 0 ? 1 : 0 ))
cd "$(dirname "$0")"

# cargo fuzz passes nightly flags (-Z sanitizer, -C passes=sancov-module);
# the machines have the stable toolchain only.
export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-address}
cargo fuzz build --sanitizer "$sanitizer"

bin=target/$(rustc -vV | sed -n 's/^host: //p')/release
netns=()
if unshare -n true 2>/dev/null; then
    netns=(unshare -n)
else
    echo "note: cannot unshare the network namespace; fuzzing with the network present" >&2
fi

extra_seeds() {
    case $1 in
        key_pem) echo ../tests/fixtures ;;
        config_toml) echo ../config ;;
    esac
}

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
failed=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target" "seeds/$target"
    # Kept beside the artifacts (not in /tmp, which others may clean).
    log=artifacts/$target/last-run.log
    printf '\n--- %s for %s s\n' "$target" "$secs"
    # shellcheck disable=SC2046 # extra_seeds prints zero or one path
    if "${netns[@]}" nice -n 19 "$bin/$target" -max_total_time="$secs" -timeout=10 \
        -print_final_stats=1 -artifact_prefix="artifacts/$target/" \
        "corpus/$target" "seeds/$target" $(extra_seeds "$target") >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" || true)
        echo "$target: ${runs:-?} executions in $secs s, no crash"
        grep -E '^Done [0-9]+ runs|^stat::' "$log" || true
    else
        failed+=("$target")
        tail -n 60 "$log" || true
        echo "$target: FAILED; the input is in fuzz/artifacts/$target/"
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz targets that failed: ${failed[*]}" >&2
    exit 1
fi
echo "every fuzz target ran ${secs} s without a crash"
