# Shared by the fuzz targets' build.sh: compilers, flags and the pieces of
# the PostgreSQL backend that rtsync's pure modules link against outside the
# server. Sourced with the repository root as the working directory.
#
#   FUZZ_MODE=fuzz (default): libFuzzer + AddressSanitizer + UBSan
#   FUZZ_MODE=bench: optimised, no sanitizers, a main() of the target's own
#
# A target's build.sh sets SRCS (rtsync sources), BITCODE (backend files,
# paths under the server's bitcode directory without .bc), optionally LDLIBS
# (more libraries, e.g. -lcrypto), and calls
# fuzz_build <output binary> <harness.c> [more harness sources].

set -euo pipefail
LDLIBS=()

PG_CONFIG=${PG_CONFIG:-pg_config}
CC=${FUZZ_CC:-clang}
FUZZ_MODE=${FUZZ_MODE:-fuzz}
PG_INCLUDE=$("$PG_CONFIG" --includedir-server)
PG_PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
# libpgcommon.a and libpgport.a: in the package's lib directory on Debian
PG_LIBDIR=$("$PG_CONFIG" --libdir)
[ -f "$PG_LIBDIR/libpgcommon.a" ] || PG_LIBDIR=$PG_PKGLIBDIR
PG_BITCODE=${PG_BITCODE:-$PG_PKGLIBDIR/bitcode/postgres}
FUZZ_LIB=test/fuzz/lib

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "fuzz: $CC not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
	exit 2
fi
if [ ! -d "$PG_BITCODE" ]; then
	echo "fuzz: no server bitcode at $PG_BITCODE (it comes with the postgresql-15 package)" >&2
	exit 2
fi

CFLAGS_COMMON=(-g -fno-omit-frame-pointer -Wno-ignored-attributes -Wno-unused-command-line-argument
	-I"$PG_INCLUDE" -I"$(dirname "$PG_INCLUDE")" -I"$("$PG_CONFIG" --includedir)" -I. -Ibgworker -Iextension)
case "$FUZZ_MODE" in
	fuzz)
		CFLAGS_MODE=(-O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
			-fno-sanitize=alignment,function,vptr -DRTSYNC_FUZZ)
		LDFLAGS_MODE=(-fsanitize=fuzzer,address,undefined)
		;;
	bench)
		CFLAGS_MODE=(-O2 -DRTSYNC_BENCH)
		LDFLAGS_MODE=()
		;;
	*)
		echo "fuzz: FUZZ_MODE must be fuzz or bench" >&2
		exit 2
		;;
esac

# fuzz_build <binary> <sources...>: compiles SRCS, BITCODE, the shims and the
# given sources into <binary>, objects in a directory beside it.
fuzz_build() {
	local bin=$1 objdir obj src bc
	shift
	objdir="$bin.obj"
	mkdir -p "$objdir"
	local objs=()
	for src in "${SRCS[@]}" "$FUZZ_LIB/pg_shim.c" "$@"; do
		obj="$objdir/$(echo "$src" | tr '/' '_').o"
		"$CC" "${CFLAGS_COMMON[@]}" "${CFLAGS_MODE[@]}" -c "$src" -o "$obj"
		objs+=("$obj")
	done
	# the backend's own code, from the bitcode shipped for JIT inlining;
	# built with -fno-sanitize=undefined: it is not ours to fix
	for bc in "${BITCODE[@]}"; do
		obj="$objdir/pg_$(echo "$bc" | tr '/' '_').o"
		"$CC" "${CFLAGS_MODE[@]}" -fno-sanitize=undefined -Wno-override-module -c "$PG_BITCODE/$bc.bc" -o "$obj"
		objs+=("$obj")
	done
	# stubs last: only what nothing else defines (pg_stubs.c is weak)
	obj="$objdir/pg_stubs.o"
	"$CC" "${CFLAGS_MODE[@]}" -fno-sanitize=undefined -c "$FUZZ_LIB/pg_stubs.c" -o "$obj"
	objs+=("$obj")
	"$CC" "${LDFLAGS_MODE[@]}" "${objs[@]}" "$PG_LIBDIR/libpgcommon.a" "$PG_LIBDIR/libpgport.a" \
		"${LDLIBS[@]}" -lm -o "$bin"
}
