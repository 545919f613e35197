#!/usr/bin/env bash
# HTTP benchmark: GraphQL mutations and queries over POST /graphql, rtsync
# against PostGraphile v4, on the same cluster, the same table and the same
# machine, in one run.
#
# Load: wrk (Debian package; installed with apt-get when missing and we are
# root), closed loop, C keep-alive connections each with one request in
# flight, for D seconds per point after a W-second warm-up at the same
# concurrency, from 127.0.0.1. Every response is checked (HTTP 200, no
# "errors", the expected field in the body); a failed check counts as an
# error. Workloads:
#   create  the recipe's mutation, createDataItem(input: $input) { id title
#           content timestamp version } (PostGraphile: createDataItem(input:
#           {dataItem: $input}) { dataItem { ... } }); the table is
#           truncated before each point;
#   get     getDataItem(id: $id) (PostGraphile: dataItemById(id: $id)) over 1,000
#           seeded rows, in turn;
#   list    listDataItems(limit: 10) { items { ... } } (PostGraphile:
#           allDataItems(first: 10) { nodes { ... } }).
# The rtsync worker serves its phase as deployed (its replication stream
# included); for PostGraphile's phase the cluster is restarted with
# rtsync.port = 0, so the worker and its walsender are not running.
# PostGraphile (bench/postgraphile.cjs http) runs as one Node process
# (NODE_ENV=production) on 127.0.0.1, connected over the unix socket with a
# pg pool of HTTP_POOL connections; rtsync runs with rtsync.pool_size =
# HTTP_POOL. CPU seconds are taken from /proc for the server process, the
# cluster's other processes, wrk and the rest of the machine.
#
# Usage: bench/http/run.sh     (after scripts/setup.sh; installs bench/
#                               node_modules with npm ci when missing)
#
# Environment:
#   HTTP_CLIENTS    concurrent connections per point (default "1 8 64")
#   HTTP_WORKLOADS  default "create get list"
#   HTTP_TARGETS    servers to run, in order (default "rtsync postgraphile")
#   HTTP_DURATION   measured seconds per point (10)
#   HTTP_WARMUP     warm-up seconds before each point, not measured (3)
#   HTTP_WARMUP_FIRST  extra warm-up seconds before a phase's first point of
#                   each workload (5)
#   HTTP_POOL       rtsync.pool_size and PostGraphile's pg pool size (8)
#   HTTP_WRK_THREADS  wrk threads, at most one per connection (1)
#   HTTP_ROUNDS     run every target's phase this many times, alternating
#                   targets (rtsync, PostGraphile, rtsync, ...); the tables keep
#                   each point's round with the highest req/s and list the
#                   req/s of every round (default 1)
#   HTTP_PG_SETTINGS=1  PostGraphile sets the role and statement_timeout per
#                   request (pgSettings), as rtsync does for the API key's role:
#                   every request, queries too, becomes BEGIN; set_config(...);
#                   ...; COMMIT (default 0: PostGraphile's defaults, queries
#                   run as one statement outside a transaction)
#   HTTP_PORT / HTTP_RTSYNC_PORT / HTTP_PG_HTTP_PORT  cluster port / rtsync
#                   port / PostGraphile port (55740 / 15740 / 15760)
# Prints markdown tables and writes them to bench/http/results.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

die() {
	echo "http-bench: $*" >&2
	exit 1
}
log() { echo "http-bench: $*" >&2; }

TARGETS=${HTTP_TARGETS:-rtsync postgraphile}
for t in $TARGETS; do
	case $t in rtsync | postgraphile) ;; *) die "unknown target '$t' in HTTP_TARGETS" ;; esac
done
want() { case " $TARGETS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
WORKLOADS=${HTTP_WORKLOADS:-create get list}
for w in $WORKLOADS; do
	case $w in create | get | list) ;; *) die "unknown workload '$w' in HTTP_WORKLOADS" ;; esac
done
CLIENTS=${HTTP_CLIENTS:-1 8 64}
D=${HTTP_DURATION:-10}
W=${HTTP_WARMUP:-3}
W_FIRST=${HTTP_WARMUP_FIRST:-5}
POOL=${HTTP_POOL:-8}
WRK_THREADS=${HTTP_WRK_THREADS:-1}
ROUNDS=${HTTP_ROUNDS:-1}
PORT=${HTTP_PORT:-55740}
RT_HTTP=${HTTP_RTSYNC_PORT:-15740}
PG_HTTP=${HTTP_PG_HTTP_PORT:-15760}
CLK_TCK=$(getconf CLK_TCK)

