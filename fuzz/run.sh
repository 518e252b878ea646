#!/bin/sh
# fuzz/run.sh [TARGET...] - runs salon's libFuzzer targets (all of them by default).
#
# For each target it first replays every input kept in fuzz/regressions/TARGET/ (each
# a crash found before and fixed since), then fuzzes for FUZZ_SECONDS seconds
# (default 60) starting from a copy of fuzz/corpus/TARGET/, so the corpus in the
# tree does not change. A crash, a leak, a timeout or a broken invariant fails the
# target; its input is copied into fuzz/regressions/TARGET/ (and printed in base64)
# so that it is replayed every time from then on, once fixed.
#
# The programs come from a fuzzing build, FUZZ_BUILD (default build/fuzz):
#   mkdir -p build/fuzz && cd build/fuzz && CC=clang ../../configure --enable-fuzzing
#   make -j2 fuzz-build
# Prints one line per target and "fuzz: N passed, N failed" last; exits 1 when any
# target failed (or could not run).
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$top/build/fuzz}
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
seconds=${FUZZ_SECONDS:-60}

if [ $# -eq 0 ]; then
	set --
	for src in "$top"/fuzz/fuzz-*.c; do
		name=$(basename "$src" .c)
		set -- "$@" "$name"
	done
fi

passed=0
failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
	echo "FAIL: $1: $2"
	failed=$((failed + 1))
}

# Keeps each artifact (crash-*, leak-*, timeout-*, oom-*) of target $1 in the tree.
keep_artifacts() {
	mkdir -p "$top/fuzz/regressions/$1"
	for artifact in "$work/$1/artifacts"/*; do
		[ -f "$artifact" ] || continue
		cp "$artifact" "$top/fuzz/regressions/$1/"
		echo "  kept fuzz/regressions/$1/$(basename "$artifact"):" \
			"$(base64 -w0 "$artifact")"
	done
}

for target in "$@"; do
	target=${target#fuzz/}
	bin=$build/fuzz/$target
	if [ ! -x "$bin" ]; then
		fail "$target" "no program $bin (build it with make fuzz-build)"
		continue
	fi
	if [ ! -d "$top/fuzz/corpus/$target" ]; then
		fail "$target" "no seed corpus fuzz/corpus/$target"
		continue
	fi
	mkdir -p "$work/$target/corpus" "$work/$target/artifacts"

	# The regression inputs, each run once: all must pass.
	regressions=$(find "$top/fuzz/regressions/$target" -type f ! -name '*.md' \
		2>/dev/null | sort)
	if [ -n "$regressions" ]; then
		# shellcheck disable=SC2086
		if ! "$bin" -artifact_prefix="$work/$target/artifacts/" $regressions \
			>"$work/$target/replay.log" 2>&1; then
			tail -n 40 "$work/$target/replay.log"
			fail "$target" "a regression input fails again"
			continue
		fi
	fi

	cp -R "$top/fuzz/corpus/$target/." "$work/$target/corpus/"
	status=0
	"$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 \
		-print_final_stats=1 -artifact_prefix="$work/$target/artifacts/" \
		"$work/$target/corpus" >"$work/$target/log" 2>&1 || status=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target/log")
	cov=$(grep -E '^#[0-9]+' "$work/$target/log" | tail -n 1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	if [ "$status" -ne 0 ] || [ -n "$(ls -A "$work/$target/artifacts")" ]; then
		grep -v -E '^#[0-9]+' "$work/$target/log" | tail -n 60
		keep_artifacts "$target"
		fail "$target" "crashed after ${runs:-?} runs (exit $status)"
		continue
	fi
	echo "PASS: $target: ${runs:-?} runs in ${seconds}s, coverage ${cov:-?}," \
		"$(ls "$work/$target/corpus" | wc -l) corpus inputs"
	passed=$((passed + 1))
done

echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
