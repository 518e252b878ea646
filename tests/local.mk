# Tests: C unit tests (cmocka) and shell integration tests against real binaries.
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = $(SHELL)
AM_TESTS_ENVIRONMENT = \
	SALON_VECTORS='$(SALON_VECTORS)'; export SALON_VECTORS; \
	top_builddir='$(abs_top_builddir)'; export top_builddir; \
	top_srcdir='$(abs_top_srcdir)'; export top_srcdir;

TEST_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS)
TEST_LIBS = src/lib/libsalon.a $(CMOCKA_LIBS) $(SODIUM_LIBS) $(JANSSON_LIBS)

# Unit tests, one program per module of src/lib.
check_PROGRAMS += tests/test-encoding
tests_test_encoding_SOURCES = tests/test-encoding.c
tests_test_encoding_CFLAGS = $(TEST_CFLAGS)
tests_test_encoding_LDADD = $(TEST_LIBS)
TESTS += tests/test-encoding

# A test client for the relay of a real salond (tests/relay.sh).
check_PROGRAMS += tests/relaytool
tests_relaytool_SOURCES = tests/relaytool.c
tests_relaytool_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS)
tests_relaytool_LDADD = src/lib/libsalon.a $(SODIUM_LIBS)

check_PROGRAMS += tests/test-noise tests/test-wire tests/test-hop
tests_test_noise_SOURCES = tests/test-noise.c
tests_test_noise_CFLAGS = $(TEST_CFLAGS)
tests_test_noise_LDADD = $(TEST_LIBS)
tests_test_wire_SOURCES = tests/test-wire.c
tests_test_wire_CFLAGS = $(TEST_CFLAGS)
tests_test_wire_LDADD = $(TEST_LIBS)
tests_test_hop_SOURCES = tests/test-hop.c
tests_test_hop_CFLAGS = $(TEST_CFLAGS)
tests_test_hop_LDADD = $(TEST_LIBS)
TESTS += tests/test-noise tests/test-wire tests/test-hop

# End-to-end layer: HKDF-SHA-512, SFrame, identity keys.
check_PROGRAMS += tests/test-hkdf
tests_test_hkdf_SOURCES = tests/test-hkdf.c
tests_test_hkdf_CFLAGS = $(TEST_CFLAGS)
tests_test_hkdf_LDADD = $(TEST_LIBS)
TESTS += tests/test-hkdf
check_PROGRAMS += tests/test-sframe
tests_test_sframe_SOURCES = tests/test-sframe.c
tests_test_sframe_CFLAGS = $(TEST_CFLAGS)
tests_test_sframe_LDADD = $(TEST_LIBS)
TESTS += tests/test-sframe

# The media relay over real UDP sockets on loopback.
if ENABLE_SERVER
check_PROGRAMS += tests/test-relay
tests_test_relay_SOURCES = tests/test-relay.c
tests_test_relay_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/src/server $(MHD_CFLAGS) $(SQLITE_CFLAGS)
tests_test_relay_LDADD = $(SERVER_LIBS) $(CMOCKA_LIBS)
TESTS += tests/test-relay
endif
check_PROGRAMS += tests/test-identity
tests_test_identity_SOURCES = tests/test-identity.c
tests_test_identity_CFLAGS = $(TEST_CFLAGS)
tests_test_identity_LDADD = $(TEST_LIBS)
TESTS += tests/test-identity

# The SPSC ring lives in libsalon (both programs), so its test runs without the client.
check_PROGRAMS += tests/test-ring
tests_test_ring_SOURCES = tests/test-ring.c
tests_test_ring_CFLAGS = $(TEST_CFLAGS)
tests_test_ring_LDADD = $(TEST_LIBS) -lpthread
TESTS += tests/test-ring

