#!/bin/sh
# attack-tokens.sh - stolen-looking and dead bearer tokens are refused, and a flood of
# garbage handshakes from one address does not stop the relay from serving others.
#
# Tokens: a token after logout, a token with one character changed (in its middle,
# and in the padding bits of its last character, which a lax base64 decoder would
# ignore), an expired token, a token that another salond issued, a truncated or
# over-long token, and a token in the wrong header form: each gets 401 unauthorized.
#
# Relay: 127.0.0.2 sends garbage HANDSHAKE_INITs (each would cost a Diffie-Hellman)
# at 5000 a second, thousands of them, for as long as the checks take. Meanwhile,
# from 127.0.0.1, a host and three listeners complete their handshakes and 50
# frames reach every listener; valid handshakes from the flooding address itself are
# dropped by the per-address rate limit; once the flood stops, that address is
# served again with the same ticket.
. "${top_srcdir:-.}/tests/api-lib.sh"
command -v sqlite3 >/dev/null 2>&1 || fail "sqlite3 (the command-line shell) is required"
FLOOD=$top_builddir/tests/fault-flood
RELAYTOOL=$top_builddir/tests/relaytool
[ -x "$FLOOD" ] || fail "$FLOOD not built"
[ -x "$RELAYTOOL" ] || fail "$RELAYTOOL not built"
FLOOD_PID=
attack_cleanup() {
	if [ -n "$FLOOD_PID" ]; then
		kill -TERM "$FLOOD_PID" 2>/dev/null || true
		wait "$FLOOD_PID" 2>/dev/null || true
	fi
	if [ -n "${OTHER_PID:-}" ]; then
		kill -TERM "$OTHER_PID" 2>/dev/null || true
		wait "$OTHER_PID" 2>/dev/null || true
	fi
	cleanup
}
trap attack_cleanup EXIT

# Replaces the character at 1-based position POS of TEXT by the next one in a
# list that differs from it.
mutate() {
	printf '%s' "$1" | awk -v pos="$2" -v repl="$3" '{
		c = substr($0, pos, 1); r = substr(repl, 1, 1)
		if (r == c) r = substr(repl, 2, 1)
		printf "%s%s%s", substr($0, 1, pos - 1), r, substr($0, pos + 1) }'
}

