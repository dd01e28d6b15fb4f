/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The configuration file of `mortar serve --config FILE`.
 *
 * Its keys are serve's long options without "--", one per line, so that
 * whatever the command line says a file can say and the man page covers
 * both:
 *
 *   # /etc/mortar/exports/disk.conf
 *   socket = /run/mortar/disk.sock
 *   socket-group = kvm
 *   direct
 *   export = disk=/var/lib/images/disk.img
 *
 * "export" lines are the LOCATION arguments.  A boolean option is on when
 * named alone or set to yes/true/on, and off for no/false/off (its --no-
 * form, where one exists for an option that is on by default).  The
 * file becomes arguments placed before the command line's, so that the
 * command line wins where options repeat.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "serve-config.h"

#define LINE_MAX_LEN 8192

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static const struct option *find_option(const struct option *opts, const char *key)
{
	for (; opts->name; opts++)
		if (!strcmp(opts->name, key))
			return opts;
	return NULL;
}

static int push(struct serve_args *a, char *arg)
{
	char **v;

	if (!arg)
		return -ENOMEM;
	v = realloc(a->argv, (size_t)(a->argc + 2) * sizeof *v);
	if (!v) {
		free(arg);
		return -ENOMEM;
	}
	a->argv = v;
	a->argv[a->argc++] = arg;
	a->argv[a->argc] = NULL;
	return 0;
}

static bool is_no(const char *v)
{
	return !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0");
}

static bool is_yes(const char *v)
{
	return !*v || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") ||
	       !strcmp(v, "1");
}

/* One "key [= value]" line as arguments; 0 or an exit code. */
static int config_line(struct serve_args *a, const struct option *opts, const char *file,
		       unsigned lineno, char *line)
{
	char *eq = strchr(line, '='), *key = line, *val = "", *arg;
	const struct option *o;

	if (eq) {
		*eq = '\0';
		val = trim(eq + 1);
	}
	key = trim(key);
	if (!strcmp(key, "export")) {
		if (!*val)
			return cli_usage("serve", "%s:%u: 'export' wants a [NAME=]LOCATION",
					 file, lineno);
		return push(a, strdup(val)) < 0 ? cli_error("serve", "out of memory") : 0;
	}
	o = find_option(opts, key);
	if (!o || !strcmp(key, "config") || !strcmp(key, "help"))
		return cli_usage("serve", "%s:%u: unknown key '%s' (keys are serve's long "
				 "options, and 'export')", file, lineno, key);
	if (o->has_arg == no_argument) {
		bool no = is_no(val);
		char neg[64];

		if (!no && !is_yes(val))
			return cli_usage("serve", "%s:%u: '%s' is on or off, not '%s'", file,
					 lineno, key, val);
		/* Off: nothing, unless the option is on by default and has a
		 * --no- form to turn it off. */
		snprintf(neg, sizeof neg, "no-%s", key);
		if (no && !find_option(opts, neg))
			return 0;
		arg = NULL;
		if (asprintf(&arg, "--%s%s", no ? "no-" : "", key) < 0)
			arg = NULL;
	} else {
		if (!*val)
			return cli_usage("serve", "%s:%u: '%s' wants a value", file, lineno, key);
		arg = NULL;
		if (asprintf(&arg, "--%s=%s", key, val) < 0)
			arg = NULL;
	}
	return push(a, arg) < 0 ? cli_error("serve", "out of memory") : 0;
}

int serve_config_read(struct serve_args *a, const struct option *opts, const char *file)
{
	char line[LINE_MAX_LEN];
	unsigned lineno = 0;
	FILE *f = fopen(file, "re");
	int r = 0;

	if (!f)
		return cli_error("serve", "cannot read configuration %s: %m", file);
	while (r == 0 && fgets(line, sizeof line, f)) {
		char *l;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			r = cli_usage("serve", "%s:%u: line longer than %d bytes", file, lineno,
				      LINE_MAX_LEN - 2);
			break;
		}
		l = trim(line);
		if (*l && *l != '#')
			r = config_line(a, opts, file, lineno, l);
	}
	if (r == 0 && ferror(f))
		r = cli_error("serve", "cannot read configuration %s: %m", file);
	fclose(f);
	return r;
}

/* The value of --config in ARGV, or NULL: found before parsing, since the
 * file's arguments go first. */
static const char *find_config(int argc, char **argv, int *err)
{
	const char *file = NULL;

	for (int i = 1; i < argc; i++) {
		const char *v = NULL;

		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--config")) {
			if (i + 1 == argc) {
				*err = cli_usage("serve", "--config wants a FILE");
				return NULL;
			}
			v = argv[++i];
		} else if (!strncmp(argv[i], "--config=", 9)) {
			v = argv[i] + 9;
		}
		if (v && file) {
			*err = cli_usage("serve", "--config given twice");
			return NULL;
		}
		if (v)
			file = v;
	}
	return file;
}

int serve_args_build(struct serve_args *a, const struct option *opts, int argc, char **argv)
{
	int err = 0, r;
	const char *file;

	memset(a, 0, sizeof *a);
	file = find_config(argc, argv, &err);
	if (err)
		return err;
	if (push(a, strdup(argv[0])) < 0)
		return cli_error("serve", "out of memory");
	a->config = file;
	if (file && (r = serve_config_read(a, opts, file)) != 0) {
		serve_args_free(a);
		return r;
	}
	for (int i = 1; i < argc; i++)
		if (push(a, strdup(argv[i])) < 0) {
			serve_args_free(a);
			return cli_error("serve", "out of memory");
		}
	return 0;
}

void serve_args_free(struct serve_args *a)
{
	for (int i = 0; i < a->argc; i++)
		free(a->argv[i]);
	free(a->argv);
	a->argv = NULL;
	a->argc = 0;
}
