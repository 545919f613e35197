/*-------------------------------------------------------------------------
 *
 * fuzz_planner.c
 *	  libFuzzer target for the GraphQL planner: parse, validate and plan one
 *	  document against a small fixed schema, the three ways the worker
 *	  does (a POST, a GET, and a subscription), with the real code of
 *	  bgworker/ linked outside the server (test/fuzz/lib/pg_shim.c).
 *
 * Input: the document, optionally followed by a NUL byte and the
 * request's variables as JSON, optionally followed by a NUL byte and the
 * operation's name. What counts as a failure, besides what the sanitizers
 * catch:
 *	- an "Internal error" answer (an ERROR caught by rtsync_plan_operation:
 *	  bad input must become GraphQL errors, never an ERROR);
 *	- memory left behind once the plans and errors are freed;
 *	- a plan with errors, or no plan and no error.
 * libFuzzer's -timeout (fuzz.options) catches a document that plans slowly.
 *
 * Built with -DRTSYNC_BENCH instead (FUZZ_MODE=bench), the same file is a
 * benchmark: main() plans generated documents (aliases, nested fragment
 * spreads) and prints planning time and peak palloc'd bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "catalog/pg_type_d.h"
#include "utils/memutils.h"

#include "graphql/query_plan.h"
#include "graphql/schema.h"
#include "base/settings.h"
#include "graphql/subscription_plan.h"

extern void rtsync_shim_init(void);
extern Size rtsync_shim_allocated;
extern Size rtsync_shim_peak;

static RtsyncSchema *schema;

/* DataItem as scripts/data_items.sql publishes it, and a second type. */
static void
build_schema(void)
{
	RtsyncSchemaTable *t;

	schema = rtsync_schema_create(TopMemoryContext);
	t = rtsync_schema_add_table(schema, 16384, "public.data_items", "DataItem",
								RTSYNC_VIEW_NEW_AND_OLD_IMAGES);
	rtsync_schema_add_column(schema, t, "id", TEXTOID, false, true, true);
	rtsync_schema_set_column_defaults(t, true, true);
	rtsync_schema_add_column(schema, t, "title", TEXTOID, false, true, false);
	rtsync_schema_add_column(schema, t, "content", TEXTOID, false, false, false);
	rtsync_schema_add_column(schema, t, "timestamp", TIMESTAMPTZOID, false, true, false);
	rtsync_schema_set_column_defaults(t, true, true);
	rtsync_schema_add_column(schema, t, "version", INT4OID, false, true, false);
	rtsync_schema_set_column_defaults(t, true, true);
	rtsync_schema_finish_table(schema, t, "version");

	t = rtsync_schema_add_table(schema, 16390, "public.orders", "Order",
								RTSYNC_VIEW_NEW_IMAGE);
	rtsync_schema_add_column(schema, t, "shop", TEXTOID, false, true, true);
	rtsync_schema_add_column(schema, t, "n", INT8OID, false, true, true);
	rtsync_schema_add_column(schema, t, "total", NUMERICOID, false, false, false);
	rtsync_schema_add_column(schema, t, "paid", BOOLOID, false, false, false);
	rtsync_schema_add_column(schema, t, "tags", TEXTOID, true, false, false);
	rtsync_schema_add_column(schema, t, "meta", JSONBOID, false, false, false);
	rtsync_schema_add_column(schema, t, "ratio", FLOAT8OID, false, false, false);
	rtsync_schema_add_column(schema, t, "day", DATEOID, false, false, false);
	rtsync_schema_finish_table(schema, t, NULL);
}

/* RTSYNC_MAX_QUERY_DEPTH=n etc. override base/settings.c's defaults. */
static void
limit_from_env(const char *name, int *value)
{
	const char *s = getenv(name);

	if (s != NULL && atoi(s) > 0)
		*value = atoi(s);
}

static void
init_once(void)
{
	if (schema != NULL)
		return;
	rtsync_shim_init();
	build_schema();
	limit_from_env("RTSYNC_MAX_QUERY_DEPTH", &rtsync_max_query_depth);
	limit_from_env("RTSYNC_MAX_QUERY_ALIASES", &rtsync_max_query_aliases);
	limit_from_env("RTSYNC_MAX_QUERY_NODES", &rtsync_max_query_nodes);
	limit_from_env("RTSYNC_MAX_QUERY_TOKENS", &rtsync_max_query_tokens);
}

