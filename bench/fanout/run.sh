#!/usr/bin/env bash
# Fan-out benchmark: N graphql-transport-ws subscribers while pgbench commits
# INSERTs at R rows/s for D seconds, against two servers in the same run on the
# same cluster, one after the other:
#   rtsync        N subscriptions to onCreateFanoutItem (the rtsync worker);
#   postgraphile  PostGraphile v4 with @graphile/subscriptions-lds (a separate
#                 Node process on 127.0.0.1), N live queries for the newest row
#                 (allFanoutItems(orderBy: ID_DESC, first: 1)); the rtsync worker
#                 is switched off (rtsync.port = 0, cluster restarted) for this.
# Reports delivery, duplicates, commit(sent_at)->receipt latency, the server
# process's CPU time and RSS (idle with N connections, peak during the run,
# after), CPU of all PostgreSQL processes, and the ratios rtsync / PostGraphile.
#
# Usage: bench/fanout/run.sh      (after scripts/setup.sh; installs bench/
#                                  node_modules with npm ci when missing)
#
# Environment:
#   FANOUT_N, FANOUT_R, FANOUT_D  run this one configuration instead of the matrix
#                   (R=0 or D=0: idle run, only the fence row is written)
#   FANOUT_CONFIGS  several configurations, e.g. "100:100:10 1000:100:10" (N:R:D)
#   FANOUT_TARGETS  servers to run, in order (default "rtsync postgraphile")
#   FANOUT_PG_WINDOW  rows per PostGraphile live result (default 1, the newest)
#   FANOUT_PROCS    receiver processes (default: 1 below 1000 connections, else
#                   min(4, ceil(N/2500)), at least 2)
#   FANOUT_PORT / FANOUT_HTTP_PORT  cluster port / rtsync HTTP port (55490 / 18490)
#   FANOUT_PG_HTTP_PORT  PostGraphile HTTP port (default FANOUT_HTTP_PORT + 1)
#   FANOUT_WAIT     seconds to wait for every connection to see the fence row (30)
#   LIVE_THROTTLE, LD_WAIT  PostGraphile's own knobs (live re-run throttle, 500 ms;
#                   LDS poll sleep, 200 ms), passed through when set
#
# Default matrix: N=100 and N=1000 at R=100/s for 10 s; N=10000 idle (server
# RSS); N=1000 at R=1000/s for 5 s (throughput).
# Prints markdown tables and writes them to bench/fanout/results.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

die() {
	echo "fanout: $*" >&2
	exit 1
}
log() { echo "fanout: $*" >&2; }

TARGETS=${FANOUT_TARGETS:-rtsync postgraphile}
for t in $TARGETS; do
	case $t in rtsync | postgraphile) ;; *) die "unknown target '$t' in FANOUT_TARGETS" ;; esac
