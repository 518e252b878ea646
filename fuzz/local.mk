# fuzz: libFuzzer targets for salon's parsers (fuzz/run.sh runs them).
# They are built only by a fuzzing build (CC=clang ./configure --enable-fuzzing), where
# every library is compiled with coverage instrumentation, ASan and UBSan, and each
# target links libFuzzer's main through FUZZ_LDFLAGS. `make fuzz-build` builds them.
FUZZ_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS)
FUZZ_LIB_LIBS = src/lib/libsalon.a $(JANSSON_LIBS) $(SODIUM_LIBS)
FUZZ_LINK_FLAGS = $(AM_LDFLAGS) $(FUZZ_LDFLAGS)

if ENABLE_FUZZING
FUZZ_BINS = fuzz/fuzz-wire fuzz/fuzz-noise fuzz/fuzz-hop fuzz/fuzz-sframe \
	fuzz/fuzz-sanitize
check_PROGRAMS += fuzz/fuzz-wire fuzz/fuzz-noise fuzz/fuzz-hop fuzz/fuzz-sframe \
	fuzz/fuzz-sanitize

fuzz_fuzz_wire_SOURCES = fuzz/fuzz-wire.c
fuzz_fuzz_wire_CFLAGS = $(FUZZ_CFLAGS)
fuzz_fuzz_wire_LDFLAGS = $(FUZZ_LINK_FLAGS)
fuzz_fuzz_wire_LDADD = $(FUZZ_LIB_LIBS)

fuzz_fuzz_noise_SOURCES = fuzz/fuzz-noise.c
fuzz_fuzz_noise_CFLAGS = $(FUZZ_CFLAGS)
fuzz_fuzz_noise_LDFLAGS = $(FUZZ_LINK_FLAGS)
fuzz_fuzz_noise_LDADD = $(FUZZ_LIB_LIBS)

fuzz_fuzz_hop_SOURCES = fuzz/fuzz-hop.c
fuzz_fuzz_hop_CFLAGS = $(FUZZ_CFLAGS)
fuzz_fuzz_hop_LDFLAGS = $(FUZZ_LINK_FLAGS)
fuzz_fuzz_hop_LDADD = $(FUZZ_LIB_LIBS)

fuzz_fuzz_sframe_SOURCES = fuzz/fuzz-sframe.c
fuzz_fuzz_sframe_CFLAGS = $(FUZZ_CFLAGS)
fuzz_fuzz_sframe_LDFLAGS = $(FUZZ_LINK_FLAGS)
fuzz_fuzz_sframe_LDADD = $(FUZZ_LIB_LIBS)

fuzz_fuzz_sanitize_SOURCES = fuzz/fuzz-sanitize.c
fuzz_fuzz_sanitize_CFLAGS = $(FUZZ_CFLAGS)
fuzz_fuzz_sanitize_LDFLAGS = $(FUZZ_LINK_FLAGS)
fuzz_fuzz_sanitize_LDADD = $(FUZZ_LIB_LIBS)

endif

.PHONY: fuzz-build
fuzz-build: $(FUZZ_BINS)

EXTRA_DIST += fuzz/run.sh fuzz/README fuzz/common.h fuzz/corpus fuzz/regressions

# Targets on the client's modules.
if ENABLE_FUZZING
if ENABLE_CLIENT
FUZZ_CLIENT_CFLAGS = $(FUZZ_CFLAGS) -I$(top_srcdir)/src/client
FUZZ_CLIENT_LIBS = src/client/libsalonclient.a src/lib/libsalon.a $(JANSSON_LIBS) \
	$(SODIUM_LIBS)
FUZZ_BINS += fuzz/fuzz-keys fuzz/fuzz-config fuzz/fuzz-events
check_PROGRAMS += fuzz/fuzz-keys fuzz/fuzz-config fuzz/fuzz-events

# The event-page parser lives in signaling.c, which needs libcurl.
fuzz_fuzz_events_SOURCES = fuzz/fuzz-events.c
fuzz_fuzz_events_CFLAGS = $(FUZZ_CLIENT_CFLAGS) $(CURL_CFLAGS)
fuzz_fuzz_events_LDFLAGS = $(FUZZ_LINK_FLAGS)
fuzz_fuzz_events_LDADD = $(FUZZ_CLIENT_LIBS) $(CURL_LIBS)

fuzz_fuzz_keys_SOURCES = fuzz/fuzz-keys.c
fuzz_fuzz_keys_CFLAGS = $(FUZZ_CLIENT_CFLAGS)
fuzz_fuzz_keys_LDFLAGS = $(FUZZ_LINK_FLAGS)
fuzz_fuzz_keys_LDADD = $(FUZZ_CLIENT_LIBS)

fuzz_fuzz_config_SOURCES = fuzz/fuzz-config.c
fuzz_fuzz_config_CFLAGS = $(FUZZ_CLIENT_CFLAGS)
fuzz_fuzz_config_LDFLAGS = $(FUZZ_LINK_FLAGS)
fuzz_fuzz_config_LDADD = $(FUZZ_CLIENT_LIBS)
endif
endif

# Targets on the server's modules.
if ENABLE_FUZZING
if ENABLE_SERVER
FUZZ_SERVER_CFLAGS = $(FUZZ_CFLAGS) -I$(top_srcdir)/src/server $(MHD_CFLAGS) $(SQLITE_CFLAGS)
FUZZ_SERVER_LIBS = src/server/libsalond.a src/lib/libsalon.a $(MHD_LIBS) $(SQLITE_LIBS) \
	$(JANSSON_LIBS) $(SODIUM_LIBS) -lpthread
FUZZ_BINS += fuzz/fuzz-relay fuzz/fuzz-api-json
check_PROGRAMS += fuzz/fuzz-relay fuzz/fuzz-api-json

fuzz_fuzz_relay_SOURCES = fuzz/fuzz-relay.c
fuzz_fuzz_relay_CFLAGS = $(FUZZ_SERVER_CFLAGS)
fuzz_fuzz_relay_LDFLAGS = $(FUZZ_LINK_FLAGS)
fuzz_fuzz_relay_LDADD = $(FUZZ_SERVER_LIBS)

fuzz_fuzz_api_json_SOURCES = fuzz/fuzz-api-json.c
fuzz_fuzz_api_json_CFLAGS = $(FUZZ_SERVER_CFLAGS)
fuzz_fuzz_api_json_LDFLAGS = $(FUZZ_LINK_FLAGS)
fuzz_fuzz_api_json_LDADD = $(FUZZ_SERVER_LIBS)
endif
endif
