/*-------------------------------------------------------------------------
 *
 * pg_shim.c
 *	  Just enough of the PostgreSQL backend's runtime to run rtsync's pure
 *	  modules (the GraphQL lexer, parser, validator and planners) in a
 *	  stand-alone program: a fuzzer or a benchmark.
 *
 * Memory contexts are built on malloc, one malloc per palloc, so that
 * AddressSanitizer sees every chunk's bounds (aset.c's blocks would hide an
 * overrun inside a block). Each chunk is preceded by its context pointer,
 * as GetMemoryChunkContext() expects, and is linked into its context, so
 * that deleting a context frees everything in it.
 *
 * ereport(ERROR) longjmps to the innermost PG_TRY, as in the backend; an
 * ERROR outside any PG_TRY, FATAL and PANIC abort() (the fuzzer reports a
 * crash). Lower levels are ignored.
 *
 * DirectFunctionCall is the backend's, in a few lines. Everything else the
 * linked backend code (list.c, dynahash.c, numeric.c, jsonb*.c, from the
 * server's LLVM bitcode) refers to but the planner never reaches is a stub
 * that names itself and aborts (see pg_stubs.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/jsonapi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "nodes/memnodes.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonfuncs.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

/* ------------------------------------------------------------------------
 * Memory contexts
 * ------------------------------------------------------------------------
 */

/* Every chunk's header; the context pointer must come last (no padding). */
typedef struct ShimChunk
{
	struct ShimChunk *prev;
	struct ShimChunk *next;
	Size		size;
	MemoryContext context;
} ShimChunk;

typedef struct ShimContext
{
	MemoryContextData base;
	ShimChunk	head;			/* circular list of chunks */
} ShimContext;

StaticAssertDecl(sizeof(ShimChunk) % MAXIMUM_ALIGNOF == 0, "chunk header alignment");

MemoryContext CurrentMemoryContext = NULL;
MemoryContext TopMemoryContext = NULL;
MemoryContext ErrorContext = NULL;

/* Bytes allocated and the most ever allocated at once (for benchmarks). */
Size		rtsync_shim_allocated = 0;
Size		rtsync_shim_peak = 0;

static ShimContext *
shim_new_context(MemoryContext parent, const char *name)
{
	ShimContext *c = calloc(1, sizeof(ShimContext));

	if (c == NULL)
		abort();
	c->base.type = T_AllocSetContext;
	c->base.name = name;
	c->base.parent = parent;
	c->head.prev = c->head.next = &c->head;
	if (parent)
	{
		c->base.nextchild = parent->firstchild;
		if (parent->firstchild)
			parent->firstchild->prevchild = &c->base;
		parent->firstchild = &c->base;
	}
	return c;
}

/* Sets up TopMemoryContext; call before anything else. */
void
rtsync_shim_init(void)
{
	if (TopMemoryContext != NULL)
		return;
	TopMemoryContext = &shim_new_context(NULL, "TopMemoryContext")->base;
	ErrorContext = &shim_new_context(TopMemoryContext, "ErrorContext")->base;
	CurrentMemoryContext = TopMemoryContext;
}

MemoryContext
AllocSetContextCreateInternal(MemoryContext parent, const char *name,
							  Size minContextSize, Size initBlockSize,
							  Size maxBlockSize)
{
	return &shim_new_context(parent, name)->base;
}

static void
unlink_child(MemoryContext context)
{
	MemoryContext parent = context->parent;

	if (parent == NULL)
		return;
	if (context->prevchild)
		context->prevchild->nextchild = context->nextchild;
	else
		parent->firstchild = context->nextchild;
	if (context->nextchild)
		context->nextchild->prevchild = context->prevchild;
	context->parent = context->prevchild = context->nextchild = NULL;
}

static void
free_chunks(ShimContext *c)
{
	ShimChunk  *ch = c->head.next;

	while (ch != &c->head)
	{
		ShimChunk  *next = ch->next;

		rtsync_shim_allocated -= ch->size;
		free(ch);
		ch = next;
	}
	c->head.prev = c->head.next = &c->head;
}

void
MemoryContextDelete(MemoryContext context)
{
	while (context->firstchild)
		MemoryContextDelete(context->firstchild);
	unlink_child(context);
	free_chunks((ShimContext *) context);
	if (context == CurrentMemoryContext)
		CurrentMemoryContext = TopMemoryContext;
	free(context);
}

void
MemoryContextReset(MemoryContext context)
{
	while (context->firstchild)
		MemoryContextDelete(context->firstchild);
	free_chunks((ShimContext *) context);
}

