/*-------------------------------------------------------------------------
 *
 * stream_token.c
 *	  The cryptography of the stream read API's shard iterators
 *	  (sql/stream_read.sql): a random signing key, an HMAC-SHA256 over an
 *	  iterator's contents, and its check in constant time.
 *
 * Iterators are stateless: what a reader holds is the position and the
 * time it was issued, signed with a key only the extension's owner can
 * read, so a reader cannot move an iterator or keep it alive past its 15
 * minutes. Postgres' own HMAC (common/hmac.h, OpenSSL underneath) and
 * strong random source do the work.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "port.h"
#include "utils/builtins.h"

#include "stream_token.h"

/* HMAC-SHA256 of message under key, into mac (PG_SHA256_DIGEST_LENGTH). */
static void
hmac_sha256(bytea *key, text *message, uint8 *mac)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);

	if (ctx == NULL ||
		pg_hmac_init(ctx, (uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)) < 0 ||
		pg_hmac_update(ctx, (uint8 *) VARDATA_ANY(message), VARSIZE_ANY_EXHDR(message)) < 0 ||
		pg_hmac_final(ctx, mac, PG_SHA256_DIGEST_LENGTH) < 0)
	{
		const char *why = ctx ? pg_hmac_error(ctx) : "out of memory";

		pg_hmac_free(ctx);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute an HMAC-SHA256: %s", why)));
	}
	pg_hmac_free(ctx);
}

/* rtsync._hmac_sha256(key bytea, message text) RETURNS bytea */
PG_FUNCTION_INFO_V1(rtsync_hmac_sha256);
Datum
rtsync_hmac_sha256(PG_FUNCTION_ARGS)
{
	bytea	   *mac = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	hmac_sha256(PG_GETARG_BYTEA_PP(0), PG_GETARG_TEXT_PP(1), (uint8 *) VARDATA(mac));
	SET_VARSIZE(mac, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	PG_RETURN_BYTEA_P(mac);
}

/*
 * rtsync._hmac_sha256_matches(key bytea, message text, mac bytea) RETURNS
 * boolean: whether mac is message's, compared in constant time so that the
 * time an answer takes tells nothing of how much of a forged mac was right.
 */
PG_FUNCTION_INFO_V1(rtsync_hmac_sha256_matches);
Datum
rtsync_hmac_sha256_matches(PG_FUNCTION_ARGS)
{
	bytea	   *given = PG_GETARG_BYTEA_PP(2);
	uint8		mac[PG_SHA256_DIGEST_LENGTH];

	hmac_sha256(PG_GETARG_BYTEA_PP(0), PG_GETARG_TEXT_PP(1), mac);
	PG_RETURN_BOOL(VARSIZE_ANY_EXHDR(given) == PG_SHA256_DIGEST_LENGTH &&
				   timingsafe_bcmp(VARDATA_ANY(given), mac, PG_SHA256_DIGEST_LENGTH) == 0);
}

/* rtsync._random_bytes(n integer) RETURNS bytea: n bytes, 1 to 1024 */
PG_FUNCTION_INFO_V1(rtsync_random_bytes);
Datum
rtsync_random_bytes(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	bytea	   *result;

	if (n < 1 || n > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the number of random bytes must be between 1 and 1024")));
	result = palloc(VARHDRSZ + n);
	if (!pg_strong_random(VARDATA(result), n))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
	SET_VARSIZE(result, VARHDRSZ + n);
	PG_RETURN_BYTEA_P(result);
}
