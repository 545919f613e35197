/*-------------------------------------------------------------------------
 *
 * control/jwt.h
 *	  Verifies a JSON Web Token (RFC 7519, compact JWS) against the
 *	  configured keys and claims rules, and reads who it names.
 *
 * Pure: no settings, no clock, no catalog. The caller passes the keys, the
 * rules and the time, so the whole of it can be fuzzed and tested alone.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_JWT_H
#define RTSYNC_JWT_H

#include "utils/jsonb.h"

#include "control/jwks.h"

/* Longest token accepted: far beyond any real one (Cognito's are ~1 kB). */
#define RTSYNC_JWT_MAX_BYTES 16384

typedef enum RtsyncJwtStatus
{
	RTSYNC_JWT_OK,
	RTSYNC_JWT_INVALID,
	RTSYNC_JWT_EXPIRED
} RtsyncJwtStatus;

typedef struct RtsyncJwtRules
{
	List	   *keys;			/* RtsyncJwk * */
	const char *issuer;			/* NULL or "": not checked */
	const char *audience;		/* NULL or "": not checked */
	int			leeway;			/* seconds, for exp, nbf and iat */
	const char *role_claim;		/* a path: role, app.role, cognito:groups[0] */
	const char *default_role;	/* NULL or "": a token must name one */
	int64		now;			/* seconds since the Unix epoch */
} RtsyncJwtRules;

typedef struct RtsyncJwt
{
	JsonbContainer *claims;
	char	   *claims_json;	/* the claims as jsonb prints them */
	char	   *role;
	char	   *subject;		/* "sub", or NULL */
	int64		expires_at;		/* exp + leeway; 0: no exp */
} RtsyncJwt;

/*
 * OK and *out filled, or INVALID / EXPIRED with *reason saying which check
 * failed (for the server log; clients are told only "invalid token" or
 * "token expired"). Allocates in CurrentMemoryContext.
 */
extern RtsyncJwtStatus rtsync_jwt_verify(const char *token, size_t len,
										 const RtsyncJwtRules *rules,
										 RtsyncJwt *out, const char **reason);

/* The string a claims path names, or NULL (exposed for the tests' fuzzing). */
extern char *rtsync_jwt_claim_path(JsonbContainer *claims, const char *path);

#endif							/* RTSYNC_JWT_H */
