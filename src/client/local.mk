# src/client: the salon client.
# The client's engine modules, in a private library so that tests link them directly.
if ENABLE_CLIENT
noinst_LIBRARIES += src/client/libsalonclient.a
# -fno-math-errno: nothing here reads errno after a math function, and without it
# gcc calls libm for every lrintf() of the audio paths instead of one instruction.
CLIENT_CFLAGS = $(AM_CFLAGS) -fno-math-errno -I$(top_srcdir)/src/client $(OPUS_CFLAGS) $(SNDFILE_CFLAGS) \
	$(SPEEXDSP_CFLAGS) $(PORTAUDIO_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS) $(SODIUM_CFLAGS) \
	$(NCURSES_CFLAGS)
# PortAudio is not linked: audio-portaudio.c loads it with dlopen() (so is libsndfile
# in salon itself, below; tests and tools that read sound files link it directly).
CLIENT_LIBS = src/client/libsalonclient.a src/lib/libsalon.a $(OPUS_LIBS) $(SNDFILE_LIBS) \
	$(SPEEXDSP_LIBS) $(CURL_LIBS) $(JANSSON_LIBS) $(SODIUM_LIBS) \
	$(NCURSES_LIBS) -lm -lpthread
src_client_libsalonclient_a_CFLAGS = $(CLIENT_CFLAGS)
src_client_libsalonclient_a_SOURCES = \
	src/client/keys.c src/client/keys.h \
	src/client/pins.c src/client/pins.h \
	src/client/config-file.c src/client/config-file.h \
	src/client/codec.c src/client/codec.h \
	src/client/jitter.c src/client/jitter.h \
	src/client/mixer.c src/client/mixer.h \
	src/client/dsp.c src/client/dsp.h \
	src/client/media.c src/client/media.h \
	src/client/signaling.c src/client/signaling.h \
	src/client/engine.c src/client/engine.h \
	src/client/earcon.c src/client/earcon.h \
	src/client/frontend.c src/client/frontend.h \
	src/client/tui.c src/client/tui.h \
	src/client/tui-keys.c src/client/tui-keys.h \
	src/client/audio.h \
	src/client/audio-file.c \
	src/client/audio-pipe.c \
	src/client/audio-portaudio.c \
	src/client/audio-null.c

# The salon program: its front ends (line mode, bot mode, one-shot subcommands) and
# the embedded local server; the demo clip its local demo room plays.
bin_PROGRAMS += src/client/salon
src_client_salon_SOURCES = src/client/main.c \
	src/client/plain.c src/client/plain.h \
	src/client/bot.c src/client/bot.h \
	src/client/cli.c src/client/cli.h \
	src/client/local-server.c src/client/local-server.h
src_client_salon_CFLAGS = $(CLIENT_CFLAGS) -DPKGDATADIR=\"$(pkgdatadir)\" \
	-DSBINDIR=\"$(sbindir)\" -DSRCDATADIR=\"$(abs_top_srcdir)/data\"
# Without libsndfile and PortAudio, which salon loads only when a file or a sound device
# is used, nor ncurses, which tui.c loads only for the full-screen UI: a bot that uses
# none of them does not map them (bench/README.md, section 4).
src_client_salon_LDADD = src/client/libsalonclient.a src/lib/libsalon.a $(OPUS_LIBS) \
	$(SPEEXDSP_LIBS) $(CURL_LIBS) $(JANSSON_LIBS) $(SODIUM_LIBS) -lm -lpthread
dist_man_MANS += man/salon.1
pkgdata_DATA = data/demo.opus
EXTRA_DIST += data/demo.opus data/README
endif
