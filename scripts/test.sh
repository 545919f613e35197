#!/usr/bin/env bash
# Sets up rtsync (packages, build, install) and runs the whole test suite:
# pg_regress on a temporary instance, run as an unprivileged OS user.
# Usage: scripts/test.sh [regress test names...]   (default: the schedule)
# RTSYNC_E2E_TESTS="tests/a.test.js ..." runs only those end-to-end files.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

bash scripts/setup.sh
use_node

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

	# the temporary instance is UTF8 with the C.UTF-8 locale (which every
	# Debian has), whatever locale the caller has or lacks (no LANG: SQL_ASCII)
	local args=(--inputdir=. --outputdir=out --temp-instance=tmp_check
		--temp-config=regress.conf --bindir="$(pg_bindir)" --encoding=UTF8)
	if [ $# -gt 0 ]; then args+=("$@"); else args+=(--schedule=schedule); fi
	(cd "$work" && as_cluster_user env LANG=C.UTF-8 LC_ALL=C.UTF-8 \
		"$pg_regress" "${args[@]}") 2>&1 |
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
	# the test files, named (node 22 and later take no directory)
	local files=() pass fail
	if [ -n "${RTSYNC_E2E_TESTS:-}" ]; then
		read -ra files <<<"$RTSYNC_E2E_TESTS"
	else
		mapfile -t files < <(cd test/e2e && shopt -s nullglob &&
			printf '%s\n' tests/*.test.{js,mjs,cjs} | sort)
	fi
	(cd test/e2e && timeout 900 node --test --test-concurrency=1 --test-timeout=120000 \
		--test-reporter=spec "${files[@]}") 2>&1 | tee "$log" || rc=$?
	# node's summary counts each test once; a run that ends without one (node
	# refused its options, or timeout killed it) or that fails while its
	# summary says none failed (a file that failed as a whole) is one failure
	pass=$(awk '/^ℹ pass /{n = $3} END {print n}' "$log")
	fail=$(awk '/^ℹ fail /{n = $3} END {print n}' "$log")
	passed=$((passed + ${pass:-0}))
	failed=$((failed + ${fail:-0}))
	if [ -z "$fail" ]; then
		[ $rc -ne 0 ] || rc=1
		failed=$((failed + 1))
	elif [ $rc -ne 0 ] && [ "$fail" -eq 0 ]; then
		failed=$((failed + 1))
	fi
	if [ $rc -ne 0 ]; then
		# what went wrong anywhere in the run, then how it ended
		echo "--- server log: worker exits, crashes and errors ---"
		grep -E 'exited with exit code|terminated by signal|PANIC|FATAL|TRAP|rtsync.*(ERROR|could not)' \
			"$dir/server.log" | grep -v 'administrator command' | tail -n 40 || true
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

# The libFuzzer harnesses (test/fuzz/<target>/), when scripts/fuzz.sh exists:
# 20 seconds each. It prints one line per target, "fuzz NAME ... ok" or
# "fuzz NAME ... FAILED"; a non-zero exit without a FAILED line is one failure.
run_fuzz() {
	local log rc=0 ok bad
	[ -f scripts/fuzz.sh ] || return 0
	log=$(mktemp /tmp/rtsync-fuzz.XXXXXX)
	bash scripts/fuzz.sh 20 2>&1 | tee "$log" || rc=$?
	ok=$(grep -cE '^fuzz .*\.\.\. +ok\b' "$log" || true)
	bad=$(grep -cE '^fuzz .*\.\.\. +FAILED' "$log" || true)
	passed=$((passed + ok))
	failed=$((failed + bad))
	if [ $rc -ne 0 ] && [ "$bad" -eq 0 ]; then failed=$((failed + 1)); fi
	rm -f "$log"
	return $rc
}

# The server's level rule (scripts/check-layers.sh), and that the check
# itself catches a planted violation of each kind: two tests.
run_layers() {
	local rc=0
	if bash scripts/check-layers.sh; then
		echo "test layers ... ok"
		passed=$((passed + 1))
	else
		echo "test layers ... FAILED"
		failed=$((failed + 1))
		rc=1
	fi
	if bash scripts/check-layers.sh --self-test; then
		echo "test layers self-test ... ok"
		passed=$((passed + 1))
	else
		echo "test layers self-test ... FAILED"
		failed=$((failed + 1))
		rc=1
	fi
	return $rc
}

status=0
if [ $# -eq 0 ]; then
	run_layers || status=1
fi
run_regress "$@" || status=1
if [ $# -eq 0 ]; then
	run_fuzz || status=1
	run_e2e || status=1
	run_demo || status=1
fi

echo "tests: $passed passed, $failed failed"
exit $status
