/*-------------------------------------------------------------------------
 *
 * graphql/parser.c
 *	  A recursive-descent parser for GraphQL executable documents (GraphQL
 *	  spec, October 2021, section 2), producing the tree of graphql/ast.h.
 *
 * The grammar and the error messages follow graphql-js (parser.ts), less
 * the type-system definitions, which are refused: the worker only ever
 * executes documents.  Errors do not unwind: every function returns NULL or
 * false after recording the first error, and its callers return at once.
 * The lexer turns a malformed token into an error token (its message
 * already recorded), which no rule accepts, so lexing errors surface through
 * the same paths.  Nesting is counted and bounded by RTSYNC_GQL_MAX_DEPTH,
 * the only thing that makes the recursion deep; the number of tokens can be
 * bounded too (rtsync_gql_parse_limited), which bounds the tree.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "graphql/lexer.h"
#include "graphql/parser.h"

typedef struct GqlParser
{
	RtsyncGqlLexer lexer;
	RtsyncGqlError *error;
	int			depth;			/* nesting of the current token */
} GqlParser;

static RtsyncGqlSelection *parse_selection(GqlParser *p);
static RtsyncGqlValue *parse_value(GqlParser *p, bool is_const);

/* The current token. */
#define TOKEN(p) (&(p)->lexer.token)

/*
 * Reports a syntax error at loc, unless the current token is a lexing error:
 * then the lexer's message, already recorded, is the one to keep.
 */
static void
parser_error(GqlParser *p, RtsyncGqlLocation loc, const char *fmt,...)
pg_attribute_printf(3, 4);

static void
parser_error(GqlParser *p, RtsyncGqlLocation loc, const char *fmt,...)
{
	va_list		args;

	if (TOKEN(p)->kind == RTSYNC_GQL_TOK_ERROR)
		return;
	va_start(args, fmt);
	rtsync_gql_syntax_error_va(p->error, loc, fmt, args);
	va_end(args);
}

/* "Unexpected <token>." at the current token. */
static void
unexpected(GqlParser *p)
{
	parser_error(p, TOKEN(p)->loc, "Unexpected %s.",
				 rtsync_gql_token_desc(TOKEN(p)));
}

static inline bool
peek(GqlParser *p, RtsyncGqlTokenKind kind)
{
	return TOKEN(p)->kind == kind;
}

/* Is the current token the name "keyword"? */
static inline bool
peek_keyword(GqlParser *p, const char *keyword)
{
	return TOKEN(p)->kind == RTSYNC_GQL_TOK_NAME &&
		strcmp(TOKEN(p)->value, keyword) == 0;
}

static inline void
advance(GqlParser *p)
{
	rtsync_gql_lexer_advance(&p->lexer);
}

/* Skips the current token if it is of the kind; says whether it was. */
static bool
accept(GqlParser *p, RtsyncGqlTokenKind kind)
{
	if (!peek(p, kind))
		return false;
	advance(p);
	return true;
}

/* Skips the current token, which must be of the kind. */
static bool
expect(GqlParser *p, RtsyncGqlTokenKind kind)
{
	if (accept(p, kind))
		return true;
	parser_error(p, TOKEN(p)->loc, "Expected %s, found %s.",
				 rtsync_gql_token_kind_desc(kind),
				 rtsync_gql_token_desc(TOKEN(p)));
	return false;
}

/* Skips the current token, which must be the name "keyword". */
static bool
expect_keyword(GqlParser *p, const char *keyword)
{
	if (peek_keyword(p, keyword))
	{
		advance(p);
		return true;
	}
	parser_error(p, TOKEN(p)->loc, "Expected \"%s\", found %s.",
				 keyword, rtsync_gql_token_desc(TOKEN(p)));
	return false;
}

/* Reads a Name into *name (the token's own copy). */
static bool
parse_name(GqlParser *p, char **name)
{
	if (!peek(p, RTSYNC_GQL_TOK_NAME))
		return expect(p, RTSYNC_GQL_TOK_NAME);
	*name = TOKEN(p)->value;
	advance(p);
	return true;
}

