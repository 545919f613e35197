#!/usr/bin/env bash
# The rtsync demo: sets up, starts a throwaway cluster with rtsync, creates the
# AppSync recipe's data_items table, publishes it as type DataItem, creates an
# API key, and serves GraphQL on 127.0.0.1:8080: subscriptions over WebSocket,
# queries and mutations over HTTP POST, an explorer page at /. A stock
# graphql-ws client subscribes to onCreate/onUpdate/onDeleteDataItem and prints
# each event while the recipe's curl creates an item over HTTP and a sample
# writer inserts, updates and deletes with psql.
# Ctrl-C stops everything and removes the cluster.
#
# Environment: DEMO_HTTP_PORT (8080), DEMO_PORT (PostgreSQL's, 55432),
# DEMO_ROUNDS (3600; the writer stops after that many rounds and the demo
# ends), DEMO_INTERVAL (seconds between rounds, 1).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

port=${DEMO_PORT:-55432}
http_port=${DEMO_HTTP_PORT:-8080}
rounds=${DEMO_ROUNDS:-3600}
interval=${DEMO_INTERVAL:-1}

bash scripts/setup.sh
use_node

# a demo left running elsewhere would answer this one's subscriber and curl
if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$http_port/"; then
	echo "demo: something already answers on 127.0.0.1:$http_port (another demo?); stop it or set DEMO_HTTP_PORT" >&2
	exit 1
fi

dir=
pids=()
# cleanup runs once and always to its end, on any exit: from the moment a
# signal is taken (timeout(1) sends SIGTERM twice, once to the script and once
# to its process group; impatient Ctrl-Cs) INT, TERM and HUP are ignored, by
# this shell and by what it starts, so a second signal cannot end the shell in
# the middle of the cleanup, and the cluster is always stopped and removed.
cleaned=false
cleanup() {
	trap '' INT TERM HUP
	if $cleaned; then return 0; fi
	cleaned=true
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ -n "$dir" ]; then cluster_destroy "$dir"; fi
	echo "demo: stopped; cluster removed"
}
# on_signal STATUS: signals ignored first, then the cleanup, then the exit
on_signal() {
	trap '' INT TERM HUP
	cleanup
	exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP
dir=$(mktemp -d /tmp/rtsync-demo.XXXXXX)

RTSYNC_PORT=$http_port cluster_create "$dir" "$port"
cluster_start "$dir"
psql -X -q -o /dev/null -v ON_ERROR_STOP=1 -f scripts/data_items.sql
key=$(psql -X -At -c "SELECT rtsync.create_api_key('demo')")
endpoint="ws://127.0.0.1:$http_port/graphql"

# the server answers once it is up (bounded wait)
for _ in $(seq 1 100); do
	curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null && break
	sleep 0.1
done

cat <<EOF_INFO
demo: GraphQL endpoint  http://127.0.0.1:$http_port/graphql   (queries and mutations: POST)
demo:                   $endpoint   (subscriptions; AppSync clients: .../graphql/realtime)
demo: explorer          http://127.0.0.1:$http_port/   (paste the key)
demo: API key           $key
demo: subscribe with any stock client, e.g. graphql-ws:
        createClient({ url: '$endpoint', connectionParams: { 'x-api-key': '$key' } })
          .subscribe({ query: 'subscription { onCreateDataItem { id title content version } }' }, sink)
demo: and change data with any SQL client:
        psql -h $dir -p $port -U $PGUSER -c "INSERT INTO data_items (title, content) VALUES ('Test Item', 'Testing real-time sync')"
demo: or with a GraphQL mutation (the AppSync recipe's test):
        KEY=$key
        curl -X POST -H "Content-Type: application/json" -H "x-api-key: \$KEY" -d '{"query":"mutation CreateItem(\$input: CreateDataItemInput!) { createDataItem(input: \$input) { id title content timestamp version } }","variables":{"input":{"title":"Test Item","content":"Testing real-time sync"}}}' http://127.0.0.1:$http_port/graphql
demo: events received by a graphql-ws subscriber follow. Ctrl-C stops.

EOF_INFO

# The sample writer: each round inserts an item, edits it, and deletes the
# one before. Its last change is an item titled "demo-done", which ends the demo.
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

coproc SUB { exec node scripts/demo-subscriber.mjs "$endpoint" "$key" 2>&1; }
pids+=("$SUB_PID")
done=false
while IFS= read -r line <&"${SUB[0]}"; do
	printf '%s\n' "$line"
	case "$line" in
		"demo: subscribed")
			# the recipe's test, verbatim: its subscriber gets onCreateDataItem
			KEY=$key
			echo "demo: curl answered: $(curl -s -X POST -H "Content-Type: application/json" -H "x-api-key: $KEY" -d '{"query":"mutation CreateItem($input: CreateDataItemInput!) { createDataItem(input: $input) { id title content timestamp version } }","variables":{"input":{"title":"Test Item","content":"Testing real-time sync"}}}' http://127.0.0.1:$http_port/graphql)"
			writer &
			pids+=($!)
			;;
		*'"title":"demo-done"'*) done=true; break ;;
	esac
done
if ! $done; then
	echo "demo: the subscriber stopped before the sample writer finished" >&2
	exit 1
fi
echo "demo: the sample writer has finished"
