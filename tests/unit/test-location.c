/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit test of the location parser and formatter (lib/location.c).
 *
 * Three tables: inputs that must parse (each checked field by field and
 * round-tripped through the formatter), inputs that must be refused
 * (each with a piece of the message and the index the caret points at),
 * and a few hand-written checks for what tables express badly.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <mortar/error.h>
#include <mortar/location.h>

#include "tap.h"

#define TCP MORTAR_TRANSPORT_TCP
#define UNIX MORTAR_TRANSPORT_UNIX
#define RDMA MORTAR_TRANSPORT_RDMA
#define VSOCK MORTAR_TRANSPORT_VSOCK

struct want_server {
	enum mortar_transport transport;
	const char *host;
	int port;
	const char *socket;
};

struct good {
	const char *text;
	enum mortar_scheme scheme;
	const char *path;		/* file: path; gluster: image */
	bool file_uri;
	const char *volume;
	const char *export_name;
	bool tls;
	size_t nservers;
	struct want_server servers[4];
	const char *canon;		/* what the formatter must give */
};

#define FILEPATH(t, p) { .text = t, .scheme = MORTAR_SCHEME_FILE, .path = p, .canon = t }
#define FILEURI(t, p, c) { .text = t, .scheme = MORTAR_SCHEME_FILE, .path = p, .file_uri = true, .canon = c }

