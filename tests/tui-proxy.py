#!/usr/bin/env python3
"""tui-proxy.py - a hostile server for tests/tui.sh.

salond refuses control characters in names, titles and chat (doc/API.md, Text
rules), so a test cannot get an ESC to a client through it. This HTTP proxy sits
between one client and a real salond and plays a server that does not: in every
answer it turns the markers <ESC>, <BEL> and <CSI> that the other users typed into
the JSON escapes of ESC (U+001B), BEL (U+0007) and CSI (U+009B). The client then
gets real control characters, exactly as from a malicious server.

Usage: tui-proxy.py UPSTREAM_URL PORT_FILE. Listens on 127.0.0.1 on an ephemeral
port and writes "http://127.0.0.1:PORT" to PORT_FILE once it accepts connections.
"""
import http.client
import http.server
import os
import sys
import urllib.parse

MARKERS = [(b"<ESC>", b"\\u001b"), (b"<BEL>", b"\\u0007"), (b"<CSI>", b"\\u009b")]


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None

    def log_message(self, format, *args):
        pass

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else None
        headers = {}
        for name in ("Authorization", "Content-Type"):
            if self.headers.get(name) is not None:
                headers[name] = self.headers[name]
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port,
                                          timeout=90)
        try:
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            status = answer.status
            content_type = answer.getheader("Content-Type")
        except OSError:
            self.send_error(502)
            return
        finally:
            conn.close()
        for marker, escape in MARKERS:
            data = data.replace(marker, escape)
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        if status != 204:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if status != 204 and self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = forward


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: tui-proxy.py UPSTREAM_URL PORT_FILE")
    Proxy.upstream = urllib.parse.urlsplit(sys.argv[1])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    server.daemon_threads = True
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "w") as f:
        f.write("http://127.0.0.1:%d\n" % server.server_address[1])
    os.rename(tmp, sys.argv[2])
    server.serve_forever()


if __name__ == "__main__":
    main()
