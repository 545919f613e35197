/*-------------------------------------------------------------------------
 *
 * graphql/input_variables.c
 *	  The request's variables: their JSON values coerced to the types the
 *	  operation declares (GraphQL spec, "Coercing Variable Values"), with
 *	  graphql-js's messages ("Variable "$v" got invalid value ...").
 *
 * A variable that is not provided takes its default value, or has none; a
 * value is coerced once, and every use of the variable shares it. Values
 * from variables carry the location of the variable's definition.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "graphql/input.h"

/* graphql-js: Variable "$v" got invalid value <v> at "v.path"; <why> */
static void
json_error(RtsyncInputContext *ctx, const RtsyncVariable *var, const JsonbValue *value,
		   const char *path, const char *why)
{
	StringInfoData buf;

	initStringInfo(&buf);
	rtsync_json_append_value(&buf, value);
	if (*path)
		rtsync_gql_error(ctx->sink, var->def->loc,
						 "Variable \"$%s\" got invalid value %s at \"%s%s\"; %s",
						 var->def->name, buf.data, var->def->name, path, why);
	else
		rtsync_gql_error(ctx->sink, var->def->loc,
						 "Variable \"$%s\" got invalid value %s; %s",
						 var->def->name, buf.data, why);
}

static RtsyncInputValue *coerce_json(RtsyncInputContext *ctx, const RtsyncVariable *var,
									 const JsonbValue *v, const RtsyncInputType *type,
									 const char *path);

static RtsyncInputValue *
coerce_json_object(RtsyncInputContext *ctx, const RtsyncVariable *var,
				   const JsonbValue *v, const RtsyncInputType *type, const char *path)
{
	RtsyncInputValue *object = rtsync_input_new_value(RTSYNC_VALUE_OBJECT, var->def->loc);
	JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
	JsonbIteratorToken tok;
	JsonbValue	key;
	JsonbValue	val;

	object->variable = var->def->name;
	while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		RtsyncInputField *field;
		RtsyncInputType *ftype;
		char	   *name;
		int			index;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(key.val.string.val, key.val.string.len);
		tok = JsonbIteratorNext(&it, &val, true);
		Assert(tok == WJB_VALUE);
		ftype = rtsync_input_field_type(type, name, &index);
		if (ftype == NULL)
		{
			json_error(ctx, var, v, path,
					   psprintf("Field \"%s\" is not defined by type \"%s\".",
								name, rtsync_input_type_string(type)));
			return NULL;
		}
		field = palloc(sizeof(RtsyncInputField));
		field->name = name;
		field->index = index;
		field->loc = var->def->loc;
		field->value = coerce_json(ctx, var, &val, ftype, psprintf("%s.%s", path, name));
		if (field->value == NULL)
			return NULL;
		object->fields = lappend(object->fields, field);
	}
	return object;
}