static const struct good goods[] = {
	/* Plain paths: anything that does not start with SCHEME://. */
	FILEPATH("disk.img", "disk.img"),
	FILEPATH("/var/lib/images/disk.img", "/var/lib/images/disk.img"),
	FILEPATH("./a:b", "./a:b"),
	FILEPATH("a:b", "a:b"),
	FILEPATH("/x//y", "/x//y"),
	FILEPATH("./gluster://h/v/i", "./gluster://h/v/i"),
	FILEPATH("dir with spaces/a%20b#1?x", "dir with spaces/a%20b#1?x"),
	FILEPATH("-", "-"),
	FILEPATH("./json:x", "./json:x"),
	FILEPATH("C:\\images\\a.img", "C:\\images\\a.img"),
	FILEPATH("\xc3\xa9t\xc3\xa9.img", "\xc3\xa9t\xc3\xa9.img"),

	/* file:// URIs. */
	FILEURI("file:///var/lib/images/disk.img", "/var/lib/images/disk.img",
		"file:///var/lib/images/disk.img"),
	FILEURI("file://localhost/abs", "/abs", "file:///abs"),
	FILEURI("FILE://LocalHost/abs", "/abs", "file:///abs"),
	FILEURI("file:///a%20b/c%25d", "/a b/c%d", "file:///a%20b/c%25d"),
	FILEURI("file:///q%3Fh%23", "/q?h#", "file:///q%3Fh%23"),
	FILEURI("file:///", "/", "file:///"),
	FILEURI("file:////x", "//x", "file:////x"),
	FILEURI("file:///a b", "/a b", "file:///a%20b"),
	FILEURI("file:///%c3%A9", "/\xc3\xa9", "file:///%C3%A9"),

	/* QEMU's GlusterFS documentation and block/gluster.c examples. */
	{ "gluster://1.2.3.4/testvol/a.img", MORTAR_SCHEME_GLUSTER, "a.img",
	  .volume = "testvol", .nservers = 1,
	  .servers = { { TCP, "1.2.3.4", 0, NULL } },
	  .canon = "gluster://1.2.3.4/testvol/a.img" },
	{ "gluster+tcp://1.2.3.4/testvol/a.img", MORTAR_SCHEME_GLUSTER, "a.img",
	  .volume = "testvol", .nservers = 1,
	  .servers = { { TCP, "1.2.3.4", 0, NULL } },
	  .canon = "gluster://1.2.3.4/testvol/a.img" },
	{ "gluster+tcp://1.2.3.4:24007/testvol/dir/a.img", MORTAR_SCHEME_GLUSTER,
	  "dir/a.img", .volume = "testvol", .nservers = 1,
	  .servers = { { TCP, "1.2.3.4", 24007, NULL } },
	  .canon = "gluster://1.2.3.4:24007/testvol/dir/a.img" },
	{ "gluster+tcp://[1:2:3:4:5:6:7:8]/testvol/dir/a.img",
	  MORTAR_SCHEME_GLUSTER, "dir/a.img", .volume = "testvol", .nservers = 1,
	  .servers = { { TCP, "1:2:3:4:5:6:7:8", 0, NULL } },
	  .canon = "gluster://[1:2:3:4:5:6:7:8]/testvol/dir/a.img" },
	{ "gluster+tcp://[1:2:3:4:5:6:7:8]:24007/testvol/dir/a.img",
	  MORTAR_SCHEME_GLUSTER, "dir/a.img", .volume = "testvol", .nservers = 1,
	  .servers = { { TCP, "1:2:3:4:5:6:7:8", 24007, NULL } },
	  .canon = "gluster://[1:2:3:4:5:6:7:8]:24007/testvol/dir/a.img" },
	{ "gluster+tcp://server.domain.com:24007/testvol/dir/a.img",
	  MORTAR_SCHEME_GLUSTER, "dir/a.img", .volume = "testvol", .nservers = 1,
	  .servers = { { TCP, "server.domain.com", 24007, NULL } },
	  .canon = "gluster://server.domain.com:24007/testvol/dir/a.img" },
	{ "gluster+tcp://host.domain.com:24007/testvol/dir/a.img",
	  MORTAR_SCHEME_GLUSTER, "dir/a.img", .volume = "testvol", .nservers = 1,
	  .servers = { { TCP, "host.domain.com", 24007, NULL } },
	  .canon = "gluster://host.domain.com:24007/testvol/dir/a.img" },
	{ "gluster+unix:///testvol/dir/a.img?socket=/tmp/glusterd.socket",
	  MORTAR_SCHEME_GLUSTER, "dir/a.img", .volume = "testvol", .nservers = 1,
	  .servers = { { UNIX, NULL, 0, "/tmp/glusterd.socket" } },
	  .canon = "gluster+unix:///testvol/dir/a.img?socket=/tmp/glusterd.socket" },
	{ "gluster+rdma://1.2.3.4:24007/testvol/a.img", MORTAR_SCHEME_GLUSTER,
	  "a.img", .volume = "testvol", .nservers = 1,
	  .servers = { { RDMA, "1.2.3.4", 24007, NULL } },
	  .canon = "gluster+rdma://1.2.3.4:24007/testvol/a.img" },
	/* The json: examples: nested, as in the QEMU manual (its debug and
	 * logfile options are accepted and dropped), ... */
	{ "json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"gluster\","
	  "\"volume\":\"testvol\",\"path\":\"a.img\",\"debug\":9,"
	  "\"logfile\":\"/var/log/qemu-gluster.log\","
	  "\"server\":[{\"type\":\"tcp\",\"host\":\"1.2.3.4\",\"port\":24007},"
	  "{\"type\":\"unix\",\"socket\":\"/var/run/glusterd.socket\"}]}}",
	  MORTAR_SCHEME_GLUSTER, "a.img", .volume = "testvol", .nservers = 2,
	  .servers = { { TCP, "1.2.3.4", 24007, NULL },
		       { UNIX, NULL, 0, "/var/run/glusterd.socket" } },
	  .canon = "json:{\"driver\":\"gluster\",\"volume\":\"testvol\","
		   "\"path\":\"a.img\",\"server\":[{\"type\":\"tcp\","
		   "\"host\":\"1.2.3.4\",\"port\":24007},{\"type\":\"unix\","
		   "\"socket\":\"/var/run/glusterd.socket\"}]}" },
	/* ... flat, with the port as a string ... */
	{ "json:{\"file.driver\":\"gluster\",\"file.volume\":\"testvol\","
	  "\"file.path\":\"/path/a.raw\",\"file.server.0.type\":\"tcp\","
	  "\"file.server.0.host\":\"1.2.3.4\",\"file.server.0.port\":\"24007\","
	  "\"file.server.1.type\":\"unix\","
	  "\"file.server.1.socket\":\"/var/run/glusterd.socket\"}",
	  MORTAR_SCHEME_GLUSTER, "path/a.raw", .volume = "testvol", .nservers = 2,
	  .servers = { { TCP, "1.2.3.4", 24007, NULL },
		       { UNIX, NULL, 0, "/var/run/glusterd.socket" } },
	  .canon = "json:{\"driver\":\"gluster\",\"volume\":\"testvol\","
		   "\"path\":\"path/a.raw\",\"server\":[{\"type\":\"tcp\","
		   "\"host\":\"1.2.3.4\",\"port\":24007},{\"type\":\"unix\","
		   "\"socket\":\"/var/run/glusterd.socket\"}]}" },
	/* ... the -drive example of the manual spelled as flat json ... */
	{ "json:{\"driver\":\"qcow2\",\"file.driver\":\"gluster\","
	  "\"file.volume\":\"testvol\",\"file.path\":\"/path/a.img\","
	  "\"file.debug\":9,\"file.logfile\":\"/var/log/qemu-gluster.log\","
	  "\"file.server.0.type\":\"tcp\",\"file.server.0.host\":\"1.2.3.4\","
	  "\"file.server.0.port\":24007,\"file.server.1.type\":\"unix\","
	  "\"file.server.1.socket\":\"/var/run/glusterd.socket\"}",
	  MORTAR_SCHEME_GLUSTER, "path/a.img", .volume = "testvol", .nservers = 2,
	  .servers = { { TCP, "1.2.3.4", 24007, NULL },
		       { UNIX, NULL, 0, "/var/run/glusterd.socket" } },
	  .canon = "json:{\"driver\":\"gluster\",\"volume\":\"testvol\","
		   "\"path\":\"path/a.img\",\"server\":[{\"type\":\"tcp\","
		   "\"host\":\"1.2.3.4\",\"port\":24007},{\"type\":\"unix\","
		   "\"socket\":\"/var/run/glusterd.socket\"}]}" },
	/* ... and with the gluster driver at the top; one kind of server
	 * fits a URI, so that is the canonical form. */
	{ "json:{\"driver\":\"gluster\",\"volume\":\"testvol\",\"path\":\"a.img\","
	  "\"server\":[{\"type\":\"inet\",\"host\":\"h1\"},"
	  "{\"type\":\"tcp\",\"host\":\"fe80::1%eth0\",\"port\":\"24008\"}]}",
	  MORTAR_SCHEME_GLUSTER, "a.img", .volume = "testvol", .nservers = 2,
	  .servers = { { TCP, "h1", 0, NULL }, { TCP, "fe80::1%eth0", 24008, NULL } },
	  .canon = "gluster://h1,[fe80::1%25eth0]:24008/testvol/a.img" },
	{ "json:{\"driver\":\"gluster\",\"volume\":\"v\",\"path\":\"i\","
	  "\"server\":[{\"type\":\"unix\",\"path\":\"/s1\"},"
	  "{\"type\":\"unix\",\"socket\":\"/s2\"}]}",
	  MORTAR_SCHEME_GLUSTER, "i", .volume = "v", .nservers = 2,
	  .servers = { { UNIX, NULL, 0, "/s1" }, { UNIX, NULL, 0, "/s2" } },
	  .canon = "json:{\"driver\":\"gluster\",\"volume\":\"v\",\"path\":\"i\","
		   "\"server\":[{\"type\":\"unix\",\"socket\":\"/s1\"},"
		   "{\"type\":\"unix\",\"socket\":\"/s2\"}]}" },
	{ " json:{}", MORTAR_SCHEME_FILE, " json:{}", .canon = " json:{}" },

	/* More gluster: empty host (= localhost), IPv6 zones, QEMU's
	 * slash skipping, escapes, and Mortar's server lists. */
	{ "gluster:///testvol/a.img", MORTAR_SCHEME_GLUSTER, "a.img",
	  .volume = "testvol", .nservers = 1, .servers = { { TCP, "", 0, NULL } },
	  .canon = "gluster:///testvol/a.img" },
	{ "gluster://:24008/testvol/a.img", MORTAR_SCHEME_GLUSTER, "a.img",
	  .volume = "testvol", .nservers = 1, .servers = { { TCP, "", 24008, NULL } },
	  .canon = "gluster://:24008/testvol/a.img" },
	{ "gluster://h:0/v/i", MORTAR_SCHEME_GLUSTER, "i", .volume = "v",
	  .nservers = 1, .servers = { { TCP, "h", 0, NULL } },
	  .canon = "gluster://h/v/i" },
	{ "gluster://[fe80::1%25eth0]:24007/v/i", MORTAR_SCHEME_GLUSTER, "i",
	  .volume = "v", .nservers = 1,
	  .servers = { { TCP, "fe80::1%eth0", 24007, NULL } },
	  .canon = "gluster://[fe80::1%25eth0]:24007/v/i" },
	{ "gluster://h//vol///dir//a.img", MORTAR_SCHEME_GLUSTER, "dir//a.img",
	  .volume = "vol", .nservers = 1, .servers = { { TCP, "h", 0, NULL } },
	  .canon = "gluster://h/vol/dir//a.img" },
	{ "GLUSTER+TCP://Host_1.example/v%20x/a%3Fb%23c%25", MORTAR_SCHEME_GLUSTER,
	  "a?b#c%", .volume = "v x", .nservers = 1,
	  .servers = { { TCP, "Host_1.example", 0, NULL } },
	  .canon = "gluster://Host_1.example/v%20x/a%3Fb%23c%25" },
	{ "gluster://h/v/dir/", MORTAR_SCHEME_GLUSTER, "dir/", .volume = "v",
	  .nservers = 1, .servers = { { TCP, "h", 0, NULL } },
	  .canon = "gluster://h/v/dir/" },
	{ "gluster://h1,h2:24008,[::1]/vol/img", MORTAR_SCHEME_GLUSTER, "img",
	  .volume = "vol", .nservers = 3,
	  .servers = { { TCP, "h1", 0, NULL }, { TCP, "h2", 24008, NULL },
		       { TCP, "::1", 0, NULL } },
	  .canon = "gluster://h1,h2:24008,[::1]/vol/img" },
	{ "gluster+rdma://10.0.0.1,10.0.0.2:1/vol/img", MORTAR_SCHEME_GLUSTER,
	  "img", .volume = "vol", .nservers = 2,
	  .servers = { { RDMA, "10.0.0.1", 0, NULL }, { RDMA, "10.0.0.2", 1, NULL } },
	  .canon = "gluster+rdma://10.0.0.1,10.0.0.2:1/vol/img" },
	{ "gluster+tcp://h:65535/v/i?", MORTAR_SCHEME_GLUSTER, "i", .volume = "v",
	  .nservers = 1, .servers = { { TCP, "h", 65535, NULL } },
	  .canon = "gluster://h:65535/v/i" },
	{ "gluster+unix:///v/i?socket=/run/a%20b%26c%3Dd", MORTAR_SCHEME_GLUSTER,
	  "i", .volume = "v", .nservers = 1,
	  .servers = { { UNIX, NULL, 0, "/run/a b&c=d" } },
	  .canon = "gluster+unix:///v/i?socket=/run/a%20b%26c%3Dd" },

	/* Every example of the NBD URI specification (doc/uri.md). */
	{ "nbd://example.com:10809/export", MORTAR_SCHEME_NBD,
	  .export_name = "export", .nservers = 1,
	  .servers = { { TCP, "example.com", 10809, NULL } },
	  .canon = "nbd://example.com:10809/export" },
	{ "nbd+unix:///export?socket=nbd.sock", MORTAR_SCHEME_NBD,
	  .export_name = "export", .nservers = 1,
	  .servers = { { UNIX, NULL, 0, "nbd.sock" } },
	  .canon = "nbd+unix:///export?socket=nbd.sock" },
	{ "nbd://example.com/disk", MORTAR_SCHEME_NBD, .export_name = "disk",
	  .nservers = 1, .servers = { { TCP, "example.com", 0, NULL } },
	  .canon = "nbd://example.com/disk" },
	{ "nbd+unix:///disk?socket=sock", MORTAR_SCHEME_NBD, .export_name = "disk",
	  .nservers = 1, .servers = { { UNIX, NULL, 0, "sock" } },
	  .canon = "nbd+unix:///disk?socket=sock" },
	{ "nbd://example.com/", MORTAR_SCHEME_NBD, .export_name = "",
	  .nservers = 1, .servers = { { TCP, "example.com", 0, NULL } },
	  .canon = "nbd://example.com/" },
	{ "nbd://example.com", MORTAR_SCHEME_NBD, .export_name = "",
	  .nservers = 1, .servers = { { TCP, "example.com", 0, NULL } },
	  .canon = "nbd://example.com/" },
	{ "nbd://example.com//disk", MORTAR_SCHEME_NBD, .export_name = "/disk",
	  .nservers = 1, .servers = { { TCP, "example.com", 0, NULL } },
	  .canon = "nbd://example.com//disk" },
	{ "nbd://example.com/hello%20world", MORTAR_SCHEME_NBD,
	  .export_name = "hello world", .nservers = 1,
	  .servers = { { TCP, "example.com", 0, NULL } },
	  .canon = "nbd://example.com/hello%20world" },
	/* (The spec's nbd+unix:///?socket=%00/abstract is refused below.) */

	/* The other NBD schemes and the spec's query parameters. */
	{ "nbds://example.com/disk?tls-type=x509&tls-hostname=srv&tls-verify-peer=1",
	  MORTAR_SCHEME_NBD, .export_name = "disk", .tls = true, .nservers = 1,
	  .servers = { { TCP, "example.com", 0, NULL } },
	  .canon = "nbds://example.com/disk" },
	{ "nbd+tcp://[::1]:10810/a/b", MORTAR_SCHEME_NBD, .export_name = "a/b",
	  .nservers = 1, .servers = { { TCP, "::1", 10810, NULL } },
	  .canon = "nbd://[::1]:10810/a/b" },
	{ "nbds+tcp://1.2.3.4", MORTAR_SCHEME_NBD, .export_name = "", .tls = true,
	  .nservers = 1, .servers = { { TCP, "1.2.3.4", 0, NULL } },
	  .canon = "nbds://1.2.3.4/" },
	{ "nbds+unix:///e?tls-type=psk&socket=/run/nbd.sock", MORTAR_SCHEME_NBD,
	  .export_name = "e", .tls = true, .nservers = 1,
	  .servers = { { UNIX, NULL, 0, "/run/nbd.sock" } },
	  .canon = "nbds+unix:///e?socket=/run/nbd.sock" },
	{ "nbd+vsock://2/", MORTAR_SCHEME_NBD, .export_name = "", .nservers = 1,
	  .servers = { { VSOCK, "2", 0, NULL } }, .canon = "nbd+vsock://2/" },
	{ "nbds+vsock://4294967295:1000000/x", MORTAR_SCHEME_NBD,
	  .export_name = "x", .tls = true, .nservers = 1,
	  .servers = { { VSOCK, "4294967295", 1000000, NULL } },
	  .canon = "nbds+vsock://4294967295:1000000/x" },
	{ "nbd:///", MORTAR_SCHEME_NBD, .export_name = "", .nservers = 1,
	  .servers = { { TCP, "", 0, NULL } }, .canon = "nbd:///" },
	{ "nbd://h/%3F%23%25 %2C", MORTAR_SCHEME_NBD, .export_name = "?#% ,",
	  .nservers = 1, .servers = { { TCP, "h", 0, NULL } },
	  .canon = "nbd://h/%3F%23%25%20," },
};

