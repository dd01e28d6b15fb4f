/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar export xml: the libvirt <disk> element for an export of a running
 * `mortar serve`, ready for `virsh attach-device`.  What the element says
 * (read-only, discard) is asked of the server rather than taken from the
 * user, so that it matches what the server will do: a guest given
 * discard='unmap' on an export that cannot trim, or a writable disk on a
 * read-only export, fails later and less clearly.  The socket may be an
 * NBD one or a vhost-user-blk one: the server's first words tell which
 * (an NBD server greets, a vhost-user back-end waits to be asked). */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <libnbd.h>

#include "cli.h"
#include "export.h"
#include "../vhost/protocol.h"

/* How long QEMU holds a guest's requests while it reconnects to a server
 * that went away (NBD reconnect-delay): long enough for a restart, short
 * enough that a server that is gone for good fails requests soon. */
#define XML_RECONNECT_DELAY_S 10

static const char xml_usage[] =
	"Usage: mortar export xml [OPTIONS] SOCKET [NAME]\n"
	"\n"
	"Print the libvirt <disk> element for export NAME (default: the server's\n"
	"default export) of the mortar serve listening on the unix socket SOCKET\n"
	"(NBD, or vhost-user-blk: then no NAME).  The server is asked whether the\n"
	"export is read-only and can trim.\n"
	"\n"
	"  -t, --target DEV        the guest's device name (default vdb)\n"
	"      --bus BUS           virtio (default), scsi or sata\n"
	"  -r, --read-only         a read-only disk even if the export is writable\n"
	"      --reconnect-delay S how long QEMU holds requests while the server is\n"
	"                          away (default 10; 0: no <reconnect> element);\n"
	"                          vhost-user: how often it retries (default 1)\n"
	"      --queues N          vhost-user: the disk's queues (default: QEMU's)\n"
	"\n"
	"Then: virsh attach-device DOMAIN FILE.  See mortar-export(1).\n";

/* The disk as it will be printed. */
struct xml_disk {
	const char *socket;
	const char *name;		/* NULL: the default export */
	const char *target, *bus;
	bool read_only, discard;
	unsigned reconnect_delay_s;	/* 0: no <reconnect> */
	bool delay_given;
	bool vhost;			/* a vhost-user-blk socket */
	unsigned queues;		/* vhost-user: 0, QEMU's default */
};

/* How often QEMU tries a vhost-user socket again when its server went
 * away (reconnect=): the guest's requests wait meanwhile, so retry
 * often. */
#define XML_VHOST_RETRY_S 1

enum { OPT_BUS = 0x100, OPT_RECONNECT, OPT_QUEUES };

const struct option export_xml_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "target", required_argument, NULL, 't' },
	{ "bus", required_argument, NULL, OPT_BUS },
	{ "read-only", no_argument, NULL, 'r' },
	{ "readonly", no_argument, NULL, 'r' },
	{ "reconnect-delay", required_argument, NULL, OPT_RECONNECT },
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ NULL, 0, NULL, 0 },
};

/* ---- parsing ---- */

static int xml_bus(const char *arg, const char **bus)
{
	static const char *const buses[] = { "virtio", "scsi", "sata" };

	for (size_t i = 0; i < sizeof buses / sizeof buses[0]; i++)
		if (!strcmp(arg, buses[i])) {
			*bus = buses[i];
			return 0;
		}
	return cli_usage("export xml", "--bus wants virtio, scsi or sata, not '%s'", arg);
}

/* libvirt names target devices like vdb, sda, hdc: letters, then letters
 * or digits. */
static int xml_target(const char *arg, const char **target)
{
	size_t n = strlen(arg);

	if (n == 0 || n > 32 || strspn(arg, "abcdefghijklmnopqrstuvwxyz0123456789") != n ||
	    strspn(arg, "abcdefghijklmnopqrstuvwxyz") == 0)
		return cli_usage("export xml", "--target wants a device name such as vdb "
				 "or sdc, not '%s'", arg);
	*target = arg;
	return 0;
}

