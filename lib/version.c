/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mortar_version() (mortar.h). */
#include <mortar/mortar.h>

const char *mortar_version(void)
{
	return MORTAR_VERSION;
}
