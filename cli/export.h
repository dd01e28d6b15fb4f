/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The subcommands of mortar export (export.c has their table). */
#ifndef MORTAR_CLI_EXPORT_H
#define MORTAR_CLI_EXPORT_H

#include <getopt.h>

int export_xml(int argc, char **argv);
extern const struct option export_xml_options[];

#endif
