/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Data integrity: a randomized workload of writes, reads, trims, zeroes and
 * flushes through libmortar, checked against an in-memory model, buffered
 * and with O_DIRECT.  Requests go in batches of up to 8 in flight; requests
 * of a batch never share a byte but often share a block (adjacent,
 * unaligned), which is what the O_DIRECT read-modify-write lock is for.
 * MORTAR_SEED reproduces a run; MORTAR_WORKLOAD_OPS changes its length. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mortar/mortar.h>
#include "tap.h"
#include "testutil.h"

#define SIZE (8u << 20)
#define MAXLEN (96u << 10)
#define BATCH 8

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: fast, good enough, reproducible from the seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

enum op_type { OP_READ, OP_WRITE, OP_TRIM, OP_ZERO, OP_FLUSH };

struct op {
	enum op_type type;
	uint64_t off, len;
	unsigned flags;
	unsigned char *mem, *buf;	/* buf may be mem + 1: unaligned */
	bool done;
	int res;
};

static void op_done(void *opaque, int res)
{
	struct op *o = opaque;

	o->done = true;
	o->res = res;
}

static bool overlaps(const struct op *ops, int n, uint64_t off, uint64_t len)
{
	for (int i = 0; i < n; i++)
		if (ops[i].type != OP_FLUSH && off < ops[i].off + ops[i].len &&
		    ops[i].off < off + len)
			return true;
	return false;
}

struct stats {
	unsigned ops, reads, writes, trims, zeroes, flushes, fast_refused, unaligned;
};

