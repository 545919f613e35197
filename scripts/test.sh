#!/usr/bin/env bash
# Sets up rtsync (packages, build, install) and runs the whole test suite:
# pg_regress on a temporary instance, run as an unprivileged OS user.
# Usage: scripts/test.sh [regress test names...]   (default: the schedule)
# RTSYNC_E2E_TESTS="tests/a.test.js ..." runs only those end-to-end files.
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
		rtsync.port = 0
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

# End-to-end: a real cluster with the worker, stock npm clients, psql.
E2E_PORT=55479
E2E_HTTP_PORT=18479
run_e2e() {
	local dir rc=0 log
	dir=$(mktemp -d /tmp/rtsync-e2e.XXXXXX)
	RTSYNC_PORT=$E2E_HTTP_PORT cluster_create "$dir" "$E2E_PORT" \
		"rtsync.connection_init_timeout = '1s'" "log_min_messages = log" \
		"rtsync.statement_timeout = '2s'"
	cluster_start "$dir"
	psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -f scripts/data_items.sql
	RTSYNC_API_KEY=$(psql -X -At -c "SELECT rtsync.create_api_key('e2e')")
	export RTSYNC_API_KEY RTSYNC_PORT=$E2E_HTTP_PORT
	# the worker is up once it answers; bounded wait
	for _ in $(seq 1 100); do
		curl -sf "http://127.0.0.1:$E2E_HTTP_PORT/healthz" >/dev/null && break
		sleep 0.1
	done
	log="$dir/e2e.log"
	(cd test/e2e && timeout 900 node --test --test-concurrency=1 --test-timeout=120000 \
		--test-reporter=spec ${RTSYNC_E2E_TESTS:-tests/}) 2>&1 | tee "$log" || rc=$?
	passed=$((passed + $(awk '/^ℹ pass /{print $3}' "$log" | tail -1 | grep . || echo 0)))
	failed=$((failed + $(awk '/^ℹ fail /{print $3}' "$log" | tail -1 | grep . || echo 1)))
	# a test file that failed as a whole (e.g. timed out) counts once
	if [ $rc -ne 0 ] && ! grep -qE '^ℹ fail [1-9]' "$log"; then failed=$((failed + 1)); fi
	if [ $rc -ne 0 ]; then
		echo "--- server log ---"
		tail -n 60 "$dir/server.log"
	fi
	cluster_destroy "$dir"
	return $rc
}

# The README's demo command, bounded: its subscriber must see all three events.
run_demo() {
	local out
	out=$(DEMO_ROUNDS=2 DEMO_INTERVAL=0 DEMO_PORT=55431 DEMO_HTTP_PORT=18431 \
		bash scripts/demo.sh 2>&1) || {
		echo "$out"
		echo "test demo ... FAILED (exit status)"
		failed=$((failed + 1))
		return 1
	}
	if ! grep -q '^demo: curl answered: {"data":{"createDataItem":{"id":' <<<"$out" ||
		! grep -q '^onCreateDataItem .*"title":"Test Item"' <<<"$out"; then
		echo "$out"
		echo "test demo ... FAILED (the recipe's curl)"
		failed=$((failed + 1))
		return 1
	fi
	for event in onCreateDataItem onUpdateDataItem onDeleteDataItem; do
		if ! grep -q "^$event " <<<"$out"; then
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
if [ $# -eq 0 ]; then
	run_e2e || status=1
	run_demo || status=1
fi

echo "tests: $passed passed, $failed failed"
exit $status
