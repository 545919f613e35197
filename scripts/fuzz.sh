#!/usr/bin/env bash
# Builds and runs every libFuzzer target under test/fuzz/, each for a bounded
# time, and says per target "fuzz <name> ... ok" or "... FAILED".
# Usage: scripts/fuzz.sh [seconds per target, default 20] [target names...]
#
# A target is a directory test/fuzz/<name>/ holding:
#   build.sh      builds the fuzzer: `bash test/fuzz/<name>/build.sh <binary>`,
#                 run from the repository root (test/fuzz/lib/common.sh has
#                 the compiler flags and the backend shims to reuse)
#   corpus/       the committed seed inputs (read only: new inputs found in a
#                 run go to a scratch directory)
#   fuzz.options  optional: more libFuzzer flags, one line (-max_len=... -dict=...)
# Directories without build.sh (test/fuzz/lib) are not targets.
#
# A crash, a leak, a timeout (a slow input) or a failed build fails the run,
# which then exits 1; the input that did it is kept and its path printed.
# Needs clang with libFuzzer (Debian: clang libclang-rt-14-dev).
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-20}
shift || true
case "$seconds" in
	'' | *[!0-9]*)
		echo "usage: scripts/fuzz.sh [seconds] [targets...]" >&2
		exit 2
		;;
esac

if ! command -v "${FUZZ_CC:-clang}" >/dev/null 2>&1; then
	echo "fuzz: clang not found; install clang and libclang-rt-14-dev" >&2
	exit 2
fi

targets=()
if [ $# -gt 0 ]; then
	targets=("$@")
else
	for dir in test/fuzz/*/; do
		[ -f "$dir/build.sh" ] && targets+=("$(basename "$dir")")
	done
fi

work=$(mktemp -d /tmp/rtsync-fuzz.XXXXXX)
status=0
for name in "${targets[@]}"; do
	dir=test/fuzz/$name
	out=$work/$name
	mkdir -p "$out/corpus" "$out/artifacts"
	if [ ! -f "$dir/build.sh" ]; then
		echo "fuzz $name ... FAILED (no $dir/build.sh)"
		status=1
		continue
	fi
	if ! bash "$dir/build.sh" "$out/fuzzer" >"$out/build.log" 2>&1; then
		tail -n 30 "$out/build.log"
		echo "fuzz $name ... FAILED (build; log in $out/build.log)"
		status=1
		continue
	fi
	options=()
	if [ -f "$dir/fuzz.options" ]; then
		read -r -a options <"$dir/fuzz.options"
	fi
	seeds=()
	[ -d "$dir/corpus" ] && seeds=("$dir/corpus")
	# the scratch corpus first: libFuzzer writes what it finds there
	started=$(date +%s)
	if (cd "$dir" && timeout $((seconds + 120)) "$out/fuzzer" \
		-max_total_time="$seconds" -print_final_stats=1 \
		-artifact_prefix="$out/artifacts/" "${options[@]}" \
		"$out/corpus" "${seeds[@]/#$dir\//}") >"$out/fuzz.log" 2>&1; then
		runs=$(awk '/stat::number_of_executed_units/{print $2}' "$out/fuzz.log")
		echo "fuzz $name ... ok (${runs:-?} runs in $(($(date +%s) - started)) s)"
	else
		grep -E "ERROR|SUMMARY|pg_shim|pg_stubs|fuzz_|timeout|leak" "$out/fuzz.log" | head -n 20
		artifact=$(ls -1 "$out/artifacts" 2>/dev/null | head -n 1)
		echo "fuzz $name ... FAILED${artifact:+ (input kept: $out/artifacts/$artifact)}; log in $out/fuzz.log"
		status=1
	fi
done
[ $status -eq 0 ] && rm -rf "$work"
exit $status
