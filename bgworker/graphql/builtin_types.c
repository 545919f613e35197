/*-------------------------------------------------------------------------
 *
 * graphql/builtin_types.c
 *	  The built-in scalars, introspection types and specified directives of
 *	  GraphQL, as data (see graphql/builtin_types.h). Their names, types and
 *	  descriptions are those of graphql-js 16 (the GraphQL specification's,
 *	  plus isOneOf, @oneOf and deprecation of directives), so that a client
 *	  comparing them with its own finds them equal.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "graphql/builtin_types.h"

typedef struct StaticType
{
	RtsyncTypeDefKind kind;
	const char *name;
	const char *description;
} StaticType;

/* A field of an introspection type or an enum value (type NULL). */
typedef struct StaticMember
{
	const char *owner;
	const char *name;
	const char *type;
	const char *description;
	bool		include_deprecated; /* takes includeDeprecated: Boolean =
									 * false (Boolean! on __Schema) */
} StaticMember;

typedef struct StaticDirective
{
	const char *name;
	const char *description;
	const char *locations;		/* blank-separated */
	const char *arg;			/* its one argument, or NULL */
	const char *arg_type;
	const char *arg_default;
	const char *arg_description;
} StaticDirective;

static const StaticType builtin_scalars[] = {
	{RTSYNC_DEF_SCALAR, "ID", "The `ID` scalar type represents a unique identifier, often used to refetch an object or as key for a cache. The ID type appears in a JSON response as a String; however, it is not intended to be human-readable. When expected as an input type, any string (such as `\"4\"`) or integer (such as `4`) input value will be accepted as an ID."},
	{RTSYNC_DEF_SCALAR, "String", "The `String` scalar type represents textual data, represented as UTF-8 character sequences. The String type is most often used by GraphQL to represent free-form human-readable text."},
	{RTSYNC_DEF_SCALAR, "Int", "The `Int` scalar type represents non-fractional signed whole numeric values. Int can represent values between -(2^31) and 2^31 - 1."},
	{RTSYNC_DEF_SCALAR, "Float", "The `Float` scalar type represents signed double-precision fractional values as specified by [IEEE 754](https://en.wikipedia.org/wiki/IEEE_floating_point)."},
	{RTSYNC_DEF_SCALAR, "Boolean", "The `Boolean` scalar type represents `true` or `false`."}
};

static const StaticType meta_types[] = {
	{RTSYNC_DEF_OBJECT, "__Schema", "A GraphQL Schema defines the capabilities of a GraphQL server. It exposes all available types and directives on the server, as well as the entry points for query, mutation, and subscription operations."},
	{RTSYNC_DEF_OBJECT, "__Type", "The fundamental unit of any GraphQL Schema is the type. There are many kinds of types in GraphQL as represented by the `__TypeKind` enum.\n\nDepending on the kind of a type, certain fields describe information about that type. Scalar types provide no information beyond a name, description and optional `specifiedByURL`, while Enum types provide their values. Object and Interface types provide the fields they describe. Abstract types, Union and Interface, provide the Object types possible at runtime. List and NonNull types compose other types."},
	{RTSYNC_DEF_ENUM, "__TypeKind", "An enum describing what kind of type a given `__Type` is."},
	{RTSYNC_DEF_OBJECT, "__Field", "Object and Interface types are described by a list of Fields, each of which has a name, potentially a list of arguments, and a return type."},
	{RTSYNC_DEF_OBJECT, "__InputValue", "Arguments provided to Fields or Directives and the input fields of an InputObject are represented as Input Values which describe their type and optionally a default value."},
	{RTSYNC_DEF_OBJECT, "__EnumValue", "One possible value for a given Enum. Enum values are unique values, not a placeholder for a string or numeric value. However an Enum value is returned in a JSON response as a string."},
	{RTSYNC_DEF_OBJECT, "__Directive", "A Directive provides a way to describe alternate runtime execution and type validation behavior in a GraphQL document.\n\nIn some cases, you need to provide options to alter GraphQL's execution behavior in ways field arguments will not suffice, such as conditionally including or skipping a field. Directives provide this by describing additional information to the executor."},
	{RTSYNC_DEF_ENUM, "__DirectiveLocation", "A Directive can be adjacent to many parts of the GraphQL language, a __DirectiveLocation describes one such possible adjacencies."}
};