/* The errors of a failed plan must say something, and nothing internal. */
static void
check_errors(const char *how, void *plan, List *errors)
{
	ListCell   *lc;

	if (getenv("FUZZ_PLANNER_VERBOSE"))
	{
		fprintf(stderr, "%s: %s\n", how, plan ? "planned" : errors ? "errors:" : "no plan");
		foreach(lc, errors)
			fprintf(stderr, "  %s\n", ((RtsyncGqlError *) lfirst(lc))->message);
	}
	if (plan != NULL && errors != NIL)
	{
		fprintf(stderr, "fuzz_planner: %s: a plan and errors\n", how);
		abort();
	}
	foreach(lc, errors)
	{
		RtsyncGqlError *e = lfirst(lc);

		if (e->message == NULL || e->message[0] == '\0' ||
			strncmp(e->message, "Internal error", 14) == 0)
		{
			fprintf(stderr, "fuzz_planner: %s: %s\n", how,
					e->message ? e->message : "(null message)");
			abort();
		}
	}
}

/* Plans one request three ways in a context of its own; returns the errors' count. */
static int
plan_all(const char *doc, size_t len, const char *variables, const char *operation)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "fuzz input",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Size		before = rtsync_shim_allocated;
	List	   *errors = NIL;
	bool		is_subscription = false;
	RtsyncRequestPlan *request;
	RtsyncSubscriptionPlan *sub;
	int			nerrors = 0;

	request = rtsync_plan_request(schema, doc, len, operation, variables, true,
								  &is_subscription, &errors);
	check_errors("POST", request, errors);
	if (request == NULL && errors == NIL && !is_subscription)
	{
		fprintf(stderr, "fuzz_planner: POST: no plan and no error\n");
		abort();
	}
	nerrors += list_length(errors);
	rtsync_request_plan_free(request);

	errors = NIL;
	request = rtsync_plan_request(schema, doc, len, operation, variables, false,
								  NULL, &errors);
	check_errors("GET", request, errors);
	rtsync_request_plan_free(request);

	errors = NIL;
	sub = rtsync_plan_subscription(schema, doc, len, operation, variables, &errors);
	check_errors("subscription", sub, errors);
	if (sub != NULL)
	{
		StringInfoData payload;

		/* a record with no image: every field null */
		initStringInfo(&payload);
		rtsync_plan_project(sub, NULL, &payload);
		pfree(payload.data);
	}
	rtsync_plan_free(sub);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	if (rtsync_shim_allocated != before)
	{
		fprintf(stderr, "fuzz_planner: %zd bytes left behind\n",
				(ssize_t) (rtsync_shim_allocated - before));
		abort();
	}
	return nerrors;
}

/* doc \0 variables \0 operation_name, each part optional */
static void
run_input(const uint8_t *data, size_t size)
{
	char	   *copy = malloc(size + 1);
	const char *variables = NULL;
	const char *operation = NULL;
	size_t		doclen;
	char	   *nul;

	memcpy(copy, data, size);
	copy[size] = '\0';
	nul = memchr(copy, '\0', size);
	doclen = nul ? (size_t) (nul - copy) : size;
	if (nul)
	{
		char	   *rest = nul + 1;
		char	   *nul2 = memchr(rest, '\0', size - doclen - 1);

		variables = rest;
		if (nul2 && nul2[1] != '\0')
			operation = nul2 + 1;
		if (variables[0] == '\0')
			variables = NULL;
	}
	plan_all(copy, doclen, variables, operation);
	free(copy);
}

#ifndef RTSYNC_BENCH

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	run_input(data, size);
	return 0;
}

#else							/* RTSYNC_BENCH */

/* ------------------------------------------------------------------------
 * Benchmark: planning time and peak memory of generated documents
 * ------------------------------------------------------------------------
 */

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* query { getDataItem(id: "x") { a0: id a1: id ... } } */
static char *
doc_aliases(int n, bool subscription)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoString(&s, subscription ? "subscription { onCreateDataItem { " :
						   "query { getDataItem(id: \"x\") { ");
	for (int i = 0; i < n; i++)
		appendStringInfo(&s, "a%d: id ", i);
	appendStringInfoString(&s, "} }");
	return s.data;
}

