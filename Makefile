# rtsync: one shared library that is both the logical decoding output plugin
# (loaded by walsenders) and, later, the background worker.
MODULE_big = rtsync
OBJS = \
	extension/rtsync.o \
	extension/decoder.o \
	extension/decoder_options.o \
	extension/relinfo.o \
	extension/value_encode.o \
	extension/publication.o

EXTENSION = rtsync
DATA = sql/rtsync--0.1.sql
PGFILEDESC = "rtsync - real-time sync for PostgreSQL"

# No LLVM bitcode: it needs clang at build time and buys nothing here.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

.PHONY: test
test:
	bash scripts/test.sh
