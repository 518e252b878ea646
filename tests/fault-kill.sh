#!/bin/sh
# fault-kill.sh - salond is killed with SIGKILL five times while three clients keep
# logging in, creating rooms, joining rooms and chatting, and is restarted on the
# same database each time. After every kill the database passes SQLite's
# integrity_check, and everything salond acknowledged with a 2xx before the kill is
# in it: every user, room, membership and undelivered chat event. At the end every
# acknowledged token still works through the API, and a clean SIGTERM exits 0.
#
# The clients record an operation only after its 2xx arrived, so what they recorded
# is a lower bound on what salond promised; what they never heard about may or may
# not be there. Bounded: five kills, each after a few more acknowledged operations,
# every wait with a deadline.
. "${top_srcdir:-.}/tests/api-lib.sh"
command -v sqlite3 >/dev/null 2>&1 || fail "sqlite3 (the command-line shell) is required"

WORKERS="1 2 3"
KILLS=5
DB=$TMP/salond.db
mkdir -p "$TMP/keys"

fault_cleanup() {
	: >"$TMP/stop"
	for pid in $WORKER_PIDS; do
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	cleanup
}
WORKER_PIDS=
trap fault_cleanup EXIT

# Starts salond and publishes its API address to the workers (atomically).
fault_start() {
	# No login rate limit and room limit to speak of: the test makes many accounts
	# from one address on purpose.
	start_salond --login-burst 1000000 --max-rooms 1000
	printf '%s\n' "$API" >"$TMP/api.new"
	mv "$TMP/api.new" "$TMP/api"
}

# wcall WORKER API METHOD PATH TOKEN [BODY]: prints the HTTP status, or 000 when
# salond was unreachable or the answer did not arrive whole (curl failed); the body
# goes to $TMP/wWORKER.body.
wcall() {
	w=$1
	if [ $# -ge 6 ]; then
		printf '%s' "$6" >"$TMP/w$w.request"
	else
		: >"$TMP/w$w.request"
	fi
	code=$(curl -s --max-time 5 -o "$TMP/w$w.body" -w '%{http_code}' -X "$3" \
		-H "Authorization: Bearer $5" -H 'Content-Type: application/json' \
		--data-binary @"$TMP/w$w.request" "$2$4") || code=000
	printf '%s' "$code"
}

# ack WORKER LINE: records an acknowledged operation.
ack() {
	printf '%s\n' "$2" >>"$TMP/ack.$1"
}

# One round of a worker: a new account logs in, creates a room, joins someone
# else's room and chats in both. Returns 2 when salond was unreachable, 1 when
# something else was refused, 0 when the round completed.
worker_round() {
	w=$1 name=$2 api=$3
	pk=$("$APITOOL" keygen "$TMP/keys/$name.key") || return 1
	st=$(wcall "$w" "$api" POST /v1/auth/challenge none \
		"{\"public_key\":\"$pk\",\"name\":\"$name\"}")
	[ "$st" = 000 ] && return 2
	[ "$st" = 200 ] || return 1
	nonce=$(jq -r .nonce "$TMP/w$w.body")
	sig=$("$APITOOL" sign "$TMP/keys/$name.key" "$nonce") || return 1
	st=$(wcall "$w" "$api" POST /v1/auth/login none \
		"{\"nonce\":\"$nonce\",\"public_key\":\"$pk\",\"signature\":\"$sig\"}")
	[ "$st" = 000 ] && return 2
	[ "$st" = 200 ] || return 1
	token=$(jq -r .token "$TMP/w$w.body")
	uid=$(jq -r .user.id "$TMP/w$w.body")
	ack "$w" "user $uid $name $token"

	st=$(wcall "$w" "$api" POST /v1/rooms "$token" "{\"title\":\"room of $name\"}")
	[ "$st" = 000 ] && return 2
	[ "$st" = 201 ] || return 1
	room=$(jq -r .id "$TMP/w$w.body")
	ack "$w" "room $room $uid"
	ack "$w" "member $room $uid"

	# Someone else's acknowledged room, if there is one yet.
	other=$(cat "$TMP"/ack.* | awk -v me="$uid" '$1 == "room" && $3 != me { print $2 }' |
		shuf -n 1)
	if [ -n "$other" ]; then
		st=$(wcall "$w" "$api" POST "/v1/rooms/$other/join" "$token")
		[ "$st" = 000 ] && return 2
		case $st in 200 | 201) ack "$w" "member $other $uid" ;; *) return 1 ;; esac
	fi

	for r in $room $other; do
		st=$(wcall "$w" "$api" POST "/v1/rooms/$r/chat" "$token" \
			"{\"text\":\"chat $name $r\"}")
		[ "$st" = 000 ] && return 2
		[ "$st" = 204 ] || return 1
		ack "$w" "chat $uid chat $name $r"
	done
	return 0
}

