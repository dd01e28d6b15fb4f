/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar export xml: the libvirt <disk> element for an export of a running
 * `mortar serve`, ready for `virsh attach-device`.  What the element says
 * (read-only, discard) is asked of the server over NBD rather than taken
 * from the user, so that it matches what the server will do: a guest
 * given discard='unmap' on an export that cannot trim, or a writable disk
 * on a read-only export, fails later and less clearly. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <libnbd.h>

#include "cli.h"
#include "export.h"

/* How long QEMU holds a guest's requests while it reconnects to a server
 * that went away (NBD reconnect-delay): long enough for a restart, short
 * enough that a server that is gone for good fails requests soon. */
#define XML_RECONNECT_DELAY_S 10

static const char xml_usage[] =
	"Usage: mortar export xml [OPTIONS] SOCKET [NAME]\n"
	"\n"
	"Print the libvirt <disk> element for export NAME (default: the server's\n"
	"default export) of the mortar serve listening on the unix socket SOCKET.\n"
	"The server is asked whether the export is read-only and can trim.\n"
	"\n"
	"  -t, --target DEV        the guest's device name (default vdb)\n"
	"      --bus BUS           virtio (default), scsi or sata\n"
	"  -r, --read-only         a read-only disk even if the export is writable\n"
	"      --reconnect-delay S how long QEMU holds requests while the server is\n"
	"                          away (default 10; 0: no <reconnect> element)\n"
	"\n"
	"Then: virsh attach-device DOMAIN FILE.  See mortar-export(1).\n";

/* The disk as it will be printed. */
struct xml_disk {
	const char *socket;
	const char *name;		/* NULL: the default export */
	const char *target, *bus;
	bool read_only, discard;
	unsigned reconnect_delay_s;	/* 0: no <reconnect> */
};

enum { OPT_BUS = 0x100, OPT_RECONNECT };

const struct option export_xml_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "target", required_argument, NULL, 't' },
	{ "bus", required_argument, NULL, OPT_BUS },
	{ "read-only", no_argument, NULL, 'r' },
	{ "readonly", no_argument, NULL, 'r' },
	{ "reconnect-delay", required_argument, NULL, OPT_RECONNECT },
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

static int xml_connect_error(const struct xml_disk *d)
{
	int err = nbd_get_errno();

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
		rc = xml_connect_error(d);
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

int export_xml(int argc, char **argv)
{
	struct xml_disk d;
	bool force_ro;
	int rc = xml_parse(argc, argv, &d, &force_ro);

	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	rc = xml_probe(&d);
	if (rc)
		return rc;
	if (force_ro) {
		d.read_only = true;
		d.discard = false;
	}
	xml_print_nbd(stdout, &d);
	return fflush(stdout) == 0 ? EXIT_OK : cli_error("export xml", "writing: %m");
}
