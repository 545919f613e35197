#!/usr/bin/env bash
# Catch-up benchmark (issue 11, section 5): a client resuming BEHIND kept
# records behind, while LIVE subscribers get RATE changes/s, against a run of
# the same live load without the catch-up, in one run on one cluster:
#   baseline  LIVE connections, RATE rows/s for SECONDS: live p50/p99;
#   catchup   the same, plus one connection resuming after the position
#             just before BEHIND kept rows: its records/s until it has them
#             all, and the live p50/p99 meanwhile.
# Goal: catch-up at >= 50,000 records/s, live p99 within 1.2x of baseline.
#
# Usage: bench/catchup/run.sh     (after scripts/setup.sh)
# Environment: CATCHUP_BEHIND (100000), CATCHUP_LIVE (1000), CATCHUP_RATE
#   (100), CATCHUP_SECONDS (10), CATCHUP_PORT / CATCHUP_HTTP_PORT
#   (55497 / 18497)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
. scripts/lib.sh
BEHIND=${CATCHUP_BEHIND:-100000}
LIVE=${CATCHUP_LIVE:-1000}
RATE=${CATCHUP_RATE:-100}
SECONDS_RUN=${CATCHUP_SECONDS:-10}
port=${CATCHUP_PORT:-55497}
http_port=${CATCHUP_HTTP_PORT:-18497}
log() { echo "catchup bench: $*" >&2; }
die() { log "$*"; exit 1; }

use_node
if [ ! -d bench/node_modules/pg ]; then
	(cd bench && timeout 600 npm ci --no-audit --no-fund) >&2 || die "npm ci in bench/ failed"
fi
dir=$(mktemp -d /tmp/rtsync-catchup.XXXXXX)
trap 'cluster_destroy "$dir"' EXIT
RTSYNC_PORT=$http_port cluster_create "$dir" "$port" "max_connections = 200" >/dev/null
cluster_start "$dir"
q() { psql -X -At -v ON_ERROR_STOP=1 -c "$1"; }
q "CREATE EXTENSION IF NOT EXISTS rtsync" >/dev/null
q "CREATE TABLE bench_catchup (id int PRIMARY KEY, sent_at bigint NOT NULL, body text NOT NULL)" >/dev/null
q "SET client_min_messages = warning; SELECT rtsync.publish('bench_catchup', 'NEW_IMAGE', type_name => 'BenchCatchup', retention => '1 day')" >/dev/null
key=$(q "SELECT rtsync.create_api_key('bench')")
kept() { q "SELECT count(*) FROM rtsync.stream_record WHERE relid = 'bench_catchup'::regclass"; }
wait_kept() {
	local n=$1 deadline=$((SECONDS + 600))
	until [ "$(kept)" -ge "$n" ]; do
		[ $SECONDS -lt $deadline ] || die "timed out waiting for $n kept records"
		sleep 0.1
	done
}
# the position before the BEHIND rows: after a marker row, once it is kept
q "INSERT INTO bench_catchup VALUES (0, 0, 'marker')" >/dev/null
wait_kept 1
after=$(q "SELECT max(sequence_number) FROM rtsync.stream_record WHERE relid = 'bench_catchup'::regclass")
log "writing $BEHIND rows to catch up on"
for ((i = 1; i <= BEHIND; i += 10000)); do
	echo "INSERT INTO bench_catchup SELECT g, 0, md5(g::text) || repeat('x', 60) FROM generate_series($i, $((i + 9999 < BEHIND ? i + 9999 : BEHIND))) g;"
done | psql -X -q -v ON_ERROR_STOP=1 >/dev/null
wait_kept $((BEHIND + 1))

url="ws://127.0.0.1:$http_port/graphql"
export PGPORT=$port
base=$BEHIND
results=()
for phase in baseline catchup; do
	log "$phase: $LIVE live subscribers, $RATE rows/s for ${SECONDS_RUN} s"
	out=$(timeout $((SECONDS_RUN + 300)) node bench/catchup/clients.mjs "$url" "$key" "$LIVE" "$RATE" \
		"$SECONDS_RUN" "$base" "$phase" "$after" "$BEHIND") || die "$phase run failed"
	results+=("$out")
	base=$((base + RATE * SECONDS_RUN + 1000))
done
node -e '
const [b, c] = process.argv.slice(1).map((s) => JSON.parse(s));
console.log("| run | live p50 ms | live p99 ms | live max ms | lost | catch-up records/s |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const r of [b, c]) console.log(`| ${r.phase} | ${r.live.p50_ms} | ${r.live.p99_ms} | ${r.live.max_ms} | ${r.live.lost} | ${r.catchup ? r.catchup.per_s + " (" + r.catchup.records + " in " + r.catchup.seconds + " s)" : "-"} |`);
console.log(`\nlive p99 with the catch-up: ${(c.live.p99_ms / b.live.p99_ms).toFixed(2)}x the baseline (goal <= 1.2x); catch-up ${c.catchup ? c.catchup.per_s : "none"} records/s (goal >= 50,000)`);
' "${results[@]}"