# A worker: rounds until told to stop (or 400 rounds); after an unreachable salond,
# it waits for the next salond's address.
worker() {
	w=$1
	i=0
	: >"$TMP/ack.$w"
	while [ ! -e "$TMP/stop" ] && [ $i -lt 400 ]; do
		i=$((i + 1))
		api=$(cat "$TMP/api")
		status=0
		worker_round "$w" "w${w}n$i" "$api" || status=$?
		if [ $status = 2 ]; then
			deadline=$(($(date +%s) + 20))
			while [ "$(cat "$TMP/api")" = "$api" ] && [ ! -e "$TMP/stop" ]; do
				[ "$(date +%s)" -lt "$deadline" ] || return 1
				sleep 0.02
			done
		fi
	done
}

# acked KIND: the acknowledged records of one kind, without the kind, sorted.
acked() {
	cat "$TMP"/ack.* | awk -v kind="$1" '$1 == kind { $1 = ""; sub(/^ /, ""); print }' |
		sort -u
}

acked_count() {
	cat "$TMP"/ack.* 2>/dev/null | wc -l
}

# check_db WHEN: salond is not running; the database is sound and holds every
# operation acknowledged so far (snapshotted first: later acks are checked later).
check_db() {
	when="$*"
	cat "$TMP"/ack.* >"$TMP/snapshot"
	result=$(sqlite3 "$DB" 'PRAGMA integrity_check') || fail "sqlite3 cannot open $DB ($when)"
	[ "$result" = ok ] || fail "integrity_check $when: $result"
	sqlite3 "$DB" 'PRAGMA foreign_key_check' >"$TMP/fk" || fail "foreign_key_check failed"
	[ ! -s "$TMP/fk" ] || fail "foreign keys broken $when: $(head -5 "$TMP/fk")"

	awk '$1 == "user" { print $2 " " $3 }' "$TMP/snapshot" | sort -u >"$TMP/want.users"
	sqlite3 "$DB" 'SELECT id, name FROM users' | tr '|' ' ' | sort -u >"$TMP/have.users"
	awk '$1 == "room" { print $2 " " $3 }' "$TMP/snapshot" | sort -u >"$TMP/want.rooms"
	sqlite3 "$DB" 'SELECT id, host_id FROM rooms WHERE ended = 0' | tr '|' ' ' |
		sort -u >"$TMP/have.rooms"
	awk '$1 == "member" { print $2 " " $3 }' "$TMP/snapshot" | sort -u >"$TMP/want.members"
	sqlite3 "$DB" 'SELECT room_id, user_id FROM members' | tr '|' ' ' |
		sort -u >"$TMP/have.members"
	# Nobody reads events here, so each chat is still undelivered in its sender's
	# stream (the sender gets its own chat, doc/API.md).
	awk '$1 == "chat" { $1 = ""; sub(/^ /, ""); print }' "$TMP/snapshot" |
		sort -u >"$TMP/want.chats"
	sqlite3 "$DB" "SELECT user_id, json_extract(body, '\$.text') FROM events
		WHERE json_extract(body, '\$.type') = 'chat'" | tr '|' ' ' |
		sort -u >"$TMP/have.chats"
	for kind in users rooms members chats; do
		missing=$(comm -23 "$TMP/want.$kind" "$TMP/have.$kind" | head -3)
		[ -z "$missing" ] || fail "acknowledged $kind lost $when: $missing"
	done
	ok "$when: integrity_check ok; all $(wc -l <"$TMP/want.users") users," \
		"$(wc -l <"$TMP/want.rooms") rooms, $(wc -l <"$TMP/want.members") memberships" \
		"and $(wc -l <"$TMP/want.chats") chat events acknowledged so far are there"
}

