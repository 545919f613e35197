/*-------------------------------------------------------------------------
 *
 * graphql/schema.c
 *	  The GraphQL schema generated from published tables: its construction
 *	  (from the JSON of rtsync._schema_description(), for the worker, which
 *	  has no catalog access), the PostgreSQL to GraphQL type mapping, and a
 *	  few JSON helpers that never ereport, shared by the GraphQL modules.
 *
 * A schema lives in its own memory context; everything in it, and nothing
 * else, is allocated there, so rtsync_schema_free is one context delete.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "graphql/schema.h"

/* rtsync_number_text_ok: longer numbers, or larger exponents, are refused */
#define MAX_NUMBER_TEXT 1000
#define MAX_NUMBER_EXPONENT 1000

static const char *const scalar_names[] = {
	[RTSYNC_SCALAR_ID] = "ID",
	[RTSYNC_SCALAR_STRING] = "String",
	[RTSYNC_SCALAR_INT] = "Int",
	[RTSYNC_SCALAR_FLOAT] = "Float",
	[RTSYNC_SCALAR_BOOLEAN] = "Boolean",
	[RTSYNC_SCALAR_BIGINT] = "BigInt",
	[RTSYNC_SCALAR_BIGFLOAT] = "BigFloat",
	[RTSYNC_SCALAR_AWSDATETIME] = "AWSDateTime",
	[RTSYNC_SCALAR_AWSDATE] = "AWSDate",
	[RTSYNC_SCALAR_AWSTIME] = "AWSTime",
	[RTSYNC_SCALAR_AWSJSON] = "AWSJSON"
};

/* An event's name: create, update or delete */
const char *
rtsync_event_name(RtsyncEvent event)
{
	switch (event)
	{
		case RTSYNC_EVENT_CREATE:
			return "create";
		case RTSYNC_EVENT_UPDATE:
			return "update";
		case RTSYNC_EVENT_DELETE:
			return "delete";
	}
	return "unknown";
}

const char *
rtsync_scalar_name(RtsyncGqlScalar scalar)
{
	if ((int) scalar < 0 || scalar >= lengthof(scalar_names))
		return "String";
	return scalar_names[scalar];
}

/*
 * An empty schema in a context of its own, a child of parent: whoever keeps
 * the schema names the context that owns it (the worker's registry; a SQL
 * function's caller).
 */
RtsyncSchema *
rtsync_schema_create(MemoryContext parent)
{
	MemoryContext cxt = AllocSetContextCreate(parent,
											  "rtsync schema",
											  ALLOCSET_DEFAULT_SIZES);
	RtsyncSchema *schema = MemoryContextAllocZero(cxt, sizeof(RtsyncSchema));

	schema->cxt = cxt;
	return schema;
}

void
rtsync_schema_free(RtsyncSchema *schema)
{
	if (schema)
		MemoryContextDelete(schema->cxt);
}

RtsyncSchemaTable *
rtsync_schema_add_table(RtsyncSchema *schema, Oid relid,
						const char *qualified_name, const char *type_name,
						RtsyncViewType view_type)
{
	MemoryContext old = MemoryContextSwitchTo(schema->cxt);
	RtsyncSchemaTable *table = palloc0(sizeof(RtsyncSchemaTable));

	table->relid = relid;
	table->qualified_name = pstrdup(qualified_name);
	table->sql_name = pstrdup(qualified_name);
	table->type_name = pstrdup(type_name);
	table->plural_name = rtsync_plural_name(type_name);
	table->view_type = view_type;
	table->version_column = -1;
	schema->tables = lappend(schema->tables, table);
	MemoryContextSwitchTo(old);
	return table;
}

/*
 * The common English rules only, as rtsync.default_type_name singularises:
 * Category -> Categories, Box -> Boxes, Address -> Addresses, Item -> Items.
 */
char *
rtsync_plural_name(const char *type_name)
{
	size_t		len = strlen(type_name);
	char		last = len ? type_name[len - 1] : '\0';
	char		before = len > 1 ? type_name[len - 2] : '\0';

	if (last == 'y' && before != '\0' && strchr("aeiouAEIOU", before) == NULL)
		return psprintf("%.*sies", (int) len - 1, type_name);
	if (last == 's' || last == 'x' || last == 'z' ||
		((last == 'h') && (before == 'c' || before == 's')))
		return psprintf("%ses", type_name);
	return psprintf("%ss", type_name);
}