done
want() { case " $TARGETS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

command -v pg_config >/dev/null 2>&1 || die "pg_config not found; run scripts/setup.sh first"
# shellcheck source=../../scripts/lib.sh
. scripts/lib.sh
use_node # the Node.js scripts/setup.sh chose (the machine's, or .tools/node)
node_is_recent || die "Node.js $(node_min_major) or later needed; run scripts/setup.sh first"
[ -d test/e2e/node_modules/ws ] || die "test/e2e/node_modules/ws missing (npm ci in test/e2e)"
if want postgraphile && [ ! -d bench/node_modules/postgraphile ]; then
	log "installing PostGraphile into bench/node_modules (npm ci)"
	(cd bench && timeout 600 npm ci --no-audit --no-fund) >&2 || die "npm ci in bench/ failed"
fi
# shellcheck source=../lib.sh
. bench/lib.sh
bindir=$(pg_bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

PORT=${FANOUT_PORT:-55490}
HTTP=${FANOUT_HTTP_PORT:-18490}
PG_HTTP=${FANOUT_PG_HTTP_PORT:-$((HTTP + 1))}
PG_WINDOW=${FANOUT_PG_WINDOW:-1}
WAIT=${FANOUT_WAIT:-30}
CLK_TCK=$(getconf CLK_TCK)

# 10,000 client sockets in node need more than the usual 1024 descriptors
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ]; then ulimit -Sn "$hard"; else ulimit -Sn 1048576 || true; fi
nofile=$(ulimit -Sn)
log "open files limit: $nofile"

# PostGraphile (bench/lib.sh): live queries on 127.0.0.1:$PG_HTTP, connected
# through the cluster's unix socket (the directory, URL-encoded, as the host)
pg_server_start() {
	log "starting PostGraphile on 127.0.0.1:$PG_HTTP"
	postgraphile_start live "$pg_conn" "$PG_HTTP"
}
pg_server_stop() { postgraphile_stop; }

dir=$(mktemp -d /tmp/rtsync-fanout.XXXXXX)
work=$(mktemp -d /tmp/rtsync-fanout-work.XXXXXX)
summary="$work/summary.jsonl"
: >"$summary"
cleanup() {
	pg_server_stop
	# crashes and restarts of server processes would otherwise go unnoticed
	grep -E 'terminated by signal|PANIC|TRAP' "$dir/server.log" 2>/dev/null |
		head -20 | sed 's/^/fanout: server.log: /' >&2 || true
	cluster_destroy "$dir"
	rm -rf "$work"
}
trap cleanup EXIT

RTSYNC_PORT=$HTTP cluster_create "$dir" "$PORT" \
	"rtsync.max_connections = 20000" "max_connections = 50"
cluster_start "$dir"
psql -o /dev/null <<-'SQL'
	CREATE TABLE fanout_items (
		id bigserial PRIMARY KEY,
		sent_at timestamptz NOT NULL DEFAULT clock_timestamp(),
		payload text
	);
SQL
KEY=none
if want rtsync; then
	psql -o /dev/null <<-'SQL'
		CREATE EXTENSION rtsync;
		SET client_min_messages = warning;
		SELECT rtsync.publish('fanout_items');
	SQL
	KEY=$(psql -At -c "SELECT rtsync.create_api_key('bench')")
fi
pg_conn="postgres://$PGUSER@${dir//\//%2F}:$PORT/postgres"


printf '%s\n' "INSERT INTO fanout_items (payload) VALUES ('x');" >"$work/insert.sql"

# run_one TARGET SERVER_PID N R D: one configuration; appends a JSON line to
# $summary. Runs in a subshell (see below): die ends this run only.
run_one() {
	local target=$1 spid=$2 n=$3 r=$4 d=$5 procs url
	sub_pid="" sampler_pid=""
	trap '[ -n "$sub_pid" ] && kill "$sub_pid" 2>/dev/null; [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null; true' EXIT
	if [ -n "${FANOUT_PROCS:-}" ]; then procs=$FANOUT_PROCS
	elif [ "$n" -lt 1000 ]; then procs=1
	else procs=$(((n + 2499) / 2500)); [ "$procs" -lt 2 ] && procs=2; [ "$procs" -gt 4 ] && procs=4
	fi
	if [ $((n + 100)) -gt "$nofile" ]; then
		log "open files limit $nofile is too low for N=$n; using N=$((nofile - 200))"
		n=$((nofile - 200))
	fi
	if [ "$target" = rtsync ]; then url="ws://127.0.0.1:$HTTP/graphql"
	else url="ws://127.0.0.1:$PG_HTTP/graphql"
	fi
	log "run $target N=$n R=$r D=$d ($procs receiver processes)"
	psql -c "TRUNCATE fanout_items"
	local fence="$work/fence" result="$work/result.json" out="$work/sub.out"
	rm -f "$fence" "$fence.rows" "$result" "$work/rss_peak"
	node bench/fanout/subscribers.mjs "$url" "$KEY" "$n" "$procs" \
		"$fence" "$result" "$WAIT" "$target" "$PG_WINDOW" >"$out" 2>&1 &
	sub_pid=$!
	local i
	for i in $(seq 1 1800); do
		grep -qx ready "$out" && break
		kill -0 "$sub_pid" 2>/dev/null || { cat "$out" >&2; die "subscribers failed"; }
		sleep 0.1
	done
	grep -qx ready "$out" || { cat "$out" >&2; die "subscribers not ready after 180 s"; }
	sleep 1 # let the server settle
	kill -0 "$spid" 2>/dev/null || die "$target server process $spid is gone"
	local rss_idle cpu0 cpu1 pg0 pg1 rss_after t0 t1 tps="-"
	rss_idle=$(rss_mb "$spid")
	# peak RSS: sampled every 0.1 s until the receivers finish (at most 10 min)
	(
		max=0
		for _ in $(seq 1 6000); do
			v=$(awk '/^VmRSS:/{print $2}' "/proc/$spid/status" 2>/dev/null) || break
			[ -n "$v" ] && [ "$v" -gt "$max" ] && max=$v && echo "$max" >"$work/rss_peak"
			kill -0 "$sub_pid" 2>/dev/null || break
			sleep 0.1
		done
	) &
	sampler_pid=$!
	cpu0=$(cpu_ticks "$spid")
	pg0=$(pg_ticks)
	t0=$(date +%s.%N)
	if [ "$r" -gt 0 ] && [ "$d" -gt 0 ]; then
		"$bindir/pgbench" -n -f "$work/insert.sql" -R "$r" -T "$d" -c 2 -j 2 >"$work/pgbench.out" 2>&1 ||
			{ cat "$work/pgbench.out" >&2; die "pgbench failed"; }
		tps=$(awk '/^tps = /{printf "%.0f", $3}' "$work/pgbench.out")
	fi
	psql -At -c "INSERT INTO fanout_items (payload) VALUES ('fence') RETURNING id" >"$fence.tmp"
	# every row's sent_at (µs since the epoch) for the catch-up latency, then the fence
	psql -At -F $'\t' -c "SELECT id, (extract(epoch FROM sent_at) * 1000000)::bigint FROM fanout_items ORDER BY id" \
		>"$fence.rows"
	mv "$fence.tmp" "$fence"
	# the receivers wait at most $WAIT s for the fence
	for i in $(seq 1 $(((WAIT + 30) * 10))); do
		kill -0 "$sub_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$sub_pid" 2>/dev/null && die "subscribers did not finish"
	wait "$sub_pid" || { cat "$out" >&2; die "subscribers exited with an error"; }
	sub_pid=
	t1=$(date +%s.%N)
	wait "$sampler_pid" 2>/dev/null || true
	sampler_pid=
	kill -0 "$spid" 2>/dev/null || die "$target server process $spid died during the run"
	cpu1=$(cpu_ticks "$spid")
	pg1=$(pg_ticks)
	rss_after=$(rss_mb "$spid")
	[ -s "$result" ] || { cat "$out" >&2; die "no result from subscribers"; }
	grep -v '^ready$' "$out" >&2 || true
	local changes scpu pcpu peak
	changes=$(psql -At -c "SELECT count(*) FROM fanout_items")
	scpu=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/t}')
	# PostgreSQL CPU without the rtsync worker (a child of the postmaster)
	pcpu=$(awk -v a="$pg0" -v b="$pg1" -v t="$CLK_TCK" -v s="$scpu" -v w="$target" \
		'BEGIN{x = (b-a)/t; if (w == "rtsync") x -= s; printf "%.2f", x}')
	peak=$(awk '{printf "%.1f", $1/1024}' "$work/rss_peak" 2>/dev/null || echo "$rss_after")
	node -e '
		const fs = require("fs");
		const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
		const [target, n, rate, d, changes, scpu, pcpu, idle, peak, after, tps, wall] = process.argv.slice(3);
		Object.assign(r, { target, n: Number(n), r: Number(rate), d: Number(d), changes: Number(changes),
			serverCpuS: Number(scpu), pgCpuS: Number(pcpu), rssIdleMb: idle, rssPeakMb: peak, rssAfterMb: after,
			tps, wallS: Number(wall) });
		delete r.hist;
		fs.appendFileSync(process.argv[2], JSON.stringify(r) + "\n");
		if (r.errors) console.error(`fanout: ${r.errors} receiver errors`);
		if (r.reachedFence < r.connections) console.error(`fanout: only ${r.reachedFence}/${r.connections} connections saw the fence row`);
	' "$result" "$summary" "$target" "$n" "$r" "$d" "$changes" "$scpu" "$pcpu" "$rss_idle" "$peak" "$rss_after" "$tps" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')"
	node bench/fanout/report.mjs row "$summary"
	cp "$result" "$work/result-$target-$n-$r-$d.json"
}

