/*-------------------------------------------------------------------------
 *
 * value_encode.c
 *	  Writes column values as JSON, in one of two formats:
 *
 *	  json	   plain JSON: integers and floats as numbers; numeric as a number
 *			   when a double holds it exactly (15 significant digits or
 *			   fewer) and as a string otherwise; NaN and +-Infinity as
 *			   strings; booleans; json/jsonb embedded (compacted); arrays as
 *			   JSON arrays; timestamptz as ISO 8601 UTC with "Z";
 *			   timestamp/date/time as ISO 8601; bytea as base64; anything
 *			   else as its output function's text.
 *	  dynamodb DynamoDB AttributeValue maps: S, N (a string), BOOL, NULL,
 *			   B (base64), M for JSON objects, L for arrays and JSON arrays.
 *
 * How each column is written is decided once per relation (see relinfo.c);
 * here we only switch on the chosen kind.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "common/shortest_dec.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "miscadmin.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "value_encode.h"

/* Numbers with more significant digits than this may not survive a double. */
#define MAX_EXACT_DIGITS 15
/* ... and neither may very small or very large ones. */
#define MAX_EXACT_NUMERIC_TEXT 300

void
rtsync_value_type_init(RtsyncValueType *type, Oid typid, MemoryContext cxt)
{
	Oid			base = getBaseType(typid);

	memset(type, 0, sizeof(*type));
	switch (base)
	{
		case INT2OID:
			type->kind = RTSYNC_KIND_INT2;
			return;
		case INT4OID:
			type->kind = RTSYNC_KIND_INT4;
			return;
		case INT8OID:
			type->kind = RTSYNC_KIND_INT8;
			return;
		case OIDOID:
			type->kind = RTSYNC_KIND_OID;
			return;
		case FLOAT4OID:
			type->kind = RTSYNC_KIND_FLOAT4;
			return;
		case FLOAT8OID:
			type->kind = RTSYNC_KIND_FLOAT8;
			return;
		case NUMERICOID:
			type->kind = RTSYNC_KIND_NUMERIC;
			return;
		case BOOLOID:
			type->kind = RTSYNC_KIND_BOOL;
			return;
		case JSONOID:
			type->kind = RTSYNC_KIND_JSON;
			return;
		case JSONBOID:
			type->kind = RTSYNC_KIND_JSONB;
			return;
		case TIMESTAMPTZOID:
			type->kind = RTSYNC_KIND_TIMESTAMPTZ;
			return;
		case TIMESTAMPOID:
			type->kind = RTSYNC_KIND_TIMESTAMP;
			return;
		case DATEOID:
			type->kind = RTSYNC_KIND_DATE;
			return;
		case TIMEOID:
			type->kind = RTSYNC_KIND_TIME;
			return;
		case BYTEAOID:
			type->kind = RTSYNC_KIND_BYTEA;
			return;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			type->kind = RTSYNC_KIND_TEXT;
			return;
		default:
			break;
	}

	type->elemtype = get_element_type(base);
	if (OidIsValid(type->elemtype))
	{
		type->kind = RTSYNC_KIND_ARRAY;
		get_typlenbyvalalign(type->elemtype, &type->elmlen, &type->elmbyval,
							 &type->elmalign);
		type->element = MemoryContextAlloc(cxt, sizeof(RtsyncValueType));
		rtsync_value_type_init(type->element, type->elemtype, cxt);
	}
	else
	{
		Oid			outfunc;
		bool		isvarlena;

		type->kind = RTSYNC_KIND_STRING;
		getTypeOutputInfo(base, &outfunc, &isvarlena);
		fmgr_info_cxt(outfunc, &type->output, cxt);
	}
}

/* Bytes below 0x20, '"' and '\\' need escaping in a JSON string. */
static const bool json_escape_needed[256] = {
	[0x00] = true, [0x01] = true, [0x02] = true, [0x03] = true,
	[0x04] = true, [0x05] = true, [0x06] = true, [0x07] = true,
	[0x08] = true, [0x09] = true, [0x0a] = true, [0x0b] = true,
	[0x0c] = true, [0x0d] = true, [0x0e] = true, [0x0f] = true,
	[0x10] = true, [0x11] = true, [0x12] = true, [0x13] = true,
	[0x14] = true, [0x15] = true, [0x16] = true, [0x17] = true,
	[0x18] = true, [0x19] = true, [0x1a] = true, [0x1b] = true,
	[0x1c] = true, [0x1d] = true, [0x1e] = true, [0x1f] = true,
	['"'] = true, ['\\'] = true,
};

/*
 * A JSON string, escaped exactly as escape_json() does it, but copying the
 * runs between escapes in one go instead of a byte at a time: large text
 * values are most of a record's bytes, and this made the decoder several
 * times faster on them (see bench/README.md). Takes a length, so text
 * values need no NUL-terminated copy.
 */
