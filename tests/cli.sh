#!/bin/sh
# cli.sh - salon's command line and one-shot subcommands against a real salond:
# help, version, usage errors (status 2), whoami, create, rooms, join, verify,
# exit statuses for an unknown room (4), an unreachable server (3), no sound
# device (5), and config file diagnostics.
. "${top_srcdir:-.}/tests/client-lib.sh"

expect_status 0 alice --help
for word in rooms create join whoami verify devices --bot --plain --server --ca-file --local \
	--name --config --input --output --bitrate --ascii --verbose --quiet --play \
	--record --listen-only --for --topic --private --json; do
	grep -q -e "$word" "$TMP/run.out" || fail "--help does not mention $word"
done
ok "--help exits 0 and covers every option and subcommand"

expect_status 0 alice --version
grep -q '^salon [0-9]' "$TMP/run.out" || fail "--version printed: $(cat "$TMP/run.out")"
ok "--version prints the version"

expect_status 2 alice --no-such-option
expect_status 2 alice frobnicate
expect_status 2 alice create
expect_status 2 alice join 1 2
expect_status 2 alice rooms --topic x
expect_status 2 alice whoami --for 3
expect_status 2 alice join 1 --for soon
expect_status 2 alice --bitrate 12
expect_status 2 alice --server ftp://example.org rooms
expect_status 2 alice --server http://127.0.0.1:1 --local rooms
grep -q 'salon --help' "$TMP/run.err" || fail "a usage error does not point to --help"
ok "bad options, operands and commands exit with status 2"

start_salond

expect_status 0 alice --server "$API" --name alice whoami
grep -q '^You are alice (user [0-9]*)\. Your safety number: [0-9]\{5\}\( [0-9]\{5\}\)\{5\}$' \
	"$TMP/run.out" || fail "whoami printed: $(cat "$TMP/run.out")"
ok "whoami prints the name and a 30-digit safety number"
expect_status 0 alice --server "$API" whoami --json
NUMBER=$(jq -r .safety_number "$TMP/run.out")
jq -e '.user.name == "alice"' "$TMP/run.out" >/dev/null || fail "whoami --json: wrong name"
ok "whoami --json gives the same in JSON"

expect_status 0 alice --server "$API" create "Cli room" --topic "about tests" --json
ROOM=$(jq -r .room.id "$TMP/run.out")
jq -e '.room.title == "Cli room" and .room.topic == "about tests"' "$TMP/run.out" >/dev/null ||
	fail "create --json printed $(cat "$TMP/run.out")"
expect_status 0 alice --server "$API" create "Hidden room" --private
grep -q '^Room [0-9]* created: "Hidden room"\.$' "$TMP/run.out" ||
	fail "create printed $(cat "$TMP/run.out")"
ok "create makes rooms (public with a topic, private) and prints them"

expect_status 0 bob --server "$API" --name bob rooms --json
jq -e --argjson id "$ROOM" '[.rooms[] | select(.id == $id and .title == "Cli room")] | length == 1' \
	"$TMP/run.out" >/dev/null || fail "rooms --json does not list the room: $(cat "$TMP/run.out")"
jq -e '[.rooms[] | select(.title == "Hidden room")] | length == 0' "$TMP/run.out" >/dev/null ||
	fail "rooms --json lists another user's private room"
expect_status 0 bob --server "$API" rooms
grep -q "$ROOM  Cli room - about tests" "$TMP/run.out" || fail "rooms printed $(cat "$TMP/run.out")"
ok "rooms lists the public room (JSON and words), not the private one"

expect_status 4 bob --server "$API" join 4503599627370000 --listen-only --output null --for 5
grep -q 'No such room' "$TMP/run.err" || fail "join of an unknown room said $(cat "$TMP/run.err")"
expect_status 4 bob --server "$API" join "No such title" --listen-only --output null --for 5
ok "joining an unknown room (by id or title) exits with status 4"

expect_status 0 bob --server "$API" join "Cli room" --listen-only --output null --for 0.5
grep -q 'You joined "Cli room"' "$TMP/run.err" || fail "join said $(cat "$TMP/run.err")"
ok "join by title, listen-only, leaves after --for and exits 0"

expect_status 0 bob --server "$API" join "$ROOM" --play "$top_srcdir/data/demo.opus" \
	--record "$TMP/room.wav" --for 1
grep -q 'You joined' "$TMP/run.err" || fail "scripted join said $(cat "$TMP/run.err")"
ok "a scripted join with --play and --record needs no sound card"

# --record -: the room as raw PCM on standard output, announced like any recording,
# with every message on standard error so that nothing else mixes into the audio.
expect_status 0 bob --server "$API" join "$ROOM" --listen-only --record - --for 1.5
grep -q 'recording the room \[recording\]' "$TMP/run.err" ||
	fail "--record - was not announced: $(cat "$TMP/run.err")"
SIZE=$(wc -c <"$TMP/run.out")
[ "$SIZE" -gt 0 ] && [ $((SIZE % 2)) -eq 0 ] ||
	fail "--record - wrote $SIZE bytes of 16-bit PCM to standard output"
ok "join --record - announces the recording and writes PCM ($SIZE bytes) to stdout"

expect_status 0 bob --server "$API" verify alice
grep -q "Safety number of alice: .*$NUMBER" "$TMP/run.out" ||
	fail "verify printed $(cat "$TMP/run.out"), whoami said $NUMBER"
ok "verify shows alice's safety number as alice's whoami does"
expect_status 4 bob --server "$API" verify nobody-here
ok "verify of an unknown user exits with status 4"

expect_status 3 bob --server "http://127.0.0.1:9" rooms
grep -q 'Cannot reach the server\|cannot reach the server' "$TMP/run.err" ||
	fail "unreachable server said $(cat "$TMP/run.err")"
ok "an unreachable server exits with status 3"

# No sound card: a device name that matches none (this is what a machine without
# any sound device gives too: PortAudio finds nothing to open).
expect_status 5 bob --server "$API" join "$ROOM" --input no-such-device-xyz \
	--output no-such-device-xyz --for 1
grep -q -e '--output null' "$TMP/run.err" && grep -q -e '--play' "$TMP/run.err" ||
	fail "no hint about --play or --output null: $(cat "$TMP/run.err")"
ok "join without a sound device exits 5 and suggests --play/--record or --output null"

# Config file: options beat the file, the file beats defaults, problems are reported.
mkdir -p "$TMP/carol/config/salon"
printf 'server = %s\nname = carol\nbitrate = banana\n[nonsense]\n' "$API" \
	>"$TMP/carol/config/salon/config"
expect_status 0 carol whoami
grep -q 'You are carol' "$TMP/run.out" || fail "config name not used: $(cat "$TMP/run.out")"
grep -q 'config:3:' "$TMP/run.err" || fail "no FILE:LINE diagnostic: $(cat "$TMP/run.err")"
expect_status 3 carol --server "http://127.0.0.1:9" whoami
ok "the config file gives server and name, reports bad lines, and options win"

stop_salond
echo "cli.sh: $CHECKS checks passed"
