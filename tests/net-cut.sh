#!/bin/sh
# net-cut.sh - a speaker's network is cut for 30 s, then comes back: she finds her
# way back by herself, still on stage, and the room hears her again.
#
# Bob hosts a room; alice joins, is invited to speak and speaks a clip in a loop. Alice
# reaches the API through tests/tcp-proxy and the relay, like everyone, through
# tests/udp-proxy (salond --relay-advertise). The cut: both proxies are told (one
# control file) to blackhole alice - every datagram from or to her sockets is
# dropped, her TCP connections are held unanswered and new ones accepted but never
# answered - so she sees silence, not errors, as on a dead network. Nobody sends
# alice a command during or after the cut.
#
# Checks: during the cut bob stops hearing her (the cut works) and she is still a
# member, a speaker, in the server's member list (the server keeps a silent member's
# membership and role, doc/API.md); after the cut bob gets speaking_started for alice
# within NET_CUT_LIMIT_S seconds (12) of the cut ending, alice is still a speaker,
# and a recording bob starts after the cut holds her clip.
#
# Why 12 s: the cut (30 s) is as long as the hop timeout (HOP_TIMEOUT_MS), so the
# relay may have expired alice's session just before the cut ends. The worst path
# back is then: her media notices the dead session at its own 30 s timeout (about
# when the cut ends), its resume handshake gets no answer for 4.5 s
# (MEDIA_HANDSHAKE_GIVEUP_MS), and she joins again through the API for a fresh ticket
# (a round trip) and redoes the handshake: about 5 s. Her event stream, whose
# long-poll was held through the cut, fails and resumes within the same time, which
# also makes her join again. 12 s leaves room for a loaded machine (the suite runs
# under ASan beside other tests) without hiding the 30 s-and-more stalls this test is
# for.
. "${top_srcdir:-.}/tests/e2e-lib.sh"

TCP_PROXY=$top_builddir/tests/tcp-proxy
[ -x "$TCP_PROXY" ] || fail "$TCP_PROXY not built"
CUT_S=30
LIMIT_S=${NET_CUT_LIMIT_S:-12}

"$AUDIO_TOOL" speech "$TMP/clip.wav" 4 7 >/dev/null
e2e_start_proxy --cut "$TMP/cut"
e2e_start_salond --listen 127.0.0.1:0 --relay 127.0.0.1:0 --relay-advertise "$PROXY_ADDR"
"$TCP_PROXY" "$TMP/tcp.port" "$TMP/ports" --cut "$TMP/cut" 2>"$TMP/tcp-proxy.err" &
TCP_PROXY_PID=$!
E2E_PIDS="$E2E_PIDS $TCP_PROXY_PID"
wait_until 10 "the TCP proxy's port file" test -s "$TMP/tcp.port"
ALICE_API=$(sed -n 's/^api //p' "$TMP/tcp.port")

client_start bob 4 --bot --server "$API" --name bob --input null --output null
expect_event bob '.event == "connected"'
send bob '{"cmd":"create","title":"Cut room"}'
expect_event bob '.event == "room_created"'
ROOM=$(printf '%s' "$LAST" | jq -r .room.id)
send bob "{\"cmd\":\"join\",\"room\":$ROOM}"
expect_event bob '.event == "joined"'
client_start alice 3 --bot --server "$ALICE_API" --name alice --input null --output null \
	--play "$TMP/clip.wav" --loop
expect_event alice '.event == "connected"'
send alice "{\"cmd\":\"join\",\"room\":$ROOM}"
expect_event alice '.event == "joined"'
expect_event bob '.event == "member_joined" and .member.name == "alice"'
send bob '{"cmd":"invite","user":"alice"}'
expect_event alice '.event == "role_changed" and .name == "alice" and .role == "speaker"'
expect_event bob '.event == "speaking_started" and .name == "alice"'
ok "alice, invited to speak, speaks through both proxies and bob hears her"

