/*-------------------------------------------------------------------------
 *
 * control/apikeys.h
 *	  API keys as the worker knows them: a cache of the valid keys' hashes,
 *	  roles and expiry, reloaded whenever the stream says keys changed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_APIKEYS_H
#define RTSYNC_APIKEYS_H

#include "datatype/timestamp.h"

#define RTSYNC_KEY_HASH_LEN 64	/* sha256, hex */

typedef enum RtsyncKeyStatus
{
	RTSYNC_KEY_OK,
	RTSYNC_KEY_MISSING,
	RTSYNC_KEY_INVALID,			/* unknown or revoked */
	RTSYNC_KEY_EXPIRED
} RtsyncKeyStatus;

extern RtsyncKeyStatus rtsync_apikey_check(const char *key, char *hash_out,
										   const char **role);
extern RtsyncKeyStatus rtsync_apikey_recheck(const char *hash);
extern void rtsync_apikeys_begin_load(void);
extern void rtsync_apikeys_add(const char *hash, const char *role, TimestampTz expires_at);
extern void rtsync_apikeys_end_load(void);

#endif							/* RTSYNC_APIKEYS_H */