static const StaticMember meta_members[] = {
	{"__Schema", "description", "String", NULL, false},
	{"__Schema", "types", "[__Type!]!", "A list of all types supported by this server.", false},
	{"__Schema", "queryType", "__Type!", "The type that query operations will be rooted at.", false},
	{"__Schema", "mutationType", "__Type", "If this server supports mutation, the type that mutation operations will be rooted at.", false},
	{"__Schema", "subscriptionType", "__Type", "If this server support subscription, the type that subscription operations will be rooted at.", false},
	{"__Schema", "directives", "[__Directive!]!", "A list of all directives supported by this server.", true},
	{"__Type", "kind", "__TypeKind!", NULL, false},
	{"__Type", "name", "String", NULL, false},
	{"__Type", "description", "String", NULL, false},
	{"__Type", "specifiedByURL", "String", NULL, false},
	{"__Type", "fields", "[__Field!]", NULL, true},
	{"__Type", "interfaces", "[__Type!]", NULL, false},
	{"__Type", "possibleTypes", "[__Type!]", NULL, false},
	{"__Type", "enumValues", "[__EnumValue!]", NULL, true},
	{"__Type", "inputFields", "[__InputValue!]", NULL, true},
	{"__Type", "ofType", "__Type", NULL, false},
	{"__Type", "isOneOf", "Boolean", NULL, false},
	{"__TypeKind", "SCALAR", NULL, "Indicates this type is a scalar.", false},
	{"__TypeKind", "OBJECT", NULL, "Indicates this type is an object. `fields` and `interfaces` are valid fields.", false},
	{"__TypeKind", "INTERFACE", NULL, "Indicates this type is an interface. `fields`, `interfaces`, and `possibleTypes` are valid fields.", false},
	{"__TypeKind", "UNION", NULL, "Indicates this type is a union. `possibleTypes` is a valid field.", false},
	{"__TypeKind", "ENUM", NULL, "Indicates this type is an enum. `enumValues` is a valid field.", false},
	{"__TypeKind", "INPUT_OBJECT", NULL, "Indicates this type is an input object. `inputFields` is a valid field.", false},
	{"__TypeKind", "LIST", NULL, "Indicates this type is a list. `ofType` is a valid field.", false},
	{"__TypeKind", "NON_NULL", NULL, "Indicates this type is a non-null. `ofType` is a valid field.", false},
	{"__Field", "name", "String!", NULL, false},
	{"__Field", "description", "String", NULL, false},
	{"__Field", "args", "[__InputValue!]!", NULL, true},
	{"__Field", "type", "__Type!", NULL, false},
	{"__Field", "isDeprecated", "Boolean!", NULL, false},
	{"__Field", "deprecationReason", "String", NULL, false},
	{"__InputValue", "name", "String!", NULL, false},
	{"__InputValue", "description", "String", NULL, false},
	{"__InputValue", "type", "__Type!", NULL, false},
	{"__InputValue", "defaultValue", "String", "A GraphQL-formatted string representing the default value for this input value.", false},
	{"__InputValue", "isDeprecated", "Boolean!", NULL, false},
	{"__InputValue", "deprecationReason", "String", NULL, false},
	{"__EnumValue", "name", "String!", NULL, false},
	{"__EnumValue", "description", "String", NULL, false},
	{"__EnumValue", "isDeprecated", "Boolean!", NULL, false},
	{"__EnumValue", "deprecationReason", "String", NULL, false},
	{"__Directive", "name", "String!", NULL, false},
	{"__Directive", "description", "String", NULL, false},
	{"__Directive", "isRepeatable", "Boolean!", NULL, false},
	{"__Directive", "locations", "[__DirectiveLocation!]!", NULL, false},
	{"__Directive", "args", "[__InputValue!]!", NULL, true},
	{"__Directive", "isDeprecated", "Boolean!", NULL, false},
	{"__Directive", "deprecationReason", "String", NULL, false},
	{"__DirectiveLocation", "QUERY", NULL, "Location adjacent to a query operation.", false},
	{"__DirectiveLocation", "MUTATION", NULL, "Location adjacent to a mutation operation.", false},
	{"__DirectiveLocation", "SUBSCRIPTION", NULL, "Location adjacent to a subscription operation.", false},
	{"__DirectiveLocation", "FIELD", NULL, "Location adjacent to a field.", false},
	{"__DirectiveLocation", "FRAGMENT_DEFINITION", NULL, "Location adjacent to a fragment definition.", false},
	{"__DirectiveLocation", "FRAGMENT_SPREAD", NULL, "Location adjacent to a fragment spread.", false},
	{"__DirectiveLocation", "INLINE_FRAGMENT", NULL, "Location adjacent to an inline fragment.", false},
	{"__DirectiveLocation", "VARIABLE_DEFINITION", NULL, "Location adjacent to a variable definition.", false},
	{"__DirectiveLocation", "SCHEMA", NULL, "Location adjacent to a schema definition.", false},
	{"__DirectiveLocation", "SCALAR", NULL, "Location adjacent to a scalar definition.", false},
	{"__DirectiveLocation", "OBJECT", NULL, "Location adjacent to an object type definition.", false},
	{"__DirectiveLocation", "FIELD_DEFINITION", NULL, "Location adjacent to a field definition.", false},
	{"__DirectiveLocation", "ARGUMENT_DEFINITION", NULL, "Location adjacent to an argument definition.", false},
	{"__DirectiveLocation", "INTERFACE", NULL, "Location adjacent to an interface definition.", false},
	{"__DirectiveLocation", "UNION", NULL, "Location adjacent to a union definition.", false},
	{"__DirectiveLocation", "ENUM", NULL, "Location adjacent to an enum definition.", false},
	{"__DirectiveLocation", "ENUM_VALUE", NULL, "Location adjacent to an enum value definition.", false},
	{"__DirectiveLocation", "INPUT_OBJECT", NULL, "Location adjacent to an input object type definition.", false},
	{"__DirectiveLocation", "INPUT_FIELD_DEFINITION", NULL, "Location adjacent to an input object field definition.", false},
	{"__DirectiveLocation", "DIRECTIVE_DEFINITION", NULL, "Location adjacent to a directive definition.", false}
};

