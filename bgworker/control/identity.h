/*-------------------------------------------------------------------------
 *
 * control/identity.h
 *	  Who a client is when it signs in with a token: the verified claims,
 *	  the role they name, and whether that role may be taken at all.
 *
 * A token may become only a role the administrator allowed: one that
 * rtsync.jwt_authenticator is a member of (as PostgREST's authenticator
 * role is granted every role a token may name), never a superuser, and a
 * BYPASSRLS role only with rtsync.jwt_allow_bypassrls. control/control.c
 * loads those roles with the keys and grants, in stream order.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_IDENTITY_H
#define RTSYNC_IDENTITY_H

#include "c.h"

typedef enum RtsyncTokenStatus
{
	RTSYNC_TOKEN_OK,
	RTSYNC_TOKEN_INVALID,
	RTSYNC_TOKEN_EXPIRED,
	RTSYNC_TOKEN_ROLE_UNKNOWN	/* valid, but its role is not (yet) one the
								 * worker knows: decide after a reload */
} RtsyncTokenStatus;

/* A signed-in client, allocated in the context the caller chose. */
typedef struct RtsyncIdentity
{
	char	   *role;
	char	   *subject;		/* the token's sub, or NULL */
	char	   *claims;			/* the claims as JSON text */
	int64		expires_at;		/* Unix seconds (exp + leeway); 0: never */
} RtsyncIdentity;

/*
 * Verifies an Authorization value ("Bearer <jwt>" or the bare token).
 * may_wait: a role not known may be one granted a moment ago (answer
 * ROLE_UNKNOWN, the caller waits for a reload); else it is refused.
 * A refusal's reason is logged here; the client is told only
 * rtsync_token_problem(status).
 */
extern RtsyncTokenStatus rtsync_identity_from_token(const char *authorization, bool may_wait,
													MemoryContext cxt,
													RtsyncIdentity *out);
extern const char *rtsync_token_problem(RtsyncTokenStatus status);

/* May a token still become this role (after a reload)? */
extern bool rtsync_identity_role_allowed(const char *role);

/* Seconds since the Unix epoch, the clock tokens are judged by. */
extern int64 rtsync_identity_now(void);

/* At start and after SIGHUP: the secret and the JWKS file, read again. */
extern void rtsync_identity_load_keys(void);

/* The SQL that lists the roles a token may name, with their attributes. */
extern char *rtsync_identity_roles_sql(void);
extern void rtsync_identity_roles_begin_load(void);
extern void rtsync_identity_roles_add(const char *role, bool superuser, bool bypassrls);
extern void rtsync_identity_roles_end_load(void);

#endif							/* RTSYNC_IDENTITY_H */
