#!/bin/sh
# local.sh - `salon --local`: starts a private salond and the demo bot, joins the
# demo room in line mode, hears the bot, and stops everything cleanly on /quit and
# on SIGTERM: no process is left behind.
. "${top_srcdir:-.}/tests/client-lib.sh"

command -v pgrep >/dev/null 2>&1 || fail "pgrep (procps) is required"
[ -f "$SALON_DATADIR/demo.opus" ] || fail "no demo clip in $SALON_DATADIR"

# strays: processes whose command line names our private directory (salond's
# database and the demo bot's identity live there).
strays() {
	pgrep -f "$TMP/" || true
}

client_start local 3 --local --name newcomer --input null --output null
expect_line local 'Connected to http://127.0.0.1:'
expect_line local 'This is a private salon server on this computer'
expect_line local 'You joined "Demo"'
printf '%s\n' "$LAST" | grep -q 'On stage: demo-bot (the host, bot)' ||
	fail "the demo bot is not on stage: $LAST"
ok "salon --local starts salond and joins the demo room, hosted by the demo bot"

[ -f "$TMP/local/data/salon/local.db" ] || fail "no local database in the data directory"
[ -f "$TMP/local/data/salon/demo-bot.identity" ] || fail "no identity for the demo bot"
[ -n "$(strays)" ] || fail "no salond or demo bot running"
ok "the local database and the bot's identity are in the XDG data directory"

expect_line local 'demo-bot is speaking.'
ok "the demo bot's clip is heard (its speech decrypted end to end)"

send local '/quit'
wait_exit local
[ "$STATUS" -eq 0 ] || fail "salon --local exited with $STATUS after /quit"
[ -z "$(strays)" ] || fail "processes left behind: $(strays | xargs ps -o pid,args -p)"
ok "/quit stops the demo bot and salond: nothing is left running"

for log in local-salond.log demo-bot.log; do
	[ -f "$TMP/local/state/salon/$log" ] || fail "no $log in the XDG state directory"
	! grep -q ': debug: ' "$TMP/local/state/salon/$log" ||
		fail "$log has debug lines though salon was not asked for them"
done
ok "salond and the demo bot log to the XDG state directory, at warnings by default"

# Again, on the same database: the demo room is found or made again, and SIGTERM
# stops everything as /quit does; -vv is passed down to salond and the demo bot.
cp -R "$TMP/local/." "$TMP/again/" 2>/dev/null || { mkdir -p "$TMP/again"; cp -R "$TMP/local/." "$TMP/again/"; }
client_start again 4 --local -vv --input null --output null
expect_line again 'You joined "Demo"'
eval "pid=\$PID_again"
kill -TERM "$pid"
wait_exit again
[ "$STATUS" -eq 0 ] || fail "salon --local exited with $STATUS after SIGTERM"
[ -z "$(strays)" ] || fail "processes left behind: $(strays | xargs ps -o pid,args -p)"
ok "a second start reuses the database; SIGTERM stops everything cleanly"

grep -q '^[-0-9T:.]*Z salond: debug: ' "$TMP/again/state/salon/local-salond.log" ||
	fail "salon --local -vv: no debug line in local-salond.log"
grep -q '^[-0-9T:.]*Z salon: debug: ' "$TMP/again/state/salon/demo-bot.log" ||
	fail "salon --local -vv: no debug line in demo-bot.log"
ok "salon --local -vv logs salond and the demo bot at debug level too"

echo "local.sh: $CHECKS checks passed"
