#!/usr/bin/env bash
# Fan-out benchmark: N graphql-transport-ws subscribers to onCreateFanoutItem
# while pgbench commits INSERTs at R rows/s for D seconds; reports delivery,
# duplicates, commit(sent_at)->receipt latency, the rtsync worker's CPU time
# and RSS (idle with N connections, and after the run).
#
# Usage: bench/fanout/run.sh      (after scripts/setup.sh)
#
# Environment:
#   FANOUT_N, FANOUT_R, FANOUT_D  run this one configuration instead of the matrix
#                   (R=0 or D=0: idle run, only the fence row is written)
#   FANOUT_PROCS    receiver processes (default: 1 below 1000 connections, else
#                   min(4, ceil(N/2500)), at least 2)
#   FANOUT_PORT / FANOUT_HTTP_PORT  cluster port / rtsync HTTP port (55490 / 18490)
#   FANOUT_WAIT     seconds to wait for every connection to see the fence row (30)
#
# Default matrix: N=100 and N=1000 at R=100/s for 10 s; N=10000 idle (worker
# RSS); N=1000 at R=1000/s for 5 s (throughput).
# Prints a markdown table and writes it to bench/fanout/results.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

die() {
	echo "fanout: $*" >&2
	exit 1
}
log() { echo "fanout: $*" >&2; }

command -v pg_config >/dev/null 2>&1 || die "pg_config not found; run scripts/setup.sh first"
command -v node >/dev/null 2>&1 || die "node not found"
[ -d test/e2e/node_modules/ws ] || die "test/e2e/node_modules/ws missing (npm ci in test/e2e)"
# shellcheck source=../../scripts/lib.sh
. scripts/lib.sh
bindir=$(pg_bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

PORT=${FANOUT_PORT:-55490}
HTTP=${FANOUT_HTTP_PORT:-18490}
WAIT=${FANOUT_WAIT:-30}
CLK_TCK=$(getconf CLK_TCK)

# 10,000 client sockets in node need more than the usual 1024 descriptors
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ]; then ulimit -Sn "$hard"; else ulimit -Sn 1048576 || true; fi
nofile=$(ulimit -Sn)
log "open files limit: $nofile"

dir=$(mktemp -d /tmp/rtsync-fanout.XXXXXX)
work=$(mktemp -d /tmp/rtsync-fanout-work.XXXXXX)
cleanup() {
	[ -n "${sub_pid:-}" ] && kill "$sub_pid" 2>/dev/null || true
	cluster_destroy "$dir"
	rm -rf "$work"
}
trap cleanup EXIT

RTSYNC_PORT=$HTTP cluster_create "$dir" "$PORT" \
	"rtsync.max_connections = 20000" "max_connections = 50"
cluster_start "$dir"
psql -o /dev/null <<-'SQL'
	CREATE EXTENSION rtsync;
	CREATE TABLE fanout_items (
		id bigserial PRIMARY KEY,
		sent_at timestamptz NOT NULL DEFAULT clock_timestamp(),
		payload text
	);
	SET client_min_messages = warning;
	SELECT rtsync.publish('fanout_items');
SQL
KEY=$(psql -At -c "SELECT rtsync.create_api_key('bench')")
for _ in $(seq 1 100); do
	curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null && break
	sleep 0.1
done
curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null || die "rtsync worker did not answer on :$HTTP"

postmaster=$(head -1 "$dir/data/postmaster.pid")
worker_pid() {
	local p
	for p in $(pgrep -P "$postmaster"); do
		if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q 'rtsync server'; then
			echo "$p"
			return 0
		fi
	done
	return 1
}
WPID=$(worker_pid) || die "no 'rtsync server' process under postmaster $postmaster"
log "worker pid $WPID"
# utime+stime in clock ticks (fields 14 and 15; the command name may hold spaces)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_mb() { awk '/^VmRSS:/{printf "%.1f", $2/1024}' "/proc/$1/status"; }

printf '%s\n' "INSERT INTO fanout_items (payload) VALUES ('x');" >"$work/insert.sql"

header="| N | R (/s) | D (s) | changes | delivered / expected | dup | closes | p50 ms | p99 ms | max ms | delivered msg/s | worker CPU s | worker RSS idle / after MB | receivers CPU s (procs) | pgbench tps |"
sep="|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
rows=()

