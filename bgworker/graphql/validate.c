/*-------------------------------------------------------------------------
 *
 * graphql/validate.c
 *	  Validation of subscription documents (GraphQL spec, section 5), with
 *	  graphql-js's messages.
 *
 * graphql-js validates every operation of a document; we validate the
 * document-wide rules (unique names, a lone anonymous operation, known,
 * used and acyclic fragments) everywhere, and the rules about fields,
 * arguments, directives and variables only for the subscription being
 * planned and the fragments it spreads: the other operations are queries or
 * mutations of an API this module does not know. Each fragment is validated
 * once, against its own type condition, as graphql-js does.
 *
 * The rules about merging fields (OverlappingFieldsCanBeMerged) and about a
 * subscription's single root field are checked while planning, after
 * @skip/@include have been applied (see graphql/subscription_plan.c).
 *
 * Everything here is linear in the document: names are looked up in hash
 * tables (RtsyncNameMap), fragments by their index, and each fragment is
 * walked once. The limits (rtsync_check_document_limits) expand fragments
 * arithmetically, memoizing each fragment's figures, so that a document
 * whose expansion is exponential is measured, and refused, in linear time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "graphql/parser.h"
#include "base/settings.h"
#include "graphql/validate.h"

typedef struct Validator
{
	RtsyncPlanState *ps;
	List	   *fragments;		/* RtsyncGqlFragment * reached, to validate */
	bool	   *queued;			/* by fragment index: in fragments already */
} Validator;

static void validate_selections(Validator *v, List *selections, RtsyncSchemaTable *parent);

RtsyncTypeKind
rtsync_lookup_type(RtsyncSchema *schema, const char *name, RtsyncSchemaTable **table)
{
	*table = NULL;
	if (strcmp(name, "Subscription") == 0)
		return RTSYNC_TYPE_SUBSCRIPTION;
	if ((*table = rtsync_schema_find_type(schema, name)) != NULL)
		return RTSYNC_TYPE_OBJECT;
	if (rtsync_input_type_by_name(schema, name) != NULL)
		return RTSYNC_TYPE_INPUT;
	return RTSYNC_TYPE_UNKNOWN;
}

/* onCreateT, onUpdateT, onDeleteT for every published type T */
bool
rtsync_root_field(RtsyncSchema *schema, const char *name, RtsyncSchemaTable **table,
				  RtsyncEvent *event)
{
	static const struct
	{
		const char *prefix;
		RtsyncEvent event;
	}			roots[] = {
		{"onCreate", RTSYNC_EVENT_CREATE},
		{"onUpdate", RTSYNC_EVENT_UPDATE},
		{"onDelete", RTSYNC_EVENT_DELETE}
	};

	for (int i = 0; i < lengthof(roots); i++)
	{
		if (strncmp(name, roots[i].prefix, 8) == 0 &&
			(*table = rtsync_schema_find_type(schema, name + 8)) != NULL)
		{
			*event = roots[i].event;
			return true;
		}
	}
	return false;
}

/*
 * The arguments of a root field: filter (*column = RTSYNC_ARG_FILTER),
 * after (RTSYNC_ARG_AFTER: the SequenceNumber to resume after), and one per
 * scalar (non-list) column for basic filtering; a column named "filter" or
 * "after" has none.
 */
RtsyncInputType *
rtsync_root_argument(RtsyncSchemaTable *table, const char *name, int *column)
{
	if (strcmp(name, "filter") == 0)
	{
		*column = RTSYNC_ARG_FILTER;
		return rtsync_input_filter_type(table);
	}
	if (strcmp(name, "after") == 0)
	{
		*column = RTSYNC_ARG_AFTER;
		return rtsync_input_scalar_type(RTSYNC_SCALAR_STRING, false);
	}
	for (int i = 0; i < table->ncolumns; i++)
	{
		if (!table->columns[i].is_list && strcmp(table->columns[i].name, name) == 0)
		{
			*column = i;
			return rtsync_input_scalar_type(table->columns[i].scalar, false);
		}
	}
	return NULL;
}

