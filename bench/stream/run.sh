#!/usr/bin/env bash
# The kept stream's cost and the read API's speed (issue 11, section 5), in
# one run, on a throwaway cluster:
#  - retention cost: the worker catches up on N changes written while it was
#    away (the cluster restarted with rtsync.port = 0, so its slot waits),
#    once with the table keeping no records (retention 0) and once keeping
#    them (retention 1 day): changes/s until every change is processed (and,
#    kept, committed), the worker's and all of PostgreSQL's CPU seconds, and
#    the WAL written per record while catching up;
#  - sustained: SUSTAIN_CLIENTS pgbench clients insert flat out for
#    SUSTAIN_SECONDS (once with 1 row a transaction, once with 100) while the
#    worker follows, retention off then on: changes/s committed over the time
#    until the worker has processed (and kept) them all, how far behind it was
#    when the writers stopped, CPU, and WAL per change (the writers' too);
#  - get_records: one SQL client (node-postgres, bench/stream/pager.mjs)
#    pages through the N kept records from TRIM_HORIZON, 1,000 a call, as
#    the table's owner (in json, then in dynamodb format) and then as a role
#    a policy restricts to half the rows.
#
# Usage: bench/stream/run.sh            (after scripts/setup.sh)
# Environment: STREAM_N (1000000 changes), STREAM_TX (10000 rows a
#   transaction), STREAM_PORT / STREAM_HTTP_PORT (55499 / 18499),
#   STREAM_TIMEOUT (900 s for each catch-up), STREAM_RESTRICTED (20000:
#   the records the restricted reader reads; it is slow),
#   STREAM_SUSTAIN_ROWS ("1 100"), STREAM_SUSTAIN_CLIENTS (4),
#   STREAM_SUSTAIN_SECONDS (15)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
. scripts/lib.sh
N=${STREAM_N:-1000000}
TX=${STREAM_TX:-10000}
port=${STREAM_PORT:-55499}
http_port=${STREAM_HTTP_PORT:-18499}
timeout_s=${STREAM_TIMEOUT:-900}
RESTRICTED=${STREAM_RESTRICTED:-20000}
SUSTAIN_ROWS=${STREAM_SUSTAIN_ROWS:-1 100}
SUSTAIN_CLIENTS=${STREAM_SUSTAIN_CLIENTS:-4}
SUSTAIN_SECONDS=${STREAM_SUSTAIN_SECONDS:-15}
log() { echo "stream bench: $*" >&2; }
die() { log "$*"; exit 1; }

use_node
if [ ! -d bench/node_modules/pg ]; then
	log "installing bench/node_modules (npm ci)"
	(cd bench && timeout 600 npm ci --no-audit --no-fund) >&2 || die "npm ci in bench/ failed"
fi

dir=$(mktemp -d /tmp/rtsync-stream.XXXXXX)
work=$dir
trap 'cluster_destroy "$dir"' EXIT
. bench/lib.sh
RTSYNC_PORT=$http_port cluster_create "$dir" "$port" >/dev/null
conf="$dir/data/postgresql.conf"
cluster_start "$dir"
stat_sql() { echo "(SELECT coalesce(sum(value), 0) FROM rtsync.stats WHERE name = '$1')"; }
q "CREATE EXTENSION IF NOT EXISTS rtsync" >/dev/null
q "CREATE TABLE bench_stream (id bigint PRIMARY KEY, body text NOT NULL)" >/dev/null

wait_for "the worker's slot" '[ "$(q "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '"'rtsync'"'")" = 1 ]'

