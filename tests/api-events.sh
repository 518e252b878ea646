#!/bin/sh
# api-events.sh - the per-user event stream: long-poll wake-up and timeout, resume
# after a dropped connection with nothing lost or repeated, acknowledgement, and
# coalesced listener counts (soft events, not stored).
. "${top_srcdir:-.}/tests/api-lib.sh"

start_salond -vv
login alice
ALICE=$TOKEN
login bob
BOB=$TOKEN
BOB_ID=$USER_ID
expect 201 POST /v1/rooms "$ALICE" '{"title":"events"}'
ROOM=$(field .id)
expect 201 POST "/v1/rooms/$ROOM/join" "$BOB"

events "$ALICE" 0
LAST=$(field .last_seq)
[ "$(field '.events[0].type')" = member_joined ] && [ "$LAST" -ge 1 ] || fail "first event"
ok "the host's stream starts with the listener's join (seq $LAST)"

# waits_logged N: salond has logged at least N long-poll waits.
waits_logged() {
	[ "$(grep -c 'waits for events' "$TMP/salond.err" || true)" -ge "$1" ]
}

# A long-poll wakes up when an event arrives.
start=$(date +%s)
curl -s -H "Authorization: Bearer $ALICE" "$API/v1/events?after=$LAST&wait=30" \
	>"$TMP/poll1" &
CURL=$!
wait_for waits_logged 1 || fail "the long-poll never waited"
expect 204 POST "/v1/rooms/$ROOM/chat" "$BOB" '{"text":"wake up"}'
wait "$CURL" || fail "long-poll curl failed"
elapsed=$(($(date +%s) - start))
[ "$elapsed" -lt 15 ] || fail "long-poll took $elapsed s"
[ "$(jq -r '.events[0].text' "$TMP/poll1")" = "wake up" ] || fail "woken without the event"
LAST=$(jq -r .last_seq "$TMP/poll1")
ok "a waiting long-poll is woken by a new event (in ${elapsed}s)"

# A long-poll with nothing to say ends when its wait does.
start=$(date +%s)
events_body=$(curl -s -H "Authorization: Bearer $ALICE" "$API/v1/events?after=$LAST&wait=1")
elapsed=$(($(date +%s) - start))
[ "$(echo "$events_body" | jq '.events | length')" = 0 ] || fail "events from nowhere"
[ "$(echo "$events_body" | jq .last_seq)" = "$LAST" ] || fail "last_seq moved"
[ "$elapsed" -le 3 ] || fail "wait=1 took $elapsed s"
ok "an idle long-poll returns no events when its wait ends"

# A client drops its long-poll mid-wait; events happen; it resumes with after=LAST.
curl -s -H "Authorization: Bearer $ALICE" "$API/v1/events?after=$LAST&wait=30" \
	>/dev/null &
CURL=$!
wait_for waits_logged 3 || fail "the second long-poll never waited"
kill "$CURL"
wait "$CURL" 2>/dev/null || true
for i in 1 2 3 4 5; do
	expect 204 POST "/v1/rooms/$ROOM/chat" "$BOB" "{\"text\":\"message $i\"}"
done
expect 200 POST "/v1/rooms/$ROOM/hand" "$BOB" '{"raised":true}'
events "$ALICE" "$LAST"
cp "$TMP/body" "$TMP/resumed"
seqs=$(jq -r '[.events[].seq] | map(tostring) | join(" ")' "$TMP/resumed")
want=$(seq $((LAST + 1)) $((LAST + 6)) | tr '\n' ' ' | sed 's/ $//')
[ "$seqs" = "$want" ] || fail "resumed seqs '$seqs', want '$want'"
[ "$(jq -r '[.events[] | select(.type == "chat") | .text] | join(",")' "$TMP/resumed")" = \
	"message 1,message 2,message 3,message 4,message 5" ] || fail "chat order"
ok "after a dropped long-poll, resuming from seq $LAST gives seqs $want, in order"

# Asking again from the same point repeats nothing new and loses nothing.
events "$ALICE" "$LAST"
cmp -s "$TMP/body" "$TMP/resumed" || fail "unacknowledged events changed"
NEW_LAST=$(field .last_seq)
events "$ALICE" "$NEW_LAST"
[ "$(field '.events | length')" = 0 ] || fail "acknowledged events came back"
events "$ALICE" "$LAST"
[ "$(field '.events | length')" = 0 ] || fail "acknowledged events were not deleted"
ok "events stay until acknowledged by after=SEQ, then are never delivered again"

