/*-------------------------------------------------------------------------
 *
 * subscription_validate.c
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
 * @skip/@include have been applied (see subscription_plan.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "subscription_validate.h"

typedef struct Validator
{
	RtsyncPlanState *ps;
	List	   *fragments;		/* RtsyncGqlFragment * reached, to validate */
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
 * The arguments of a root field: filter (*column = -1), and one per scalar
 * (non-list) column for basic filtering; a column named "filter" has none.
 */
RtsyncInputType *
rtsync_root_argument(RtsyncSchemaTable *table, const char *name, int *column)
{
	if (strcmp(name, "filter") == 0)
	{
		*column = -1;
		return rtsync_input_filter_type(table);
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

RtsyncGqlFragment *
rtsync_find_fragment(RtsyncGqlDocument *doc, const char *name)
{
	ListCell   *lc;

	foreach(lc, doc->fragments)
	{
		RtsyncGqlFragment *f = lfirst(lc);

		if (strcmp(f->name, name) == 0)
			return f;
	}
	return NULL;
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
 * once, as "within itself via ..." naming the fragments on its way.
 */
static void
detect_cycles(RtsyncPlanState *ps, RtsyncGqlFragment *fragment, List **visited,
			  List **path, List **path_names)
{
	List	   *spreads = NIL;
	ListCell   *lc;

	if (list_member_ptr(*visited, fragment))
		return;
	*visited = lappend(*visited, fragment);
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
	List	   *reached = NIL;
	List	   *visited = NIL;
	List	   *path = NIL;
	List	   *path_names = NIL;
	ListCell   *lc;

	foreach(lc, doc->operations)
	{
		RtsyncGqlOperation *op = lfirst(lc);

		if (op->name == NULL && list_length(doc->operations) > 1)
			rtsync_gql_error(&ps->sink, op->loc,
							 "This anonymous operation must be the only defined operation.");
		for (ListCell *prev = list_head(doc->operations); op->name && prev != lc;
			 prev = lnext(doc->operations, prev))
		{
			RtsyncGqlOperation *other = lfirst(prev);

			if (other->name && strcmp(other->name, op->name) == 0)
			{
				rtsync_gql_error(&ps->sink, op->loc,
								 "There can be only one operation named \"%s\".", op->name);
				break;
			}
		}
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
		detect_cycles(ps, f, &visited, &path, &path_names);
	}

	/* fragments reached from some operation; reached grows as we go */
	visited = NIL;
	for (int i = 0; i < list_length(reached); i++)
	{
		RtsyncGqlSelection *spread = list_nth(reached, i);
		RtsyncGqlFragment *f = rtsync_find_fragment(doc, spread->name);

		if (f != NULL && !list_member_ptr(visited, f))
		{
			visited = lappend(visited, f);
			direct_spreads(f->selections, &reached);
		}
	}
	foreach(lc, doc->fragments)
	{
		RtsyncGqlFragment *f = lfirst(lc);

		if (!list_member_ptr(visited, rtsync_find_fragment(doc, f->name)))
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
		for (ListCell *prev = list_head(directives); prev != lc; prev = lnext(directives, prev))
		{
			if (strcmp(((RtsyncGqlDirective *) lfirst(prev))->name, d->name) == 0)
			{
				rtsync_gql_error(&ps->sink, d->loc,
								 "The directive \"@%s\" can only be used once at this location.",
								 d->name);
				break;
			}
		}
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
	ListCell   *lc;

	foreach(lc, field->arguments)
	{
		RtsyncGqlArgument *arg = lfirst(lc);
		RtsyncInputType *type;
		RtsyncInputValue *value;
		int			column;
		bool		duplicate = false;

		for (ListCell *prev = list_head(field->arguments); prev != lc;
			 prev = lnext(field->arguments, prev))
			duplicate |= strcmp(((RtsyncGqlArgument *) lfirst(prev))->name, arg->name) == 0;
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
	initStringInfo(&type);
	if (strcmp(field->name, "__typename") == 0)
		appendStringInfoString(&type, "String!");
	else
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
		column_type_string(&type, col);
	}
	foreach(lc, field->arguments)
	{
		RtsyncGqlArgument *arg = lfirst(lc);

		rtsync_gql_error(sink, arg->loc, "Unknown argument \"%s\" on field \"%s.%s\".",
						 arg->name, parent_name, field->name);
	}
	if (field->selections != NIL)
		rtsync_gql_error(sink, field->loc,
						 "Field \"%s\" must not have a selection since type \"%s\" has no subfields.",
						 field->name, type.data);
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
				if (!list_member_ptr(v->fragments, fragment))
					v->fragments = lappend(v->fragments, fragment);
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
	ListCell   *lc;

	foreach(lc, ps->op->variables)
	{
		RtsyncGqlVariableDef *def = lfirst(lc);
		RtsyncVariable *var;
		bool		duplicate = false;

		for (ListCell *prev = list_head(ps->op->variables); prev != lc;
			 prev = lnext(ps->op->variables, prev))
			duplicate |= strcmp(((RtsyncGqlVariableDef *) lfirst(prev))->name, def->name) == 0;
		if (duplicate)
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

/* For queries and mutations (query_plan.c): the same rules. */
void
rtsync_validate_variables(RtsyncPlanState *ps)
{
	Validator	v = {ps, NIL};

	validate_variables(&v);
}

void
rtsync_validate_directives(RtsyncPlanState *ps, List *directives, const char *where)
{
	Validator	v = {ps, NIL};

	validate_directives(&v, directives, where);
}

void
rtsync_validate_subscription(RtsyncPlanState *ps)
{
	Validator	v = {ps, NIL};

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
