#!/bin/sh
# attack-kid.sh - forged SFrame KIDs end to end, through a real salond with real
# salon bots: alice (host, member 1) speaks a looping tone, bob (a salon bot) and a
# bare listener L (tests/relaytool) listen, and mallory, invited on stage, sends
# frames (tests/relaytool forge):
#   - under alice's KID (member 1 << 8): the relay binds the KID's member number to
#     the sending session (doc/PROTOCOL.md, "Relay") and drops them, counted as
#     "kid"; L gets none;
#   - with an SFrame header cut short: dropped the same way;
#   - under mallory's own member number with an epoch nobody issued, and under its
#     own epoch 0 without ever sealing a key: forwarded (the relay cannot know
#     epochs), tagged with mallory's member number. bob has no key for them: his
#     media thread drops them (counted in frames_undecryptable, which the bot does
#     not report) and never plays them: bob reports no speaking_started for
#     mallory, while he keeps hearing alice.
# A receiver's own check (the KID's member must be the relay's source tag, else the
# frame is dropped) is the second line, for a relay that mixes sources up; an honest
# relay never lets such a frame through, so it cannot be reached from here.
. "${top_srcdir:-.}/tests/e2e-lib.sh"
RELAYTOOL=$top_builddir/tests/relaytool
[ -x "$RELAYTOOL" ] || fail "$RELAYTOOL not built"

"$AUDIO_TOOL" tone "$TMP/tone.wav" 700 2 >/dev/null
e2e_start_salond --listen 127.0.0.1:0 --relay 127.0.0.1:0 -v

bot_start alice 3 --play "$TMP/tone.wav" --loop
expect_event alice '.event == "connected"'
send alice '{"cmd":"create","title":"Forgery"}'
expect_event alice '.event == "room_created"'
ROOM=$(printf '%s' "$LAST" | jq -r .room.id)
send alice "{\"cmd\":\"join\",\"room\":$ROOM}"
expect_event alice '.event == "joined" and .member.role == "host"'
ALICE_MEMBER=$(printf '%s' "$LAST" | jq -r .member.member_id)
[ "$ALICE_MEMBER" = 1 ] || fail "alice is member $ALICE_MEMBER, not 1"

bot_start bob 4
expect_event bob '.event == "connected"'
send bob "{\"cmd\":\"join\",\"room\":$ROOM}"
expect_event bob '.event == "joined"'
expect_event bob '.event == "speaking_started" and .name == "alice"'
ok "alice (host, member 1) speaks in room $ROOM; bob hears her"

api_login mallory
M_TOKEN=$TOKEN M_USER=$USER_ID
api_expect 201 POST "/v1/rooms/$ROOM/join" "$M_TOKEN"
M_MEMBER=$(jq -r .member.member_id "$TMP/body")
send alice '{"cmd":"invite","user":"mallory"}'
on_stage() {
	api_expect 200 POST "/v1/rooms/$ROOM/join" "$M_TOKEN"
	[ "$(jq -r .member.role "$TMP/body")" = speaker ]
}
wait_until 15 "mallory to be invited on stage" on_stage
M_TICKET=$(jq -r .ticket "$TMP/body")
RELAY_KEY=$(jq -r .relay.public_key "$TMP/body")
api_login lis
api_expect 201 POST "/v1/rooms/$ROOM/join" "$TOKEN"
L_TICKET=$(jq -r .ticket "$TMP/body")
ok "mallory (member $M_MEMBER) is on stage, invited by alice; a bare listener joined"

"$RELAYTOOL" forge "${RELAY%:*}" "${RELAY##*:}" "$RELAY_KEY" "$M_MEMBER" "$M_TICKET" \
	"$ALICE_MEMBER" "$L_TICKET" >"$TMP/forge.out" 2>&1 ||
	fail "relaytool forge: $(cat "$TMP/forge.out")"
cat "$TMP/forge.out"
ok "frames under alice's KID, or with a cut SFrame header, reach no listener"
ok "mallory's frames under its own number (unissued epoch, no key) are forwarded as its own"

# bob keeps hearing alice (the forged frames did not disturb her stream) and never
# mallory: a speaking_started for alice after the forgery shows he is still
# processing audio, and none for mallory came before or since.
send alice '{"cmd":"mute"}'
expect_event bob '.event == "speaking_stopped" and .name == "alice"'
send alice '{"cmd":"unmute"}'
expect_event bob '.event == "speaking_started" and .name == "alice"'
if jq -e 'select(.event == "speaking_started" and .name == "mallory")' "$TMP/bob.out" \
	>/dev/null; then
	fail "bob played mallory's undecryptable frames"
fi
ok "bob still hears alice after the forgery and never heard mallory"

for who in alice bob; do
	send $who '{"cmd":"quit"}'
	expect_event $who '.event == "quit"'
	wait_exit $who
done
stop_salond
line=$(grep 'relay: stopped:' "$TMP/salond.err") || fail "salond logged no relay counters"
echo "$line"
kid=$(printf '%s\n' "$line" | sed -n 's/.* kid \([0-9]*\),.*/\1/p')
[ -n "$kid" ] && [ "$kid" -eq 60 ] ||
	fail "the relay counted $kid frames with a forged or broken KID, not 60"
ok "the relay counted exactly the 60 forged and broken frames (drop reason kid)"
echo "attack-kid.sh: $CHECKS checks passed"
