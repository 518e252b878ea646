# client-lib.sh - helpers for the salon client's shell tests (sourced, POSIX sh).
#
# Starts a private salond on loopback (ephemeral ports, database in a temporary
# directory), runs salon in bot mode or line mode with its standard input on a FIFO
# and its output in a file, and waits for output with a deadline: each wait looks
# at the lines after the last one matched, so a sequence of waits also proves order.
# Every check prints what it proves; the first failure stops the test with exit 1.
set -eu

top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
SALOND=$top_builddir/src/server/salond
SALON=$top_builddir/src/client/salon
for tool in jq; do
	command -v $tool >/dev/null 2>&1 || { echo "FAIL: $tool is required"; exit 1; }
done
[ -x "$SALOND" ] || { echo "FAIL: $SALOND not built"; exit 1; }
[ -x "$SALON" ] || { echo "FAIL: $SALON not built"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/salon-client.XXXXXX")
SALOND_PID=
CLIENT_PIDS=
CHECKS=0
# Each client gets its own home; nothing of the user's is read or written.
export HOME="$TMP/home" XDG_CONFIG_HOME="$TMP/home/config" XDG_DATA_HOME="$TMP/home/data"
export XDG_STATE_HOME="$TMP/home/state" XDG_CACHE_HOME="$TMP/home/cache"
unset XDG_RUNTIME_DIR
export SALON_DATADIR="$top_srcdir/data" SALOND
mkdir -p "$HOME"

# Under AddressSanitizer: ALSA's plugins, loaded with dlopen when PortAudio looks for
# devices, leak a few bytes in their constructors (as tests/portaudio.sh explains).
# The suppression names libasound; salon's own leaks never have it on their stack.
printf 'leak:libasound.so\n' >"$TMP/lsan.supp"
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$TMP/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS LSAN_OPTIONS

client_cleanup() {
	for pid in $CLIENT_PIDS; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	if [ -n "$SALOND_PID" ]; then
		kill -TERM "$SALOND_PID" 2>/dev/null || true
		wait "$SALOND_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap client_cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*"
	for f in "$TMP"/*.out "$TMP"/*.err "$TMP/salond.err"; do
		[ -s "$f" ] || continue
		echo "--- $f:"
		tail -30 "$f"
	done
	exit 1
}

ok() {
	CHECKS=$((CHECKS + 1))
	echo "ok $CHECKS - $*"
}

now() {
	date +%s
}

# start_salond [OPTIONS...]: a salond on $TMP/salond.db, with OPTIONS added (TLS,
# say); sets API and SALOND_PID.
start_salond() {
	rm -f "$TMP/ports"
	"$SALOND" --listen 127.0.0.1:0 --relay 127.0.0.1:0 --db "$TMP/salond.db" \
		--port-file "$TMP/ports" "$@" >"$TMP/salond.out" 2>>"$TMP/salond.err" &
	SALOND_PID=$!
	deadline=$(($(now) + 10))
	until [ -s "$TMP/ports" ]; do
		[ "$(now)" -lt "$deadline" ] || fail "salond did not write its port file"
		sleep 0.05
	done
	API=$(sed -n 's/^api //p' "$TMP/ports")
	case $API in http://127.0.0.1:[0-9]* | https://127.0.0.1:[0-9]*) ;;
	*) fail "bad api line: $API" ;;
	esac
}

stop_salond() {
	kill -TERM "$SALOND_PID"
	status=0
	wait "$SALOND_PID" || status=$?
	SALOND_PID=
	[ "$status" -eq 0 ] || fail "salond exited with $status after SIGTERM"
}

# as NAME COMMAND...: runs COMMAND with NAME's own data and config directories.
as() {
	who=$1
	shift
	mkdir -p "$TMP/$who/config" "$TMP/$who/data" "$TMP/$who/state"
	XDG_CONFIG_HOME="$TMP/$who/config" XDG_DATA_HOME="$TMP/$who/data" \
		XDG_STATE_HOME="$TMP/$who/state" "$@"
}

# run WHO ARGS...: runs salon as WHO; stdout in $TMP/run.out, stderr in $TMP/run.err,
# the exit status in STATUS.
run() {
	who=$1
	shift
	STATUS=0
	as "$who" "$SALON" "$@" >"$TMP/run.out" 2>"$TMP/run.err" </dev/null || STATUS=$?
}

expect_status() {
	want=$1
	shift
	run "$@"
	[ "$STATUS" -eq "$want" ] ||
		fail "salon $*: expected status $want, got $STATUS: $(cat "$TMP/run.err")"
}

# client_start NAME FD ARGS...: starts `salon ARGS` as NAME with its standard input
# on a FIFO held open on descriptor FD (3..9) and its output in $TMP/NAME.out.
client_start() {
	who=$1
	fd=$2
	shift 2
	rm -f "$TMP/$who.in" "$TMP/$who.out" "$TMP/$who.cursor"
	mkfifo "$TMP/$who.in"
	: >"$TMP/$who.out"
	mkdir -p "$TMP/$who/config" "$TMP/$who/data" "$TMP/$who/state"
	# exec, so that $! is salon itself (signals in the tests go to it).
	(
		export XDG_CONFIG_HOME="$TMP/$who/config" XDG_DATA_HOME="$TMP/$who/data"
		export XDG_STATE_HOME="$TMP/$who/state"
		exec "$SALON" "$@" <"$TMP/$who.in" >"$TMP/$who.out" 2>"$TMP/$who.err"
	) &
	eval "PID_$who=$!"
	CLIENT_PIDS="$CLIENT_PIDS $!"
	eval "FD_$who=$fd"
	eval "exec $fd>\"$TMP/$who.in\""
	echo 0 >"$TMP/$who.cursor"
}

# bot_start NAME FD [ARGS...]: a bot named NAME on $API, silent and deaf.
bot_start() {
	who=$1
	fd=$2
	shift 2
	client_start "$who" "$fd" --bot --server "$API" --name "$who" --input null \
		--output null "$@"
}

# send NAME LINE: writes a line to NAME's standard input.
send() {
	eval "fd=\$FD_$1"
	printf '%s\n' "$2" >&"$fd" || fail "cannot write to $1"
}

# close_input NAME: end of NAME's standard input.
close_input() {
	eval "fd=\$FD_$1"
	eval "exec $fd>&-"
}

# wait_exit NAME: waits (10 s at most) for NAME to exit; sets STATUS.
wait_exit() {
	eval "pid=\$PID_$1"
	deadline=$(($(now) + 10))
	while kill -0 "$pid" 2>/dev/null; do
		[ "$(now)" -lt "$deadline" ] || fail "$1 did not exit"
		sleep 0.05
	done
	STATUS=0
	wait "$pid" || STATUS=$?
}

# expect_event NAME JQ-CONDITION: waits (15 s at most) for a JSON line of NAME's
# after the last one matched that satisfies the condition; sets LAST to it.
expect_event() {
	who=$1
	out="$TMP/$who.out"
	deadline=$(($(now) + 15))
	while :; do
		cursor=$(cat "$TMP/$who.cursor")
		lines=$(wc -l <"$out")
		if [ "$lines" -gt "$cursor" ]; then
			index=$(sed -n "$((cursor + 1)),${lines}p" "$out" |
				jq -n "[inputs] | (to_entries | map(select(.value | $2)) |
					first | .key) // -1") || fail "$who: output is not JSON lines"
			if [ "$index" -ge 0 ]; then
				cursor=$((cursor + index + 1))
				echo "$cursor" >"$TMP/$who.cursor"
				LAST=$(sed -n "${cursor}p" "$out")
				return 0
			fi
		fi
		[ "$(now)" -lt "$deadline" ] || fail "$who: no event matching $2"
		sleep 0.05
	done
}

# expect_line NAME TEXT: as expect_event for line mode: a line containing TEXT
# (fixed string) after the last one matched; sets LAST to it.
expect_line() {
	who=$1
	out="$TMP/$who.out"
	deadline=$(($(now) + 15))
	while :; do
		cursor=$(cat "$TMP/$who.cursor")
		lines=$(wc -l <"$out")
		if [ "$lines" -gt "$cursor" ]; then
			index=$(sed -n "$((cursor + 1)),${lines}p" "$out" | grep -n -F -- "$2" |
				head -1 | cut -d: -f1) || true
			if [ -n "$index" ]; then
				cursor=$((cursor + index))
				echo "$cursor" >"$TMP/$who.cursor"
				LAST=$(sed -n "${cursor}p" "$out")
				return 0
			fi
		fi
		[ "$(now)" -lt "$deadline" ] || fail "$who: no line containing '$2'"
		sleep 0.05
	done
}
