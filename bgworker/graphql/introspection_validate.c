/*-------------------------------------------------------------------------
 *
 * graphql/introspection_validate.c
 *	  Validation of introspection selections (GraphQL spec, section 5), as
 *	  graphql-js's rules see them: FieldsOnCorrectType, ScalarLeafs,
 *	  KnownArgumentNames, UniqueArgumentNames, ProvidedRequiredArguments,
 *	  ValuesOfCorrectType and VariablesInAllowedPosition (through
 *	  graphql/input.c's coercion), KnownDirectives,
 *	  UniqueDirectivesPerLocation, PossibleFragmentSpreads and
 *	  FragmentsOnCompositeTypes.
 *
 * Validation is static: every selection is checked against its type, and
 * each fragment on an introspection type once against its type condition,
 * whatever the data. Fragments on other types can never apply inside
 * introspection (the spread is reported) and are left to the caller, whose
 * schema they belong to. The document-wide rules (fragment names, cycles,
 * unused fragments, variable definitions) are the caller's too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "graphql/builtin_types.h"
#include "graphql/introspection_validate.h"
#include "graphql/input.h"

typedef struct Validator
{
	RtsyncPlanState *ps;
	const RtsyncTypeCatalogue *cat;
	RtsyncFieldDef *schema_field;	/* __schema: __Schema! */
	RtsyncFieldDef *type_field; /* __type(name: String!): __Type */
	RtsyncFieldDef *typename_field; /* __typename: String! */
	List	   *fragments;		/* RtsyncGqlFragment * to validate, each once */
	bool	   *queued;			/* by fragment index: in fragments already */
} Validator;

static void validate_selections(Validator *v, List *selections,
								const RtsyncTypeDef *parent);

bool
rtsync_introspection_field(const char *name)
{
	return strcmp(name, "__schema") == 0 || strcmp(name, "__type") == 0;
}

bool
rtsync_introspection_type(const char *name)
{
	return rtsync_builtin_is_introspection_type(name);
}

/* The state of one validation: the meta fields of the query root. */
static void
validator_init(Validator *v, RtsyncPlanState *ps, const RtsyncTypeCatalogue *cat)
{
	memset(v, 0, sizeof(Validator));
	v->ps = ps;
	v->cat = cat;
	v->schema_field = palloc0(sizeof(RtsyncFieldDef));
	v->schema_field->name = "__schema";
	v->schema_field->type = rtsync_type_ref_parse("__Schema!");
	v->type_field = palloc0(sizeof(RtsyncFieldDef));
	v->type_field->name = "__type";
	v->type_field->type = rtsync_type_ref_parse("__Type");
	v->type_field->args = list_make1(rtsync_types_new_input_value("name",
																   rtsync_type_ref_parse("String!"),
																   NULL, NULL));
	v->typename_field = palloc0(sizeof(RtsyncFieldDef));
	v->typename_field->name = "__typename";
	v->typename_field->type = rtsync_type_ref_parse("String!");
}

/*
 * Drops the errors reported since the sink had "before" of them that repeat
 * an earlier error (same message and location): a fragment validated under
 * two root fields, or validated by the caller already.
 */
static void
drop_repeated_errors(RtsyncErrorSink *sink, int before)
{
	List	   *errors = *sink->errors;

	for (int i = list_length(errors) - 1; i >= before && i > 0; i--)
	{
		RtsyncGqlError *e = list_nth(errors, i);

		for (int j = 0; j < i; j++)
		{
			RtsyncGqlError *other = list_nth(errors, j);

			if (e->loc.line == other->loc.line && e->loc.column == other->loc.column &&
				strcmp(e->message, other->message) == 0)
			{
				errors = list_delete_nth_cell(errors, i);
				sink->count--;
				break;
			}
		}
	}
	*sink->errors = errors;
}

/* ------------------------------------------------------------------------
 * Validation
 * ------------------------------------------------------------------------
 */

/* The input type of an argument of the introspection schema (scalars only). */
static RtsyncInputType *
input_type(const RtsyncGqlTypeRef *ref)
{
	for (int s = RTSYNC_SCALAR_ID; s <= RTSYNC_SCALAR_AWSJSON; s++)
		if (ref->name != NULL && strcmp(rtsync_scalar_name(s), ref->name) == 0)
			return rtsync_input_scalar_type(s, ref->non_null);
	return NULL;
}

/*
 * Arguments given against their definitions: known, given once, of their
 * type, and the required ones all given. owner names the field
 * ("Query.__type") or the directive ("skip").
 */