start_salond --login-burst 1000
login alice
ALICE=$TOKEN ALICE_ID=$USER_ID
expect 200 GET /v1/users/me "$ALICE"
[ ${#ALICE} -eq 43 ] || fail "a token is 43 characters of base64url, got ${#ALICE}"
ok "alice's token works (43 characters: 32 bytes)"

# One character changed in the middle: different bytes.
expect_error 401 unauthorized GET /v1/users/me "$(mutate "$ALICE" 20 AB)"
# The last of 43 characters carries 4 bits and 2 padding bits; changing only the
# padding bits gives the same 32 bytes to a decoder that does not check them.
last=$(printf '%s' "$ALICE" | cut -c43)
alphabet=ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_
index=$(($(printf '%s' "$alphabet" | awk -v c="$last" '{ print index($0, c) }') - 1))
sibling=$(printf '%s' "$alphabet" | cut -c$(((index ^ 1) + 1)))
expect_error 401 unauthorized GET /v1/users/me "$(printf '%s' "$ALICE" | cut -c1-42)$sibling"
expect 200 GET /v1/users/me "$ALICE"
ok "a token with one character changed is refused (also in the last character's padding bits)"

expect_error 401 unauthorized GET /v1/users/me "$(printf '%s' "$ALICE" | cut -c1-42)"
expect_error 401 unauthorized GET /v1/users/me "${ALICE}A"
expect_error 401 unauthorized GET /v1/users/me "${ALICE}=="
expect_error 401 unauthorized GET /v1/users/me ""
code=$(curl -s -o "$TMP/body" -w '%{http_code}' -H "Authorization: Basic $ALICE" \
	"$API/v1/users/me")
[ "$code" = 401 ] || fail "Basic instead of Bearer: $code"
code=$(curl -s -o "$TMP/body" -w '%{http_code}' "$API/v1/users/me?token=$ALICE")
[ "$code" = 401 ] || fail "token in the query string: $code"
ok "truncated, extended, padded and empty tokens, Basic auth and ?token= are refused"

# Logout revokes the token presented, and only that one.
login alice
ALICE2=$TOKEN
expect 204 POST /v1/auth/logout "$ALICE2"
expect_error 401 unauthorized GET /v1/users/me "$ALICE2"
expect_error 401 unauthorized POST /v1/rooms "$ALICE2" '{"title":"after logout"}'
expect_error 401 unauthorized POST /v1/auth/logout "$ALICE2"
expect 200 GET /v1/users/me "$ALICE"
ok "after logout the token is refused everywhere (401); alice's other token still works"

# A token from another salond (its own database) means nothing here.
mkdir -p "$TMP/other"
"$SALOND" --listen 127.0.0.1:0 --relay 127.0.0.1:0 --db "$TMP/other/salond.db" \
	--port-file "$TMP/other/ports" >"$TMP/other/out" 2>"$TMP/other/err" &
OTHER_PID=$!
wait_for test -s "$TMP/other/ports" || fail "the other salond did not start"
MAIN_API=$API
API=$(sed -n 's/^api //p' "$TMP/other/ports")
login alice
OTHER_TOKEN=$TOKEN
expect 200 GET /v1/users/me "$OTHER_TOKEN"
[ "$(field .id)" = "$ALICE_ID" ] || fail "expected the same user id on both servers"
API=$MAIN_API
expect_error 401 unauthorized GET /v1/users/me "$OTHER_TOKEN"
kill -TERM "$OTHER_PID"
wait "$OTHER_PID" || fail "the other salond exited with $?"
OTHER_PID=
ok "a token issued by another salond to the same key and user id is refused (401)"

# An expired token: age one token in the database (30 days cannot be waited for).
# The database holds BLAKE2b-256 hashes of tokens, never tokens (man/salond.8).
login alice
OLD=$TOKEN
stop_salond
token_hex() {
	python3 -c 'import base64, hashlib, sys
raw = base64.urlsafe_b64decode(sys.argv[1] + "=")
print(hashlib.blake2b(raw, digest_size=32).hexdigest() if sys.argv[2] == "hash" else raw.hex())' \
		"$1" "$2"
}
raw_count=$(sqlite3 "$TMP/salond.db" "SELECT count(*) FROM tokens
	WHERE hash = X'$(token_hex "$OLD" raw)'")
[ "$raw_count" = 0 ] || fail "a token is stored in clear"
changed=$(sqlite3 "$TMP/salond.db" "UPDATE tokens SET expires = strftime('%s', 'now') - 1
	WHERE hash = X'$(token_hex "$OLD" hash)'; SELECT changes()") ||
	fail "cannot age the token"
[ "$changed" = 1 ] || fail "the token's BLAKE2b-256 hash is not in the database"
start_salond --login-burst 1000
expect_error 401 unauthorized GET /v1/users/me "$OLD"
expect 200 GET /v1/users/me "$ALICE"
ok "the database holds token hashes only; an expired token is refused (401)"

# ---- the relay under a handshake flood ----
login host
HOST=$TOKEN
expect 201 POST /v1/rooms "$HOST" '{"title":"under attack"}'
ROOM=$(field .id)
expect 200 POST "/v1/rooms/$ROOM/join" "$HOST"
tickets=$(field .ticket)
RELAY_KEY=$(field .relay.public_key)
HOSTPART=${RELAY%:*}
PORT=${RELAY##*:}
for name in l1 l2 l3; do
	login "$name"
	expect 201 POST "/v1/rooms/$ROOM/join" "$TOKEN"
	tickets="$tickets $(field .ticket)"
done
# Tickets for the attacker's own address (valid ones: the rate limit must not care).
for name in m1 m2 m3; do
	login "$name"
	expect 201 POST "/v1/rooms/$ROOM/join" "$TOKEN"
	eval "TICKET_$name=\$(field .ticket)"
	eval "TOKEN_$name=\$TOKEN"
done
# 127.0.0.2 must be usable as a source address (it is on Linux's loopback).
"$FLOOD" flood 127.0.0.2 "$HOSTPART" "$PORT" 1 1 >/dev/null ||
	fail "cannot send from 127.0.0.2"
ok "a room with a host, three listeners and three members behind 127.0.0.2"

"$FLOOD" flood 127.0.0.2 "$HOSTPART" "$PORT" 100000 5000 >"$TMP/flood.out" 2>&1 &
FLOOD_PID=$!
deadline=$(($(date +%s) + 10))
until grep -q flooding "$TMP/flood.out"; do
	[ "$(date +%s)" -lt "$deadline" ] || fail "the flood did not start: $(cat "$TMP/flood.out")"
	sleep 0.01
done
dropped=0
# A valid handshake that slips into a refilled token gets served (and spends its
# ticket): such a member joins again for a fresh ticket and tries again, a few times,
# so that a slow (sanitized, loaded) machine cannot make the check depend on timing.
for name in m1 m2 m3; do
	for attempt in 1 2 3 4; do
		eval "ticket=\$TICKET_$name"
		status=0
		"$FLOOD" handshake 127.0.0.2 "$HOSTPART" "$PORT" "$RELAY_KEY" "$ticket" 200 \
			>"$TMP/hs.$name" 2>&1 || status=$?
		case $status in
		0) ;;
		3) dropped=$((dropped + 1)) && eval "DROPPED_$name=1" && break ;;
		*) fail "fault-flood handshake: $(cat "$TMP/hs.$name")" ;;
		esac
		eval "token=\$TOKEN_$name"
		expect 200 POST "/v1/rooms/$ROOM/join" "$token"
		eval "TICKET_$name=\$(field .ticket)"
	done
done
# shellcheck disable=SC2086
"$RELAYTOOL" "$HOSTPART" "$PORT" "$RELAY_KEY" 50 $tickets >"$TMP/relaytool.out" 2>&1 ||
	fail "the room did not work during the flood: $(cat "$TMP/relaytool.out")"
kill -0 "$FLOOD_PID" 2>/dev/null ||
	fail "the flood was over before the room was checked: $(cat "$TMP/flood.out")"
cat "$TMP/relaytool.out"
ok "during the flood, 127.0.0.1's host and 3 listeners handshook and got all 50 frames"
[ $dropped -ge 1 ] || fail "every valid handshake from the flooding address was served"
ok "$dropped of 3 members' valid handshakes from the flooding address were dropped (rate limit)"

kill -TERM "$FLOOD_PID"
status=0
wait "$FLOOD_PID" || status=$?
FLOOD_PID=
[ $status -eq 0 ] || fail "the flood failed: $(cat "$TMP/flood.out")"
sent=$(sed -n 's/^sent //p' "$TMP/flood.out")
[ -n "$sent" ] && [ "$sent" -ge 2000 ] || fail "flood: $(cat "$TMP/flood.out")"
kill -0 "$SALOND_PID" 2>/dev/null || fail "salond died under the flood"
expect 200 GET /v1/server none
ok "$sent garbage datagrams later salond is alive and answers"

# The limit is a token bucket, not a ban: the dropped handshake's ticket was never
# even decrypted, so it still opens a session once the bucket refills.
for name in m1 m2 m3; do
	eval "was_dropped=\${DROPPED_$name:-}"
	[ -n "$was_dropped" ] || continue
	eval "ticket=\$TICKET_$name"
	deadline=$(($(date +%s) + 10))
	until "$FLOOD" handshake 127.0.0.2 "$HOSTPART" "$PORT" "$RELAY_KEY" "$ticket" 500 \
		>"$TMP/hs.$name" 2>&1; do
		[ "$(date +%s)" -lt "$deadline" ] || fail "127.0.0.2 is not served after the flood"
	done
	break
done
ok "after the flood, 127.0.0.2 is served again with the ticket the limit had dropped"

stop_salond
echo "$CHECKS checks passed"
