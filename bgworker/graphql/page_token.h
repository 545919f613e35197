/*-------------------------------------------------------------------------
 *
 * graphql/page_token.h
 *	  The nextToken of a list field: where the next page starts.
 *
 * A token is base64 of a JSON array of the last row's key values, as text.
 * query/result.c makes one from a page's last row; graphql/query_plan.c
 * reads the one a client sends back as the list's nextToken argument.
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_PAGE_TOKEN_H
#define RTSYNC_PAGE_TOKEN_H

/*
 * Encoding gives a palloc'd token for nkeys key values; decoding gives
 * those values back, or NULL for a token that is not one of ours (nkeys
 * values expected).
 */
extern char *rtsync_page_token_encode(char **keys, int nkeys);
extern char **rtsync_page_token_decode(const char *token, int nkeys);

#endif							/* RTSYNC_PAGE_TOKEN_H */
