#!/usr/bin/env bash
# Idle cost: N silent graphql-transport-ws subscribers held open for HOLD
# seconds (past the 30 s ping point, so one ping wave is inside the window);
# reports the worker's CPU seconds in that window and its RSS, for each N.
# It must grow linearly with N.
#
# Usage: bench/idle/run.sh            (after scripts/setup.sh)
# The worker's open files limit bounds N: on a machine whose hard limit is
# 20,000 (as these are, for root too), 19,000 is the largest that fits.
# Environment: IDLE_NS ("1000 10000 19000"), IDLE_HOLD (40),
#   IDLE_PORT / IDLE_HTTP_PORT (55495 / 18495)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
. scripts/lib.sh
NS=${IDLE_NS:-1000 10000 19000}
HOLD=${IDLE_HOLD:-40}
port=${IDLE_PORT:-55495}
http_port=${IDLE_HTTP_PORT:-18495}

# room for 20,000 sockets on the client side
ulimit -Hn 65536 2>/dev/null && ulimit -n 65536 || true
dir=$(mktemp -d /tmp/rtsync-idle.XXXXXX)
trap 'cluster_destroy "$dir"' EXIT
RTSYNC_PORT=$http_port cluster_create "$dir" "$port" "rtsync.max_connections = 30000" >/dev/null
cluster_start "$dir"
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -f scripts/data_items.sql
key=$(psql -X -At -c "SELECT rtsync.create_api_key('idle bench')")
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && break; sleep 0.1; done
postmaster=$(head -1 "$dir/data/postmaster.pid")
worker=$(pgrep -P "$postmaster" -f 'rtsync server') || { tail -20 "$dir/server.log" >&2; exit 1; }
echo "worker open files limit: $(awk '/Max open files/ { print $4 }' "/proc/$worker/limits")"

ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$worker/stat"; }
rss() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$worker/status"; }

echo "| idle subscribers | worker CPU-s over ${HOLD} s | per 1,000 | worker RSS MB |"
echo "|---:|---:|---:|---:|"
for n in $NS; do
	coproc IDLE { exec node --max-old-space-size=4096 "$here/idle.mjs" \
		"ws://127.0.0.1:$http_port/graphql" "$key" "$n" "$HOLD" 2>&1; }
	read -r line <&"${IDLE[0]}"
	case $line in "ready $n") ;; *) echo "idle: $line" >&2; exit 1 ;; esac
	c0=$(cpu)
	read -r line <&"${IDLE[0]}"
	c1=$(cpu)
	r=$(rss)
	wait "$IDLE_PID" || true
	case $line in "done $n") ;; *) echo "idle: connections dropped: $line" >&2 ;; esac
	awk -v n="$n" -v a="$c0" -v b="$c1" -v r="$r" 'BEGIN { printf "| %d | %.2f | %.3f | %s |\n", n, b - a, (b - a) * 1000 / n, r }'
	# the next size starts from no connections
	for _ in $(seq 1 100); do
		[ "$(curl -s "http://127.0.0.1:$http_port/metrics" | awk '/^rtsync_connections\{kind="websocket"\}/ { print $2 }')" = 0 ] && break
		sleep 0.2
	done
done
