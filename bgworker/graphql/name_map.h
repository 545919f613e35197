/*-------------------------------------------------------------------------
 *
 * graphql/name_map.h
 *	  Name lookups in linear time, for validation and planning.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_NAME_MAP_H
#define RTSYNC_NAME_MAP_H

#include "nodes/pg_list.h"

/*
 * Strings to pointers, in the current memory context, for the lookups and
 * duplicate checks that would otherwise compare every pair: a document is
 * an attacker's, and one of 10,000 aliases must not take 10^8 steps.
 * Keys are not copied: they must outlive the map.
 */
typedef struct RtsyncNameMap RtsyncNameMap;

/* Lists up to this long are searched pair by pair: no map to build. */
#define RTSYNC_NAME_MAP_SHORT_LIST 8

extern RtsyncNameMap *rtsync_name_map_create(int expected);
/* The value's slot for name, created NULL; *found: whether it existed. */
extern void **rtsync_name_map_enter(RtsyncNameMap *map, const char *name, bool *found);
extern void *rtsync_name_map_get(RtsyncNameMap *map, const char *name);

/*
 * Which items of a List of structs, whose char * name is at name_offset,
 * repeat an earlier item's name: NULL when none does (no allocation for a
 * short list), else a bool per item, in list order.
 */
extern bool *rtsync_duplicate_names(List *items, size_t name_offset);

#endif							/* RTSYNC_NAME_MAP_H */
