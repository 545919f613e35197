/*-------------------------------------------------------------------------
 *
 * control/identity.c
 *	  Token sign-in: the keys and rules from the rtsync.jwt_* settings,
 *	  the roles a token may become, and the verdict on one token.
 *
 * The keys are read at start and again after every SIGHUP (a JWKS file
 * rewritten for a key rotation takes effect on pg_reload_conf()); a file
 * that cannot be read or parsed then leaves the previous keys in place,
 * with a WARNING. The allowed roles are replaced whole by each control
 * load (control/control.c), so a GRANT or REVOKE of membership in the
 * authenticator role is in effect in stream order.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <time.h>

#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "base/settings.h"
#include "control/identity.h"
#include "control/jwt.h"

/* Largest JWKS file read: a few hundred keys. */
#define MAX_JWKS_FILE_BYTES (1024 * 1024)

typedef struct AllowedRole
{
	char		name[NAMEDATALEN];	/* hash key */
	bool		superuser;
	bool		bypassrls;
} AllowedRole;

static MemoryContext jwks_cxt = NULL;
static List *jwks_keys = NIL;	/* from rtsync.jwt_jwks_file, in jwks_cxt */
static MemoryContext keys_cxt = NULL;
static List *all_keys = NIL;	/* those and rtsync.jwt_secret's */

static MemoryContext roles_cxt = NULL;
static HTAB *roles = NULL;
static MemoryContext loading_cxt = NULL;
static HTAB *loading = NULL;

int64
rtsync_identity_now(void)
{
	return (int64) time(NULL);
}

/* The JWKS file's keys from now on (NULL, NIL: none). */
static void
replace_jwks(MemoryContext cxt, List *keys)
{
	if (jwks_cxt)
	{
		rtsync_jwks_free(jwks_keys);
		MemoryContextDelete(jwks_cxt);
	}
	jwks_cxt = cxt;
	jwks_keys = keys;
}

/* The JWKS file's keys in cxt, or false (logged) when it cannot be used. */
static bool
read_jwks_file(const char *path, MemoryContext cxt, List **keys)
{
	FILE	   *f = AllocateFile(path, "r");
	StringInfoData text;
	char	   *problem = NULL;
	MemoryContext old;
	size_t		n;
	char		buf[8192];

	if (f == NULL)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("rtsync could not open the JWKS file \"%s\": %m", path),
				 errhint("Set rtsync.jwt_jwks_file to a file the server can read.")));
		return false;
	}
	old = MemoryContextSwitchTo(cxt);
	initStringInfo(&text);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && text.len <= MAX_JWKS_FILE_BYTES)
		appendBinaryStringInfo(&text, buf, n);
	FreeFile(f);
	if (text.len > MAX_JWKS_FILE_BYTES)
		problem = "it is larger than 1 MB";
	else
		*keys = rtsync_jwks_parse(text.data, text.len, &problem);
	MemoryContextSwitchTo(old);
	if (problem)
	{
		ereport(WARNING,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rtsync cannot use the JWKS file \"%s\": %s", path, problem),
				 errhint("A JWKS file is a JSON object {\"keys\": [...]} of JSON Web Keys.")));
		return false;
	}
	return true;
}

void
rtsync_identity_load_keys(void)
{
	MemoryContext old;
	List	   *jwks = NIL;

	if (rtsync_jwt_jwks_file && rtsync_jwt_jwks_file[0])
	{
		MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "rtsync JWKS keys",
												  ALLOCSET_SMALL_SIZES);

		if (read_jwks_file(rtsync_jwt_jwks_file, cxt, &jwks))
			replace_jwks(cxt, jwks);
		else
			MemoryContextDelete(cxt);	/* a broken rotation keeps the old keys */
	}
	else
		replace_jwks(NULL, NIL);

	/* the secret applies whatever became of the file */
	if (keys_cxt)
		MemoryContextDelete(keys_cxt);
	keys_cxt = AllocSetContextCreate(TopMemoryContext, "rtsync token keys",
									 ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(keys_cxt);
	all_keys = list_copy(jwks_keys);
	if (rtsync_jwt_secret && rtsync_jwt_secret[0])
		all_keys = lappend(all_keys, rtsync_jwk_from_secret(rtsync_jwt_secret));
	MemoryContextSwitchTo(old);
	ereport(DEBUG1,
			(errmsg("rtsync verifies tokens with %d key(s)", list_length(all_keys))));
}

static const char *
strip_bearer(const char *authorization)
{
	while (*authorization == ' ')
		authorization++;
	if (pg_strncasecmp(authorization, "Bearer ", 7) == 0)
		authorization += 7;
	while (*authorization == ' ')
		authorization++;
	return authorization;
}

