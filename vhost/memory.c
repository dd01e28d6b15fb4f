/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The guest's memory as the front-end shares it: regions of memfd (or
 * hugetlbfs) files, mapped here once, and the two translations the
 * protocol needs: guest physical addresses (in descriptors) and the
 * front-end's own addresses (of the rings).  The table only changes
 * while no queue runs (device.c stops them first), so the workers read
 * it without locks. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "internal.h"

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int vhost_mem_add_host(struct vhost_mem *m, uint64_t gpa, uint64_t size, uint64_t uva,
		       uint8_t *host)
{
	struct vhost_region *r;

	if (m->n == VHOST_MAX_REGIONS)
		return mortar_set_error(ENOSPC, "more than %d memory regions",
					VHOST_MAX_REGIONS);
	if (size == 0 || gpa + size < gpa || uva + size < uva)
		return mortar_set_error(EINVAL, "memory region at guest address 0x%" PRIx64
					" of %" PRIu64 " bytes is empty or wraps", gpa, size);
	for (unsigned i = 0; i < m->n; i++)
		if (overlaps(gpa, size, m->r[i].gpa, m->r[i].size))
			return mortar_set_error(EINVAL, "memory region at guest address "
						"0x%" PRIx64 " overlaps another", gpa);
	r = &m->r[m->n++];
	*r = (struct vhost_region){ .gpa = gpa, .size = size, .uva = uva, .host = host };
	return 0;
}

int vhost_mem_add(struct vhost_mem *m, const struct vhost_user_region *ur, int fd)
{
	uint64_t len = ur->memory_size + ur->mmap_offset;
	void *map;
	int r;

	if (len < ur->memory_size || len > SIZE_MAX || ur->memory_size == 0)
		return mortar_set_error(EINVAL, "memory region of %" PRIu64 " bytes at "
					"offset %" PRIu64 " cannot be mapped",
					ur->memory_size, ur->mmap_offset);
	map = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
		   fd, 0);
	if (map == MAP_FAILED)
		return mortar_set_error(errno, "cannot map guest memory (%" PRIu64 " bytes): "
					"%m; is the guest's memory shared (share=on on "
					"its memory backend)?", len);
	r = vhost_mem_add_host(m, ur->guest_phys_addr, ur->memory_size, ur->userspace_addr,
			       (uint8_t *)map + ur->mmap_offset);
	if (r < 0) {
		munmap(map, (size_t)len);
		return r;
	}
	m->r[m->n - 1].map = map;
	m->r[m->n - 1].maplen = (size_t)len;
	/* The guest's memory is its own business, not the server's: keep it
	 * out of core dumps. */
	madvise(map, (size_t)len, MADV_DONTDUMP);
	return 0;
}

static void region_unmap(struct vhost_region *r)
{
	if (r->map)
		munmap(r->map, r->maplen);
	r->map = NULL;
}

int vhost_mem_remove(struct vhost_mem *m, const struct vhost_user_region *ur)
{
	for (unsigned i = 0; i < m->n; i++) {
		struct vhost_region *r = &m->r[i];

		if (r->gpa != ur->guest_phys_addr || r->size != ur->memory_size ||
		    r->uva != ur->userspace_addr)
			continue;
		region_unmap(r);
		m->r[i] = m->r[--m->n];
		return 0;
	}
	return mortar_set_error(ENOENT, "no memory region at guest address 0x%" PRIx64
				" of %" PRIu64 " bytes to remove", ur->guest_phys_addr,
				ur->memory_size);
}

void vhost_mem_clear(struct vhost_mem *m)
{
	for (unsigned i = 0; i < m->n; i++)
		region_unmap(&m->r[i]);
	m->n = 0;
}

void *vhost_mem_gpa(const struct vhost_mem *m, uint64_t gpa, uint64_t *len)
{
	for (unsigned i = 0; i < m->n; i++) {
		const struct vhost_region *r = &m->r[i];

		if (gpa - r->gpa < r->size) {
			uint64_t left = r->size - (gpa - r->gpa);

			if (*len > left)
				*len = left;
			return r->host + (gpa - r->gpa);
		}
	}
	return NULL;
}

void *vhost_mem_uva(const struct vhost_mem *m, uint64_t uva, uint64_t len)
{
	for (unsigned i = 0; i < m->n; i++) {
		const struct vhost_region *r = &m->r[i];

		if (uva - r->uva < r->size && len <= r->size - (uva - r->uva))
			return r->host + (uva - r->uva);
	}
	return NULL;
}

#define LOG_PAGE 4096u

void vhost_log_gpa(const struct vhost_log *log, uint64_t gpa, uint64_t len)
{
	uint64_t page, last;

	if (!log->bits || len == 0)
		return;
	last = (gpa + len - 1) / LOG_PAGE;
	for (page = gpa / LOG_PAGE; page <= last && page / 8 < log->len; page++)
		__atomic_fetch_or(&log->bits[page / 8], (uint8_t)(1u << (page % 8)),
				  __ATOMIC_RELAXED);
}

static const struct vhost_region *region_of_host(const struct vhost_mem *m, const uint8_t *p)
{
	for (unsigned i = 0; i < m->n; i++)
		if (p >= m->r[i].host && p < m->r[i].host + m->r[i].size)
			return &m->r[i];
	return NULL;
}

void vhost_log_host(const struct vhost_log *log, const struct vhost_mem *m, const void *host,
		    uint64_t len)
{
	const uint8_t *p = host;
	const struct vhost_region *r;

	while (log->bits && len && (r = region_of_host(m, p))) {
		uint64_t left = (uint64_t)(r->host + r->size - p), n = left < len ? left : len;

		vhost_log_gpa(log, r->gpa + (uint64_t)(p - r->host), n);
		p += n;
		len -= n;
	}
}

void *vhost_mem_gpa_whole(const struct vhost_mem *m, uint64_t gpa, uint64_t len)
{
	uint64_t got = len;
	void *p = vhost_mem_gpa(m, gpa, &got);

	return p && got == len ? p : NULL;
}
