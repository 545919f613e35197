#!/usr/bin/env bash
# Stream handlers against the trigger a Postgres user writes today (issue
# 12, section 5), in one run, on a throwaway cluster. The work is the same
# in both: one audit row per inserted row.
#  - writers: pgbench inserts single rows from HANDLER_CLIENTS clients, a
#    bounded number of transactions each, three ways: the table published
#    and kept with nothing else (the baseline), with an AFTER INSERT FOR
#    EACH ROW trigger writing the audit row, and with a handler (batch
#    1,000) writing it from the stream while they write. Commit latency
#    (mean, p50, p99 from pgbench's per-transaction log) and throughput;
#    for the handler, how long after the last commit it had audited all.
#    Flat out (a bounded number of transactions), then at a steady
#    HANDLER_WRITE_RATE for HANDLER_SECONDS.
#  - handler throughput: HANDLER_N rows written first and kept, then a
#    handler from TRIM_HORIZON audits them all: records/s, batch 100 and
#    1,000, parallelization factor 1 and 4 (rtsync.handler_connections 4).
#  - IteratorAge: pgbench at a steady HANDLER_RATE inserts/s for
#    HANDLER_SECONDS with a handler of batch 100 and no window; each row's
#    age is its audit row's clock_timestamp() minus its own (both taken by
#    the server), so it includes the function's run: p50, p99, max.
#
# Usage: bench/handlers/run.sh            (after scripts/setup.sh)
# Environment: HANDLER_N (200000), HANDLER_CLIENTS (4), HANDLER_TX (5000
#   transactions a client), HANDLER_RATE (1000), HANDLER_SECONDS (20), HANDLER_WRITE_RATE (5000),
#   HANDLER_PORT / HANDLER_HTTP_PORT (55497 / 18497), HANDLER_TIMEOUT (600 s)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
. scripts/lib.sh
N=${HANDLER_N:-200000}
CLIENTS=${HANDLER_CLIENTS:-4}
TX=${HANDLER_TX:-5000}
RATE=${HANDLER_RATE:-1000}
RATE_SECONDS=${HANDLER_SECONDS:-20}
WRITE_RATE=${HANDLER_WRITE_RATE:-5000}
port=${HANDLER_PORT:-55497}
http_port=${HANDLER_HTTP_PORT:-18497}
timeout_s=${HANDLER_TIMEOUT:-600}
log() { echo "handlers bench: $*" >&2; }
die() { log "$*"; exit 1; }

dir=$(mktemp -d /tmp/rtsync-handlers.XXXXXX)
work=$dir
trap 'cluster_destroy "$dir"' EXIT
# shellcheck source=../lib.sh
. bench/lib.sh
# four handler connections: a parallelization factor of 4 runs its lanes at once
RTSYNC_PORT=$http_port cluster_create "$dir" "$port" "rtsync.handler_connections = 4" >/dev/null
cluster_start "$dir"
pgbench=$(pg_bindir)/pgbench
now_ns() { date +%s%N; }

