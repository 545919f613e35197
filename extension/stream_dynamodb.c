/*-------------------------------------------------------------------------
 *
 * stream_dynamodb.c
 *	  rtsync._record_dynamodb(tbl, record): a kept stream record, which the
 *	  worker keeps in the plugin's json format, rewritten byte for byte as
 *	  the plugin writes it in its dynamodb format (get_records(...,
 *	  format => 'dynamodb'); sql/stream_read.sql).
 *
 * The two formats differ only in the values of Keys, OldKeys, NewImage
 * and OldImage, and so in SizeBytes (the bytes from Keys up to SizeBytes).
 * Each value is rewritten by the kind value_encode.c gives its column's
 * type, from the JSON token the json format wrote for it: the token's
 * bytes are kept as they are (a string keeps its escapes), so the result
 * is exactly what value_encode.c writes for the same Datum, without
 * rebuilding the Datum. Only json and jsonb values are parsed again (into
 * jsonb, as the plugin does in dynamodb format).
 *
 * The column types are the table's now: a column dropped since the record
 * was kept, or a value whose token does not fit its column's kind (its type
 * changed since), is written by its JSON shape alone (string S, number N,
 * true/false BOOL, objects and arrays M and L).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/jsonfuncs.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "stream_dynamodb.h"
#include "value_encode.h"

/* A live column of the table: its key as the record writes it, its kind. */
typedef struct DdbColumn
{
	char	   *json_key;		/* the quoted, escaped name */
	int			json_key_len;
	RtsyncValueType type;
} DdbColumn;

/* The table's columns, kept in fn_extra for the rest of the query. */
typedef struct DdbTable
{
	Oid			relid;
	int			ncolumns;
	DdbColumn  *columns;
	int			hint;			/* where the next key is looked for first */
} DdbTable;

typedef struct Rewriter
{
	JsonLexContext *lex;
	JsonTokenType token;		/* the current token */
	StringInfo	out;
	DdbTable   *table;
} Rewriter;

static const RtsyncValueType jsonb_kind = {.kind = RTSYNC_KIND_JSONB};

static void
advance(Rewriter *rw)
{
	JsonParseErrorType err = json_lex(rw->lex);

	if (err != JSON_SUCCESS)
		json_ereport_error(err, rw->lex);
	rw->token = rw->lex->token_type;
}

static void
expect(Rewriter *rw, JsonTokenType token)
{
	if (rw->token != token)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("a kept stream record is not shaped as the rtsync plugin writes it"),
				 errdetail("Unexpected token at byte %d.",
						   (int) (rw->lex->token_start - rw->lex->input))));
	advance(rw);
}

/* The current token's bytes, as the record has them. */
static void
copy_token(Rewriter *rw)
{
	appendBinaryStringInfo(rw->out, rw->lex->token_start,
						   rw->lex->token_terminator - rw->lex->token_start);
}

static bool
token_is(Rewriter *rw, const char *quoted)
{
	size_t		len = strlen(quoted);

	return rw->lex->token_terminator - rw->lex->token_start == len &&
		memcmp(rw->lex->token_start, quoted, len) == 0;
}

/* Copies the value that starts at the current token, and moves past it. */
static void
copy_value(Rewriter *rw)
{
	int			depth = 0;

	do
	{
		if (rw->token == JSON_TOKEN_OBJECT_START || rw->token == JSON_TOKEN_ARRAY_START)
			depth++;
		else if (rw->token == JSON_TOKEN_OBJECT_END || rw->token == JSON_TOKEN_ARRAY_END)
			depth--;
		else if (rw->token == JSON_TOKEN_END)
			expect(rw, JSON_TOKEN_INVALID);
		copy_token(rw);
		advance(rw);
	} while (depth > 0);
}

/* The JSON text of the value at the current token, moving past it. */
static char *
take_value_text(Rewriter *rw)
{
	StringInfo	saved = rw->out;
	StringInfoData text;

	initStringInfo(&text);
	rw->out = &text;
	copy_value(rw);
	rw->out = saved;
	return text.data;
}

/* A JSON value as DynamoDB AttributeValues, parsed as jsonb. */
static void
append_parsed(Rewriter *rw)
{
	char	   *text = take_value_text(rw);

	rtsync_value_append(rw->out, &jsonb_kind,
						DirectFunctionCall1(jsonb_in, CStringGetDatum(text)),
						false, RTSYNC_FORMAT_DYNAMODB);
	pfree(text);
}

/* {"<tag>":<the current token>} */
static void
wrap_token(Rewriter *rw, const char *tag)
{
	appendStringInfo(rw->out, "{\"%s\":", tag);
	copy_token(rw);
	appendStringInfoChar(rw->out, '}');
	advance(rw);
}

/* {"N":"<the current number token>"} */
static void
number_token(Rewriter *rw)
{
	appendStringInfoString(rw->out, "{\"N\":\"");
	copy_token(rw);
	appendStringInfoString(rw->out, "\"}");
	advance(rw);
}

