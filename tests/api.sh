#!/bin/sh
# api.sh - salond's HTTP API end to end: login, users, rooms, roles, keys, chat,
# the large-room rule and the error answers, against a real salond.
. "${top_srcdir:-.}/tests/api-lib.sh"

start_salond
ok "salond started and wrote its port file ($API, relay $RELAY)"

expect 200 GET /v1/server none
[ "$(field .relay.address)" = "$RELAY" ] || fail "server info relay address"
[ "$(field '.relay.public_key | length')" = 43 ] || fail "relay public key is not 32 bytes"
ok "GET /v1/server gives the relay address and its 32-byte public key"

# Login: good signature, bad signature, reused and unknown challenges.
"$APITOOL" keygen "$TMP/alice.key" >/dev/null
ALICE_PK=$("$APITOOL" pubkey "$TMP/alice.key")
nonce=$(challenge "$TMP/alice.key" alice)
[ "$(field .expires_in)" -gt 0 ] || fail "challenge without expiry"
"$APITOOL" keygen "$TMP/mallory.key" >/dev/null
badsig=$("$APITOOL" sign "$TMP/mallory.key" "$nonce")
expect_error 401 bad_signature POST /v1/auth/login none \
	"{\"nonce\":\"$nonce\",\"public_key\":\"$ALICE_PK\",\"signature\":\"$badsig\"}"
ok "a signature by another key is refused with 401"
sig=$("$APITOOL" sign "$TMP/alice.key" "$nonce")
expect_error 401 bad_challenge POST /v1/auth/login none \
	"{\"nonce\":\"$nonce\",\"public_key\":\"$ALICE_PK\",\"signature\":\"$sig\"}"
ok "a challenge is spent by a failed attempt: the right signature then gets 401"
nonce=$(challenge "$TMP/alice.key" alice)
sig=$("$APITOOL" sign "$TMP/alice.key" "$nonce")
expect 200 POST /v1/auth/login none \
	"{\"nonce\":\"$nonce\",\"public_key\":\"$ALICE_PK\",\"signature\":\"$sig\"}"
ALICE=$(field .token)
ALICE_ID=$(field .user.id)
[ "$(field .user.name)" = alice ] || fail "user name"
[ "$(field .user.public_key)" = "$ALICE_PK" ] || fail "user key"
ok "a good signature logs in and creates the user"
expect_error 401 bad_challenge POST /v1/auth/login none \
	"{\"nonce\":\"$nonce\",\"public_key\":\"$ALICE_PK\",\"signature\":\"$sig\"}"
ok "a used challenge cannot be replayed (401)"
other=$("$APITOOL" random 32)
expect_error 401 bad_challenge POST /v1/auth/login none \
	"{\"nonce\":\"$other\",\"public_key\":\"$ALICE_PK\",\"signature\":\"$sig\"}"
ok "an unknown challenge is refused (401)"
"$APITOOL" keygen "$TMP/alice2.key" >/dev/null
pk2=$("$APITOOL" pubkey "$TMP/alice2.key")
expect 200 POST /v1/auth/challenge none "{\"public_key\":\"$pk2\",\"name\":\"ALICE\"}"
n2=$(field .nonce)
s2=$("$APITOOL" sign "$TMP/alice2.key" "$n2")
expect_error 409 name_taken POST /v1/auth/login none \
	"{\"nonce\":\"$n2\",\"public_key\":\"$pk2\",\"signature\":\"$s2\"}"
ok "names are unique regardless of ASCII case (409)"

# Tokens.
expect_error 401 unauthorized GET /v1/users/me ""
expect_error 401 unauthorized GET /v1/users/me "not-a-token"
expect_error 401 unauthorized GET /v1/users/me "$("$APITOOL" random 32)"
ok "missing, malformed and unknown tokens get 401"

# Users.
expect 200 GET /v1/users/me "$ALICE"
[ "$(field .id)" = "$ALICE_ID" ] && [ "$(field .bot)" = false ] || fail "me"
login bob
BOB=$TOKEN BOB_ID=$USER_ID
login carol
CAROL=$TOKEN CAROL_ID=$USER_ID
login dave
DAVE=$TOKEN DAVE_ID=$USER_ID
expect 200 GET "/v1/users/$BOB_ID" "$ALICE"
[ "$(field .name)" = bob ] || fail "user by id"
expect 200 GET "/v1/users?name=Carol" "$ALICE"
[ "$(field .id)" = "$CAROL_ID" ] || fail "user by name"
expect_error 404 user_not_found GET /v1/users/999999 "$ALICE"
expect 200 PATCH /v1/users/me "$DAVE" '{"name":"david"}'
[ "$(field .name)" = david ] || fail "rename"
expect_error 409 name_taken PATCH /v1/users/me "$DAVE" '{"name":"Bob"}'
ok "users: me, by id, by name (case-insensitive), 404, rename, rename conflict"