# a source table (created by clock_timestamp(), so a row's age is measured
# by the server's clock on both ends), its audit table, the handler's
# function and the trigger's
psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION IF NOT EXISTS rtsync;
CREATE TABLE bench_audit (id bigint NOT NULL, tbl text NOT NULL, event text NOT NULL,
	created timestamptz NOT NULL, done timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION bench_audit_batch(event jsonb) RETURNS void LANGUAGE sql AS $$
	INSERT INTO bench_audit (id, tbl, event, created)
	SELECT (r #>> '{dynamodb,Keys,id}')::bigint, r ->> 'tableName', r ->> 'eventName',
		   (r #>> '{dynamodb,NewImage,created}')::timestamptz
	  FROM jsonb_array_elements(event -> 'Records') r
$$;
CREATE FUNCTION bench_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO bench_audit (id, tbl, event, created) VALUES (NEW.id, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP, NEW.created);
	RETURN NULL;
END $$;
SQL
new_table() {
	q "CREATE TABLE $1 (id bigserial PRIMARY KEY, body text NOT NULL,
		created timestamptz NOT NULL DEFAULT clock_timestamp());
	   SET client_min_messages = warning;
	   SELECT rtsync.publish('$1', 'NEW_IMAGE', retention => '1 day')" >/dev/null
}
kept() { q "SELECT count(*) FROM rtsync.stream_record WHERE relid = '$1'::regclass"; }
audited() { q "SELECT count(*) FROM bench_audit WHERE tbl = 'public.$1'"; }
handler() { # name table batch [parallelization factor]
	q "SELECT rtsync.create_handler('$1', '$2', 'bench_audit_batch(jsonb)', batch_size => $3,
		parallelization_factor => ${4:-1}, starting_position => 'TRIM_HORIZON')" >/dev/null
}

# pgbench inserting into table $1; prints "tps mean_ms p50_ms p99_ms"
write() {
	local tbl=$1 extra=${2:-} logs="$work/pgbench.$1"
	mkdir -p "$logs"
	chmod 777 "$logs"
	echo "INSERT INTO $tbl (body) VALUES (md5(random()::text));" >"$logs/insert.sql"
	local out
	# shellcheck disable=SC2086
	out=$(cd "$logs" && "$pgbench" -n -c "$CLIENTS" -j 2 $extra -f insert.sql -l --log-prefix=tx 2>&1) ||
		die "pgbench: $out"
	local tps
	tps=$(awk '/^tps = /{printf "%.0f", $3}' <<<"$out")
	# per-transaction log: the third field is the latency in microseconds
	cat "$logs"/tx.* | awk '{print $3}' | sort -n | awk -v tps="$tps" '
		{ v[NR] = $1; s += $1 }
		END { printf "%s %.2f %.2f %.2f\n", tps, s / NR / 1000, v[int(NR * 0.5)] / 1000, v[int(NR * 0.99)] / 1000 }'
}

wait_for "the worker's slot" '[ "$(q "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '"'rtsync'"'")" = 1 ]'
total=$((CLIENTS * TX))

# --- writers: baseline, trigger, handler; flat out, then at a steady rate
# (pgbench's extra arguments $1, tables suffixed $2, rows into the array $3)
writers_run() {
	local extra=$1 sfx=$2 tps mean p50 p99 end behind
	local -n rows=$3
	new_table "bench_plain$sfx"
	log "writers ($extra): the table kept and nothing else"
	read -r tps mean p50 p99 < <(write "bench_plain$sfx" "$extra")
	rows+=("| kept, nothing else | $tps | $mean | $p50 | $p99 | |")

	new_table "bench_trigger$sfx"
	q "CREATE TRIGGER audit AFTER INSERT ON bench_trigger$sfx FOR EACH ROW EXECUTE FUNCTION bench_audit_row()" >/dev/null
	log "writers ($extra): an AFTER INSERT FOR EACH ROW trigger"
	read -r tps mean p50 p99 < <(write "bench_trigger$sfx" "$extra")
	[ "$(audited "bench_trigger$sfx")" = "$(q "SELECT count(*) FROM bench_trigger$sfx")" ] || die "the trigger missed rows"
	rows+=("| AFTER ... FOR EACH ROW trigger | $tps | $mean | $p50 | $p99 | 0 (in the writer's transaction) |")

	new_table "bench_handled$sfx"
	handler "audit_writers$sfx" "bench_handled$sfx" 1000
	log "writers ($extra): a handler (batch 1000) auditing them"
	read -r tps mean p50 p99 < <(write "bench_handled$sfx" "$extra")
	end=$(now_ns)
	wait_for "the handler to audit every row" '[ "$(audited "bench_handled$sfx")" = "$(q "SELECT count(*) FROM bench_handled$sfx")" ]'
	behind=$(awk -v a="$end" -v b="$(now_ns)" 'BEGIN { printf "%.0f", (b - a) / 1e6 }')
	rows+=("| stream handler, batch 1,000 | $tps | $mean | $p50 | $p99 | $behind |")
	q "SELECT rtsync.drop_handler('audit_writers$sfx')" >/dev/null
}
writers=()
writers_run "-t $TX" "" writers
steady_writers=()
writers_run "-R $WRITE_RATE -T $RATE_SECONDS" _r steady_writers

# --- handler throughput from a backlog
through=()
for run in "100 1" "1000 1" "100 4" "1000 4"; do
	read -r batch lanes <<<"$run"
	tbl=bench_backlog_${batch}_$lanes
	new_table "$tbl"
	log "throughput: $N rows kept, then a handler of batch $batch, parallelization $lanes, audits them"
	for ((i = 0; i < N; i += 10000)); do
		echo "INSERT INTO $tbl (body) SELECT md5(g::text) FROM generate_series(1, $((i + 10000 < N ? 10000 : N - i))) g;"
	done | psql -X -q -v ON_ERROR_STOP=1 >/dev/null
	wait_for "the $N records to be kept" '[ "$(kept "$tbl")" = $N ]'
	start=$(now_ns)
	handler "backlog_${batch}_$lanes" "$tbl" "$batch" "$lanes"
	wait_for "the handler to audit $N rows" '[ "$(audited "$tbl")" = $N ]'
	seconds=$(awk -v a="$start" -v b="$(now_ns)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
	invocations=$(q "SELECT invocations FROM rtsync.handlers WHERE name = 'backlog_${batch}_$lanes'")
	through+=("| $batch | $lanes | $N | $seconds | $(awk -v n=$N -v s="$seconds" 'BEGIN { printf "%.0f", n / s }') | $invocations |")
	q "SELECT rtsync.drop_handler('backlog_${batch}_$lanes')" >/dev/null
done

# --- IteratorAge at a steady rate
new_table bench_steady
handler steady bench_steady 100
log "IteratorAge: $RATE inserts/s for $RATE_SECONDS s, handler batch 100"
read -r tps _ _ _ < <(write bench_steady "-R $RATE -T $RATE_SECONDS")
wait_for "the handler to audit every row" '[ "$(audited bench_steady)" = "$(q "SELECT count(*) FROM bench_steady")" ]'
age=$(q "SELECT count(*) || ' ' || round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' '
	|| round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1) || ' ' || round(max(ms)::numeric, 1)
	FROM (SELECT extract(epoch FROM done - created) * 1000 AS ms FROM bench_audit WHERE tbl = 'public.bench_steady') a")
read -r rows age50 age99 agemax <<<"$age"
steady_invocations=$(q "SELECT invocations FROM rtsync.handlers WHERE name = 'steady'")

echo "Writers: $CLIENTS pgbench clients, $TX single-row inserts each ($total in all); latency in ms"
echo
echo "| the audit row written by | inserts/s | mean | p50 | p99 | all audited, ms after the last commit |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${writers[@]}"
echo
echo "The same at a steady $WRITE_RATE inserts/s for $RATE_SECONDS s (pgbench -R: latency counted from each transaction's scheduled start)"
echo
echo "| the audit row written by | inserts/s | mean | p50 | p99 | all audited, ms after the last commit |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${steady_writers[@]}"
echo
echo "A handler catching up on a backlog (transactions of 10,000 rows, kept before it starts)"
echo
echo "| batch | parallelization | records | s | records/s | invocations |"
echo "|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${through[@]}"
echo
echo "IteratorAge at $tps inserts/s for $RATE_SECONDS s, batch 100, no window: $rows rows, p50 $age50 ms, p99 $age99 ms, max $agemax ms ($steady_invocations invocations)"
