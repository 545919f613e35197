# shellcheck shell=bash
# Helpers shared by rtsync's scripts: privilege escalation, the Node.js they
# run, and throwaway PostgreSQL clusters run as an unprivileged OS user
# (initdb refuses root).
#
# Source it; it defines functions and sets nothing else.

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The OS user that owns and runs clusters: postgres when we are root, else us.
cluster_os_user() {
	if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

# Run a command as the cluster's OS user.
as_cluster_user() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Like as_cluster_user, in a session of its own: signals sent to our process
# group (Ctrl-C, timeout(1), a second SIGTERM) do not reach it, so a cluster's
# start or stop, once begun, completes and a caller's cleanup can rely on it.
as_cluster_user_detached() {
	if [ "$(id -u)" -eq 0 ]; then
		setsid -w runuser -u postgres -- "$@"
	else
		setsid -w "$@"
	fi
}

# The oldest Node.js major release the clients of the tests, the demo and the
# benchmarks run on (graphql-ws 6, playwright-core, @aws-sdk; node --test's
# options).
node_min_major() {
	echo 20
}

# node_is_recent: the node on PATH runs and is at least node_min_major.
node_is_recent() {
	local v
	v=$(node --version 2>/dev/null) || return 1
	v=${v#v}
	v=${v%%.*}
	[[ $v =~ ^[0-9]+$ ]] && [ "$v" -ge "$(node_min_major)" ]
}

# Where scripts/setup.sh puts the Node.js it brings when the machine's is
# missing or too old: .tools/node in this checkout (git-ignored).
project_node_dir() {
	echo "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools/node"
}

# use_node: put the project's own Node.js (and its npm) first on PATH when
# setup brought one; otherwise leave PATH alone (the machine's node is recent
# enough). Every script that runs node or npm calls it after setup.
# That npm would read its global settings from .tools/node/etc/npmrc: point it
# at the machine's (/etc/npmrc, where Debian's npm keeps registry, proxy and
# CA settings), so it reaches the registry the way the machine's npm does.
use_node() {
	local bin
	bin="$(project_node_dir)/bin"
	[ -x "$bin/node" ] || return 0
	case ":$PATH:" in
		*":$bin:"*) ;;
		*) PATH="$bin:$PATH" && export PATH ;;
	esac
	if [ -z "${npm_config_globalconfig:-}" ] && [ -f /etc/npmrc ]; then
		export npm_config_globalconfig=/etc/npmrc
	fi
}

pg_bindir() {
	pg_config --bindir
}

# cluster_create DIR PORT [extra postgresql.conf lines...]
# rtsync's GraphQL server listens on 127.0.0.1:$RTSYNC_PORT (default: PORT
# minus 40000, so that clusters side by side do not collide).
# Makes a new cluster in DIR/data with its unix socket in DIR, configured for
# rtsync, and exports PGHOST/PGPORT/PGUSER/PGDATABASE for libpq clients.
# The superuser role is named after the OS user that runs the cluster (so
# rtsync's worker, connecting as that OS user, finds it); trust auth over the
# unix socket only.
cluster_create() {
	local dir=$1 port=$2
	shift 2
	mkdir -p "$dir"
	chmod 755 "$dir"
	if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
	# --no-sync: a throwaway cluster (fsync is off too); initdb's own fsync
	# of every file costs seconds on a busy machine
	(cd /tmp && as_cluster_user "$(pg_bindir)/initdb" -D "$dir/data" \
		-A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1) || {
		cat "$dir/initdb.log" >&2
		return 1
	}
	{
		echo "listen_addresses = ''"
		echo "port = $port"
		echo "unix_socket_directories = '$dir'"
		echo "wal_level = logical"
		echo "shared_preload_libraries = 'rtsync'"
		echo "output_plugin_libraries = 'pgoutput, test_decoding, rtsync, wal2json'"
		echo "max_replication_slots = 20"
		echo "max_wal_senders = 20"
		echo "fsync = off"
		echo "log_min_messages = warning"
		echo "rtsync.port = ${RTSYNC_PORT:-$((port - 40000))}"
		for line in "$@"; do echo "$line"; done
	} | as_cluster_user tee -a "$dir/data/postgresql.conf" >/dev/null
	cluster_env "$dir" "$port"
}

# cluster_env DIR PORT: point libpq clients at the cluster.
cluster_env() {
	export PGHOST=$1 PGPORT=$2 PGUSER=$(cluster_os_user) PGDATABASE=postgres
}

# cluster_start DIR / cluster_stop DIR (detached: a signal to the caller does
# not cut pg_ctl short, which could leave a server running that nobody stops)
cluster_start() {
	(cd /tmp && as_cluster_user_detached "$(pg_bindir)/pg_ctl" -D "$1/data" -l "$1/server.log" -w start >/dev/null) || {
		cat "$1/server.log" >&2
		return 1
	}
}

cluster_stop() {
	[ -d "$1/data" ] || return 0
	(cd /tmp && as_cluster_user_detached "$(pg_bindir)/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1) || true
}

# cluster_destroy DIR: stop the cluster and remove everything under DIR.
cluster_destroy() {
	cluster_stop "$1"
	rm -rf "$1"
}
