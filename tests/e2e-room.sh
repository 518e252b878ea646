#!/bin/sh
# e2e-room.sh - a room of 3 speakers and 20 listeners through a real salond. Each
# speaker (a bot) loops a tone of its own; each listener (salon join --listen-only
# --record) must hear all three (Goertzel power at each tone well above the
# frequencies between them). Two bare members (tests/e2e-member) show the sender-key
# rules of doc/PROTOCOL.md on the frames the relay really forwarded:
#   - m2 joins late: the keys sealed to it open nothing sent before it joined, while
#     m1's keys open all of that;
#   - m1 leaves: after the speakers rotate, m1's keys (and all 16 generations they
#     ratchet to) open none of the frames that m2 gets under the new key.
. "${top_srcdir:-.}/tests/e2e-lib.sh"

TONES="520 810 1230"
i=1
for hz in $TONES; do
	"$AUDIO_TOOL" tone "$TMP/tone$i.wav" "$hz" 2 >/dev/null
	i=$((i + 1))
done
e2e_start_salond --listen 127.0.0.1:0 --relay 127.0.0.1:0

bot_start s1 3 --play "$TMP/tone1.wav" --loop
expect_event s1 '.event == "connected"'
send s1 '{"cmd":"create","title":"Crowd"}'
expect_event s1 '.event == "room_created"'
ROOM=$(printf '%s' "$LAST" | jq -r .room.id)

LISTENERS=
for n in $(seq 1 20); do
	mkdir -p "$TMP/l$n/config" "$TMP/l$n/data" "$TMP/l$n/state"
	# exec, so that the signals of the test reach salon itself.
	(
		export XDG_CONFIG_HOME="$TMP/l$n/config" XDG_DATA_HOME="$TMP/l$n/data"
		export XDG_STATE_HOME="$TMP/l$n/state"
		exec "$SALON" --server "$API" --name "l$n" join "$ROOM" --listen-only \
			--record "$TMP/l$n.wav" --for 180 >/dev/null 2>"$TMP/l$n.err" </dev/null
	) &
	eval "PID_l$n=$!"
	E2E_PIDS="$E2E_PIDS $!"
	LISTENERS="$LISTENERS l$n"
done
for who in $LISTENERS; do
	wait_until 20 "$who to join" grep -q 'You joined' "$TMP/$who.err"
done
ok "20 listeners joined (salon join --listen-only --record)"

bot_start s2 4 --play "$TMP/tone2.wav" --loop
bot_start s3 5 --play "$TMP/tone3.wav" --loop
for who in s2 s3; do
	expect_event $who '.event == "connected"'
	send $who "{\"cmd\":\"join\",\"room\":$ROOM}"
	expect_event $who '.event == "joined"'
done
member_join m1 "$ROOM" "$RELAY"
send s1 "{\"cmd\":\"join\",\"room\":$ROOM}"
# Joined and speaking_started may come in either order: the media thread is quick.
expect_event s1 '.event == "speaking_started" and .name == "s1" and .self'
# The joined line may still be on its way: poll for it with a deadline.
deadline=$(($(date +%s) + 15))
until jq -s -e 'any(.[]; .event == "joined" and .member.role == "host")' "$TMP/s1.out" \
	>/dev/null 2>&1; do
	[ "$(date +%s)" -lt "$deadline" ] || fail "s1 did not join as host"
	sleep 0.05
done
send s1 '{"cmd":"invite","user":"s2"}'
send s1 '{"cmd":"invite","user":"s3"}'
for who in s2 s3; do
	expect_event $who ".event == \"speaking_started\" and .name == \"$who\" and .self"
done
ok "three speakers on stage, each speaking its tone ($TONES Hz)"

wait_until 15 "m1 to record frames" frames_at_least m1 100
JOIN2=$(now_ms)
member_join m2 "$ROOM" "$RELAY"
wait_until 15 "m2 to record frames" frames_at_least m2 100
LEAVE1=$(now_ms)
api_expect 204 POST "/v1/rooms/$ROOM/leave" "$TOKEN_m1"
# The relay closes m1's session when m1 leaves.
eval "pid=\$MEMBER_PID_m1"
wait_until 10 "the relay to close m1's session" sh -c "! kill -0 $pid 2>/dev/null"
member_stop m1
ok "m2 joined late, at $JOIN2 ms; m1 left at $LEAVE1 ms"

# Each speaker rotates at most every 2 s after a leave: wait for m2's new boxes.
rotated() {
	member_boxes m2
	for who in s1 s2 s3; do
		id=$(jq -r 'select(.event == "connected") | .user.id' "$TMP/$who.out" | head -1)
		[ "$(grep -c "^$id " "$TMP/m2.boxes")" -ge 2 ] || return 1
	done
}
wait_until 15 "the speakers to rotate their keys" rotated
# Then a second and more of speech under the new keys.
MARK=$(frames_of m2)
wait_until 15 "m2 to record frames after the rotation" frames_at_least m2 $((MARK + 150))
member_stop m2
member_boxes m1
ok "after m1 left, every speaker sealed m2 a new key"

