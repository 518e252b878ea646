#!/bin/sh
# log-secrets.sh - no token, key, ticket or login nonce in any log, at the highest
# verbosity: salond runs with -vvv (debug), and a whole session runs through salon
# at -vv (debug) in three front ends: alice as a bot (--bot) creates a room and
# speaks a clip, bob in line mode (--plain) joins, chats, raises his hand, is
# invited on stage and leaves, carol runs one-shot commands (salon rooms, salon
# whoami, salon join --listen-only --for). A bare member (tests/e2e-member) joins
# too, which gives the test the keys the speaker sealed to it and every downlink key.
#
# The secrets collected:
#   - from the API traffic, captured with tcpdump on loopback (the clients keep
#     their tokens in memory only): every bearer token, login nonce and join ticket
#     that salond issued to anyone, and every token presented in an Authorization
#     header;
#   - the identity secret (seed) in each salon's key file and the bare member's;
#   - the relay's static secret (salond.db.relay-key);
#   - alice's sender key and the keys it ratchets to (16 generations, from the box
#     she sealed to the bare member), and every downlink key the relay handed out.
# Not collected: resume tickets and hop session keys, which exist only inside the
# relay and the clients' media threads, and the sender keys of generations sealed
# to others (rotations); no test knob exports them.
#
# Every log (stderr and stdout of every process) is searched for each secret as
# raw bytes, hex, base64 and base64url (tests/pcap-scan search). Controls: the logs
# are debug logs (they hold debug lines of each program), and the same search finds
# a token planted in a copy of a log.
. "${top_srcdir:-.}/tests/e2e-lib.sh"

"$AUDIO_TOOL" speech "$TMP/clip.wav" 4 5 >/dev/null
e2e_start_salond --listen 127.0.0.1:0 --relay 127.0.0.1:0 -vvv
e2e_capture_start "$TMP/api.pcap" "tcp port $API_PORT"
ok "salond runs with -vvv; tcpdump records the API's traffic"

bot_start alice 3 --input "file:$TMP/clip.wav" -vv
expect_event alice '.event == "connected"'
send alice '{"cmd":"create","title":"Secret keeping","topic":"logs"}'
expect_event alice '.event == "room_created"'
ROOM=$(printf '%s' "$LAST" | jq -r .room.id)
send alice "{\"cmd\":\"join\",\"room\":$ROOM}"
expect_event alice '.event == "joined" and .member.role == "host"'

client_start bob 4 --plain --server "$API" --name bob --input null --output null -vv
expect_line bob 'Connected to '
send bob "/join $ROOM"
expect_line bob 'You joined'
member_join eve "$ROOM" "$RELAY"
send bob 'a chat line from bob'
expect_event alice '.event == "chat" and .name == "bob"'
send bob '/hand'
expect_event alice '.event == "hand_raised" and .name == "bob"'
send alice '{"cmd":"invite","user":"bob"}'
expect_line bob 'You are now a speaker.'
# The clip may have ended before the events above (a slow machine): look at all.
wait_until 30 "alice's clip to end" grep -q '"event":"play_finished"' "$TMP/alice.out"

carol() {
	as carol "$SALON" --server "$API" --name carol -vv "$@" >>"$TMP/carol.out" \
		2>>"$TMP/carol.err"
}
carol rooms || fail "salon rooms failed: $(cat "$TMP/carol.err")"
carol whoami || fail "salon whoami failed: $(cat "$TMP/carol.err")"
carol join "$ROOM" --listen-only --output null --for 2 ||
	fail "salon join failed: $(cat "$TMP/carol.err")"
send bob '/leave'
expect_line bob 'You left'
send bob '/quit'
wait_exit bob
ok "a session through --bot, --plain and one-shot commands, all at -vv"

member_stop eve
member_boxes eve
send alice '{"cmd":"quit"}'
expect_event alice '.event == "quit"'
wait_exit alice
stop_salond
e2e_capture_stop

# The secrets.
"$SCAN" convert "$TMP/api.pcap" 1 "$API_PORT" "$TMP/none.cap" "$TMP/api.bin" >/dev/null ||
	fail "pcap-scan convert failed"
: >"$TMP/secrets.needles"
# Values of "token", "nonce" and "ticket" in JSON bodies, and Bearer headers.
grep -a -o -E '"(token|nonce|ticket)":"[A-Za-z0-9_-]{43}"' "$TMP/api.bin" |
	sed 's/^"\([a-z]*\)":"\(.*\)"$/\1 b64 \2/' >>"$TMP/secrets.needles"
