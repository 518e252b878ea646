#!/bin/sh
# e2e-loss.sh - speech through a real salond over a bad network: a proxy between the
# clients and the relay (salond --relay-advertise) loses 10% of the speech datagrams
# in each direction and holds back 10% of all datagrams for 30-60 ms so that later
# ones overtake them. Control datagrams (handshakes, keys, tickets) are not lost:
# the relay sends a member the room's DOWNLINK_KEY once, and neither side recovers
# when that one datagram is lost (the member drops every DOWNLINK until its session
# is renewed two minutes later), so losing it would test that gap, not speech.
# Bob's recording of alice's clip must still match it (score >= 0.8): the hop layer's
# replay window accepts reordered datagrams, the jitter buffer puts frames back in
# order, and concealment (PLC/FEC) covers the losses.
. "${top_srcdir:-.}/tests/e2e-lib.sh"

"$AUDIO_TOOL" speech "$TMP/clip.wav" 6 3 >/dev/null
e2e_start_proxy --drop 10 --reorder 10 --seed 11 --spare-control 1 \
	--capture "$TMP/capture.bin"
e2e_start_salond --listen 127.0.0.1:0 --relay 127.0.0.1:0 --relay-advertise "$PROXY_ADDR"

bot_start alice 3 --input "file:$TMP/clip.wav"
expect_event alice '.event == "connected"'
send alice '{"cmd":"create","title":"Lossy room"}'
expect_event alice '.event == "room_created"'
ROOM=$(printf '%s' "$LAST" | jq -r .room.id)
client_start bob 4 --bot --server "$API" --name bob --input null --output "file:$TMP/bob.wav"
expect_event bob '.event == "connected"'
send bob "{\"cmd\":\"join\",\"room\":$ROOM}"
expect_event bob '.event == "joined"'
send alice "{\"cmd\":\"join\",\"room\":$ROOM}"
expect_event alice '.event == "joined"'
expect_event bob '.event == "speaking_started" and .name == "alice"'
ok "through the lossy proxy, alice's media session comes up and bob hears her"

expect_event alice '.event == "play_finished"'
expect_event bob '.event == "speaking_stopped" and .name == "alice"'
send bob '{"cmd":"quit"}'
expect_event bob '.event == "quit"'
wait_exit bob
kill -TERM "$PROXY_PID"
wait "$PROXY_PID" || true
cat "$TMP/proxy.stats"
dropped=$(sed -n 's/^dropped //p' "$TMP/proxy.stats")
reordered=$(sed -n 's/^reordered //p' "$TMP/proxy.stats")
[ "$dropped" -ge 40 ] && [ "$reordered" -ge 40 ] ||
	fail "the proxy dropped $dropped and reordered $reordered datagrams only"
ok "the proxy lost $dropped datagrams and reordered $reordered"

"$AUDIO_TOOL" compare "$TMP/clip.wav" "$TMP/bob.wav" 0.8 0.2 >"$TMP/compare.out" ||
	fail "bob's recording does not match the clip: $(cat "$TMP/compare.out")"
tail -1 "$TMP/compare.out"
ok "bob's recording still matches alice's clip (score >= 0.8, every window >= 0.2)"

"$AUDIO_TOOL" gap "$TMP/bob.wav" "$TMP/broken.wav" 2 1.5
if "$AUDIO_TOOL" compare "$TMP/clip.wav" "$TMP/broken.wav" 0.8 0.2 >"$TMP/broken.out"; then
	fail "a recording missing 1.5 s passed: $(tail -1 "$TMP/broken.out")"
fi
ok "control: the same recording with 1.5 s missing fails the comparison"

send alice '{"cmd":"quit"}'
expect_event alice '.event == "quit"'
wait_exit alice
echo "e2e-loss.sh: $CHECKS checks passed"
