/*
 * i18n.c - locale and catalogue set-up.
 */
#include "config.h"

#include <locale.h>

#include "i18n.h"

void i18n_init(void)
{
	setlocale(LC_ALL, "");
	bindtextdomain(PACKAGE, LOCALEDIR);
	textdomain(PACKAGE);
}