command -v pg_config >/dev/null 2>&1 || die "pg_config not found; run scripts/setup.sh first"
# shellcheck source=../../scripts/lib.sh
. scripts/lib.sh
use_node # the Node.js scripts/setup.sh chose (the machine's, or .tools/node)
node_is_recent || die "Node.js $(node_min_major) or later needed; run scripts/setup.sh first"
command -v curl >/dev/null 2>&1 || die "curl not found"
if ! command -v wrk >/dev/null 2>&1; then
	[ "$(id -u)" -eq 0 ] || die "wrk not found (apt-get install wrk)"
	log "installing wrk (apt-get)"
	{ apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; } >&2 || die "apt-get install wrk failed"
fi
[ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"
if want postgraphile && [ ! -d bench/node_modules/postgraphile ]; then
	log "installing PostGraphile into bench/node_modules (npm ci)"
	(cd bench && timeout 600 npm ci --no-audit --no-fund) >&2 || die "npm ci in bench/ failed"
fi
# shellcheck source=../lib.sh
. bench/lib.sh
bindir=$(pg_bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
PG_ROLE=
if [ "${HTTP_PG_SETTINGS:-0}" = 1 ]; then PG_ROLE=$(cluster_os_user); fi # the API key's role

dir=$(mktemp -d /tmp/rtsync-http.XXXXXX)
work=$(mktemp -d /tmp/rtsync-http-work.XXXXXX)
summary="$work/summary.jsonl"
: >"$summary"
wrk_pid=

pg_server_start() {
	log "starting PostGraphile on 127.0.0.1:$PG_HTTP (pg pool $POOL${PG_ROLE:+, pgSettings role $PG_ROLE})"
	PG_NODE_ENV=NODE_ENV=production postgraphile_start http "$pg_conn" "$PG_HTTP" "$POOL" ${PG_ROLE:+"$PG_ROLE"}
}
pg_server_stop() { postgraphile_stop; }
cleanup() {
	[ -n "$wrk_pid" ] && kill "$wrk_pid" 2>/dev/null
	pg_server_stop
	grep -E 'terminated by signal|PANIC|TRAP' "$dir/server.log" 2>/dev/null |
		head -20 | sed 's/^/http-bench: server.log: /' >&2 || true
	cluster_destroy "$dir"
	rm -rf "$work"
}
trap cleanup EXIT

RTSYNC_PORT=$RT_HTTP cluster_create "$dir" "$PORT" \
	"rtsync.pool_size = $POOL" "max_connections = 50"
cluster_start "$dir"
psql -o /dev/null -f scripts/data_items.sql
KEY=$(psql -At -c "SELECT rtsync.create_api_key('bench')")
pg_conn="postgres://$PGUSER@${dir//\//%2F}:$PORT/postgres"


# request bodies, one JSON document per line, and the string every good
# response contains
mk_bodies() {
	node - "$work" <<-'JS'
		const fs = require('fs');
		const dir = process.argv[2];
		const fields = 'id title content timestamp version';
		const lines = (f) => Array.from({ length: 1000 }, (_, i) => JSON.stringify(f(i))).join('\n') + '\n';
		const w = (name, f) => fs.writeFileSync(`${dir}/${name}.bodies`, lines(f));
		const seedId = (i) => `seed-${String(i).padStart(6, '0')}`;
		// the recipe's mutation, verbatim but for the title
		w('rtsync-create', (i) => ({
			query: `mutation CreateItem($input: CreateDataItemInput!) { createDataItem(input: $input) { ${fields} } }`,
			variables: { input: { title: `Test Item ${i}`, content: 'Testing real-time sync' } },
		}));
		w('postgraphile-create', (i) => ({
			query: `mutation CreateItem($input: DataItemInput!) { createDataItem(input: {dataItem: $input}) { dataItem { ${fields} } } }`,
			variables: { input: { title: `Test Item ${i}`, content: 'Testing real-time sync' } },
		}));
		w('rtsync-get', (i) => ({
			query: `query GetItem($id: ID!) { getDataItem(id: $id) { ${fields} } }`,
			variables: { id: seedId(i) },
		}));
		w('postgraphile-get', (i) => ({
			query: `query GetItem($id: String!) { dataItemById(id: $id) { ${fields} } }`,
			variables: { id: seedId(i) },
		}));
		w('rtsync-list', () => ({ query: `query ListItems { listDataItems(limit: 10) { items { ${fields} } } }` }));
		w('postgraphile-list', () => ({ query: `query ListItems { allDataItems(first: 10) { nodes { ${fields} } } }` }));
	JS
}
marker() {
	case $1 in
	create) echo '"content":"Testing real-time sync","timestamp":' ;;
	get) echo '"title":"seed ' ;;
	list) echo '"id":"seed-000009"' ;;
	esac
}
mk_bodies

