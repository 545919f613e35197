/*-------------------------------------------------------------------------
 *
 * control/jwks.c
 *	  JSON Web Keys (RFC 7517, 7518, 8037) to OpenSSL 3 public keys.
 *
 * Only signature keys are taken ("use" absent or "sig"); the public parts
 * are built with EVP_PKEY_fromdata, so no PEM is involved. RSA keys shorter
 * than 2048 bits are refused (RFC 7518 section 3.3 requires 2048).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/core_names.h>
#include <openssl/param_build.h>

#include "base/base64url.h"
#include "base/json.h"
#include "control/jwks.h"

#define MIN_RSA_BITS 2048

RtsyncJwk *
rtsync_jwk_from_secret(const char *secret)
{
	RtsyncJwk  *k = palloc0(sizeof(RtsyncJwk));

	k->type = RTSYNC_JWK_HMAC;
	k->secret_len = strlen(secret);
	k->secret = (uint8 *) pstrdup(secret);
	return k;
}

/* A base64url member of a JWK, decoded; NULL when absent or not base64url. */
static uint8 *
member_bytes(JsonbContainer *jwk, const char *name, size_t *len)
{
	char	   *text = rtsync_json_get_string(jwk, name);

	return text ? rtsync_base64url_decode(text, strlen(text), len) : NULL;
}

/* An OpenSSL key from parameters; NULL when OpenSSL refuses them. */
static EVP_PKEY *
key_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY   *pkey = NULL;

	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static const char *
rsa_key(JsonbContainer *jwk, RtsyncJwk *k)
{
	size_t		nlen,
				elen;
	uint8	   *n = member_bytes(jwk, "n", &nlen);
	uint8	   *e = member_bytes(jwk, "e", &elen);
	BIGNUM	   *bn_n,
			   *bn_e;
	OSSL_PARAM_BLD *bld;

	if (n == NULL || e == NULL || nlen == 0 || elen == 0)
		return "an RSA key needs \"n\" and \"e\"";
	bn_n = BN_bin2bn(n, nlen, NULL);
	bn_e = BN_bin2bn(e, elen, NULL);
	bld = OSSL_PARAM_BLD_new();
	if (bn_n && bn_e && bld &&
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
		OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
		k->pkey = key_from_params("RSA", bld);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	if (k->pkey == NULL)
		return "OpenSSL refused the RSA key";
	if (EVP_PKEY_get_bits(k->pkey) < MIN_RSA_BITS)
		return "the RSA key is shorter than 2048 bits";
	k->type = RTSYNC_JWK_RSA;
	return NULL;
}

static const char *
ec_key(JsonbContainer *jwk, RtsyncJwk *k)
{
	char	   *crv = rtsync_json_get_string(jwk, "crv");
	const char *group;
	size_t		xlen,
				ylen;
	uint8	   *x = member_bytes(jwk, "x", &xlen);
	uint8	   *y = member_bytes(jwk, "y", &ylen);
	uint8	   *point;
	OSSL_PARAM_BLD *bld;

	if (crv == NULL)
		return "an EC key needs \"crv\"";
	if (strcmp(crv, "P-256") == 0)
		group = "prime256v1", k->ec_bytes = 32;
	else if (strcmp(crv, "P-384") == 0)
		group = "secp384r1", k->ec_bytes = 48;
	else if (strcmp(crv, "P-521") == 0)
		group = "secp521r1", k->ec_bytes = 66;
	else
		return "the EC curve is not P-256, P-384 or P-521";
	if (x == NULL || y == NULL || xlen != k->ec_bytes || ylen != k->ec_bytes)
		return "an EC key needs \"x\" and \"y\" of its curve's size";
	/* the public point, uncompressed (SEC 1): 0x04 || x || y */
	point = palloc(1 + 2 * k->ec_bytes);
	point[0] = 0x04;
	memcpy(point + 1, x, k->ec_bytes);
	memcpy(point + 1 + k->ec_bytes, y, k->ec_bytes);
	bld = OSSL_PARAM_BLD_new();
	if (bld &&
		OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
		OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * k->ec_bytes))
		k->pkey = key_from_params("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	if (k->pkey == NULL)
		return "OpenSSL refused the EC key (is the point on the curve?)";
	k->type = RTSYNC_JWK_EC;
	return NULL;
}

static const char *
okp_key(JsonbContainer *jwk, RtsyncJwk *k)
{
	char	   *crv = rtsync_json_get_string(jwk, "crv");
	size_t		xlen;
	uint8	   *x = member_bytes(jwk, "x", &xlen);

	if (crv == NULL || strcmp(crv, "Ed25519") != 0)
		return "the OKP curve is not Ed25519";
	if (x == NULL || xlen != 32)
		return "an Ed25519 key needs a 32-byte \"x\"";
	k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);
	if (k->pkey == NULL)
		return "OpenSSL refused the Ed25519 key";
	k->type = RTSYNC_JWK_OKP;
	return NULL;
}

