#!/bin/sh
# e2e-audio.sh - speech through a real salond, end to end: bot alice speaks a clip,
# bot bob records the room, and bob's recording matches the clip. On the way, what
# a network observer and the server hold is checked: a recording proxy in front of
# the relay (salond --relay-advertise) captures every datagram, a bare member
# (tests/e2e-member) records the frames the relay forwards, and salond's database
# and relay key file are searched:
#   - no room title, user name or chat text in any datagram;
#   - speech datagrams of one size (constant bit rate; only the SFrame counter's
#     header field grows, with time);
#   - what the relay forwards is SFrame ciphertext: the Opus packets inside (opened
#     with the key alice sealed to the member) appear nowhere in clear - not on the
#     wire, not in the database - and no 32-byte value in the database or the relay
#     key file opens a single frame, while the sealed key does.
. "${top_srcdir:-.}/tests/e2e-lib.sh"

TITLE="Zebra crossing secrets"
CHAT="the quokka password is 7391"
"$AUDIO_TOOL" speech "$TMP/clip.wav" 6 1 >/dev/null

e2e_start_proxy --capture "$TMP/capture.bin"
e2e_start_salond --listen 127.0.0.1:0 --relay 127.0.0.1:0 --relay-advertise "$PROXY_ADDR"
ok "salond up; clients are sent to the recording proxy $PROXY_ADDR, relay at $RELAY"

bot_start alice_e2e 3 --input "file:$TMP/clip.wav"
e2e_listener_room alice_e2e bob_e2e "$TITLE" "$TMP/bob.wav"

# The bare member talks to the relay directly, so the capture holds the bots' traffic.
member_join eve_member "$ROOM" "$RELAY"
ok "bob (bot) and a bare member joined room $ROOM"

send bob_e2e "{\"cmd\":\"say\",\"text\":\"$CHAT\"}"
expect_event bob_e2e '.event == "chat" and .self'
send alice_e2e "{\"cmd\":\"join\",\"room\":$ROOM}"
expect_event alice_e2e '.event == "joined" and .member.role == "host"'
expect_event bob_e2e '.event == "speaking_started" and .name == "alice_e2e"'
ok "alice joins and starts speaking her clip; bob hears her (speaking_started)"

expect_event alice_e2e '.event == "play_finished"'
expect_event bob_e2e '.event == "speaking_stopped" and .name == "alice_e2e"'
send bob_e2e '{"cmd":"quit"}'
expect_event bob_e2e '.event == "quit"'
wait_exit bob_e2e
[ "$STATUS" -eq 0 ] || fail "bob exited with $STATUS"
e2e_compare "$TMP/clip.wav" "$TMP/bob.wav" 0.9 0.5
ok "bob's recording matches alice's clip (aligned per 400 ms window: score >= 0.9, each >= 0.5)"

# Alice's first words are heard: the first window is as good as the rest, not the
# silence of frames sealed to nobody or of frames that beat her key box to bob.
e2e_first_window 0.6
ok "the first 400 ms window after alice starts speaking is heard (ncc $FIRST >= 0.6)"

# The comparison is strict enough: a recording with 30% of its 20 ms frames missing,
# or a second of speech missing, or another clip of the same kind, fails it.
"$AUDIO_TOOL" damage "$TMP/bob.wav" "$TMP/broken.wav" 30 7
if "$AUDIO_TOOL" compare "$TMP/clip.wav" "$TMP/broken.wav" 0.9 0.5 >"$TMP/broken.out"; then
	fail "a recording missing 30% of its frames passed: $(tail -1 "$TMP/broken.out")"
fi
"$AUDIO_TOOL" gap "$TMP/bob.wav" "$TMP/broken.wav" 2 1
if "$AUDIO_TOOL" compare "$TMP/clip.wav" "$TMP/broken.wav" 0.9 0.5 >"$TMP/broken.out"; then
	fail "a recording missing 1 s passed: $(tail -1 "$TMP/broken.out")"
fi
"$AUDIO_TOOL" speech "$TMP/other.wav" 6 2 >/dev/null
if "$AUDIO_TOOL" compare "$TMP/other.wav" "$TMP/bob.wav" 0.9 0.5 >"$TMP/broken.out"; then
	fail "another clip matched bob's recording: $(tail -1 "$TMP/broken.out")"
fi
ok "control: 30% of frames missing, a 1 s gap, or a different clip fails the comparison"

member_stop eve_member
member_boxes eve_member
send alice_e2e '{"cmd":"quit"}'
expect_event alice_e2e '.event == "quit"'
wait_exit alice_e2e
ALICE_ID=$(jq -r 'select(.event == "connected") | .user.id' "$TMP/alice_e2e.out" | head -1)
grep -q "^$ALICE_ID " "$TMP/eve_member.boxes" || fail "alice sealed no key to the member"
read -r _ GEN SUITE SOURCE KEY <<EOF
$(grep "^$ALICE_ID " "$TMP/eve_member.boxes" | head -1)
EOF
ok "alice sealed her sender key (generation $GEN, suite $SUITE) to the bare member too"