/* Are two literals the same, as graphql-js compares arguments (printed)? */
static bool
values_equal(const RtsyncGqlValue *a, const RtsyncGqlValue *b)
{
	ListCell   *la;
	ListCell   *lb;

	if (a->kind != b->kind)
		return false;
	switch (a->kind)
	{
		case RTSYNC_GQL_BOOLEAN:
			return a->boolean == b->boolean;
		case RTSYNC_GQL_NULL:
			return true;
		case RTSYNC_GQL_LIST:
			if (list_length(a->items) != list_length(b->items))
				return false;
			forboth(la, a->items, lb, b->items)
				if (!values_equal(lfirst(la), lfirst(lb)))
				return false;
			return true;
		case RTSYNC_GQL_OBJECT:
			if (list_length(a->fields) != list_length(b->fields))
				return false;
			forboth(la, a->fields, lb, b->fields)
			{
				RtsyncGqlObjectField *fa = lfirst(la);
				RtsyncGqlObjectField *fb = lfirst(lb);

				if (strcmp(fa->name, fb->name) != 0 || !values_equal(fa->value, fb->value))
					return false;
			}
			return true;
		default:
			return strcmp(a->str, b->str) == 0;
	}
}

/* The same arguments with the same values, in any order? */
bool
rtsync_gql_arguments_equal(List *a, List *b)
{
	ListCell   *la;
	ListCell   *lb;

	if (list_length(a) != list_length(b))
		return false;
	foreach(la, a)
	{
		RtsyncGqlArgument *arg = lfirst(la);
		bool		found = false;

		foreach(lb, b)
		{
			RtsyncGqlArgument *other = lfirst(lb);

			if (strcmp(arg->name, other->name) == 0)
				found = values_equal(arg->value, other->value);
		}
		if (!found)
			return false;
	}
	return true;
}

/*
 * The index lives with the document, in its memory context, and is built
 * the first time a document with more than a few fragments is searched.
 */
RtsyncGqlFragment *
rtsync_find_fragment(RtsyncGqlDocument *doc, const char *name)
{
	ListCell   *lc;

	if (list_length(doc->fragments) <= RTSYNC_NAME_MAP_SHORT_LIST)
	{
		foreach(lc, doc->fragments)
		{
			RtsyncGqlFragment *f = lfirst(lc);

			if (strcmp(f->name, name) == 0)
				return f;
		}
		return NULL;
	}
	if (doc->fragment_index == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(GetMemoryChunkContext(doc));

		doc->fragment_index = rtsync_name_map_create(list_length(doc->fragments));
		foreach(lc, doc->fragments)
		{
			RtsyncGqlFragment *f = lfirst(lc);
			bool		found;
			void	  **slot = rtsync_name_map_enter(doc->fragment_index, f->name, &found);

			if (!found)
				*slot = f;		/* the first of a name, as the scan finds */
		}
		MemoryContextSwitchTo(old);
	}
	return rtsync_name_map_get(doc->fragment_index, name);
}

/* ------------------------------------------------------------------------
 * Limits
 * ------------------------------------------------------------------------
 */

/* Counts saturate here: 2^levels of doubling spreads must not overflow. */
#define COUNT_CAP (((int64) 1) << 50)

/* What a selection set costs, its fragments expanded. */
typedef struct DocCost
{
	int64		nodes;			/* fields, fragment spreads, inline fragments */
	int64		aliases;
	int			depth;			/* levels of fields */
	int			nesting;		/* levels of fields and fragments */
} DocCost;

typedef struct Costing
{
	RtsyncPlanState *ps;
	DocCost	   *fragments;		/* by fragment index, once worked out */
	char	   *state;			/* by fragment index: 0 not yet, 1 being
								 * worked out (a spread of it now is a
								 * cycle), 2 done */
	bool		too_deep;
} Costing;

static inline int64
add_count(int64 a, int64 b)
{
	return Min(a + b, COUNT_CAP);
}

static void
nested_too_deeply(Costing *c, RtsyncGqlLocation loc)
{
	rtsync_gql_error(&c->ps->sink, loc,
					 "Document is nested too deeply: at most %d levels of fields and fragment spreads are allowed.",
					 RTSYNC_GQL_MAX_DEPTH);
	c->too_deep = true;
}

/*
 * The cost of selections at nesting level "level" (the operation's own
 * are at 1). Each fragment is worked out once, where it is first spread,
 * and its figures reused for every later spread: linear in the document
 * however the spreads multiply. The recursion stops once past
 * RTSYNC_GQL_MAX_DEPTH levels, so it never goes deeper than that. Cycles
 * and unknown fragments count nothing here (rtsync_validate_document
 * reports them).
 */