struct bad {
	const char *text;
	const char *msg;	/* must occur in the message */
	size_t pos;		/* where the caret must be */
};

static const struct bad bads[] = {
	{ "", "empty", 0 },
	{ "http://x", "unknown scheme 'http'", 0 },
	{ "gluster+foo://h/v/i", "unknown scheme 'gluster+foo'", 0 },
	{ "gluster:/testvol/a.img", "must be followed by '//'", 8 },
	{ "nbd:localhost:10809", "must be followed by '//'", 4 },
	{ "file:/etc/x", "must be followed by '//'", 5 },
	{ "file://otherhost/x", "another host", 7 },
	{ "file://rel", "names a host, not a file", 7 },
	{ "file://", "has no path", 7 },
	{ "file:///x?y", "cannot have a query", 9 },
	{ "file:///x#y", "fragment", 9 },
	{ "file:///a%2", "two hex digits", 9 },
	{ "file:///a%zz", "two hex digits", 9 },
	{ "file:///a%00b", "NUL byte", 9 },
	{ "gluster://h1:99999/vol/img", "port 99999 is out of range (1-65535)", 13 },
	{ "gluster://h1:123456789012345678901234567890/v/i", "out of range", 13 },
	{ "gluster://h1:/v/i", "port number after ':' is missing", 13 },
	{ "gluster://h1:2x/v/i", "'x' is not allowed in a port number", 14 },
	{ "gluster://h1,,h2/v/i", "empty entry", 13 },
	{ "gluster://h1,/v/i", "empty entry", 13 },
	{ "gluster://,h1/v/i", "empty entry", 10 },
	{ "gluster://h1/vol", "image path inside the volume is missing", 16 },
	{ "gluster://h1/vol/", "image path inside the volume is missing", 17 },
	{ "gluster://h1//", "volume name is missing", 14 },
	{ "gluster://h1", "no /VOLUME/PATH", 12 },
	{ "gluster://h1?x", "no /VOLUME/PATH", 12 },
	{ "gluster://h1/v/i?socket=/s", "takes no query parameters", 17 },
	{ "gluster+rdma://h1/v/i?a=b", "gluster+rdma URI takes no query", 22 },
	{ "gluster+unix://h1/v/i?socket=/s", "takes no server or port", 15 },
	{ "gluster+unix://:24007/v/i?socket=/s", "takes no server or port", 15 },
	{ "gluster+unix:///v/i", "needs the socket path", 19 },
	{ "gluster+unix:///v/i?", "needs the socket path", 20 },
	{ "gluster+unix:///v/i?sock=/s", "unknown query parameter 'sock'", 20 },
	{ "gluster+unix:///v/i?socket=/s&socket=/t", "exactly one query parameter", 30 },
	{ "gluster+unix:///v/i?socket=", "socket path is empty", 27 },
	{ "gluster+unix:///v/i?socket", "has no value", 20 },
	{ "gluster://::1/v/i", "must be written in brackets", 10 },
	{ "gluster://[::1/v/i", "no closing ']'", 10 },
	{ "gluster://[::g]/v/i", "'::g' is not a valid IPv6 address", 11 },
	{ "gluster://[::1]x/v/i", "'x' after the IPv6 address", 15 },
	{ "gluster://[fe80::1%eth0]/v/i", "'%25'", 18 },
	{ "gluster://[fe80::1%25]/v/i", "empty zone", 18 },
	{ "gluster://[fe80::1%25e!]/v/i", "zone with a character", 22 },
	{ "gluster://1.2.3.400/v/i", "'1.2.3.400' is not a valid IPv4 address", 10 },
	{ "gluster://h$st/v/i", "'$' is not allowed in a host name", 11 },
	{ "gluster://h%41/v/i", "'%' is not allowed in a host name", 11 },
	{ "gluster://user@h/v/i", "user names", 14 },
	{ "gluster://h/v/i#frag", "fragment", 15 },
	{ "nbd://h1,h2/", "exactly one server", 8 },
	{ "nbd://u@h/", "user names", 6 },
	{ "nbd://h/?socket=/s", "only for nbd+unix", 9 },
	{ "nbd://h/?x-foo=1", "unknown query parameter 'x-foo'", 9 },
	{ "nbd://h/?tls-type=x509&tls-type=psk", "given twice", 23 },
	{ "nbd://h:0x1/", "'x' is not allowed in a port number", 9 },
	{ "nbd://h:65536/", "port 65536 is out of range", 8 },
	{ "nbd+unix:///e", "needs the socket path", 13 },
	{ "nbd+unix://h/e?socket=/s", "takes no server or port", 11 },
	{ "nbds+unix:///e?socket=/s&socket=/t", "given twice", 25 },
	{ "nbd+unix:///?socket=%00/abstract", "abstract socket names are not supported", 20 },
	{ "nbd+vsock:///", "CID is missing", 12 },
	{ "nbd+vsock://h/", "'h' is not allowed in a vsock CID", 12 },
	{ "nbd+vsock://4294967296/", "out of range", 12 },
	{ "nbd+vsock://2:2147483648/", "out of range (1-2147483647)", 14 },
	{ "nbd://h/e%4", "two hex digits", 9 },
	{ "json:", "ends too early", 5 },
	{ "json:{", "ends too early", 6 },
	{ "json:[1]", "must be followed by a JSON object", 5 },
	{ "json:{\"driver\":\"gluster\"} x", "bad JSON: unexpected character", 26 },
	{ "json:{\"driver\":\"gluster\",}", "bad JSON", 25 },
	{ "json:{\"volume\":\"v\"}", "names no \"driver\"", 5 },
	{ "json:{\"driver\":\"nbd\",\"host\":\"h\"}", "only the gluster driver", 7 },
	{ "json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":\"a\"}}",
	  "not \"file\"", 5 },
	{ "json:{\"driver\":\"gluster\",\"path\":\"a\",\"server\":[{\"type\":\"tcp\",\"host\":\"h\"}]}",
	  "no \"volume\"", 5 },
	{ "json:{\"driver\":\"gluster\",\"volume\":\"v\",\"server\":[{\"type\":\"tcp\",\"host\":\"h\"}]}",
	  "no \"path\"", 5 },
	{ "json:{\"driver\":\"gluster\",\"volume\":\"v\",\"path\":\"a\"}", "no \"server\"", 5 },
	{ "json:{\"driver\":\"gluster\",\"volume\":\"a/b\",\"path\":\"a\",\"server.0.type\":\"unix\",\"server.0.socket\":\"/s\"}",
	  "without '/'", 26 },
	{ "json:{\"driver\":\"gluster\",\"volume\":\"v\",\"path\":\"/\",\"server.0.type\":\"unix\",\"server.0.socket\":\"/s\"}",
	  "must name the image", 39 },
	{ "json:{\"driver\":\"gluster\",\"volume\":\"v\",\"path\":\"a\",\"server.1.type\":\"unix\",\"server.1.socket\":\"/s\"}",
	  "server 0 is missing", 5 },
	{ "json:{\"driver\":\"gluster\",\"volume\":\"v\",\"path\":\"a\",\"server.0.type\":\"udp\",\"server.0.host\":\"h\"}",
	  "must be \"tcp\"", 50 },
	{ "json:{\"driver\":\"gluster\",\"volume\":\"v\",\"path\":\"a\",\"server.0.type\":\"tcp\",\"server.0.host\":\"h\",\"server.0.port\":70000}",
	  "port number from 1 to 65535", 92 },
	{ "json:{\"driver\":\"gluster\",\"volume\":\"v\",\"path\":\"a\",\"server.0.type\":\"tcp\",\"server.0.host\":\"h h\"}",
	  "not a valid host name", 72 },
	{ "json:{\"driver\":\"gluster\",\"volume\":\"v\",\"path\":\"a\",\"server.0.type\":\"tcp\",\"server.0.socket\":\"/s\"}",
	  "only applies to unix servers", 72 },
	{ "json:{\"driver\":\"gluster\",\"volume\":\"v\",\"path\":\"a\",\"server.0.type\":\"unix\",\"server.0.socket\":\"/s\",\"server.0.path\":\"/t\"}",
	  "both name the socket", 96 },
	{ "json:{\"driver\":\"gluster\",\"volume\":\"v\",\"path\":\"a\",\"server.0.type\":\"unix\",\"server.0.socket\":\"/s\",\"foo\":1}",
	  "unknown gluster option \"foo\"", 96 },
	{ "json:{\"driver\":\"gluster\",\"volume\":\"v\",\"path\":\"a\",\"server.0.type\":\"unix\",\"server.0.socket\":\"/s\",\"debug\":10}",
	  "from 0 to 9", 96 },
	{ "json:{\"driver\":\"gluster\",\"volume\":\"v\",\"volume\":1}", "must be a JSON string", 26 },
	{ "json:{\"driver\":\"gluster\",\"file\":{\"x\":1},\"file.x\":2}", "given twice", 41 },
	{ "json:{\"driver\":\"gluster\",\"volume\":\"v\\u0000\",\"path\":\"a\",\"server.0.type\":\"unix\",\"server.0.socket\":\"/s\"}",
	  "cannot contain a NUL", 26 },
};

