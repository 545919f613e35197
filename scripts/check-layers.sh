#!/usr/bin/env bash
# The server's level rule (README, "How the code is laid out"), checked:
#   - a file under bgworker/<folder>/ includes only its own folder and the
#     folders below it (ALLOWED); nothing includes worker.c/server.c's
#     headers but those two and the plugin's _PG_init;
#   - no include climbs with "../";
#   - graphql/ is pure: no uv.h, libwebsockets.h or libpq-fe.h;
#   - no two modules (a .c with its .h) include each other in a loop, also
#     within a folder: a call upward goes through a registered callback;
#   - a function a header declares is defined by its own module (x.h: x.c,
#     or x_*.c beside it), so no header hides a call into another module.
# Usage: scripts/check-layers.sh [DIR]   (DIR: a tree holding bgworker/;
#        default the checkout) -- prints each violation, exits 1 on any.
#        scripts/check-layers.sh --self-test   plants one violation of each
#        kind in a copy and fails unless every one is caught.
set -euo pipefail

declare -A ALLOWED=(
	[base]="base"
	[graphql]="graphql base"
	[net]="net base"
	[sqlapi]="sqlapi graphql base"
	[control]="control graphql net base"
	[query]="query graphql net base"
	[stream]="stream control graphql net base"
	[ws]="ws stream control query graphql net base"
	[http]="http stream control query graphql net base"
)
PURE_FORBIDDEN='uv\.h|libwebsockets\.h|libpq-fe\.h'

check_tree() {
	local top=$1 bad=0 f rel folder inc target edges
	edges=$(mktemp)
	cd "$top"
	while IFS= read -r f; do
		rel=${f#bgworker/}
		folder=top
		[[ $rel == */* ]] && folder=${rel%%/*}
		while IFS= read -r inc; do
			[ -n "$inc" ] || continue
			if [[ $inc == ../* || $inc == */../* ]]; then
				echo "$f: includes \"$inc\": no ../ (paths from bgworker/ or the top)"
				bad=1
				continue
			fi
			target=
			if [[ $inc == */* && -f bgworker/$inc ]]; then
				target=${inc%%/*}
			elif [[ $inc != */* && -f bgworker/$inc ]]; then
				target=top
			elif [[ $inc == extension/* ]]; then
				target=extension
			fi
			[ -n "$target" ] || continue
			# the module graph: a .c and its .h are one module
			[ "$target" = extension ] ||
				echo "${f%.[ch]} bgworker/${inc%.h}" >>"$edges"
			if [ "$folder" = top ] || [ "$target" = extension ]; then
				continue
			fi
			if [ "$target" = top ] || [[ " ${ALLOWED[$folder]:-} " != *" $target "* ]]; then
				echo "$f: includes \"$inc\": $folder/ may include only ${ALLOWED[$folder]:-(an unknown folder)}"
				bad=1
			fi
		done < <(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/p' "$f")
		if [ "$folder" = graphql ] && grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]($PURE_FORBIDDEN)[>\"]" "$f" >/dev/null; then
			echo "$f: graphql/ is pure GraphQL: no uv.h, libwebsockets.h or libpq-fe.h"
			bad=1
		fi
		if [ -z "${ALLOWED[$folder]:-}" ] && [ "$folder" != top ]; then
			echo "$f: bgworker/$folder/ is not a known level (add it to ALLOWED)"
			bad=1
		fi
	done < <(find bgworker -name '*.[ch]' | sort)
	# extension/ is the plugin: it may start the worker, read its settings
	# and count, nothing more
	while IFS= read -r f; do
		while IFS= read -r inc; do
			[ -n "$inc" ] || continue
			if [[ $inc == ../* ]]; then
				echo "$f: includes \"$inc\": no ../"
				bad=1
			elif [ -f "bgworker/$inc" ] && [[ $inc != worker.h && $inc != base/* ]]; then
				echo "$f: includes \"$inc\": extension/ may include only worker.h and base/"
				bad=1
			fi
		done < <(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([^"]+)".*/\1/p' "$f")
	done < <(find extension -name '*.[ch]' | sort)
	# every extern function of x.h is defined in x.c or x_*.c beside it
	local h base fn
	while IFS= read -r h; do
		base=${h%.h}
		while IFS= read -r fn; do
			[ -n "$fn" ] || continue
			if ! grep -qsE "^$fn\(" "$base".c "$base"_*.c; then
				echo "$h: declares $fn, which ${base##*/}.c does not define (a header declares only its own module's functions)"
				bad=1
			fi
		done < <(grep -E '^extern[^;(]*\b[a-z_][a-z_0-9]*\(' "$h" | sed -E 's/^extern[^(]*[^a-z_0-9]([a-z_][a-z_0-9]*)\(.*/\1/')
	done < <(find bgworker -name '*.h' | sort)
	# loops: tsort names the modules of each one
	local loops
	loops=$(awk '$1 != $2' "$edges" | sort -u | tsort 2>&1 >/dev/null | grep -v 'input contains a loop' || true)
	rm -f "$edges"
	if [ -n "$loops" ]; then
		echo "modules that include each other in a loop (tsort):"
		sed 's/^tsort: /  /' <<<"$loops"
		bad=1
	fi
	return $bad
}

self_test() {
	local src work failed=0
	src=$(cd "$(dirname "$0")/.." && pwd)
	plant() {
		local what=$1 file=$2 line=$3
		work=$(mktemp -d)
		cp -r "$src/bgworker" "$src/extension" "$work/"
		printf '%s\n' "$line" >>"$work/$file"
		if check_tree "$work" >"$work/out" 2>&1; then
			echo "check-layers self-test: a planted $what was not caught ($file: $line)"
			failed=1
		else
			echo "check-layers self-test: caught a planted $what: $(head -n 1 "$work/out")"
		fi
		cd "$src"
		rm -rf "$work"
	}
	if ! (check_tree "$src" >/dev/null); then
		echo "check-layers self-test: the tree itself does not pass"
		return 1
	fi
	plant "level violation" bgworker/net/pool.c '#include "ws/protocol.h"'
	plant "include of the process level" bgworker/graphql/filter.c '#include "server.h"'
	plant "libuv include in graphql/" bgworker/graphql/filter.c '#include <uv.h>'
	plant "libpq include in graphql/" bgworker/graphql/schema.h '#include "libpq-fe.h"'
	plant "../ include" bgworker/ws/protocol.c '#include "../extension/value_encode.h"'
	plant "loop between modules" bgworker/graphql/lexer.c '#include "graphql/parser.h"'
	plant "function declared away from its module" bgworker/graphql/schema.h 'extern void rtsync_protocol_receive(void);'
	return $failed
}

if [ "${1:-}" = "--self-test" ]; then
	self_test
else
	check_tree "$(cd "${1:-$(dirname "$0")/..}" && pwd)"
	echo "check-layers: ok"
fi
