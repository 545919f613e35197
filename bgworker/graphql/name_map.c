/*-------------------------------------------------------------------------
 *
 * graphql/name_map.c
 *	  Maps from names to pointers (simplehash, string keys), and the
 *	  duplicate-name check built on them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"

#include "graphql/name_map.h"

typedef struct NameEntry
{
	const char *key;
	void	   *value;
	uint32		hash;
	char		status;
} NameEntry;

#define SH_PREFIX namemap
#define SH_ELEMENT_TYPE NameEntry
#define SH_KEY_TYPE const char *
#define SH_KEY key
#define SH_HASH_KEY(tb, k) hash_bytes((const unsigned char *) (k), strlen(k))
#define SH_EQUAL(tb, a, b) (strcmp(a, b) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

struct RtsyncNameMap
{
	namemap_hash *hash;
};

/* An empty map, sized for expected names. */
RtsyncNameMap *
rtsync_name_map_create(int expected)
{
	RtsyncNameMap *map = palloc(sizeof(RtsyncNameMap));

	map->hash = namemap_create(CurrentMemoryContext, Max(expected, 16), NULL);
	return map;
}

/* The value slot of name, created NULL when new. */
void	  **
rtsync_name_map_enter(RtsyncNameMap *map, const char *name, bool *found)
{
	NameEntry  *entry = namemap_insert(map->hash, name, found);

	if (!*found)
		entry->value = NULL;
	return &entry->value;
}

/* The value of name, or NULL when it has none. */
void *
rtsync_name_map_get(RtsyncNameMap *map, const char *name)
{
	NameEntry  *entry = namemap_lookup(map->hash, name);

	return entry ? entry->value : NULL;
}

/*
 * Short lists are compared pair by pair, longer ones go through a map: the
 * cost stays linear in the list's length.
 */
bool *
rtsync_duplicate_names(List *items, size_t name_offset)
{
	int			n = list_length(items);
	bool	   *dup = NULL;
	RtsyncNameMap *map = NULL;

#define ITEM_NAME(i) (*(const char **) ((char *) list_nth(items, (i)) + name_offset))
	if (n < 2)
		return NULL;
	if (n > RTSYNC_NAME_MAP_SHORT_LIST)
		map = rtsync_name_map_create(n);
	for (int i = 0; i < n; i++)
	{
		const char *name = ITEM_NAME(i);
		bool		found = false;

		if (map)
			(void) rtsync_name_map_enter(map, name, &found);
		else
			for (int j = 0; j < i && !found; j++)
				found = strcmp(ITEM_NAME(j), name) == 0;
		if (found)
		{
			if (dup == NULL)
				dup = palloc0(n * sizeof(bool));
			dup[i] = true;
		}
	}
#undef ITEM_NAME
	return dup;
}