static bool streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool server_equal(const struct mortar_server *a,
			 const struct mortar_server *b)
{
	return a->transport == b->transport && streq(a->host, b->host) &&
	       a->port == b->port && streq(a->socket, b->socket);
}

static bool loc_equal(const struct mortar_location *a,
		      const struct mortar_location *b)
{
	size_t i;

	if (a->scheme != b->scheme || !streq(a->path, b->path) ||
	    a->file_uri != b->file_uri || !streq(a->volume, b->volume) ||
	    !streq(a->export_name, b->export_name) || a->tls != b->tls ||
	    a->nservers != b->nservers)
		return false;
	for (i = 0; i < a->nservers; i++)
		if (!server_equal(&a->servers[i], &b->servers[i]))
			return false;
	return true;
}

static void check_good(const struct good *g)
{
	struct mortar_location *loc = NULL, *again = NULL;
	char *text = NULL, *text2 = NULL;
	size_t i, errpos = 12345;
	bool ok;

	if (!tap_ok(mortar_location_parse(g->text, &loc, &errpos) == 0 && loc,
		    "parse %s", g->text)) {
		tap_diag("%s", mortar_errmsg());
		return;
	}
	ok = loc->scheme == g->scheme && streq(loc->path, g->path) &&
	     loc->file_uri == g->file_uri && streq(loc->volume, g->volume) &&
	     streq(loc->export_name, g->export_name) && loc->tls == g->tls &&
	     loc->nservers == g->nservers;
	for (i = 0; ok && i < g->nservers; i++) {
		const struct want_server *w = &g->servers[i];
		const struct mortar_server *s = &loc->servers[i];

		ok = s->transport == w->transport && streq(s->host, w->host) &&
		     s->port == w->port && streq(s->socket, w->socket);
		if (!ok)
			tap_diag("server %zu: transport %d host %s port %d socket %s",
				 i, s->transport, s->host ? s->host : "(null)",
				 s->port, s->socket ? s->socket : "(null)");
	}
	if (!tap_ok(ok, "  fields of %s", g->text))
		tap_diag("scheme %d path %s file_uri %d volume %s export %s tls %d nservers %zu",
			 loc->scheme, loc->path ? loc->path : "(null)", loc->file_uri,
			 loc->volume ? loc->volume : "(null)",
			 loc->export_name ? loc->export_name : "(null)", loc->tls,
			 loc->nservers);
	tap_ok(errpos == 12345, "  errpos untouched on success");

	text = mortar_location_format(loc);
	if (!tap_ok(text && streq(text, g->canon), "  format gives %s", g->canon))
		tap_diag("got %s", text ? text : "(null)");
	if (text && mortar_location_parse(text, &again, NULL) == 0) {
		tap_ok(loc_equal(loc, again), "  canonical form parses back equal");
		text2 = mortar_location_format(again);
		tap_ok(text2 && streq(text, text2), "  canonical form is a fixed point");
	} else {
		tap_ok(0, "  canonical form parses back: %s", mortar_errmsg());
	}
	free(text);
	free(text2);
	mortar_location_free(again);
	mortar_location_free(loc);
}