static void
validate_arguments(Validator *v, List *given, List *defs, const char *owner,
				   bool directive, RtsyncGqlLocation loc)
{
	RtsyncErrorSink *sink = &v->ps->sink;
	bool	   *dups = rtsync_duplicate_names(given, offsetof(RtsyncGqlArgument, name));
	ListCell   *lc;

	foreach(lc, given)
	{
		RtsyncGqlArgument *arg = lfirst(lc);
		RtsyncInputValueDef *def = rtsync_types_input_value(defs, arg->name);
		RtsyncInputType *type = def ? input_type(def->type) : NULL;
		RtsyncInputValue *value;

		if (dups && dups[foreach_current_index(lc)])
			rtsync_gql_error(sink, arg->loc, "There can be only one argument named \"%s\".",
							 arg->name);
		else if (def == NULL)
			rtsync_gql_error(sink, arg->loc, directive ?
							 "Unknown argument \"%s\" on directive \"@%s\"." :
							 "Unknown argument \"%s\" on field \"%s\".", arg->name, owner);
		else if (type != NULL)
			rtsync_input_coerce_literal(&v->ps->input, arg->value, type, &value);
	}
	foreach(lc, defs)
	{
		RtsyncInputValueDef *def = lfirst(lc);
		bool		found = false;
		ListCell   *la;

		if (!def->type->non_null || def->default_value != NULL)
			continue;
		foreach(la, given)
			found |= strcmp(((RtsyncGqlArgument *) lfirst(la))->name, def->name) == 0;
		if (!found)
			rtsync_gql_error(sink, loc, directive ?
							 "Directive \"@%s\" argument \"%s\" of type \"%s\" is required, but it was not provided." :
							 "Field \"%s\" argument \"%s\" of type \"%s\" is required, but it was not provided.",
							 directive ? owner : strrchr(owner, '.') + 1, def->name,
							 rtsync_type_ref_string(def->type));
	}
}

/* Directives at a location: known, allowed there, once each, arguments. */
static void
validate_directives(Validator *v, List *directives, const char *location)
{
	RtsyncErrorSink *sink = &v->ps->sink;
	bool	   *dups = rtsync_duplicate_names(directives, offsetof(RtsyncGqlDirective, name));
	ListCell   *lc;

	foreach(lc, directives)
	{
		RtsyncGqlDirective *d = lfirst(lc);
		RtsyncDirectiveDef *def = rtsync_types_directive(v->cat, d->name);
		bool		allowed = false;
		ListCell   *ll;

		if (def == NULL)
		{
			rtsync_gql_error(sink, d->loc, "Unknown directive \"@%s\".", d->name);
			continue;
		}
		foreach(ll, def->locations)
			allowed |= strcmp(lfirst(ll), location) == 0;
		if (!allowed)
		{
			rtsync_gql_error(sink, d->loc, "Directive \"@%s\" may not be used on %s.",
							 d->name, location);
			continue;
		}
		if (!def->repeatable && dups && dups[foreach_current_index(lc)])
			rtsync_gql_error(sink, d->loc,
							 "The directive \"@%s\" can only be used once at this location.",
							 d->name);
		validate_arguments(v, d->arguments, def->args, d->name, true, d->loc);
	}
}

/*
 * The definition of a field of a type: __typename anywhere, __schema and
 * __type on the query root, else the type's own; NULL when unknown.
 */
static RtsyncFieldDef *
field_def(Validator *v, const RtsyncTypeDef *parent, const char *name)
{
	if (strcmp(name, "__typename") == 0)
		return v->typename_field;
	if (parent == v->cat->query && strcmp(name, "__schema") == 0)
		return v->schema_field;
	if (parent == v->cat->query && strcmp(name, "__type") == 0)
		return v->type_field;
	return rtsync_types_field(parent, name);
}

/* A field: known on its parent, its arguments, leaf or with a selection. */
static void
validate_field(Validator *v, RtsyncGqlSelection *field, const RtsyncTypeDef *parent)
{
	RtsyncErrorSink *sink = &v->ps->sink;
	RtsyncFieldDef *def = field_def(v, parent, field->name);
	RtsyncTypeDef *type;
	char	   *type_string;

	validate_directives(v, field->directives, "FIELD");
	if (def == NULL)
	{
		rtsync_gql_error(sink, field->loc, "Cannot query field \"%s\" on type \"%s\".",
						 field->name, parent->name);
		return;
	}
	validate_arguments(v, field->arguments, def->args,
					   psprintf("%s.%s", parent->name, def->name), false, field->loc);
	type = rtsync_types_find(v->cat, rtsync_type_ref_base(def->type));
	type_string = rtsync_type_ref_string(def->type);
	if (type == NULL)
		return;					/* cannot happen: the catalogue is closed */
	if (type->kind == RTSYNC_DEF_OBJECT)
	{
		if (field->selections == NIL)
			rtsync_gql_error(sink, field->loc,
							 "Field \"%s\" of type \"%s\" must have a selection of subfields. Did you mean \"%s { ... }\"?",
							 field->name, type_string, field->name);
		else
			validate_selections(v, field->selections, type);
	}
	else if (field->selections != NIL)
		rtsync_gql_error(sink, field->loc,
						 "Field \"%s\" must not have a selection since type \"%s\" has no subfields.",
						 field->name, type_string);
}

