"""Test-only ACME responder for what Debian's Pebble lacks: RFC 9773
renewalInfo, profiles, and a CA that refuses `replaces` (alreadyReplaced).

Usage: ari_responder.py --cert CERT --key KEY --port-file FILE
Serves HTTPS on 127.0.0.1 (a free port, written to FILE once listening):
  GET  /dir                       directory with renewalInfo and meta.profiles
  GET  /nonce                     204 + Replay-Nonce
  POST /new-acct                  onlyReturnExisting -> accountDoesNotExist,
                                  else 201 Location /acct/1; the FIRST POST of
                                  all gets badNonce (exercises the retry)
  POST /new-order                 with "replaces" -> 409 alreadyReplaced;
                                  else 201 + a pending order
  GET  /renewal-info/<rfc id>     the RFC 9773 §4.2 example, Retry-After 21600
  GET  /renewal-info/busy.AQ      503 Retry-After: 1 once, then the example
  GET  /log                       JSON list of every newOrder payload received
  GET  /accounts                  JSON list of every newAccount payload received
The JWS signatures are not verified (the unit tests check those).
"""

import argparse
import base64
import http.server
import json
import os
import ssl
import threading

RFC_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
RENEWAL_INFO = {
    "suggestedWindow": {"start": "2025-01-02T04:00:00Z", "end": "2025-01-03T04:00:00Z"},
    "explanationURL": "https://acme.example.com/docs/ari",
}
URN = "urn:ietf:params:acme:error:"

lock = threading.Lock()
state = {"nonce": 0, "posts": 0, "orders": [], "accounts": [], "busy_served": False}


def b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def base(self):
        return "https://127.0.0.1:%d" % self.server.server_address[1]

    def send(self, status, body=None, headers=None, content_type="application/json"):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        with lock:
            state["nonce"] += 1
            nonce = "nonce-%d" % state["nonce"]
        self.send_header("Replay-Nonce", nonce)
        self.send_header("Content-Length", str(len(data)))
        if body is not None:
            self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def problem(self, status, code, detail, headers=None):
        self.send(status, {"type": URN + code, "detail": detail}, headers, "application/problem+json")

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        base = self.base()
        if self.path == "/dir":
            self.send(200, {
                "newNonce": base + "/nonce", "newAccount": base + "/new-acct",
                "newOrder": base + "/new-order", "revokeCert": base + "/revoke",
                "keyChange": base + "/key-change", "renewalInfo": base + "/renewal-info",
                "meta": {"profiles": {"classic": "default", "shortlived": "6 days"}},
            })
        elif self.path == "/nonce":
            self.send(204)
        elif self.path == "/renewal-info/" + RFC_ID:
            self.send(200, RENEWAL_INFO, {"Retry-After": "21600"})
        elif self.path == "/renewal-info/busy.AQ":
            with lock:
                first = not state["busy_served"]
                state["busy_served"] = True
            if first:
                self.problem(503, "serverInternal", "busy", {"Retry-After": "1"})
            else:
                self.send(200, RENEWAL_INFO)
        elif self.path == "/log":
            with lock:
                orders = list(state["orders"])
            self.send(200, orders)
        elif self.path == "/accounts":
            with lock:
                accounts = list(state["accounts"])
            self.send(200, accounts)
        else:
            self.problem(404, "malformed", "no such resource " + self.path)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        jws = json.loads(self.rfile.read(length) or b"{}")
        payload = json.loads(b64d(jws["payload"])) if jws.get("payload") else None
        with lock:
            state["posts"] += 1
            first_post = state["posts"] == 1
        if first_post:
            self.problem(400, "badNonce", "JWS has an invalid anti-replay nonce")
            return
        base = self.base()
        if self.path == "/new-acct":
            with lock:
                state["accounts"].append(payload)
            if payload and payload.get("onlyReturnExisting"):
                self.problem(400, "accountDoesNotExist", "no account for this key")
            else:
                self.send(201, {"status": "valid"}, {"Location": base + "/acct/1"})
        elif self.path == "/new-order":
            with lock:
                state["orders"].append(payload)
            if "replaces" in payload:
                self.problem(409, "alreadyReplaced", "certificate %s was already replaced" % payload["replaces"])
            else:
                order = {"status": "pending", "identifiers": payload["identifiers"],
                         "authorizations": [], "finalize": base + "/finalize/1"}
                if "profile" in payload:
                    order["profile"] = payload["profile"]
                self.send(201, order, {"Location": base + "/order/1"})
        else:
            self.problem(404, "malformed", "no such resource " + self.path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port-file", required=True)
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
