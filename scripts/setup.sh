#!/usr/bin/env bash
# Installs what rtsync needs from Debian, then builds and installs the extension.
# Works as root or as a user with sudo; running it again is harmless.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# Server and headers must match, and 15.19 is the first release with
# output_plugin_libraries (see README): install or upgrade them together.
packages=(postgresql-15 postgresql-server-dev-15 libpq-dev libwebsockets-dev
	postgresql-15-wal2json make gcc)
min_server=15.19

installed_version() {
	dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null |
		awk '$3 == "installed" { print $4 }'
}

needs_install() {
	local p v server
	server=$(installed_version postgresql-15)
	[ -n "$server" ] || return 0
	dpkg --compare-versions "$server" ge "$min_server" || return 0
	[ "$(installed_version postgresql-server-dev-15)" = "$server" ] || return 0
	for p in "${packages[@]}"; do
		v=$(installed_version "$p")
		[ -n "$v" ] || return 0
	done
	return 1
}

if needs_install; then
	echo "setup: installing ${packages[*]}"
	as_root apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${packages[@]}"
fi

server=$(installed_version postgresql-15)
if ! dpkg --compare-versions "$server" ge "$min_server"; then
	echo "setup: PostgreSQL $server is too old; rtsync needs $min_server or later" >&2
	exit 1
fi

make -s
as_root make -s install
echo "setup: rtsync built and installed for PostgreSQL $server"