/* 0 to go on, -1 after --help, or the exit code of a usage error. */
static int xml_parse(int argc, char **argv, struct xml_disk *d, bool *force_ro)
{
	int c;

	*d = (struct xml_disk){ .target = "vdb", .bus = "virtio",
				.reconnect_delay_s = XML_RECONNECT_DELAY_S };
	*force_ro = false;
	optind = 1;
	while ((c = getopt_long(argc, argv, "ht:r", export_xml_options, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(xml_usage, stdout);
			return -1;
		case 't':
			if (xml_target(optarg, &d->target))
				return EXIT_USAGE;
			break;
		case OPT_BUS:
			if (xml_bus(optarg, &d->bus))
				return EXIT_USAGE;
			break;
		case 'r':
			*force_ro = true;
			break;
		case OPT_RECONNECT:
			if (cli_opt_seconds("export xml", "--reconnect-delay", optarg, 0, 3600,
					    &d->reconnect_delay_s) < 0)
				return EXIT_USAGE;
			d->delay_given = true;
			break;
		case OPT_QUEUES:
			if (cli_opt_uint("export xml", "--queues", optarg, 1, 64, &d->queues) < 0)
				return EXIT_USAGE;
			break;
		default:
			return cli_bad_option("export xml", argv);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage("export xml", "expected SOCKET and at most one export NAME");
	d->socket = argv[optind];
	d->name = argc - optind == 2 ? argv[optind + 1] : NULL;
	if (d->socket[0] != '/')
		return cli_usage("export xml", "SOCKET must be an absolute path (libvirt and "
				 "QEMU open it from elsewhere), not '%s'", d->socket);
	return 0;
}

/* ---- asking the server ---- */

/* The exports of the server, for a message: "a, b, c" (or "none"). */
static int xml_list_one(void *user_data, const char *name, const char *description)
{
	char *buf = user_data;
	size_t used = strlen(buf);

	(void)description;
	if (used < 200)
		snprintf(buf + used, 256 - used, "%s'%s'", used ? ", " : "", name);
	return 0;
}

/* H is still negotiating after a refused NBD_OPT_INFO: ask it for the
 * list as well. */
static void xml_list(struct nbd_handle *h, char list[256])
{
	list[0] = '\0';
	nbd_opt_list(h, (nbd_list_callback){ .callback = xml_list_one, .user_data = list });
	if (!list[0])
		snprintf(list, 256, "none that it lists");
}

static int xml_connect_error(const struct xml_disk *d, int err)
{
	if (err == ENOENT || err == ECONNREFUSED)
		return cli_error("export xml", "no server listens on %s (%s); start one with "
				 "'mortar serve --socket %s --socket-group kvm IMAGE'", d->socket,
				 strerror(err), d->socket);
	if (err == EACCES || err == EPERM)
		return cli_error("export xml", "cannot open %s: %s; run this as the server's "
				 "user or root", d->socket, strerror(err));
	return cli_error("export xml", "cannot talk NBD with %s: %s", d->socket,
			 nbd_get_error() ? nbd_get_error() : strerror(err ? err : EIO));
}

/* Fill D's read_only and discard from the server; 0 or an exit code. */
static int xml_probe(struct xml_disk *d)
{
	struct nbd_handle *h = nbd_create();
	char list[256];
	int rc = 0;

	if (!h)
		return cli_error("export xml", "libnbd: %s", nbd_get_error());
	if (nbd_set_opt_mode(h, true) < 0 || nbd_set_export_name(h, d->name ? d->name : "") < 0) {
		rc = cli_error("export xml", "libnbd: %s", nbd_get_error());
	} else if (nbd_connect_unix(h, d->socket) < 0) {
		rc = xml_connect_error(d, nbd_get_errno());
	} else if (nbd_opt_info(h) < 0) {
		/* The handshake worked: the name is what the server refused. */
		xml_list(h, list);
		rc = cli_error("export xml", "the server on %s has no %s%s%s (%s); its "
			       "exports: %s", d->socket, d->name && *d->name ? "export '" :
			       "default export", d->name ? d->name : "",
			       d->name && *d->name ? "'" : "",
			       nbd_get_error() ? nbd_get_error() : "refused", list);
	} else {
		d->read_only = nbd_is_read_only(h) > 0;
		d->discard = !d->read_only && nbd_can_trim(h) > 0;
		nbd_opt_abort(h);
	}
	nbd_close(h);
	return rc;
}

/* A vhost-user back-end answers GET_FEATURES with its device's features:
 * the block device's say read-only and discard.  0 or an exit code. */
static int xml_probe_vhost(struct xml_disk *d, int fd)
{
	struct vhost_user_hdr q = { .request = VHOST_USER_GET_FEATURES,
				    .flags = VHOST_USER_VERSION };
	struct { struct vhost_user_hdr h; uint64_t features; } __attribute__((packed)) a;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (send(fd, &q, sizeof q, MSG_NOSIGNAL) != sizeof q || poll(&p, 1, 5000) != 1 ||
	    recv(fd, &a, sizeof a, MSG_WAITALL) != sizeof a ||
	    a.h.request != VHOST_USER_GET_FEATURES || !(a.h.flags & VHOST_USER_REPLY) ||
	    a.h.size != sizeof a.features)
		return cli_error("export xml", "the server on %s speaks neither NBD nor "
				 "vhost-user", d->socket);
	d->vhost = true;
	d->read_only = a.features & (1ull << VIRTIO_BLK_F_RO);
	d->discard = a.features & (1ull << VIRTIO_BLK_F_DISCARD);
	return 0;
}

/* Which protocol the socket speaks: an NBD server greets at once, a
 * vhost-user back-end waits to be asked.  0 or an exit code. */
static int xml_probe_protocol(struct xml_disk *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pollfd p;
	char magic[8];
	int fd, rc = 0;

	if (strlen(d->socket) >= sizeof sa.sun_path)
		return cli_usage("export xml", "%s: too long for a unix socket", d->socket);
	strcpy(sa.sun_path, d->socket);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		rc = xml_connect_error(d, errno);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 1000) == 1) {
		if (recv(fd, magic, sizeof magic, MSG_WAITALL) != sizeof magic ||
		    memcmp(magic, "NBDMAGIC", sizeof magic))
			rc = cli_error("export xml", "the server on %s speaks neither NBD nor "
				       "vhost-user", d->socket);
	} else {
		rc = xml_probe_vhost(d, fd);
	}
	close(fd);
	return rc;
}

/* ---- printing ---- */

/* S with XML's five special characters as entities (paths and export
 * names may hold any of them). */
static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '\'': fputs("&apos;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
}

/* QEMU's NBD client over a unix socket, the raw image as the guest's disk.
 * cache='none': the server owns caching.  libvirt 9.0 accepts <reconnect>
 * for NBD and drops it (later versions pass it to QEMU): harmless where it
 * is not honoured. */
static void xml_print_nbd(FILE *f, const struct xml_disk *d)
{
	fprintf(f, "<disk type='network' device='disk'>\n");
	fprintf(f, "  <driver name='qemu' type='raw' cache='none'%s/>\n",
		d->discard ? " discard='unmap'" : "");
	fputs("  <source protocol='nbd'", f);
	if (d->name && *d->name) {
		fputs(" name='", f);
		xml_text(f, d->name);
		fputc('\'', f);
	}
	fputs(">\n    <host transport='unix' socket='", f);
	xml_text(f, d->socket);
	fputs("'/>\n", f);
	if (d->reconnect_delay_s)
		fprintf(f, "    <reconnect delay='%u'/>\n", d->reconnect_delay_s);
	fputs("  </source>\n", f);
	fprintf(f, "  <target dev='%s' bus='%s'/>\n", d->target, d->bus);
	if (d->read_only)
		fputs("  <readonly/>\n", f);
	fputs("</disk>\n", f);
}

/* A vhost-user-blk disk: the server decides read-only and discard (the
 * guest sees its features), so the element names neither.  The domain
 * must share its memory with the server, which a <disk> cannot say: the
 * comment says it, and attach-device skips it. */
static void xml_print_vhost(FILE *f, const struct xml_disk *d)
{
	fputs("<!-- the domain needs shared memory: <memoryBacking><source type='memfd'/>"
	      "<access mode='shared'/></memoryBacking> -->\n", f);
	fputs("<disk type='vhostuser' device='disk'>\n  <driver name='qemu' type='raw'", f);
	if (d->queues)
		fprintf(f, " queues='%u'", d->queues);
	fputs("/>\n  <source type='unix' path='", f);
	xml_text(f, d->socket);
	fputs("'>\n", f);
	if (d->reconnect_delay_s)
		fprintf(f, "    <reconnect enabled='yes' timeout='%u'/>\n",
			d->delay_given ? d->reconnect_delay_s : XML_VHOST_RETRY_S);
	fputs("  </source>\n", f);
	fprintf(f, "  <target dev='%s' bus='virtio'/>\n", d->target);
	fputs("</disk>\n", f);
}

/* What a vhost-user socket cannot honour.  0 or an exit code. */
static int xml_check_vhost(const struct xml_disk *d, bool force_ro)
{
	if (d->name)
		return cli_usage("export xml", "%s is a vhost-user-blk socket: it serves one "
				 "export, give no NAME", d->socket);
	if (strcmp(d->bus, "virtio"))
		return cli_usage("export xml", "a vhost-user-blk disk is on the virtio bus, "
				 "not %s", d->bus);
	if (force_ro && !d->read_only)
		return cli_usage("export xml", "the export on %s is writable, and a "
				 "vhost-user-blk disk is what its server says: serve it with "
				 "--read-only", d->socket);
	return 0;
}

int export_xml(int argc, char **argv)
{
	struct xml_disk d;
	bool force_ro;
	int rc = xml_parse(argc, argv, &d, &force_ro);

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	rc = xml_probe_protocol(&d);
	if (rc == 0 && d.vhost)
		rc = xml_check_vhost(&d, force_ro);
	else if (rc == 0)
		rc = xml_probe(&d);
	if (rc)
		return rc;
	if (force_ro) {
		d.read_only = true;
		d.discard = false;
	}
	if (d.vhost)
		xml_print_vhost(stdout, &d);
	else
		xml_print_nbd(stdout, &d);
	return fflush(stdout) == 0 ? EXIT_OK : cli_error("export xml", "writing: %m");
}
