/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Control channel of running `mortar serve` processes: lets another mortar
 * command (img snapshot) quiesce the exports of one image for an instant. */
#ifndef MORTAR_NBD_CONTROL_H
#define MORTAR_NBD_CONTROL_H

struct serve_quiesce;

/* Finds every `mortar serve` of this user that exports LOCATION (any
 * spelling that parses to the same location) and asks each to quiesce it:
 * new requests wait, requests in flight finish, the image is flushed.
 * Returns the number of servers now quiesced (0 when none serves it) and
 * sets *Q, or a negative errno with mortar_errmsg() set (nothing stays
 * quiesced then).  The servers resume on serve_quiesce_end(), when this
 * process dies, or after a safety timeout of 60 s. */
int serve_quiesce_begin(const char *location, struct serve_quiesce **q);
void serve_quiesce_end(struct serve_quiesce *q);

#endif
