/*-------------------------------------------------------------------------
 *
 * control/jwt.c
 *	  JSON Web Token verification: the JWS signature with Postgres' HMAC
 *	  or OpenSSL's EVP_DigestVerify, then the registered claims.
 *
 * Order of checks: shape, header, algorithm, signature, then claims; no
 * claim is trusted before the signature is. The header's "alg" only picks
 * among keys made for it (jwks.h); "none" and unknown algorithms are
 * refused, and so is a "crit" header (no extension is understood here).
 * With a "kid" only keys of that kid are tried (the secret, having none,
 * too when no key has it); without one every key that fits the algorithm.
 *
 * Times follow RFC 7519: exp and nbf are NumericDate (seconds, may be
 * fractional), each checked with rules->leeway; an iat in the future past
 * the leeway is refused too, as PostgREST does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "common/hmac.h"
#include "common/sha2.h"

#include "base/base64url.h"
#include "base/json.h"
#include "control/jwt.h"

typedef enum AlgFamily
{
	FAMILY_HS,
	FAMILY_RS,
	FAMILY_PS,
	FAMILY_ES,
	FAMILY_EDDSA
} AlgFamily;

typedef struct JwsAlg
{
	const char *name;
	AlgFamily	family;
	int			bits;			/* of the hash; EdDSA: 0 */
} JwsAlg;

static const JwsAlg jws_algs[] = {
	{"HS256", FAMILY_HS, 256}, {"HS384", FAMILY_HS, 384}, {"HS512", FAMILY_HS, 512},
	{"RS256", FAMILY_RS, 256}, {"RS384", FAMILY_RS, 384}, {"RS512", FAMILY_RS, 512},
	{"PS256", FAMILY_PS, 256}, {"PS384", FAMILY_PS, 384}, {"PS512", FAMILY_PS, 512},
	{"ES256", FAMILY_ES, 256}, {"ES384", FAMILY_ES, 384}, {"ES512", FAMILY_ES, 512},
	{"EdDSA", FAMILY_EDDSA, 0},
};

static const JwsAlg *
find_alg(const char *name)
{
	for (int i = 0; i < lengthof(jws_algs); i++)
		if (strcmp(jws_algs[i].name, name) == 0)
			return &jws_algs[i];
	return NULL;
}

/* May this key verify this algorithm? */
static bool
key_fits(const RtsyncJwk *k, const JwsAlg *alg)
{
	bool		fits;

	switch (alg->family)
	{
		case FAMILY_HS:
			fits = k->type == RTSYNC_JWK_HMAC;
			break;
		case FAMILY_RS:
		case FAMILY_PS:
			fits = k->type == RTSYNC_JWK_RSA;
			break;
		case FAMILY_ES:
			/* ES512 is P-521: 66-byte coordinates */
			fits = k->type == RTSYNC_JWK_EC &&
				k->ec_bytes == (alg->bits == 512 ? 66 : alg->bits / 8);
			break;
		default:
			fits = k->type == RTSYNC_JWK_OKP;
			break;
	}
	return fits && (k->alg == NULL || strcmp(k->alg, alg->name) == 0);
}

static bool
verify_hmac(const RtsyncJwk *k, const JwsAlg *alg, const char *input, size_t inlen,
			const uint8 *sig, size_t siglen)
{
	pg_cryptohash_type type = alg->bits == 256 ? PG_SHA256 :
		alg->bits == 384 ? PG_SHA384 : PG_SHA512;
	uint8		mac[PG_SHA512_DIGEST_LENGTH];
	size_t		maclen = alg->bits / 8;
	pg_hmac_ctx *ctx = pg_hmac_create(type);
	bool		ok;

	ok = ctx != NULL &&
		pg_hmac_init(ctx, k->secret, k->secret_len) == 0 &&
		pg_hmac_update(ctx, (const uint8 *) input, inlen) == 0 &&
		pg_hmac_final(ctx, mac, maclen) == 0;
	pg_hmac_free(ctx);
	/* constant time: the comparison must not tell how much matched */
	return ok && siglen == maclen && CRYPTO_memcmp(mac, sig, maclen) == 0;
}

