# rtsync: one shared library that is both the logical decoding output plugin
# (loaded by walsenders) and the background worker serving GraphQL.
MODULE_big = rtsync
OBJS = \
	extension/rtsync.o \
	extension/decoder.o \
	extension/decoder_options.o \
	extension/relinfo.o \
	extension/value_encode.o \
	extension/publication.o \
	extension/notify.o \
	extension/role_watch.o \
	bgworker/settings.o \
	bgworker/worker.o \
	bgworker/pgconn.o \
	bgworker/replication.o \
	bgworker/control.o \
	bgworker/apikeys.o \
	bgworker/listener.o \
	bgworker/server.o \
	bgworker/protocol.o \
	bgworker/registry.o
OBJS += bgworker/graphql_lexer.o bgworker/graphql_parser.o bgworker/graphql_sql.o
OBJS += bgworker/schema.o bgworker/filter.o bgworker/subscription_input.o bgworker/subscription_variables.o bgworker/subscription_validate.o bgworker/subscription_plan.o bgworker/subscription_sql.o
OBJS += bgworker/schema_types.o bgworker/builtin_types.o bgworker/schema_sdl.o bgworker/introspection_validate.o bgworker/introspection.o bgworker/schema_sql.o
OBJS += bgworker/http_static.o bgworker/http_parse.o bgworker/http_server.o bgworker/ws_upgrade.o bgworker/tls_proxy.o
OBJS += bgworker/metrics.o
OBJS += bgworker/pool.o bgworker/http.o bgworker/http_graphql.o bgworker/query_plan.o bgworker/query_result.o bgworker/query_sql.o bgworker/ws_operation.o

EXTENSION = rtsync
DATA = sql/rtsync--0.1.sql
# the explorer page served at GET / (bgworker/http_static.c)
DATA += bgworker/rtsync_explorer.html
PGFILEDESC = "rtsync - real-time sync for PostgreSQL"

# The worker talks to PostgreSQL through libpq, as dblink does.
PG_CPPFLAGS = -I$(libpq_srcdir)
SHLIB_LINK_INTERNAL = $(libpq)
SHLIB_LINK = -lwebsockets -luv -lssl -lcrypto

# No LLVM bitcode: it needs clang at build time and buys nothing here.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when a header
# changes, so no object is ever built against a stale struct layout.
$(OBJS): $(wildcard extension/*.h bgworker/*.h)

.PHONY: test
test:
	bash scripts/test.sh
