/*-------------------------------------------------------------------------
 *
 * base/base64url.h
 *	  The URL-safe base64 of JSON Web Tokens and keys (RFC 4648 section 5,
 *	  no padding), decoded with Postgres' own base64 code.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_BASE64URL_H
#define RTSYNC_BASE64URL_H

/*
 * Decodes len characters of base64url; palloc'd bytes (NUL-terminated, not
 * counted in *outlen), or NULL when a character is outside the alphabet or
 * the length cannot be base64.
 */
extern uint8 *rtsync_base64url_decode(const char *src, size_t len, size_t *outlen);

#endif							/* RTSYNC_BASE64URL_H */
