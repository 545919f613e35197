# shellcheck shell=bash
# Helpers shared by the benchmarks: a statement on the cluster and a bounded
# wait, the CPU and memory of the processes under test, read from /proc, and
# the PostGraphile server some compare rtsync with (bench/postgraphile.cjs).
#
# Source it after scripts/lib.sh. The caller sets dir (the cluster's
# directory) and work (a scratch directory), and defines log and die (and
# timeout_s, for wait_for).

postmaster_pid() { head -1 "$dir/data/postmaster.pid"; }

# one SQL statement on the cluster (cluster_env's), its rows unaligned
q() { psql -X -At -v ON_ERROR_STOP=1 -c "$1"; }

# a bounded wait (timeout_s, the caller's) until a shell condition holds
wait_for() {
	local what=$1 cond=$2 deadline=$((SECONDS + timeout_s))
	until eval "$cond"; do
		[ $SECONDS -lt $deadline ] || die "timed out waiting for $what"
		sleep 0.02
	done
}

# a bounded wait (timeout_s) until an SQL condition holds, polled every 10 ms
# inside one session: a psql started every 20 ms (wait_for) costs the machine
# a fifth of a core, which a CPU-bound run under measurement would pay
wait_sql() {
	local what=$1 cond=$2
	psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<-SQL || die "timed out waiting for $what"
		DO \$\$
		DECLARE
			deadline timestamptz := clock_timestamp() + interval '$timeout_s s';
		BEGIN
			WHILE NOT ($cond) LOOP
				IF clock_timestamp() > deadline THEN
					RAISE EXCEPTION 'timed out';
				END IF;
				PERFORM pg_sleep(0.01);
			END LOOP;
		END
		\$\$;
	SQL
}

# the "rtsync server" background worker of the cluster
worker_pid() {
	local p
	for p in $(pgrep -P "$(postmaster_pid)"); do
		if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q 'rtsync server'; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# utime+stime in clock ticks (fields 14 and 15; the command name may hold spaces)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# every PostgreSQL process: the postmaster, its live children, and the children
# it has reaped (cutime+cstime), so backends that exit during a run count too
pg_ticks() {
	local pm p
	pm=$(postmaster_pid)
	{
		sed 's/.*) //' "/proc/$pm/stat" | awk '{print $12 + $13 + $14 + $15}'
		for p in $(pgrep -P "$pm"); do
			sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}'
		done
	} | awk '{s += $1} END {print s + 0}'
}

# busy ticks of the whole machine (user nice system irq softirq steal), to
# tell what other processes took during a run
machine_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }

rss_mb() { awk '/^VmRSS:/{printf "%.1f", $2/1024}' "/proc/$1/status"; }

# postgraphile_start ARGS...: bench/postgraphile.cjs ARGS in the background
# (environment from PG_NODE_ENV), until it says "listening" (bounded);
# sets pg_pid. Its output goes to $work/postgraphile.out.
pg_pid=
postgraphile_start() {
	(cd bench && exec env ${PG_NODE_ENV:-} node postgraphile.cjs "$@") >"$work/postgraphile.out" 2>&1 &
	pg_pid=$!
	local i
	for i in $(seq 1 600); do
		grep -qx listening "$work/postgraphile.out" && return 0
		kill -0 "$pg_pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$work/postgraphile.out" >&2
	die "PostGraphile did not start"
}

# postgraphile_stop: SIGTERM, a bounded wait, then SIGKILL
postgraphile_stop() {
	[ -n "${pg_pid:-}" ] || return 0
	kill "$pg_pid" 2>/dev/null || true
	local i
	for i in $(seq 1 50); do
		kill -0 "$pg_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pg_pid" 2>/dev/null || true
	wait "$pg_pid" 2>/dev/null || true
	pg_pid=
}
