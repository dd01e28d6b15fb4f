/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar-bench: a small fio-like driver that reads an image through
 * libmortar, so that bench/file.sh can compare it with fio's io_uring
 * engine on the same file.
 *
 *   mortar-bench --pattern randread|read --bs SIZE --iodepth N
 *                --runtime SECONDS [--size BYTES] [--direct] [--json] FILE
 *
 * N requests are kept in flight: every completion callback submits the
 * next request from the same slot (same aligned buffer).  The first 0.5 s
 * are a warm-up that is not measured.
 *
 * Offsets: "read" goes sequentially from 0 and wraps at the end of the
 * region (--size, default the whole image).  "randread" draws offsets
 * aligned to bs uniformly at random with xorshift64*; unlike fio's default
 * it keeps no random map (a block may be read twice before every block was
 * read once), which makes no measurable difference on a 1 GiB file and is
 * what fio does with --norandommap.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <mortar/mortar.h>

#define WARMUP_NS 500000000ull
#define BUF_ALIGN 4096

enum pattern { PAT_RANDREAD, PAT_READ };

struct bench;

struct slot {
	struct bench *b;
	void *buf;
	struct iovec iov;
};

struct bench {
	struct mortar_image *img;
	enum pattern pattern;
	uint64_t bs;
	uint64_t region;	/* bytes of the image used, multiple of bs */
	uint64_t nblocks;	/* region / bs */
	uint64_t next_off;	/* sequential: next offset */
	uint64_t rng;		/* xorshift64* state */

	bool stop;		/* no more resubmissions */
	bool measuring;
	uint64_t ios;		/* completions while measuring */
	int error;		/* first failure (negative errno) */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of the process so far, user and system, in ns. */
static void cpu_ns(uint64_t *usr, uint64_t *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*usr = (uint64_t)ru.ru_utime.tv_sec * 1000000000ull +
	       (uint64_t)ru.ru_utime.tv_usec * 1000ull;
	*sys = (uint64_t)ru.ru_stime.tv_sec * 1000000000ull +
	       (uint64_t)ru.ru_stime.tv_usec * 1000ull;
}

static uint64_t xorshift64s(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static uint64_t next_offset(struct bench *b)
{
	uint64_t off;

	if (b->pattern == PAT_RANDREAD) {
		/* 128-bit multiply-shift: uniform enough, no division. */
		off = (uint64_t)(((unsigned __int128)xorshift64s(&b->rng) *
				  b->nblocks) >> 64);
		return off * b->bs;
	}
	off = b->next_off;
	b->next_off += b->bs;
	if (b->next_off >= b->region)
		b->next_off = 0;
	return off;
}

static void slot_done(void *opaque, int res);

static int slot_submit(struct slot *s)
{
	struct bench *b = s->b;
	int r;

	r = mortar_image_preadv(b->img, &s->iov, 1, next_offset(b), 0,
				slot_done, s);
	if (r < 0) {
		fprintf(stderr, "mortar-bench: submit failed: %s\n", mortar_errmsg());
		if (!b->error)
			b->error = r;
		b->stop = true;
	}
	return r;
}

static void slot_done(void *opaque, int res)
{
	struct slot *s = opaque;
	struct bench *b = s->b;

	if (res < 0) {
		fprintf(stderr, "mortar-bench: read failed: %s\n", mortar_errmsg());
		if (!b->error)
			b->error = res;
		b->stop = true;
		return;
	}
	if (b->measuring)
		b->ios++;
	if (!b->stop)
		slot_submit(s);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mortar-bench --pattern randread|read --bs SIZE --iodepth N\n"
		"                    --runtime SECONDS [--size BYTES] [--direct] [--json] FILE\n");
}

static int parse_size_arg(const char *opt, const char *text, uint64_t *out)
{
	if (mortar_parse_size(text, out) < 0) {
		fprintf(stderr, "mortar-bench: %s: %s\n", opt, mortar_errmsg());
		return -1;
	}
	return 0;
}

struct opts {
	const char *path;
	uint64_t size;
	double runtime;
	long iodepth;
	bool direct, json;
};

/* An option with a value; 0, or the exit code 2 after the message. */
static int parse_value(struct bench *b, struct opts *o, const char *a, const char *v)
{
	char *end;

	if (!strcmp(a, "--pattern")) {
		if (!strcmp(v, "randread"))
			b->pattern = PAT_RANDREAD;
		else if (!strcmp(v, "read"))
			b->pattern = PAT_READ;
		else {
			fprintf(stderr, "mortar-bench: --pattern must be randread or read, "
				"not '%s'\n", v);
			return 2;
		}
	} else if (!strcmp(a, "--bs")) {
		return parse_size_arg(a, v, &b->bs) < 0 ? 2 : 0;
	} else if (!strcmp(a, "--size")) {
		return parse_size_arg(a, v, &o->size) < 0 ? 2 : 0;
	} else if (!strcmp(a, "--iodepth")) {
		errno = 0;
		o->iodepth = strtol(v, &end, 10);
		if (errno || *end || o->iodepth < 1 || o->iodepth > 4096) {
			fprintf(stderr, "mortar-bench: --iodepth must be 1..4096\n");
			return 2;
		}
	} else if (!strcmp(a, "--runtime")) {
		errno = 0;
		o->runtime = strtod(v, &end);
		if (*end == 's')
			end++;
		if (errno || *end || !(o->runtime > 0)) {
			fprintf(stderr, "mortar-bench: --runtime must be a positive "
				"number of seconds\n");
			return 2;
		}
	} else {
		fprintf(stderr, "mortar-bench: unknown option %s\n", a);
		usage(stderr);
		return 2;
	}
	return 0;
}

/* 0 to go on, -1 after --help, else the exit code. */
static int parse_args(int argc, char **argv, struct bench *b, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int r;

		if (!strcmp(a, "--direct")) {
			o->direct = true;
		} else if (!strcmp(a, "--json")) {
			o->json = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return -1;
		} else if (a[0] != '-' || a[1] == '\0') {
			if (o->path) {
				usage(stderr);
				return 2;
			}
			o->path = a;
		} else if (i + 1 == argc) {
			fprintf(stderr, "mortar-bench: %s needs a value\n", a);
			return 2;
		} else if ((r = parse_value(b, o, a, argv[++i])) != 0) {
			return r;
		}
	}
	if (!o->path) {
		usage(stderr);
		return 2;
	}
	if (b->bs == 0 || b->bs > (1u << 30)) {
		fprintf(stderr, "mortar-bench: --bs must be 1 byte .. 1 GiB\n");
		return 2;
	}
	return 0;
}

