# src/lib: what both programs share (static, not installed).
noinst_LIBRARIES += src/lib/libsalon.a
src_lib_libsalon_a_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS)
src_lib_libsalon_a_SOURCES = \
	src/lib/i18n.c src/lib/i18n.h \
	src/lib/encoding.c src/lib/encoding.h \
	src/lib/util.c src/lib/util.h \
	src/lib/log.c src/lib/log.h
