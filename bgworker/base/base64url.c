/*-------------------------------------------------------------------------
 *
 * base/base64url.c
 *	  base64url to bytes: the two characters that differ from standard
 *	  base64 are swapped back and the padding restored, then Postgres'
 *	  pg_b64_decode does the work.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"

#include "base/base64url.h"

uint8 *
rtsync_base64url_decode(const char *src, size_t len, size_t *outlen)
{
	size_t		padded = (len + 3) & ~(size_t) 3;
	char	   *std;
	uint8	   *out;
	int			n;

	/* one leftover character carries no whole byte: never valid */
	if (len % 4 == 1 || len > PG_INT32_MAX / 2)
		return NULL;
	std = palloc(padded + 1);
	for (size_t i = 0; i < len; i++)
	{
		char		c = src[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
		{
			pfree(std);
			return NULL;
		}
		std[i] = c;
	}
	for (size_t i = len; i < padded; i++)
		std[i] = '=';
	std[padded] = '\0';
	out = palloc(pg_b64_dec_len((int) padded) + 1);
	n = pg_b64_decode(std, (int) padded, (char *) out, pg_b64_dec_len((int) padded));
	pfree(std);
	if (n < 0)
	{
		pfree(out);
		return NULL;
	}
	out[n] = '\0';
	*outlen = n;
	return out;
}