static void
selections_cost(Costing *c, List *selections, int level, DocCost *cost)
{
	ListCell   *lc;

	memset(cost, 0, sizeof(DocCost));
	foreach(lc, selections)
	{
		RtsyncGqlSelection *sel = lfirst(lc);
		RtsyncGqlFragment *f;
		DocCost		sub;

		if (c->too_deep)
			return;
		if (level > RTSYNC_GQL_MAX_DEPTH)
		{
			nested_too_deeply(c, sel->loc);
			return;
		}
		memset(&sub, 0, sizeof(sub));
		switch (sel->kind)
		{
			case RTSYNC_GQL_FIELD:
				if (sel->selections != NIL)
					selections_cost(c, sel->selections, level + 1, &sub);
				sub.depth++;
				if (sel->alias != NULL)
					sub.aliases = add_count(sub.aliases, 1);
				break;
			case RTSYNC_GQL_INLINE_FRAGMENT:
				selections_cost(c, sel->selections, level + 1, &sub);
				break;
			case RTSYNC_GQL_FRAGMENT_SPREAD:
				f = rtsync_find_fragment(c->ps->doc, sel->name);
				if (f == NULL || c->state[f->index] == 1)
					break;
				if (c->state[f->index] == 0)
				{
					c->state[f->index] = 1;
					selections_cost(c, f->selections, level + 1, &c->fragments[f->index]);
					c->state[f->index] = 2;
				}
				else if (level + c->fragments[f->index].nesting > RTSYNC_GQL_MAX_DEPTH)
					nested_too_deeply(c, sel->loc);
				sub = c->fragments[f->index];
				break;
		}
		if (c->too_deep)
			return;
		cost->nodes = add_count(cost->nodes, add_count(sub.nodes, 1));
		cost->aliases = add_count(cost->aliases, sub.aliases);
		cost->depth = Max(cost->depth, sub.depth);
		cost->nesting = Max(cost->nesting, sub.nesting + 1);
	}
}

/* Works out every fragment's cost; false when one nests too deeply. */
static bool
cost_fragments(Costing *c)
{
	int			n = list_length(c->ps->doc->fragments);
	ListCell   *lc;

	c->fragments = palloc0(Max(n, 1) * sizeof(DocCost));
	c->state = palloc0(Max(n, 1));
	foreach(lc, c->ps->doc->fragments)
	{
		RtsyncGqlFragment *f = lfirst(lc);

		if (c->state[f->index] != 0)
			continue;
		c->state[f->index] = 1;
		selections_cost(c, f->selections, 1, &c->fragments[f->index]);
		c->state[f->index] = 2;
		if (c->too_deep)
			return false;
	}
	return true;
}

static const char *
operation_words(const RtsyncGqlOperation *op)
{
	const char *type = op->type == RTSYNC_GQL_QUERY ? "Query" :
		op->type == RTSYNC_GQL_MUTATION ? "Mutation" : "Subscription";

	return op->name ? psprintf("%s \"%s\"", type, op->name) :
		psprintf("Anonymous %s", type);
}

bool
rtsync_check_document_limits(RtsyncPlanState *ps)
{
	Costing		c;
	int			errors = ps->sink.count;
	ListCell   *lc;

	memset(&c, 0, sizeof(c));
	c.ps = ps;
	if (!cost_fragments(&c))
		return false;
	foreach(lc, ps->doc->operations)
	{
		RtsyncGqlOperation *op = lfirst(lc);
		DocCost		cost;

		selections_cost(&c, op->selections, 1, &cost);
		if (c.too_deep)
			return false;
		if (cost.depth > rtsync_max_query_depth)
			rtsync_gql_error(&ps->sink, op->loc,
							 "%s is %d levels of fields deep, more than the %d that rtsync.max_query_depth allows.",
							 operation_words(op), cost.depth, rtsync_max_query_depth);
		if (cost.aliases > rtsync_max_query_aliases)
			rtsync_gql_error(&ps->sink, op->loc,
							 "%s has %s" INT64_FORMAT " aliases, more than the %d that rtsync.max_query_aliases allows.",
							 operation_words(op), cost.aliases == COUNT_CAP ? "over " : "",
							 cost.aliases, rtsync_max_query_aliases);
		if (cost.nodes > rtsync_max_query_nodes)
			rtsync_gql_error(&ps->sink, op->loc,
							 "%s has %s" INT64_FORMAT " fields and fragments once its fragments are expanded, more than the %d that rtsync.max_query_nodes allows.",
							 operation_words(op), cost.nodes == COUNT_CAP ? "over " : "",
							 cost.nodes, rtsync_max_query_nodes);
	}
	if (ps->sink.count > errors)
		return false;
	ps->nesting_checked = true;
	return true;
}

