#!/usr/bin/python3
"""Loopback HTTP(S) server for tests/core/test_http.cpp (stdlib only).

Usage: http_test_server.py [--cert CERT.pem --key KEY.pem]

Binds 127.0.0.1 on a free port and prints that port on stdout (one line).
Exits when stdin reaches EOF or on SIGTERM, so it never outlives its test.

Routes:
  /echo             method, path, query, headers and body (hex) back as JSON
  /status/N         answers status N (body "status N" unless 1xx/204/304)
  /slow?ms=N        waits N ms before answering
  /retry-after      503 with "Retry-After: 3"
  /connections      number of TCP connections accepted so far, as JSON
  /interim          a 103 Early Hints block with its own headers, then 200
  /headers          mixed-case header names and two Link headers
  /redirect         302 to /echo (clients must not follow it)
"""

import argparse
import http.server
import json
import ssl
import sys
import threading
import time
import urllib.parse


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, address, handler, tls_context):
        super().__init__(address, handler)
        self.tls_context = tls_context
        self.connections = 0
        self.lock = threading.Lock()

    def process_request(self, request, client_address):
        with self.lock:
            self.connections += 1
        super().process_request(request, client_address)

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the connection's thread, so a client that
        # rejects our certificate cannot stall the accept loop.
        if self.tls_context is not None:
            request = self.tls_context.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        # Refused handshakes and dropped clients are part of the tests.
        pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if status >= 200 and status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)

    def _json(self, status, value, headers=()):
        body = json.dumps(value).encode()
        self._send(status, body, [("Content-Type", "application/json")] + list(headers))

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _route(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        body = self._read_body()
        path = url.path

        if path == "/echo":
            self._json(200, {
                "method": self.command,
                "path": path,
                "query": url.query,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_hex": body.hex(),
            }, [("X-Mixed-Case", "yes")])
        elif path.startswith("/status/"):
            status = int(path[len("/status/"):])
            self._send(status, b"" if status in (204, 304) else f"status {status}".encode())
        elif path == "/slow":
            time.sleep(int(query.get("ms", ["1000"])[0]) / 1000.0)
            self._send(200, b"slow done")
        elif path == "/retry-after":
            self._send(503, b"busy", [("Retry-After", "3")])
        elif path == "/connections":
            with self.server.lock:
                count = self.server.connections
            self._json(200, {"connections": count})
        elif path == "/interim":
            self.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </interim.css>; rel=preload\r\n"
                             b"X-Interim: 1\r\n\r\n")
            self._send(200, b"final", [("X-Final", "1")])
        elif path == "/headers":
            self._send(200, b"ok", [("X-Mixed-Case", "Value"), ("Link", "<a>; rel=up"),
                                    ("Link", "<b>; rel=alternate"), ("CONTENT-language", "en")])
        elif path == "/redirect":
            self._send(302, b"moved", [("Location", "/echo")])
        else:
            self._send(404, b"no such route")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _route


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()

    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)

    server = Server(("127.0.0.1", 0), Handler, context)
    print(server.server_address[1], flush=True)

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # Stop when the test closes our stdin (or dies).
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
