#!/usr/bin/env bash
# Row-level security benchmark: deliveries to subscribers signed in with
# tokens, on tables with row-level security, against the same subscriptions
# without it, in the same run on the same cluster. Four scenarios:
#   owner-rls        A: N_A users (HS256 tokens, sub = user<i>, role bench_user)
#                    subscribe onCreateRlsItem { id owner sent_at } with no
#                    filter; rls_items has the policy USING (owner = auth.uid())
#                    (auth.uid() Supabase-style: request.jwt.claim.sub);
#                    pgbench inserts R_A rows/s for D_A s, each owned by a
#                    random user: each row must reach exactly its owner.
#   owner-filter     A's baseline: flt_items, no RLS, the API key of a plain
#                    role; connection i subscribes
#                    onCreateFltItem(filter: {owner: {eq: "user<i>"}}).
#   membership-rls   B: N_B users subscribe onCreateTeamItem { id team sent_at };
#                    the policy reads a membership table (EXISTS (SELECT 1 FROM
#                    team_members ...)), every user a member of team 1, every
#                    row in team 1: each row reaches every subscriber.
#   membership-open  B's baseline: team_open_items, no RLS, the API key.
# Reports delivered / expected, wrong deliveries (a row at a connection whose
# user may not see it), duplicates, sent_at -> receipt latency p50/p95/p99/max,
# the "rtsync server" worker's CPU per change, the CPU of its query pool's
# backends (where the SQL checks run), rtsync_rls_checks_total per change, and
# the ratios RLS / baseline.
#
# Each scenario: the receivers (bench/rls/receiver.mjs, forked Node processes)
# connect and subscribe (connection_ack, then the pong after the subscribe); a
# warm-up marker row must reach them (so the subscriptions are live); CPU and
# metrics are sampled; pgbench runs; the run waits (bounded) until every
# connection has every row it expects, samples again; then a fence row proves
# nothing else arrives (wrong or duplicate deliveries after the load). Marker
# rows go to the first connection of each receiver process (owner scenarios) or
# to everybody (membership scenarios) and are not counted in the figures,
# except that a marker at the wrong connection counts as a wrong delivery.
#
# Usage: bench/rls/run.sh      (after scripts/setup.sh; test/e2e/node_modules)
#
# Environment:
#   RLS_SCENARIOS   scenarios to run, in order (default "owner-rls owner-filter
#                   membership-rls membership-open")
#   RLS_A_N, RLS_A_R, RLS_A_D   owner scenarios: subscribers, rows/s, seconds
#                   (1000, 100, 10)
#   RLS_B_N, RLS_B_R, RLS_B_D   membership scenarios (500, 30, 10)
#   RLS_PROCS       receiver processes (default: 1 below 200 connections, else 2)
#   RLS_POOL_SIZE   rtsync.pool_size (default: the server's, 8)
#   RLS_WAIT        seconds a connection may wait for the rows it expects,
#                   and for the markers (default 300: the SQL checks of
#                   owner-rls at full size take minutes on 2 cores)
#   RLS_PORT / RLS_HTTP_PORT  cluster port / rtsync HTTP port (55497 / 18497)
#   RLS_EXTRA_CONF  more postgresql.conf lines, separated by newlines
#   RLS_LABEL       a note for the results' header (which build, what else ran)
# Prints markdown tables and writes them to bench/rls/results.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

die() {
	echo "rls-bench: $*" >&2
	exit 1
}
log() { echo "rls-bench: $*" >&2; }

SCENARIOS=${RLS_SCENARIOS:-owner-rls owner-filter membership-rls membership-open}
for s in $SCENARIOS; do
	case $s in owner-rls | owner-filter | membership-rls | membership-open) ;;
	*) die "unknown scenario '$s' in RLS_SCENARIOS" ;;
	esac
done
A_N=${RLS_A_N:-1000} A_R=${RLS_A_R:-100} A_D=${RLS_A_D:-10}
B_N=${RLS_B_N:-500} B_R=${RLS_B_R:-30} B_D=${RLS_B_D:-10}
WAIT=${RLS_WAIT:-300}
PORT=${RLS_PORT:-55497}
HTTP=${RLS_HTTP_PORT:-18497}