/* The image and the region to use; 0 or -1 (said). */
static int open_image(struct mortar_loop *loop, struct bench *b, const struct opts *o)
{
	unsigned flags = MORTAR_OPEN_RDONLY | (o->direct ? MORTAR_OPEN_DIRECT : 0);

	if (mortar_image_open_text(loop, o->path, flags, &b->img) < 0) {
		fprintf(stderr, "mortar-bench: %s\n", mortar_errmsg());
		return -1;
	}
	b->region = mortar_image_size(b->img);
	if (o->size && o->size < b->region)
		b->region = o->size;
	b->nblocks = b->region / b->bs;
	b->region = b->nblocks * b->bs;
	if (b->nblocks == 0) {
		fprintf(stderr, "mortar-bench: %s is smaller than one block of %" PRIu64
			" bytes\n", o->path, b->bs);
		return -1;
	}
	b->rng = now_ns() ^ 0x9E3779B97F4A7C15ull;
	if (!b->rng)
		b->rng = 1;
	return 0;
}

static struct slot *make_slots(struct bench *b, long iodepth)
{
	struct slot *slots = calloc((size_t)iodepth, sizeof *slots);

	if (!slots) {
		fprintf(stderr, "mortar-bench: out of memory\n");
		return NULL;
	}
	for (long i = 0; i < iodepth; i++) {
		slots[i].b = b;
		if (posix_memalign(&slots[i].buf, BUF_ALIGN, b->bs)) {
			fprintf(stderr, "mortar-bench: out of memory for buffers\n");
			for (long j = 0; j < i; j++)
				free(slots[j].buf);
			free(slots);
			return NULL;
		}
		/* Touch the buffers so that page faults stay out of the run. */
		memset(slots[i].buf, 0, b->bs);
		slots[i].iov.iov_base = slots[i].buf;
		slots[i].iov.iov_len = b->bs;
	}
	return slots;
}