void
rtsync_json_append_string(StringInfo out, const char *str, size_t len)
{
	const char *end = str + len;
	const char *run = str;

	enlargeStringInfo(out, len + 2);
	out->data[out->len++] = '"';
	for (const char *p = str; p < end; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (likely(!json_escape_needed[c]))
			continue;
		appendBinaryStringInfo(out, run, p - run);
		switch (c)
		{
			case '"':
				appendBinaryStringInfo(out, "\\\"", 2);
				break;
			case '\\':
				appendBinaryStringInfo(out, "\\\\", 2);
				break;
			case '\b':
				appendBinaryStringInfo(out, "\\b", 2);
				break;
			case '\f':
				appendBinaryStringInfo(out, "\\f", 2);
				break;
			case '\n':
				appendBinaryStringInfo(out, "\\n", 2);
				break;
			case '\r':
				appendBinaryStringInfo(out, "\\r", 2);
				break;
			case '\t':
				appendBinaryStringInfo(out, "\\t", 2);
				break;
			default:
				appendStringInfo(out, "\\u%04x", c);
				break;
		}
		run = p + 1;
	}
	appendBinaryStringInfo(out, run, end - run);
	appendStringInfoChar(out, '"');
}

static void
append_string_len(StringInfo out, const char *str, size_t len, RtsyncFormat format)
{
	if (format == RTSYNC_FORMAT_DYNAMODB)
	{
		appendStringInfoString(out, "{\"S\":");
		rtsync_json_append_string(out, str, len);
		appendStringInfoChar(out, '}');
	}
	else
		rtsync_json_append_string(out, str, len);
}

static void
append_string(StringInfo out, const char *str, RtsyncFormat format)
{
	append_string_len(out, str, strlen(str), format);
}

/* Digits that are a valid JSON number, written as a number. */
static void
append_number(StringInfo out, const char *digits, int len, RtsyncFormat format)
{
	if (format == RTSYNC_FORMAT_DYNAMODB)
	{
		appendStringInfoString(out, "{\"N\":\"");
		appendBinaryStringInfo(out, digits, len);
		appendStringInfoString(out, "\"}");
	}
	else
		appendBinaryStringInfo(out, digits, len);
}

/* NaN and infinities are no JSON numbers: they are written as strings. */
static bool
append_special_double(StringInfo out, double d, RtsyncFormat format)
{
	if (isnan(d))
		append_string(out, "NaN", format);
	else if (isinf(d))
		append_string(out, d > 0 ? "Infinity" : "-Infinity", format);
	else
		return false;
	return true;
}

static bool
numeric_fits_double(const char *text)
{
	int			digits = 0;
	bool		leading = true;

	if (strlen(text) > MAX_EXACT_NUMERIC_TEXT)
		return false;
	for (const char *p = text; *p; p++)
	{
		if (*p < '0' || *p > '9')
			continue;
		if (leading && *p == '0')
			continue;
		leading = false;
		digits++;
	}
	return digits <= MAX_EXACT_DIGITS;
}

static void
append_numeric(StringInfo out, Datum value, RtsyncFormat format)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out, value));

	if (strcmp(text, "NaN") == 0 || strcmp(text, "Infinity") == 0 ||
		strcmp(text, "-Infinity") == 0)
		append_string(out, text, format);
	else if (format == RTSYNC_FORMAT_DYNAMODB || numeric_fits_double(text))
		append_number(out, text, strlen(text), format);
	else
		append_string(out, text, format);
	pfree(text);
}

/*
 * JSON text without the whitespace between tokens, so that a record never
 * spans lines and takes no more bytes than it needs.
 */
static void
append_compact_json(StringInfo out, const char *json)
{
	bool		in_string = false;
	bool		escaped = false;

	enlargeStringInfo(out, strlen(json));
	for (const char *p = json; *p; p++)
	{
		char		c = *p;

		if (in_string)
		{
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
			continue;
		out->data[out->len++] = c;
	}
	out->data[out->len] = '\0';
}

/* Before a key or element: a comma unless a container or key just opened. */
static void
separate(StringInfo out)
{
	char		last = out->len > 0 ? out->data[out->len - 1] : '\0';

	if (last != '[' && last != '{' && last != ':' && last != ',')
		appendStringInfoChar(out, ',');
}

static void
append_jsonb_scalar_av(StringInfo out, JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			appendStringInfoString(out, "{\"NULL\":true}");
			break;
		case jbvBool:
			appendStringInfoString(out, v->val.boolean ? "{\"BOOL\":true}" : "{\"BOOL\":false}");
			break;
		case jbvNumeric:
			{
				char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
																	   NumericGetDatum(v->val.numeric)));

				append_number(out, text, strlen(text), RTSYNC_FORMAT_DYNAMODB);
				break;
			}
		case jbvString:
			append_string(out, pnstrdup(v->val.string.val, v->val.string.len),
						  RTSYNC_FORMAT_DYNAMODB);
			break;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/* A jsonb document as a DynamoDB AttributeValue (objects M, arrays L). */