/* JWS's ECDSA signature is r || s; OpenSSL verifies DER. NULL if malformed. */
static uint8 *
ecdsa_der(const uint8 *sig, size_t siglen, int coord, int *derlen)
{
	ECDSA_SIG  *es;
	BIGNUM	   *r,
			   *s;
	uint8	   *der = NULL;

	if (siglen != 2 * (size_t) coord)
		return NULL;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(sig, coord, NULL);
	s = BN_bin2bn(sig + coord, coord, NULL);
	if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s))
	{
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return NULL;
	}
	*derlen = i2d_ECDSA_SIG(es, &der);
	ECDSA_SIG_free(es);
	return *derlen > 0 ? der : NULL;
}

static bool
verify_pkey(const RtsyncJwk *k, const JwsAlg *alg, const char *input, size_t inlen,
			const uint8 *sig, size_t siglen)
{
	const EVP_MD *md = alg->family == FAMILY_EDDSA ? NULL :
		alg->bits == 256 ? EVP_sha256() : alg->bits == 384 ? EVP_sha384() : EVP_sha512();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8	   *der = NULL;
	int			derlen = 0;
	bool		ok = false;

	if (alg->family == FAMILY_ES)
	{
		der = ecdsa_der(sig, siglen, k->ec_bytes, &derlen);
		if (der == NULL)
			goto done;
		sig = der;
		siglen = derlen;
	}
	if (ctx == NULL || EVP_DigestVerifyInit(ctx, &pctx, md, NULL, k->pkey) <= 0)
		goto done;
	if (alg->family == FAMILY_PS &&
		(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
		 EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
		goto done;
	if (alg->family == FAMILY_RS &&
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
		goto done;
	ok = EVP_DigestVerify(ctx, sig, siglen, (const uint8 *) input, inlen) == 1;
done:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	/* lws shares this thread's OpenSSL error queue: leave nothing in it */
	ERR_clear_error();
	return ok;
}

static bool
verify_with(const RtsyncJwk *k, const JwsAlg *alg, const char *input, size_t inlen,
			const uint8 *sig, size_t siglen)
{
	if (alg->family == FAMILY_HS)
		return verify_hmac(k, alg, input, inlen, sig, siglen);
	return verify_pkey(k, alg, input, inlen, sig, siglen);
}

/*
 * Tries the keys the token may be signed with; false when none verifies
 * (*reason says whether there was none to try).
 */
static bool
verify_signature(const RtsyncJwtRules *rules, const JwsAlg *alg, const char *kid,
				 const char *input, size_t inlen, const uint8 *sig, size_t siglen,
				 const char **reason)
{
	bool		kid_known = false;
	bool		tried = false;
	ListCell   *lc;

	if (kid)
		foreach(lc, rules->keys)
		{
			RtsyncJwk  *k = lfirst(lc);

			if (k->kid && strcmp(k->kid, kid) == 0 && key_fits(k, alg))
				kid_known = true;
		}
	foreach(lc, rules->keys)
	{
		RtsyncJwk  *k = lfirst(lc);

		if (!key_fits(k, alg))
			continue;
		if (kid_known && (k->kid == NULL || strcmp(k->kid, kid) != 0))
			continue;
		if (kid && !kid_known && k->kid != NULL)
			continue;
		tried = true;
		if (verify_with(k, alg, input, inlen, sig, siglen))
			return true;
	}
	*reason = tried ? "the signature does not verify" :
		kid ? "no configured key has the token's kid and algorithm" :
		"no configured key is made for the token's algorithm";
	return false;
}

/* base64url JSON object, or NULL */
static JsonbContainer *
decode_object(const char *part, size_t len)
{
	size_t		n;
	uint8	   *bytes = rtsync_base64url_decode(part, len, &n);

	return bytes ? rtsync_json_parse_object((const char *) bytes, n) : NULL;
}

/*
 * A claims path: names separated by dots, each optionally quoted ("a.b")
 * and followed by array indexes: role, app_metadata.role,
 * cognito:groups[0], "https://example.com/claims".role. A leading dot is
 * allowed (PostgREST writes .role).
 */
char *
rtsync_jwt_claim_path(JsonbContainer *claims, const char *path)
{
	JsonbValue	cur;
	const char *p = path;

	cur.type = jbvBinary;
	cur.val.binary.data = claims;
	if (*p == '.')
		p++;
	while (*p)
	{
		const char *name = p;
		size_t		len;
		JsonbValue	next;

		if (*p == '"')
		{
			name = ++p;
			while (*p && *p != '"')
				p++;
			if (*p != '"')
				return NULL;
			len = p++ - name;
		}
		else
		{
			while (*p && *p != '.' && *p != '[')
				p++;
			len = p - name;
		}
		if (len == 0 || cur.type != jbvBinary || !JsonContainerIsObject(cur.val.binary.data) ||
			getKeyJsonValueFromContainer(cur.val.binary.data, name, len, &next) == NULL)
			return NULL;
		cur = next;
		while (*p == '[')
		{
			char	   *end;
			long		i = strtol(p + 1, &end, 10);
			JsonbValue *elem;

			if (end == p + 1 || *end != ']' || i < 0 || cur.type != jbvBinary ||
				!JsonContainerIsArray(cur.val.binary.data) ||
				i >= (long) JsonContainerSize(cur.val.binary.data))
				return NULL;
			elem = getIthJsonbValueFromContainer(cur.val.binary.data, (uint32) i);
			cur = *elem;
			p = end + 1;
		}
		if (*p == '.')
			p++;
		else if (*p)
			return NULL;
	}
	if (cur.type != jbvString)
		return NULL;
	return pnstrdup(cur.val.string.val, cur.val.string.len);
}

/* Is value the configured audience, or an element of an array of them? */
static bool
audience_matches(JsonbContainer *claims, const char *key, const char *audience)
{
	JsonbValue	v;

	if (!rtsync_json_get(claims, key, &v))
		return false;
	if (v.type == jbvString)
		return v.val.string.len == strlen(audience) &&
			memcmp(v.val.string.val, audience, v.val.string.len) == 0;
	if (v.type == jbvBinary && JsonContainerIsArray(v.val.binary.data))
	{
		uint32		n = JsonContainerSize(v.val.binary.data);

		for (uint32 i = 0; i < n; i++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(v.val.binary.data, i);

			if (e->type == jbvString && e->val.string.len == strlen(audience) &&
				memcmp(e->val.string.val, audience, e->val.string.len) == 0)
				return true;
		}
	}
	return false;
}

/*
 * A NumericDate claim: absent (true, *present false), a number (true), or
 * anything else (false: the token is malformed).
 */
static bool
time_claim(JsonbContainer *claims, const char *key, double *value, bool *present)
{
	JsonbValue	v;

	*present = rtsync_json_get(claims, key, &v);
	if (!*present)
		return true;
	return rtsync_json_get_number(claims, key, value);
}

static RtsyncJwtStatus
check_claims(const RtsyncJwtRules *rules, JsonbContainer *claims, RtsyncJwt *out,
			 const char **reason)
{
	double		exp,
				nbf,
				iat;
	bool		has_exp,
				has_nbf,
				has_iat;
	double		now = (double) rules->now;

	if (!time_claim(claims, "exp", &exp, &has_exp) ||
		!time_claim(claims, "nbf", &nbf, &has_nbf) ||
		!time_claim(claims, "iat", &iat, &has_iat))
	{
		*reason = "exp, nbf or iat is not a number";
		return RTSYNC_JWT_INVALID;
	}
	if (has_exp && now > exp + rules->leeway)
	{
		*reason = "the token has expired (exp)";
		return RTSYNC_JWT_EXPIRED;
	}
	if (has_nbf && now + rules->leeway < nbf)
	{
		*reason = "the token is not valid yet (nbf)";
		return RTSYNC_JWT_INVALID;
	}
	if (has_iat && now + rules->leeway < iat)
	{
		*reason = "the token was issued in the future (iat)";
		return RTSYNC_JWT_INVALID;
	}
	if (rules->issuer && rules->issuer[0])
	{
		char	   *iss = rtsync_json_get_string(claims, "iss");

		if (iss == NULL || strcmp(iss, rules->issuer) != 0)
		{
			*reason = "the issuer (iss) is not rtsync.jwt_issuer";
			return RTSYNC_JWT_INVALID;
		}
	}
	/* Cognito access tokens carry the app client as client_id, not aud */
	if (rules->audience && rules->audience[0] &&
		!audience_matches(claims, "aud", rules->audience) &&
		!audience_matches(claims, "client_id", rules->audience))
	{
		*reason = "neither aud nor client_id is rtsync.jwt_audience";
		return RTSYNC_JWT_INVALID;
	}
	out->role = rtsync_jwt_claim_path(claims, rules->role_claim ? rules->role_claim : "role");
	if (out->role == NULL && rules->default_role && rules->default_role[0])
		out->role = pstrdup(rules->default_role);
	if (out->role == NULL || out->role[0] == '\0')
	{
		*reason = "the token names no role (rtsync.jwt_role_claim) and rtsync.jwt_default_role is empty";
		return RTSYNC_JWT_INVALID;
	}
	out->subject = rtsync_json_get_string(claims, "sub");
	/* exp can be any number: clamped (to 31 million years) before the cast */
	out->expires_at = has_exp ? (int64) Min(exp + rules->leeway, 1e15) : 0;
	out->claims = claims;
	out->claims_json = JsonbToCString(NULL, claims, 256);
	return RTSYNC_JWT_OK;
}

RtsyncJwtStatus
rtsync_jwt_verify(const char *token, size_t len, const RtsyncJwtRules *rules,
				  RtsyncJwt *out, const char **reason)
{
	const char *dot1;
	const char *dot2;
	JsonbContainer *header;
	JsonbContainer *claims;
	JsonbValue	v;
	char	   *alg_name;
	const JwsAlg *alg;
	uint8	   *sig;
	size_t		siglen;

	memset(out, 0, sizeof(*out));
	*reason = NULL;
	if (len > RTSYNC_JWT_MAX_BYTES)
	{
		*reason = "the token is longer than 16 kB";
		return RTSYNC_JWT_INVALID;
	}
	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (dot1 + 1 - token)) : NULL;
	if (dot2 == NULL || memchr(dot2 + 1, '.', len - (dot2 + 1 - token)) != NULL)
	{
		*reason = "it is not a compact JWS (three dot-separated parts)";
		return RTSYNC_JWT_INVALID;
	}
	header = decode_object(token, dot1 - token);
	if (header == NULL)
	{
		*reason = "the header is not base64url JSON";
		return RTSYNC_JWT_INVALID;
	}
	alg_name = rtsync_json_get_string(header, "alg");
	alg = alg_name ? find_alg(alg_name) : NULL;
	if (alg == NULL)
	{
		*reason = "the algorithm (alg) is missing, none, or not supported";
		return RTSYNC_JWT_INVALID;
	}
	if (rtsync_json_get(header, "crit", &v))
	{
		*reason = "the header has crit extensions, which are not understood";
		return RTSYNC_JWT_INVALID;
	}
	if (rtsync_json_get(header, "kid", &v) && v.type != jbvString)
	{
		*reason = "the key id (kid) is not a string";
		return RTSYNC_JWT_INVALID;
	}
	sig = rtsync_base64url_decode(dot2 + 1, len - (dot2 + 1 - token), &siglen);
	if (sig == NULL || siglen == 0)
	{
		*reason = "the signature is not base64url";
		return RTSYNC_JWT_INVALID;
	}
	if (!verify_signature(rules, alg, rtsync_json_get_string(header, "kid"),
						  token, dot2 - token, sig, siglen, reason))
		return RTSYNC_JWT_INVALID;
	claims = decode_object(dot1 + 1, dot2 - (dot1 + 1));
	if (claims == NULL)
	{
		*reason = "the claims are not a base64url JSON object";
		return RTSYNC_JWT_INVALID;
	}
	return check_claims(rules, claims, out, reason);
}
