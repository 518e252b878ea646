# e2e-lib.sh - helpers for the end-to-end tests (sourced, POSIX sh): real salond,
# real salon clients, and the test helpers tests/e2e-audio-tool (clips and their
# comparison), tests/e2e-member (a bare member that records what the relay forwards,
# and SFrame analysis) and tests/udp-proxy (a recording, lossy proxy in front of the
# relay, which clients reach through salond --relay-advertise); tcpdump captures of
# loopback for tests/pcap-scan; a speaker's room with a recording listener, and the
# comparison of a recording with its clip.
#
# Builds on tests/client-lib.sh (private salond, bots on FIFOs, expect_event with
# deadlines). Every check prints what it proves; the first failure stops with exit 1.
. "${top_srcdir:-.}/tests/client-lib.sh"
. "${top_srcdir:-.}/tests/http-lib.sh"

AUDIO_TOOL=$top_builddir/tests/e2e-audio-tool
MEMBER=$top_builddir/tests/e2e-member
PROXY=$top_builddir/tests/udp-proxy
APITOOL=$top_builddir/tests/apitool
for tool in "$AUDIO_TOOL" "$MEMBER" "$PROXY" "$APITOOL"; do
	[ -x "$tool" ] || fail "$tool not built"
done
command -v curl >/dev/null 2>&1 || fail "curl is required"

# One end-to-end test at a time (make -j check runs tests side by side): the room
# test alone keeps 23 clients busy, and real-time audio starved of CPU is garbled,
# which would make the comparisons measure the machine instead of salon. The lock
# is on descriptor 9 (bots use 3 to 8), in $TMPDIR so that distclean has nothing
# to remove; it goes away with the process.
command -v flock >/dev/null 2>&1 || fail "flock (util-linux) is required"
exec 9>"${TMPDIR:-/tmp}/salon-e2e-$(id -u).lock"
flock -w 240 9 || fail "another end-to-end test held the lock for 4 minutes"

# The frame records' clock (tests/e2e-member now) counts from here.
E2E_BASE_MS=0
E2E_BASE_MS=$("$MEMBER" now)
export E2E_BASE_MS
E2E_PIDS=

e2e_cleanup() {
	# tcpdump (e2e_capture_start) stops on SIGINT, writing out what it holds.
	if [ -n "${TCPDUMP_PID:-}" ]; then
		kill -INT "$TCPDUMP_PID" 2>/dev/null || true
		wait "$TCPDUMP_PID" 2>/dev/null || true
	fi
	for pid in $E2E_PIDS; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in $E2E_PIDS; do
		wait "$pid" 2>/dev/null || true
	done
	# E2E_KEEP=DIR keeps a copy of the test's files, to look at after a failure.
	if [ -n "${E2E_KEEP:-}" ]; then
		rm -rf "$E2E_KEEP"
		cp -R "$TMP" "$E2E_KEEP"
	fi
	client_cleanup
}
trap e2e_cleanup EXIT

# now_ms: the clock of the frame records, in ms.
now_ms() {
	"$MEMBER" now
}

# wait_until SECONDS WHAT COMMAND...: polls COMMAND until it succeeds, or fails.
wait_until() {
	limit=$1
	what=$2
	shift 2
	deadline=$(($(now) + limit))
	until "$@"; do
		[ "$(now)" -lt "$deadline" ] || fail "timed out after ${limit} s waiting for $what"
		sleep 0.05
	done
}

# e2e_start_proxy [OPTIONS...]: a udp-proxy in front of the relay that salond will
# write to $TMP/ports; sets PROXY_ADDR and PROXY_PID. Start it before salond.
e2e_start_proxy() {
	rm -f "$TMP/proxy.port"
	"$PROXY" "$TMP/proxy.port" "$TMP/ports" --stats "$TMP/proxy.stats" "$@" \
		2>"$TMP/proxy.err" &
	PROXY_PID=$!
	E2E_PIDS="$E2E_PIDS $PROXY_PID"
	wait_until 10 "the proxy's port file" test -s "$TMP/proxy.port"
	PROXY_ADDR=$(sed -n 's/^proxy //p' "$TMP/proxy.port")
}

