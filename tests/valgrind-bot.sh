#!/bin/sh
# valgrind-bot.sh - a whole bot session under valgrind's memcheck: salon --bot logs
# in to a real salond, joins a room where another bot speaks, hears that speaker
# (hop layer, SFrame, Opus decode, jitter buffer, mixer, a WAV file as output) for
# a few seconds, and quits. Memcheck must report no error and no definite leak
# (--error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite), with
# suppressions only for third-party libraries (tests/valgrind.supp).
#
# Valgrind cannot run a program built with AddressSanitizer. In such a build the
# same session runs without valgrind, says so loudly, and still has to pass: ASan
# and LeakSanitizer are then the memory checkers (they fail the run themselves).
. "${top_srcdir:-.}/tests/client-lib.sh"
command -v python3 >/dev/null 2>&1 || fail "python3 is required (it writes the test tone)"

REAL_SALON=$SALON
if LC_ALL=C grep -q -a __asan_init "$REAL_SALON"; then
	echo "#"
	echo "# NOTE: $REAL_SALON is built with AddressSanitizer, which valgrind cannot run."
	echo "# This run checks the bot session under ASan+LSan INSTEAD of valgrind."
	echo "# The valgrind check itself runs only in a build without sanitizers."
	echo "#"
	UNDER=ASan
else
	command -v valgrind >/dev/null 2>&1 || fail "valgrind is required (tools/deps installs it)"
	SUPP=$top_srcdir/tests/valgrind.supp
	[ -f "$SUPP" ] || fail "$SUPP is missing"
	# client_start runs $SALON: make that valgrind wrapping the real program.
	SALON=$TMP/salon-under-valgrind
	cat >"$SALON" <<EOF
#!/bin/sh
exec valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \\
	--show-leak-kinds=definite --track-origins=yes --suppressions="$SUPP" \\
	--log-file="$TMP/valgrind.log" "$REAL_SALON" "\$@"
EOF
	chmod +x "$SALON"
	UNDER=valgrind
fi

# A 30 s, 48 kHz mono tone for the speaker (only the first seconds are used).
python3 - "$TMP/tone.wav" <<'EOF'
import math, struct, sys, wave
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(48000)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 48000)))
                           for i in range(48000 * 30)))
EOF

start_salond

# The speaker runs without valgrind; it hosts the room and speaks the tone.
SPEAKER_SALON=$REAL_SALON
SALON_SAVED=$SALON
SALON=$SPEAKER_SALON
bot_start speaker 3 --input "file:$TMP/tone.wav"
SALON=$SALON_SAVED
expect_event speaker '.event == "connected"'
send speaker '{"cmd":"create","title":"Memcheck","id":"c"}'
expect_event speaker '.event == "room_created" and .tag == "c"'
ROOM=$(printf '%s' "$LAST" | jq -r .room.id)
ok "the speaker bot hosts room $ROOM"

# The listener is the program under test.
client_start listener 4 --bot --server "$API" --name listener --input null \
	--output "file:$TMP/heard.wav"
expect_event listener '.event == "connected" and .user.name == "listener"'
ok "the listener bot ($UNDER) logged in"
send listener "{\"cmd\":\"join\",\"room\":$ROOM,\"id\":\"j\"}"
expect_event listener '.event == "joined" and .tag == "j" and .member.role == "listener"'
send speaker "{\"cmd\":\"join\",\"room\":$ROOM}"
expect_event speaker '.event == "joined" and .member.role == "host"'
expect_event listener '.event == "speaking_started" and .name == "speaker"'
ok "the listener ($UNDER) hears the speaker: keys opened, frames decrypted and decoded"

# Listen for a while: at least 2 s of audio reach the WAV file (deadline, not sleep).
deadline=$(($(now) + 20))
while [ "$(stat -c %s "$TMP/heard.wav" 2>/dev/null || echo 0)" -lt $((48000 * 2 * 2)) ]; do
	[ "$(now)" -lt "$deadline" ] || fail "the listener wrote less than 2 s of audio"
	kill -0 "$PID_listener" 2>/dev/null || fail "the listener died"
	sleep 0.1
done
ok "the listener wrote more than 2 s of the room to $TMP/heard.wav"

send listener '{"cmd":"say","text":"bye"}'
expect_event listener '.event == "chat" and .text == "bye"'
send listener '{"cmd":"quit"}'
expect_event listener '.event == "quit"'
# Leak checking at exit takes valgrind a few seconds: a longer deadline than wait_exit.
deadline=$(($(now) + 40))
while kill -0 "$PID_listener" 2>/dev/null; do
	[ "$(now)" -lt "$deadline" ] || fail "the listener did not exit"
	sleep 0.1
done
STATUS=0
wait "$PID_listener" || STATUS=$?
if [ "$UNDER" = valgrind ]; then
	grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|suppressed:' "$TMP/valgrind.log" |
		sed 's/^==[0-9]*== /  valgrind: /'
	[ "$STATUS" -eq 0 ] || { cat "$TMP/valgrind.log"; fail "salon under valgrind exited $STATUS"; }
	grep -q 'ERROR SUMMARY: 0 errors' "$TMP/valgrind.log" ||
		{ cat "$TMP/valgrind.log"; fail "valgrind found errors"; }
	ok "valgrind: the whole bot session has no memory error and no definite leak"
else
	[ "$STATUS" -eq 0 ] || fail "salon (ASan) exited $STATUS"
	ok "ASan+LSan (NOT valgrind): the whole bot session has no memory error and no leak"
fi

send speaker '{"cmd":"quit"}'
expect_event speaker '.event == "quit"'
wait_exit speaker
[ "$STATUS" -eq 0 ] || fail "the speaker exited with $STATUS"
stop_salond
echo "$CHECKS checks passed"
