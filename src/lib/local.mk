# src/lib: what both programs share (static, not installed).
noinst_LIBRARIES += src/lib/libsalon.a
src_lib_libsalon_a_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS)
src_lib_libsalon_a_SOURCES = \
	src/lib/i18n.c src/lib/i18n.h \
	src/lib/encoding.c src/lib/encoding.h \
	src/lib/util.c src/lib/util.h \
	src/lib/log.c src/lib/log.h
src_lib_libsalon_a_SOURCES += \
	src/lib/noise.c src/lib/noise.h \
	src/lib/wire.c src/lib/wire.h \
	src/lib/hop.c src/lib/hop.h
# End-to-end layer: HKDF, SFrame and identity keys.
src_lib_libsalon_a_SOURCES += \
	src/lib/hkdf.c src/lib/hkdf.h \
	src/lib/sframe.c src/lib/sframe.h \
	src/lib/identity.c src/lib/identity.h
# Lock-free SPSC ring between the audio callback and the media thread.
src_lib_libsalon_a_SOURCES += src/lib/ring.c src/lib/ring.h
# Terminal hygiene for text from other users, and the XDG base directories.
src_lib_libsalon_a_SOURCES += \
	src/lib/sanitize.c src/lib/sanitize.h \
	src/lib/xdg.c src/lib/xdg.h \
	src/lib/file.c src/lib/file.h
src_lib_libsalon_a_SOURCES += src/lib/queue.c src/lib/queue.h