/* The message is "invalid location: ...", then the input, then a caret
 * under the offending character, each indented by two spaces. */
static void check_bad(const struct bad *b)
{
	struct mortar_location *loc = (struct mortar_location *)&loc;
	const char *msg, *nl1, *nl2;
	size_t errpos = 12345, i;
	bool shape;
	int r;

	r = mortar_location_parse(b->text, &loc, &errpos);
	msg = mortar_errmsg();
	tap_ok(r == -EINVAL && loc == NULL && mortar_errno() == EINVAL,
	       "refuse %s", b->text);
	if (!tap_ok(strstr(msg, b->msg) != NULL, "  message says '%s'", b->msg))
		tap_diag("message: %s", msg);
	if (!tap_ok(errpos == b->pos, "  errpos %zu", b->pos))
		tap_diag("errpos %zu; message: %s", errpos, msg);

	/* Longer inputs are cut to a window; check_misc() covers those. */
	if (strlen(b->text) > 80)
		return;
	nl1 = strchr(msg, '\n');
	nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
	shape = strncmp(msg, "invalid location: ", 18) == 0 && nl1 && nl2 &&
		!strchr(nl2 + 1, '\n') && strncmp(nl1 + 1, "  ", 2) == 0 &&
		(size_t)(nl2 - nl1 - 3) == strlen(b->text) &&
		strncmp(nl1 + 3, b->text, strlen(b->text)) == 0 &&
		strlen(nl2 + 1) == 2 + b->pos + 1 && nl2[2 + b->pos + 1] == '^';
	for (i = 0; shape && i < 2 + b->pos; i++)
		shape = nl2[1 + i] == ' ';
	if (!tap_ok(shape, "  message has the input and a caret under column %zu", b->pos))
		tap_diag("message: %s", msg);
}

