# tui-lib.sh - helpers for the full-screen UI's tests (sourced, POSIX sh).
#
# On top of client-lib.sh (a private salond, bots through salon --bot): runs
# tests/tui-driver (the TUI on an engine made from environment variables) in a
# private tmux server, records every byte it writes to its terminal (pipe-pane),
# starts tests/tui-proxy.py (a hostile server in front of salond), and waits for
# screen states by polling capture-pane with a deadline.
. "${top_srcdir:-.}/tests/client-lib.sh"

TUI_DRIVER=$top_builddir/tests/tui-driver
[ -x "$TUI_DRIVER" ] || { echo "FAIL: $TUI_DRIVER not built"; exit 1; }
for tool in tmux python3; do
	command -v $tool >/dev/null 2>&1 || { echo "FAIL: $tool is required"; exit 1; }
done
export LANG=C.UTF-8
unset LC_ALL LC_CTYPE TMUX
TMUX_SOCKET=salon-test-$$
PROXY_PID=
# ncurses keeps its terminal descriptions for the life of the process by design.
printf 'leak:libncursesw.so\nleak:libtinfo.so\n' >>"$TMP/lsan.supp"

# tm ARGS...: tmux on the test's own server, with no user configuration.
tm() {
	tmux -u -L "$TMUX_SOCKET" -f /dev/null "$@"
}

tui_cleanup() {
	tm kill-server >/dev/null 2>&1 || true
	if [ -n "$PROXY_PID" ]; then
		kill -TERM "$PROXY_PID" 2>/dev/null || true
		wait "$PROXY_PID" 2>/dev/null || true
	fi
	client_cleanup
}
trap tui_cleanup EXIT

# fail MESSAGE: as client-lib.sh's, with every TUI screen and log.
fail() {
	echo "FAIL: $*"
	for s in $(tm list-sessions -F '#{session_name}' 2>/dev/null); do
		echo "--- screen of $s ($(tm display -p -t "$s" 'cursor #{cursor_x},#{cursor_y}')):"
		tm capture-pane -p -t "$s"
	done
	for f in "$TMP"/*.out "$TMP"/*.err "$TMP"/*.log "$TMP/salond.err"; do
		[ -s "$f" ] || continue
		echo "--- $f:"
		tail -30 "$f"
	done
	exit 1
}

# start_proxy: tui-proxy.py in front of $API; sets PROXY.
start_proxy() {
	python3 "$top_srcdir/tests/tui-proxy.py" "$API" "$TMP/proxy.port" \
		>"$TMP/proxy.out" 2>"$TMP/proxy.err" &
	PROXY_PID=$!
	deadline=$(($(now) + 10))
	until [ -s "$TMP/proxy.port" ]; do
		[ "$(now)" -lt "$deadline" ] || fail "the proxy did not write its port file"
		sleep 0.05
	done
	PROXY=$(cat "$TMP/proxy.port")
}

# tui_start NAME [VAR=VALUE...]: the TUI as NAME in a 100x30 tmux session NAME,
# with the variables given (SALON_TUI_SERVER at least). Its terminal output goes to
# $TMP/NAME.raw from the first byte, and its exit status to $TMP/NAME.status.
tui_start() {
	who=$1
	shift
	mkdir -p "$TMP/$who"
	rm -f "$TMP/$who.go" "$TMP/$who.status"
	: >"$TMP/$who.raw"
	{
		# The TUI starts only once pipe-pane records: nothing it writes is missed.
		echo "until [ -e '$TMP/$who.go' ]; do sleep 0.05; done"
		echo "env $* SALON_TUI_HOME='$TMP/$who' SALON_TUI_NAME='$who' \\"
		echo "	SALON_TUI_LOG='$TMP/$who.log' '$TUI_DRIVER'"
		echo "echo \$? >'$TMP/$who.status'"
	} >"$TMP/$who.sh"
	tm new-session -d -s "$who" -x 100 -y 30 "sh '$TMP/$who.sh'" ||
		fail "tmux cannot start a session"
	tm pipe-pane -t "$who" -o "cat >>'$TMP/$who.raw'" || fail "tmux pipe-pane failed"
	touch "$TMP/$who.go"
}

# screen NAME: the screen's text now.
screen() {
	tm capture-pane -p -t "$1"
}

# wait_screen NAME TEXT: waits (15 s at most) until the screen shows TEXT.
wait_screen() {
	deadline=$(($(now) + 15))
	until screen "$1" | grep -q -F -- "$2"; do
		[ "$(now)" -lt "$deadline" ] || fail "$1: the screen never showed '$2'"
		sleep 0.05
	done
}

# wait_gone NAME TEXT: waits (15 s at most) until the screen no longer shows TEXT.
wait_gone() {
	deadline=$(($(now) + 15))
	while screen "$1" | grep -q -F -- "$2"; do
		[ "$(now)" -lt "$deadline" ] || fail "$1: the screen still shows '$2'"
		sleep 0.05
	done
}

# keys NAME KEY...: tmux key names (Enter, Escape, Down, Tab, ...) or single keys.
keys() {
	who=$1
	shift
	tm send-keys -t "$who" "$@"
}

# type_text NAME TEXT: types TEXT literally.
type_text() {
	tm send-keys -t "$1" -l -- "$2"
}

# expect_focus NAME TEXT [X]: waits (15 s at most) until the terminal cursor is in
# column X (default 0: the start of the line) of a line that contains TEXT; sets
# FOCUS_LINE to that line and FOCUS_Y to its row.
expect_focus() {
	want_x=${3:-0}
	deadline=$(($(now) + 15))
	while :; do
		pos=$(tm display -p -t "$1" '#{cursor_x} #{cursor_y}')
		FOCUS_Y=${pos#* }
		FOCUS_LINE=$(screen "$1" | sed -n "$((FOCUS_Y + 1))p")
		if [ "${pos% *}" = "$want_x" ] &&
			printf '%s\n' "$FOCUS_LINE" | grep -q -F -- "$2"; then
			return 0
		fi
		[ "$(now)" -lt "$deadline" ] ||
			fail "$1: the cursor is at $pos on '$FOCUS_LINE', not at column $want_x of '$2'"
		sleep 0.05
	done
}

# tui_wait_exit NAME: waits (10 s at most) for the TUI to exit; sets STATUS.
tui_wait_exit() {
	deadline=$(($(now) + 10))
	until [ -s "$TMP/$1.status" ]; do
		[ "$(now)" -lt "$deadline" ] || fail "$1: the TUI did not exit"
		sleep 0.05
	done
	STATUS=$(cat "$TMP/$1.status")
}

# raw_has NAME BYTES: whether the TUI ever wrote BYTES (a printf format) to its terminal.
raw_has() {
	LC_ALL=C grep -a -q -F -- "$(printf "$2")" "$TMP/$1.raw"
}