command -v pg_config >/dev/null 2>&1 || die "pg_config not found; run scripts/setup.sh first"
# shellcheck source=../../scripts/lib.sh
. scripts/lib.sh
use_node
node_is_recent || die "Node.js $(node_min_major) or later needed; run scripts/setup.sh first"
[ -d test/e2e/node_modules/ws ] || die "test/e2e/node_modules/ws missing (npm ci in test/e2e)"
# shellcheck source=../lib.sh
. bench/lib.sh
bindir=$(pg_bindir)
psql() { "$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
CLK_TCK=$(getconf CLK_TCK)

hard=$(ulimit -Hn)
if [ "$hard" != unlimited ]; then ulimit -Sn "$hard"; else ulimit -Sn 1048576 || true; fi

# the HS256 secret the receivers sign their tokens with (a throwaway cluster)
SECRET="rls-bench-$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"

dir=$(mktemp -d /tmp/rtsync-rls.XXXXXX)
work=$(mktemp -d /tmp/rtsync-rls-work.XXXXXX)
summary="$work/summary.jsonl"
: >"$summary"
cleanup() {
	grep -E 'terminated by signal|PANIC|TRAP' "$dir/server.log" 2>/dev/null |
		head -20 | sed 's/^/rls-bench: server.log: /' >&2 || true
	cluster_destroy "$dir"
	rm -rf "$work"
}
trap cleanup EXIT

extra=()
[ -n "${RLS_POOL_SIZE:-}" ] && extra+=("rtsync.pool_size = $RLS_POOL_SIZE")
if [ -n "${RLS_EXTRA_CONF:-}" ]; then
	while IFS= read -r l; do [ -n "$l" ] && extra+=("$l"); done <<<"$RLS_EXTRA_CONF"
fi
RTSYNC_PORT=$HTTP cluster_create "$dir" "$PORT" \
	"rtsync.max_connections = 20000" "max_connections = 60" \
	"rtsync.jwt_secret = '$SECRET'" "rtsync.jwt_authenticator = 'bench_authenticator'" \
	${extra[@]+"${extra[@]}"}
cluster_start "$dir"
psql -o /dev/null <<-'SQL'
	CREATE EXTENSION rtsync;
	SET client_min_messages = warning;
	CREATE ROLE bench_authenticator NOINHERIT;
	CREATE ROLE bench_user;
	GRANT bench_user TO bench_authenticator;
	CREATE ROLE bench_reader;
	CREATE SCHEMA auth;
	GRANT USAGE ON SCHEMA auth TO bench_user;
	CREATE FUNCTION auth.uid() RETURNS text LANGUAGE sql STABLE
		AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '') $$;

	-- A: owner policy, and the same table shape without RLS
	CREATE TABLE rls_items (id bigserial PRIMARY KEY, owner text NOT NULL,
		sent_at timestamptz NOT NULL DEFAULT clock_timestamp(), payload text);
	ALTER TABLE rls_items ENABLE ROW LEVEL SECURITY;
	CREATE POLICY owner_only ON rls_items FOR SELECT USING (owner = auth.uid());
	GRANT SELECT ON rls_items TO bench_user;
	CREATE TABLE flt_items (LIKE rls_items INCLUDING ALL);
	GRANT SELECT ON flt_items TO bench_reader;

	-- B: a policy that reads a membership table, and the table without RLS
	CREATE TABLE team_members (team int NOT NULL, sub text NOT NULL, PRIMARY KEY (team, sub));
	GRANT SELECT ON team_members TO bench_user;
	CREATE TABLE team_items (id bigserial PRIMARY KEY, team int NOT NULL,
		sent_at timestamptz NOT NULL DEFAULT clock_timestamp(), payload text);
	ALTER TABLE team_items ENABLE ROW LEVEL SECURITY;
	CREATE POLICY team_member ON team_items FOR SELECT USING (EXISTS (
		SELECT 1 FROM team_members m WHERE m.team = team_items.team AND m.sub = auth.uid()));
	GRANT SELECT ON team_items TO bench_user;
	CREATE TABLE team_open_items (LIKE team_items INCLUDING ALL);
	GRANT SELECT ON team_open_items TO bench_reader;

	SELECT rtsync.publish('rls_items');
	SELECT rtsync.publish('flt_items');
	SELECT rtsync.publish('team_items');
	SELECT rtsync.publish('team_open_items');