static void check_misc(void)
{
	struct mortar_location *loc = NULL;
	struct mortar_location fake = { 0 };
	struct mortar_server srv = { 0 };
	char longtext[400], *s;
	const char *msg, *line2, *caret, *bad;
	size_t errpos = 0;

	mortar_location_free(NULL);
	tap_ok(1, "mortar_location_free(NULL) is a no-op");
	tap_ok(streq(mortar_scheme_name(MORTAR_SCHEME_FILE), "file") &&
	       streq(mortar_scheme_name(MORTAR_SCHEME_GLUSTER), "gluster") &&
	       streq(mortar_scheme_name(MORTAR_SCHEME_NBD), "nbd"),
	       "mortar_scheme_name");
	tap_ok(mortar_location_parse(NULL, &loc, &errpos) == -EINVAL && !loc,
	       "NULL text is refused");
	tap_ok(mortar_location_parse("x", NULL, NULL) == -EINVAL,
	       "NULL result pointer is refused");
	tap_ok(mortar_location_parse("gluster://h:1/", &loc, NULL) == -EINVAL,
	       "errpos may be NULL");
	errno = 0;
	tap_ok(mortar_location_format(NULL) == NULL && errno == EINVAL,
	       "format(NULL) fails with EINVAL");

	/* The example from the design: the caret under the bad port. */
	mortar_location_parse("gluster://h1:99999/vol/img", &loc, NULL);
	tap_ok(streq(mortar_errmsg(),
		     "invalid location: port 99999 is out of range (1-65535)\n"
		     "  gluster://h1:99999/vol/img\n"
		     "               ^"), "message of a bad port, whole");

	/* A long input is cut around the error, the caret still under it. */
	memset(longtext, 'a', sizeof longtext);
	memcpy(longtext, "gluster://h/v/", 14);
	memcpy(longtext + 300, "%zz", 3);
	longtext[sizeof longtext - 1] = '\0';
	tap_ok(mortar_location_parse(longtext, &loc, &errpos) == -EINVAL &&
	       errpos == 300, "long input: errpos");
	msg = mortar_errmsg();
	line2 = strchr(msg, '\n');
	caret = line2 ? strchr(line2 + 1, '\n') : NULL;
	bad = line2 ? strstr(line2, "%zz") : NULL;
	tap_ok(strlen(msg) < 1000 && caret && bad && bad < caret &&
	       strncmp(line2, "\n  ...", 6) == 0 &&
	       strncmp(caret - 3, "...", 3) == 0 &&
	       strlen(caret + 1) == (size_t)(bad - line2) &&
	       caret[strlen(caret) - 1] == '^', "long input: caret in the window");

	/* Control characters are echoed as '?' so the caret lines up. */
	tap_ok(mortar_location_parse("gluster://h\t/v/i", &loc, &errpos) == -EINVAL &&
	       errpos == 11 && strstr(mortar_errmsg(), "byte 0x09") &&
	       strstr(mortar_errmsg(), "gluster://h?/v/i"),
	       "control characters in messages");

	/* Hand-made structures: a plain path that reads like a URI gets
	 * "./", broken ones fail with EINVAL. */
	fake.scheme = MORTAR_SCHEME_FILE;
	fake.path = (char *)"nbd://h/";
	s = mortar_location_format(&fake);
	tap_ok(s && streq(s, "./nbd://h/"), "plain path that looks like a URI");
	free(s);
	fake.path = (char *)"";
	errno = 0;
	tap_ok(!mortar_location_format(&fake) && errno == EINVAL, "empty path");
	fake.scheme = MORTAR_SCHEME_GLUSTER;
	errno = 0;
	tap_ok(!mortar_location_format(&fake) && errno == EINVAL, "gluster without servers");
	fake.scheme = MORTAR_SCHEME_NBD;
	fake.servers = &srv;
	fake.nservers = 1;
	s = mortar_location_format(&fake);
	tap_ok(s && streq(s, "nbd:///"), "nbd with nothing set");
	free(s);
}

