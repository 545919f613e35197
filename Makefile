# rtsync: one shared library that is both the logical decoding output plugin
# (loaded by walsenders) and the background worker serving GraphQL.
MODULE_big = rtsync
# every .c of the plugin and the server; bgworker/ is in folders by level
# (scripts/check-layers.sh)
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard extension/*.c bgworker/*.c bgworker/*/*.c)))

EXTENSION = rtsync
# the install script: the SQL API's files, one concern each, in order
SQL_PARTS = sql/rtsync.sql sql/stream_read.sql sql/handlers.sql
DATA_built = rtsync--0.1.sql
# the explorer page served at GET / (bgworker/http/static.c)
DATA = bgworker/http/rtsync_explorer.html
PGFILEDESC = "rtsync - real-time sync for PostgreSQL"

# The worker talks to PostgreSQL through libpq, as dblink does.
# Server files include "graphql/filter.h", "extension/value_encode.h":
# paths from bgworker/ and from the top, never "../".
PG_CPPFLAGS = -I$(srcdir)/bgworker -I$(libpq_srcdir)
SHLIB_LINK_INTERNAL = $(libpq)
SHLIB_LINK = -lwebsockets -luv -lssl -lcrypto

# No LLVM bitcode: it needs clang at build time and buys nothing here.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when a header
# changes, so no object is ever built against a stale struct layout.
$(OBJS): $(wildcard extension/*.h bgworker/*.h bgworker/*/*.h)

rtsync--0.1.sql: $(SQL_PARTS)
	cat $^ > $@

.PHONY: test
test:
	bash scripts/test.sh