# wait_acks N: waits (20 s at most) until N more operations were acknowledged.
wait_acks() {
	target=$(($(acked_count) + $1))
	deadline=$(($(date +%s) + 20))
	while [ "$(acked_count)" -lt "$target" ]; do
		[ "$(date +%s)" -lt "$deadline" ] || fail "the clients made no progress"
		for pid in $WORKER_PIDS; do
			kill -0 "$pid" 2>/dev/null || fail "a client loop died"
		done
		sleep 0.02
	done
}

fault_start
for w in $WORKERS; do
	worker "$w" &
	WORKER_PIDS="$WORKER_PIDS $!"
done

kill_number=0
started=$(date +%s)
while [ $kill_number -lt $KILLS ]; do
	kill_number=$((kill_number + 1))
	# One more acknowledged operation since the restart (the clients are busy
	# again), then a kill at a varying moment 0 to 0.4 s later, with requests in
	# flight.
	wait_acks 1
	sleep "0.$(($(od -An -N1 -tu1 /dev/urandom) % 5))"
	before=$(acked_count)
	kill -KILL "$SALOND_PID"
	wait "$SALOND_PID" 2>/dev/null || true
	SALOND_PID=
	check_db "after SIGKILL $kill_number at $(($(date +%s) - started)) s" \
		"(with $before operations acknowledged)"
	fault_start
	expect 200 GET /v1/server none
	ok "salond restarted on the same database after SIGKILL $kill_number"
done

wait_acks 1
: >"$TMP/stop"
for pid in $WORKER_PIDS; do
	wait "$pid" || fail "a client loop gave up waiting for salond"
done
WORKER_PIDS=
ok "the clients went on through $KILLS kills in $(($(date +%s) - started)) s" \
	"($(acked_count) operations acknowledged)"

# Through the API: every acknowledged token still authenticates its own user, and a
# few users' rooms and event streams look as they should.
acked user >"$TMP/all.users"
while read -r uid name token; do
	expect 200 GET /v1/users/me "$token"
	[ "$(field .id)" = "$uid" ] && [ "$(field .name)" = "$name" ] ||
		fail "token of $name answers for $(field .name)"
done <"$TMP/all.users"
ok "all $(wc -l <"$TMP/all.users") acknowledged tokens still log their users in"
shuf -n 5 "$TMP/all.users" >"$TMP/sample.users"
while read -r uid name token; do
	events "$token" 0
	for want in $(awk -v u="$uid" '$1 == "chat" && $2 == u { print $5 }' "$TMP/snapshot"); do
		[ "$(count_events ".type == \"chat\" and .text == \"chat $name $want\"")" = 1 ] ||
			fail "$name's chat in room $want is not in its event stream exactly once"
	done
	for room in $(awk -v u="$uid" '$1 == "member" && $3 == u { print $2 }' "$TMP/snapshot"); do
		expect 200 GET "/v1/rooms/$room/members" "$token"
	done
done <"$TMP/sample.users"
ok "five sampled users see their chats once in their event streams and are members"

stop_salond
check_db "after the final SIGTERM"
echo "$CHECKS checks passed"