static void
append_jsonb_av(StringInfo out, JsonbContainer *root)
{
	JsonbIterator *it = JsonbIteratorInit(root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			depth = 0;
	bool		raw_scalar = false;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
				if (depth++ == 0 && v.val.array.rawScalar)
					raw_scalar = true;
				else
				{
					separate(out);
					appendStringInfoString(out, "{\"L\":[");
				}
				break;
			case WJB_END_ARRAY:
				if (!(--depth == 0 && raw_scalar))
					appendStringInfoString(out, "]}");
				break;
			case WJB_BEGIN_OBJECT:
				depth++;
				separate(out);
				appendStringInfoString(out, "{\"M\":{");
				break;
			case WJB_END_OBJECT:
				depth--;
				appendStringInfoString(out, "}}");
				break;
			case WJB_KEY:
				separate(out);
				escape_json(out, pnstrdup(v.val.string.val, v.val.string.len));
				appendStringInfoChar(out, ':');
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				separate(out);
				append_jsonb_scalar_av(out, &v);
				break;
			default:
				break;
		}
	}
}

static void
append_json(StringInfo out, const RtsyncValueType *type, Datum value,
			RtsyncFormat format)
{
	Jsonb	   *jb;

	if (format == RTSYNC_FORMAT_JSON)
	{
		if (type->kind == RTSYNC_KIND_JSON)
			append_compact_json(out, TextDatumGetCString(value));
		else
		{
			jb = DatumGetJsonbP(value);
			append_compact_json(out, JsonbToCString(NULL, &jb->root, VARSIZE(jb)));
		}
		return;
	}

	if (type->kind == RTSYNC_KIND_JSON)
		value = DirectFunctionCall1(jsonb_in,
									CStringGetDatum(TextDatumGetCString(value)));
	jb = DatumGetJsonbP(value);
	append_jsonb_av(out, &jb->root);
}

static void
append_bytea(StringInfo out, Datum value, RtsyncFormat format)
{
	bytea	   *b = DatumGetByteaPP(value);
	int			len = VARSIZE_ANY_EXHDR(b);
	int			enclen = pg_b64_enc_len(len);
	int			written;

	if (format == RTSYNC_FORMAT_DYNAMODB)
		appendStringInfoString(out, "{\"B\":");
	appendStringInfoChar(out, '"');
	enlargeStringInfo(out, enclen + 1);
	written = pg_b64_encode(VARDATA_ANY(b), len, out->data + out->len, enclen);
	if (written < 0)
		elog(ERROR, "could not encode bytea value as base64");
	out->len += written;
	out->data[out->len] = '\0';
	appendStringInfoChar(out, '"');
	if (format == RTSYNC_FORMAT_DYNAMODB)
		appendStringInfoChar(out, '}');
}

/* timestamp, timestamptz, date and time as ISO 8601 (XSD style, "T"). */
static void
append_datetime(StringInfo out, RtsyncValueKind kind, Datum value,
				RtsyncFormat format)
{
	char		buf[MAXDATELEN + 2];
	struct pg_tm tm;
	fsec_t		fsec;

	switch (kind)
	{
		case RTSYNC_KIND_TIMESTAMPTZ:
		case RTSYNC_KIND_TIMESTAMP:
			{
				Timestamp	ts = DatumGetTimestamp(value);

				if (TIMESTAMP_NOT_FINITE(ts))
				{
					append_string(out, TIMESTAMP_IS_NOBEGIN(ts) ? "-infinity" : "infinity", format);
					return;
				}
				/* without a time zone pointer, timestamp2tm gives UTC */
				if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("timestamp out of range")));
				EncodeDateTime(&tm, fsec, false, 0, NULL, USE_XSD_DATES, buf);
				if (kind == RTSYNC_KIND_TIMESTAMPTZ)
					strcat(buf, "Z");
				break;
			}
		case RTSYNC_KIND_DATE:
			{
				DateADT		date = DatumGetDateADT(value);

				if (DATE_NOT_FINITE(date))
				{
					append_string(out, DATE_IS_NOBEGIN(date) ? "-infinity" : "infinity", format);
					return;
				}
				j2date(date + POSTGRES_EPOCH_JDATE, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
				EncodeDateOnly(&tm, USE_XSD_DATES, buf);
				break;
			}
		case RTSYNC_KIND_TIME:
			time2tm(DatumGetTimeADT(value), &tm, &fsec);
			EncodeTimeOnly(&tm, fsec, false, 0, USE_XSD_DATES, buf);
			break;
		default:
			elog(ERROR, "unexpected date/time kind %d", (int) kind);
	}
	append_string(out, buf, format);
}

