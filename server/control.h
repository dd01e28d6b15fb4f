/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Control channel of running `mortar serve` processes: lets another mortar
 * command quiesce the exports of one image for an instant (img snapshot),
 * or resize an image they export (img resize). */
#ifndef MORTAR_NBD_CONTROL_H
#define MORTAR_NBD_CONTROL_H

#include <stdint.h>

#include <mortar/location.h>

struct serve_quiesce;

struct nbd_server;

/* Finds every `mortar serve` of this user that exports LOCATION (any
 * spelling of the same image) and asks each to quiesce it:
 * new requests wait, requests in flight finish, the image is flushed.
 * Returns the number of servers now quiesced (0 when none serves it) and
 * sets *Q, or a negative errno with mortar_errmsg() set (nothing stays
 * quiesced then; an unusable runtime directory is such an error).  The
 * servers resume on serve_quiesce_end(), when this process dies, or after
 * their quiesce timeout: serve_quiesce_end() then returns -ETIMEDOUT with
 * the message set, since what was copied meanwhile may be inconsistent. */
int serve_quiesce_begin(const struct mortar_location *location, struct serve_quiesce **q);
int serve_quiesce_end(struct serve_quiesce *q);

/* Asks every `mortar serve` of this user that exports LOCATION to resize
 * it to SIZE bytes (FLAGS: MORTAR_REQ_SHRINK) through its own handles,
 * and to tell its clients where the protocol can (vhost-user-blk guests
 * see the new capacity at once).  Returns how many servers did (0: none
 * exports it, resize it yourself), or -errno with the message set. */
int serve_resize(const struct mortar_location *location, uint64_t size, unsigned flags);

#endif
