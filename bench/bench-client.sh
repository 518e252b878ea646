#!/bin/sh
# shellcheck disable=SC2034,SC2086,SC2154  # PID lists split; eval; PID_* from client-lib.sh
# bench-client.sh - the client's cost beside baresip's, and salon's added latency
# (issue 6, items 2 and 3; bench/README.md sections 4 and 5). Loopback only.
#
# Cost: salon bots through a real salond on 127.0.0.1: l1 listens to one speaker
# (s1), l3 to three (s2, s3, s4); s1 speaks (it hears nobody). Speakers play a
# speech-like clip from a file (--play FILE --loop); listeners play to the null
# backend. In the same window, two baresip instances (Debian's baresip-core) make a
# loopback Opus call at the same settings (24 kbit/s CBR, 20 ms, complexity 5,
# in-band FEC, mono 48 kHz): bA sends the same clip (aufile) and receives nothing,
# bB receives, decodes and plays to a device that nobody reads (aubridge alone), and
# sends nothing (its source is an aubridge device that never delivers a frame).
# Measured per process over each window of BENCH_CLIENT_SECONDS (default 60):
# CPU = utime + stime (/proc/PID/stat) / window, as a percentage of one core, and
# peak RSS = VmHWM (/proc/PID/status) at the end. Per-thread CPU of the salon
# processes is printed too (/proc/PID/task/*/stat), to show where the cost is.
#
# Latency: bench/bench-latency writes the capture of speaker bot sp through a FIFO
# and reads the playback of listener bot ls through another (see bench-latency.c),
# at 20 ms frames and then at 10 ms frames (config file frame_ms), for
# BENCH_LATENCY_SECONDS each (default 20), counted from the first impulse heard.
#
# Environment: top_builddir, top_srcdir (make bench sets them), BENCH_CLIENT_SECONDS,
# BENCH_CLIENT_RUNS (windows, default 3; medians reported), BENCH_LATENCY_SECONDS,
# BENCH_ONLY=cost|latency. Exit status 0 when every figure meets its target.
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-$(dirname "$0")/..}
. "$top_srcdir/tests/client-lib.sh"
set +e

SECONDS_WINDOW=${BENCH_CLIENT_SECONDS:-60}
RUNS=${BENCH_CLIENT_RUNS:-3}
LAT_SECONDS=${BENCH_LATENCY_SECONDS:-20}
ONLY=${BENCH_ONLY:-all}
AUDIO_TOOL=$top_builddir/tests/e2e-audio-tool
LATENCY=$top_builddir/bench/bench-latency
HZ=$(getconf CLK_TCK)
MISSES=
BARESIP_PIDS=

for tool in "$AUDIO_TOOL" "$LATENCY"; do
	[ -x "$tool" ] || fail "$tool not built"
done

bench_cleanup() {
	for pid in $BARESIP_PIDS; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $BARESIP_PIDS; do
		wait "$pid" 2>/dev/null
	done
	client_cleanup
}
trap bench_cleanup EXIT

miss() {
	MISSES="$MISSES
  $*"
}