/* The GraphQL scalar of a (base, element) type; see the header's table. */
static RtsyncGqlScalar
scalar_for_type(Oid pg_type)
{
	switch (pg_type)
	{
		case INT2OID:
		case INT4OID:
			return RTSYNC_SCALAR_INT;
		case INT8OID:
			return RTSYNC_SCALAR_BIGINT;
		case NUMERICOID:
			return RTSYNC_SCALAR_BIGFLOAT;
		case FLOAT4OID:
		case FLOAT8OID:
			return RTSYNC_SCALAR_FLOAT;
		case BOOLOID:
			return RTSYNC_SCALAR_BOOLEAN;
		case TIMESTAMPTZOID:
		case TIMESTAMPOID:
			return RTSYNC_SCALAR_AWSDATETIME;
		case DATEOID:
			return RTSYNC_SCALAR_AWSDATE;
		case TIMEOID:
		case TIMETZOID:
			return RTSYNC_SCALAR_AWSTIME;
		case JSONOID:
		case JSONBOID:
			return RTSYNC_SCALAR_AWSJSON;
		default:
			/* text, varchar, char, name, uuid and everything else */
			return RTSYNC_SCALAR_STRING;
	}
}

/*
 * Appends a column. The columns array doubles when full (its size is the
 * next power of two of ncolumns, at least 8), so no capacity field is needed.
 */
void
rtsync_schema_add_column(RtsyncSchema *schema, RtsyncSchemaTable *table,
						 const char *name, Oid pg_type, bool is_array,
						 bool not_null, bool is_key)
{
	RtsyncSchemaColumn *col;
	int			n = table->ncolumns;

	if (n == 0)
		table->columns = MemoryContextAlloc(schema->cxt, 8 * sizeof(RtsyncSchemaColumn));
	else if (n >= 8 && (n & (n - 1)) == 0)
		table->columns = repalloc(table->columns, 2 * n * sizeof(RtsyncSchemaColumn));
	col = &table->columns[n];
	col->name = MemoryContextStrdup(schema->cxt, name);
	col->pg_type = pg_type;
	col->scalar = scalar_for_type(pg_type);
	col->is_list = is_array;
	col->not_null = not_null;
	col->is_key = is_key;
	col->has_default = false;
	col->writable = true;
	table->ncolumns++;
}

void
rtsync_schema_set_column_defaults(RtsyncSchemaTable *table, bool has_default,
								  bool writable)
{
	Assert(table->ncolumns > 0);
	table->columns[table->ncolumns - 1].has_default = has_default;
	table->columns[table->ncolumns - 1].writable = writable;
}

