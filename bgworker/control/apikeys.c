/*-------------------------------------------------------------------------
 *
 * control/apikeys.c
 *	  The worker's cache of API keys.
 *
 * Only hashes are stored anywhere (sha256 of the key, as hex): the key a
 * client presents is hashed and looked up. The cache is replaced whole by
 * control/control.c each time the stream carries a key change (create_api_key and
 * revoke_api_key emit a transactional message), so a revocation is seen in
 * stream order, right after the transaction that made it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "control/apikeys.h"

typedef struct KeyEntry
{
	char		hash[RTSYNC_KEY_HASH_LEN + 1];	/* hash key */
	char	   *role;
	TimestampTz expires_at;
} KeyEntry;

static MemoryContext keys_cxt = NULL;
static HTAB *keys = NULL;		/* in use */
static MemoryContext loading_cxt = NULL;
static HTAB *loading = NULL;	/* being loaded */

static void
hash_key(const char *key, char *hex)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	bool		ok;

	ok = ctx != NULL && pg_cryptohash_init(ctx) >= 0 &&
		pg_cryptohash_update(ctx, (const uint8 *) key, strlen(key)) >= 0 &&
		pg_cryptohash_final(ctx, digest, sizeof(digest)) >= 0;
	/* freed before any error: the worker's resource owner is never released */
	pg_cryptohash_free(ctx);
	if (!ok)
		elog(ERROR, "could not compute sha256");
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	hex[RTSYNC_KEY_HASH_LEN] = '\0';
}

static RtsyncKeyStatus
status_of(const KeyEntry *entry)
{
	if (entry == NULL)
		return RTSYNC_KEY_INVALID;
	if (entry->expires_at != DT_NOEND && entry->expires_at <= GetCurrentTimestamp())
		return RTSYNC_KEY_EXPIRED;
	return RTSYNC_KEY_OK;
}

/*
 * Checks a key a client presented. On success *role is the key's role
 * (owned by the cache: copy it) and hash_out (RTSYNC_KEY_HASH_LEN + 1 bytes)
 * holds its hash, to recheck later.
 */
RtsyncKeyStatus
rtsync_apikey_check(const char *key, char *hash_out, const char **role)
{
	KeyEntry   *entry;
	RtsyncKeyStatus status;

	if (key == NULL || key[0] == '\0')
		return RTSYNC_KEY_MISSING;
	if (keys == NULL)
		return RTSYNC_KEY_INVALID;
	hash_key(key, hash_out);
	entry = hash_search(keys, hash_out, HASH_FIND, NULL);
	status = status_of(entry);
	if (status == RTSYNC_KEY_OK)
		*role = entry->role;
	return status;
}

/* Is a key accepted before still valid (not revoked, not expired)? */
RtsyncKeyStatus
rtsync_apikey_recheck(const char *hash)
{
	if (keys == NULL)
		return RTSYNC_KEY_INVALID;
	return status_of(hash_search(keys, hash, HASH_FIND, NULL));
}

void
rtsync_apikeys_begin_load(void)
{
	HASHCTL		ctl;

	if (loading_cxt)
		MemoryContextDelete(loading_cxt);
	loading_cxt = AllocSetContextCreate(TopMemoryContext, "rtsync api keys",
										ALLOCSET_SMALL_SIZES);
	ctl.keysize = RTSYNC_KEY_HASH_LEN + 1;
	ctl.entrysize = sizeof(KeyEntry);
	ctl.hcxt = loading_cxt;
	loading = hash_create("rtsync api keys", 64, &ctl,
						  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

void
rtsync_apikeys_add(const char *hash, const char *role, TimestampTz expires_at)
{
	KeyEntry   *entry;

	if (strlen(hash) != RTSYNC_KEY_HASH_LEN)
		return;
	entry = hash_search(loading, hash, HASH_ENTER, NULL);
	entry->role = MemoryContextStrdup(loading_cxt, role);
	entry->expires_at = expires_at;
}

void
rtsync_apikeys_end_load(void)
{
	if (keys_cxt)
		MemoryContextDelete(keys_cxt);
	keys_cxt = loading_cxt;
	keys = loading;
	loading_cxt = NULL;
	loading = NULL;
}
