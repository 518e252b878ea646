#!/bin/sh
# tls.sh - salon over https://: a salond serving TLS with a certificate of a private
# certificate authority (made here with openssl) is refused with the system's CAs,
# trusted with --ca-file or the config file's ca_file, and a room made over TLS is
# listed over TLS; an unreadable --ca-file is a usage error (status 2).
. "${top_srcdir:-.}/tests/client-lib.sh"

command -v openssl >/dev/null 2>&1 || fail "openssl is required"
command -v jq >/dev/null 2>&1 || fail "jq is required"

# A private CA, and salond's certificate for 127.0.0.1 signed by it.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=salon test CA" \
	-keyout "$TMP/ca.key" -out "$TMP/ca.crt" >/dev/null 2>&1 || fail "openssl: the CA"
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
	-keyout "$TMP/tls.key" -out "$TMP/tls.csr" >/dev/null 2>&1 || fail "openssl: the request"
printf 'subjectAltName=IP:127.0.0.1\n' >"$TMP/tls.ext"
openssl x509 -req -in "$TMP/tls.csr" -CA "$TMP/ca.crt" -CAkey "$TMP/ca.key" \
	-CAcreateserial -days 2 -extfile "$TMP/tls.ext" -out "$TMP/tls.crt" >/dev/null 2>&1 ||
	fail "openssl: signing the certificate"

start_salond --tls-cert "$TMP/tls.crt" --tls-key "$TMP/tls.key"
case $API in https://127.0.0.1:[0-9]*) ;; *) fail "not an https API: $API" ;; esac
ok "salond serves its API over TLS at $API"

expect_status 3 alice --server "$API" --name alice whoami
grep -qi 'certificate' "$TMP/run.err" ||
	fail "an untrusted certificate gave another error: $(cat "$TMP/run.err")"
ok "a certificate of an unknown CA is refused (status 3, says why)"

expect_status 0 alice --server "$API" --name alice --ca-file "$TMP/ca.crt" \
	create "TLS room" --json
ROOM=$(jq -r .room.id "$TMP/run.out")
[ -n "$ROOM" ] && [ "$ROOM" != null ] || fail "create --json printed $(cat "$TMP/run.out")"
ok "with --ca-file the CA is trusted: alice logs in and creates a room over TLS"

mkdir -p "$TMP/bob/config/salon"
printf 'server = %s\nca_file = %s\n' "$API" "$TMP/ca.crt" >"$TMP/bob/config/salon/config"
expect_status 0 bob --name bob rooms --json
jq -e --argjson id "$ROOM" '[.rooms[] | select(.id == $id and .title == "TLS room")] |
	length == 1' "$TMP/run.out" >/dev/null ||
	fail "rooms --json over TLS does not list the room: $(cat "$TMP/run.out")"
ok "the config file's ca_file works as --ca-file: bob lists alice's room"

expect_status 2 alice --server "$API" --ca-file "$TMP/no-such-file.pem" rooms
grep -q 'no-such-file.pem' "$TMP/run.err" ||
	fail "an unreadable --ca-file was not named: $(cat "$TMP/run.err")"
ok "an unreadable --ca-file is a usage error that names the file"

stop_salond
echo "tls.sh: $CHECKS checks passed"
