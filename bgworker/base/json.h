/*-------------------------------------------------------------------------
 *
 * base/json.h
 *	  Reading JSON text that arrives from outside (client messages, tokens,
 *	  key files) as jsonb, without letting a parse error unwind.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_JSON_H
#define RTSYNC_JSON_H

#include "utils/jsonb.h"

/* The text as a jsonb object, or NULL when it is not JSON or not an object. */
extern JsonbContainer *rtsync_json_parse_object(const char *text, size_t len);

/* A field of an object (NULL container: absent). */
extern bool rtsync_json_get(JsonbContainer *c, const char *key, JsonbValue *out);
/* A string field, palloc'd; NULL when absent or not a string. */
extern char *rtsync_json_get_string(JsonbContainer *c, const char *key);
/* The same, as the container's own value (not copied): false if not a string. */
extern bool rtsync_json_get_string_value(JsonbContainer *c, const char *key, JsonbValue *v);
/* An object field; NULL when absent or not an object. */
extern JsonbContainer *rtsync_json_get_object(JsonbContainer *c, const char *key);
/* An array field; NULL when absent or not an array. */
extern JsonbContainer *rtsync_json_get_array(JsonbContainer *c, const char *key);
/* A number field as a double; false when absent or not a number. */
extern bool rtsync_json_get_number(JsonbContainer *c, const char *key, double *out);

#endif							/* RTSYNC_JSON_H */