/* fragment Fi on DataItem { ...Fi+1 ...Fi+1 }: 2^levels spreads of F<levels> */
static char *
doc_fragments(int levels, bool subscription)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoString(&s, subscription ? "subscription { onCreateDataItem { ...F0 } }\n" :
						   "query { getDataItem(id: \"x\") { ...F0 } }\n");
	for (int i = 0; i < levels; i++)
		appendStringInfo(&s, "fragment F%d on DataItem { ...F%d ...F%d }\n", i, i + 1, i + 1);
	appendStringInfo(&s, "fragment F%d on DataItem { id title }\n", levels);
	return s.data;
}

/* Every planner limit at its maximum (base/settings.c's ranges). */
static void
rtsync_bench_unlimited(void)
{
#ifdef RTSYNC_HAVE_PLANNER_LIMITS
	rtsync_max_query_depth = RTSYNC_MAX_QUERY_DEPTH_LIMIT;
	rtsync_max_query_aliases = INT_MAX;
	rtsync_max_query_nodes = INT_MAX;
	rtsync_max_query_tokens = INT_MAX;
#endif
}

static void
bench(const char *what, int n, char *doc, bool subscription)
{
	double		start;
	double		ms;
	Size		peak;
	List	   *errors = NIL;
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "bench",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	void	   *plan;
	Size		base = rtsync_shim_allocated;

	rtsync_shim_peak = base;
	start = now_ms();
	if (subscription)
		plan = rtsync_plan_subscription(schema, doc, strlen(doc), NULL, NULL, &errors);
	else
	{
		bool		is_sub;

		plan = rtsync_plan_request(schema, doc, strlen(doc), NULL, NULL, true,
								   &is_sub, &errors);
	}
	ms = now_ms() - start;
	peak = rtsync_shim_peak - base;
	printf("%-24s %7d %9zu B doc %10.2f ms %10.1f MB peak  %s\n", what, n, strlen(doc),
		   ms, peak / (1024.0 * 1024),
		   plan ? "planned" : errors ? ((RtsyncGqlError *) linitial(errors))->message : "?");
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	fflush(stdout);
}

/*
 * bench: every case; bench <case> <n>: one, where case is query-aliases,
 * subscription-aliases, query-fragments or subscription-fragments.
 * RTSYNC_BENCH_UNLIMITED=1 raises the planner's limits to their maximum,
 * to see how planning itself scales.
 */
int
main(int argc, char **argv)
{
	static const struct
	{
		const char *name;
		bool		fragments;
		bool		subscription;
		int			n[4];
	}			cases[] = {
		{"query-aliases", false, false, {1000, 10000, 100000, 0}},
		{"subscription-aliases", false, true, {1000, 10000, 100000, 0}},
		{"query-fragments", true, false, {10, 20, 40, 0}},
		{"subscription-fragments", true, true, {10, 20, 40, 0}},
	};

	init_once();
	if (getenv("RTSYNC_BENCH_UNLIMITED"))
		rtsync_bench_unlimited();
	if (argc == 3 && strcmp(argv[1], "file") == 0)
	{
		/* bench file <path>: one document, as a query */
		FILE	   *f = fopen(argv[2], "r");
		StringInfoData doc;
		char		buf[8192];
		size_t		n;

		if (f == NULL)
			return 1;
		initStringInfo(&doc);
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			appendBinaryStringInfo(&doc, buf, n);
		fclose(f);
		/* three times: the first one also pays for the process's first pages */
		for (int i = 0; i < 3; i++)
			bench("file", 1, doc.data, strstr(doc.data, "subscription") == doc.data);
		return 0;
	}
	for (int c = 0; c < lengthof(cases); c++)
	{
		for (int i = 0; cases[c].n[i] > 0; i++)
		{
			int			n = cases[c].n[i];

			if (argc == 3 && (strcmp(argv[1], cases[c].name) != 0 || (n = atoi(argv[2])) <= 0))
				continue;
			bench(cases[c].name, n,
				  cases[c].fragments ? doc_fragments(n, cases[c].subscription) :
				  doc_aliases(n, cases[c].subscription), cases[c].subscription);
			if (argc == 3)
				break;
		}
	}
	return 0;
}

#endif							/* RTSYNC_BENCH */