/* A GraphQL name: [_A-Za-z][_0-9A-Za-z]*, not reserved ("__" prefix). */
bool
rtsync_is_graphql_name(const char *name)
{
	const char *p = name;

	if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_'))
		return false;
	for (p++; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return strncmp(name, "__", 2) != 0;
}

void
rtsync_schema_finish_table(RtsyncSchema *schema, RtsyncSchemaTable *table,
						   const char *version_column)
{
	RtsyncSchemaColumn *key = NULL;
	int			nkeys = 0;
	int			kept = 0;

	for (int i = 0; i < table->ncolumns; i++)
	{
		if (table->columns[i].is_key)
		{
			key = &table->columns[i];
			nkeys++;
		}
	}
	if (nkeys == 1 && !key->is_list &&
		(key->pg_type == TEXTOID || key->pg_type == VARCHAROID ||
		 key->pg_type == UUIDOID))
		key->scalar = RTSYNC_SCALAR_ID;

	for (int i = 0; i < table->ncolumns; i++)
	{
		if (rtsync_is_graphql_name(table->columns[i].name))
			table->columns[kept++] = table->columns[i];
	}
	table->ncolumns = kept;

	table->nkeys = 0;
	table->version_column = -1;
	for (int i = 0; i < kept; i++)
	{
		if (table->columns[i].is_key)
			table->nkeys++;
		if (version_column && strcmp(table->columns[i].name, version_column) == 0)
			table->version_column = i;
	}
	table->key_usable = nkeys > 0 && table->nkeys == nkeys;
}

RtsyncSchemaTable *
rtsync_schema_find_type(RtsyncSchema *schema, const char *type_name)
{
	ListCell   *lc;

	foreach(lc, schema->tables)
	{
		RtsyncSchemaTable *table = lfirst(lc);

		if (strcmp(table->type_name, type_name) == 0)
			return table;
	}
	return NULL;
}

RtsyncSchemaTable *
rtsync_schema_find_table(RtsyncSchema *schema, const char *qualified_name)
{
	ListCell   *lc;

	foreach(lc, schema->tables)
	{
		RtsyncSchemaTable *table = lfirst(lc);

		if (strcmp(table->qualified_name, qualified_name) == 0)
			return table;
	}
	return NULL;
}

/*
 * Is this a type name the generated schema itself uses? A table published
 * under such a name would make the schema ambiguous.
 */
bool
rtsync_type_name_reserved(const char *name)
{
	size_t		len = strlen(name);

	for (int i = 0; i < lengthof(scalar_names); i++)
		if (strcmp(name, scalar_names[i]) == 0)
			return true;
	if (strcmp(name, "Subscription") == 0 || strcmp(name, "Query") == 0 ||
		strcmp(name, "Mutation") == 0)
		return true;

	/*
	 * The per-table and per-scalar names of graphql/schema_types.h:
	 * Model...Input (ModelSubscription...Input among them),
	 * Model...Connection, Create...Input, Update...Input, Delete...Input
	 */
	if (strncmp(name, "Model", 5) == 0 &&
		((len > 10 && strcmp(name + len - 5, "Input") == 0) ||
		 (len > 15 && strcmp(name + len - 10, "Connection") == 0)))
		return true;
	return (strncmp(name, "Create", 6) == 0 || strncmp(name, "Update", 6) == 0 ||
			strncmp(name, "Delete", 6) == 0) &&
		len > 11 && strcmp(name + len - 5, "Input") == 0;
}

/*
 * Is this text a JSON/GraphQL number that numeric_in accepts without
 * failing? Syntax -?digits[.digits][(e|E)[+-]digits], at most
 * MAX_NUMBER_TEXT bytes and an exponent of at most MAX_NUMBER_EXPONENT in
 * magnitude (numeric_in refuses larger ones with an error).
 */
bool
rtsync_number_text_ok(const char *text, size_t len)
{
	size_t		i = 0;
	size_t		digits = 0;
	int			exponent = 0;

	if (len == 0 || len > MAX_NUMBER_TEXT)
		return false;
	if (text[i] == '-' || text[i] == '+')
		i++;
	for (; i < len && text[i] >= '0' && text[i] <= '9'; i++)
		digits++;
	if (i < len && text[i] == '.')
		for (i++; i < len && text[i] >= '0' && text[i] <= '9'; i++)
			digits++;
	if (digits == 0)
		return false;
	if (i < len && (text[i] == 'e' || text[i] == 'E'))
	{
		size_t		start;

		i++;
		if (i < len && (text[i] == '-' || text[i] == '+'))
			i++;
		start = i;
		for (; i < len && text[i] >= '0' && text[i] <= '9'; i++)
		{
			exponent = exponent * 10 + (text[i] - '0');
			if (exponent > MAX_NUMBER_EXPONENT)
				return false;
		}
		if (i == start)
			return false;
	}
	return i == len;
}

/*
 * A numeric from a number's text, or from "NaN", "Infinity", "-Infinity";
 * NULL when the text is anything else. Checked first, so numeric_in cannot
 * fail.
 */
Numeric
rtsync_numeric_from_text(const char *text, size_t len)
{
	char	   *str;
	Numeric		result;

	if (!rtsync_number_text_ok(text, len) &&
		!(len == 3 && memcmp(text, "NaN", 3) == 0) &&
		!(len == 8 && memcmp(text, "Infinity", 8) == 0) &&
		!(len == 9 && memcmp(text, "-Infinity", 9) == 0))
		return NULL;
	str = pnstrdup(text, len);
	result = DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(str),
												 ObjectIdGetDatum(InvalidOid),
												 Int32GetDatum(-1)));
	pfree(str);
	return result;
}

/* Semantic action of rtsync_json_parse's first pass: flag unsafe numbers. */
static void
check_scalar(void *state, char *token, JsonTokenType tokentype)
{
	if (tokentype == JSON_TOKEN_NUMBER && !rtsync_number_text_ok(token, strlen(token)))
		*(bool *) state = true;
}

/*
 * JSON text to jsonb without ereport: a first pass with the non-throwing
 * JSON parser finds syntax errors (and numbers that numeric_in would refuse),
 * then jsonb_in builds the value. The jsonb_in call is wrapped in PG_TRY as
 * a last line of defence (e.g. nesting deeper than the stack allows); that
 * is safe without a subtransaction because it takes no locks, buffers or
 * other resources, only memory in the current context.
 */
