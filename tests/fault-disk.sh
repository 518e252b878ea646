#!/bin/sh
# fault-disk.sh - the filesystem that holds salond's database fills up (a real one:
# a 2 MiB tmpfs, mounted in a private mount namespace so that nothing outside this
# test sees it and it vanishes with the test). While it is full:
#   - API writes (chat, room creation, joins, logins) either still succeed or fail
#     with 503 {"error":"unavailable", "message":...}: no 500, no crash, no hang;
#   - reads (the user, the room list, members, the event stream) keep working;
# and once space is freed, writes succeed again without restarting salond. Every
# chat that got 204 is in the event stream exactly once and none that got 503 is
# (a change and its events are one transaction); integrity_check is ok throughout.

# Re-run inside a private mount namespace (as root; otherwise in a user namespace
# where this user is root), so that the tmpfs is ours alone.
if [ -z "${SALON_FAULT_DISK_NS:-}" ]; then
	SALON_FAULT_DISK_NS=1
	export SALON_FAULT_DISK_NS
	if [ "$(id -u)" -eq 0 ]; then
		unshare --mount --propagation private sh "$0" "$@"
	else
		unshare --user --map-root-user --mount sh "$0" "$@"
	fi
	status=$?
	[ $status -eq 0 ] || echo "FAIL: fault-disk.sh exited with $status" \
		"(it needs unshare(1) and a private mount namespace: root or user namespaces)"
	exit $status
fi

. "${top_srcdir:-.}/tests/api-lib.sh"
command -v sqlite3 >/dev/null 2>&1 || fail "sqlite3 (the command-line shell) is required"

DISK=$TMP/disk
mkdir -p "$DISK"
mount -t tmpfs -o size=2m,mode=0700 salon-test-disk "$DISK" ||
	fail "cannot mount a 2 MiB tmpfs on $DISK"
disk_cleanup() {
	cleanup_status=$?
	if [ -n "$SALOND_PID" ]; then
		kill -TERM "$SALOND_PID" 2>/dev/null || true
		wait "$SALOND_PID" 2>/dev/null || true
		SALOND_PID=
	fi
	umount "$DISK" 2>/dev/null || true
	cleanup
	exit $cleanup_status
}
trap disk_cleanup EXIT

DB=$DISK/salond.db
# start_salond (api-lib.sh) keeps its database in $TMP; this one lives on the tmpfs.
rm -f "$TMP/ports"
"$SALOND" --listen 127.0.0.1:0 --relay 127.0.0.1:0 --db "$DB" --port-file "$TMP/ports" \
	>"$TMP/salond.out" 2>>"$TMP/salond.err" &
SALOND_PID=$!
wait_for test -s "$TMP/ports" || fail "salond did not write its port file"
API=$(sed -n 's/^api //p' "$TMP/ports")

integrity() {
	result=$(sqlite3 "$DB" 'PRAGMA integrity_check') || fail "sqlite3 cannot read $DB ($1)"
	[ "$result" = ok ] || fail "integrity_check $1: $result"
}

alive() {
	kill -0 "$SALOND_PID" 2>/dev/null || fail "salond died ($1)"
}

# fill: fills the tmpfs to the last byte (dd stops at ENOSPC).
fill() {
	dd if=/dev/zero of="$DISK/filler.$1" bs=4096 >/dev/null 2>&1 || true
	[ "$(df -P "$DISK" | awk 'NR == 2 { print $4 }')" -eq 0 ] || fail "the tmpfs is not full"
}

