/*-------------------------------------------------------------------------
 *
 * sqlapi/schema.h
 *	  The schema as an ordinary backend sees it (sqlapi/schema.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef RTSYNC_SQLAPI_SCHEMA_H
#define RTSYNC_SQLAPI_SCHEMA_H

#include "graphql/schema.h"

/*
 * The schema the worker would build, read through SPI in this backend
 * (for the SQL functions that plan or print against it).
 */
extern RtsyncSchema *rtsync_schema_load_spi(void);

#endif							/* RTSYNC_SQLAPI_SCHEMA_H */