/*
 * Enters one level of nesting at the current token (the opening bracket or
 * brace), refusing to go deeper than RTSYNC_GQL_MAX_DEPTH.  Each successful
 * call is paired with a leave() once the matching close is read.
 */
static bool
enter(GqlParser *p)
{
	if (p->depth >= RTSYNC_GQL_MAX_DEPTH)
	{
		parser_error(p, TOKEN(p)->loc,
					 "Document is nested too deeply: at most %d levels are allowed.",
					 RTSYNC_GQL_MAX_DEPTH);
		return false;
	}
	p->depth++;
	return true;
}

static inline void
leave(GqlParser *p)
{
	p->depth--;
}

/*
 * Arguments[Const] : ( Argument+ ), or nothing.  Variables are refused in
 * constant arguments (those of directives on variable definitions).
 */
static bool
parse_arguments(GqlParser *p, bool is_const, List **arguments)
{
	*arguments = NIL;
	if (!accept(p, RTSYNC_GQL_TOK_PAREN_L))
		return true;
	do
	{
		RtsyncGqlArgument *arg = palloc0(sizeof(RtsyncGqlArgument));

		arg->loc = TOKEN(p)->loc;
		if (!parse_name(p, &arg->name) ||
			!expect(p, RTSYNC_GQL_TOK_COLON) ||
			(arg->value = parse_value(p, is_const)) == NULL)
			return false;
		*arguments = lappend(*arguments, arg);
	} while (!accept(p, RTSYNC_GQL_TOK_PAREN_R));
	return true;
}

/* Directives[Const] : Directive+, or nothing.  Directive : @ Name Arguments? */
static bool
parse_directives(GqlParser *p, bool is_const, List **directives)
{
	*directives = NIL;
	while (peek(p, RTSYNC_GQL_TOK_AT))
	{
		RtsyncGqlDirective *dir = palloc0(sizeof(RtsyncGqlDirective));

		dir->loc = TOKEN(p)->loc;
		advance(p);
		if (!parse_name(p, &dir->name) ||
			!parse_arguments(p, is_const, &dir->arguments))
			return false;
		*directives = lappend(*directives, dir);
	}
	return true;
}

/*
 * A list value [ Value* ] or an object value { (Name : Value)* }, the
 * current token being its opening bracket or brace.
 */
static bool
parse_list_or_object(GqlParser *p, RtsyncGqlValue *value, bool is_const)
{
	bool		is_list = peek(p, RTSYNC_GQL_TOK_BRACKET_L);
	RtsyncGqlTokenKind close = is_list ? RTSYNC_GQL_TOK_BRACKET_R :
	RTSYNC_GQL_TOK_BRACE_R;

	if (!enter(p))
		return false;
	advance(p);
	value->kind = is_list ? RTSYNC_GQL_LIST : RTSYNC_GQL_OBJECT;
	while (!accept(p, close))
	{
		if (is_list)
		{
			RtsyncGqlValue *item = parse_value(p, is_const);

			if (item == NULL)
				return false;
			value->items = lappend(value->items, item);
		}
		else
		{
			RtsyncGqlObjectField *field = palloc0(sizeof(RtsyncGqlObjectField));

			field->loc = TOKEN(p)->loc;
			if (!parse_name(p, &field->name) ||
				!expect(p, RTSYNC_GQL_TOK_COLON) ||
				(field->value = parse_value(p, is_const)) == NULL)
				return false;
			value->fields = lappend(value->fields, field);
		}
	}
	leave(p);
	return true;
}

/*
 * Value[Const] : Variable (unless Const) | IntValue | FloatValue |
 * StringValue | BooleanValue | NullValue | EnumValue | ListValue |
 * ObjectValue.  Block strings are strings; true, false and null are not
 * enum values.
 */
