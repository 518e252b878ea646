# src/client: the salon client.
# The client's engine modules, in a private library so that tests link them directly.
if ENABLE_CLIENT
noinst_LIBRARIES += src/client/libsalonclient.a
CLIENT_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/src/client $(OPUS_CFLAGS) $(SNDFILE_CFLAGS) \
	$(SPEEXDSP_CFLAGS) $(PORTAUDIO_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS) $(SODIUM_CFLAGS)
CLIENT_LIBS = src/client/libsalonclient.a src/lib/libsalon.a $(OPUS_LIBS) $(SNDFILE_LIBS) \
	$(SPEEXDSP_LIBS) $(PORTAUDIO_LIBS) $(CURL_LIBS) $(JANSSON_LIBS) $(SODIUM_LIBS) \
	-lm -lpthread
src_client_libsalonclient_a_CFLAGS = $(CLIENT_CFLAGS)
src_client_libsalonclient_a_SOURCES = \
	src/client/keys.c src/client/keys.h \
	src/client/pins.c src/client/pins.h \
	src/client/config-file.c src/client/config-file.h \
	src/client/codec.c src/client/codec.h \
	src/client/jitter.c src/client/jitter.h \
	src/client/mixer.c src/client/mixer.h \
	src/client/audio.h \
	src/client/audio-file.c \
	src/client/audio-pipe.c \
	src/client/audio-null.c
endif