Jsonb *
rtsync_json_parse(const char *json, size_t len, char **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *copy = pnstrdup(json, len);
	JsonLexContext *lex;
	JsonSemAction sem;
	JsonParseErrorType rc;
	bool		bad_number = false;
	Jsonb	   *volatile result = NULL;

	if (strlen(copy) != len)
	{
		*error = pstrdup("JSON text contains a NUL byte");
		return NULL;
	}
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &bad_number;
	sem.scalar = check_scalar;
	PG_TRY();
	{
		lex = makeJsonLexContextCstringLen(copy, len, GetDatabaseEncoding(), true);
		rc = pg_parse_json(lex, &sem);
		if (rc != JSON_SUCCESS)
			*error = json_errdetail(rc, lex);
		else if (bad_number)
			*error = pstrdup("JSON text contains a number out of range");
		else
			result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(copy)));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		*error = edata->message;
		result = NULL;
	}
	PG_END_TRY();
	pfree(copy);
	return result;
}

/* The member key of an object, NULL when absent or not of the given type. */
static JsonbValue *
member(JsonbContainer *obj, const char *key, enum jbvType type, JsonbValue *res)
{
	if (getKeyJsonValueFromContainer(obj, key, strlen(key), res) == NULL ||
		res->type != type)
		return NULL;
	return res;
}

/* A JSON number that is an integer in [0, max], into *result. */
static bool
member_uint(JsonbContainer *obj, const char *key, int64 max, int64 *result)
{
	JsonbValue	v;
	char	   *text;
	char	   *end;

	if (member(obj, key, jbvNumeric, &v) == NULL)
		return false;
	text = DatumGetCString(DirectFunctionCall1(numeric_out,
											   NumericGetDatum(v.val.numeric)));
	errno = 0;
	*result = strtoll(text, &end, 10);
	return errno == 0 && *end == '\0' && *result >= 0 && *result <= max;
}

static char *
member_string(JsonbContainer *obj, const char *key)
{
	JsonbValue	v;

	if (member(obj, key, jbvString, &v) == NULL)
		return NULL;
	return pnstrdup(v.val.string.val, v.val.string.len);
}

static bool
member_bool(JsonbContainer *obj, const char *key, bool *result)
{
	JsonbValue	v;

	if (member(obj, key, jbvBool, &v) == NULL)
		return false;
	*result = v.val.boolean;
	return true;
}

/* One table of the description into the schema; false on malformed input. */
static bool
add_table_from_json(RtsyncSchema *schema, JsonbContainer *obj, char **error)
{
	JsonbValue	v;
	int64		relid;
	char	   *qualified = member_string(obj, "table");
	char	   *type_name = member_string(obj, "type");
	char	   *view_type_name = member_string(obj, "view_type");
	RtsyncViewType view_type;
	JsonbContainer *columns;
	RtsyncSchemaTable *table;
	int			ncolumns;

	if (!member_uint(obj, "relid", PG_UINT32_MAX, &relid) || qualified == NULL ||
		type_name == NULL || view_type_name == NULL ||
		!rtsync_view_type_parse(view_type_name, &view_type) ||
		member(obj, "columns", jbvBinary, &v) == NULL ||
		!JsonContainerIsArray(v.val.binary.data))
	{
		*error = psprintf("malformed table in schema description%s%s",
						  qualified ? ": " : "", qualified ? qualified : "");
		return false;
	}
	columns = v.val.binary.data;

	/* see type_name_reserved; the caller has seen to duplicates */
	if (!rtsync_is_graphql_name(type_name) || rtsync_type_name_reserved(type_name) ||
		rtsync_schema_find_type(schema, type_name) != NULL)
		return true;

	table = rtsync_schema_add_table(schema, (Oid) relid, qualified, type_name, view_type);
	if (!member_uint(obj, "retention_s", PG_INT64_MAX, &table->retention_s))
		table->retention_s = 0;
	ncolumns = JsonContainerSize(columns);
	for (int i = 0; i < ncolumns; i++)
	{
		JsonbValue *c = getIthJsonbValueFromContainer(columns, i);
		char	   *name;
		int64		type_oid;
		bool		is_array;
		bool		not_null;
		bool		is_key;
		bool		has_default = false;
		bool		writable = true;

		if (c == NULL || c->type != jbvBinary || !JsonContainerIsObject(c->val.binary.data) ||
			(name = member_string(c->val.binary.data, "name")) == NULL ||
			!member_uint(c->val.binary.data, "type_oid", PG_UINT32_MAX, &type_oid) ||
			!member_bool(c->val.binary.data, "is_array", &is_array) ||
			!member_bool(c->val.binary.data, "not_null", &not_null) ||
			!member_bool(c->val.binary.data, "is_key", &is_key))
		{
			*error = psprintf("malformed column %d of table %s in schema description",
							  i + 1, qualified);
			return false;
		}
		rtsync_schema_add_column(schema, table, name, (Oid) type_oid, is_array,
								 not_null, is_key);
		/* optional members: descriptions from before they existed lack them */
		(void) member_bool(c->val.binary.data, "has_default", &has_default);
		(void) member_bool(c->val.binary.data, "writable", &writable);
		rtsync_schema_set_column_defaults(table, has_default, writable);
	}
	rtsync_schema_finish_table(schema, table, member_string(obj, "version_column"));
	{
		char	   *sql_name = member_string(obj, "sql_name");

		if (sql_name)
			table->sql_name = MemoryContextStrdup(schema->cxt, sql_name);
	}
	return true;
}