/* Writes one dimension of an array, recursing into the inner ones. */
static void
append_array_level(StringInfo out, const RtsyncValueType *type, int ndim,
				   const int *dims, Datum *elems, bool *nulls, int *next,
				   RtsyncFormat format)
{
	appendStringInfoString(out, format == RTSYNC_FORMAT_DYNAMODB ? "{\"L\":[" : "[");
	for (int i = 0; i < dims[0]; i++)
	{
		if (i > 0)
			appendStringInfoChar(out, ',');
		if (ndim > 1)
			append_array_level(out, type, ndim - 1, dims + 1, elems, nulls,
							   next, format);
		else
		{
			rtsync_value_append(out, type->element, elems[*next], nulls[*next],
								format);
			(*next)++;
		}
	}
	appendStringInfoString(out, format == RTSYNC_FORMAT_DYNAMODB ? "]}" : "]");
}

static void
append_array(StringInfo out, const RtsyncValueType *type, Datum value,
			 RtsyncFormat format)
{
	ArrayType  *arr = DatumGetArrayTypeP(value);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	int			next = 0;
	int			no_dims[1] = {0};

	deconstruct_array(arr, type->elemtype, type->elmlen, type->elmbyval,
					  type->elmalign, &elems, &nulls, &nelems);
	if (ARR_NDIM(arr) == 0)
		append_array_level(out, type, 1, no_dims, elems, nulls, &next, format);
	else
		append_array_level(out, type, ARR_NDIM(arr), ARR_DIMS(arr), elems,
						   nulls, &next, format);
}

/*
 * Appends one value. Memory it allocates belongs to the caller's context,
 * which the decoder resets after every change.
 */
void
rtsync_value_append(StringInfo out, const RtsyncValueType *type, Datum value,
					bool isnull, RtsyncFormat format)
{
	char		buf[MAXINT8LEN + 1];
	int			len;

	if (isnull)
	{
		appendStringInfoString(out, format == RTSYNC_FORMAT_DYNAMODB ?
							   "{\"NULL\":true}" : "null");
		return;
	}

	switch (type->kind)
	{
		case RTSYNC_KIND_INT2:
			len = pg_itoa(DatumGetInt16(value), buf);
			append_number(out, buf, len, format);
			break;
		case RTSYNC_KIND_INT4:
			len = pg_ltoa(DatumGetInt32(value), buf);
			append_number(out, buf, len, format);
			break;
		case RTSYNC_KIND_INT8:
			len = pg_lltoa(DatumGetInt64(value), buf);
			append_number(out, buf, len, format);
			break;
		case RTSYNC_KIND_OID:
			len = pg_ultoa_n(DatumGetObjectId(value), buf);
			append_number(out, buf, len, format);
			break;
		case RTSYNC_KIND_FLOAT4:
			{
				float		f = DatumGetFloat4(value);
				char		fbuf[FLOAT_SHORTEST_DECIMAL_LEN];

				if (!append_special_double(out, f, format))
					append_number(out, fbuf, float_to_shortest_decimal_buf(f, fbuf), format);
				break;
			}
		case RTSYNC_KIND_FLOAT8:
			{
				double		d = DatumGetFloat8(value);
				char		dbuf[DOUBLE_SHORTEST_DECIMAL_LEN];

				if (!append_special_double(out, d, format))
					append_number(out, dbuf, double_to_shortest_decimal_buf(d, dbuf), format);
				break;
			}
		case RTSYNC_KIND_NUMERIC:
			append_numeric(out, value, format);
			break;
		case RTSYNC_KIND_BOOL:
			if (format == RTSYNC_FORMAT_DYNAMODB)
				appendStringInfoString(out, DatumGetBool(value) ?
									   "{\"BOOL\":true}" : "{\"BOOL\":false}");
			else
				appendStringInfoString(out, DatumGetBool(value) ? "true" : "false");
			break;
		case RTSYNC_KIND_JSON:
		case RTSYNC_KIND_JSONB:
			append_json(out, type, value, format);
			break;
		case RTSYNC_KIND_TIMESTAMPTZ:
		case RTSYNC_KIND_TIMESTAMP:
		case RTSYNC_KIND_DATE:
		case RTSYNC_KIND_TIME:
			append_datetime(out, type->kind, value, format);
			break;
		case RTSYNC_KIND_BYTEA:
			append_bytea(out, value, format);
			break;
		case RTSYNC_KIND_ARRAY:
			append_array(out, type, value, format);
			break;
		case RTSYNC_KIND_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				append_string_len(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), format);
				break;
			}
		case RTSYNC_KIND_STRING:
			append_string(out, OutputFunctionCall((FmgrInfo *) &type->output, value),
						  format);
			break;
	}
}