SQL
# every user of B a member of team 1 (users of A too: harmless)
maxn=$((A_N > B_N ? A_N : B_N))
psql -c "INSERT INTO team_members SELECT 1, 'user' || g FROM generate_series(0, $((maxn - 1))) g"
psql -c "ANALYZE team_members"
KEY=$(psql -At -c "SELECT rtsync.create_api_key('rls bench', role => 'bench_reader')")

for _ in $(seq 1 100); do
	curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null && break
	sleep 0.1
done
curl -sf "http://127.0.0.1:$HTTP/healthz" >/dev/null || die "rtsync worker did not answer on :$HTTP"
spid=$(worker_pid) || die "no 'rtsync server' process under postmaster $(postmaster_pid)"
log "worker pid $spid"

metric() { curl -sf --max-time 10 "http://127.0.0.1:$HTTP/metrics" | awk -v m="$1" '$1 == m {print $2; f=1} END {if (!f) print 0}'; }

# CPU ticks of the worker's query pool: the client backends it opened
# (application_name rtsync), read now; "pid ticks" lines
pool_ticks() {
	local p
	for p in $(psql -At -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'rtsync' AND backend_type = 'client backend'"); do
		[ -r "/proc/$p/stat" ] && echo "$p $(cpu_ticks "$p")"
	done
	return 0
}
# pool CPU between two pool_ticks files, in seconds (a backend that appeared
# in between counts from zero; one that went away is lost, and is rare)
pool_delta() {
	awk -v t="$CLK_TCK" 'NR == FNR {a[$1] = $2; next} {s += $2 - ($1 in a ? a[$1] : 0)} END {printf "%.2f", s / t}' "$1" "$2"
}

# wait_line FILE LINE SECONDS PID: until FILE has a line starting with LINE
wait_line() {
	local _
	for _ in $(seq 1 $(($3 * 10))); do
		grep -q "^$2" "$1" && return 0
		kill -0 "$4" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# run_one SCENARIO: one scenario; appends a JSON line to $summary
run_one() {
	local sc=$1 table field keyfield mode auth query n r d procs
	case $sc in
	owner-rls)
		table=rls_items field=onCreateRlsItem keyfield=owner mode=owner auth=token
		query='subscription { onCreateRlsItem { id owner sent_at } }' n=$A_N r=$A_R d=$A_D ;;
	owner-filter)
		table=flt_items field=onCreateFltItem keyfield=owner mode=owner auth=key
		query='subscription { onCreateFltItem(filter: {owner: {eq: "%USER%"}}) { id owner sent_at } }' n=$A_N r=$A_R d=$A_D ;;
	membership-rls)
		table=team_items field=onCreateTeamItem keyfield=team mode=all auth=token
		query='subscription { onCreateTeamItem { id team sent_at } }' n=$B_N r=$B_R d=$B_D ;;
	membership-open)
		table=team_open_items field=onCreateTeamOpenItem keyfield=team mode=all auth=key
		query='subscription { onCreateTeamOpenItem { id team sent_at } }' n=$B_N r=$B_R d=$B_D ;;
	esac
	if [ -n "${RLS_PROCS:-}" ]; then procs=$RLS_PROCS
	elif [ "$n" -lt 200 ]; then procs=1
	else procs=2
	fi
	sub_pid=""
	trap '[ -n "$sub_pid" ] && kill "$sub_pid" 2>/dev/null; true' EXIT
	log "run $sc: N=$n R=$r D=$d ($procs receiver processes)"
	local ctl="$work/ctl-$sc" out="$work/recv-$sc.out"
	: >"$out"
	rm -rf "$ctl"
	mkdir -p "$ctl"
	URL="ws://127.0.0.1:$HTTP/graphql" N=$n PROCS=$procs CTL_DIR=$ctl WAIT_S=$WAIT MODE=$mode AUTH=$auth \
		SECRET=$SECRET ROLE=bench_user KEY=$KEY QUERY=$query FIELD=$field KEYFIELD=$keyfield \
		node bench/rls/receiver.mjs >"$out" 2>&1 &
	sub_pid=$!
	wait_line "$out" connected 200 "$sub_pid" || { cat "$out" >&2; die "receivers did not connect"; }
	local markers
	markers=$(awk '$1 == "markers" {$1 = ""; print}' "$out" | tr -s ' ' ',' | sed 's/^,//; s/,$//')
	# the warm-up marker row(s)
	if [ "$mode" = owner ]; then
		psql -At -c "INSERT INTO $table (owner, payload) SELECT 'user' || u, 'warm' FROM unnest('{$markers}'::int[]) u RETURNING id" |
			sort -n | tail -1 >"$ctl/warm.tmp"
	else
		psql -At -c "INSERT INTO $table (team, payload) VALUES (1, 'warm') RETURNING id" >"$ctl/warm.tmp"
	fi
	local warm
	warm=$(cat "$ctl/warm.tmp")
	mv "$ctl/warm.tmp" "$ctl/warm"
	wait_line "$out" ready $((WAIT + 30)) "$sub_pid" || { cat "$out" >&2; die "the warm-up row did not reach the receivers"; }
	sleep 1 # let the server settle
	kill -0 "$spid" 2>/dev/null || die "worker $spid is gone"
	local cpu0 cpu1 pg0 pg1 checks0 checks1 stmts0 stmts1 denied0 denied1 rerr0 rerr1 slow0 slow1 t0 t1 tps="-"
	pool_ticks >"$ctl/pool0"
	cpu0=$(cpu_ticks "$spid")
	pg0=$(pg_ticks)
	checks0=$(metric rtsync_rls_checks_total)
	stmts0=$(metric rtsync_rls_statements_total)
	denied0=$(metric rtsync_rls_denied_total)
	rerr0=$(metric rtsync_rls_errors_total)
	slow0=$(metric rtsync_slow_clients_closed_total)
	t0=$(date +%s.%N)
	if [ "$r" -gt 0 ] && [ "$d" -gt 0 ]; then
		if [ "$mode" = owner ]; then
			printf '%s\n' '\set u random(0, :n - 1)' \
				"INSERT INTO $table (owner, payload) VALUES ('user' || :u, 'x');" >"$ctl/load.sql"
		else
			printf '%s\n' "INSERT INTO $table (team, payload) VALUES (1, 'x');" >"$ctl/load.sql"
		fi
		"$bindir/pgbench" -n -f "$ctl/load.sql" -D n="$n" -R "$r" -T "$d" -c 2 -j 2 >"$ctl/pgbench.out" 2>&1 ||
			{ cat "$ctl/pgbench.out" >&2; die "pgbench failed"; }
		tps=$(awk '/^tps = /{printf "%.0f", $3}' "$ctl/pgbench.out")
	fi
	local tl
	tl=$(date +%s.%N)
	psql -At -F $'\t' -c "SELECT id, $keyfield, (extract(epoch FROM sent_at) * 1000000)::bigint FROM $table WHERE id > $warm ORDER BY id" \
		>"$ctl/rows"
	local rows last
	rows=$(wc -l <"$ctl/rows")
	last=$(tail -1 "$ctl/rows" | cut -f1)
	[ -n "$last" ] || last=$warm
	echo "$last" >"$ctl/load.tmp"
	mv "$ctl/load.tmp" "$ctl/load"
	wait_line "$out" drained $((WAIT + 30)) "$sub_pid" || { cat "$out" >&2; die "receivers did not finish the load"; }
	t1=$(date +%s.%N)
	cpu1=$(cpu_ticks "$spid")
	pg1=$(pg_ticks)
	pool_ticks >"$ctl/pool1"
	checks1=$(metric rtsync_rls_checks_total)
	stmts1=$(metric rtsync_rls_statements_total)
	denied1=$(metric rtsync_rls_denied_total)
	rerr1=$(metric rtsync_rls_errors_total)
	slow1=$(metric rtsync_slow_clients_closed_total)
	# the fence: whatever is still to come arrives before it
	if [ "$mode" = owner ]; then
		psql -At -c "INSERT INTO $table (owner, payload) SELECT 'user' || u, 'fence' FROM unnest('{$markers}'::int[]) u RETURNING id" |
			sort -n | head -1 >"$ctl/fence.tmp"
	else
		psql -At -c "INSERT INTO $table (team, payload) VALUES (1, 'fence') RETURNING id" >"$ctl/fence.tmp"
	fi
	mv "$ctl/fence.tmp" "$ctl/fence"
	for _ in $(seq 1 $(((WAIT + 30) * 10))); do
		kill -0 "$sub_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$sub_pid" 2>/dev/null && die "receivers did not finish"
	wait "$sub_pid" || { cat "$out" >&2; die "receivers exited with an error"; }
	sub_pid=
	kill -0 "$spid" 2>/dev/null || die "worker $spid died during the run"
	[ -s "$ctl/result.json" ] || { cat "$out" >&2; die "no result from the receivers"; }
	grep -vE '^(markers|connected|ready|drained)' "$out" >&2 || true
	local drain_ms scpu pcpu poolcpu
	drain_ms=$(awk '$1 == "drained" {print $2}' "$out")
	scpu=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/t}')
	poolcpu=$(pool_delta "$ctl/pool0" "$ctl/pool1")
	# PostgreSQL CPU without the worker and its pool (children of the postmaster)
	pcpu=$(awk -v a="$pg0" -v b="$pg1" -v t="$CLK_TCK" -v s="$scpu" -v p="$poolcpu" 'BEGIN{x = (b-a)/t - s - p; if (x < 0) x = 0; printf "%.2f", x}')
	node -e '
		const fs = require("fs");
		const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
		const a = process.argv.slice(3);
		const num = (x) => Number(x);
		Object.assign(r, { scenario: a[0], r: num(a[1]), d: num(a[2]), changes: num(a[3]), workerCpuS: num(a[4]),
			poolCpuS: num(a[5]), pgCpuS: num(a[6]), rlsChecks: num(a[8]) - num(a[7]), rlsDenied: num(a[10]) - num(a[9]),
			rlsErrors: num(a[12]) - num(a[11]), slowClosed: num(a[14]) - num(a[13]), tps: a[15],
			loadS: num(a[16]), measuredS: num(a[17]), drainMs: num(a[18]), rlsStatements: num(a[20]) - num(a[19]) });
		fs.appendFileSync(process.argv[2], JSON.stringify(r) + "\n");
	' "$ctl/result.json" "$summary" "$sc" "$r" "$d" "$rows" "$scpu" "$poolcpu" "$pcpu" \
		"$checks0" "$checks1" "$denied0" "$denied1" "$rerr0" "$rerr1" "$slow0" "$slow1" "$tps" \
		"$(awk -v a="$t0" -v b="$tl" 'BEGIN{printf "%.2f", b-a}')" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')" \
		"${drain_ms:-0}" "$stmts0" "$stmts1"
	node bench/rls/report.mjs row "$summary"
	cp "$ctl/result.json" "$work/result-$sc.json"
}

