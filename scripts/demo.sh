#!/usr/bin/env bash
# The rtsync demo: sets up, starts a throwaway cluster with rtsync, creates the
# AppSync recipe's data_items table, publishes it as type DataItem, and shows
# its stream records live while a sample writer inserts, updates and deletes.
# Ctrl-C stops everything and removes the cluster.
#
# Environment: DEMO_PORT (55432), DEMO_ROUNDS (3600; the writer stops after
# that many rounds and the demo ends), DEMO_INTERVAL (seconds between rounds, 1).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

port=${DEMO_PORT:-55432}
rounds=${DEMO_ROUNDS:-3600}
interval=${DEMO_INTERVAL:-1}

bash scripts/setup.sh

dir=$(mktemp -d /tmp/rtsync-demo.XXXXXX)
pids=()
cleanup() {
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	cluster_destroy "$dir"
	echo "demo: stopped; cluster removed"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cluster_create "$dir" "$port"
cluster_start "$dir"
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION rtsync;
CREATE TABLE data_items (
	id text PRIMARY KEY DEFAULT gen_random_uuid()::text,
	title text NOT NULL,
	content text,
	"timestamp" timestamptz NOT NULL DEFAULT now(),
	version int NOT NULL DEFAULT 1
);
SET client_min_messages = warning;
SELECT rtsync.publish('data_items', type_name => 'DataItem');
SELECT 'ok' FROM pg_create_logical_replication_slot('demo', 'rtsync');
SQL

cat <<EOF_INFO
demo: cluster running (socket in $dir, port $port); data_items published as DataItem.
demo: make your own changes from another terminal:
        psql -h $dir -p $port -U postgres -c "INSERT INTO data_items (title) VALUES ('mine')"
demo: stream records (one JSON object per change) follow. Ctrl-C stops.

EOF_INFO

# The sample writer: each round inserts an item, edits it, and deletes the
# one before. Its last change is a row titled "demo-done", which ends the demo.
writer() {
	local i
	for ((i = 1; i <= rounds; i++)); do
		psql -X -q -v ON_ERROR_STOP=1 -c "
			INSERT INTO data_items (id, title, content) VALUES ('item-$i', 'Item $i', 'first draft');
			UPDATE data_items SET content = 'edited', version = version + 1 WHERE id = 'item-$i';
			DELETE FROM data_items WHERE id = 'item-$((i - 1))';" >/dev/null
		sleep "$interval"
	done
	psql -X -q -c "INSERT INTO data_items (id, title) VALUES ('done', 'demo-done')" >/dev/null
}
writer &
pids+=($!)

coproc RECV { exec "$(pg_bindir)/pg_recvlogical" -d postgres --slot=demo --start -f - \
	-o include-commit=false 2>&1; }
pids+=("$RECV_PID")
done=false
while IFS= read -r record <&"${RECV[0]}"; do
	printf '%s\n' "$record"
	case "$record" in *'"title":"demo-done"'*) done=true; break ;; esac
done
if ! $done; then
	echo "demo: pg_recvlogical stopped before the sample writer finished" >&2
	exit 1
fi
echo "demo: the sample writer has finished"