static bool
is_special_number(Rewriter *rw)
{
	return token_is(rw, "\"NaN\"") || token_is(rw, "\"Infinity\"") ||
		token_is(rw, "\"-Infinity\"");
}

static void rewrite_value(Rewriter *rw, const RtsyncValueType *type);

/* A Postgres array (json format: nested JSON arrays) as nested L. */
static void
rewrite_array(Rewriter *rw, const RtsyncValueType *element)
{
	bool		first = true;

	expect(rw, JSON_TOKEN_ARRAY_START);
	appendStringInfoString(rw->out, "{\"L\":[");
	while (rw->token != JSON_TOKEN_ARRAY_END)
	{
		if (!first)
			expect(rw, JSON_TOKEN_COMMA);
		if (!first)
			appendStringInfoChar(rw->out, ',');
		first = false;
		if (rw->token == JSON_TOKEN_ARRAY_START)
			rewrite_array(rw, element);
		else
			rewrite_value(rw, element);
	}
	advance(rw);
	appendStringInfoString(rw->out, "]}");
}

/*
 * One value, of a column of this kind (NULL: unknown), as value_encode.c
 * writes it in dynamodb format.
 */
static void
rewrite_value(Rewriter *rw, const RtsyncValueType *type)
{
	JsonTokenType token = rw->token;
	bool		string = token == JSON_TOKEN_STRING;

	if (token == JSON_TOKEN_NULL)
	{
		appendStringInfoString(rw->out, "{\"NULL\":true}");
		advance(rw);
		return;
	}
	if (type != NULL)
	{
		switch (type->kind)
		{
			case RTSYNC_KIND_INT2:
			case RTSYNC_KIND_INT4:
			case RTSYNC_KIND_INT8:
			case RTSYNC_KIND_OID:
			case RTSYNC_KIND_FLOAT4:
			case RTSYNC_KIND_FLOAT8:
				/* NaN and the infinities are strings in both formats */
				if (token == JSON_TOKEN_NUMBER)
					return number_token(rw);
				if (string && is_special_number(rw))
					return wrap_token(rw, "S");
				break;
			case RTSYNC_KIND_NUMERIC:
				/* json writes what a double cannot hold as a string */
				if (token == JSON_TOKEN_NUMBER)
					return number_token(rw);
				if (string)
					return wrap_token(rw, is_special_number(rw) ? "S" : "N");
				break;
			case RTSYNC_KIND_BOOL:
				if (token == JSON_TOKEN_TRUE || token == JSON_TOKEN_FALSE)
					return wrap_token(rw, "BOOL");
				break;
			case RTSYNC_KIND_JSON:
			case RTSYNC_KIND_JSONB:
				return append_parsed(rw);
			case RTSYNC_KIND_BYTEA:
				/* base64 in both formats */
				if (string)
					return wrap_token(rw, "B");
				break;
			case RTSYNC_KIND_ARRAY:
				if (token == JSON_TOKEN_ARRAY_START)
					return rewrite_array(rw, type->element);
				break;
			case RTSYNC_KIND_TIMESTAMPTZ:
			case RTSYNC_KIND_TIMESTAMP:
			case RTSYNC_KIND_DATE:
			case RTSYNC_KIND_TIME:
			case RTSYNC_KIND_TEXT:
			case RTSYNC_KIND_STRING:
				if (string)
					return wrap_token(rw, "S");
				break;
		}
	}
	/* by its shape alone */
	if (string)
		wrap_token(rw, "S");
	else if (token == JSON_TOKEN_NUMBER)
		number_token(rw);
	else if (token == JSON_TOKEN_TRUE || token == JSON_TOKEN_FALSE)
		wrap_token(rw, "BOOL");
	else
		append_parsed(rw);
}

/* The column whose key the current token is; NULL if there is none now. */
static const RtsyncValueType *
column_of_key(Rewriter *rw)
{
	DdbTable   *t = rw->table;
	const char *key = rw->lex->token_start;
	int			len = rw->lex->token_terminator - key;

	for (int n = 0; n < t->ncolumns; n++)
	{
		int			c = (t->hint + n) % t->ncolumns;
		DdbColumn  *col = &t->columns[c];

		if (col->json_key_len == len && memcmp(col->json_key, key, len) == 0)
		{
			t->hint = (c + 1) % t->ncolumns;
			return &col->type;
		}
	}
	return NULL;
}