/* Why a role may not be taken, or NULL when it may. */
static const char *
role_refusal(const char *role, bool *unknown)
{
	AllowedRole *r = roles ? hash_search(roles, role, HASH_FIND, NULL) : NULL;

	*unknown = false;
	if (strlen(role) >= NAMEDATALEN)
		return "the role name is too long";
	if (r == NULL)
	{
		*unknown = true;
		return rtsync_jwt_authenticator[0] ?
			"the role is not one rtsync.jwt_authenticator is a member of" :
			"rtsync.jwt_authenticator is not set, so no role may be taken";
	}
	if (r->superuser)
		return "the role is a superuser";
	if (r->bypassrls && !rtsync_jwt_allow_bypassrls)
		return "the role has BYPASSRLS and rtsync.jwt_allow_bypassrls is off";
	return NULL;
}

bool
rtsync_identity_role_allowed(const char *role)
{
	bool		unknown;

	return role_refusal(role, &unknown) == NULL;
}

RtsyncTokenStatus
rtsync_identity_from_token(const char *authorization, bool may_wait, MemoryContext cxt,
						   RtsyncIdentity *out)
{
	const char *token = strip_bearer(authorization);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	RtsyncJwtRules rules = {
		.keys = all_keys,
		.issuer = rtsync_jwt_issuer,
		.audience = rtsync_jwt_audience,
		.leeway = rtsync_jwt_leeway_s,
		.role_claim = rtsync_jwt_role_claim,
		.default_role = rtsync_jwt_default_role,
		.now = rtsync_identity_now(),
	};
	RtsyncJwt	jwt = {0};
	const char *reason = NULL;
	RtsyncJwtStatus status;
	RtsyncTokenStatus result = RTSYNC_TOKEN_OK;
	bool		unknown = false;

	memset(out, 0, sizeof(*out));
	if (all_keys == NIL)
	{
		status = RTSYNC_JWT_INVALID;
		reason = "no keys are configured (rtsync.jwt_secret, rtsync.jwt_jwks_file)";
	}
	else
		status = rtsync_jwt_verify(token, strlen(token), &rules, &jwt, &reason);
	if (status == RTSYNC_JWT_OK && (reason = role_refusal(jwt.role, &unknown)) != NULL)
		result = unknown && may_wait ? RTSYNC_TOKEN_ROLE_UNKNOWN : RTSYNC_TOKEN_INVALID;
	else if (status != RTSYNC_JWT_OK)
		result = status == RTSYNC_JWT_EXPIRED ? RTSYNC_TOKEN_EXPIRED : RTSYNC_TOKEN_INVALID;
	if (result == RTSYNC_TOKEN_OK)
	{
		out->role = jwt.role;
		out->subject = jwt.subject;
		out->claims = jwt.claims_json;
		out->expires_at = jwt.expires_at;
	}
	else if (result != RTSYNC_TOKEN_ROLE_UNKNOWN)
		ereport(LOG,
				(errmsg("rtsync refused a token: %s", reason),
				 status == RTSYNC_JWT_OK ?
				 errdetail("The token names role \"%s\".", jwt.role) : 0));
	else
		ereport(DEBUG1, (errmsg("rtsync token role \"%s\" not known yet: %s", jwt.role, reason)));
	MemoryContextSwitchTo(old);
	return result;
}

const char *
rtsync_token_problem(RtsyncTokenStatus status)
{
	return status == RTSYNC_TOKEN_EXPIRED ? "token expired" : "invalid token";
}

/*
 * The roles the authenticator is a member of (directly or through other
 * roles), with the attributes that decide whether a token may take them.
 * Taken from pg_authid by OID, so an authenticator that does not exist
 * gives no rows rather than an error.
 */
char *
rtsync_identity_roles_sql(void)
{
	return psprintf("SELECT r.rolname, r.rolsuper, r.rolbypassrls"
					"  FROM pg_catalog.pg_authid a"
					"  JOIN pg_catalog.pg_authid r ON r.oid <> a.oid"
					"   AND pg_catalog.pg_has_role(a.oid, r.oid, 'MEMBER')"
					" WHERE a.rolname = %s",
					quote_literal_cstr(rtsync_jwt_authenticator ? rtsync_jwt_authenticator : ""));
}

void
rtsync_identity_roles_begin_load(void)
{
	HASHCTL		ctl;

	if (loading_cxt)
		MemoryContextDelete(loading_cxt);
	loading_cxt = AllocSetContextCreate(TopMemoryContext, "rtsync token roles",
										ALLOCSET_SMALL_SIZES);
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(AllowedRole);
	ctl.hcxt = loading_cxt;
	loading = hash_create("rtsync token roles", 64, &ctl,
						  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

void
rtsync_identity_roles_add(const char *role, bool superuser, bool bypassrls)
{
	AllowedRole *r;

	if (strlen(role) >= NAMEDATALEN)
		return;
	r = hash_search(loading, role, HASH_ENTER, NULL);
	r->superuser = superuser;
	r->bypassrls = bypassrls;
}

void
rtsync_identity_roles_end_load(void)
{
	if (roles_cxt)
		MemoryContextDelete(roles_cxt);
	roles_cxt = loading_cxt;
	roles = loading;
	loading_cxt = NULL;
	loading = NULL;
}