# Bad input.
long=$(printf 'x%.0s' $(seq 33))
expect_error 400 invalid_field PATCH /v1/users/me "$DAVE" "{\"name\":\"$long\"}"
ok "a 33-character name is refused (400)"
expect_error 400 malformed_json POST /v1/rooms "$ALICE" '{"title": '
expect_error 400 malformed_json POST /v1/rooms "$ALICE" '[1,2]'
expect_error 400 invalid_field POST /v1/rooms "$ALICE" '{"title": 42}'
expect_error 400 invalid_field POST /v1/rooms "$ALICE" '{"title": "ok", "visibility": "secret"}'
ok "malformed JSON, a non-object body and wrong field types get 400"
expect_error 400 invalid_field POST /v1/rooms "$ALICE" '{"title": "bad\u001b[2Jtitle"}'
expect_error 400 invalid_field POST /v1/rooms "$ALICE" '{"title": "bell\u0007"}'
expect_error 400 invalid_field POST /v1/rooms "$ALICE" '{"title": "rtl\u202etxt"}'
ok "control characters and bidi overrides in a title get 400"
printf '{"title":"%s"}' "$(head -c 20000 /dev/zero | tr '\0' a)" >"$TMP/big"
got=$(curl -s -o "$TMP/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $ALICE" \
	--data-binary @"$TMP/big" "$API/v1/rooms")
[ "$got" = 413 ] && [ "$(field .error)" = too_large ] || fail "big body: $got"
got=$(head -c 20000 /dev/zero | tr '\0' '[' | curl -s -o "$TMP/body" -w '%{http_code}' \
	-X POST -H "Authorization: Bearer $ALICE" -H 'Transfer-Encoding: chunked' \
	--data-binary @- "$API/v1/rooms")
[ "$got" = 413 ] || fail "chunked deep body: $got"
ok "bodies over the limit get 413 (announced and chunked, deeply nested)"
head -c 4000 /dev/zero | tr '\0' '[' >"$TMP/nested"
got=$(curl -s -o "$TMP/body" -w '%{http_code}' -X POST -H "Authorization: Bearer $ALICE" \
	--data-binary @"$TMP/nested" "$API/v1/rooms")
[ "$got" = 400 ] && [ "$(field .error)" = malformed_json ] || fail "nested body: $got"
ok "4000 nested arrays within the size limit get 400, and the server lives on"
expect_error 404 not_found GET /v1/nothing "$ALICE"
expect_error 404 not_found GET /v1/rooms/abc "$ALICE"
expect_error 404 room_not_found GET /v1/rooms/12345 "$ALICE"
ok "unknown routes and rooms get 404"
expect_error 405 method_not_allowed PUT /v1/rooms "$ALICE"
expect_error 405 method_not_allowed DELETE /v1/users/me "$ALICE"
ok "a wrong method gets 405"
expect 201 POST /v1/rooms "$ALICE" '{"title":"t","ignored_field":{"deep":[1,2,3]}}'
ok "unknown JSON fields are ignored"
IGNORED_ROOM=$(jq -r .id "$TMP/body")
expect 204 DELETE "/v1/rooms/$IGNORED_ROOM" "$ALICE"

# Rooms.
expect 201 POST /v1/rooms "$ALICE" \
	'{"title":"Salon de thé","topic":"Tea, slowly","visibility":"public"}'
ROOM=$(field .id)
[ "$(field .host_id)" = "$ALICE_ID" ] && [ "$(field .speakers)" = 1 ] &&
	[ "$(field .listeners)" = 0 ] || fail "room create"
expect 201 POST /v1/rooms "$BOB" '{"title":"Bob private","visibility":"private"}'
PRIVATE=$(field .id)
expect 200 GET /v1/rooms "$CAROL"
[ "$(field "[.rooms[].id] | index($ROOM) != null")" = true ] || fail "public room listed"
[ "$(field "[.rooms[].id] | index($PRIVATE) == null")" = true ] || fail "private room listed"
expect 200 GET /v1/rooms "$BOB"
[ "$(field "[.rooms[].id] | index($PRIVATE) != null")" = true ] || fail "own private room"
ok "rooms: create, list public rooms plus one's own private rooms"
expect 200 GET "/v1/rooms/$ROOM" "$CAROL"
[ "$(field .title)" = "Salon de thé" ] && [ "$(field .visibility)" = public ] || fail "get"
ok "GET a room returns its title, topic and visibility"