# cpu_ticks PID: utime + stime of the process, in clock ticks.
cpu_ticks() {
	# The fields after the command name, which is in parentheses.
	sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# hwm_kib PID: peak resident set size, in KiB.
hwm_kib() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

# thread_ticks PID: "TID UTIME STIME" (ticks) for each thread, in creation order (TID
# order: salon starts the main thread, then the engine's control thread, which starts
# the media thread).
thread_ticks() {
	for stat in /proc/"$1"/task/*/stat; do
		sed 's/^\([0-9]*\) (.*) /\1 /' "$stat" | awk '{ print $1, $13, $14 }'
	done | sort
}

# thread_share BEFORE AFTER SECONDS: each thread's CPU in the window, % of a core
# (user + system).
thread_share() {
	join "$1" "$2" | awk -v w="$3" -v hz="$HZ" '{
		name = NR == 1 ? "main" : NR == 2 ? "control" : NR == 3 ? "media" : "thread" NR
		u = ($4 - $2) * 100 / hz / w; s = ($5 - $3) * 100 / hz / w
		printf "%s %.3f%% (%.3f + %.3f)  ", name, u + s, u, s }'
}

# median VALUES...: the median (lower middle for an even count).
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# verdict FIGURE VALUE OP LIMIT UNIT: prints the figure with its target; records a miss.
verdict() {
	if awk -v v="$2" -v l="$4" -v op="$3" \
		'BEGIN { exit !(op == "<=" ? v <= l + 1e-9 : v >= l - 1e-9) }'; then
		printf '  %-58s %8s %s (target %s %s %s) PASS\n' "$1" "$2" "$5" "$3" "$4" "$5"
	else
		printf '  %-58s %8s %s (target %s %s %s) FAIL\n' "$1" "$2" "$5" "$3" "$4" "$5"
		miss "$1: $2 $5, target $3 $4 $5"
	fi
}

# free_port: a TCP and UDP port on 127.0.0.1 that is free, with the next one free
# too (baresip listens on PORT for UDP and TCP, PORT + 1 for TLS).
free_port() {
	while :; do
		p=$(awk -v s="$(od -An -N2 -tu2 /dev/urandom)" 'BEGIN { print 30000 + s % 25000 }')
		[ -z "$(ss -Htuan "( sport = :$p or sport = :$((p + 1)) )")" ] && break
	done
	echo "$p"
}

# baresip_config DIR SIP_PORT RTP_PORT SOURCE PLAYER: a baresip config for the call.
baresip_config() {
	mkdir -p "$1"
	cat >"$1/config" <<EOF
poll_method epoll
sip_listen 127.0.0.1:$2
rtp_ports $3-$(($3 + 1))
audio_source $4
audio_player $5
audio_alert aubridge,alert
ausrc_srate 48000
auplay_srate 48000
ausrc_channels 1
auplay_channels 1
audio_buffer 20-160
module_path /usr/lib/baresip/modules
module opus.so
module aufile.so
module aubridge.so
module_app account.so
module_app menu.so
statmode_default off
opus_bitrate 24000
opus_stereo no
opus_sprop_stereo no
opus_cbr yes
opus_inbandfec yes
opus_dtx no
opus_complexity 5
opus_application voip
EOF
}

# ---- client cost ----
bench_cost() {
	command -v baresip >/dev/null 2>&1 || fail "baresip is required (Debian: baresip-core)"
	for m in opus aufile aubridge account menu; do
		[ -f "/usr/lib/baresip/modules/$m.so" ] || fail "baresip module $m.so is missing"
	done
	total=$((SECONDS_WINDOW * RUNS + 30))
	"$AUDIO_TOOL" speech "$TMP/clip.wav" "$((total + 10))" 1 >/dev/null ||
		fail "cannot make the clip"

	bot_start s1 3 --play "$TMP/clip.wav" --loop
	expect_event s1 '.event == "connected"'
	send s1 '{"cmd":"create","title":"one speaker"}'
	expect_event s1 '.event == "room_created"'
	room1=$(printf '%s' "$LAST" | jq -r .room.id)
	send s1 "{\"cmd\":\"join\",\"room\":$room1}"
	expect_event s1 '.event == "speaking_started" and .self'
	bot_start l1 4
	expect_event l1 '.event == "connected"'
	send l1 "{\"cmd\":\"join\",\"room\":$room1}"
	expect_event l1 '.event == "speaking_started" and .name == "s1"'

	bot_start s2 5 --play "$TMP/clip.wav" --loop
	expect_event s2 '.event == "connected"'
	send s2 '{"cmd":"create","title":"three speakers"}'
	expect_event s2 '.event == "room_created"'
	room3=$(printf '%s' "$LAST" | jq -r .room.id)
	send s2 "{\"cmd\":\"join\",\"room\":$room3}"
	expect_event s2 '.event == "speaking_started" and .self'
	for who in s3 s4; do
		case $who in s3) fd=6 ;; *) fd=7 ;; esac
		bot_start "$who" "$fd" --play "$TMP/clip.wav" --loop
		expect_event "$who" '.event == "connected"'
		send "$who" "{\"cmd\":\"join\",\"room\":$room3}"
		expect_event "$who" '.event == "joined"'
		send s2 "{\"cmd\":\"invite\",\"user\":\"$who\"}"
		expect_event "$who" '.event == "speaking_started" and .self'
	done
	bot_start l3 8
	expect_event l3 '.event == "connected"'
	send l3 "{\"cmd\":\"join\",\"room\":$room3}"
	for who in s2 s3 s4; do
		# Each speaker's first speaking_started (the order is theirs, not ours).
		deadline=$(($(now) + 15))
		until jq -s -e "any(.[]; .event == \"speaking_started\" and .name == \"$who\")" \
			"$TMP/l3.out" >/dev/null 2>&1; do
			[ "$(now)" -lt "$deadline" ] || fail "l3 does not hear $who"
			sleep 0.05
		done
	done
	ok "salon: l1 hears s1 in room $room1; l3 hears s2, s3 and s4 in room $room3"

	# The baresip call: bB answers, bA dials.
	pa=$(free_port)
	pb=$(free_port)
	[ "$pa" != "$pb" ] || pb=$(free_port)
	ra=$(free_port)
	rb=$(free_port)
	baresip_config "$TMP/bA" "$pa" "$ra" "aufile,$TMP/clip.wav" "aubridge,aplay"
	baresip_config "$TMP/bB" "$pb" "$rb" "aubridge,bsrc" "aubridge,bplay"
	printf '<sip:bA@127.0.0.1:%s;transport=udp>;regint=0;answermode=auto;%s\n' "$pa" \
		'audio_codecs=opus/48000/1;ptime=20' >"$TMP/bA/accounts"
	printf '<sip:bB@127.0.0.1:%s;transport=udp>;regint=0;answermode=auto;%s\n' "$pb" \
		'audio_codecs=opus/48000/1;ptime=20' >"$TMP/bB/accounts"
	# -n 127.0.0.1: media on loopback too (baresip otherwise offers its first
	# interface's address in SDP).
	baresip -4 -n 127.0.0.1 -f "$TMP/bB" -t "$total" >"$TMP/bB.log" 2>&1 </dev/null &
	BB=$!
	BARESIP_PIDS="$BARESIP_PIDS $BB"
	deadline=$(($(now) + 10))
	until grep -q 'baresip is ready' "$TMP/bB.log"; do
		[ "$(now)" -lt "$deadline" ] || fail "baresip bB did not start: $(cat "$TMP/bB.log")"
		sleep 0.05
	done
	baresip -4 -n 127.0.0.1 -f "$TMP/bA" -t "$total" -e "/dial sip:bB@127.0.0.1:$pb" \
		>"$TMP/bA.log" 2>&1 </dev/null &
	BA=$!
	BARESIP_PIDS="$BARESIP_PIDS $BA"
	deadline=$(($(now) + 15))
	until grep -q "incoming rtp for 'audio' established" "$TMP/bB.log"; do
		[ "$(now)" -lt "$deadline" ] || fail "the baresip call did not start: $(tail -5 "$TMP/bA.log")"
		sleep 0.05
	done
	ok "baresip: bA (127.0.0.1:$pa) calls bB (127.0.0.1:$pb); bB receives Opus RTP"

	names="l1 l3 s1"
	pids="$PID_l1 $PID_l3 $PID_s1 $BB $BA"
	run=1
	while [ "$run" -le "$RUNS" ]; do
		set -- $pids
		t0=
		for pid in "$@"; do
			t0="$t0 $(cpu_ticks "$pid")"
		done
		for who in $names; do
			eval "thread_ticks \"\$PID_$who\"" >"$TMP/$who.threads0"
		done
		w0=$(date +%s.%N)
		sleep "$SECONDS_WINDOW"
		w1=$(date +%s.%N)
		for who in $names; do
			eval "thread_ticks \"\$PID_$who\"" >"$TMP/$who.threads1"
		done
		t1=
		for pid in "$@"; do
			kill -0 "$pid" 2>/dev/null || fail "a measured process (pid $pid) exited"
			t1="$t1 $(cpu_ticks "$pid")"
		done
		line=$(awk -v a="$t0" -v b="$t1" -v w0="$w0" -v w1="$w1" -v hz="$HZ" 'BEGIN {
			n = split(a, x, " "); split(b, y, " ");
			for (i = 1; i <= n; i++) printf "%.3f ", (y[i] - x[i]) * 100 / hz / (w1 - w0) }')
		set -- $line
		CPU_l1="${CPU_l1:-} $1"
		CPU_l3="${CPU_l3:-} $2"
		CPU_s1="${CPU_s1:-} $3"
		CPU_bB="${CPU_bB:-} $4"
		CPU_bA="${CPU_bA:-} $5"
		echo "run $run ($SECONDS_WINDOW s): CPU % of a core: salon l1 $1, l3 $2, s1 $3;" \
			"baresip bB (receives) $4, bA (sends) $5"
		for who in $names; do
			echo "  salon $who by thread, % (user + system): $(thread_share "$TMP/$who.threads0" \
				"$TMP/$who.threads1" "$(awk -v a="$w0" -v b="$w1" \
				'BEGIN { print b - a }')")"
		done
		run=$((run + 1))
	done
	grep -q "incoming rtp for 'audio' established" "$TMP/bA.log" &&
		echo "note: bA received RTP: bB was not receive-only"

	RSS_l1=$(hwm_kib "$PID_l1")
	RSS_l3=$(hwm_kib "$PID_l3")
	RSS_s1=$(hwm_kib "$PID_s1")
	RSS_bB=$(hwm_kib "$BB")
	RSS_bA=$(hwm_kib "$BA")
	# shellcheck disable=SC2086
	{
		c_l1=$(median $CPU_l1)
		c_l3=$(median $CPU_l3)
		c_s1=$(median $CPU_s1)
		c_bB=$(median $CPU_bB)
		c_bA=$(median $CPU_bA)
	}
	mib() { awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; }
	echo "client cost, medians of $RUNS windows of $SECONDS_WINDOW s (CPU: % of one core):"
	verdict "salon listening to 1 speaker: CPU (<= baresip receiving)" "$c_l1" "<=" "$c_bB" "%"
	# baresip receives one stream: l3 (three) has its own target, not baresip's.
	echo "  (salon listening to 3 speakers: $c_l3 % of a core; baresip receiving one" \
		"stream: $c_bB %)"
	verdict "salon listening to 3 speakers: CPU" "$c_l3" "<=" "1.2" "%"
	verdict "salon speaking: CPU (<= baresip sending)" "$c_s1" "<=" "$c_bA" "%"
	verdict "salon listening to 1: peak RSS (<= baresip receiving)" "$(mib "$RSS_l1")" \
		"<=" "$(mib "$RSS_bB")" "MiB"
	# baresip's aufile loads the whole clip into memory: its sending side's RSS
	# grows with the clip's length, so it is shown, not compared.
	echo "  (salon speaking: peak RSS $(mib "$RSS_s1") MiB; baresip sending:" \
		"$(mib "$RSS_bA") MiB, the clip included)"
	for who in l1 l3 s1; do
		eval "rss=\$RSS_$who"
		verdict "salon $who in bot mode: peak RSS" "$(mib "$rss")" "<=" "10" "MiB"
	done

	for who in s1 l1 s2 s3 s4 l3; do
		send "$who" '{"cmd":"quit"}'
	done
	for pid in $BARESIP_PIDS; do
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	BARESIP_PIDS=
	for who in s1 l1 s2 s3 s4 l3; do
		wait_exit "$who"
	done
}

# ---- added latency ----
# bench_latency FRAME_MS LIMIT_MS FD_SPEAKER FD_LISTENER
bench_latency() {
	sp=sp$1
	ls=ls$1
	for who in $sp $ls; do
		mkdir -p "$TMP/$who/config/salon"
		printf 'frame_ms = %s\n' "$1" >"$TMP/$who/config/salon/config"
	done
	rm -f "$TMP/cap$1" "$TMP/play$1"
	mkfifo "$TMP/cap$1" "$TMP/play$1"
	"$LATENCY" "$TMP/cap$1" "$TMP/play$1" "$1" "$LAT_SECONDS" "$2" >"$TMP/latency$1.out" \
		2>&1 &
	lat_pid=$!
	client_start "$sp" "$3" --bot --server "$API" --name "$sp" --input "pipe:$TMP/cap$1" \
		--output null
	expect_event "$sp" '.event == "connected"'
	send "$sp" "{\"cmd\":\"create\",\"title\":\"latency $1 ms\"}"
	expect_event "$sp" '.event == "room_created"'
	room=$(printf '%s' "$LAST" | jq -r .room.id)
	send "$sp" "{\"cmd\":\"join\",\"room\":$room}"
	expect_event "$sp" '.event == "joined"'
	client_start "$ls" "$4" --bot --server "$API" --name "$ls" --input null \
		--output "pipe:$TMP/play$1"
	expect_event "$ls" '.event == "connected"'
	send "$ls" "{\"cmd\":\"join\",\"room\":$room}"
	expect_event "$ls" '.event == "joined"'
	status=0
	wait "$lat_pid" || status=$?
	grep -v '^latency' "$TMP/latency$1.out" | sed 's/^/  /'
	echo "  latencies (ms): $(sed -n 's/^latency \([0-9.]*\).*/\1/p' \
		"$TMP/latency$1.out" | tr '\n' ' ')"
	summary=$(grep '^impulses' "$TMP/latency$1.out")
	med=$(printf '%s' "$summary" | sed -n 's/.* median \([0-9.]*\) .*/\1/p')
	p95=$(printf '%s' "$summary" | sed -n 's/.* p95 \([0-9.]*\) .*/\1/p')
	if [ -z "$med" ]; then
		[ "$status" -ne 2 ] || fail "bench-latency failed: $(cat "$TMP/latency$1.out")"
		miss "latency at $1 ms frames: no measurement"
	else
		verdict "added latency, $1 ms frames: median" "$med" "<=" "$2" "ms"
		verdict "added latency, $1 ms frames: p95" "$p95" "<=" "$2" "ms"
	fi
	for who in $sp $ls; do
		send "$who" '{"cmd":"quit"}'
	done
	for who in $sp $ls; do
		wait_exit "$who"
	done
}

start_salond
ok "salond at $API"
if [ "$ONLY" != latency ]; then
	echo "== client cost: salon vs baresip ($RUNS x $SECONDS_WINDOW s)"
	bench_cost
fi
if [ "$ONLY" != cost ]; then
	echo "== added latency, capture ring to playback ring, through salond's relay"
	bench_latency 20 60 3 4
	bench_latency 10 35 5 6
fi
if [ -n "$MISSES" ]; then
	echo "bench-client: FAIL:$MISSES"
	exit 1
fi
echo "bench-client: every figure PASS"
