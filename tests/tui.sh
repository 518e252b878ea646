#!/bin/sh
# tui.sh - the full-screen UI in tmux against a real salond and two bots, using only
# keys: the hallway (list, focus, filter, refresh), joining, raising a hand, being
# invited to speak, muting, chat, verifying, volume, help, resize, leaving and
# quitting. After each key the terminal cursor must be at the start of the line of
# the focused item (in a text field: at the insertion point), and that line must
# name the item with its state in words. A quiet screen must not change at all.
# Names, titles and chat with escape sequences and control characters (sent through
# tests/tui-proxy.py, a hostile server) must reach the terminal neutralised.
. "${top_srcdir:-.}/tests/tui-lib.sh"

R=$(printf '\357\277\275') # U+FFFD, sanitize.h's marker
EM=$(printf '\342\200\224') # the em dash between a title and its topic
start_salond
start_proxy

# bob hosts "Bot lounge"; mallory, whose name and room title carry escape sequences
# (turned into real ones by the proxy), hosts "Evil..." and comes to bob's room.
bot_start bob 3
expect_event bob '.event == "connected"'
send bob '{"cmd":"create","title":"Bot lounge","topic":"jazz"}'
expect_event bob '.event == "room_created"'
LOUNGE=$(printf '%s' "$LAST" | jq -r .room.id)
send bob "{\"cmd\":\"join\",\"room\":$LOUNGE}"
expect_event bob '.event == "joined" and .member.role == "host"'
client_start mallory 4 --bot --server "$API" --name 'mal<ESC>]0;PWNED<BEL>ory' \
	--input null --output null
expect_event mallory '.event == "connected"'
send mallory '{"cmd":"create","title":"Evil<ESC>[6n<CSI>31mroom","topic":"x"}'
expect_event mallory '.event == "room_created"'
ok "two bots hold rooms (one with escape sequences in its title and its host's name)"

# carol's TUI, through the hostile proxy, with a [keys] section: an extra key for
# the hand (both orientations are accepted), and a line that is not a binding.
printf '[keys]\nH = hand\nverify = V\nfly = away\n' >"$TMP/carol.conf"
tui_start carol SALON_TUI_SERVER="$PROXY" SALON_TUI_CONFIG="$TMP/carol.conf"
wait_screen carol "Hallway: 2 rooms are open"
EVIL_LINE="Evil${R}[6n${R}31mroom $EM x. 1 on stage, 0 listening"
LOUNGE_LINE="Bot lounge $EM jazz. 1 on stage, 0 listening"
wait_screen carol "$EVIL_LINE"
wait_screen carol "$LOUNGE_LINE"
expect_focus carol ". 1 on stage, 0 listening"
[ "$FOCUS_Y" = 1 ] || fail "the first room is not on line 1"
wait_screen carol "[keys] line 4: not a key and an action: fly"
ok "hallway lists both rooms, cursor on the first at column 0; a bad [keys] line is shown"

# The server lists rooms created in the same second in either order.
case $FOCUS_LINE in
Bot*) first=$LOUNGE_LINE second=$EVIL_LINE ;;
*) first=$EVIL_LINE second=$LOUNGE_LINE ;;
esac
keys carol Down
expect_focus carol "$second"
[ "$FOCUS_Y" = 2 ] || fail "Down did not move the cursor to line 2"
keys carol Up
expect_focus carol "$first"
[ "$FOCUS_Y" = 1 ] || fail "Up did not move the cursor back to line 1"
[ "$first" = "$LOUNGE_LINE" ] || keys carol Down
expect_focus carol "Bot lounge"
ok "Down and Up move the focus, and the cursor with it"

keys carol /
expect_focus carol "Filter:" 8
type_text carol "LOU"
expect_focus carol "Filter: LOU" 11
wait_screen carol "Hallway: 1 of 2 rooms matches the filter"
screen carol | grep -q -F "Evil" && fail "the filter left the other room on screen"
keys carol Enter
expect_focus carol "Bot lounge"
keys carol Escape
wait_screen carol "Hallway: 2 rooms are open"
expect_focus carol "Bot lounge"
ok "/ filters the list (cursor at the end of the typed text), Enter goes back to the list"

# mallory comes to bob's room: r refreshes the listener count.
send mallory "{\"cmd\":\"join\",\"room\":$LOUNGE}"
expect_event mallory '.event == "joined"'
keys carol r
wait_screen carol "jazz. 1 on stage, 1 listening"
ok "r refreshes the room list"