# Join.
expect 200 POST "/v1/rooms/$ROOM/join" "$ALICE"
[ "$(field .member.role)" = host ] || fail "host join role"
expect 201 POST "/v1/rooms/$ROOM/join" "$BOB"
BOB_MEMBER=$(field .member.member_id)
[ "$(field .member.role)" = listener ] || fail "listener role"
[ "$(field .relay.address)" = "$RELAY" ] || fail "join relay address"
[ "$(field '.ticket | length')" = 43 ] || fail "ticket is not 32 bytes"
[ "$(field .ticket_expires_in)" -gt 0 ] || fail "ticket expiry"
ticket1=$(field .ticket)
expect 200 POST "/v1/rooms/$ROOM/join" "$BOB"
[ "$(field .member.member_id)" = "$BOB_MEMBER" ] && [ "$(field .ticket)" != "$ticket1" ] ||
	fail "rejoin"
ok "join returns the member number, relay address and key, and a fresh one-time ticket"
expect 201 POST "/v1/rooms/$ROOM/join" "$CAROL"
expect 201 POST "/v1/rooms/$ROOM/join" "$DAVE"
[ "$(field .member.member_id)" -gt "$BOB_MEMBER" ] || fail "member numbers grow"

# Large-room rule: a listener does not hear about another listener; the host does.
events "$BOB" 0
[ "$(count_events '.type == "member_joined" and .member.user_id == '"$CAROL_ID"'')" = 0 ] ||
	fail "a listener saw another listener join"
events "$ALICE" 0
[ "$(count_events '.type == "member_joined" and .member.user_id == '"$CAROL_ID"'')" = 1 ] ||
	fail "the host did not see a listener join"
ok "large-room rule: a listener does not see a listener join; the host does"

# Roles.
expect_error 403 forbidden POST "/v1/rooms/$ROOM/members/$CAROL_ID/role" "$BOB" \
	'{"role":"speaker"}'
ok "a listener cannot invite to speak (403)"
expect 200 POST "/v1/rooms/$ROOM/hand" "$BOB" '{"raised":true}'
[ "$(field .hand_raised)" = true ] || fail "hand"
expect 200 POST "/v1/rooms/$ROOM/members/$BOB_ID/role" "$ALICE" '{"role":"speaker"}'
[ "$(field .role)" = speaker ] && [ "$(field .hand_raised)" = false ] || fail "invite"
ok "hand raised, then the host invites to speak (hand lowered)"
expect 200 POST "/v1/rooms/$ROOM/members/$CAROL_ID/role" "$ALICE" '{"role":"moderator"}'
expect 200 POST "/v1/rooms/$ROOM/members/$DAVE_ID/role" "$CAROL" '{"role":"speaker"}'
expect_error 403 forbidden POST "/v1/rooms/$ROOM/members/$ALICE_ID/role" "$CAROL" \
	'{"role":"listener"}'
expect_error 400 invalid_field POST "/v1/rooms/$ROOM/members/$DAVE_ID/role" "$CAROL" \
	'{"role":"host"}'