seed() {
	psql -o /dev/null <<-'SQL'
		TRUNCATE data_items;
		INSERT INTO data_items (id, title, content)
		SELECT format('seed-%s', lpad(i::text, 6, '0')), 'seed ' || i, 'Testing real-time sync'
		FROM generate_series(0, 999) i;
		VACUUM ANALYZE data_items;
		CHECKPOINT;
	SQL
}

# run_point TARGET SERVER_PID WORKLOAD CLIENTS: appends a JSON line to $summary
run_point() {
	local target=$1 spid=$2 wl=$3 c=$4 warm=$5 url threads hdr=() mk out="$work/wrk.out"
	if [ "$target" = rtsync ]; then
		url="http://127.0.0.1:$RT_HTTP/graphql"
		hdr=(-H "x-api-key: $KEY")
	else
		url="http://127.0.0.1:$PG_HTTP/graphql"
	fi
	threads=$WRK_THREADS
	[ "$threads" -gt "$c" ] && threads=$c
	mk=$(marker "$wl")
	local bodies="$work/$target-$wl.bodies"
	if [ "$wl" = create ]; then
		psql -o /dev/null -c "TRUNCATE data_items" -c "CHECKPOINT"
	fi
	log "$target $wl c=$c: warm-up ${warm}s, then ${D}s"
	if [ "$warm" -gt 0 ]; then
		timeout $((warm + 30)) wrk -t"$threads" -c"$c" -d"${warm}s" --timeout 10s "${hdr[@]}" \
			-s bench/http/graphql.lua "$url" -- "$bodies" "$mk" >"$work/warmup.out" 2>&1 ||
			{ cat "$work/warmup.out" >&2; die "wrk warm-up failed"; }
	fi
	kill -0 "$spid" 2>/dev/null || die "$target server process $spid is gone"
	local logsz cpu0 cpu1 pg0 pg1 m0 m1 rc
	logsz=$(stat -c %s "$dir/server.log")
	cpu0=$(cpu_ticks "$spid")
	pg0=$(pg_ticks)
	m0=$(machine_ticks)
	set +e
	/usr/bin/time -f '%U %S' -o "$work/wrk.time" timeout $((D + 30)) \
		wrk -t"$threads" -c"$c" -d"${D}s" --timeout 10s "${hdr[@]}" \
		-s bench/http/graphql.lua "$url" -- "$bodies" "$mk" >"$out" 2>&1
	rc=$?
	set -e
	kill -0 "$spid" 2>/dev/null || { tail -20 "$dir/server.log" >&2; die "$target server process $spid died during the run"; }
	cpu1=$(cpu_ticks "$spid")
	pg1=$(pg_ticks)
	m1=$(machine_ticks)
	[ "$rc" -eq 0 ] || { cat "$out" >&2; die "wrk exited with $rc"; }
	local line newlog
	line=$(grep '^{' "$out" | tail -1)
	[ -n "$line" ] || { cat "$out" >&2; die "no result from wrk"; }
	# what the server logged during the point
	newlog=$(tail -c +$((logsz + 1)) "$dir/server.log" | grep -cE 'WARNING|ERROR|FATAL|PANIC|terminated by signal|replication lag' || true)
	if [ "$newlog" -gt 0 ]; then
		log "$target $wl c=$c: $newlog warning/error/lag lines in server.log during the point:"
		tail -c +$((logsz + 1)) "$dir/server.log" | grep -E 'WARNING|ERROR|FATAL|PANIC|terminated by signal|replication lag' | head -10 >&2
	fi
	ROUND=$round node -e '
		const fs = require("fs");
		const r = JSON.parse(process.argv[1]);
		const [target, wl, c, scpu0, scpu1, pg0, pg1, tck, wrkTime, logLines, rss, m0, m1] = process.argv.slice(3);
		const s = (Number(scpu1) - Number(scpu0)) / Number(tck);
		let p = (Number(pg1) - Number(pg0)) / Number(tck);
		if (target === "rtsync") p -= s; // the worker is a child of the postmaster
		const [u, sy] = fs.readFileSync(wrkTime, "utf8").trim().split(/\s+/).slice(-2).map(Number);
		const machine = (Number(m1) - Number(m0)) / Number(tck);
		Object.assign(r, { round: Number(process.env.ROUND), target, workload: wl, clients: Number(c), serverCpuS: s, pgCpuS: p,
			wrkCpuS: u + sy, otherCpuS: Math.max(0, machine - s - p - (u + sy)), logLines: Number(logLines),
			rssMb: Number(rss) });
		fs.appendFileSync(process.argv[2], JSON.stringify(r) + "\n");
		const errs = r.connect_errors + r.read_errors + r.write_errors + r.timeouts + r.bad; // bad includes non-200 statuses
		console.error(`http-bench: ${target} ${wl} c=${c}: ${(r.requests / (r.duration_us / 1e6)).toFixed(0)} req/s, ` +
			`p50 ${(r.p50_us / 1000).toFixed(2)} ms, p99 ${(r.p99_us / 1000).toFixed(2)} ms, ${errs} errors` +
			(r.bad_sample ? `; first bad response: ${r.bad_sample}` : ""));
	' "$line" "$summary" "$target" "$wl" "$c" "$cpu0" "$cpu1" "$pg0" "$pg1" "$CLK_TCK" "$work/wrk.time" "$newlog" \
		"$(rss_mb "$spid")" "$m0" "$m1"
}