static const char *
oct_key(JsonbContainer *jwk, RtsyncJwk *k)
{
	k->secret = member_bytes(jwk, "k", &k->secret_len);
	if (k->secret == NULL)
		return "a symmetric key needs \"k\"";
	if (k->secret_len < RTSYNC_JWT_MIN_SECRET_BYTES)
		return "the symmetric key is shorter than 32 bytes";
	k->type = RTSYNC_JWK_HMAC;
	return NULL;
}

/* One JWK; NULL and *why set when it is not a usable signature key. */
static RtsyncJwk *
parse_key(JsonbContainer *jwk, const char **why)
{
	RtsyncJwk  *k = palloc0(sizeof(RtsyncJwk));
	char	   *kty = rtsync_json_get_string(jwk, "kty");
	char	   *use = rtsync_json_get_string(jwk, "use");
	JsonbValue	v;

	*why = NULL;
	if (use != NULL && strcmp(use, "sig") != 0)
		*why = "its \"use\" is not \"sig\"";
	else if (rtsync_json_get(jwk, "kid", &v) && v.type != jbvString)
		*why = "its \"kid\" is not a string";
	else if (rtsync_json_get(jwk, "alg", &v) && v.type != jbvString)
		*why = "its \"alg\" is not a string";
	else if (kty == NULL)
		*why = "it has no \"kty\"";
	else if (strcmp(kty, "RSA") == 0)
		*why = rsa_key(jwk, k);
	else if (strcmp(kty, "EC") == 0)
		*why = ec_key(jwk, k);
	else if (strcmp(kty, "OKP") == 0)
		*why = okp_key(jwk, k);
	else if (strcmp(kty, "oct") == 0)
		*why = oct_key(jwk, k);
	else
		*why = "its \"kty\" is not RSA, EC, OKP or oct";
	if (*why)
	{
		EVP_PKEY_free(k->pkey);
		return NULL;
	}
	k->kid = rtsync_json_get_string(jwk, "kid");
	k->alg = rtsync_json_get_string(jwk, "alg");
	return k;
}

List *
rtsync_jwks_parse(const char *text, size_t len, char **problem)
{
	JsonbContainer *root = rtsync_json_parse_object(text, len);
	JsonbContainer *array = rtsync_json_get_array(root, "keys");
	List	   *keys = NIL;
	uint32		n;

	*problem = NULL;
	if (array == NULL)
	{
		*problem = pstrdup(root ? "it has no \"keys\" array" : "it is not a JSON object");
		return NULL;
	}
	n = JsonContainerSize(array);
	for (uint32 i = 0; i < n; i++)
	{
		JsonbValue *v = getIthJsonbValueFromContainer(array, i);
		const char *why = "it is not an object";
		RtsyncJwk  *k = NULL;

		if (v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data))
			k = parse_key(v->val.binary.data, &why);
		if (k)
			keys = lappend(keys, k);
		else
			ereport(LOG,
					(errmsg("rtsync skips key %u of the JWKS file: %s", i, why)));
	}
	return keys;
}

void
rtsync_jwks_free(List *keys)
{
	ListCell   *lc;

	foreach(lc, keys)
	{
		RtsyncJwk  *k = lfirst(lc);

		EVP_PKEY_free(k->pkey);
		k->pkey = NULL;
	}
}