# Stop salond so that its database is complete on disk (WAL checkpointed).
stop_salond
kill -TERM "$PROXY_PID"
wait "$PROXY_PID" || true
DB_FILES="$TMP/salond.db $TMP/salond.db.relay-key"
for f in "$TMP/salond.db-wal" "$TMP/salond.db-shm"; do
	[ -f "$f" ] && DB_FILES="$DB_FILES $f"
done

# Names, titles and chat: in the database (the server runs rooms), never on the wire.
for text in "$TITLE" alice_e2e bob_e2e eve_member "$CHAT"; do
	# shellcheck disable=SC2086
	cat $DB_FILES | grep -a -q -F -- "$text" || fail "control: '$text' not in the database"
	if grep -a -q -F -- "$text" "$TMP/capture.bin"; then
		fail "'$text' crossed the network in clear"
	fi
done
DATAGRAMS=$(sed -n "s/^forwarded //p" "$TMP/proxy.stats")
ok "no title, user name or chat text in any of $DATAGRAMS datagrams (all are in the database)"

"$MEMBER" sizes "$TMP/capture.bin" >"$TMP/sizes.out" || fail "$(cat "$TMP/sizes.out")"
cat "$TMP/sizes.out"
ok "speech datagrams have constant sizes (CBR), up and down"

# The member was in the room before alice (a smaller member number), so alice seals
# it the key she is using, however late its identity key reaches her: the key it got
# opens every one of her frames, the very first included (no frame went out under a
# key sealed to nobody).
set -- $("$MEMBER" open "$TMP/eve_member.frames" "$SOURCE" "$SUITE" "$GEN" "$KEY" \
	"$TMP/plain.bin" results "$TMP/open.res")
gaps=$(awk '$2 == 1 { seen = 1 } seen && $2 == 0 { n++ } END { print n + 0 }' "$TMP/open.res")
[ "$2" -ge 200 ] || fail "the member recorded only $2 frames of alice's"
[ "$1" -ge 200 ] && [ "$gaps" -eq 0 ] ||
	fail "the sealed key opened $1 of alice's $2 frames ($gaps gaps)"
[ "$3" -eq 1 ] || fail "alice's Opus packets have $3 different sizes, not 1"
[ "$1" -eq "$2" ] ||
	fail "alice's first $(($2 - $1)) frames went out under keys the member never got"
ok "the member's sealed key opens all $1 frames the relay forwarded, the first too: Opus, one size"
OPENED=$1
TOTAL=$2

set -- $("$MEMBER" from-capture "$TMP/capture.bin" "$TMP/eve_member.dlkeys" "$TMP/wire.frames")
[ "$2" -ge 200 ] && [ "$1" -eq "$2" ] ||
	fail "the room's downlink key opened $1 of the $2 DOWNLINK datagrams captured"
set -- $("$MEMBER" open "$TMP/wire.frames" "$SOURCE" "$SUITE" "$GEN" "$KEY")
[ "$1" -ge 200 ] && [ $(($2 - $1)) -le $((TOTAL - OPENED)) ] ||
	fail "the sealed key opened $1 of the $2 frames captured on the way to bob"
ok "the $2 frames the relay sent bob are SFrame frames of alice's, opened only end to end"

set -- $("$MEMBER" find "$TMP/plain.bin" "$TMP/plain.bin")
[ "$1" -eq "$2" ] && [ "$2" -ge 200 ] || fail "control: find misses packets ($1 of $2 of $3)"
# shellcheck disable=SC2086
set -- $("$MEMBER" find "$TMP/plain.bin" "$TMP/capture.bin" "$TMP/eve_member.frames" $DB_FILES)
[ "$1" -eq 0 ] || fail "$1 of alice's $2 Opus packets appear in clear on the wire or on disk"
ok "none of alice's Opus packets ($2 of $3 distinctive) appears in clear in the capture, the frames or the database"

# The boxes the server stores are there, sealed: the scan below covers them.
BOX=$(awk 'NR == 1 { print $2 }' "$TMP/eve_member.keyevents")
# shellcheck disable=SC2086
cat $DB_FILES | grep -a -q -F -- "$BOX" || fail "the member's key box is not in the database"
# shellcheck disable=SC2086
set -- $("$MEMBER" scan "$TMP/eve_member.frames" $DB_FILES)
[ "$1" -ge 1000 ] || fail "only $1 candidate keys in the database"
[ "$3" -eq 0 ] || fail "$3 values from the database or the relay key open alice's frames"
SCANNED=$1
printf 'some bytes before %s and after\n' "$KEY" >"$TMP/control.txt"
set -- $("$MEMBER" scan "$TMP/eve_member.frames" "$TMP/control.txt")
[ "$3" -ge 1 ] || fail "control: scan does not find the key in a file that holds it"
ok "none of $SCANNED 32-byte values in the database (with its key boxes) and relay key file opens a frame; the scan finds a real key"

echo "e2e-audio.sh: $CHECKS checks passed"
