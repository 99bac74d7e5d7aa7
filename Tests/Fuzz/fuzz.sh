#!/usr/bin/env bash
# `make fuzz`: builds a libFuzzer binary (swiftc -sanitize=fuzzer,address) for every decoder that
# takes outside bytes and runs each over its committed seed corpus (Tests/Fuzz/corpus/<target>/)
# for FUZZ_RUNS executions (default 10 million). New inputs collect in .build/fuzz/corpus-<target>,
# crashes and leaks in .build/fuzz/crash-<target>-*; a crash fails the run. Turn each crash into a
# file of the seed corpus (so `make test` replays it) before fixing it.
#
# Usage: Tests/Fuzz/fuzz.sh [TARGET...]   (default: every target)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${FUZZ_RUNS:-10000000}
# No allocation stacks: recording one per malloc costs a third of the time of the allocating
# decoders (uart_line). Re-run a crash file with ASAN_OPTIONS= to see where it allocated.
export ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=0}
build="$root/.build/fuzz"
# The probes, shared with the corpus tests, by module.
declare -A probes=(
    [TelemetryCore]="$root/Tests/FuzzTests/TelemetryCoreProbes.swift"
    [Buses]="$root/Tests/FuzzTests/BusesProbes.swift"
    [Gzip]="$root/Tests/FuzzTests/GzipProbes.swift"
    [Redis]="$root/Tests/FuzzTests/RedisProbes.swift"
    [MQTTCore]="$root/Tests/FuzzTests/MQTTCoreProbes.swift"
)
# Longest input tried per target (libFuzzer's -max_len): bodies and batches can be large, lines not.
declare -A max_len=(
    [seed_task]=65536 [samples]=65536 [hub_batch]=65536 [rejected_samples]=8192 [json]=16384 [uart_line]=4096 [modbus_frame]=512
    [gzip]=65536 [spool_record]=65536 [resp]=16384 [line_protocol]=16384 [mqtt_packet]=16384
)
declare -A module_of=(
    [seed_task]=TelemetryCore [samples]=TelemetryCore [hub_batch]=TelemetryCore [rejected_samples]=TelemetryCore [json]=TelemetryCore
    [spool_record]=TelemetryCore [resp]=Redis [line_protocol]=TelemetryCore [mqtt_packet]=MQTTCore
    [uart_line]=Buses [modbus_frame]=Buses [gzip]=Gzip
)
# Object folders to link for a module: its own, its C targets', and those it depends on.
declare -A objects_of=(
    [TelemetryCore]="TelemetryCore DequeModule InternalCollectionsUtilities"
    [Buses]="Buses CDeviceBus TelemetryCore DequeModule InternalCollectionsUtilities"
    [Gzip]="Gzip CInflate"
    [Redis]="Redis Hiredis CRedisReader TelemetryCore DequeModule InternalCollectionsUtilities"
    [MQTTCore]="MQTTCore"
)
# Libraries to link for a module.
declare -A libraries_of=([Gzip]="-lz" [Redis]="-lhiredis")
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then mapfile -t targets < <(printf '%s\n' "${!module_of[@]}" | sort); fi

mkdir -p "$build"
for module in $(for t in "${targets[@]}"; do echo "${module_of[$t]:?unknown fuzz target $t}"; done | sort -u); do
    echo "building $module with -sanitize=fuzzer,address"
    swift build --package-path "$root" --build-path "$build" -c release --target "$module" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -g >"$build/build-$module.log" 2>&1 \
        || { tail -20 "$build/build-$module.log"; exit 1; }
done

status=0
for target in "${targets[@]}"; do
    module=${module_of[$target]}
    entry="$build/entry-$target.swift"
    cat >"$entry" <<SWIFT
let probe = ${module}Probes.targets["$target"]!

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    probe(data.map { Array(UnsafeBufferPointer(start: \$0, count: size)) } ?? [])
    return 0
}
SWIFT
    # The module's objects and those of the modules it depends on (swift-collections).
    objects=()
    cflags=()
    libraries=()
    if [ -n "${libraries_of[$module]:-}" ]; then read -ra libraries <<<"${libraries_of[$module]}"; fi
    for dependency in ${objects_of[$module]}; do
        # A C target's module map (as SwiftPM generated it, or a system library's own), so the
        # module's interface resolves.
        if [ -f "$root/Sources/C$dependency/module.modulemap" ]; then
            cflags+=(-Xcc "-fmodule-map-file=$root/Sources/C$dependency/module.modulemap")
        fi
        if [ -f "$build/release/$dependency.build/module.modulemap" ]; then
            cflags+=(-Xcc "-fmodule-map-file=$build/release/$dependency.build/module.modulemap" -Xcc "-I$root/Sources/$dependency/include")
        fi
        [ -d "$build/release/$dependency.build" ] && objects+=("$build/release/$dependency.build"/*.o)
    done
    swiftc -swift-version 6 -O -g -sanitize=fuzzer,address -parse-as-library -module-name "Fuzz_$target" -I "$build/release/Modules" \
        "${cflags[@]}" "${probes[$module]}" "$entry" "${objects[@]}" "${libraries[@]}" -o "$build/fuzz-$target" >"$build/link-$target.log" 2>&1 \
        || { grep -v "Cannot export local symbol" "$build/link-$target.log" | tail -20; exit 1; }
    mkdir -p "$build/corpus-$target"
    echo "fuzzing $target: $runs runs"
    started=$(date +%s)
    if "$build/fuzz-$target" -runs="$runs" -max_len="${max_len[$target]:-4096}" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$build/crash-$target-" "$build/corpus-$target" "$root/Tests/Fuzz/corpus/$target" \
        >"$build/fuzz-$target.log" 2>&1; then
        echo "$target: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$build/fuzz-$target.log" | grep -o '[0-9]*$') executions in $(( $(date +%s) - started )) s, no crash"
    else
        echo "$target: FAILED, see $build/fuzz-$target.log and $build/crash-$target-*" >&2
        tail -30 "$build/fuzz-$target.log" >&2
        status=1
    fi
done
exit $status
