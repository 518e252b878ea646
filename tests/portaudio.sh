#!/bin/sh
# The PortAudio backend against a virtual sound device: starts a private PulseAudio
# server with a null sink (tools/audio-device) in a directory of its own, runs
# tests/test-portaudio against it, and stops it. Fails, never skips, when the device
# cannot be started (the message says which package is missing).
set -eu

: "${top_builddir:?}" "${top_srcdir:?}"
dir=$(mktemp -d /tmp/salon-portaudio.XXXXXX)
cleanup() {
	sh "$top_srcdir/tools/audio-device" stop "$dir" || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

settings=$(sh "$top_srcdir/tools/audio-device" start "$dir") || {
	echo "portaudio.sh: FAIL: the virtual audio device did not start (see above)" >&2
	exit 1
}
echo "$settings"
eval "$settings"
export PULSE_SERVER SALON_AUDIO_DEVICE

# Under AddressSanitizer: ALSA loads its plugins (and their libraries) with dlopen for
# each device it opens and unloads them after, and those libraries' constructors leak
# a few bytes each time. The suppression names libasound, which is on the stack of
# each such leak, and only the slow unwinder walks through ALSA's frames to find it.
# salon's own allocations never have ALSA on their stack, so their leaks still show.
printf 'leak:libasound.so\n' >"$dir/lsan.supp"
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$dir/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS LSAN_OPTIONS

"$top_builddir/tests/test-portaudio"