/* ------------------------------------------------------------------------
 * Document-wide rules
 * ------------------------------------------------------------------------
 */

/* The fragment spreads of a selection set, not following fragments. */
static void
direct_spreads(List *selections, List **spreads)
{
	ListCell   *lc;

	foreach(lc, selections)
	{
		RtsyncGqlSelection *sel = lfirst(lc);

		if (sel->kind == RTSYNC_GQL_FRAGMENT_SPREAD)
			*spreads = lappend(*spreads, sel);
		else
			direct_spreads(sel->selections, spreads);
	}
}

/*
 * graphql-js's NoFragmentCycles: a depth-first walk that reports each cycle
 * once, as "within itself via ..." naming the fragments on its way. The
 * path is at most RTSYNC_GQL_MAX_DEPTH long (the fragments' nesting was
 * checked first), which bounds both the recursion and the scan of
 * path_names.
 */
static void
detect_cycles(RtsyncPlanState *ps, RtsyncGqlFragment *fragment, bool *visited,
			  List **path, List **path_names)
{
	List	   *spreads = NIL;
	ListCell   *lc;

	if (visited[fragment->index])
		return;
	visited[fragment->index] = true;
	direct_spreads(fragment->selections, &spreads);
	*path_names = lappend(*path_names, fragment->name);
	foreach(lc, spreads)
	{
		RtsyncGqlSelection *spread = lfirst(lc);
		int			cycle = -1;
		int			i = 0;
		ListCell   *ln;

		foreach(ln, *path_names)
		{
			if (strcmp(lfirst(ln), spread->name) == 0)
				cycle = i;
			i++;
		}
		*path = lappend(*path, spread);
		if (cycle < 0)
		{
			RtsyncGqlFragment *next = rtsync_find_fragment(ps->doc, spread->name);

			if (next != NULL)
				detect_cycles(ps, next, visited, path, path_names);
		}
		else
		{
			/* the spreads from the fragment spread again to this one */
			int			start = list_length(*path) - (list_length(*path_names) - cycle);
			RtsyncGqlSelection *first = list_nth(*path, start);
			StringInfoData via;

			initStringInfo(&via);
			for (int j = start; j < list_length(*path) - 1; j++)
				appendStringInfo(&via, "%s\"%s\"", via.len ? ", " : " via ",
								 ((RtsyncGqlSelection *) list_nth(*path, j))->name);
			rtsync_gql_error(&ps->sink, first->loc,
							 "Cannot spread fragment \"%s\" within itself%s.",
							 spread->name, via.data);
		}
		*path = list_delete_last(*path);
	}
	*path_names = list_delete_last(*path_names);
}

static void
check_known_fragments(RtsyncPlanState *ps, List *selections)
{
	List	   *spreads = NIL;
	ListCell   *lc;

	direct_spreads(selections, &spreads);
	foreach(lc, spreads)
	{
		RtsyncGqlSelection *spread = lfirst(lc);

		if (rtsync_find_fragment(ps->doc, spread->name) == NULL)
			rtsync_gql_error(&ps->sink, spread->loc, "Unknown fragment \"%s\".", spread->name);
	}
}

/*
 * graphql-js's LoneAnonymousOperation, UniqueOperationNames,
 * UniqueFragmentNames, KnownFragmentNames, NoFragmentCycles and
 * NoUnusedFragments, over the whole document.
 */
