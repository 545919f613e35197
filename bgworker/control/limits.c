/*-------------------------------------------------------------------------
 *
 * control/limits.c
 *	  Token buckets and connection counts per identity.
 *
 * A bucket holds up to one second of its rate and refills continuously;
 * each operation or request takes one. Identities live in one hash table;
 * an idle one (no connection, buckets full) is forgotten when the table
 * has grown, so a stream of one-off identities cannot grow it without end.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "base/settings.h"
#include "control/limits.h"

#define IDENTITY_KEY_LEN 128
#define PRUNE_AT 10000			/* identities kept before idle ones go */

typedef struct Bucket
{
	double		tokens;
	TimestampTz refilled;
} Bucket;

typedef struct IdentityEntry
{
	char		name[IDENTITY_KEY_LEN];	/* hash key */
	Bucket		buckets[2];		/* by RtsyncRateKind */
	int			connections;
} IdentityEntry;

static HTAB *identities = NULL;

char *
rtsync_identity_name(const char *key_hash, const char *subject, const char *role)
{
	if (key_hash && key_hash[0])
		return psprintf("key:%.12s", key_hash);
	if (subject)
		return psprintf("sub:%.100s", subject);
	return psprintf("role:%s", role ? role : "");
}

static int
rate_of(RtsyncRateKind kind)
{
	return kind == RTSYNC_RATE_WS_OPERATION ? rtsync_identity_operations_per_second :
		rtsync_identity_requests_per_second;
}

/* Forget identities with no connection whose buckets have refilled. */
static void
prune(TimestampTz now)
{
	HASH_SEQ_STATUS status;
	IdentityEntry *e;

	hash_seq_init(&status, identities);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		if (e->connections == 0 &&
			TimestampDifferenceExceeds(e->buckets[0].refilled, now, 1000) &&
			TimestampDifferenceExceeds(e->buckets[1].refilled, now, 1000))
			hash_search(identities, e->name, HASH_REMOVE, NULL);
	}
}

static IdentityEntry *
entry_for(const char *identity, TimestampTz now)
{
	IdentityEntry *e;
	bool		found;

	if (identities == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = IDENTITY_KEY_LEN;
		ctl.entrysize = sizeof(IdentityEntry);
		ctl.hcxt = TopMemoryContext;
		identities = hash_create("rtsync identities", 256, &ctl,
								 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	if (hash_get_num_entries(identities) >= PRUNE_AT)
		prune(now);
	e = hash_search(identities, identity, HASH_ENTER, &found);
	if (!found)
	{
		for (int i = 0; i < 2; i++)
		{
			e->buckets[i].tokens = rate_of((RtsyncRateKind) i);
			e->buckets[i].refilled = now;
		}
		e->connections = 0;
	}
	return e;
}

bool
rtsync_limit_take(const char *identity, RtsyncRateKind kind)
{
	int			rate = rate_of(kind);
	TimestampTz now;
	Bucket	   *b;

	if (rate <= 0)
		return true;
	now = GetCurrentTimestamp();
	b = &entry_for(identity, now)->buckets[kind];
	b->tokens = Min((double) rate,
					b->tokens + (double) (now - b->refilled) * rate / USECS_PER_SEC);
	b->refilled = now;
	if (b->tokens < 1.0)
		return false;
	b->tokens -= 1.0;
	return true;
}

bool
rtsync_limit_connect(const char *identity)
{
	IdentityEntry *e = entry_for(identity, GetCurrentTimestamp());

	if (rtsync_max_connections_per_identity > 0 &&
		e->connections >= rtsync_max_connections_per_identity)
		return false;
	e->connections++;
	return true;
}

void
rtsync_limit_disconnect(const char *identity)
{
	IdentityEntry *e = identities ? hash_search(identities, identity, HASH_FIND, NULL) : NULL;

	if (e && e->connections > 0)
		e->connections--;
}