run_target() {
	local target=$1 spid=$2 wl c w
	for wl in $WORKLOADS; do
		[ "$wl" = create ] || seed
		w=$((W + W_FIRST)) # Node's JIT (and both servers' caches) warm up on the first point
		for c in $CLIENTS; do
			run_point "$target" "$spid" "$wl" "$c" "$w"
			w=$W
		done
	done
	# a server that keeps spinning once the load has stopped
	local c0 c1
	sleep 1
	c0=$(cpu_ticks "$spid")
	sleep 3
	c1=$(cpu_ticks "$spid")
	awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" -v n="$target" -v r="$round" \
		'BEGIN{printf "- %s, round %d: %.2f CPU s in 3 s idle after its last point\n", n, r, (b-a)/t}' >>"$work/idle.txt"
	tail -1 "$work/idle.txt" | sed 's/^- /http-bench: /' >&2
}

worker_off=
for round in $(seq 1 "$ROUNDS"); do
	[ "$ROUNDS" -gt 1 ] && log "round $round of $ROUNDS"
	for target in $TARGETS; do
		if [ "$target" = rtsync ]; then
			if [ -n "$worker_off" ]; then
				# skip the WAL written during PostGraphile's phase, which the
				# worker would otherwise decode during this one
				psql -o /dev/null -c "SELECT pg_replication_slot_advance(slot_name, pg_current_wal_lsn())
					FROM pg_replication_slots WHERE slot_name = current_setting('rtsync.slot_name')"
				psql -c "ALTER SYSTEM RESET rtsync.port"
				cluster_stop "$dir"
				cluster_start "$dir"
				worker_off=
			fi
			for _ in $(seq 1 100); do
				curl -sf "http://127.0.0.1:$RT_HTTP/healthz" >/dev/null && break
				sleep 0.1
			done
			curl -sf "http://127.0.0.1:$RT_HTTP/healthz" >/dev/null ||
				{ tail -20 "$dir/server.log" >&2; die "rtsync worker did not answer on :$RT_HTTP"; }
			spid=$(worker_pid) || die "no 'rtsync server' process under postmaster $(postmaster_pid)"
			log "rtsync worker pid $spid"
			run_target rtsync "$spid"
		else
			psql -c "ALTER SYSTEM SET rtsync.port = 0"
			cluster_stop "$dir"
			cluster_start "$dir"
			worker_off=1
			worker_pid >/dev/null && die "the rtsync worker still runs with rtsync.port = 0"
			pg_server_start
			log "PostGraphile pid $pg_pid"
			run_target postgraphile "$pg_pid"
			pg_server_stop
		fi
	done
done

{
	echo "# rtsync HTTP benchmark"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs shared by wrk, PostgreSQL and the server, PostgreSQL $("$bindir/postgres" --version | awk '{print $3}'), node $(node --version), $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}')."
	if want postgraphile; then
		echo "PostGraphile $(node -p 'require("./bench/node_modules/postgraphile/package.json").version') (one Node process, NODE_ENV=production, pg pool $POOL, over the unix socket$([ -n "$PG_ROLE" ] && echo ", pgSettings {role: $PG_ROLE, statement_timeout: 30s} as rtsync sets per request")); rtsync.pool_size = $POOL."
	fi
	[ "$ROUNDS" -gt 1 ] && echo "$ROUNDS rounds, targets alternating; each point shows the round with the highest req/s, and the req/s of every round."
	echo "Closed loop: C keep-alive connections, one request in flight each; ${D} s per point after ${W} s of warm-up at the same concurrency (${W_FIRST} s more before each server's first point of a workload); latency from request write to full response (wrk)."
	echo "errors = socket errors + timeouts (10 s) + responses that are not HTTP 200, carry \"errors\" or lack the expected data."
	echo "Server CPU: the \"rtsync server\" worker or the PostGraphile Node process; PostgreSQL CPU: every other process of the cluster (pool backends; for rtsync also its walsender); wrk CPU: the load generator; other CPU: the rest of the machine (other users' processes) during the point."
	echo
	node bench/http/report.mjs "$summary"
	echo
	echo "Server CPU at rest:"
	echo
	cat "$work/idle.txt"
} >"$work/results.md"
echo
cat "$work/results.md"
cp "$work/results.md" "$here/results.md"