# write_or_full STATUS-IF-OK METHOD PATH TOKEN [BODY]: the write either succeeds
# with STATUS-IF-OK or is refused with 503 unavailable and a message; sets ANSWER
# to "ok" or "full". Anything else (500, no answer in 5 s) fails the test.
write_or_full() {
	want=$1
	shift
	if [ $# -ge 4 ]; then printf '%s' "$4" >"$TMP/request"; else : >"$TMP/request"; fi
	got=$(curl -s --max-time 5 -o "$TMP/body" -w '%{http_code}' -X "$1" \
		-H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
		--data-binary @"$TMP/request" "$API$2") || fail "$1 $2: no answer (curl $?)"
	if [ "$got" = "$want" ]; then
		ANSWER=ok
	elif [ "$got" = 503 ]; then
		[ "$(field .error)" = unavailable ] || fail "$1 $2: 503 with error $(field .error)"
		jq -e '.message | type == "string" and length > 0' "$TMP/body" >/dev/null ||
			fail "$1 $2: 503 without a message"
		ANSWER=full
	else
		fail "$1 $2 on a full disk: expected $want or 503, got $got"
	fi
}

login alice
ALICE=$TOKEN ALICE_ID=$USER_ID
login bob
BOB=$TOKEN
expect 201 POST /v1/rooms "$ALICE" '{"title":"on a small disk"}'
ROOM=$(field .id)
expect 201 POST "/v1/rooms/$ROOM/join" "$BOB"
expect 204 POST "/v1/rooms/$ROOM/chat" "$ALICE" '{"text":"before the disk filled"}'
ok "salond runs with its database on a 2 MiB tmpfs: users, a room, a member, a chat"

fill 1
: >"$TMP/chats.ok"
: >"$TMP/chats.full"
n=0
while [ $n -lt 300 ]; do
	n=$((n + 1))
	write_or_full 204 POST "/v1/rooms/$ROOM/chat" "$ALICE" "{\"text\":\"full $n\"}"
	echo "full $n" >>"$TMP/chats.$ANSWER"
	[ "$ANSWER" = full ] && break
done
[ -s "$TMP/chats.full" ] || fail "300 chats fitted on a full disk: is the database there?"
ok "with the disk full, chat fails with 503 unavailable (after $(wc -l <"$TMP/chats.ok")" \
	"that still fitted in the journal)"

fill 2
write_or_full 201 POST /v1/rooms "$BOB" '{"title":"no room for this"}'
[ "$ANSWER" = full ] || fail "a room was created on a full disk"
write_or_full 200 POST "/v1/rooms/$ROOM/hand" "$BOB" '{"raised":true}'
hand=$ANSWER
[ "$(challenge "$TMP/bob.key" bob | wc -c)" -gt 40 ] || fail "no challenge"
[ -f "$TMP/carol.key" ] || "$APITOOL" keygen "$TMP/carol.key" >/dev/null
nonce=$(challenge "$TMP/carol.key" carol)
sig=$("$APITOOL" sign "$TMP/carol.key" "$nonce")
pk=$("$APITOOL" pubkey "$TMP/carol.key")
write_or_full 200 POST /v1/auth/login none \
	"{\"nonce\":\"$nonce\",\"public_key\":\"$pk\",\"signature\":\"$sig\"}"
[ "$ANSWER" = full ] || fail "a new account was created on a full disk"
alive "after writes on a full disk"
ok "room creation and a new account's login fail with 503 unavailable; raising a hand: $hand"

expect 200 GET /v1/users/me "$ALICE"
[ "$(field .id)" = "$ALICE_ID" ] || fail "wrong user"
expect 200 GET /v1/rooms "$BOB"
[ "$(field "[.rooms[].id] | index($ROOM) != null")" = true ] || fail "room missing"
expect 200 GET "/v1/rooms/$ROOM/members" "$ALICE"
[ "$(field '.members | length')" = 2 ] || fail "members: $(field '.members | length')"
expect 200 GET "/v1/events?after=0" "$BOB"
[ "$(count_events '.type == "chat" and .text == "before the disk filled"')" = 1 ] ||
	fail "bob's pending chat is missing"
expect 200 GET /v1/server none
alive "after reads on a full disk"
ok "reads work on a full disk: the user, the room list, members, the event stream"
integrity "while the disk is full"
ok "integrity_check is ok while the disk is full"

rm -f "$DISK"/filler.*
expect 204 POST "/v1/rooms/$ROOM/chat" "$ALICE" '{"text":"after the disk was freed"}'
echo "after the disk was freed" >>"$TMP/chats.ok"
expect 201 POST /v1/rooms "$BOB" '{"title":"room after the disk was freed"}'
login carol
expect 200 GET /v1/users/me "$TOKEN"
[ "$(field .name)" = carol ] || fail "carol"
ok "after freeing space, chat, room creation and a new login succeed (same salond process)"

stop_salond
integrity "after SIGTERM"
sqlite3 "$DB" "SELECT json_extract(body, '\$.text') FROM events
	WHERE user_id = $ALICE_ID AND json_extract(body, '\$.type') = 'chat'" |
	sort >"$TMP/have.chats"
sort "$TMP/chats.ok" >"$TMP/want.chats"
echo "before the disk filled" >>"$TMP/want.chats"
sort -o "$TMP/want.chats" "$TMP/want.chats"
cmp -s "$TMP/want.chats" "$TMP/have.chats" ||
	fail "chat events differ from the 204s: $(diff "$TMP/want.chats" "$TMP/have.chats" | head)"
ok "every chat answered 204 is stored once, none answered 503 is; integrity_check ok"
echo "$CHECKS checks passed"
