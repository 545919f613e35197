#!/usr/bin/env bash
# Installs what rtsync needs from Debian, then builds and installs the extension.
# Works as root or as a user with sudo; running it again is harmless.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# Server and headers must match, and 15.19 is the first release with
# output_plugin_libraries (see README): install or upgrade them together.
# chromium: the explorer page's browser test drives it headless.
# openssl: the TLS test makes its certificate with it.
packages=(postgresql-15 postgresql-server-dev-15 libpq-dev libwebsockets-dev
	postgresql-15-wal2json make gcc curl chromium openssl)
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

# the end-to-end tests' clients run on Node.js (any recent one; Debian's if none)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	as_root apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends nodejs npm
fi

make -s
as_root make -s install

# npm packages from the committed lock file: the end-to-end tests' clients,
# also used by the demo's subscriber (skipped when that lock is installed)
if ! cmp -s test/e2e/package-lock.json test/e2e/node_modules/.rtsync-installed-lock; then
	(cd test/e2e && npm ci --no-audit --no-fund --loglevel=error >/dev/null &&
		cp package-lock.json node_modules/.rtsync-installed-lock)
fi
echo "setup: rtsync built and installed for PostgreSQL $server"