# run_one N R D
run_one() {
	local n=$1 r=$2 d=$3 procs
	if [ -n "${FANOUT_PROCS:-}" ]; then procs=$FANOUT_PROCS
	elif [ "$n" -lt 1000 ]; then procs=1
	else procs=$(((n + 2499) / 2500)); [ "$procs" -lt 2 ] && procs=2; [ "$procs" -gt 4 ] && procs=4
	fi
	if [ $((n + 100)) -gt "$nofile" ]; then
		log "open files limit $nofile is too low for N=$n; using N=$((nofile - 200))"
		n=$((nofile - 200))
	fi
	log "run N=$n R=$r D=$d ($procs receiver processes)"
	WPID=$(worker_pid) || die "worker gone"
	psql -c "TRUNCATE fanout_items"
	local fence="$work/fence" result="$work/result.json" out="$work/sub.out"
	rm -f "$fence" "$result"
	node bench/fanout/subscribers.mjs "ws://127.0.0.1:$HTTP/graphql" "$KEY" "$n" "$procs" \
		"$fence" "$result" "$WAIT" >"$out" 2>&1 &
	sub_pid=$!
	local i
	for i in $(seq 1 1800); do
		grep -qx ready "$out" && break
		kill -0 "$sub_pid" 2>/dev/null || { cat "$out" >&2; die "subscribers failed"; }
		sleep 0.1
	done
	grep -qx ready "$out" || { cat "$out" >&2; die "subscribers not ready after 180 s"; }
	sleep 1 # let the worker settle
	local rss_idle cpu0 cpu1 rss_after t0 t1 tps="-"
	rss_idle=$(rss_mb "$WPID")
	cpu0=$(cpu_ticks "$WPID")
	t0=$(date +%s.%N)
	if [ "$r" -gt 0 ] && [ "$d" -gt 0 ]; then
		"$bindir/pgbench" -n -f "$work/insert.sql" -R "$r" -T "$d" -c 2 -j 2 >"$work/pgbench.out" 2>&1 ||
			{ cat "$work/pgbench.out" >&2; die "pgbench failed"; }
		tps=$(awk '/^tps = /{printf "%.0f", $3}' "$work/pgbench.out")
	fi
	psql -At -c "INSERT INTO fanout_items (payload) VALUES ('fence') RETURNING id" >"$fence.tmp"
	mv "$fence.tmp" "$fence"
	# the receivers wait at most $WAIT s for the fence
	for i in $(seq 1 $(((WAIT + 30) * 10))); do
		kill -0 "$sub_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$sub_pid" 2>/dev/null && { kill "$sub_pid"; die "subscribers did not finish"; }
	wait "$sub_pid" || { cat "$out" >&2; die "subscribers exited with an error"; }
	sub_pid=
	t1=$(date +%s.%N)
	cpu1=$(cpu_ticks "$WPID")
	rss_after=$(rss_mb "$WPID")
	[ -s "$result" ] || { cat "$out" >&2; die "no result from subscribers"; }
	grep -v '^ready$' "$out" >&2 || true
	local changes
	changes=$(psql -At -c "SELECT count(*) FROM fanout_items")
	local wcpu
	wcpu=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/t}')
	local row
	row=$(node -e '
		const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
		const [n, rate, d, changes, wcpu, idle, after, tps] = process.argv.slice(2);
		const exp = Number(n) * Number(changes);
		const closes = Object.entries(r.closeCodes).map(([c, k]) => `${c}×${k}`).join(", ") || "none";
		const span = (r.lastRecvMs - r.firstRecvMs) / 1000;
		const mps = span > 0 ? Math.round(r.delivered / span) : "-";
		const pct = (100 * r.delivered / exp).toFixed(2);
		const f = (x) => x == null ? "-" : x >= 60000 ? "≥60000" : x.toFixed(1);
		console.log(`| ${r.connections} | ${rate} | ${d} | ${changes} | ${r.delivered} / ${exp} (${pct}%) | ${r.duplicates} | ${closes} | ${f(r.latencyMs.p50)} | ${f(r.latencyMs.p99)} | ${f(r.latencyMs.max)} | ${mps} | ${wcpu} | ${idle} / ${after} | ${(r.cpuUserS + r.cpuSysS).toFixed(2)} (${r.procs}) | ${tps} |`);
		if (r.errors) console.error(`fanout: ${r.errors} receiver errors`);
		if (r.reachedFence < r.connections) console.error(`fanout: only ${r.reachedFence}/${r.connections} connections saw the fence row`);
	' "$result" "$n" "$r" "$d" "$changes" "$wcpu" "$rss_idle" "$rss_after" "$tps")
	echo "$row"
	rows+=("$row")
	cp "$result" "$work/result-$n-$r-$d.json"
}

if [ -n "${FANOUT_N:-}" ]; then
	run_one "$FANOUT_N" "${FANOUT_R:-100}" "${FANOUT_D:-10}"
else
	run_one 100 100 10
	run_one 1000 100 10
	run_one 10000 0 0
	run_one 1000 1000 5
fi

{
	echo "# rtsync fan-out benchmark"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, PostgreSQL $("$bindir/postgres" --version | awk '{print $3}'), node $(node --version)."
	echo "Latency: receipt time minus \`sent_at\` (clock_timestamp() at INSERT, same machine)."
	echo "changes include the final fence row; expected = N x changes; closes = close codes seen before the end."
	echo "Worker CPU/RSS: the \"rtsync server\" process (utime+stime during the run; VmRSS)."
	echo "Receivers wait at most ${WAIT} s after the fence row; latencies are histogrammed up to 60 s."
	echo
	echo "$header"
	echo "$sep"
	printf '%s\n' "${rows[@]}"
} >"$work/results.md"
echo
cat "$work/results.md"
cp "$work/results.md" "$here/results.md"
