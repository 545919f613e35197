#!/usr/bin/env bash
# Sets up rtsync (packages, build, install) and runs the whole test suite:
# pg_regress on a temporary instance, run as an unprivileged OS user.
# Usage: scripts/test.sh [regress test names...]   (default: the schedule)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

bash scripts/setup.sh

passed=0
failed=0

run_regress() {
	local work pg_regress rc=0
	pg_regress="$(dirname "$(pg_config --pgxs)")/../test/regress/pg_regress"
	# a copy the cluster user can read and write, wherever this checkout is
	work=$(mktemp -d /tmp/rtsync-regress.XXXXXX)
	cp -r test/regress/. "$work/"
	cat >"$work/regress.conf" <<-CONF
		wal_level = logical
		shared_preload_libraries = 'rtsync'
		output_plugin_libraries = 'pgoutput, test_decoding, rtsync'
		max_replication_slots = 10
		max_wal_senders = 10
		logical_decoding_work_mem = '64kB'
	CONF
	chmod -R a+rwX "$work"
	if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$work"; fi

	local args=(--inputdir=. --outputdir=out --temp-instance=tmp_check
		--temp-config=regress.conf --bindir="$(pg_bindir)")
	if [ $# -gt 0 ]; then args+=("$@"); else args+=(--schedule=schedule); fi
	(cd "$work" && as_cluster_user "$pg_regress" "${args[@]}") 2>&1 |
		tee "$work/pg_regress.log" || rc=$?

	passed=$((passed + $(grep -cE '\.\.\. +ok' "$work/pg_regress.log" || true)))
	failed=$((failed + $(grep -cE '\.\.\. +FAILED' "$work/pg_regress.log" || true)))
	if [ $rc -ne 0 ]; then
		failed=$((failed > 0 ? failed : 1))
		echo "--- regression.diffs ---"
		head -n 400 "$work/out/regression.diffs" 2>/dev/null || true
		echo "(full output kept in $work/out)"
		return 1
	fi
	rm -rf "$work"
}

# The README's demo command, bounded: it must stream all three event kinds.
run_demo() {
	local out
	out=$(DEMO_ROUNDS=2 DEMO_INTERVAL=0 DEMO_PORT=55431 bash scripts/demo.sh 2>&1) || {
		echo "$out"
		echo "test demo ... FAILED (exit status)"
		failed=$((failed + 1))
		return 1
	}
	for event in INSERT MODIFY REMOVE; do
		if ! grep -q "\"eventName\":\"$event\"" <<<"$out"; then
			echo "$out"
			echo "test demo ... FAILED (no $event record)"
			failed=$((failed + 1))
			return 1
		fi
	done
	echo "test demo ... ok"
	passed=$((passed + 1))
}

status=0
run_regress "$@" || status=1
if [ $# -eq 0 ]; then run_demo || status=1; fi

echo "tests: $passed passed, $failed failed"
exit $status
