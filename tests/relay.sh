# relay.sh - the whole media path through a real salond: members log in and join a
# room through the API, take the join tickets the API issued to the relay, complete
# Noise NK handshakes, and a speaker's frames reach every listener exactly once while
# a listener's frame reaches nobody (tests/relaytool checks each datagram).
. "$top_srcdir/tests/api-lib.sh"
RELAYTOOL=$top_builddir/tests/relaytool
[ -x "$RELAYTOOL" ] || fail "$RELAYTOOL not built"

start_salond
login host
HOST_TOKEN=$TOKEN
expect 201 POST /v1/rooms "$HOST_TOKEN" '{"title":"Relay test","visibility":"public"}'
ROOM=$(field .id)
expect 200 POST "/v1/rooms/$ROOM/join" "$HOST_TOKEN"
tickets=$(field .ticket)
relay_address=$(field .relay.address)
relay_key=$(field .relay.public_key)
[ "$relay_address" = "$RELAY" ] || fail "join names relay $relay_address, salond said $RELAY"
for name in l1 l2 l3 l4 l5 l6; do
	login "$name"
	expect 201 POST "/v1/rooms/$ROOM/join" "$TOKEN"
	[ "$(field .member.role)" = listener ] || fail "$name is not a listener"
	tickets="$tickets $(field .ticket)"
done
ok "a host and six listeners joined and got tickets"

# shellcheck disable=SC2086
"$RELAYTOOL" "${relay_address%:*}" "${relay_address##*:}" "$relay_key" 100 $tickets ||
	fail "relaytool"
ok "100 frames from the speaker reached each of 6 listeners exactly once; a listener's did not"

# The tickets were one-time: the same ones cannot open sessions again.
# shellcheck disable=SC2086
if "$RELAYTOOL" "${relay_address%:*}" "${relay_address##*:}" "$relay_key" 1 $tickets \
	>"$TMP/reuse.out" 2>&1; then
	fail "reused tickets were accepted"
fi
grep -q "no valid handshake response" "$TMP/reuse.out" || fail "reuse: $(cat "$TMP/reuse.out")"
ok "the same tickets cannot be used twice"

stop_salond
echo "$CHECKS checks passed"
