/*
 * i18n.h - gettext macros for every user-visible string.
 *
 * _() translates now, N_() marks a string for translation later (tables), and
 * P_() picks a plural form. With NLS disabled they fall back to the English text.
 */
#ifndef SALON_I18N_H
#define SALON_I18N_H

#include "config.h"

#ifdef ENABLE_NLS
#include <libintl.h>
#define _(s) gettext(s)
#define P_(singular, plural, n) ngettext((singular), (plural), (n))
#else
#define _(s) (s)
#define P_(singular, plural, n) ((n) == 1 ? (singular) : (plural))
#define textdomain(d) ((const char *)(d))
#define bindtextdomain(d, dir) ((const char *)(d))
#endif
#define N_(s) (s)

/* Sets the locale from the environment and binds salon's catalogue. */
void i18n_init(void);

#endif
