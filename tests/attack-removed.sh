#!/bin/sh
# attack-removed.sh - a removed member keeps sending on its old hop session, at the
# API level: a host removes a speaker through DELETE /v1/rooms/ID/members/USER_ID
# while tests/relaytool plays that member (M), the host (S) and a listener (L).
#
# Shown: before the removal L hears M (so M's frames are forwardable); the removal
# gives M the member_left event (reason "removed") and a CLOSE (removed) from the
# relay, and L a new downlink key; afterwards M's 50 frames on its old session reach
# nobody (L hears all of the host's frames sent after them, and M receives nothing),
# the relay counts them as datagrams for an unknown session, and neither M's resume
# ticket nor its join ticket opens a new session (counted as ticket drops). The
# counts come from the relay's own counters, which salond logs (-v) when it stops.
. "${top_srcdir:-.}/tests/api-lib.sh"
RELAYTOOL=$top_builddir/tests/relaytool
[ -x "$RELAYTOOL" ] || fail "$RELAYTOOL not built"
RT_PID=
removed_cleanup() {
	if [ -n "$RT_PID" ]; then
		kill -TERM "$RT_PID" 2>/dev/null || true
		wait "$RT_PID" 2>/dev/null || true
	fi
	cleanup
}
trap removed_cleanup EXIT

start_salond -v
login host
HOST=$TOKEN
expect 201 POST /v1/rooms "$HOST" '{"title":"removal room"}'
ROOM=$(field .id)
expect 200 POST "/v1/rooms/$ROOM/join" "$HOST"
[ "$(field .member.member_id)" = 1 ] || fail "the host is not member 1"
S_TICKET=$(field .ticket)
RELAY_KEY=$(field .relay.public_key)
login mallory
M_TOKEN=$TOKEN M_USER=$USER_ID
expect 201 POST "/v1/rooms/$ROOM/join" "$M_TOKEN"
M_MEMBER=$(field .member.member_id)
expect 200 POST "/v1/rooms/$ROOM/members/$M_USER/role" "$HOST" '{"role":"speaker"}'
# A fresh ticket, issued now that mallory may speak.
expect 200 POST "/v1/rooms/$ROOM/join" "$M_TOKEN"
[ "$(field .member.role)" = speaker ] || fail "mallory is not on stage"
M_TICKET=$(field .ticket)
login listener
expect 201 POST "/v1/rooms/$ROOM/join" "$TOKEN"
L_TICKET=$(field .ticket)
events "$M_TOKEN" 0
M_SEQ=$(jq .last_seq "$TMP/body")
ok "host (member 1), mallory (speaker, member $M_MEMBER) and a listener are in room $ROOM"

"$RELAYTOOL" removed "${RELAY%:*}" "${RELAY##*:}" "$RELAY_KEY" "$M_MEMBER" "$M_TICKET" \
	"$S_TICKET" "$L_TICKET" "$TMP/ready" "$TMP/go" >"$TMP/rt.out" 2>&1 &
RT_PID=$!
wait_for test -f "$TMP/ready" ||
	fail "relaytool did not get ready: $(cat "$TMP/rt.out")"
ok "while a member, mallory's frames reach the listener (20 of 20, source $M_MEMBER)"

expect 204 DELETE "/v1/rooms/$ROOM/members/$M_USER" "$HOST"
touch "$TMP/go"
status=0
wait "$RT_PID" || status=$?
RT_PID=
cat "$TMP/rt.out"
[ "$status" -eq 0 ] || fail "relaytool removed: exit $status"
ok "after the API removal: CLOSE (removed) to mallory, a new downlink key to the listener"
ok "mallory's 50 frames on its old session reach nobody; the host's 20 after them all arrive"
ok "mallory's resume ticket and join ticket open no session"

expect 200 GET "/v1/events?after=$M_SEQ" "$M_TOKEN"
[ "$(count_events ".type == \"member_left\" and .user_id == $M_USER and
	.reason == \"removed\"")" -ge 1 ] || fail "mallory got no member_left (removed) event"
expect_error 403 not_a_member POST "/v1/rooms/$ROOM/keys" "$M_TOKEN" \
	'{"epoch":1,"boxes":[{"to":1,"box":"AAAA"}]}'
ok "mallory's event stream says member_left, reason removed; it may no longer post keys"

stop_salond
line=$(grep 'relay: stopped:' "$TMP/salond.err") || fail "salond logged no relay counters"
echo "$line"
unknown=$(printf '%s\n' "$line" | sed -n 's/.* unknown \([0-9]*\),.*/\1/p')
ticket=$(printf '%s\n' "$line" | sed -n 's/.* ticket \([0-9]*\),.*/\1/p')
[ -n "$unknown" ] && [ "$unknown" -ge 50 ] ||
	fail "the relay counted $unknown datagrams for unknown sessions, not the 50 sent"
[ -n "$ticket" ] && [ "$ticket" -ge 2 ] ||
	fail "the relay counted $ticket ticket drops, not the 2 refused handshakes"
ok "the relay counted mallory's datagrams ($unknown for an unknown session, $ticket bad tickets)"
echo "$CHECKS checks passed"
