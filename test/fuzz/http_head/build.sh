#!/usr/bin/env bash
# Builds this fuzz target: prints nothing, exits non-zero on failure.
# Usage: build.sh OUT   (OUT: the binary to write)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
clang -g -O1 -fsanitize=fuzzer,address,undefined -I"$top/bgworker" \
	"$here/fuzz_http_head.c" "$top/bgworker/http/parse.c" -o "$1"