/* Two spellings: do they name one volume, one image? */
static const struct {
	const char *a, *b;
	bool volume, image;
} sames[] = {
	{ "gluster://h1/v/a.img", "gluster+tcp://h1:24007/v/a.img", true, true },
	{ "gluster://h1,h2/v/a.img", "gluster://h3,h2/v/a.img", true, true },
	{ "gluster://h1/v/a.img", "gluster://h1/v/b.img", true, false },
	{ "gluster://h1/v/a.img", "gluster://h1/w/a.img", false, false },
	{ "gluster://h1/v/a.img", "gluster://h2/v/a.img", false, false },
	{ "gluster://h1:24008/v/a.img", "gluster://h1/v/a.img", false, false },
	{ "gluster+unix:///v/a.img?socket=/s", "gluster+unix:///v/a.img?socket=/s", true, true },
	{ "gluster+unix:///v/a.img?socket=/s", "gluster+unix:///v/a.img?socket=/t", false, false },
	{ "gluster://h1/v/a.img", "/v/a.img", false, false },
	{ "/nonexistent/a.img", "/nonexistent/a.img", true, true },
	{ "/nonexistent/a.img", "/nonexistent/b.img", true, false },
	{ "nbd://h/e", "nbd://h:10809/e", true, true },
	{ "nbd://h/e", "nbd://h/f", false, false },
};

