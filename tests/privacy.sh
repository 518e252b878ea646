#!/bin/sh
# privacy.sh - wire privacy over a whole session, as a network observer sees it:
# tcpdump records everything that crosses loopback on salond's two ports (the API's
# TCP port and the relay's UDP port) while real salon bots create a room with a
# distinctive title and topic, join under distinctive names, chat, raise and lower
# hands, speak a clip, and leave; a bare member (tests/e2e-member) takes part too, so
# that the test holds a key that opens the speaker's frames. tests/pcap-scan reads
# the capture. Shown:
#   - no room id, title, topic, user name or chat text in any UDP datagram: not as
#     bytes, hex, base64 or base64url (the room id also as a 64-bit integer, either
#     byte order);
#   - the media datagrams look random: the encrypted parts of distinct datagrams
#     have a flat byte histogram and share no 8-byte run (the speaker's own Opus
#     packets, the control, fail both);
#   - none of the speaker's Opus packets (opened with the key she sealed to the
#     member) appears in clear anywhere in the capture, UDP or TCP;
#   - speech datagrams have one size per stream (constant bit rate);
#   - the HTTP traffic carries no audio and no secret key material: neither bot's
#     identity secret (from its key file), nor the speaker's sender key, nor any
#     downlink key. It does carry titles, names and chat (signaling, not end-to-end
#     encrypted; TLS protects it off loopback: SECURITY.md), and bearer tokens and
#     join tickets (credentials the API exists to hand out) - checked as a control
#     that the capture really holds the API's traffic.
# tcpdump needs root (CAP_NET_RAW) and the loopback interface: without them the test
# fails, loudly.
. "${top_srcdir:-.}/tests/e2e-lib.sh"

TITLE="Xylophone harbour conspiracy"
TOPIC="Quetzal migration timetable"
ALICE=alice_marzipan
BOB=bob_tangerine
EVE=eve_kumquat
CHAT="the wombat passphrase is 48151623"
"$AUDIO_TOOL" speech "$TMP/clip.wav" 6 3 >/dev/null

e2e_start_salond --listen 127.0.0.1:0 --relay 127.0.0.1:0
e2e_capture_start "$TMP/session.pcap" "udp port $RELAY_PORT or tcp port $API_PORT"
ok "tcpdump records loopback on the API's TCP port $API_PORT and the relay's UDP port $RELAY_PORT"

bot_start "$ALICE" 3 --input "file:$TMP/clip.wav"
expect_event "$ALICE" '.event == "connected"'
send "$ALICE" "{\"cmd\":\"create\",\"title\":\"$TITLE\",\"topic\":\"$TOPIC\"}"
expect_event "$ALICE" '.event == "room_created"'
ROOM=$(printf '%s' "$LAST" | jq -r .room.id)
bot_start "$BOB" 4
expect_event "$BOB" '.event == "connected"'
send "$BOB" "{\"cmd\":\"join\",\"room\":$ROOM}"
expect_event "$BOB" '.event == "joined"'
member_join "$EVE" "$ROOM" "$RELAY"
send "$BOB" "{\"cmd\":\"say\",\"text\":\"$CHAT\"}"
expect_event "$BOB" '.event == "chat" and .self'
send "$BOB" '{"cmd":"raise_hand"}'
expect_event "$BOB" ".event == \"hand_raised\" and .name == \"$BOB\""
send "$ALICE" "{\"cmd\":\"join\",\"room\":$ROOM}"
expect_event "$ALICE" '.event == "joined" and .member.role == "host"'
expect_event "$BOB" ".event == \"speaking_started\" and .name == \"$ALICE\""
send "$BOB" '{"cmd":"lower_hand"}'
expect_event "$ALICE" '.event == "play_finished"'
expect_event "$BOB" ".event == \"speaking_stopped\" and .name == \"$ALICE\""
send "$BOB" '{"cmd":"leave"}'
expect_event "$BOB" '.event == "left"'
ok "a session: create (title, topic), join, chat, raise and lower a hand, speak a clip, leave"

member_stop "$EVE"
member_boxes "$EVE"
for who in "$ALICE" "$BOB"; do
	send "$who" '{"cmd":"quit"}'
	expect_event "$who" '.event == "quit"'
	wait_exit "$who"
done
ALICE_ID=$(jq -r 'select(.event == "connected") | .user.id' "$TMP/$ALICE.out" | head -1)
grep -q "^$ALICE_ID " "$TMP/$EVE.boxes" || fail "alice sealed no key to the member"
read -r _ GEN SUITE SOURCE KEY <<EOF
$(grep "^$ALICE_ID " "$TMP/$EVE.boxes" | head -1)
EOF
set -- $("$MEMBER" open "$TMP/$EVE.frames" "$SOURCE" "$SUITE" "$GEN" "$KEY" "$TMP/plain.bin")
[ "$1" -ge 200 ] || fail "the member's key opened only $1 of alice's $2 frames"
ok "the member opened $1 of alice's frames with the key she sealed to it: her Opus packets"

e2e_capture_stop
set -- $("$SCAN" convert "$TMP/session.pcap" "$RELAY_PORT" "$API_PORT" "$TMP/udp.cap" \
	"$TMP/tcp.bin") || fail "pcap-scan convert failed"