# A third user, outside the proxies, reads the member list through the API.
api_login carol
CAROL=$TOKEN
api_expect 201 POST "/v1/rooms/$ROOM/join" "$CAROL"
alice_role() {
	api_expect 200 GET "/v1/rooms/$ROOM/members" "$CAROL"
	jq -r '.members[] | select(.name == "alice") | .role' "$TMP/body"
}
[ "$(alice_role)" = speaker ] || fail "alice is not listed as a speaker before the cut"

# The cut.
skip_to_end alice
echo "pid $PID_alice" >"$TMP/cut.new"
mv "$TMP/cut.new" "$TMP/cut"
# The UDP proxy acknowledges in cut.state, the TCP proxy in cut.tcp-state.
cut_acked() { grep -qx on "$TMP/cut.state" && grep -qx on "$TMP/cut.tcp-state"; }
CUT_START=$(now_ms)
wait_until 5 "both proxies to cut alice off" cut_acked
expect_event bob '.event == "speaking_stopped" and .name == "alice"'
CUT_LINE=$(line_count bob)
ok "alice's network is cut: bob stops hearing her"
# Let the cut last CUT_S seconds, checking meanwhile that it holds and that the
# server keeps alice on stage.
cut_over() { [ $(($(now_ms) - CUT_START)) -ge $((CUT_S * 1000)) ]; }
wait_until $((CUT_S + 10)) "the end of the cut" cut_over
[ "$(alice_role)" = speaker ] || fail "the server dropped alice from the stage during the cut"
cut_dropped=$(sed -n 's/^cut //p' "$TMP/proxy.stats")
[ "${cut_dropped:-0}" -ge 100 ] ||
	fail "the UDP proxy dropped only ${cut_dropped:-0} of alice's datagrams during the cut"
sed -n "$((CUT_LINE + 1)),\$p" "$TMP/bob.out" |
	jq -e 'select(.event == "speaking_started" and .name == "alice")' >/dev/null &&
	fail "bob heard alice during the cut"
ok "after ${CUT_S} s of cut ($cut_dropped datagrams dropped), alice is still a speaker"

# The end of the cut.
skip_to_end bob
# Timed from before the proxies notice (within 20 ms), so the delay errs long.
ENDED=$(now_ms)
rm -f "$TMP/cut"
cut_ended() { grep -qx off "$TMP/cut.state" && grep -qx off "$TMP/cut.tcp-state"; }
wait_until 5 "both proxies to end the cut" cut_ended
expect_event bob '.event == "speaking_started" and .name == "alice"'
HEARD=$(now_ms)
DELAY=$((HEARD - ENDED))
echo "alice's events since the cut began:"
tail -n "+$(($(cat "$TMP/alice.cursor") + 1))" "$TMP/alice.out" | grep -v listener_count |
	head -12 | cut -c1-160
[ "$DELAY" -le $((LIMIT_S * 1000)) ] ||
	fail "bob heard alice again $DELAY ms after the cut ended (limit $LIMIT_S s)"
ok "bob hears alice again $DELAY ms after the cut ended (limit $LIMIT_S s), no command sent"
[ "$(alice_role)" = speaker ] || fail "alice is no longer a speaker after the cut"
ok "alice is still a speaker after the cut"

# Audio, not just a speaking event: a recording bob starts now holds alice's clip.
send bob "{\"cmd\":\"record\",\"file\":\"$TMP/after.wav\"}"
wav_grew() { [ -f "$TMP/after.wav" ] && [ "$(wc -c <"$TMP/after.wav")" -ge $((96000 * 9)) ]; }
wait_until 20 "9 s of bob's recording after the cut" wav_grew
# Bob quits first, so that his recording is complete when compared.
send bob '{"cmd":"quit"}'
expect_event bob '.event == "quit"'
wait_exit bob
[ "$STATUS" -eq 0 ] || fail "bob exited with $STATUS"
e2e_compare "$TMP/clip.wav" "$TMP/after.wav" 0.5 0
ok "bob's recording after the cut holds alice's clip"

send alice '{"cmd":"quit"}'
expect_event alice '.event == "quit"'
wait_exit alice
[ "$STATUS" -eq 0 ] || fail "alice exited with $STATUS"
stop_salond
ok "both bots quit cleanly and salond stops with status 0"
echo "net-cut.sh: $CHECKS checks passed"