void
rtsync_validate_document(RtsyncPlanState *ps)
{
	RtsyncGqlDocument *doc = ps->doc;
	int			nfragments = list_length(doc->fragments);
	List	   *reached = NIL;
	bool	   *visited;
	List	   *path = NIL;
	List	   *path_names = NIL;
	RtsyncNameMap *names = NULL;
	ListCell   *lc;

	/* the recursions below follow spreads: bound them first */
	if (!ps->nesting_checked)
	{
		Costing		c;

		memset(&c, 0, sizeof(c));
		c.ps = ps;
		if (!cost_fragments(&c))
			return;
		ps->nesting_checked = true;
	}
	visited = palloc0(Max(nfragments, 1) * sizeof(bool));
	if (list_length(doc->operations) > 1)
		names = rtsync_name_map_create(list_length(doc->operations));
	foreach(lc, doc->operations)
	{
		RtsyncGqlOperation *op = lfirst(lc);
		bool		found = false;

		if (op->name == NULL && list_length(doc->operations) > 1)
			rtsync_gql_error(&ps->sink, op->loc,
							 "This anonymous operation must be the only defined operation.");
		if (op->name && names)
			(void) rtsync_name_map_enter(names, op->name, &found);
		if (found)
			rtsync_gql_error(&ps->sink, op->loc,
							 "There can be only one operation named \"%s\".", op->name);
		check_known_fragments(ps, op->selections);
		direct_spreads(op->selections, &reached);
	}
	foreach(lc, doc->fragments)
	{
		RtsyncGqlFragment *f = lfirst(lc);

		if (rtsync_find_fragment(doc, f->name) != f)
			rtsync_gql_error(&ps->sink, f->loc,
							 "There can be only one fragment named \"%s\".", f->name);
		check_known_fragments(ps, f->selections);
		detect_cycles(ps, f, visited, &path, &path_names);
	}

	/* fragments reached from some operation; reached grows as we go */
	memset(visited, 0, Max(nfragments, 1) * sizeof(bool));
	for (int i = 0; i < list_length(reached); i++)
	{
		RtsyncGqlSelection *spread = list_nth(reached, i);
		RtsyncGqlFragment *f = rtsync_find_fragment(doc, spread->name);

		if (f != NULL && !visited[f->index])
		{
			visited[f->index] = true;
			direct_spreads(f->selections, &reached);
		}
	}
	foreach(lc, doc->fragments)
	{
		RtsyncGqlFragment *f = lfirst(lc);

		if (!visited[rtsync_find_fragment(doc, f->name)->index])
			rtsync_gql_error(&ps->sink, f->loc, "Fragment \"%s\" is never used.", f->name);
	}
}

/* ------------------------------------------------------------------------
 * Directives
 * ------------------------------------------------------------------------
 */

/*
 * Only @skip and @include exist, on fields, fragment spreads and inline
 * fragments; where is the location's name in the spec's terms (FIELD ...).
 */
static void
validate_directives(Validator *v, List *directives, const char *where)
{
	RtsyncPlanState *ps = v->ps;
	bool		executable = strcmp(where, "FIELD") == 0 ||
		strcmp(where, "FRAGMENT_SPREAD") == 0 || strcmp(where, "INLINE_FRAGMENT") == 0;
	bool		seen[2] = {false, false};	/* @skip, @include */
	ListCell   *lc;

	foreach(lc, directives)
	{
		RtsyncGqlDirective *d = lfirst(lc);
		RtsyncInputType *boolean = rtsync_input_scalar_type(RTSYNC_SCALAR_BOOLEAN, true);
		bool		has_if = false;
		ListCell   *la;

		if (strcmp(d->name, "skip") != 0 && strcmp(d->name, "include") != 0)
		{
			rtsync_gql_error(&ps->sink, d->loc, "Unknown directive \"@%s\".", d->name);
			continue;
		}
		if (!executable)
		{
			rtsync_gql_error(&ps->sink, d->loc, "Directive \"@%s\" may not be used on %s.",
							 d->name, where);
			continue;
		}
		/* only these two get this far: one flag each, not a scan */
		if (seen[d->name[0] == 'i'])
			rtsync_gql_error(&ps->sink, d->loc,
							 "The directive \"@%s\" can only be used once at this location.",
							 d->name);
		seen[d->name[0] == 'i'] = true;
		foreach(la, d->arguments)
		{
			RtsyncGqlArgument *arg = lfirst(la);
			RtsyncInputValue *value;

			if (strcmp(arg->name, "if") != 0)
				rtsync_gql_error(&ps->sink, arg->loc,
								 "Unknown argument \"%s\" on directive \"@%s\".",
								 arg->name, d->name);
			else if (has_if)
				rtsync_gql_error(&ps->sink, arg->loc,
								 "There can be only one argument named \"if\".");
			else
				rtsync_input_coerce_literal(&ps->input, arg->value, boolean, &value);
			has_if |= strcmp(arg->name, "if") == 0;
		}
		if (!has_if)
			rtsync_gql_error(&ps->sink, d->loc,
							 "Directive \"@%s\" argument \"if\" of type \"Boolean!\" is required, but it was not provided.",
							 d->name);
	}
}

