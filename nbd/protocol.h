/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The NBD wire protocol: constants and layouts, as the NBD project's
 * doc/proto.md defines them.  Everything on the wire is big-endian. */
#ifndef MORTAR_NBD_PROTOCOL_H
#define MORTAR_NBD_PROTOCOL_H

#include <stdint.h>

/* Handshake. */
#define NBD_MAGIC		0x4e42444d41474943ull	/* "NBDMAGIC" */
#define NBD_IHAVEOPT		0x49484156454f5054ull	/* "IHAVEOPT" */
#define NBD_OLDSTYLE_MAGIC	0x00420281861253ull
#define NBD_REP_MAGIC		0x0003e889045565a9ull

#define NBD_FLAG_FIXED_NEWSTYLE	(1u << 0)	/* handshake and client flags */
#define NBD_FLAG_NO_ZEROES	(1u << 1)

/* Options. */
#define NBD_OPT_EXPORT_NAME		1
#define NBD_OPT_ABORT			2
#define NBD_OPT_LIST			3
#define NBD_OPT_STARTTLS		5
#define NBD_OPT_INFO			6
#define NBD_OPT_GO			7
#define NBD_OPT_STRUCTURED_REPLY	8
#define NBD_OPT_LIST_META_CONTEXT	9
#define NBD_OPT_SET_META_CONTEXT	10
#define NBD_OPT_EXTENDED_HEADERS	11

/* Option replies. */
#define NBD_REP_ACK		1
#define NBD_REP_SERVER		2
#define NBD_REP_INFO		3
#define NBD_REP_META_CONTEXT	4
#define NBD_REP_ERR(n)		((1u << 31) | (n))
#define NBD_REP_ERR_UNSUP		NBD_REP_ERR(1)
#define NBD_REP_ERR_POLICY		NBD_REP_ERR(2)
#define NBD_REP_ERR_INVALID		NBD_REP_ERR(3)
#define NBD_REP_ERR_PLATFORM		NBD_REP_ERR(4)
#define NBD_REP_ERR_TLS_REQD		NBD_REP_ERR(5)
#define NBD_REP_ERR_UNKNOWN		NBD_REP_ERR(6)
#define NBD_REP_ERR_SHUTDOWN		NBD_REP_ERR(7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD	NBD_REP_ERR(8)
#define NBD_REP_ERR_TOO_BIG		NBD_REP_ERR(9)

/* NBD_INFO_* in NBD_REP_INFO and in NBD_OPT_INFO/GO requests. */
#define NBD_INFO_EXPORT		0
#define NBD_INFO_NAME		1
#define NBD_INFO_DESCRIPTION	2
#define NBD_INFO_BLOCK_SIZE	3

/* Transmission flags (mortar's MORTAR_CAP_* use the same bits). */
#define NBD_FLAG_HAS_FLAGS		(1u << 0)
#define NBD_FLAG_READ_ONLY		(1u << 1)
#define NBD_FLAG_SEND_FLUSH		(1u << 2)
#define NBD_FLAG_SEND_FUA		(1u << 3)
#define NBD_FLAG_ROTATIONAL		(1u << 4)
#define NBD_FLAG_SEND_TRIM		(1u << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES	(1u << 6)
#define NBD_FLAG_SEND_DF		(1u << 7)
#define NBD_FLAG_CAN_MULTI_CONN		(1u << 8)
#define NBD_FLAG_SEND_RESIZE		(1u << 9)
#define NBD_FLAG_SEND_CACHE		(1u << 10)
#define NBD_FLAG_SEND_FAST_ZERO		(1u << 11)

/* Transmission. */
#define NBD_REQUEST_MAGIC		0x25609513u
#define NBD_SIMPLE_REPLY_MAGIC		0x67446698u
#define NBD_STRUCTURED_REPLY_MAGIC	0x668e33efu

#define NBD_CMD_READ		0
#define NBD_CMD_WRITE		1
#define NBD_CMD_DISC		2
#define NBD_CMD_FLUSH		3
#define NBD_CMD_TRIM		4
#define NBD_CMD_CACHE		5
#define NBD_CMD_WRITE_ZEROES	6
#define NBD_CMD_BLOCK_STATUS	7

#define NBD_CMD_FLAG_FUA	(1u << 0)
#define NBD_CMD_FLAG_NO_HOLE	(1u << 1)
#define NBD_CMD_FLAG_DF		(1u << 2)
#define NBD_CMD_FLAG_REQ_ONE	(1u << 3)
#define NBD_CMD_FLAG_FAST_ZERO	(1u << 4)

#define NBD_REPLY_FLAG_DONE		(1u << 0)
#define NBD_REPLY_TYPE_NONE		0
#define NBD_REPLY_TYPE_OFFSET_DATA	1
#define NBD_REPLY_TYPE_OFFSET_HOLE	2
#define NBD_REPLY_TYPE_BLOCK_STATUS	5
#define NBD_REPLY_TYPE_ERROR		((1u << 15) + 1)
#define NBD_REPLY_TYPE_ERROR_OFFSET	((1u << 15) + 2)

#define NBD_STATE_HOLE	(1u << 0)
#define NBD_STATE_ZERO	(1u << 1)

/* Errors on the wire: the spec's fixed numbers, whatever the host's. */
#define NBD_EPERM	1
#define NBD_EIO		5
#define NBD_ENOMEM	12
#define NBD_EINVAL	22
#define NBD_ENOSPC	28
#define NBD_EOVERFLOW	75
#define NBD_ENOTSUP	95
#define NBD_ESHUTDOWN	108

#define NBD_DEFAULT_PORT 10809

/* Sizes of the fixed parts. */
#define NBD_REQUEST_SIZE		28
#define NBD_SIMPLE_REPLY_SIZE		16
#define NBD_STRUCTURED_REPLY_SIZE	20

/* Limits the spec sets or suggests. */
#define NBD_MAX_STRING		4096	/* export names, descriptions, messages */

#endif
