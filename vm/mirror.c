/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Disks that move (mirror.h).  Jobs are "move-diskI", their target nodes
 * "moveI"; jobs are not dismissed by QEMU on their own, so that one that
 * failed is still there to say why. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "mirror.h"
#include "view.h"
#include "vm-json.h"

int vm_mirror_start(struct qmp *q, unsigned i, const char *host, const char *port,
		    const char *name)
{
	json_object *a = json_object_new_object(), *srv = json_object_new_object();
	char node[16], src[16], job[24];
	int r;

	snprintf(node, sizeof node, "move%u", i);
	snprintf(src, sizeof src, "disk%u", i);
	snprintf(job, sizeof job, "move-disk%u", i);
	vm_json_put_str(srv, "type", "inet");
	vm_json_put_str(srv, "host", host);
	vm_json_put_str(srv, "port", port);
	vm_json_put_str(a, "driver", "nbd");
	vm_json_put_str(a, "node-name", node);
	json_object_object_add(a, "server", srv);
	vm_json_put_str(a, "export", name);
	if ((r = qmp_execute(q, "blockdev-add", a, NULL)) < 0)
		return mortar_error_prefix("the target's export of disk %u (%s:%s) cannot be "
					   "opened", i, host, port), r;
	a = json_object_new_object();
	vm_json_put_str(a, "job-id", job);
	vm_json_put_str(a, "device", src);
	vm_json_put_str(a, "target", node);
	vm_json_put_str(a, "sync", "full");
	json_object_object_add(a, "auto-dismiss", json_object_new_boolean(0));
	if ((r = qmp_execute(q, "blockdev-mirror", a, NULL)) < 0) {
		mortar_error_prefix("copying disk %u cannot start", i);
		a = json_object_new_object();
		vm_json_put_str(a, "node-name", node);
		qmp_execute(q, "blockdev-del", a, NULL);
	}
	return r;
}

/* The status of job JOB ("" when there is none), its error into ERR. */
static void job_status(struct qmp *q, const char *job, char *status, size_t len, char *err,
		       size_t elen)
{
	json_object *jobs;

	status[0] = err[0] = '\0';
	if (qmp_execute(q, "query-jobs", NULL, &jobs) < 0)
		return;
	for (size_t i = 0; i < vm_json_len(jobs); i++) {
		json_object *j = json_object_array_get_idx(jobs, i);

		if (strcmp(vm_json_str(j, "id"), job))
			continue;
		snprintf(status, len, "%s", vm_json_str(j, "status"));
		snprintf(err, elen, "%s", vm_json_str(j, "error"));
	}
	json_object_put(jobs);
}

/* Cancel the job of disk I (a mirror in sync completes: its target then
 * holds the source's data), wait up to TIMEOUT_MS for it to conclude,
 * dismiss it and drop its target.  0, or -errno with a message. */
static int job_end(struct qmp *q, unsigned i, int timeout_ms)
{
	char job[24], node[16], status[32], err[512];
	long end = vm_now_ms() + timeout_ms;
	json_object *a = json_object_new_object();
	int r = 0;

	snprintf(job, sizeof job, "move-disk%u", i);
	snprintf(node, sizeof node, "move%u", i);
	vm_json_put_str(a, "device", job);
	qmp_execute(q, "block-job-cancel", a, NULL);
	for (;; usleep(20000)) {
		job_status(q, job, status, sizeof status, err, sizeof err);
		if (!strcmp(status, "concluded") || !status[0])
			break;
		if (vm_now_ms() > end) {
			r = mortar_set_error(ETIMEDOUT, "the copy of disk %u did not finish "
					     "within %d s", i, timeout_ms / 1000);
			break;
		}
	}
	if (r == 0 && err[0])
		r = mortar_set_error(EIO, "copying disk %u failed: %s", i, err);
	a = json_object_new_object();
	vm_json_put_str(a, "id", job);
	qmp_execute(q, "job-dismiss", a, NULL);
	a = json_object_new_object();
	vm_json_put_str(a, "node-name", node);
	qmp_execute(q, "blockdev-del", a, NULL);
	return r;
}

int vm_mirror_finish(struct qmp *q, unsigned mask, int timeout_ms)
{
	int r = 0;

	for (unsigned i = 0; mask >> i; i++)
		if (mask & 1u << i) {
			int e = job_end(q, i, timeout_ms);

			r = r < 0 ? r : e;
		}
	return r;
}

/* (after a failure whose message is the one to keep: a cancelled job
 * reports "Operation canceled", which would hide the cause) */
void vm_mirror_abort(struct qmp *q, unsigned mask)
{
	char msg[1024];
	int err = mortar_errno();

	snprintf(msg, sizeof msg, "%s", mortar_errmsg());
	for (unsigned i = 0; mask >> i; i++)
		if (mask & 1u << i) {
			json_object *a = json_object_new_object();
			char job[24];

			snprintf(job, sizeof job, "move-disk%u", i);
			vm_json_put_str(a, "device", job);
			json_object_object_add(a, "force", json_object_new_boolean(1));
			qmp_execute(q, "block-job-cancel", a, NULL);
			job_end(q, i, 10000);
		}
	if (err)
		mortar_set_error(err, "%s", msg);
}