/*
 * See graphql/schema.h. The parsed JSON lives in a scratch context that is deleted
 * before returning; the message in *error is allocated in the caller's
 * context, and so is the schema's own context made (a child of it): a
 * caller that keeps the schema longer moves it under its own context (as
 * control/control.c does when a schema is loaded).
 */
RtsyncSchema *
rtsync_schema_from_json(const char *json, char **error)
{
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext scratch = AllocSetContextCreate(caller, "rtsync schema json",
												  ALLOCSET_DEFAULT_SIZES);
	RtsyncSchema *schema = rtsync_schema_create(caller);
	char	   *message = NULL;
	Jsonb	   *jb;

	MemoryContextSwitchTo(scratch);
	jb = rtsync_json_parse(json, strlen(json), &message);
	if (jb != NULL && !JB_ROOT_IS_ARRAY(jb))
		message = pstrdup("schema description is not a JSON array");
	else if (jb != NULL)
	{
		int			n = JsonContainerSize(&jb->root);

		for (int i = 0; i < n && message == NULL; i++)
		{
			JsonbValue *t = getIthJsonbValueFromContainer(&jb->root, i);

			if (t->type != jbvBinary || !JsonContainerIsObject(t->val.binary.data))
				message = pstrdup("schema description has an element that is not an object");
			else
				add_table_from_json(schema, t->val.binary.data, &message);
		}
	}
	MemoryContextSwitchTo(caller);
	if (message != NULL)
	{
		*error = psprintf("invalid schema description: %s", message);
		rtsync_schema_free(schema);
		schema = NULL;
	}
	MemoryContextDelete(scratch);
	return schema;
}

/* ------------------------------------------------------------------------
 * JSON output, for messages and payloads
 * ------------------------------------------------------------------------
 */

static void
append_scalar(StringInfo out, const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			rtsync_json_append_string(out, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			{
				char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
																	NumericGetDatum(v->val.numeric)));

				appendStringInfoString(out, s);
				pfree(s);
				break;
			}
		case jbvBool:
			appendStringInfoString(out, v->val.boolean ? "true" : "false");
			break;
		default:
			appendStringInfoString(out, "null");
			break;
	}
}

/*
 * Compact JSON text of a value (jsonb's own output puts blanks after ","
 * and ":"). Object keys come out in jsonb's order.
 */
void
rtsync_json_append_value(StringInfo out, const JsonbValue *value)
{
	JsonbContainer *c;
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	bool		comma = false;

	if (value->type != jbvBinary)
	{
		append_scalar(out, value);
		return;
	}
	c = value->val.binary.data;
	if (JsonContainerIsScalar(c))
	{
		JsonbExtractScalar(c, &v);
		append_scalar(out, &v);
		return;
	}
	it = JsonbIteratorInit(c);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (comma && (tok == WJB_BEGIN_ARRAY || tok == WJB_BEGIN_OBJECT ||
					  tok == WJB_KEY || tok == WJB_ELEM))
			appendStringInfoChar(out, ',');
		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
				appendStringInfoChar(out, '[');
				comma = false;
				break;
			case WJB_BEGIN_OBJECT:
				appendStringInfoChar(out, '{');
				comma = false;
				break;
			case WJB_KEY:
				append_scalar(out, &v);
				appendStringInfoChar(out, ':');
				comma = false;
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				append_scalar(out, &v);
				comma = true;
				break;
			case WJB_END_ARRAY:
				appendStringInfoChar(out, ']');
				comma = true;
				break;
			case WJB_END_OBJECT:
				appendStringInfoChar(out, '}');
				comma = true;
				break;
			default:
				break;
		}
	}
}