static int run(struct mortar_loop *loop, const char *path, unsigned oflags,
	       unsigned nops, struct stats *s)
{
	struct mortar_image *img;
	unsigned char *model = calloc(1, SIZE), *check = malloc(SIZE);
	struct op ops[BATCH];
	int failures = 0;

	if (!model || !check)
		TAP_BAIL("out of memory");
	if (mortar_image_create_text(path, SIZE, MORTAR_PREALLOC_OFF, MORTAR_CREATE_FORCE) < 0 ||
	    mortar_image_open_text(loop, path, oflags, &img) < 0)
		TAP_BAIL("setup: %s", mortar_errmsg());

	while (s->ops < nops && failures < 5) {
		int n = 1 + (int)rnd_below(BATCH);
		int k = 0;

		memset(ops, 0, sizeof ops);
		for (int tries = 0; k < n && tries < 4 * n; tries++) {
			struct op *o = &ops[k];
			unsigned p = (unsigned)rnd_below(100);
			bool aligned = rnd_below(2);

			o->type = p < 30 ? OP_READ : p < 70 ? OP_WRITE : p < 80 ? OP_TRIM :
				  p < 96 ? OP_ZERO : OP_FLUSH;
			if (o->type != OP_FLUSH) {
				o->len = 1 + rnd_below(MAXLEN);
				/* Often start right after the previous request, so
				 * that both touch one block. */
				if (k > 0 && rnd_below(3) == 0 && ops[k - 1].type != OP_FLUSH)
					o->off = ops[k - 1].off + ops[k - 1].len;
				else
					o->off = rnd_below(SIZE);
				if (aligned) {
					o->off &= ~4095ull;
					o->len = (o->len + 4095) & ~4095ull;
				}
				if (o->off >= SIZE)
					continue;
				if (o->len > SIZE - o->off)
					o->len = SIZE - o->off;
				if (overlaps(ops, k, o->off, o->len))
					continue;
				if (!aligned)
					s->unaligned++;
			}
			if (o->type == OP_READ || o->type == OP_WRITE) {
				o->mem = malloc(o->len + 4096 + 1);
				if (!o->mem)
					TAP_BAIL("out of memory");
				/* Aligned buffer half the time, odd address otherwise. */
				o->buf = (unsigned char *)(((uintptr_t)o->mem + 4095) & ~(uintptr_t)4095);
				if (rnd_below(2))
					o->buf++;
				if (o->type == OP_WRITE)
					for (uint64_t i = 0; i < o->len; i++)
						o->buf[i] = (unsigned char)rnd();
			}
			if (o->type == OP_WRITE && rnd_below(4) == 0)
				o->flags |= MORTAR_REQ_FUA;
			if (o->type == OP_ZERO) {
				if (rnd_below(2))
					o->flags |= MORTAR_REQ_MAY_TRIM;
				if (rnd_below(4) == 0)
					o->flags |= MORTAR_REQ_FAST;
			}
			k++;
		}
		for (int i = 0; i < k; i++) {
			struct op *o = &ops[i];
			struct iovec iov[3];
			int r = 0, cnt = 1;

			switch (o->type) {
			case OP_READ:
			case OP_WRITE:
				/* Split into up to three pieces to exercise iovecs. */
				if (o->len >= 3 && rnd_below(2)) {
					uint64_t a = 1 + rnd_below(o->len - 2);
					uint64_t b = a + 1 + rnd_below(o->len - a - 1);
					iov[0] = (struct iovec){ o->buf, a };
					iov[1] = (struct iovec){ o->buf + a, b - a };
					iov[2] = (struct iovec){ o->buf + b, o->len - b };
					cnt = 3;
				} else {
					iov[0] = (struct iovec){ o->buf, o->len };
				}
				r = o->type == OP_READ ?
					mortar_image_preadv(img, iov, cnt, o->off, 0, op_done, o) :
					mortar_image_pwritev(img, iov, cnt, o->off, o->flags, op_done, o);
				break;
			case OP_TRIM:
				r = mortar_image_trim(img, o->off, o->len, 0, op_done, o);
				break;
			case OP_ZERO:
				r = mortar_image_zero(img, o->off, o->len, o->flags, op_done, o);
				break;
			case OP_FLUSH:
				r = mortar_image_flush(img, 0, op_done, o);
				break;
			}
			if (r < 0) {
				tap_diag("submit failed: %s", mortar_errmsg());
				o->done = true;
				o->res = r;
			}
		}
		while (mortar_loop_in_flight(loop))
			if (mortar_loop_run_once(loop, 5000) < 0)
				TAP_BAIL("loop: %s", mortar_errmsg());
		for (int i = 0; i < k; i++) {
			struct op *o = &ops[i];

			if (!o->done) {
				tap_diag("op %u never completed", s->ops);
				failures++;
				continue;
			}
			if (o->res == -ENOTSUP && o->type == OP_ZERO && (o->flags & MORTAR_REQ_FAST)) {
				s->fast_refused++;
			} else if (o->res < 0) {
				tap_diag("op %u (type %d, %" PRIu64 "+%" PRIu64 ") failed: %s",
					 s->ops, o->type, o->off, o->len, mortar_errmsg());
				failures++;
			} else if (o->type == OP_READ) {
				if (memcmp(o->buf, model + o->off, o->len)) {
					tap_diag("op %u: read %" PRIu64 "+%" PRIu64 " differs from "
						 "the model", s->ops, o->off, o->len);
					failures++;
				}
				s->reads++;
			} else if (o->type == OP_WRITE) {
				memcpy(model + o->off, o->buf, o->len);
				s->writes++;
			} else if (o->type == OP_TRIM) {
				/* The file backend trims by punching holes: zeroes. */
				memset(model + o->off, 0, o->len);
				s->trims++;
			} else if (o->type == OP_ZERO) {
				memset(model + o->off, 0, o->len);
				s->zeroes++;
			} else {
				s->flushes++;
			}
			free(o->mem);
			s->ops++;
		}
	}
	if (mortar_image_pread_sync(img, check, SIZE, 0) < 0 || memcmp(check, model, SIZE)) {
		tap_diag("final read through libmortar differs from the model");
		failures++;
	}
	if (mortar_image_close(img) < 0) {
		tap_diag("close: %s", mortar_errmsg());
		failures++;
	}
	/* And what a plain read of the file sees, bypassing libmortar. */
	{
		int fd = open(path, O_RDONLY);
		if (fd < 0 || pread(fd, check, SIZE, 0) != SIZE || memcmp(check, model, SIZE)) {
			tap_diag("the file on disk differs from the model");
			failures++;
		}
		if (fd >= 0)
			close(fd);
	}
	free(model);
	free(check);
	return failures;
}

int main(void)
{
	const char *seed_env = getenv("MORTAR_SEED"), *ops_env = getenv("MORTAR_WORKLOAD_OPS");
	unsigned nops = ops_env ? (unsigned)atoi(ops_env) : 12000;
	struct mortar_loop *loop;
	char *dir = test_tmpdir();
	char path[512];
	uint64_t seed;

	seed = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
	if (!seed)
		seed = 1;
	tap_diag("MORTAR_SEED=%" PRIu64 " MORTAR_WORKLOAD_OPS=%u", seed, nops);
	if (mortar_loop_new(0, &loop) < 0)
		TAP_BAIL("loop: %s", mortar_errmsg());
	snprintf(path, sizeof path, "%s/workload.img", dir);
	for (int mode = 0; mode < 2; mode++) {
		struct stats s = { 0 };
		int f;

		rng_state = seed + (uint64_t)mode;
		f = run(loop, path, mode ? MORTAR_OPEN_DIRECT : 0, nops, &s);
		tap_ok(f == 0 && s.ops >= nops,
		       "%s: %u ops (%u reads, %u writes, %u trims, %u zeroes, %u flushes, "
		       "%u unaligned, %u fast zeroes refused) match the model",
		       mode ? "O_DIRECT" : "buffered", s.ops, s.reads, s.writes, s.trims,
		       s.zeroes, s.flushes, s.unaligned, s.fast_refused);
	}
	mortar_loop_free(loop);
	test_rmdir(dir);
	return tap_done();
}
