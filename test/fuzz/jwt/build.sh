#!/usr/bin/env bash
# Builds the token fuzz target: build.sh <output binary>
# Run from the repository root; scripts/fuzz.sh does.
here=test/fuzz/jwt
. test/fuzz/lib/common.sh

# the verifier, the key reader and what they use below
SRCS=(
	bgworker/control/jwt.c bgworker/control/jwks.c
	bgworker/base/json.c bgworker/base/base64url.c
)
# the backend's own: Lists, jsonb, numeric (exp as a number)
BITCODE=(
	nodes/list utils/adt/numeric utils/adt/numutils
	utils/adt/jsonb utils/adt/jsonb_util
)
LDLIBS=(-lcrypto)
fuzz_build "$1" "$here/fuzz_jwt.c"