for sc in $SCENARIOS; do
	set +e
	(set -e; run_one "$sc")
	st=$?
	set -e
	if [ "$st" -ne 0 ]; then
		log "$sc failed"
		printf '{"scenario":"%s","failed":"see the log"}\n' "$sc" >>"$summary"
	fi
done

{
	echo "# rtsync row-level security benchmark"
	echo
	echo "$(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- bgworker extension sql 2>/dev/null || echo ' (with uncommitted changes)'), $(nproc) CPUs, PostgreSQL $("$bindir/postgres" --version | awk '{print $3}'), node $(node --version), rtsync.pool_size $(psql -At -c 'SHOW rtsync.pool_size').${RLS_LABEL:+ $RLS_LABEL}"
	echo "Latency: receipt time minus \`sent_at\` (clock_timestamp() at INSERT, same machine), for every expected delivery of a load row."
	echo "changes = load rows (markers excluded); expected = the (row, connection) pairs the policy or filter allows; wrong = rows received by a connection whose user may not see them (any phase); dup = a row received twice by one connection."
	echo "Worker CPU: the \"rtsync server\" process, utime+stime from the start of the load until every connection had every row it expects (\"measured s\"); pool CPU: the worker's query-pool backends (application_name rtsync), where the SQL checks run; other PostgreSQL CPU: every other process of the cluster (pgbench's backends, the walsender that decodes)."
	echo "RLS checks: rtsync_rls_checks_total delta over the same interval, per change (one per group of subscribers per judged batch); SQL statements: rtsync_rls_statements_total's (groups of one role share one)."
	echo
	node bench/rls/report.mjs tables "$summary"
} >"$work/results.md"
echo
cat "$work/results.md"
cp "$work/results.md" "$here/results.md"
