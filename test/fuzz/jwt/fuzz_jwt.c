/*-------------------------------------------------------------------------
 *
 * fuzz_jwt.c
 *	  libFuzzer target for token sign-in: JSON Web Token verification
 *	  (bgworker/control/jwt.c), JWKS parsing (control/jwks.c) and claims
 *	  paths, with the real code linked outside the server.
 *
 * The first byte picks what the rest is:
 *	0: a token as a client sends it, verified against an HMAC secret and
 *	   RSA, P-256 and Ed25519 keys made at start (kids "rsa", "ec", "ed");
 *	1: "<header>.<claims>" in base64url, signed here with that secret, so
 *	   the claims checks (exp, nbf, iat, iss, aud, the role path) run on
 *	   whatever the fuzzer writes;
 *	2: a JWKS document;
 *	3: a claims path, looked up in fixed claims.
 * Failures, besides what the sanitizers catch: an ERROR escaping (bad input
 * must be a refusal), a token accepted without a role, and memory left
 * behind once the input's context is gone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>

#include "utils/memutils.h"

#include "base/json.h"
#include "control/jwks.h"
#include "control/jwt.h"

extern void rtsync_shim_init(void);
extern Size rtsync_shim_allocated;

#define SECRET "the fuzzer's HMAC secret, over thirty-two bytes"

static List *keys = NIL;

/* A public-key JWK of a key made here (signatures will not verify: the paths run). */
static RtsyncJwk *
made_key(RtsyncJwkType type, EVP_PKEY *pkey, int ec_bytes, const char *kid)
{
	RtsyncJwk  *k = palloc0(sizeof(RtsyncJwk));

	if (pkey == NULL)
	{
		fprintf(stderr, "fuzz_jwt: OpenSSL made no key\n");
		abort();
	}
	k->type = type;
	k->pkey = pkey;
	k->ec_bytes = ec_bytes;
	k->kid = pstrdup(kid);
	return k;
}

static void
init_once(void)
{
	MemoryContext old;

	if (keys != NIL)
		return;
	rtsync_shim_init();
	old = MemoryContextSwitchTo(TopMemoryContext);
	keys = list_make1(rtsync_jwk_from_secret(SECRET));
	keys = lappend(keys, made_key(RTSYNC_JWK_RSA, EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048), 0, "rsa"));
	keys = lappend(keys, made_key(RTSYNC_JWK_EC, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), 32, "ec"));
	keys = lappend(keys, made_key(RTSYNC_JWK_OKP, EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), 0, "ed"));
	MemoryContextSwitchTo(old);
}

static void
b64url(StringInfo out, const unsigned char *data, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

	for (size_t i = 0; i < len; i += 3)
	{
		unsigned	v = data[i] << 16 | (i + 1 < len ? data[i + 1] << 8 : 0) |
			(i + 2 < len ? data[i + 2] : 0);

		appendStringInfoChar(out, alphabet[(v >> 18) & 63]);
		appendStringInfoChar(out, alphabet[(v >> 12) & 63]);
		if (i + 1 < len)
			appendStringInfoChar(out, alphabet[(v >> 6) & 63]);
		if (i + 2 < len)
			appendStringInfoChar(out, alphabet[v & 63]);
	}
}

static void
verify(const char *token, size_t len)
{
	RtsyncJwtRules rules = {
		.keys = keys, .issuer = "https://issuer.test", .audience = "fuzz",
		.leeway = 30, .role_claim = "cognito:groups[0]", .default_role = "anon",
		.now = 1800000000,
	};
	RtsyncJwt	jwt;
	const char *reason = NULL;
	RtsyncJwtStatus status = rtsync_jwt_verify(token, len, &rules, &jwt, &reason);

	if (status == RTSYNC_JWT_OK && (jwt.role == NULL || jwt.claims_json == NULL))
	{
		fprintf(stderr, "fuzz_jwt: accepted without a role or claims\n");
		abort();
	}
	if (status != RTSYNC_JWT_OK && reason == NULL)
	{
		fprintf(stderr, "fuzz_jwt: refused without a reason\n");
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	MemoryContext cxt;
	MemoryContext old;
	Size		before;

	init_once();
	if (size < 1)
		return 0;
	before = rtsync_shim_allocated;
	cxt = AllocSetContextCreate(TopMemoryContext, "fuzz input", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	switch (data[0] % 4)
	{
		case 0:
			verify((const char *) data + 1, size - 1);
			break;
		case 1:
			{
				/* header JSON, a NUL, claims JSON: encoded and signed here */
				const unsigned char *body = data + 1;
				size_t		n = size - 1;
				const unsigned char *nul = memchr(body, '\0', n);
				size_t		hlen = nul ? (size_t) (nul - body) : n;
				StringInfoData token;
				unsigned char mac[EVP_MAX_MD_SIZE];
				unsigned int maclen;

				initStringInfo(&token);
				b64url(&token, body, hlen);
				appendStringInfoChar(&token, '.');
				if (nul)
					b64url(&token, nul + 1, n - hlen - 1);
				HMAC(EVP_sha256(), SECRET, strlen(SECRET), (unsigned char *) token.data,
					 token.len, mac, &maclen);
				appendStringInfoChar(&token, '.');
				b64url(&token, mac, maclen);
				verify(token.data, token.len);
				break;
			}
		case 2:
			{
				char	   *problem = NULL;
				List	   *parsed = rtsync_jwks_parse((const char *) data + 1, size - 1, &problem);

				if (parsed == NIL && problem == NULL && size > 1 &&
					rtsync_json_get_array(rtsync_json_parse_object((const char *) data + 1, size - 1),
										  "keys") == NULL)
				{
					fprintf(stderr, "fuzz_jwt: a JWKS that is none, without a problem\n");
					abort();
				}
				rtsync_jwks_free(parsed);
				break;
			}
		default:
			{
				static const char claims[] =
					"{\"role\": \"r\", \"cognito:groups\": [\"a\", \"b\"],"
					" \"app\": {\"role\": \"x\", \"list\": [[\"deep\"]]}, \"https://x/y\": {\"role\": \"q\"}}";
				JsonbContainer *c = rtsync_json_parse_object(claims, strlen(claims));
				char	   *path = pnstrdup((const char *) data + 1, size - 1);

				(void) rtsync_jwt_claim_path(c, path);
				break;
			}
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	if (rtsync_shim_allocated != before)
	{
		fprintf(stderr, "fuzz_jwt: %zd bytes left behind\n",
				(ssize_t) (rtsync_shim_allocated - before));
		abort();
	}
	return 0;
}
