#!/bin/sh
# bot.sh - two bots in one room through salon --bot, against a real salond: every
# command answered by its events, in the server's order, and bad input survived.
. "${top_srcdir:-.}/tests/client-lib.sh"

start_salond

bot_start alice 3
expect_event alice '.event == "connected" and .user.name == "alice" and .user.bot == true'
ok "alice's bot logs in as a bot"

send alice '{"cmd":"create","title":"Bot room","topic":"tests","id":"c1"}'
expect_event alice '.event == "room_created" and .tag == "c1" and .room.title == "Bot room"'
ROOM=$(printf '%s' "$LAST" | jq -r .room.id)
ok "create answers room_created with the command's id as tag (room $ROOM)"

send alice "{\"cmd\":\"join\",\"room\":$ROOM,\"id\":\"j1\"}"
expect_event alice '.event == "joined" and .tag == "j1" and .member.role == "host"'
ok "alice joins her room as host"

bot_start bob 4
expect_event bob '.event == "connected" and .user.name == "bob"'
send bob "{\"cmd\":\"join\",\"room\":\"$ROOM\"}"
expect_event bob '.event == "joined" and .member.role == "listener" and
	([.members[] | select(.name == "alice" and .role == "host")] | length == 1)'
ok "bob joins as a listener and sees alice on stage"

expect_event alice '.event == "member_joined" and .member.name == "bob" and .member.bot'
BOB=$(printf '%s' "$LAST" | jq -r .member.user_id)
ok "alice sees bob join, labelled as a bot"

send bob '{"cmd":"raise_hand","id":7}'
expect_event alice ".event == \"hand_raised\" and .user_id == $BOB and .name == \"bob\""
ok "alice sees bob's hand go up"

send alice '{"cmd":"invite","user":"bob"}'
expect_event alice ".event == \"role_changed\" and .user_id == $BOB and .role == \"speaker\""
expect_event bob ".event == \"role_changed\" and .user_id == $BOB and .role == \"speaker\""
ok "inviting bob makes him a speaker, for both"

send alice '{"cmd":"say","text":"hello, \"bob\" \u00e9"}'
expect_event alice '.event == "chat" and .name == "alice"'
expect_event bob '.event == "chat" and .name == "alice" and .text == "hello, \"bob\" é"'
ok "chat reaches bob intact (quotes, accents)"

# Playing a file during the session: a short tone, to its end.
command -v python3 >/dev/null 2>&1 || fail "python3 is required (it writes the test tone)"
python3 - "$TMP/tone.wav" <<'EOF'
import math, struct, sys, wave
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(48000)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i * 2 * math.pi * 440 / 48000)))
                           for i in range(48000 * 3 // 10)))
EOF
send alice "{\"cmd\":\"play\",\"file\":\"$TMP/tone.wav\",\"id\":\"p1\"}"
expect_event alice '.event == "play_finished" and .tag == "p1" and (.stopped | not)'
ok "alice plays a WAV file mid-session and gets play_finished when it ends"

# Audio counters: alice sent frames, bob heard and decrypted them.
expect_event bob '.event == "speaking_started" and .name == "alice"'
send bob '{"cmd":"stats","id":"st"}'
expect_event bob '.event == "stats" and .tag == "st" and .media.frames_received > 0 and
	.media.frames_received >= .media.frames_concealed and (.media.reconnects | type) == "number"'
send alice '{"cmd":"stats","id":"st"}'
expect_event alice '.event == "stats" and .tag == "st" and .media.frames_sent > 0'
ok "stats gives the audio counters: frames alice sent, frames bob heard"

send alice "{\"cmd\":\"play\",\"file\":\"$TMP/no-such.wav\",\"id\":\"p2\"}"
expect_event alice '.event == "error" and .tag == "p2" and .code == "play_failed"'
send alice '{"cmd":"play","file":7,"id":"p3"}'
expect_event alice '.event == "error" and .tag == "p3" and .code == "bad_command"'
ok "playing a missing file is play_failed; a file that is not a name is bad_command"

# Recording: announced to everyone, written to the file, and stopped with null.
send bob "{\"cmd\":\"record\",\"file\":\"$TMP/bob-room.wav\",\"id\":\"r1\"}"
expect_event alice ".event == \"recording\" and .user_id == $BOB and .recording == true"
expect_event bob ".event == \"recording\" and .user_id == $BOB and .recording == true"
ok "bob records the room: alice and bob both see the recording event"
send bob '{"cmd":"record","file":null,"id":"r2"}'
expect_event alice ".event == \"recording\" and .user_id == $BOB and .recording == false"
[ -s "$TMP/bob-room.wav" ] || fail "bob's recording $TMP/bob-room.wav is missing or empty"
ok "stopping the recording clears it for alice, and the file exists"

# Earcons: a known one is played without an answer, an unknown one is refused.
send alice '{"cmd":"earcon","type":"fanfare","id":"e1"}'
expect_event alice '.event == "error" and .tag == "e1" and .code == "bad_command"'
send alice '{"cmd":"earcon","type":"join","volume":30,"id":"e2"}'
send alice '{"cmd":"whoami","id":"e3"}'
expect_event alice '.event == "whoami" and .tag == "e3"'
jq -e -s 'all(.tag != "e2")' "$TMP/alice.out" >/dev/null ||
	fail "the earcon command got an answer (an error?)"
ok "earcon plays a known earcon silently and refuses an unknown one"

send bob '{"cmd":"leave"}'
expect_event bob '.event == "left"'
expect_event alice ".event == \"member_left\" and .user_id == $BOB"
ok "bob leaves; alice sees member_left - alice's events came in order"

# Malformed lines give bad_command and the bot carries on.
send alice 'this is not json'
expect_event alice '.event == "error" and .code == "bad_command"'
send alice '["join"]'
expect_event alice '.event == "error" and .code == "bad_command"'
send alice '{"cmd":"fly","id":"x1"}'
expect_event alice '.event == "error" and .code == "bad_command" and .tag == "x1"'
send alice '{"cmd":"join","room":"lobby","id":"x2"}'
expect_event alice '.event == "error" and .code == "bad_command" and .tag == "x2"'
send alice '{"cmd":"say","id":"x3"}'
expect_event alice '.event == "error" and .code == "bad_command" and .tag == "x3"'
send alice '{"cmd":"whoami","id":"w"}'
expect_event alice '.event == "whoami" and .tag == "w" and .user.name == "alice" and
	(.safety_number | test("^[0-9]{5}( [0-9]{5}){5}$"))'
ok "malformed commands give bad_command (with their tag) and the bot goes on"

send alice '{"cmd":"join","room":4503599627370000,"id":"nf"}'
expect_event alice '.event == "error" and .tag == "nf" and .code == "room_not_found"'
ok "joining an unknown room is an error with code room_not_found"

send bob '{"cmd":"quit"}'
expect_event bob '.event == "quit"'
wait_exit bob
[ "$STATUS" -eq 0 ] || fail "bob exited with $STATUS after quit"
ok "quit ends with the quit event and status 0"

close_input alice
expect_event alice '.event == "quit"'
wait_exit alice
[ "$STATUS" -eq 0 ] || fail "alice exited with $STATUS at end of input"
ok "end of input is quit"

# Every output line is one JSON object.
for who in alice bob; do
	jq -e -s 'all(type == "object" and (.event | type == "string"))' "$TMP/$who.out" \
		>/dev/null || fail "$who printed something that is not an event object"
done
ok "every line of output is a JSON object with an event name"

stop_salond
echo "bot.sh: $CHECKS checks passed"