# Listener counts are soft state, coalesced per room: however the five joins below
# fall into the once-a-second count updates (a slow machine may see one update or
# five), a listener that has not acknowledged its count gets exactly one
# listener_count for the room, under one seq, holding the newest numbers.
for name in l1 l2 l3 l4 l5 l6; do
	login "$name"
	eval "TOKEN_$name=\$TOKEN"
done
events "$BOB" 0
COUNT_SEQ=$(field '[.events[] | select(.type == "listener_count")] | first | .seq')
[ "$(count_events '.type == "listener_count"')" = 1 ] && [ "$COUNT_SEQ" -gt 0 ] ||
	fail "the listener has no count for its own join"
for name in l1 l2 l3 l4 l5; do
	eval "expect 201 POST /v1/rooms/$ROOM/join \"\$TOKEN_$name\""
done
count_seen() {
	events "$BOB" 0
	[ "$(count_events '.type == "listener_count"')" = 1 ] ||
		fail "$(count_events '.type == "listener_count"') count events in one answer"
	[ "$(field '[.events[] | select(.type == "listener_count")] | first | .seq')" = \
		"$COUNT_SEQ" ] || fail "an unacknowledged count moved to another seq"
	[ "$(field '[.events[] | select(.type == "listener_count")] | first | .listeners')" = 6 ]
}
wait_for count_seen || fail "the listener never saw the final count"
[ "$(field '.last_seq')" = "$COUNT_SEQ" ] && [ "$(field '.events[-1].type')" = listener_count ] ||
	fail "the count is not the last event of the answer"
[ "$(count_events '.type == "member_joined"')" = 0 ] ||
	fail "a listener saw joins"
ok "a listener gets one coalesced count (seq $COUNT_SEQ, 6 listeners) and no join events"

# Once acknowledged, the count is not repeated; the next change wakes the listener's
# long-poll with a new count at a later seq, and stored events still follow it.
events "$BOB" "$COUNT_SEQ"
[ "$(field '.events | length')" = 0 ] || fail "an acknowledged count came back"
waits=$(grep -c 'waits for events' "$TMP/salond.err" || true)
curl -s -H "Authorization: Bearer $BOB" "$API/v1/events?after=$COUNT_SEQ&wait=30" \
	>"$TMP/poll2" &
CURL=$!
wait_for waits_logged $((waits + 1)) || fail "the listener's long-poll never waited"
eval "expect 201 POST /v1/rooms/$ROOM/join \"\$TOKEN_l6\""
wait "$CURL" || fail "long-poll curl failed"
[ "$(jq -r '.events[0].type' "$TMP/poll2")" = listener_count ] &&
	[ "$(jq -r '.events[0].listeners' "$TMP/poll2")" = 7 ] &&
	[ "$(jq -r '.events[0].seq' "$TMP/poll2")" = $((COUNT_SEQ + 1)) ] ||
	fail "woken without the new count: $(cat "$TMP/poll2")"
expect 200 POST "/v1/rooms/$ROOM/hand" "$BOB" '{"raised":false}'
events "$BOB" $((COUNT_SEQ + 1))
[ "$(field '.events[0].type')" = member_updated ] &&
	[ "$(field '.events[0].seq')" = $((COUNT_SEQ + 2)) ] || fail "a stored event after a count"
ok "a count change wakes a listener's long-poll (seq $((COUNT_SEQ + 1))); stored events follow it"

# Shutdown answers a waiting long-poll instead of leaving it hanging.
waits=$(grep -c 'waits for events' "$TMP/salond.err" || true)
curl -s -H "Authorization: Bearer $BOB" "$API/v1/events?after=999999&wait=30" \
	>"$TMP/poll3" &
CURL=$!
wait_for waits_logged $((waits + 1)) || fail "the last long-poll never waited"
start=$(date +%s)
stop_salond
wait "$CURL" || fail "long-poll curl failed at shutdown"
[ "$(jq '.events | length' "$TMP/poll3")" = 0 ] || fail "shutdown answer"
[ $(($(date +%s) - start)) -lt 10 ] || fail "shutdown was slow"
ok "SIGTERM answers waiting long-polls and exits 0"
echo "api-events.sh: all $CHECKS checks passed"
