/*-------------------------------------------------------------------------
 *
 * control/jwks.h
 *	  The keys tokens are verified with: the HMAC secret of
 *	  rtsync.jwt_secret and the public keys of a JWKS file
 *	  (rtsync.jwt_jwks_file), as OpenSSL keys.
 *
 * A key's type decides which algorithms it may verify (an RSA key never
 * verifies HS256: the algorithm-confusion attack), and a JWK's own "alg"
 * narrows that to one.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_JWKS_H
#define RTSYNC_JWKS_H

#include <openssl/evp.h>

#include "nodes/pg_list.h"

#include "base/settings.h"

/* Shortest HMAC secret accepted: 256 bits, as RFC 7518 asks for HS256. */
#define RTSYNC_JWT_MIN_SECRET_BYTES RTSYNC_JWT_SECRET_MIN_BYTES

typedef enum RtsyncJwkType
{
	RTSYNC_JWK_HMAC,			/* kty oct, or rtsync.jwt_secret */
	RTSYNC_JWK_RSA,				/* RS256/384/512, PS256/384/512 */
	RTSYNC_JWK_EC,				/* ES256 (P-256), ES384 (P-384), ES512 (P-521) */
	RTSYNC_JWK_OKP				/* EdDSA (Ed25519) */
} RtsyncJwkType;

typedef struct RtsyncJwk
{
	RtsyncJwkType type;
	char	   *kid;			/* NULL: the key has none */
	char	   *alg;			/* the JWK's "alg"; NULL: any its type allows */
	int			ec_bytes;		/* EC: bytes of one coordinate (32, 48, 66) */
	EVP_PKEY   *pkey;			/* all but HMAC */
	uint8	   *secret;			/* HMAC */
	size_t		secret_len;
} RtsyncJwk;

/* The HMAC key of a secret, in CurrentMemoryContext. */
extern RtsyncJwk *rtsync_jwk_from_secret(const char *secret);

/*
 * The usable keys of a JWKS document, in CurrentMemoryContext; keys of
 * other kinds or uses are skipped with a LOG line each. NULL and *problem
 * set when the document itself is not a JWKS.
 */
extern List *rtsync_jwks_parse(const char *text, size_t len, char **problem);

/* Frees the OpenSSL keys of a list (the list itself is the caller's). */
extern void rtsync_jwks_free(List *keys);

#endif							/* RTSYNC_JWKS_H */