/*
 * A type condition where the parent type is: NULL (and an error if not
 * reported with the fragment) when it cannot apply; the type otherwise.
 */
static RtsyncTypeDef *
condition_type(Validator *v, const char *fragment, const char *condition,
			   const RtsyncTypeDef *parent, RtsyncGqlLocation loc)
{
	RtsyncTypeDef *type = rtsync_types_find(v->cat, condition);

	if (type == NULL || type->kind != RTSYNC_DEF_OBJECT)
	{
		/* a fragment's own type condition is checked with the fragment */
		if (fragment != NULL)
			return NULL;
		if (type == NULL)
			rtsync_gql_error(&v->ps->sink, loc, "Unknown type \"%s\".", condition);
		else
			rtsync_gql_error(&v->ps->sink, loc,
							 "Fragment cannot condition on non composite type \"%s\".",
							 condition);
		return NULL;
	}
	if (type != parent)
	{
		rtsync_gql_error(&v->ps->sink, loc,
						 "%s cannot be spread here as objects of type \"%s\" can never be of type \"%s\".",
						 fragment ? psprintf("Fragment \"%s\"", fragment) : "Fragment",
						 parent->name, condition);
		return NULL;
	}
	return type;
}

static void
validate_selections(Validator *v, List *selections, const RtsyncTypeDef *parent)
{
	ListCell   *lc;

	foreach(lc, selections)
	{
		RtsyncGqlSelection *sel = lfirst(lc);
		RtsyncGqlFragment *fragment;
		RtsyncTypeDef *type;

		switch (sel->kind)
		{
			case RTSYNC_GQL_FIELD:
				validate_field(v, sel, parent);
				break;
			case RTSYNC_GQL_FRAGMENT_SPREAD:
				validate_directives(v, sel->directives, "FRAGMENT_SPREAD");
				fragment = rtsync_find_fragment(v->ps->doc, sel->name);
				if (fragment == NULL)
					break;		/* the caller reports unknown fragments */
				condition_type(v, fragment->name, fragment->type_condition, parent, sel->loc);
				if (v->queued == NULL)
					v->queued = palloc0(list_length(v->ps->doc->fragments) * sizeof(bool));
				if (rtsync_introspection_type(fragment->type_condition) &&
					!v->queued[fragment->index])
				{
					v->queued[fragment->index] = true;
					v->fragments = lappend(v->fragments, fragment);
				}
				break;
			case RTSYNC_GQL_INLINE_FRAGMENT:
				validate_directives(v, sel->directives, "INLINE_FRAGMENT");
				type = (RtsyncTypeDef *) parent;
				if (sel->type_condition != NULL)
					type = condition_type(v, NULL, sel->type_condition, parent, sel->loc);
				if (type != NULL)
					validate_selections(v, sel->selections, type);
				break;
		}
	}
}

/*
 * A root field and the fragments on introspection types it reaches, each
 * validated once against its type condition (which is one: only those are
 * collected). Fragments on other types cannot apply inside introspection
 * and are the caller's to validate.
 */
static void
validate_root(Validator *v, const RtsyncGqlSelection *field)
{
	validate_field(v, (RtsyncGqlSelection *) field, v->cat->query);
	for (int i = 0; i < list_length(v->fragments); i++)
	{
		RtsyncGqlFragment *f = list_nth(v->fragments, i);

		validate_directives(v, f->directives, "FRAGMENT_DEFINITION");
		validate_selections(v, f->selections,
							rtsync_types_find(v->cat, f->type_condition));
	}
}

bool
rtsync_introspection_validate_fields(RtsyncPlanState *ps, const RtsyncTypeCatalogue *cat,
									 List *fields)
{
	Validator	v;
	int			before = list_length(*ps->sink.errors);
	int			count = ps->sink.count;
	ListCell   *lc;

	validator_init(&v, ps, cat);
	foreach(lc, fields)
		validate_root(&v, lfirst(lc));
	drop_repeated_errors(&ps->sink, before);
	return ps->sink.count == count;
}

/* See graphql/introspection_validate.h; the catalogue lives in a scratch context. */
void
rtsync_introspection_validate(RtsyncPlanState *ps, const RtsyncGqlSelection *field)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext scratch = AllocSetContextCreate(caller, "rtsync introspection",
												  ALLOCSET_DEFAULT_SIZES);

	MemoryContextSwitchTo(scratch);
	rtsync_introspection_validate_fields(ps, rtsync_types_build(ps->schema),
										 list_make1((void *) field));
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(scratch);
}
