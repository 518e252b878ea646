#!/bin/sh
# i18n.sh - the French catalogue is complete, and salon really speaks it.
#
# 1. Every string the sources mark for translation (xgettext over po/POTFILES.in,
#    with po/Makevars' keywords) has a French translation in po/fr.po: msgcmp finds
#    none missing, untranslated or fuzzy, and msgfmt --check finds no placeholder
#    mismatch and counts no fuzzy or untranslated entry.
# 2. Every source file that marks strings (_(", N_(", P_(") is in po/POTFILES.in,
#    so no file's strings escape the catalogue.
# 3. salon prints French with LANGUAGE=fr in the C.UTF-8 locale, which every glibc
#    system has (no French locale needs to be generated): usage errors with the
#    translated "salon: " prefix and operand names, --help, and line mode against
#    a real salond. Without LANGUAGE the same runs speak English. The catalogue is
#    compiled from po/fr.po into a temporary directory given by SALON_LOCALEDIR.
. "${top_srcdir:-.}/tests/client-lib.sh"

for tool in xgettext msgcmp msgfmt; do
	command -v $tool >/dev/null 2>&1 || fail "$tool (package gettext) is required"
done
grep -q '^#define ENABLE_NLS 1' "$top_builddir/config.h" ||
	fail "salon was configured without NLS: it cannot speak French"
PO=$top_srcdir/po/fr.po

# 1. The catalogue against the sources.
options=$(sed -n 's/^XGETTEXT_OPTIONS *= *//p' "$top_srcdir/po/Makevars")
[ -n "$options" ] || fail "no XGETTEXT_OPTIONS in po/Makevars"
grep -v -e '^#' -e '^[[:space:]]*$' "$top_srcdir/po/POTFILES.in" >"$TMP/potfiles"
# shellcheck disable=SC2086 # the options are words
xgettext $options -D "$top_srcdir" -f "$TMP/potfiles" -o "$TMP/salon.pot" 2>"$TMP/xgettext.err" ||
	fail "xgettext failed: $(cat "$TMP/xgettext.err")"
[ "$(grep -c '^msgid ' "$TMP/salon.pot")" -gt 100 ] || fail "xgettext found almost nothing"
msgcmp "$PO" "$TMP/salon.pot" >"$TMP/msgcmp.err" 2>&1 ||
	fail "po/fr.po lacks translations (make -C po update-po, then translate):
$(grep -v 'warning: this message is not used' "$TMP/msgcmp.err" | head -40)"
stats=$(LC_ALL=C msgfmt --check --statistics -o /dev/null "$PO" 2>&1) ||
	fail "msgfmt --check refuses po/fr.po: $stats"
printf '%s\n' "$stats" | grep -q -E '^[0-9]+ translated messages\.$' ||
	fail "po/fr.po is not complete: $stats"
ok "po/fr.po translates every string of the sources, none fuzzy ($stats)"

# 2. No file with marked strings is missing from POTFILES.in.
missing=
for file in $(cd "$top_srcdir" && grep -l -E '(^|[^A-Za-z0-9_])[NP]?_\("' \
	src/lib/*.c src/server/*.c src/client/*.c); do
	grep -q -x -F "$file" "$TMP/potfiles" || missing="$missing $file"
done
[ -z "$missing" ] || fail "files with translatable strings missing from po/POTFILES.in:$missing"
ok "every source file with translatable strings is in po/POTFILES.in"

# 3. salon speaks French.
mkdir -p "$TMP/locale/fr/LC_MESSAGES"
msgfmt -o "$TMP/locale/fr/LC_MESSAGES/salon.mo" "$PO" || fail "msgfmt cannot compile po/fr.po"
export SALON_LOCALEDIR="$TMP/locale"
unset LC_MESSAGES LANG

# run_salon LANGUAGE ARGS...: salon in C.UTF-8 with LANGUAGE (empty: none); sets
# OUT (standard output and error together) and STATUS.
run_salon() {
	language=$1
	shift
	STATUS=0
	if [ -n "$language" ]; then
		OUT=$(LC_ALL=C.UTF-8 LANGUAGE=$language "$SALON" --config /dev/null "$@" 2>&1) ||
			STATUS=$?
	else
		OUT=$(env -u LANGUAGE LC_ALL=C.UTF-8 "$SALON" --config /dev/null "$@" 2>&1) ||
			STATUS=$?
	fi
}

# has TEXT: OUT contains TEXT (a fixed string).
has() {
	printf '%s\n' "$OUT" | grep -q -F -- "$1"
}

run_salon fr join
[ "$STATUS" = 2 ] || fail "salon join without a room exited with $STATUS, not 2: $OUT"
has "Usage : salon join SALON [--play FICHIER|-] [--record FICHIER|-] [--listen-only]" ||
	fail "the usage of join is not in French: $OUT"
run_salon "" join
has "Usage: salon join ROOM [--play FILE|-]" || fail "the usage of join is not in English: $OUT"
ok "a subcommand's usage line is translated, operand names included"

run_salon fr --bitrate 5
[ "$STATUS" = 2 ] || fail "a bad --bitrate exited with $STATUS, not 2"
has "salon : --bitrate accepte de 6000 à 128000 : 5" ||
	fail "a usage error is not in French (prefix included): $OUT"
has "Essayez « salon --help » pour plus d'informations." || fail "no French hint: $OUT"
run_salon fr frobnicate
has "salon : commande inconnue : frobnicate" || fail "an unknown command is not in French: $OUT"
run_salon "" frobnicate
has "salon: unknown command: frobnicate" || fail "an unknown command is not in English: $OUT"
ok "usage errors are in French, the 'salon: ' prefix too (and in English without LANGUAGE)"

run_salon fr --help
[ "$STATUS" = 0 ] || fail "salon --help exited with $STATUS"
has "Salons audio chiffrés de bout en bout." || fail "--help is not in French: $OUT"
has "join without a microphone" && fail "--help still has English option lines: $OUT"
ok "--help is in French"

# Line mode in French against a real salond.
start_salond
export LC_ALL=C.UTF-8 LANGUAGE=fr
client_start zoe 3 --plain --config /dev/null --server "$API" --name zoe --input null \
	--output null
unset LANGUAGE
expect_line zoe "Connecté à $API en tant que zoe."
send zoe "/join"
expect_line zoe "Usage : /join SALON"
send zoe "/frobnicate"
expect_line zoe "Commande /frobnicate inconnue ; /help les liste."
close_input zoe
wait_exit zoe
[ "$STATUS" = 0 ] || fail "zoe's line mode exited with $STATUS"
grep -q -F "Connected to" "$TMP/zoe.out" && fail "line mode mixed English into French"
ok "line mode speaks French: events, usage of a command, unknown commands"

stop_salond
echo "i18n.sh: $CHECKS checks passed"