# e2e_start_salond [ARGS...]: salond on $TMP/salond.db, ephemeral ports unless ARGS
# say otherwise; sets API, RELAY, RELAY_PORT, API_PORT and SALOND_PID.
e2e_start_salond() {
	rm -f "$TMP/ports"
	"$SALOND" --db "$TMP/salond.db" --port-file "$TMP/ports" --login-burst 200 "$@" \
		>>"$TMP/salond.out" 2>>"$TMP/salond.err" &
	SALOND_PID=$!
	wait_until 10 "salond's port file" test -s "$TMP/ports"
	API=$(sed -n 's/^api //p' "$TMP/ports")
	RELAY=$(sed -n 's/^relay //p' "$TMP/ports")
	case $API in http://127.0.0.1:[0-9]*) ;; *) fail "bad api line: $API" ;; esac
	case $RELAY in 127.0.0.1:[0-9]*) ;; *) fail "bad relay line: $RELAY" ;; esac
	API_PORT=${API##*:}
	RELAY_PORT=${RELAY##*:}
}

# api METHOD PATH TOKEN [BODY]: the HTTP status on stdout, the body in $TMP/body.
api() {
	http_call "$@"
}

# api_expect STATUS METHOD PATH TOKEN [BODY]
api_expect() {
	want=$1
	shift
	got=$(api "$@") || fail "curl failed for $1 $2"
	[ "$got" = "$want" ] || fail "$1 $2: expected $want, got $got: $(cat "$TMP/body")"
}

# api_login NAME: a key in $TMP/NAME.key and a login; sets TOKEN and USER_ID.
api_login() {
	[ -f "$TMP/$1.key" ] || "$APITOOL" keygen "$TMP/$1.key" >/dev/null
	pk=$("$APITOOL" pubkey "$TMP/$1.key")
	api_expect 200 POST /v1/auth/challenge none "{\"public_key\":\"$pk\",\"name\":\"$1\"}"
	nonce=$(jq -r .nonce "$TMP/body")
	sig=$("$APITOOL" sign "$TMP/$1.key" "$nonce")
	api_expect 200 POST /v1/auth/login none \
		"{\"nonce\":\"$nonce\",\"public_key\":\"$pk\",\"signature\":\"$sig\"}"
	TOKEN=$(jq -r .token "$TMP/body")
	USER_ID=$(jq -r .user.id "$TMP/body")
}

# member_join NAME ROOM RELAY_ADDR: logs NAME in, joins ROOM through the API and
# starts tests/e2e-member listening through RELAY_ADDR, recording frames to
# $TMP/NAME.frames; waits until it holds the downlink key. Sets TOKEN_NAME,
# MEMBER_PID_NAME.
member_join() {
	api_login "$1"
	eval "TOKEN_$1=\$TOKEN"
	api_expect 201 POST "/v1/rooms/$2/join" "$TOKEN"
	"$MEMBER" listen "$3" "$(jq -r .relay.public_key "$TMP/body")" \
		"$(jq -r .ticket "$TMP/body")" "$TMP/$1.frames" "$TMP/$1.dlkeys" \
		"$TMP/$1.ready" 120 >"$TMP/$1.member.out" 2>&1 &
	eval "MEMBER_PID_$1=$!"
	E2E_PIDS="$E2E_PIDS $!"
	wait_until 10 "$1 to hold the downlink key" test -f "$TMP/$1.ready"
}

# member_stop NAME: stops NAME's e2e-member (SIGTERM) and waits for it.
member_stop() {
	eval "pid=\$MEMBER_PID_$1"
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" || fail "e2e-member $1 failed: $(cat "$TMP/$1.member.out")"
}

# member_boxes NAME: NAME's key events, decoded, one line each in $TMP/NAME.boxes:
# "FROM_USER GENERATION SUITE MEMBER KEYHEX" (test secrets, in the test's directory).
# Pages through the event stream; a last page of fewer than 100 events is not
# acknowledged, so the server keeps those events (and their boxes) in its database.
member_boxes() {
	eval "token=\$TOKEN_$1"
	after=0
	: >"$TMP/$1.keyevents"
	while :; do
		api_expect 200 GET "/v1/events?after=$after" "$token"
		jq -r '.events[] | select(.type == "key") | "\(.from) \(.box)"' "$TMP/body" \
			>>"$TMP/$1.keyevents"
		[ "$(jq '.events | length' "$TMP/body")" -ge 100 ] || break
		after=$(jq .last_seq "$TMP/body")
	done
	: >"$TMP/$1.boxes"
	while read -r from box; do
		api_expect 200 GET "/v1/users/$from" "$token"
		line=$("$MEMBER" open-box "$TMP/$1.key" "$(jq -r .public_key "$TMP/body")" "$box") ||
			fail "$1 cannot open a box from user $from"
		echo "$from $line" >>"$TMP/$1.boxes"
	done <"$TMP/$1.keyevents"
}

# frames_of NAME: how many frames NAME's member recorded so far.
frames_of() {
	[ -f "$TMP/$1.frames" ] || { echo 0; return; }
	# Each record: 10 bytes of header and the frame; count headers by walking is the
	# tool's job, but a lower bound by size is enough to wait on.
	echo $(($(wc -c <"$TMP/$1.frames") / 100))
}

# frames_at_least NAME N: whether NAME's member recorded about N frames (for waits).
frames_at_least() {
	[ "$(frames_of "$1")" -ge "$2" ]
}

# line_count NAME: lines of NAME's output so far (to make expect_event look after).
line_count() {
	wc -l <"$TMP/$1.out" | tr -d ' '
}

# skip_to_end NAME: later expect_event calls for NAME look only at new lines.
skip_to_end() {
	line_count "$1" >"$TMP/$1.cursor"
}

# e2e_capture_start FILE FILTER: tcpdump records what crosses loopback and matches
# FILTER (a pcap filter) into FILE, for tests/pcap-scan (set as SCAN) to read; waits
# until it listens. Fails when tcpdump or pcap-scan is missing, or tcpdump cannot
# capture (it needs root: CAP_NET_RAW). Sets TCPDUMP_PID; e2e_cleanup stops it.
e2e_capture_start() {
	SCAN=$top_builddir/tests/pcap-scan
	[ -x "$SCAN" ] || fail "$SCAN not built"
	TCPDUMP=$(command -v tcpdump) || fail "tcpdump is required (Debian package tcpdump)"
	"$TCPDUMP" -i lo -n -U -s 0 -B 16384 -w "$1" "$2" \
		>"$TMP/tcpdump.out" 2>"$TMP/tcpdump.err" &
	TCPDUMP_PID=$!
	wait_until 10 "tcpdump to listen on lo" e2e_capturing
}

# e2e_capturing: whether tcpdump listens yet (fails the test when it died).
e2e_capturing() {
	kill -0 "$TCPDUMP_PID" 2>/dev/null ||
		fail "tcpdump cannot capture on lo (root is needed): $(cat "$TMP/tcpdump.err")"
	grep -q 'listening on' "$TMP/tcpdump.err"
}

# e2e_capture_stop: stops tcpdump (SIGINT), which must exit 0 having lost no packet,
# so that its capture file is whole.
e2e_capture_stop() {
	kill -INT "$TCPDUMP_PID"
	wait "$TCPDUMP_PID" || fail "tcpdump failed: $(cat "$TMP/tcpdump.err")"
	TCPDUMP_PID=
	tcpdump_lost=$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped by kernel.*/\1/p' \
		"$TMP/tcpdump.err")
	[ "${tcpdump_lost:-x}" = 0 ] || fail "tcpdump lost packets: $(cat "$TMP/tcpdump.err")"
}

# e2e_listener_room HOST LISTENER TITLE RECORDING: HOST, a bot the caller started,
# creates room TITLE (sets ROOM); LISTENER, a bot started here on descriptor 4 that
# sends no audio and records the room to RECORDING, joins it. HOST is not in the
# room yet.
e2e_listener_room() {
	expect_event "$1" '.event == "connected"'
	send "$1" "{\"cmd\":\"create\",\"title\":\"$3\"}"
	expect_event "$1" '.event == "room_created"'
	ROOM=$(printf '%s' "$LAST" | jq -r .room.id)
	client_start "$2" 4 --bot --server "$API" --name "$2" --input null --output "file:$4"
	expect_event "$2" '.event == "connected"'
	send "$2" "{\"cmd\":\"join\",\"room\":$ROOM}"
	expect_event "$2" '.event == "joined"'
}

# e2e_compare CLIP RECORDING SCORE FLOOR: RECORDING must match CLIP (e2e-audio-tool
# compare, aligned per 400 ms window: score >= SCORE, every window >= FLOOR); prints
# the comparison's summary line and keeps the whole in $TMP/compare.out.
e2e_compare() {
	"$AUDIO_TOOL" compare "$1" "$2" "$3" "$4" >"$TMP/compare.out" ||
		fail "$2 does not match the clip $1: $(cat "$TMP/compare.out")"
	tail -1 "$TMP/compare.out"
}

# e2e_first_window MIN: in the last e2e_compare, the first 400 ms window (the speaker's
# first words) scored at least MIN; sets FIRST to its score.
e2e_first_window() {
	FIRST=$(sed -n 's/^ *window  *0\.00 s: ncc \([0-9.]*\).*/\1/p' "$TMP/compare.out")
	[ -n "$FIRST" ] || fail "no first window in the comparison: $(cat "$TMP/compare.out")"
	awk -v x="$FIRST" -v min="$1" 'BEGIN { exit !(x >= min) }' ||
		fail "the first 400 ms of the clip are missing or (nearly) silent: ncc $FIRST < $1"
}
