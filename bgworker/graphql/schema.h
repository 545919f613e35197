/*-------------------------------------------------------------------------
 *
 * graphql/schema.h
 *	  The GraphQL schema generated from published tables.
 *
 * The worker builds it from catalog rows fetched over libpq (it has no
 * catalog access of its own); tests build it from a description. Either way
 * through rtsync_schema_create / _add_table / _add_column, which also decide
 * each column's GraphQL type. A schema lives in its own memory context,
 * freed with rtsync_schema_free; plans made against it point into it.
 *
 * Type mapping (PostgreSQL -> GraphQL; NOT NULL columns are non-null):
 *	  text, varchar, char, name, uuid   String (ID for a one-column text or
 *										uuid primary key)
 *	  int2, int4						Int
 *	  int8								BigInt   (a string: never loses precision)
 *	  numeric							BigFloat (a string: never loses precision)
 *	  float4, float8					Float
 *	  bool								Boolean
 *	  timestamptz, timestamp			AWSDateTime
 *	  date								AWSDate
 *	  time, timetz						AWSTime
 *	  json, jsonb						AWSJSON  (a string holding JSON, as AppSync)
 *	  arrays							[element type]
 *	  anything else						String
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_SCHEMA_H
#define RTSYNC_SCHEMA_H

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "extension/decoder_options.h"
#include "extension/value_encode.h"

typedef enum RtsyncGqlScalar
{
	RTSYNC_SCALAR_ID,
	RTSYNC_SCALAR_STRING,
	RTSYNC_SCALAR_INT,
	RTSYNC_SCALAR_FLOAT,
	RTSYNC_SCALAR_BOOLEAN,
	RTSYNC_SCALAR_BIGINT,
	RTSYNC_SCALAR_BIGFLOAT,
	RTSYNC_SCALAR_AWSDATETIME,
	RTSYNC_SCALAR_AWSDATE,
	RTSYNC_SCALAR_AWSTIME,
	RTSYNC_SCALAR_AWSJSON
} RtsyncGqlScalar;

/*
 * What happened to a table's row; a table's subscription root fields
 * (onCreateT, onUpdateT, onDeleteT) each follow one.
 */
typedef enum RtsyncEvent
{
	RTSYNC_EVENT_CREATE = 1,
	RTSYNC_EVENT_UPDATE = 2,
	RTSYNC_EVENT_DELETE = 4
} RtsyncEvent;

typedef struct RtsyncSchemaColumn
{
	char	   *name;			/* column name = GraphQL field name */
	Oid			pg_type;		/* element type for arrays */
	RtsyncGqlScalar scalar;		/* of the element, for arrays */
	bool		is_list;		/* a PostgreSQL array */
	bool		not_null;
	bool		is_key;
	bool		has_default;	/* a default or identity: optional on create */
	bool		writable;		/* false for generated and GENERATED ALWAYS
								 * identity columns: never in mutation inputs */
} RtsyncSchemaColumn;

typedef struct RtsyncSchemaTable
{
	Oid			relid;
	char	   *qualified_name; /* "schema.table", as in records' tableName */
	char	   *sql_name;		/* the same, quoted for SQL */
	char	   *type_name;		/* GraphQL type, e.g. DataItem */
	char	   *plural_name;	/* DataItems, as in listDataItems */
	RtsyncViewType view_type;
	int			ncolumns;
	RtsyncSchemaColumn *columns;	/* in attnum order */
	int			nkeys;			/* key columns among them */
	bool		key_usable;		/* every key column has a GraphQL name, so
								 * get/update/delete can name a row */
	int			version_column; /* index in columns of the optimistic
								 * concurrency version, or -1 */
	int64		retention_s;	/* how long its records are kept; 0: not */
} RtsyncSchemaTable;

typedef struct RtsyncSchema
{
	MemoryContext cxt;			/* owns the schema and everything in it */
	List	   *tables;			/* RtsyncSchemaTable * */
} RtsyncSchema;

extern RtsyncSchema *rtsync_schema_create(MemoryContext parent);
extern void rtsync_schema_free(RtsyncSchema *schema);
extern RtsyncSchemaTable *rtsync_schema_add_table(RtsyncSchema *schema, Oid relid,
												  const char *qualified_name,
												  const char *type_name,
												  RtsyncViewType view_type);
/* pg_type: the column's type; is_array with pg_type = the element type */
extern void rtsync_schema_add_column(RtsyncSchema *schema, RtsyncSchemaTable *table,
									 const char *name, Oid pg_type, bool is_array,
									 bool not_null, bool is_key);
/* mutation facts of the column just added (default: no default, writable) */
extern void rtsync_schema_set_column_defaults(RtsyncSchemaTable *table,
											  bool has_default, bool writable);

/*
 * call once all columns are added: picks ID for a one-column text, varchar or
 * uuid key, then drops the columns whose names are no GraphQL names (they
 * stay in records but cannot be selected or filtered on)
 */
extern void rtsync_schema_finish_table(RtsyncSchema *schema, RtsyncSchemaTable *table,
									   const char *version_column);
extern RtsyncSchemaTable *rtsync_schema_find_type(RtsyncSchema *schema, const char *type_name);
extern RtsyncSchemaTable *rtsync_schema_find_table(RtsyncSchema *schema, const char *qualified_name);
extern const char *rtsync_scalar_name(RtsyncGqlScalar scalar);
extern const char *rtsync_event_name(RtsyncEvent event);
/* Is this a name the generated schema uses itself (Query, ModelXInput, ...)? */
extern bool rtsync_type_name_reserved(const char *name);
/* English plural of a type name, as Amplify names list fields */
extern char *rtsync_plural_name(const char *type_name);

/*
 * A schema from the JSON that rtsync._schema_description() returns; NULL and
 * a message in *error when the text is malformed. Tables whose type name
 * would clash with a name of the generated schema (a scalar, Subscription,
 * Query, Mutation, a ModelSubscription...Input) are left out. The schema's
 * context is a child of the caller's current one.
 */
extern RtsyncSchema *rtsync_schema_from_json(const char *json, char **error);

/* JSON helpers shared by the GraphQL modules; they never ereport. */
extern Jsonb *rtsync_json_parse(const char *json, size_t len, char **error);
extern bool rtsync_number_text_ok(const char *text, size_t len);
extern Numeric rtsync_numeric_from_text(const char *text, size_t len);
extern bool rtsync_is_graphql_name(const char *name);
/*
 * compact JSON text of a value (jsonb's own output has blanks); JSON strings
 * are written with the decoder's rtsync_json_append_string
 */
extern void rtsync_json_append_value(StringInfo out, const JsonbValue *value);

#endif							/* RTSYNC_SCHEMA_H */
