#!/bin/sh
# plain.sh - line mode (salon --plain) against a real salond: the journey of
# bot.sh seen by a person in words, and terminal hygiene: escape sequences and
# invisible characters from the network never reach the terminal.
. "${top_srcdir:-.}/tests/client-lib.sh"

# U+FFFD, the marker sanitize.h puts where a control character was.
FFFD=$(printf '\357\277\275')

start_salond

bot_start alice 3
expect_event alice '.event == "connected"'
send alice '{"cmd":"create","title":"Plain room","id":"c"}'
expect_event alice '.event == "room_created"'
ROOM=$(printf '%s' "$LAST" | jq -r .room.id)
send alice "{\"cmd\":\"join\",\"room\":$ROOM}"
expect_event alice '.event == "joined"'

client_start bob 4 --plain --server "$API" --name bob --input null --output null
expect_line bob 'Connected to '
send bob "/join $ROOM"
expect_line bob "You joined \"Plain room\" (room $ROOM) as a listener. On stage: alice (the host, bot)"
ok "bob in line mode joins and hears who is on stage, in words"

expect_event alice '.event == "member_joined" and .member.name == "bob"'
send bob '/hand'
expect_event alice '.event == "hand_raised" and .name == "bob"'
expect_line bob 'You raised your hand.'
ok "/hand raises bob's hand"

send alice '{"cmd":"invite","user":"bob"}'
expect_line bob 'You are now a speaker.'
send alice '{"cmd":"say","text":"hi"}'
expect_line bob 'Chat from alice: hi'
send bob 'hello from bob'
expect_event alice '.event == "chat" and .name == "bob" and .text == "hello from bob"'
ok "invitation and chat both ways, in words"

send bob '/who'
expect_line bob 'On stage: alice (the host, bot), bob (a speaker)'
send bob '/frobnicate'
expect_line bob 'Unknown command /frobnicate'
send bob '/stats'
expect_line bob 'Audio: '
re='^Audio: [0-9]+ frames heard \([0-9]+ concealed, [0-9]+ recovered by FEC\), '
re="$re"'[0-9]+ could not be decrypted, [0-9]+ datagrams dropped; [0-9]+ frames sent; '
re="$re"'[0-9]+ reconnections\.$'
printf '%s\n' "$LAST" | grep -Eq "$re" || fail "/stats printed: $LAST"
ok "/stats prints the audio counters in words"
send bob '/help'
expect_line bob '/join ROOM'
ok "/who, /help and unknown commands answer in words"

send bob '/verify alice'
expect_line bob 'Safety number of alice: '
case $LAST in *'(verified)'*) fail "alice is verified before bob said so: $LAST" ;; esac
send bob '/verify alice yes'
expect_line bob 'Safety number of alice: '
case $LAST in *'(verified)'*) ;; *) fail "/verify alice yes said: $LAST" ;; esac
send bob '/verify alice'
expect_line bob 'Safety number of alice: '
case $LAST in *'(verified)'*) ;; *) fail "the verification was forgotten: $LAST" ;; esac
ok "/verify shows alice's number unverified; /verify alice yes marks it, and it stays"

# Invisible characters that the server lets through are neutralised on display:
# a zero-width space, a soft hyphen and a tag character.
send alice '{"cmd":"say","text":"a\u200bb\u00adc\udb40\udc41d"}'
expect_line bob 'Chat from alice: a'
printf '%s\n' "$LAST" | grep -q "a${FFFD}b${FFFD}c${FFFD}d" ||
	fail "invisible characters not replaced: $(printf '%s' "$LAST" | od -c | head)"
ok "invisible characters in chat are shown as U+FFFD"

send bob '/leave'
expect_line bob 'You left the room.'
expect_event alice '.event == "member_left" and .name == "bob"'
send bob '/quit'
wait_exit bob
[ "$STATUS" -eq 0 ] || fail "bob exited with $STATUS after /quit"
grep -q "$(printf '\033')" "$TMP/bob.out" && fail "an ESC reached bob's terminal"
grep -q '^> ' "$TMP/bob.out" && fail "a prompt was printed while not on a terminal"
ok "/leave and /quit; no escape sequence and no prompt in the transcript"
close_input alice
wait_exit alice

# Escape sequences from the network: salond refuses control characters, so the
# test puts them in the database behind its back, as a hostile server would.
as carol "$SALON" --server "$API" --name carol create "Harmless" >/dev/null ||
	fail "carol cannot create a room"
stop_salond
command -v sqlite3 >/dev/null 2>&1 || fail "sqlite3 is required"
sqlite3 "$TMP/salond.db" "UPDATE rooms SET title = 'Evil' || char(27) || '[2J' ||
	char(27) || ']0;pwned' || char(7) || 'end', topic = char(27) || '[31mred'
	WHERE title = 'Harmless';" || fail "cannot edit the database"
start_salond
client_start dave 5 --plain --server "$API" --name dave --input null --output null
expect_line dave 'Connected to '
send dave '/rooms'
expect_line dave 'Evil'
printf '%s\n' "$LAST" | grep -q "Evil${FFFD}\[2J${FFFD}\]0;pwned${FFFD}end - ${FFFD}\[31mred" ||
	fail "room list line not neutralised: $(printf '%s' "$LAST" | od -c | head -5)"
EVIL=$(printf '%s\n' "$LAST" | awk '{print $1}')
send dave "/join $EVIL"
expect_line dave 'You joined "Evil'
send dave '/quit'
wait_exit dave
[ "$STATUS" -eq 0 ] || fail "dave exited with $STATUS"
if grep -q "$(printf '\033')" "$TMP/dave.out" || grep -q "$(printf '\007')" "$TMP/dave.out"
then
	fail "ESC or BEL reached the terminal: $(od -c "$TMP/dave.out" | head)"
fi
ok "escape sequences in a room's title and topic are shown neutralised (raw bytes checked)"

# ASCII terminals get '?' instead of U+FFFD.
client_start erin 6 --plain --ascii --server "$API" --name erin --input null --output null
send erin '/rooms'
expect_line erin 'Evil'
printf '%s\n' "$LAST" | grep -q 'Evil?\[2J?\]0;pwned?end' || fail "--ascii line: $LAST"
LC_ALL=C grep -q "$(printf '[\200-\377]')" "$TMP/erin.out" && fail "--ascii printed non-ASCII"
close_input erin
wait_exit erin
ok "--ascii shows the same with '?' and pure ASCII"

stop_salond
echo "plain.sh: $CHECKS checks passed"