struct measure {
	uint64_t t_start, t_end, usr0, sys0, usr1, sys1;
};

/* Keep IODEPTH requests in flight for the warm-up and the run; count
 * those that complete in the measured window. */
static void run(struct mortar_loop *loop, struct bench *b, struct slot *slots,
		const struct opts *o, struct measure *m)
{
	uint64_t t0 = now_ns(), deadline = t0 + WARMUP_NS + (uint64_t)(o->runtime * 1e9);

	for (long i = 0; i < o->iodepth && !b->stop; i++)
		slot_submit(&slots[i]);
	for (;;) {
		uint64_t t;

		if (mortar_loop_run_once(loop, -1) < 0) {
			fprintf(stderr, "mortar-bench: %s\n", mortar_errmsg());
			b->error = -1;
			b->stop = true;
			break;
		}
		if (b->stop)
			break;
		t = now_ns();
		if (!b->measuring && t - t0 >= WARMUP_NS) {
			b->measuring = true;
			b->ios = 0;
			m->t_start = t;
			cpu_ns(&m->usr0, &m->sys0);
		}
		if (t >= deadline)
			break;
	}
	m->t_end = now_ns();
	cpu_ns(&m->usr1, &m->sys1);
	b->measuring = false;
	b->stop = true;
	/* Drain what is still in flight; those completions are not counted. */
	while (mortar_loop_in_flight(loop) > 0)
		if (mortar_loop_run_once(loop, -1) < 0)
			break;
}

static void report(const struct bench *b, const struct opts *o, const struct measure *m)
{
	double secs = (double)(m->t_end - m->t_start) / 1e9;
	double iops = secs > 0 ? (double)b->ios / secs : 0;
	double bw = iops * (double)b->bs / (1024.0 * 1024.0);
	/* Percent of one CPU over the measured window, as fio's
	 * usr_cpu/sys_cpu. */
	double usr = secs > 0 ? (double)(m->usr1 - m->usr0) / 1e7 / secs : 0;
	double sys = secs > 0 ? (double)(m->sys1 - m->sys0) / 1e7 / secs : 0;

	if (o->json)
		printf("{\"iops\": %.1f, \"bw_mib\": %.2f, \"ios\": %" PRIu64
		       ", \"seconds\": %.6f, \"usr_cpu\": %.2f, \"sys_cpu\": %.2f}\n",
		       iops, bw, b->ios, secs, usr, sys);
	else
		printf("%s bs=%" PRIu64 " iodepth=%ld%s: %" PRIu64 " ios in %.3f s: "
		       "IOPS=%.0f, BW=%.1f MiB/s, cpu usr=%.1f%% sys=%.1f%%\n",
		       b->pattern == PAT_RANDREAD ? "randread" : "read", b->bs,
		       o->iodepth, o->direct ? " direct" : "", b->ios, secs, iops, bw,
		       usr, sys);
}

int main(int argc, char **argv)
{
	struct bench b = { .pattern = PAT_RANDREAD, .bs = 4096, .rng = 0 };
	struct opts o = { .runtime = 10.0, .iodepth = 1 };
	struct mortar_loop *loop = NULL;
	struct slot *slots = NULL;
	struct measure m = { 0 };
	int ret = parse_args(argc, argv, &b, &o);

	if (ret)
		return ret < 0 ? 0 : ret;
	ret = 1;
	if (mortar_loop_new((unsigned)(o.iodepth < 64 ? 64 : o.iodepth * 2), &loop) < 0) {
		fprintf(stderr, "mortar-bench: %s\n", mortar_errmsg());
		return 1;
	}
	if (open_image(loop, &b, &o) == 0 && (slots = make_slots(&b, o.iodepth))) {
		run(loop, &b, slots, &o, &m);
		if (!b.error) {
			report(&b, &o, &m);
			ret = 0;
		}
	}
	if (b.img && mortar_image_close(b.img) < 0 && ret == 0) {
		fprintf(stderr, "mortar-bench: close: %s\n", mortar_errmsg());
		ret = 1;
	}
	if (slots) {
		for (long i = 0; i < o.iodepth; i++)
			free(slots[i].buf);
		free(slots);
	}
	mortar_loop_free(loop);
	return ret;
}