static void check_values(void)
{
	struct mortar_location *a, *b, *c;

	for (size_t i = 0; i < sizeof sames / sizeof sames[0]; i++) {
		if (mortar_location_parse(sames[i].a, &a, NULL) < 0 ||
		    mortar_location_parse(sames[i].b, &b, NULL) < 0) {
			tap_ok(0, "parse %s and %s", sames[i].a, sames[i].b);
			continue;
		}
		tap_ok(mortar_location_same_volume(a, b) == sames[i].volume &&
		       mortar_location_same_volume(b, a) == sames[i].volume,
		       "%s and %s: %s volume", sames[i].a, sames[i].b,
		       sames[i].volume ? "one" : "not one");
		tap_ok(mortar_location_same_image(a, b) == sames[i].image,
		       "%s and %s: %s image", sames[i].a, sames[i].b,
		       sames[i].image ? "one" : "not one");
		mortar_location_free(a);
		mortar_location_free(b);
	}
	/* A local file however written: the same inode. */
	if (mortar_location_parse("/dev/null", &a, NULL) == 0 &&
	    mortar_location_parse("/dev/../dev/null", &b, NULL) == 0)
		tap_ok(mortar_location_same_image(a, b), "/dev/null twice: one image");
	else
		tap_ok(0, "parse /dev/null");
	mortar_location_free(a);
	mortar_location_free(b);

	if (mortar_location_parse("gluster://h1,[::1]:24008/v/dir/a.img", &a, NULL) == 0 &&
	    mortar_location_with_path(a, "dir/.a.img.snapshots/s.img", &b) == 0 &&
	    mortar_location_dup(b, &c) == 0) {
		char *t = mortar_location_format(c);

		tap_ok(t && !strcmp(t, "gluster://h1,[::1]:24008/v/dir/.a.img.snapshots/s.img"),
		       "a path beside a gluster image keeps its servers: %s", t ? t : "(null)");
		tap_ok(mortar_location_same_volume(a, c) && !mortar_location_same_image(a, c),
		       "...and is on the same volume, another image");
		free(t);
		mortar_location_free(c);
	} else {
		tap_ok(0, "with_path/dup: %s", mortar_errmsg());
	}
	mortar_location_free(a);
	mortar_location_free(b);
}

int main(void)
{
	size_t i;

	for (i = 0; i < sizeof goods / sizeof goods[0]; i++)
		check_good(&goods[i]);
	for (i = 0; i < sizeof bads / sizeof bads[0]; i++)
		check_bad(&bads[i]);
	tap_diag("%zu valid and %zu malformed inputs",
		 sizeof goods / sizeof goods[0], sizeof bads / sizeof bads[0]);
	check_misc();
	check_values();
	return tap_done();
}