static RtsyncGqlValue *
parse_value(GqlParser *p, bool is_const)
{
	RtsyncGqlToken *token = TOKEN(p);
	RtsyncGqlValue *value = palloc0(sizeof(RtsyncGqlValue));

	value->loc = token->loc;
	switch (token->kind)
	{
		case RTSYNC_GQL_TOK_BRACKET_L:
		case RTSYNC_GQL_TOK_BRACE_L:
			if (!parse_list_or_object(p, value, is_const))
				return NULL;
			return value;
		case RTSYNC_GQL_TOK_INT:
			value->kind = RTSYNC_GQL_INT;
			value->str = token->value;
			break;
		case RTSYNC_GQL_TOK_FLOAT:
			value->kind = RTSYNC_GQL_FLOAT;
			value->str = token->value;
			break;
		case RTSYNC_GQL_TOK_STRING:
		case RTSYNC_GQL_TOK_BLOCK_STRING:
			value->kind = RTSYNC_GQL_STRING;
			value->str = token->value;
			break;
		case RTSYNC_GQL_TOK_NAME:
			if (strcmp(token->value, "true") == 0 ||
				strcmp(token->value, "false") == 0)
			{
				value->kind = RTSYNC_GQL_BOOLEAN;
				value->boolean = (token->value[0] == 't');
			}
			else if (strcmp(token->value, "null") == 0)
				value->kind = RTSYNC_GQL_NULL;
			else
			{
				value->kind = RTSYNC_GQL_ENUM;
				value->str = token->value;
			}
			break;
		case RTSYNC_GQL_TOK_DOLLAR:
			advance(p);
			if (is_const)
			{
				if (peek(p, RTSYNC_GQL_TOK_NAME))
					parser_error(p, value->loc,
								 "Unexpected variable \"$%s\" in constant value.",
								 TOKEN(p)->value);
				else
					parser_error(p, value->loc, "Unexpected \"$\".");
				return NULL;
			}
			value->kind = RTSYNC_GQL_VARIABLE;
			if (!parse_name(p, &value->str))
				return NULL;
			return value;
		default:
			unexpected(p);
			return NULL;
	}
	advance(p);
	return value;
}

/* Type : NamedType | [ Type ] | Type ! */
static RtsyncGqlTypeRef *
parse_type_ref(GqlParser *p)
{
	RtsyncGqlTypeRef *type = palloc0(sizeof(RtsyncGqlTypeRef));

	type->loc = TOKEN(p)->loc;
	if (peek(p, RTSYNC_GQL_TOK_BRACKET_L))
	{
		if (!enter(p))
			return NULL;
		advance(p);
		if ((type->item = parse_type_ref(p)) == NULL ||
			!expect(p, RTSYNC_GQL_TOK_BRACKET_R))
			return NULL;
		leave(p);
	}
	else if (!parse_name(p, &type->name))
		return NULL;
	type->non_null = accept(p, RTSYNC_GQL_TOK_BANG);
	return type;
}

/*
 * VariableDefinitions : ( VariableDefinition+ ), or nothing.
 * VariableDefinition : Variable : Type DefaultValue? Directives[Const]?
 */
static bool
parse_variable_definitions(GqlParser *p, List **variables)
{
	*variables = NIL;
	if (!accept(p, RTSYNC_GQL_TOK_PAREN_L))
		return true;
	do
	{
		RtsyncGqlVariableDef *def = palloc0(sizeof(RtsyncGqlVariableDef));

		def->loc = TOKEN(p)->loc;
		if (!expect(p, RTSYNC_GQL_TOK_DOLLAR) ||
			!parse_name(p, &def->name) ||
			!expect(p, RTSYNC_GQL_TOK_COLON) ||
			(def->type = parse_type_ref(p)) == NULL)
			return false;
		if (accept(p, RTSYNC_GQL_TOK_EQUALS) &&
			(def->default_value = parse_value(p, true)) == NULL)
			return false;
		if (!parse_directives(p, true, &def->directives))
			return false;
		*variables = lappend(*variables, def);
	} while (!accept(p, RTSYNC_GQL_TOK_PAREN_R));
	return true;
}

/* SelectionSet : { Selection+ } */
static bool
parse_selection_set(GqlParser *p, List **selections)
{
	*selections = NIL;
	if (!peek(p, RTSYNC_GQL_TOK_BRACE_L))
		return expect(p, RTSYNC_GQL_TOK_BRACE_L);
	if (!enter(p))
		return false;
	advance(p);
	do
	{
		RtsyncGqlSelection *sel = parse_selection(p);

		if (sel == NULL)
			return false;
		*selections = lappend(*selections, sel);
	} while (!accept(p, RTSYNC_GQL_TOK_BRACE_R));
	leave(p);
	return true;
}

