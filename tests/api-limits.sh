#!/bin/sh
# api-limits.sh - login rate limiting (429 per key and per address), the refusal
# of plain HTTP on a public address, usage errors, and HTTPS with a certificate.
. "${top_srcdir:-.}/tests/api-lib.sh"

# Usage errors exit 2 before touching anything.
status=0
"$SALOND" --no-such-option >/dev/null 2>&1 || status=$?
[ "$status" = 2 ] || fail "unknown option exited $status"
status=0
"$SALOND" --listen 0.0.0.0:0 --db "$TMP/x.db" >/dev/null 2>"$TMP/insecure.err" || status=$?
[ "$status" = 2 ] && grep -q loopback "$TMP/insecure.err" || fail "public plain HTTP: $status"
[ ! -e "$TMP/x.db" ] || fail "a refused start created the database"
"$SALOND" --version | grep -q '^salond ' || fail "--version"
ok "bad options and plain HTTP on a public address exit 2 and create nothing"

start_salond --login-burst 4
"$APITOOL" keygen "$TMP/a.key" >/dev/null
challenge "$TMP/a.key" a >/dev/null
challenge "$TMP/a.key" a >/dev/null
pk=$("$APITOOL" pubkey "$TMP/a.key")
expect_error 429 rate_limited POST /v1/auth/challenge none \
	"{\"public_key\":\"$pk\",\"name\":\"a\"}"
ok "a third challenge for one key within a minute gets 429 (key bucket of 2)"
for k in b c; do
	"$APITOOL" keygen "$TMP/$k.key" >/dev/null
	challenge "$TMP/$k.key" "$k" >/dev/null
done
"$APITOOL" keygen "$TMP/d.key" >/dev/null
pk=$("$APITOOL" pubkey "$TMP/d.key")
expect_error 429 rate_limited POST /v1/auth/challenge none \
	"{\"public_key\":\"$pk\",\"name\":\"d\"}"
ok "a fifth challenge from one address gets 429 even for a fresh key (address bucket of 4)"
stop_salond

# HTTPS on loopback with a self-signed certificate.
command -v openssl >/dev/null 2>&1 || fail "openssl is required for the TLS check"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
	-keyout "$TMP/tls.key" -out "$TMP/tls.crt" >/dev/null 2>&1 || fail "openssl req"
rm -f "$TMP/ports"
"$SALOND" --listen 127.0.0.1:0 --relay 127.0.0.1:0 --db "$TMP/tls.db" \
	--tls-cert "$TMP/tls.crt" --tls-key "$TMP/tls.key" --port-file "$TMP/ports" \
	>/dev/null 2>>"$TMP/salond.err" &
SALOND_PID=$!
wait_for test -s "$TMP/ports" || fail "salond with TLS did not start"
API=$(sed -n 's/^api //p' "$TMP/ports")
case $API in https://127.0.0.1:*) ;; *) fail "TLS api line: $API" ;; esac
curl -s --cacert "$TMP/tls.crt" --resolve "localhost:${API##*:}:127.0.0.1" \
	"https://localhost:${API##*:}/v1/server" >"$TMP/body" || fail "HTTPS request failed"
[ "$(field .server)" = salond ] || fail "HTTPS answer"
ok "with --tls-cert and --tls-key the API speaks HTTPS"
stop_salond
echo "api-limits.sh: all $CHECKS checks passed"