# one configuration in a subshell, so that a failure (PostGraphile falling
# over, say) is recorded and the next configuration still runs
run_config() {
	local target=$1 spid=$2 n=$3 r=$4 d=$5 st
	set +e
	(set -e; run_one "$@")
	st=$?
	set -e
	if [ "$st" -ne 0 ]; then
		log "$target N=$n R=$r D=$d failed"
		printf '{"target":"%s","n":%d,"r":%d,"d":%d,"failed":"see the log"}\n' "$target" "$n" "$r" "$d" >>"$summary"
	fi
}

configs() {
	if [ -n "${FANOUT_CONFIGS:-}" ]; then
		tr ' :' '\n ' <<<"$FANOUT_CONFIGS" | grep -v '^$'
	elif [ -n "${FANOUT_N:-}" ]; then
		echo "$FANOUT_N ${FANOUT_R:-100} ${FANOUT_D:-10}"
	else
		echo "100 100 10"
		echo "1000 100 10"
		echo "10000 0 0"
		echo "1000 1000 5"
	fi
}

for target in $TARGETS; do
	if [ "$target" = rtsync ]; then
		if [ -n "${worker_off:-}" ]; then
			psql -c "ALTER SYSTEM RESET rtsync.port"
			cluster_stop "$dir"
			cluster_start "$dir"
			worker_off=
		fi
		for _ in $(seq 1 100); do
			curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null && break
			sleep 0.1
		done
		curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null || die "rtsync worker did not answer on :$HTTP"
		while read -r n r d; do
			spid=$(worker_pid) || die "no 'rtsync server' process under postmaster $(postmaster_pid)"
			log "worker pid $spid"
			run_config rtsync "$spid" "$n" "$r" "$d"
		done < <(configs)
	else
		# the rtsync worker off, so that it does not decode the same WAL
		psql -c "ALTER SYSTEM SET rtsync.port = 0"
		cluster_stop "$dir"
		cluster_start "$dir"
		worker_off=1
		worker_pid >/dev/null && die "the rtsync worker still runs with rtsync.port = 0"
		while read -r n r d; do
			if [ -z "$pg_pid" ] || ! kill -0 "$pg_pid" 2>/dev/null; then
				[ -n "$pg_pid" ] && { log "PostGraphile died; restarting it"; tail -20 "$work/postgraphile.out" >&2; pg_server_stop; }
				pg_server_start
			fi
			log "PostGraphile pid $pg_pid"
			run_config postgraphile "$pg_pid" "$n" "$r" "$d"
		done < <(configs)
		pg_server_stop
	fi
