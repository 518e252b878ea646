# api-lib.sh - shared helpers for the salond API tests (sourced, POSIX sh).
#
# Starts a private salond on loopback with ephemeral ports and a database in a
# temporary directory, and offers small wrappers around curl and jq. Every check
# prints what it proves; the first failure stops the test with exit 1.
set -eu

top_builddir=${top_builddir:-.}
. "${top_srcdir:-.}/tests/http-lib.sh"
SALOND=$top_builddir/src/server/salond
APITOOL=$top_builddir/tests/apitool
for tool in curl jq; do
	command -v $tool >/dev/null 2>&1 || { echo "FAIL: $tool is required"; exit 1; }
done
[ -x "$SALOND" ] || { echo "FAIL: $SALOND not built"; exit 1; }
[ -x "$APITOOL" ] || { echo "FAIL: $APITOOL not built"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/salon-api.XXXXXX")
SALOND_PID=
CHECKS=0

cleanup() {
	if [ -n "$SALOND_PID" ]; then
		kill -TERM "$SALOND_PID" 2>/dev/null || true
		wait "$SALOND_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*"
	if [ -f "$TMP/body" ]; then echo "last body: $(cat "$TMP/body")"; fi
	if [ -f "$TMP/salond.err" ]; then echo "salond stderr:"; tail -20 "$TMP/salond.err"; fi
	exit 1
}

ok() {
	CHECKS=$((CHECKS + 1))
	echo "ok $CHECKS - $*"
}

# Waits (up to 10 s, polling) until a command succeeds.
wait_for() {
	deadline=$(($(date +%s) + 10))
	until "$@"; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

# start_salond [ARGS...]: starts salond on $TMP/salond.db; sets API and SALOND_PID.
start_salond() {
	rm -f "$TMP/ports"
	"$SALOND" --listen 127.0.0.1:0 --relay 127.0.0.1:0 --db "$TMP/salond.db" \
		--port-file "$TMP/ports" "$@" >"$TMP/salond.out" 2>>"$TMP/salond.err" &
	SALOND_PID=$!
	wait_for test -s "$TMP/ports" || fail "salond did not write its port file"
	API=$(sed -n 's/^api //p' "$TMP/ports")
	RELAY=$(sed -n 's/^relay //p' "$TMP/ports")
	case $API in http://127.0.0.1:[0-9]*) ;; *) fail "bad api line: $API" ;; esac
	case $RELAY in 127.0.0.1:[0-9]*) ;; *) fail "bad relay line: $RELAY" ;; esac
}

# stop_salond: SIGTERM, and the exit status must be 0.
stop_salond() {
	kill -TERM "$SALOND_PID"
	status=0
	wait "$SALOND_PID" || status=$?
	SALOND_PID=
	[ "$status" -eq 0 ] || fail "salond exited with $status after SIGTERM"
}

# call METHOD PATH TOKEN [BODY]: the HTTP status on stdout, the body in $TMP/body.
call() {
	http_call "$@"
}

# expect STATUS METHOD PATH TOKEN [BODY]: the call must answer STATUS.
expect() {
	want=$1
	shift
	got=$(call "$@") || fail "curl failed for $1 $2"
	[ "$got" = "$want" ] || fail "$1 $2: expected $want, got $got"
}

# expect_error STATUS CODE METHOD PATH TOKEN [BODY]: an error with that code.
expect_error() {
	want_code=$2
	expect "$1" "$3" "$4" "$5" ${6+"$6"}
	got_code=$(jq -r .error "$TMP/body")
	[ "$got_code" = "$want_code" ] || fail "$3 $4: expected error $want_code, got $got_code"
	jq -e '.message | type == "string" and length > 0' "$TMP/body" >/dev/null ||
		fail "$3 $4: error without a message"
}

# field FILTER: a jq filter applied to the last body.
field() {
	jq -r "$1" "$TMP/body"
}

# challenge KEYFILE NAME [BOT]: asks for a login challenge, prints the nonce.
challenge() {
	pk=$("$APITOOL" pubkey "$1")
	expect 200 POST /v1/auth/challenge none \
		"{\"public_key\":\"$pk\",\"name\":\"$2\",\"bot\":${3:-false}}"
	field .nonce
}

# login NAME: makes a key $TMP/NAME.key, logs in; sets TOKEN and USER_ID.
login() {
	[ -f "$TMP/$1.key" ] || "$APITOOL" keygen "$TMP/$1.key" >/dev/null
	nonce=$(challenge "$TMP/$1.key" "$1")
	sig=$("$APITOOL" sign "$TMP/$1.key" "$nonce")
	pk=$("$APITOOL" pubkey "$TMP/$1.key")
	expect 200 POST /v1/auth/login none \
		"{\"nonce\":\"$nonce\",\"public_key\":\"$pk\",\"signature\":\"$sig\"}"
	TOKEN=$(field .token)
	USER_ID=$(field .user.id)
}

# events TOKEN AFTER: fetches events without waiting into $TMP/body.
events() {
	expect 200 GET "/v1/events?after=$2" "$1"
}

# count_events CONDITION: how many events in the last body match a jq condition.
count_events() {
	jq -r "[.events[] | select($1)] | length" "$TMP/body"
}
