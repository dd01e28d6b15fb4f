/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `mortar --complete WORD...`: the candidates for the last word, read
 * from the same tables that dispatch and parse (command.h), so that the
 * bash completion (completion/mortar.bash) offers every command,
 * subcommand and option there is and none that is refused. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "command.h"

/* What an option's value is, by long name, where the shell can help:
 * a list of words, or "@KIND" for the shell to fill in.  Values that
 * are free text (sizes, counts, names) have no row. */
static const struct {
	const char *option, *values;
} value_kinds[] = {
	{ "output", "human json" },
	{ "preallocation", "off falloc full" },
	{ "tls", "off on require" },
	{ "log", "stderr syslog journal" },
	{ "arch", "x86_64 ppc64" },
	{ "accel", "kvm tcg" },
	{ "mem-backend", "ram memfd hugetlbfs" },
	{ "socket-group", "@groups" },
	{ "socket", "@files" },
	{ "pidfile", "@files" },
	{ "tls-psk", "@files" },
	{ "config", "@files" },
	{ "kernel", "@files" },
	{ "initrd", "@files" },
	{ "disk", "@files" },
	{ "tls-certificates", "@dirs" },
	{ "plot-dir", "@dirs" },
	{ "run", "@commands" },
};

static bool prefixed(const char *word, const char *prefix)
{
	return !strncmp(word, prefix, strlen(prefix));
}

/* Whether C (a leaf) offers option O. */
static bool offered(const struct cli_command *c, const struct option *o)
{
	return !c->only || o->val == 'h' ||
	       (o->val > 0 && o->val < 256 && strchr(c->only, o->val));
}

static const struct cli_command *find_cmd(const struct cli_table *t, const char *name)
{
	for (size_t i = 0; i < t->ncmds; i++)
		if (!strcmp(t->cmds[i].name, name))
			return &t->cmds[i];
	return NULL;
}

/* The option of C that WORD ("--name", "--name=...", "-x") names, if any.
 * A short option is known by the val of its long twin (the rows carry no
 * getopt string); clusters and attached values ("-rf", "-s/x") are not
 * looked into. */
static const struct option *find_opt(const struct cli_command *c, const char *word)
{
	size_t len;

	if (!c->opts || word[0] != '-' || !word[1])
		return NULL;
	if (word[1] != '-') {
		for (const struct option *o = c->opts; o->name && !word[2]; o++)
			if (o->val == (unsigned char)word[1] && offered(c, o))
				return o;
		return NULL;
	}
	len = strcspn(word + 2, "=");
	for (const struct option *o = c->opts; o->name; o++)
		if (strlen(o->name) == len && !strncmp(o->name, word + 2, len))
			return o;
	return NULL;
}

/* The values of option O that start with PARTIAL. */
static void complete_value(const struct option *o, const char *partial)
{
	for (size_t i = 0; i < sizeof value_kinds / sizeof value_kinds[0]; i++) {
		const char *v = value_kinds[i].values;

		if (strcmp(value_kinds[i].option, o->name))
			continue;
		if (*v == '@') {
			puts(v);
			return;
		}
		while (*v) {
			size_t n = strcspn(v, " ");

			if (!strncmp(v, partial, strlen(partial)) && n >= strlen(partial))
				printf("%.*s\n", (int)n, v);
			v += n + (v[n] == ' ');
		}
		return;
	}
}

/* WORD starts with '-': "--name=partial" completes the value; "-" and
 * "--partial" the long options (short ones are not offered). */
static void complete_option(const struct cli_command *c, const char *word)
{
	const char *eq = strchr(word, '=');
	const struct option *o;
	size_t skip;

	if (eq && prefixed(word, "--")) {
		o = find_opt(c, word);
		if (o && o->has_arg != no_argument)
			complete_value(o, eq + 1);
		return;
	}
	if (word[1] && word[1] != '-')
		return;
	skip = word[1] ? 2 : 1;
	for (o = c->opts; o && o->name; o++)
		if (offered(c, o) && prefixed(o->name, word + skip))
			printf("--%s\n", o->name);
}

/* The word being completed, once the words before it chose table T or
 * leaf C (and maybe an option VALUE_OF that wants it as its value). */
static void complete_word(const struct cli_table *t, const struct cli_command *c,
			  const struct option *value_of, bool options_done, const char *word)
{
	if (value_of) {
		complete_value(value_of, word);
		return;
	}
	if (!c) {
		if (word[0] == '-') {
			if (prefixed("--help", word))
				puts("--help");
			return;
		}
		for (size_t i = 0; i < t->ncmds; i++)
			if (prefixed(t->cmds[i].name, word))
				puts(t->cmds[i].name);
		if (t->fallback && t->fallback->locations)
			puts("@files");
		return;
	}
	if (word[0] == '-' && !options_done) {
		complete_option(c, word);
		return;
	}
	if (c->locations)
		puts("@files");
}

int cli_complete(const struct cli_table *top, int nwords, char **words)
{
	const struct cli_table *t = top;
	const struct cli_command *c = NULL;
	const struct option *value_of = NULL;
	bool options_done = false;

	if (nwords < 1)
		return EXIT_OK;
	for (int i = 0; i < nwords - 1; i++) {
		const char *w = words[i];
		const struct cli_command *sub;

		if (value_of) {
			value_of = NULL;
		} else if (!c && (sub = find_cmd(t, w))) {
			if (sub->sub)
				t = sub->sub;
			else
				c = sub;
		} else if (!c && w[0] != '-') {
			/* An operand where a command was due: the fallback's. */
			if (!t->fallback)
				return EXIT_OK;
			c = t->fallback;
		} else if (c && !options_done && !strcmp(w, "--")) {
			options_done = true;
		} else if (c && !options_done && w[0] == '-' && !strchr(w, '=')) {
			const struct option *o = find_opt(c, w);

			if (o && o->has_arg == required_argument)
				value_of = o;
		}
	}
	complete_word(t, c, value_of, options_done, words[nwords - 1]);
	return EXIT_OK;
}