# A listener that reached its --for limit on a slow machine has already exited.
for who in $LISTENERS; do
	eval "kill -TERM \$PID_$who 2>/dev/null" || true
done
for who in $LISTENERS; do
	eval "pid=\$PID_$who"
	status=0
	wait "$pid" || status=$?
	[ "$status" -eq 0 ] || fail "$who exited with $status: $(cat "$TMP/$who.err")"
	# shellcheck disable=SC2086
	"$AUDIO_TOOL" tones "$TMP/$who.wav" 10 $TONES >"$TMP/$who.tones" ||
		fail "$who does not hear every speaker: $(cat "$TMP/$who.tones")"
done
tail -1 "$TMP/l20.tones"
ok "each of the 20 listeners' recordings holds all three tones, 10 dB over the rest"

for who in s1 s2 s3; do
	id=$(jq -r 'select(.event == "connected") | .user.id' "$TMP/$who.out" | head -1)
	read -r _ g1 suite src k1 <<EOF2
$(grep "^$id " "$TMP/m1.boxes" | sort -k2,2n | head -1)
EOF2
	read -r _ gj _ _ kj <<EOF2
$(grep "^$id " "$TMP/m2.boxes" | sort -k2,2n | head -1)
EOF2
	read -r _ gr _ _ kr <<EOF2
$(grep "^$id " "$TMP/m2.boxes" | sort -k2,2n | tail -1)
EOF2
	[ -n "$k1" ] && [ -n "$kj" ] && [ -n "$kr" ] || fail "missing boxes from $who"
	# Late join: before m2 joined, m1's key opens everything, m2's nothing.
	# m1 opens every frame sent before m2 joined. s1 joins the room's audio after m1
	# is in it: s1 speaks only once its member list (m1 included) has reached its
	# media thread, and seals everyone on it the key of its very first frame, which
	# m1 must open. s2 and s3 rotate when invited on stage and wait 300 ms for the
	# audience they were not told of; if m1's key reached them only after that, m1
	# got a ratchet and misses their first frames (reported). After the first frame
	# m1 opens, it must open every one.
	set -- $("$MEMBER" open "$TMP/m1.frames" "$src" "$suite" "$g1" "$k1" before "$JOIN2" \
		results "$TMP/early.res")
	leading=$(awk '$2 == 1 { exit } { n++ } END { print n + 0 }' "$TMP/early.res")
	gaps=$(awk '$2 == 1 { seen = 1 } seen && $2 == 0 { n++ } END { print n + 0 }' \
		"$TMP/early.res")
	[ "$1" -ge 10 ] && [ "$gaps" -eq 0 ] ||
		fail "$who: m1's key opened $1 of $2 frames sent before m2 joined ($gaps gaps)"
	before=$2
	if [ "$who" = s1 ]; then
		[ "$leading" -eq 0 ] ||
			fail "s1's first $leading frames went out under keys m1 never got"
	elif [ "$leading" -ne 0 ]; then
		echo "  note: $who's first $leading frames went out before m1's key reached it"
	fi
	set -- $("$MEMBER" open "$TMP/m1.frames" "$src" "$suite" "$gj" "$kj" before "$JOIN2")
	[ "$1" -eq 0 ] || fail "$who: m2's key opened $1 frames sent before m2 joined"
	# Leave: the frames m2 opens with the rotated key, m1's chain cannot open.
	"$MEMBER" open "$TMP/m2.frames" "$src" "$suite" "$gr" "$kr" results "$TMP/rot.res" \
		>"$TMP/rot.out"
	"$MEMBER" open "$TMP/m2.frames" "$src" "$suite" "$g1" "$k1" results "$TMP/old.res" \
		>"$TMP/old.out"
	set -- $(cat "$TMP/rot.out")
	[ "$1" -ge 20 ] || fail "$who: only $1 frames under the rotated key"
	after=$1
	both=$(paste "$TMP/rot.res" "$TMP/old.res" | awk '$2 == 1 && $4 == 1' | wc -l)
	[ "$both" -eq 0 ] || fail "$who: m1's old keys open $both frames sent after the rotation"
	echo "  $who (generation $g1 for m1, $gj when m2 joined, $gr after the rotation): m2's" \
		"key opens 0 of $before earlier frames, m1's keys 0 of $after later ones"
done
ok "a late joiner cannot read what was said before it joined; a leaver cannot after the rotation"

for who in s1 s2 s3; do
	send $who '{"cmd":"quit"}'
	expect_event $who '.event == "quit"'
	wait_exit $who
done
stop_salond
echo "e2e-room.sh: $CHECKS checks passed"