/*
 * Selection : Field | FragmentSpread | InlineFragment
 * Field : Alias? Name Arguments? Directives? SelectionSet?
 * FragmentSpread : ... FragmentName Directives?
 * InlineFragment : ... TypeCondition? Directives? SelectionSet
 * After "...", the name "on" starts a type condition; any other name is a
 * fragment's.
 */
static RtsyncGqlSelection *
parse_selection(GqlParser *p)
{
	RtsyncGqlSelection *sel = palloc0(sizeof(RtsyncGqlSelection));

	sel->loc = TOKEN(p)->loc;
	if (accept(p, RTSYNC_GQL_TOK_SPREAD))
	{
		if (peek(p, RTSYNC_GQL_TOK_NAME) && !peek_keyword(p, "on"))
		{
			sel->kind = RTSYNC_GQL_FRAGMENT_SPREAD;
			sel->name = TOKEN(p)->value;
			advance(p);
			if (!parse_directives(p, false, &sel->directives))
				return NULL;
			return sel;
		}
		sel->kind = RTSYNC_GQL_INLINE_FRAGMENT;
		if (accept(p, RTSYNC_GQL_TOK_NAME) &&	/* "on" */
			!parse_name(p, &sel->type_condition))
			return NULL;
		if (!parse_directives(p, false, &sel->directives) ||
			!parse_selection_set(p, &sel->selections))
			return NULL;
		return sel;
	}

	sel->kind = RTSYNC_GQL_FIELD;
	if (!parse_name(p, &sel->name))
		return NULL;
	if (accept(p, RTSYNC_GQL_TOK_COLON))
	{
		sel->alias = sel->name;
		if (!parse_name(p, &sel->name))
			return NULL;
	}
	if (!parse_arguments(p, false, &sel->arguments) ||
		!parse_directives(p, false, &sel->directives))
		return NULL;
	if (peek(p, RTSYNC_GQL_TOK_BRACE_L) &&
		!parse_selection_set(p, &sel->selections))
		return NULL;
	return sel;
}

/*
 * OperationDefinition : OperationType Name? VariableDefinitions?
 * Directives? SelectionSet, or the query shorthand: a bare SelectionSet.
 * The current token is "{" or the operation type's name.
 */
static RtsyncGqlOperation *
parse_operation(GqlParser *p)
{
	RtsyncGqlOperation *op = palloc0(sizeof(RtsyncGqlOperation));

	op->loc = TOKEN(p)->loc;
	op->type = RTSYNC_GQL_QUERY;
	if (peek(p, RTSYNC_GQL_TOK_BRACE_L))
	{
		if (!parse_selection_set(p, &op->selections))
			return NULL;
		return op;
	}

	if (peek_keyword(p, "mutation"))
		op->type = RTSYNC_GQL_MUTATION;
	else if (peek_keyword(p, "subscription"))
		op->type = RTSYNC_GQL_SUBSCRIPTION;
	advance(p);
	if (peek(p, RTSYNC_GQL_TOK_NAME) && !parse_name(p, &op->name))
		return NULL;
	if (!parse_variable_definitions(p, &op->variables) ||
		!parse_directives(p, false, &op->directives) ||
		!parse_selection_set(p, &op->selections))
		return NULL;
	return op;
}

/*
 * FragmentDefinition : fragment FragmentName TypeCondition Directives?
 * SelectionSet, where FragmentName is a Name but "on".
 */
static RtsyncGqlFragment *
parse_fragment(GqlParser *p)
{
	RtsyncGqlFragment *frag = palloc0(sizeof(RtsyncGqlFragment));

	frag->loc = TOKEN(p)->loc;
	advance(p);					/* "fragment" */
	if (peek_keyword(p, "on"))
	{
		unexpected(p);
		return NULL;
	}
	if (!parse_name(p, &frag->name) ||
		!expect_keyword(p, "on") ||
		!parse_name(p, &frag->type_condition) ||
		!parse_directives(p, false, &frag->directives) ||
		!parse_selection_set(p, &frag->selections))
		return NULL;
	return frag;
}

