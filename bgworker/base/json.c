/*-------------------------------------------------------------------------
 *
 * base/json.c
 *	  JSON text from outside, parsed with Postgres' own jsonb_in.
 *
 * jsonb_in reports bad input with ERROR. The callers run on the event loop,
 * where an error must not unwind through libwebsockets or libuv, and where
 * bad JSON is an answer to a client rather than a failure: so the error is
 * caught here, in the caller's memory context, and becomes NULL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

#include "base/json.h"

JsonbContainer *
rtsync_json_parse_object(const char *text, size_t len)
{
	MemoryContext cxt = CurrentMemoryContext;
	Jsonb	   *volatile jb = NULL;

	PG_TRY();
	{
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
												CStringGetDatum(pnstrdup(text, len))));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		jb = NULL;
	}
	PG_END_TRY();
	if (jb == NULL || !JB_ROOT_IS_OBJECT(jb))
		return NULL;
	return &jb->root;
}

bool
rtsync_json_get(JsonbContainer *c, const char *key, JsonbValue *out)
{
	return c != NULL && getKeyJsonValueFromContainer(c, key, strlen(key), out) != NULL;
}

char *
rtsync_json_get_string(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (!rtsync_json_get(c, key, &v) || v.type != jbvString)
		return NULL;
	return pnstrdup(v.val.string.val, v.val.string.len);
}

bool
rtsync_json_get_string_value(JsonbContainer *c, const char *key, JsonbValue *v)
{
	return rtsync_json_get(c, key, v) && v->type == jbvString;
}

JsonbContainer *
rtsync_json_get_object(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (!rtsync_json_get(c, key, &v) || v.type != jbvBinary ||
		!JsonContainerIsObject(v.val.binary.data))
		return NULL;
	return v.val.binary.data;
}

JsonbContainer *
rtsync_json_get_array(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (!rtsync_json_get(c, key, &v) || v.type != jbvBinary ||
		!JsonContainerIsArray(v.val.binary.data))
		return NULL;
	return v.val.binary.data;
}

bool
rtsync_json_get_number(JsonbContainer *c, const char *key, double *out)
{
	JsonbValue	v;
	char	   *text;
	char	   *end;

	if (!rtsync_json_get(c, key, &v) || v.type != jbvNumeric)
		return false;
	/* numeric's own text, read as a double: past its range (1e400) is no number */
	text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
	errno = 0;
	*out = strtod(text, &end);
	return errno == 0 && *end == '\0' && !isinf(*out);
}