ok "a moderator invites to speak; nobody changes the host's role or makes a host"
expect 200 POST "/v1/rooms/$ROOM/members/$DAVE_ID/mute" "$CAROL" '{"muted":true}'
[ "$(field .muted)" = true ] || fail "mute"
expect_error 403 forbidden POST "/v1/rooms/$ROOM/members/$BOB_ID/mute" "$DAVE" '{"muted":true}'
ok "a moderator server-mutes a speaker; a speaker cannot"
expect 200 POST "/v1/rooms/$ROOM/members/$DAVE_ID/role" "$CAROL" '{"role":"listener"}'
[ "$(field .role)" = listener ] && [ "$(field .muted)" = false ] || fail "move back"
ok "a moderator moves a speaker back to the audience"
expect 200 POST "/v1/rooms/$ROOM/recording" "$BOB" '{"recording":true}'
[ "$(field .recording)" = true ] || fail "recording"
events "$DAVE" 0
[ "$(count_events '.type == "member_updated" and .member.recording and
	.member.user_id == '"$BOB_ID")" = 1 ] ||
	fail "a listener was not told about recording"
[ "$(count_events '.type == "member_updated" and .member.role == "speaker"')" -ge 1 ] ||
	fail "a listener was not told about a stage change"
ok "recording is announced to every member, listeners included, with stage changes"

expect 200 GET "/v1/rooms/$ROOM/members" "$BOB"
[ "$(field .complete)" = true ] && [ "$(field '.members | length')" = 4 ] || fail "full list"
expect 200 GET "/v1/rooms/$ROOM/members" "$DAVE"
[ "$(field .complete)" = false ] && [ "$(field .listeners)" = 1 ] || fail "listener list"
ok "stage members get the full member list; listeners get the stage and counts"

# Keys and chat.
box=$("$APITOOL" random 80)
expect 200 POST "/v1/rooms/$ROOM/keys" "$BOB" \
	"{\"epoch\":3,\"boxes\":[{\"to\":$DAVE_ID,\"box\":\"$box\"},
	{\"to\":$ALICE_ID,\"box\":\"$box\"},{\"to\":999999,\"box\":\"$box\"}]}"
[ "$(field .delivered)" = 2 ] && [ "$(field .skipped[0])" = 999999 ] || fail "keys"
events "$DAVE" 0
[ "$(count_events '.type == "key" and .from == '"$BOB_ID"' and .epoch == 3 and
	.box == "'"$box"'"')" = 1 ] ||
	fail "key box not delivered"
events "$CAROL" 0
[ "$(count_events '.type == "key"')" = 0 ] || fail "box leaked"
ok "sealed key boxes reach their recipients only; non-members are skipped"
expect_error 403 forbidden POST "/v1/rooms/$ROOM/keys" "$DAVE" \
	"{\"epoch\":1,\"boxes\":[{\"to\":$BOB_ID,\"box\":\"$box\"}]}"
expect_error 400 invalid_field POST "/v1/rooms/$ROOM/keys" "$BOB" \
	"{\"epoch\":1,\"boxes\":[{\"to\":$DAVE_ID,\"box\":\"$("$APITOOL" random 600)\"}]}"
ok "listeners cannot post keys (403); an oversized box is refused (400)"
expect 204 POST "/v1/rooms/$ROOM/chat" "$DAVE" '{"text":"bonsoir à tous"}'
events "$ALICE" 0
[ "$(count_events '.type == "chat" and .text == "bonsoir à tous" and
	.from == '"$DAVE_ID")" = 1 ] ||
	fail "chat not delivered"
long=$(head -c 1001 /dev/zero | tr '\0' c)
expect_error 400 invalid_field POST "/v1/rooms/$ROOM/chat" "$DAVE" "{\"text\":\"$long\"}"
expect_error 403 not_a_member POST "/v1/rooms/$PRIVATE/chat" "$DAVE" '{"text":"hi"}'
ok "room chat reaches members; over-long chat 400; non-members 403"

# The rooms-at-once policy (default 2): Bob is in his own room and in Alice's.
expect 201 POST /v1/rooms "$CAROL" '{"title":"Carol second"}'
CAROL_ROOM=$(field .id)
expect_error 403 too_many_rooms POST "/v1/rooms/$CAROL_ROOM/join" "$BOB"
expect_error 403 too_many_rooms POST /v1/rooms "$BOB" '{"title":"third"}'
ok "an account is in at most 2 rooms at once (join and create refused with 403)"

# Removal and leaving.
expect_error 403 forbidden DELETE "/v1/rooms/$ROOM/members/$ALICE_ID" "$CAROL"
expect 204 DELETE "/v1/rooms/$ROOM/members/$BOB_ID" "$CAROL"
events "$BOB" 0
[ "$(count_events '.type == "member_left" and .reason == "removed" and
	.user_id == '"$BOB_ID")" = 1 ] ||
	fail "removed member not told"
expect_error 403 not_a_member POST "/v1/rooms/$ROOM/chat" "$BOB" '{"text":"hi"}'
expect 201 POST "/v1/rooms/$CAROL_ROOM/join" "$BOB"
ok "a moderator removes a speaker, who is told and then free to join elsewhere"
expect 204 POST "/v1/rooms/$ROOM/leave" "$DAVE"
expect_error 403 not_a_member POST "/v1/rooms/$ROOM/leave" "$DAVE"
ok "leave, and leaving twice is 403"
expect_error 403 forbidden DELETE "/v1/rooms/$ROOM" "$CAROL"
expect 204 DELETE "/v1/rooms/$ROOM" "$ALICE"
events "$CAROL" 0
[ "$(count_events '.type == "room_ended" and .room_id == '"$ROOM"'')" = 1 ] ||
	fail "room_ended not delivered"
expect_error 404 room_not_found GET "/v1/rooms/$ROOM" "$CAROL"
ok "only the host ends a room; members are told; the room is gone"

expect 204 POST /v1/auth/logout "$DAVE"
expect_error 401 unauthorized GET /v1/users/me "$DAVE"
ok "logout revokes the token"

stop_salond
ok "salond exits 0 on SIGTERM"
echo "api.sh: all $CHECKS checks passed"