/* Does this name start a type-system definition or extension? */
static bool
is_type_system_keyword(const char *name)
{
	static const char *const keywords[] = {
		"schema", "scalar", "type", "interface", "union", "enum", "input",
		"directive", "extend"
	};

	for (int i = 0; i < lengthof(keywords); i++)
		if (strcmp(name, keywords[i]) == 0)
			return true;
	return false;
}

/*
 * Definition : ExecutableDefinition (operation or fragment), added to the
 * document.  A type-system definition is refused by name; so is a
 * description, which only type-system definitions may have.
 */
static bool
parse_definition(GqlParser *p, RtsyncGqlDocument *doc)
{
	RtsyncGqlToken *token = TOKEN(p);

	if (peek(p, RTSYNC_GQL_TOK_BRACE_L) || peek_keyword(p, "query") ||
		peek_keyword(p, "mutation") || peek_keyword(p, "subscription"))
	{
		RtsyncGqlOperation *op = parse_operation(p);

		if (op == NULL)
			return false;
		doc->operations = lappend(doc->operations, op);
		return true;
	}
	if (peek_keyword(p, "fragment"))
	{
		RtsyncGqlFragment *frag = parse_fragment(p);

		if (frag == NULL)
			return false;
		frag->index = list_length(doc->fragments);
		doc->fragments = lappend(doc->fragments, frag);
		return true;
	}

	if (peek(p, RTSYNC_GQL_TOK_STRING) || peek(p, RTSYNC_GQL_TOK_BLOCK_STRING))
	{
		RtsyncGqlLocation loc = token->loc;

		advance(p);				/* token is now the one after the string */
		if (!peek(p, RTSYNC_GQL_TOK_NAME))
			unexpected(p);
		else if (is_type_system_keyword(token->value))
			parser_error(p, token->loc,
						 "Unexpected Name \"%s\": type-system definitions are not executable.",
						 token->value);
		else
			parser_error(p, loc,
						 "Unexpected description, descriptions are supported only on type definitions.");
		return false;
	}
	if (peek(p, RTSYNC_GQL_TOK_NAME) && is_type_system_keyword(token->value))
	{
		parser_error(p, token->loc,
					 "Unexpected Name \"%s\": type-system definitions are not executable.",
					 token->value);
		return false;
	}
	unexpected(p);
	return false;
}

/*
 * Document : Definition+
 *
 * The tree and its strings are palloc'd in the current memory context; so is
 * the error message.  A failed parse leaves its garbage there too.
 */
RtsyncGqlDocument *
rtsync_gql_parse(const char *source, size_t len, RtsyncGqlError *error)
{
	return rtsync_gql_parse_limited(source, len, 0, error);
}

RtsyncGqlDocument *
rtsync_gql_parse_limited(const char *source, size_t len, int max_tokens,
						 RtsyncGqlError *error)
{
	GqlParser	p;
	RtsyncGqlError err;
	RtsyncGqlDocument *doc;

	memset(&err, 0, sizeof(err));

	/* offsets, lines and columns must fit an int; strings a StringInfo */
	if (len >= MaxAllocSize)
	{
		error->message = pstrdup("Syntax Error: Document is too large.");
		error->loc.line = 0;
		error->loc.column = 0;
		return NULL;
	}

	rtsync_gql_lexer_init(&p.lexer, source, len, &err);
	p.lexer.max_tokens = Max(max_tokens, 0);
	p.error = &err;
	p.depth = 0;
	doc = palloc0(sizeof(RtsyncGqlDocument));

	advance(&p);
	do
	{
		if (!parse_definition(&p, doc))
		{
			pfree(p.lexer.buf.data);
			*error = err;
			return NULL;
		}
	} while (!peek(&p, RTSYNC_GQL_TOK_EOF));
	pfree(p.lexer.buf.data);

	/* cannot happen: no rule accepts an error token; but never lose one */
	if (err.message != NULL)
	{
		*error = err;
		return NULL;
	}
	return doc;
}