/* Keys, OldKeys or an image: {"column":value,...}. */
static void
rewrite_image(Rewriter *rw)
{
	bool		first = true;

	rw->table->hint = 0;
	expect(rw, JSON_TOKEN_OBJECT_START);
	appendStringInfoChar(rw->out, '{');
	while (rw->token != JSON_TOKEN_OBJECT_END)
	{
		const RtsyncValueType *type;

		if (!first)
		{
			expect(rw, JSON_TOKEN_COMMA);
			appendStringInfoChar(rw->out, ',');
		}
		first = false;
		if (rw->token != JSON_TOKEN_STRING)
			expect(rw, JSON_TOKEN_STRING);
		type = column_of_key(rw);
		copy_token(rw);
		advance(rw);
		expect(rw, JSON_TOKEN_COLON);
		appendStringInfoChar(rw->out, ':');
		rewrite_value(rw, type);
	}
	advance(rw);
	appendStringInfoChar(rw->out, '}');
}

/* The "dynamodb" object: its images rewritten, SizeBytes counted again. */
static void
rewrite_dynamodb(Rewriter *rw)
{
	bool		first = true;
	int			images_start = -1;

	expect(rw, JSON_TOKEN_OBJECT_START);
	appendStringInfoChar(rw->out, '{');
	while (rw->token != JSON_TOKEN_OBJECT_END)
	{
		bool		image;

		if (!first)
		{
			expect(rw, JSON_TOKEN_COMMA);
			appendStringInfoChar(rw->out, ',');
		}
		first = false;
		if (rw->token != JSON_TOKEN_STRING)
			expect(rw, JSON_TOKEN_STRING);
		image = token_is(rw, "\"Keys\"") || token_is(rw, "\"OldKeys\"") ||
			token_is(rw, "\"NewImage\"") || token_is(rw, "\"OldImage\"");
		if (token_is(rw, "\"Keys\""))
			images_start = rw->out->len;
		if (token_is(rw, "\"SizeBytes\"") && images_start >= 0)
		{
			int			size = rw->out->len - images_start;

			advance(rw);
			expect(rw, JSON_TOKEN_COLON);
			if (rw->token != JSON_TOKEN_NUMBER)
				expect(rw, JSON_TOKEN_NUMBER);
			advance(rw);
			appendStringInfo(rw->out, "\"SizeBytes\":%d", size);
			continue;
		}
		copy_token(rw);
		advance(rw);
		expect(rw, JSON_TOKEN_COLON);
		appendStringInfoChar(rw->out, ':');
		if (image)
			rewrite_image(rw);
		else
			copy_value(rw);
	}
	advance(rw);
	appendStringInfoChar(rw->out, '}');
}

static void
rewrite_record(Rewriter *rw)
{
	bool		first = true;

	advance(rw);
	expect(rw, JSON_TOKEN_OBJECT_START);
	appendStringInfoChar(rw->out, '{');
	while (rw->token != JSON_TOKEN_OBJECT_END)
	{
		bool		dynamodb;

		if (!first)
		{
			expect(rw, JSON_TOKEN_COMMA);
			appendStringInfoChar(rw->out, ',');
		}
		first = false;
		if (rw->token != JSON_TOKEN_STRING)
			expect(rw, JSON_TOKEN_STRING);
		dynamodb = token_is(rw, "\"dynamodb\"");
		copy_token(rw);
		advance(rw);
		expect(rw, JSON_TOKEN_COLON);
		appendStringInfoChar(rw->out, ':');
		if (dynamodb)
			rewrite_dynamodb(rw);
		else
			copy_value(rw);
	}
	advance(rw);
	appendStringInfoChar(rw->out, '}');
	expect(rw, JSON_TOKEN_END);
}

/* The table's live columns, with the keys and kinds the plugin uses. */
static DdbTable *
table_columns(Oid relid, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	DdbTable   *t = palloc0(sizeof(DdbTable));
	StringInfoData key;

	t->relid = relid;
	t->columns = palloc0(sizeof(DdbColumn) * Max(desc->natts, 1));
	initStringInfo(&key);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		DdbColumn  *col;

		if (att->attisdropped)
			continue;
		col = &t->columns[t->ncolumns++];
		resetStringInfo(&key);
		escape_json(&key, NameStr(att->attname));
		col->json_key = pstrdup(key.data);
		col->json_key_len = key.len;
		rtsync_value_type_init(&col->type, att->atttypid, cxt);
	}
	pfree(key.data);
	relation_close(rel, NoLock);
	MemoryContextSwitchTo(old);
	return t;
}

PG_FUNCTION_INFO_V1(rtsync_record_dynamodb);

Datum
rtsync_record_dynamodb(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	text	   *record = PG_GETARG_TEXT_PP(1);
	DdbTable   *table = fcinfo->flinfo->fn_extra;
	StringInfoData out;
	Rewriter	rw;

	if (table == NULL || table->relid != relid)
	{
		table = table_columns(relid, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = table;
	}
	initStringInfo(&out);
	enlargeStringInfo(&out, VARSIZE_ANY_EXHDR(record) * 2);
	rw.lex = makeJsonLexContextCstringLen(VARDATA_ANY(record),
										  VARSIZE_ANY_EXHDR(record),
										  GetDatabaseEncoding(), false);
	rw.out = &out;
	rw.table = table;
	rewrite_record(&rw);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