done

{
	echo "# rtsync fan-out benchmark"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, PostgreSQL $("$bindir/postgres" --version | awk '{print $3}'), node $(node --version)."
	if want postgraphile; then
		echo "PostGraphile $(node -p 'require("./bench/node_modules/postgraphile/package.json").version') with @graphile/subscriptions-lds $(node -p 'require("./bench/node_modules/@graphile/subscriptions-lds/package.json").version'): live query \`allFanoutItems(orderBy: ID_DESC, first: $PG_WINDOW)\`, LIVE_THROTTLE=${LIVE_THROTTLE:-500 (default)} ms, LD_WAIT=${LD_WAIT:-200 (default)} ms."
		echo "PostGraphile: delivered = distinct row ids each connection saw in its results (live queries coalesce, so rows are skipped by design); dup = results that brought no new id."
	fi
	echo "Receipt latency: receipt time minus \`sent_at\` (clock_timestamp() at INSERT, same machine), at the first receipt of each delivered row."
	echo "Catch-up latency: for every row and every connection, delivered or not, the time from its \`sent_at\` until the connection first received that row or a newer one; caught up = (row, connection) pairs that got there."
	echo "changes include the final fence row; expected = N x changes; results = data messages received; closes = close codes seen before the end."
	echo "Server CPU/RSS: the \"rtsync server\" worker or the PostGraphile Node process (utime+stime during the run; VmRSS idle with N connections, peak sampled every 0.1 s during the run, after)."
	echo "PostgreSQL CPU: every other process of the cluster during the run (pgbench's backends, walsenders / LDS polling, query backends)."
	echo "Receivers wait at most ${WAIT} s after the fence row; latencies are histogrammed up to 60 s."
	echo
	node bench/fanout/report.mjs tables "$summary"
} >"$work/results.md"
echo
cat "$work/results.md"
cp "$work/results.md" "$here/results.md"