# Join with Enter; carol is a listener, the focus on the host's line.
keys carol Enter
wait_screen carol "Room: Bot lounge $EM jazz"
expect_focus carol "bob, host [bot] [unverified]"
wait_screen carol "You joined \"Bot lounge\" as a listener."
wait_screen carol "Mic off (in the audience) | Connected | Encrypted: 0 verified, 1 unverified"
expect_event bob '.event == "member_joined" and .member.name == "carol"'
ok "Enter joins: the stage says bob is the host and a bot, the status line says the rest"

keys carol Down
expect_focus carol "listeners (l: show the list)"
keys carol l
wait_screen carol "carol (you), listener"
expect_focus carol "listeners (l: hide the list)"
keys carol l
wait_gone carol "carol (you), listener"
ok "the listener count is an item; l shows and hides the list"

# Raise the hand with the key from the config file.
keys carol H
wait_screen carol "You raised your hand."
expect_event bob '.event == "hand_raised" and .name == "carol"'
expect_focus carol "listeners"
ok "H (bound in [keys]) raises the hand; bob sees it"

send bob '{"cmd":"invite","user":"carol"}'
wait_screen carol "You are now a speaker: your microphone is live."
wait_screen carol "carol (you), speaker"
wait_screen carol "Mic on | Connected"
ok "bob invites carol to speak: she is on stage and her microphone is on"

keys carol Up
expect_focus carol "carol (you), speaker"
keys carol m
expect_focus carol "carol (you), speaker [muted]"
wait_screen carol "Mic muted | Connected"
wait_screen carol "Your microphone is muted."
keys carol m
expect_focus carol "carol (you), speaker"
wait_screen carol "Mic on | Connected"
screen carol | grep -q -F "carol (you), speaker [muted]" && fail "still shown muted"
ok "m mutes and unmutes: the focused line and the status line say so in words"

# Chat both ways; the hostile chat text arrives neutralised.
keys carol t
expect_focus carol "Message:" 9
type_text carol "hello bob"
expect_focus carol "Message: hello bob" 18
keys carol Enter
expect_event bob '.event == "chat" and .name == "carol" and .text == "hello bob"'
wait_screen carol "carol: hello bob"
expect_focus carol "Message:" 9
keys carol Escape
expect_focus carol "carol (you), speaker"
send mallory '{"cmd":"say","text":"hi <ESC>[2J<CSI>31mthere"}'
wait_screen carol "mal${R}]0;PWNED${R}ory: hi ${R}[2J${R}31mthere"
ok "chat: t, text, Enter sends (bob gets it); mallory's escape sequences show as text"

# Verify bob with the key from the config file; then his volume.
keys carol Up
expect_focus carol "bob, host [bot] [unverified]"
keys carol V
expect_focus carol "Safety number of bob: "
printf '%s\n' "$FOCUS_LINE" | grep -q -E ': [0-9]{5}( [0-9]{5}){5}' ||
	fail "no safety number on the verify page: $FOCUS_LINE"
keys carol y
expect_focus carol "bob, host [bot] [verified]"
wait_screen carol "Encrypted: 1 verified, "
keys carol +
expect_focus carol "bob, host [bot] [verified] [volume 125%]"
keys carol -
expect_focus carol "bob, host [bot] [verified]"
ok "V shows bob's safety number, y marks him verified; + and - set his volume"

keys carol '?'
expect_focus carol "Help: keys in a room."
screen carol | grep -q -F "m: mute or unmute your microphone (action mute)" ||
	fail "the help does not list m"
screen carol | grep -q -F "h, H: raise or lower your hand" ||
	fail "the help does not list the configured key"
keys carol Down
expect_focus carol "move to the previous item"
keys carol Escape
expect_focus carol "bob, host"
ok "? lists every key (the configured ones too), with the cursor on the line read"

# Nothing happens: nothing on the screen changes, and nothing is written at all.
# First wait (polling, with a deadline) until the last key's redraw has reached
# tmux: two captures 0.2 s apart agree.
deadline=$(($(date +%s) + 5))
before=$(screen carol)
while :; do
	sleep 0.2
	again=$(screen carol)
	[ "$again" = "$before" ] && break
	before=$again
	[ "$(date +%s)" -lt "$deadline" ] || fail "the screen kept changing after the last key"
done
size_before=$(wc -c <"$TMP/carol.raw")
sleep 2
after=$(screen carol)
size_after=$(wc -c <"$TMP/carol.raw")
[ "$before" = "$after" ] || fail "the screen changed while nothing happened"
[ "$size_before" = "$size_after" ] ||
	fail "the TUI wrote $((size_after - size_before)) bytes while nothing happened"
ok "a quiet room stays still: same screen, not one byte written in 2 s"