/* A JSON value coerced to an input type; NULL (and an error) if it fails. */
static RtsyncInputValue *
coerce_json(RtsyncInputContext *ctx, const RtsyncVariable *var, const JsonbValue *v,
			const RtsyncInputType *type, const char *path)
{
	RtsyncInputValue *result = NULL;
	RtsyncRawScalar	raw;
	bool		container = v->type == jbvBinary;

	if (v->type == jbvNull)
	{
		if (!type->non_null)
			return rtsync_input_new_value(RTSYNC_VALUE_NULL, var->def->loc);
		json_error(ctx, var, v, path,
				   psprintf("Expected non-nullable type \"%s\" not to be null.",
							rtsync_input_type_string(type)));
		return NULL;
	}
	switch (type->kind)
	{
		case RTSYNC_INPUT_LIST:
			result = rtsync_input_new_value(RTSYNC_VALUE_LIST, var->def->loc);
			if (container && JsonContainerIsArray(v->val.binary.data))
			{
				int			n = JsonContainerSize(v->val.binary.data);

				for (int i = 0; i < n; i++)
				{
					JsonbValue *elem = getIthJsonbValueFromContainer(v->val.binary.data, i);
					RtsyncInputValue *item = coerce_json(ctx, var, elem, type->item,
														 psprintf("%s[%d]", path, i));

					if (item == NULL)
						return NULL;
					result->items = lappend(result->items, item);
				}
			}
			else
			{
				RtsyncInputValue *item = coerce_json(ctx, var, v, type->item, path);

				if (item == NULL)
					return NULL;
				result->items = list_make1(item);
			}
			break;
		case RTSYNC_INPUT_FILTER:
		case RTSYNC_INPUT_CONDITION:
		case RTSYNC_INPUT_MUTATION:
			if (container && JsonContainerIsObject(v->val.binary.data))
			{
				result = coerce_json_object(ctx, var, v, type, path);
				if (result != NULL && type->kind == RTSYNC_INPUT_MUTATION &&
					!rtsync_input_check_required(ctx->sink, type, result,
												 psprintf("Variable \"$%s\" got invalid value at \"%s\"; ",
														  var->def->name, path)))
					return NULL;
				return result;
			}
			json_error(ctx, var, v, path,
					   psprintf("Expected type \"%s\" to be an object.",
								rtsync_input_type_string(type)));
			return NULL;
		case RTSYNC_INPUT_SCALAR:
			memset(&raw, 0, sizeof(raw));
			raw.kind = RTSYNC_RAW_OTHER;
			if (v->type == jbvString)
			{
				raw.kind = RTSYNC_RAW_STRING;
				raw.text = pnstrdup(v->val.string.val, v->val.string.len);
			}
			else if (v->type == jbvBool)
			{
				raw.kind = RTSYNC_RAW_BOOLEAN;
				raw.boolean = v->val.boolean;
			}
			else if (v->type == jbvNumeric)
			{
				/* integral JSON numbers (1.0 too) are integers, as in JS */
				char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
																	   NumericGetDatum(v->val.numeric)));
				char	   *dot = strchr(text, '.');

				raw.kind = RTSYNC_RAW_INT;
				if (dot != NULL && strspn(dot + 1, "0") == strlen(dot + 1))
					*dot = '\0';
				else if (dot != NULL)
					raw.kind = RTSYNC_RAW_FLOAT;
				raw.text = text;
			}
			result = rtsync_input_coerce_scalar(type->scalar, &raw, var->def->loc);
			if (result == NULL)
			{
				json_error(ctx, var, v, path,
						   psprintf("Expected type \"%s\".",
									rtsync_scalar_name(type->scalar)));
				return NULL;
			}
			break;
	}
	result->variable = var->def->name;
	return result;
}

bool
rtsync_input_coerce_variables(RtsyncInputContext *ctx, const char *variables_json)
{
	int			before = ctx->sink->count;
	RtsyncGqlLocation noloc = {0, 0};
	Jsonb	   *vars = NULL;
	ListCell   *lc;

	if (variables_json != NULL)
	{
		char	   *err = NULL;
		JsonbValue	scalar;

		vars = rtsync_json_parse(variables_json, strlen(variables_json), &err);
		if (vars == NULL)
		{
			rtsync_gql_error(ctx->sink, noloc, "Variables are not valid JSON: %s", err);
			return false;
		}
		if (JB_ROOT_IS_SCALAR(vars) && JsonbExtractScalar(&vars->root, &scalar) &&
			scalar.type == jbvNull)
			vars = NULL;
		else if (!JB_ROOT_IS_OBJECT(vars))
		{
			rtsync_gql_error(ctx->sink, noloc, "Variables must be provided as a JSON object.");
			return false;
		}
	}
	foreach(lc, ctx->variables)
	{
		RtsyncVariable *var = lfirst(lc);
		JsonbValue	v;

		var->value = NULL;
		if (var->type == NULL)
			continue;
		if (vars == NULL ||
			getKeyJsonValueFromContainer(&vars->root, var->def->name,
										 strlen(var->def->name), &v) == NULL)
		{
			if (var->default_value != NULL)
				var->value = var->default_value;
			else if (var->type->non_null)
				rtsync_gql_error(ctx->sink, var->def->loc,
								 "Variable \"$%s\" of required type \"%s\" was not provided.",
								 var->def->name, rtsync_input_type_string(var->type));
		}
		else if (v.type == jbvNull && var->type->non_null)
			rtsync_gql_error(ctx->sink, var->def->loc,
							 "Variable \"$%s\" of non-null type \"%s\" must not be null.",
							 var->def->name, rtsync_input_type_string(var->type));
		else
			var->value = coerce_json(ctx, var, &v, var->type, "");
	}
	return ctx->sink->count == before;
}