void
MemoryContextSetParent(MemoryContext context, MemoryContext new_parent)
{
	unlink_child(context);
	context->parent = new_parent;
	if (new_parent)
	{
		context->nextchild = new_parent->firstchild;
		if (new_parent->firstchild)
			new_parent->firstchild->prevchild = context;
		new_parent->firstchild = context;
	}
}

void
MemoryContextSetIdentifier(MemoryContext context, const char *id)
{
	context->ident = id;
}

static void *
shim_alloc(MemoryContext context, Size size, bool zero)
{
	ShimContext *c = (ShimContext *) context;
	ShimChunk  *ch;

	if (!AllocSizeIsValid(size) && size > MaxAllocHugeSize)
		elog(ERROR, "invalid memory alloc request size %zu", size);
	ch = zero ? calloc(1, sizeof(ShimChunk) + size) : malloc(sizeof(ShimChunk) + size);
	if (ch == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	ch->size = size;
	ch->context = context;
	ch->next = c->head.next;
	ch->prev = &c->head;
	c->head.next->prev = ch;
	c->head.next = ch;
	rtsync_shim_allocated += size;
	if (rtsync_shim_allocated > rtsync_shim_peak)
		rtsync_shim_peak = rtsync_shim_allocated;
	return ch + 1;
}

void *
MemoryContextAlloc(MemoryContext context, Size size)
{
	return shim_alloc(context, size, false);
}

void *
MemoryContextAllocZero(MemoryContext context, Size size)
{
	return shim_alloc(context, size, true);
}

void *
MemoryContextAllocZeroAligned(MemoryContext context, Size size)
{
	return shim_alloc(context, size, true);
}

void *
MemoryContextAllocExtended(MemoryContext context, Size size, int flags)
{
	return shim_alloc(context, size, (flags & MCXT_ALLOC_ZERO) != 0);
}

void *
MemoryContextAllocHuge(MemoryContext context, Size size)
{
	return shim_alloc(context, size, false);
}

void *
palloc(Size size)
{
	return shim_alloc(CurrentMemoryContext, size, false);
}

void *
palloc0(Size size)
{
	return shim_alloc(CurrentMemoryContext, size, true);
}

void *
palloc_extended(Size size, int flags)
{
	return shim_alloc(CurrentMemoryContext, size, (flags & MCXT_ALLOC_ZERO) != 0);
}

void
pfree(void *pointer)
{
	ShimChunk  *ch = ((ShimChunk *) pointer) - 1;

	ch->prev->next = ch->next;
	ch->next->prev = ch->prev;
	rtsync_shim_allocated -= ch->size;
	free(ch);
}

void *
repalloc(void *pointer, Size size)
{
	ShimChunk  *ch = ((ShimChunk *) pointer) - 1;
	void	   *copy = shim_alloc(ch->context, size, false);

	memcpy(copy, pointer, Min(size, ch->size));
	pfree(pointer);
	return copy;
}

void *
repalloc_huge(void *pointer, Size size)
{
	return repalloc(pointer, size);
}

Size
GetMemoryChunkSpace(void *pointer)
{
	return (((ShimChunk *) pointer) - 1)->size + sizeof(ShimChunk);
}

char *
MemoryContextStrdup(MemoryContext context, const char *string)
{
	Size		len = strlen(string) + 1;
	char	   *copy = shim_alloc(context, len, false);

	memcpy(copy, string, len);
	return copy;
}

char *
pstrdup(const char *in)
{
	return MemoryContextStrdup(CurrentMemoryContext, in);
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

Size
add_size(Size s1, Size s2)
{
	Size		result = s1 + s2;

	if (result < s1 || result < s2)
		elog(ERROR, "requested shared memory size overflows size_t");
	return result;
}

Size
mul_size(Size s1, Size s2)
{
	Size		result;

	if (s1 == 0 || s2 == 0)
		return 0;
	result = s1 * s2;
	if (result / s2 != s1)
		elog(ERROR, "requested shared memory size overflows size_t");
	return result;
}

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------
 */

sigjmp_buf *PG_exception_stack = NULL;
ErrorContextCallback *error_context_stack = NULL;

/* The error being reported (one at a time: no recursion here). */
static ErrorData shim_error;
static bool shim_error_pending = false;

bool
errstart(int elevel, const char *domain)
{
	if (elevel < ERROR)
		return false;			/* nobody reads a fuzzer's log */
	if (shim_error_pending && shim_error.elevel >= ERROR)
	{
		fprintf(stderr, "pg_shim: an ERROR while reporting an ERROR\n");
		abort();
	}
	memset(&shim_error, 0, sizeof(shim_error));
	shim_error.elevel = elevel;
	shim_error.sqlerrcode = ERRCODE_INTERNAL_ERROR;
	shim_error_pending = true;
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

int
errcode(int sqlerrcode)
{
	shim_error.sqlerrcode = sqlerrcode;
	return 0;
}

/* The message, formatted in ErrorContext (freed by FlushErrorState). */
static char *
shim_format(const char *fmt, va_list args)
{
	MemoryContext old = MemoryContextSwitchTo(ErrorContext);
	size_t		len = 128;
	char	   *buf;

	for (;;)
	{
		va_list		copy;
		size_t		needed;

		buf = palloc(len);
		va_copy(copy, args);
		needed = pvsnprintf(buf, len, fmt, copy);
		va_end(copy);
		if (needed < len)
			break;
		pfree(buf);
		len = needed + 1;
	}
	MemoryContextSwitchTo(old);
	return buf;
}

#define SHIM_FORMAT(field) \
	do { \
		va_list		args; \
		va_start(args, fmt); \
		shim_error.field = shim_format(fmt, args); \
		va_end(args); \
	} while (0)

int
errmsg(const char *fmt,...)
{
	SHIM_FORMAT(message);
	return 0;
}

int
errmsg_internal(const char *fmt,...)
{
	SHIM_FORMAT(message);
	return 0;
}

int
errdetail(const char *fmt,...)
{
	SHIM_FORMAT(detail);
	return 0;
}

int
errdetail_internal(const char *fmt,...)
{
	SHIM_FORMAT(detail);
	return 0;
}

int
errhint(const char *fmt,...)
{
	SHIM_FORMAT(hint);
	return 0;
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	shim_error.filename = filename;
	shim_error.lineno = lineno;
	shim_error.funcname = funcname;
	if (shim_error.elevel == ERROR && PG_exception_stack != NULL)
		siglongjmp(*PG_exception_stack, 1);
	fprintf(stderr, "pg_shim: unexpected %s at %s:%d (%s): %s\n",
			shim_error.elevel == ERROR ? "ERROR outside PG_TRY" : "FATAL or PANIC",
			filename, lineno, funcname ? funcname : "?",
			shim_error.message ? shim_error.message : "(no message)");
	abort();
}

ErrorData *
CopyErrorData(void)
{
	ErrorData  *copy = palloc(sizeof(ErrorData));

	*copy = shim_error;
	copy->message = pstrdup(shim_error.message ? shim_error.message : "");
	copy->detail = shim_error.detail ? pstrdup(shim_error.detail) : NULL;
	copy->hint = shim_error.hint ? pstrdup(shim_error.hint) : NULL;
	return copy;
}

void
FreeErrorData(ErrorData *edata)
{
	pfree(edata->message);
	if (edata->detail)
		pfree(edata->detail);
	if (edata->hint)
		pfree(edata->hint);
	pfree(edata);
}

void
FlushErrorState(void)
{
	shim_error_pending = false;
	memset(&shim_error, 0, sizeof(shim_error));
	MemoryContextReset(ErrorContext);
}

/* What the last ERROR said (after a PG_CATCH). */
const char *
rtsync_shim_last_error(void)
{
	return shim_error.message;
}

/* ------------------------------------------------------------------------
 * fmgr and odds and ends
 * ------------------------------------------------------------------------
 */

#define SHIM_CALL(n, ...) \
	LOCAL_FCINFO(fcinfo, n); \
	Datum		result; \
	InitFunctionCallInfoData(*fcinfo, NULL, n, collation, NULL, NULL); \
	__VA_ARGS__; \
	result = (*func) (fcinfo); \
	if (fcinfo->isnull) \
		elog(ERROR, "function %p returned NULL", (void *) func); \
	return result

#define SHIM_ARG(i, v) \
	(fcinfo->args[i].value = (v), fcinfo->args[i].isnull = false)

Datum
DirectFunctionCall1Coll(PGFunction func, Oid collation, Datum arg1)
{
	SHIM_CALL(1, SHIM_ARG(0, arg1));
}

Datum
DirectFunctionCall2Coll(PGFunction func, Oid collation, Datum arg1, Datum arg2)
{
	SHIM_CALL(2, SHIM_ARG(0, arg1); SHIM_ARG(1, arg2));
}

Datum
DirectFunctionCall3Coll(PGFunction func, Oid collation, Datum arg1, Datum arg2,
						Datum arg3)
{
	SHIM_CALL(3, SHIM_ARG(0, arg1); SHIM_ARG(1, arg2); SHIM_ARG(2, arg3));
}

/* Nothing here is ever toasted; a short header becomes a 4-byte one. */
struct varlena *
pg_detoast_datum(struct varlena *datum)
{
	if (VARATT_IS_EXTERNAL(datum) || VARATT_IS_COMPRESSED(datum))
		elog(ERROR, "pg_shim: toasted datum");
	if (VARATT_IS_SHORT(datum))
	{
		Size		len = VARSIZE_SHORT(datum) - VARHDRSZ_SHORT;
		struct varlena *copy = palloc(len + VARHDRSZ);

		SET_VARSIZE(copy, len + VARHDRSZ);
		memcpy(VARDATA(copy), VARDATA_SHORT(datum), len);
		return copy;
	}
	return datum;
}

struct varlena *
pg_detoast_datum_copy(struct varlena *datum)
{
	struct varlena *result = pg_detoast_datum(datum);

	if (result == datum)
	{
		result = palloc(VARSIZE(datum));
		memcpy(result, datum, VARSIZE(datum));
	}
	return result;
}

struct varlena *
pg_detoast_datum_packed(struct varlena *datum)
{
	if (VARATT_IS_EXTERNAL(datum) || VARATT_IS_COMPRESSED(datum))
		elog(ERROR, "pg_shim: toasted datum");
	return datum;
}

int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

int
GetCurrentTransactionNestLevel(void)
{
	return 1;
}

bool		check_function_bodies = true;
volatile sig_atomic_t InterruptPending = false;

void
check_stack_depth(void)
{
}

void
ProcessInterrupts(void)
{
}

/* ------------------------------------------------------------------------
 * Small functions of the backend, rewritten (their files pull in too much)
 * ------------------------------------------------------------------------
 */

char	   *GUC_check_errmsg_string;
char	   *GUC_check_errdetail_string;
char	   *GUC_check_errhint_string;

void
pre_format_elog_string(int errnumber, const char *domain)
{
}

char *
format_elog_string(const char *fmt,...)
{
	va_list		args;
	char	   *result;

	va_start(args, fmt);
	result = shim_format(fmt, args);
	va_end(args);
	return result;
}

text *
cstring_to_text(const char *s)
{
	size_t		len = strlen(s);
	text	   *t = palloc(len + VARHDRSZ);

	SET_VARSIZE(t, len + VARHDRSZ);
	memcpy(VARDATA(t), s, len);
	return t;
}

char *
text_to_cstring(const text *t)
{
	text	   *tunpacked = (text *) pg_detoast_datum_packed((struct varlena *) t);

	return pnstrdup(VARDATA_ANY(tunpacked), VARSIZE_ANY_EXHDR(tunpacked));
}

/* Quotes unless lower case letters, digits and underscores (no keyword list). */
const char *
quote_identifier(const char *ident)
{
	bool		safe = (ident[0] >= 'a' && ident[0] <= 'z') || ident[0] == '_';
	StringInfoData buf;

	for (const char *p = ident; *p && safe; p++)
		safe = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
	if (safe)
		return ident;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '"');
	for (const char *p = ident; *p; p++)
	{
		if (*p == '"')
			appendStringInfoChar(&buf, '"');
		appendStringInfoChar(&buf, *p);
	}
	appendStringInfoChar(&buf, '"');
	return buf.data;
}

void
escape_json(StringInfo buf, const char *str)
{
	appendStringInfoChar(buf, '"');
	for (const char *p = str; *p; p++)
	{
		switch (*p)
		{
			case '\b':
				appendStringInfoString(buf, "\\b");
				break;
			case '\f':
				appendStringInfoString(buf, "\\f");
				break;
			case '\n':
				appendStringInfoString(buf, "\\n");
				break;
			case '\r':
				appendStringInfoString(buf, "\\r");
				break;
			case '\t':
				appendStringInfoString(buf, "\\t");
				break;
			case '"':
				appendStringInfoString(buf, "\\\"");
				break;
			case '\\':
				appendStringInfoString(buf, "\\\\");
				break;
			default:
				if ((unsigned char) *p < ' ')
					appendStringInfo(buf, "\\u%04x", (int) *p);
				else
					appendStringInfoCharMacro(buf, *p);
				break;
		}
	}
	appendStringInfoChar(buf, '"');
}

/* Byte order: the fuzzer has no collations. */
int
varstr_cmp(const char *arg1, int len1, const char *arg2, int len2, Oid collid)
{
	int			r = memcmp(arg1, arg2, Min(len1, len2));

	if (r == 0 && len1 != len2)
		r = len1 < len2 ? -1 : 1;
	return r;
}

char *
json_errdetail(JsonParseErrorType error, JsonLexContext *lex)
{
	return psprintf("JSON parse error %d.", (int) error);
}

void
pg_parse_json_or_ereport(JsonLexContext *lex, JsonSemAction *sem)
{
	JsonParseErrorType result = pg_parse_json(lex, sem);

	if (result != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type json"),
				 errdetail("%s", json_errdetail(result, lex))));
}
