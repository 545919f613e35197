-- The GraphQL parser (bgworker/graphql/parser.c) through rtsync._graphql_parse():
-- every construct of an executable document, and every kind of syntax error
-- with its location (line:column, columns counting characters).
\pset format unaligned

-- The error of a document as "message (line:column)", or 'ok'.
CREATE FUNCTION gql_error(doc text) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce((SELECT e->>'message' || ' (' || (e #>> '{locations,0,line}') || ':'
			|| (e #>> '{locations,0,column}') || ')'
		FROM jsonb_array_elements(rtsync._graphql_parse(doc)->'errors') e), 'ok')
$$;

-- JSON pretty-printed, but each location and empty list on one line.
CREATE FUNCTION pretty(j jsonb) RETURNS text LANGUAGE sql AS $$
	SELECT regexp_replace(regexp_replace(jsonb_pretty(j),
		'\[\s+(\d+),\s+(\d+)\s+\]', '[\1, \2]', 'g'), '\[\s+\]', '[]', 'g')
$$;

-- A value written on a line of its own as a field's argument, so that the
-- columns of its locations (and of its errors) are those within v, on line 2.
CREATE FUNCTION gql_value(v text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT coalesce(d #> '{operations,0,selections,0,arguments,0,value}', d)
	FROM rtsync._graphql_parse(E'{ f(a:\n' || v || E'\n) }') d
$$;

-- A string value's decoded text, or its error.
CREATE FUNCTION gql_string(v text) RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(gql_value(v) ->> 'value', gql_error(E'{ f(a:\n' || v || E'\n) }'))
$$;

--
-- Documents
--

-- a subscription with variables, defaults, directives, an alias, fragments
SELECT pretty(rtsync._graphql_parse($$subscription OnCreate($owner: ID!, $limit: Int = 10,
    $tags: [String!]! = ["a", "b"] @deprecated(reason: "old")) @live {
  item: onCreateDataItem(owner: $owner, limit: $limit) @include(if: true) {
    id
    __typename
    ...ItemFields @skip(if: false)
    ... on DataItem { title }
    ... @include(if: $owner) { content }
  }
}

fragment ItemFields on DataItem @frag { owner { id } }$$));

-- query shorthand, commas and comments are insignificant
SELECT pretty(rtsync._graphql_parse($$# leading comment
{ a, b # trailing comment
  ,,c }$$));

-- several operations and fragments keep document order; names may be keywords
SELECT op->>'type' AS type, op->>'name' AS name, op->'loc' AS loc
FROM jsonb_array_elements(rtsync._graphql_parse($$
query Q { a }
fragment F on T { a }
mutation M { a }
subscription { a }
query query { subscription: fragment }
{ on }
fragment G on T { a }
$$)->'operations') op;
SELECT f->>'name' AS name, f->>'on' AS type_condition, f->'loc' AS loc
FROM jsonb_array_elements(rtsync._graphql_parse($$
query Q { a }
fragment F on T { a }
fragment query on mutation { a }
$$)->'fragments') f;

-- type references
SELECT v->>'name' AS name, v->>'type' AS type, v->'loc' AS loc
FROM jsonb_array_elements(rtsync._graphql_parse(
	'query($a: Int, $b: Int!, $c: [Int], $d: [Int!]!, $e: [[Int]!], $f:[ [ Int ! ] ] ! ) { a }'
)->'operations'->0->'variables') v;

-- fields: alias, arguments, directives, nested selections
SELECT pretty(rtsync._graphql_parse(
	'{ me: user(id: 4, ok: true) @a @b(x: 1) { friends(first: 10) { name } } }'));

-- fragment spreads versus inline fragments: "on" starts a type condition
SELECT s->>'kind' AS kind, s->>'name' AS name, s->>'on' AS type_condition,
	jsonb_array_length(s->'directives') AS directives, s->'loc' AS loc
FROM jsonb_array_elements(rtsync._graphql_parse(
	'{ ...F ...on T { a } ... on T { a } ... @d { a } ...F @d ... { a } ...onT }'
)->'operations'->0->'selections') s;

-- locations: \n, \r\n and \r end lines; columns count characters, not bytes;
-- a byte order mark is ignored (and counted)
SELECT s->>'name' AS name, s->'loc' AS loc
FROM jsonb_array_elements(rtsync._graphql_parse(
	E'\uFEFF{ a\n b\r\n c\r d(x: "\u00e9\u20ac\U0001F600") e }'
)->'operations'->0->'selections') s;

--
-- Values
--

SELECT gql_value('$var');
SELECT v, gql_value(v) ->> 'kind' AS kind, gql_value(v) ->> 'value' AS value
FROM (VALUES ('0'), ('-0'), ('123'), ('-45'), ('1.5'), ('-0.0'), ('1e10'),
	('1.5E-3'), ('6.02e+23'), ('123456789012345678901234567890'),
	('true'), ('false'), ('null'), ('RED'), ('on'), ('query'), ('__x_1'),
	('"str"'), ('""'), ('""" block """')) t(v);
SELECT pretty(gql_value('[1, [2, []], {a: [$v]}]'));
SELECT pretty(gql_value('{a: 1, b: {c: "x"}, a: null}'));

--
-- Strings
--

SELECT v, gql_value(v) -> 'value' AS value_as_json
FROM (VALUES
	('"plain ascii"'),
	('"\" \\ \/ \b \f \n \r \t"'),
	('"caf\u00e9 \u20AC"'),
	('"\uD83D\uDE00 surrogate pair"'),
	('"\u{1F600} \u{41}\u{00041}"'),
	(E'"raw é€😀 and\ttab"')) t(v);
-- the pair is one code point, the same as the variable-width escape
SELECT gql_string('"\uD83D\uDE00"') = gql_string('"\u{1F600}"') AS same,
	length(gql_string('"\uD83D\uDE00"')) AS length,
	to_hex(ascii(gql_string('"\uD83D\uDE00"'))) AS code_point,
	to_hex(ascii(gql_string('"\uDBFF\uDFFF"'))) AS highest_pair,
	to_hex(ascii(gql_string('"\u{10FFFF}"'))) AS highest;

-- block strings: common indentation and blank first/last lines removed
SELECT gql_string(E'"""\n    Hello,\n      World!\n\n    Yours,\n      GraphQL.\n  """') AS value;
SELECT gql_string(E'"""  first line kept as is\n    second\n   third\n"""') AS value;
SELECT gql_string(E'"""\r\n\t\ta\r\n\t\t  b\r\t\tc\r\n"""') AS value;
SELECT gql_string('"""no \escapes\n \u0041 but \""" and " and "" """') AS value;
SELECT gql_string(E'"""\n   \n\t\n"""') = '' AS blank, gql_string('""""""') = '' AS empty;

--
-- Syntax errors
--

-- the whole answer, as a GraphQL server gives it
SELECT rtsync._graphql_parse('{ a ? }');
SELECT rtsync._graphql_parse(E'query Q {\n  a {\n}');

-- lexical errors
SELECT label, gql_error(doc) FROM (VALUES
	('unexpected character', '{ a ? }'),
	('non-ASCII character', E'{ a\n  \u00e9\u00e9 }'),
	('single quote', '{ a(x: ''y'') }'),
	('lone dot', '{ a . }'),
	('two dots', '{ ..a }'),
	('control character', E'{ a \x01 }'),
	('unterminated string at end', '{ a(x: "abc'),
	('unterminated string at newline', E'{ a(x: "ab\ncd") }'),
	('unterminated block string', E'{ a(x: """ab\ncd\\""") }'),
	('control character in string', E'{ a(x: "a\x01b") }'),
	('control character in block string', E'{ a(x: """a\n\x1fb""") }'),
	('bad escape', '{ a(x: "a\xb") }'),
	('escape at end', '{ a(x: "a\'),
	('short \u', '{ a(x: "\u12") }'),
	('non-hex \u', '{ a(x: "\u00G0") }'),
	('lone leading surrogate', '{ a(x: "\uD83D") }'),
	('leading surrogate, then no pair', '{ a(x: "\uD83D\u0041") }'),
	('lone trailing surrogate', '{ a(x: "\uDE00\uD83D") }'),
	('surrogate in \u{}', '{ a(x: "\u{D83D}") }'),
	('too large \u{}', '{ a(x: "\u{110000}") }'),
	('empty \u{}', '{ a(x: "\u{}") }'),
	('non-hex \u{}', '{ a(x: "\u{1F60G}") }'),
	('unclosed \u{}', '{ a(x: "\u{1F600") }'),
	('too long \u{}', '{ a(x: "\u{000000041}") }'),
	('U+0000', '{ a(x: "\u0000") }'),
	('U+0000, variable width', '{ a(x: "\u{0}") }'),
	('columns count characters', '{ a(x: "éé€😀\q") }')
) t(label, doc);

-- numbers
SELECT v, gql_error(E'{ f(a:\n' || v || E'\n) }') FROM (VALUES
	('01'), ('-01'), ('00'), ('1.'), ('1.e5'), ('.5'), ('1e'), ('1e+'), ('1E-'),
	('0x1'), ('1a'), ('1.5a'), ('1e5.0'), ('1.2.3'), ('-'), ('- 1'), ('-a'),
	('1_000')) t(v);

-- parser errors
SELECT label, gql_error(doc) FROM (VALUES
	('empty document', ''),
	('only a comment', '# nothing'),
	('empty selection set', '{}'),
	('unclosed selection set', E'query Q {\n  a {\n}'),
	('missing selection set', 'query Q'),
	('missing selection set braces', 'subscription S onCreate { id }'),
	('field without braces', 'query Q ($x: Int) a'),
	('extra closing brace', '{ a } }'),
	('unknown keyword', 'Query { a }'),
	('operation name not a name', 'query 1 { a }'),
	('alias without name', '{ a: }'),
	('argument without colon', '{ a(x 1) }'),
	('argument without value', '{ a(x: ) }'),
	('empty arguments', '{ a() }'),
	('unclosed list', '{ a(x: [1, 2) }'),
	('object field without colon', '{ a(x: {b 1}) }'),
	('variable without name', '{ a(x: $) }'),
	('variable named by string', '{ a(x: $"v") }'),
	('empty variable definitions', 'query () { a }'),
	('variable definition without type', 'query ($x) { a }'),
	('variable definition without $', 'query (x: Int) { a }'),
	('unclosed list type', 'query ($x: [Int) { a }'),
	('variable in default value', 'query ($x: Int = $y) { a }'),
	('variable nested in default value', E'query ($x: [In] = [1,\n {a: $y}]) { a }'),
	('variable in variable directive', 'query ($x: Int @d(a: $y)) { a }'),
	('$ in default value', 'query ($x: Int = $ 1) { a }'),
	('directive without name', '{ a @ }'),
	('fragment named on', 'fragment on on T { a }'),
	('fragment without on', 'fragment F T { a }'),
	('fragment without type', 'fragment F on { a }'),
	('fragment without selection set', 'fragment F on T'),
	('inline fragment without type', '{ ... on { a } }'),
	('inline fragment without selection set', '{ ... on T }'),
	('spread of nothing', '{ ... }'),
	('lexical error beats the parser', '{ a(x: $ ?) }'),
	('type definition', E'{ a }\ntype Query { a: Int }'),
	('schema definition', 'schema { query: Q }'),
	('scalar definition', 'scalar Date'),
	('extension', 'extend type Query { b: Int }'),
	('directive definition', 'directive @d on FIELD'),
	('described type', '"A type" type T { a: Int }'),
	('described operation', '"An operation" query { a }'),
	('described shorthand', '"An operation" { a }')
) t(label, doc);

--
-- Limits
--

-- nesting: selection sets, lists, objects and list types count together,
-- up to 128 levels
SELECT gql_error(repeat('{ a ', 128) || repeat('}', 128)) AS "128 selection sets";
SELECT gql_error(repeat('{ a ', 129) || repeat('}', 129)) AS "129 selection sets";
SELECT gql_error('{ a(x: ' || repeat('[', 127) || repeat(']', 127) || ') }') AS "1 + 127 lists";
SELECT gql_error('{ a(x: ' || repeat('[', 128) || repeat(']', 128) || ') }') AS "1 + 128 lists";
SELECT gql_error('{ a(x: ' || repeat('{a: ', 128) || '1' || repeat('}', 128) || ') }') AS "1 + 128 objects";
SELECT gql_error('query($x: ' || repeat('[', 128) || 'Int' || repeat(']', 128) || ') { a }') AS "128 list types";
SELECT gql_error('query($x: ' || repeat('[', 129) || 'Int' || repeat(']', 129) || ') { a }') AS "129 list types";
-- deep but never closed: the limit comes first
SELECT gql_error(repeat('{ a ', 100000)) AS "unclosed";
SELECT gql_error('{ a(x: ' || repeat('[', 100000)) AS "unclosed lists";

-- long documents are fine: many fields on one line, many lines, a long string
SELECT jsonb_array_length(rtsync._graphql_parse('{ ' || repeat('a ', 20000) || '}')
	#> '{operations,0,selections}') AS fields;
SELECT rtsync._graphql_parse('{ ' || repeat('a ', 20000) || 'b }')
	#> '{operations,0,selections,20000,loc}' AS last_field_loc;
SELECT rtsync._graphql_parse('{ ' || repeat('a(x: [1, {b: "c"}]) ', 100000) || '?')
	-> 'errors' AS error_after_many_fields;
SELECT rtsync._graphql_parse(repeat(E'\n', 100000) || '{ f(x: "' || repeat('é', 100000) || '") ?')
	-> 'errors' AS error_far_away;
SELECT length(gql_string('"' || repeat('\u00e9', 100000) || '"')) AS string_length;

DROP FUNCTION gql_string(text);
DROP FUNCTION gql_value(text);
DROP FUNCTION pretty(jsonb);
DROP FUNCTION gql_error(text);