[ "$1" -ge 600 ] && [ "$2" -ge 3 ] && [ "$4" -ge 10000 ] ||
	fail "the capture holds only $1 datagrams of $2 clients and $4 bytes of HTTP"
ok "the capture holds $1 datagrams of $2 clients and $3 TCP segments ($4 bytes) of HTTP, none lost"

# The needles: everything a session names, and the room id as text and as integers.
hex_le() {
	printf '%016x' "$1" | sed 's/\(..\)/\1 /g' |
		awk '{ for (i = NF; i >= 1; i--) printf "%s", $i; print "" }'
}
{
	echo "title text $TITLE"
	echo "topic text $TOPIC"
	echo "chat text $CHAT"
	for who in "$ALICE" "$BOB" "$EVE"; do
		echo "name text $who"
	done
	echo "room-id text $ROOM"
	echo "room-id-be hex $(printf '%016x' "$ROOM")"
	echo "room-id-le hex $(hex_le "$ROOM")"
} >"$TMP/names.needles"
set -- $("$SCAN" search "$TMP/names.needles" "$TMP/udp.cap" | tee "$TMP/names.udp" | tail -1)
[ "$1" -eq 0 ] || fail "signaling text crossed UDP in clear: $(grep '^hit' "$TMP/names.udp")"
ok "no room id, title, topic, user name or chat text in any datagram ($2 needles, $3 forms)"
"$SCAN" search "$TMP/names.needles" "$TMP/tcp.bin" >"$TMP/names.tcp"
for what in title topic chat name room-id; do
	grep -q "^hit $what raw " "$TMP/names.tcp" || fail "control: no $what in the HTTP traffic"
done
ok "control: the HTTP traffic (signaling) carries the title, topic, chat, names and room id"

"$MEMBER" sizes "$TMP/udp.cap" >"$TMP/sizes.out" || fail "$(cat "$TMP/sizes.out")"
cat "$TMP/sizes.out"
ok "speech datagrams have constant sizes (CBR), up and down"

"$SCAN" random capture "$TMP/udp.cap" >"$TMP/random.out" || fail "$(cat "$TMP/random.out")"
cat "$TMP/random.out"
if "$SCAN" random packets "$TMP/plain.bin" >"$TMP/random.plain"; then
	fail "control: alice's Opus packets look random: $(cat "$TMP/random.plain")"
fi
cat "$TMP/random.plain"
ok "the media datagrams look random; alice's Opus packets (the control) do not"

set -- $("$MEMBER" find "$TMP/plain.bin" "$TMP/plain.bin")
[ "$1" -eq "$2" ] && [ "$2" -ge 100 ] || fail "control: find misses packets ($1 of $2)"
set -- $("$MEMBER" find "$TMP/plain.bin" "$TMP/session.pcap" "$TMP/udp.cap" "$TMP/tcp.bin")
[ "$1" -eq 0 ] || fail "$1 of alice's $2 Opus packets appear in clear in the capture"
ok "none of alice's Opus packets ($2 distinctive of $3) is in clear in the capture, UDP or HTTP"

# Secret key material: identity secrets, the sender key, the downlink keys.
: >"$TMP/keys.needles"
for who in "$ALICE" "$BOB"; do
	# The file is a header line and the 32-byte seed in base64url (43 characters).
	seed=$(tail -n 1 "$TMP/$who/data/salon/identity") || fail "no identity file for $who"
	[ ${#seed} -eq 43 ] || fail "$who's identity file does not end with a base64url seed"
	echo "identity-$who b64 $seed" >>"$TMP/keys.needles"
done
echo "identity-$EVE b64 $(cat "$TMP/$EVE.key")" >>"$TMP/keys.needles"
echo "sender-key hex $KEY" >>"$TMP/keys.needles"
while read -r _ dlkey; do
	echo "downlink-key hex $dlkey" >>"$TMP/keys.needles"
done <"$TMP/$EVE.dlkeys"
set -- $("$SCAN" search "$TMP/keys.needles" "$TMP/tcp.bin" "$TMP/udp.cap" |
	tee "$TMP/keys.out" | tail -1)
[ "$1" -eq 0 ] || fail "secret keys on the wire: $(grep '^hit' "$TMP/keys.out")"
[ "$2" -ge 5 ] || fail "only $2 keys searched"
ok "no identity secret, sender key or downlink key ($2 keys) on the wire, HTTP or UDP"

TOKEN_EVE=$(eval "printf '%s' \"\$TOKEN_$EVE\"")
echo "token b64 $TOKEN_EVE" >"$TMP/token.needles"
set -- $("$SCAN" search "$TMP/token.needles" "$TMP/tcp.bin" | tail -1)
[ "$1" -ge 1 ] || fail "control: the member's bearer token is not in the HTTP traffic"
set -- $("$SCAN" search "$TMP/token.needles" "$TMP/udp.cap" | tail -1)
[ "$1" -eq 0 ] || fail "a bearer token crossed UDP"
ok "control: bearer tokens travel in HTTP headers only (TLS off loopback), never over UDP"

echo "privacy.sh: $CHECKS checks passed"
