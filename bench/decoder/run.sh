#!/usr/bin/env bash
# Decoder benchmark: decode the same WAL with several logical decoding output
# plugins through pg_recvlogical (output to /dev/null) and report the seconds
# each one takes per workload, and the ratio to wal2json format-version 2.
#
# Usage: bench/decoder/run.sh      (after scripts/setup.sh)
#
# Environment:
#   BENCH_SCALE     multiplies the row counts (default 1; e.g. 0.01 for a smoke run)
#   BENCH_DECODERS  space-separated subset of: rtsync-json rtsync-dynamodb
#                   wal2json-v1 wal2json-v2 test_decoding (default: all)
#   BENCH_WORKLOADS space-separated subset of: a b c (default: all)
#   BENCH_B_TXS     transactions in (b) (default 100): BENCH_B_TXS=1 BENCH_SCALE=100
#                   BENCH_WORKLOADS=b decodes one 1,000,000-row transaction
#   BENCH_REPEAT    decode each workload this many times per decoder, each time
#                   through its own slot, and keep the fastest (default 1)
#   BENCH_PORT      port of the throwaway cluster (default 55433)
#   BENCH_TIMEOUT   seconds after which one pg_recvlogical run is killed (default 3600)
#   BENCH_EXTRA_CONF  extra postgresql.conf lines, newline-separated (default none)
#   BENCH_OUTPUT_DIR  write each decoder's output to files there instead of
#                   /dev/null, to check it (timings then include the writes)
#
# Prints markdown tables and writes the same to bench/decoder/results.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

die() {
	echo "bench: $*" >&2
	exit 1
}
log() { echo "bench: $*" >&2; }

command -v pg_config >/dev/null 2>&1 ||
	die "pg_config not found; run scripts/setup.sh first (it installs PostgreSQL 15 and rtsync)"
# shellcheck source=../../scripts/lib.sh
. scripts/lib.sh

bindir=$(pg_bindir)
pkglibdir=$(pg_config --pkglibdir)
sharedir=$(pg_config --sharedir)
psql_bin=$bindir/psql
recv_bin=$bindir/pg_recvlogical
{ [ -x "$psql_bin" ] && [ -x "$recv_bin" ]; } ||
	die "psql or pg_recvlogical missing in $bindir; run scripts/setup.sh first"

# ---- decoders ---------------------------------------------------------------

all_decoders="rtsync-json rtsync-dynamodb wal2json-v1 wal2json-v2 test_decoding"
declare -A plugin_of=(
	[rtsync-json]=rtsync
	[rtsync-dynamodb]=rtsync
	[wal2json-v1]=wal2json
	[wal2json-v2]=wal2json
	[test_decoding]=test_decoding
)
# pg_recvlogical -o options, space-separated NAME=VALUE words.
declare -A options_of=(
	[rtsync-json]="format=json"
	[rtsync-dynamodb]="format=dynamodb"
	[wal2json-v1]="format-version=1"
	[wal2json-v2]="format-version=2"
	[test_decoding]=""
)

decoders=()
for d in ${BENCH_DECODERS:-$all_decoders}; do
	[ -n "${plugin_of[$d]+x}" ] || die "unknown decoder '$d' in BENCH_DECODERS (known: $all_decoders)"
	case " ${decoders[*]-} " in *" $d "*) ;; *) decoders+=("$d") ;; esac