ticks_per_s=$(getconf CLK_TCK)
results=()
for mode in off on; do
	retention=$([ $mode = on ] && echo "1 day" || echo "0")
	# emptied before the retention changes, so its TRUNCATE record is not kept
	q "TRUNCATE bench_stream" >/dev/null
	q "SET client_min_messages = warning; SELECT rtsync.publish('bench_stream', 'NEW_IMAGE', retention => '$retention')" >/dev/null
	cluster_stop "$dir"
	echo "rtsync.port = 0" | as_cluster_user tee -a "$conf" >/dev/null
	cluster_start "$dir"
	# the slot made again here: PostgreSQL 15 does not write a logical slot's
	# confirmed position at shutdown when only it moved, so the worker would
	# decode the previous run's changes again after the restart
	q "SELECT pg_drop_replication_slot('rtsync')" >/dev/null
	q "SELECT 'made' FROM pg_create_logical_replication_slot('rtsync', 'rtsync')" >/dev/null
	log "retention $mode: writing $N changes while the worker is away"
	for ((i = 0; i < N; i += TX)); do
		echo "INSERT INTO bench_stream SELECT g, md5(g::text) || repeat('x', 60) FROM generate_series($i + 1, $((i + TX < N ? i + TX : N))) g;"
	done | psql -X -q -v ON_ERROR_STOP=1 >/dev/null
	cluster_stop "$dir"
	sed -i '$d' "$conf"
	cluster_start "$dir"
	start_ns=$(date +%s%N)
	wal_start=$(q "SELECT pg_current_wal_lsn()")
	wait_sql "the worker to process $N changes" "$(stat_sql rtsync_stream_records_total) >= $N"
	if [ $mode = on ]; then
		wait_sql "the records to be kept" "$(stat_sql rtsync_retention_records_total) >= $N
			AND $(stat_sql rtsync_retention_pending_records) = 0"
	fi
	end_ns=$(date +%s%N)
	worker=$(worker_pid)
	worker_cpu=$(awk -v t="$ticks_per_s" '{ printf "%.1f", $1 / t }' <<<"$(cpu_ticks "$worker")")
	pg_cpu=$(awk -v t="$ticks_per_s" '{ printf "%.1f", $1 / t }' <<<"$(pg_ticks)")
	# where PostgreSQL's share goes: the walsender decoding for the worker,
	# and the worker's own connections (the retention writer among them)
	walsender=$(q "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'rtsync'")
	walsender_cpu=$(awk -v t="$ticks_per_s" '{ printf "%.1f", $1 / t }' <<<"$(cpu_ticks "$walsender")")
	conns_cpu=$(for p in $(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'rtsync' AND backend_type = 'client backend'"); do
		cpu_ticks "$p"
	done | awk -v t="$ticks_per_s" '{ s += $1 } END { printf "%.1f", s / t }')
	wal=$(q "SELECT pg_current_wal_lsn() - '$wal_start'::pg_lsn")
	seconds=$(awk -v a="$start_ns" -v b="$end_ns" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
	rate=$(awk -v n=$N -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')
	per_record=$(awk -v w="$wal" -v n=$N 'BEGIN { printf "%.0f", w / n }')
	results+=("| $mode | $N | $seconds | $rate | $worker_cpu | $pg_cpu | $walsender_cpu | $conns_cpu | $per_record |")
	log "retention $mode: $N records in $seconds s; replication waited for the writer $(q "SELECT $(stat_sql rtsync_retention_waits_total)") time(s)"
done

# sustained: writers commit flat out for SUSTAIN_SECONDS while the worker
# follows; the rate is what they committed over the time until the worker had
# processed (and, kept, committed) all of it, so falling behind costs
pgbench=$(pg_bindir)/pgbench
q "CREATE TABLE bench_sustain (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL)" >/dev/null
sustained=()
for rows in $SUSTAIN_ROWS; do
	echo "INSERT INTO bench_sustain (body) SELECT md5(random()::text) || repeat('x', 60) FROM generate_series(1, $rows);" \
		>"$dir/sustain.sql"
	for mode in off on; do
		retention=$([ $mode = on ] && echo "1 day" || echo "0")
		q "SET client_min_messages = warning; SELECT rtsync.publish('bench_sustain', 'NEW_IMAGE', retention => '$retention')" >/dev/null
		seen=$(q "SELECT $(stat_sql rtsync_stream_records_total)")
		kept0=$(q "SELECT $(stat_sql rtsync_retention_records_total)")
		worker=$(worker_pid)
		walsender=$(q "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'rtsync'")
		wal_start=$(q "SELECT pg_current_wal_lsn()")
		read -r worker0 walsender0 pg0 <<<"$(cpu_ticks "$worker") $(cpu_ticks "$walsender") $(pg_ticks)"
		start_ns=$(date +%s%N)
		out=$("$pgbench" -n -c "$SUSTAIN_CLIENTS" -j 2 -T "$SUSTAIN_SECONDS" -f "$dir/sustain.sql" 2>&1) ||
			die "pgbench: $out"
		written_ns=$(date +%s%N)
		tx=$(awk -F': *' '/number of transactions actually processed/ { split($2, a, "/"); print a[1] }' <<<"$out")
		n=$((tx * rows))
		wait_sql "the worker to follow $n changes" "$(stat_sql rtsync_stream_records_total) >= $seen + $n"
		[ $mode = off ] || wait_sql "the $n records to be kept" \
			"$(stat_sql rtsync_retention_records_total) >= $kept0 + $n AND $(stat_sql rtsync_retention_pending_records) = 0"
		end_ns=$(date +%s%N)
		read -r worker1 walsender1 pg1 <<<"$(cpu_ticks "$worker") $(cpu_ticks "$walsender") $(pg_ticks)"
		wal=$(q "SELECT pg_current_wal_lsn() - '$wal_start'::pg_lsn")
		sustained+=("$(awk -v n="$n" -v r="$rows" -v m="$mode" -v a="$start_ns" -v w="$written_ns" -v b="$end_ns" \
			-v wc=$((worker1 - worker0)) -v sc=$((walsender1 - walsender0)) -v pc=$((pg1 - pg0)) \
			-v t="$ticks_per_s" -v wal="$wal" 'BEGIN {
				printf "| %d | %s | %d | %.0f | %.2f | %.0f | %.1f | %.1f | %.1f | %.0f |", r, m, n,
					n / ((w - a) / 1e9), (b - w) / 1e9, n / ((b - a) / 1e9), wc / t, sc / t, pc / t, wal / n }')")
		log "sustained, $rows rows a transaction, retention $mode: $n changes"
	done
done

kept=$(q "SELECT count(*) FROM rtsync.stream_record WHERE relid = 'bench_stream'::regclass")
[ "$kept" = $N ] || die "kept $kept records, not $N"
log "get_records: paging through $kept records"
page=$(cd bench && node stream/pager.mjs bench_stream "$kept")
log "get_records: paging through $kept records in dynamodb format"
page_ddb=$(cd bench && node stream/pager.mjs bench_stream "$kept" dynamodb)
# a reader whose policy lets it see every other row: each record is judged
# in SQL as that role (rtsync.stream_record's row security)
q "CREATE ROLE bench_reader LOGIN; GRANT SELECT ON bench_stream TO bench_reader;
   ALTER TABLE bench_stream ENABLE ROW LEVEL SECURITY;
   CREATE POLICY even_rows ON bench_stream FOR SELECT USING (id % 2 = 0)" >/dev/null
log "get_records: paging as a reader restricted by a policy to half the rows"
restricted=$(cd bench && PGUSER=bench_reader node stream/pager.mjs bench_stream "$RESTRICTED")

echo "Each run: $N inserts in transactions of $TX rows, decoded after the worker comes back"
echo
echo "| retention | records | catch-up s | records/s | worker CPU-s | all PostgreSQL CPU-s | its walsender | its connections | WAL bytes/record while catching up |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${results[@]}"
echo
echo "Sustained: $SUSTAIN_CLIENTS pgbench clients inserting flat out for $SUSTAIN_SECONDS s, the worker following"
echo
echo "| rows a transaction | retention | changes | written/s | behind at the end s | sustained changes/s | worker CPU-s | its walsender | all PostgreSQL CPU-s | WAL bytes/change |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${sustained[@]}"
echo
node -e 'const r = JSON.parse(process.argv[1]);
console.log(`get_records (one client, 1,000 a call): ${r.records} records in ${r.calls} calls, ${(r.bytes / 1048576).toFixed(0)} MB, ${r.seconds.toFixed(2)} s: ${Math.round(r.records / r.seconds)} records/s`)' "$page"
node -e 'const r = JSON.parse(process.argv[1]);
console.log(`get_records in dynamodb format (rewritten from the kept json): ${r.records} records in ${r.calls} calls, ${(r.bytes / 1048576).toFixed(0)} MB, ${r.seconds.toFixed(2)} s: ${Math.round(r.records / r.seconds)} records/s`)' "$page_ddb"
node -e 'const r = JSON.parse(process.argv[1]);
console.log(`get_records as a reader a policy restricts to half the rows: ${r.records} records in ${r.calls} calls, ${r.seconds.toFixed(2)} s: ${Math.round(r.records / r.seconds)} records/s returned, ${Math.round(2 * r.records / r.seconds)} judged/s`)' "$restricted"
