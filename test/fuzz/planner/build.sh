#!/usr/bin/env bash
# Builds the planner fuzz target: build.sh <output binary>
# (FUZZ_MODE=bench builds the benchmark main() instead; see fuzz_planner.c)
# Run from the repository root; scripts/fuzz.sh does.
here=test/fuzz/planner
. test/fuzz/lib/common.sh

# rtsync's GraphQL modules, and what they call of the rest of rtsync
SRCS=(
	bgworker/graphql/lexer.c bgworker/graphql/parser.c bgworker/graphql/errors.c
	bgworker/graphql/validate.c bgworker/graphql/name_map.c bgworker/graphql/input.c
	bgworker/graphql/input_variables.c bgworker/graphql/subscription_plan.c
	bgworker/graphql/filter.c bgworker/graphql/filter_ops.c
	bgworker/graphql/query_plan.c bgworker/graphql/query_sql.c
	bgworker/graphql/page_token.c bgworker/graphql/introspection.c
	bgworker/graphql/introspection_validate.c bgworker/graphql/schema.c
	bgworker/graphql/schema_types.c bgworker/graphql/type_defs.c
	bgworker/graphql/builtin_types.c bgworker/base/settings.c
	extension/value_encode.c extension/decoder_options.c
)
# the backend's own: Lists, hash tables, numeric and jsonb values
BITCODE=(
	nodes/list utils/hash/dynahash utils/adt/numeric utils/adt/numutils
	utils/adt/jsonb utils/adt/jsonb_util
)
fuzz_build "$1" "$here/fuzz_planner.c"