grep -a -o -E 'Bearer [A-Za-z0-9_-]{43}' "$TMP/api.bin" |
	sed 's/^Bearer /bearer b64 /' >>"$TMP/secrets.needles"
sort -u "$TMP/secrets.needles" -o "$TMP/secrets.needles"
tokens=$(grep -c '^token ' "$TMP/secrets.needles") || true
nonces=$(grep -c '^nonce ' "$TMP/secrets.needles") || true
tickets=$(grep -c '^ticket ' "$TMP/secrets.needles") || true
bearers=$(grep -c '^bearer ' "$TMP/secrets.needles") || true
# alice, bob and eve logged in once, carol three times (each one-shot command logs
# in); alice, bob, carol and eve joined, so each presented a token (a one-shot
# command may exit before any authenticated call: not every token is presented).
[ "$tokens" -ge 6 ] && [ "$nonces" -ge 6 ] && [ "$tickets" -ge 4 ] && [ "$bearers" -ge 4 ] ||
	fail "the capture gave only $tokens tokens, $nonces nonces, $tickets tickets," \
		"$bearers bearer headers"
for who in alice bob carol; do
	seed=$(tail -n 1 "$TMP/$who/data/salon/identity") || fail "no identity file for $who"
	[ ${#seed} -eq 43 ] || fail "$who's identity file does not end with a base64url seed"
	echo "identity-$who b64 $seed" >>"$TMP/secrets.needles"
done
echo "identity-eve b64 $(cat "$TMP/eve.key")" >>"$TMP/secrets.needles"
relay_secret=$(cat "$TMP/salond.db.relay-key")
echo "relay-secret b64 $relay_secret" >>"$TMP/secrets.needles"
ALICE_ID=$(jq -r 'select(.event == "connected") | .user.id' "$TMP/alice.out" | head -1)
grep -q "^$ALICE_ID " "$TMP/eve.boxes" || fail "alice sealed no key to the bare member"
read -r _ _ _ _ KEY <<EOF
$(grep "^$ALICE_ID " "$TMP/eve.boxes" | head -1)
EOF
echo "sender-key hex $KEY" >>"$TMP/secrets.needles"
"$SCAN" ratchet "$KEY" 16 >"$TMP/ratchet.out" || fail "pcap-scan ratchet failed"
sed 's/^/sender-key-next hex /' "$TMP/ratchet.out" >>"$TMP/secrets.needles"
while read -r _ dlkey; do
	echo "downlink-key hex $dlkey" >>"$TMP/secrets.needles"
done <"$TMP/eve.dlkeys"
total=$(wc -l <"$TMP/secrets.needles")
ok "collected $total secrets: $tokens tokens, $bearers bearer headers, $nonces nonces," \
	"$tickets tickets, 4 identity secrets, the relay's secret, sender and downlink keys"

# The logs: everything salond and each salon wrote (stderr and stdout).
LOGS=
for who in salond alice bob carol; do
	for f in "$TMP/$who.err" "$TMP/$who.out"; do
		[ -f "$f" ] || fail "no log $f"
		LOGS="$LOGS $f"
	done
done
grep -q 'debug: ' "$TMP/salond.err" || fail "control: salond's log has no debug lines"
for who in alice bob carol; do
	grep -q 'debug: ' "$TMP/$who.err" || fail "control: $who's log has no debug lines"
done
# shellcheck disable=SC2086
set -- $("$SCAN" search "$TMP/secrets.needles" $LOGS | tee "$TMP/search.out" | tail -1)
[ "$1" -eq 0 ] || fail "secrets in the logs: $(grep '^hit' "$TMP/search.out")"
# shellcheck disable=SC2086
bytes=$(cat $LOGS | wc -c)
ok "none of the $2 secrets ($3 forms) appears in $bytes bytes of debug logs of salond," \
	"the bot, line mode and one-shot commands"

token=$(sed -n 's/^token b64 //p' "$TMP/secrets.needles" | head -1)
{
	head -5 "$TMP/salond.err"
	printf 'planted %s\n' "$(printf '%s' "$token" | tr '_-' '/+')"
} >"$TMP/planted.log"
set -- $("$SCAN" search "$TMP/secrets.needles" "$TMP/planted.log" | tail -1)
[ "$1" -ge 1 ] || fail "control: a token planted in a log (in standard base64) is not found"
ok "control: a token planted in a copy of a log, in standard base64, is found"
echo "log-secrets.sh: $CHECKS checks passed"