# The client's audio engine building blocks.
if ENABLE_CLIENT
check_PROGRAMS += tests/test-jitter tests/test-codec tests/test-mixer tests/test-audio
tests_test_jitter_SOURCES = tests/test-jitter.c
tests_test_jitter_CFLAGS = $(CLIENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_jitter_LDADD = $(CLIENT_LIBS) $(CMOCKA_LIBS)
tests_test_codec_SOURCES = tests/test-codec.c
tests_test_codec_CFLAGS = $(CLIENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_codec_LDADD = $(CLIENT_LIBS) $(CMOCKA_LIBS)
tests_test_mixer_SOURCES = tests/test-mixer.c
tests_test_mixer_CFLAGS = $(CLIENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_mixer_LDADD = $(CLIENT_LIBS) $(CMOCKA_LIBS)
tests_test_audio_SOURCES = tests/test-audio.c
tests_test_audio_CFLAGS = $(CLIENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_audio_LDADD = $(CLIENT_LIBS) $(CMOCKA_LIBS)
TESTS += tests/test-jitter tests/test-codec tests/test-mixer tests/test-audio
endif

# salond's API: a key and signature helper, and shell tests against a real salond.
if ENABLE_SERVER
check_PROGRAMS += tests/apitool
tests_apitool_SOURCES = tests/apitool.c
tests_apitool_CFLAGS = $(TEST_CFLAGS)
tests_apitool_LDADD = src/lib/libsalon.a $(SODIUM_LIBS)
check_PROGRAMS += tests/test-store
tests_test_store_SOURCES = tests/test-store.c
tests_test_store_CFLAGS = $(SERVER_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_store_LDADD = $(SERVER_LIBS) $(CMOCKA_LIBS)
TESTS += tests/test-store
TESTS += tests/api.sh tests/api-events.sh tests/api-restart.sh tests/api-limits.sh
EXTRA_DIST += tests/api.sh tests/api-events.sh tests/api-restart.sh tests/api-limits.sh \
	tests/api-lib.sh
endif
if ENABLE_SERVER
TESTS += tests/relay.sh
EXTRA_DIST += tests/relay.sh
endif

# Terminal hygiene (sanitize) and XDG base directories, in libsalon.
check_PROGRAMS += tests/test-sanitize tests/test-xdg
tests_test_sanitize_SOURCES = tests/test-sanitize.c
tests_test_sanitize_CFLAGS = $(TEST_CFLAGS)
tests_test_sanitize_LDADD = $(TEST_LIBS)
tests_test_xdg_SOURCES = tests/test-xdg.c
tests_test_xdg_CFLAGS = $(TEST_CFLAGS)
tests_test_xdg_LDADD = $(TEST_LIBS)
check_PROGRAMS += tests/test-file
tests_test_file_SOURCES = tests/test-file.c
tests_test_file_CFLAGS = $(TEST_CFLAGS)
tests_test_file_LDADD = $(TEST_LIBS)
TESTS += tests/test-file
TESTS += tests/test-sanitize tests/test-xdg

# The client's config file.
if ENABLE_CLIENT
check_PROGRAMS += tests/test-config
tests_test_config_SOURCES = tests/test-config.c
tests_test_config_CFLAGS = $(CLIENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_config_LDADD = $(CLIENT_LIBS) $(CMOCKA_LIBS)
TESTS += tests/test-config
endif

# The client's key manager (sender keys, sealed boxes) and TOFU pins, and the
# re-keying benchmark (built by make check, run by hand: bench/bench-rekey).
if ENABLE_CLIENT
check_PROGRAMS += tests/test-keys tests/test-pins bench/bench-rekey
tests_test_keys_SOURCES = tests/test-keys.c
tests_test_keys_CFLAGS = $(CLIENT_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS)
tests_test_keys_LDADD = $(CLIENT_LIBS) $(CMOCKA_LIBS) $(JANSSON_LIBS)
tests_test_pins_SOURCES = tests/test-pins.c
tests_test_pins_CFLAGS = $(CLIENT_CFLAGS) $(CMOCKA_CFLAGS) $(JANSSON_CFLAGS)
tests_test_pins_LDADD = $(CLIENT_LIBS) $(CMOCKA_LIBS) $(JANSSON_LIBS)
bench_bench_rekey_SOURCES = bench/bench-rekey.c
bench_bench_rekey_CFLAGS = $(CLIENT_CFLAGS)
bench_bench_rekey_LDADD = $(CLIENT_LIBS)
TESTS += tests/test-keys tests/test-pins
endif

check_PROGRAMS += tests/test-queue
tests_test_queue_SOURCES = tests/test-queue.c
tests_test_queue_CFLAGS = $(TEST_CFLAGS)
tests_test_queue_LDADD = $(TEST_LIBS) -lpthread
TESTS += tests/test-queue

# The media thread's speech clean-up (speexdsp) and the media thread itself, against
# an in-process relay (test-media).
if ENABLE_CLIENT
check_PROGRAMS += tests/test-dsp
tests_test_dsp_SOURCES = tests/test-dsp.c
tests_test_dsp_CFLAGS = $(CLIENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_dsp_LDADD = $(CLIENT_LIBS) $(CMOCKA_LIBS)
TESTS += tests/test-dsp
endif

# The PortAudio backend against a virtual device: a private PulseAudio null sink
# started by tools/audio-device, through ALSA's pulse plugin (tests/portaudio.sh).
if ENABLE_CLIENT
check_PROGRAMS += tests/test-portaudio
tests_test_portaudio_SOURCES = tests/test-portaudio.c
tests_test_portaudio_CFLAGS = $(CLIENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_portaudio_LDADD = $(CLIENT_LIBS) $(CMOCKA_LIBS)
TESTS += tests/portaudio.sh
endif
EXTRA_DIST += tests/portaudio.sh tools/audio-device
if ENABLE_CLIENT
check_PROGRAMS += tests/test-media
tests_test_media_SOURCES = tests/test-media.c
tests_test_media_CFLAGS = $(CLIENT_CFLAGS) $(CMOCKA_CFLAGS) -I$(top_srcdir)/src/server \
	$(MHD_CFLAGS) $(SQLITE_CFLAGS)
tests_test_media_LDADD = $(CLIENT_LIBS) $(CMOCKA_LIBS)
if ENABLE_SERVER
tests_test_media_LDADD += $(SERVER_LIBS)
endif
TESTS += tests/test-media
endif

# The client's signaling (libcurl multi) and engine against a real salond
# (tests/salond-child.c starts it on ephemeral loopback ports).
if ENABLE_CLIENT
if ENABLE_SERVER
check_PROGRAMS += tests/test-signaling tests/test-engine
tests_test_signaling_SOURCES = tests/test-signaling.c tests/salond-child.c tests/salond-child.h
tests_test_signaling_CFLAGS = $(CLIENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_signaling_LDADD = $(CLIENT_LIBS) $(CMOCKA_LIBS)
tests_test_engine_SOURCES = tests/test-engine.c tests/salond-child.c tests/salond-child.h
tests_test_engine_CFLAGS = $(CLIENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_engine_LDADD = $(CLIENT_LIBS) $(CMOCKA_LIBS)
TESTS += tests/test-signaling tests/test-engine
endif
endif

# The salon program's front ends: bot mode, one-shot commands, line mode, the local
# server (shell, against a real salond), and their pure parts (test-frontend).
if ENABLE_CLIENT
if ENABLE_SERVER
TESTS += tests/bot.sh tests/cli.sh tests/plain.sh tests/local.sh tests/tls.sh
endif
check_PROGRAMS += tests/test-frontend
tests_test_frontend_SOURCES = tests/test-frontend.c src/client/plain.c src/client/bot.c \
	src/client/frontend.c
tests_test_frontend_CFLAGS = $(CLIENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_frontend_LDADD = $(CLIENT_LIBS) $(CMOCKA_LIBS)
TESTS += tests/test-frontend
endif
EXTRA_DIST += tests/bot.sh tests/cli.sh tests/plain.sh tests/local.sh tests/tls.sh \
	tests/client-lib.sh

# The full-screen UI: earcon synthesis and key bindings (test-earcon), and the UI
# itself in tmux against a real salond and bots (tui.sh, through tui-driver).
if ENABLE_CLIENT
check_PROGRAMS += tests/test-earcon tests/tui-driver
tests_test_earcon_SOURCES = tests/test-earcon.c
tests_test_earcon_CFLAGS = $(CLIENT_CFLAGS) $(CMOCKA_CFLAGS)
tests_test_earcon_LDADD = $(CLIENT_LIBS) $(CMOCKA_LIBS)
TESTS += tests/test-earcon
tests_tui_driver_SOURCES = tests/tui-driver.c
tests_tui_driver_CFLAGS = $(CLIENT_CFLAGS)
tests_tui_driver_LDADD = $(CLIENT_LIBS)
if ENABLE_SERVER
TESTS += tests/tui.sh
endif
endif
EXTRA_DIST += tests/tui.sh tests/tui-lib.sh tests/tui-proxy.py

# Reliability and security (SECURITY.md): salond killed under load and on a full
# disk, a bot session under valgrind, and attacks on tokens and on the relay
# (tests/fault-flood.c floods it from one loopback address).
if ENABLE_SERVER
check_PROGRAMS += tests/fault-flood
tests_fault_flood_SOURCES = tests/fault-flood.c
tests_fault_flood_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS)
tests_fault_flood_LDADD = src/lib/libsalon.a $(SODIUM_LIBS)
TESTS += tests/fault-kill.sh tests/fault-disk.sh tests/attack-tokens.sh
endif
if ENABLE_CLIENT
if ENABLE_SERVER
TESTS += tests/valgrind-bot.sh
endif
endif
EXTRA_DIST += tests/fault-kill.sh tests/fault-disk.sh tests/attack-tokens.sh \
	tests/valgrind-bot.sh tests/valgrind.supp SECURITY.md

# End-to-end tests: real salond, real salon clients, speech and tones compared after
# the trip (e2e-audio-tool), what the relay forwards examined by a bare member
# (e2e-member), and a recording, lossy UDP proxy in front of the relay (udp-proxy).
if ENABLE_CLIENT
if ENABLE_SERVER
check_PROGRAMS += tests/e2e-audio-tool tests/e2e-member tests/udp-proxy tests/tcp-proxy
tests_e2e_audio_tool_SOURCES = tests/e2e-audio-tool.c
tests_e2e_audio_tool_CFLAGS = $(CLIENT_CFLAGS)
tests_e2e_audio_tool_LDADD = $(CLIENT_LIBS) -lm
tests_e2e_member_SOURCES = tests/e2e-member.c
tests_e2e_member_CFLAGS = $(CLIENT_CFLAGS)
tests_e2e_member_LDADD = $(CLIENT_LIBS)
tests_udp_proxy_SOURCES = tests/udp-proxy.c tests/proxy-util.c tests/proxy-util.h
tests_udp_proxy_CFLAGS = $(AM_CFLAGS)
tests_udp_proxy_LDADD = src/lib/libsalon.a
tests_tcp_proxy_SOURCES = tests/tcp-proxy.c tests/proxy-util.c tests/proxy-util.h
tests_tcp_proxy_CFLAGS = $(AM_CFLAGS)
tests_tcp_proxy_LDADD = src/lib/libsalon.a
TESTS += tests/e2e-audio.sh tests/e2e-room.sh tests/e2e-loss.sh tests/e2e-restart.sh \
	tests/net-cut.sh
endif
endif
EXTRA_DIST += tests/e2e-audio.sh tests/e2e-room.sh tests/e2e-loss.sh tests/e2e-restart.sh \
	tests/net-cut.sh \
	tests/e2e-lib.sh tests/http-lib.sh

# Churn (issue 5): at least 1,000 simulated members (tests/churn-tool) join and leave
# a room for minutes while three bots speak; salond's memory and descriptors stay
# bounded and the listeners keep hearing every speaker.
if ENABLE_CLIENT
if ENABLE_SERVER
check_PROGRAMS += tests/churn-tool
tests_churn_tool_SOURCES = tests/churn-tool.c tests/http-client.c tests/http-client.h
tests_churn_tool_CFLAGS = $(CLIENT_CFLAGS) $(JANSSON_CFLAGS)
tests_churn_tool_LDADD = $(CLIENT_LIBS) $(JANSSON_LIBS) -lm
TESTS += tests/churn.sh
endif
endif
EXTRA_DIST += tests/churn.sh

# The French catalogue is complete and salon speaks it (xgettext, msgcmp, and salon
# in French under LANGUAGE=fr against a real salond).
if ENABLE_CLIENT
if ENABLE_SERVER
TESTS += tests/i18n.sh
endif
endif
EXTRA_DIST += tests/i18n.sh

# The full-screen UI's event handling sends the right earcons (tui.c compiled into
# the test with a fake engine that records commands; no engine.c linked; frontend.c
# for the helpers tui.c shares with the other front ends).
if ENABLE_CLIENT
check_PROGRAMS += tests/test-tui
tests_test_tui_SOURCES = tests/test-tui.c src/client/tui-keys.c src/client/earcon.c \
	src/client/frontend.c
tests_test_tui_CFLAGS = $(CLIENT_CFLAGS) $(CMOCKA_CFLAGS) -I$(top_srcdir)/src/client
tests_test_tui_LDADD = src/lib/libsalon.a $(JANSSON_LIBS) $(NCURSES_LIBS) $(CMOCKA_LIBS) -lm
TESTS += tests/test-tui
endif

# Wire privacy, secrets in logs, and attacks on the relay end to end (SECURITY.md):
# a whole session captured with tcpdump on loopback (tests/pcap-scan reads the
# capture), every log of a session searched for its secrets, a removed member's
# datagrams, and forged SFrame KIDs (tests/relaytool plays the members).
if ENABLE_SERVER
check_PROGRAMS += tests/pcap-scan
tests_pcap_scan_SOURCES = tests/pcap-scan.c
tests_pcap_scan_CFLAGS = $(AM_CFLAGS) $(SODIUM_CFLAGS)
tests_pcap_scan_LDADD = src/lib/libsalon.a $(SODIUM_LIBS)
TESTS += tests/attack-removed.sh
endif
if ENABLE_CLIENT
if ENABLE_SERVER
TESTS += tests/privacy.sh tests/log-secrets.sh tests/attack-kid.sh
endif
endif
EXTRA_DIST += tests/attack-removed.sh tests/privacy.sh tests/log-secrets.sh \
	tests/attack-kid.sh