done
[ ${#decoders[@]} -gt 0 ] || die "BENCH_DECODERS selects no decoder"

use_rtsync=false
for d in "${decoders[@]}"; do
	p=${plugin_of[$d]}
	[ -f "$pkglibdir/$p.so" ] ||
		die "output plugin $p not installed ($pkglibdir/$p.so missing); run scripts/setup.sh first"
	[ "$p" = rtsync ] && use_rtsync=true
done
if $use_rtsync; then
	[ -f "$sharedir/extension/rtsync.control" ] ||
		die "extension rtsync not installed ($sharedir/extension/rtsync.control missing); run scripts/setup.sh first"
fi
# lib.sh's cluster config preloads rtsync, so the server needs it in any case
# (unless BENCH_EXTRA_CONF overrides shared_preload_libraries).
if [[ ${BENCH_EXTRA_CONF:-} != *shared_preload_libraries* ]]; then
	[ -f "$pkglibdir/rtsync.so" ] ||
		die "$pkglibdir/rtsync.so missing (the cluster preloads it); run scripts/setup.sh first"
fi

# ---- sizes ------------------------------------------------------------------

scale=${BENCH_SCALE:-1}
awk -v s="$scale" 'BEGIN { exit !(s ~ /^([0-9]+\.?[0-9]*|\.[0-9]+)$/ && s + 0 > 0) }' ||
	die "BENCH_SCALE must be a positive number, not '$scale'"
# scaled N: N * BENCH_SCALE rounded, at least 1.
scaled() { awk -v n="$1" -v s="$scale" 'BEGIN { v = int(n * s + 0.5); print (v < 1 ? 1 : v) }'; }

repeat=${BENCH_REPEAT:-1}
[[ $repeat =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer"
max_slots=60
[ $((repeat * ${#decoders[@]})) -le $max_slots ] ||
	die "BENCH_REPEAT x decoders must stay within $max_slots slots"
timeout_s=${BENCH_TIMEOUT:-3600}
[[ $timeout_s =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMEOUT must be a positive integer"
port=${BENCH_PORT:-55433}
output_dir=${BENCH_OUTPUT_DIR:-}
if [ -n "$output_dir" ]; then
	mkdir -p "$output_dir"
	output_dir=$(cd "$output_dir" && pwd)
fi

a_txs=$(scaled 200000)   # (a) transactions of one INSERT each
b_txs=${BENCH_B_TXS:-100} # (b) transactions ...
b_rows=$(scaled 10000)   #     ... of this many inserted rows
c_txs=100                # (c) transactions ...
c_rows=$(scaled 1000)    #     ... of this many UPDATEd rows
c_total=$((c_txs * c_rows))

read -r -a workloads <<<"${BENCH_WORKLOADS:-a b c}"
for w in "${workloads[@]}"; do
	case "$w" in a | b | c) ;; *) die "unknown workload '$w' in BENCH_WORKLOADS (known: a b c)" ;; esac
done
declare -A wl_title=(
	[a]="(a) $a_txs × 1-row INSERT tx"
	[b]="(b) $b_txs × $b_rows-row INSERT tx"
	[c]="(c) $c_txs × $c_rows-row UPDATE tx, 10 kB TOAST"
)

# ---- cluster ----------------------------------------------------------------

dir=$(mktemp -d /tmp/rtsync-bench.XXXXXX)
recv_pid=""
cleanup() {
	if [ -n "$recv_pid" ]; then kill "$recv_pid" 2>/dev/null || true; fi
	cluster_destroy "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

extra_conf=(
	"max_replication_slots = 64"
	# No rtsync server worker: it would stream its own slot, decoding the
	# same WAL alongside the decoder being measured.
	"rtsync.port = 0"
	# Keep checkpoints out of the workloads: run.sh checkpoints between them.
	"max_wal_size = 32GB"
	"checkpoint_timeout = 1h"
)
if [ -n "${BENCH_EXTRA_CONF:-}" ]; then
	while IFS= read -r line; do extra_conf+=("$line"); done <<<"$BENCH_EXTRA_CONF"
fi

log "cluster in $dir, port $port"
cluster_create "$dir" "$port" "${extra_conf[@]}"
cluster_start "$dir"

q() { "$psql_bin" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
# Workload sessions: asynchronous commit, generation speed is not measured.
qgen() { PGOPTIONS="-c synchronous_commit=off" q "$@"; }

server_version=$(q -c "SHOW server_version")
q -f "$here/workloads.sql"
if $use_rtsync; then
	# Published before any slot exists; this also sets REPLICA IDENTITY FULL.
	q -c "CREATE EXTENSION rtsync"
	for w in "${workloads[@]}"; do q -c "SELECT rtsync.publish('bench_$w')" >/dev/null; done
fi

now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'; }

# ---- one decode run ---------------------------------------------------------

# decode SLOT DECODER ENDPOS OUT: stream SLOT to ENDPOS into file OUT. Sets
# dec_secs, dec_hwm_kb (walsender VmHWM, last sample) and dec_anon_kb (largest
# sampled walsender RssAnon); returns pg_recvlogical's status.
decode() {
	local slot=$1 d=$2 endpos=$3 out=$4 o t0 rc=0 wpid="" i key val _
	local args=(-d "$PGDATABASE" --slot="$slot" --start --endpos="$endpos" -f "$out" --no-loop)
	for o in ${options_of[$d]}; do args+=(-o "$o"); done
	dec_hwm_kb="" dec_anon_kb=""
	t0=$(now_ns)
	timeout "$timeout_s" "$recv_bin" "${args[@]}" 2>"$dir/recv.err" &
	recv_pid=$!
	# Sample the walsender's memory while the client runs. The walsender is
	# the slot's active_pid; VmHWM is its peak RSS so far (it includes shared
	# memory it touched), RssAnon its private memory at that moment.
	for ((i = 0; i < timeout_s * 50 + 100; i++)); do
		kill -0 "$recv_pid" 2>/dev/null || break
		if [ -z "$wpid" ]; then
			wpid=$(q -c "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$slot'" 2>/dev/null || true)
		fi
		if [ -n "$wpid" ] && [ -r "/proc/$wpid/status" ]; then
			while read -r key val _; do
				case $key in
				VmHWM:) dec_hwm_kb=$val ;;
				RssAnon:) [ "${dec_anon_kb:-0}" -ge "$val" ] || dec_anon_kb=$val ;;
				esac
			done <"/proc/$wpid/status" 2>/dev/null || true
		fi
		sleep 0.02
	done
	wait "$recv_pid" || rc=$?
	recv_pid=""
	dec_secs=$(secs_since "$t0")
	return "$rc"
}

# ---- workloads --------------------------------------------------------------

declare -A secs hwm anon wal_mb gen_secs
failures=()

run_workload() {
	local w=$1 r d slot t0 start_lsn endpos rc out
	log "workload ${wl_title[$w]}"
	if [ "$w" = c ]; then
		t0=$(now_ns)
		qgen -c "CALL bench_preload_c($c_total)"
		q -c "VACUUM ANALYZE bench_c"
		log "  preloaded $c_total rows in $(secs_since "$t0") s;" \
			"$(q -F ' ' -c "SELECT 'avg pg_column_size(body) =', avg(pg_column_size(body))::int,
			    'bytes, table size', pg_size_pretty(pg_total_relation_size('bench_c')) FROM bench_c")"
	fi
	q -c "CHECKPOINT"

	for ((r = 1; r <= repeat; r++)); do
		for d in "${decoders[@]}"; do
			slot="bench_${w}_${d//-/_}_$r"
			q -c "SELECT pg_create_logical_replication_slot('$slot', '${plugin_of[$d]}')" >/dev/null
		done
	done
	start_lsn=$(q -c "SELECT pg_current_wal_insert_lsn()")

	t0=$(now_ns)
	case $w in
	a) qgen -c "CALL bench_run_a($a_txs)" ;;
	b) qgen -c "CALL bench_run_b($b_txs, $b_rows)" ;;
	c) qgen -c "CALL bench_run_c($c_total, $c_rows)" ;;
	esac
	gen_secs[$w]=$(secs_since "$t0")
	# The workload committed asynchronously, so take the insert position, not
	# the (possibly lagging) write position, as the end. Then flush the WAL up
	# to there with a synchronous commit that writes WAL (one that only takes
	# an xid commits asynchronously and would leave the first decoder waiting
	# up to wal_writer_delay for the flush).
	endpos=$(q -c "SELECT pg_current_wal_insert_lsn()")
	q -c "INSERT INTO bench_end_marker VALUES ('$w')"
	[ "$(q -c "SELECT pg_current_wal_flush_lsn() >= '$endpos'")" = t ] ||
		die "WAL not flushed up to $endpos after a synchronous commit"
	wal_mb[$w]=$(q -c "SELECT round(pg_wal_lsn_diff('$endpos', '$start_lsn') / 1048576.0, 1)")
	log "  generated in ${gen_secs[$w]} s, ${wal_mb[$w]} MB of WAL ($start_lsn .. $endpos)"

	for ((r = 1; r <= repeat; r++)); do
		for d in "${decoders[@]}"; do
			slot="bench_${w}_${d//-/_}_$r"
			rc=0
			out=/dev/null
			[ -z "$output_dir" ] || out=$output_dir/$w-$d-$r.out
			decode "$slot" "$d" "$endpos" "$out" || rc=$?
			if [ "$rc" -ne 0 ]; then
				log "  $d: pg_recvlogical failed (status $rc):"
				sed 's/^/    /' "$dir/recv.err" >&2
				failures+=("$d on ($w), run $r: $(tr '\n' ' ' <"$dir/recv.err")")
				secs[$d,$w]=FAIL
				continue
			fi
			log "  $d run $r: $dec_secs s, walsender VmHWM ${dec_hwm_kb:-?} kB, RssAnon max ${dec_anon_kb:-?} kB"
			if [ "${secs[$d,$w]:-}" != FAIL ] &&
				{ [ -z "${secs[$d,$w]:-}" ] || awk -v a="$dec_secs" -v b="${secs[$d,$w]}" 'BEGIN { exit !(a < b) }'; }; then
				secs[$d,$w]=$dec_secs
			fi
			# Memory: the largest over the repeats.
			[ "${hwm[$d,$w]:-0}" -ge "${dec_hwm_kb:-0}" ] || hwm[$d,$w]=$dec_hwm_kb
			[ "${anon[$d,$w]:-0}" -ge "${dec_anon_kb:-0}" ] || anon[$d,$w]=$dec_anon_kb
		done
	done

	for ((r = 1; r <= repeat; r++)); do
		for d in "${decoders[@]}"; do
			q -c "SELECT pg_drop_replication_slot('bench_${w}_${d//-/_}_$r')" >/dev/null
		done
	done
}

for w in "${workloads[@]}"; do run_workload "$w"; done

# ---- report -----------------------------------------------------------------

mb() { if [ -n "$1" ]; then awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; else echo "n/a"; fi; }

report() {
	local d w base v
	echo "# Decoder benchmark"
	echo
	echo "Generated by \`bench/decoder/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), PostgreSQL $server_version," \
		"BENCH_SCALE=$scale, BENCH_REPEAT=$repeat (fastest run kept), $(nproc) CPUs."
	echo "Each figure is the wall-clock time of \`pg_recvlogical --start --endpos=... -f /dev/null\`" \
		"decoding the workload's WAL from a slot created just before it."
	echo
	echo "| workload | WAL (MB) | generation (s) |"
	echo "|---|---:|---:|"
	for w in "${workloads[@]}"; do echo "| ${wl_title[$w]} | ${wal_mb[$w]} | ${gen_secs[$w]} |"; done
	echo
	echo "## Decode time (s)"
	echo
	printf '| decoder |'; for w in "${workloads[@]}"; do printf ' %s |' "${wl_title[$w]}"; done; echo
	printf '|---|'; for w in "${workloads[@]}"; do printf -- '---:|'; done; echo
	for d in "${decoders[@]}"; do
		printf '| %s |' "$d"
		for w in "${workloads[@]}"; do printf ' %s |' "${secs[$d,$w]:-n/a}"; done
		echo
	done
	echo
	echo "## Ratio to wal2json-v2 (lower is faster)"
	echo
	if [[ " ${decoders[*]} " != *" wal2json-v2 "* ]]; then
		echo "wal2json-v2 was not part of this run."
	else
		printf '| decoder |'; for w in "${workloads[@]}"; do printf ' (%s) |' "$w"; done; echo
		printf '|---|'; for w in "${workloads[@]}"; do printf -- '---:|'; done; echo
		for d in "${decoders[@]}"; do
			printf '| %s |' "$d"
			for w in "${workloads[@]}"; do
				v=${secs[$d,$w]:-} base=${secs[wal2json-v2,$w]:-}
				if [[ $v =~ ^[0-9.]+$ && $base =~ ^[0-9.]+$ ]] && awk -v b="$base" 'BEGIN { exit !(b > 0) }'; then
					printf ' %s |' "$(awk -v a="$v" -v b="$base" 'BEGIN { printf "%.2f", a / b }')"
				else
					printf ' n/a |'
				fi
			done
			echo
		done
	fi
	echo
	echo "## Walsender memory (MB): peak RSS (VmHWM) / largest sampled private RSS (RssAnon)"
	echo
	echo "Sampled from /proc every 20 ms while pg_recvlogical runs; VmHWM includes shared memory the"
	echo "walsender touched. Runs shorter than a sample or two show n/a."
	echo
	printf '| decoder |'; for w in "${workloads[@]}"; do printf ' (%s) |' "$w"; done; echo
	printf '|---|'; for w in "${workloads[@]}"; do printf -- '---:|'; done; echo
	for d in "${decoders[@]}"; do
		printf '| %s |' "$d"
		for w in "${workloads[@]}"; do printf ' %s / %s |' "$(mb "${hwm[$d,$w]:-}")" "$(mb "${anon[$d,$w]:-}")"; done
		echo
	done
	if [ ${#failures[@]} -gt 0 ]; then
		echo
		echo "## Failures"
		echo
		for v in "${failures[@]}"; do echo "- $v"; done
	fi
}

report | tee "$here/results.md"
[ ${#failures[@]} -eq 0 ] || exit 1
