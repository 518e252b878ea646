# src/server: salond. Everything but main.c goes into a private library so that
# the tests can link the server's modules directly.
if ENABLE_SERVER
noinst_LIBRARIES += src/server/libsalond.a
SERVER_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/src/server $(SODIUM_CFLAGS) $(JANSSON_CFLAGS) \
	$(MHD_CFLAGS) $(SQLITE_CFLAGS)
SERVER_LIBS = src/server/libsalond.a src/lib/libsalon.a $(MHD_LIBS) $(SQLITE_LIBS) \
	$(JANSSON_LIBS) $(SODIUM_LIBS) -lpthread
src_server_libsalond_a_CFLAGS = $(SERVER_CFLAGS)
src_server_libsalond_a_SOURCES = \
	src/server/relay.c src/server/relay.h
src_server_libsalond_a_SOURCES += \
	src/server/api.c src/server/api.h src/server/api_internal.h \
	src/server/auth.c src/server/auth.h \
	src/server/bus.c src/server/bus.h \
	src/server/events.c src/server/idmap.c src/server/idmap.h \
	src/server/field.c src/server/field.h \
	src/server/rooms.c \
	src/server/store.c src/server/store.h
dist_man_MANS += man/salond.8
EXTRA_DIST += doc/API.md

sbin_PROGRAMS += src/server/salond
src_server_salond_SOURCES = src/server/main.c
src_server_salond_CFLAGS = $(SERVER_CFLAGS)
src_server_salond_LDADD = $(SERVER_LIBS)
endif