bool
rtsync_directives_include(RtsyncPlanState *ps, List *directives)
{
	RtsyncInputType *boolean = rtsync_input_scalar_type(RTSYNC_SCALAR_BOOLEAN, true);
	ListCell   *lc;

	foreach(lc, directives)
	{
		RtsyncGqlDirective *d = lfirst(lc);
		RtsyncGqlArgument *arg = linitial(d->arguments);	/* validated: "if" */
		RtsyncInputValue *value;

		if (!rtsync_input_coerce_literal(&ps->input, arg->value, boolean, &value) ||
			value == NULL)
			return false;
		if (value->boolean == (d->name[0] == 's'))
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------------
 * Selections
 * ------------------------------------------------------------------------
 */

static void
column_type_string(StringInfo out, const RtsyncSchemaColumn *col)
{
	appendStringInfo(out, col->is_list ? "[%s]%s" : "%s%s",
					 rtsync_scalar_name(col->scalar), col->not_null ? "!" : "");
}

/* The arguments of a root field: known, given once, of the right type. */
static void
validate_root_arguments(Validator *v, RtsyncGqlSelection *field, RtsyncSchemaTable *table)
{
	bool	   *dups = rtsync_duplicate_names(field->arguments,
											  offsetof(RtsyncGqlArgument, name));
	ListCell   *lc;

	foreach(lc, field->arguments)
	{
		RtsyncGqlArgument *arg = lfirst(lc);
		RtsyncInputType *type;
		RtsyncInputValue *value;
		int			column;
		bool		duplicate = dups && dups[foreach_current_index(lc)];

		type = rtsync_root_argument(table, arg->name, &column);
		if (duplicate)
			rtsync_gql_error(&v->ps->sink, arg->loc,
							 "There can be only one argument named \"%s\".", arg->name);
		else if (type == NULL)
			rtsync_gql_error(&v->ps->sink, arg->loc,
							 "Unknown argument \"%s\" on field \"Subscription.%s\".",
							 arg->name, field->name);
		else
			rtsync_input_coerce_literal(&v->ps->input, arg->value, type, &value);
	}
}

/* A field of the root type (parent NULL) or of a table's type. */
static void
validate_field(Validator *v, RtsyncGqlSelection *field, RtsyncSchemaTable *parent)
{
	RtsyncErrorSink *sink = &v->ps->sink;
	const char *parent_name = parent ? parent->type_name : "Subscription";
	RtsyncSchemaTable *table;
	RtsyncEvent event;
	const RtsyncSchemaColumn *col = NULL;
	StringInfoData type;
	ListCell   *lc;

	if (parent == NULL && strcmp(field->name, "__typename") != 0)
	{
		if (!rtsync_root_field(v->ps->schema, field->name, &table, &event))
		{
			rtsync_gql_error(sink, field->loc, "Cannot query field \"%s\" on type \"Subscription\".",
							 field->name);
			return;
		}
		validate_root_arguments(v, field, table);
		if (field->selections == NIL)
			rtsync_gql_error(sink, field->loc,
							 "Field \"%s\" of type \"%s\" must have a selection of subfields.",
							 field->name, table->type_name);
		else
			validate_selections(v, field->selections, table);
		return;
	}

	/* a leaf: __typename, or a column */
	if (strcmp(field->name, "__typename") != 0)
	{
		for (int i = 0; i < parent->ncolumns && col == NULL; i++)
			if (strcmp(parent->columns[i].name, field->name) == 0)
				col = &parent->columns[i];
		if (col == NULL)
		{
			rtsync_gql_error(sink, field->loc, "Cannot query field \"%s\" on type \"%s\".",
							 field->name, parent_name);
			return;
		}
	}
	foreach(lc, field->arguments)
	{
		RtsyncGqlArgument *arg = lfirst(lc);

		rtsync_gql_error(sink, arg->loc, "Unknown argument \"%s\" on field \"%s.%s\".",
						 arg->name, parent_name, field->name);
	}
	if (field->selections != NIL)
	{
		/* the type's name only for the message: most fields are fine */
		initStringInfo(&type);
		if (col == NULL)
			appendStringInfoString(&type, "String!");
		else
			column_type_string(&type, col);
		rtsync_gql_error(sink, field->loc,
						 "Field \"%s\" must not have a selection since type \"%s\" has no subfields.",
						 field->name, type.data);
		pfree(type.data);
	}
}

/*
 * A fragment's type condition: false (and an error) when it is no
 * composite type or cannot apply where the fragment is used; *table: the
 * type to validate its selections against (NULL: Subscription).
 */
static bool
check_type_condition(Validator *v, const char *fragment, const char *condition,
					 RtsyncSchemaTable *parent, RtsyncGqlLocation loc,
					 bool *composite, RtsyncSchemaTable **table)
{
	RtsyncErrorSink *sink = &v->ps->sink;
	RtsyncTypeKind kind = rtsync_lookup_type(v->ps->schema, condition, table);
	const char *frag = fragment ? psprintf("Fragment \"%s\"", fragment) : "Fragment";

	*composite = kind == RTSYNC_TYPE_SUBSCRIPTION || kind == RTSYNC_TYPE_OBJECT;
	if (kind == RTSYNC_TYPE_UNKNOWN)
		rtsync_gql_error(sink, loc, "Unknown type \"%s\".", condition);
	else if (kind == RTSYNC_TYPE_INPUT)
		rtsync_gql_error(sink, loc, "%s cannot condition on non composite type \"%s\".",
						 frag, condition);
	else if (*table != parent)
		rtsync_gql_error(sink, loc,
						 "%s cannot be spread here as objects of type \"%s\" can never be of type \"%s\".",
						 frag, parent ? parent->type_name : "Subscription", condition);
	else
		return true;
	return false;
}

static void
validate_selections(Validator *v, List *selections, RtsyncSchemaTable *parent)
{
	ListCell   *lc;

	foreach(lc, selections)
	{
		RtsyncGqlSelection *sel = lfirst(lc);
		RtsyncGqlFragment *fragment;
		RtsyncSchemaTable *table = parent;
		RtsyncTypeKind kind;
		bool		composite = true;

		switch (sel->kind)
		{
			case RTSYNC_GQL_FIELD:
				validate_directives(v, sel->directives, "FIELD");
				validate_field(v, sel, parent);
				break;
			case RTSYNC_GQL_FRAGMENT_SPREAD:
				validate_directives(v, sel->directives, "FRAGMENT_SPREAD");
				fragment = rtsync_find_fragment(v->ps->doc, sel->name);
				if (fragment == NULL)
					break;		/* reported with the document */
				/* a bad type condition is reported with the fragment */
				kind = rtsync_lookup_type(v->ps->schema, fragment->type_condition, &table);
				if (kind == RTSYNC_TYPE_SUBSCRIPTION || kind == RTSYNC_TYPE_OBJECT)
					check_type_condition(v, fragment->name, fragment->type_condition,
										 parent, sel->loc, &composite, &table);
				if (v->queued == NULL)
					v->queued = palloc0(list_length(v->ps->doc->fragments) * sizeof(bool));
				if (!v->queued[fragment->index])
				{
					v->queued[fragment->index] = true;
					v->fragments = lappend(v->fragments, fragment);
				}
				break;
			case RTSYNC_GQL_INLINE_FRAGMENT:
				validate_directives(v, sel->directives, "INLINE_FRAGMENT");
				if (sel->type_condition != NULL)
					check_type_condition(v, NULL, sel->type_condition, parent, sel->loc,
										 &composite, &table);
				if (composite)
					validate_selections(v, sel->selections, table);
				break;
		}
	}
}

/* ------------------------------------------------------------------------
 * Operations
 * ------------------------------------------------------------------------
 */

/*
 * The operation's variable definitions: unique names, input types, default
 * values of their type and free of variables. Sets up ps->input.variables.
 */
static void
validate_variables(Validator *v)
{
	RtsyncPlanState *ps = v->ps;
	bool	   *dups = rtsync_duplicate_names(ps->op->variables,
											  offsetof(RtsyncGqlVariableDef, name));
	ListCell   *lc;

	foreach(lc, ps->op->variables)
	{
		RtsyncGqlVariableDef *def = lfirst(lc);
		RtsyncVariable *var;

		if (dups && dups[foreach_current_index(lc)])
		{
			rtsync_gql_error(&ps->sink, def->loc,
							 "There can be only one variable named \"$%s\".", def->name);
			continue;
		}
		validate_directives(v, def->directives, "VARIABLE_DEFINITION");
		var = palloc0(sizeof(RtsyncVariable));
		var->def = def;
		var->type = rtsync_input_type_from_ref(&ps->input, def);
		if (var->type != NULL && def->default_value != NULL)
		{
			ps->input.constant = true;
			rtsync_input_coerce_literal(&ps->input, def->default_value, var->type,
										&var->default_value);
			ps->input.constant = false;
		}
		ps->input.variables = lappend(ps->input.variables, var);
	}
}

/* For queries and mutations (graphql/query_plan.c): the same rules. */
void
rtsync_validate_variables(RtsyncPlanState *ps)
{
	Validator	v = {ps, NIL, NULL};

	validate_variables(&v);
}

void
rtsync_validate_directives(RtsyncPlanState *ps, List *directives, const char *where)
{
	Validator	v = {ps, NIL, NULL};

	validate_directives(&v, directives, where);
}

void
rtsync_validate_subscription(RtsyncPlanState *ps)
{
	Validator	v = {ps, NIL, NULL};

	ps->input.substitute = false;
	validate_variables(&v);
	validate_directives(&v, ps->op->directives, "SUBSCRIPTION");
	validate_selections(&v, ps->op->selections, NULL);

	/* fragments spread by the operation, each once; the list grows */
	for (int i = 0; i < list_length(v.fragments); i++)
	{
		RtsyncGqlFragment *f = list_nth(v.fragments, i);
		RtsyncSchemaTable *table;
		RtsyncTypeKind kind = rtsync_lookup_type(ps->schema, f->type_condition, &table);

		validate_directives(&v, f->directives, "FRAGMENT_DEFINITION");
		if (kind == RTSYNC_TYPE_UNKNOWN)
			rtsync_gql_error(&ps->sink, f->loc, "Unknown type \"%s\".", f->type_condition);
		else if (kind == RTSYNC_TYPE_INPUT)
			rtsync_gql_error(&ps->sink, f->loc,
							 "Fragment \"%s\" cannot condition on non composite type \"%s\".",
							 f->name, f->type_condition);
		else
			validate_selections(&v, f->selections, table);
	}

	rtsync_validate_unused_variables(ps);
}

/* NoUnusedVariables: after a validation pass marked the used ones. */
void
rtsync_validate_unused_variables(RtsyncPlanState *ps)
{
	ListCell   *lc;

	foreach(lc, ps->input.variables)
	{
		RtsyncVariable *var = lfirst(lc);

		if (var->used)
			continue;
		if (ps->op->name)
			rtsync_gql_error(&ps->sink, var->def->loc,
							 "Variable \"$%s\" is never used in operation \"%s\".",
							 var->def->name, ps->op->name);
		else
			rtsync_gql_error(&ps->sink, var->def->loc,
							 "Variable \"$%s\" is never used.", var->def->name);
	}
}

void
rtsync_collector_init(RtsyncPlanState *ps, RtsyncCollector *c,
					  bool (*applies) (void *arg, const char *type_condition), void *arg)
{
	c->entries = NIL;
	c->keys = rtsync_name_map_create(16);
	c->visited = palloc0(Max(list_length(ps->doc->fragments), 1) * sizeof(bool));
	c->applies = applies;
	c->arg = arg;
}

void
rtsync_collect_fields(RtsyncPlanState *ps, List *selections, RtsyncCollector *c)
{
	ListCell   *lc;

	foreach(lc, selections)
	{
		RtsyncGqlSelection *sel = lfirst(lc);
		RtsyncGqlFragment *fragment;
		RtsyncCollected **entry;
		bool		found;

		if (!rtsync_directives_include(ps, sel->directives))
			continue;
		switch (sel->kind)
		{
			case RTSYNC_GQL_FIELD:
				entry = (RtsyncCollected **)
					rtsync_name_map_enter(c->keys, sel->alias ? sel->alias : sel->name, &found);
				if (!found)
				{
					*entry = palloc0(sizeof(RtsyncCollected));
					(*entry)->key = sel->alias ? sel->alias : sel->name;
					c->entries = lappend(c->entries, *entry);
				}
				(*entry)->fields = lappend((*entry)->fields, sel);
				break;
			case RTSYNC_GQL_FRAGMENT_SPREAD:
				fragment = rtsync_find_fragment(ps->doc, sel->name);
				if (fragment == NULL || c->visited[fragment->index])
					break;
				c->visited[fragment->index] = true;
				if (c->applies(c->arg, fragment->type_condition))
					rtsync_collect_fields(ps, fragment->selections, c);
				break;
			case RTSYNC_GQL_INLINE_FRAGMENT:
				if (c->applies(c->arg, sel->type_condition))
					rtsync_collect_fields(ps, sel->selections, c);
				break;
		}
	}
}
