#!/usr/bin/env bash
# Builds the planner fuzz target: build.sh <output binary>
# (FUZZ_MODE=bench builds the benchmark main() instead; see fuzz_planner.c)
# Run from the repository root; scripts/fuzz.sh does.
here=test/fuzz/planner
. test/fuzz/lib/common.sh

# rtsync's GraphQL modules, and what they call of the rest of rtsync
# all of graphql/ (pure: it links outside the server), and what it uses below
SRCS=(
	bgworker/graphql/*.c bgworker/base/settings.c
	extension/value_encode.c extension/decoder_options.c
)
# the backend's own: Lists, hash tables, numeric and jsonb values
BITCODE=(
	nodes/list utils/hash/dynahash utils/adt/numeric utils/adt/numutils
	utils/adt/jsonb utils/adt/jsonb_util
)
fuzz_build "$1" "$here/fuzz_planner.c"
