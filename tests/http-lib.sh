# http-lib.sh - one call to salond's API through curl, shared by the shell test
# libraries tests/api-lib.sh and tests/e2e-lib.sh (sourced, POSIX sh). Uses $API
# (the API's URL) and $TMP (the test's directory).

# http_call METHOD PATH TOKEN [BODY]: the HTTP status on stdout, the body in
# $TMP/body. BODY (JSON) goes through $TMP/request, so that any text is sent as is.
http_call() {
	if [ $# -ge 4 ]; then
		printf '%s' "$4" >"$TMP/request"
		curl -s -o "$TMP/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $3" \
			-H 'Content-Type: application/json' --data-binary @"$TMP/request" "$API$2"
	else
		curl -s -o "$TMP/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $3" \
			"$API$2"
	fi
}