static const StaticDirective static_directives[] = {
	{"include", "Directs the executor to include this field or fragment only when the `if` argument is true.",
	"FIELD FRAGMENT_SPREAD INLINE_FRAGMENT", "if", "Boolean!", NULL, "Included when true."},
	{"skip", "Directs the executor to skip this field or fragment when the `if` argument is true.",
	"FIELD FRAGMENT_SPREAD INLINE_FRAGMENT", "if", "Boolean!", NULL, "Skipped when true."},
	{"deprecated", "Marks an element of a GraphQL schema as no longer supported.",
		"FIELD_DEFINITION ARGUMENT_DEFINITION INPUT_FIELD_DEFINITION ENUM_VALUE DIRECTIVE_DEFINITION",
		"reason", "String", "\"No longer supported\"",
	"Explains why this element was deprecated, usually also including a suggestion for how to access supported similar data. Formatted using the Markdown syntax, as specified by [CommonMark](https://commonmark.org/)."},
	{"specifiedBy", "Exposes a URL that specifies the behavior of this scalar.",
	"SCALAR", "url", "String!", NULL, "The URL that specifies the behavior of this scalar."},
	{"oneOf", "Indicates exactly one field must be supplied and this field must not be `null`.",
	"INPUT_OBJECT", NULL, NULL, NULL, NULL}
};

/* The introspection types, in graphql-js's order, with their members. */
List *
rtsync_builtin_introspection_types(void)
{
	List	   *types = NIL;

	for (int i = 0; i < lengthof(meta_types); i++)
		types = lappend(types, rtsync_types_new(meta_types[i].kind,
												RTSYNC_ORIGIN_INTROSPECTION,
												meta_types[i].name,
												meta_types[i].description));
	for (int i = 0; i < lengthof(meta_members); i++)
	{
		const StaticMember *m = &meta_members[i];
		RtsyncTypeDef *owner = NULL;
		ListCell   *lc;

		foreach(lc, types)
			if (strcmp(((RtsyncTypeDef *) lfirst(lc))->name, m->owner) == 0)
				owner = lfirst(lc);
		Assert(owner != NULL);
		if (m->type == NULL)
		{
			RtsyncEnumValueDef *value = palloc(sizeof(RtsyncEnumValueDef));

			value->name = m->name;
			value->description = m->description;
			owner->values = lappend(owner->values, value);
		}
		else
		{
			RtsyncFieldDef *field = rtsync_types_add_field(owner, m->name,
														   rtsync_type_ref_parse(m->type),
														   m->description);
			bool		non_null = strcmp(owner->name, "__Schema") == 0;

			if (m->include_deprecated)
				field->args = list_make1(rtsync_types_new_input_value("includeDeprecated",
																	  rtsync_type_ref_make("Boolean", non_null),
																	  NULL, "false"));
		}
	}
	return types;
}

/* The specified directives, each with at most one argument. */
List *
rtsync_builtin_directives(void)
{
	List	   *result = NIL;

	for (int i = 0; i < lengthof(static_directives); i++)
	{
		const StaticDirective *s = &static_directives[i];
		RtsyncDirectiveDef *d = palloc0(sizeof(RtsyncDirectiveDef));
		char	   *locations = pstrdup(s->locations);
		char	   *save;

		d->name = s->name;
		d->description = s->description;
		for (char *loc = strtok_r(locations, " ", &save); loc; loc = strtok_r(NULL, " ", &save))
			d->locations = lappend(d->locations, loc);
		if (s->arg)
			d->args = list_make1(rtsync_types_new_input_value(s->arg,
															  rtsync_type_ref_parse(s->arg_type),
															  s->arg_description,
															  s->arg_default));
		result = lappend(result, d);
	}
	return result;
}

List *
rtsync_builtin_scalars(void)
{
	List	   *result = NIL;

	for (int i = 0; i < lengthof(builtin_scalars); i++)
		result = lappend(result, rtsync_types_new(RTSYNC_DEF_SCALAR, RTSYNC_ORIGIN_BUILTIN,
												  builtin_scalars[i].name,
												  builtin_scalars[i].description));
	return result;
}

bool
rtsync_builtin_is_introspection_type(const char *name)
{
	for (int i = 0; i < lengthof(meta_types); i++)
		if (strcmp(meta_types[i].name, name) == 0)
			return true;
	return false;
}