tm resize-window -t carol -x 72 -y 20
deadline=$(($(now) + 15))
until screen carol | sed -n 20p | grep -q -F "Mic on | Connected | Encrypted: 1 verified, "
do
	[ "$(now)" -lt "$deadline" ] || fail "the status line did not move to the new last row"
	sleep 0.05
done
expect_focus carol "bob, host"
ok "a resize redraws at the new size with the cursor on the focused line"

# Leave with q, back to the hallway; quit with q.
keys carol q
wait_screen carol "You left the room."
expect_event bob '.event == "member_left" and .name == "carol"'
expect_focus carol "Bot lounge"
ok "q leaves the room: bob sees it, carol is back in the hallway"

# carol creates a room with the dialog, and hosts bob in it.
keys carol c
expect_focus carol "Title:" 7
type_text carol "Tea room"
expect_focus carol "Title: Tea room" 15
keys carol Tab
expect_focus carol "Topic:" 7
type_text carol "green"
keys carol Tab
expect_focus carol "Private (unlisted; share its number to invite): no"
keys carol Tab
expect_focus carol "[ Create the room ]"
keys carol Enter
wait_screen carol "Room: Tea room $EM green"
expect_focus carol "carol (you), host"
ok "c opens the create dialog (title, topic, private, create): carol hosts the new room"

send bob '{"cmd":"list_rooms"}'
expect_event bob '.event == "rooms" and any(.rooms[]; .title == "Tea room")'
TEA=$(printf '%s' "$LAST" | jq -r '.rooms[] | select(.title == "Tea room") | .id')
send bob "{\"cmd\":\"join\",\"room\":$TEA}"
expect_event bob '.event == "joined" and .member.role == "listener"'
wait_screen carol "bob (a bot) joined as a listener."
keys carol l
wait_screen carol "bob, listener [bot] [verified]"
keys carol Down Down
expect_focus carol "bob, listener [bot] [verified]"
send bob '{"cmd":"raise_hand"}'
expect_focus carol "bob, listener [hand] [bot] [verified]"
keys carol i
expect_event bob '.event == "role_changed" and .role == "speaker" and .name == "bob"'
wait_screen carol "bob is now a speaker."
expect_focus carol "bob, speaker [bot] [verified]"
ok "the host invites a listener whose hand is up with i; the focus follows him on stage"

keys carol x
expect_focus carol "Remove bob from the room? Press y to remove them"
keys carol n
expect_focus carol "bob, speaker [bot]"
keys carol x
expect_focus carol "Remove bob from the room?"
keys carol y
expect_event bob '.event == "left"'
wait_screen carol "bob was removed from the room."
expect_focus carol "0 listeners"
ok "x asks first (n keeps him), then y removes bob"

# Joining Tea room took bob out of his own room, which ended; leaving ends carol's.
keys carol q
wait_screen carol "Hallway: 1 room is open"
expect_focus carol "Evil${R}"

# The terminal never got the network's escape sequences, and its title is intact.
raw_has carol '\033]0;PWNED' && fail "an OSC sequence from a name reached the terminal"
raw_has carol '\033[6n' && fail "a cursor report request from a title reached the terminal"
raw_has carol '\033[2J' && fail "a clear-screen from chat reached the terminal"
raw_has carol '\302\233' && fail "a C1 CSI reached the terminal"
raw_has carol '\007ory' && fail "a BEL from a name reached the terminal"
raw_has carol "${R}[6n${R}31mroom" || fail "the neutralised title was never written"
tm display -p -t carol '#{pane_title}' | grep -q PWNED && fail "the window title changed"
ok "no ESC, BEL or CSI from names, titles or chat reached the terminal"

keys carol q
tui_wait_exit carol
[ "$STATUS" = 0 ] || fail "the TUI exited with $STATUS"
ok "q in the hallway quits with status 0"

# A terminal in a non-UTF-8 locale gets ASCII only.
tui_start dave SALON_TUI_SERVER="$PROXY" LC_ALL=C
wait_screen dave "Hallway: 1 room is open"
expect_focus dave "Evil?[6n?31mroom - x. 1 on stage, 0 listening"
keys dave Enter
wait_screen dave "Room: Evil?[6n?31mroom - x"
wait_screen dave "-- Chat and events --"
expect_focus dave "mal?]0;PWNED?ory, host [bot] [unverified]"
keys dave Q
tui_wait_exit dave
LC_ALL=C grep -a -q "$(printf '[\200-\377]')" "$TMP/dave.raw" &&
	fail "the ASCII terminal got bytes outside ASCII"
[ "$STATUS" = 0 ] || fail "dave's TUI exited with $STATUS"
ok "outside UTF-8: markers are '?', decorations ASCII, not one byte above 127"

stop_salond
echo "tui.sh: $CHECKS checks passed"
